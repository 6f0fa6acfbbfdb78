//! Expansion snapshots: what `#[optimizer]` generates, pretty-printed, for a primitive, a
//! fused composition, a composition with a reduction and a user's declaration, so that a
//! reviewer reads the generated code and any change to it shows up in review. The
//! inputs are the real declarations, read from optim-core's sources and the README.

use proc_macro2::TokenStream;
use quote::quote;

const MOMENTS: &str = include_str!("../../optim-core/src/primitives/moments.rs");
const SCALE: &str = include_str!("../../optim-core/src/primitives/scale.rs");
const TRUST: &str = include_str!("../../optim-core/src/primitives/trust_ratio.rs");
const ADAM: &str = include_str!("../../optim-core/src/optimizers/adam.rs");
const TRUST_OPT: &str = include_str!("../../optim-core/src/optimizers/trust.rs");
const README: &str = include_str!("../../../README.md");

/// The `#[optimizer(...)]` arguments and the function of the declaration `name` in `src`.
fn decl(src: &str, name: &str) -> (TokenStream, syn::ItemFn) {
    let file = syn::parse_file(src).expect("the source parses");
    for item in file.items {
        if let syn::Item::Fn(mut f) = item {
            if f.sig.ident == name {
                let i = f
                    .attrs
                    .iter()
                    .position(|a| a.path().is_ident("optimizer"))
                    .expect("an #[optimizer] declaration");
                let attr = match f.attrs.remove(i).meta {
                    syn::Meta::List(l) => l.tokens,
                    _ => TokenStream::new(),
                };
                return (attr, f);
            }
        }
    }
    panic!("no declaration `{name}`");
}

/// What `fuse!` receives for the composition `name`, built as the stages' macros build it.
fn fuse_input(comp: (&str, &str), stages: &[(&str, &str)]) -> TokenStream {
    let decls = stages.iter().map(|(src, n)| {
        let (attr, f) = decl(src, n);
        let unscaled = attr.to_string().contains("unscaled");
        let (attr, f) = crate::expand::export::stage_tokens(unscaled, &f);
        quote!({ #[optimizer(#attr)] #f })
    });
    let (attr, f) = decl(comp.0, comp.1);
    quote!([ #(#decls)* ] { (#attr) #f })
}

fn pretty(ts: TokenStream) -> String {
    match syn::parse2::<syn::File>(ts.clone()) {
        Ok(f) => prettyplease::unparse(&f),
        Err(e) => panic!("the expansion does not parse: {e}\n{ts}"),
    }
}

#[test]
fn primitive() {
    let (attr, f) = decl(MOMENTS, "scale_by_adam");
    insta::assert_snapshot!(pretty(crate::optimizer2(attr, quote!(#f))));
}

#[test]
fn fused_composite() {
    let input = fuse_input(
        (ADAM, "adamw"),
        &[
            (MOMENTS, "scale_by_adam"),
            (SCALE, "add_decayed_weights"),
            (SCALE, "scale_by_learning_rate"),
        ],
    );
    insta::assert_snapshot!(pretty(crate::fuse2(input)));
}

#[test]
fn composite_with_a_reduction() {
    let input = fuse_input(
        (TRUST_OPT, "lamb"),
        &[
            (MOMENTS, "scale_by_adam"),
            (SCALE, "add_decayed_weights"),
            (TRUST, "scale_by_trust_ratio"),
            (SCALE, "scale_by_learning_rate"),
        ],
    );
    insta::assert_snapshot!(pretty(crate::fuse2(input)));
}

#[test]
fn user_declaration() {
    // The README's `my_adam`, the first `#[optimizer]` declaration in a Rust block.
    let start = README
        .find("#[optimizer]\npub fn")
        .expect("the README declares one");
    let end = start + README[start..].find("\n}\n").expect("its function ends") + 2;
    let (attr, f) = decl(&README[start..end], "my_adam");
    insta::assert_snapshot!(pretty(crate::optimizer2(attr, quote!(#f))));
}

#[test]
fn a_composition_is_not_a_stage_and_a_partial_names_its_base() {
    let (attr, f) = decl(ADAM, "adamw");
    let out = pretty(crate::optimizer2(attr, quote!(#f))).replace(char::is_whitespace, "");
    assert!(out.contains("scale_by_adam!{@optim_fuse"), "{out}");
    assert!(out.contains("cannotbeastageofanother"), "{out}");
    let (attr, f) = decl(ADAM, "nadam");
    let out = crate::optimizer2(attr, quote!(#f))
        .to_string()
        .replace(' ', "");
    assert!(out.starts_with("adam!{@optim_partial"), "{out}");
}
