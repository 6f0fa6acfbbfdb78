//! Where the examples' outputs go, and loss-curve plots (shared by every example
//! package: included with `#[path]`).

#![allow(dead_code)]

use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Where the examples write files: `$CARGO_TARGET_DIR/examples-out` when that variable
/// is set, else `target/examples-out` in the workspace (the first directory above the
/// example's package that holds `Cargo.lock`). Created if missing.
pub fn out_dir() -> std::io::Result<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = here
        .ancestors()
        .find(|d| d.join("Cargo.lock").exists())
        .unwrap_or(here);
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
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
