//! The ECG on paper as vector graphics: the engine's page layout (the same geometry the PNG
//! renderer and the GUI use) drawn with PDF strokes, so it prints sharp at true size.

use ecgr1_engine::EcgRecord;
use ecgr1_engine::render::{PanelSource, RenderOptions, page_layout, trace_polylines};

use super::MM;
use crate::pdf::{Face, PdfDocument};

/// ECG paper colours, the same as the PNG renderer's.
const MINOR_GRID: (f64, f64, f64) = (248.0 / 255.0, 196.0 / 255.0, 196.0 / 255.0);
const MAJOR_GRID: (f64, f64, f64) = (232.0 / 255.0, 120.0 / 255.0, 120.0 / 255.0);
const MISSING_INK: (f64, f64, f64) = (150.0 / 255.0, 150.0 / 255.0, 150.0 / 255.0);

/// Draws the record as a 3x4 + II rhythm page at 25 mm/s and 10 mm/mV, true size, centred
/// horizontally with its top at `top`. Returns the bottom of the drawn page.
pub(super) fn draw_ecg(doc: &mut PdfDocument, record: &EcgRecord, top: f64) -> Result<f64, String> {
    let options = RenderOptions::default();
    let layout = page_layout(record, &options).map_err(|e| e.to_string())?;
    let (w, _) = doc.page_size();
    let ox = (w - layout.width_mm * MM) / 2.0;
    let at = |x_mm: f64, y_mm: f64| (ox + x_mm * MM, top + y_mm * MM);
    doc.figure(&format!(
        "The ECG on paper at true size: {} at 25 mm/s and 10 mm/mV, {:.1} s",
        layout
            .panels
            .iter()
            .map(|p| p.label.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        record.duration_s()
    ));

    // Grid: minor lines first so the major lines sit on top.
    let g = layout.grid;
    let squares_x = g.width.round() as i64;
    let squares_y = g.height.round() as i64;
    for major in [false, true] {
        let mut lines = Vec::new();
        for k in 0..=squares_x {
            if (k % 5 == 0) == major {
                let x = g.x + k as f64;
                lines.push(vec![at(x, g.y), at(x, g.y + g.height)]);
            }
        }
        for k in 0..=squares_y {
            if (k % 5 == 0) == major {
                let y = g.y + k as f64;
                lines.push(vec![at(g.x, y), at(g.x + g.width, y)]);
            }
        }
        let ((r, gr, b), width_mm) = if major {
            (MAJOR_GRID, 0.2)
        } else {
            (MINOR_GRID, 0.08)
        };
        doc.set_stroke_rgb(r, gr, b);
        doc.polylines(&lines, width_mm * MM);
    }

    let trace_width = 0.25 * MM;
    let clamp = |y_mm: f64| y_mm.clamp(g.y - 5.0, g.y + g.height + 5.0);
    doc.set_round_joins(true);
    let mut traces = Vec::new();
    let mut missing = Vec::new();
    for panel in &layout.panels {
        if panel.source == PanelSource::Missing {
            missing.push(vec![
                at(panel.x_mm, panel.baseline_mm),
                at(panel.x_mm + panel.width_mm, panel.baseline_mm),
            ]);
            continue;
        }
        for line in trace_polylines(record, panel, 0.1) {
            traces.push(line.into_iter().map(|(x, y)| at(x, clamp(y))).collect());
        }
    }
    doc.set_stroke_rgb(0.0, 0.0, 0.0);
    doc.polylines(&traces, trace_width);
    if !missing.is_empty() {
        doc.set_stroke_rgb(MISSING_INK.0, MISSING_INK.1, MISSING_INK.2);
        doc.set_dash(Some((2.0 * MM, 2.0 * MM)));
        doc.polylines(&missing, trace_width);
        doc.set_dash(None);
    }
    doc.set_round_joins(false);
    doc.set_stroke_rgb(0.0, 0.0, 0.0);
    let mut marks: Vec<Vec<(f64, f64)>> = layout
        .calibrations
        .iter()
        .map(|c| {
            vec![
                at(c.x_start_mm, c.baseline_mm),
                at(c.x_rise_mm, c.baseline_mm),
                at(c.x_rise_mm, c.top_mm),
                at(c.x_fall_mm, c.top_mm),
                at(c.x_fall_mm, c.baseline_mm),
                at(c.x_end_mm, c.baseline_mm),
            ]
        })
        .collect();
    marks.extend(
        layout
            .separators
            .iter()
            .map(|s| vec![at(s.x_mm, s.y_top_mm), at(s.x_mm, s.y_bottom_mm)]),
    );
    doc.polylines(&marks, trace_width);

    let label_size = ecgr1_engine::render::layout::LABEL_TEXT_MM * MM;
    for panel in &layout.panels {
        if panel.source == PanelSource::Missing {
            doc.set_fill_rgb(MISSING_INK.0, MISSING_INK.1, MISSING_INK.2);
        } else {
            doc.set_fill_rgb(0.0, 0.0, 0.0);
        }
        let (x, y) = at(panel.x_mm + 1.0, panel.row_top_mm + 1.0);
        doc.text(
            x,
            y + label_size * 0.8,
            label_size,
            Face::Bold,
            &panel.label,
        );
    }
    doc.set_fill_rgb(0.0, 0.0, 0.0);
    let (fx, fy) = at(layout.footer_x_mm, layout.footer_baseline_mm);
    doc.text(
        fx,
        fy,
        ecgr1_engine::render::layout::FOOTER_TEXT_MM * MM,
        Face::Regular,
        &format!("{}   true size: print at 100 %", layout.footer),
    );
    doc.content();
    Ok(top + layout.height_mm * MM)
}
