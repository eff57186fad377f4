//! The paper toolbar: layout, paper speed, gain, rhythm lead and zoom. Every control carries
//! an accessible label so screen readers and the tests can find it.

use ecgr1_engine::StandardLead;
use ecgr1_engine::render::Layout;
use egui::Ui;

use crate::paper::{PaperSettings, layout_label};

/// Draws the toolbar; returns true when a setting changed.
pub fn paper_toolbar(ui: &mut Ui, settings: &mut PaperSettings) -> bool {
    let before = settings.clone();
    ui.horizontal_wrapped(|ui| {
        ui.label("Layout:");
        for layout in Layout::ALL {
            let hint = match layout {
                Layout::ThreeByFour => {
                    "3 rows × 4 columns of 2.5 s, consecutive in time, plus a 10 s rhythm strip"
                }
                Layout::SixByTwo => {
                    "6 rows × 2 columns: limb leads, then precordial leads, 5 s each"
                }
                Layout::TwelveByOne => "All twelve leads, 10 s each",
            };
            ui.selectable_value(&mut settings.layout, layout, layout_label(layout))
                .on_hover_text(hint);
        }
        ui.separator();
        ui.label("Speed:");
        for speed in PaperSettings::SPEEDS_MM_S {
            ui.selectable_value(&mut settings.speed_mm_s, speed, format!("{speed} mm/s"));
        }
        ui.separator();
        ui.label("Gain:");
        for gain in PaperSettings::GAINS_MM_MV {
            ui.selectable_value(&mut settings.gain_mm_mv, gain, format!("{gain} mm/mV"));
        }
        ui.separator();
        ui.add_enabled_ui(settings.layout == Layout::ThreeByFour, |ui| {
            egui::ComboBox::from_label("Rhythm lead")
                .selected_text(settings.rhythm_lead.name())
                .show_ui(ui, |ui| {
                    for lead in StandardLead::STANDARD_ORDER {
                        ui.selectable_value(&mut settings.rhythm_lead, lead, lead.name());
                    }
                });
        });
        ui.separator();
        let (lo, hi) = PaperSettings::ZOOM_RANGE;
        if ui
            .add_enabled(settings.zoom > lo, egui::Button::new("Zoom −"))
            .on_hover_text("Zoom out")
            .clicked()
        {
            settings.zoom = (settings.zoom / 1.25).max(lo);
        }
        ui.label(format!("{:.0} %", settings.zoom * 100.0));
        if ui
            .add_enabled(settings.zoom < hi, egui::Button::new("Zoom +"))
            .on_hover_text("Zoom in")
            .clicked()
        {
            settings.zoom = (settings.zoom * 1.25).min(hi);
        }
        if ui.button("Fit width").clicked() {
            settings.zoom = 1.0;
        }
    });
    *settings != before
}
