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
mod trace;
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
            // The documented trace: `impl DocTraced`, after checking the aliases' arguments.
            let names: Vec<String> = m.hypers.iter().map(|h| h.name.to_string()).collect();
            for e in m.trace.check(&names) {
                out.extend(e.to_compile_error());
            }
            out.extend(trace::doc_traced_impl(
                &m.struct_name,
                &m.fn_name.to_string(),
                &m.trace,
            ));
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

/// Gives a hand-written optimizer a documented trace, as `doc_trace(...)` does in
/// `#[optimizer(...)]`: `#[doc_trace(solver = adafactor(0.003), printed = "1.39E+01 ...")]`
/// on its struct appends the `# Examples` section to its docs and implements
/// `DocTraced` (the struct must implement `Hyperparams`). The optax name is the struct's
/// name in snake case unless `name = "..."` says otherwise.
#[proc_macro_attribute]
pub fn doc_trace(attr: TokenStream, item: TokenStream) -> TokenStream {
    trace::attribute(attr.into(), item.into()).into()
}

/// Implements `optim::Tree` for a struct whose fields are trees; leaf paths are the
/// field names joined with dots (`"encoder.w"`).
#[proc_macro_derive(Tree, attributes(tree))]
pub fn derive_tree(item: TokenStream) -> TokenStream {
    tree::derive(item.into()).into()
}
