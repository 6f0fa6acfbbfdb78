//! End to end: train an MLP classifier on a real tabular data set with AdamW and optax's
//! warmup-cosine schedule, gradients from optim's autodiff, nothing else.
//!
//! The data is the red wine quality set (1,599 wines, 11 features, quality scores 3 to 8
//! as 6 classes) that linfa-datasets ships, so nothing is downloaded. A seeded 80/20 split
//! holds out 320 wines. The example shows a progress bar, reports train and held-out loss
//! and accuracy (and the majority-class baseline for scale), and writes a loss-curve PNG
//! under the target directory.
//!
//! `cargo run --release --example train_mlp`

#[path = "support/mod.rs"]
mod support;

use indicatif::{ProgressBar, ProgressStyle};
use optim::autodiff::objectives::{MlpClassifier, Objective};
use optim::autodiff::Graph;
use optim::schedule::warmup_cosine_decay_schedule;
use optim::{adamw, Mask, TensorMap, Transformation};
use plotters::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::time::Instant;
use support::{draw_panel, gather_rows, Curve};

const SEED: u64 = 0;
const HIDDEN: [usize; 2] = [64, 64];
const BATCH: usize = 64;
const EPOCHS: usize = 60;
const PEAK_LR: f64 = 3e-3;
const WARMUP: u64 = 100;
const WEIGHT_DECAY: f64 = 1e-4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let data = support::wine(SEED, 0.2);
    let sizes: Vec<usize> = [data.features()]
        .into_iter()
        .chain(HIDDEN)
        .chain([data.classes()])
        .collect();
    let mlp = MlpClassifier::new(data.x_train.clone(), &data.y_train, &sizes)?.with_seed(SEED);
    println!(
        "wine quality: {} train / {} held-out wines, {} features, {} classes (scores {:?}); MLP {:?}",
        data.y_train.len(),
        data.y_test.len(),
        data.features(),
        data.classes(),
        data.class_names,
        sizes
    );

    let n = data.y_train.len();
    let steps_per_epoch = n.div_ceil(BATCH);
    let steps = (EPOCHS * steps_per_epoch) as u64;
    let schedule = warmup_cosine_decay_schedule(0.0, PEAK_LR, WARMUP, steps, PEAK_LR * 1e-2, 1.0)?;
    // Decay the weight matrices only, not the biases.
    let opt = adamw(schedule)
        .weight_decay(WEIGHT_DECAY)
        .mask(Mask::by_path(|p| p.ends_with(".w")));
    let mut params = mlp.init();
    let mut state = opt.init(&params)?;

    let bar = ProgressBar::new(steps).with_style(
        ProgressStyle::with_template(
            "{bar:40.cyan/blue} {pos}/{len} steps {elapsed_precise} {msg}",
        )?
        .progress_chars("=> "),
    );
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut order: Vec<usize> = (0..n).collect();
    // One graph for training and one for evaluation, reset each time: their buffers are
    // reused from step to step.
    let (mut g, mut eval) = (Graph::new(), Graph::new());
    let held_out_loss =
        |eval: &mut Graph<f32>, params: &TensorMap<f32>| -> Result<f32, optim::autodiff::Error> {
            eval.reset();
            let vars = eval.params(params)?;
            let loss = mlp.loss_on(eval, &vars, &data.x_test, &data.y_test)?;
            eval.item(loss)
        };
    let mut train_curve = Vec::with_capacity(steps as usize);
    let mut test_curve = vec![(0.0, held_out_loss(&mut eval, &params)? as f64)];
    let mut step = 0u64;
    for epoch in 1..=EPOCHS {
        order.shuffle(&mut rng);
        for rows in order.chunks(BATCH) {
            let (xb, yb) = gather_rows(&data.x_train, &data.y_train, rows);
            g.reset();
            let vars = g.params(&params)?;
            let loss = mlp.loss_on(&mut g, &vars, &xb, &yb)?;
            let value = g.item(loss)?;
            let grads = g.backward(loss)?;
            opt.step(&mut params, &grads, &mut state)?;
            g.recycle(grads);
            step += 1;
            train_curve.push((step as f64, value as f64));
            bar.inc(1);
        }
        let test_loss = held_out_loss(&mut eval, &params)?;
        test_curve.push((step as f64, test_loss as f64));
        bar.set_message(format!(
            "epoch {epoch}/{EPOCHS}  held-out loss {test_loss:.4}"
        ));
    }
    bar.finish();

    let (train_loss, _) = mlp.value_and_grad_in(&mut g, &params)?;
    let test_loss = held_out_loss(&mut eval, &params)?;
    let train_acc = mlp.accuracy(&params, &data.x_train, &data.y_train)?;
    let test_acc = mlp.accuracy(&params, &data.x_test, &data.y_test)?;
    println!(
        "train    loss {train_loss:.4}  accuracy {:.1}%",
        100.0 * train_acc
    );
    println!(
        "held-out loss {test_loss:.4}  accuracy {:.1}%",
        100.0 * test_acc
    );
    println!(
        "held-out majority-class baseline: {:.1}%",
        100.0 * data.majority_baseline()
    );

    // The per-batch training loss is noisy; draw its moving average over one epoch.
    let smoothed: Vec<(f64, f64)> = train_curve
        .iter()
        .enumerate()
        .map(|(i, &(x, _))| {
            let lo = (i + 1).saturating_sub(steps_per_epoch);
            let w = &train_curve[lo..=i];
            (x, w.iter().map(|p| p.1).sum::<f64>() / w.len() as f64)
        })
        .collect();
    let path = support::out_dir()?.join("train_mlp_loss.png");
    support::register_font()?;
    {
        let root = BitMapBackend::new(&path, (900, 560)).into_drawing_area();
        root.fill(&WHITE)?;
        draw_panel(
            &root,
            "MLP on wine quality: AdamW + warmup-cosine",
            ("step", "cross-entropy"),
            &[
                Curve::new("train (per batch)", train_curve).faint(),
                Curve::new("train (1-epoch average)", smoothed),
                Curve::new("held-out", test_curve),
            ],
            false,
            0.0,
        )?;
        root.present()?;
    }
    println!("loss curve: {}", path.display());
    println!("done in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
