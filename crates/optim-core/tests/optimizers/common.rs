//! What every family's tests share: a two-leaf tree of params, the gradients of a
//! quadratic on it, and running an optimizer from those params. Each family fixes its own
//! starting values and curvatures in a [`Quadratic`].

use std::marker::PhantomData;

use optim_core::{Float, Tensor, TensorMap, Transformation};

/// The loss ½ Σ c·(x − 0.3)² on a tree of two leaves, `b` and `w`, with the curvature `c`
/// of each leaf, and where its optimization starts. The gradients change from step to
/// step; an element that starts at 0.3 has a zero gradient at first.
pub struct Quadratic<F> {
    /// The starting params of leaf `b`.
    b: &'static [f64],
    /// The starting params of leaf `w`.
    w: &'static [f64],
    /// The curvature `c` of leaf `b` and of leaf `w`.
    curvature: [f64; 2],
    float: PhantomData<F>,
}

impl<F> Quadratic<F> {
    pub const fn new(b: &'static [f64], w: &'static [f64], curvature: [f64; 2]) -> Self {
        Quadratic {
            b,
            w,
            curvature,
            float: PhantomData,
        }
    }
}

impl<F: Float> Quadratic<F> {
    /// The starting params, rounded to `F`.
    pub fn params(&self) -> TensorMap<F> {
        let leaf = |x: &[f64]| {
            Tensor::new([x.len()], x.iter().map(|&v| F::of(v)).collect::<Vec<F>>()).unwrap()
        };
        let mut m = TensorMap::new();
        m.insert("b".into(), leaf(self.b));
        m.insert("w".into(), leaf(self.w));
        m
    }

    /// The gradients at `p`, `c·(x − 0.3)` elementwise, computed in `F`.
    pub fn grads(&self, p: &TensorMap<F>) -> TensorMap<F> {
        p.iter()
            .map(|(k, t)| {
                let [cb, cw] = self.curvature;
                let c = F::of(if k == "b" { cb } else { cw });
                let d: Vec<F> = t.data().iter().map(|&x| c * (x - F::of(0.3))).collect();
                (k.clone(), Tensor::new([d.len()], d).unwrap())
            })
            .collect()
    }

    /// Runs `steps` fused steps of `opt` from the starting params; returns the params
    /// after each.
    pub fn run<T: Transformation<F>>(&self, opt: &T, steps: usize) -> Vec<Vec<F>> {
        let mut p = self.params();
        let mut st = opt.init(&p).unwrap();
        (0..steps)
            .map(|_| {
                let g = self.grads(&p);
                opt.step(&mut p, &g, &mut st).unwrap();
                flat(&p)
            })
            .collect()
    }

    /// The first update of `opt` from the starting params.
    pub fn first_update<T: Transformation<F>>(&self, opt: &T) -> Vec<F> {
        let p = self.params();
        let mut st = opt.init(&p).unwrap();
        let mut u = self.grads(&p);
        opt.update(&mut u, &mut st, Some(&p)).unwrap();
        flat(&u)
    }
}

/// The elements of every leaf of `m`, in leaf order.
pub fn flat<F: Float>(m: &TensorMap<F>) -> Vec<F> {
    m.values().flat_map(|t| t.data().to_vec()).collect()
}

impl<F: Float> Quadratic<F> {
    /// The loss at `p`, ½ Σ c·(x − 0.3)², in f64.
    pub fn loss(&self, p: &TensorMap<F>) -> f64 {
        p.iter()
            .map(|(k, t)| {
                let [cb, cw] = self.curvature;
                let c = if k == "b" { cb } else { cw };
                t.data()
                    .iter()
                    .map(|&x| 0.5 * c * (x.f64() - 0.3) * (x.f64() - 0.3))
                    .sum::<f64>()
            })
            .sum()
    }

    /// As [`Quadratic::run`], passing the objective value to each step (`Extra::value`),
    /// for the optimizers that read it.
    pub fn run_valued<T: Transformation<F>>(&self, opt: &T, steps: usize) -> Vec<Vec<F>> {
        let mut p = self.params();
        let mut st = opt.init(&p).unwrap();
        (0..steps)
            .map(|_| {
                let g = self.grads(&p);
                let extra = optim_core::Extra::value(self.loss(&p));
                opt.step_with(&mut p, &g, &mut st, &extra).unwrap();
                flat(&p)
            })
            .collect()
    }
}
