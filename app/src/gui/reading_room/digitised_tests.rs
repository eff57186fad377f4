//! An image case in the reading room: digitised on opening, drawn with the digitiser's
//! reading over it (layers toggled), its per-lead confidence beside the measurements, and
//! corrected by the reader (gain, lead box) and digitised and measured again.

use std::path::PathBuf;

use ecgr1_engine::StandardLead;
use ecgr1_engine::digitise::LeadBox;
use ecgr1_engine::formats::{EcgInput, LoadOptions, load_path};
use ecgr1_engine::render::{RenderOptions, render};
use ecgr1_ui::digitised_page::{
    BOXES_TOGGLE, GAIN_FIELD, LEAD_BOX_FIELD, REDIGITISE_BUTTON, TRACE_TOGGLE, USE_BOX_BUTTON,
};
use egui_kittest::kittest::Queryable;

use super::super::tests::start;
use super::samples_dir;
use super::tests::{App, click, settle, step_until};

/// The bundled sample drawn as a 150-dpi page (3×4 + II, 25 mm/s, 10 mm/mV), written as PNG.
fn rendered_page(dir: &tempfile::TempDir) -> PathBuf {
    let source = samples_dir().unwrap().join("synthetic_sinus.hea");
    let Ok(EcgInput::Signal(signal)) = load_path(&source, &LoadOptions::default()) else {
        panic!("the sample is a signal");
    };
    let page = render(
        &signal.record,
        &RenderOptions {
            dpi: 150.0,
            ..RenderOptions::default()
        },
    )
    .unwrap();
    let path = dir.path().join("page.png");
    crate::cli::render::write_png(&page, &path).unwrap();
    path
}

/// A reading room with the rendered page open, and the page's path.
fn on_rendered_page(dir: &tempfile::TempDir) -> (App, PathBuf) {
    let page = rendered_page(dir);
    let mut harness = start("dr_reed");
    open_page(&mut harness, &page);
    (harness, page)
}

/// The reader drags V1's box onto the row below and keeps it (the digitiser would then read
/// V2's trace there); returns the V1 and V2 boxes found before.
fn move_v1_box_onto_v2_row(harness: &mut App) -> (LeadBox, LeadBox) {
    click(harness, LEAD_BOX_FIELD);
    click(harness, "V1 box");
    let (v1, v2) = {
        let doc = harness.state().reading.doc.as_ref().unwrap();
        let leads = &doc.digitisation().unwrap().report.leads;
        let find = |lead| {
            leads
                .iter()
                .find(|b| b.panel.lead == lead && !b.panel.rhythm)
                .unwrap()
                .clone()
        };
        (find(StandardLead::V1), find(StandardLead::V2))
    };
    {
        let form = &mut harness.state_mut().reading.digitise.form;
        let editing = form.editing.as_mut().unwrap();
        assert_eq!(editing.lead, StandardLead::V1);
        editing.y_px = v2.panel.y_px;
        editing.zero_y_px = v2.panel.zero_y_px;
    }
    settle(harness);
    click(harness, USE_BOX_BUTTON);
    (v1, v2)
}

fn open_page(harness: &mut App, path: &std::path::Path) {
    harness.state_mut().reading.path_text = path.display().to_string();
    click(harness, "Open path");
    step_until(harness, "the digitised page", |app| {
        !app.reading.is_busy()
            && app
                .reading
                .doc
                .as_ref()
                .is_some_and(|d| d.digitisation().is_some())
    });
}

fn wait_for_redigitisation(harness: &mut App) {
    step_until(harness, "the page digitised again", |app| {
        !app.reading.digitise.is_running()
    });
    settle(harness);
}

fn r_amplitude_ii(harness: &App) -> f64 {
    let doc = harness.state().reading.doc.as_ref().unwrap();
    let m = doc.measurements.as_ref().unwrap();
    m.lead(StandardLead::II)
        .and_then(|l| l.r_amplitude_uv.value)
        .unwrap()
}

#[test]
fn an_image_is_digitised_measured_and_drawn_with_toggled_layers() {
    let dir = tempfile::tempdir().unwrap();
    let (mut harness, _) = on_rendered_page(&dir);
    assert!(
        harness
            .state()
            .reading
            .doc
            .as_ref()
            .unwrap()
            .measurements
            .is_ok()
    );
    harness.get_by_label_contains(
        "ECG image page.png; drawn over it: digitised trace of 4 rows, 13 lead boxes, 4 calibration pulses",
    );
    // The digitiser's confidence beside the measurements, lead by lead.
    harness.get_by_label_contains("Mean digitiser confidence");
    harness.get_by_label_contains("V1 confidence");
    harness.get_by_label_contains("Gain: 10 mm/mV, from the calibration pulse");
    click(&mut harness, TRACE_TOGGLE);
    assert!(!harness.state().reading.digitise.layers.traces);
    harness.get_by_label_contains(
        "ECG image page.png; drawn over it: 13 lead boxes, 4 calibration pulses",
    );
    click(&mut harness, BOXES_TOGGLE);
    harness.get_by_label_contains("ECG image page.png; nothing drawn over it");
    click(&mut harness, TRACE_TOGGLE);
    harness.get_by_label_contains("ECG image page.png; drawn over it: digitised trace of 4 rows");
}

#[test]
fn a_gain_correction_changes_the_measured_amplitudes_and_runs_store_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut harness, page) = on_rendered_page(&dir);
    let found = r_amplitude_ii(&harness);
    click(&mut harness, GAIN_FIELD);
    click(&mut harness, "20 mm/mV");
    click(&mut harness, REDIGITISE_BUTTON);
    wait_for_redigitisation(&mut harness);
    let halved = r_amplitude_ii(&harness);
    assert!(
        (halved / found - 0.5).abs() < 0.02,
        "R(II) {found:.0} µV at the found gain, {halved:.0} µV at 20 mm/mV"
    );
    harness.get_by_label_contains("Gain: 20 mm/mV, as stated");
    // A run reads the corrected signal and the store keeps it with the digitiser's report.
    super::tests::run_protocol(&mut harness);
    let run = harness.state().reading.shown_run().unwrap();
    let run_id = run.run_id.unwrap();
    let link = harness.state().link().unwrap();
    let stored = link.store.run_record(&link.session, run_id).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(stored.digitisation_json.as_deref().unwrap()).unwrap();
    assert_eq!(report["gain_mm_mv"], 20.0);
    assert_eq!(report["gain_source"], "stated");
    assert!(
        stored
            .digitised_signal_csv
            .as_deref()
            .is_some_and(|csv| csv.starts_with("time_s,"))
    );
    let input = link.store.input_bytes(&link.session, run_id).unwrap();
    assert_eq!(input.kind, "image");
    assert_eq!(input.bytes, std::fs::read(&page).unwrap());
}

#[test]
fn a_corrected_lead_box_is_digitised_and_measured_again() {
    let dir = tempfile::tempdir().unwrap();
    let (mut harness, _) = on_rendered_page(&dir);
    let (v1, v2) = move_v1_box_onto_v2_row(&mut harness);
    harness.get_by_label_contains("Corrected boxes: V1");
    click(&mut harness, REDIGITISE_BUTTON);
    wait_for_redigitisation(&mut harness);
    let doc = harness.state().reading.doc.as_ref().unwrap();
    let corrected = doc
        .digitisation()
        .unwrap()
        .report
        .leads
        .iter()
        .find(|b| b.panel.lead == StandardLead::V1 && !b.panel.rhythm)
        .unwrap();
    assert!(corrected.corrected);
    assert!(
        (corrected.panel.y_px - v2.panel.y_px).abs() < 0.5
            && (corrected.panel.y_px - v1.panel.y_px).abs() > 1.0
    );
    // Measured again: V1 now shows what V2's panel shows.
    let m = doc.measurements.as_ref().unwrap();
    let r = |lead| m.lead(lead).and_then(|l| l.r_amplitude_uv.value).unwrap();
    assert!(
        (r(StandardLead::V1) - r(StandardLead::V2)).abs() < 60.0,
        "R(V1) {} µV, R(V2) {} µV",
        r(StandardLead::V1),
        r(StandardLead::V2)
    );
    harness.get_by_label_contains("box corrected");
}

#[test]
fn a_reopened_case_is_read_with_the_corrections_its_run_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (mut harness, _) = on_rendered_page(&dir);
    let found = r_amplitude_ii(&harness);
    // Two corrections: the gain, and V1's box moved onto V2's row.
    click(&mut harness, GAIN_FIELD);
    click(&mut harness, "20 mm/mV");
    let (_, v2) = move_v1_box_onto_v2_row(&mut harness);
    click(&mut harness, REDIGITISE_BUTTON);
    wait_for_redigitisation(&mut harness);
    let corrected = r_amplitude_ii(&harness);
    assert!((corrected / found - 0.5).abs() < 0.02);
    super::tests::run_protocol(&mut harness);
    let stored_signal = {
        let link = harness.state().link().unwrap();
        let run_id = harness.state().reading.shown_run().unwrap().run_id.unwrap();
        let run = link.store.run_record(&link.session, run_id).unwrap();
        run.digitised_signal_csv.unwrap()
    };
    // Something else is opened, then the case again from the worklist.
    click(&mut harness, "Open sample");
    step_until(&mut harness, "the sample", |app| !app.reading.is_busy());
    step_until(&mut harness, "the case in the worklist", |app| {
        app.reading.worklist.rows.len() == 1 && !app.reading.worklist.is_busy()
    });
    harness.get_by_label_contains("Case 1 · page.png").click();
    step_until(&mut harness, "case 1", |app| {
        !app.reading.is_busy()
            && app
                .reading
                .doc
                .as_ref()
                .is_some_and(|d| d.case_id() == Some(1) && d.digitisation().is_some())
    });
    settle(&mut harness);
    // The page reads as the run read it: the stated gain, V1's box where the reader put it,
    // the very signal the run stored, and the corrections back in the form to edit further.
    let doc = harness.state().reading.doc.as_ref().unwrap();
    let page_read = doc.digitised.as_ref().unwrap();
    assert!(page_read.notice.is_none(), "{:?}", page_read.notice);
    let d = doc.digitisation().unwrap();
    assert_eq!(d.report.gain_mm_mv, Some(20.0));
    let v1 = d
        .report
        .leads
        .iter()
        .find(|b| b.panel.lead == StandardLead::V1 && !b.panel.rhythm)
        .unwrap();
    assert!(v1.corrected && (v1.panel.y_px - v2.panel.y_px).abs() < 0.5);
    assert_eq!(
        ecgr1_engine::formats::csv::write(&d.record),
        stored_signal.into_bytes()
    );
    assert!((r_amplitude_ii(&harness) - corrected).abs() < 1e-9);
    let form = &harness.state().reading.digitise.form.options;
    assert_eq!(form.gain_mm_mv, Some(20.0));
    assert_eq!(form.lead_boxes.len(), 1);
    harness.get_by_label_contains("Gain: 20 mm/mV, as stated");
    harness.get_by_label_contains("box corrected");
}
