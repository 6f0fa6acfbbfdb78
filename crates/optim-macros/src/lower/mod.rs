//! Stage 2 of `#[optimizer]`: a declaration (or a fused composition and its stages'
//! declarations) into a [`Kernel`], the one shape code generation works from.
//!
//! A kernel is a list of stages over one set of arguments, one state and one element
//! pass. An elementary declaration is a kernel of one stage whose arguments are its own
//! (`single`); a fused composition maps each stage's arguments to the composite's
//! arguments, to expressions or to the stage's defaults, and concatenates the stages'
//! state (`fuse`).

mod fuse;
mod single;

pub use fuse::fuse;
pub use single::single;

use crate::ast::{Decl, Hyper, Kind};
use quote::ToTokens;
use syn::{Attribute, Expr, Ident, Stmt, Type};

pub struct Kernel<'a> {
    /// The declaration that names the optimizer (its struct, docs and trace).
    pub head: &'a Decl,
    /// The configuration's arguments, in order.
    pub args: Vec<Arg>,
    /// The composition's own per-step `let`s, before the stages.
    pub pre: Vec<Stmt>,
    pub stages: Vec<Stage<'a>>,
    /// Per-element state buffers, in stage order.
    pub bufs: Vec<BufDef>,
    /// The mask arguments (resolved to one flag per leaf at `init`).
    pub masks: Vec<Ident>,
    /// Per-leaf scalar states.
    pub leaf_states: Vec<LeafDef>,
    /// Scalars kept for the whole tree.
    pub tree_states: Vec<LeafDef>,
    /// The stage with a reduction (`leaf_sum` or `tree_sum`), if any.
    pub reducer: Option<usize>,
    pub uses_value: bool,
    pub uses_p: bool,
    pub composite: bool,
}

pub struct Arg {
    pub name: Ident,
    pub ty: Type,
    pub kind: Kind,
    pub default: Option<Expr>,
    pub docs: Vec<Attribute>,
    pub one_of: Vec<String>,
    /// The composition's own `#[check]`s on this argument (a stage's are checked in the
    /// stage).
    pub checks: Vec<Expr>,
    /// Every check on the values this argument feeds, for the docs.
    pub doc_checks: Vec<String>,
    /// A rate evaluated at the 1-based step (`#[at(t)]`).
    pub at_t: bool,
}

/// Where a stage argument's value comes from.
#[derive(Clone)]
pub enum Source {
    /// The composition's argument of this name.
    Arg(Ident),
    /// A per-step expression over the composition's scalars.
    Expr(Expr),
    /// The stage's own default (the argument is not exposed).
    Default,
}

pub struct Stage<'a> {
    pub decl: &'a Decl,
    /// The primitive's path as written in `fuse(...)` (for the docs).
    pub path: syn::Path,
    /// The explicit bindings, as written (for the docs).
    pub bindings: Vec<(Ident, Expr)>,
    /// Where each of `decl.hypers` comes from.
    pub sources: Vec<Source>,
    /// `when(...)`: runs only when this holds.
    pub cond: Option<Expr>,
    /// `masked(...)`: runs only on the leaves this kernel mask selects.
    pub gate: Option<usize>,
    /// The kernel buffer of each of the stage's element states.
    pub bufs: Vec<usize>,
    /// The kernel mask of each of the stage's masks (`None`: every leaf).
    pub masks: Vec<Option<usize>>,
    /// The kernel per-leaf state of each of the stage's per-leaf states.
    pub leaf_states: Vec<usize>,
    /// The kernel per-tree state of each of the stage's per-tree states.
    pub tree_states: Vec<usize>,
    /// Where the stage's per-leaf values start in the kernel's.
    pub lv_offset: usize,
}

pub struct BufDef {
    pub name: Ident,
    /// The stage whose declaration initializes it, and its index among that stage's
    /// element states.
    pub stage: usize,
    pub local: usize,
    /// Whether it may be disabled (`Buf::Absent`): its own `enabled`, or a conditional
    /// stage's.
    pub absent: bool,
    /// Whether its storage dtype is selectable.
    pub dtype: bool,
    /// Shared by the two alternatives of a `when(c, a, b)`.
    pub shared: bool,
    /// Starts as a copy of the params (`#[state(init = params)]`).
    pub from_params: bool,
}

pub struct LeafDef {
    pub name: Ident,
    pub stage: usize,
    pub local: usize,
}

impl Kernel<'_> {
    /// The kernel's per-leaf values: every stage's, in order.
    pub fn n_leaf_vals(&self) -> usize {
        self.stages
            .iter()
            .map(|s| s.decl.body.leaf_names.len())
            .sum()
    }
    /// The number of sums the reducing stage's `leaf_sum` returns.
    pub fn n_red(&self) -> usize {
        self.reducer
            .and_then(|j| self.stages[j].decl.body.leaf_reduce.as_ref())
            .map_or(0, |r| r.names.len())
    }
}

impl Stage<'_> {
    /// The name an error about the stage's argument `i` gives: the composition's argument
    /// it comes from, else `stage.argument`.
    pub fn reported(&self, i: usize) -> String {
        match &self.sources[i] {
            Source::Arg(c) => c.to_string(),
            // Set from the composition's arguments: the expression says which.
            Source::Expr(e) => format!(
                "{}.{} = {}",
                self.label(),
                self.decl.hypers[i].name,
                check_text(e)
            ),
            _ => format!("{}.{}", self.label(), self.decl.hypers[i].name),
        }
    }
    pub fn label(&self) -> String {
        self.decl.fn_name.to_string()
    }
    pub fn hyper_index(&self, name: &str) -> Option<usize> {
        self.decl.hypers.iter().position(|h| h.name == name)
    }
}

/// The type of a declared argument as generated code in another module must write it:
/// the runtime's types by their full path.
pub fn normalize_ty(ty: &Type) -> Type {
    let krate = crate::krate();
    let s = crate::ast::ty_string(ty);
    let known = ["LearningRate", "ScalarOrSchedule", "Mask", "Dtype"];
    for k in known {
        if s == k {
            let id = Ident::new(k, proc_macro2::Span::call_site());
            return syn::parse_quote!(#krate::#id);
        }
        if s == format!("Option<{k}>") {
            let id = Ident::new(k, proc_macro2::Span::call_site());
            return syn::parse_quote!(::core::option::Option<#krate::#id>);
        }
    }
    ty.clone()
}

/// The text of a `#[check]`, for docs and error messages.
pub fn check_text(e: &Expr) -> String {
    // As rustfmt would write it (`(0.0..1.0).contains(&b1)`), not as tokens print.
    crate::expand::doc::pretty_expr(e)
}

/// Builds an [`Arg`] from a declared hyperparameter with a known type (as written: the
/// declaration's own imports name it).
pub fn arg_of(h: &Hyper) -> Arg {
    Arg {
        name: h.name.clone(),
        ty: h.ty.clone().expect("typed"),
        kind: h.kind.expect("typed"),
        default: h.default.clone(),
        docs: h.docs.clone(),
        one_of: h.one_of.clone(),
        checks: Vec::new(),
        doc_checks: h.checks.iter().map(check_text).collect(),
        at_t: h.at_t,
    }
}

/// Tokens as text without spaces, to compare declarations.
pub fn text(t: &impl ToTokens) -> String {
    t.to_token_stream().to_string().replace(' ', "")
}
