//! The element loops and the storage dispatch: per chunk of a leaf, each buffer's storage
//! variant is matched once (nested matches), so the loop is monomorphized for that
//! combination of dtypes and runs with no per-element branching on storage. The storage
//! was checked when the step recorded the leaf, so a variant a buffer cannot hold never
//! reaches the dispatch.

use super::Cx;
use crate::lower::BufDef;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

pub fn loops(cx: &Cx) -> TokenStream {
    let (k, krate) = (cx.k, &cx.krate);
    let (loop_fn, red_loop_fn, dispatch_fn, red_dispatch_fn) = (
        &cx.loop_fn,
        &cx.red_loop_fn,
        &cx.dispatch_fn,
        &cx.red_dispatch_fn,
    );
    let (red_sig, _, kernel_sig) = cx.sigs();
    let m = k.masks.len();
    let l = k.n_leaf_vals();
    let r = k.n_red();
    let nb = k.bufs.len();
    let bufs = cx.bufs();
    let s_generics: Vec<_> = (0..nb).map(|i| format_ident!("__S{}", i)).collect();
    let s_args: Vec<_> = (0..nb).map(|i| format_ident!("__s{}", i)).collect();
    let s_new: Vec<_> = (0..nb).map(|i| format_ident!("__n{}", i)).collect();
    let loop_args = quote!(__k, __io, __leaf, __base, __masks, __lv, __shape,);
    let dispatch_body = dispatch(
        cx,
        &k.bufs,
        &(quote!(#loop_fn), loop_args.clone()),
        0,
        &mut Vec::new(),
        None,
    );
    // The AVX512_BF16 copy's: the blocked loop where a buffer is bf16 (the selector
    // takes that copy only for such chunks, so the other arms never run).
    let hw_loop_fn = format_ident!("{}_bf16", loop_fn);
    let hw_dispatch_body = dispatch(
        cx,
        &k.bufs,
        &(quote!(#hw_loop_fn), loop_args),
        0,
        &mut Vec::new(),
        Some(false),
    );
    let red_dispatch_body = dispatch(
        cx,
        &k.bufs,
        &(
            quote!(__out = #red_loop_fn),
            quote!(__r, __io, __leaf, __base, __masks, __shape,),
        ),
        0,
        &mut Vec::new(),
        None,
    );
    let slices = quote!([#krate::exec::BufSlice<'_, F>; #nb]);
    let red_dispatch = versioned(Versioned {
        krate,
        name: red_dispatch_fn,
        generics: quote!(F: #krate::Float, __IO: #krate::__private::Io<F>, __R: #red_sig),
        params: quote!(__r: &__R, __io: &mut __IO, __leaf: usize, __base: usize, __masks: [bool; #m], __shape: &[usize], __bs: #slices),
        args: quote!(__r, __io, __leaf, __base, __masks, __shape, __bs),
        ret: quote!(-> [f64; #r]),
        body: quote! {
            let mut __out = [0f64; #r];
            let [#(#bufs),*] = __bs;
            #red_dispatch_body
            __out
        },
        bf16: None,
    });
    let main_dispatch = versioned(Versioned {
        krate,
        name: dispatch_fn,
        generics: quote!(F: #krate::Float, __IO: #krate::__private::Io<F>, __K: #kernel_sig),
        params: quote!(__k: &__K, __io: &mut __IO, __leaf: usize, __base: usize, __masks: [bool; #m], __lv: [F; #l], __shape: &[usize], __bs: #slices),
        args: quote!(__k, __io, __leaf, __base, __masks, __lv, __shape, __bs),
        ret: quote!(),
        body: quote! {
            let [#(#bufs),*] = __bs;
            #dispatch_body
        },
        bf16: Some((
            quote!(__bs
                .iter()
                .any(|__b| ::core::matches!(__b, #krate::exec::BufSlice::BF16(_)))),
            quote! {
                let [#(#bufs),*] = __bs;
                #hw_dispatch_body
            },
        )),
    });
    let elem = quote! {
        let (__u, #(#s_new,)*) = __k(
            __io.g(__i), __io.p(__i),
            #krate::__private::Pos { leaf: __leaf, index: __base + __i, len: __len },
            __shape,
            __masks,
            __lv,
            #(#krate::__private::Store::<F>::load(#s_args[__i]),)*
        );
        #(#s_args[__i] = <#s_generics as #krate::__private::Store<F>>::store(#s_new);)*
        __io.put(__i, __u);
    };
    // Elements `__lo..__hi`, one at a time: the compiler vectorizes the loop.
    let plain_range = quote! {
        for __i in __lo..__hi {
            #elem
        }
    };
    // The same in blocks of 16, then the rest one at a time. A block loads its inputs
    // into arrays, runs the kernel on them and stores its outputs after: with every
    // operand local, the compiler vectorizes the block's 16 elements without the
    // checks for overlapping buffers that so short a loop does not pay for (loads and
    // stores through the buffers themselves left it scalar). New state is stored 16 at a
    // time (`Store::store_16`). Each element reads its own state only, so storing it
    // after the block's other elements changes nothing.
    let s_blk: Vec<_> = (0..nb).map(|i| format_ident!("__b{}", i)).collect();
    let s_in: Vec<_> = (0..nb).map(|i| format_ident!("__in{}", i)).collect();
    let blocked_range = quote! {
        let mut __i0 = __lo;
        while __i0 + 16 <= __hi {
            let (__gb, __pb) = (__io.g16(__i0), __io.p16(__i0));
            #(
                let #s_in: [F; 16] = {
                    let __src: &[#s_generics; 16] = (&#s_args[__i0..__i0 + 16]).try_into().unwrap();
                    ::core::array::from_fn(|__l| #krate::__private::Store::<F>::load(__src[__l]))
                };
            )*
            let mut __ub = [F::zero(); 16];
            #(let mut #s_blk = [F::zero(); 16];)*
            for __l in 0..16 {
                let (__u, #(#s_new,)*) = __k(
                    __gb[__l], __pb[__l],
                    #krate::__private::Pos { leaf: __leaf, index: __base + __i0 + __l, len: __len },
                    __shape,
                    __masks,
                    __lv,
                    #(#s_in[__l],)*
                );
                __ub[__l] = __u;
                #(#s_blk[__l] = #s_new;)*
            }
            __io.put16(__i0, &__ub);
            #(
                let __dst: &mut [#s_generics; 16] = (&mut #s_args[__i0..__i0 + 16]).try_into().unwrap();
                // SAFETY: the loop's contract.
                unsafe { <#s_generics as #krate::__private::Store<F>>::store_16(&#s_blk, __dst) };
            )*
            __i0 += 16;
        }
        for __i in __i0..__hi {
            #elem
        }
    };
    let main_loop = |name: &syn::Ident,
                     range: &TokenStream,
                     attrs: TokenStream,
                     unsafety: TokenStream| {
        quote! {
            #attrs
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            #unsafety fn #name<F: #krate::Float, __IO: #krate::__private::Io<F>, #(#s_generics: #krate::__private::Store<F>,)* __K: #kernel_sig>(
                __k: &__K, __io: &mut __IO, __leaf: usize, __base: usize, __masks: [bool; #m], __lv: [F; #l], __shape: &[usize], #(#s_args: &mut [#s_generics],)*
            ) {
                let __n = __io.len();
                let __len: usize = __shape.iter().product();
                #(let #s_args = &mut #s_args[..__n];)*
                if !#krate::__private::prefetch_leaf(__len) {
                    let (__lo, __hi) = (0, __n);
                    #range
                    return;
                }
                // A large leaf: blocks of `PREFETCH_LINES` cache lines, each prefetching its
                // lines of every stream `ahead` elements on (`exec::prefetching`), then the
                // rest.
                let (__line, __ahead) = (#krate::__private::line::<F>(), #krate::__private::ahead::<F>());
                let __block = __line * #krate::__private::PREFETCH_LINES;
                let __full = __n - __n % __block;
                let mut __p0 = 0;
                while __p0 < __full {
                    // SAFETY: `__p0` is a multiple of `__block` below `__full`, itself a
                    // multiple of `__block` at most `__n`; told so, the compiler drops the
                    // bounds checks and keeps the block's constant trip count.
                    unsafe { ::core::hint::assert_unchecked(__p0 + __block <= __n) };
                    let mut __j = __p0 + __ahead;
                    while __j < __p0 + __ahead + __block {
                        __io.prefetch(__j);
                        #(#krate::__private::prefetch(#s_args, __j);)*
                        __j += __line;
                    }
                    {
                        let (__lo, __hi) = (__p0, __p0 + __block);
                        #range
                    }
                    __p0 += __block;
                }
                let (__lo, __hi) = (__full, __n);
                #range
            }
        }
    };
    let plain_loop = main_loop(loop_fn, &plain_range, quote!(), quote!());
    // Only x86-64 has a build with AVX512_BF16. Safety: the CPU has AVX-512 F, DQ and
    // BF16 (`Store::store_16`'s contract).
    let hw_loop = main_loop(
        &hw_loop_fn,
        &blocked_range,
        quote!(#[cfg(target_arch = "x86_64")]),
        quote!(unsafe),
    );
    quote! {
        #plain_loop
        #hw_loop

        #[inline(always)]
        #[allow(clippy::too_many_arguments)]
        fn #red_loop_fn<F: #krate::Float, __IO: #krate::__private::Io<F>, #(#s_generics: #krate::__private::Store<F>,)* __R: #red_sig>(
            __r: &__R, __io: &mut __IO, __leaf: usize, __base: usize, __masks: [bool; #m], __shape: &[usize], #(#s_args: &mut [#s_generics],)*
        ) -> [f64; #r] {
            let __n = __io.len();
            let __len: usize = __shape.iter().product();
            #(let #s_args = &#s_args[..__n];)*
            // The order of `__private::reduce`, written out so the fused element code
            // inlines into the loop.
            let mut __acc = #krate::__private::Lanes::<#r>::default();
            let __blocks = __n / #krate::__private::LANES;
            for __b in 0..__blocks {
                let mut __vals = [[F::zero(); #r]; #krate::__private::LANES];
                for (__l, __v) in __vals.iter_mut().enumerate() {
                    let __i = __b * #krate::__private::LANES + __l;
                    *__v = __r(
                        __io.g(__i), __io.p(__i),
                        #krate::__private::Pos { leaf: __leaf, index: __base + __i, len: __len },
                        __shape,
                        __masks,
                        #(#krate::__private::Store::<F>::load(#s_args[__i]),)*
                    );
                }
                __acc.block(&__vals);
            }
            for __i in __blocks * #krate::__private::LANES..__n {
                __acc.tail(__r(
                    __io.g(__i), __io.p(__i),
                    #krate::__private::Pos { leaf: __leaf, index: __base + __i, len: __len },
                    __shape,
                    __masks,
                    #(#krate::__private::Store::<F>::load(#s_args[__i]),)*
                ));
            }
            __acc.finish()
        }

        #red_dispatch
        #main_dispatch
    }
}

/// A dispatch function compiled three times: for the target's baseline and, on x86-64,
/// with AVX2 and FMA enabled (the loops it inlines get 8-lane vectors) and with AVX-512
/// (16 lanes), chosen per call by `__private::simd()` (detected once; `OPTIM_SIMD` caps
/// it); the main loop's dispatch has a fourth copy, with AVX512_BF16, for chunks that
/// write bf16 state (`bf16` below). The wider code gives the same bits, NaNs aside: every
/// operation the loops do is correctly rounded per element (Rust never contracts
/// `a * b + c` into a fused multiply-add, and `mul_add` is fused in all), the hardware
/// bf16 narrowing is used only on blocks where it equals the software one, and
/// reductions add in the order the source writes, whatever the width.
struct Versioned<'a> {
    krate: &'a TokenStream,
    name: &'a syn::Ident,
    generics: TokenStream,
    params: TokenStream,
    args: TokenStream,
    ret: TokenStream,
    body: TokenStream,
    /// A guard and the body of a fourth copy, with AVX512_BF16 as well, which
    /// `Simd::Avx512Bf16` runs where the guard holds; elsewhere, and without one, that
    /// level runs the AVX-512 copy.
    bf16: Option<(TokenStream, TokenStream)>,
}

fn versioned(v: Versioned<'_>) -> TokenStream {
    let Versioned {
        krate,
        name,
        generics,
        params,
        args,
        ret,
        body,
        bf16,
    } = v;
    let plain = format_ident!("{}_plain", name);
    let wide = format_ident!("{}_avx2", name);
    let wider = format_ident!("{}_avx512", name);
    let (hw_copy, hw_arm) = match bf16 {
        Some((guard, hw_body)) => {
            let hw = format_ident!("{}_avx512bf16", name);
            (
                quote! {
                    #[cfg(target_arch = "x86_64")]
                    #[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512bw,avx512dq,avx512bf16")]
                    #[allow(clippy::too_many_arguments, unused_variables, unused_assignments, unused_mut)]
                    unsafe fn #hw<#generics>(#params) #ret {
                        #hw_body
                    }
                },
                // SAFETY: `simd()` is `Avx512Bf16` only where the CPU has these features.
                quote!(#krate::__private::Simd::Avx512Bf16 if #guard => return unsafe { #hw(#args) },),
            )
        }
        None => (quote!(), quote!()),
    };
    quote! {
        #[inline(always)]
        #[allow(clippy::too_many_arguments, unused_variables, unused_assignments, unused_mut)]
        fn #plain<#generics>(#params) #ret {
            #body
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn #wide<#generics>(#params) #ret {
            #plain(#args)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512bw,avx512dq")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn #wider<#generics>(#params) #ret {
            #plain(#args)
        }

        #hw_copy

        #[allow(clippy::too_many_arguments)]
        fn #name<#generics>(#params) #ret {
            #[cfg(target_arch = "x86_64")]
            match #krate::__private::simd() {
                #hw_arm
                // SAFETY: `simd()` is `Avx512` (or `Avx512Bf16`) only where the CPU has
                // these features.
                #krate::__private::Simd::Avx512 | #krate::__private::Simd::Avx512Bf16 => return unsafe { #wider(#args) },
                // SAFETY: `simd()` is `Avx2` only where the CPU has AVX2 and FMA.
                #krate::__private::Simd::Avx2 => return unsafe { #wide(#args) },
                #krate::__private::Simd::Baseline => {}
            }
            #plain(#args)
        }
    }
}

/// For each stage with a `tree_sum`: the loop that sums a chunk of a leaf reading the
/// stage's state (monomorphized per storage dtype), and its dispatch.
pub fn tree_loops(cx: &Cx) -> TokenStream {
    let krate = &cx.krate;
    let mut out = TokenStream::new();
    for (i, s) in cx.k.stages.iter().enumerate() {
        if s.decl.body.tree_reduce.is_none() {
            continue;
        }
        let f = &cx.k.head.fn_name;
        let (lp, dp) = (
            format_ident!("__{}_tree_loop_{}", f, i),
            format_ident!("__{}_tree_dispatch_{}", f, i),
        );
        let bufs: Vec<BufDef> = s
            .bufs
            .iter()
            .map(|&b| {
                let d = &cx.k.bufs[b];
                BufDef {
                    name: d.name.clone(),
                    stage: d.stage,
                    local: d.local,
                    absent: d.absent,
                    dtype: d.dtype,
                    shared: d.shared,
                    from_params: d.from_params,
                }
            })
            .collect();
        let nb = bufs.len();
        let m = cx.k.masks.len();
        let names: Vec<_> = bufs.iter().map(|b| b.name.clone()).collect();
        let tys: Vec<_> = (0..nb).map(|_| quote!(F)).collect();
        let sg: Vec<_> = (0..nb).map(|j| format_ident!("__S{}", j)).collect();
        let sa: Vec<_> = (0..nb).map(|j| format_ident!("__s{}", j)).collect();
        let body = dispatch(
            cx,
            &bufs,
            &(
                quote!(__out = #lp),
                quote!(__r, __g, __p, __leaf, __base, __len, __shape, __masks,),
            ),
            0,
            &mut Vec::new(),
            None,
        );
        out.extend(quote! {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn #lp<F: #krate::Float, #(#sg: #krate::__private::Store<F>,)* __R: Fn(F, F, #krate::__private::Pos, &[usize], [bool; #m], #(#tys),*) -> [F; __N], const __N: usize>(
                __r: &__R, __g: &[F], __p: ::core::option::Option<&[F]>, __leaf: usize, __base: usize, __len: usize, __shape: &[usize], __masks: [bool; #m], #(#sa: &mut [#sg],)*
            ) -> [f64; __N] {
                let __n = __g.len();
                #(let #sa = &#sa[..__n];)*
                let __p = __p.map(|__p| &__p[..__n]);
                #krate::exec::block_sum::<F, __N>(0, __n, |__i| {
                    let __pv = match __p {
                        ::core::option::Option::Some(__p) => __p[__i],
                        ::core::option::Option::None => F::zero(),
                    };
                    __r(
                        __g[__i], __pv,
                        #krate::__private::Pos { leaf: __leaf, index: __base + __i, len: __len },
                        __shape,
                        __masks,
                        #(#krate::__private::Store::<F>::load(#sa[__i]),)*
                    )
                })
            }

        });
        out.extend(versioned(Versioned {
            krate,
            name: &dp,
            generics: quote!(F: #krate::Float, __R: Fn(F, F, #krate::__private::Pos, &[usize], [bool; #m], #(#tys),*) -> [F; __N], const __N: usize),
            params: quote!(__r: &__R, __g: &[F], __p: ::core::option::Option<&[F]>, __leaf: usize, __base: usize, __len: usize, __shape: &[usize], __masks: [bool; #m], __bs: [#krate::exec::BufSlice<'_, F>; #nb]),
            args: quote!(__r, __g, __p, __leaf, __base, __len, __shape, __masks, __bs),
            ret: quote!(-> [f64; __N]),
            body: quote! {
                let mut __out = [0f64; __N];
                let [#(#names),*] = __bs;
                #body
                __out
            },
            bf16: None,
        }));
    }
    out
}

/// Nested matches over each buffer's storage variant; the innermost arm runs `call`
/// (a loop call missing its trailing buffer-slice arguments). `hw` is `None` for the
/// loops of every build but AVX512_BF16's, and for that one whether a buffer matched so
/// far is bf16: its innermost arms call the (unsafe) blocked loop where one is, and
/// are unreachable elsewhere (the selector runs that build only on chunks with a bf16 buffer).
fn dispatch(
    cx: &Cx,
    bufs: &[BufDef],
    call: &(TokenStream, TokenStream),
    i: usize,
    bound: &mut Vec<TokenStream>,
    hw: Option<bool>,
) -> TokenStream {
    let krate = &cx.krate;
    if i == bufs.len() {
        let (head, args) = call;
        return match hw {
            None => quote!(#head(#args #(#bound),*);),
            // SAFETY: the AVX512_BF16 build runs only where the CPU has it.
            Some(true) => quote!(unsafe { #head(#args #(#bound),*) };),
            Some(false) => quote!(::core::unreachable!("a bf16 buffer was checked for");),
        };
    }
    let b = &bufs[i];
    let name = &b.name;
    let v = format_ident!("__v{}", i);
    let mut arms = Vec::new();
    let mut arm = |pat: TokenStream,
                   setup: TokenStream,
                   slice: TokenStream,
                   bound: &mut Vec<TokenStream>,
                   bf16: bool| {
        bound.push(slice);
        let inner = dispatch(cx, bufs, call, i + 1, bound, hw.map(|seen| seen || bf16));
        bound.pop();
        arms.push(quote!(#pat => { #setup #inner }));
    };
    arm(
        quote!(#krate::exec::BufSlice::Native(#v)),
        quote!(),
        quote!(#v),
        bound,
        false,
    );
    if b.dtype {
        for variant in ["F32", "F64", "BF16", "F16"] {
            let var = format_ident!("{}", variant);
            arm(
                quote!(#krate::exec::BufSlice::#var(#v)),
                quote!(),
                quote!(#v),
                bound,
                variant == "BF16",
            );
        }
    }
    if b.absent {
        arm(
            quote!(#krate::exec::BufSlice::Absent(#v)),
            quote!(let mut #v = #krate::exec::absent(#v);),
            quote!(#v.as_mut_slice()),
            bound,
            false,
        );
    }
    let total = 1 + if b.dtype { 4 } else { 0 } + usize::from(b.absent);
    // `BufPtr::of` refused any other variant when the step recorded the leaf.
    let rest = if total < 6 {
        quote!(_ => ::core::unreachable!("the storage was checked when the step recorded the leaf"),)
    } else {
        quote!()
    };
    quote! {
        match #name {
            #(#arms)*
            #rest
        }
    }
}
