//! Reproducible Gaussian noise for `noisy_sgd`: a counter-based generator, so the draw for
//! (seed, step, leaf, element) is a pure function of those four numbers. It needs no state,
//! does not depend on traversal order, and can be recomputed in any order or thread.

/// SplitMix64's finalizer: a bijective 64-bit mixer with good avalanche.
#[inline(always)]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[inline(always)]
fn uniform(key: u64) -> f64 {
    // 53 random bits mapped to (0, 1]: never zero, so the logarithm below is finite.
    ((mix(key) >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64)
}

/// A standard normal draw determined by `(seed, step, leaf, index)` (Box-Muller).
#[inline]
pub fn normal(seed: u64, step: u64, leaf: usize, index: usize) -> f64 {
    let base = mix(seed ^ mix(step.wrapping_add(0x9e37_79b9_7f4a_7c15)))
        ^ mix((leaf as u64).wrapping_mul(0xd1b5_4a32_d192_ed03) ^ (index as u64));
    let u1 = uniform(base);
    let u2 = uniform(base ^ 0x5851_f42d_4c95_7f2d);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_reproducible_and_roughly_standard_normal() {
        assert_eq!(normal(7, 3, 1, 42), normal(7, 3, 1, 42));
        assert_ne!(normal(7, 3, 1, 42), normal(8, 3, 1, 42));
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|i| normal(1, 1, 0, i)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }
}
