//! The `Transformation` impl: `init`, `update_with` and the fused `step_with`, which
//! validate everything before writing anything, evaluate the kernel once, and run the
//! per-leaf section and the element loop on every leaf.

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
    let leaf_state_names: Vec<String> = leaf_states.iter().map(|b| b.to_string()).collect();
    let init = super::state::init_body(cx);

    let red_call = match k.reducer {
        Some(j) if k.stages[j].decl.body.leaf_reduce.is_some() => {
            let gate = match k.stages[j].gate {
                Some(g) => quote!(&& __masks[#g]),
                None => quote!(),
            };
            quote! {
                let __r: [f64; #r] = if __red_on #gate {
                    #red_dispatch_fn(&__red, &mut __io, __leaf, __masks, __shape, &__state.leaves[__leaf].path, #(&mut __state.#bufs[__leaf]),*)?
                } else {
                    [0f64; #r]
                };
            }
        }
        _ => quote!(let __r: [f64; 0] = [];),
    };
    let lidx: Vec<_> = (0..leaf_states.len()).map(syn::Index::from).collect();
    let leaf_call = quote! {
        let __masks: [bool; #m] = [#(__state.#masks[__leaf]),*];
        let __shape: &[usize] = &__state.leaves[__leaf].shape;
        #red_call
        let (__lv, __ls) = __prep(__r, __masks, [#(__state.#leaf_states[__leaf]),*], #krate::__private::Io::len(&__io), __shape);
        #(__state.#leaf_states[__leaf] = __ls[#lidx];)*
        #dispatch_fn(&__k, &mut __io, __leaf, __masks, __lv, __shape, &__state.leaves[__leaf].path, #(&mut __state.#bufs[__leaf]),*)?;
        __leaf += 1;
        Ok(())
    };
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

            fn update_with<__P: #krate::Tree<F>>(
                &self,
                updates: &mut __P,
                state: &mut Self::State,
                params: ::core::option::Option<&__P>,
                _extra: &#krate::Extra,
            ) -> ::core::result::Result<(), #krate::Error> {
                #krate::check_update_trees(&state.leaves, updates, params)?;
                #checks
                if #uses_p && params.is_none() {
                    return Err(#krate::Error::NeedsParams { transform: #opt_name.into() });
                }
                #take_value
                let __count = state.count + 1;
                let (__red, __prep, __k, __red_on) = #kernel_fn::<F>(self, __count, __value, &#krate::__private::TreeRef { g: &*updates, p: params })?;
                let __state = &mut *state;
                let mut __leaf = 0usize;
                match params {
                    Some(__p) => updates.zip_mut(__p, &#krate::Path::ROOT, &mut |_, (__u, _), (__pp, _)| {
                        let mut __io = #krate::__private::UpdateIo::new(__u, __pp);
                        #leaf_call
                    })?,
                    None => updates.visit_mut(&#krate::Path::ROOT, &mut |_, __u, _| {
                        let mut __io = #krate::__private::UpdateNoParamsIo::new(__u);
                        #leaf_call
                    })?,
                }
                state.count = __count;
                Ok(())
            }

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

            fn step_with<__P: #krate::Tree<F>>(
                &self,
                params: &mut __P,
                grads: &__P,
                state: &mut Self::State,
                _extra: &#krate::Extra,
            ) -> ::core::result::Result<(), #krate::Error> {
                #krate::check_update_trees(&state.leaves, grads, Some(&*params))?;
                #checks
                #take_value
                let __count = state.count + 1;
                let (__red, __prep, __k, __red_on) = #kernel_fn::<F>(self, __count, __value, &#krate::__private::TreeRef { g: grads, p: Some(&*params) })?;
                let __state = &mut *state;
                let mut __leaf = 0usize;
                params.zip_mut(grads, &#krate::Path::ROOT, &mut |_, (__p, _), (__g, _)| {
                    let mut __io = #krate::__private::StepIo::new(__p, __g);
                    #leaf_call
                })?;
                state.count = __count;
                Ok(())
            }
        }
    }
}
