//! End to end: fit a linear model `y = x·w + b` to synthetic data with AdamW and a
//! warmup-cosine learning-rate schedule, on params of the user's own struct type.
//! Gradients are written by hand here (optim-autodiff will supply them).
//!
//! `cargo run --release --example linear_regression`

use optim::schedule::warmup_cosine_decay_schedule;
use optim::{adamw, noise::normal, Mask, Tensor, Transformation, Tree};

/// The model's parameters: any struct of trees is a tree.
#[derive(Clone, Debug, Tree)]
struct Linear {
    w: Tensor<f32>,
    b: f32,
}

const FEATURES: usize = 8;
const SAMPLES: usize = 512;

/// Mean squared error and its gradient.
fn loss_and_grad(m: &Linear, x: &[f32], y: &[f32]) -> (f32, Linear) {
    let mut g = Linear {
        w: Tensor::zeros([FEATURES]),
        b: 0.0,
    };
    let mut loss = 0.0;
    for (row, &target) in x.chunks(FEATURES).zip(y) {
        let pred: f32 = row.iter().zip(m.w.data()).map(|(a, b)| a * b).sum::<f32>() + m.b;
        let r = pred - target;
        loss += r * r;
        for (gw, &xi) in g.w.data_mut().iter_mut().zip(row) {
            *gw += 2.0 * r * xi / SAMPLES as f32;
        }
        g.b += 2.0 * r / SAMPLES as f32;
    }
    (loss / SAMPLES as f32, g)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Reproducible synthetic data from optim's counter-based Gaussian draws.
    let true_w: Vec<f32> = (0..FEATURES).map(|i| normal(1, 0, 0, i) as f32).collect();
    let true_b = 0.5f32;
    let x: Vec<f32> = (0..SAMPLES * FEATURES)
        .map(|i| normal(2, 0, 0, i) as f32)
        .collect();
    let y: Vec<f32> = x
        .chunks(FEATURES)
        .enumerate()
        .map(|(i, row)| {
            let clean: f32 = row.iter().zip(&true_w).map(|(a, b)| a * b).sum::<f32>() + true_b;
            clean + 0.01 * normal(3, 0, 0, i) as f32
        })
        .collect();

    let steps = 400;
    let schedule = warmup_cosine_decay_schedule(0.0, 0.1, 20, steps, 1e-3, 1.0)?;
    // Weight decay on the weights only, not the bias: a mask by leaf path.
    let opt = adamw(schedule)
        .weight_decay(1e-4)
        .mask(Mask::by_path(|p| p != "b"));

    let mut model = Linear {
        w: Tensor::zeros([FEATURES]),
        b: 0.0,
    };
    let mut state = opt.init(&model)?;
    for step in 0..=steps {
        let (loss, grads) = loss_and_grad(&model, &x, &y);
        if step % 50 == 0 {
            println!("step {step:4}  loss {loss:.6}");
        }
        if step < steps {
            opt.step(&mut model, &grads, &mut state)?;
        }
    }
    let err = model
        .w
        .data()
        .iter()
        .zip(&true_w)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!(
        "largest weight error {err:.4}, bias {:.4} (true {true_b})",
        model.b
    );
    if err > 0.05 {
        return Err(format!("did not converge: weight error {err}").into());
    }
    Ok(())
}
