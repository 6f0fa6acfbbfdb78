//! Documented traces: `doc_trace(...)` and `alias(...)` in `#[optimizer(...)]`, and the
//! `#[doc_trace(...)]` attribute of hand-written optimizers.
//!
//! ```text
//! #[optimizer(doc_trace(solver = adam(0.003), printed = "1.40E+01 1.39E+01 ..."))]
//! #[optimizer(doc_trace(solver = polyak_sgd(), value, format = str, printed = "3.5 ..."))]
//! #[optimizer(doc_trace(...), alias(name = "x_fix", initial_fix = true))]
//! #[optimizer(doc_trace(solver = noisy_sgd(0.003), optax = digits, printed = "..."))]
//! #[doc_trace(solver = adafactor(0.003), printed = "...")]     // on a hand-written struct
//! ```
//!
//! This module parses them; `expand::trace` generates the rustdoc `# Examples` section
//! (the seed's example as a doctest that asserts the printed lines) and the impl of
//! `DocTraced` (the same example as a function, the documented numbers, the registry
//! aliases), which the registry and `cargo xtask verify` use.

use proc_macro2::Span;
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, Ident, Lit, LitStr};

/// The trace and aliases of one declaration.
#[derive(Default)]
pub struct Decl {
    pub spec: Option<Spec>,
    pub aliases: Vec<Alias>,
}

/// `doc_trace(solver = ..., printed = "...", [value], [format = str], [name = "..."])`.
pub struct Spec {
    pub span: Span,
    pub solver: Expr,
    pub numbers: Vec<String>,
    pub str_format: bool,
    pub value: bool,
    /// `objective`: each step also passes the objective (`Extra::with_objective`), which
    /// the line searches of `lbfgs` evaluate.
    pub objective: bool,
    pub digits_only: bool,
    pub name: Option<LitStr>,
}

/// `alias(name = "...", argument = literal, ...)`.
pub struct Alias {
    pub name: LitStr,
    pub fixed: Vec<(Ident, Lit)>,
}

impl Decl {
    /// Whether `path` is an `#[optimizer(...)]` argument this module parses.
    pub fn knows(path: &syn::Path) -> bool {
        path.is_ident("doc_trace") || path.is_ident("alias")
    }

    /// Parses `doc_trace(...)` or `alias(...)`.
    pub fn parse(&mut self, meta: &ParseNestedMeta) -> syn::Result<()> {
        if meta.path.is_ident("alias") {
            self.aliases.push(Alias::parse(meta)?);
            return Ok(());
        }
        if self.spec.is_some() {
            return Err(meta.error("duplicate `doc_trace`"));
        }
        let mut b = SpecBuilder::default();
        meta.parse_nested_meta(|m| b.item(&m, false))?;
        self.spec = Some(b.finish(meta.path.span())?);
        Ok(())
    }

    /// Checks the alias arguments against the declaration's argument names.
    pub fn check(&self, names: &[String]) -> Vec<syn::Error> {
        let mut errs = Vec::new();
        for a in &self.aliases {
            for (k, _) in &a.fixed {
                if !names.iter().any(|n| k == n) {
                    errs.push(syn::Error::new(
                        k.span(),
                        format!(
                            "alias fixes unknown argument `{k}`; expected one of: {}",
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
        errs
    }
}

impl Alias {
    fn parse(meta: &ParseNestedMeta) -> syn::Result<Alias> {
        let mut name = None;
        let mut fixed = Vec::new();
        meta.parse_nested_meta(|m| {
            let lit: Lit = m.value()?.parse()?;
            if m.path.is_ident("name") {
                match lit {
                    Lit::Str(s) => name = Some(s),
                    other => return Err(syn::Error::new(other.span(), "expected a string")),
                }
            } else if let Some(id) = m.path.get_ident() {
                if !matches!(
                    lit,
                    Lit::Bool(_) | Lit::Float(_) | Lit::Int(_) | Lit::Str(_)
                ) {
                    return Err(syn::Error::new(
                        lit.span(),
                        "expected a bool, number or string",
                    ));
                }
                fixed.push((id.clone(), lit));
            } else {
                return Err(m.error("expected `argument = value`"));
            }
            Ok(())
        })?;
        let name = name.ok_or_else(|| meta.error("alias needs `name = \"...\"`"))?;
        Ok(Alias { name, fixed })
    }
}

#[derive(Default)]
pub struct SpecBuilder {
    solver: Option<Expr>,
    printed: Option<LitStr>,
    str_format: bool,
    value: bool,
    objective: bool,
    digits_only: bool,
    name: Option<LitStr>,
}

impl SpecBuilder {
    pub fn item(&mut self, m: &ParseNestedMeta, allow_name: bool) -> syn::Result<()> {
        let key = m.path.to_token_stream().to_string().replace(' ', "");
        let dup = |set: bool| {
            if set {
                Err(m.error(format!("duplicate `{key}`")))
            } else {
                Ok(())
            }
        };
        match key.as_str() {
            "solver" => {
                dup(self.solver.is_some())?;
                self.solver = Some(m.value()?.parse()?);
            }
            "printed" => {
                dup(self.printed.is_some())?;
                self.printed = Some(m.value()?.parse()?);
            }
            "value" => {
                dup(self.value)?;
                self.value = true;
            }
            "objective" => {
                dup(self.objective)?;
                self.objective = true;
            }
            "format" => {
                let f: Ident = m.value()?.parse()?;
                match f.to_string().as_str() {
                    "e2" => self.str_format = false,
                    "str" => self.str_format = true,
                    _ => return Err(syn::Error::new(f.span(), "expected `e2` or `str`")),
                }
            }
            "optax" => {
                let f: Ident = m.value()?.parse()?;
                match f.to_string().as_str() {
                    "trace" => self.digits_only = false,
                    "digits" => self.digits_only = true,
                    _ => return Err(syn::Error::new(f.span(), "expected `trace` or `digits`")),
                }
            }
            "name" if allow_name => {
                dup(self.name.is_some())?;
                self.name = Some(m.value()?.parse()?);
            }
            _ => {
                return Err(m.error(format!(
                    "unknown doc_trace option `{key}`; expected `solver = ...`, `printed = \"...\"`, `value`, `objective`, `format = e2|str`, `optax = trace|digits`{}",
                    if allow_name { " or `name = \"...\"`" } else { "" }
                )))
            }
        }
        Ok(())
    }

    pub fn finish(self, span: Span) -> syn::Result<Spec> {
        let solver = self.solver.ok_or_else(|| {
            syn::Error::new(span, "doc_trace needs `solver = ...`, e.g. `adam(0.003)`")
        })?;
        if head(&solver).is_none() {
            return Err(syn::Error::new(
                solver.span(),
                "the solver must be a call such as `adam(0.003)` or `sgd(0.1).momentum(0.9)`",
            ));
        }
        let printed = self.printed.ok_or_else(|| {
            syn::Error::new(
                span,
                "doc_trace needs `printed = \"...\"`: the 5 documented values",
            )
        })?;
        let text = printed.value();
        let numbers: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        if numbers.len() != 5 {
            return Err(syn::Error::new(
                printed.span(),
                format!(
                    "expected the 5 documented values separated by spaces, found {}",
                    numbers.len()
                ),
            ));
        }
        for n in &numbers {
            let ok = if self.str_format {
                n.parse::<f32>().is_ok()
            } else {
                is_e2(n)
            };
            if !ok {
                return Err(syn::Error::new(
                    printed.span(),
                    format!(
                        "`{n}` is not a number as {}",
                        if self.str_format {
                            "numpy prints a float32 (`0.875`)"
                        } else {
                            "Python's '{:.2E}' prints it (`1.40E+01`); for `0.875` write `format = str`"
                        }
                    ),
                ));
            }
        }
        Ok(Spec {
            span,
            solver,
            numbers,
            str_format: self.str_format,
            value: self.value,
            objective: self.objective,
            digits_only: self.digits_only,
            name: self.name,
        })
    }
}

fn is_e2(n: &str) -> bool {
    let b = n.trim_start_matches('-').as_bytes();
    b.len() >= 8
        && b[0].is_ascii_digit()
        && b[1] == b'.'
        && b[2..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'E'
        && matches!(b[5], b'+' | b'-')
        && b[6..].iter().all(u8::is_ascii_digit)
}

/// The name the example imports: the function (or type) the solver expression starts
/// with, `adam` in `adam(0.003)` and `sgd` in `sgd(0.1).momentum(0.9)`.
pub fn head(e: &Expr) -> Option<Ident> {
    match e {
        Expr::MethodCall(m) => head(&m.receiver),
        Expr::Call(c) => head(&c.func),
        Expr::Path(p) if p.qself.is_none() => p.path.segments.first().map(|s| s.ident.clone()),
        Expr::Paren(p) => head(&p.expr),
        _ => None,
    }
}

pub fn snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e2_numbers() {
        assert!(is_e2("1.40E+01"));
        assert!(is_e2("-3.85E-01"));
        assert!(!is_e2("1.4E+01"));
        assert!(!is_e2("14.0"));
    }

    #[test]
    fn snake_case_of_a_type() {
        assert_eq!(snake("Adafactor"), "adafactor");
        assert_eq!(snake("Sm3"), "sm3");
        assert_eq!(snake("PolyakSgd"), "polyak_sgd");
    }

    #[test]
    fn head_of_a_builder_chain() {
        let e: Expr = syn::parse_quote!(sgd(0.1).momentum(0.9));
        assert_eq!(head(&e).unwrap().to_string(), "sgd");
        let e: Expr = syn::parse_quote!(0.5);
        assert!(head(&e).is_none());
    }
}
