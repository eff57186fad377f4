//! The ECG paper view: a record drawn on paper with egui shapes, from the same millimetre
//! geometry the PNG renderer uses ([`ecgr1_engine::render::page_layout`]), so the screen and
//! the printed page agree. Traces are reduced to at most two points per screen pixel so a
//! long, fast-sampled record stays cheap to draw every frame.

use ecgr1_engine::display_filter::DisplayFilters;
use ecgr1_engine::render::{
    Layout, PageLayout, PanelSource, RenderOptions, page_layout, trace_polylines,
};
use ecgr1_engine::{EcgRecord, StandardLead};
use egui::{Align2, Color32, FontId, Pos2, Rect, Response, Sense, Shape, Stroke, Ui, Vec2, Widget};

use crate::overlay::{BEAT_INK, ECTOPIC_INK, FIDUCIAL_INK, HIGHLIGHT_FILL, PaperOverlay};

const PAPER: Color32 = Color32::WHITE;
const MINOR_GRID: Color32 = Color32::from_rgb(248, 200, 200);
const MAJOR_GRID: Color32 = Color32::from_rgb(232, 128, 128);
const INK: Color32 = Color32::BLACK;
const MISSING_INK: Color32 = Color32::from_rgb(150, 150, 150);

/// How the paper is drawn: the clinician's display choices.
#[derive(Clone, Debug, PartialEq)]
pub struct PaperSettings {
    pub layout: Layout,
    pub speed_mm_s: f64,
    pub gain_mm_mv: f64,
    pub rhythm_lead: StandardLead,
    /// Magnification over "fit to width" (1.0).
    pub zoom: f32,
    /// Display-only filters (the caller draws a filtered copy; see [`DisplayFilters::apply`]).
    pub filters: DisplayFilters,
    /// Dragging on the paper measures with calipers instead of doing nothing.
    pub calipers: bool,
    /// Draw at true size: a millimetre of paper is a millimetre on the screen (zoom is then
    /// not applied), so a ruler or calipers held to the monitor read the ECG as on paper.
    pub true_size: bool,
    /// The monitor's physical resolution in dots per inch, when calibrated; `None` takes the
    /// nominal 96 dpi at the system's scale factor.
    pub screen_dpi: Option<f32>,
}

impl Default for PaperSettings {
    fn default() -> Self {
        Self {
            layout: Layout::ThreeByFour,
            speed_mm_s: 25.0,
            gain_mm_mv: 10.0,
            rhythm_lead: StandardLead::II,
            zoom: 1.0,
            filters: DisplayFilters::default(),
            calipers: false,
            true_size: false,
            screen_dpi: None,
        }
    }
}

impl PaperSettings {
    pub const SPEEDS_MM_S: [f64; 2] = [25.0, 50.0];
    pub const GAINS_MM_MV: [f64; 3] = [5.0, 10.0, 20.0];
    pub const ZOOM_RANGE: (f32, f32) = (0.5, 8.0);
    /// Calibrated resolutions accepted, dpi.
    pub const DPI_RANGE: (f32, f32) = (50.0, 600.0);
    /// The resolution operating systems assume at scale factor 1.
    pub const NOMINAL_DPI: f32 = 96.0;

    /// The monitor's physical dots per inch: the calibration, or the nominal 96 dpi times the
    /// system's scale factor (`native_pixels_per_point`).
    pub fn screen_dpi(&self, native_pixels_per_point: f32) -> f32 {
        self.screen_dpi
            .filter(|d| d.is_finite() && (Self::DPI_RANGE.0..=Self::DPI_RANGE.1).contains(d))
            .unwrap_or(Self::NOMINAL_DPI * native_pixels_per_point)
    }

    /// egui points per paper millimetre at true size: physical pixels per mm divided by the
    /// pixels per point egui draws with (which includes the UI zoom).
    pub fn true_size_points_per_mm(
        &self,
        native_pixels_per_point: f32,
        pixels_per_point: f32,
    ) -> f32 {
        self.screen_dpi(native_pixels_per_point) / 25.4 / pixels_per_point.max(0.1)
    }

    /// The same choices as options for the PNG renderer.
    pub fn render_options(&self) -> RenderOptions {
        RenderOptions {
            layout: self.layout,
            speed_mm_s: self.speed_mm_s,
            gain_mm_mv: self.gain_mm_mv,
            rhythm_lead: self.rhythm_lead,
            ..RenderOptions::default()
        }
    }
}

/// Short display name of a layout for buttons ("3×4+R").
pub fn layout_label(layout: Layout) -> &'static str {
    match layout {
        Layout::ThreeByFour => "3×4+R",
        Layout::SixByTwo => "6×2",
        Layout::TwelveByOne => "12×1",
    }
}

/// The accessible description of the paper view; tests and screen readers read it.
pub fn paper_description(layout: &PageLayout) -> String {
    format!(
        "ECG paper: layout {}, {} panels, {} mm/s, {} mm/mV",
        layout.layout,
        layout.panels.len(),
        layout.speed_mm_s,
        layout.gain_mm_mv
    )
}

/// A caliper: two corners of a box on the paper, in page millimetres.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Caliper {
    pub start_mm: [f64; 2],
    pub end_mm: [f64; 2],
    pub speed_mm_s: f64,
    pub gain_mm_mv: f64,
}

impl Caliper {
    /// The time span, ms.
    pub fn dt_ms(&self) -> f64 {
        (self.end_mm[0] - self.start_mm[0]).abs() / self.speed_mm_s * 1000.0
    }

    /// The voltage span, mV (positive when the end is above the start).
    pub fn dv_mv(&self) -> f64 {
        (self.start_mm[1] - self.end_mm[1]) / self.gain_mm_mv
    }

    /// "Δt 820 ms (73 bpm)  ΔV +1.20 mV (12.0 mm)".
    pub fn reading(&self) -> String {
        let dt = self.dt_ms();
        let rate = if dt > 0.0 {
            format!(" ({:.0} bpm)", 60_000.0 / dt)
        } else {
            String::new()
        };
        format!(
            "Δt {dt:.0} ms{rate}  ΔV {:+.2} mV ({:.1} mm)",
            self.dv_mv(),
            (self.start_mm[1] - self.end_mm[1]).abs()
        )
    }
}

/// Draws a record on ECG paper. Shows the reason instead when the record cannot be drawn.
pub struct EcgPaperView<'a> {
    record: &'a EcgRecord,
    settings: &'a PaperSettings,
    overlay: Option<&'a PaperOverlay>,
    caliper: Option<&'a mut Option<Caliper>>,
    /// Height (points) the page should fit in besides the width, at zoom 1.
    fit_height: Option<f32>,
}

impl<'a> EcgPaperView<'a> {
    pub fn new(record: &'a EcgRecord, settings: &'a PaperSettings) -> Self {
        Self {
            record,
            settings,
            overlay: None,
            caliper: None,
            fit_height: None,
        }
    }

    /// At zoom 1 the page fits this height as well as the available width (the reading room
    /// gives the paper a part of the window and the trace the rest).
    #[must_use]
    pub fn fit_within_height(mut self, height: f32) -> Self {
        self.fit_height = Some(height);
        self
    }

    /// The page's height (points) when drawn `width` wide with no height to fit (at the zoom,
    /// or at true size): how much of a column the page can use, so that a layout can give the
    /// rest to what sits under it instead of leaving a gap. `None` when it cannot be drawn.
    pub fn natural_height(&self, ctx: &egui::Context, width: f32) -> Option<f32> {
        let layout = page_layout(self.record, &self.settings.render_options()).ok()?;
        Some(points_per_mm(self.settings, &layout, width, None, ctx) * layout.height_mm as f32)
    }

    /// Where the caliper is kept between frames (drawn, and moved by dragging when
    /// [`PaperSettings::calipers`] is on; Esc clears it).
    #[must_use]
    pub fn caliper(mut self, caliper: &'a mut Option<Caliper>) -> Self {
        self.caliper = Some(caliper);
        self
    }

    /// Beat markers and highlighted evidence drawn over the trace.
    #[must_use]
    pub fn overlay(mut self, overlay: &'a PaperOverlay) -> Self {
        self.overlay = Some(overlay);
        self
    }
}

/// Screen points per paper millimetre: true size from the monitor's resolution, else the page
/// fitted to `width` (and to `fit_height` when given) times the zoom.
fn points_per_mm(
    settings: &PaperSettings,
    layout: &PageLayout,
    width: f32,
    fit_height: Option<f32>,
    ctx: &egui::Context,
) -> f32 {
    if settings.true_size {
        let native = ctx.native_pixels_per_point().unwrap_or(1.0);
        return settings.true_size_points_per_mm(native, ctx.pixels_per_point());
    }
    let zoom = settings
        .zoom
        .clamp(PaperSettings::ZOOM_RANGE.0, PaperSettings::ZOOM_RANGE.1);
    let fit_width = width.max(200.0) / layout.width_mm as f32;
    let fit = match fit_height {
        Some(h) if h.is_finite() && h > 100.0 => fit_width.min(h / layout.height_mm as f32),
        _ => fit_width,
    }
    .max(0.5);
    fit * zoom
}

impl Widget for EcgPaperView<'_> {
    fn ui(self, ui: &mut Ui) -> Response {
        let layout = match page_layout(self.record, &self.settings.render_options()) {
            Ok(layout) => layout,
            Err(e) => {
                return ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("Cannot draw this ECG: {e}"),
                );
            }
        };
        let pt_per_mm = points_per_mm(
            self.settings,
            &layout,
            ui.available_width(),
            self.fit_height,
            ui.ctx(),
        );
        let size = Vec2::new(layout.width_mm as f32, layout.height_mm as f32) * pt_per_mm;
        let measuring = self.settings.calipers && self.caliper.is_some();
        let sense = if measuring {
            Sense::click_and_drag()
        } else {
            Sense::hover()
        };
        let (rect, response) = ui.allocate_exact_size(size, sense);
        let to_mm = |p: Pos2| {
            let mm = (p - rect.min) / pt_per_mm;
            [f64::from(mm.x), f64::from(mm.y)]
        };
        if let Some(caliper) = self.caliper {
            if ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                *caliper = None;
            }
            if measuring {
                if response.drag_started()
                    && let Some(p) = response.interact_pointer_pos()
                {
                    *caliper = Some(Caliper {
                        start_mm: to_mm(p),
                        end_mm: to_mm(p),
                        speed_mm_s: layout.speed_mm_s,
                        gain_mm_mv: layout.gain_mm_mv,
                    });
                }
                if response.dragged()
                    && let (Some(p), Some(c)) = (response.interact_pointer_pos(), caliper.as_mut())
                {
                    c.end_mm = to_mm(p);
                }
            }
            if ui.is_rect_visible(rect)
                && let Some(c) = caliper
            {
                draw_caliper(ui, rect, c, pt_per_mm);
            }
        }
        let mut layout = layout;
        if self.settings.filters.any() {
            layout.footer = layout.footer.replace(
                "filters: none (signal as recorded)",
                &format!(
                    "DISPLAY FILTERS: {} (screen only)",
                    self.settings.filters.describe()
                ),
            );
        }
        let mut description = paper_description(&layout);
        if self.settings.true_size {
            description = format!("{description}, true size ({pt_per_mm:.2} points per mm)");
        }
        if self.settings.filters.any() {
            description = format!(
                "{description}, display filters on: {}",
                self.settings.filters.describe()
            );
        }
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, &description));
        if ui.is_rect_visible(rect) {
            let pixels_per_point = ui.ctx().pixels_per_point();
            draw_page(ui, rect, &layout, self.record, pt_per_mm, pixels_per_point);
            if let Some(overlay) = self.overlay {
                draw_overlay(ui, rect, &layout, overlay, pt_per_mm);
            }
            if self.settings.filters.any() {
                let text = format!("Display filters on: {}", self.settings.filters.describe());
                let painter = ui.painter_at(rect);
                let galley =
                    painter.layout_no_wrap(text, FontId::proportional(13.0), Color32::WHITE);
                let at = Pos2::new(rect.max.x - galley.size().x - 12.0, rect.min.y + 4.0);
                painter.rect_filled(
                    Rect::from_min_size(at - Vec2::splat(4.0), galley.size() + Vec2::splat(8.0)),
                    4.0,
                    Color32::from_rgb(200, 90, 0),
                );
                painter.galley(at, galley, Color32::WHITE);
            }
        }
        if let Some(pos) = response.hover_pos() {
            let mm = (pos - rect.min) / pt_per_mm;
            if let Some(panel) = layout
                .panels
                .iter()
                .find(|p| p.contains(f64::from(mm.x), f64::from(mm.y)))
            {
                let t = panel.time_at(f64::from(mm.x));
                let mv = panel.uv_at(f64::from(mm.y)) / 1000.0;
                response
                    .clone()
                    .on_hover_text_at_pointer(format!("{}  t = {t:.3} s  {mv:+.2} mV", panel.lead));
            }
        }
        response
    }
}

fn draw_caliper(ui: &Ui, rect: Rect, c: &Caliper, pt_per_mm: f32) {
    let painter = ui.painter_at(rect);
    let at = |mm: [f64; 2]| {
        Pos2::new(
            rect.min.x + mm[0] as f32 * pt_per_mm,
            rect.min.y + mm[1] as f32 * pt_per_mm,
        )
    };
    let (a, b) = (at(c.start_mm), at(c.end_mm));
    let stroke = Stroke::new(1.5, Color32::from_rgb(0, 110, 200));
    for x in [a.x, b.x] {
        painter.line_segment(
            [
                Pos2::new(x, a.y.min(b.y) - 20.0),
                Pos2::new(x, a.y.max(b.y) + 20.0),
            ],
            stroke,
        );
    }
    for y in [a.y, b.y] {
        painter.line_segment(
            [
                Pos2::new(a.x.min(b.x) - 20.0, y),
                Pos2::new(a.x.max(b.x) + 20.0, y),
            ],
            stroke,
        );
    }
    painter.text(
        Pos2::new(a.x.max(b.x) + 6.0, a.y.min(b.y)),
        Align2::LEFT_BOTTOM,
        c.reading(),
        FontId::proportional(13.0),
        Color32::from_rgb(0, 80, 160),
    );
}

fn draw_page(
    ui: &Ui,
    rect: Rect,
    layout: &PageLayout,
    record: &EcgRecord,
    pt_per_mm: f32,
    pixels_per_point: f32,
) {
    let painter = ui.painter_at(rect);
    let visible = painter.clip_rect();
    let at = |x_mm: f64, y_mm: f64| {
        Pos2::new(
            rect.min.x + x_mm as f32 * pt_per_mm,
            rect.min.y + y_mm as f32 * pt_per_mm,
        )
    };
    painter.rect_filled(rect, 0.0, PAPER);

    // Grid: minor lines only where they are at least 3 points apart (else they are a haze).
    let g = layout.grid;
    let px = 1.0 / pixels_per_point;
    let minor_stroke = Stroke::new((0.08 * pt_per_mm).max(px), MINOR_GRID);
    let major_stroke = Stroke::new((0.2 * pt_per_mm).max(px * 1.5), MAJOR_GRID);
    let draw_minor = pt_per_mm >= 3.0;
    let mut grid_shapes = Vec::new();
    for major in [false, true] {
        if !major && !draw_minor {
            continue;
        }
        let stroke = if major { major_stroke } else { minor_stroke };
        for k in 0..=(g.width.round() as i64) {
            if (k % 5 == 0) != major {
                continue;
            }
            let x = g.x + k as f64;
            let (top, bottom) = (at(x, g.y), at(x, g.y + g.height));
            if top.x >= visible.min.x - 1.0 && top.x <= visible.max.x + 1.0 {
                grid_shapes.push(Shape::line_segment([top, bottom], stroke));
            }
        }
        for k in 0..=(g.height.round() as i64) {
            if (k % 5 == 0) != major {
                continue;
            }
            let y = g.y + k as f64;
            let (left, right) = (at(g.x, y), at(g.x + g.width, y));
            if left.y >= visible.min.y - 1.0 && left.y <= visible.max.y + 1.0 {
                grid_shapes.push(Shape::line_segment([left, right], stroke));
            }
        }
    }
    painter.extend(grid_shapes);

    let trace = Stroke::new((0.25 * pt_per_mm).max(px * 1.2), INK);
    // One bucket per physical pixel: at most two points (min, max) per horizontal pixel.
    let bucket_mm = f64::from(1.0 / (pt_per_mm * pixels_per_point));
    for panel in &layout.panels {
        let panel_rect = Rect::from_min_max(
            at(panel.x_mm, panel.row_top_mm - panel.row_height_mm),
            at(
                panel.x_mm + panel.width_mm,
                panel.row_top_mm + 2.0 * panel.row_height_mm,
            ),
        );
        if !visible.intersects(panel_rect) {
            continue;
        }
        if panel.source == PanelSource::Missing {
            let y = panel.baseline_mm;
            let mut x = panel.x_mm;
            while x < panel.x_mm + panel.width_mm {
                painter.line_segment(
                    [at(x, y), at((x + 2.0).min(panel.x_mm + panel.width_mm), y)],
                    Stroke::new(trace.width, MISSING_INK),
                );
                x += 4.0;
            }
        } else {
            let clamp = |y: f64| y.clamp(-10.0, layout.height_mm + 10.0);
            for line in trace_polylines(record, panel, bucket_mm) {
                let points: Vec<Pos2> = line.into_iter().map(|(x, y)| at(x, clamp(y))).collect();
                if points.len() >= 2 {
                    painter.add(Shape::line(points, trace));
                }
            }
        }
        let color = if panel.source == PanelSource::Missing {
            MISSING_INK
        } else {
            INK
        };
        painter.text(
            at(panel.x_mm + 1.0, panel.row_top_mm + 1.0),
            Align2::LEFT_TOP,
            &panel.label,
            FontId::proportional(3.5 * pt_per_mm),
            color,
        );
    }
    for cal in &layout.calibrations {
        let points = vec![
            at(cal.x_start_mm, cal.baseline_mm),
            at(cal.x_rise_mm, cal.baseline_mm),
            at(cal.x_rise_mm, cal.top_mm),
            at(cal.x_fall_mm, cal.top_mm),
            at(cal.x_fall_mm, cal.baseline_mm),
            at(cal.x_end_mm, cal.baseline_mm),
        ];
        painter.add(Shape::line(points, trace));
    }
    for sep in &layout.separators {
        painter.line_segment(
            [at(sep.x_mm, sep.y_top_mm), at(sep.x_mm, sep.y_bottom_mm)],
            trace,
        );
    }
    painter.text(
        at(layout.footer_x_mm, layout.footer_baseline_mm),
        Align2::LEFT_BOTTOM,
        &layout.footer,
        FontId::proportional(3.0 * pt_per_mm),
        INK,
    );
}

/// Highlights as translucent bands over the panels of their leads, and beat ticks above
/// every panel whose time window holds the beat.
fn draw_overlay(ui: &Ui, rect: Rect, layout: &PageLayout, overlay: &PaperOverlay, pt_per_mm: f32) {
    let painter = ui.painter_at(rect);
    let at = |x_mm: f64, y_mm: f64| {
        Pos2::new(
            rect.min.x + x_mm as f32 * pt_per_mm,
            rect.min.y + y_mm as f32 * pt_per_mm,
        )
    };
    for panel in &layout.panels {
        if panel.source == PanelSource::Missing {
            continue;
        }
        let top = panel.row_top_mm;
        let bottom = panel.row_top_mm + panel.row_height_mm;
        for h in overlay.highlights.iter().filter(|h| h.covers(panel.lead)) {
            let start = h.start_s.max(panel.t_start_s);
            let end = h.end_s.min(panel.t_end_s);
            if end <= start {
                continue;
            }
            let band = Rect::from_min_max(at(panel.x_at(start), top), at(panel.x_at(end), bottom));
            painter.rect_filled(band, 0.0, HIGHLIGHT_FILL);
        }
        for beat in &overlay.beats {
            if beat.time_s < panel.t_start_s || beat.time_s >= panel.t_end_s {
                continue;
            }
            let x = panel.x_at(beat.time_s);
            let color = if beat.dominant { BEAT_INK } else { ECTOPIC_INK };
            painter.line_segment(
                [at(x, top + 0.5), at(x, top + 2.5)],
                Stroke::new((0.3 * pt_per_mm).max(1.0), color),
            );
        }
        let foot = panel.row_top_mm + panel.row_height_mm;
        for f in &overlay.fiducials {
            if f.time_s < panel.t_start_s || f.time_s >= panel.t_end_s {
                continue;
            }
            let x = panel.x_at(f.time_s);
            painter.line_segment(
                [at(x, foot - 2.0), at(x, foot - 0.5)],
                Stroke::new((0.2 * pt_per_mm).max(1.0), FIDUCIAL_INK),
            );
            if pt_per_mm >= 2.0 {
                painter.text(
                    at(x + 0.3, foot - 2.0),
                    Align2::LEFT_BOTTOM,
                    f.kind.label(),
                    FontId::proportional(1.8 * pt_per_mm),
                    FIDUCIAL_INK,
                );
            }
        }
    }
}
