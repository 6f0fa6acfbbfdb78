//! The function's parameters: hyperparameters (`#[default]`, `#[one_of]`, `#[check]`) and
//! state buffers (`#[state(...)]`). In a fused composition a parameter may be `name: _`,
//! taking its type from the stage argument it feeds.

use super::{classify, is_doc, last_ident, ty_string, Hyper, Kind, Names, StateBuf, PLAIN_TYPES};
use crate::errors::Errors;
use quote::ToTokens;
use syn::{Attribute, Expr, FnArg, Pat, Type};

pub fn parse(
    func: &syn::ItemFn,
    composite: bool,
    names: &mut Names,
    errs: &mut Errors,
) -> (Vec<Hyper>, Vec<StateBuf>) {
    let mut hypers = Vec::new();
    let mut states = Vec::new();
    for arg in &func.sig.inputs {
        let FnArg::Typed(pt) = arg else {
            errs.at(arg, "an optimizer declaration takes no `self`");
            continue;
        };
        let Pat::Ident(pi) = &*pt.pat else {
            errs.at(&pt.pat, "expected a plain argument name");
            continue;
        };
        let name = pi.ident.clone();
        let docs: Vec<Attribute> = pt.attrs.iter().filter(|a| is_doc(a)).cloned().collect();
        let mut default = None;
        let mut one_of: Vec<String> = Vec::new();
        let mut checks: Vec<Expr> = Vec::new();
        let mut state_attr: Option<&Attribute> = None;
        let mut at_t: Option<&Attribute> = None;
        for a in pt.attrs.iter().filter(|a| !is_doc(a)) {
            if a.path().is_ident("default") {
                match &a.meta {
                    syn::Meta::List(l) => match syn::parse2::<Expr>(l.tokens.clone()) {
                        Ok(e) => default = Some(e),
                        Err(e) => errs.push(e),
                    },
                    syn::Meta::NameValue(nv) => default = Some(nv.value.clone()),
                    syn::Meta::Path(_) => errs.at(a, "expected `#[default(value)]`"),
                }
            } else if a.path().is_ident("state") {
                state_attr = Some(a);
            } else if a.path().is_ident("one_of") {
                let r = a.parse_args_with(
                    syn::punctuated::Punctuated::<syn::LitStr, syn::Token![,]>::parse_terminated,
                );
                match r {
                    Ok(l) => one_of = l.iter().map(|s| s.value()).collect(),
                    Err(e) => errs.push(e),
                }
            } else if a.path().is_ident("at") {
                match a.parse_args::<syn::Ident>() {
                    Ok(i) if i == "t" => at_t = Some(a),
                    _ => errs.at(a, "expected `#[at(t)]`: the rate at the 1-based step `t`"),
                }
            } else if a.path().is_ident("check") {
                match a.parse_args::<Expr>() {
                    Ok(e) => checks.push(e),
                    Err(e) => errs.push(e),
                }
            } else {
                errs.at(
                    a,
                    format!(
                        "unknown attribute `#[{}]`; expected `#[default(...)]`, `#[one_of(...)]`, `#[check(...)]`, `#[at(t)]` or `#[state(...)]`",
                        a.path().to_token_stream().to_string().replace(' ', "")
                    ),
                );
            }
        }
        if let Some(sa) = state_attr {
            names.claim(errs, &name);
            if composite {
                errs.at(
                    sa,
                    "a fused composition keeps the state of its stages and declares none",
                );
                continue;
            }
            if let Some(s) = state(sa, &name, &pt.ty, &default, docs, names, errs) {
                states.push(s);
            }
            continue;
        }
        names.claim(errs, &name);
        if let Some(a) = at_t {
            let rate = matches!(classify(&pt.ty), Some(Kind::Rate | Kind::OptRate));
            if composite || !rate {
                errs.at(
                    a,
                    "`#[at(t)]` applies to a `LearningRate` argument of an elementary declaration",
                );
            }
        }
        if let Type::Infer(_) = &*pt.ty {
            if !composite {
                errs.at(
                    &pt.ty,
                    "`_` takes the type of the stage argument of the same name: only fused compositions (`fuse(...)`) have stages",
                );
                continue;
            }
            hypers.push(Hyper {
                name,
                ty: None,
                kind: None,
                default,
                docs,
                one_of,
                checks,
                at_t: false,
            });
            continue;
        }
        let Some(kind) = classify(&pt.ty) else {
            errs.at(
                &pt.ty,
                format!(
                    "unsupported hyperparameter type `{}`; expected LearningRate, Option<LearningRate>, Mask, String (with #[one_of]), {}",
                    ty_string(&pt.ty),
                    PLAIN_TYPES.join(", ")
                ),
            );
            continue;
        };
        if kind == Kind::Choice && one_of.is_empty() {
            errs.at(
                &pt.ty,
                format!("`{name}: String` needs its allowed values: `#[one_of(\"a\", \"b\")]`"),
            );
        }
        if kind != Kind::Choice && !one_of.is_empty() {
            errs.at(
                &pt.ty,
                "`#[one_of(...)]` applies to `String` arguments only",
            );
        }
        if !checks.is_empty() && !kind.is_scalar() {
            errs.at(
                &pt.ty,
                "`#[check(...)]` applies to numbers, bools, rates and string choices",
            );
        }
        hypers.push(Hyper {
            name,
            ty: Some((*pt.ty).clone()),
            kind: Some(kind),
            default,
            docs,
            one_of,
            checks,
            at_t: at_t.is_some(),
        });
    }
    // A `#[state(dtype = name)]` generates the argument `name: Option<Dtype>`.
    for s in &states {
        if let Some(d) = &s.dtype {
            let krate = crate::krate();
            let text = format!(
                " Storage dtype of the `{}` state; `None` stores it in the params' dtype.",
                s.name
            );
            hypers.push(Hyper {
                name: d.clone(),
                ty: Some(syn::parse_quote!(Option<#krate::Dtype>)),
                kind: Some(Kind::Dtype),
                default: None,
                docs: vec![syn::parse_quote!(#[doc = #text])],
                one_of: vec![],
                checks: vec![],
                at_t: false,
            });
        }
    }
    (hypers, states)
}

fn state(
    sa: &Attribute,
    name: &syn::Ident,
    ty: &Type,
    default: &Option<Expr>,
    docs: Vec<Attribute>,
    names: &mut Names,
    errs: &mut Errors,
) -> Option<StateBuf> {
    if last_ident(ty).as_deref() != Some("State") {
        errs.at(ty, format!("state buffer `{name}` must have type `State`"));
    }
    if let Some(d) = default {
        errs.at(
            d,
            "a state buffer takes `#[state(init = ...)]`, not `#[default]`",
        );
    }
    let mut sb = StateBuf {
        name: name.clone(),
        per_leaf: false,
        per_tree: false,
        from_params: false,
        init: None,
        dtype: None,
        enabled: None,
        docs,
    };
    if let syn::Meta::List(_) = &sa.meta {
        let r = sa.parse_nested_meta(|meta| {
            if meta.path.is_ident("init") {
                let e: Expr = meta.value()?.parse()?;
                if matches!(&e, Expr::Path(p) if p.path.is_ident("params")) {
                    sb.from_params = true;
                } else {
                    sb.init = Some(e);
                }
            } else if meta.path.is_ident("dtype") {
                sb.dtype = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("enabled") {
                sb.enabled = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("leaf") {
                sb.per_leaf = true;
            } else if meta.path.is_ident("tree") {
                sb.per_tree = true;
            } else {
                return Err(meta.error(format!(
                    "unknown state option `{}`; expected `init`, `dtype`, `enabled`, `leaf` or `tree`",
                    meta.path.to_token_stream().to_string().replace(' ', "")
                )));
            }
            Ok(())
        });
        if let Err(e) = r {
            errs.push(e);
        }
    }
    if let Some(d) = &sb.dtype {
        names.claim(errs, d);
    }
    if sb.per_leaf && (sb.dtype.is_some() || sb.enabled.is_some()) {
        errs.at(
            sa,
            "a per-leaf state (`#[state(leaf)]`) takes only `init`: it is one scalar per leaf",
        );
    }
    if sb.per_tree && (sb.dtype.is_some() || sb.enabled.is_some() || sb.per_leaf) {
        errs.at(
            sa,
            "a per-tree state (`#[state(tree)]`) takes only `init`: it is one scalar for the whole tree",
        );
    }
    if sb.from_params && (sb.per_leaf || sb.per_tree) {
        errs.at(
            sa,
            "`init = params` copies the params: only a per-element state starts from them",
        );
    }
    Some(sb)
}
