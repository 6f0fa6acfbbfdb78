//! The kernel function: evaluated once per step, it binds the arguments' per-step
//! values, runs each stage's per-step statements in a block of its own (so stages' names
//! never collide), and returns three closures that the element loops call: the
//! reduction pass, the per-leaf section and the fused element update.
//!
//! Each stage block yields the stage's own closures (`__red_i`, `__prep_i`, `__k_i`),
//! exactly what an elementary declaration generates; the fused closures feed each
//! stage's output to the next as its `g`. The reduction closure runs the stages before
//! the reducing one without keeping their state (what a read-only pass means).

use super::stage::{
    apply, bound_name, cond_name, per_step_ty, prep_name, red_name, stage_block, Mode,
};
use super::Cx;
use crate::ast::Kind;
use crate::lower::Source;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

pub fn kernel_fn(cx: &Cx) -> TokenStream {
    let (k, krate) = (cx.k, &cx.krate);
    let (name, kernel_fn) = (&k.head.struct_name, &cx.kernel_fn);
    let (red_sig, prep_sig, kernel_sig) = cx.sigs();
    let exec_ty = cx.exec_ty();
    let nts = k.tree_states.len();
    // Each per-tree state's new value, from the block of the stage that keeps it.
    let ts_new = k.tree_states.iter().map(|t| {
        let v = format_ident!("__tsv_{}", t.stage);
        let j = t.local;
        quote!(#v[#j])
    });
    let m = k.masks.len();
    let l = k.n_leaf_vals();
    let ls = k.leaf_states.len();
    let r = k.n_red();
    let kbufs = cx.bufs();
    let tys: Vec<_> = kbufs.iter().map(|_| quote!(F)).collect();
    let choices = super::state::choice_checks(cx);
    let bind_args = bind_args(cx);
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
    let bound = bound(cx);
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
            this: &#name, __count: u64, __value: f64, __tree: &#exec_ty, __metas: &[#krate::LeafMeta], __flags: [&[bool]; #m], __step: bool, __ts: [F; #nts],
        ) -> ::core::result::Result<(impl #red_sig + use<F>, impl #prep_sig + use<F>, impl #kernel_sig + use<F>, bool, [F; #nts]), #krate::Error> {
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
            Ok((__red, __prep, __k, #red_on, [#(#ts_new),*]))
        }
    }
}

/// Binds each argument to its value at the step `__count` (a rate to its schedule's
/// value, in `__mode`), as the kernel and the checks of `validate` read them from `this`.
pub fn bind_args(cx: &Cx) -> Vec<TokenStream> {
    cx.k.args.iter().filter_map(|a| {
        let n = &a.name;
        let t = &a.ty;
        // optax evaluates a schedule at its 0-based count, or (`#[at(t)]`) at the step.
        let at = if a.at_t {
            quote!(__count)
        } else {
            quote!(__count - 1)
        };
        match a.kind {
            Kind::Plain => Some(quote!(let #n: #t = this.#n;)),
            Kind::Rate => Some(quote!(let #n: f64 = this.#n.optax_value_in(#at, __mode);)),
            Kind::OptRate => Some(
                quote!(let #n: Option<f64> = this.#n.as_ref().map(|r| r.optax_value_in(#at, __mode));),
            ),
            Kind::Choice => Some(quote!(let #n: &str = this.#n.as_str();)),
            _ => None,
        }
    })
    .collect()
}

/// Binds each stage argument that the composition sets to an expression, at the step.
pub fn bound(cx: &Cx) -> Vec<TokenStream> {
    cx.k.stages
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
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
        })
        .collect()
}
