//! A candle MLP (64-128-10, ReLU) classifying scikit-learn's 8x8 handwritten digits
//! (1,797 images, vendored in `examples/data/digits/` with scikit-learn's BSD licence),
//! trained by optim's AdamW with a warmup-cosine schedule through `optim_candle::Optim`.
//!
//! It prints the held-out accuracy after a progress bar, draws the loss curves to a PNG,
//! and checks resumption: halfway through it saves a checkpoint (the vars and the
//! optimizer state, as safetensors), then a second model with other random weights loads
//! it and trains the second half on the same batches; the program prints whether the
//! resumed run's weights equal the uninterrupted run's, bit for bit.

#[path = "../support/plot.rs"]
mod plot;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{Module, Optimizer, VarBuilder, VarMap};
use indicatif::{ProgressBar, ProgressStyle};
use optim::schedule::warmup_cosine_decay_schedule;
use optim::{adamw, Mask};
use optim_candle::Optim;
use plot::{draw_panel, Curve};
use plotters::prelude::*;
use std::io::Read;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const EPOCHS: usize = 40;
const BATCH: usize = 64;
const PEAK_LR: f64 = 3e-3;

/// The digits: 8x8 pixels of 0..=16, scaled to 0..=1, and the labels.
struct Digits {
    x: Vec<f32>,
    y: Vec<u32>,
}

/// Reads the vendored CSV (64 pixel columns, then the label).
fn digits() -> Res<Digits> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/digits/digits.csv.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path)?).read_to_string(&mut text)?;
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.is_empty()) {
        let v: Vec<f32> = line.split(',').map(str::parse).collect::<Result<_, _>>()?;
        if v.len() != 65 {
            return Err(format!("a row of {} values in {path}", v.len()).into());
        }
        x.extend(v[..64].iter().map(|p| p / 16.0));
        y.push(v[64] as u32);
    }
    Ok(Digits { x, y })
}

/// A small seeded generator (xorshift64*), for the split and the batch order.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
    fn shuffle(&mut self, v: &mut [usize]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

struct Mlp {
    l1: candle_nn::Linear,
    l2: candle_nn::Linear,
}

impl Mlp {
    fn new(varmap: &VarMap) -> candle_core::Result<Self> {
        let vb = VarBuilder::from_varmap(varmap, DType::F32, &Device::Cpu);
        Ok(Mlp {
            l1: candle_nn::linear(64, 128, vb.pp("l1"))?,
            l2: candle_nn::linear(128, 10, vb.pp("l2"))?,
        })
    }
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.l2.forward(&self.l1.forward(x)?.relu()?)
    }
}

/// Rows `rows` of the data as tensors.
fn batch(d: &Digits, rows: &[usize]) -> candle_core::Result<(Tensor, Tensor)> {
    let x: Vec<f32> = rows
        .iter()
        .flat_map(|&r| d.x[r * 64..r * 64 + 64].iter().copied())
        .collect();
    let y: Vec<u32> = rows.iter().map(|&r| d.y[r]).collect();
    Ok((
        Tensor::from_vec(x, (rows.len(), 64), &Device::Cpu)?,
        Tensor::from_vec(y, rows.len(), &Device::Cpu)?,
    ))
}

/// The held-out loss and accuracy.
fn evaluate(m: &Mlp, x: &Tensor, y: &Tensor) -> candle_core::Result<(f32, f64)> {
    let logits = m.forward(x)?;
    let loss = candle_nn::loss::cross_entropy(&logits, y)?.to_scalar::<f32>()?;
    let pred = logits.argmax(D::Minus1)?;
    let hits = pred
        .eq(y)?
        .to_dtype(DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()?;
    Ok((loss, hits as f64 / y.dims()[0] as f64))
}

/// What a run reports.
pub struct Outcome {
    pub accuracy: f64,
    pub resumed_matches: bool,
    pub params: usize,
}

/// Trains for `epochs` epochs, saving a checkpoint after `epochs / 2` and resuming a
/// second model from it; draws the curves to `png` when given.
pub fn run(epochs: usize, png: Option<&std::path::Path>, quiet: bool) -> Res<Outcome> {
    let data = digits()?;
    let n = data.y.len();
    let mut rng = Rng(0x5eed);
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let (test_rows, train_rows) = order.split_at(n / 5);
    let (x_test, y_test) = batch(&data, test_rows)?;
    let mut train_rows = train_rows.to_vec();

    let steps_per_epoch = train_rows.len().div_ceil(BATCH);
    let steps = (epochs * steps_per_epoch) as u64;
    let schedule =
        warmup_cosine_decay_schedule(0.0, PEAK_LR, steps / 10, steps, PEAK_LR * 1e-2, 1.0)?;
    // Decay the weight matrices only, not the biases.
    let opt = adamw(schedule)
        .weight_decay(1e-4)
        .mask(Mask::by_path(|p| p.ends_with("weight")));

    let varmap = VarMap::new();
    let model = Mlp::new(&varmap)?;
    let mut sgd = Optim::from_varmap(&varmap, opt.clone())?;
    let params: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
    if !quiet {
        println!(
            "digits: {} train / {} held-out images of 8x8 pixels, 10 classes; MLP 64-128-10 ({params} params)",
            train_rows.len(),
            test_rows.len()
        );
    }
    let checkpoint =
        std::env::temp_dir().join(format!("train_candle-{}.safetensors", std::process::id()));
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(steps)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40.cyan/blue} {pos}/{len} steps {elapsed_precise} {msg}",
        )?
        .progress_chars("=> "),
    );
    let (mut train_curve, mut test_curve) = (Vec::new(), Vec::new());
    let mut batches = Vec::new();
    let mut step = 0;
    for epoch in 0..epochs {
        if epoch == epochs / 2 {
            sgd.save(&checkpoint)?;
        }
        rng.shuffle(&mut train_rows);
        for rows in train_rows.chunks(BATCH) {
            let (xb, yb) = batch(&data, rows)?;
            let loss = candle_nn::loss::cross_entropy(&model.forward(&xb)?, &yb)?;
            train_curve.push((step as f64, loss.to_scalar::<f32>()? as f64));
            sgd.backward_step(&loss)?;
            if epoch >= epochs / 2 {
                batches.push((xb, yb));
            }
            step += 1;
            bar.inc(1);
        }
        let (test_loss, acc) = evaluate(&model, &x_test, &y_test)?;
        test_curve.push((step as f64, test_loss as f64));
        bar.set_message(format!(
            "epoch {}/{epochs}  held-out accuracy {:.1}%",
            epoch + 1,
            100.0 * acc
        ));
    }
    bar.finish();
    let (test_loss, accuracy) = evaluate(&model, &x_test, &y_test)?;

    // Resume: other random weights, the checkpoint loaded, the second half's batches.
    let varmap2 = VarMap::new();
    let model2 = Mlp::new(&varmap2)?;
    let mut sgd2 = Optim::from_varmap(&varmap2, opt)?;
    let meta = sgd2.load(&checkpoint)?;
    for (xb, yb) in &batches {
        sgd2.backward_step(&candle_nn::loss::cross_entropy(&model2.forward(xb)?, yb)?)?;
    }
    std::fs::remove_file(&checkpoint).ok();
    let mut resumed_matches = true;
    for (name, v) in sgd.names().iter().zip(sgd.vars()) {
        let w = varmap2.data().lock().map_err(|_| "poisoned")?[name].clone();
        let (a, b) = (
            v.flatten_all()?.to_vec1::<f32>()?,
            w.flatten_all()?.to_vec1::<f32>()?,
        );
        resumed_matches &= a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits());
    }
    if !quiet {
        println!(
            "held-out loss {test_loss:.4}  accuracy {:.1}%",
            100.0 * accuracy
        );
        println!(
            "resumed from the checkpoint of step {} ({}): {}",
            meta.step,
            meta.optimizer,
            if resumed_matches {
                "the resumed run matches the uninterrupted one, bit for bit"
            } else {
                "the resumed run DIFFERS from the uninterrupted one"
            }
        );
        let _ = evaluate(&model2, &x_test, &y_test)?;
    }
    if let Some(png) = png {
        plot::register_font()?;
        let root = BitMapBackend::new(png, (900, 560)).into_drawing_area();
        root.fill(&WHITE)?;
        draw_panel(
            &root,
            "candle MLP on 8x8 digits: optim AdamW + warmup-cosine",
            ("step", "cross-entropy"),
            &[
                Curve::new("train (per batch)", train_curve).faint(),
                Curve::new("held-out", test_curve),
            ],
            false,
            0.0,
        )?;
        root.present()?;
    }
    Ok(Outcome {
        accuracy,
        resumed_matches,
        params,
    })
}

fn main() -> Res<()> {
    let start = std::time::Instant::now();
    let png = plot::out_dir()?.join("train_candle_loss.png");
    let out = run(EPOCHS, Some(&png), false)?;
    println!("loss curve: {}", png.display());
    println!("done in {:.1} s", start.elapsed().as_secs_f64());
    if !out.resumed_matches {
        return Err("the resumed run differs".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// A short run learns the digits well above chance (10%) and resumes exactly.
    #[test]
    fn a_short_run_learns_and_resumes_bit_for_bit() {
        let out = super::run(8, None, true).unwrap();
        assert_eq!(out.params, 64 * 128 + 128 + 128 * 10 + 10);
        assert!(out.accuracy > 0.85, "held-out accuracy {}", out.accuracy);
        assert!(out.resumed_matches);
    }
}
