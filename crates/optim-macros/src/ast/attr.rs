//! The arguments of `#[optimizer(...)]`: `unscaled`, `fuse(...)`, `doc_trace(...)`,
//! `alias(...)`.
//!
//! `fuse(stage, ...)` lists the stages of a fused composition, each a declared
//! primitive with optional bindings of its arguments:
//!
//! ```text
//! scale_by_adam                          // arguments merged by name with the composite's
//! trace(decay = momentum)                // `decay` is the composite's `momentum`
//! scale(step_size = -1.0)                // fixed to a per-step expression
//! when(centered, scale_by_stddev, scale_by_rms)   // one or the other, by a config bool
//! when(momentum.is_some(), trace(...))   // only when the condition holds
//! masked(scale_by_trust_ratio, trust_ratio_mask)  // only on the leaves the mask selects
//! ```

use crate::errors::Errors;
use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Token};

/// One stage of `fuse(...)`, flattened: `when` and `masked` become its condition and gate.
#[derive(Clone)]
pub struct StageSpec {
    /// The primitive's path (its function, which also names its declaration macro).
    pub path: syn::Path,
    /// `arg = expr` bindings.
    pub bindings: Vec<(Ident, Expr)>,
    /// `when(cond, ...)`: a configuration bool; the `else` stage of `when(c, a, b)` gets
    /// `!(c)`.
    pub cond: Option<Expr>,
    /// `masked(stage, mask)`: the composite's mask argument that selects the leaves.
    pub gate: Option<Ident>,
    /// The `when(c, a, b)` this stage is an alternative of (its index), if any: the two
    /// alternatives may share state buffers of the same name.
    pub alt: Option<usize>,
    /// The tokens the stage was written as, for error spans.
    pub tokens: TokenStream,
}

pub struct Attrs {
    pub unscaled: bool,
    pub trace: super::trace::Decl,
    pub stages: Option<Vec<StageSpec>>,
    pub partial: Option<Partial>,
}

/// `partial(base, arg = default, ...)`: the declaration `base` under a new name with other
/// defaults (optax's `functools.partial(adam, nesterov=True)`).
#[derive(Clone)]
pub struct Partial {
    pub base: syn::Path,
    pub defaults: Vec<(Ident, Expr)>,
}

pub fn parse(attr: TokenStream, errs: &mut Errors) -> Attrs {
    let mut out = Attrs {
        unscaled: false,
        trace: Default::default(),
        stages: None,
        partial: None,
    };
    if attr.is_empty() {
        return out;
    }
    let parser = syn::meta::parser(|meta| {
        if super::trace::Decl::knows(&meta.path) {
            out.trace.parse(&meta)
        } else if meta.path.is_ident("unscaled") {
            out.unscaled = true;
            Ok(())
        } else if meta.path.is_ident("fuse") {
            let content;
            syn::parenthesized!(content in meta.input);
            let list = Punctuated::<Expr, Token![,]>::parse_terminated(&content)?;
            if out.stages.is_some() {
                return Err(meta.error("duplicate `fuse(...)`"));
            }
            let mut stages = Vec::new();
            let mut alts = 0;
            for e in &list {
                flatten(e, None, None, None, &mut alts, &mut stages)?;
            }
            if stages.is_empty() {
                return Err(meta.error("`fuse(...)` needs at least one stage"));
            }
            out.stages = Some(stages);
            Ok(())
        } else if meta.path.is_ident("partial") {
            let content;
            syn::parenthesized!(content in meta.input);
            let list = Punctuated::<Expr, Token![,]>::parse_terminated(&content)?;
            let mut it = list.iter();
            let base = match it.next() {
                Some(Expr::Path(p)) if p.qself.is_none() => p.path.clone(),
                _ => return Err(meta.error("expected `partial(base, argument = default, ...)`")),
            };
            let mut defaults = Vec::new();
            for e in it {
                match e {
                    Expr::Assign(a) => match &*a.left {
                        Expr::Path(p) if p.path.get_ident().is_some() => defaults.push((
                            p.path.get_ident().cloned().expect("checked"),
                            (*a.right).clone(),
                        )),
                        other => {
                            return Err(syn::Error::new_spanned(other, "expected an argument name"))
                        }
                    },
                    other => {
                        return Err(syn::Error::new_spanned(
                            other,
                            "expected `argument = default`",
                        ))
                    }
                }
            }
            out.partial = Some(Partial { base, defaults });
            Ok(())
        } else if meta.path.is_ident("primitive") {
            Err(meta.error(
                "`primitive = ...` is gone: declare the primitive itself with #[optimizer(unscaled)] and compose the optimizer with `fuse(primitive, scale_by_learning_rate)`",
            ))
        } else {
            Err(meta.error(format!(
                "unknown #[optimizer] argument `{}`; expected `unscaled`, `fuse(...)`, `partial(...)`, `doc_trace(...)` or `alias(...)`",
                meta.path.to_token_stream().to_string().replace(' ', "")
            )))
        }
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, attr) {
        errs.push(e);
    }
    out
}

fn and(a: Option<Expr>, b: Expr) -> Expr {
    match a {
        None => b,
        Some(a) => syn::parse_quote!((#a) && (#b)),
    }
}

fn call_name(e: &Expr) -> Option<(&syn::Path, &Punctuated<Expr, Token![,]>)> {
    match e {
        Expr::Call(c) => match &*c.func {
            Expr::Path(p) if p.qself.is_none() => Some((&p.path, &c.args)),
            _ => None,
        },
        _ => None,
    }
}

fn flatten(
    e: &Expr,
    cond: Option<Expr>,
    gate: Option<Ident>,
    alt: Option<usize>,
    alts: &mut usize,
    out: &mut Vec<StageSpec>,
) -> syn::Result<()> {
    let tokens = e.to_token_stream();
    if let Some((path, args)) = call_name(e) {
        if path.is_ident("when") {
            let a: Vec<&Expr> = args.iter().collect();
            return match a.as_slice() {
                [c, s] => flatten(s, Some(and(cond, (*c).clone())), gate, alt, alts, out),
                [c, s, other] => {
                    let id = *alts;
                    *alts += 1;
                    flatten(
                        s,
                        Some(and(cond.clone(), (*c).clone())),
                        gate.clone(),
                        Some(id),
                        alts,
                        out,
                    )?;
                    let not: Expr = syn::parse_quote!(!(#c));
                    flatten(other, Some(and(cond, not)), gate, Some(id), alts, out)
                }
                _ => Err(syn::Error::new_spanned(
                    e,
                    "expected `when(condition, stage)` or `when(condition, stage, otherwise)`",
                )),
            };
        }
        if path.is_ident("masked") {
            let a: Vec<&Expr> = args.iter().collect();
            let [s, Expr::Path(m)] = a.as_slice() else {
                return Err(syn::Error::new_spanned(
                    e,
                    "expected `masked(stage, mask)`, with `mask` a mask argument of the composition",
                ));
            };
            let Some(m) = m.path.get_ident() else {
                return Err(syn::Error::new_spanned(
                    m,
                    "expected a mask argument's name",
                ));
            };
            if gate.is_some() {
                return Err(syn::Error::new_spanned(e, "one `masked` per stage"));
            }
            return flatten(s, cond, Some(m.clone()), alt, alts, out);
        }
        let mut bindings = Vec::new();
        for a in args {
            match a {
                Expr::Assign(asg) => match &*asg.left {
                    Expr::Path(p) if p.path.get_ident().is_some() => bindings.push((
                        p.path.get_ident().cloned().expect("checked"),
                        (*asg.right).clone(),
                    )),
                    other => {
                        return Err(syn::Error::new_spanned(
                            other,
                            "expected the name of an argument of the stage",
                        ))
                    }
                },
                other => {
                    return Err(syn::Error::new_spanned(
                        other,
                        "expected `argument = value`: a stage's arguments are bound by name",
                    ))
                }
            }
        }
        out.push(StageSpec {
            path: path.clone(),
            bindings,
            cond,
            gate,
            alt,
            tokens,
        });
        return Ok(());
    }
    match e {
        Expr::Path(p) if p.qself.is_none() => {
            out.push(StageSpec {
                path: p.path.clone(),
                bindings: Vec::new(),
                cond,
                gate,
                alt,
                tokens,
            });
            Ok(())
        }
        _ => Err(syn::Error::new_spanned(
            e,
            "expected a stage: a declared primitive (`scale_by_adam`), with bindings (`trace(decay = momentum)`), `when(condition, stage)` or `masked(stage, mask)`",
        )),
    }
}
