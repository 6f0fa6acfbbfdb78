//! Procedural macros of optim: `#[optimizer]`, `#[doc_trace]` and `#[derive(Tree)]`.
//!
//! Entry points only. `#[optimizer]` is a pipeline of three stages: `ast` (syn into a
//! model of the declaration, collecting every error), `lower` (the declaration, or a
//! fused composition and its stages' declarations, into one kernel) and `expand` (the
//! kernel into code). Errors are emitted as `compile_error!` beside a minimal fallback
//! item.

use proc_macro::TokenStream;
use proc_macro2::{Group, Span, TokenTree};

mod ast;
mod errors;
mod expand;
mod lower;
mod tree;

#[cfg(test)]
mod snapshots;

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

/// Declares an optimizer from its update equations, or fuses declared primitives into
/// one (`#[optimizer(fuse(...))]`). See the `optim` crate docs.
#[proc_macro_attribute]
pub fn optimizer(attr: TokenStream, item: TokenStream) -> TokenStream {
    optimizer2(attr.into(), item.into()).into()
}

pub(crate) fn optimizer2(
    attr: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    match ast::parse(attr.clone(), item.clone()) {
        Ok(d) => match (&d.stages, &d.partial) {
            (_, Some(p)) => expand::export::partial_call(p, &attr, &item),
            (Some(stages), _) => {
                expand::export::composite_call(&d.vis, &d.fn_name, stages, &attr, &item)
            }
            (None, None) => {
                let func: syn::ItemFn = syn::parse2(item).expect("parsed by ast::parse");
                let mut out = expand::expand(&lower::single(&d));
                out.extend(expand::export::decl_macro(
                    &d.vis, &d.fn_name, d.unscaled, &func,
                ));
                out
            }
        },
        Err((errors, fallback)) => {
            let mut out = errors;
            out.extend(fallback);
            out
        }
    }
}

/// Generates a fused composition from its stages' declarations (called by the
/// declarations' macros, see `expand::export`): `[ {stage declaration} ... ] { (attr) item }`.
#[doc(hidden)]
#[proc_macro]
pub fn __fuse(input: TokenStream) -> TokenStream {
    fuse2(input.into()).into()
}

pub(crate) fn fuse2(input: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    // The stages' tokens come from the bodies of different `macro_rules!`, each with its
    // own hygiene: resolve them all at the call site, so one kernel's names meet.
    let input = respan(input);
    let bad = || syn::Error::new(Span::call_site(), "malformed fuse! input").to_compile_error();
    let mut it = input.into_iter();
    let (Some(TokenTree::Group(decls)), Some(TokenTree::Group(comp))) = (it.next(), it.next())
    else {
        return bad();
    };
    let mut comp = comp.stream().into_iter();
    let Some(TokenTree::Group(attr)) = comp.next() else {
        return bad();
    };
    let item: proc_macro2::TokenStream = comp.collect();
    let head = match ast::parse(attr.stream(), item) {
        Ok(d) => d,
        Err((errs, fallback)) => return quote::quote!(#errs #fallback),
    };
    let mut stages = Vec::new();
    for g in decls.stream() {
        let TokenTree::Group(g) = g else { return bad() };
        let Ok(mut f) = syn::parse2::<syn::ItemFn>(g.stream()) else {
            return bad();
        };
        let attr = match f.attrs.iter().position(|a| a.path().is_ident("optimizer")) {
            Some(i) => match f.attrs.remove(i).meta {
                syn::Meta::List(l) => l.tokens,
                _ => proc_macro2::TokenStream::new(),
            },
            None => return bad(),
        };
        match ast::parse(attr, quote::ToTokens::to_token_stream(&f)) {
            Ok(d) => stages.push(d),
            Err((errs, _)) => return errs,
        }
    }
    match lower::fuse(&head, &stages) {
        Ok(k) => expand::expand(&k),
        Err(errs) => {
            let name = &head.struct_name;
            let vis = &head.vis;
            let mut out = errs.into_tokens();
            out.extend(quote::quote!(#[allow(dead_code)] #vis struct #name {}));
            out
        }
    }
}

fn respan(ts: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    let at = |s: Span| s.resolved_at(Span::call_site());
    ts.into_iter()
        .map(|t| match t {
            TokenTree::Group(g) => {
                let mut n = Group::new(g.delimiter(), respan(g.stream()));
                n.set_span(at(g.span()));
                TokenTree::Group(n)
            }
            TokenTree::Ident(mut i) => {
                i.set_span(at(i.span()));
                TokenTree::Ident(i)
            }
            TokenTree::Punct(mut p) => {
                p.set_span(at(p.span()));
                TokenTree::Punct(p)
            }
            TokenTree::Literal(mut l) => {
                l.set_span(at(l.span()));
                TokenTree::Literal(l)
            }
        })
        .collect()
}

/// Generates a `partial(base, ...)` declaration from its base's tokens (called by the base's
/// macro): `{krate} {(base attr) base item} {defaults} {(attr) item}`.
#[doc(hidden)]
#[proc_macro]
pub fn __partial(input: TokenStream) -> TokenStream {
    expand::export::partial_decl(respan(input.into())).into()
}

/// Gives a hand-written optimizer a documented trace, as `doc_trace(...)` does in
/// `#[optimizer(...)]`: `#[doc_trace(solver = adafactor(0.003), printed = "1.39E+01 ...")]`
/// on its struct appends the `# Examples` section to its docs and implements
/// `DocTraced` (the struct must implement `Hyperparams`). The optax name is the struct's
/// name in snake case unless `name = "..."` says otherwise.
#[proc_macro_attribute]
pub fn doc_trace(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::trace::attribute(attr.into(), item.into()).into()
}

/// Implements `optim::Tree` for a struct whose fields are trees; leaf paths are the
/// field names joined with dots (`"encoder.w"`).
#[proc_macro_derive(Tree, attributes(tree))]
pub fn derive_tree(item: TokenStream) -> TokenStream {
    tree::derive(item.into()).into()
}
