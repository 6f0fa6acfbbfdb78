//! The rms family's primitives: updates rescaled by a running magnitude of past gradients
//! (`scale_by_rms`, `scale_by_stddev`, `scale_by_rss`, `scale_by_adadelta`). The
//! optimizers built from them are in [`optimizers::rms`](crate::optimizers::rms).

use crate::optimizer;

/// Rescales updates by the root of the exponential moving average of their squares
/// (optax's `scale_by_rms`): the core of [`rmsprop`].
///
/// References: Hinton, 2012, *Overview of mini-batch gradient descent*.
#[optimizer(unscaled)]
pub fn scale_by_rms(
    /// Decay rate of the moving average of squared gradients.
    #[default(0.9)]
    #[check((0.0..1.0).contains(&decay))]
    decay: f64,
    /// A small constant avoiding division by zero.
    #[default(1e-8)]
    #[check(eps >= 0.0)]
    eps: f64,
    /// Initial value of the second moment.
    #[default(0.0)]
    #[check(initial_scale >= 0.0)]
    initial_scale: f64,
    /// Whether `eps` is added inside the square root of the denominator.
    #[default(true)]
    eps_in_sqrt: bool,
    /// Whether to debias the moving average.
    #[default(false)]
    bias_correction: bool,
    /// Second moment.
    #[state(init = initial_scale)]
    nu: State,
) {
    let bc = jax!(decay).bias_correction(t);
    each(|g| {
        nu = moment(g * g, nu, 1.0 - decay, decay);
        let nu_hat = if bias_correction { nu / bc } else { nu };
        let scaling = rms_scaling(nu_hat, eps, eps_in_sqrt);
        scaling * g
    })
}

/// Rescales updates by the root of the centered exponential moving average of their
/// squares, an estimate of their standard deviation (optax's `scale_by_stddev`): the core
/// of the centered [`rmsprop`].
///
/// References: Graves, 2013, *Generating Sequences With Recurrent Neural Networks*.
#[optimizer(unscaled)]
pub fn scale_by_stddev(
    /// Decay rate of the moving averages.
    #[default(0.9)]
    #[check((0.0..1.0).contains(&decay))]
    decay: f64,
    /// A small constant avoiding division by zero.
    #[default(1e-8)]
    #[check(eps >= 0.0)]
    eps: f64,
    /// Initial value of the second moment.
    #[default(0.0)]
    #[check(initial_scale >= 0.0)]
    initial_scale: f64,
    /// Whether `eps` is added inside the square root of the denominator.
    #[default(true)]
    eps_in_sqrt: bool,
    /// Whether to debias the moving averages.
    #[default(false)]
    bias_correction: bool,
    /// First moment.
    #[state]
    mu: State,
    /// Second moment.
    #[state(init = initial_scale)]
    nu: State,
) {
    let bc = jax!(decay).bias_correction(t);
    each(|g| {
        mu = moment(g, mu, 1.0 - decay, decay);
        nu = moment(g * g, nu, 1.0 - decay, decay);
        let (mu_hat, nu_hat) = if bias_correction {
            (mu / bc, nu / bc)
        } else {
            (mu, nu)
        };
        let v = nu_hat - mu_hat * mu_hat;
        let scaling = rms_scaling(v, eps, eps_in_sqrt);
        scaling * g
    })
}

/// Rescales updates by the root of the sum of all squared gradients so far (optax's
/// `scale_by_rss`): the math of [`adagrad`](crate::adagrad).
///
/// References: Duchi et al, 2011, *Adaptive Subgradient Methods for Online Learning and
/// Stochastic Optimization*.
#[optimizer(unscaled)]
pub fn scale_by_rss(
    /// Initial value of the accumulator.
    #[default(0.1)]
    #[check(initial_accumulator_value >= 0.0)]
    initial_accumulator_value: f64,
    /// A small constant added inside the square root to avoid dividing by zero.
    #[default(1e-7)]
    #[check(eps >= 0.0)]
    eps: f64,
    /// Sum of the squared gradients.
    #[state(init = initial_accumulator_value)]
    sum_of_squares: State,
) {
    each(|g| {
        sum_of_squares = g * g + sum_of_squares;
        select(
            sum_of_squares > 0.0,
            (sum_of_squares + eps).sqrt().recip(),
            0.0,
        ) * g
    })
}

/// Adadelta's rescaling (optax's `scale_by_adadelta`): the gradient times the ratio of
/// the root mean squares of past updates and of past gradients, without [`adadelta`]'s
/// weight decay and learning rate.
///
/// References: Zeiler, 2012, *ADADELTA: An Adaptive Learning Rate Method*.
#[optimizer(unscaled)]
pub fn scale_by_adadelta(
    /// Decay rate of the running averages of squared gradients and updates.
    #[default(0.9)]
    #[check((0.0..1.0).contains(&rho))]
    rho: f64,
    /// A small constant added to the denominator for numerical stability.
    #[default(1e-6)]
    #[check(eps >= 0.0)]
    eps: f64,
    /// Running average of the squared gradients.
    #[state]
    e_g: State,
    /// Running average of the squared updates.
    #[state]
    e_x: State,
) {
    each(|g| {
        e_g = (1.0 - rho) * (g * g) + rho * e_g;
        let d = ((e_x + eps).sqrt() / (e_g + eps).sqrt()) * g;
        e_x = (1.0 - rho) * (d * d) + rho * e_x;
        d
    })
}
