//! The kernel function: evaluated once per step, it binds the arguments' per-step
//! values, runs each stage's per-step statements in a block of its own (so stages' names
//! never collide), and returns three closures that the element loops call: the
//! reduction pass, the per-leaf section and the fused element update.
//!
//! Each stage block yields the stage's own closures (`__red_i`, `__prep_i`, `__k_i`),
//! exactly what an elementary declaration generates; the fused closures feed each
//! stage's output to the next as its `g`. The reduction closure runs the stages before
//! the reducing one without keeping their state (what a read-only pass means).

use super::{Cx, Literals};
use crate::ast::{mentions, Kind};
use crate::lower::{Source, Stage};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};
use syn::visit_mut::VisitMut;

/// What the code that applies stages may read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The element update: masks, per-leaf values and state.
    Main,
    /// The reduction pass: masks and state (the stages before the reduction have no
    /// per-leaf values).
    Red,
    /// A whole-tree pass: nothing per leaf (only stateless, unmasked stages).
    Tree,
}

fn k_name(i: usize) -> syn::Ident {
    format_ident!("__k_{}", i)
}
fn red_name(i: usize) -> syn::Ident {
    format_ident!("__red_{}", i)
}
fn prep_name(i: usize) -> syn::Ident {
    format_ident!("__prep_{}", i)
}
fn cond_name(i: usize) -> syn::Ident {
    format_ident!("__c_{}", i)
}
fn bound_name(i: usize, h: &syn::Ident) -> syn::Ident {
    format_ident!("__b_{}_{}", i, h)
}

/// Applies stages `range` to `__g` in place (statements), reading and updating the
/// kernel's buffer variables.
fn apply(cx: &Cx, range: std::ops::Range<usize>, mode: Mode) -> TokenStream {
    let k = cx.k;
    let mut out = TokenStream::new();
    for i in range {
        let s = &k.stages[i];
        let kn = k_name(i);
        let masks = s.masks.iter().map(|m| match (m, mode) {
            (Some(idx), Mode::Main | Mode::Red) => quote!(__masks[#idx]),
            _ => quote!(true),
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
        if let (Some(g), Mode::Main | Mode::Red) = (s.gate, mode) {
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
fn stage_binding(cx: &Cx, i: usize, s: &Stage, hi: usize) -> Option<TokenStream> {
    let h = &s.decl.hypers[hi];
    let n = &h.name;
    let kind = h.kind.expect("typed");
    if !kind.is_scalar() {
        return None;
    }
    let ty = crate::lower::normalize_ty(h.ty.as_ref().expect("typed"));
    let krate = &cx.krate;
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
fn per_step_ty(h: &crate::ast::Hyper) -> TokenStream {
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
                out.push(quote! {
                    let #pat = {
                        #(let #names = #krate::__private::elem::<F, _>(#names);)*
                        let __r: [f64; #n] = #krate::__private::tree_sum::<F, #n>(__tree, move |__g: F, __p: F, __pos: #krate::__private::Pos, __shape: &[usize]| -> [F; #n] {
                            #[allow(unused_imports)]
                            use #krate::__private::num_traits::Float as _;
                            #before
                            let #rg = __g;
                            let #rp = __p;
                            let #rpos = __pos;
                            #info
                            #arr
                        });
                        #value
                    };
                });
                names.extend(r.names.iter().cloned());
            }
            _ => {
                out.push(quote!(#stmt));
                if let syn::Stmt::Local(l) = stmt {
                    let mut ids = Vec::new();
                    crate::ast::body::collect_pat_idents(&l.pat, &mut ids);
                    names.extend(ids);
                }
            }
        }
    }
    out
}

/// One stage's block: its bindings, checks and per-step statements, and its closures.
fn stage_block(cx: &Cx, i: usize) -> TokenStream {
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
    quote! {
        let (#rn, #pn, #kn) = {
            #(#bindings)*
            #(#checks)*
            #(#steps)*
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
            (__red, __prep, __k)
        };
    }
}

pub fn kernel_fn(cx: &Cx) -> TokenStream {
    let (k, krate) = (cx.k, &cx.krate);
    let (name, kernel_fn) = (&k.head.struct_name, &cx.kernel_fn);
    let (red_sig, prep_sig, kernel_sig) = cx.sigs();
    let m = k.masks.len();
    let l = k.n_leaf_vals();
    let ls = k.leaf_states.len();
    let r = k.n_red();
    let kbufs = cx.bufs();
    let tys: Vec<_> = kbufs.iter().map(|_| quote!(F)).collect();
    let choices = super::state::choice_checks(cx);
    let bind_args = k.args.iter().filter_map(|a| {
        let n = &a.name;
        let t = &a.ty;
        match a.kind {
            Kind::Plain => Some(quote!(let #n: #t = this.#n;)),
            Kind::Rate => Some(quote!(let #n: f64 = this.#n.optax_value_in(__count - 1, __mode);)),
            Kind::OptRate => Some(
                quote!(let #n: Option<f64> = this.#n.as_ref().map(|r| r.optax_value_in(__count - 1, __mode));),
            ),
            Kind::Choice => Some(quote!(let #n: &str = this.#n.as_str();)),
            _ => None,
        }
    });
    let bind_value = if k.uses_value {
        quote!(let value: f64 = __value;)
    } else {
        quote!()
    };
    let arg_checks = super::state::arg_checks(cx);
    let pre = &k.pre;
    let conds = k.stages.iter().enumerate().filter_map(|(i, s)| {
        s.cond.as_ref().map(|c| {
            let n = cond_name(i);
            quote!(let #n: bool = #c;)
        })
    });
    let bound = k.stages.iter().enumerate().flat_map(|(i, s)| {
        s.decl
            .hypers
            .iter()
            .zip(&s.sources)
            .filter_map(move |(h, src)| match src {
                Source::Expr(e) if h.kind.is_some_and(Kind::is_scalar) => {
                    let b = bound_name(i, &h.name);
                    let ty = per_step_ty(h);
                    Some(quote!(let #b: #ty = #e;))
                }
                _ => None,
            })
    });
    let blocks = (0..k.stages.len()).map(|i| stage_block(cx, i));
    let main = apply(cx, 0..k.stages.len(), Mode::Main);
    let (red, red_on) = match k.reducer {
        Some(j) if k.stages[j].decl.body.leaf_reduce.is_some() => {
            let s = &k.stages[j];
            let before = apply(cx, 0..j, Mode::Red);
            let rn = red_name(j);
            let masks = s.masks.iter().map(|m| match m {
                Some(idx) => quote!(__masks[#idx]),
                None => quote!(true),
            });
            let vars = s.bufs.iter().map(|&b| &k.bufs[b].name);
            let on = if s.cond.is_some() {
                let c = cond_name(j);
                quote!(#c)
            } else {
                quote!(true)
            };
            (
                quote! {
                    let __red = move |__g: F, __p: F, __pos: #krate::__private::Pos, __shape: &[usize], __masks: [bool; #m], #(mut #kbufs: F),*| -> [F; #r] {
                        #before
                        #rn(__g, __p, __pos, __shape, [#(#masks),*], #(#vars),*)
                    };
                },
                on,
            )
        }
        _ => (
            quote!(let __red = move |_: F, _: F, _: #krate::__private::Pos, _: &[usize], _: [bool; #m], #(_: #tys),*| -> [F; 0] { [] };),
            quote!(false),
        ),
    };
    let preps = k.stages.iter().enumerate().filter_map(|(i, s)| {
        if !s.decl.has_leaf_section() {
            return None;
        }
        let pn = prep_name(i);
        let red_in = if k.reducer == Some(i) && s.decl.body.leaf_reduce.is_some() {
            quote!(__r)
        } else {
            quote!([])
        };
        let masks = s.masks.iter().map(|m| match m {
            Some(idx) => quote!(__masks[#idx]),
            None => quote!(true),
        });
        let lsi: Vec<_> = s.leaf_states.to_vec();
        let set_lv = (0..s.decl.body.leaf_names.len()).map(|j| {
            let at = s.lv_offset + j;
            quote!(__lvs[#at] = __a[#j];)
        });
        let set_ls = lsi
            .iter()
            .enumerate()
            .map(|(j, &at)| quote!(__lso[#at] = __b[#j];));
        let mut guard = Vec::new();
        if s.cond.is_some() {
            let c = cond_name(i);
            guard.push(quote!(#c));
        }
        if let Some(g) = s.gate {
            guard.push(quote!(__masks[#g]));
        }
        let guard = if guard.is_empty() {
            quote!(true)
        } else {
            quote!(#(#guard)&&*)
        };
        Some(quote! {
            if #guard {
                let (__a, __b) = #pn(#red_in, [#(#masks),*], [#(__ls[#lsi]),*], __n, __shape);
                #(#set_lv)*
                #(#set_ls)*
            }
        })
    });
    quote! {
        #[allow(unused_variables, unused_mut, unused_parens, unused_assignments, non_snake_case, clippy::all)]
        #[inline]
        fn #kernel_fn<F: #krate::Float>(
            this: &#name, __count: u64, __value: f64, __tree: &dyn #krate::__private::Walk<F>,
        ) -> ::core::result::Result<(impl #red_sig + use<F>, impl #prep_sig + use<F>, impl #kernel_sig + use<F>, bool), #krate::Error> {
            #[allow(unused_imports)]
            use #krate::dsl::*;
            #(#choices)*
            let t: f64 = __count as f64;
            // Schedules are evaluated as optax does on its int32 counter, in jax's
            // precision for the params' element type.
            let __mode = if <F as #krate::Float>::DTYPE == #krate::Dtype::F64 {
                #krate::schedule::JaxMode::X64
            } else {
                #krate::schedule::JaxMode::X32
            };
            #(#bind_args)*
            #bind_value
            #(#arg_checks)*
            #(#pre)*
            #(#conds)*
            #(#bound)*
            #(#blocks)*
            let __k = move |__g: F, __p: F, __pos: #krate::__private::Pos, __shape: &[usize], __masks: [bool; #m], __lv: [F; #l], #(mut #kbufs: F),*| -> (F, #(#tys),*) {
                #[allow(unused_imports)]
                use #krate::__private::num_traits::Float as _;
                #main
                (__g, #(#kbufs),*)
            };
            #red
            let __prep = move |__r: [f64; #r], __masks: [bool; #m], __ls: [F; #ls], __n: usize, __shape: &[usize]| -> ([F; #l], [F; #ls]) {
                #[allow(unused_imports)]
                use #krate::__private::num_traits::Zero as _;
                let mut __lvs: [F; #l] = [F::zero(); #l];
                let mut __lso: [F; #ls] = __ls;
                #(#preps)*
                (__lvs, __lso)
            };
            Ok((__red, __prep, __k, #red_on))
        }
    }
}
