//! Small records the store tests write: a two-lead signal with a patient, an engine identity,
//! a report, a run, and a populated history.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use ecgr1_app::store::{
    CaseStore, NewAnalysis, NewDecision, NewRun, RunDigitisation, RunOutcome, SignatureMeaning,
    Verdict,
};
use ecgr1_engine::formats::{EcgInput, Format, SignalInput, sha256_hex};
use ecgr1_engine::record::{EcgRecord, LeadId, LeadSignal, PatientInfo, Provenance};
use ecgr1_engine::report::{EngineIdentity, Report, Task, Timings};

pub const PASSWORD: &str = "correct horse battery";

pub fn signal_input(patient_id: &str) -> (Vec<u8>, EcgInput) {
    let bytes = format!("I,II\n{patient_id},1\n").into_bytes();
    let record = EcgRecord {
        sample_rate_hz: 500.0,
        leads: vec![
            LeadSignal::new(LeadId::from_label("I"), "I", vec![0.0; 10]),
            LeadSignal::new(LeadId::from_label("II"), "II", vec![0.0; 10]),
        ],
        acquisition_time: None,
        device: None,
        provenance: Provenance {
            format: Format::Csv,
            file_name: "test.csv".into(),
            sha256: sha256_hex(&bytes),
            byte_len: bytes.len() as u64,
        },
        annotations: Vec::new(),
        representative_beats: None,
        processing_notes: Vec::new(),
    };
    let input = EcgInput::Signal(Box::new(SignalInput {
        record,
        patient: PatientInfo {
            name: Some("Jane Roe".into()),
            id: Some(patient_id.into()),
            birth_date: Some("1950-01-01".into()),
            sex: Some("F".into()),
        },
    }));
    (bytes, input)
}

/// A page image input (the bytes of a small PNG as read from disk).
pub fn image_input() -> (Vec<u8>, EcgInput) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/model/ecg_tiny.png");
    let bytes = std::fs::read(&path).unwrap();
    let input =
        ecgr1_engine::formats::load_path(&path, &ecgr1_engine::formats::LoadOptions::default())
            .unwrap();
    (bytes, input)
}

/// What a run on an image keeps of its digitisation (the store does not read the contents).
pub fn digitisation() -> RunDigitisation {
    RunDigitisation {
        digitiser_version: "ecgr1-digitise/0.1.0+1".into(),
        report: serde_json::json!({
            "digitiser_version": "ecgr1-digitise/0.1.0+1",
            "layout": "3x4",
            "gain_mm_mv": 10.0,
            "leads": [{ "lead": "II", "confidence": 0.97 }],
        }),
        signal_csv: "time_s,II\n0.000,120\n0.002,\n".into(),
    }
}

pub fn engine() -> EngineIdentity {
    EngineIdentity {
        name: "protocol".into(),
        version: "0.1.0".into(),
        weights_sha256: vec![("model.safetensors".into(), "ab".repeat(32))],
        device: "cpu".into(),
        ..EngineIdentity::default()
    }
}

pub fn report() -> Report {
    Report {
        engine: engine(),
        task: Task::Twi,
        steps: Vec::new(),
        summary: "summary".into(),
        answer: vec!["yes".into()],
        raw_output: "<think>…</think><answer>yes</answer>".into(),
        score: None,
        band: None,
        parse_issues: Vec::new(),
        input_notes: Vec::new(),
        timings: Timings::default(),
    }
}

pub fn new_run<'a>(engine: &'a EngineIdentity, report: &'a Report) -> NewRun<'a> {
    NewRun {
        engine,
        task: Task::Twi,
        parameters: serde_json::json!({ "max_new_tokens": 2048 }),
        seed: Some(7),
        started_at: None,
        finished_at: None,
        outcome: RunOutcome::Completed(report),
        measurements: Some(serde_json::json!({ "qrs_ms": 92 })),
        verifier_flags: None,
        comparison: None,
        digitisation: None,
    }
}

/// A database with a case, two note versions, a run and a signed decision (as "alice" with
/// [`PASSWORD`]); returns (case, run).
pub fn populate(store: &dyn CaseStore) -> (i64, i64) {
    let alice = store.login("alice", Some(PASSWORD)).unwrap();
    let (bytes, input) = signal_input("MRN-1");
    let (engine, report) = (engine(), report());
    let ids = store
        .record_analysis(
            &alice,
            &NewAnalysis {
                input_bytes: &bytes,
                input: &input,
                notes: "chest pain 2 h",
                run: new_run(&engine, &report),
            },
        )
        .unwrap();
    store
        .add_note(&alice, ids.case_id, "chest pain 3 h")
        .unwrap();
    store
        .sign(
            &alice,
            &NewDecision {
                run_id: ids.run_id,
                verdict: Verdict::Agree,
                reason: "matches my reading",
                meaning: SignatureMeaning::Approved,
                password: PASSWORD,
            },
        )
        .unwrap();
    (ids.case_id, ids.run_id)
}

/// Runs the command line in-process; returns (exit code, stdout, stderr).
pub fn cli(args: &[&str]) -> (u8, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut full = vec!["ecgr1"];
    full.extend_from_slice(args);
    let code = ecgr1_app::cli::run(full, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}
