//! Code generation for `#[optimizer]`: the config struct and its builder, the state
//! struct, the per-step scalars, the fused per-element kernel, and the trait impl.

use crate::doc;
use crate::model::{Kind, Model, Reduce, StateBuf};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::visit_mut::VisitMut;

/// Rewrites float literals of the element code into the element type `F`.
struct Literals(TokenStream);
impl VisitMut for Literals {
    fn visit_expr_mut(&mut self, e: &mut syn::Expr) {
        if let syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Float(f),
            ..
        }) = e
        {
            let v: f64 = f.base10_parse().unwrap_or(f64::NAN);
            let lit = proc_macro2::Literal::f64_suffixed(v);
            let krate = &self.0;
            *e = syn::parse_quote!(#krate::__private::lit::<F>(#lit));
            return;
        }
        syn::visit_mut::visit_expr_mut(self, e);
    }
}

pub fn expand(m: &Model) -> TokenStream {
    let krate = crate::krate();
    let krate_str = krate.to_string().replace(' ', "");
    let serde_bound = format!("F: {krate_str}::Float");
    let serde_crate = format!("{krate_str}::__private::serde");
    let vis = &m.vis;
    let name = &m.struct_name;
    let state_name = &m.state_name;
    let fn_name = &m.fn_name;
    let opt_name = fn_name.to_string();
    let user_docs = &m.docs;
    let gen_doc = doc::render(m);
    let kernel_fn = format_ident!("__{}_kernel", fn_name);
    let dispatch_fn = format_ident!("__{}_dispatch", fn_name);
    let loop_fn = format_ident!("__{}_loop", fn_name);
    let red_dispatch_fn = format_ident!("__{}_red_dispatch", fn_name);
    let red_loop_fn = format_ident!("__{}_red_loop", fn_name);
    // Per-element state buffers, and per-leaf scalar states.
    let elem_states: Vec<&StateBuf> = m.states.iter().filter(|s| !s.per_leaf).collect();
    let leaf_states: Vec<&syn::Ident> = m
        .states
        .iter()
        .filter(|s| s.per_leaf)
        .map(|s| &s.name)
        .collect();
    let leaf_state_names: Vec<String> = leaf_states.iter().map(|b| b.to_string()).collect();
    let n_leaf_states = leaf_states.len();
    let leaf_names = &m.leaf_names;
    let n_leaf_vals = leaf_names.len();
    let n_red = m.leaf_reduce.as_ref().map_or(0, |r| r.names.len());

    // ---- config struct ----
    let fields = m.hypers.iter().map(|h| {
        let (n, t, d) = (&h.name, &h.ty, &h.docs);
        quote!(#(#d)* pub #n: #t,)
    });
    let required: Vec<_> = m
        .hypers
        .iter()
        .filter(|h| {
            h.default.is_none() && matches!(h.kind, Kind::Rate | Kind::Plain) && !is_option(&h.ty)
        })
        .collect();
    let req_params = required.iter().map(|h| {
        let (n, t) = (&h.name, &h.ty);
        quote!(#n: impl ::core::convert::Into<#t>)
    });
    let req_params2 = req_params.clone();
    let req_names: Vec<_> = required.iter().map(|h| &h.name).collect();
    let init_fields = m.hypers.iter().map(|h| {
        let n = &h.name;
        if required.iter().any(|r| r.name == *n) {
            quote!(#n: ::core::convert::Into::into(#n),)
        } else if let Some(d) = &h.default {
            quote!(#n: ::core::convert::Into::into(#d),)
        } else {
            quote!(#n: ::core::default::Default::default(),)
        }
    });
    let all_names: Vec<String> = m.hypers.iter().map(|h| h.name.to_string()).collect();
    let all_idents: Vec<_> = m.hypers.iter().map(|h| &h.name).collect();
    let req_strs: Vec<String> = required.iter().map(|h| h.name.to_string()).collect();
    let blank_fields = m.hypers.iter().map(|h| {
        let n = &h.name;
        if required.iter().any(|r| r.name == *n) {
            quote!(#n: ::core::convert::Into::into(<f64 as ::core::default::Default>::default()),)
        } else if let Some(d) = &h.default {
            quote!(#n: ::core::convert::Into::into(#d),)
        } else {
            quote!(#n: ::core::default::Default::default(),)
        }
    });
    let setters = m.hypers.iter().map(|h| {
        let (n, t) = (&h.name, &h.ty);
        let doc = format!("Sets `{n}`.");
        if h.kind == Kind::OptRate {
            // `Some(rate)`: a constant or a schedule; assign the field for `None`.
            return quote! {
                #[doc = #doc]
                #[must_use]
                pub fn #n(mut self, #n: impl ::core::convert::Into<#krate::LearningRate>) -> Self {
                    self.#n = ::core::option::Option::Some(::core::convert::Into::into(#n));
                    self
                }
            };
        }
        quote! {
            #[doc = #doc]
            #[must_use]
            pub fn #n(mut self, #n: impl ::core::convert::Into<#t>) -> Self {
                self.#n = ::core::convert::Into::into(#n);
                self
            }
        }
    });
    let default_impl = if required.is_empty() {
        quote! {
            impl ::core::default::Default for #name {
                fn default() -> Self { Self::new() }
            }
        }
    } else {
        quote!()
    };

    // ---- state struct ----
    let bufs: Vec<_> = elem_states.iter().map(|s| &s.name).collect();
    let buf_names: Vec<String> = bufs.iter().map(|b| b.to_string()).collect();
    let masks: Vec<_> = m
        .hypers
        .iter()
        .filter(|h| h.kind == Kind::Mask)
        .map(|h| &h.name)
        .collect();
    let mask_names: Vec<String> = masks.iter().map(|b| b.to_string()).collect();
    let n_masks = masks.len();
    let state_doc = format!("The state of [`{name}`]: the step count, the leaves it was built for, and one buffer per leaf for each state variable.");

    // ---- init ----
    let bind_for_init = m.hypers.iter().filter_map(|h| {
        let n = &h.name;
        match h.kind {
            Kind::Plain => Some(quote!(let #n = self.#n;)),
            Kind::Rate => Some(quote!(let #n: f64 = self.#n.at(0);)),
            Kind::OptRate => Some(quote!(let #n: Option<f64> = self.#n.as_ref().map(|r| r.at(0));)),
            _ => None,
        }
    });
    let init_leaf_states = m.states.iter().filter(|s| s.per_leaf).map(|s| {
        let n = &s.name;
        let init = s.init.clone().unwrap_or_else(|| syn::parse_quote!(0.0));
        quote!(let #n: ::std::vec::Vec<F> = ::std::vec![F::of(#init); __leaves.len()];)
    });
    let choices: Vec<_> = m
        .hypers
        .iter()
        .filter(|h| h.kind == Kind::Choice)
        .map(|h| {
            let n = &h.name;
            let ns = n.to_string();
            let allowed = &h.one_of;
            quote!(#krate::__private::check_choice(#opt_name, #ns, &this.#n, &[#(#allowed),*])?;)
        })
        .collect();
    let init_bufs = elem_states.iter().map(|s| {
        let n = &s.name;
        let init = s.init.clone().unwrap_or_else(|| syn::parse_quote!(0.0));
        let enabled = s.enabled.clone().unwrap_or_else(|| syn::parse_quote!(true));
        let dtype = match &s.dtype {
            Some(d) => quote!(self.#d),
            None => quote!(::core::option::Option::None),
        };
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
    let init_masks = masks
        .iter()
        .map(|n| quote!(let #n = self.#n.resolve(&__paths)?;));

    // ---- per-step scope ----
    let bind_step = m.hypers.iter().filter_map(|h| {
        let n = &h.name;
        let t = &h.ty;
        match h.kind {
            Kind::Plain => Some(quote!(let #n: #t = this.#n;)),
            Kind::Rate => Some(quote!(let #n: f64 = this.#n.optax_value_in(__count - 1, __mode);)),
            Kind::OptRate => Some(
                quote!(let #n: Option<f64> = this.#n.as_ref().map(|r| r.optax_value_in(__count - 1, __mode));),
            ),
            Kind::Choice => Some(quote!(let #n: &str = this.#n.as_str();)),
            _ => None,
        }
    });
    let step_stmts = step_statements(m, &krate);
    let bind_value = if m.uses_value {
        quote!(let value: f64 = __value;)
    } else {
        quote!()
    };
    let scale = if m.unscaled {
        quote!()
    } else {
        let lr = m
            .hypers
            .iter()
            .find(|h| h.name == "learning_rate")
            .expect("checked in model");
        if lr.kind == Kind::OptRate {
            quote!(let __scale: F = F::of(-learning_rate.unwrap_or(1.0));)
        } else {
            quote!(let __scale: F = F::of(-learning_rate);)
        }
    };
    let mut to_elem_names = given_scalars(m);
    to_elem_names.extend(m.step_names.iter().cloned());
    let (g, p, pos) = (&m.elem.g, &m.elem.p, &m.elem.pos);
    let mut body = m.elem.body.clone();
    Literals(krate.clone()).visit_expr_mut(&mut body);
    let finish = if m.unscaled {
        quote!(__d)
    } else {
        quote!(__scale * __d)
    };
    let state_tys: Vec<_> = bufs.iter().map(|_| quote!(F)).collect();
    let kernel_sig = quote!(Fn(F, F, #krate::__private::Pos, [bool; #n_masks], [F; #n_leaf_vals], #(#state_tys),*) -> (F, #(#state_tys),*) + Copy);
    let red_sig = quote!(Fn(F, F, #krate::__private::Pos, [bool; #n_masks], #(#state_tys),*) -> [F; #n_red] + Copy);
    let prep_sig = quote!(Fn([f64; #n_red], [bool; #n_masks], [F; #n_leaf_states]) -> ([F; #n_leaf_vals], [F; #n_leaf_states]) + Copy);

    // ---- the per-leaf section: reduction results, masks and per-leaf state in; the
    // per-leaf values for the element code and the new per-leaf state out ----
    let prep = {
        let bind_red = match &m.leaf_reduce {
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
        let idx = (0..n_leaf_states).map(syn::Index::from);
        let leaf_stmts = &m.leaf_stmts;
        quote! {
            let __prep = move |__r: [f64; #n_red], __masks: [bool; #n_masks], __ls: [F; #n_leaf_states]| -> ([F; #n_leaf_vals], [F; #n_leaf_states]) {
                #bind_red
                let [#(#masks),*] = __masks;
                #(let mut #leaf_states: f64 = #krate::Float::f64(__ls[#idx]);)*
                #(#leaf_stmts)*
                ([#(F::of(#leaf_names)),*], [#(F::of(#leaf_states)),*])
            };
        }
    };
    let helpers = m.helpers.iter().map(|(name, c)| {
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
        let mut e = syn::Expr::Closure(c);
        Literals(krate.clone()).visit_expr_mut(&mut e);
        quote!(let #name = #e;)
    });
    let red_closure = match &m.leaf_reduce {
        Some(r) => {
            let (rg, rp, rpos) = (&r.g, &r.p, &r.pos);
            let arr = reduce_array(r, &krate);
            quote! {
                let __red = move |#rg: F, #rp: F, #rpos: #krate::__private::Pos, __masks: [bool; #n_masks], #(#bufs: F),*| -> [F; #n_red] {
                    #[allow(unused_imports)]
                    use #krate::__private::num_traits::Float as _;
                    let [#(#masks),*] = __masks;
                    #arr
                };
            }
        }
        None => {
            quote!(let __red = move |_: F, _: F, _: #krate::__private::Pos, _: [bool; #n_masks], #(_: #state_tys),*| -> [F; 0] { [] };)
        }
    };

    // ---- per-leaf loop and storage dispatch ----
    let s_generics: Vec<_> = (0..bufs.len()).map(|i| format_ident!("__S{}", i)).collect();
    let s_args: Vec<_> = (0..bufs.len()).map(|i| format_ident!("__s{}", i)).collect();
    let s_args_new: Vec<_> = (0..bufs.len()).map(|i| format_ident!("__n{}", i)).collect();
    let loop_fn_def = {
        quote! {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn #loop_fn<F: #krate::Float, __IO: #krate::__private::Io<F>, #(#s_generics: #krate::__private::Store<F>,)* __K: #kernel_sig>(
                __k: &__K, __io: &mut __IO, __leaf: usize, __masks: [bool; #n_masks], __lv: [F; #n_leaf_vals], #(#s_args: &mut [#s_generics],)*
            ) {
                let __n = __io.len();
                #(let #s_args = &mut #s_args[..__n];)*
                for __i in 0..__n {
                    let (__u, #(#s_args_new,)*) = __k(
                        __io.g(__i), __io.p(__i),
                        #krate::__private::Pos { leaf: __leaf, index: __i },
                        __masks,
                        __lv,
                        #(#krate::__private::Store::<F>::load(#s_args[__i]),)*
                    );
                    #(#s_args[__i] = <#s_generics as #krate::__private::Store<F>>::store(#s_args_new);)*
                    __io.put(__i, __u);
                }
            }
        }
    };
    let red_loop_fn_def = quote! {
        #[inline(always)]
        #[allow(clippy::too_many_arguments)]
        fn #red_loop_fn<F: #krate::Float, __IO: #krate::__private::Io<F>, #(#s_generics: #krate::__private::Store<F>,)* __R: #red_sig>(
            __r: &__R, __io: &mut __IO, __leaf: usize, __masks: [bool; #n_masks], #(#s_args: &mut [#s_generics],)*
        ) -> [f64; #n_red] {
            let __n = __io.len();
            #(let #s_args = &#s_args[..__n];)*
            #krate::__private::reduce(__n, |__i| __r(
                __io.g(__i), __io.p(__i),
                #krate::__private::Pos { leaf: __leaf, index: __i },
                __masks,
                #(#krate::__private::Store::<F>::load(#s_args[__i]),)*
            ))
        }
    };
    let dispatch_body = dispatch(
        &elem_states,
        &(quote!(#loop_fn), quote!(__k, __io, __leaf, __masks, __lv,)),
        0,
        &mut Vec::new(),
    );
    let red_dispatch_body = dispatch(
        &elem_states,
        &(
            quote!(__out = #red_loop_fn),
            quote!(__r, __io, __leaf, __masks,),
        ),
        0,
        &mut Vec::new(),
    );
    let buf_params: Vec<_> = bufs
        .iter()
        .map(|b| quote!(#b: &mut #krate::Buf<F>))
        .collect();

    // ---- per-leaf driver shared by update and step ----
    let red_call = if m.leaf_reduce.is_some() {
        quote!(let __r: [f64; #n_red] = #red_dispatch_fn(&__red, &mut __io, __leaf, __masks, &__state.leaves[__leaf].path, #(&mut __state.#bufs[__leaf]),*)?;)
    } else {
        quote!(let __r: [f64; 0] = [];)
    };
    let lidx: Vec<_> = (0..n_leaf_states).map(syn::Index::from).collect();
    let leaf_call = quote! {
        let __masks: [bool; #n_masks] = [#(__state.#masks[__leaf]),*];
        #red_call
        let (__lv, __ls) = __prep(__r, __masks, [#(__state.#leaf_states[__leaf]),*]);
        #(__state.#leaf_states[__leaf] = __ls[#lidx];)*
        #dispatch_fn(&__k, &mut __io, __leaf, __masks, __lv, &__state.leaves[__leaf].path, #(&mut __state.#bufs[__leaf]),*)?;
        __leaf += 1;
        Ok(())
    };
    let checks = quote! {
        #(#krate::__private::check_bufs(&state.leaves, #buf_names, &state.#bufs)?;)*
        #(#krate::__private::check_flags(&state.leaves, #mask_names, &state.#masks)?;)*
        #(#krate::__private::check_leaf_vals(&state.leaves, #leaf_state_names, &state.#leaf_states)?;)*
    };
    let take_value = if m.uses_value {
        quote! {
            let __value: f64 = match _extra.value {
                ::core::option::Option::Some(v) => v,
                ::core::option::Option::None => return Err(#krate::Error::MissingExtra { transform: #opt_name.into(), arg: "value".into() }),
            };
        }
    } else {
        quote!(let __value: f64 = 0.0;)
    };
    let uses_p = m.elem.uses_p
        || m.leaf_reduce.as_ref().is_some_and(|r| r.uses_p)
        || m.tree_reduce.as_ref().is_some_and(|(_, r)| r.uses_p);

    quote! {
        // The user's docs are part of `gen_doc` (doc.rs), which puts their references
        // paragraph last, after the generated sections and the documented trace.
        #gen_doc
        #[derive(Clone, Debug)]
        #vis struct #name {
            #(#fields)*
        }

        impl #name {
            /// A configuration with the documented defaults.
            #vis fn new(#(#req_params),*) -> Self {
                Self { #(#init_fields)* }
            }
            #(#setters)*
        }

        #default_impl

        impl #krate::Hyperparams for #name {
            const NAMES: &'static [&'static str] = &[#(#all_names),*];
            const REQUIRED: &'static [&'static str] = &[#(#req_strs),*];
            fn blank() -> Self {
                Self { #(#blank_fields)* }
            }
            // A declaration without hyperparameters has only the error arm.
            #[allow(unreachable_code)]
            fn set(&mut self, name: &str, value: #krate::Value) -> ::core::result::Result<(), #krate::Error> {
                match name {
                    #(#all_names => self.#all_idents = #krate::config::convert(#opt_name, name, value)?,)*
                    _ => return Err(#krate::config::unknown(#opt_name, name, Self::NAMES)),
                }
                Ok(())
            }
        }

        #(#user_docs)*
        #[doc = ""]
        #[doc = concat!("Shorthand for [`", stringify!(#name), "::new`]; see [`", stringify!(#name), "`] for the update equations and defaults.")]
        #vis fn #fn_name(#(#req_params2),*) -> #name {
            #name::new(#(#req_names),*)
        }

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
            #[doc(hidden)]
            #[serde(skip)]
            pub _elem: ::core::marker::PhantomData<F>,
        }

        #[allow(unused_variables, unused_mut, unused_parens, non_snake_case, clippy::all)]
        #[inline]
        fn #kernel_fn<F: #krate::Float>(
            this: &#name, __count: u64, __value: f64, __tree: &dyn #krate::__private::Walk<F>,
        ) -> ::core::result::Result<(impl #red_sig + use<F>, impl #prep_sig + use<F>, impl #kernel_sig + use<F>), #krate::Error> {
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
            #(#bind_step)*
            #bind_value
            #(#step_stmts)*
            #scale
            #prep
            #(let #to_elem_names = #krate::__private::elem::<F, _>(#to_elem_names);)*
            #(#helpers)*
            #red_closure
            let __k = move |#g: F, #p: F, #pos: #krate::__private::Pos, __masks: [bool; #n_masks], __lv: [F; #n_leaf_vals], #(mut #bufs: F),*| {
                #[allow(unused_imports)]
                use #krate::__private::num_traits::Float as _;
                let [#(#masks),*] = __masks;
                let [#(#leaf_names),*] = __lv;
                let __d: F = #body;
                (#finish, #(#bufs),*)
            };
            Ok((__red, __prep, __k))
        }

        #loop_fn_def

        #red_loop_fn_def

        #[allow(clippy::too_many_arguments, unused_variables, unused_assignments, unused_mut)]
        fn #red_dispatch_fn<F: #krate::Float, __IO: #krate::__private::Io<F>, __R: #red_sig>(
            __r: &__R, __io: &mut __IO, __leaf: usize, __masks: [bool; #n_masks], __path: &str, #(#buf_params),*
        ) -> ::core::result::Result<[f64; #n_red], #krate::Error> {
            let mut __out = [0f64; #n_red];
            #red_dispatch_body
            Ok(__out)
        }

        #[allow(clippy::too_many_arguments, unused_variables)]
        fn #dispatch_fn<F: #krate::Float, __IO: #krate::__private::Io<F>, __K: #kernel_sig>(
            __k: &__K, __io: &mut __IO, __leaf: usize, __masks: [bool; #n_masks], __lv: [F; #n_leaf_vals], __path: &str, #(#buf_params),*
        ) -> ::core::result::Result<(), #krate::Error> {
            #dispatch_body
            Ok(())
        }

        impl<F: #krate::Float> #krate::Transformation<F> for #name {
            type State = #state_name<F>;

            fn name(&self) -> &'static str {
                #opt_name
            }

            #[allow(unused_variables)]
            fn init<__P: #krate::Tree<F>>(&self, params: &__P) -> ::core::result::Result<Self::State, #krate::Error> {
                let __leaves = #krate::leaf_metas(params)?;
                let __paths: ::std::vec::Vec<::std::string::String> = __leaves.iter().map(|m| m.path.clone()).collect();
                #(#bind_for_init)*
                #(#init_masks)*
                #(#init_bufs)*
                #(#init_leaf_states)*
                {
                    let this = self;
                    #(#choices)*
                }
                Ok(#state_name { count: 0, leaves: __leaves, #(#bufs,)* #(#masks,)* #(#leaf_states,)* _elem: ::core::marker::PhantomData })
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
                let (__red, __prep, __k) = #kernel_fn::<F>(self, __count, __value, &#krate::__private::TreeRef { g: &*updates, p: params })?;
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

            fn step_with<__P: #krate::Tree<F> + Clone>(
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
                let (__red, __prep, __k) = #kernel_fn::<F>(self, __count, __value, &#krate::__private::TreeRef { g: grads, p: Some(&*params) })?;
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

fn is_option(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

/// Nested matches over each buffer's storage variant; the innermost arm runs `call`
/// (a loop call missing its trailing buffer-slice arguments).
fn dispatch(
    states: &[&StateBuf],
    call: &(TokenStream, TokenStream),
    i: usize,
    bound: &mut Vec<TokenStream>,
) -> TokenStream {
    let krate = crate::krate();
    if i == states.len() {
        let (head, args) = call;
        return quote!(#head(#args #(#bound),*););
    }
    let s = states[i];
    let b = &s.name;
    let bname = b.to_string();
    let v = format_ident!("__v{}", i);
    let mut arms = Vec::new();
    let mut arm =
        |pat: TokenStream, setup: TokenStream, slice: TokenStream, bound: &mut Vec<TokenStream>| {
            bound.push(slice);
            let inner = dispatch(states, call, i + 1, bound);
            bound.pop();
            arms.push(quote!(#pat => { #setup #inner }));
        };
    arm(
        quote!(#krate::Buf::Native(#v)),
        quote!(),
        quote!(#v.as_mut_slice()),
        bound,
    );
    if s.dtype.is_some() {
        arm(
            quote!(#krate::Buf::F32(#v)),
            quote!(),
            quote!(#v.as_mut_slice()),
            bound,
        );
        arm(
            quote!(#krate::Buf::F64(#v)),
            quote!(),
            quote!(#v.as_mut_slice()),
            bound,
        );
        arm(
            quote!(#krate::Buf::BF16(#v)),
            quote!(),
            quote!(#v.as_mut_slice()),
            bound,
        );
        arm(
            quote!(#krate::Buf::F16(#v)),
            quote!(),
            quote!(#v.as_mut_slice()),
            bound,
        );
    }
    if s.enabled.is_some() {
        // A Vec of a zero-sized type never allocates.
        arm(
            quote!(#krate::Buf::Absent(#v)),
            quote!(let mut #v = ::std::vec![#krate::__private::Absent; *#v];),
            quote!(#v.as_mut_slice()),
            bound,
        );
    }
    let total = 1 + if s.dtype.is_some() { 4 } else { 0 } + usize::from(s.enabled.is_some());
    let fallback = if total < 6 {
        quote!(_ => return Err(#krate::__private::bad_buf(__path, #bname)),)
    } else {
        quote!()
    };
    quote! {
        match #b {
            #(#arms)*
            #fallback
        }
    }
}

/// The reduction closure's body as an array of `F` (one entry per summed value).
fn reduce_array(r: &Reduce, krate: &TokenStream) -> TokenStream {
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

/// The per-step scalars that exist before the declaration's own statements: the numeric
/// hyperparameters, `t`, and `value` when read. Element code sees them converted to `F`.
fn given_scalars(m: &Model) -> Vec<syn::Ident> {
    m.hypers
        .iter()
        .filter(|h| matches!(h.kind, Kind::Plain | Kind::Rate | Kind::OptRate))
        .map(|h| h.name.clone())
        .chain(std::iter::once(format_ident!("t")))
        .chain(m.uses_value.then(|| format_ident!("value")))
        .collect()
}

/// The per-step statements, with `tree_sum` turned into a pass over the tree. Its
/// closure sees the hyperparameters and earlier per-step scalars in the element type.
fn step_statements(m: &Model, krate: &TokenStream) -> Vec<TokenStream> {
    let mut names = given_scalars(m);
    let mut out = Vec::new();
    for (i, stmt) in m.step_stmts.iter().enumerate() {
        match &m.tree_reduce {
            Some((at, r)) if *at == i => {
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
                out.push(quote! {
                    let #pat = {
                        #(let #names = #krate::__private::elem::<F, _>(#names);)*
                        let __r: [f64; #n] = #krate::__private::tree_sum::<F, #n>(__tree, move |#rg: F, #rp: F, #rpos: #krate::__private::Pos| -> [F; #n] {
                            #[allow(unused_imports)]
                            use #krate::__private::num_traits::Float as _;
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
                    crate::model::collect_pat_idents(&l.pat, &mut ids);
                    names.extend(ids);
                }
            }
        }
    }
    out
}
