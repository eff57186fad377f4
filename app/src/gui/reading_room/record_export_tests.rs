//! The reading room's "Export to record (HL7 / FHIR)" action: refused for an unsigned run,
//! written and audited for a signed one (headless, through accessibility labels).

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use super::record_export::{FHIR_CHOICE, RECORD_BUTTON, RECORD_PATH_FIELD, unsigned_refusal};
use super::tests::{
    App, click, enter_password, prepare_signature, run_protocol, settle, step_until, type_into,
};
use crate::audit::AuditKey;
use crate::gui::{StartOptions, WorkstationApp};
use crate::store::{DbLocation, HistoryFilter, KeySource, StoreConfig};

/// A window acting as dr_reed with a DICOM ECG open whose header names the patient
/// (Doe^Jane, SYN-0001): a record export needs a patient identifier.
fn with_identified_patient() -> App {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/dicom/implicit_mdc_mv.dcm");
    let options = StartOptions {
        file: Some(file),
        store: Ok(StoreConfig {
            db: DbLocation::Memory,
            key: KeySource::Given(AuditKey::random().unwrap()),
            first_user: "dr_reed".into(),
            first_password: Some("correct horse".into()),
            clock: crate::store::clock::Clock::System,
        }),
        user: "dr_reed".into(),
        persisted: None,
        load_options: ecgr1_engine::formats::LoadOptions::default(),
    };
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(|cc| WorkstationApp::new(&cc.egui_ctx, options));
    step_until(&mut harness, "the DICOM file", |app| {
        app.link().is_some()
            && !app.reading.is_busy()
            && app.reading.doc.as_ref().is_some_and(|d| {
                matches!(&d.origin, super::document::Origin::File(p) if p.ends_with("implicit_mdc_mv.dcm"))
            })
    });
    harness
}

fn export(harness: &mut App, path: &std::path::Path) -> Result<String, String> {
    let field = format!("{RECORD_PATH_FIELD}:");
    click(harness, &field);
    harness.key_combination_modifiers(egui::Modifiers::COMMAND, &[egui::Key::A]);
    settle(harness);
    harness
        .get_by_label(&field)
        .type_text(&path.display().to_string());
    settle(harness);
    click(harness, RECORD_BUTTON);
    step_until(harness, "the export", |app| {
        !app.reading.record_export.is_running() && app.reading.record_export.message().is_some()
    });
    harness
        .state()
        .reading
        .record_export
        .message()
        .cloned()
        .unwrap()
}

#[test]
fn an_unsigned_run_is_refused_and_a_signed_run_goes_to_the_record_as_hl7_and_fhir() {
    let mut harness = with_identified_patient();
    run_protocol(&mut harness);
    let run_id = harness.state().reading.shown_run().unwrap().run_id.unwrap();
    let dir = tempfile::tempdir().unwrap();

    let refused = dir.path().join("unsigned.hl7");
    let message = export(&mut harness, &refused).unwrap_err();
    assert_eq!(message, unsigned_refusal(run_id));
    harness.get_by_label_contains("is not signed: only a signed run");
    assert!(!refused.exists(), "nothing written for an unsigned run");

    // The file holds 1.2 s, too short for the protocol to answer: the cardiologist signs an
    // answer of their own.
    click(&mut harness, "Override");
    type_into(
        &mut harness,
        "My answer:",
        "Sinus rhythm; no ischaemia on this strip.",
    );
    prepare_signature(&mut harness);
    enter_password(&mut harness, "correct horse");
    let hl7 = dir.path().join("run.hl7");
    let summary = export(&mut harness, &hl7).expect("the signed run is exported");
    assert!(
        summary.contains("run.hl7") && summary.contains("signed by dr_reed"),
        "{summary}"
    );
    harness.get_by_label_contains("Exported to ");
    let message = std::fs::read_to_string(&hl7).unwrap();
    assert!(
        message.starts_with("MSH|^~\\&|ECGR1|"),
        "{}",
        &message[..80]
    );
    assert!(
        // The DICOM reader keeps the PN's parts: family^given reaches PID-5 as XPN parts.
        message.contains("\rPID|1||SYN-0001^^^^MR||Doe^Jane|"),
        "the patient: {message}"
    );
    assert!(message.contains("|8867-4^Heart rate^LN|"), "the heart rate");

    click(&mut harness, FHIR_CHOICE);
    let fhir = dir.path().join("run.json");
    export(&mut harness, &fhir).expect("the FHIR bundle is exported");
    let bundle: serde_json::Value = serde_json::from_slice(&std::fs::read(&fhir).unwrap()).unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    let patient = bundle["entry"]
        .as_array()
        .and_then(|e| {
            e.iter()
                .find(|e| e["resource"]["resourceType"] == "Patient")
        })
        .map(|e| e["resource"]["name"][0].clone())
        .unwrap();
    assert_eq!(patient["family"], "Doe");
    assert_eq!(patient["given"], serde_json::json!(["Jane"]));

    // Both exports are in the audit history, with the hashes of the files written.
    let link = harness.state().link().unwrap().clone();
    let events = link
        .store
        .history(&link.session, &HistoryFilter::default())
        .unwrap();
    let formats: Vec<String> = events
        .iter()
        .filter(|e| e.action == "export" && e.entity_type == "report")
        .map(|e| {
            let after: serde_json::Value =
                serde_json::from_str(e.after_json.as_deref().unwrap()).unwrap();
            let sha = after["sha256"].as_str().unwrap().to_string();
            let file = if after["format"] == "fhir-r4-bundle" {
                &fhir
            } else {
                &hl7
            };
            assert_eq!(
                sha,
                ecgr1_engine::formats::sha256_hex(&std::fs::read(file).unwrap())
            );
            after["format"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(formats, ["hl7v2.5.1-oru-r01", "fhir-r4-bundle"]);
}
