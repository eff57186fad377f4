//! ECG paper rendering: a record drawn the way an ECG cart prints it — 1 mm / 5 mm grid,
//! 25 mm/s and 10 mm/mV by default, a 1 mV calibration pulse at the start of each row, lead
//! labels, 3×4 + rhythm strip, 6×2 or 12×1, at a chosen DPI. Anti-aliased (tiny-skia) and
//! deterministic: the same record and options give the same bytes.
//!
//! The geometry lives in [`layout`] in millimetres so the GUI draws the same page with its own
//! painter; this module rasterises it.

pub mod layout;
mod text;

use tiny_skia::{LineCap, LineJoin, Paint, PathBuilder, Pixmap, Stroke, StrokeDash, Transform};

use crate::record::{EcgRecord, RecordError, StandardLead};

pub use layout::{
    CalibrationPulse, Layout, PageLayout, Panel, PanelSource, RectMm, Separator, page_layout,
};

/// Largest page rendered, in pixels (about 160 MB of RGBA). A 3×4 page at 600 dpi is ~20 M.
pub const MAX_PAGE_PIXELS: u64 = 40_000_000;
/// Accepted ranges of the options; outside them the page is meaningless or absurdly large.
pub const DPI_RANGE: (f64, f64) = (25.0, 1200.0);
pub const SPEED_RANGE_MM_S: (f64, f64) = (5.0, 200.0);
pub const GAIN_RANGE_MM_MV: (f64, f64) = (1.0, 100.0);

const WHITE: (u8, u8, u8) = (255, 255, 255);
const MINOR_GRID: (u8, u8, u8) = (248, 196, 196);
const MAJOR_GRID: (u8, u8, u8) = (232, 120, 120);
const INK: (u8, u8, u8) = (0, 0, 0);
const MISSING_INK: (u8, u8, u8) = (150, 150, 150);
const TRACE_WIDTH_MM: f64 = 0.25;
const MINOR_GRID_WIDTH_MM: f64 = 0.08;
const MAJOR_GRID_WIDTH_MM: f64 = 0.2;

/// What to draw and how.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderOptions {
    pub layout: Layout,
    /// Paper speed, mm per second (25 standard, 50 for fast rhythms).
    pub speed_mm_s: f64,
    /// Gain, mm per millivolt (10 standard; 5 and 20 for large and small complexes).
    pub gain_mm_mv: f64,
    /// Output resolution, dots per inch.
    pub dpi: f64,
    /// Lead of the rhythm strip under a 3×4 layout.
    pub rhythm_lead: StandardLead,
    /// Time of the record the page starts at, seconds.
    pub start_s: f64,
    /// Print the 1 mm / 5 mm grid (off: a plain page, as some printers and fax copies give).
    pub grid: bool,
    /// Print the 1 mV calibration pulse at the start of each row.
    pub calibration_pulse: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            layout: Layout::ThreeByFour,
            speed_mm_s: 25.0,
            gain_mm_mv: 10.0,
            dpi: 200.0,
            rhythm_lead: StandardLead::II,
            start_s: 0.0,
            grid: true,
            calibration_pulse: true,
        }
    }
}

impl RenderOptions {
    /// Refuses non-finite or absurd values with the option's name.
    pub fn check(&self) -> Result<(), RenderError> {
        let in_range = |option: &'static str, value: f64, (lo, hi): (f64, f64), unit: &str| {
            if value.is_finite() && (lo..=hi).contains(&value) {
                Ok(())
            } else {
                Err(RenderError::BadOption {
                    option,
                    problem: format!("{value} {unit} is outside {lo}–{hi} {unit}"),
                })
            }
        };
        in_range("dpi", self.dpi, DPI_RANGE, "dpi")?;
        in_range("speed", self.speed_mm_s, SPEED_RANGE_MM_S, "mm/s")?;
        in_range("gain", self.gain_mm_mv, GAIN_RANGE_MM_MV, "mm/mV")?;
        if !(self.start_s.is_finite() && self.start_s >= 0.0) {
            return Err(RenderError::BadOption {
                option: "start",
                problem: format!("{} s is not a non-negative time", self.start_s),
            });
        }
        Ok(())
    }
}

/// Why a page could not be rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    #[error("cannot render the record: {0}")]
    Record(RecordError),
    #[error("cannot render the record: it has no samples")]
    EmptyRecord,
    #[error("bad render option {option}: {problem}")]
    BadOption {
        option: &'static str,
        problem: String,
    },
    #[error("page of {width}×{height} pixels exceeds the limit of {max} pixels; lower the dpi")]
    PageTooLarge { width: u64, height: u64, max: u64 },
    #[error("cannot encode PNG: {0}")]
    Encode(String),
}

/// A rendered page: RGBA pixels plus the geometry that maps them back to time and voltage.
#[derive(Debug, Clone)]
pub struct RenderedPage {
    pixmap: Pixmap,
    /// The page in millimetres; multiply by [`Self::px_per_mm`] for pixels (origin top left).
    pub layout: PageLayout,
    pub px_per_mm: f64,
}

impl RenderedPage {
    pub fn width(&self) -> u32 {
        self.pixmap.width()
    }

    pub fn height(&self) -> u32 {
        self.pixmap.height()
    }

    /// Row-major RGBA, 4 bytes per pixel, fully opaque.
    pub fn rgba(&self) -> &[u8] {
        self.pixmap.data()
    }

    /// The pixel at (x, y) as RGB, `None` outside the page.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        let p = self.pixmap.pixel(x, y)?;
        Some([p.red(), p.green(), p.blue()])
    }

    /// Millimetres on the page to pixels.
    pub fn px(&self, mm: f64) -> f64 {
        mm * self.px_per_mm
    }

    /// Pixel column of time `t_s` in `panel`.
    pub fn x_px_at(&self, panel: &Panel, t_s: f64) -> f64 {
        self.px(panel.x_at(t_s))
    }

    /// Pixel row of voltage `uv` (µV) in `panel`.
    pub fn y_px_at(&self, panel: &Panel, uv: f64) -> f64 {
        self.px(panel.y_at_uv(uv))
    }

    /// The panel under a pixel, with the time (s) and voltage (µV) there.
    pub fn locate(&self, x_px: f64, y_px: f64) -> Option<(&Panel, f64, f64)> {
        let (x, y) = (x_px / self.px_per_mm, y_px / self.px_per_mm);
        self.layout
            .panels
            .iter()
            .find(|p| p.contains(x, y))
            .map(|p| (p, p.time_at(x), p.uv_at(y)))
    }

    /// PNG bytes (deterministic: same page, same bytes).
    pub fn to_png(&self) -> Result<Vec<u8>, RenderError> {
        self.pixmap
            .encode_png()
            .map_err(|e| RenderError::Encode(e.to_string()))
    }
}

/// Polylines of one panel's trace in page millimetres, split where samples are NaN, reduced
/// to at most two points (the minimum and maximum, in time order) per `bucket_mm` of width
/// so that long or fast-sampled records stay cheap to draw without losing spikes.
pub fn trace_polylines(record: &EcgRecord, panel: &Panel, bucket_mm: f64) -> Vec<Vec<(f64, f64)>> {
    let Some(lead) = panel.record_index.and_then(|i| record.leads.get(i)) else {
        return Vec::new();
    };
    let fs = record.sample_rate_hz;
    let n = lead.samples_uv.len();
    let first = ((panel.t_start_s * fs).ceil().max(0.0) as usize).min(n);
    let end = ((panel.t_end_s * fs).ceil().max(0.0) as usize).min(n);
    let bucket_mm = if bucket_mm.is_finite() && bucket_mm > 0.0 {
        bucket_mm
    } else {
        0.1
    };
    let mut lines: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    // Samples of the bucket being collected: (index, value) of first, min, max.
    let mut bucket: Option<(i64, Vec<(usize, f64)>)> = None;
    let flush = |bucket: &mut Option<(i64, Vec<(usize, f64)>)>, current: &mut Vec<(f64, f64)>| {
        if let Some((_, items)) = bucket.take() {
            let point = |(i, v): (usize, f64)| (panel.x_at(i as f64 / fs), panel.y_at_uv(v));
            if items.len() <= 2 {
                current.extend(items.into_iter().map(point));
            } else {
                let mut lo = items[0];
                let mut hi = items[0];
                for &it in &items {
                    if it.1 < lo.1 {
                        lo = it;
                    }
                    if it.1 > hi.1 {
                        hi = it;
                    }
                }
                let (a, b) = if lo.0 <= hi.0 { (lo, hi) } else { (hi, lo) };
                current.push(point(a));
                if b.0 != a.0 {
                    current.push(point(b));
                }
            }
        }
    };
    for i in first..end {
        let v = lead.samples_uv[i];
        if !v.is_finite() {
            flush(&mut bucket, &mut current);
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
            }
            continue;
        }
        let x = panel.x_at(i as f64 / fs);
        let key = ((x - panel.x_mm) / bucket_mm).floor() as i64;
        match &mut bucket {
            Some((k, items)) if *k == key => items.push((i, v)),
            _ => {
                flush(&mut bucket, &mut current);
                bucket = Some((key, vec![(i, v)]));
            }
        }
    }
    flush(&mut bucket, &mut current);
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

fn paint(color: (u8, u8, u8)) -> Paint<'static> {
    let mut paint = Paint::default();
    paint.set_color_rgba8(color.0, color.1, color.2, 255);
    paint.anti_alias = true;
    paint
}

fn stroke(width_px: f32) -> Stroke {
    Stroke {
        width: width_px,
        line_cap: LineCap::Butt,
        line_join: LineJoin::Round,
        ..Stroke::default()
    }
}

/// Renders `record` as an ECG page.
pub fn render(record: &EcgRecord, options: &RenderOptions) -> Result<RenderedPage, RenderError> {
    let layout = page_layout(record, options)?;
    let px_per_mm = options.dpi / 25.4;
    let width = (layout.width_mm * px_per_mm).ceil() as u64;
    let height = (layout.height_mm * px_per_mm).ceil() as u64;
    if width.saturating_mul(height) > MAX_PAGE_PIXELS || width == 0 || height == 0 {
        return Err(RenderError::PageTooLarge {
            width,
            height,
            max: MAX_PAGE_PIXELS,
        });
    }
    let Some(mut pixmap) = Pixmap::new(width as u32, height as u32) else {
        return Err(RenderError::PageTooLarge {
            width,
            height,
            max: MAX_PAGE_PIXELS,
        });
    };
    pixmap.fill(tiny_skia::Color::from_rgba8(WHITE.0, WHITE.1, WHITE.2, 255));
    let px = |mm: f64| (mm * px_per_mm) as f32;
    let id = Transform::identity();

    // Grid: minor lines first so major lines sit on top of them.
    let g = layout.grid;
    let squares_x = (g.width).round() as i64;
    let squares_y = (g.height).round() as i64;
    for major in [false, true] {
        if !options.grid {
            break;
        }
        let mut pb = PathBuilder::new();
        for k in 0..=squares_x {
            if (k % 5 == 0) == major {
                let x = px(g.x + k as f64);
                pb.move_to(x, px(g.y));
                pb.line_to(x, px(g.y + g.height));
            }
        }
        for k in 0..=squares_y {
            if (k % 5 == 0) == major {
                let y = px(g.y + k as f64);
                pb.move_to(px(g.x), y);
                pb.line_to(px(g.x + g.width), y);
            }
        }
        if let Some(path) = pb.finish() {
            let (color, width_mm, min_px) = if major {
                (MAJOR_GRID, MAJOR_GRID_WIDTH_MM, 1.2)
            } else {
                (MINOR_GRID, MINOR_GRID_WIDTH_MM, 0.75)
            };
            let w = (width_mm * px_per_mm).max(min_px) as f32;
            pixmap.stroke_path(&path, &paint(color), &stroke(w), id, None);
        }
    }

    let trace_w = (TRACE_WIDTH_MM * px_per_mm).max(1.0) as f32;
    let ink = paint(INK);
    // Keep far-off-scale samples finite and near the page (they are clipped anyway).
    let clamp_y = |mm: f64| mm.clamp(-10.0, layout.height_mm + 10.0);
    for panel in &layout.panels {
        if panel.source == PanelSource::Missing {
            let mut pb = PathBuilder::new();
            pb.move_to(px(panel.x_mm), px(panel.baseline_mm));
            pb.line_to(px(panel.x_mm + panel.width_mm), px(panel.baseline_mm));
            if let Some(path) = pb.finish() {
                let mut s = stroke(trace_w);
                s.dash = StrokeDash::new(vec![px(2.0), px(2.0)], 0.0);
                pixmap.stroke_path(&path, &paint(MISSING_INK), &s, id, None);
            }
            continue;
        }
        let mut pb = PathBuilder::new();
        for line in trace_polylines(record, panel, 1.0 / px_per_mm) {
            let mut points = line.into_iter();
            if let Some((x, y)) = points.next() {
                pb.move_to(px(x), px(clamp_y(y)));
                for (x, y) in points {
                    pb.line_to(px(x), px(clamp_y(y)));
                }
            }
        }
        if let Some(path) = pb.finish() {
            pixmap.stroke_path(&path, &ink, &stroke(trace_w), id, None);
        }
    }

    let mut pb = PathBuilder::new();
    for cal in &layout.calibrations {
        pb.move_to(px(cal.x_start_mm), px(cal.baseline_mm));
        pb.line_to(px(cal.x_rise_mm), px(cal.baseline_mm));
        pb.line_to(px(cal.x_rise_mm), px(cal.top_mm));
        pb.line_to(px(cal.x_fall_mm), px(cal.top_mm));
        pb.line_to(px(cal.x_fall_mm), px(cal.baseline_mm));
        pb.line_to(px(cal.x_end_mm), px(cal.baseline_mm));
    }
    for sep in &layout.separators {
        pb.move_to(px(sep.x_mm), px(sep.y_top_mm));
        pb.line_to(px(sep.x_mm), px(sep.y_bottom_mm));
    }
    if let Some(path) = pb.finish() {
        let mut s = stroke(trace_w);
        s.line_join = LineJoin::Miter;
        pixmap.stroke_path(&path, &ink, &s, id, None);
    }

    let label_px = px(layout::LABEL_TEXT_MM);
    for panel in &layout.panels {
        let color = if panel.source == PanelSource::Missing {
            MISSING_INK
        } else {
            INK
        };
        text::draw_text(
            &mut pixmap,
            &panel.label,
            px(panel.x_mm + 1.0),
            px(panel.row_top_mm + 1.0) + label_px * 0.8,
            label_px,
            color,
        );
    }
    text::draw_text(
        &mut pixmap,
        &layout.footer,
        px(layout.footer_x_mm),
        px(layout.footer_baseline_mm),
        px(layout::FOOTER_TEXT_MM),
        INK,
    );
    Ok(RenderedPage {
        pixmap,
        layout,
        px_per_mm,
    })
}

#[cfg(test)]
mod tests;
