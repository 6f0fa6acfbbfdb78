//! The model of an `#[optimizer]` declaration, parsed from a function:
//!
//! ```text
//! #[optimizer]                       // or #[optimizer(unscaled)]
//! /// Docs.
//! pub fn adam(
//!     learning_rate: LearningRate,   // required (no default): a constructor argument
//!     #[default(0.9)] b1: f64,       // hyperparameter with its default
//!     #[default(Mask::All)] mask: Mask,           // per-leaf flag
//!     #[state(dtype = mu_dtype)] mu: State,       // per-element state buffer
//!     #[state(init = 0.1, enabled = momentum.is_some())] acc: State,
//! ) {
//!     let bc1 = 1.0 - b1.powf(t);    // per-step scalars (f64), from hyperparams and `t`
//!     each(|g, p, pos| {             // per-element update: gradient, param, position
//!         mu = b1 * mu + (1.0 - b1) * g;
//!         mu / bc1                   // the direction; the update is -lr * direction
//!     })
//! }
//! ```

use crate::errors::Errors;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};
use std::collections::BTreeSet;
use syn::visit::Visit;
use syn::{Attribute, Expr, FnArg, Ident, Pat, Stmt, Type};

pub struct Model {
    pub vis: syn::Visibility,
    pub fn_name: Ident,
    pub struct_name: Ident,
    pub state_name: Ident,
    pub docs: Vec<Attribute>,
    /// `doc_trace(...)` and `alias(...)`: the documented trace (`trace.rs`).
    pub trace: crate::trace::Decl,
    pub unscaled: bool,
    /// `#[optimizer(primitive = scale_by_x)]`: also generate the learning-rate-free
    /// transformation `scale_by_x`, whose update is the direction itself.
    pub primitive: Option<Ident>,
    pub hypers: Vec<Hyper>,
    pub states: Vec<StateBuf>,
    pub step_stmts: Vec<Stmt>,
    pub step_names: Vec<Ident>,
    /// `let (a, b) = tree_sum(|g, p| ...);` among the per-step statements: a pass over
    /// the whole tree before any leaf is updated. Its index in `step_stmts`.
    pub tree_reduce: Option<(usize, Reduce)>,
    /// `let (a, b) = leaf_sum(|g, p, pos| ...);`: a read-only pass over each leaf (it may
    /// read the state) before the element pass. It starts the per-leaf section.
    pub leaf_reduce: Option<Reduce>,
    /// Per-leaf statements after the leaf reduction: `let`s (f64) and assignments to
    /// per-leaf state (`#[state(leaf)]`).
    pub leaf_stmts: Vec<Stmt>,
    /// The per-leaf values the element code sees (as `F`): the reduction's names, the
    /// per-leaf `let`s, then the per-leaf states.
    pub leaf_names: Vec<Ident>,
    /// `let f = |a, b| ...;`: element-level helper functions, shared by the reduction
    /// and the element code; they see per-step scalars in the element type.
    pub helpers: Vec<(Ident, syn::ExprClosure)>,
    /// Whether the code reads the objective `value` (an extra argument).
    pub uses_value: bool,
    /// `primitive = scale_by_x(eps = 1e-8)`: defaults that differ in the primitive.
    pub primitive_defaults: Vec<(Ident, Expr)>,
    pub elem: Elem,
}

/// A reduction pass: the closure's value (a tuple for several sums) summed over the
/// elements, in f64.
#[derive(Clone)]
pub struct Reduce {
    pub pat: Pat,
    pub names: Vec<Ident>,
    pub g: Pat,
    pub p: Pat,
    pub pos: Pat,
    pub uses_p: bool,
    pub body: Expr,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A constant or a schedule, evaluated once per step.
    Rate,
    /// An optional rate (`None`: 1).
    OptRate,
    /// A per-leaf flag.
    Mask,
    /// A plain scalar (f64, bool, integers, their options).
    Plain,
    /// A storage dtype generated from `#[state(dtype = ...)]`.
    Dtype,
    /// A string choice (`String` with `#[one_of("a", "b")]`).
    Choice,
}

pub struct Hyper {
    pub name: Ident,
    pub ty: Type,
    pub kind: Kind,
    pub default: Option<Expr>,
    pub docs: Vec<Attribute>,
    /// The allowed values of a `Choice`.
    pub one_of: Vec<String>,
}

pub struct StateBuf {
    pub name: Ident,
    /// `#[state(leaf)]`: one scalar per leaf, updated in the per-leaf section.
    pub per_leaf: bool,
    pub init: Option<Expr>,
    pub dtype: Option<Ident>,
    pub enabled: Option<Expr>,
    pub docs: Vec<Attribute>,
}

pub struct Elem {
    pub g: Pat,
    pub p: Pat,
    pub pos: Pat,
    pub uses_p: bool,
    pub body: Expr,
}

const PLAIN_TYPES: &[&str] = &[
    "f64",
    "f32",
    "bool",
    "u64",
    "usize",
    "i64",
    "Option<f64>",
    "Option<u64>",
    "Option<usize>",
];
const RESERVED: &[&str] = &[
    "t", "lr", "F", "this", "state", "params", "updates", "value",
];

fn ty_string(ty: &Type) -> String {
    ty.to_token_stream().to_string().replace(' ', "")
}

fn last_ident(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

fn classify(ty: &Type) -> Option<Kind> {
    let s = ty_string(ty);
    let last = last_ident(ty);
    match last.as_deref() {
        Some("LearningRate") | Some("ScalarOrSchedule") => return Some(Kind::Rate),
        Some("Mask") => return Some(Kind::Mask),
        _ => {}
    }
    if s.starts_with("Option<")
        && (s.ends_with("LearningRate>") || s.ends_with("ScalarOrSchedule>"))
    {
        return Some(Kind::OptRate);
    }
    if s == "String" {
        return Some(Kind::Choice);
    }
    PLAIN_TYPES.contains(&s.as_str()).then_some(Kind::Plain)
}

fn is_doc(a: &Attribute) -> bool {
    a.path().is_ident("doc")
}

fn camel(name: &str) -> String {
    name.split('_')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut c = s.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Parses and checks a declaration; on error returns the errors and a fallback item.
pub fn parse(attr: TokenStream, item: TokenStream) -> Result<Model, (TokenStream, TokenStream)> {
    let mut errs = Errors::default();
    let func: syn::ItemFn = match syn::parse2(item) {
        Ok(f) => f,
        Err(e) => {
            let mut errs = Errors::default();
            errs.push(syn::Error::new(
                e.span(),
                "#[optimizer] goes on a function: `fn name(hyperparameters, state) { ... each(|g| ...) }`",
            ));
            return Err((errs.into_tokens(), TokenStream::new()));
        }
    };
    let fn_name = func.sig.ident.clone();
    let struct_name = format_ident!("{}", camel(&fn_name.to_string()), span = fn_name.span());
    let state_name = format_ident!("{}State", struct_name);
    // On error, still emit the config struct with the arguments' own types, so the
    // user's other code (and imports) keep type-checking.
    let fallback = {
        let vis = &func.vis;
        let mut seen = BTreeSet::new();
        let fields = func.sig.inputs.iter().filter_map(|a| match a {
            FnArg::Typed(pt) => match &*pt.pat {
                Pat::Ident(pi)
                    if last_ident(&pt.ty).as_deref() != Some("State")
                        && seen.insert(pi.ident.to_string()) =>
                {
                    let (n, t) = (&pi.ident, &pt.ty);
                    Some(quote!(pub #n: #t,))
                }
                _ => None,
            },
            _ => None,
        });
        quote!(#[allow(dead_code)] #vis struct #struct_name { #(#fields)* })
    };

    // #[optimizer(...)] arguments.
    let mut unscaled = false;
    let mut trace = crate::trace::Decl::default();
    let mut primitive: Option<Ident> = None;
    let mut primitive_defaults: Vec<(Ident, Expr)> = Vec::new();
    if !attr.is_empty() {
        let parser = syn::meta::parser(|meta| {
            if crate::trace::Decl::knows(&meta.path) {
                trace.parse(&meta)
            } else if meta.path.is_ident("unscaled") {
                unscaled = true;
                Ok(())
            } else if meta.path.is_ident("primitive") {
                // `primitive = scale_by_x` or `primitive = scale_by_x(eps = 1e-8, ...)`.
                let e: Expr = meta.value()?.parse()?;
                let (name, args) = match &e {
                    Expr::Path(p) if p.path.get_ident().is_some() => {
                        (p.path.get_ident().cloned(), vec![])
                    }
                    Expr::Call(c) => match &*c.func {
                        Expr::Path(p) if p.path.get_ident().is_some() => (
                            p.path.get_ident().cloned(),
                            c.args.iter().cloned().collect(),
                        ),
                        _ => (None, vec![]),
                    },
                    _ => (None, vec![]),
                };
                let Some(name) = name else {
                    return Err(syn::Error::new_spanned(&e, "expected `primitive = scale_by_x` or `primitive = scale_by_x(arg = default, ...)`"));
                };
                for a in args {
                    match a {
                        Expr::Assign(asg) => match &*asg.left {
                            Expr::Path(p) if p.path.get_ident().is_some() => primitive_defaults
                                .push((
                                    p.path.get_ident().cloned().expect("checked"),
                                    (*asg.right).clone(),
                                )),
                            other => {
                                return Err(syn::Error::new_spanned(
                                    other,
                                    "expected an argument name",
                                ))
                            }
                        },
                        other => {
                            return Err(syn::Error::new_spanned(
                                other,
                                "expected `argument = default`",
                            ))
                        }
                    }
                }
                primitive = Some(name);
                Ok(())
            } else {
                Err(meta.error(format!(
                    "unknown #[optimizer] argument `{}`; expected `unscaled`, `primitive = name`, `doc_trace(...)` or `alias(...)`",
                    meta.path.to_token_stream().to_string().replace(' ', "")
                )))
            }
        });
        if let Err(e) = syn::parse::Parser::parse2(parser, attr) {
            errs.push(e);
        }
    }
    for a in &func.attrs {
        if !is_doc(a) {
            errs.at(a, "only doc comments may accompany #[optimizer]");
        }
    }
    if !func.sig.generics.params.is_empty() {
        errs.at(
            &func.sig.generics,
            "an optimizer declaration takes no generics: the element type is generic already",
        );
    }
    if let Some(r) = &func.sig.output.to_token_stream().into_iter().next() {
        errs.at(r, "an optimizer declaration has no return type");
    }

    let mut hypers = Vec::new();
    let mut states = Vec::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut claim = |errs: &mut Errors, id: &Ident| {
        let s = id.to_string();
        if RESERVED.contains(&s.as_str()) {
            errs.at(id, format!("`{s}` is reserved in optimizer declarations"));
        } else if !names.insert(s.clone()) {
            errs.at(id, format!("duplicate name `{s}`"));
        }
    };

    for arg in &func.sig.inputs {
        let FnArg::Typed(pt) = arg else {
            errs.at(arg, "an optimizer declaration takes no `self`");
            continue;
        };
        let Pat::Ident(pi) = &*pt.pat else {
            errs.at(&pt.pat, "expected a plain argument name");
            continue;
        };
        let name = pi.ident.clone();
        let docs: Vec<Attribute> = pt.attrs.iter().filter(|a| is_doc(a)).cloned().collect();
        let mut default = None;
        let mut one_of: Vec<String> = Vec::new();
        let mut state_attr: Option<&Attribute> = None;
        for a in pt.attrs.iter().filter(|a| !is_doc(a)) {
            if a.path().is_ident("default") {
                match &a.meta {
                    syn::Meta::List(l) => match syn::parse2::<Expr>(l.tokens.clone()) {
                        Ok(e) => default = Some(e),
                        Err(e) => errs.push(e),
                    },
                    syn::Meta::NameValue(nv) => default = Some(nv.value.clone()),
                    syn::Meta::Path(_) => errs.at(a, "expected `#[default(value)]`"),
                }
            } else if a.path().is_ident("state") {
                state_attr = Some(a);
            } else if a.path().is_ident("one_of") {
                let r = a.parse_args_with(
                    syn::punctuated::Punctuated::<syn::LitStr, syn::Token![,]>::parse_terminated,
                );
                match r {
                    Ok(l) => one_of = l.iter().map(|s| s.value()).collect(),
                    Err(e) => errs.push(e),
                }
            } else {
                errs.at(
                    a,
                    format!(
                        "unknown attribute `#[{}]`; expected `#[default(...)]`, `#[one_of(...)]` or `#[state(...)]`",
                        a.path().to_token_stream().to_string().replace(' ', "")
                    ),
                );
            }
        }
        if let Some(sa) = state_attr {
            claim(&mut errs, &name);
            if last_ident(&pt.ty).as_deref() != Some("State") {
                errs.at(
                    &pt.ty,
                    format!("state buffer `{name}` must have type `State`"),
                );
            }
            if let Some(d) = &default {
                errs.at(
                    d,
                    "a state buffer takes `#[state(init = ...)]`, not `#[default]`",
                );
            }
            let mut sb = StateBuf {
                name: name.clone(),
                per_leaf: false,
                init: None,
                dtype: None,
                enabled: None,
                docs,
            };
            if let syn::Meta::List(_) = &sa.meta {
                let r = sa.parse_nested_meta(|meta| {
                    if meta.path.is_ident("init") {
                        sb.init = Some(meta.value()?.parse()?);
                    } else if meta.path.is_ident("dtype") {
                        sb.dtype = Some(meta.value()?.parse()?);
                    } else if meta.path.is_ident("enabled") {
                        sb.enabled = Some(meta.value()?.parse()?);
                    } else if meta.path.is_ident("leaf") {
                        sb.per_leaf = true;
                    } else {
                        return Err(meta.error(format!(
                            "unknown state option `{}`; expected `init`, `dtype`, `enabled` or `leaf`",
                            meta.path.to_token_stream().to_string().replace(' ', "")
                        )));
                    }
                    Ok(())
                });
                if let Err(e) = r {
                    errs.push(e);
                }
            }
            if let Some(d) = &sb.dtype {
                claim(&mut errs, d);
            }
            if sb.per_leaf && (sb.dtype.is_some() || sb.enabled.is_some()) {
                errs.at(
                    sa,
                    "a per-leaf state (`#[state(leaf)]`) takes only `init`: it is one scalar per leaf",
                );
            }
            states.push(sb);
            continue;
        }
        claim(&mut errs, &name);
        let Some(kind) = classify(&pt.ty) else {
            errs.at(
                &pt.ty,
                format!(
                    "unsupported hyperparameter type `{}`; expected LearningRate, Option<LearningRate>, Mask, String (with #[one_of]), {}",
                    ty_string(&pt.ty),
                    PLAIN_TYPES.join(", ")
                ),
            );
            continue;
        };
        if kind == Kind::Choice && one_of.is_empty() {
            errs.at(
                &pt.ty,
                format!("`{name}: String` needs its allowed values: `#[one_of(\"a\", \"b\")]`"),
            );
        }
        if kind != Kind::Choice && !one_of.is_empty() {
            errs.at(
                &pt.ty,
                "`#[one_of(...)]` applies to `String` arguments only",
            );
        }
        hypers.push(Hyper {
            name,
            ty: (*pt.ty).clone(),
            kind,
            default,
            docs,
            one_of,
        });
    }
    for s in &states {
        if let Some(d) = &s.dtype {
            hypers.push(Hyper {
                name: d.clone(),
                ty: {
                    let krate = crate::krate();
                    syn::parse_quote!(Option<#krate::Dtype>)
                },
                kind: Kind::Dtype,
                default: None,
                docs: vec![],
                one_of: vec![],
            });
        }
    }
    // Fix the generated docs (the stringify above names the buffer).
    for h in hypers.iter_mut().filter(|h| h.kind == Kind::Dtype) {
        let buf = states
            .iter()
            .find(|s| s.dtype.as_ref() == Some(&h.name))
            .map(|s| s.name.to_string())
            .unwrap_or_default();
        let text =
            format!(" Storage dtype of the `{buf}` state; `None` stores it in the params' dtype.");
        h.docs = vec![syn::parse_quote!(#[doc = #text])];
    }

    if let (true, Some(p)) = (unscaled, &primitive) {
        errs.at(
            p,
            "`primitive` needs a learning rate to remove; this declaration is `unscaled` already",
        );
    }
    if !unscaled {
        match hypers.iter().find(|h| h.name == "learning_rate") {
            Some(h) if matches!(h.kind, Kind::Rate | Kind::OptRate) => {}
            Some(h) => errs.at(&h.ty, "`learning_rate` must have type `LearningRate` or `Option<LearningRate>`"),
            None => errs.at(
                &fn_name,
                "missing learning rate: add `learning_rate: LearningRate`, or write #[optimizer(unscaled)] for a transformation whose update is the element expression itself",
            ),
        }
    }

    // The body: per-step `let`s (with at most one `tree_sum`) and element helpers, then
    // optionally a per-leaf section (a `leaf_sum`, per-leaf `let`s and per-leaf state
    // assignments), then `each(|g, p, pos| ...)`.
    let mut step_stmts = Vec::new();
    let mut step_names = Vec::new();
    let mut tree_reduce: Option<(usize, Reduce)> = None;
    let mut leaf_reduce: Option<Reduce> = None;
    let mut leaf_stmts: Vec<Stmt> = Vec::new();
    let mut leaf_lets: Vec<Ident> = Vec::new();
    let mut helpers: Vec<(Ident, syn::ExprClosure)> = Vec::new();
    let mut in_leaf = false;
    let mut elem = None;
    let leaf_states: Vec<String> = states
        .iter()
        .filter(|s| s.per_leaf)
        .map(|s| s.name.to_string())
        .collect();
    let n = func.block.stmts.len();
    for (i, stmt) in func.block.stmts.iter().enumerate() {
        let last = i + 1 == n;
        match stmt {
            Stmt::Local(l) if !last => {
                let init = l.init.as_ref().map(|i| &*i.expr);
                let call = init.and_then(reduction_call);
                if let Some(Expr::Closure(c)) = init {
                    let Pat::Ident(pi) = &l.pat else {
                        errs.at(&l.pat, "an element helper is named: `let f = |a, b| ...;`");
                        continue;
                    };
                    if in_leaf {
                        errs.at(
                            stmt,
                            "element helpers go before the per-leaf section (before `leaf_sum`)",
                        );
                    }
                    claim(&mut errs, &pi.ident);
                    helpers.push((pi.ident.clone(), c.clone()));
                    continue;
                }
                let mut ids = Vec::new();
                collect_pat_idents(&l.pat, &mut ids);
                if ids.is_empty() {
                    errs.at(&l.pat, "expected a named scalar");
                }
                for id in &ids {
                    claim(&mut errs, id);
                }
                match call {
                    Some(("tree_sum", arg)) => {
                        if in_leaf {
                            errs.at(stmt, "`tree_sum` is a per-step pass: put it before the per-leaf section");
                        } else if tree_reduce.is_some() {
                            errs.at(stmt, "one `tree_sum` per optimizer: sum several values at once with a tuple, `let (a, b) = tree_sum(|g| (x, y));`");
                        } else if let Some(r) = parse_reduce(&l.pat, ids.clone(), arg, &mut errs) {
                            tree_reduce = Some((step_stmts.len(), r));
                        }
                        step_names.extend(ids);
                        step_stmts.push(stmt.clone());
                    }
                    Some(("leaf_sum", arg)) => {
                        if in_leaf {
                            errs.at(stmt, "one `leaf_sum` per optimizer, at the start of the per-leaf section: sum several values at once with a tuple, `let (a, b) = leaf_sum(|g, p| (x, y));`");
                        } else if let Some(r) = parse_reduce(&l.pat, ids, arg, &mut errs) {
                            leaf_reduce = Some(r);
                        }
                        in_leaf = true;
                    }
                    _ if in_leaf => {
                        leaf_lets.extend(ids);
                        leaf_stmts.push(stmt.clone());
                    }
                    _ => {
                        step_names.extend(ids);
                        step_stmts.push(stmt.clone());
                    }
                }
            }
            Stmt::Expr(Expr::Assign(a), Some(_)) if !last => {
                let target = match &*a.left {
                    Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()),
                    _ => None,
                };
                match target {
                    Some(t) if leaf_states.contains(&t) => {
                        in_leaf = true;
                        leaf_stmts.push(stmt.clone());
                    }
                    _ => errs.at(
                        &a.left,
                        "only per-leaf state (`#[state(leaf)] x: State`) is assigned outside `each(...)`",
                    ),
                }
            }
            Stmt::Expr(e, _) if last => elem = parse_each(e, &mut errs),
            _ if last => errs.at(
                stmt,
                "the body must end with `each(|g| ...)`, the per-element update",
            ),
            _ => errs.at(
                stmt,
                "only `let` statements (per-step or per-leaf scalars, reductions, helpers) and per-leaf state assignments may precede `each(...)`",
            ),
        }
    }
    if n == 0 {
        errs.at(
            &func.block,
            "missing `each(|g| ...)`: the per-element update",
        );
    }
    let mut leaf_names: Vec<Ident> = leaf_reduce
        .as_ref()
        .map(|r| r.names.clone())
        .unwrap_or_default();
    leaf_names.extend(leaf_lets);
    leaf_names.extend(states.iter().filter(|s| s.per_leaf).map(|s| s.name.clone()));
    let uses_value = {
        let mut all = TokenStream::new();
        for s in &step_stmts {
            s.to_tokens(&mut all);
        }
        for s in &leaf_stmts {
            s.to_tokens(&mut all);
        }
        // Element code (helpers, reductions, `each`) sees it too, as any per-step scalar.
        for (_, h) in &helpers {
            h.to_tokens(&mut all);
        }
        if let Some(r) = &leaf_reduce {
            r.body.to_tokens(&mut all);
        }
        if let Some(el) = &elem {
            el.body.to_tokens(&mut all);
        }
        mentions(all, "value")
    };

    if let Some(el) = &elem {
        check_assignments(&el.body, &states, false, &mut errs);
    }
    for r in tree_reduce.iter().map(|(_, r)| r).chain(leaf_reduce.iter()) {
        check_assignments(&r.body, &states, true, &mut errs);
    }
    for (_, h) in &helpers {
        check_assignments(&h.body, &states, true, &mut errs);
    }
    if let Some((_, r)) = &tree_reduce {
        let mut toks = TokenStream::new();
        r.body.to_tokens(&mut toks);
        for s in &states {
            if mentions(toks.clone(), &s.name.to_string()) {
                errs.at(&r.body, format!("`tree_sum` runs before any leaf's state is read: it cannot use the state `{}`", s.name));
            }
        }
    }
    if !errs.is_empty() {
        return Err((errs.into_tokens(), fallback));
    }
    let Some(elem) = elem else {
        let mut e = Errors::default();
        e.at(
            &func.block,
            "missing `each(|g| ...)`: the per-element update",
        );
        return Err((e.into_tokens(), fallback));
    };
    Ok(Model {
        vis: func.vis.clone(),
        fn_name,
        struct_name,
        state_name,
        docs: func.attrs.iter().filter(|a| is_doc(a)).cloned().collect(),
        trace,
        unscaled,
        primitive,
        hypers,
        states,
        step_stmts,
        step_names,
        tree_reduce,
        leaf_reduce,
        leaf_stmts,
        leaf_names,
        helpers,
        uses_value,
        primitive_defaults,
        elem,
    })
}

/// `tree_sum(closure)` / `leaf_sum(closure)`: the reduction's name and its closure.
fn reduction_call(e: &Expr) -> Option<(&'static str, &Expr)> {
    let Expr::Call(c) = e else { return None };
    let Expr::Path(p) = &*c.func else { return None };
    let name = if p.path.is_ident("tree_sum") {
        "tree_sum"
    } else if p.path.is_ident("leaf_sum") {
        "leaf_sum"
    } else {
        return None;
    };
    (c.args.len() == 1).then(|| (name, &c.args[0]))
}

fn parse_reduce(pat: &Pat, names: Vec<Ident>, arg: &Expr, errs: &mut Errors) -> Option<Reduce> {
    let el = parse_closure(arg, "a reduction", errs)?;
    let pat = match pat {
        Pat::Type(pt) => (*pt.pat).clone(),
        p => p.clone(),
    };
    Some(Reduce {
        pat,
        names,
        g: el.g,
        p: el.p,
        pos: el.pos,
        uses_p: el.uses_p,
        body: el.body,
    })
}

/// Whether the tokens mention the identifier `name`.
fn mentions(ts: TokenStream, name: &str) -> bool {
    ts.into_iter().any(|t| match t {
        proc_macro2::TokenTree::Ident(i) => i == name,
        proc_macro2::TokenTree::Group(g) => mentions(g.stream(), name),
        _ => false,
    })
}

impl Model {
    /// The learning-rate-free twin of a declaration (`adam` -> `scale_by_adam`).
    pub fn primitive_model(&self) -> Option<Model> {
        let name = self.primitive.clone()?;
        let struct_name = format_ident!("{}", camel(&name.to_string()), span = name.span());
        let doc = format!(
            " The transformation behind [`{}`] without its learning rate: its update is the direction `d` itself (optax's `{}`).",
            self.struct_name, name
        );
        Some(Model {
            vis: self.vis.clone(),
            fn_name: name,
            state_name: format_ident!("{}State", struct_name),
            struct_name,
            docs: vec![syn::parse_quote!(#[doc = #doc])],
            trace: Default::default(),
            unscaled: true,
            primitive: None,
            hypers: self
                .hypers
                .iter()
                .filter(|h| h.name != "learning_rate")
                .map(|h| Hyper {
                    name: h.name.clone(),
                    ty: h.ty.clone(),
                    kind: h.kind,
                    default: self
                        .primitive_defaults
                        .iter()
                        .find(|(n, _)| *n == h.name)
                        .map(|(_, d)| d.clone())
                        .or_else(|| h.default.clone()),
                    docs: h.docs.clone(),
                    one_of: h.one_of.clone(),
                })
                .collect(),
            states: self
                .states
                .iter()
                .map(|s| StateBuf {
                    name: s.name.clone(),
                    per_leaf: s.per_leaf,
                    init: s.init.clone(),
                    dtype: s.dtype.clone(),
                    enabled: s.enabled.clone(),
                    docs: s.docs.clone(),
                })
                .collect(),
            step_stmts: self.step_stmts.clone(),
            step_names: self.step_names.clone(),
            tree_reduce: self.tree_reduce.clone(),
            leaf_reduce: self.leaf_reduce.clone(),
            leaf_stmts: self.leaf_stmts.clone(),
            leaf_names: self.leaf_names.clone(),
            helpers: self.helpers.clone(),
            uses_value: self.uses_value,
            primitive_defaults: vec![],
            elem: Elem {
                g: self.elem.g.clone(),
                p: self.elem.p.clone(),
                pos: self.elem.pos.clone(),
                uses_p: self.elem.uses_p,
                body: self.elem.body.clone(),
            },
        })
    }
}

pub fn collect_pat_idents(p: &Pat, out: &mut Vec<Ident>) {
    match p {
        Pat::Ident(pi) => out.push(pi.ident.clone()),
        Pat::Type(pt) => collect_pat_idents(&pt.pat, out),
        Pat::Tuple(t) => t.elems.iter().for_each(|p| collect_pat_idents(p, out)),
        _ => {}
    }
}

fn parse_each(e: &Expr, errs: &mut Errors) -> Option<Elem> {
    let Expr::Call(call) = e else {
        errs.at(
            e,
            "the body must end with `each(|g| ...)`, the per-element update",
        );
        return None;
    };
    let is_each = matches!(&*call.func, Expr::Path(p) if p.path.is_ident("each"));
    if !is_each || call.args.len() != 1 {
        errs.at(
            e,
            "the body must end with `each(|g| ...)`, the per-element update",
        );
        return None;
    }
    parse_closure(&call.args[0], "`each`", errs)
}

/// An element closure `|g, p, pos| body` (of `each` or a reduction).
fn parse_closure(arg: &Expr, what: &str, errs: &mut Errors) -> Option<Elem> {
    let Expr::Closure(c) = arg else {
        errs.at(arg, format!("{what} takes a closure: `|g, p, pos| ...`"));
        return None;
    };
    if c.inputs.is_empty() || c.inputs.len() > 3 {
        errs.at(
            &c.inputs,
            "the element closure takes `|g|`, `|g, p|` or `|g, p, pos|`",
        );
        return None;
    }
    let mut pats = Vec::new();
    for inp in &c.inputs {
        match inp {
            Pat::Ident(_) | Pat::Wild(_) => pats.push(inp.clone()),
            other => {
                errs.at(
                    other,
                    "expected a plain name (no type: elements have the params' type)",
                );
                return None;
            }
        }
    }
    let wild: Pat = Pat::Wild(syn::PatWild {
        attrs: vec![],
        underscore_token: Default::default(),
    });
    let uses_p =
        matches!(pats.get(1), Some(Pat::Ident(pi)) if !pi.ident.to_string().starts_with('_'));
    Some(Elem {
        g: pats[0].clone(),
        p: pats.get(1).cloned().unwrap_or_else(|| wild.clone()),
        pos: pats.get(2).cloned().unwrap_or(wild),
        uses_p,
        body: (*c.body).clone(),
    })
}

/// Every assignment in element code targets a per-element state buffer or a local;
/// in read-only code (reductions, helpers), a local only.
fn check_assignments(body: &Expr, states: &[StateBuf], read_only: bool, errs: &mut Errors) {
    struct V<'a> {
        locals: BTreeSet<String>,
        states: &'a [StateBuf],
        read_only: bool,
        bad: Vec<(Expr, String)>,
    }
    impl<'ast> Visit<'ast> for V<'_> {
        fn visit_local(&mut self, l: &'ast syn::Local) {
            let mut ids = Vec::new();
            collect_pat_idents(&l.pat, &mut ids);
            self.locals.extend(ids.iter().map(|i| i.to_string()));
            syn::visit::visit_local(self, l);
        }
        fn visit_expr_assign(&mut self, a: &'ast syn::ExprAssign) {
            self.check(&a.left);
            syn::visit::visit_expr_assign(self, a);
        }
        fn visit_expr_binary(&mut self, b: &'ast syn::ExprBinary) {
            use syn::BinOp::*;
            if matches!(
                b.op,
                AddAssign(_) | SubAssign(_) | MulAssign(_) | DivAssign(_) | RemAssign(_)
            ) {
                self.check(&b.left);
            }
            syn::visit::visit_expr_binary(self, b);
        }
    }
    impl V<'_> {
        fn check(&mut self, lhs: &Expr) {
            if let Expr::Tuple(t) = lhs {
                for e in &t.elems {
                    self.check(e);
                }
                return;
            }
            if let Expr::Path(p) = lhs {
                if let Some(id) = p.path.get_ident() {
                    let s = id.to_string();
                    let is_state = self.states.iter().any(|st| st.name == s && !st.per_leaf);
                    if !self.locals.contains(&s) && (self.read_only || !is_state) {
                        self.bad.push((lhs.clone(), s));
                    }
                }
            }
        }
    }
    let mut v = V {
        locals: BTreeSet::new(),
        states,
        read_only,
        bad: vec![],
    };
    v.visit_expr(body);
    for (e, s) in v.bad {
        let msg = if read_only {
            format!("reductions and helpers only read: `{s}` cannot be assigned here (assign state in `each`)")
        } else if states.iter().any(|st| st.name == s && st.per_leaf) {
            format!("per-leaf state `{s}` is assigned once per leaf, before `each(...)`")
        } else {
            format!("assignment to undeclared state `{s}`; declare it as `#[state] {s}: State`")
        };
        errs.at(e, msg);
    }
}
