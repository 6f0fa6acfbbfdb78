//! Every built-in optimizer on two tasks: the 2-d Rosenbrock function from (-1.2, 1), and
//! the wine-quality MLP of `train_mlp` (full batch). The optimizers come from
//! `optim::registry::names()`, so a newly registered one shows up here without edits.
//!
//! Each optimizer runs with a few learning rates (its `learning_rate`, or whatever rate
//! argument it has, such as polyak_sgd's `max_learning_rate`) and keeps the one with the
//! lowest final loss. Required arguments are discovered from the registry's errors, and
//! every optimizer gets the objective value as an extra argument (`Extra::value`), which
//! polyak_sgd needs and the others ignore. The registry also lists building blocks such
//! as `scale_by_sm3`, whose updates are preconditioned gradients rather than descent
//! steps; a name with no step-size argument is such a block and is listed as not run,
//! with the reason, as is anything that cannot run. No name is dropped.
//!
//! Prints one table per task (rate kept, final loss, steps to a target loss, wall time of
//! the kept run) and draws all loss curves in one PNG under the target directory.
//!
//! `cargo run --release --example compare_optimizers`

#[path = "support/mod.rs"]
mod support;

use optim::autodiff::objectives::{MlpClassifier, Objective, Rosenbrock};
use optim::autodiff::Graph;
use optim::registry::{self, Visitor};
use optim::{Error, Extra, Float, Hyperparams, Transformation, Value};
use plotters::prelude::*;
use std::time::{Duration, Instant};
use support::{draw_panel, Curve};

/// The rates tried for every optimizer that takes one.
const RATES: [f64; 4] = [1.0, 1e-1, 1e-2, 1e-3];

/// Returns the argument names of the optimizer it is handed.
struct Names;

impl<F: Float> Visitor<F> for Names {
    type Out = &'static [&'static str];
    fn visit<T: Transformation<F> + Hyperparams>(self, _: T) -> Self::Out {
        T::NAMES
    }
}

/// Is this argument a step size we can sweep?
fn is_rate(arg: &str) -> bool {
    matches!(arg, "learning_rate" | "max_learning_rate")
}

/// The argument that sets `name`'s step size, if it has one. Required arguments are found
/// by asking the registry; a required argument that is not a rate is an error naming it.
fn rate_argument(name: &str) -> Result<Option<&'static str>, String> {
    let mut args: Vec<(String, Value)> = Vec::new();
    loop {
        match registry::by_name::<f64, _>(name, args.clone(), Names) {
            Ok(names) => {
                let rate = names.iter().copied().find(|a| a == &"learning_rate");
                return Ok(rate.or_else(|| names.iter().copied().find(|a| is_rate(a))));
            }
            Err(Error::Hyper { arg, detail, .. }) if detail == "missing required argument" => {
                if !is_rate(&arg) || args.iter().any(|(k, _)| *k == arg) {
                    return Err(format!("needs `{arg}`, which this example cannot choose"));
                }
                args.push((arg, Value::Num(RATES[0])));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Runs one optimizer on one objective and returns the loss before each step and after
/// the last (stopping early if the loss stops being finite).
struct Run<'a, F: Float> {
    objective: &'a dyn Objective<F>,
    steps: usize,
}

impl<F: Float> Visitor<F> for Run<'_, F> {
    type Out = Result<Vec<f64>, String>;
    fn visit<T: Transformation<F> + Hyperparams>(self, opt: T) -> Self::Out {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        let mut params = self.objective.init();
        let mut state = opt.init(&params).map_err(|e| err(&e))?;
        let mut g = Graph::new();
        let mut losses = Vec::with_capacity(self.steps + 1);
        for step in 0..=self.steps {
            let (value, grads) = self
                .objective
                .value_and_grad_in(&mut g, &params)
                .map_err(|e| err(&e))?;
            let value = value.f64();
            losses.push(value);
            if step == self.steps || !value.is_finite() {
                break;
            }
            opt.step_with(&mut params, &grads, &mut state, &Extra::value(value))
                .map_err(|e| err(&e))?;
            g.recycle(grads);
        }
        Ok(losses)
    }
}

/// One task: an objective, a step budget and a target loss.
struct Task<'a, F: Float> {
    title: &'static str,
    objective: &'a dyn Objective<F>,
    steps: usize,
    target: f64,
    log_y: bool,
}

/// The outcome of one optimizer on one task.
struct Row {
    name: &'static str,
    outcome: Result<Kept, String>,
}

/// The kept run: its rate, losses and wall time.
struct Kept {
    rate: f64,
    losses: Vec<f64>,
    time: Duration,
}

impl Kept {
    fn last(&self) -> f64 {
        self.losses.last().copied().unwrap_or(f64::NAN)
    }
}

/// A final loss to minimize when choosing the rate: non-finite runs rank last.
fn rank(losses: &[f64]) -> f64 {
    let last = losses.last().copied().unwrap_or(f64::NAN);
    if last.is_finite() && losses.len() > 1 {
        last
    } else {
        f64::INFINITY
    }
}

fn run_task<F: Float>(task: &Task<'_, F>, names: &[&'static str]) -> Vec<Row> {
    names
        .iter()
        .map(|&name| {
            let outcome = rate_argument(name).and_then(|rate_arg| {
                let Some(rate_arg) = rate_arg else {
                    return Err(
                        "a building block without a step size (its updates do not descend)".into(),
                    );
                };
                let mut best: Option<Kept> = None;
                let mut last_err = None;
                for rate in RATES {
                    let args = vec![(rate_arg.to_string(), Value::Num(rate))];
                    let run = Run {
                        objective: task.objective,
                        steps: task.steps,
                    };
                    let start = Instant::now();
                    let losses = registry::by_name::<F, _>(name, args, run)
                        .map_err(|e| e.to_string())
                        .and_then(|r| r);
                    let time = start.elapsed();
                    match losses {
                        Ok(losses) => {
                            if best
                                .as_ref()
                                .is_none_or(|b| rank(&losses) < rank(&b.losses))
                            {
                                best = Some(Kept { rate, losses, time });
                            }
                        }
                        Err(e) => last_err = Some(e),
                    }
                }
                best.ok_or_else(|| last_err.unwrap_or_else(|| "no run".into()))
            });
            Row { name, outcome }
        })
        .collect()
}

fn print_table(task_title: &str, target: f64, steps: usize, rows: &[Row]) {
    println!("\n{task_title} ({steps} steps; target loss {target:.0e})");
    println!(
        "{:<40} {:>6} {:>12} {:>10} {:>10}",
        "optimizer", "rate", "final loss", "to target", "time"
    );
    for row in rows {
        match &row.outcome {
            Ok(k) => {
                let rate = format!("{:.0e}", k.rate);
                let hit = k
                    .losses
                    .iter()
                    .position(|&v| v <= target)
                    .map_or("-".into(), |s| s.to_string());
                println!(
                    "{:<40} {:>6} {:>12.4e} {:>10} {:>8.1}ms",
                    row.name,
                    rate,
                    k.last(),
                    hit,
                    k.time.as_secs_f64() * 1e3
                );
            }
            Err(e) => println!("{:<40} not run: {e}", row.name),
        }
    }
}

fn curves(rows: &[Row]) -> Vec<Curve> {
    rows.iter()
        .filter_map(|r| {
            let k = r.outcome.as_ref().ok()?;
            let points = k
                .losses
                .iter()
                .enumerate()
                .map(|(i, &v)| (i as f64, v))
                .collect();
            Some(Curve::new(r.name, points))
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let names = registry::names();
    println!("{} built-in optimizers: {}", names.len(), names.join(", "));

    let rosenbrock = Rosenbrock { dim: 2 };
    let rosen_task = Task::<f64> {
        title: "Rosenbrock 2-d from (-1.2, 1)",
        objective: &rosenbrock,
        steps: 2000,
        target: 1e-3,
        log_y: true,
    };
    let data = support::wine(0, 0.2);
    let mlp = MlpClassifier::new(
        data.x_train.clone(),
        &data.y_train,
        &[data.features(), 32, data.classes()],
    )?;
    let mlp_task = Task::<f32> {
        title: "MLP [11, 32, 6] on wine quality, full batch",
        objective: &mlp,
        steps: 300,
        target: 0.95,
        log_y: false,
    };

    let rosen_rows = run_task(&rosen_task, &names);
    print_table(
        rosen_task.title,
        rosen_task.target,
        rosen_task.steps,
        &rosen_rows,
    );
    let mlp_rows = run_task(&mlp_task, &names);
    print_table(mlp_task.title, mlp_task.target, mlp_task.steps, &mlp_rows);

    let path = support::out_dir()?.join("compare_optimizers.png");
    support::register_font()?;
    {
        let root = BitMapBackend::new(&path, (2000, 900)).into_drawing_area();
        root.fill(&WHITE)?;
        let (left, right) = root.split_horizontally(1000);
        draw_panel(
            &left,
            rosen_task.title,
            ("step", "f(x)"),
            &curves(&rosen_rows),
            rosen_task.log_y,
            1e-12,
        )?;
        draw_panel(
            &right,
            mlp_task.title,
            ("step", "training cross-entropy"),
            &curves(&mlp_rows),
            mlp_task.log_y,
            0.0,
        )?;
        root.present()?;
    }
    println!("\nloss curves: {}", path.display());
    println!("done in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
