use ecgr1_engine::features::measure;
use ecgr1_engine::formats::{EcgInput, LoadOptions, load_path};
use ecgr1_engine::protocol::ProtocolEngine;
use ecgr1_engine::report::{AnswerScore, Engine, Report, Request, RiskBand, Task};
use ecgr1_engine::verify::verify_report;
use ecgr1_engine::{PatientInfo, SignalInput};
use serde_json::json;

use super::*;
use crate::audit::AuditKey;
use crate::cli::verify::verification_json;
use crate::pdf::checks::{assert_pdfa_2b, pdf_text};
use crate::store::{
    AnalysisIds, DbLocation, HistoryFilter, KeySource, NewAnalysis, NewDecision, NewRun,
    RunOutcome, SignatureMeaning, SqliteStore, StoreConfig, Verdict,
};

const PASSWORD: &str = "correct horse battery staple";
const FIXED_TIME: &str = "2026-11-24T08:30:00.000000Z";

fn sample_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/samples/synthetic_twi.csv")
}

fn open_store() -> (SqliteStore, Session) {
    let store = SqliteStore::open(&StoreConfig {
        db: DbLocation::Memory,
        key: KeySource::Given(AuditKey::random().unwrap()),
        first_user: "alice".into(),
        first_password: Some(PASSWORD.into()),
        clock: crate::store::clock::Clock::System,
    })
    .unwrap();
    let session = store.login("alice", Some(PASSWORD)).unwrap();
    (store, session)
}

/// Analyses the TWI sample with the protocol engine (its report changed by `edit`, to stand
/// in for a model's output), stores it with `patient`, and returns the ids.
fn store_run(
    store: &SqliteStore,
    session: &Session,
    patient: PatientInfo,
    edit: impl FnOnce(&mut Report),
) -> AnalysisIds {
    let bytes = std::fs::read(sample_path()).unwrap();
    let EcgInput::Signal(signal) = load_path(&sample_path(), &LoadOptions::default()).unwrap()
    else {
        panic!("a signal");
    };
    let record = signal.record;
    let mut report = ProtocolEngine::new()
        .run(&Request {
            record: Some(&record),
            image: None,
            notes: "chest pain",
            task: Task::Twi,
        })
        .unwrap();
    edit(&mut report);
    let measurements = measure(&record).unwrap();
    let verification = verify_report(&report, &measurements);
    let input = EcgInput::Signal(Box::new(SignalInput { record, patient }));
    store
        .record_analysis(
            session,
            &NewAnalysis {
                input_bytes: &bytes,
                input: &input,
                notes: "chest pain",
                run: NewRun {
                    engine: &report.engine,
                    task: report.task,
                    parameters: json!({"engine": report.engine.name}),
                    seed: None,
                    started_at: Some(FIXED_TIME.into()),
                    finished_at: Some(FIXED_TIME.into()),
                    outcome: RunOutcome::Completed(&report),
                    measurements: Some(serde_json::to_value(&measurements).unwrap()),
                    verifier_flags: Some(verification_json(&verification)),
                    comparison: None,
                    digitisation: None,
                },
            },
        )
        .unwrap()
}

/// A model-like report: P(yes) 0.87 and a trace with a wrong rate and a wrong QRS.
fn as_model(report: &mut Report) {
    report.engine.name = "ecg-r1".into();
    report.engine.family = Some("qwen2-vl".into());
    report.engine.weights_sha256 = vec![("model.safetensors".into(), "ab".repeat(32))];
    report.score = AnswerScore::from_masses(0.87, 0.13);
    report.band = Some(RiskBand::High);
    report.raw_output = "<think>Step 1: heart rate is 150 bpm, sinus tachycardia. Step 2: QRS 160 ms, wide.</think><answer>yes</answer>".into();
}

/// The text of the report as a reader of the PDF gets it.
fn all_text(pdf: &[u8]) -> String {
    pdf_text(pdf)
}

fn options() -> ReportOptions {
    ReportOptions {
        deidentified: false,
        generated_at: Some(FIXED_TIME.into()),
    }
}

#[test]
fn a_signed_model_run_gives_a_valid_deterministic_report() {
    let (store, session) = open_store();
    let ids = store_run(&store, &session, PatientInfo::default(), as_model);
    store
        .sign(
            &session,
            &NewDecision {
                run_id: ids.run_id,
                verdict: Verdict::Agree,
                reason: "primary pattern",
                meaning: SignatureMeaning::Approved,
                password: PASSWORD,
            },
        )
        .unwrap();
    let first = build_report_pdf(&store, &session, ids.run_id, &options()).unwrap();
    let second = build_report_pdf(&store, &session, ids.run_id, &options()).unwrap();
    assert_eq!(
        first.bytes, second.bytes,
        "same inputs and clock, same bytes"
    );
    assert!(first.pages >= 2);
    assert_pdfa_2b(&first.bytes);
    let text = all_text(&first.bytes);
    for needle in [
        "P(yes) 0.87: high probability of ischemia",
        "Page 1 of",
        "meaning: approved",
        "contradicted",
        "model.safetensors:",
        &"ab".repeat(32),
        "2026-11-24 08:30:00 UTC",
        "Decision support only",
    ] {
        assert!(text.contains(needle), "missing {needle:?}");
    }
    // Both reports were recorded, about this case.
    let events = store
        .history(
            &session,
            &HistoryFilter {
                case_id: Some(ids.case_id),
                ..HistoryFilter::default()
            },
        )
        .unwrap();
    let exports: Vec<_> = events
        .iter()
        .filter(|e| e.action == "export" && e.entity_type == "report")
        .collect();
    assert_eq!(exports.len(), 2);
    assert!(
        exports[0]
            .after_json
            .as_deref()
            .unwrap()
            .contains(&first.sha256)
    );
    assert!(store.verify_audit().unwrap().is_intact());
}

#[test]
fn an_unsigned_protocol_run_says_so() {
    let (store, session) = open_store();
    let ids = store_run(&store, &session, PatientInfo::default(), |_| {});
    let pdf = build_report_pdf(&store, &session, ids.run_id, &options()).unwrap();
    let text = all_text(&pdf.bytes);
    assert!(text.contains("rule-based, no P(yes)"));
    assert!(text.contains("Not signed"));
    assert!(text.contains("none: a built-in rule-based engine has no weights"));
    assert!(text.contains("no identifying data came with the input"));
    assert!(
        text.lines().any(|l| l.trim() == "chest pain"),
        "the case notes are shown"
    );
}

#[test]
fn identity_is_printed_only_when_allowed_and_wanted() {
    let (store, session) = open_store();
    let patient = PatientInfo {
        name: Some("Doe^Jane".into()),
        id: Some("MRN-4711".into()),
        birth_date: Some("1960-02-03".into()),
        sex: Some("F".into()),
    };
    let ids = store_run(&store, &session, patient, |_| {});
    let pdf = build_report_pdf(&store, &session, ids.run_id, &options()).unwrap();
    assert!(pdf.identity_included);
    assert!(all_text(&pdf.bytes).contains("MRN-4711"));

    let deidentified = ReportOptions {
        deidentified: true,
        ..options()
    };
    let pdf = build_report_pdf(&store, &session, ids.run_id, &deidentified).unwrap();
    assert!(!pdf.identity_included);
    let text = all_text(&pdf.bytes);
    assert!(!text.contains("MRN-4711") && !text.contains("Doe^Jane"));
    assert!(text.contains("de-identified report"));
    assert!(
        !text.lines().any(|l| l.trim() == "chest pain"),
        "free-text notes stay out"
    );

    store
        .add_user(&session, "tom", &[Role::Trainer], None)
        .unwrap();
    let trainer = store.login("tom", None).unwrap();
    let pdf = build_report_pdf(&store, &trainer, ids.run_id, &options()).unwrap();
    let text = all_text(&pdf.bytes);
    assert!(!text.contains("MRN-4711"));
    assert!(text.contains("patient identity withheld"));
    // The trainer was not refused anything: the report never asked for the identity.
    let denied = store
        .history(&session, &HistoryFilter::default())
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "permission_denied")
        .count();
    assert_eq!(denied, 0);
}

#[test]
fn an_unknown_run_is_a_clear_error() {
    let (store, session) = open_store();
    let message = build_report_pdf(&store, &session, 42, &options())
        .unwrap_err()
        .to_string();
    assert_eq!(message, "run 42 does not exist");
}

#[test]
fn a_failed_run_is_reported_as_failed() {
    let (store, session) = open_store();
    let ids = store_run(&store, &session, PatientInfo::default(), |_| {});
    let engine = ecgr1_engine::report::EngineIdentity {
        name: "ecg-r1".into(),
        version: "0.1.0".into(),
        device: "cpu".into(),
        ..Default::default()
    };
    let failed = store
        .record_run(
            &session,
            ids.case_id,
            &NewRun {
                engine: &engine,
                task: Task::Twi,
                parameters: json!({}),
                seed: None,
                started_at: Some(FIXED_TIME.into()),
                finished_at: Some(FIXED_TIME.into()),
                outcome: RunOutcome::Failed("checkpoint not found"),
                measurements: None,
                verifier_flags: None,
                comparison: None,
                digitisation: None,
            },
        )
        .unwrap();
    let pdf = build_report_pdf(&store, &session, failed, &options()).unwrap();
    assert_pdfa_2b(&pdf.bytes);
    let text = all_text(&pdf.bytes);
    assert!(text.contains("none: the run failed (checkpoint not found)"));
    assert!(text.contains("no P(yes): the engine did not report one"));
    assert!(text.contains("not verified: no verifier result was stored with this run"));
    // The ECG and its measurements are still there: they come from the stored input.
    assert!(text.contains("Per lead"));
    assert!(text.contains("V6"));
}
