//! The store's conformance suite: every backend-neutral store test, run against SQLite
//! (`:memory:`) and against a real PostgreSQL database (one fresh, `init-postgres`-prepared
//! database per test; skipped with a printed reason when no test cluster is configured, see
//! `support/mod.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use ecgr1_app::audit::AuditKey;
use ecgr1_app::store::{
    CaseProgress, CaseStore, DbLocation, DynStore, HistoryFilter, KeySource, NewAnalysis,
    NewDecision, NewRun, Role, RunOutcome, Session, SignatureMeaning, StoreConfig, StoreError,
    Verdict, WorklistFilter, WorklistRow, open_store,
};
use ecgr1_engine::formats::{EcgInput, LoadOptions, load_path};
use ecgr1_engine::protocol::ProtocolEngine;
use ecgr1_engine::report::{Engine, Request, RiskBand, Task};
use serde_json::json;
use support::TestDb;
use support::records::{self, engine, new_run, populate, report};

const PASSWORD: &str = "correct horse";

#[derive(Clone, Copy, Debug)]
enum Which {
    SqliteMemory,
    Postgres,
}

/// A fresh store of one backend (and the database it lives in, for PostgreSQL).
struct Fixture {
    store: DynStore,
    first_user: String,
    password: String,
    _db: Option<TestDb>,
}

impl Fixture {
    fn open(which: Which, first_user: &str, password: &str) -> Option<Self> {
        let (db, location) = match which {
            Which::SqliteMemory => (None, DbLocation::Memory),
            Which::Postgres => {
                let db = TestDb::new("conf")?;
                let location = db.location();
                (Some(db), location)
            }
        };
        let store = open_store(&StoreConfig {
            db: location,
            key: KeySource::Given(AuditKey::random().unwrap()),
            first_user: first_user.into(),
            first_password: Some(password.into()),
            clock: ecgr1_app::store::clock::Clock::System,
        })
        .unwrap();
        Some(Self {
            store,
            first_user: first_user.into(),
            password: password.into(),
            _db: db,
        })
    }

    /// The store and its first user's session (password verified).
    fn parts(&self) -> (&dyn CaseStore, Session) {
        let session = self
            .store
            .login(&self.first_user, Some(&self.password))
            .unwrap();
        (self.store.as_ref(), session)
    }
}

fn sample() -> (Vec<u8>, EcgInput) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/samples/waveform_ecg.dcm");
    let bytes = std::fs::read(&path).unwrap();
    let input = load_path(&path, &LoadOptions::default()).unwrap();
    (bytes, input)
}

/// Stores the sample with `notes` and one run (completed with the protocol engine's report
/// for `task`, or cancelled).
fn store_case(
    store: &dyn CaseStore,
    session: &Session,
    notes: &str,
    completed: Option<Task>,
) -> i64 {
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
                    digitisation: None,
                },
            },
        )
        .unwrap()
        .case_id
}

fn ids(rows: &[WorklistRow]) -> Vec<i64> {
    rows.iter().map(|r| r.case_id).collect()
}

fn the_worklist_lists_cases_newest_first_with_their_progress(which: Which) {
    let Some(fx) = Fixture::open(which, "dr_reed", PASSWORD) else {
        return;
    };
    let (store, session) = fx.parts();
    let unread = store_case(store, &session, "", None);
    let run = store_case(store, &session, "chest pain", Some(Task::Interpret));
    let signed = store_case(store, &session, "", Some(Task::Interpret));
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

fn the_worklist_searches_file_name_case_id_and_notes(which: Which) {
    let Some(fx) = Fixture::open(which, "dr_reed", PASSWORD) else {
        return;
    };
    let (store, session) = fx.parts();
    let a = store_case(
        store,
        &session,
        "Chest pain since this morning",
        Some(Task::Interpret),
    );
    let b = store_case(store, &session, "syncope", Some(Task::Interpret));
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

fn the_worklist_filters_by_band_and_date(which: Which) {
    let Some(fx) = Fixture::open(which, "dr_reed", PASSWORD) else {
        return;
    };
    let (store, session) = fx.parts();
    let twi = store_case(store, &session, "", Some(Task::Twi));
    let interpret = store_case(store, &session, "", Some(Task::Interpret));
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

fn a_case_gives_back_its_runs_note_versions_and_original_bytes(which: Which) {
    let Some(fx) = Fixture::open(which, "dr_reed", PASSWORD) else {
        return;
    };
    let (store, session) = fx.parts();
    let case = store_case(store, &session, "first", Some(Task::Interpret));
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

fn a_trainer_cannot_read_the_original_input(which: Which) {
    let Some(fx) = Fixture::open(which, "dr_reed", PASSWORD) else {
        return;
    };
    let (store, admin) = fx.parts();
    let case = store_case(store, &admin, "", Some(Task::Interpret));
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

fn teaching_cases_come_in_set_order_with_the_signed_answer_and_refuse_auditors(which: Which) {
    let Some(fx) = Fixture::open(which, "dr_reed", PASSWORD) else {
        return;
    };
    let (store, session) = fx.parts();
    let unsigned = store_case(store, &session, "", Some(Task::Interpret));
    let signed = store_case(store, &session, "", Some(Task::Interpret));
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

fn roles_are_enforced_in_the_store_and_refusals_audited(which: Which) {
    let Some(fx) = Fixture::open(which, "alice", records::PASSWORD) else {
        return;
    };
    let store = fx.store.as_ref();
    assert!(
        store
            .notices()
            .iter()
            .any(|n| n.contains("created the first user 'alice' as cardiologist and admin")),
        "{:?}",
        store.notices()
    );
    let (case_id, run_id) = populate(store);
    let alice = store.login("alice", None).unwrap();
    store
        .add_user(&alice, "audrey", &[Role::Auditor], None)
        .unwrap();
    store
        .add_user(&alice, "tom", &[Role::Trainer], None)
        .unwrap();
    let audrey = store.login("audrey", None).unwrap();
    let tom = store.login("tom", None).unwrap();

    let (engine, report) = (engine(), report());
    let e = store
        .record_run(&audrey, case_id, &new_run(&engine, &report))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("permission denied: audrey (auditor) may not store an engine run"),
        "{e}"
    );
    assert!(store.add_note(&audrey, case_id, "x").is_err());
    assert!(
        store
            .add_user(&audrey, "eve", &[Role::Admin], None)
            .is_err()
    );
    assert!(store.add_user(&tom, "eve", &[Role::Admin], None).is_err());
    assert!(store.create_case_set(&alice, "set", &[case_id]).is_err());
    // Auditors read everything.
    assert_eq!(
        store.run_record(&audrey, run_id).unwrap().status,
        "completed"
    );
    let identity = store.patient_identity(&audrey, 1).unwrap();
    assert_eq!(identity.name.as_deref(), Some("Jane Roe"));
    // Trainers build de-identified sets and sessions.
    let set = store
        .create_case_set(&tom, "TWI basics", &[case_id])
        .unwrap();
    let session = store.create_teaching_session(&tom, set, "Monday").unwrap();
    store
        .record_trainee_answer(&alice, session, case_id, "yes")
        .unwrap();
    assert!(
        store
            .record_trainee_answer(&audrey, session, case_id, "no")
            .is_err()
    );

    let denied = store
        .history(
            &audrey,
            &HistoryFilter {
                user: Some("audrey".into()),
                ..HistoryFilter::default()
            },
        )
        .unwrap();
    let actions: Vec<&str> = denied.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "permission_denied")
            .count(),
        4,
        "{actions:?}"
    );
    assert!(actions.contains(&"view_identity"), "{actions:?}");
    // Signing needs the password again.
    let wrong = store.sign(
        &alice,
        &NewDecision {
            run_id,
            verdict: Verdict::Override("no".into()),
            reason: "r",
            meaning: SignatureMeaning::Reviewed,
            password: "not the password",
        },
    );
    assert!(matches!(wrong, Err(StoreError::WrongPassword(_))));
    assert!(store.login("alice", Some("nope-nope")).is_err());
    assert!(store.login("mallory", None).is_err());
    let all = store.history(&alice, &HistoryFilter::default()).unwrap();
    for action in [
        "login_failed",
        "sign_refused",
        "login",
        "sign",
        "create",
        "change",
    ] {
        assert!(all.iter().any(|e| e.action == action), "no {action} event");
    }
    assert!(store.verify_audit().unwrap().is_intact());
}

/// The `after` of the audit event that created run `run_id`.
fn run_event(events: &[ecgr1_app::audit::AuditEvent], run_id: i64) -> serde_json::Value {
    let e = events
        .iter()
        .find(|e| e.entity_type == "run" && e.entity_id.as_deref() == Some(&*run_id.to_string()))
        .unwrap();
    serde_json::from_str(e.after_json.as_deref().unwrap()).unwrap()
}

/// A comparison as `ecgr1 analyze` stores it (the fields the store reads: the prior's SHA-256
/// and the kinds of the changes).
fn comparison() -> serde_json::Value {
    json!({
        "prior": { "sha256": "cd".repeat(32), "label": "2026-03-12T10:21:32" },
        "changes": [
            { "kind": "new_t_wave_inversion", "leads": ["V2", "V3", "V4"] },
            { "kind": "qrs_widened", "delta_ms": 24.0 },
        ],
        "not_compared": ["qtc_ms"],
    })
}

fn a_patients_prior_case_and_a_runs_comparison_are_stored_and_audited(which: Which) {
    let Some(fx) = Fixture::open(which, "alice", records::PASSWORD) else {
        return;
    };
    let store = fx.store.as_ref();
    let alice = store.login("alice", None).unwrap();
    let (engine, report) = (engine(), report());
    let analyse = |patient: &str, acquired: Option<&str>, comparison: Option<serde_json::Value>| {
        let (bytes, mut input) = records::signal_input(patient);
        if let EcgInput::Signal(s) = &mut input {
            s.record.acquisition_time = acquired.map(str::to_string);
        }
        let mut run = new_run(&engine, &report);
        run.comparison = comparison;
        store
            .record_analysis(
                &alice,
                &NewAnalysis {
                    input_bytes: &bytes,
                    input: &input,
                    notes: "",
                    run,
                },
            )
            .unwrap()
    };
    let first = analyse("MRN-1", Some("2026-03-12T10:21:32"), None);
    let other = analyse("MRN-2", None, None);
    let second = analyse("MRN-1", None, Some(comparison()));
    let third = analyse("MRN-1", None, None);

    let prior = store.prior_case(&alice, second.case_id).unwrap().unwrap();
    assert_eq!(prior.case_id, first.case_id);
    assert_eq!(prior.file_name, "test.csv");
    assert_eq!(
        prior.acquisition_time.as_deref(),
        Some("2026-03-12T10:21:32")
    );
    // The most recent earlier case, never a later one nor another patient's.
    assert_eq!(
        store
            .prior_case(&alice, third.case_id)
            .unwrap()
            .map(|p| p.case_id),
        Some(second.case_id)
    );
    assert_eq!(store.prior_case(&alice, first.case_id).unwrap(), None);
    assert_eq!(store.prior_case(&alice, other.case_id).unwrap(), None);
    assert!(matches!(
        store.prior_case(&alice, 999),
        Err(StoreError::NotFound { .. })
    ));
    store
        .add_user(&alice, "audrey", &[Role::Auditor], None)
        .unwrap();
    store
        .add_user(&alice, "tom", &[Role::Trainer], None)
        .unwrap();
    let audrey = store.login("audrey", None).unwrap();
    let tom = store.login("tom", None).unwrap();
    assert!(store.prior_case(&audrey, second.case_id).unwrap().is_some());
    assert!(matches!(
        store.prior_case(&tom, second.case_id),
        Err(StoreError::PermissionDenied { .. })
    ));

    // The comparison is kept with the run, and the run's event names it.
    let c = comparison();
    let stored = store.run_record(&alice, second.run_id).unwrap();
    assert_eq!(stored.comparison_json, Some(c.to_string()));
    assert_eq!(
        store
            .run_record(&alice, first.run_id)
            .unwrap()
            .comparison_json,
        None
    );
    let events = store.history(&alice, &HistoryFilter::default()).unwrap();
    let run_event = |run_id: i64| run_event(&events, run_id);
    assert_eq!(
        run_event(second.run_id)["comparison"],
        json!({
            "prior_sha256": "cd".repeat(32),
            "changes": ["new_t_wave_inversion", "qrs_widened"],
            "comparison_sha256": ecgr1_engine::formats::sha256_hex(c.to_string().as_bytes()),
        })
    );
    assert!(run_event(first.run_id).get("comparison").is_none());
    assert!(store.verify_audit().unwrap().is_intact());
}

/// A run on an image keeps the digitised signal it measured, with the digitiser's version
/// and report, beside the original image; its event binds both by their SHA-256. A signal
/// case refuses a digitised signal.
fn an_image_runs_digitised_signal_is_kept_with_its_report(which: Which) {
    let Some(fx) = Fixture::open(which, "alice", records::PASSWORD) else {
        return;
    };
    let store = fx.store.as_ref();
    let alice = store.login("alice", None).unwrap();
    let (engine, report) = (engine(), report());
    let (bytes, input) = records::image_input();
    let d = records::digitisation();
    let mut run = new_run(&engine, &report);
    run.digitisation = Some(d.clone());
    let ids = store
        .record_analysis(
            &alice,
            &NewAnalysis {
                input_bytes: &bytes,
                input: &input,
                notes: "",
                run,
            },
        )
        .unwrap();
    // The image the model saw, exactly as read...
    let original = store.input_bytes(&alice, ids.run_id).unwrap();
    assert_eq!(original.kind, "image");
    assert_eq!(original.bytes, bytes);
    assert_eq!(original.sha256, ecgr1_engine::formats::sha256_hex(&bytes));
    // ...and what was measured.
    let stored = store.run_record(&alice, ids.run_id).unwrap();
    assert_eq!(
        stored.digitiser_version.as_deref(),
        Some("ecgr1-digitise/0.1.0+1")
    );
    assert_eq!(stored.digitisation_json, Some(d.report.to_string()));
    assert_eq!(
        stored.digitised_signal_csv.as_deref(),
        Some(d.signal_csv.as_str())
    );
    // A second run on the case (a corrected gain, say) keeps its own.
    let mut second = new_run(&engine, &report);
    let mut corrected = d.clone();
    corrected.report["gain_mm_mv"] = json!(20.0);
    second.digitisation = Some(corrected.clone());
    let second_id = store.record_run(&alice, ids.case_id, &second).unwrap();
    let runs = store.case_runs(&alice, ids.case_id).unwrap();
    assert_eq!(
        runs.iter()
            .map(|r| r.digitisation_json.clone())
            .collect::<Vec<_>>(),
        vec![
            Some(d.report.to_string()),
            Some(corrected.report.to_string())
        ]
    );
    let events = store.history(&alice, &HistoryFilter::default()).unwrap();
    let run_event = |run_id: i64| run_event(&events, run_id);
    assert_eq!(
        run_event(ids.run_id)["digitisation"],
        json!({
            "digitiser_version": "ecgr1-digitise/0.1.0+1",
            "report_sha256": ecgr1_engine::formats::sha256_hex(d.report.to_string().as_bytes()),
            "signal_sha256": ecgr1_engine::formats::sha256_hex(d.signal_csv.as_bytes()),
        })
    );
    assert!(run_event(second_id)["digitisation"].is_object());
    // A signal case has nothing to digitise: refused, and nothing is stored.
    let (signal_bytes, signal) = records::signal_input("MRN-9");
    let mut wrong = new_run(&engine, &report);
    wrong.digitisation = Some(d.clone());
    let refused = store
        .record_analysis(
            &alice,
            &NewAnalysis {
                input_bytes: &signal_bytes,
                input: &signal,
                notes: "",
                run: wrong,
            },
        )
        .err()
        .unwrap();
    assert!(
        matches!(&refused, StoreError::Invalid { field, .. } if field == "run.digitisation"),
        "{refused}"
    );
    assert_eq!(
        store
            .worklist(&alice, &WorklistFilter::default())
            .unwrap()
            .len(),
        1
    );
    let plain = store
        .record_analysis(
            &alice,
            &NewAnalysis {
                input_bytes: &signal_bytes,
                input: &signal,
                notes: "",
                run: new_run(&engine, &report),
            },
        )
        .unwrap();
    assert_eq!(
        store
            .run_record(&alice, plain.run_id)
            .unwrap()
            .digitised_signal_csv,
        None
    );
    assert!(store.verify_audit().unwrap().is_intact());
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite_memory {
            $( #[test] fn $name() { super::$name(super::Which::SqliteMemory) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(super::Which::Postgres) } )*
        }
    };
}

conformance!(
    the_worklist_lists_cases_newest_first_with_their_progress,
    the_worklist_searches_file_name_case_id_and_notes,
    the_worklist_filters_by_band_and_date,
    a_case_gives_back_its_runs_note_versions_and_original_bytes,
    a_trainer_cannot_read_the_original_input,
    teaching_cases_come_in_set_order_with_the_signed_answer_and_refuse_auditors,
    roles_are_enforced_in_the_store_and_refusals_audited,
    a_patients_prior_case_and_a_runs_comparison_are_stored_and_audited,
    an_image_runs_digitised_signal_is_kept_with_its_report,
);
