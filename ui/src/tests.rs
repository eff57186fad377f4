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
