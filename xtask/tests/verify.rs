//! `cargo xtask verify` in check mode over the workspace (so `cargo test` fails on a
//! stale snapshot or a broken documented trace), and tests of the verifier itself on
//! fixtures declared here, never on the real docs.

use optim_core::doc_trace::OptaxCheck;
use optim_core::{optimizer, run_doc_trace, DocTrace, DocTraced, LearningRate, PrintFormat};
use std::path::PathBuf;
use xtask::verify::{snapshot_text, verify, verify_workspace, Options, Origin, Traced};

/// Plain SGD with the seed's documented trace of `sgd(0.003)`.
#[optimizer(doc_trace(
    solver = fixture_sgd(0.003),
    printed = "1.38E+01 1.37E+01 1.35E+01 1.33E+01 1.32E+01"
))]
pub fn fixture_sgd(learning_rate: LearningRate) {
    each(|g| g)
}

/// The same SGD, whose documented trace is deliberately altered at step 4 (the run
/// prints 1.33E+01 there).
#[optimizer(doc_trace(
    solver = altered_sgd(0.003),
    printed = "1.38E+01 1.37E+01 1.35E+01 1.34E+01 1.32E+01"
))]
pub fn altered_sgd(learning_rate: LearningRate) {
    each(|g| g)
}

fn fixture(trace: DocTrace) -> Traced {
    Traced {
        origin: Origin::Example("fixtures".into()),
        trace,
    }
}

/// A fresh, empty folder for one test's snapshots.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("xtask-verify-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    fn files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.0)
            .expect("read temp dir")
            .map(|e| e.expect("dir entry").path())
            .collect();
        v.sort();
        v
    }

    fn options(&self, update: bool) -> Options {
        Options {
            update,
            snapshots: self.0.clone(),
            ..Options::workspace(update)
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn every_documented_trace_of_the_workspace_holds() {
    let report = verify_workspace(false);
    assert!(report.ok(), "\n{}", report.render());
    let names: Vec<&str> = report.rows.iter().map(|r| r.optimizer.as_str()).collect();
    assert!(names.contains(&"adam"), "built-ins found: {names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("ademamix (examples/")),
        "example traces found: {names:?}"
    );
    assert!(report.written.is_empty());
}

#[test]
fn an_altered_documented_trace_fails_naming_the_optimizer_and_the_step() {
    let dir = TempDir::new("altered");
    let traces = [fixture(AlteredSgd::DOC_TRACE)];
    // Snapshot first, so that only the documented digits are wrong.
    verify(&traces, &dir.options(true));
    let report = verify(&traces, &dir.options(false));
    assert!(!report.ok());
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let p = &report.problems[0];
    assert!(
        p.contains("altered_sgd")
            && p.contains("step 4")
            && p.contains("1.33E+01")
            && p.contains("1.34E+01"),
        "{p}"
    );
    assert!(
        report.rows[0].status.starts_with("FAIL"),
        "{:?}",
        report.rows
    );
    assert!(report.render().contains("altered_sgd"));
}

#[test]
fn a_missing_snapshot_is_reported_as_missing_and_not_created() {
    let dir = TempDir::new("missing");
    let report = verify(&[fixture(FixtureSgd::DOC_TRACE)], &dir.options(false));
    assert!(!report.ok());
    let p = report.problems.join("\n");
    assert!(
        p.contains("fixture_sgd") && p.contains("snapshot missing"),
        "{p}"
    );
    assert_eq!(report.rows[0].status, "FAIL: snapshot missing");
    assert!(dir.files().is_empty(), "check mode wrote {:?}", dir.files());
}

#[test]
fn a_stale_snapshot_fails_naming_the_step() {
    let dir = TempDir::new("stale");
    let traces = [fixture(FixtureSgd::DOC_TRACE)];
    let created = verify(&traces, &dir.options(true));
    assert!(created.ok(), "{}", created.render());
    let [file] = dir.files().try_into().expect("one snapshot");
    // Change the last bit of the objective at step 3.
    let text = std::fs::read_to_string(&file).unwrap();
    let line = text.lines().find(|l| l.starts_with("step 3:")).unwrap();
    let f: f32 = line["step 3: f = ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let nudged = f32::from_bits(f.to_bits() + 1);
    let new_line = format!(
        "step 3: f = {nudged:?} [{:#010x}];{}",
        nudged.to_bits(),
        line.split_once(';').unwrap().1
    );
    std::fs::write(&file, text.replace(line, &new_line)).unwrap();
    let report = verify(&traces, &dir.options(false));
    let p = report.problems.join("\n");
    assert!(
        p.contains("fixture_sgd") && p.contains("at step 3") && p.contains(&format!("{nudged:?}")),
        "{p}"
    );
    assert_eq!(report.rows[0].status, "FAIL: snapshot differs");
}

#[test]
fn verify_twice_changes_no_file() {
    let dir = TempDir::new("twice");
    let traces = [fixture(FixtureSgd::DOC_TRACE)];
    let first = verify(&traces, &dir.options(true));
    assert_eq!(first.written.len(), 1);
    assert_eq!(first.rows[0].status, "ok (snapshot created)");
    let [file] = dir.files().try_into().expect("one snapshot");
    let (before, mtime) = (
        std::fs::read(&file).unwrap(),
        std::fs::metadata(&file).unwrap().modified().unwrap(),
    );
    let again = verify(&traces, &dir.options(true));
    assert!(again.written.is_empty(), "{:?}", again.written);
    let check = verify(&traces, &dir.options(false));
    assert!(check.ok(), "{}", check.render());
    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert_eq!(std::fs::metadata(&file).unwrap().modified().unwrap(), mtime);
    assert_eq!(dir.files(), vec![file]);
}

#[test]
fn snapshots_are_insta_files_with_every_step_at_full_precision() {
    let dir = TempDir::new("format");
    let traces = [fixture(FixtureSgd::DOC_TRACE)];
    verify(&traces, &dir.options(true));
    let [file] = dir.files().try_into().expect("one snapshot");
    assert_eq!(
        file.file_name().unwrap().to_str(),
        Some("fixtures__fixture_sgd.snap")
    );
    let snap = insta::Snapshot::from_file(&file).expect("insta reads it");
    let text = snap.as_text().expect("text snapshot").to_string();
    let full = (FixtureSgd::DOC_TRACE.run)().unwrap();
    assert_eq!(text, snapshot_text(&FixtureSgd::DOC_TRACE, &full));
    // Six objective values and five steps of params, each with its bits.
    assert_eq!(text.lines().filter(|l| l.starts_with("step ")).count(), 6);
    let bits = format!("{:#010x}", full.params[4][2].to_bits());
    assert!(text.lines().last().unwrap().contains(&bits), "{text}");
}

#[test]
fn a_builtin_that_drifts_from_optax_fails_naming_the_step() {
    // sgd with a learning rate optax's `sgd/doc` case does not use, documented with its
    // own digits and snapshotted, so only the optax check can catch it.
    fn run() -> Result<optim_core::FullTrace, optim_core::Error> {
        run_doc_trace(optim_core::sgd(0.0031), false)
    }
    let printed: Vec<&'static str> = {
        let full = run().unwrap();
        full.values[1..]
            .iter()
            .map(|&v| &*Box::leak(PrintFormat::E2.number(v).into_boxed_str()))
            .collect()
    };
    let trace = DocTrace {
        name: "sgd",
        solver: "sgd(0.0031)",
        value: false,
        format: PrintFormat::E2,
        printed: Box::leak(printed.into_boxed_slice()),
        optax: OptaxCheck::Trace,
        run,
    };
    let dir = TempDir::new("optax");
    let traces = [Traced {
        origin: Origin::Builtin,
        trace,
    }];
    verify(&traces, &dir.options(true));
    let report = verify(&traces, &dir.options(false));
    let p = report.problems.join("\n");
    assert!(
        p.contains("sgd: differs from optax's `sgd/doc`") && p.contains("step"),
        "{p}"
    );
}
