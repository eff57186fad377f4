//! The reading room's main flows, driven through accessibility labels (headless, no GPU).

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

use super::super::tests::start;
use super::super::{StoreState, WorkstationApp};
use super::decision::{CONFIRM_SIGN, PASSWORD_FIELD, SIGN_BUTTON};
use super::notes::SAVE_NOTES;
use super::run::{EngineChoice, RunSettings};
use super::{CANCEL_BUTTON, Document, RUN_BUTTON};
use crate::store::{NewDecision, Role, SignatureMeaning, StoreError, Verdict};

pub(crate) type App = Harness<'static, WorkstationApp>;

/// Steps frames until `done` holds (spinners keep repainting, so `Harness::run` would not
/// settle while a job is running), then a few more so the result is drawn.
pub(crate) fn step_until(harness: &mut App, what: &str, done: impl Fn(&WorkstationApp) -> bool) {
    // Generous: a loaded 2-core machine running other tests can take seconds per job.
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    while std::time::Instant::now() < deadline {
        harness.step();
        if done(harness.state()) {
            for _ in 0..3 {
                harness.step();
            }
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("timed out waiting for {what}");
}

/// A couple of frames after an input, so it is handled and its effect drawn.
pub(crate) fn settle(harness: &mut App) {
    for _ in 0..3 {
        harness.step();
    }
}

/// Runs the chosen engine (the protocol engine unless a test chose another) through the run
/// button and waits for the result.
pub(crate) fn run_protocol(harness: &mut App) {
    click(harness, RUN_BUTTON);
    step_until(harness, "the protocol run", |app| {
        !app.reading.is_running() && app.reading.shown_run().is_some()
    });
}

/// Scrolls the widget labelled `label` into view and clicks it.
pub(crate) fn click(harness: &mut App, label: &str) {
    harness.get_by_label(label).scroll_to_me();
    settle(harness);
    harness.get_by_label(label).click();
    settle(harness);
}

/// Scrolls the field labelled `label` into view, focuses it and types `text`.
pub(crate) fn type_into(harness: &mut App, label: &str, text: &str) {
    click(harness, label);
    harness.get_by_label(label).type_text(text);
    settle(harness);
}

/// Fills the decision (agree, a reason, approved) and opens the password prompt.
pub(crate) fn prepare_signature(harness: &mut App) {
    type_into(harness, "Reason:", "the reading matches the tracing");
    click(harness, "Approved");
    click(harness, SIGN_BUTTON);
}

pub(crate) fn enter_password(harness: &mut App, password: &str) {
    type_into(harness, &format!("{PASSWORD_FIELD}:"), password);
    click(harness, CONFIRM_SIGN);
    step_until(harness, "the signature", |app| {
        !app.reading.decision.is_signing()
    });
}

/// A window acting as dr_reed whose run panel is set to the local model at the tiny fixture
/// checkpoint `name` (tests/fixtures/model/NAME), for `task`, writing at most `max_tokens`.
fn with_local_checkpoint(name: &str, task: ecgr1_engine::Task, max_tokens: usize) -> App {
    let mut harness = start("dr_reed");
    // The tiny checkpoints have random weights: they write arbitrary characters, some of which
    // no bundled font has. A real window draws those as boxes; so does this test.
    harness
        .ctx
        .set_missing_glyph_policy(egui::MissingGlyphPolicy::Tofu);
    let checkpoint = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/model")
        .join(name);
    harness.state_mut().reading.run_settings = RunSettings {
        engine: EngineChoice::Local,
        task,
        checkpoint: checkpoint.display().to_string(),
        max_tokens,
        ..RunSettings::default()
    };
    settle(&mut harness);
    harness
}

#[test]
fn sample_to_measurements_to_protocol_run_to_signed_case() {
    let mut harness = start("dr_reed");
    // The sample is open and measured: the heart rate has a value.
    harness.get_by_label("Heart rate");
    let rate = harness
        .state()
        .reading
        .doc
        .as_ref()
        .and_then(|d| d.measurements.as_ref().ok())
        .and_then(|m| m.heart_rate_bpm.value)
        .expect("the sample's heart rate is measured");
    harness.get_by_label(&format!("{rate:.0} bpm"));
    harness.get_by_label("QTc (Bazett)");
    harness.get_by_label("QTc (Fridericia)");

    run_protocol(&mut harness);
    harness.get_by_label_contains("Step 1: Technical, Rate & Rhythm");
    harness.get_by_label_contains("Step 6:");
    harness.get_by_label_contains("Answer: ");
    harness.get_by_label("rule-based, no P(yes)");
    harness.get_by_label_contains("Verifier: ");
    harness.get_by_label_contains("Stored: case 1, run 1");
    step_until(&mut harness, "the worklist", |app| {
        app.reading.worklist.rows.len() == 1 && !app.reading.worklist.is_busy()
    });
    harness.get_by_label_contains("Case 1 · waveform_ecg.dcm · run");

    prepare_signature(&mut harness);
    enter_password(&mut harness, "correct horse");
    let run = harness.state().reading.shown_run().expect("a run is shown");
    let signature = run.signature().expect("the run is signed");
    assert_eq!(signature.signer, "dr_reed");
    assert_eq!(signature.meaning, "approved");
    harness.get_by_label_contains("Signed by dr_reed at");
    harness.get_by_label("This run is signed and read-only.");
    assert!(
        harness
            .get_by_label("Patient history notes:")
            .accesskit_node()
            .is_disabled(),
        "the notes of a signed case are read-only"
    );
    assert!(harness.query_by_label(SIGN_BUTTON).is_none());
    step_until(&mut harness, "the worklist to show the signature", |app| {
        app.reading
            .worklist
            .rows
            .first()
            .is_some_and(|r| r.signed_by.is_some())
    });
    harness.get_by_label_contains("Case 1 · waveform_ecg.dcm · signed");
}

#[test]
fn a_wrong_password_shows_an_error_and_does_not_sign() {
    let mut harness = start("dr_reed");
    run_protocol(&mut harness);
    prepare_signature(&mut harness);
    enter_password(&mut harness, "not my password");
    harness.get_by_label_contains("wrong password for user 'dr_reed'");
    let run = harness.state().reading.shown_run().expect("a run is shown");
    assert!(run.signature().is_none());
    let link = harness.state().link().expect("store open").clone();
    let run_id = run.run_id.expect("stored");
    assert!(
        link.store
            .decisions(&link.session, run_id)
            .unwrap()
            .is_empty()
    );
    click(&mut harness, "Cancel signing");

    // The unsigned case's notes are saved as versions.
    for (text, versions) in [("syncope", 1), (" at rest", 2)] {
        type_into(&mut harness, "Patient history notes:", text);
        click(&mut harness, SAVE_NOTES);
        step_until(&mut harness, "the saved notes", |app| {
            app.reading.notes.versions.len() == versions
        });
    }
    let case_id = harness
        .state()
        .reading
        .doc
        .as_ref()
        .and_then(Document::case_id)
        .expect("stored");
    let notes = link.store.notes(&link.session, case_id).unwrap();
    assert_eq!(
        notes.last().map(|n| n.text.as_str()),
        Some("syncope at rest")
    );
}

#[test]
fn a_user_without_the_cardiologist_role_cannot_sign() {
    let mut harness = start("dr_reed");
    run_protocol(&mut harness);
    let link = harness.state().link().expect("store open").clone();
    link.store
        .add_user(
            &link.session,
            "ann",
            &[Role::Auditor],
            Some("ann's long password"),
        )
        .unwrap();
    let auditor = link.relogin("ann", None).unwrap();
    harness.state_mut().store = StoreState::Open(auditor.clone());
    settle(&mut harness);
    harness.get_by_label_contains("ann (auditor) cannot sign: signing needs the cardiologist role");
    assert!(
        harness
            .get_by_label(SIGN_BUTTON)
            .accesskit_node()
            .is_disabled()
    );
    // The store refuses too, whatever the window shows.
    let run_id = harness
        .state()
        .reading
        .shown_run()
        .and_then(|r| r.run_id)
        .expect("stored");
    let refused = auditor.store.sign(
        &auditor.session,
        &NewDecision {
            run_id,
            verdict: Verdict::Agree,
            reason: "trying",
            meaning: SignatureMeaning::Reviewed,
            password: "ann's long password",
        },
    );
    assert!(matches!(refused, Err(StoreError::PermissionDenied { .. })));
}

#[test]
fn a_local_model_run_streams_tokens_and_can_be_cancelled() {
    let mut harness = with_local_checkpoint("qwen2vl-tiny", ecgr1_engine::Task::Interpret, 8192);
    harness.get_by_label(RUN_BUTTON).click();
    settle(&mut harness);
    step_until(&mut harness, "streamed tokens", |app| {
        app.reading.active_run().is_some_and(|r| r.tokens >= 3) || !app.reading.is_running()
    });
    assert!(
        harness.state().reading.is_running(),
        "the run ended before it could be cancelled: {:?}",
        harness
            .state()
            .reading
            .shown_run()
            .map(|r| (&r.status, &r.error))
    );
    harness.get_by_label_contains("tokens/s");
    harness.get_by_label(CANCEL_BUTTON).click();
    settle(&mut harness);
    step_until(&mut harness, "the cancelled run", |app| {
        !app.reading.is_running()
    });
    let run = harness.state().reading.shown_run().expect("a run is shown");
    assert_eq!(run.status, "cancelled");
    harness.get_by_label_contains("Run cancelled: cancelled by the user");
    // The attempt is stored: the sample became a case whose only run was cancelled.
    harness.get_by_label_contains("Stored: case 1, run 1");
}

#[test]
fn hovering_a_trace_sentence_highlights_its_evidence_on_the_ecg() {
    let mut harness = start("dr_reed");
    run_protocol(&mut harness);
    assert!(harness.state().reading.overlay.highlights.is_empty());
    assert!(
        !harness.state().reading.overlay.beats.is_empty(),
        "beat markers are drawn"
    );
    // The first sentence of a step that cites measured evidence.
    let sentence = {
        let run = harness.state().reading.shown_run().expect("a run is shown");
        let report = run.report.as_ref().expect("a report");
        let s = report
            .steps
            .iter()
            .position(|t| t.evidence.iter().any(|e| e.measurement != "notes"))
            .expect("a step with evidence");
        run.steps[s].sentences[0].text.clone()
    };
    harness.get_by_label(&sentence).scroll_to_me();
    settle(&mut harness);
    harness.get_by_label(&sentence).hover();
    settle(&mut harness);
    assert!(
        !harness.state().reading.overlay.highlights.is_empty(),
        "hovering '{sentence}' highlights nothing"
    );
}

#[test]
fn a_stored_case_reopens_from_the_worklist_and_ctrl_n_walks_it() {
    let mut harness = start("dr_reed");
    run_protocol(&mut harness);
    // A second case: the sample again, run again (a new file, so a new case).
    click(&mut harness, "Open sample");
    step_until(&mut harness, "the sample", |app| !app.reading.is_busy());
    assert!(harness.state().reading.shown_run().is_none());
    type_into(
        &mut harness,
        "Patient history notes:",
        "chest pain since this morning",
    );
    run_protocol(&mut harness);
    // The notes were stored with the new case as its first version.
    step_until(&mut harness, "the notes versions", |app| {
        app.reading.notes.versions.len() == 1
    });
    click(&mut harness, "Earlier versions (1)");
    harness.get_by_label_contains("Version 1 by dr_reed at");
    step_until(&mut harness, "two cases in the worklist", |app| {
        app.reading.worklist.rows.len() == 2
    });
    // Clicking the older case re-reads its stored input, runs and notes.
    harness
        .get_by_label_contains("Case 1 · waveform_ecg.dcm")
        .click();
    step_until(&mut harness, "case 1", |app| {
        !app.reading.is_busy() && app.reading.doc.as_ref().and_then(Document::case_id) == Some(1)
    });
    let run = harness.state().reading.shown_run().expect("the stored run");
    assert_eq!(run.run_id, Some(1));
    assert!(run.report.is_some() && run.verification.is_some());
    harness.get_by_label_contains("Run 1 by dr_reed");
    // Ctrl+N from the first row (case 2, newest) goes to case 1; from case 1 there is no next.
    harness
        .get_by_label_contains("Case 2 · waveform_ecg.dcm")
        .click();
    step_until(&mut harness, "case 2", |app| {
        !app.reading.is_busy() && app.reading.doc.as_ref().and_then(Document::case_id) == Some(2)
    });
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::N);
    step_until(&mut harness, "the next case", |app| {
        !app.reading.is_busy() && app.reading.doc.as_ref().and_then(Document::case_id) == Some(1)
    });
}

#[test]
fn an_image_that_cannot_be_digitised_is_shown_and_said_to_be_unmeasurable() {
    let mut harness = start("dr_reed");
    let image = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/model/ecg_tiny.png"
    );
    type_into(&mut harness, "File:", "");
    harness.state_mut().reading.path_text = image.to_string();
    click(&mut harness, "Open path");
    step_until(&mut harness, "the image", |app| {
        !app.reading.is_busy() && app.reading.doc.as_ref().is_some_and(|d| d.image.is_some())
    });
    harness.get_by_label_contains("Not measured: ecg_tiny.png: the image could not be digitised");
    harness.get_by_label_contains("The image could not be digitised");
    harness.get_by_label("ECG image ecg_tiny.png");
}

#[test]
fn overriding_signs_the_clinicians_own_answer() {
    let mut harness = start("dr_reed");
    run_protocol(&mut harness);
    click(&mut harness, "Override");
    type_into(&mut harness, "My answer:", "anterior ischemia");
    type_into(
        &mut harness,
        "Reason:",
        "dynamic changes against the previous tracing",
    );
    click(&mut harness, "Reviewed");
    click(&mut harness, SIGN_BUTTON);
    enter_password(&mut harness, "correct horse");
    let run = harness.state().reading.shown_run().expect("a run is shown");
    let signature = run.signature().expect("signed");
    assert_eq!(signature.kind, "override");
    assert_eq!(signature.final_answer, "anterior ischemia");
    assert_eq!(signature.meaning, "reviewed");
    harness.get_by_label_contains("(reviewed): overrode with \"anterior ischemia\"");
}

#[test]
fn a_local_model_twi_run_shows_its_band_in_probabilistic_words() {
    let mut harness = with_local_checkpoint("qwen2vl-tiny", ecgr1_engine::Task::Twi, 12);
    run_protocol(&mut harness);
    let run = harness.state().reading.shown_run().expect("a run is shown");
    assert_eq!(run.status, "completed", "{:?}", run.error);
    let report = run.report.as_ref().expect("a report");
    assert_eq!(report.engine.name, "ecg-r1");
    let p = report.p_yes().expect("the model's P(yes)");
    let band = report.band.expect("a band");
    harness.get_by_label(&format!(
        "{} probability of ischemic T-wave inversion, P(yes) = {p:.2}",
        band.name()
    ));
    harness.get_by_label(ecgr1_engine::report::ASSIST_NOTICE);
    harness.get_by_label_contains("Stored: case 1, run 1");
}

/// A file dropped on the window, as a desktop back end hands it over.
#[derive(Debug)]
struct DroppedPath(std::path::PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn a_file_dropped_on_the_window_is_opened() {
    let mut harness = start("dr_reed");
    let path = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../assets/samples/synthetic_sinus.edf"
    ));
    harness
        .input_mut()
        .dropped_files
        .push(std::sync::Arc::new(DroppedPath(path)));
    step_until(&mut harness, "the dropped file", |app| {
        !app.reading.is_busy()
            && app
                .reading
                .doc
                .as_ref()
                .is_some_and(|d| d.file_name() == "synthetic_sinus.edf")
    });
    harness.get_by_label_contains("synthetic_sinus.edf");
}

#[test]
fn ctrl_r_runs_the_engine_and_the_shortcuts_are_in_the_tooltips() {
    let mut harness = start("dr_reed");
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::R);
    step_until(&mut harness, "the run started by Ctrl+R", |app| {
        !app.reading.is_running() && app.reading.shown_run().is_some()
    });
    harness.get_by_label_contains("Stored: case 1, run 1");
    // The tooltips name the shortcuts.
    for (widget, tip) in [
        (RUN_BUTTON, "Run the engine on this ECG (Ctrl+R)"),
        ("Open…", "(Ctrl+O)"),
    ] {
        harness.get_by_label(widget).hover();
        // Tooltips appear after egui's hover delay.
        for _ in 0..60 {
            harness.step();
        }
        harness.get_by_label_contains(tip);
    }
}

#[test]
fn with_stored_cases_the_window_opens_the_newest_case_not_the_sample() {
    use crate::audit::AuditKey;
    use crate::store::{DbLocation, KeySource, StoreConfig};

    let dir = tempfile::tempdir().unwrap();
    let key = AuditKey::random().unwrap();
    let options = || super::super::StartOptions {
        file: None,
        store: Ok(StoreConfig {
            db: DbLocation::File(dir.path().join("cases.sqlite")),
            key: KeySource::Given(key.clone()),
            first_user: "dr_reed".into(),
            first_password: Some("correct horse".into()),
            clock: crate::store::clock::Clock::System,
        }),
        user: "dr_reed".into(),
        persisted: None,
        load_options: ecgr1_engine::formats::LoadOptions::default(),
    };
    let build = |options: super::super::StartOptions| -> App {
        Harness::builder()
            .with_size(egui::vec2(1600.0, 1000.0))
            .build_eframe(move |cc| WorkstationApp::new(&cc.egui_ctx, options))
    };
    // First start: an empty store, so the sample is shown; running the engine stores it.
    let mut first = build(options());
    step_until(&mut first, "the store and the sample", |app| {
        app.link().is_some() && !app.reading.is_busy()
    });
    assert!(matches!(
        first.state().reading.doc.as_ref().map(|d| &d.origin),
        Some(super::document::Origin::Sample(_))
    ));
    run_protocol(&mut first);
    drop(first);
    // Next start: the newest stored case opens with its run.
    let mut second = build(options());
    step_until(&mut second, "the newest case", |app| {
        !app.reading.is_busy() && app.reading.doc.as_ref().and_then(Document::case_id) == Some(1)
    });
    assert!(second.state().reading.shown_run().is_some());
}

#[test]
fn the_signed_run_is_saved_as_a_report_pdf() {
    use super::report_export::{REPORT_BUTTON, REPORT_PATH_FIELD};
    let mut harness = start("dr_reed");
    run_protocol(&mut harness);
    prepare_signature(&mut harness);
    enter_password(&mut harness, "correct horse");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("case1.pdf");
    let field = format!("{REPORT_PATH_FIELD}:");
    click(&mut harness, &field);
    harness.key_combination_modifiers(egui::Modifiers::COMMAND, &[egui::Key::A]);
    settle(&mut harness);
    harness
        .get_by_label(&field)
        .type_text(&path.display().to_string());
    settle(&mut harness);
    click(&mut harness, REPORT_BUTTON);
    step_until(&mut harness, "the report", |app| {
        !app.reading.report_export.is_running() && app.reading.report_export.message().is_some()
    });
    let message = harness.state().reading.report_export.message().cloned();
    let summary = message.unwrap().expect("the report was written");
    assert!(summary.contains("case1.pdf"), "{summary}");
    harness.get_by_label_contains("Wrote ");
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    // The export is audited with the file's hash (the pages are checked in tests/report_pdf).
    let link = harness.state().link().unwrap().clone();
    let events = link
        .store
        .history(&link.session, &crate::store::HistoryFilter::default())
        .unwrap();
    let export = events
        .iter()
        .find(|e| e.action == "export" && e.entity_type == "report")
        .expect("the report export is audited");
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    assert!(export.after_json.as_deref().unwrap_or("").contains(&sha));
}

#[test]
fn the_next_start_restores_layout_workspace_engine_settings_and_the_open_case() {
    use crate::audit::AuditKey;
    use crate::gui::Workspace;
    use crate::gui::settings::{OpenItem, PersistedState};
    use crate::store::{DbLocation, KeySource, StoreConfig};

    let dir = tempfile::tempdir().unwrap();
    let key = AuditKey::random().unwrap();
    let options = |persisted: Option<PersistedState>, file: Option<std::path::PathBuf>| {
        super::super::StartOptions {
            file,
            store: Ok(StoreConfig {
                db: DbLocation::File(dir.path().join("cases.sqlite")),
                key: KeySource::Given(key.clone()),
                first_user: "dr_reed".into(),
                first_password: Some("correct horse".into()),
                clock: crate::store::clock::Clock::System,
            }),
            user: "dr_reed".into(),
            persisted,
            load_options: ecgr1_engine::formats::LoadOptions::default(),
        }
    };
    let build = |options: super::super::StartOptions| -> App {
        Harness::builder()
            .with_size(egui::vec2(1600.0, 1000.0))
            .build_eframe(move |cc| WorkstationApp::new(&cc.egui_ctx, options))
    };
    let loaded = |app: &WorkstationApp| app.link().is_some() && !app.reading.is_busy();
    // Two stored cases: the sample (case 1), then a CSV file (case 2, the newest).
    let mut first = build(options(None, None));
    step_until(&mut first, "the sample", loaded);
    run_protocol(&mut first);
    drop(first);
    let csv = super::document::samples_dir()
        .unwrap()
        .join("synthetic_sinus.csv");
    let mut second = build(options(None, Some(csv.clone())));
    step_until(&mut second, "the CSV file", loaded);
    assert_eq!(
        second.state().persisted().open,
        Some(OpenItem::File(csv.clone()))
    );
    run_protocol(&mut second);
    let mut saved = second.state().persisted();
    assert_eq!(saved.open, Some(OpenItem::Case(2)));
    drop(second);

    // What the last start remembered: case 1 open, 6x2 at 50 mm/s, the auditor's workspace,
    // the TWI task.
    saved.open = Some(OpenItem::Case(1));
    saved.layout = Some("6x2".into());
    saved.speed_mm_s = Some(50.0);
    saved.workspace = Some("auditor".into());
    let mut run = saved.run.clone().unwrap();
    run.task = ecgr1_engine::report::Task::Twi;
    saved.run = Some(run);
    let mut third = build(options(Some(saved), None));
    step_until(&mut third, "the store", |app| app.link().is_some());
    assert_eq!(third.state().workspace, Workspace::Auditor);
    // The reading room opens the remembered case (not the newest) when it is shown.
    third.state_mut().workspace = Workspace::ReadingRoom;
    step_until(&mut third, "the remembered case", |app| {
        !app.reading.is_busy() && app.reading.doc.as_ref().and_then(Document::case_id) == Some(1)
    });
    let app = third.state();
    assert_eq!(
        app.reading.paper_settings().layout,
        ecgr1_engine::render::Layout::SixByTwo
    );
    assert_eq!(app.reading.paper_settings().speed_mm_s, 50.0);
    assert_eq!(
        app.reading.run_settings().task,
        ecgr1_engine::report::Task::Twi
    );
}

#[test]
fn an_ecgr1_checkpoint_reads_the_signal_through_its_tower_and_the_run_is_signed() {
    let mut harness = with_local_checkpoint("ecgr1-tiny", ecgr1_engine::Task::Interpret, 12);
    run_protocol(&mut harness);
    let run = harness.state().reading.shown_run().expect("a run is shown");
    assert_eq!(run.status, "completed", "{:?}", run.error);
    let report = run.report.as_ref().expect("a report");
    assert_eq!(report.engine.name, "ecg-r1");
    let family = report.engine.family.clone().unwrap_or_default();
    assert!(family.contains("ecg"), "family {family}");
    // The sample is 1000 Hz: the tower's input was resampled, and the window says so.
    harness.get_by_label_contains("resampled from 1000 Hz to 500 Hz");
    // Which model wrote it is on screen, as the audit record keeps it.
    harness.get_by_label_contains("Engine: ecg-r1 0.1.0 · ecg-r1 · f32 · cpu · model.safetensors");
    harness.get_by_label(ecgr1_engine::report::ASSIST_NOTICE);
    harness.get_by_label_contains("Stored: case 1, run 1");
    prepare_signature(&mut harness);
    enter_password(&mut harness, "correct horse");
    harness.get_by_label_contains("This run is signed and read-only");
}

#[test]
fn a_second_ecg_of_the_patient_is_compared_with_the_prior_lead_by_lead() {
    use super::compare::COMPARE_BUTTON;
    let mut harness = start("dr_reed");
    // The sample carries a patient identifier: two runs on it are two cases of one patient.
    run_protocol(&mut harness);
    click(&mut harness, "Open sample");
    step_until(&mut harness, "the sample", |app| !app.reading.is_busy());
    run_protocol(&mut harness);
    step_until(&mut harness, "two cases in the worklist", |app| {
        app.reading.worklist.rows.len() == 2 && !app.reading.worklist.is_busy()
    });
    harness
        .get_by_label_contains("Case 2 · waveform_ecg.dcm")
        .click();
    step_until(&mut harness, "case 2 with its prior offered", |app| {
        !app.reading.is_busy()
            && app.reading.doc.as_ref().and_then(Document::case_id) == Some(2)
            && app.reading.compare.offered.is_some()
    });
    harness.get_by_label_contains("This patient has a prior ECG: case 1");
    click(&mut harness, COMPARE_BUTTON);
    step_until(&mut harness, "the comparison", |app| {
        app.reading.compare.open.is_some()
    });
    // Both tracings with the same layout, gain and speed, then the delta table.
    let papers = harness
        .query_all_by_label_contains("ECG paper: layout 3x4, 13 panels, 25 mm/s, 10 mm/mV")
        .count();
    assert_eq!(papers, 2);
    // The heading and the statement both name the prior ECG.
    assert!(
        harness
            .query_all_by_label_contains("Compared with the ECG of")
            .count()
            >= 2
    );
    harness.get_by_label("No significant change by the serial criteria.");
    harness.get_by_label("ΔST");
    harness.get_by_label("+20 ms");
    // A run now carries the comparison: the trace says so, and the store keeps it.
    run_protocol(&mut harness);
    let run = harness.state().reading.shown_run().expect("the run");
    let report = run.report.as_ref().expect("a report");
    assert!(
        report.steps[5].text.contains("Compared with the ECG of"),
        "{}",
        report.steps[5].text
    );
    assert!(run.comparison.is_some());
    let run_id = run.run_id.expect("stored");
    let link = harness.state().link().unwrap().clone();
    let stored = link.store.run_record(&link.session, run_id).unwrap();
    assert!(
        stored
            .comparison_json
            .as_deref()
            .is_some_and(|j| j.contains("\"changes\":[]"))
    );
    // The audit history names the prior ECG the run was compared with.
    let events = link
        .store
        .history(&link.session, &crate::store::HistoryFilter::default())
        .unwrap();
    assert!(events.iter().any(|e| {
        e.entity_type == "run"
            && e.after_json
                .as_deref()
                .is_some_and(|a| a.contains("prior_sha256"))
    }));
    // Closing the comparison shows the single tracing again.
    click(&mut harness, super::compare::CLOSE_COMPARE_BUTTON);
    assert_eq!(
        harness
            .query_all_by_label_contains("ECG paper: layout 3x4")
            .count(),
        1
    );
}

#[test]
fn the_ecg_and_the_trace_share_the_centre_of_the_window() {
    let mut harness = start("dr_reed");
    run_protocol(&mut harness);
    let paper = harness.get_by_label_contains("ECG paper: layout").rect();
    let step = harness
        .get_by_label_contains("Step 1: Technical, Rate & Rhythm")
        .rect();
    // The trace sits under the ECG, not in a narrow column beside it…
    assert!(step.top() >= paper.bottom() - 1.0, "{step:?} vs {paper:?}");
    assert!(
        (step.left() - paper.left()).abs() < 40.0,
        "{step:?} vs {paper:?}"
    );
    // …and the page fits the upper part of the window without scrolling, as wide as it allows.
    assert!(paper.bottom() <= 1000.0 * 0.75, "{paper:?}");
    assert!(paper.width() > 600.0, "{paper:?}");
}

#[test]
fn in_a_narrow_window_the_trace_takes_the_height_the_page_cannot_use() {
    let mut harness = start("dr_reed");
    run_protocol(&mut harness);
    // From the page's bottom edge to the first step of the trace: the trace panel's own
    // heading, the same in any window when the panel starts right under the page.
    let gap = |harness: &App| {
        let paper = harness.get_by_label_contains("ECG paper: layout").rect();
        let step = harness
            .get_by_label_contains("Step 1: Technical, Rate & Rhythm")
            .rect();
        assert!(step.top() >= paper.bottom() - 1.0, "{step:?} vs {paper:?}");
        (step.top() - paper.bottom(), paper.height())
    };
    let (wide_gap, wide_page) = gap(&harness);
    // The side panels keep their widths: the centre is about 400 points wide, so the page,
    // fitted to that width, is far shorter than the upper part of the window.
    harness.set_size(egui::vec2(1100.0, 1000.0));
    settle(&mut harness);
    let (narrow_gap, narrow_page) = gap(&harness);
    assert!(
        narrow_page < wide_page * 0.7,
        "{narrow_page} vs {wide_page}"
    );
    assert!(
        narrow_gap < wide_gap + 40.0,
        "a gap opened under the page: {narrow_gap} against {wide_gap} in a wide window"
    );
}

#[test]
fn a_vendor_file_shows_the_carts_reading_beside_the_measurements() {
    let mut harness = start("dr_reed");
    for (file, statement, cart_rate) in [
        (
            "muse/muse_sinus.xml",
            "Cart statement: Normal sinus rhythm T wave inversion in anterior leads",
            "72 bpm",
        ),
        (
            "sierra/sierra_xli.xml",
            "Cart statement: Sinus rhythm",
            "72 bpm",
        ),
        (
            "scp/scp_reference_beat.scp",
            "Cart statement: Sinus rhythm",
            "70 bpm",
        ),
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures")
            .join(file);
        harness.state_mut().reading.path_text.clear();
        type_into(&mut harness, "File:", &path.display().to_string());
        click(&mut harness, "Open path");
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        step_until(&mut harness, "the vendor file", |app| {
            !app.reading.is_busy()
                && app
                    .reading
                    .doc
                    .as_ref()
                    .is_some_and(|d| d.file_name() == name)
        });
        harness.get_by_label("Cart: Ventricular rate");
        // The cart's rate (our own rate may read the same).
        assert!(harness.query_all_by_label(cart_rate).count() >= 1, "{file}");
        harness.get_by_label(statement);
        // Ours beside it: the workstation's own heart rate.
        harness.get_by_label("Heart rate");
    }
}

#[test]
fn an_entered_patient_id_links_a_file_that_names_no_patient() {
    use super::run_panel::PATIENT_ID_FIELD;
    let mut harness = start("dr_reed");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/samples/synthetic_sinus.csv");
    harness.state_mut().reading.path_text.clear();
    type_into(&mut harness, "File:", &path.display().to_string());
    click(&mut harness, "Open path");
    step_until(&mut harness, "the CSV", |app| {
        !app.reading.is_busy()
            && app
                .reading
                .doc
                .as_ref()
                .is_some_and(|d| d.file_name() == "synthetic_sinus.csv")
    });
    type_into(&mut harness, PATIENT_ID_FIELD, "MRN-7");
    run_protocol(&mut harness);
    let link = harness.state().link().unwrap().clone();
    let case_id = harness
        .state()
        .reading
        .doc
        .as_ref()
        .and_then(Document::case_id)
        .unwrap();
    let input = link
        .store
        .input_bytes(
            &link.session,
            harness.state().reading.shown_run().unwrap().run_id.unwrap(),
        )
        .unwrap();
    assert_eq!(input.case_id, case_id);
    let patient = link
        .store
        .patient_identity(&link.session, input.patient_id.expect("a patient"))
        .unwrap();
    assert_eq!(patient.identifier.as_deref(), Some("MRN-7"));
}
