//! A fused composition as a kernel: the stages' arguments merged with the composite's,
//! their state concatenated.
//!
//! Each stage argument takes its value from, in order: an explicit binding in
//! `fuse(...)` (`trace(decay = momentum)`: the composite's argument if the right side
//! names one, else a per-step expression), the composite's argument of the same name,
//! or the stage's own default (the argument is then not exposed, as when optax's alias
//! calls a primitive without it). A composite argument written `name: _` takes the type,
//! default and docs of the stage argument it feeds.

use super::{check_text, normalize_ty, Arg, BufDef, Kernel, LeafDef, Source, Stage};
use crate::ast::{Decl, Kind, StageSpec};
use crate::errors::Errors;
use quote::ToTokens;
use syn::{Expr, Ident};

/// Whether an optional-typed argument defaults to `None` without a `#[default]`.
fn defaults_to_none(h: &crate::ast::Hyper) -> bool {
    matches!(h.kind, Some(Kind::Mask | Kind::Dtype | Kind::OptRate))
        || h.ty
            .as_ref()
            .is_some_and(|t| crate::ast::ty_string(t).starts_with("Option<"))
}

fn kinds_agree(a: Kind, ta: &syn::Type, b: Kind, tb: &syn::Type) -> bool {
    let f64ish = |k: Kind, t: &syn::Type| {
        k == Kind::Rate || (k == Kind::Plain && crate::ast::ty_string(t) == "f64")
    };
    if a == Kind::Plain && b == Kind::Plain {
        return crate::ast::ty_string(ta) == crate::ast::ty_string(tb);
    }
    a == b || (f64ish(a, ta) && f64ish(b, tb))
}

pub fn fuse<'a>(head: &'a Decl, decls: &'a [Decl]) -> Result<Kernel<'a>, Errors> {
    let mut errs = Errors::default();
    let specs: &[StageSpec] = head.stages.as_deref().unwrap_or(&[]);
    let params: Vec<&crate::ast::Hyper> = head.hypers.iter().collect();
    let is_param = |id: &Ident| params.iter().any(|h| h.name == *id);

    // Sources of every stage argument.
    let mut stages: Vec<Stage<'a>> = Vec::new();
    for (spec, decl) in specs.iter().zip(decls) {
        for (b, _) in &spec.bindings {
            if !decl.hypers.iter().any(|h| h.name == *b) {
                let known: Vec<String> = decl.hypers.iter().map(|h| h.name.to_string()).collect();
                errs.at(
                    b,
                    format!(
                        "`{}` has no argument `{b}`; it takes: {}",
                        decl.fn_name,
                        known.join(", ")
                    ),
                );
            }
        }
        let mut sources = Vec::new();
        for h in &decl.hypers {
            let bound = spec.bindings.iter().find(|(b, _)| *b == h.name);
            let src = match bound {
                Some((_, Expr::Path(p))) if p.path.get_ident().is_some_and(is_param) => {
                    Source::Arg(p.path.get_ident().cloned().expect("checked"))
                }
                Some((b, e)) => {
                    if matches!(h.kind, Some(Kind::Mask)) {
                        errs.at(
                            e,
                            format!("the mask `{b}` is bound to a mask argument of the composition by name: `{b} = weight_decay_mask`"),
                        );
                    }
                    Source::Expr(e.clone())
                }
                None if is_param(&h.name) => Source::Arg(h.name.clone()),
                None => {
                    if h.default.is_none() && !defaults_to_none(h) {
                        errs.at(
                            &spec.tokens,
                            format!(
                                "`{}` of `{}` has no default: bind it (`{}({} = ...)`) or take it as an argument (`{}: _`)",
                                h.name, decl.fn_name, decl.fn_name, h.name, h.name
                            ),
                        );
                    }
                    Source::Default
                }
            };
            sources.push(src);
        }
        stages.push(Stage {
            decl,
            path: spec.path.clone(),
            bindings: spec.bindings.clone(),
            sources,
            cond: spec.cond.clone(),
            gate: None,
            bufs: Vec::new(),
            masks: Vec::new(),
            leaf_states: Vec::new(),
            tree_states: Vec::new(),
            lv_offset: 0,
        });
    }

    // The composite's arguments: own types, or the type of the stage argument they feed.
    let mut args: Vec<Arg> = Vec::new();
    for p in &params {
        // (stage, hyper index, bound explicitly) of every stage argument fed by `p`.
        let users: Vec<(usize, usize, bool)> = stages
            .iter()
            .enumerate()
            .flat_map(|(si, s)| {
                s.sources
                    .iter()
                    .enumerate()
                    .filter_map(move |(hi, src)| match src {
                        Source::Arg(c) if *c == p.name => Some((
                            si,
                            hi,
                            s.bindings.iter().any(|(b, _)| *b == s.decl.hypers[hi].name),
                        )),
                        _ => None,
                    })
            })
            .collect();
        // An implicit merge by name into two stages is a mistake unless they are the two
        // alternatives of one `when`.
        let implicit: Vec<usize> = users.iter().filter(|u| !u.2).map(|u| u.0).collect();
        let mut ambiguous = false;
        if let Some(&first) = implicit.first() {
            let alt = specs[first].alt;
            if implicit
                .iter()
                .any(|&s| s != first && (alt.is_none() || specs[s].alt != alt))
            {
                let other = implicit
                    .iter()
                    .find(|&&s| s != first)
                    .copied()
                    .unwrap_or(first);
                errs.at(
                    &p.name,
                    format!(
                        "`{n}` is an argument of both `{a}` and `{b}`: bind it in one of them (`{b}({n} = ...)`, or `{n} = {n}` to share it)",
                        n = p.name,
                        a = stages[first].decl.fn_name,
                        b = stages[other].decl.fn_name
                    ),
                );
                ambiguous = true;
            }
        }
        let (ty, kind) = match (&p.ty, p.kind) {
            (Some(t), Some(k)) => (t.clone(), k),
            _ => match users.first() {
                Some(&(si, hi, _)) => {
                    let h = &stages[si].decl.hypers[hi];
                    (
                        normalize_ty(h.ty.as_ref().expect("stage argument typed")),
                        h.kind.expect("stage argument typed"),
                    )
                }
                None => {
                    errs.at(
                        &p.name,
                        format!("`{}: _` feeds no stage argument: give it a type, or bind a stage argument to it", p.name),
                    );
                    continue;
                }
            },
        };
        let mut doc_checks: Vec<String> = p.checks.iter().map(check_text).collect();
        let mut default = p.default.clone();
        let mut docs = p.docs.clone();
        let mut one_of = p.one_of.clone();
        let mut inherited: Option<(String, String)> = None;
        for &(si, hi, _) in &users {
            let h = &stages[si].decl.hypers[hi];
            let (hk, ht) = (h.kind.expect("typed"), h.ty.as_ref().expect("typed"));
            if !kinds_agree(kind, &ty, hk, ht) {
                errs.at(
                    &p.name,
                    format!(
                        "`{}` has type `{}` but feeds `{}`'s argument `{}` of type `{}`",
                        p.name,
                        crate::ast::ty_string(&ty),
                        stages[si].decl.fn_name,
                        h.name,
                        crate::ast::ty_string(ht)
                    ),
                );
            }
            doc_checks.extend(h.checks.iter().map(check_text));
            if docs.is_empty() {
                docs = h.docs.clone();
            }
            if one_of.is_empty() {
                one_of = h.one_of.clone();
            }
            if p.default.is_none() {
                let d = h.default.as_ref().map(super::text).unwrap_or_default();
                match &inherited {
                    None => {
                        inherited = Some((d, stages[si].decl.fn_name.to_string()));
                        default = h.default.clone();
                    }
                    Some((prev, who)) if *prev != d && !ambiguous => errs.at(
                        &p.name,
                        format!(
                            "`{}` has different defaults in `{who}` and `{}`: set one with `#[default(...)]`",
                            p.name, stages[si].decl.fn_name
                        ),
                    ),
                    _ => {}
                }
            }
        }
        args.push(Arg {
            name: p.name.clone(),
            ty,
            kind,
            default,
            docs,
            one_of,
            checks: p.checks.clone(),
            doc_checks,
            at_t: false,
        });
    }
    let masks: Vec<Ident> = args
        .iter()
        .filter(|a| a.kind == Kind::Mask)
        .map(|a| a.name.clone())
        .collect();
    let mask_index = |id: &Ident| masks.iter().position(|m| m == id);

    // Masks, gates, state.
    let mut bufs: Vec<BufDef> = Vec::new();
    let mut leaf_states: Vec<LeafDef> = Vec::new();
    let mut tree_states: Vec<LeafDef> = Vec::new();
    let mut lv = 0;
    for (si, (spec, stage)) in specs.iter().zip(stages.iter_mut()).enumerate() {
        let decl = stage.decl;
        for (h, src) in decl.hypers.iter().zip(&stage.sources) {
            if h.kind != Some(Kind::Mask) {
                continue;
            }
            stage.masks.push(match src {
                Source::Arg(c) => match mask_index(c) {
                    Some(i) => Some(i),
                    None => {
                        errs.at(&spec.tokens, format!("`{}` of `{}` is a mask: bind it to a mask argument (`{c}: Mask` or `{c}: _`)", h.name, decl.fn_name));
                        None
                    }
                },
                _ => None,
            });
        }
        if let Some(g) = &spec.gate {
            match mask_index(g) {
                Some(i) => stage.gate = Some(i),
                None => errs.at(
                    g,
                    format!("`masked(.., {g})` needs `{g}` to be a mask argument of the composition (`{g}: Mask`)"),
                ),
            }
        }
        for (local, s) in decl.elem_states().enumerate() {
            if masks.contains(&s.name) {
                errs.at(
                    &spec.tokens,
                    format!(
                        "the state `{}` of `{}` has the name of a mask argument",
                        s.name, decl.fn_name
                    ),
                );
            }
            match bufs.iter().position(|b| b.name == s.name) {
                Some(bi) => {
                    let other = &bufs[bi];
                    let od = &decls[other.stage];
                    let os = od.elem_states().nth(other.local).expect("recorded");
                    let same_alt = spec.alt.is_some() && specs[other.stage].alt == spec.alt;
                    let agree = super::text(&s.init) == super::text(&os.init)
                        && s.dtype.is_some() == os.dtype.is_some()
                        && super::text(&s.enabled) == super::text(&os.enabled);
                    if same_alt && agree {
                        bufs[bi].shared = true;
                        bufs[bi].absent = s.enabled.is_some();
                        stage.bufs.push(bi);
                    } else {
                        errs.at(
                            &spec.tokens,
                            format!(
                                "`{}` and `{}` both keep a state `{}`; only the two alternatives of one `when(c, a, b)` may share a state, and only if they declare it alike",
                                od.fn_name, decl.fn_name, s.name
                            ),
                        );
                    }
                }
                None => {
                    stage.bufs.push(bufs.len());
                    bufs.push(BufDef {
                        name: s.name.clone(),
                        stage: si,
                        local,
                        absent: s.enabled.is_some() || spec.cond.is_some(),
                        dtype: s.dtype.is_some(),
                        shared: false,
                        from_params: s.from_params,
                    });
                }
            }
        }
        for (local, s) in decl.leaf_states().enumerate() {
            if bufs.iter().any(|b| b.name == s.name) || leaf_states.iter().any(|l| l.name == s.name)
            {
                errs.at(
                    &spec.tokens,
                    format!("two stages keep a state `{}`", s.name),
                );
            }
            stage.leaf_states.push(leaf_states.len());
            leaf_states.push(LeafDef {
                name: s.name.clone(),
                stage: si,
                local,
            });
        }
        for (local, s) in decl.tree_states().enumerate() {
            let taken = bufs.iter().any(|b| b.name == s.name)
                || leaf_states.iter().any(|l| l.name == s.name)
                || tree_states.iter().any(|l| l.name == s.name);
            if taken {
                errs.at(
                    &spec.tokens,
                    format!("two stages keep a state `{}`", s.name),
                );
            }
            stage.tree_states.push(tree_states.len());
            tree_states.push(LeafDef {
                name: s.name.clone(),
                stage: si,
                local,
            });
        }
        stage.lv_offset = lv;
        lv += decl.body.leaf_names.len();
    }

    // At most one reduction; what the stages before it may do.
    let reducing: Vec<usize> = stages
        .iter()
        .enumerate()
        .filter(|(_, s)| s.decl.has_reduction())
        .map(|(i, _)| i)
        .collect();
    if reducing.len() > 1 {
        errs.at(
            &specs[reducing[1]].tokens,
            format!(
                "a fused composition has at most one stage with a reduction (`leaf_sum`/`tree_sum`), and `{}` and `{}` both have one: chain! the rest",
                stages[reducing[0]].decl.fn_name, stages[reducing[1]].decl.fn_name
            ),
        );
    }
    let reducer = reducing.first().copied();
    if let Some(j) = reducer {
        let tree = stages[j].decl.body.tree_reduce.is_some();
        for (i, s) in stages[..j].iter().enumerate() {
            if s.decl.has_leaf_section() {
                errs.at(
                    &specs[i].tokens,
                    format!("`{}` has a per-leaf section and comes before the reduction of `{}`: put it after", s.decl.fn_name, stages[j].decl.fn_name),
                );
            }
            if tree && !s.bufs.is_empty() {
                errs.at(
                    &specs[i].tokens,
                    format!("`{}` keeps state and runs before the whole-tree reduction (`tree_sum`) of `{}`, which sees no state of the stages before it: only stateless stages may precede it", s.decl.fn_name, stages[j].decl.fn_name),
                );
            }
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let uses_value = head.body.uses_value || stages.iter().any(|s| s.decl.body.uses_value);
    let uses_p = stages.iter().any(|s| s.decl.body.uses_p());
    let _ = ToTokens::to_token_stream(&head.fn_name);
    Ok(Kernel {
        head,
        args,
        pre: head.body.step_stmts.clone(),
        stages,
        bufs,
        masks,
        leaf_states,
        tree_states,
        reducer,
        uses_value,
        uses_p,
        composite: true,
    })
}
