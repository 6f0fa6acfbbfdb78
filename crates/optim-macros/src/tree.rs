//! `#[derive(Tree)]`: a struct of trees is a tree; each field's path segment is its name.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Fields};

pub fn derive(input: TokenStream) -> TokenStream {
    let di: DeriveInput = match syn::parse2(input) {
        Ok(d) => d,
        Err(e) => return e.to_compile_error(),
    };
    let Data::Struct(ds) = &di.data else {
        return syn::Error::new_spanned(&di.ident, "#[derive(Tree)] supports structs only")
            .to_compile_error();
    };
    let (names, idents, tys): (Vec<String>, Vec<TokenStream>, Vec<&syn::Type>) = match &ds.fields {
        Fields::Named(f) => {
            let mut n = vec![];
            let mut i = vec![];
            let mut t = vec![];
            for fld in &f.named {
                let id = fld.ident.as_ref().expect("named field");
                n.push(id.to_string().trim_start_matches("r#").to_string());
                i.push(quote!(#id));
                t.push(&fld.ty);
            }
            (n, i, t)
        }
        Fields::Unnamed(f) => {
            let mut n = vec![];
            let mut i = vec![];
            let mut t = vec![];
            for (k, fld) in f.unnamed.iter().enumerate() {
                let idx = syn::Index::from(k);
                n.push(k.to_string());
                i.push(quote!(#idx));
                t.push(&fld.ty);
            }
            (n, i, t)
        }
        Fields::Unit => (vec![], vec![], vec![]),
    };
    let krate = crate::krate();
    let name = &di.ident;
    let elem = format_ident!("__F");
    let mut generics = di.generics.clone();
    generics
        .params
        .push(syn::parse_quote!(#elem: #krate::Float));
    let (impl_g, _, _) = generics.split_for_impl();
    let (_, ty_g, where_c) = di.generics.split_for_impl();
    let mut preds: Vec<TokenStream> = where_c
        .map(|w| w.predicates.iter().map(|p| quote!(#p)).collect())
        .unwrap_or_default();
    for t in &tys {
        preds.push(quote!(#t: #krate::Tree<#elem>));
    }
    quote! {
        impl #impl_g #krate::Tree<#elem> for #name #ty_g where #(#preds),* {
            fn visit(&self, path: &#krate::Path<'_>, f: &mut #krate::tree::Visit<'_, #elem>) -> ::core::result::Result<(), #krate::Error> {
                #( #krate::Tree::<#elem>::visit(&self.#idents, &path.field(#names), f)?; )*
                Ok(())
            }
            fn visit_mut(&mut self, path: &#krate::Path<'_>, f: &mut #krate::tree::VisitMut<'_, #elem>) -> ::core::result::Result<(), #krate::Error> {
                #( #krate::Tree::<#elem>::visit_mut(&mut self.#idents, &path.field(#names), f)?; )*
                Ok(())
            }
            fn zip(&self, other: &Self, path: &#krate::Path<'_>, f: &mut #krate::tree::Zip<'_, #elem>) -> ::core::result::Result<(), #krate::Error> {
                #( #krate::Tree::<#elem>::zip(&self.#idents, &other.#idents, &path.field(#names), f)?; )*
                Ok(())
            }
            fn zip_mut(&mut self, other: &Self, path: &#krate::Path<'_>, f: &mut #krate::tree::ZipMut<'_, #elem>) -> ::core::result::Result<(), #krate::Error> {
                #( #krate::Tree::<#elem>::zip_mut(&mut self.#idents, &other.#idents, &path.field(#names), f)?; )*
                Ok(())
            }
        }
    }
}
