//! How a composition reaches its stages' declarations. A proc macro sees only its own
//! input, so every elementary declaration also emits a `macro_rules!` that carries its
//! tokens, exported under the declaration's own name (the function and the macro live in
//! different namespaces, so `use optim::scale_by_adam` brings both). A composition
//! `fuse(a, b, c)` expands to a call of `a!`, which appends its declaration and calls
//! `b!`, and so on; the last calls `__private::fuse!` with every stage's declaration and
//! the composition's own tokens, which generates the fused optimizer.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// A stable hash of the declaration, so two declarations of the same name in different
/// modules of one crate export different macros.
fn hash(ts: &TokenStream) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in ts.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{:08x}", h as u32)
}

/// The declaration's macro: `name! { @optim_fuse {krate} [[next] ...] [decls...] {composite} }`.
/// The tokens a declaration hands to the compositions that fuse it: the function without
/// its docs, under `#[optimizer(unscaled)]` or `#[optimizer()]`.
pub fn stage_tokens(unscaled: bool, func: &syn::ItemFn) -> (TokenStream, syn::ItemFn) {
    let mut f = func.clone();
    f.attrs.retain(|a| !a.path().is_ident("doc"));
    let attr = if unscaled { quote!(unscaled) } else { quote!() };
    (attr, f)
}

pub fn decl_macro(
    vis: &syn::Visibility,
    name: &syn::Ident,
    unscaled: bool,
    func: &syn::ItemFn,
) -> TokenStream {
    let (attr, f) = stage_tokens(unscaled, func);
    let decl = quote!(#[optimizer(#attr)] #f);
    let mac = format_ident!("__optim_decl_{}_{}", name, hash(&decl));
    let base = quote!({ (#attr) #f });
    quote! {
        #[doc(hidden)]
        #[macro_export]
        macro_rules! #mac {
            (@optim_fuse { $($k:tt)* } [ [$($next:tt)*] $($rest:tt)* ] [ $($acc:tt)* ] $comp:tt) => {
                $($next)*! { @optim_fuse { $($k)* } [ $($rest)* ] [ $($acc)* { #decl } ] $comp }
            };
            (@optim_fuse { $($k:tt)* } [ ] [ $($acc:tt)* ] $comp:tt) => {
                $($k)*::__private::fuse! { [ $($acc)* { #decl } ] $comp }
            };
            (@optim_partial { $($k:tt)* } $over:tt $new:tt) => {
                $($k)*::__private::partial! { { $($k)* } #base $over $new }
            };
        }
        #[doc(hidden)]
        #[allow(unused_imports)]
        #vis use #mac as #name;
    }
}

/// What `#[optimizer(fuse(...))]` expands to: the call of the first stage's macro, and a
/// macro under the composition's name that says it cannot be a stage itself.
pub fn composite_call(
    vis: &syn::Visibility,
    name: &syn::Ident,
    stages: &[crate::ast::StageSpec],
    attr: &TokenStream,
    item: &TokenStream,
) -> TokenStream {
    let krate = crate::krate();
    let first = &stages[0].path;
    let rest = stages[1..].iter().map(|s| &s.path);
    let stub = format_ident!("__optim_decl_{}_{}", name, hash(item));
    let msg = format!(
        "`{name}` is a fused composition and cannot be a stage of another: fuse its stages instead"
    );
    quote! {
        #first! { @optim_fuse { #krate } [ #([#rest])* ] [ ] { (#attr) #item } }
        #[doc(hidden)]
        #[macro_export]
        macro_rules! #stub {
            (@optim_fuse $($t:tt)*) => { ::core::compile_error!(#msg); };
            (@optim_partial { $($k:tt)* } $over:tt $new:tt) => {
                $($k)*::__private::partial! { { $($k)* } { (#attr) #item } $over $new }
            };
        }
        #[doc(hidden)]
        #[allow(unused_imports)]
        #vis use #stub as #name;
    }
}

/// What `#[optimizer(partial(base, ...))]` expands to: a call of `base!`, which hands its
/// declaration to `__private::partial!`.
pub fn partial_call(
    p: &crate::ast::attr::Partial,
    attr: &TokenStream,
    item: &TokenStream,
) -> TokenStream {
    let krate = crate::krate();
    let base = &p.base;
    let defaults = p.defaults.iter().map(|(k, v)| quote!(#k = #v,));
    quote! {
        #base! { @optim_partial { #krate } { #(#defaults)* } { (#attr) #item } }
    }
}

/// The declaration `partial!` generates: the base's tokens under the new name, docs and
/// trace, with the new defaults.
pub fn partial_decl(input: TokenStream) -> TokenStream {
    use proc_macro2::TokenTree;
    let bad = || {
        syn::Error::new(proc_macro2::Span::call_site(), "malformed partial! input")
            .to_compile_error()
    };
    let groups: Vec<_> = input.into_iter().collect();
    let [TokenTree::Group(krate), TokenTree::Group(base), TokenTree::Group(over), TokenTree::Group(new)] =
        groups.as_slice()
    else {
        return bad();
    };
    let krate = krate.stream();
    let split = |g: &proc_macro2::Group| -> Option<(TokenStream, syn::ItemFn)> {
        let mut it = g.stream().into_iter();
        let Some(TokenTree::Group(attr)) = it.next() else {
            return None;
        };
        let f: syn::ItemFn = syn::parse2(it.collect()).ok()?;
        Some((attr.stream(), f))
    };
    let (Some((base_attr, mut f)), Some((new_attr, new_f))) = (split(base), split(new)) else {
        return bad();
    };
    let items = |attr: TokenStream| -> Vec<TokenStream> {
        let mut out = vec![TokenStream::new()];
        for t in attr {
            match &t {
                TokenTree::Punct(p) if p.as_char() == ',' => out.push(TokenStream::new()),
                _ => out.last_mut().expect("nonempty").extend([t]),
            }
        }
        out.retain(|t| !t.is_empty());
        out
    };
    let head = |t: &TokenStream| {
        t.clone()
            .into_iter()
            .next()
            .map(|t| t.to_string())
            .unwrap_or_default()
    };
    let mut attr: Vec<TokenStream> = items(base_attr)
        .into_iter()
        .filter(|t| matches!(head(t).as_str(), "fuse" | "unscaled"))
        .collect();
    attr.extend(items(new_attr).into_iter().filter(|t| head(t) != "partial"));
    let parser = syn::punctuated::Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated;
    let over = match syn::parse::Parser::parse2(parser, over.stream()) {
        Ok(o) => o,
        Err(e) => return e.to_compile_error(),
    };
    let mut errs = crate::errors::Errors::default();
    for o in &over {
        let syn::Expr::Assign(a) = o else { continue };
        let syn::Expr::Path(k) = &*a.left else {
            continue;
        };
        let param = f.sig.inputs.iter_mut().find_map(|p| match p {
            syn::FnArg::Typed(pt) if matches!(&*pt.pat, syn::Pat::Ident(pi) if k.path.is_ident(&pi.ident)) => Some(pt),
            _ => None,
        });
        match param {
            Some(pt) => {
                pt.attrs.retain(|a| !a.path().is_ident("default"));
                let v = &a.right;
                pt.attrs.push(syn::parse_quote!(#[default(#v)]));
            }
            None => errs.at(
                k,
                format!("`{}` has no argument `{}`", f.sig.ident, quote!(#k)),
            ),
        }
    }
    if !errs.is_empty() {
        return errs.into_tokens();
    }
    f.sig.ident = new_f.sig.ident.clone();
    f.vis = new_f.vis.clone();
    f.attrs = new_f.attrs.clone();
    quote!(#[#krate::optimizer(#(#attr),*)] #f)
}
