//! The paper toolbar: layout, paper speed, gain, rhythm lead and zoom. Every control carries
//! an accessible label so screen readers and the tests can find it.

use ecgr1_engine::StandardLead;
use ecgr1_engine::display_filter::MainsHz;
use ecgr1_engine::render::Layout;
use egui::Ui;

use crate::paper::{PaperSettings, layout_label};

/// Draws the toolbar; returns true when a setting changed.
pub fn paper_toolbar(ui: &mut Ui, settings: &mut PaperSettings) -> bool {
    let before = settings.clone();
    shortcuts(ui, settings);
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
                .on_hover_text(format!("{hint} (L cycles the layouts)"));
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
            .on_hover_text("Zoom out (−)")
            .clicked()
        {
            settings.zoom = (settings.zoom / 1.25).max(lo);
        }
        ui.label(format!("{:.0} %", settings.zoom * 100.0));
        if ui
            .add_enabled(settings.zoom < hi, egui::Button::new("Zoom +"))
            .on_hover_text("Zoom in (+)")
            .clicked()
        {
            settings.zoom = (settings.zoom * 1.25).min(hi);
        }
        if ui
            .button("Fit width")
            .on_hover_text("Fit the page to the width (0)")
            .clicked()
        {
            settings.zoom = 1.0;
        }
        ui.separator();
        ui.label("Display filters:");
        let f = &mut settings.filters;
        ui.toggle_value(&mut f.baseline, "Baseline")
            .on_hover_text("0.5 Hz high-pass against baseline wander; on screen only");
        for (mains, name) in [(MainsHz::Fifty, "50 Hz"), (MainsHz::Sixty, "60 Hz")] {
            let mut on = f.mains == Some(mains);
            if ui
                .toggle_value(&mut on, name)
                .on_hover_text(format!("{name} mains notch; on screen only"))
                .changed()
            {
                f.mains = on.then_some(mains);
            }
        }
        ui.toggle_value(&mut f.low_pass_40, "40 Hz")
            .on_hover_text("40 Hz low-pass against muscle noise (blunts notches); on screen only");
        ui.separator();
        ui.toggle_value(&mut settings.calipers, "Calipers")
            .on_hover_text("Drag on the paper to measure time and voltage; Esc clears");
        ui.toggle_value(&mut settings.true_size, TRUE_SIZE)
            .on_hover_text(
                "Draw the ECG at its printed size (25 mm/s is 25 mm on the screen), for a ruler or calipers held to the monitor",
            );
    });
    if settings.true_size {
        true_size_calibration(ui, settings);
    }
    *settings != before
}

/// Label of the true-size toggle.
pub const TRUE_SIZE: &str = "True size";
/// Label of the screen resolution field of the calibration.
pub const SCREEN_DPI: &str = "Screen resolution (dpi)";

/// The calibration of true size: the monitor's resolution, and a 100 mm bar to check it with
/// a ruler (if the bar measures L mm, the resolution is multiplied by 100 / L).
fn true_size_calibration(ui: &mut Ui, settings: &mut PaperSettings) {
    let native = ui.ctx().native_pixels_per_point().unwrap_or(1.0);
    let ppp = ui.ctx().pixels_per_point();
    ui.horizontal_wrapped(|ui| {
        let mut dpi = settings.screen_dpi(native);
        let label = ui.label(format!("{SCREEN_DPI}:"));
        let (lo, hi) = PaperSettings::DPI_RANGE;
        if ui
            .add(egui::DragValue::new(&mut dpi).range(lo..=hi).speed(0.5))
            .labelled_by(label.id)
            .on_hover_text("Physical dots per inch of this monitor; measure the bar below and adjust until it is 100 mm")
            .changed()
        {
            settings.screen_dpi = Some(dpi);
        }
        if ui.button("Nominal").on_hover_text("96 dpi at the system scale factor").clicked() {
            settings.screen_dpi = None;
        }
        let mm = settings.true_size_points_per_mm(native, ppp);
        let (rect, response) = ui.allocate_exact_size(egui::vec2(100.0 * mm, 10.0), egui::Sense::hover());
        ui.painter().rect_filled(rect, 0.0, ui.visuals().strong_text_color());
        response.widget_info(|| {
            egui::WidgetInfo::labeled(egui::Role::Image, true, "100 mm calibration bar")
        });
        ui.label("(this bar is 100 mm at the set resolution: measure it with a ruler)");
    });
}

/// L cycles the layout, + and − zoom, 0 fits the width; not while a text field has the
/// keyboard.
fn shortcuts(ui: &Ui, settings: &mut PaperSettings) {
    if ui.ctx().egui_wants_keyboard_input() {
        return;
    }
    let (lo, hi) = PaperSettings::ZOOM_RANGE;
    ui.input(|i| {
        if i.key_pressed(egui::Key::L) && i.modifiers.is_none() {
            let at = Layout::ALL
                .iter()
                .position(|l| *l == settings.layout)
                .unwrap_or(0);
            settings.layout = Layout::ALL[(at + 1) % Layout::ALL.len()];
        }
        if i.key_pressed(egui::Key::Plus) || i.key_pressed(egui::Key::Equals) {
            settings.zoom = (settings.zoom * 1.25).min(hi);
        }
        if i.key_pressed(egui::Key::Minus) {
            settings.zoom = (settings.zoom / 1.25).max(lo);
        }
        if i.key_pressed(egui::Key::Num0) && i.modifiers.is_none() {
            settings.zoom = 1.0;
        }
    });
}
