//! Shared by the `train_mlp` and `compare_optimizers` examples: the wine-quality data set
//! that linfa-datasets ships, where outputs go, and loss-curve plots.

#![allow(dead_code)]

use optim::Tensor;
use plotters::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::{Path, PathBuf};

/// A train/held-out split with standardized features and labels `0..classes`.
pub struct Split {
    pub x_train: Tensor<f32>,
    pub y_train: Vec<usize>,
    pub x_test: Tensor<f32>,
    pub y_test: Vec<usize>,
    /// The original label (wine quality score) of each class index.
    pub class_names: Vec<usize>,
}

impl Split {
    pub fn features(&self) -> usize {
        self.x_train.shape()[1]
    }

    pub fn classes(&self) -> usize {
        self.class_names.len()
    }

    /// The held-out accuracy of always predicting the most frequent training class.
    pub fn majority_baseline(&self) -> f64 {
        let mut counts = vec![0usize; self.classes()];
        self.y_train.iter().for_each(|&y| counts[y] += 1);
        let best = (0..counts.len()).max_by_key(|&c| counts[c]).unwrap_or(0);
        let hits = self.y_test.iter().filter(|&&y| y == best).count();
        hits as f64 / self.y_test.len() as f64
    }
}

/// The red wine quality data (1,599 wines, 11 physico-chemical features, quality scores
/// 3 to 8), shipped inside linfa-datasets: no download. A seeded shuffle puts
/// `test_fraction` of the rows aside; features are standardized with the training rows'
/// mean and standard deviation.
pub fn wine(seed: u64, test_fraction: f64) -> Split {
    let ds = linfa_datasets::winequality();
    let (n, d) = ds.records.dim();
    let records: Vec<f64> = ds.records.iter().copied().collect();
    let raw: Vec<usize> = ds.targets.iter().copied().collect();
    let mut class_names = raw.clone();
    class_names.sort_unstable();
    class_names.dedup();
    let labels: Vec<usize> = raw
        .iter()
        .map(|q| class_names.binary_search(q).expect("every label is listed"))
        .collect();

    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let n_test = ((n as f64) * test_fraction).round() as usize;
    let (test_rows, train_rows) = order.split_at(n_test);

    let mut mean = vec![0.0; d];
    let mut std = vec![0.0; d];
    for &r in train_rows {
        for j in 0..d {
            mean[j] += records[r * d + j] / train_rows.len() as f64;
        }
    }
    for &r in train_rows {
        for j in 0..d {
            std[j] += (records[r * d + j] - mean[j]).powi(2) / train_rows.len() as f64;
        }
    }
    std.iter_mut().for_each(|s| *s = s.sqrt().max(1e-12));
    let take = |rows: &[usize]| {
        let data: Vec<f32> = rows
            .iter()
            .flat_map(|&r| (0..d).map(move |j| (r, j)))
            .map(|(r, j)| ((records[r * d + j] - mean[j]) / std[j]) as f32)
            .collect();
        let x = Tensor::new([rows.len(), d], data).expect("rows times features");
        let y = rows.iter().map(|&r| labels[r]).collect();
        (x, y)
    };
    let (x_train, y_train) = take(train_rows);
    let (x_test, y_test) = take(test_rows);
    Split {
        x_train,
        y_train,
        x_test,
        y_test,
        class_names,
    }
}

/// The rows `rows` of `x` (row-major `[n, d]`) and their labels, as a new batch.
pub fn gather_rows(x: &Tensor<f32>, y: &[usize], rows: &[usize]) -> (Tensor<f32>, Vec<usize>) {
    let d = x.shape()[1];
    let mut data = Vec::with_capacity(rows.len() * d);
    for &r in rows {
        data.extend_from_slice(&x.data()[r * d..(r + 1) * d]);
    }
    let xb = Tensor::new([rows.len(), d], data).expect("rows times features");
    (xb, rows.iter().map(|&r| y[r]).collect())
}

/// Where the examples write files: `$CARGO_TARGET_DIR/examples-out` when that variable
/// is set, else `target/examples-out` in the workspace. Created if missing.
pub fn out_dir() -> std::io::Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("examples-out");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Text needs a font; plotters' `ab_glyph` backend draws with one we hand it, so the
/// plots need no system font library. Registering twice is harmless.
pub fn register_font() -> Result<(), Box<dyn std::error::Error>> {
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        epaint_default_fonts::UBUNTU_LIGHT,
    )
    .map_err(|_| "the bundled font could not be parsed")?;
    Ok(())
}

/// One named curve: `(x, y)` points; a faint curve is drawn thin and translucent.
pub struct Curve {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub faint: bool,
}

impl Curve {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Curve {
            name: name.into(),
            points,
            faint: false,
        }
    }

    pub fn faint(mut self) -> Self {
        self.faint = true;
        self
    }
}

/// Draws `curves` into `area` with a legend at the upper right. With `log_y` the y axis
/// is logarithmic and values are clamped to `floor` so that exact zeros can be drawn.
pub fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    (x_label, y_label): (&str, &str),
    curves: &[Curve],
    log_y: bool,
    floor: f64,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let clamp = |y: f64| if log_y { y.max(floor) } else { y };
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in curves.iter().flat_map(|c| c.points.iter()) {
        if y.is_finite() {
            x_max = x_max.max(x);
            y_min = y_min.min(clamp(y));
            y_max = y_max.max(clamp(y));
        }
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (floor, 1.0);
    }
    // The two axis types differ, so the drawing code is shared by a macro.
    macro_rules! draw {
        ($y_range:expr, $y_fmt:expr) => {{
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 22))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(0f64..x_max, $y_range)?;
            chart
                .configure_mesh()
                .x_desc(x_label)
                .y_desc(y_label)
                .x_label_formatter(&|v| format!("{v:.0}"))
                .y_label_formatter($y_fmt)
                .label_style(("sans-serif", 14))
                .draw()?;
            for (i, c) in curves.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                let style = if c.faint {
                    color.mix(0.3).stroke_width(1)
                } else {
                    color.stroke_width(2)
                };
                let points = c.points.iter().filter(|p| p.1.is_finite());
                chart
                    .draw_series(LineSeries::new(points.map(|&(x, y)| (x, clamp(y))), style))?
                    .label(c.name.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .draw()?;
        }};
    }
    if log_y {
        draw!((y_min * 0.8..y_max * 1.25).log_scale(), &|v: &f64| format!(
            "{v:.0e}"
        ));
    } else {
        let pad = 0.05 * (y_max - y_min).max(1e-12);
        draw!((y_min - pad)..(y_max + pad), &|v: &f64| format!("{v:.2}"));
    }
    Ok(())
}
