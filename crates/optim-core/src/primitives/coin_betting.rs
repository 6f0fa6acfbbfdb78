//! Coin betting (optax.contrib's `scale_by_cocob`): every coordinate bets a fraction of
//! its wealth on the sign of the next negative gradient, with no learning rate to tune.
//! [`cocob`](fn@crate::cocob) composes it with the weight decay and the learning rate.

use crate::optimizer;

/// COntinuous COin Betting (optax.contrib's `scale_by_cocob`): per element, with `c` the
/// incoming update, the largest magnitude `L = max(L, |c|)` (starting at `eps`), the sum
/// of magnitudes `G = G + |c|`, the reward `R = max(R − c·(x − x_0), 0)` and the sum of
/// negative updates `C = C − c`, the new point is
/// `x_0 + C / (L · max(G + L, alpha·L)) · (L + R)`, and the update is its difference from
/// the params.
///
/// References: Orabona and Tommasi, 2017, *Training Deep Networks without Learning Rates
/// Through Coin Betting*.
#[optimizer(unscaled)]
pub fn scale_by_cocob(
    /// The fraction of the wealth bet at first is at most `1 / alpha`.
    #[default(100.0)]
    #[check(alpha.is_finite())]
    alpha: f64,
    /// The initial largest magnitude `L`, which keeps the first bet finite.
    #[default(1e-8)]
    #[check(eps > 0.0 && eps.is_finite())]
    eps: f64,
    /// The initial params (`x_0`).
    #[state(init = params)]
    init_particles: State,
    /// The sum of the negative updates (`C`).
    #[state]
    cumulative_gradients: State,
    /// The largest update magnitude so far (`L`).
    #[state(init = eps)]
    scale: State,
    /// The sum of the update magnitudes (`G`).
    #[state]
    subgradients: State,
    /// The reward (`R`).
    #[state]
    reward: State,
) {
    each(|g, p| {
        scale = maximum(scale, g.abs());
        subgradients = subgradients + g.abs();
        reward = maximum(reward - g * (p - init_particles), 0.0);
        cumulative_gradients = cumulative_gradients - g;
        let bet = cumulative_gradients / (scale * maximum(subgradients + scale, alpha * scale));
        -p + (init_particles + bet * (scale + reward))
    })
}
