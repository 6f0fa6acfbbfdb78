//! One stage of a kernel: its block of per-step code (bindings of its arguments, its
//! checks, its per-step statements, its `tree_sum` through the stages before it) and the
//! closures it yields, and [`apply`], the code that runs a range of stages on `__g`.
//!
//! A stage argument fixed to a literal is re-bound as a constant inside the closures
//! ([`constants`]), so its branches vanish from the element loops.

use super::{Cx, Literals};
use crate::ast::{mentions, Kind};
use crate::lower::{Source, Stage};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};
use syn::visit_mut::VisitMut;

/// What the code that applies stages may read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// The element update: masks, per-leaf values and state.
    Main,
    /// The reduction pass: masks and state (the stages before the reduction have no
    /// per-leaf values).
    Red,
    /// A whole-tree pass: masks, but no state or per-leaf values (only stateless stages
    /// precede a `tree_sum`).
    Tree,
}

pub(super) fn k_name(i: usize) -> syn::Ident {
    format_ident!("__k_{}", i)
}
pub(super) fn red_name(i: usize) -> syn::Ident {
    format_ident!("__red_{}", i)
}
pub(super) fn prep_name(i: usize) -> syn::Ident {
    format_ident!("__prep_{}", i)
}
pub(super) fn cond_name(i: usize) -> syn::Ident {
    format_ident!("__c_{}", i)
}
pub(super) fn bound_name(i: usize, h: &syn::Ident) -> syn::Ident {
    format_ident!("__b_{}_{}", i, h)
}

/// Applies stages `range` to `__g` in place (statements), reading and updating the
/// kernel's buffer variables.
pub(super) fn apply(cx: &Cx, range: std::ops::Range<usize>, mode: Mode) -> TokenStream {
    let k = cx.k;
    let mut out = TokenStream::new();
    for i in range {
        let s = &k.stages[i];
        let kn = k_name(i);
        let masks = s.masks.iter().map(|m| match m {
            Some(idx) => quote!(__masks[#idx]),
            None => quote!(true),
        });
        let lvs = (0..s.decl.body.leaf_names.len()).map(|j| {
            let at = s.lv_offset + j;
            if mode == Mode::Main {
                quote!(__lv[#at])
            } else {
                quote!(F::zero())
            }
        });
        let vars: Vec<_> = if mode == Mode::Tree {
            Vec::new()
        } else {
            s.bufs.iter().map(|&b| k.bufs[b].name.clone()).collect()
        };
        let news: Vec<_> = (0..vars.len()).map(|j| format_ident!("__s{}", j)).collect();
        let mut guard = Vec::new();
        if s.cond.is_some() {
            let c = cond_name(i);
            guard.push(quote!(#c));
        }
        if let Some(g) = s.gate {
            guard.push(quote!(__masks[#g]));
        }
        let run = quote! {
            let (__d, #(#news,)*) = #kn(__g, __p, __pos, __shape, [#(#masks),*], [#(#lvs),*], #(#vars),*);
            #(#vars = #news;)*
            __d
        };
        if guard.is_empty() {
            out.extend(quote!(let __g: F = { #run };));
        } else {
            out.extend(quote!(let __g: F = if #(#guard)&&* { #run } else { __g };));
        }
    }
    out
}

/// A stage argument's per-step value inside its block, when it is not the composite's
/// argument of the same name.
pub(super) fn stage_binding(cx: &Cx, i: usize, s: &Stage, hi: usize) -> Option<TokenStream> {
    let h = &s.decl.hypers[hi];
    let n = &h.name;
    let kind = h.kind.expect("typed");
    if !kind.is_scalar() {
        return None;
    }
    let ty = crate::lower::normalize_ty(h.ty.as_ref().expect("typed"));
    let krate = &cx.krate;
    if h.at_t && cx.k.composite {
        // The stage reads the rate at the step, not at the count the composition's
        // argument was evaluated at.
        let arg = match &s.sources[hi] {
            Source::Arg(c) => cx.k.args.iter().find(|a| a.name == *c),
            _ => None,
        };
        match (arg.map(|a| (&a.name, a.kind)), &s.sources[hi]) {
            (Some((c, Kind::Rate)), _) => {
                return Some(quote!(let #n: f64 = this.#c.optax_value_in(__count, __mode);))
            }
            (Some((c, Kind::OptRate)), _) => {
                return Some(
                    quote!(let #n: Option<f64> = this.#c.as_ref().map(|r| r.optax_value_in(__count, __mode));),
                )
            }
            (None, Source::Default) if kind == Kind::Rate => {
                let d = &h.default;
                return Some(
                    quote!(let #n: f64 = { let __r: #ty = ::core::convert::Into::into(#d); __r.optax_value_in(__count, __mode) };),
                );
            }
            _ => {}
        }
    }
    Some(match (&s.sources[hi], kind) {
        (Source::Arg(c), _) if c == n => return None,
        (Source::Arg(c), _) => quote!(let #n = #c;),
        (Source::Expr(_), _) => {
            let b = bound_name(i, n);
            quote!(let #n = #b;)
        }
        (Source::Default, Kind::Plain) => match &h.default {
            Some(d) => quote!(let #n: #ty = ::core::convert::Into::into(#d);),
            None => quote!(let #n: #ty = ::core::option::Option::None;),
        },
        (Source::Default, Kind::Rate) => {
            let d = &h.default;
            quote!(let #n: f64 = { let __r: #ty = ::core::convert::Into::into(#d); __r.optax_value_in(__count - 1, __mode) };)
        }
        (Source::Default, Kind::OptRate) => match &h.default {
            Some(d) => {
                quote!(let #n: Option<f64> = ::core::option::Option::Some(::core::convert::Into::<#krate::LearningRate>::into(#d).optax_value_in(__count - 1, __mode));)
            }
            None => quote!(let #n: Option<f64> = ::core::option::Option::None;),
        },
        (Source::Default, _) => {
            let d = &h.default;
            quote!(let #n: &str = #d;)
        }
    })
}

/// A literal (`false`, `0.0`, `-1.0`, `3`).
fn literal(e: &syn::Expr) -> bool {
    match e {
        syn::Expr::Lit(_) => true,
        syn::Expr::Unary(u) => matches!(u.op, syn::UnOp::Neg(_)) && literal(&u.expr),
        syn::Expr::Paren(p) => literal(&p.expr),
        _ => false,
    }
}

/// The stage's arguments fixed to a literal (a literal binding, or a literal default the
/// composition does not expose), re-bound as constants inside the stage's element,
/// reduction and helper closures: a captured `nesterov = false` is a run-time value in
/// the loop, a constant one removes its branch (which otherwise keeps a reduction pass
/// from vectorizing). `(element-type binding, f64 binding)` per argument.
fn constants(s: &Stage) -> Vec<(TokenStream, TokenStream, syn::Ident)> {
    let mut out = Vec::new();
    for (h, src) in s.decl.hypers.iter().zip(&s.sources) {
        let lit = match src {
            Source::Default => h.default.as_ref(),
            Source::Expr(e) => Some(e),
            Source::Arg(_) => None,
        };
        let Some(lit) = lit.filter(|e| literal(e)) else {
            continue;
        };
        let n = &h.name;
        let ty = h.ty.as_ref().map(crate::ast::ty_string).unwrap_or_default();
        match (h.kind, ty.as_str()) {
            (Some(Kind::Plain), "bool") => out.push((
                quote!(let #n: bool = #lit;),
                quote!(let #n: bool = #lit;),
                n.clone(),
            )),
            (Some(Kind::Plain), "f64" | "f32") | (Some(Kind::Rate), _) => out.push((
                quote!(let #n = F::of((#lit) as f64);),
                quote!(let #n: f64 = (#lit) as f64;),
                n.clone(),
            )),
            _ => {}
        }
    }
    out
}

/// The type a bound expression of a stage argument has per step.
pub(super) fn per_step_ty(h: &crate::ast::Hyper) -> TokenStream {
    match h.kind.expect("typed") {
        Kind::Plain => {
            let ty = crate::lower::normalize_ty(h.ty.as_ref().expect("typed"));
            quote!(#ty)
        }
        Kind::Rate => quote!(f64),
        Kind::OptRate => quote!(::core::option::Option<f64>),
        _ => quote!(&str),
    }
}

/// The per-step scalars a stage's element code sees converted to `F`: its numeric
/// arguments, `t`, `value` when read, and its per-step `let`s.
fn given_scalars(s: &Stage) -> Vec<syn::Ident> {
    s.decl
        .hypers
        .iter()
        .filter(|h| matches!(h.kind, Some(Kind::Plain | Kind::Rate | Kind::OptRate)))
        .map(|h| h.name.clone())
        .chain(std::iter::once(format_ident!("t")))
        .chain(s.decl.body.uses_value.then(|| format_ident!("value")))
        .collect()
}

/// The reduction closure's body as an array of `F` (one entry per summed value).
fn reduce_array(r: &crate::ast::Reduce, krate: &TokenStream) -> TokenStream {
    let mut body = r.body.clone();
    Literals(krate.clone()).visit_expr_mut(&mut body);
    if r.names.len() == 1 {
        quote!([#body])
    } else {
        let xs: Vec<_> = (0..r.names.len())
            .map(|i| format_ident!("__x{}", i))
            .collect();
        quote!({ let (#(#xs),*) = #body; [#(#xs),*] })
    }
}

/// `n` and `shape` for element code that reads them.
fn leaf_info(code: &TokenStream, n_expr: TokenStream) -> TokenStream {
    let mut out = TokenStream::new();
    if mentions(code.clone(), "n") {
        out.extend(quote!(let n = #n_expr;));
    }
    if mentions(code.clone(), "shape") {
        out.extend(quote!(let shape: &[usize] = __shape;));
    }
    out
}

/// The stage's per-step statements, with `tree_sum` turned into a pass over the tree
/// (through the stages before it).
fn step_statements(cx: &Cx, i: usize, s: &Stage) -> Vec<TokenStream> {
    let krate = &cx.krate;
    let mut names = given_scalars(s);
    names.extend(s.decl.tree_states().map(|t| t.name.clone()));
    let mut out = Vec::new();
    for (si, stmt) in s.decl.body.step_stmts.iter().enumerate() {
        match &s.decl.body.tree_reduce {
            Some((at, r)) if *at == si => {
                let pat = &r.pat;
                let (rg, rp, rpos) = (&r.g, &r.p, &r.pos);
                let arr = reduce_array(r, krate);
                let n = r.names.len();
                let value = if n == 1 {
                    quote!(__r[0])
                } else {
                    let idx = (0..n).map(syn::Index::from);
                    quote!((#(__r[#idx]),*))
                };
                let before = apply(cx, 0..i, Mode::Tree);
                let info = leaf_info(&r.body.to_token_stream(), quote!(F::of(__pos.len as f64)));
                let bufs: Vec<_> = s.decl.elem_states().map(|b| b.name.clone()).collect();
                let kidx: Vec<_> = s.bufs.to_vec();
                let tree_dispatch = format_ident!("__{}_tree_dispatch_{}", cx.k.head.fn_name, i);
                let m = cx.k.masks.len();
                out.push(quote! {
                    let #pat = {
                        #(let #names = #krate::__private::elem::<F, _>(#names);)*
                        let __tr = move |__g: F, __p: F, __pos: #krate::__private::Pos, __shape: &[usize], __masks: [bool; #m], #(#bufs: F),*| -> [F; #n] {
                            #[allow(unused_imports)]
                            use #krate::__private::num_traits::Float as _;
                            #before
                            let #rg = __g;
                            let #rp = __p;
                            let #rpos = __pos;
                            #info
                            #arr
                        };
                        let __r: [f64; #n] = __tree.tree_sum::<#n>(|__leaf, __s, __e| {
                            let __shape: &[usize] = &__metas[__leaf].shape;
                            let __len = __metas[__leaf].len();
                            // The step checked every flag list against the leaves.
                            let __masks: [bool; #m] = ::core::array::from_fn(|__j| __flags[__j][__leaf]);
                            // SAFETY: the per-step code only reads; nothing is written yet.
                            let (__gs, __ps) = unsafe { __tree.read(__leaf, __s, __e, __step) };
                            // SAFETY: as above, for this stage's state buffers.
                            let __bs = unsafe { [#(__tree.buf(__leaf, #kidx).slice(__s, __e - __s)),*] };
                            #tree_dispatch::<F, _, #n>(&__tr, __gs, __ps, __leaf, __s, __len, __shape, __masks, __bs)
                        });
                        #value
                    };
                });
                names.extend(r.names.iter().cloned());
            }
            _ => {
                let mut stmt = stmt.clone();
                JaxArgs { cx, s }.visit_stmt_mut(&mut stmt);
                out.push(quote!(#stmt));
                if let syn::Stmt::Local(l) = &stmt {
                    let mut ids = Vec::new();
                    crate::ast::body::collect_pat_idents(&l.pat, &mut ids);
                    names.extend(ids);
                }
            }
        }
    }
    out
}

/// `jax!(name)` in a stage's per-step code: the stage argument `name` as a `dsl::Jax`,
/// float32 when the configuration marks the composition's argument it comes from (see
/// `Hyperparams::set_jax`); an argument the composition binds to an expression or leaves
/// at its default is float64.
struct JaxArgs<'c, 'k, 'a> {
    cx: &'c Cx<'k, 'a>,
    s: &'c Stage<'a>,
}

impl VisitMut for JaxArgs<'_, '_, '_> {
    fn visit_expr_mut(&mut self, e: &mut syn::Expr) {
        // The declaration's checks let only a numeric argument's name through.
        if let Some(id) = crate::ast::jax_arg(e) {
            let hi = self.s.decl.hypers.iter().position(|h| h.name == id);
            let arg = match hi.map(|hi| &self.s.sources[hi]) {
                Some(Source::Arg(c)) => self.cx.k.args.iter().position(|a| a.name == *c),
                _ => None,
            };
            let single = match arg {
                Some(ai) => quote!(this.__single.get(#ai)),
                None => quote!(false),
            };
            let krate = &self.cx.krate;
            *e = syn::parse_quote!(#krate::dsl::Jax { value: #id, single: #single });
            return;
        }
        syn::visit_mut::visit_expr_mut(self, e);
    }
}

/// One stage's block: its bindings, checks and per-step statements, and its closures.
pub(super) fn stage_block(cx: &Cx, i: usize) -> TokenStream {
    let (k, krate) = (cx.k, &cx.krate);
    let s = &k.stages[i];
    let d = s.decl;
    let b = &d.body;
    let consts = constants(s);
    let celem: Vec<_> = consts.iter().map(|c| c.0.clone()).collect();
    let cf64: Vec<_> = consts.iter().map(|c| c.1.clone()).collect();
    let consts = &consts;
    let bindings = (0..d.hypers.len()).filter_map(|hi| stage_binding(cx, i, s, hi));
    let checks = super::state::stage_checks(cx, s);
    let steps = step_statements(cx, i, s);
    let scale = if d.unscaled {
        quote!()
    } else {
        let lr = d
            .hypers
            .iter()
            .find(|h| h.name == "learning_rate")
            .expect("checked in the model");
        if lr.kind == Some(Kind::OptRate) {
            quote!(let __scale: F = F::of(-learning_rate.unwrap_or(1.0));)
        } else {
            quote!(let __scale: F = F::of(-learning_rate);)
        }
    };
    let masks: Vec<_> = d.masks().map(|h| &h.name).collect();
    let m = masks.len();
    let leaf_state_names: Vec<_> = d.leaf_states().map(|s| &s.name).collect();
    let ls = leaf_state_names.len();
    let leaf_names = &b.leaf_names;
    let l = leaf_names.len();
    let r = b.leaf_reduce.as_ref().map_or(0, |r| r.names.len());
    let bufs: Vec<_> = d.elem_states().map(|s| &s.name).collect();
    let tys: Vec<_> = bufs.iter().map(|_| quote!(F)).collect();

    // The per-leaf section: reduction results, masks and per-leaf state in; the
    // per-leaf values for the element code and the new per-leaf state out.
    let prep = {
        let bind_red = match &b.leaf_reduce {
            Some(r) => {
                let pat = &r.pat;
                let idx = (0..r.names.len()).map(syn::Index::from);
                if r.names.len() == 1 {
                    quote!(let #pat = __r[0];)
                } else {
                    quote!(let #pat = (#(__r[#idx]),*);)
                }
            }
            None => quote!(),
        };
        let idx = (0..ls).map(syn::Index::from);
        let leaf_stmts = &b.leaf_stmts;
        let mut code = TokenStream::new();
        for st in leaf_stmts {
            st.to_tokens(&mut code);
        }
        let mut info = TokenStream::new();
        if mentions(code.clone(), "n") {
            info.extend(quote!(let n: f64 = __n as f64;));
        }
        if mentions(code, "shape") {
            info.extend(quote!(let shape: &[usize] = __shape;));
        }
        quote! {
            let __prep = move |__r: [f64; #r], __masks: [bool; #m], __ls: [F; #ls], __n: usize, __shape: &[usize]| -> ([F; #l], [F; #ls]) {
                #bind_red
                #(#cf64)*
                let [#(#masks),*] = __masks;
                #info
                #(let mut #leaf_state_names: f64 = #krate::Float::f64(__ls[#idx]);)*
                #(#leaf_stmts)*
                ([#(F::of(#leaf_names)),*], [#(F::of(#leaf_state_names)),*])
            };
        }
    };
    let mut to_elem = given_scalars(s);
    to_elem.extend(b.step_names.iter().cloned());
    to_elem.extend(d.tree_states().map(|t| t.name.clone()));
    let helpers = b.helpers.iter().map(|(name, c)| {
        let mut c = c.clone();
        for inp in c.inputs.iter_mut() {
            if let syn::Pat::Ident(_) | syn::Pat::Wild(_) = inp {
                *inp = syn::Pat::Type(syn::PatType {
                    attrs: vec![],
                    pat: Box::new(inp.clone()),
                    colon_token: Default::default(),
                    ty: Box::new(syn::parse_quote!(F)),
                });
            }
        }
        c.capture = Some(Default::default());
        // A parameter of the helper keeps its name: only the other constants are bound.
        let mut params = Vec::new();
        for inp in &c.inputs {
            crate::ast::body::collect_pat_idents(inp, &mut params);
        }
        let shadowing: Vec<_> = consts
            .iter()
            .filter(|(_, _, n)| !params.iter().any(|p| p == n))
            .map(|(e, _, _)| e)
            .collect();
        let body = &c.body;
        c.body = Box::new(syn::parse_quote!({ #(#shadowing)* #body }));
        let mut e = syn::Expr::Closure(c);
        Literals(krate.clone()).visit_expr_mut(&mut e);
        quote!(let #name = #e;)
    });
    let red = match &b.leaf_reduce {
        Some(rd) => {
            let (rg, rp, rpos) = (&rd.g, &rd.p, &rd.pos);
            let arr = reduce_array(rd, krate);
            let info = leaf_info(&rd.body.to_token_stream(), quote!(F::of(__pos.len as f64)));
            quote! {
                let __red = move |#rg: F, #rp: F, __pos: #krate::__private::Pos, __shape: &[usize], __masks: [bool; #m], #(#bufs: F),*| -> [F; #r] {
                    #[allow(unused_imports)]
                    use #krate::__private::num_traits::Float as _;
                    let #rpos = __pos;
                    #(#celem)*
                    #info
                    let [#(#masks),*] = __masks;
                    #arr
                };
            }
        }
        None => {
            quote!(let __red = move |_: F, _: F, _: #krate::__private::Pos, _: &[usize], _: [bool; #m], #(_: #tys),*| -> [F; 0] { [] };)
        }
    };
    let el = b
        .elem
        .as_ref()
        .expect("an elementary declaration has `each`");
    let (g, p, pos) = (&el.g, &el.p, &el.pos);
    let mut body = el.body.clone();
    Literals(krate.clone()).visit_expr_mut(&mut body);
    let info = leaf_info(&el.body.to_token_stream(), quote!(F::of(__pos.len as f64)));
    let finish = if d.unscaled {
        quote!(__d)
    } else {
        quote!(__scale * __d)
    };
    let (kn, rn, pn) = (k_name(i), red_name(i), prep_name(i));
    let tsv = format_ident!("__tsv_{}", i);
    let ts_names: Vec<_> = d.tree_states().map(|t| &t.name).collect();
    let ts_idx: Vec<_> = s.tree_states.to_vec();
    let nts = ts_names.len();
    quote! {
        let (#rn, #pn, #kn, #tsv) = {
            #(#bindings)*
            #(#checks)*
            #(let mut #ts_names: f64 = #krate::Float::f64(__ts[#ts_idx]);)*
            #(#steps)*
            // The per-tree state after this step's statements (the next state).
            let __tsv: [F; #nts] = [#(F::of(#ts_names)),*];
            #scale
            #prep
            #(let #to_elem = #krate::__private::elem::<F, _>(#to_elem);)*
            #(#helpers)*
            #red
            let __k = move |#g: F, #p: F, __pos: #krate::__private::Pos, __shape: &[usize], __masks: [bool; #m], __lv: [F; #l], #(mut #bufs: F),*| -> (F, #(#tys),*) {
                #[allow(unused_imports)]
                use #krate::__private::num_traits::Float as _;
                let #pos = __pos;
                #(#celem)*
                #info
                let [#(#masks),*] = __masks;
                let [#(#leaf_names),*] = __lv;
                let __d: F = #body;
                (#finish, #(#bufs),*)
            };
            (__red, __prep, __k, __tsv)
        };
    }
}
