//! The rustdoc generated from a declaration, in the seed's template: the user's summary,
//! the update equations, arguments with defaults and state (all taken from the same
//! tokens the kernel is generated from), the `# Examples` section of a documented trace
//! (`trace.rs`), then the user's references.

use crate::model::{Kind, Model};
use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

/// Formats statements as Rust source with prettyplease, without the wrapping function.
fn pretty(stmts: TokenStream) -> String {
    let file: syn::File = match syn::parse2(quote!(fn __doc() { #stmts })) {
        Ok(f) => f,
        Err(_) => return stmts.to_string(),
    };
    let text = prettyplease::unparse(&file);
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() < 2 {
        return text;
    }
    lines[1..lines.len() - 1]
        .iter()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Formats an expression as Rust source on one line where it fits.
pub fn pretty_expr(e: &syn::Expr) -> String {
    let text = pretty(quote!(let __e = #e;));
    let text = text.trim();
    text.strip_prefix("let __e = ")
        .and_then(|t| t.strip_suffix(';'))
        .map(str::to_string)
        .unwrap_or_else(|| one_line(e))
}

/// The text of a doc attribute (`#[doc = "..."]`), if it is a plain string.
fn doc_line(a: &syn::Attribute) -> Option<String> {
    match &a.meta {
        syn::Meta::NameValue(nv) if nv.path.is_ident("doc") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    }
}

/// Where the references paragraph of a doc comment starts: the first line beginning
/// with `References:`, `Reference:` or a `# References` heading.
pub fn references_start(attrs: &[syn::Attribute]) -> Option<usize> {
    attrs.iter().position(|a| {
        doc_line(a).is_some_and(|l| {
            let l = l.trim_start();
            l.starts_with("References")
                || l.starts_with("Reference:")
                || l.starts_with("# Reference")
        })
    })
}

/// The user's references as a `# References` section.
fn references(attrs: &[syn::Attribute]) -> Vec<String> {
    let mut out = vec![String::new(), "# References".to_string(), String::new()];
    for (i, a) in attrs.iter().enumerate() {
        let Some(l) = doc_line(a) else { continue };
        let t = l.trim_start();
        if i == 0 {
            if t.starts_with('#') {
                continue;
            }
            let rest = t
                .strip_prefix("References:")
                .or_else(|| t.strip_prefix("Reference:"))
                .unwrap_or(t);
            out.push(format!(" {}", rest.trim_start()));
        } else {
            out.push(l);
        }
    }
    out
}

fn one_line(t: impl ToTokens) -> String {
    let s = t.to_token_stream().to_string();
    s.replace(" . ", ".")
        .replace(" (", "(")
        .replace("( ", "(")
        .replace(" )", ")")
        .replace(" ,", ",")
        .replace(":: ", "::")
        .replace(" ::", "::")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" <", "<")
        .replace("::optim_core::", "")
        .replace("::optim::", "")
}

fn doc_text(attrs: &[syn::Attribute]) -> String {
    attrs
        .iter()
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value().trim().to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The whole rustdoc of the config struct: summary, update, arguments, state, examples,
/// references.
pub fn render(m: &Model) -> TokenStream {
    let refs_at = references_start(&m.docs).unwrap_or(m.docs.len());
    let (summary, refs) = m.docs.split_at(refs_at);
    let generated = render_generated(m);
    let examples = match &m.trace.spec {
        Some(spec) => {
            let e = crate::trace::examples_doc(spec);
            quote!(#[doc = ""] #e)
        }
        None => quote!(),
    };
    let refs = if refs.is_empty() {
        Vec::new()
    } else {
        references(refs)
    };
    quote! {
        #(#summary)*
        #generated
        #examples
        #(#[doc = #refs])*
    }
}

fn render_generated(m: &Model) -> TokenStream {
    let mut out = String::new();
    out.push_str("\n# Update\n\n");
    if !m.step_stmts.is_empty() {
        let stmts = &m.step_stmts;
        let helpers = m.helpers.iter().map(|(n, c)| quote!(let #n = #c;));
        out.push_str("Once per step, with `t` the 1-based step count:\n\n```text\n");
        out.push_str(&pretty(quote!(#(#stmts)* #(#helpers)*)));
        out.push_str("\n```\n\n");
    }
    if m.leaf_reduce.is_some() || !m.leaf_stmts.is_empty() {
        // The per-leaf section: the reduction over the leaf's elements (read-only), then
        // the per-leaf scalars and per-leaf state.
        let red = m.leaf_reduce.as_ref().map(|r| {
            let (pat, g, p, pos, body) = (&r.pat, &r.g, &r.p, &r.pos, &r.body);
            quote!(let #pat = leaf_sum(|#g, #p, #pos| #body);)
        });
        let stmts = &m.leaf_stmts;
        out.push_str("Once per leaf, where `leaf_sum` sums over the leaf's elements (reading the state, not writing it):\n\n```text\n");
        out.push_str(
            &pretty(quote!(#red #(#stmts)*))
                .replace("|g, _, _|", "|g|")
                .replace(", _, _|", "|")
                .replace(", _|", "|"),
        );
        out.push_str("\n```\n\n");
    }
    let g = one_line(&m.elem.g);
    let body = &m.elem.body;
    let body_text = match body {
        syn::Expr::Block(b) => {
            let stmts = &b.block.stmts;
            pretty(quote!(#(#stmts)*))
        }
        other => pretty(quote!(#other)),
    };
    out.push_str(&format!(
        "For every element, with `{g}` its gradient{}; the value of the block is the {}:\n\n```text\n{body_text}\n```\n\n",
        if m.elem.uses_p { format!(" and `{}` its parameter", one_line(&m.elem.p)) } else { String::new() },
        if m.unscaled {
            "update"
        } else {
            "direction `d`, and the update is `-learning_rate * d`"
        }
    ));
    out.push_str("# Arguments\n\n| argument | type | default | meaning |\n|---|---|---|---|\n");
    for h in &m.hypers {
        let default = match (&h.default, h.kind) {
            (Some(d), _) => format!("`{}`", one_line(d)),
            (None, Kind::Mask) => "all leaves".into(),
            (None, Kind::Dtype) => "`None`".into(),
            (None, _) if one_line(&h.ty).starts_with("Option") => "`None`".into(),
            (None, _) => "required".into(),
        };
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            h.name,
            one_line(&h.ty),
            default,
            doc_text(&h.docs).replace('|', "\\|")
        ));
    }
    if !m.states.is_empty() {
        out.push_str(
            "\n# State\n\nPer element, in the params' element type unless a dtype is set:\n\n",
        );
        for s in &m.states {
            let init = s.init.as_ref().map_or("0".to_string(), one_line);
            let mut line = format!("- `{}`, starting at `{}`", s.name, init);
            if let Some(d) = &s.dtype {
                line.push_str(&format!(", stored as `{d}`"));
            }
            if let Some(e) = &s.enabled {
                line.push_str(&format!(", kept only when `{}`", one_line(e)));
            }
            let d = doc_text(&s.docs);
            if !d.is_empty() {
                line.push_str(&format!(": {d}"));
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    let lines = out.lines().map(|l| format!(" {l}"));
    quote!(#(#[doc = #lines])*)
}
