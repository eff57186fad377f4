//! Writer processes for the crash and concurrency tests: the test binary re-executed with
//! `writer_child --exact --ignored`, so no shared build output is run. A child opens the store
//! named by its environment (a path or a `postgres://` URL), then stores runs on a case (or,
//! with no case given, whole new analyses) and prints "ack ID" after each commit.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use ecgr1_app::store::{
    CaseStore, DbLocation, DynStore, HistoryFilter, KeySource, NewAnalysis, StoreConfig,
    WorklistFilter, open_store,
};

use super::records::{PASSWORD, engine, new_run, report, signal_input};

const CHILD_DB: &str = "ECGR1_TEST_CHILD_DB";
const CHILD_KEY: &str = "ECGR1_TEST_CHILD_KEY";
const CHILD_CASE: &str = "ECGR1_TEST_CHILD_CASE";
const CHILD_COUNT: &str = "ECGR1_TEST_CHILD_COUNT";

/// The store at `db` (a path or URL) with the key file `key`, "alice" as its first user.
pub fn open(db: &str, key: &Path) -> DynStore {
    open_store(&StoreConfig {
        db: DbLocation::parse(db).unwrap(),
        key: KeySource::File(key.to_path_buf()),
        first_user: "alice".into(),
        first_password: Some(PASSWORD.into()),
        clock: ecgr1_app::store::clock::Clock::System,
    })
    .unwrap_or_else(|e| panic!("opening {db}: {e}"))
}

/// The body of the `writer_child` test every test binary using this module declares.
pub fn writer_main() {
    let (Ok(db), Ok(key)) = (std::env::var(CHILD_DB), std::env::var(CHILD_KEY)) else {
        panic!("writer_child runs only as a child process");
    };
    let count: u64 = std::env::var(CHILD_COUNT)
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(u64::MAX);
    let case_id: Option<i64> = std::env::var(CHILD_CASE).ok().map(|c| c.parse().unwrap());
    let store = open(&db, Path::new(&key));
    let alice = store.login("alice", None).unwrap();
    let (engine, report) = (engine(), report());
    let (bytes, input) = signal_input("MRN-CHILD");
    let mut out = std::io::stdout().lock();
    for _ in 0..count {
        let id = match case_id {
            Some(case_id) => store
                .record_run(&alice, case_id, &new_run(&engine, &report))
                .unwrap(),
            None => {
                store
                    .record_analysis(
                        &alice,
                        &NewAnalysis {
                            input_bytes: &bytes,
                            input: &input,
                            notes: "",
                            run: new_run(&engine, &report),
                        },
                    )
                    .unwrap()
                    .run_id
            }
        };
        std::io::Write::write_all(&mut out, format!("ack {id}\n").as_bytes()).unwrap();
        std::io::Write::flush(&mut out).unwrap();
    }
}

/// Starts a writer on `db`; `case_id` None stores new analyses instead of runs on a case.
pub fn spawn_writer(
    db: &str,
    key: &Path,
    case_id: Option<i64>,
    count: Option<u64>,
) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "writer_child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_DB, db)
    .env(CHILD_KEY, key)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if let Some(case_id) = case_id {
        cmd.env(CHILD_CASE, case_id.to_string());
    }
    if let Some(n) = count {
        cmd.env(CHILD_COUNT, n.to_string());
    }
    cmd.spawn().unwrap()
}

/// Collects the acknowledged ids a child prints.
pub fn read_acks(stdout: std::process::ChildStdout) -> std::thread::JoinHandle<Vec<i64>> {
    std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| {
                l.rsplit_once("ack ")
                    .and_then(|(_, id)| id.trim().parse().ok())
            })
            .collect()
    })
}

/// Waits for a child that must succeed; returns its acks, or panics with its stderr.
pub fn finish(mut child: std::process::Child, what: &str) -> Vec<i64> {
    let acks = read_acks(child.stdout.take().unwrap());
    let output = child.wait_with_output().unwrap();
    let acked = acks.join().unwrap();
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    acked
}

/// xorshift64*: reproducible "random" kill delays without a dependency.
pub fn next_random(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Checks the chain verifies, every acknowledged run is stored and completed, and every run
/// with an event has a row. Returns the number of run creation events.
pub fn assert_all_present(store: &dyn CaseStore, acked: &[i64]) -> usize {
    let v = store.verify_audit().unwrap();
    assert!(v.is_intact(), "chain broken: {:?}", v.first_break);
    let alice = store.login("alice", None).unwrap();
    for id in acked {
        let run = store
            .run_record(&alice, *id)
            .unwrap_or_else(|e| panic!("acked run {id}: {e}"));
        assert_eq!(run.status, "completed");
    }
    let events = store.history(&alice, &HistoryFilter::default()).unwrap();
    let run_ids: Vec<i64> = events
        .iter()
        .filter(|e| e.action == "create" && e.entity_type == "run")
        .filter_map(|e| e.entity_id.as_ref()?.parse::<i64>().ok())
        .collect();
    for id in &run_ids {
        assert!(
            store.run_record(&alice, *id).is_ok(),
            "run {id} has an event but no row"
        );
    }
    // And every stored run has its event: nothing was written outside the chain.
    let rows: i64 = store
        .worklist(
            &alice,
            &WorklistFilter {
                limit: 1_000_000,
                ..WorklistFilter::default()
            },
        )
        .unwrap()
        .iter()
        .map(|r| r.runs)
        .sum();
    assert_eq!(rows as usize, run_ids.len(), "run rows without an event");
    run_ids.len()
}
