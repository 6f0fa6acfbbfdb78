//! Stage 1 of `#[optimizer]`: syn's function into a [`Decl`], the model of one declaration.
//!
//! A declaration is either *elementary* (hyperparameters, state buffers and a body that
//! ends in `each(|g| ...)`: a primitive such as `scale_by_adam`, or a user's optimizer) or
//! a *fused composition* (`#[optimizer(fuse(stage, ...))]`: arguments, optional per-step
//! `let`s, no state and no `each`; its update comes from its stages). Every error is
//! collected and spanned on the offending token.
//!
//! ```text
//! #[optimizer(unscaled)]
//! pub fn scale_by_adam(
//!     #[default(0.9)] b1: f64,                  // hyperparameter with its default
//!     #[check(b1 < 1.0)] ...                    // argument checks, reported at init
//!     #[state(dtype = mu_dtype)] mu: State,     // per-element state buffer
//! ) {
//!     let bc1 = 1.0 - b1.powf(t);               // per-step scalars (f64)
//!     each(|g| { mu = b1 * mu + (1.0 - b1) * g; mu / bc1 })
//! }
//!
//! #[optimizer(fuse(scale_by_adam, add_decayed_weights, scale_by_learning_rate))]
//! pub fn adamw(learning_rate: _, b1: _, #[default(1e-4)] weight_decay: _, mask: _) {}
//! ```

pub mod attr;
pub mod body;
pub mod params;
pub mod trace;

use crate::errors::Errors;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};
use std::collections::BTreeSet;
use syn::{Attribute, Expr, FnArg, Ident, Pat, Type};

pub use attr::StageSpec;
pub use body::{Body, Reduce};

/// One `#[optimizer]` declaration.
pub struct Decl {
    pub vis: syn::Visibility,
    pub fn_name: Ident,
    pub struct_name: Ident,
    pub state_name: Ident,
    pub docs: Vec<Attribute>,
    /// `doc_trace(...)` and `alias(...)`.
    pub trace: trace::Decl,
    /// `unscaled`: the update is the element expression itself, not `-learning_rate * d`.
    pub unscaled: bool,
    /// `fuse(...)`: the stages of a fused composition.
    pub stages: Option<Vec<StageSpec>>,
    /// `partial(base, ...)`: a declaration that is another one with other defaults.
    pub partial: Option<attr::Partial>,
    pub hypers: Vec<Hyper>,
    pub states: Vec<StateBuf>,
    pub body: Body,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
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

impl Kind {
    /// Whether the kind has a per-step scalar value (what step code and checks see).
    pub fn is_scalar(self) -> bool {
        matches!(
            self,
            Kind::Rate | Kind::OptRate | Kind::Plain | Kind::Choice
        )
    }
}

#[derive(Clone)]
pub struct Hyper {
    pub name: Ident,
    /// `None` for `name: _` in a composition: the type of the stage argument it feeds.
    pub ty: Option<Type>,
    pub kind: Option<Kind>,
    pub default: Option<Expr>,
    pub docs: Vec<Attribute>,
    /// The allowed values of a `Choice`.
    pub one_of: Vec<String>,
    /// `#[check(expr)]`: conditions the argument's value must satisfy.
    pub checks: Vec<Expr>,
    /// `#[at(t)]`: a rate evaluated at the 1-based step `t` rather than at the 0-based
    /// count `t - 1` (optax's schedule-free wrapper counts its steps from 1).
    pub at_t: bool,
}

#[derive(Clone)]
pub struct StateBuf {
    pub name: Ident,
    /// `#[state(leaf)]`: one scalar per leaf, updated in the per-leaf section.
    pub per_leaf: bool,
    /// `#[state(tree)]`: one scalar for the whole tree, updated in the per-step code.
    pub per_tree: bool,
    /// `#[state(init = params)]`: starts as a copy of the params.
    pub from_params: bool,
    pub init: Option<Expr>,
    pub dtype: Option<Ident>,
    pub enabled: Option<Expr>,
    pub docs: Vec<Attribute>,
}

pub const PLAIN_TYPES: &[&str] = &[
    "f64",
    "f32",
    "bool",
    "u64",
    "usize",
    "i64",
    "Option<f64>",
    "Option<u64>",
    "Option<usize>",
    // optax's tuple arguments (`betas`) and DoG's `(tag, value)` initial step.
    "(f64,f64)",
    "InitStep",
];

/// Names generated code binds; a declaration may not claim them.
pub const RESERVED: &[&str] = &[
    "t", "lr", "F", "this", "state", "params", "updates", "value", "n", "shape",
];

pub fn ty_string(ty: &Type) -> String {
    ty.to_token_stream().to_string().replace(' ', "")
}

pub fn last_ident(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

pub fn classify(ty: &Type) -> Option<Kind> {
    let s = ty_string(ty);
    match last_ident(ty).as_deref() {
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
    if s.ends_with("Dtype>") && s.starts_with("Option<") {
        return Some(Kind::Dtype);
    }
    PLAIN_TYPES.contains(&s.as_str()).then_some(Kind::Plain)
}

pub fn is_doc(a: &Attribute) -> bool {
    a.path().is_ident("doc")
}

pub fn camel(name: &str) -> String {
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

/// Whether the tokens mention the identifier `name`.
pub fn mentions(ts: TokenStream, name: &str) -> bool {
    ts.into_iter().any(|t| match t {
        proc_macro2::TokenTree::Ident(i) => i == name,
        proc_macro2::TokenTree::Group(g) => mentions(g.stream(), name),
        _ => false,
    })
}

/// Claims names of a declaration: reserved names and duplicates are errors.
#[derive(Default)]
pub struct Names(BTreeSet<String>);

impl Names {
    pub fn claim(&mut self, errs: &mut Errors, id: &Ident) {
        let s = id.to_string();
        if RESERVED.contains(&s.as_str()) {
            errs.at(id, format!("`{s}` is reserved in optimizer declarations"));
        } else if !self.0.insert(s.clone()) {
            errs.at(id, format!("duplicate name `{s}`"));
        }
    }
}

/// Parses and checks a declaration; on error returns the errors and a fallback item
/// (the config struct with the arguments' own types, so the user's other code keeps
/// type-checking).
pub fn parse(attr: TokenStream, item: TokenStream) -> Result<Decl, (TokenStream, TokenStream)> {
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
    let fallback = fallback(&func, &struct_name);

    let attrs = attr::parse(attr, &mut errs);
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
    if let Some(p) = &attrs.partial {
        if !func.sig.inputs.is_empty() || !func.block.stmts.is_empty() {
            errs.at(
                &func.sig.inputs,
                "a `partial(...)` declaration takes its arguments and body from its base: write `fn name() {}`",
            );
        }
        if attrs.stages.is_some() || attrs.unscaled {
            errs.at(
                &p.base,
                "`partial(...)` takes the base's `fuse(...)` or `unscaled`; it adds none",
            );
        }
        if !errs.is_empty() {
            return Err((errs.into_tokens(), fallback));
        }
        return Ok(Decl {
            vis: func.vis.clone(),
            fn_name,
            struct_name,
            state_name,
            docs: func.attrs.iter().filter(|a| is_doc(a)).cloned().collect(),
            trace: attrs.trace,
            unscaled: false,
            stages: None,
            partial: attrs.partial,
            hypers: Vec::new(),
            states: Vec::new(),
            body: Body::default(),
        });
    }
    let composite = attrs.stages.is_some();
    let mut names = Names::default();
    let (hypers, states) = params::parse(&func, composite, &mut names, &mut errs);

    if !attrs.unscaled && !composite {
        match hypers.iter().find(|h| h.name == "learning_rate") {
            Some(h) if matches!(h.kind, Some(Kind::Rate | Kind::OptRate)) => {}
            Some(h) => errs.at(
                &h.ty,
                "`learning_rate` must have type `LearningRate` or `Option<LearningRate>`",
            ),
            None => errs.at(
                &fn_name,
                "missing learning rate: add `learning_rate: LearningRate`, or write #[optimizer(unscaled)] for a transformation whose update is the element expression itself",
            ),
        }
    }
    if composite && attrs.unscaled {
        errs.at(
            &fn_name,
            "a fused composition takes no `unscaled`: its stages decide the update (end with `scale_by_learning_rate`)",
        );
    }
    let body = body::parse(&func, &states, composite, &mut names, &mut errs);
    check_jax(&hypers, &body, composite, &mut errs);
    if !errs.is_empty() {
        return Err((errs.into_tokens(), fallback));
    }
    Ok(Decl {
        vis: func.vis.clone(),
        fn_name,
        struct_name,
        state_name,
        docs: func.attrs.iter().filter(|a| is_doc(a)).cloned().collect(),
        trace: attrs.trace,
        unscaled: attrs.unscaled,
        stages: attrs.stages,
        partial: None,
        hypers,
        states,
        body,
    })
}

/// The name in a `jax!(name)` expression; `None` for any other expression.
pub fn jax_arg(e: &Expr) -> Option<Ident> {
    match e {
        Expr::Macro(m) if m.mac.path.is_ident("jax") => m.mac.parse_body().ok(),
        _ => None,
    }
}

/// `jax!(name)`, a numeric argument with its jax dtype (`optim::dsl::Jax`), is per-step
/// code: it names a numeric argument and appears in the per-step statements, outside the
/// `tree_sum` closure, of a declaration with an update of its own (not a fused
/// composition).
fn check_jax(hypers: &[Hyper], body: &Body, composite: bool, errs: &mut Errors) {
    #[derive(Default)]
    struct Calls(Vec<syn::Macro>);
    impl<'a> syn::visit::Visit<'a> for Calls {
        fn visit_macro(&mut self, m: &'a syn::Macro) {
            if m.path.is_ident("jax") {
                self.0.push(m.clone());
            }
        }
    }
    let reduce_at = body.tree_reduce.as_ref().map(|(at, _)| *at);
    let mut step = Calls::default();
    for (_, st) in body
        .step_stmts
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != reduce_at)
    {
        syn::visit::Visit::visit_stmt(&mut step, st);
    }
    let numeric = |id: &Ident| {
        hypers.iter().any(|h| {
            h.name == *id
                && match h.kind {
                    Some(Kind::Rate) => true,
                    Some(Kind::Plain) => h.ty.as_ref().is_some_and(|t| ty_string(t) == "f64"),
                    _ => false,
                }
        })
    };
    for m in &step.0 {
        if composite {
            errs.at(
                m,
                "`jax!` belongs in a stage's per-step code: a fused composition's `let`s bind its stages' arguments, which keep their dtype",
            );
            continue;
        }
        match m.parse_body::<Ident>() {
            Ok(id) if numeric(&id) => {}
            _ => errs.at(
                m,
                "`jax!` takes the name of a numeric argument (an `f64` or a `LearningRate`): `jax!(b1)`",
            ),
        }
    }
    let mut elsewhere = Calls::default();
    for e in body.elem.iter().map(|e| &e.body).chain(
        body.tree_reduce
            .iter()
            .map(|(_, r)| &r.body)
            .chain(body.leaf_reduce.iter().map(|r| &r.body)),
    ) {
        syn::visit::Visit::visit_expr(&mut elsewhere, e);
    }
    for (_, c) in &body.helpers {
        syn::visit::Visit::visit_expr_closure(&mut elsewhere, c);
    }
    for st in &body.leaf_stmts {
        syn::visit::Visit::visit_stmt(&mut elsewhere, st);
    }
    for m in &elsewhere.0 {
        errs.at(
            m,
            "`jax!` is per-step code: use it in the `let`s before `each`, outside `tree_sum`",
        );
    }
}

fn fallback(func: &syn::ItemFn, struct_name: &Ident) -> TokenStream {
    let vis = &func.vis;
    let mut seen = BTreeSet::new();
    let fields = func.sig.inputs.iter().filter_map(|a| match a {
        FnArg::Typed(pt) => match &*pt.pat {
            Pat::Ident(pi)
                if last_ident(&pt.ty).as_deref() != Some("State")
                    && !matches!(&*pt.ty, Type::Infer(_))
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
}

impl Decl {
    /// The per-element state buffers (not the per-leaf or per-tree scalars).
    pub fn elem_states(&self) -> impl Iterator<Item = &StateBuf> {
        self.states.iter().filter(|s| !s.per_leaf && !s.per_tree)
    }
    /// The scalars kept for the whole tree.
    pub fn tree_states(&self) -> impl Iterator<Item = &StateBuf> {
        self.states.iter().filter(|s| s.per_tree)
    }
    /// The per-leaf scalar states.
    pub fn leaf_states(&self) -> impl Iterator<Item = &StateBuf> {
        self.states.iter().filter(|s| s.per_leaf)
    }
    /// The mask arguments, in order.
    pub fn masks(&self) -> impl Iterator<Item = &Hyper> {
        self.hypers.iter().filter(|h| h.kind == Some(Kind::Mask))
    }
    /// Whether the declaration has a per-leaf section (a `leaf_sum`, per-leaf statements
    /// or per-leaf state).
    pub fn has_leaf_section(&self) -> bool {
        self.body.leaf_reduce.is_some()
            || !self.body.leaf_stmts.is_empty()
            || self.states.iter().any(|s| s.per_leaf)
    }
    /// Whether the declaration has a reduction (`leaf_sum` or `tree_sum`).
    pub fn has_reduction(&self) -> bool {
        self.body.leaf_reduce.is_some() || self.body.tree_reduce.is_some()
    }
}
