//! The state struct and `init`: the leaves, one buffer per leaf for every element state
//! (in its storage dtype, or absent when disabled), the resolved masks and the per-leaf
//! scalars.

use super::Cx;
use crate::ast::{mentions, Kind};
use crate::lower::{Source, Stage};
use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

pub fn state_struct(cx: &Cx) -> TokenStream {
    let (k, krate) = (cx.k, &cx.krate);
    let head = k.head;
    let krate_str = krate.to_string().replace(' ', "");
    let serde_bound = format!("F: {krate_str}::Float");
    let serde_crate = format!("{krate_str}::__private::serde");
    let (vis, name, state_name) = (&head.vis, &head.struct_name, &head.state_name);
    let bufs = cx.bufs();
    let masks = &k.masks;
    let leaf_states = cx.leaf_states();
    let tree_states = cx.tree_states();
    let exec_ty = cx.exec_ty();
    let state_doc = format!("The state of [`{name}`]: the step count, the leaves it was built for, and one buffer per leaf for each state variable.");
    let tensors = state_tensors_impl(cx);
    quote! {
        #[doc = #state_doc]
        #[derive(Clone, Debug, PartialEq, #krate::__private::serde::Serialize, #krate::__private::serde::Deserialize)]
        #[serde(bound = #serde_bound, crate = #serde_crate)]
        #vis struct #state_name<F> {
            /// Number of updates done so far.
            pub count: u64,
            /// The leaves (paths and shapes) this state was built for.
            pub leaves: ::std::vec::Vec<#krate::LeafMeta>,
            #(#[doc = concat!("The `", stringify!(#bufs), "` buffer of each leaf.")] pub #bufs: ::std::vec::Vec<#krate::Buf<F>>,)*
            #(#[doc = concat!("The resolved `", stringify!(#masks), "` flag of each leaf.")] pub #masks: ::std::vec::Vec<bool>,)*
            #(#[doc = concat!("The `", stringify!(#leaf_states), "` scalar of each leaf.")] pub #leaf_states: ::std::vec::Vec<F>,)*
            #(#[doc = concat!("The `", stringify!(#tree_states), "` scalar of the whole tree.")] pub #tree_states: F,)*
            /// Scratch of the step (the leaves' memory, tasks, reduction sums); not saved.
            #[doc(hidden)]
            #[serde(skip)]
            pub __exec: #exec_ty,
            #[doc(hidden)]
            #[serde(skip)]
            pub _elem: ::core::marker::PhantomData<F>,
        }
        #tensors
    }
}

/// The state's [`StateTensors`] impl: its count, buffers, masks, per-leaf and per-tree
/// scalars by name, for checkpoints.
fn state_tensors_impl(cx: &Cx) -> TokenStream {
    let (k, krate) = (cx.k, &cx.krate);
    let state_name = &k.head.state_name;
    let bufs = cx.bufs();
    let buf_names: Vec<String> = bufs.iter().map(|b| b.to_string()).collect();
    let masks = &k.masks;
    let mask_names: Vec<String> = masks.iter().map(|b| b.to_string()).collect();
    let leaf_states = cx.leaf_states();
    let leaf_names: Vec<String> = leaf_states.iter().map(|b| b.to_string()).collect();
    // Per-tree scalars (`#[state(tree)]`) are 0-d tensors named by the field.
    let tree_states = cx.tree_states();
    let tree_names: Vec<String> = tree_states.iter().map(|b| b.to_string()).collect();
    quote! {
        impl<F: #krate::Float> #krate::state_tensors::StateTensors<F> for #state_name<F> {
            fn visit_tensors(
                &self,
                prefix: &str,
                f: &mut #krate::state_tensors::VisitTensor<'_, F>,
            ) -> ::core::result::Result<(), #krate::Error> {
                #krate::state_tensors::visit_generated(
                    prefix,
                    self.count,
                    &self.leaves,
                    &[#((#buf_names, &self.#bufs[..]),)*],
                    &[#((#mask_names, &self.#masks[..]),)*],
                    &[#((#leaf_names, &self.#leaf_states[..]),)*],
                    f,
                )?;
                #(f(
                    &::std::format!("{prefix}{}", #tree_names),
                    #krate::state_tensors::TensorRef::Elems(&[], ::core::slice::from_ref(&self.#tree_states)),
                )?;)*
                ::core::result::Result::Ok(())
            }
            fn visit_tensors_mut(
                &mut self,
                prefix: &str,
                f: &mut #krate::state_tensors::VisitTensorMut<'_, F>,
            ) -> ::core::result::Result<(), #krate::Error> {
                #krate::state_tensors::visit_generated_mut(
                    prefix,
                    &mut self.count,
                    &self.leaves,
                    &mut [#((#buf_names, &mut self.#bufs[..]),)*],
                    &[#((#mask_names, &self.#masks[..]),)*],
                    &mut [#((#leaf_names, &mut self.#leaf_states[..]),)*],
                    f,
                )?;
                #(f(
                    &::std::format!("{prefix}{}", #tree_names),
                    #krate::state_tensors::TensorMut::Elems(&[], ::core::slice::from_mut(&mut self.#tree_states)),
                )?;)*
                ::core::result::Result::Ok(())
            }
        }
    }
}

/// The arguments as `init` sees them: plain values, rates at step 0.
fn bind_for_init(cx: &Cx) -> Vec<TokenStream> {
    cx.k.args
        .iter()
        .filter_map(|a| {
            let n = &a.name;
            match a.kind {
                Kind::Plain => Some(quote!(let #n = self.#n;)),
                Kind::Choice => Some(quote!(let #n: &str = self.#n.as_str();)),
                Kind::Rate => Some(quote!(let #n: f64 = self.#n.at(0);)),
                Kind::OptRate => {
                    Some(quote!(let #n: Option<f64> = self.#n.as_ref().map(|r| r.at(0));))
                }
                _ => None,
            }
        })
        .collect()
}

/// A stage's arguments as `init` sees them, for the ones its state declarations or
/// checks read.
fn stage_init_bindings(cx: &Cx, s: &Stage, used: &TokenStream) -> Vec<TokenStream> {
    let mut out = Vec::new();
    for (h, src) in s.decl.hypers.iter().zip(&s.sources) {
        let n = &h.name;
        let kind = h.kind.expect("typed");
        if !matches!(kind, Kind::Plain | Kind::Rate | Kind::OptRate)
            || !mentions(used.clone(), &n.to_string())
        {
            continue;
        }
        let ty = crate::lower::normalize_ty(h.ty.as_ref().expect("typed"));
        out.push(match (src, kind) {
            (Source::Arg(c), _) if c == n => continue,
            (Source::Arg(c), _) => quote!(let #n = #c;),
            (Source::Expr(e), _) => quote!(let #n = #e;),
            (Source::Default, Kind::Plain) => match &h.default {
                Some(d) => quote!(let #n: #ty = ::core::convert::Into::into(#d);),
                None => quote!(let #n: #ty = ::core::option::Option::None;),
            },
            (Source::Default, Kind::Rate) => {
                let d = &h.default;
                quote!(let #n: f64 = { let __r: #ty = ::core::convert::Into::into(#d); __r.at(0) };)
            }
            (Source::Default, _) => match &h.default {
                Some(d) => {
                    let krate = &cx.krate;
                    quote!(let #n: Option<f64> = ::core::option::Option::Some(::core::convert::Into::<#krate::LearningRate>::into(#d).at(0));)
                }
                None => quote!(let #n: Option<f64> = ::core::option::Option::None;),
            },
        });
    }
    out
}

/// The checks of a stage's arguments, as statements returning an error.
pub fn stage_checks(cx: &Cx, s: &Stage) -> Vec<TokenStream> {
    stage_checks_where(cx, s, |_| true)
}

/// The checks `init` makes: those of the arguments that are not set to an expression of
/// the composition's per-step values (which only a step computes; it checks them).
fn init_checks(cx: &Cx, s: &Stage) -> Vec<TokenStream> {
    stage_checks_where(cx, s, |i| !matches!(s.sources[i], Source::Expr(_)))
}

fn stage_checks_where(cx: &Cx, s: &Stage, keep: impl Fn(usize) -> bool) -> Vec<TokenStream> {
    let (krate, opt) = (&cx.krate, &cx.opt_name);
    let mut out = Vec::new();
    for (i, h) in s.decl.hypers.iter().enumerate() {
        if !keep(i) {
            continue;
        }
        for c in &h.checks {
            let n = &h.name;
            let arg = s.reported(i);
            let text = crate::lower::check_text(c);
            out.push(quote! {
                if !(#c) {
                    return Err(#krate::Error::Hyper {
                        transform: #opt.into(),
                        arg: #arg.into(),
                        detail: ::std::format!("must satisfy `{}`, got {:?}", #text, #n),
                    });
                }
            });
        }
    }
    out
}

/// The composition's own checks on its arguments.
pub fn arg_checks(cx: &Cx) -> Vec<TokenStream> {
    let (krate, opt) = (&cx.krate, &cx.opt_name);
    let mut out = Vec::new();
    for a in &cx.k.args {
        for c in &a.checks {
            let n = &a.name;
            let arg = n.to_string();
            let text = crate::lower::check_text(c);
            out.push(quote! {
                if !(#c) {
                    return Err(#krate::Error::Hyper {
                        transform: #opt.into(),
                        arg: #arg.into(),
                        detail: ::std::format!("must satisfy `{}`, got {:?}", #text, #n),
                    });
                }
            });
        }
    }
    out
}

/// The string-choice checks of the configuration.
pub fn choice_checks(cx: &Cx) -> Vec<TokenStream> {
    let (krate, opt) = (&cx.krate, &cx.opt_name);
    cx.k.args
        .iter()
        .filter(|a| a.kind == Kind::Choice)
        .map(|a| {
            let n = &a.name;
            let ns = n.to_string();
            let allowed = &a.one_of;
            quote!(#krate::__private::check_choice(#opt, #ns, &this.#n, &[#(#allowed),*])?;)
        })
        .collect()
}

/// The body of `init`.
pub fn init_body(cx: &Cx) -> TokenStream {
    let (k, krate) = (cx.k, &cx.krate);
    let exec_ty = cx.exec_ty();
    let state_name = &k.head.state_name;
    let bind = bind_for_init(cx);
    let choices = choice_checks(cx);
    let arg_checks = arg_checks(cx);
    let masks = &k.masks;
    let init_masks = masks
        .iter()
        .map(|n| quote!(let #n = self.#n.resolve(&__paths)?;));
    let mut blocks = Vec::new();
    for (si, s) in k.stages.iter().enumerate() {
        let owned: Vec<_> = k.bufs.iter().filter(|b| b.stage == si).collect();
        let owned_ls: Vec<_> = k.leaf_states.iter().filter(|l| l.stage == si).collect();
        let owned_ts: Vec<_> = k.tree_states.iter().filter(|l| l.stage == si).collect();
        let tree_decls: Vec<_> = s.decl.tree_states().collect();
        let checks = init_checks(cx, s);
        let elem_states: Vec<_> = s.decl.elem_states().collect();
        let leaf_decls: Vec<_> = s.decl.leaf_states().collect();
        // What the declarations and checks read, to bind only those arguments.
        let mut used = TokenStream::new();
        for st in &s.decl.states {
            st.init.to_tokens(&mut used);
            st.enabled.to_tokens(&mut used);
        }
        for (h, src) in s.decl.hypers.iter().zip(&s.sources) {
            if matches!(src, Source::Expr(_)) {
                continue;
            }
            for c in &h.checks {
                c.to_tokens(&mut used);
            }
        }
        if owned.is_empty() && owned_ls.is_empty() && owned_ts.is_empty() && checks.is_empty() {
            continue;
        }
        let binds = stage_init_bindings(cx, s, &used);
        let on = match &s.cond {
            Some(c) => quote!(#c),
            None => quote!(true),
        };
        let buf_inits = owned.iter().map(|b| {
            let st = elem_states[b.local];
            let n = &b.name;
            let init = st.init.clone().unwrap_or_else(|| syn::parse_quote!(0.0));
            let own = st
                .enabled
                .clone()
                .unwrap_or_else(|| syn::parse_quote!(true));
            let enabled = if b.shared {
                quote!(#own)
            } else {
                quote!(__stage_on && (#own))
            };
            let dtype = match &st.dtype {
                Some(d) => {
                    let hi = s.hyper_index(&d.to_string()).expect("dtype argument");
                    match &s.sources[hi] {
                        Source::Arg(c) => quote!(self.#c),
                        Source::Expr(e) => quote!(#e),
                        Source::Default => quote!(::core::option::Option::None),
                    }
                }
                None => quote!(::core::option::Option::None),
            };
            if b.from_params {
                return quote! {
                    let #n: ::std::vec::Vec<#krate::Buf<F>> = {
                        let __enabled: bool = #enabled;
                        let mut __v = ::std::vec::Vec::with_capacity(__leaves.len());
                        params.visit(&#krate::Path::ROOT, &mut |_, __d, _| {
                            __v.push(if __enabled {
                                #krate::Buf::copied(__d, #dtype)
                            } else {
                                #krate::Buf::Absent(__d.len())
                            });
                            Ok(())
                        })?;
                        __v
                    };
                };
            }
            quote! {
                let #n: ::std::vec::Vec<#krate::Buf<F>> = {
                    let __enabled: bool = #enabled;
                    let __init: F = F::of(#init);
                    __leaves.iter().map(|__m| if __enabled {
                        #krate::Buf::filled(__m.len(), __init, #dtype)
                    } else {
                        #krate::Buf::Absent(__m.len())
                    }).collect()
                };
            }
        });
        let ls_inits = owned_ls.iter().map(|l| {
            let n = &l.name;
            let init = leaf_decls[l.local]
                .init
                .clone()
                .unwrap_or_else(|| syn::parse_quote!(0.0));
            quote!(let #n: ::std::vec::Vec<F> = ::std::vec![F::of(#init); __leaves.len()];)
        });
        let ts_inits = owned_ts.iter().map(|l| {
            let n = &l.name;
            let init = tree_decls[l.local]
                .init
                .clone()
                .unwrap_or_else(|| syn::parse_quote!(0.0));
            quote!(let #n: F = F::of(#init);)
        });
        let names: Vec<_> = owned
            .iter()
            .map(|b| &b.name)
            .chain(owned_ls.iter().map(|l| &l.name))
            .chain(owned_ts.iter().map(|l| &l.name))
            .collect();
        if names.is_empty() {
            blocks.push(quote! {
                {
                    #(#binds)*
                    #(#checks)*
                }
            });
            continue;
        }
        blocks.push(quote! {
            let (#(#names,)*) = {
                #(#binds)*
                #(#checks)*
                let __stage_on: bool = #on;
                #(#buf_inits)*
                #(#ls_inits)*
                #(#ts_inits)*
                (#(#names,)*)
            };
        });
    }
    let bufs = cx.bufs();
    let leaf_states = cx.leaf_states();
    let tree_states = cx.tree_states();
    quote! {
        let __leaves = #krate::leaf_metas(params)?;
        let __paths: ::std::vec::Vec<::std::string::String> = __leaves.iter().map(|m| m.path.clone()).collect();
        #(#bind)*
        {
            let this = self;
            #(#choices)*
        }
        #(#arg_checks)*
        #(#init_masks)*
        #(#blocks)*
        let mut __exec: #exec_ty = ::core::default::Default::default();
        __exec.prepare(&__leaves);
        Ok(#state_name { count: 0, leaves: __leaves, #(#bufs,)* #(#masks,)* #(#leaf_states,)* #(#tree_states,)* __exec, _elem: ::core::marker::PhantomData })
    }
}
