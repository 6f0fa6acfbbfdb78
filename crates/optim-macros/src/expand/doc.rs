//! The rustdoc generated from a declaration, in the seed's template: the user's summary,
//! the update equations, arguments with defaults and state (all taken from the same
//! tokens the kernel is generated from), the `# Examples` section of a documented trace
//! (`trace.rs`), then the user's references. A fused composition lists its stages, each
//! with its equations.

use crate::ast::{Decl, Kind};
use crate::lower::{Kernel, Source};
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

pub fn one_line(t: impl ToTokens) -> String {
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
pub fn render(k: &Kernel) -> TokenStream {
    let head = k.head;
    let refs_at = references_start(&head.docs).unwrap_or(head.docs.len());
    let (summary, refs) = head.docs.split_at(refs_at);
    let mut out = String::new();
    out.push_str("\n# Update\n\n");
    if k.composite {
        render_composite(k, &mut out);
    } else {
        render_equations(head, &mut out, true);
    }
    render_args(k, &mut out);
    render_state(k, &mut out);
    let lines = out.lines().map(|l| format!(" {l}"));
    let generated = quote!(#(#[doc = #lines])*);
    let examples = match &head.trace.spec {
        Some(spec) => {
            let e = super::trace::examples_doc(spec);
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

/// Replaces `jax!(name)` with `name`.
struct PlainJax;
impl syn::visit_mut::VisitMut for PlainJax {
    fn visit_expr_mut(&mut self, e: &mut syn::Expr) {
        if let Some(id) = crate::ast::jax_arg(e) {
            *e = syn::parse_quote!(#id);
            return;
        }
        syn::visit_mut::visit_expr_mut(self, e);
    }
}

/// The equations of an elementary declaration: per step, per leaf, per element.
fn render_equations(d: &Decl, out: &mut String, top: bool) {
    let b = &d.body;
    if !b.step_stmts.is_empty() || !b.helpers.is_empty() {
        // `jax!(b1)` reads as `b1` in the equations (its dtype is the value's own).
        let stmts: Vec<_> = b
            .step_stmts
            .iter()
            .map(|s| {
                let mut s = s.clone();
                syn::visit_mut::VisitMut::visit_stmt_mut(&mut PlainJax, &mut s);
                s
            })
            .collect();
        let helpers = b.helpers.iter().map(|(n, c)| quote!(let #n = #c;));
        out.push_str("Once per step, with `t` the 1-based step count:\n\n```text\n");
        out.push_str(&pretty(quote!(#(#stmts)* #(#helpers)*)));
        out.push_str("\n```\n\n");
    }
    if b.leaf_reduce.is_some() || !b.leaf_stmts.is_empty() {
        // The per-leaf section: the reduction over the leaf's elements (read-only), then
        // the per-leaf scalars and per-leaf state.
        let red = b.leaf_reduce.as_ref().map(|r| {
            let (pat, g, p, pos, body) = (&r.pat, &r.g, &r.p, &r.pos, &r.body);
            quote!(let #pat = leaf_sum(|#g, #p, #pos| #body);)
        });
        let stmts = &b.leaf_stmts;
        out.push_str("Once per leaf (`n` its element count), where `leaf_sum` sums over the leaf's elements (reading the state, not writing it):\n\n```text\n");
        out.push_str(
            &pretty(quote!(#red #(#stmts)*))
                .replace("|g, _, _|", "|g|")
                .replace(", _, _|", "|")
                .replace(", _|", "|"),
        );
        out.push_str("\n```\n\n");
    }
    let Some(el) = &b.elem else { return };
    let g = one_line(&el.g);
    let body_text = match &el.body {
        syn::Expr::Block(bl) => {
            let stmts = &bl.block.stmts;
            pretty(quote!(#(#stmts)*))
        }
        other => pretty(quote!(#other)),
    };
    out.push_str(&format!(
        "For every element, with `{g}` its {}{}; the value of the block is the {}:\n\n```text\n{body_text}\n```\n\n",
        if top { "gradient" } else { "incoming update" },
        if el.uses_p { format!(" and `{}` its parameter", one_line(&el.p)) } else { String::new() },
        if d.unscaled {
            "update"
        } else {
            "direction `d`, and the update is `-learning_rate * d`"
        }
    ));
}

/// A composition: its own per-step scalars, then each stage with its bindings and
/// equations.
fn render_composite(k: &Kernel, out: &mut String) {
    out.push_str("A fused composition: one pass over the elements applies these stages in order, each taking the previous one's output as its `g`.\n\n");
    if !k.pre.is_empty() {
        let stmts = &k.pre;
        out.push_str("Once per step:\n\n```text\n");
        out.push_str(&pretty(quote!(#(#stmts)*)));
        out.push_str("\n```\n\n");
    }
    for (i, s) in k.stages.iter().enumerate() {
        let path = one_line(&s.path);
        let mut line = format!("{}. [`{path}`]({path})", i + 1);
        let mut notes = Vec::new();
        for (h, src) in s.decl.hypers.iter().zip(&s.sources) {
            match src {
                Source::Arg(c) if *c != h.name => notes.push(format!("`{} = {c}`", h.name)),
                Source::Expr(e) => notes.push(format!("`{} = {}`", h.name, one_line(e))),
                _ => {}
            }
        }
        if !notes.is_empty() {
            line.push_str(&format!(" with {}", notes.join(", ")));
        }
        if let Some(c) = &s.cond {
            line.push_str(&format!(", only when `{}`", one_line(c)));
        }
        if let Some(g) = s.gate {
            line.push_str(&format!(", only on the leaves `{}` selects", k.masks[g]));
        }
        out.push_str(&line);
        out.push_str(":\n\n");
        let mut eq = String::new();
        render_equations(s.decl, &mut eq, false);
        for l in eq.lines() {
            if l.is_empty() {
                out.push('\n');
            } else {
                out.push_str("   ");
                out.push_str(l);
                out.push('\n');
            }
        }
    }
}

fn render_args(k: &Kernel, out: &mut String) {
    out.push_str("# Arguments\n\n| argument | type | default | meaning |\n|---|---|---|---|\n");
    for a in &k.args {
        let default = match (&a.default, a.kind) {
            (Some(d), _) => format!("`{}`", one_line(d)),
            (None, Kind::Mask) => "all leaves".into(),
            (None, Kind::Dtype) => "`None`".into(),
            (None, _) if one_line(&a.ty).starts_with("Option") => "`None`".into(),
            (None, _) => "required".into(),
        };
        let mut meaning = doc_text(&a.docs).replace('|', "\\|");
        if !a.doc_checks.is_empty() {
            let checks: Vec<String> = a.doc_checks.iter().map(|c| format!("`{c}`")).collect();
            meaning.push_str(&format!(
                " Valid: {}.",
                checks.join(", ").replace('|', "\\|")
            ));
        }
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            a.name,
            one_line(&a.ty),
            default,
            meaning
        ));
    }
}

fn render_state(k: &Kernel, out: &mut String) {
    if k.bufs.is_empty() && k.leaf_states.is_empty() && k.tree_states.is_empty() {
        return;
    }
    out.push_str(
        "\n# State\n\nPer element, in the params' element type unless a dtype is set:\n\n",
    );
    let decls = k
        .bufs
        .iter()
        .map(|b| (b.stage, k.stages[b.stage].decl.elem_states().nth(b.local)));
    let leafs = k
        .leaf_states
        .iter()
        .map(|l| (l.stage, k.stages[l.stage].decl.leaf_states().nth(l.local)));
    let trees = k
        .tree_states
        .iter()
        .map(|l| (l.stage, k.stages[l.stage].decl.tree_states().nth(l.local)));
    if k.bufs.is_empty() && k.leaf_states.is_empty() && k.tree_states.is_empty() {
        return;
    }
    for (si, s) in decls.chain(leafs).chain(trees) {
        let Some(s) = s else { continue };
        let init = if s.from_params {
            "the params".to_string()
        } else {
            format!("`{}`", s.init.as_ref().map_or("0".to_string(), one_line))
        };
        let mut line = format!("- `{}`, starting at {}", s.name, init);
        if s.per_leaf {
            line.push_str(", one per leaf");
        }
        if s.per_tree {
            line.push_str(", one for the whole tree");
        }
        if let Some(d) = &s.dtype {
            line.push_str(&format!(", stored as `{d}`"));
        }
        if let Some(e) = &s.enabled {
            line.push_str(&format!(", kept only when `{}`", one_line(e)));
        }
        if k.composite {
            line.push_str(&format!(" (of `{}`)", k.stages[si].decl.fn_name));
        }
        let d = doc_text(&s.docs);
        if !d.is_empty() {
            line.push_str(&format!(": {d}"));
        }
        out.push_str(&line);
        out.push('\n');
    }
}
