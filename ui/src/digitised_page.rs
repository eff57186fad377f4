//! A page image with what the digitiser read drawn over it (the traces it followed, the lead
//! boxes it cut the page into, the calibration pulses it measured), the digitiser's report
//! beside the measurements, and the form a reader corrects a lead box or the scales with.
//! The reading room hands the data in and runs the digitiser again when asked.

use ecgr1_engine::StandardLead;
use ecgr1_engine::digitise::{
    DigitisationReport, DigitiseOptions, LeadBox, LeadPanel, TraceOverlay,
};
use egui::{Align2, Color32, FontId, Pos2, Rect, Response, Sense, Shape, Stroke, Ui, Vec2, Widget};

/// Label of the trace layer's toggle.
pub const TRACE_TOGGLE: &str = "Digitised trace over the image";
/// Label of the boxes layer's toggle.
pub const BOXES_TOGGLE: &str = "Lead boxes and calibration pulse";
/// Labels of the corrections form's fields and buttons.
pub const GAIN_FIELD: &str = "Gain on the page:";
pub const SPEED_FIELD: &str = "Speed on the page:";
pub const LEAD_BOX_FIELD: &str = "Lead box:";
pub const USE_BOX_BUTTON: &str = "Use this box";
/// Label of the button that runs the digitiser again with the corrections.
pub const REDIGITISE_BUTTON: &str = "Re-digitise and measure";

const TRACE_INK: Color32 = Color32::from_rgb(0, 110, 255);
const BOX_INK: Color32 = Color32::from_rgb(0, 150, 60);
const CORRECTED_INK: Color32 = Color32::from_rgb(200, 0, 160);
const PULSE_INK: Color32 = Color32::from_rgb(230, 120, 0);

/// Which layers are drawn over the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageLayers {
    pub traces: bool,
    pub boxes: bool,
}

impl Default for PageLayers {
    fn default() -> Self {
        Self {
            traces: true,
            boxes: true,
        }
    }
}

/// The two layer toggles.
pub fn layer_toggles(ui: &mut Ui, layers: &mut PageLayers) {
    ui.horizontal(|ui| {
        ui.checkbox(&mut layers.traces, TRACE_TOGGLE)
            .on_hover_text("The path the digitiser followed in each row, in blue");
        ui.checkbox(&mut layers.boxes, BOXES_TOGGLE).on_hover_text(
            "Each lead's panel in green (corrected ones in magenta), the 1 mV pulses in orange",
        );
    });
}

/// What the digitiser read, as the view draws it.
#[derive(Clone, Copy)]
pub struct PageReading<'a> {
    pub report: &'a DigitisationReport,
    pub traces: &'a [TraceOverlay],
}

/// The page image at a given width with the chosen layers over it.
pub struct DigitisedPageView<'a> {
    texture: egui::TextureId,
    /// The original image's size in pixels (the overlays' coordinates).
    image_px: Vec2,
    width: f32,
    alt_text: String,
    reading: Option<PageReading<'a>>,
    layers: PageLayers,
    /// The box being edited, drawn on top.
    editing: Option<&'a LeadPanel>,
}

impl<'a> DigitisedPageView<'a> {
    pub fn new(texture: egui::TextureId, image_px: [u32; 2], width: f32, alt_text: &str) -> Self {
        Self {
            texture,
            image_px: Vec2::new(image_px[0].max(1) as f32, image_px[1].max(1) as f32),
            width,
            alt_text: alt_text.to_string(),
            reading: None,
            layers: PageLayers::default(),
            editing: None,
        }
    }

    #[must_use]
    pub fn reading(mut self, reading: Option<PageReading<'a>>, layers: PageLayers) -> Self {
        self.reading = reading;
        self.layers = layers;
        self
    }

    #[must_use]
    pub fn editing(mut self, editing: Option<&'a LeadPanel>) -> Self {
        self.editing = editing;
        self
    }

    /// What is drawn, for screen readers and tests.
    fn description(&self) -> String {
        let Some(r) = self.reading else {
            return self.alt_text.clone();
        };
        let mut drawn = Vec::new();
        if self.layers.traces {
            drawn.push(format!("digitised trace of {} rows", r.traces.len()));
        }
        if self.layers.boxes {
            drawn.push(format!("{} lead boxes", r.report.leads.len()));
            let pulses = r
                .report
                .calibration_pulse
                .as_ref()
                .map_or(0, |p| p.boxes_px.len());
            drawn.push(format!("{pulses} calibration pulses"));
        }
        if drawn.is_empty() {
            format!("{}; nothing drawn over it", self.alt_text)
        } else {
            format!("{}; drawn over it: {}", self.alt_text, drawn.join(", "))
        }
    }
}

impl Widget for DigitisedPageView<'_> {
    fn ui(self, ui: &mut Ui) -> Response {
        let scale = self.width / self.image_px.x;
        let size = Vec2::new(self.width, self.image_px.y * scale);
        let (rect, response) = ui.allocate_exact_size(size, Sense::hover());
        let description = self.description();
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, &description));
        if !ui.is_rect_visible(rect) {
            return response;
        }
        let painter = ui.painter_at(rect);
        painter.image(
            self.texture,
            rect,
            Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
            Color32::WHITE,
        );
        let Some(reading) = self.reading else {
            return response;
        };
        let report = reading.report;
        // Overlay coordinates are on the levelled page; the image shown is the original.
        let to_screen = |x: f64, y: f64| {
            let (ox, oy) = report.to_original(x, y);
            rect.min + Vec2::new(ox as f32 * scale, oy as f32 * scale)
        };
        let outline = |x: f64, y: f64, w: f64, h: f64, stroke: Stroke| {
            let corners = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
                .map(|(cx, cy)| to_screen(cx, cy))
                .to_vec();
            painter.add(Shape::closed_line(corners, stroke));
        };
        if self.layers.traces {
            for t in reading.traces {
                let points: Vec<Pos2> = t
                    .points_px
                    .iter()
                    .map(|&(x, y)| to_screen(f64::from(x), f64::from(y)))
                    .collect();
                painter.add(Shape::line(points, Stroke::new(1.5, TRACE_INK)));
            }
        }
        if self.layers.boxes {
            for b in &report.leads {
                let ink = if b.corrected { CORRECTED_INK } else { BOX_INK };
                outline(
                    b.panel.x_px,
                    b.panel.y_px,
                    b.panel.width_px,
                    b.panel.height_px,
                    Stroke::new(1.0, ink),
                );
                painter.line_segment(
                    [
                        to_screen(b.panel.x_px, b.panel.zero_y_px),
                        to_screen(b.panel.x_px + b.panel.width_px, b.panel.zero_y_px),
                    ],
                    Stroke::new(0.5, ink.gamma_multiply(0.6)),
                );
                painter.text(
                    to_screen(b.panel.x_px, b.panel.y_px) + Vec2::new(3.0, 2.0),
                    Align2::LEFT_TOP,
                    format!("{} {:.0} %", lead_label(b), b.confidence * 100.0),
                    FontId::proportional(11.0),
                    ink,
                );
            }
            if let Some(p) = &report.calibration_pulse {
                for [x, y, w, h] in &p.boxes_px {
                    outline(*x, *y, *w, *h, Stroke::new(1.5, PULSE_INK));
                }
            }
        }
        if let Some(e) = self.editing {
            outline(
                e.x_px,
                e.y_px,
                e.width_px,
                e.height_px,
                Stroke::new(2.0, CORRECTED_INK),
            );
        }
        response
    }
}

fn lead_label(b: &LeadBox) -> String {
    if b.panel.rhythm {
        format!("{} (rhythm)", b.panel.lead)
    } else {
        b.panel.lead.to_string()
    }
}

/// The digitiser's report beside the measurements: scales and how they were found, and each
/// lead's confidence.
pub fn digitisation_table(ui: &mut Ui, r: &DigitisationReport) {
    ui.label(format!(
        "Measured on the signal digitised from the image by {} (layout {}, rotation corrected {:.2}°).",
        r.digitiser_version, r.layout, r.rotation_corrected_deg
    ));
    ui.label(format!("Gain: {}", r.gain_text()));
    ui.label(format!("Paper speed: {}", r.speed_text()));
    ui.label(format!(
        "Mean digitiser confidence: {:.0} %",
        r.mean_confidence() * 100.0
    ));
    if let Some(e) = r.einthoven_relative {
        ui.label(format!(
            "Einthoven check (I + III − II): {:.0} % of lead II",
            e * 100.0
        ));
    }
    egui::Grid::new("digitiser_confidence")
        .striped(true)
        .show(ui, |ui| {
            ui.strong("Lead");
            ui.strong("Confidence");
            ui.strong("Coverage");
            ui.strong("Shown");
            ui.end_row();
            for b in &r.leads {
                ui.label(lead_label(b));
                ui.label(format!(
                    "{} confidence {:.0} %",
                    b.panel.lead,
                    b.confidence * 100.0
                ));
                ui.label(format!("{:.0} %", b.coverage * 100.0));
                ui.label(format!(
                    "{:.2}–{:.2} s{}",
                    b.t_start_s,
                    b.t_end_s,
                    if b.corrected { ", box corrected" } else { "" }
                ));
                ui.end_row();
            }
        });
    for n in &r.notes {
        ui.small(n);
    }
}

/// The reader's corrections being edited.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CorrectionForm {
    /// What the digitiser is told next.
    pub options: DigitiseOptions,
    /// The lead box being edited, starting from where the digitiser put it.
    pub editing: Option<LeadPanel>,
}

impl CorrectionForm {
    /// Starts editing a lead's box: from an earlier correction of it, else from the box found.
    pub fn edit(&mut self, found: &LeadBox) {
        let earlier = self
            .options
            .lead_boxes
            .iter()
            .find(|c| c.lead == found.panel.lead && c.rhythm == found.panel.rhythm);
        self.editing = Some(earlier.cloned().unwrap_or_else(|| found.panel.clone()));
    }

    /// Keeps the edited box among the corrections (replacing an earlier one of that lead).
    pub fn keep_edited_box(&mut self) {
        let Some(e) = self.editing.clone() else {
            return;
        };
        self.options
            .lead_boxes
            .retain(|c| !(c.lead == e.lead && c.rhythm == e.rhythm));
        self.options.lead_boxes.push(e);
    }
}

/// The corrections form; returns the options to digitise with when the reader asks.
pub fn correction_form(
    ui: &mut Ui,
    form: &mut CorrectionForm,
    report: Option<&DigitisationReport>,
    enabled: bool,
) -> Option<DigitiseOptions> {
    let mut run = None;
    ui.horizontal(|ui| {
        let label = ui.label(GAIN_FIELD);
        let gain_label =
            |g: Option<f64>| g.map_or_else(|| "as found".to_string(), |g| format!("{g} mm/mV"));
        egui::ComboBox::from_id_salt("digitise_gain")
            .selected_text(gain_label(form.options.gain_mm_mv))
            .show_ui(ui, |ui| {
                for g in [None, Some(5.0), Some(10.0), Some(20.0)] {
                    ui.selectable_value(&mut form.options.gain_mm_mv, g, gain_label(g));
                }
            })
            .response
            .labelled_by(label.id);
        let label = ui.label(SPEED_FIELD);
        let speed_label =
            |s: Option<f64>| s.map_or_else(|| "as found".to_string(), |s| format!("{s} mm/s"));
        egui::ComboBox::from_id_salt("digitise_speed")
            .selected_text(speed_label(form.options.speed_mm_s))
            .show_ui(ui, |ui| {
                for s in [None, Some(25.0), Some(50.0)] {
                    ui.selectable_value(&mut form.options.speed_mm_s, s, speed_label(s));
                }
            })
            .response
            .labelled_by(label.id);
    });
    if let Some(report) = report {
        ui.horizontal(|ui| {
            let label = ui.label(LEAD_BOX_FIELD);
            let current = form.editing.as_ref().map_or_else(
                || "choose a lead".to_string(),
                |e| lead_name(e.lead, e.rhythm),
            );
            egui::ComboBox::from_id_salt("digitise_lead_box")
                .selected_text(current)
                .show_ui(ui, |ui| {
                    for b in &report.leads {
                        if ui
                            .selectable_label(false, format!("{} box", lead_label(b)))
                            .clicked()
                        {
                            form.edit(b);
                        }
                    }
                })
                .response
                .labelled_by(label.id);
        });
        if let Some(e) = &mut form.editing {
            ui.horizontal(|ui| {
                for (name, value) in [
                    ("x", &mut e.x_px),
                    ("y", &mut e.y_px),
                    ("width", &mut e.width_px),
                    ("height", &mut e.height_px),
                    ("0 mV line", &mut e.zero_y_px),
                ] {
                    let label = ui.label(name);
                    ui.add(egui::DragValue::new(value).speed(1.0).suffix(" px"))
                        .labelled_by(label.id);
                }
            });
            if ui
                .button(USE_BOX_BUTTON)
                .on_hover_text(
                    "Read this lead from the box as placed (kept for the next digitisation)",
                )
                .clicked()
            {
                form.keep_edited_box();
            }
        }
    }
    if !form.options.lead_boxes.is_empty() {
        let names: Vec<String> = form
            .options
            .lead_boxes
            .iter()
            .map(|c| lead_name(c.lead, c.rhythm))
            .collect();
        ui.horizontal(|ui| {
            ui.label(format!("Corrected boxes: {}", names.join(", ")));
            if ui.button("Forget corrected boxes").clicked() {
                form.options.lead_boxes.clear();
            }
        });
    }
    if ui
        .add_enabled(enabled, egui::Button::new(REDIGITISE_BUTTON))
        .on_hover_text("Digitise the image again with these corrections, then measure it again")
        .clicked()
    {
        run = Some(form.options.clone());
    }
    run
}

fn lead_name(lead: StandardLead, rhythm: bool) -> String {
    if rhythm {
        format!("{lead} (rhythm)")
    } else {
        lead.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(lead: StandardLead, y: f64) -> LeadBox {
        LeadBox {
            panel: LeadPanel {
                lead,
                rhythm: false,
                x_px: 10.0,
                y_px: y,
                width_px: 100.0,
                height_px: 40.0,
                zero_y_px: y + 20.0,
            },
            t_start_s: 0.0,
            t_end_s: 2.5,
            coverage: 1.0,
            confidence: 1.0,
            corrected: false,
        }
    }

    #[test]
    fn an_edited_box_replaces_the_earlier_correction_of_its_lead_only() {
        let mut form = CorrectionForm::default();
        form.edit(&found(StandardLead::I, 0.0));
        form.keep_edited_box();
        form.edit(&found(StandardLead::II, 50.0));
        form.keep_edited_box();
        // Editing I again starts from its correction, not from the box found.
        form.edit(&found(StandardLead::I, 0.0));
        let editing = form.editing.as_mut().unwrap_or_else(|| panic!("editing"));
        assert_eq!(editing.y_px, 0.0);
        editing.y_px = 7.0;
        form.keep_edited_box();
        let kept: Vec<(StandardLead, f64)> = form
            .options
            .lead_boxes
            .iter()
            .map(|c| (c.lead, c.y_px))
            .collect();
        assert_eq!(kept, vec![(StandardLead::II, 50.0), (StandardLead::I, 7.0)]);
        form.edit(&found(StandardLead::I, 0.0));
        assert_eq!(form.editing.as_ref().map(|e| e.y_px), Some(7.0));
    }
}
