//! Accessibility-driven tests of the paper view and its toolbar (headless, no GPU).

use ecgr1_engine::formats::Format;
use ecgr1_engine::record::Provenance;
use ecgr1_engine::{EcgRecord, LeadId, LeadSignal, StandardLead};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use crate::{EcgPaperView, PaperSettings, paper_toolbar};

fn record() -> EcgRecord {
    EcgRecord {
        sample_rate_hz: 500.0,
        leads: StandardLead::STANDARD_ORDER
            .iter()
            .map(|l| {
                let samples = (0..5000)
                    .map(|i| if i % 400 < 20 { 1000.0 } else { 0.0 })
                    .collect();
                LeadSignal::new(LeadId::Standard(*l), l.name(), samples)
            })
            .collect(),
        acquisition_time: None,
        device: None,
        provenance: Provenance {
            format: Format::Csv,
            file_name: "test.csv".into(),
            sha256: String::new(),
            byte_len: 0,
        },
        annotations: Vec::new(),
        representative_beats: None,
        processing_notes: Vec::new(),
    }
}

fn harness(record: &EcgRecord) -> Harness<'_, PaperSettings> {
    Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .build_ui_state(
            |ui, settings: &mut PaperSettings| {
                paper_toolbar(ui, settings);
                egui::ScrollArea::both().show(ui, |ui| {
                    ui.add(EcgPaperView::new(record, settings));
                });
            },
            PaperSettings::default(),
        )
}

#[test]
fn switching_layout_changes_the_panels_shown() {
    let record = record();
    let mut harness = harness(&record);
    harness.run();
    harness.get_by_label_contains("layout 3x4, 13 panels");
    harness.get_by_label("6×2").click();
    harness.run();
    assert_eq!(
        harness.state().layout,
        ecgr1_engine::render::Layout::SixByTwo
    );
    harness.get_by_label_contains("layout 6x2, 12 panels");
    assert!(harness.query_by_label_contains("13 panels").is_none());
    harness.get_by_label("12×1").click();
    harness.run();
    harness.get_by_label_contains("layout 12x1, 12 panels");
}

#[test]
fn gain_and_speed_controls_reach_the_paper() {
    let record = record();
    let mut harness = harness(&record);
    harness.run();
    harness.get_by_label("20 mm/mV").click();
    harness.run();
    harness.get_by_label("50 mm/s").click();
    harness.run();
    harness.get_by_label_contains("50 mm/s, 20 mm/mV");
    assert_eq!(harness.state().gain_mm_mv, 20.0);
    assert_eq!(harness.state().speed_mm_s, 50.0);
}

#[test]
fn an_undrawable_record_shows_the_reason() {
    let mut record = record();
    for lead in &mut record.leads {
        lead.samples_uv.clear();
    }
    let mut harness = Harness::new_ui(|ui| {
        ui.add(EcgPaperView::new(&record, &PaperSettings::default()));
    });
    harness.run();
    harness.get_by_label_contains("Cannot draw this ECG");
}

#[test]
fn display_filters_are_toggled_and_announced_on_the_paper() {
    use ecgr1_engine::display_filter::MainsHz;
    let record = record();
    let mut harness = harness(&record);
    harness.run();
    assert!(
        harness
            .query_by_label_contains("display filters on")
            .is_none()
    );
    harness.get_by_label("50 Hz").click();
    harness.run();
    assert_eq!(harness.state().filters.mains, Some(MainsHz::Fifty));
    harness.get_by_label("60 Hz").click();
    harness.run();
    assert_eq!(harness.state().filters.mains, Some(MainsHz::Sixty));
    harness.get_by_label("Baseline").click();
    harness.run();
    harness.get_by_label_contains("display filters on: baseline 0.5 Hz, 60 Hz notch");
}

#[test]
fn l_cycles_the_layout_and_zoom_keys_zoom() {
    let record = record();
    let mut harness = harness(&record);
    harness.run();
    harness.key_press(egui::Key::L);
    harness.run();
    assert_eq!(
        harness.state().layout,
        ecgr1_engine::render::Layout::SixByTwo
    );
    harness.key_press(egui::Key::L);
    harness.key_press(egui::Key::L);
    harness.run();
    assert_eq!(
        harness.state().layout,
        ecgr1_engine::render::Layout::ThreeByFour
    );
    harness.key_press(egui::Key::Plus);
    harness.run();
    assert!((harness.state().zoom - 1.25).abs() < 1e-6);
    harness.key_press(egui::Key::Num0);
    harness.run();
    assert!((harness.state().zoom - 1.0).abs() < 1e-6);
}

#[test]
fn a_caliper_drag_measures_time_and_voltage() {
    use crate::paper::Caliper;
    let record = record();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .build_ui_state(
            |ui, state: &mut (PaperSettings, Option<Caliper>)| {
                let (settings, caliper) = state;
                ui.add(EcgPaperView::new(&record, settings).caliper(caliper));
            },
            (
                PaperSettings {
                    calipers: true,
                    ..PaperSettings::default()
                },
                None,
            ),
        );
    harness.run();
    let rect = harness.get_by_label_contains("ECG paper").rect();
    let start = rect.center();
    let end = start + egui::vec2(200.0, -50.0);
    harness.hover_at(start);
    harness.event(egui::Event::PointerButton {
        pos: start,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    harness.step();
    for k in 1..=10 {
        harness.hover_at(start + (end - start) * (k as f32 / 10.0));
        harness.step();
    }
    harness.event(egui::Event::PointerButton {
        pos: end,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    harness.run();
    let caliper = harness.state().1.expect("a caliper was drawn");
    // 200 points at the fitted scale, in paper mm at 25 mm/s and 10 mm/mV.
    let pt_per_mm = 200.0 / (caliper.end_mm[0] - caliper.start_mm[0]);
    assert!(
        caliper.dt_ms() > 0.0 && caliper.dv_mv() > 0.0,
        "{caliper:?}"
    );
    assert!(
        (caliper.dv_mv() * 10.0 * pt_per_mm - 50.0).abs() < 2.0,
        "{caliper:?}"
    );
    assert!(caliper.reading().contains("bpm"));
    harness.key_press(egui::Key::Escape);
    harness.run();
    assert!(harness.state().1.is_none(), "Esc clears the caliper");
}

#[test]
fn caliper_arithmetic() {
    let c = crate::paper::Caliper {
        start_mm: [10.0, 50.0],
        end_mm: [30.0, 40.0],
        speed_mm_s: 25.0,
        gain_mm_mv: 10.0,
    };
    assert!((c.dt_ms() - 800.0).abs() < 1e-9);
    assert!((c.dv_mv() - 1.0).abs() < 1e-9);
    assert_eq!(c.reading(), "Δt 800 ms (75 bpm)  ΔV +1.00 mV (10.0 mm)");
}

#[test]
fn true_size_draws_a_paper_millimetre_as_a_screen_millimetre_and_calibrates() {
    use crate::TRUE_SIZE;
    let record = record();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_pixels_per_point(2.0)
        .build_ui_state(
            |ui, settings: &mut PaperSettings| {
                paper_toolbar(ui, settings);
                egui::ScrollArea::both().show(ui, |ui| {
                    ui.add(EcgPaperView::new(&record, settings));
                });
            },
            PaperSettings::default(),
        );
    harness.run();
    let fitted = harness.get_by_label_contains("ECG paper").rect().width();
    harness.get_by_label(TRUE_SIZE).click();
    harness.run();
    assert!(harness.state().true_size);
    let native = harness.ctx.native_pixels_per_point().unwrap_or(1.0);
    let ppp = harness.ctx.pixels_per_point();
    let width_mm = ecgr1_engine::render::page_layout(&record, &harness.state().render_options())
        .map_or_else(|e| panic!("{e}"), |l| l.width_mm) as f32;
    // 96 dpi nominal: 96 / 25.4 physical pixels per mm, drawn at `ppp` pixels per point.
    let expected = width_mm * 96.0 * native / 25.4 / ppp;
    let paper = harness.get_by_label_contains("true size");
    assert!(
        (paper.rect().width() - expected).abs() < 1.0,
        "{} vs {expected}",
        paper.rect().width()
    );
    assert!(
        (paper.rect().width() - fitted).abs() > 1.0,
        "true size differs from the fit"
    );
    // The calibration bar is 100 mm at the set resolution; a calibrated monitor of twice the
    // resolution draws the page twice as many points wide.
    let bar = harness
        .get_by_label("100 mm calibration bar")
        .rect()
        .width();
    assert!(
        (bar - 100.0 * 96.0 * native / 25.4 / ppp).abs() < 0.5,
        "{bar}"
    );
    harness.state_mut().screen_dpi = Some(192.0 * native);
    harness.run();
    let wider = harness.get_by_label_contains("true size").rect().width();
    assert!(
        (wider - 2.0 * expected).abs() < 1.0,
        "{wider} vs {}",
        2.0 * expected
    );
}
