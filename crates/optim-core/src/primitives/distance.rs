//! The distance-over-gradients step sizes of optax.contrib's `_dog.py`: `scale_by_dog`
//! (DoG) and `scale_by_dowg` (DoWG). Each keeps the initial params and two scalars for
//! the whole tree, the largest distance travelled from the initial point and a sum of
//! squared gradient norms, and scales the updates by their ratio; one `tree_sum` gives
//! both norms before any leaf is written. [`dog`](fn@crate::dog) and
//! [`dowg`](fn@crate::dowg) compose them with the weight decay and the learning rate.

use crate::{optimizer, Error, FromValue, ToValue, Value};

/// DoG's initial step (optax's `init_step`, a `(tag, value)` pair): what the first step's
/// distance `r_0` (`r_ε` in the paper) is.
///
/// By name it is written as optax's tuple, `["heuristic", 1e-6]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InitStep {
    /// `("distance", r)`: the initial distance `r_0 = r`.
    Distance(f64),
    /// `("learning_rate", lr)`: the first step uses the learning rate `lr` instead of the
    /// DoG ratio (and `r_0 = 0`).
    LearningRate(f64),
    /// `("heuristic", alpha)`: `r_0 = alpha * (1 + ‖x_0‖)`, with `x_0` the initial params.
    /// The authors suggest `alpha = 1e-6`, or `1e-4` for models with batch normalization.
    Heuristic(f64),
}

impl Default for InitStep {
    /// `("heuristic", 1e-6)`, optax's default in `dog`.
    fn default() -> Self {
        InitStep::Heuristic(1e-6)
    }
}

impl InitStep {
    /// The initial distance `r_0`, given the squared norm of the initial params.
    pub fn initial_distance(self, x0_sq_norm: f64) -> f64 {
        match self {
            InitStep::Distance(r) => r,
            InitStep::LearningRate(_) => 0.0,
            InitStep::Heuristic(alpha) => alpha * (1.0 + x0_sq_norm.sqrt()),
        }
    }

    /// Whether the value is a finite number (a distance or a rate >= 0): what the
    /// first step can use without producing NaN.
    pub fn is_valid(self) -> bool {
        let x = match self {
            InitStep::Distance(x) | InitStep::LearningRate(x) | InitStep::Heuristic(x) => x,
        };
        x >= 0.0 && x.is_finite()
    }

    /// The learning rate of the first step, for [`InitStep::LearningRate`].
    pub fn first_learning_rate(self) -> Option<f64> {
        match self {
            InitStep::LearningRate(lr) => Some(lr),
            _ => None,
        }
    }
}

impl FromValue for InitStep {
    fn from_value(v: Value) -> Result<Self, Error> {
        let bad = |got: String| Error::BadValue {
            expected: "a pair [\"distance\" | \"learning_rate\" | \"heuristic\", number]".into(),
            got,
        };
        let (tag, x) = <(String, f64)>::from_value(v).map_err(|e| match e {
            Error::BadValue { got, .. } => bad(got),
            other => other,
        })?;
        match tag.as_str() {
            "distance" => Ok(InitStep::Distance(x)),
            "learning_rate" => Ok(InitStep::LearningRate(x)),
            "heuristic" => Ok(InitStep::Heuristic(x)),
            _ => Err(bad(format!("the tag {tag:?}"))),
        }
    }
}

impl ToValue for InitStep {
    fn to_value(&self) -> Value {
        let (tag, x) = match *self {
            InitStep::Distance(r) => ("distance", r),
            InitStep::LearningRate(lr) => ("learning_rate", lr),
            InitStep::Heuristic(alpha) => ("heuristic", alpha),
        };
        Value::List(vec![Value::Str(tag.into()), Value::Num(x)])
    }
}

/// Scales updates by Distance over Gradients (optax.contrib's `scale_by_dog`):
/// `η_t = r̄_t / sqrt(G_t + eps)`, with `r̄_t = max(r_0, max_{k≤t} ‖x_k − x_0‖)` the
/// largest distance from the initial params so far and `G_t = Σ_{k≤t} ‖g_k‖²`; the update
/// is `η_t g_t`. `r_0` and, for [`InitStep::LearningRate`], the first step's `η_0` come
/// from `init_step`.
///
/// optax computes `r_0` at `init`, from the params it is given; here the first step takes
/// it from the initial params kept in the state (the same params).
///
/// References: Ivgi et al, 2023, *DoG is SGD's Best Friend: A Parameter-Free Dynamic Step
/// Size Schedule*.
#[optimizer(unscaled)]
pub fn scale_by_dog(
    /// The initial step: `Distance(r_0)`, `LearningRate(η_0)` or `Heuristic(α)` (optax's
    /// `("distance" | "learning_rate" | "heuristic", value)`).
    #[default(InitStep::Heuristic(1e-6))]
    #[check(init_step.is_valid())]
    init_step: InitStep,
    /// Added to the sum of squared gradient norms, for numerical stability.
    #[default(1e-8)]
    #[check(eps > 0.0 && eps.is_finite())]
    eps: f64,
    /// The initial params (`x_0`).
    #[state(init = params)]
    init_params: State,
    /// The largest distance from the initial params so far (`r̄`).
    #[state(tree)]
    max_dist: State,
    /// The sum of the squared norms of the updates so far (`G`).
    #[state(tree)]
    sum_sq_norm_grads: State,
) {
    let (dist_sq, g_sq, x0_sq) = tree_sum(|g, p| {
        let d = init_params - p;
        (d * d, g * g, init_params * init_params)
    });
    let first = t == 1.0;
    let prev = if first {
        init_step.initial_distance(x0_sq)
    } else {
        max_dist
    };
    max_dist = maximum(prev, dist_sq.sqrt());
    sum_sq_norm_grads = sum_sq_norm_grads + g_sq;
    let ratio = max_dist / (sum_sq_norm_grads + eps).sqrt();
    let eta = match init_step.first_learning_rate() {
        Some(lr) if first => lr,
        _ => ratio,
    };
    each(|g| eta * g)
}

/// Scales updates by Distance over Weighted Gradients (optax.contrib's `scale_by_dowg`):
/// with `r̄²_t = max(r̄²_{t−1}, ‖x_t − x_0‖²)` the squared distance estimate and
/// `v_t = v_{t−1} + r̄²_t ‖g_t‖²`, the update is `r̄²_t / (sqrt(v_t) + eps) · g_t`.
///
/// References: Khaled et al, 2023, *DoWG Unleashed: An Efficient Universal Parameter-Free
/// Gradient Descent Method*.
#[optimizer(unscaled)]
pub fn scale_by_dowg(
    /// Initial guess of the squared distance to the solution; `None` takes `eps`.
    #[check(init_estim_sq_dist.is_none_or(|d| d >= 0.0 && d.is_finite()))]
    init_estim_sq_dist: Option<f64>,
    /// Keeps the denominator of the step size away from zero, and is the initial guess
    /// of the squared distance when `init_estim_sq_dist` is `None`.
    #[default(1e-4)]
    #[check(eps > 0.0 && eps.is_finite())]
    eps: f64,
    /// The initial params (`x_0`).
    #[state(init = params)]
    init_params: State,
    /// The sum of the squared norms of the updates, each weighted by the squared distance
    /// estimate of its step (`v`).
    #[state(tree)]
    weighted_sq_norm_grads: State,
    /// The squared distance estimate (`r̄²`).
    #[state(tree, init = init_estim_sq_dist.unwrap_or(eps))]
    estim_sq_dist: State,
) {
    let (dist_sq, g_sq) = tree_sum(|g, p| {
        let d = init_params - p;
        (d * d, g * g)
    });
    estim_sq_dist = maximum(estim_sq_dist, dist_sq);
    weighted_sq_norm_grads = estim_sq_dist * g_sq + weighted_sq_norm_grads;
    let eta = estim_sq_dist / (weighted_sq_norm_grads.sqrt() + eps);
    each(|g| eta * g)
}
