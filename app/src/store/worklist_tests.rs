//! The reading room's store queries: worklist, a case's runs, note versions, stored input.

use std::path::Path;

use ecgr1_engine::formats::{EcgInput, LoadOptions, load_path};
use ecgr1_engine::protocol::ProtocolEngine;
use ecgr1_engine::report::{Engine, Request, RiskBand, Task};
use serde_json::json;

use super::*;
use crate::audit::AuditKey;

const PASSWORD: &str = "correct horse";

fn store() -> (SqliteStore, Session) {
    let store = SqliteStore::open(&StoreConfig {
        db: DbLocation::Memory,
        key: KeySource::Given(AuditKey::random().unwrap()),
        first_user: "dr_reed".into(),
        first_password: Some(PASSWORD.into()),
        clock: crate::store::clock::Clock::System,
    })
    .unwrap();
    let session = store.login("dr_reed", Some(PASSWORD)).unwrap();
    (store, session)
}

fn sample() -> (Vec<u8>, EcgInput) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/samples/waveform_ecg.dcm");
    let bytes = std::fs::read(&path).unwrap();
    let input = load_path(&path, &LoadOptions::default()).unwrap();
    (bytes, input)
}

/// Stores the sample with `notes` and one run (completed with the protocol engine's report
/// for `task`, or cancelled).
fn store_case(store: &SqliteStore, session: &Session, notes: &str, completed: Option<Task>) -> i64 {
    let (bytes, input) = sample();
    let EcgInput::Signal(signal) = &input else {
        panic!("the sample is a signal")
    };
    let mut engine = ProtocolEngine::new();
    let report = engine
        .run(&Request {
            record: Some(&signal.record),
            image: None,
            notes,
            task: completed.unwrap_or(Task::Interpret),
        })
        .unwrap();
    let identity = engine.identity();
    let outcome = match completed {
        Some(_) => RunOutcome::Completed(&report),
        None => RunOutcome::Cancelled,
    };
    store
        .record_analysis(
            session,
            &NewAnalysis {
                input_bytes: &bytes,
                input: &input,
                notes,
                run: NewRun {
                    engine: &identity,
                    task: report.task,
                    parameters: json!({}),
                    seed: None,
                    started_at: None,
                    finished_at: None,
                    outcome,
                    measurements: None,
                    verifier_flags: None,
                    comparison: None,
                },
            },
        )
        .unwrap()
        .case_id
}

fn ids(rows: &[WorklistRow]) -> Vec<i64> {
    rows.iter().map(|r| r.case_id).collect()
}

#[test]
fn the_worklist_lists_cases_newest_first_with_their_progress() {
    let (store, session) = store();
    let unread = store_case(&store, &session, "", None);
    let run = store_case(&store, &session, "chest pain", Some(Task::Interpret));
    let signed = store_case(&store, &session, "", Some(Task::Interpret));
    let run_id = store.case_runs(&session, signed).unwrap()[0].id;
    store
        .sign(
            &session,
            &NewDecision {
                run_id,
                verdict: Verdict::Agree,
                reason: "agree with the reading",
                meaning: SignatureMeaning::Approved,
                password: PASSWORD,
            },
        )
        .unwrap();

    let rows = store
        .worklist(&session, &WorklistFilter::default())
        .unwrap();
    assert_eq!(ids(&rows), vec![signed, run, unread]);
    assert_eq!(rows[0].progress, CaseProgress::Signed);
    assert_eq!(rows[0].signed_by.as_deref(), Some("dr_reed"));
    assert!(rows[0].signed_at.is_some());
    assert_eq!(rows[1].progress, CaseProgress::Run);
    assert!(!rows[1].answer.is_empty(), "{:?}", rows[1]);
    assert_eq!(rows[1].notes, "chest pain");
    assert_eq!(rows[2].progress, CaseProgress::Unread);
    assert_eq!(rows[2].runs, 1);
    assert_eq!(rows[2].file_name, "waveform_ecg.dcm");

    for (progress, expected) in [
        (CaseProgress::Unread, unread),
        (CaseProgress::Run, run),
        (CaseProgress::Signed, signed),
    ] {
        let filter = WorklistFilter {
            progress: Some(progress),
            ..WorklistFilter::default()
        };
        assert_eq!(
            ids(&store.worklist(&session, &filter).unwrap()),
            vec![expected]
        );
    }
}

#[test]
fn the_worklist_searches_file_name_case_id_and_notes() {
    let (store, session) = store();
    let a = store_case(
        &store,
        &session,
        "Chest pain since this morning",
        Some(Task::Interpret),
    );
    let b = store_case(&store, &session, "syncope", Some(Task::Interpret));
    let search = |text: &str| {
        let filter = WorklistFilter {
            search: text.into(),
            ..WorklistFilter::default()
        };
        ids(&store.worklist(&session, &filter).unwrap())
    };
    assert_eq!(search("chest PAIN"), vec![a]);
    assert_eq!(search("syncope"), vec![b]);
    assert_eq!(search(&format!("#{b}")), vec![b]);
    assert_eq!(search("WAVEFORM"), vec![b, a]);
    assert!(search("no such text").is_empty());
}

#[test]
fn the_worklist_filters_by_band_and_date() {
    let (store, session) = store();
    let twi = store_case(&store, &session, "", Some(Task::Twi));
    let interpret = store_case(&store, &session, "", Some(Task::Interpret));
    let rows = store
        .worklist(&session, &WorklistFilter::default())
        .unwrap();
    // Whatever band the protocol engine gave the TWI run, filtering by it finds that case
    // and not the interpretation (which has no band).
    let twi_row = rows.iter().find(|r| r.case_id == twi).unwrap();
    let interpret_row = rows.iter().find(|r| r.case_id == interpret).unwrap();
    assert_eq!(interpret_row.band, None);
    if let Some(band) = &twi_row.band {
        let band: RiskBand = serde_json::from_value(json!(band)).unwrap();
        let filter = WorklistFilter {
            band: Some(band),
            ..WorklistFilter::default()
        };
        assert_eq!(ids(&store.worklist(&session, &filter).unwrap()), vec![twi]);
    }
    let future = WorklistFilter {
        from: Some("2999-01-01T00:00:00.000000Z".into()),
        ..WorklistFilter::default()
    };
    assert!(store.worklist(&session, &future).unwrap().is_empty());
    let past = WorklistFilter {
        to: Some("2000-01-01T00:00:00.000000Z".into()),
        ..WorklistFilter::default()
    };
    assert!(store.worklist(&session, &past).unwrap().is_empty());
    let limited = WorklistFilter {
        limit: 1,
        ..WorklistFilter::default()
    };
    assert_eq!(
        ids(&store.worklist(&session, &limited).unwrap()),
        vec![interpret]
    );
}

#[test]
fn a_case_gives_back_its_runs_note_versions_and_original_bytes() {
    let (store, session) = store();
    let case = store_case(&store, &session, "first", Some(Task::Interpret));
    store.add_note(&session, case, "second").unwrap();
    let notes = store.notes(&session, case).unwrap();
    assert_eq!(
        notes
            .iter()
            .map(|n| (n.version, n.text.as_str(), n.author.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "first", "dr_reed"), (2, "second", "dr_reed")]
    );

    let runs = store.case_runs(&session, case).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "completed");
    assert_eq!(runs[0].created_by, "dr_reed");

    let stored = store.case_input(&session, case).unwrap();
    let (bytes, _) = sample();
    assert_eq!(stored.bytes, bytes);
    assert_eq!(stored.file_name, "waveform_ecg.dcm");
    assert_eq!(stored.sha256, ecgr1_engine::formats::sha256_hex(&bytes));
    let viewed = store
        .history(
            &session,
            &HistoryFilter {
                case_id: Some(case),
                ..HistoryFilter::default()
            },
        )
        .unwrap();
    assert!(
        viewed
            .iter()
            .any(|e| e.action == "view" && e.entity_type == "ecg_input")
    );

    assert!(matches!(
        store.case_runs(&session, 999),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.notes(&session, 999),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.case_input(&session, 999),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn a_trainer_cannot_read_the_original_input() {
    let (store, admin) = store();
    let case = store_case(&store, &admin, "", Some(Task::Interpret));
    store
        .add_user(
            &admin,
            "teacher",
            &[Role::Trainer],
            Some("teacher password"),
        )
        .unwrap();
    let trainer = store.login("teacher", Some("teacher password")).unwrap();
    assert!(matches!(
        store.case_input(&trainer, case),
        Err(StoreError::PermissionDenied { .. })
    ));
    // The worklist itself shows no identifying data and is open to every role.
    assert_eq!(
        ids(&store
            .worklist(&trainer, &WorklistFilter::default())
            .unwrap()),
        vec![case]
    );
}

#[test]
fn teaching_cases_come_in_set_order_with_the_signed_answer_and_refuse_auditors() {
    let (store, session) = store();
    let unsigned = store_case(&store, &session, "", Some(Task::Interpret));
    let signed = store_case(&store, &session, "", Some(Task::Interpret));
    let run = store.case_runs(&session, signed).unwrap()[0].id;
    let decision = store
        .sign(
            &session,
            &NewDecision {
                run_id: run,
                verdict: Verdict::Override("atrial fibrillation".into()),
                reason: "irregular",
                meaning: SignatureMeaning::Approved,
                password: PASSWORD,
            },
        )
        .unwrap();
    store
        .add_user(&session, "tess", &[Role::Trainer], None)
        .unwrap();
    store
        .add_user(&session, "audrey", &[Role::Auditor], None)
        .unwrap();
    let trainer = store.login("tess", None).unwrap();
    let set = store
        .create_case_set(&trainer, "round", &[signed, unsigned])
        .unwrap();
    let teaching = store
        .create_teaching_session(&trainer, set, "round 1")
        .unwrap();

    let first = store.teaching_case(&trainer, teaching, 0).unwrap();
    assert_eq!((first.case_id, first.position, first.count), (signed, 0, 2));
    assert_eq!(first.signed.as_ref(), Some(&decision));
    assert_eq!(first.run.as_ref().map(|r| r.id), Some(run));
    assert!(!first.bytes.is_empty());
    let second = store.teaching_case(&trainer, teaching, 1).unwrap();
    assert_eq!(second.case_id, unsigned);
    assert!(second.signed.is_none());
    assert!(matches!(
        store.teaching_case(&trainer, teaching, 2),
        Err(StoreError::NotFound { .. })
    ));
    let auditor = store.login("audrey", None).unwrap();
    assert!(matches!(
        store.teaching_case(&auditor, teaching, 0),
        Err(StoreError::PermissionDenied { .. })
    ));
    let views = store
        .history(&session, &HistoryFilter::default())
        .unwrap()
        .into_iter()
        .filter(|e| e.entity_type == "teaching_case")
        .count();
    assert_eq!(views, 2, "each shown teaching case is audited");
}
