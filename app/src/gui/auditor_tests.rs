//! The auditor's workspace, driven through accessibility labels (headless, no GPU).

use egui_kittest::kittest::Queryable;

use super::Workspace;
use super::auditor::{EXPORT_BUTTON, EXPORT_PATH_FIELD, VERIFY_CHAIN};
use super::reading_room::tests::{
    App, click, enter_password, prepare_signature, run_protocol, settle, step_until, type_into,
};
use super::tests::start_at;
use crate::audit::AuditKey;
use crate::store::{
    DbLocation, KeySource, NewDecision, Role, SignatureMeaning, StoreError, Verdict,
};

const SIGN_BUTTON: &str = super::reading_room::decision::SIGN_BUTTON;

/// A file-backed store with one protocol run signed by dr_reed, and the window switched to
/// the auditor "audrey" in the Auditor workspace.
fn signed_run_then_auditor(dir: &std::path::Path) -> App {
    let mut harness = start_at(
        DbLocation::File(dir.join("cases.sqlite")),
        KeySource::Given(AuditKey::from_bytes([7; 32])),
        "dr_reed",
    );
    run_protocol(&mut harness);
    prepare_signature(&mut harness);
    enter_password(&mut harness, "correct horse");
    switch_to_auditor(&mut harness);
    harness
}

/// Adds the auditor audrey, logs the window in as her and opens the auditor's workspace with
/// its run list loaded.
pub(crate) fn switch_to_auditor(harness: &mut App) {
    let link = harness.state().link().unwrap().clone();
    link.store
        .add_user(
            &link.session,
            "audrey",
            &[Role::Auditor],
            Some("auditor secret"),
        )
        .unwrap();
    let auditor = link.relogin("audrey", Some("auditor secret")).unwrap();
    harness.state_mut().set_link(auditor);
    harness.state_mut().workspace = Workspace::Auditor;
    step_until(harness, "the auditor's run list", |app| {
        !app.auditor.rows().is_empty() && !app.auditor.is_busy()
    });
}

fn tampered_db(db: &std::path::Path, statements: &[&str]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(db);
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        for s in statements {
            sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        conn.close().await.unwrap();
    });
}

#[test]
fn a_signed_run_shows_as_signed_and_the_auditor_cannot_sign() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = signed_run_then_auditor(dir.path());
    harness.get_by_label_contains("Read-only review as audrey (auditor)");
    harness.get_by_label_contains("signed by dr_reed (agree, approved)");
    assert!(
        harness.query_by_label(SIGN_BUTTON).is_none(),
        "no sign control for auditors"
    );
    harness.get_by_label_contains("Audit chain intact:");

    harness.get_by_label_contains("Run 1 · case 1").click();
    settle(&mut harness);
    step_until(&mut harness, "the run detail", |app| !app.auditor.is_busy());
    harness.get_by_label_contains("Signed by dr_reed at");
    harness.get_by_label("Raw output (exactly as the engine wrote it)");
    assert!(
        harness
            .query_all_by_label_contains("Step 1: Technical, Rate & Rhythm")
            .next()
            .is_some()
    );
    harness.get_by_label_contains("Verifier flags as stored:");
    assert!(harness.query_by_label(SIGN_BUTTON).is_none());

    // The store refuses the auditor's signature too.
    let link = harness.state().link().unwrap().clone();
    let refused = link.store.sign(
        &link.session,
        &NewDecision {
            run_id: 1,
            verdict: Verdict::Agree,
            reason: "auditors do not sign",
            meaning: SignatureMeaning::Reviewed,
            password: "auditor secret",
        },
    );
    assert!(
        matches!(refused, Err(StoreError::PermissionDenied { .. })),
        "{refused:?}"
    );
}

#[test]
fn filters_narrow_the_run_list() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = signed_run_then_auditor(dir.path());
    assert!(harness.query_by_label_contains("Run 1 · case 1").is_some());
    harness.state_mut().auditor.filter.decision = super::auditor::DecisionChoice::Override;
    settle(&mut harness);
    assert!(harness.query_by_label_contains("Run 1 · case 1").is_none());
    harness.get_by_label("0 of 1 runs");
    harness.state_mut().auditor.filter.decision = super::auditor::DecisionChoice::Agree;
    harness.state_mut().auditor.filter.user = "dr_reed".into();
    settle(&mut harness);
    assert!(harness.query_by_label_contains("Run 1 · case 1").is_some());
    harness.state_mut().auditor.filter.from = "not a date".into();
    settle(&mut harness);
    harness.get_by_label_contains("From: 'not a date' is not a date");
}

#[test]
fn a_tampered_chain_is_shown_broken_at_the_first_bad_event() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cases.sqlite");
    let mut harness = signed_run_then_auditor(dir.path());
    harness.get_by_label_contains("Audit chain intact:");
    tampered_db(
        &db,
        &[
            "DROP TRIGGER audit_events_no_update",
            "UPDATE audit_events SET reason = 'rewritten' WHERE seq = 3",
        ],
    );
    click(&mut harness, VERIFY_CHAIN);
    step_until(&mut harness, "the chain verification", |app| {
        !app.auditor.is_busy()
    });
    harness.get_by_label_contains("Audit chain BROKEN at event 3");
}

#[test]
fn export_writes_the_history_and_can_deidentify_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = signed_run_then_auditor(dir.path());
    let out = dir.path().join("history.csv");
    type_into(
        &mut harness,
        &format!("{EXPORT_PATH_FIELD}:"),
        &out.display().to_string(),
    );
    click(&mut harness, "De-identified");
    click(&mut harness, EXPORT_BUTTON);
    step_until(&mut harness, "the export", |app| {
        !app.auditor.is_busy() && app.auditor.export_message().is_some()
    });
    let message = harness
        .state()
        .auditor
        .export_message()
        .cloned()
        .unwrap()
        .unwrap();
    assert!(message.contains("(de-identified)"), "{message}");
    let csv = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("seq,"), "{}", lines[0]);
    assert!(csv.contains(",sign,"), "signature events exported: {csv}");
    assert!(lines.len() > 5, "{csv}");
    // The sample carries a patient name; de-identified, it does not appear.
    let full = crate::gui::auditor::export_history(
        harness.state().link().unwrap(),
        &crate::store::HistoryFilter::default(),
        super::auditor::ExportFormat::Json,
        false,
        &dir.path().join("full.json"),
    )
    .unwrap();
    assert!(full.starts_with("Exported "), "{full}");
    let full = std::fs::read_to_string(dir.path().join("full.json")).unwrap();
    let events: serde_json::Value = serde_json::from_str(&full).unwrap();
    assert!(!events.as_array().unwrap().is_empty());
    // The sample's patient id is in the full export and replaced in the de-identified one.
    assert!(
        full.contains("642341"),
        "identity events carry the patient id"
    );
    assert!(
        !csv.contains("642341"),
        "de-identified export leaks the patient id"
    );
    assert!(csv.contains("redacted"), "de-identified values are marked");
}
