//! The `Transformation` impl: `init`, `update_with` and the fused `step_with`. A step
//! validates everything before writing anything (the trees, every state buffer and its
//! storage, the extra arguments, the argument checks of the kernel), records the leaves'
//! memory in the state's `Exec` scratch, evaluates the kernel once, and then runs the
//! reduction pass, the per-leaf section and the element pass over the recorded leaves,
//! on rayon's current pool (`optim_core::exec` explains the tasks and why the result does
//! not depend on the thread count).

use super::Cx;
use proc_macro2::TokenStream;
use quote::quote;

pub fn trait_impl(cx: &Cx) -> TokenStream {
    let (k, krate) = (cx.k, &cx.krate);
    let (name, state_name, opt_name) = (&k.head.struct_name, &k.head.state_name, &cx.opt_name);
    let (kernel_fn, dispatch_fn, red_dispatch_fn) =
        (&cx.kernel_fn, &cx.dispatch_fn, &cx.red_dispatch_fn);
    let m = k.masks.len();
    let r = k.n_red();
    let bufs = cx.bufs();
    let buf_names: Vec<String> = bufs.iter().map(|b| b.to_string()).collect();
    let masks = &k.masks;
    let mask_names: Vec<String> = masks.iter().map(|b| b.to_string()).collect();
    let leaf_states = cx.leaf_states();
    let tree_states = cx.tree_states();
    let tidx: Vec<_> = (0..tree_states.len()).map(syn::Index::from).collect();
    let leaf_state_names: Vec<String> = leaf_states.iter().map(|b| b.to_string()).collect();
    let init = super::state::init_body(cx);
    let nb = bufs.len();
    let bidx: Vec<_> = (0..nb).collect();

    // Each buffer's storage, checked against what it may hold, as the leaf is recorded.
    let buf_ptrs = k.bufs.iter().map(|b| {
        let (n, s, dtype, absent) = (&b.name, b.name.to_string(), b.dtype, b.absent);
        quote!(#krate::exec::BufPtr::of(&mut __state.#n[__leaf], #dtype, #absent, &__state.leaves[__leaf].path, #s)?)
    });
    let buf_ptrs: Vec<_> = buf_ptrs.collect();
    // Each leaf is checked against the leaf the state recorded (path, shape, lengths) as
    // it is recorded; on a mismatch the walk stops and `check_update_trees` names it.
    let record = |a: TokenStream, b: TokenStream, check: TokenStream| {
        quote! {
            let __ok = match __state.leaves.get(__leaf) {
                ::core::option::Option::Some(__m) => __path.matches(&__m.path) && #check,
                ::core::option::Option::None => false,
            };
            if !__ok {
                return Err(#krate::__private::mismatch());
            }
            __state.__exec.push(#krate::exec::LeafMem { a: #a, b: #b, len: __len }, [#(#buf_ptrs),*]);
            __leaf += 1;
            Ok(())
        }
    };
    let both = quote!(
        __as == &__m.shape[..] && __bs_ == &__m.shape[..] && __len == __m.len() && __blen == __len
    );
    let one = quote!(__as == &__m.shape[..] && __len == __m.len());
    let record_step = record(quote!(__p.as_mut_ptr()), quote!(__g.as_ptr()), both.clone());
    let record_update = record(quote!(__u.as_mut_ptr()), quote!(__pp.as_ptr()), both);
    let record_update_np = record(quote!(__u.as_mut_ptr()), quote!(::core::ptr::null()), one);

    let masks_of = quote!([#(__state.#masks[__leaf]),*]);
    // The reduction pass, over blocks of every leaf, read-only.
    let reduce = match k.reducer {
        Some(j) if k.stages[j].decl.body.leaf_reduce.is_some() => {
            let gate = match k.stages[j].gate {
                Some(g) => quote!(if !__masks[#g] { return [0f64; #r]; }),
                None => quote!(),
            };
            let io = quote!(#krate::__private::ReadIo::new(__gs, __ps));
            quote! {
                if __red_on {
                    let __x = &__state.__exec;
                    let __metas = &__state.leaves;
                    let __st = &*__state;
                    __x.reduce::<#r>(|__leaf, __s, __e| {
                        let __masks: [bool; #m] = [#(__st.#masks[__leaf]),*];
                        #gate
                        // SAFETY: the reduction pass only reads; nothing writes until it ends.
                        let (__gs, __ps) = unsafe { __x.read(__leaf, __s, __e, __step) };
                        let mut __io = #io;
                        // SAFETY: the state buffers are read only, in this task's range.
                        let __bs = unsafe { [#(__x.buf(__leaf, #bidx).slice(__s, __e - __s)),*] };
                        #red_dispatch_fn(&__red, &mut __io, __leaf, __s, __masks, &__metas[__leaf].shape, __bs)
                    });
                }
            }
        }
        _ => quote!(),
    };
    // The per-leaf section, sequential: reduction sums in, per-leaf values out.
    let lidx: Vec<_> = (0..leaf_states.len()).map(syn::Index::from).collect();
    let has_leaf = k.stages.iter().any(|s| s.decl.has_leaf_section());
    let prep = if has_leaf {
        let sums = if r > 0 {
            quote!(if __red_on { __state.__exec.sum::<#r>(__leaf) } else { [0f64; #r] })
        } else {
            quote!([])
        };
        quote! {
            for __leaf in 0..__state.leaves.len() {
                let __masks: [bool; #m] = #masks_of;
                let __r: [f64; #r] = #sums;
                let (__lv, __ls) = __prep(__r, __masks, [#(__state.#leaf_states[__leaf]),*], __state.leaves[__leaf].len(), &__state.leaves[__leaf].shape);
                __state.__exec.lv[__leaf] = __lv;
                #(__state.#leaf_states[__leaf] = __ls[#lidx];)*
            }
        }
    } else {
        quote!()
    };
    // The element pass.
    let main = |run: TokenStream| {
        quote! {
            {
                let __x = &__state.__exec;
                let __metas = &__state.leaves;
                let __st = &*__state;
                __x.run(|__leaf, __s, __e| {
                    let __masks: [bool; #m] = [#(__st.#masks[__leaf]),*];
                    // SAFETY: tasks cover disjoint element ranges of leaves that do not
                    // overlap (checked before a parallel run), recorded in this step.
                    let (__a, __b) = unsafe { __x.write(__leaf, __s, __e) };
                    // SAFETY: as above, for the state buffers of this leaf.
                    let __bs = unsafe { [#(__x.buf(__leaf, #bidx).slice(__s, __e - __s)),*] };
                    let __lv = __x.lv[__leaf];
                    let __shape = &__metas[__leaf].shape;
                    #run
                });
            }
        }
    };
    let call = |io: TokenStream| {
        quote! {
            let mut __io = #io;
            #dispatch_fn(&__k, &mut __io, __leaf, __s, __masks, __lv, __shape, __bs);
        }
    };
    // A fused step always records the gradients beside the params.
    let step_io = call(quote!(#krate::__private::StepIo::new(__a, __b.unwrap_or(&[]))));
    let main_step = main(step_io);
    let with_p = call(quote!(#krate::__private::UpdateIo::new(__a, __p)));
    let without_p = call(quote!(#krate::__private::UpdateNoParamsIo::new(__a)));
    let main_update = main(quote! {
        match __b {
            ::core::option::Option::Some(__p) => { #with_p }
            ::core::option::Option::None => { #without_p }
        }
    });
    let checks = quote! {
        #(#krate::__private::check_bufs(&state.leaves, #buf_names, &state.#bufs)?;)*
        #(#krate::__private::check_flags(&state.leaves, #mask_names, &state.#masks)?;)*
        #(#krate::__private::check_leaf_vals(&state.leaves, #leaf_state_names, &state.#leaf_states)?;)*
    };
    let take_value = if k.uses_value {
        quote! {
            let __value: f64 = match _extra.value {
                ::core::option::Option::Some(v) => v,
                ::core::option::Option::None => return Err(#krate::Error::MissingExtra { transform: #opt_name.into(), arg: "value".into() }),
            };
        }
    } else {
        quote!(let __value: f64 = 0.0;)
    };
    let uses_p = k.uses_p;
    let validate = validate_fn(cx, &checks, &take_value);
    quote! {
        impl<F: #krate::Float> #krate::Transformation<F> for #name {
            type State = #state_name<F>;

            fn name(&self) -> &'static str {
                #opt_name
            }

            #[allow(unused_variables)]
            fn init<__P: #krate::Tree<F>>(&self, params: &__P) -> ::core::result::Result<Self::State, #krate::Error> {
                #init
            }

            #[allow(unused_variables, unused_mut)]
            fn update_with<__P: #krate::Tree<F>>(
                &self,
                updates: &mut __P,
                state: &mut Self::State,
                params: ::core::option::Option<&__P>,
                _extra: &#krate::Extra,
            ) -> ::core::result::Result<(), #krate::Error> {
                #checks
                if #uses_p && params.is_none() {
                    return Err(#krate::Error::NeedsParams { transform: #opt_name.into() });
                }
                #take_value
                let __count = state.count + 1;
                let __state = &mut *state;
                __state.__exec.begin(&__state.leaves);
                let mut __leaf = 0usize;
                let __walk = match params {
                    Some(__pv) => updates.zip_mut(__pv, &#krate::Path::ROOT, &mut |__path, (__u, __as), (__pp, __bs_)| {
                        let (__len, __blen) = (__u.len(), __pp.len());
                        #record_update
                    }),
                    None => updates.visit_mut(&#krate::Path::ROOT, &mut |__path, __u, __as| {
                        let __len = __u.len();
                        #record_update_np
                    }),
                };
                if __walk.is_err() || __leaf != __state.leaves.len() {
                    #krate::check_update_trees(&__state.leaves, updates, params)?;
                    __walk?;
                    return Err(#krate::__private::mismatched_trees());
                }
                __state.__exec.ready();
                let __step = false;
                let (__red, __prep, __k, __red_on, __ts) = #kernel_fn::<F>(self, __count, __value, &__state.__exec, &__state.leaves, [#(&__state.#masks[..]),*], __step, [#(__state.#tree_states),*])?;
                #reduce
                #prep
                #main_update
                #(state.#tree_states = __ts[#tidx];)*
                state.count = __count;
                Ok(())
            }

            #validate

            fn step_with_buffer<__P: #krate::Tree<F>>(
                &self,
                params: &mut __P,
                buffer: &mut __P,
                state: &mut Self::State,
                extra: &#krate::Extra,
            ) -> ::core::result::Result<(), #krate::Error> {
                // The fused step reads the buffer as gradients and writes only the params.
                self.step_with(params, &*buffer, state, extra)
            }

            #[allow(unused_variables, unused_mut)]
            fn step_with<__P: #krate::Tree<F>>(
                &self,
                params: &mut __P,
                grads: &__P,
                state: &mut Self::State,
                _extra: &#krate::Extra,
            ) -> ::core::result::Result<(), #krate::Error> {
                #checks
                #take_value
                let __count = state.count + 1;
                let __state = &mut *state;
                __state.__exec.begin(&__state.leaves);
                let mut __leaf = 0usize;
                let __walk = params.zip_mut(grads, &#krate::Path::ROOT, &mut |__path, (__p, __as), (__g, __bs_)| {
                    let (__len, __blen) = (__p.len(), __g.len());
                    #record_step
                });
                if __walk.is_err() || __leaf != __state.leaves.len() {
                    #krate::check_update_trees(&__state.leaves, grads, Some(&*params))?;
                    __walk?;
                    return Err(#krate::__private::mismatched_trees());
                }
                __state.__exec.ready();
                let __step = true;
                let (__red, __prep, __k, __red_on, __ts) = #kernel_fn::<F>(self, __count, __value, &__state.__exec, &__state.leaves, [#(&__state.#masks[..]),*], __step, [#(__state.#tree_states),*])?;
                #reduce
                #prep
                #main_step
                #(state.#tree_states = __ts[#tidx];)*
                state.count = __count;
                Ok(())
            }
        }
    }
}

/// `validate`: the checks `update_with` and `step_with` make before they write, as one
/// read-only function: the state's buffers and their storage, the params a stage reads,
/// the extra `value`, the trees against the state's leaves, and the string choices and
/// `#[check]` conditions at the next step's values.
fn validate_fn(cx: &Cx, checks: &TokenStream, take_value: &TokenStream) -> TokenStream {
    let (k, krate, opt_name) = (cx.k, &cx.krate, &cx.opt_name);
    let storage: Vec<_> = k
        .bufs
        .iter()
        .map(|b| {
            let (n, s, dtype, absent) = (&b.name, b.name.to_string(), b.dtype, b.absent);
            quote!(#krate::__private::check_storage(&state.#n[__i], #dtype, #absent, &state.leaves[__i].path, #s)?;)
        })
        .collect();
    let storage = if storage.is_empty() {
        quote!()
    } else {
        quote!(for __i in 0..state.leaves.len() { #(#storage)* })
    };
    let bind_args = super::kernel::bind_args(cx);
    let choices = super::state::choice_checks(cx);
    let arg_checks = super::state::arg_checks(cx);
    let bind_value = if k.uses_value {
        quote!(let value: f64 = __value;)
    } else {
        quote!()
    };
    let uses_p = k.uses_p;
    // Each stage's own checks, under its bindings, as its block in the kernel has them.
    let stage_checks: Vec<_> = k
        .stages
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let checks = super::state::stage_checks(cx, s);
            if checks.is_empty() {
                return None;
            }
            let binds =
                (0..s.decl.hypers.len()).filter_map(|hi| super::stage::stage_binding(cx, i, s, hi));
            Some(quote!({ #(#binds)* #(#checks)* }))
        })
        .collect();
    let bound = super::kernel::bound(cx);
    let pre = &k.pre;
    let args = if choices.is_empty() && arg_checks.is_empty() && stage_checks.is_empty() {
        quote!()
    } else {
        quote! {
            #[allow(unused_imports)]
            use #krate::dsl::*;
            let this = self;
            let __count = state.count + 1;
            let __mode = if <F as #krate::Float>::DTYPE == #krate::Dtype::F64 {
                #krate::schedule::JaxMode::X64
            } else {
                #krate::schedule::JaxMode::X32
            };
            #(#choices)*
            #(#bind_args)*
            #bind_value
            #(#arg_checks)*
            let t: f64 = __count as f64;
            #(#pre)*
            #(#bound)*
            #(#stage_checks)*
        }
    };
    quote! {
        #[allow(unused_variables, clippy::all, non_snake_case, unused_parens)]
        fn validate<__P: #krate::Tree<F>>(
            &self,
            updates: &__P,
            state: &Self::State,
            params: ::core::option::Option<&__P>,
            _extra: &#krate::Extra,
        ) -> ::core::result::Result<(), #krate::Error> {
            #checks
            if #uses_p && params.is_none() {
                return Err(#krate::Error::NeedsParams { transform: #opt_name.into() });
            }
            #take_value
            #krate::check_update_trees(&state.leaves, updates, params)?;
            #storage
            #args
            Ok(())
        }
    }
}
