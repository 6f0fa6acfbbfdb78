//! Generated code for documented traces: the rustdoc `# Examples` section, the
//! `DocTraced` impl, and the `#[doc_trace]` attribute of hand-written optimizers.

use crate::ast::trace::{head, snake, Decl, Spec, SpecBuilder};
use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::{Ident, Lit, LitStr};

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
    let solver = super::doc::pretty_expr(&spec.solver);
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
    if spec.objective {
        imports.insert(1, "Objective");
    }
    let step = if spec.objective {
        "    let value = f(&params);\n    let extra = Extra::value(value.into()).with_objective(objective.clone());\n    solver.step_with(&mut params, &grad, &mut state, &extra)?;"
    } else if spec.value {
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
    // With the objective, the line search evaluates f down to subnormal numbers, which
    // XLA's CPU backend flushes to zero; the example's f does the same.
    let f = if spec.objective {
        "// f(x) = Σx² as XLA evaluates it on CPU: subnormal squares flush to zero.\n\
         let f = |x: &[f32]| -> f32 {\n    \
         x.iter().map(|v| v * v).map(|s| if s.is_subnormal() { 0.0 } else { s }).sum()\n\
         };"
    } else {
        "let f = |x: &[f32]| -> f32 { x.iter().map(|v| v * v).sum() };"
    };
    let after_import = format!(
        "\n{f}\n\
         let solver = {solver};\n\
         let mut params = vec![1.0f32, 2.0, 3.0];\n\
         {objective}\
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
        expected.join("\n"),
        objective = if spec.objective {
            "let objective = Objective::of_tree(&params, move |x: &Vec<f32>| {\n    \
             Ok((f(x).into(), x.iter().map(|v| 2.0 * v).collect()))\n\
             });\n"
        } else {
            ""
        }
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
    let solver_text = super::doc::pretty_expr(solver);
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
    let run_call = if spec.objective {
        quote::quote_spanned! {span=> #krate::doc_trace::run_doc_trace_with_objective(#solver) }
    } else {
        quote::quote_spanned! {span=> #krate::run_doc_trace(#solver, #value) }
    };
    let run = quote::quote_spanned! {span=>
        fn __run_doc_trace() -> ::core::result::Result<#krate::FullTrace, #krate::Error> {
            #run_call
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
    let at = super::doc::references_start(&input.attrs).unwrap_or(input.attrs.len());
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
