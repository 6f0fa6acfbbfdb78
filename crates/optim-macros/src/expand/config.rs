//! The configuration struct, its constructor and builder, the shorthand function and the
//! `Hyperparams` impl (arguments set by name).

use super::{is_option, Cx};
use crate::ast::Kind;
use proc_macro2::TokenStream;
use quote::quote;

pub fn config(cx: &Cx, docs: TokenStream) -> TokenStream {
    let (k, krate) = (cx.k, &cx.krate);
    let head = k.head;
    let (vis, name, fn_name, opt_name) =
        (&head.vis, &head.struct_name, &head.fn_name, &cx.opt_name);
    let fields = k.args.iter().map(|a| {
        let (n, t, d) = (&a.name, &a.ty, &a.docs);
        quote!(#(#d)* pub #n: #t,)
    });
    let required: Vec<_> = k
        .args
        .iter()
        .filter(|a| {
            a.default.is_none() && matches!(a.kind, Kind::Rate | Kind::Plain) && !is_option(&a.ty)
        })
        .collect();
    let is_required = |n: &syn::Ident| required.iter().any(|r| r.name == *n);
    let req_params: Vec<_> = required
        .iter()
        .map(|a| {
            let (n, t) = (&a.name, &a.ty);
            quote!(#n: impl ::core::convert::Into<#t>)
        })
        .collect();
    let req_names: Vec<_> = required.iter().map(|a| &a.name).collect();
    let req_strs: Vec<String> = required.iter().map(|a| a.name.to_string()).collect();
    let init_fields = k.args.iter().map(|a| {
        let n = &a.name;
        if is_required(n) {
            quote!(#n: ::core::convert::Into::into(#n),)
        } else if let Some(d) = &a.default {
            quote!(#n: ::core::convert::Into::into(#d),)
        } else {
            quote!(#n: ::core::default::Default::default(),)
        }
    });
    let blank_fields = k.args.iter().map(|a| {
        let n = &a.name;
        if is_required(n) && a.kind == Kind::Plain {
            // A placeholder until `from_args` sets it (or reports it missing).
            quote!(#n: ::core::default::Default::default(),)
        } else if is_required(n) {
            quote!(#n: ::core::convert::Into::into(<f64 as ::core::default::Default>::default()),)
        } else if let Some(d) = &a.default {
            quote!(#n: ::core::convert::Into::into(#d),)
        } else {
            quote!(#n: ::core::default::Default::default(),)
        }
    });
    let all_names: Vec<String> = k.args.iter().map(|a| a.name.to_string()).collect();
    let all_idents: Vec<_> = k.args.iter().map(|a| &a.name).collect();
    let setters = k.args.iter().map(|a| {
        let (n, t) = (&a.name, &a.ty);
        let doc = format!("Sets `{n}`.");
        if a.kind == Kind::OptRate {
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
    let user_docs = &head.docs;
    quote! {
        // The user's docs are part of `docs` (doc.rs), which puts their references
        // paragraph last, after the generated sections and the documented trace.
        #docs
        #[derive(Clone)]
        #vis struct #name {
            #(#fields)*
            /// Which arguments jax holds as float32 arrays (`Hyperparams::set_jax`).
            #[doc(hidden)]
            pub __single: #krate::__private::Single,
        }

        // The arguments only, as `derive(Debug)` would print them without `__single`.
        impl ::core::fmt::Debug for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(stringify!(#name))
                    #(.field(#all_names, &self.#all_idents))*
                    .finish()
            }
        }

        impl #name {
            /// A configuration with the documented defaults.
            #vis fn new(#(#req_params),*) -> Self {
                Self { #(#init_fields)* __single: ::core::default::Default::default() }
            }
            #(#setters)*
        }

        #default_impl

        impl #krate::Hyperparams for #name {
            const NAMES: &'static [&'static str] = &[#(#all_names),*];
            const REQUIRED: &'static [&'static str] = &[#(#req_strs),*];
            fn blank() -> Self {
                Self { #(#blank_fields)* __single: ::core::default::Default::default() }
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
            fn set_jax(&mut self, name: &str, value: f64, single: bool) -> ::core::result::Result<(), #krate::Error> {
                #krate::Hyperparams::set(self, name, #krate::Value::Num(value))?;
                if let ::core::option::Option::Some(__i) = Self::NAMES.iter().position(|__n| *__n == name) {
                    self.__single.set(__i, single);
                }
                Ok(())
            }
            fn get(&self, name: &str) -> ::core::option::Option<#krate::Value> {
                match name {
                    #(#all_names => ::core::option::Option::Some(#krate::ToValue::to_value(&self.#all_idents)),)*
                    _ => ::core::option::Option::None,
                }
            }
        }

        #(#user_docs)*
        #[doc = ""]
        #[doc = concat!("Shorthand for [`", stringify!(#name), "::new`]; see [`", stringify!(#name), "`] for the update equations and defaults.")]
        #vis fn #fn_name(#(#req_params),*) -> #name {
            #name::new(#(#req_names),*)
        }
    }
}
