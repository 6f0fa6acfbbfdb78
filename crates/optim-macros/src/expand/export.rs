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
pub fn decl_macro(
    vis: &syn::Visibility,
    name: &syn::Ident,
    unscaled: bool,
    func: &syn::ItemFn,
) -> TokenStream {
    let mut f = func.clone();
    f.attrs.retain(|a| !a.path().is_ident("doc"));
    let attr = if unscaled { quote!(unscaled) } else { quote!() };
    let decl = quote!(#[optimizer(#attr)] #f);
    let mac = format_ident!("__optim_decl_{}_{}", name, hash(&decl));
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
        }
        #[doc(hidden)]
        #[allow(unused_imports)]
        #vis use #stub as #name;
    }
}
