//! What the build scripts of optim-core (the registry) and xtask (the examples' traces)
//! look for in Rust files: items that carry a documented trace. Included by both with
//! `#[path]`, so the two agree on what a declaration is.

use std::path::Path;

/// Parses a file; one that does not parse is skipped with a warning (rustc then reports
/// the real error when it compiles it).
pub fn parse(file: &Path, who: &str) -> Option<syn::File> {
    let text = std::fs::read_to_string(file).ok()?;
    match syn::parse_file(&text) {
        Ok(f) => Some(f),
        Err(e) => {
            println!(
                "cargo:warning={who}: skipping {} (does not parse: {e})",
                file.display()
            );
            None
        }
    }
}

/// Whether the attributes include `#[cfg(test)]` (or another cfg naming `test`).
pub fn cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta
                .require_list()
                .is_ok_and(|l| l.tokens.to_string().contains("test"))
    })
}

fn last_is(path: &syn::Path, name: &str) -> bool {
    path.segments.last().is_some_and(|s| s.ident == name)
}

/// Whether the top level of an attribute's arguments has `doc_trace(...)`.
fn has_doc_trace(attr: &syn::Attribute) -> bool {
    let Ok(list) = attr.meta.require_list() else {
        return false;
    };
    let toks: Vec<proc_macro2::TokenTree> = list.tokens.clone().into_iter().collect();
    toks.windows(2).any(|w| {
        matches!(&w[0], proc_macro2::TokenTree::Ident(i) if i == "doc_trace")
            && matches!(&w[1], proc_macro2::TokenTree::Group(_))
    })
}

/// The type `#[optimizer]` generates for a function name: `noisy_sgd` -> `NoisySgd`.
fn camel(name: &str) -> String {
    name.split('_')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut c = s.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The types of a file's top-level items that carry a documented trace: functions with
/// `#[optimizer(... doc_trace(...) ...)]` and structs with `#[doc_trace(...)]`.
pub fn traced_types(ast: &syn::File) -> Vec<String> {
    let mut out = Vec::new();
    for item in &ast.items {
        match item {
            syn::Item::Fn(f)
                if !cfg_test(&f.attrs)
                    && f.attrs
                        .iter()
                        .any(|a| last_is(a.path(), "optimizer") && has_doc_trace(a)) =>
            {
                out.push(camel(&f.sig.ident.to_string()));
            }
            syn::Item::Struct(s)
                if !cfg_test(&s.attrs)
                    && s.attrs.iter().any(|a| last_is(a.path(), "doc_trace")) =>
            {
                out.push(s.ident.to_string());
            }
            _ => {}
        }
    }
    out
}

/// The functions of a file declared with `#[optimizer(...)]` that carry no documented
/// trace (primitives): their optax name and generated type.
#[allow(dead_code)]
pub fn declared_untraced(ast: &syn::File) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for item in &ast.items {
        if let syn::Item::Fn(f) = item {
            if !cfg_test(&f.attrs)
                && f.attrs
                    .iter()
                    .any(|a| last_is(a.path(), "optimizer") && !has_doc_trace(a))
            {
                let name = f.sig.ident.to_string();
                out.push((name.clone(), camel(&name)));
            }
        }
    }
    out
}

/// Whether a file has a top-level `family!` table (names registered without a documented
/// trace).
#[allow(dead_code)]
pub fn has_family_table(ast: &syn::File) -> bool {
    ast.items
        .iter()
        .any(|i| matches!(i, syn::Item::Macro(m) if last_is(&m.mac.path, "family")))
}
