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
//! From one declaration this generates the rustdoc `# Examples` section (the seed's example
//! as a doctest that asserts the printed lines) and an impl of `DocTraced` (the same
//! example as a function, the documented numbers, the registry aliases), which the
//! registry and `cargo xtask verify` use.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
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
struct SpecBuilder {
    solver: Option<Expr>,
    printed: Option<LitStr>,
    str_format: bool,
    value: bool,
    digits_only: bool,
    name: Option<LitStr>,
}

impl SpecBuilder {
    fn item(&mut self, m: &ParseNestedMeta, allow_name: bool) -> syn::Result<()> {
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
                    "unknown doc_trace option `{key}`; expected `solver = ...`, `printed = \"...\"`, `value`, `format = e2|str`, `optax = trace|digits`{}",
                    if allow_name { " or `name = \"...\"`" } else { "" }
                )))
            }
        }
        Ok(())
    }

    fn finish(self, span: Span) -> syn::Result<Spec> {
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
fn head(e: &Expr) -> Option<Ident> {
    match e {
        Expr::MethodCall(m) => head(&m.receiver),
        Expr::Call(c) => head(&c.func),
        Expr::Path(p) if p.qself.is_none() => p.path.segments.first().map(|s| s.ident.clone()),
        Expr::Paren(p) => head(&p.expr),
        _ => None,
    }
}

fn krate_name(krate: &TokenStream) -> String {
    krate
        .to_string()
        .replace(' ', "")
        .trim_start_matches("::")
        .to_string()
}

/// The rustdoc `# Examples` section: the seed's example as a doctest that asserts the
/// documented lines.
pub fn examples_doc(spec: &Spec) -> TokenStream {
    let krate = crate::krate();
    let k = krate_name(&krate);
    let solver = crate::doc::pretty_expr(&spec.solver);
    let head = head(&spec.solver)
        .map(|h| h.to_string())
        .unwrap_or_default();
    let (fmt_fn, sep) = if spec.str_format {
        ("python_str(f(&params))", "  ")
    } else {
        ("python_e2(f(&params).into())", " ")
    };
    let mut imports = vec!["python_e2", "python_str", "Transformation"];
    if spec.value {
        imports.insert(0, "Extra");
    }
    let step = if spec.value {
        "    let value = f(&params);\n    solver.step_with(&mut params, &grad, &mut state, &Extra::value(value.into()))?;"
    } else {
        "    solver.step(&mut params, &grad, &mut state)?;"
    };
    let mut expected = vec!["    \"Objective function:  14.0\",".to_string()];
    for n in &spec.numbers {
        expected.push(format!("    \"Objective function:{sep}{n}\","));
    }
    let intro = format!(
        "# Examples\n\n\
         The seed's example: 5 steps on f(x) = Σx² from x = [1, 2, 3] in float32 (gradient\n\
         2x), printing f as Python's `{}` does. The doctest asserts the printed lines, and\n\
         `cargo xtask verify` checks the same trace against its snapshot and optax.\n\n```",
        if spec.str_format {
            "print('Objective function: ', f(params))"
        } else {
            "'{:.2E}'"
        }
    );
    let before_import = format!("{intro}\nuse {k}::{{{}}};", imports.join(", "));
    let after_import = format!(
        "\nlet f = |x: &[f32]| -> f32 {{ x.iter().map(|v| v * v).sum() }};\n\
         let solver = {solver};\n\
         let mut params = vec![1.0f32, 2.0, 3.0];\n\
         let mut printed = vec![format!(\"Objective function:  {{}}\", python_str(f(&params)))];\n\
         let mut state = solver.init(&params)?;\n\
         for _ in 0..5 {{\n    \
         let grad: Vec<f32> = params.iter().map(|x| 2.0 * x).collect();\n\
         {step}\n    \
         printed.push(format!(\"Objective function:{sep}{{}}\", {fmt_fn}));\n\
         }}\n\
         println!(\"{{}}\", printed.join(\"\\n\"));\n\
         assert_eq!(printed, [\n{}\n]);\n\
         # Ok::<(), {k}::Error>(())\n```",
        expected.join("\n")
    );
    let before = before_import.lines().map(|l| format!(" {l}"));
    let after = after_import.lines().map(|l| format!(" {l}"));
    let import = format!("::{head};");
    quote! {
        #(#[doc = #before])*
        #[doc = concat!(" use ", module_path!(), #import)]
        #(#[doc = #after])*
    }
}

/// `impl DocTraced for #ty`.
pub fn doc_traced_impl(ty: &Ident, name: &str, decl: &Decl) -> TokenStream {
    let Some(spec) = &decl.spec else {
        return TokenStream::new();
    };
    let krate = crate::krate();
    let solver = &spec.solver;
    let solver_text = crate::doc::pretty_expr(solver);
    let value = spec.value;
    let format = if spec.str_format {
        quote!(#krate::PrintFormat::Str)
    } else {
        quote!(#krate::PrintFormat::E2)
    };
    let numbers = &spec.numbers;
    let optax = if spec.digits_only {
        quote!(#krate::doc_trace::OptaxCheck::DigitsOnly)
    } else {
        quote!(#krate::doc_trace::OptaxCheck::Trace)
    };
    let aliases = decl.aliases.iter().map(|a| {
        let n = &a.name;
        let fixed = a.fixed.iter().map(|(k, v)| {
            let k = k.to_string();
            let v = match v {
                Lit::Bool(b) => quote!(#krate::Value::Bool(#b)),
                Lit::Str(s) => quote!(#krate::Value::Str(::std::string::String::from(#s))),
                Lit::Float(f) => {
                    let x: f64 = f.base10_parse().unwrap_or(f64::NAN);
                    quote!(#krate::Value::Num(#x))
                }
                Lit::Int(i) => {
                    let x: f64 = i.base10_parse::<i64>().map_or(f64::NAN, |x| x as f64);
                    quote!(#krate::Value::Num(#x))
                }
                _ => quote!(#krate::Value::Null),
            };
            quote!((#k, #v))
        });
        quote!((#n, ::std::vec![#(#fixed),*]))
    });
    let aliases_fn = if decl.aliases.is_empty() {
        quote!()
    } else {
        quote! {
            fn aliases() -> ::std::vec::Vec<(&'static str, ::std::vec::Vec<(&'static str, #krate::Value)>)> {
                ::std::vec![#(#aliases),*]
            }
        }
    };
    let span = spec.span;
    let run = quote::quote_spanned! {span=>
        fn __run_doc_trace() -> ::core::result::Result<#krate::FullTrace, #krate::Error> {
            #krate::run_doc_trace(#solver, #value)
        }
    };
    quote! {
        impl #krate::DocTraced for #ty {
            const DOC_TRACE: #krate::DocTrace = #krate::DocTrace {
                name: #name,
                solver: #solver_text,
                value: #value,
                format: #format,
                printed: &[#(#numbers),*],
                optax: #optax,
                run: {
                    #run
                    __run_doc_trace
                },
            };
            #aliases_fn
        }
    }
}

/// `#[doc_trace(...)]` on a hand-written optimizer's struct: appends the Examples section
/// to its docs (before a references paragraph) and implements `DocTraced`.
pub fn attribute(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut input: syn::ItemStruct = match syn::parse2(item.clone()) {
        Ok(s) => s,
        Err(e) => {
            let mut out = syn::Error::new(
                e.span(),
                "#[doc_trace] goes on the struct of a hand-written optimizer",
            )
            .to_compile_error();
            out.extend(item);
            return out;
        }
    };
    let mut b = SpecBuilder::default();
    let parser = syn::meta::parser(|m| b.item(&m, true));
    let spec =
        syn::parse::Parser::parse2(parser, attr.clone()).and_then(|_| b.finish(Span::call_site()));
    let spec = match spec {
        Ok(s) => s,
        Err(e) => {
            let mut out = e.to_compile_error();
            out.extend(input.into_token_stream());
            return out;
        }
    };
    let name = spec
        .name
        .as_ref()
        .map(LitStr::value)
        .unwrap_or_else(|| snake(&input.ident.to_string()));
    let docs = examples_doc(&spec);
    let docs: Vec<syn::Attribute> = {
        let wrapper: syn::ItemStruct = syn::parse_quote!(#docs struct __D;);
        wrapper.attrs
    };
    let at = crate::doc::references_start(&input.attrs).unwrap_or(input.attrs.len());
    let mut attrs = input.attrs[..at].to_vec();
    attrs.push(syn::parse_quote!(#[doc = ""]));
    attrs.extend(docs);
    attrs.push(syn::parse_quote!(#[doc = ""]));
    attrs.extend(input.attrs[at..].iter().cloned());
    input.attrs = attrs;
    let decl = Decl {
        spec: Some(spec),
        aliases: Vec::new(),
    };
    let imp = doc_traced_impl(&input.ident, &name, &decl);
    quote!(#input #imp)
}

fn snake(camel: &str) -> String {
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
