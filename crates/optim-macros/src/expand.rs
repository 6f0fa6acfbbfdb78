//! Code generation for `#[optimizer]`: the config struct and its builder, the state
//! struct, the per-step scalars, the fused per-element kernel, and the trait impl.

use crate::doc;
use crate::model::{Kind, Model};
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
    let bufs: Vec<_> = m.states.iter().map(|s| &s.name).collect();
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
    let init_bufs = m.states.iter().map(|s| {
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
                quote!(let #n: Option<f64> = this.#n.as_ref().map(|r| r.optax_value(__count - 1));),
            ),
            _ => None,
        }
    });
    let step_stmts = &m.step_stmts;
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
    let to_elem_names: Vec<_> = m
        .hypers
        .iter()
        .filter(|h| matches!(h.kind, Kind::Plain | Kind::Rate | Kind::OptRate))
        .map(|h| h.name.clone())
        .chain(m.step_names.iter().cloned())
        .chain(std::iter::once(format_ident!("t")))
        .collect();
    let (g, p, pos) = (&m.elem.g, &m.elem.p, &m.elem.pos);
    let mut body = m.elem.body.clone();
    Literals(krate.clone()).visit_expr_mut(&mut body);
    let finish = if m.unscaled {
        quote!(__d)
    } else {
        quote!(__scale * __d)
    };
    let state_tys: Vec<_> = bufs.iter().map(|_| quote!(F)).collect();
    let kernel_sig = quote!(Fn(F, F, #krate::__private::Pos, [bool; #n_masks], #(#state_tys),*) -> (F, #(#state_tys),*) + Copy);

    // ---- per-leaf loop and storage dispatch ----
    let s_generics: Vec<_> = (0..bufs.len()).map(|i| format_ident!("__S{}", i)).collect();
    let s_args: Vec<_> = (0..bufs.len()).map(|i| format_ident!("__s{}", i)).collect();
    let s_args_new: Vec<_> = (0..bufs.len()).map(|i| format_ident!("__n{}", i)).collect();
    let loop_fn_def = {
        quote! {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn #loop_fn<F: #krate::Float, __IO: #krate::__private::Io<F>, #(#s_generics: #krate::__private::Store<F>,)* __K: #kernel_sig>(
                __k: &__K, __io: &mut __IO, __leaf: usize, __masks: [bool; #n_masks], #(#s_args: &mut [#s_generics],)*
            ) {
                let __n = __io.len();
                #(let #s_args = &mut #s_args[..__n];)*
                for __i in 0..__n {
                    let (__u, #(#s_args_new,)*) = __k(
                        __io.g(__i), __io.p(__i),
                        #krate::__private::Pos { leaf: __leaf, index: __i },
                        __masks,
                        #(#krate::__private::Store::<F>::load(#s_args[__i]),)*
                    );
                    #(#s_args[__i] = <#s_generics as #krate::__private::Store<F>>::store(#s_args_new);)*
                    __io.put(__i, __u);
                }
            }
        }
    };
    let dispatch_body = dispatch(m, &loop_fn, 0, &mut Vec::new());
    let buf_params = bufs.iter().map(|b| quote!(#b: &mut #krate::Buf<F>));

    // ---- per-leaf driver shared by update and step ----
    let leaf_call = quote! {
        let __masks: [bool; #n_masks] = [#(__state.#masks[__leaf]),*];
        #dispatch_fn(&__k, &mut __io, __leaf, __masks, &__state.leaves[__leaf].path, #(&mut __state.#bufs[__leaf]),*)?;
        __leaf += 1;
        Ok(())
    };
    let checks = quote! {
        #(#krate::__private::check_bufs(&state.leaves, #buf_names, &state.#bufs)?;)*
        #(#krate::__private::check_flags(&state.leaves, #mask_names, &state.#masks)?;)*
    };
    let uses_p = m.elem.uses_p;

    quote! {
        #(#user_docs)*
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
            fn set(&mut self, name: &str, value: #krate::Value) -> ::core::result::Result<(), #krate::Error> {
                match name {
                    #(#all_names => self.#all_idents = #krate::config::convert(#opt_name, name, value)?,)*
                    _ => return Err(#krate::config::unknown(#opt_name, name, Self::NAMES)),
                }
                Ok(())
            }
        }

        // The user's docs are part of `gen_doc` (doc.rs), which puts their references
        // paragraph last, after the generated sections and the documented trace.
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
            #[doc(hidden)]
            #[serde(skip)]
            pub _elem: ::core::marker::PhantomData<F>,
        }

        #[allow(unused_variables, unused_mut, unused_parens, non_snake_case, clippy::all)]
        #[inline]
        fn #kernel_fn<F: #krate::Float>(this: &#name, __count: u64) -> impl #kernel_sig {
            #[allow(unused_imports)]
            use #krate::dsl::*;
            let t: f64 = __count as f64;
            // Schedules are evaluated as optax does on its int32 counter, in jax's
            // precision for the params' element type.
            let __mode = if <F as #krate::Float>::DTYPE == #krate::Dtype::F64 {
                #krate::schedule::JaxMode::X64
            } else {
                #krate::schedule::JaxMode::X32
            };
            #(#bind_step)*
            #(#step_stmts)*
            #scale
            #(let #to_elem_names = #krate::__private::elem::<F, _>(#to_elem_names);)*
            move |#g: F, #p: F, #pos: #krate::__private::Pos, __masks: [bool; #n_masks], #(mut #bufs: F),*| {
                #[allow(unused_imports)]
                use #krate::__private::num_traits::Float as _;
                let [#(#masks),*] = __masks;
                let __d: F = #body;
                (#finish, #(#bufs),*)
            }
        }

        #loop_fn_def

        #[allow(clippy::too_many_arguments, unused_variables)]
        fn #dispatch_fn<F: #krate::Float, __IO: #krate::__private::Io<F>, __K: #kernel_sig>(
            __k: &__K, __io: &mut __IO, __leaf: usize, __masks: [bool; #n_masks], __path: &str, #(#buf_params),*
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
                Ok(#state_name { count: 0, leaves: __leaves, #(#bufs,)* #(#masks,)* _elem: ::core::marker::PhantomData })
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
                let __count = state.count + 1;
                let __k = #kernel_fn::<F>(self, __count);
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
                let __count = state.count + 1;
                let __k = #kernel_fn::<F>(self, __count);
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

/// Nested matches over each buffer's storage variant; the innermost arm runs the loop.
fn dispatch(
    m: &Model,
    loop_fn: &syn::Ident,
    i: usize,
    bound: &mut Vec<TokenStream>,
) -> TokenStream {
    let krate = crate::krate();
    if i == m.states.len() {
        return quote!(#loop_fn(__k, __io, __leaf, __masks, #(#bound),*););
    }
    let s = &m.states[i];
    let b = &s.name;
    let bname = b.to_string();
    let v = format_ident!("__v{}", i);
    let mut arms = Vec::new();
    let mut arm =
        |pat: TokenStream, setup: TokenStream, slice: TokenStream, bound: &mut Vec<TokenStream>| {
            bound.push(slice);
            let inner = dispatch(m, loop_fn, i + 1, bound);
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
