//! The sgd family's primitives: the momentum trace, gradient noise, the optimistic
//! gradient and Rprop's step. The optimizers built from them are in
//! [`optimizers::sgd`](mod@crate::optimizers::sgd).

use crate::optimizer;

/// A trace of past updates (optax's `trace`): `m = g + decay * m`.
///
/// The update is the trace itself, or with `nesterov` the look-ahead `g + decay * m`.
/// This is the momentum of [`sgd`] and [`rmsprop`](crate::rmsprop) on its own.
///
/// References: Sutskever et al, 2013, *On the importance of initialization and momentum
/// in deep learning*.
#[optimizer(unscaled)]
pub fn trace(
    /// Decay rate of the trace.
    #[check((0.0..1.0).contains(&decay))]
    decay: f64,
    /// Whether to use Nesterov momentum.
    #[default(false)]
    nesterov: bool,
    /// The trace.
    #[state(dtype = accumulator_dtype)]
    trace: State,
) {
    each(|g| {
        trace = g + decay * trace;
        if nesterov {
            g + decay * trace
        } else {
            trace
        }
    })
}

/// Adds Gaussian noise of variance `eta / t^gamma` to the updates (optax's `add_noise`),
/// with `t` the 1-based step count. The draws are our own counter-based generator
/// ([`crate::noise::normal`]): reproducible for a given `seed`, independent of traversal
/// order, but not jax's random numbers.
///
/// References: Neelakantan et al, 2015, *Adding Gradient Noise Improves Learning for Very
/// Deep Networks*.
#[optimizer(unscaled)]
pub fn add_noise(
    /// Initial variance of the Gaussian noise added to the gradients.
    #[check(eta >= 0.0)]
    eta: f64,
    /// Decay exponent of the noise variance over time.
    #[check(gamma >= 0.0)]
    gamma: f64,
    /// Seed of the noise.
    #[default(0u64)]
    seed: u64,
) {
    let sigma = (eta / t.powf(gamma)).sqrt();
    let noisy = eta != 0.0;
    let step = t as u64;
    each(|g, _p, pos| {
        if noisy {
            g + sigma * F::of(normal(seed, step, pos.leaf, pos.index))
        } else {
            g
        }
    })
}

/// The optimistic gradient (optax's `scale_by_optimistic_gradient`):
/// `(alpha + beta) * g - beta * g_prev`, with the previous gradient starting at zero (or,
/// with `initial_fix`, at the current gradient on the first step).
///
/// References: Mokhtari et al, 2019, *A Unified Analysis of Extra-gradient and Optimistic
/// Gradient Methods for Saddle Point Problems: Proximal Point Approach*.
#[optimizer(unscaled)]
pub fn scale_by_optimistic_gradient(
    /// Coefficient for generalized optimistic gradient descent.
    #[default(1.0)]
    #[check(alpha.is_finite())]
    alpha: f64,
    /// Coefficient for the negative momentum.
    #[default(1.0)]
    #[check(beta.is_finite())]
    beta: f64,
    /// On the first step, use the current gradient as the previous one (newer optax).
    #[default(false)]
    initial_fix: bool,
    /// The previous gradient.
    #[state]
    prev_grad: State,
) {
    let alpha_beta = alpha + beta;
    let first = initial_fix && t == 1.0;
    each(|g| {
        let prev = if first { g } else { prev_grad };
        prev_grad = g;
        alpha_beta * g - beta * prev
    })
}

/// Rprop's step (optax's `scale_by_rprop`): the update is the signed step itself,
/// without [`rprop`]'s final sign flip.
///
/// References: Riedmiller and Braun, 1993, *A direct adaptive method for faster
/// backpropagation learning: the RPROP algorithm*.
#[optimizer(unscaled)]
pub fn scale_by_rprop(
    /// The initial step size.
    #[check(learning_rate > 0.0)]
    learning_rate: f64,
    /// Multiplicative factor decreasing the step size when the gradient changes sign.
    #[default(0.5)]
    #[check(eta_minus > 0.0)]
    eta_minus: f64,
    /// Multiplicative factor increasing the step size when the gradient keeps its sign.
    #[default(1.2)]
    #[check(eta_plus > 0.0)]
    eta_plus: f64,
    /// Minimum step size.
    #[default(1e-6)]
    #[check(min_step_size >= 0.0)]
    min_step_size: f64,
    /// Maximum step size.
    #[default(50.0)]
    #[check(max_step_size >= 0.0)]
    max_step_size: f64,
    /// Per-element step size.
    #[state(init = learning_rate)]
    step_sizes: State,
    /// The signed step decided at the previous step.
    #[state]
    prev_updates: State,
) {
    each(|g| {
        let s = g * prev_updates;
        step_sizes = select(
            s == 0.0,
            step_sizes,
            clip(
                step_sizes * select(s > 0.0, eta_plus, eta_minus),
                min_step_size,
                max_step_size,
            ),
        );
        let u = select(s < 0.0, 0.0, prev_updates);
        prev_updates = select(s < 0.0, 0.0, step_sizes * sign(g));
        u
    })
}
