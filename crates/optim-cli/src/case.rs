//! The case-file format of the optax reference set (see its README): one optimizer, its
//! optax-style arguments, a problem, initial params, a step count and the expected trace.

use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// One named leaf as written in a case file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLeaf {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// Leaves by name.
pub type RawTree = BTreeMap<String, RawLeaf>;

/// The objective a case minimizes.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Problem {
    /// f(x) = Σ x².
    SumSquares,
    /// f(x) = ½ Σ w·(x − c)².
    Quadratic { weight: RawTree, center: RawTree },
    /// f(x) = Σᵢ 100·(xᵢ₊₁ − xᵢ²)² + (1 − xᵢ)², over the one leaf.
    Rosenbrock,
}

/// The expected trace.
#[derive(Clone, Debug, Deserialize)]
pub struct Expected {
    pub values: Vec<f64>,
    pub params: Vec<BTreeMap<String, Vec<f64>>>,
    /// For `inject_hyperparams` cases: the injected hyperparameters after each step.
    #[serde(default)]
    pub hyperparams: Option<Vec<BTreeMap<String, f64>>>,
    /// For schedule-free cases: `schedule_free_eval_params(state, params)` after each step.
    #[serde(default)]
    pub eval_params: Option<Vec<BTreeMap<String, Vec<f64>>>>,
}

/// Where a problem poisons the gradient: at these 0-based steps, element 0 of the first
/// leaf (in sorted order) becomes NaN or +Inf before it reaches the optimizer.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Poison {
    #[serde(default)]
    pub nan_steps: Vec<usize>,
    #[serde(default)]
    pub inf_steps: Vec<usize>,
}

/// One case.
#[derive(Clone, Debug, Deserialize)]
pub struct Case {
    pub id: String,
    /// The optimizer's registry name; for an expression case, its family (the case's
    /// `"family"`, else the expression's outermost function).
    pub optimizer: String,
    /// For an expression case (`"optimizer": {"fn": ..., "args": ...}`), the expression.
    #[serde(default)]
    pub expression: Option<Json>,
    /// The problem's gradient poisoning (`problem.nan_steps`, `problem.inf_steps`).
    #[serde(default)]
    pub poison: Poison,
    #[serde(default)]
    pub args: serde_json::Map<String, Json>,
    pub dtype: String,
    pub problem: Problem,
    pub init: RawTree,
    pub steps: usize,
    #[serde(default)]
    pub documented: Option<String>,
    #[serde(default)]
    pub expected: Option<Expected>,
}

/// One case of a file: parsed, or its id and what is wrong with it.
pub type ParsedCase = Result<Case, (String, String)>;

/// Reads a case file: a JSON array of cases, or one case. Each case is parsed on its own
/// so a malformed case becomes that case's error; a file that is not JSON is an error.
pub fn parse_file(text: &str) -> Result<Vec<ParsedCase>, String> {
    let json: Json = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let items = match json {
        Json::Array(v) => v,
        obj @ Json::Object(_) => vec![obj],
        _ => return Err("expected a JSON array of cases or one case object".into()),
    };
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let id = item
                .get("id")
                .and_then(Json::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("<case {i}>"));
            serde_json::from_value::<Case>(normalize(item))
                .map_err(|e| (id, format!("malformed case: {e}")))
        })
        .collect())
}

/// Moves an expression optimizer to `expression` (naming the case by its family) and the
/// problem's poisoning to `poison`, so the rest of a case reads as an optimizer case.
fn normalize(mut item: Json) -> Json {
    let Some(obj) = item.as_object_mut() else {
        return item;
    };
    if let Some(expr) = obj.get("optimizer").filter(|o| o.is_object()).cloned() {
        let family = obj
            .get("family")
            .and_then(Json::as_str)
            .or_else(|| expr.get("fn").and_then(Json::as_str))
            .unwrap_or("expression")
            .to_string();
        obj.insert("optimizer".into(), Json::String(family));
        obj.insert("expression".into(), expr);
    }
    obj.remove("family");
    if let Some(problem) = obj.get_mut("problem").and_then(Json::as_object_mut) {
        let mut poison = serde_json::Map::new();
        for key in ["nan_steps", "inf_steps"] {
            if let Some(v) = problem.remove(key) {
                poison.insert(key.into(), v);
            }
        }
        if !poison.is_empty() {
            obj.insert("poison".into(), Json::Object(poison));
        }
    }
    item
}
