//! `cargo xtask verify`: runs every documented trace and checks
//!
//! - (a) that it prints the documented digits (the rustdoc example's lines);
//! - (b) that its full-precision trace (every step's objective and params, as f32
//!   shortest round-trip decimals with their bits) equals the committed insta snapshot
//!   `xtask/snapshots/<origin>__<name>.snap`;
//! - (c) for built-ins, that it matches optax's reference case `<name>/doc` within the
//!   reference tolerances (optim-cli's case parser and `check`), and that the documented
//!   digits are the seed's (only the digits for a trace declared `optax = digits`).
//!
//! Check mode never writes a file. `--update` rewrites the snapshots whose content
//! changed (and creates missing ones); it never touches documentation.

use optim_cli::case::{parse_file, Case};
use optim_core::doc_trace::OptaxCheck;
use optim_core::{DocTrace, FullTrace};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Where a documented trace is declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A built-in optimizer of optim-core (registered by name, has an optax reference).
    Builtin,
    /// An optimizer declared in `examples/<name>.rs`.
    Example(String),
}

/// One documented trace to verify.
#[derive(Clone, Debug)]
pub struct Traced {
    pub origin: Origin,
    pub trace: DocTrace,
}

impl Traced {
    /// The snapshot's name: `optim_core__adam`, `custom_optimizer__ademamix`.
    pub fn snapshot_name(&self) -> String {
        match &self.origin {
            Origin::Builtin => format!("optim_core__{}", self.trace.name),
            Origin::Example(e) => format!("{e}__{}", self.trace.name),
        }
    }

    /// The name shown in the table and in messages.
    pub fn label(&self) -> String {
        match &self.origin {
            Origin::Builtin => self.trace.name.to_string(),
            Origin::Example(e) => format!("{} (examples/{e}.rs)", self.trace.name),
        }
    }
}

/// Every documented trace of the workspace: the registered built-ins, then the ones the
/// examples declare.
pub fn collect() -> Vec<Traced> {
    let mut v: Vec<Traced> = optim_core::registry::doc_traces()
        .into_iter()
        .map(|trace| Traced {
            origin: Origin::Builtin,
            trace,
        })
        .collect();
    v.extend(
        crate::examples::example_traces()
            .into_iter()
            .map(|(e, trace)| Traced {
                origin: Origin::Example(e.to_string()),
                trace,
            }),
    );
    v
}

/// What to check against, and whether to rewrite snapshots.
#[derive(Clone, Debug)]
pub struct Options {
    /// Rewrite changed or missing snapshots instead of failing on them.
    pub update: bool,
    /// The folder of the `.snap` files.
    pub snapshots: PathBuf,
    /// The folder of the optax reference case files (`<name>.json`).
    pub references: PathBuf,
}

impl Options {
    /// The workspace's own folders.
    pub fn workspace(update: bool) -> Options {
        let root = crate::workspace_root();
        Options {
            update,
            snapshots: root.join("xtask/snapshots"),
            references: root.join("crates/optim-cli/tests/data/reference"),
        }
    }
}

/// One row of the table.
#[derive(Clone, Debug)]
pub struct Row {
    pub optimizer: String,
    pub documented: String,
    pub ours: String,
    pub status: String,
}

/// The outcome of a run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub rows: Vec<Row>,
    /// One readable message per mismatch, naming the optimizer and the step.
    pub problems: Vec<String>,
    /// Snapshots written (only with `update`).
    pub written: Vec<PathBuf>,
}

impl Report {
    /// Whether every check passed.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The table (optimizer, documented, ours, status), then the problems.
    pub fn render(&self) -> String {
        let head = ["optimizer", "documented", "ours", "status"];
        let cells: Vec<[&str; 4]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.optimizer.as_str(),
                    r.documented.as_str(),
                    r.ours.as_str(),
                    r.status.as_str(),
                ]
            })
            .collect();
        let mut w = head.map(|h| h.chars().count());
        for c in &cells {
            for i in 0..4 {
                w[i] = w[i].max(c[i].chars().count());
            }
        }
        let line = |c: [&str; 4]| {
            let mut s = String::from("|");
            for i in 0..4 {
                let pad = w[i] - c[i].chars().count();
                let _ = write!(s, " {}{} |", c[i], " ".repeat(pad));
            }
            s.trim_end().to_string() + "\n"
        };
        let mut out = line(head);
        out.push('|');
        for wi in w {
            out.push_str(&"-".repeat(wi + 2));
            out.push('|');
        }
        out.push('\n');
        for c in cells {
            out.push_str(&line(c));
        }
        for p in &self.written {
            let _ = writeln!(out, "wrote {}", p.display());
        }
        if !self.problems.is_empty() {
            let _ = writeln!(out, "\n{} problem(s):", self.problems.len());
            for p in &self.problems {
                let _ = writeln!(out, "- {p}");
            }
        }
        out
    }
}

/// The full-precision trace as the snapshot holds it: per step, the objective and the
/// params as f32 shortest round-trip decimals (which identify the f32) with their bits,
/// so a last-bit change shows.
pub fn snapshot_text(t: &DocTrace, full: &FullTrace) -> String {
    let num = |v: f32| format!("{v:?} [{:#010x}]", v.to_bits());
    let mut s = format!(
        "{}: f(x) = sum(x^2) from x = [1, 2, 3] in float32, gradient 2x\n",
        t.solver
    );
    let x0 = [1.0f32, 2.0, 3.0];
    for (step, f) in full.values.iter().enumerate() {
        let x: &[f32] = if step == 0 {
            &x0
        } else {
            full.params.get(step - 1).map_or(&[], Vec::as_slice)
        };
        let xs: Vec<String> = x.iter().map(|&v| num(v)).collect();
        let _ = writeln!(s, "step {step}: f = {}; x = {}", num(*f), xs.join(", "));
    }
    s.trim_end().to_string()
}

fn insta_file(t: &DocTrace, text: &str) -> String {
    let description = format!("the documented trace of {} at full precision", t.solver)
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    format!("---\nsource: xtask/src/verify.rs\ndescription: \"{description}\"\n---\n{text}\n")
}

/// The committed snapshot's text, read with insta's parser; `None` if the file is absent.
fn read_snapshot(path: &Path) -> Result<Option<String>, String> {
    if !path.exists() {
        return Ok(None);
    }
    let snap = insta::Snapshot::from_file(path)
        .map_err(|e| format!("cannot read snapshot {}: {e}", path.display()))?;
    snap.as_text()
        .map(|t| Some(t.to_string()))
        .ok_or_else(|| format!("snapshot {} is not a text snapshot", path.display()))
}

/// The step a snapshot line belongs to (`step 3: ...` -> `step 3`).
fn step_of(line: &str) -> String {
    line.split(':').next().unwrap_or(line).to_string()
}

/// Reads the reference cases by optimizer name (files that do not parse are reported).
fn reference_cases(dir: &Path, problems: &mut Vec<String>) -> BTreeMap<String, Case> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        problems.push(format!(
            "cannot read the optax reference folder {}",
            dir.display()
        ));
        return out;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for f in files {
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("cannot read {}: {e}", f.display()));
                continue;
            }
        };
        match parse_file(&text) {
            Ok(cases) => {
                for c in cases.into_iter().flatten() {
                    if let Some(name) = c.id.strip_suffix("/doc") {
                        out.insert(name.to_string(), c);
                    }
                }
            }
            Err(e) => problems.push(format!("{}: {e}", f.display())),
        }
    }
    out
}

/// Runs and checks every trace; see the module docs.
pub fn verify(traces: &[Traced], opts: &Options) -> Report {
    let mut report = Report::default();
    let needs_refs = traces.iter().any(|t| t.origin == Origin::Builtin);
    let refs = if needs_refs {
        reference_cases(&opts.references, &mut report.problems)
    } else {
        BTreeMap::new()
    };
    for t in traces {
        verify_one(t, &refs, opts, &mut report);
    }
    report
}

fn verify_one(t: &Traced, refs: &BTreeMap<String, Case>, opts: &Options, report: &mut Report) {
    let name = t.label();
    let d = &t.trace;
    let documented = d.printed.join(" ");
    let mut failed: Vec<&str> = Vec::new();
    let mut notes: Vec<&str> = Vec::new();
    let full = match (d.run)() {
        Ok(full) => full,
        Err(e) => {
            report
                .problems
                .push(format!("{name}: running `{}` fails: {e}", d.solver));
            report.rows.push(Row {
                optimizer: name,
                documented,
                ours: "-".into(),
                status: "FAIL: does not run".into(),
            });
            return;
        }
    };
    if full.values.len() != 6 || full.params.len() != 5 {
        report.problems.push(format!(
            "{name}: the trace has {} values and {} steps, expected 6 and 5",
            full.values.len(),
            full.params.len()
        ));
        failed.push("shape");
    }
    let ours = d.printed_by(&full);

    // (a) The printed digits.
    let steps = ours.len().max(d.printed.len());
    for i in 0..steps {
        let (o, w) = (ours.get(i), d.printed.get(i));
        if o.map(String::as_str) != w.copied() {
            report.problems.push(format!(
                "{name}: step {} prints {}, the documentation says {}",
                i + 1,
                o.map_or("nothing", String::as_str),
                w.copied().unwrap_or("nothing")
            ));
            failed.push("documented digits");
            break;
        }
    }

    // (b) The snapshot.
    let text = snapshot_text(d, &full);
    let path = opts.snapshots.join(format!("{}.snap", t.snapshot_name()));
    match read_snapshot(&path) {
        Err(e) => {
            report.problems.push(format!("{name}: {e}"));
            failed.push("snapshot unreadable");
        }
        Ok(old) if old.as_deref() == Some(text.as_str()) => {}
        Ok(old) if opts.update => {
            let written = std::fs::create_dir_all(&opts.snapshots)
                .and_then(|_| std::fs::write(&path, insta_file(d, &text)));
            match written {
                Ok(()) => {
                    report.written.push(path.clone());
                    notes.push(if old.is_some() {
                        "snapshot updated"
                    } else {
                        "snapshot created"
                    });
                }
                Err(e) => {
                    report
                        .problems
                        .push(format!("{name}: cannot write {}: {e}", path.display()));
                    failed.push("snapshot");
                }
            }
        }
        Ok(None) => {
            report.problems.push(format!(
                "{name}: snapshot missing: {} (`cargo xtask verify --update` creates it)",
                path.display()
            ));
            failed.push("snapshot missing");
        }
        Ok(Some(old)) => {
            let (olds, news): (Vec<&str>, Vec<&str>) =
                (old.lines().collect(), text.lines().collect());
            let mut msg = String::new();
            for i in 0..olds.len().max(news.len()) {
                let (o, n) = (olds.get(i), news.get(i));
                if o != n {
                    let at = n.or(o).map_or("the end".to_string(), |l| step_of(l));
                    let _ = write!(
                        msg,
                        "{name}: trace differs from snapshot {} at {at}:\n    snapshot: {}\n    ours:     {}",
                        path.display(),
                        o.unwrap_or(&"(no line)"),
                        n.unwrap_or(&"(no line)")
                    );
                    break;
                }
            }
            report.problems.push(msg);
            failed.push("snapshot differs");
        }
    }

    // (c) optax's reference.
    if t.origin == Origin::Builtin {
        match refs.get(d.name) {
            None => notes.push("no optax reference"),
            Some(case) => {
                if let Some(seed) = &case.documented {
                    if *seed != documented {
                        report.problems.push(format!(
                            "{name}: the documented digits `{documented}` are not the seed's `{seed}` ({})",
                            case.id
                        ));
                        failed.push("not the seed's digits");
                    }
                }
                let got = optim_cli::replay::Trace {
                    values: full.values.iter().map(|&v| v.into()).collect(),
                    params: full
                        .params
                        .iter()
                        .map(|x| {
                            let leaf = case.init.keys().next().cloned().unwrap_or("x".into());
                            BTreeMap::from([(leaf, x.iter().map(|&v| v.into()).collect())])
                        })
                        .collect(),
                    hyperparams: None,
                    eval_params: None,
                };
                // The documented trace prints the params (the gradient point); the replay
                // of the same case (tests/reference.rs) checks schedule-free's eval_params.
                let mut case = case.clone();
                if let Some(e) = case.expected.as_mut() {
                    e.eval_params = None;
                }
                if d.optax == OptaxCheck::DigitsOnly {
                    notes.push("optax: digits only");
                } else if let Err(e) = optim_cli::check::check(&case, &got) {
                    report
                        .problems
                        .push(format!("{name}: differs from optax's `{}`: {e}", case.id));
                    failed.push("optax");
                }
            }
        }
    }

    let status = if failed.is_empty() {
        if notes.is_empty() {
            "ok".to_string()
        } else {
            format!("ok ({})", notes.join(", "))
        }
    } else {
        format!("FAIL: {}", failed.join(", "))
    };
    report.rows.push(Row {
        optimizer: name,
        documented,
        ours: ours.join(" "),
        status,
    });
}

/// Registered built-ins that optax documents (a reference `<name>/doc` case exists) but
/// that carry no documented trace.
pub fn untraced_builtins(traces: &[Traced], opts: &Options) -> Vec<String> {
    let mut ignore = Vec::new();
    let refs = reference_cases(&opts.references, &mut ignore);
    let names = optim_core::registry::names();
    refs.keys()
        .filter(|n| names.contains(&n.as_str()))
        .filter(|n| {
            !traces
                .iter()
                .any(|t| t.origin == Origin::Builtin && t.trace.name == n.as_str())
        })
        .map(|n| format!("{n}: registered, but its docs carry no documented trace"))
        .collect()
}

/// `cargo xtask verify [--update]` on the workspace.
pub fn verify_workspace(update: bool) -> Report {
    let traces = collect();
    let opts = Options::workspace(update);
    let mut report = verify(&traces, &opts);
    report.problems.extend(untraced_builtins(&traces, &opts));
    report
}
