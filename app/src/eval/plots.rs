//! ROC curve and reliability diagram as PNG files, drawn with `plotters` into an RGB buffer and
//! encoded with `image` (deterministic bytes for the same data).

use std::path::Path;
use std::sync::Once;

use anyhow::{Context, Result, anyhow};
use ecgr1_engine::eval::metrics::{Calibration, RocPoint};
use plotters::prelude::*;

const WIDTH: u32 = 640;
const HEIGHT: u32 = 640;

static FONT: Once = Once::new();

/// plotters' ab_glyph backend has no system fonts: register the sans-serif face egui ships.
fn register_font() {
    FONT.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

fn save_png(path: &Path, buffer: Vec<u8>) -> Result<()> {
    let img = image::RgbImage::from_raw(WIDTH, HEIGHT, buffer)
        .ok_or_else(|| anyhow!("plot buffer has the wrong size"))?;
    img.save_with_format(path, image::ImageFormat::Png)
        .with_context(|| format!("writing {}", path.display()))
}

fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing plot: {e:?}")
}

/// ROC curve with the chance diagonal; `curves` holds (engine name, points, AUC).
pub fn write_roc(path: &Path, curves: &[(String, Vec<RocPoint>, f64)]) -> Result<()> {
    register_font();
    let mut buffer = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("ROC curve", ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(52)
            .build_cartesian_2d(0.0f64..1.0, 0.0f64..1.0)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("1 − specificity (false positive rate)")
            .y_desc("sensitivity (true positive rate)")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3)))
            .map_err(plot_err)?;
        let colours = [BLUE, RED, GREEN, MAGENTA];
        for (k, (name, points, auc)) in curves.iter().enumerate() {
            let colour = colours[k % colours.len()];
            chart
                .draw_series(LineSeries::new(
                    points
                        .iter()
                        .map(|p| (p.false_positive_rate, p.true_positive_rate)),
                    colour.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(format!("{name} (AUC {auc:.3})"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    save_png(path, buffer)
}

/// Reliability diagram: observed rate against mean predicted P(yes) per bin, with the
/// perfect-calibration diagonal; marker size grows with the bin's count.
pub fn write_reliability(path: &Path, name: &str, calibration: &Calibration) -> Result<()> {
    register_font();
    let mut buffer = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "Reliability: {name} (ECE {:.3})",
                    calibration.expected_calibration_error
                ),
                ("sans-serif", 22),
            )
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(52)
            .build_cartesian_2d(0.0f64..1.0, 0.0f64..1.0)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("mean predicted P(yes)")
            .y_desc("observed rate of yes")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3)))
            .map_err(plot_err)?;
        let points: Vec<(f64, f64, usize)> = calibration
            .bins
            .iter()
            .filter_map(|b| Some((b.mean_predicted?, b.observed_rate?, b.count)))
            .collect();
        let max_count = points.iter().map(|p| p.2).max().unwrap_or(1).max(1);
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.1)),
                BLUE.stroke_width(2),
            ))
            .map_err(plot_err)?;
        chart
            .draw_series(points.iter().map(|&(x, y, n)| {
                let radius = 3 + (9 * n / max_count) as i32;
                Circle::new((x, y), radius, BLUE.filled())
            }))
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    save_png(path, buffer)
}
