//! The case-file format of the optax reference set (see its README): one optimizer, its
//! optax-style arguments, a problem, initial params, a step count and the expected trace.
//!
//! Parsing is strict: an unknown field anywhere in a case (a misspelt `"expectd"`, a stray
//! key in `problem`) is an error, and every error names the field's path in the case
//! (`problem.weight.w.data[2]`) and its line and column in the file. A malformed case is
//! that case's error; the other cases of the file still run.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// The most steps a case may ask for. A trace of more steps is not a test of anything
/// the reference set checks, and a count such as 2^61 or 10^12 is a typo or an attack:
/// it is refused before anything is allocated or run.
pub const MAX_STEPS: u64 = 1_000_000;

/// The most numbers a case's trace may hold (params at every step): bounds the output
/// a case can make `optim replay` write.
pub const MAX_TRACE_NUMBERS: u64 = 100_000_000;

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
#[derive(Clone, Debug)]
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
#[serde(deny_unknown_fields)]
pub struct Expected {
    pub values: Vec<f64>,
    pub params: Vec<BTreeMap<String, Vec<f64>>>,
    /// For `inject_hyperparams` cases: the injected hyperparameters after each step.
    #[serde(default)]
    pub hyperparams: Option<Vec<BTreeMap<String, f64>>>,
    /// For schedule-free cases: the evaluation params after each step.
    #[serde(default)]
    pub eval_params: Option<Vec<BTreeMap<String, Vec<f64>>>>,
}

/// Where a problem poisons the gradient: at these 0-based steps, element 0 of the first
/// leaf (in sorted order) becomes NaN or +Inf before it reaches the optimizer.
#[derive(Clone, Debug, Default)]
pub struct Poison {
    pub nan_steps: Vec<usize>,
    pub inf_steps: Vec<usize>,
}

/// One case.
#[derive(Clone, Debug)]
pub struct Case {
    pub id: String,
    /// The optimizer's registry name; for an expression case, its family (the case's
    /// `"family"`, else the expression's outermost function).
    pub optimizer: String,
    /// For an expression case (`"optimizer": {"fn": ..., "args": ...}`), the expression.
    pub expression: Option<Json>,
    /// The problem's gradient poisoning (`problem.nan_steps`, `problem.inf_steps`).
    pub poison: Poison,
    pub args: serde_json::Map<String, Json>,
    pub dtype: String,
    pub problem: Problem,
    pub init: RawTree,
    /// At most [`MAX_STEPS`].
    pub steps: usize,
    pub documented: Option<String>,
    pub expected: Option<Expected>,
}

/// One case of a file: parsed, or its id and what is wrong with it.
pub type ParsedCase = Result<Case, (String, String)>;

/// A case as the file spells it; [`Case`] is what it means.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCase {
    id: String,
    optimizer: OptimizerField,
    #[serde(default)]
    family: Option<String>,
    /// Free text the reference set attaches to a case (why it has fewer steps).
    #[serde(default, rename = "note")]
    _note: Option<String>,
    #[serde(default)]
    args: serde_json::Map<String, Json>,
    dtype: String,
    problem: FileProblem,
    init: RawTree,
    steps: u64,
    #[serde(default)]
    documented: Option<String>,
    #[serde(default)]
    expected: Option<Expected>,
}

/// `"optimizer"`: a registry name, or a transformation expression.
#[derive(Deserialize)]
#[serde(untagged)]
enum OptimizerField {
    Name(String),
    Expression(serde_json::Map<String, Json>),
}

/// `"problem"` as written: its kind, the quadratic's trees, and the poisoning.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileProblem {
    kind: String,
    #[serde(default)]
    weight: Option<RawTree>,
    #[serde(default)]
    center: Option<RawTree>,
    #[serde(default)]
    nan_steps: Vec<usize>,
    #[serde(default)]
    inf_steps: Vec<usize>,
}

impl FileProblem {
    fn into_problem(self) -> Result<(Problem, Poison), String> {
        let poison = Poison {
            nan_steps: self.nan_steps,
            inf_steps: self.inf_steps,
        };
        let problem = match (self.kind.as_str(), self.weight, self.center) {
            ("quadratic", Some(weight), Some(center)) => Problem::Quadratic { weight, center },
            ("quadratic", w, _) => {
                let missing = if w.is_none() { "weight" } else { "center" };
                return Err(format!("problem.{missing}: a quadratic needs it"));
            }
            (kind @ ("sum_squares" | "rosenbrock"), w, c) => {
                if let Some(field) = [("weight", w.is_some()), ("center", c.is_some())]
                    .iter()
                    .find_map(|&(f, present)| present.then_some(f))
                {
                    return Err(format!(
                        "problem.{field}: only a quadratic has it, not {kind}"
                    ));
                }
                if kind == "sum_squares" {
                    Problem::SumSquares
                } else {
                    Problem::Rosenbrock
                }
            }
            (other, _, _) => {
                return Err(format!(
                    "problem.kind: unknown problem {other:?}, expected \"sum_squares\", \
                     \"quadratic\" or \"rosenbrock\""
                ))
            }
        };
        Ok((problem, poison))
    }
}

impl FileCase {
    fn into_case(self) -> Result<Case, String> {
        if self.steps > MAX_STEPS {
            return Err(format!(
                "steps: {} is more than the {MAX_STEPS} a case may run",
                self.steps
            ));
        }
        let numel = self.init.iter().try_fold(0u64, |acc, (name, leaf)| {
            let n = optim_core::tree::numel(&leaf.shape).map(|n| n as u64);
            n.and_then(|n| acc.checked_add(n)).ok_or_else(|| {
                format!(
                    "init.{name}.shape: {:?} has more elements than fit in memory",
                    leaf.shape
                )
            })
        })?;
        let numbers = numel.saturating_mul(self.steps);
        if numbers > MAX_TRACE_NUMBERS {
            return Err(format!(
                "steps: {} steps of {numel} params make a trace of {numbers} numbers, more \
                 than the {MAX_TRACE_NUMBERS} a case may write",
                self.steps
            ));
        }
        let (problem, poison) = self.problem.into_problem()?;
        let (optimizer, expression) = match self.optimizer {
            OptimizerField::Name(name) => (name, None),
            OptimizerField::Expression(expr) => {
                let family = self
                    .family
                    .clone()
                    .or_else(|| expr.get("fn").and_then(Json::as_str).map(str::to_string))
                    .unwrap_or_else(|| "expression".to_string());
                (family, Some(Json::Object(expr)))
            }
        };
        Ok(Case {
            id: self.id,
            optimizer,
            expression,
            poison,
            args: self.args,
            dtype: self.dtype,
            problem,
            init: self.init,
            steps: self.steps as usize,
            documented: self.documented,
            expected: self.expected,
        })
    }
}

/// Reads a case file: a JSON array of cases, or one case. Each case is parsed on its own
/// so a malformed case becomes that case's error; a file that is not JSON is an error.
pub fn parse_file(text: &str) -> Result<Vec<ParsedCase>, String> {
    let items: Vec<&RawValue> = match serde_json::from_str::<Vec<&RawValue>>(text) {
        Ok(items) => items,
        Err(array_err) => match serde_json::from_str::<&RawValue>(text) {
            Ok(one) if one.get().trim_start().starts_with('{') => vec![one],
            Ok(_) => return Err("expected a JSON array of cases or one case object".into()),
            Err(_) => return Err(format!("not valid JSON: {array_err}")),
        },
    };
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, raw)| parse_case(text, raw, i))
        .collect())
}

/// Parses the `i`-th case, whose text `raw` lies inside the file's `text`; an error
/// names the case, the field's path and the line and column in the file.
fn parse_case(text: &str, raw: &RawValue, i: usize) -> ParsedCase {
    let id = serde_json::from_str::<Json>(raw.get())
        .ok()
        .and_then(|v| v.get("id").and_then(Json::as_str).map(str::to_string))
        .unwrap_or_else(|| format!("<case {i}>"));
    let (line0, col0) = position_of(text, raw.get());
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let file_case: FileCase = match serde_path_to_error::deserialize(&mut de) {
        Ok(c) => c,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let (line, col) = if inner.line() <= 1 {
                (line0, col0 + inner.column().saturating_sub(1))
            } else {
                (line0 + inner.line() - 1, inner.column())
            };
            let message = inner.to_string();
            let what = strip_position(&message);
            let at = if path == "." {
                String::new()
            } else {
                format!("{path}: ")
            };
            return Err((
                id,
                format!("malformed case: {at}{what} at line {line} column {col}"),
            ));
        }
    };
    file_case
        .into_case()
        .map_err(|e| (id, format!("malformed case: {e} (case at line {line0})")))
}

/// The 1-based line and column at which `part`, a slice of `text`, starts.
fn position_of(text: &str, part: &str) -> (usize, usize) {
    let offset = (part.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |p| p + 1) + 1;
    (line, col)
}

/// serde_json's message without its " at line L column C" suffix (it counts from the
/// case's start; [`parse_case`] reports the position in the file instead).
fn strip_position(msg: &str) -> &str {
    msg.rfind(" at line ").map_or(msg, |p| &msg[..p])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only_error(text: &str) -> String {
        let cases = parse_file(text).expect("a JSON file");
        assert_eq!(cases.len(), 1);
        cases.into_iter().next().unwrap().expect_err("malformed").1
    }

    #[test]
    fn a_type_error_names_the_path_line_and_column() {
        let text = "[\n  {\"id\": \"a\", \"optimizer\": \"sgd\", \"dtype\": \"float64\",\n   \"problem\": {\"kind\": \"sum_squares\"}, \"steps\": 2,\n   \"init\": {\"x\": {\"shape\": [2], \"data\": [1.0, \"two\"]}}}\n]";
        let e = only_error(text);
        assert!(e.contains("init.x.data[1]"), "{e}");
        assert!(e.contains("line 4 column"), "{e}");
    }

    #[test]
    fn unknown_fields_are_errors_naming_them() {
        let base = r#"{"id": "a", "optimizer": "sgd", "dtype": "float64", "steps": 1,
            "init": {"x": {"shape": [1], "data": [1.0]}}, "#;
        let e = only_error(&format!(
            r#"{base} "problem": {{"kind": "sum_squares"}}, "expectd": {{}}}}"#
        ));
        assert!(e.contains("expectd"), "{e}");
        let e = only_error(&format!(
            r#"{base} "problem": {{"kind": "sum_squares", "scale": 2}}}}"#
        ));
        assert!(e.contains("problem") && e.contains("scale"), "{e}");
    }

    #[test]
    fn step_counts_are_bounded_before_anything_runs() {
        for steps in [
            "2305843009213693952",
            "18446744073709551615",
            "1000000000000",
        ] {
            let e = only_error(&format!(
                r#"{{"id": "a", "optimizer": "sgd", "dtype": "float64", "steps": {steps},
                   "problem": {{"kind": "sum_squares"}},
                   "init": {{"x": {{"shape": [1], "data": [1.0]}}}}}}"#
            ));
            assert!(e.contains("steps") && e.contains(steps), "{e}");
        }
    }

    #[test]
    fn a_position_is_counted_in_the_file() {
        let text = "ab\ncd{x}";
        assert_eq!(position_of(text, &text[5..]), (2, 3));
        assert_eq!(position_of(text, text), (1, 1));
    }
}
