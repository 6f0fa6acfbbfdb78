//! Procedural macros of optim: `#[optimizer]` and `#[derive(Tree)]`.
//!
//! Entry points only: each parses its input into a model (`model`), checks it, and
//! expands it (`expand`, `tree`). Errors are collected, spanned on the offending token,
//! and emitted as `compile_error!` beside a minimal fallback item.

use proc_macro::TokenStream;

mod doc;
mod errors;
mod expand;
mod model;
mod tree;

/// The path generated code uses to reach optim-core's runtime: `::optim_core` when the
/// user depends on optim-core (or is optim-core), else the `optim` facade, which
/// re-exports all of it.
pub(crate) fn krate() -> proc_macro2::TokenStream {
    use proc_macro_crate::{crate_name, FoundCrate};
    let ident = |n: &str| {
        let id = proc_macro2::Ident::new(&n.replace('-', "_"), proc_macro2::Span::call_site());
        quote::quote!(::#id)
    };
    match crate_name("optim-core") {
        Ok(FoundCrate::Itself) => quote::quote!(::optim_core),
        Ok(FoundCrate::Name(n)) => ident(&n),
        Err(_) => match crate_name("optim") {
            Ok(FoundCrate::Name(n)) => ident(&n),
            _ => quote::quote!(::optim),
        },
    }
}

/// Declares an optimizer from its update equations. See the `optim` crate docs.
#[proc_macro_attribute]
pub fn optimizer(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr = proc_macro2::TokenStream::from(attr);
    let item = proc_macro2::TokenStream::from(item);
    match model::parse(attr, item.clone()) {
        Ok(m) => {
            let mut out = expand::expand(&m);
            if let Some(p) = m.primitive_model() {
                out.extend(expand::expand(&p));
            }
            out.into()
        }
        Err((errors, fallback)) => {
            let mut out = errors;
            out.extend(fallback);
            out.into()
        }
    }
}

/// Implements `optim::Tree` for a struct whose fields are trees; leaf paths are the
/// field names joined with dots (`"encoder.w"`).
#[proc_macro_derive(Tree, attributes(tree))]
pub fn derive_tree(item: TokenStream) -> TokenStream {
    tree::derive(item.into()).into()
}
