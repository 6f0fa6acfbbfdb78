//! Building a [`Boxed`] transformation from an expression (see the module docs of
//! [`crate::expr`]) or from a registered name and arguments.

use super::Boxed;
use crate::registry::{self, Visitor};
use crate::schedule::ScheduleSpec;
use crate::{
    apply_if_finite, chain_of, flatten, freeze, identity, inject_hyperparams, lookahead, masked,
    multi_steps, named_chain, partition, Dtype, Error, Float, Hyperparams, LearningRate, Mask,
    SkipUpdate, Transformation, Value,
};
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use std::fmt::Debug;

type Args = Map<String, Json>;

fn bad(transform: &str, arg: &str, detail: impl Into<String>) -> Error {
    Error::Hyper {
        transform: transform.into(),
        arg: arg.into(),
        detail: detail.into(),
    }
}

/// Converts one optax-style argument from JSON: `null`, a bool, a number, a string, a
/// schedule `{"schedule": name, ...}`, a mask `{leaf: bool}`, or a list (a tuple).
pub fn arg_value(transform: &str, name: &str, v: &Json) -> Result<Value, Error> {
    Ok(match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => Value::Num(
            n.as_f64()
                .ok_or_else(|| bad(transform, name, "number out of range"))?,
        ),
        Json::String(s) => Value::Str(s.clone()),
        Json::Object(o) if o.contains_key("schedule") => {
            let spec: ScheduleSpec = serde_json::from_value(v.clone())
                .map_err(|e| bad(transform, name, format!("bad schedule: {e}")))?;
            let s = spec
                .build()
                .map_err(|e| bad(transform, name, format!("bad schedule: {e}")))?;
            Value::Rate(LearningRate::Schedule(s))
        }
        Json::Object(o) => {
            let mut m = BTreeMap::new();
            for (k, b) in o {
                let b = b.as_bool().ok_or_else(|| {
                    bad(
                        transform,
                        name,
                        format!("mask entry `{k}` must be true or false"),
                    )
                })?;
                m.insert(k.clone(), b);
            }
            Value::Mask(Mask::Leaves(m))
        }
        // optax's tuple arguments (`betas`, DoG's `init_step`).
        Json::Array(items) => Value::List(
            items
                .iter()
                .map(|x| arg_value(transform, name, x))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// Builds the transformation an expression describes: `{"fn": name, "args": {...}}`, or
/// a bare name. Errors name the function and the argument.
pub fn build<F: Float>(expr: &Json) -> Result<Boxed<F>, Error> {
    match expr {
        Json::String(name) => node(name, &Args::new()),
        Json::Object(o) => {
            let name = o.get("fn").and_then(Json::as_str).ok_or_else(|| {
                bad(
                    "expression",
                    "fn",
                    "an expression needs \"fn\": \"<optax function>\"",
                )
            })?;
            if let Some(k) = o.keys().find(|k| *k != "fn" && *k != "args") {
                return Err(bad(
                    name,
                    k,
                    "unknown key; an expression has \"fn\" and \"args\"",
                ));
            }
            match o.get("args") {
                None => node(name, &Args::new()),
                Some(Json::Object(args)) => node(name, args),
                Some(_) => Err(bad(name, "args", "must be an object of keyword arguments")),
            }
        }
        _ => Err(bad(
            "expression",
            "fn",
            "an expression is a name or {\"fn\": ..., \"args\": {...}}",
        )),
    }
}

/// The registered optimizer `name` built from optax-style arguments, boxed.
pub fn from_name<F: Float>(name: &str, args: Vec<(String, Value)>) -> Result<Boxed<F>, Error> {
    registry::by_name::<F, _>(name, args, BoxIt)?
}

struct BoxIt;
impl<F: Float> Visitor<F> for BoxIt {
    type Out = Result<Boxed<F>, Error>;
    fn visit<T: Transformation<F> + Hyperparams + Clone + Debug + Send + Sync + 'static>(
        self,
        t: T,
    ) -> Self::Out
    where
        T::State: crate::StateTensors<F>,
    {
        Ok(Boxed::new(t))
    }
}

struct Inject(Vec<(String, LearningRate)>);
impl<F: Float> Visitor<F> for Inject {
    type Out = Result<Boxed<F>, Error>;
    fn visit<T: Transformation<F> + Hyperparams + Clone + Debug + Send + Sync + 'static>(
        self,
        t: T,
    ) -> Self::Out
    where
        T::State: crate::StateTensors<F>,
    {
        let mut inj = inject_hyperparams(t);
        for (name, v) in self.0 {
            inj = inj.hyperparam(name, v);
        }
        Ok(Boxed::injected(inj))
    }
}

/// The keyword arguments of `transform`, each checked against the names it takes.
struct Kwargs<'a> {
    transform: &'a str,
    args: &'a Args,
}

impl<'a> Kwargs<'a> {
    fn new(transform: &'a str, args: &'a Args, known: &[&str]) -> Result<Self, Error> {
        if let Some(k) = args.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(bad(
                transform,
                k,
                format!("unknown argument; expected one of: {}", known.join(", ")),
            ));
        }
        Ok(Kwargs { transform, args })
    }
    fn get(&self, name: &str) -> Option<&'a Json> {
        self.args.get(name).filter(|v| !v.is_null())
    }
    fn required(&self, name: &str) -> Result<&'a Json, Error> {
        self.get(name)
            .ok_or_else(|| bad(self.transform, name, "missing required argument"))
    }
    fn value(&self, name: &str) -> Result<Option<Value>, Error> {
        self.get(name)
            .map(|v| arg_value(self.transform, name, v))
            .transpose()
    }
    fn convert<T: crate::FromValue>(&self, name: &str, default: T) -> Result<T, Error> {
        match self.value(name)? {
            None => Ok(default),
            Some(v) => crate::config::convert(self.transform, name, v),
        }
    }
    fn inner<F: Float>(&self, name: &str) -> Result<Boxed<F>, Error> {
        build(self.required(name)?).map_err(|e| nested(self.transform, name, e))
    }
    fn mask(&self, name: &str) -> Result<Mask, Error> {
        self.convert(name, Mask::All)
    }
}

/// An error of a nested expression, with where it sits.
fn nested(transform: &str, arg: &str, e: Error) -> Error {
    match e {
        Error::Hyper {
            transform: t,
            arg: a,
            detail,
        } => Error::Hyper {
            transform: format!("{transform}.{arg}: {t}"),
            arg: a,
            detail,
        },
        other => other,
    }
}

fn node<F: Float>(name: &str, args: &Args) -> Result<Boxed<F>, Error> {
    match name {
        "identity" => {
            Kwargs::new(name, args, &[])?;
            Ok(Boxed::new(identity()))
        }
        "chain" => {
            let kw = Kwargs::new(name, args, &["transforms"])?;
            let list = kw
                .required("transforms")?
                .as_array()
                .ok_or_else(|| bad(name, "transforms", "must be a list"))?;
            let members = list
                .iter()
                .enumerate()
                .map(|(i, t)| build(t).map_err(|e| nested(name, &format!("transforms[{i}]"), e)))
                .collect::<Result<Vec<Boxed<F>>, _>>()?;
            Ok(Boxed::new(chain_of(members)))
        }
        "named_chain" => {
            let kw = Kwargs::new(name, args, &["transforms"])?;
            let list = kw
                .required("transforms")?
                .as_array()
                .ok_or_else(|| bad(name, "transforms", "must be a list"))?;
            let mut members = Vec::with_capacity(list.len());
            for (i, pair) in list.iter().enumerate() {
                let at = format!("transforms[{i}]");
                let (label, t) = match pair.as_array().map(Vec::as_slice) {
                    Some([Json::String(label), t]) => (label.clone(), t),
                    _ => return Err(bad(name, &at, "must be a [name, transformation] pair")),
                };
                members.push((label, build::<F>(t).map_err(|e| nested(name, &at, e))?));
            }
            Ok(Boxed::new(named_chain(members)))
        }
        "partition" | "multi_transform" => {
            let kw = Kwargs::new(name, args, &["transforms", "param_labels"])?;
            let map = kw.required("transforms")?.as_object().ok_or_else(|| {
                bad(
                    name,
                    "transforms",
                    "must be an object {label: transformation}",
                )
            })?;
            let mut members = BTreeMap::new();
            for (label, t) in map {
                members.insert(
                    label.clone(),
                    build::<F>(t).map_err(|e| nested(name, &format!("transforms.{label}"), e))?,
                );
            }
            let labels_json = kw
                .required("param_labels")?
                .as_object()
                .ok_or_else(|| bad(name, "param_labels", "must be an object {leaf: label}"))?;
            let mut labels = BTreeMap::new();
            for (leaf, l) in labels_json {
                let l = l.as_str().ok_or_else(|| {
                    bad(
                        name,
                        "param_labels",
                        format!("the label of `{leaf}` must be a string"),
                    )
                })?;
                labels.insert(leaf.clone(), l.to_string());
            }
            Ok(Boxed::new(partition(members, labels)))
        }
        "masked" => {
            let kw = Kwargs::new(name, args, &["inner", "mask"])?;
            Ok(Boxed::new(masked(
                kw.inner::<F>("inner")?,
                kw.mask("mask")?,
            )))
        }
        "freeze" => {
            let kw = Kwargs::new(name, args, &["mask"])?;
            kw.required("mask")?;
            Ok(Boxed::new(freeze(kw.mask("mask")?)))
        }
        "flatten" => {
            let kw = Kwargs::new(name, args, &["inner"])?;
            Ok(Boxed::new(flatten(kw.inner::<F>("inner")?)))
        }
        "apply_if_finite" => {
            let kw = Kwargs::new(name, args, &["inner", "max_consecutive_errors"])?;
            let max: u64 = crate::config::convert(
                name,
                "max_consecutive_errors",
                kw.value("max_consecutive_errors")?.ok_or_else(|| {
                    bad(name, "max_consecutive_errors", "missing required argument")
                })?,
            )?;
            Ok(Boxed::new(apply_if_finite(kw.inner::<F>("inner")?, max)))
        }
        "MultiSteps" => {
            let kw = Kwargs::new(
                name,
                args,
                &[
                    "opt",
                    "every_k_schedule",
                    "use_grad_mean",
                    "should_skip_update_fn",
                    "accumulator_dtype",
                ],
            )?;
            let k: LearningRate = crate::config::convert(
                name,
                "every_k_schedule",
                kw.value("every_k_schedule")?
                    .ok_or_else(|| bad(name, "every_k_schedule", "missing required argument"))?,
            )?;
            let skip = match kw.get("should_skip_update_fn") {
                None => SkipUpdate::Never,
                Some(Json::String(s)) if s == "skip_not_finite" => SkipUpdate::NotFinite,
                Some(Json::Object(o)) if o.get("fn").and_then(Json::as_str) == Some("skip_large_updates") => {
                    let m = o.get("args").and_then(|a| a.get("max_squared_norm")).and_then(Json::as_f64);
                    SkipUpdate::LargeUpdates {
                        max_squared_norm: m.ok_or_else(|| bad(name, "should_skip_update_fn", "skip_large_updates needs max_squared_norm"))?,
                    }
                }
                Some(_) => {
                    return Err(bad(name, "should_skip_update_fn", "expected \"skip_not_finite\" or {\"fn\": \"skip_large_updates\", \"args\": {\"max_squared_norm\": x}}"))
                }
            };
            let dtype: Option<Dtype> = match kw.get("accumulator_dtype") {
                None => Some(Dtype::F32),
                Some(_) => crate::config::convert(
                    name,
                    "accumulator_dtype",
                    kw.value("accumulator_dtype")?.unwrap_or(Value::Null),
                )?,
            };
            let ms = multi_steps(kw.inner::<F>("opt")?, k)
                .use_grad_mean(kw.convert("use_grad_mean", true)?)
                .should_skip_update_fn(skip)
                .accumulator_dtype(dtype);
            Ok(Boxed::new(ms))
        }
        "inject_hyperparams" => {
            let kw = Kwargs::new(name, args, &["inner", "hyperparams", "static_args"])?;
            let inner = kw.required("inner")?.as_str().ok_or_else(|| {
                bad(
                    name,
                    "inner",
                    "must be the name of an optax optimizer factory",
                )
            })?;
            let mut fixed = Vec::new();
            let mut injected = Vec::new();
            if let Some(Json::Object(h)) = kw.get("hyperparams") {
                for (k, v) in h {
                    match arg_value(inner, k, v)? {
                        // A number goes to the factory; so does a schedule, as a
                        // placeholder the injected schedule then replaces (the factory may
                        // require the argument, or take no schedule for it, as `b1`).
                        Value::Num(x) => {
                            fixed.push((k.clone(), Value::Num(x)));
                            injected.push((k.clone(), LearningRate::Constant(x)));
                        }
                        Value::Rate(r) => {
                            fixed.push((k.clone(), Value::Num(r.at(0))));
                            injected.push((k.clone(), r));
                        }
                        other => fixed.push((k.clone(), other)),
                    }
                }
            }
            if let Some(Json::Object(s)) = kw.get("static_args") {
                for (k, v) in s {
                    fixed.push((k.clone(), arg_value(inner, k, v)?));
                }
            }
            registry::by_name::<F, _>(inner, fixed, Inject(injected))
                .map_err(|e| nested(name, "inner", e))?
        }
        "lookahead" => {
            let kw = Kwargs::new(
                name,
                args,
                &[
                    "fast_optimizer",
                    "sync_period",
                    "slow_step_size",
                    "reset_state",
                ],
            )?;
            let period: u64 = crate::config::convert(
                name,
                "sync_period",
                kw.value("sync_period")?
                    .ok_or_else(|| bad(name, "sync_period", "missing required argument"))?,
            )?;
            let alpha: f64 = crate::config::convert(
                name,
                "slow_step_size",
                kw.value("slow_step_size")?
                    .ok_or_else(|| bad(name, "slow_step_size", "missing required argument"))?,
            )?;
            let la = lookahead(kw.inner::<F>("fast_optimizer")?, period, alpha)
                .reset_state(kw.convert("reset_state", false)?);
            Ok(Boxed::new(la))
        }
        "mechanize" => {
            let kw = Kwargs::new(
                name,
                args,
                &[
                    "base_optimizer",
                    "weight_decay",
                    "eps",
                    "s_init",
                    "num_betas",
                ],
            )?;
            let m = crate::mechanize(kw.inner::<F>("base_optimizer")?)
                .weight_decay(kw.convert("weight_decay", 1e-2)?)
                .eps(kw.convert("eps", 1e-8)?)
                .s_init(kw.convert("s_init", 1e-6)?)
                .num_betas(kw.convert("num_betas", 6)?);
            Ok(Boxed::new(m))
        }
        "conditionally_transform" | "conditionally_mask" => Err(bad(
            name,
            "should_transform_fn",
            "takes a Rust function of the step; build it with optim::conditionally_transform/_mask",
        )),
        leaf => {
            let args = args
                .iter()
                .map(|(k, v)| Ok((k.clone(), arg_value(leaf, k, v)?)))
                .collect::<Result<Vec<_>, Error>>()?;
            from_name(leaf, args)
        }
    }
}
