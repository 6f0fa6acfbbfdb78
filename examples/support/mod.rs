//! Shared by the `train_mlp` and `compare_optimizers` examples: the wine-quality data set
//! that linfa-datasets ships; where outputs go and loss-curve plots are in `plot.rs`.

#![allow(dead_code)]

use optim::Tensor;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

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

mod plot;
pub use plot::*;
