//! Stage 3 of `#[optimizer]`: a [`Kernel`] into code. One module per thing generated:
//! `config` (the struct, its builder and `Hyperparams`), `state` (the state struct and
//! `init`), `kernel` (per-step scalars, each stage's closures and the fused ones),
//! `dispatch` (the element loops monomorphized per storage dtype), `imp` (the
//! `Transformation` impl), `doc` (the rustdoc), `trace` (documented traces) and `export`
//! (the macro that hands a declaration to the compositions that fuse it).

pub mod config;
pub mod dispatch;
pub mod doc;
pub mod export;
pub mod imp;
pub mod kernel;
mod stage;
pub mod state;
pub mod trace;

use crate::lower::Kernel;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::visit_mut::VisitMut;

/// Everything a kernel generates.
pub fn expand(k: &Kernel) -> TokenStream {
    let cx = Cx::new(k);
    let docs = doc::render(k);
    let config = config::config(&cx, docs);
    let state = state::state_struct(&cx);
    let kernel = kernel::kernel_fn(&cx);
    let mut loops = dispatch::loops(&cx);
    loops.extend(dispatch::tree_loops(&cx));
    let imp = imp::trait_impl(&cx);
    let mut out = quote!(#config #state #kernel #loops #imp);
    let names: Vec<String> = k.args.iter().map(|a| a.name.to_string()).collect();
    for e in k.head.trace.check(&names) {
        out.extend(e.to_compile_error());
    }
    out.extend(trace::doc_traced_impl(
        &k.head.struct_name,
        &k.head.fn_name.to_string(),
        &k.head.trace,
    ));
    out
}

/// What the generators share: the kernel, the runtime's path and the generated names.
pub struct Cx<'k, 'a> {
    pub k: &'k Kernel<'a>,
    pub krate: TokenStream,
    pub opt_name: String,
    pub kernel_fn: syn::Ident,
    pub loop_fn: syn::Ident,
    pub dispatch_fn: syn::Ident,
    pub red_loop_fn: syn::Ident,
    pub red_dispatch_fn: syn::Ident,
}

impl<'k, 'a> Cx<'k, 'a> {
    fn new(k: &'k Kernel<'a>) -> Self {
        let f = &k.head.fn_name;
        Cx {
            k,
            krate: crate::krate(),
            opt_name: f.to_string(),
            kernel_fn: format_ident!("__{}_kernel", f),
            loop_fn: format_ident!("__{}_loop", f),
            dispatch_fn: format_ident!("__{}_dispatch", f),
            red_loop_fn: format_ident!("__{}_red_loop", f),
            red_dispatch_fn: format_ident!("__{}_red_dispatch", f),
        }
    }

    pub fn bufs(&self) -> Vec<&syn::Ident> {
        self.k.bufs.iter().map(|b| &b.name).collect()
    }
    pub fn leaf_states(&self) -> Vec<&syn::Ident> {
        self.k.leaf_states.iter().map(|b| &b.name).collect()
    }
    pub fn tree_states(&self) -> Vec<&syn::Ident> {
        self.k.tree_states.iter().map(|b| &b.name).collect()
    }

    /// The widest reduction of the kernel (the `leaf_sum`'s or a `tree_sum`'s number of
    /// sums): the width of the reduction scratch.
    pub fn width(&self) -> usize {
        let tree = self
            .k
            .stages
            .iter()
            .filter_map(|s| s.decl.body.tree_reduce.as_ref().map(|(_, r)| r.names.len()))
            .max()
            .unwrap_or(0);
        self.k.n_red().max(tree)
    }

    /// The type of the step scratch in the state.
    pub fn exec_ty(&self) -> TokenStream {
        let krate = &self.krate;
        let (b, l, w) = (self.k.bufs.len(), self.k.n_leaf_vals(), self.width());
        quote!(#krate::exec::Exec<F, #b, #l, #w>)
    }

    /// The closure types the kernel function returns: the reduction, the per-leaf
    /// section, the element update.
    pub fn sigs(&self) -> (TokenStream, TokenStream, TokenStream) {
        let krate = &self.krate;
        let m = self.k.masks.len();
        let l = self.k.n_leaf_vals();
        let ls = self.k.leaf_states.len();
        let r = self.k.n_red();
        let tys: Vec<_> = self.k.bufs.iter().map(|_| quote!(F)).collect();
        let red = quote!(Fn(F, F, #krate::__private::Pos, &[usize], [bool; #m], #(#tys),*) -> [F; #r] + Copy);
        let prep = quote!(Fn([f64; #r], [bool; #m], [F; #ls], usize, &[usize]) -> ([F; #l], [F; #ls]) + Copy);
        let kern = quote!(Fn(F, F, #krate::__private::Pos, &[usize], [bool; #m], [F; #l], #(#tys),*) -> (F, #(#tys),*) + Copy);
        (red, prep, kern)
    }
}

/// Rewrites float literals of element code into the element type `F`.
pub struct Literals(pub TokenStream);
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

pub fn is_option(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Option"))
}
