//! The function's body: per-step `let`s (with at most one `tree_sum`) and element helpers,
//! then optionally a per-leaf section (a `leaf_sum`, per-leaf `let`s and per-leaf state
//! assignments), then `each(|g, p, pos| ...)`. A fused composition's body holds per-step
//! `let`s only.

use super::{mentions, Names, StateBuf};
use crate::errors::Errors;
use proc_macro2::TokenStream;
use quote::ToTokens;
use std::collections::BTreeSet;
use syn::visit::Visit;
use syn::{Expr, Ident, Pat, Stmt};

#[derive(Clone, Default)]
pub struct Body {
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
    /// `each(...)`; `None` in a fused composition.
    pub elem: Option<Elem>,
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

#[derive(Clone)]
pub struct Elem {
    pub g: Pat,
    pub p: Pat,
    pub pos: Pat,
    pub uses_p: bool,
    pub body: Expr,
}

impl Body {
    /// All the code of the declaration, for name searches.
    pub fn tokens(&self) -> TokenStream {
        let mut all = TokenStream::new();
        for s in &self.step_stmts {
            s.to_tokens(&mut all);
        }
        for s in &self.leaf_stmts {
            s.to_tokens(&mut all);
        }
        for (_, h) in &self.helpers {
            h.to_tokens(&mut all);
        }
        if let Some(r) = &self.leaf_reduce {
            r.body.to_tokens(&mut all);
        }
        if let Some(el) = &self.elem {
            el.body.to_tokens(&mut all);
        }
        all
    }

    /// Whether any code reads the params.
    pub fn uses_p(&self) -> bool {
        self.elem.as_ref().is_some_and(|e| e.uses_p)
            || self.leaf_reduce.as_ref().is_some_and(|r| r.uses_p)
            || self.tree_reduce.as_ref().is_some_and(|(_, r)| r.uses_p)
    }
}

pub fn parse(
    func: &syn::ItemFn,
    states: &[StateBuf],
    composite: bool,
    names: &mut Names,
    errs: &mut Errors,
) -> Body {
    let mut b = Body::default();
    let mut leaf_lets: Vec<Ident> = Vec::new();
    let mut in_leaf = false;
    let leaf_states: Vec<String> = states
        .iter()
        .filter(|s| s.per_leaf)
        .map(|s| s.name.to_string())
        .collect();
    let tree_states: Vec<String> = states
        .iter()
        .filter(|s| s.per_tree)
        .map(|s| s.name.to_string())
        .collect();
    let n = func.block.stmts.len();
    if composite {
        for stmt in &func.block.stmts {
            match stmt {
                Stmt::Local(l)
                    if !matches!(l.init.as_ref().map(|i| &*i.expr), Some(Expr::Closure(_)))
                        && l.init.as_ref().and_then(|i| reduction_call(&i.expr)).is_none() =>
                {
                    let mut ids = Vec::new();
                    collect_pat_idents(&l.pat, &mut ids);
                    if ids.is_empty() {
                        errs.at(&l.pat, "expected a named scalar");
                    }
                    for id in &ids {
                        names.claim(errs, id);
                    }
                    b.step_names.extend(ids);
                    b.step_stmts.push(stmt.clone());
                }
                _ => errs.at(
                    stmt,
                    "a fused composition's body holds only per-step `let`s; its update comes from its stages",
                ),
            }
        }
        b.uses_value = mentions(b.tokens(), "value");
        return b;
    }
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
                    names.claim(errs, &pi.ident);
                    b.helpers.push((pi.ident.clone(), c.clone()));
                    continue;
                }
                let mut ids = Vec::new();
                collect_pat_idents(&l.pat, &mut ids);
                if ids.is_empty() {
                    errs.at(&l.pat, "expected a named scalar");
                }
                for id in &ids {
                    names.claim(errs, id);
                }
                match call {
                    Some(("tree_sum", arg)) => {
                        if in_leaf {
                            errs.at(stmt, "`tree_sum` is a per-step pass: put it before the per-leaf section");
                        } else if b.tree_reduce.is_some() {
                            errs.at(stmt, "one `tree_sum` per optimizer: sum several values at once with a tuple, `let (a, b) = tree_sum(|g| (x, y));`");
                        } else if let Some(r) = parse_reduce(&l.pat, ids.clone(), arg, errs) {
                            b.tree_reduce = Some((b.step_stmts.len(), r));
                        }
                        b.step_names.extend(ids);
                        b.step_stmts.push(stmt.clone());
                    }
                    Some(("leaf_sum", arg)) => {
                        if in_leaf {
                            errs.at(stmt, "one `leaf_sum` per optimizer, at the start of the per-leaf section: sum several values at once with a tuple, `let (a, b) = leaf_sum(|g, p| (x, y));`");
                        } else if let Some(r) = parse_reduce(&l.pat, ids, arg, errs) {
                            b.leaf_reduce = Some(r);
                        }
                        in_leaf = true;
                    }
                    _ if in_leaf => {
                        leaf_lets.extend(ids);
                        b.leaf_stmts.push(stmt.clone());
                    }
                    _ => {
                        b.step_names.extend(ids);
                        b.step_stmts.push(stmt.clone());
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
                        b.leaf_stmts.push(stmt.clone());
                    }
                    Some(t) if tree_states.contains(&t) => {
                        if in_leaf {
                            errs.at(
                                stmt,
                                format!("per-tree state `{t}` is assigned in the per-step code, before the per-leaf section"),
                            );
                        }
                        b.step_stmts.push(stmt.clone());
                    }
                    _ => errs.at(
                        &a.left,
                        "only per-leaf state (`#[state(leaf)] x: State`) and per-tree state (`#[state(tree)]`) are assigned outside `each(...)`",
                    ),
                }
            }
            Stmt::Expr(e, _) if last => b.elem = parse_each(e, errs),
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
    b.leaf_names = b
        .leaf_reduce
        .as_ref()
        .map(|r| r.names.clone())
        .unwrap_or_default();
    b.leaf_names.extend(leaf_lets);
    b.leaf_names
        .extend(states.iter().filter(|s| s.per_leaf).map(|s| s.name.clone()));
    b.uses_value = mentions(b.tokens(), "value");

    if let Some(el) = &b.elem {
        check_assignments(&el.body, states, false, errs);
    }
    for r in b
        .tree_reduce
        .iter()
        .map(|(_, r)| r)
        .chain(b.leaf_reduce.iter())
    {
        check_assignments(&r.body, states, true, errs);
    }
    for (_, h) in &b.helpers {
        check_assignments(&h.body, states, true, errs);
    }
    if let Some((_, r)) = &b.tree_reduce {
        // A whole-tree pass reads the per-element state (as it is before this step's
        // update), not the per-leaf scalars, which the per-leaf section computes later.
        let toks = r.body.to_token_stream();
        for s in states.iter().filter(|s| s.per_leaf) {
            if mentions(toks.clone(), &s.name.to_string()) {
                errs.at(&r.body, format!("`tree_sum` runs before the per-leaf section: it cannot use the per-leaf state `{}`", s.name));
            }
        }
    }
    if errs.is_empty() && b.elem.is_none() && n > 0 {
        errs.at(
            &func.block,
            "missing `each(|g| ...)`: the per-element update",
        );
    }
    b
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
                    let is_state = self
                        .states
                        .iter()
                        .any(|st| st.name == s && !st.per_leaf && !st.per_tree);
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
        } else if states.iter().any(|st| st.name == s && st.per_tree) {
            format!("per-tree state `{s}` is assigned once per step, before `each(...)`")
        } else {
            format!("assignment to undeclared state `{s}`; declare it as `#[state] {s}: State`")
        };
        errs.at(e, msg);
    }
}
