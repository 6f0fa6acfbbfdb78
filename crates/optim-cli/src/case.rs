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
}

/// One case.
#[derive(Clone, Debug, Deserialize)]
pub struct Case {
    pub id: String,
    pub optimizer: String,
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
            serde_json::from_value::<Case>(item).map_err(|e| (id, format!("malformed case: {e}")))
        })
        .collect())
}
