//! The PostgreSQL store's own guarantees, against a real server (see `support/mod.rs`; each
//! test skips with a printed reason when no test cluster is configured): the database refuses
//! the application role's changes to the history, a superuser's edit is named by verify,
//! concurrent writers on one database keep one contiguous chain, a killed writer loses no
//! acknowledged event, concurrent first opens succeed, an older schema waits for
//! `init-postgres` and is brought up to date by it, and two workstations acting as two
//! different users sign into one database with the real `ecgr1` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ecgr1_app::store::{
    HistoryFilter, InitPostgres, KeySource, StoreConfig, StoreError, init_postgres, open_store,
};
use support::records::{PASSWORD, cli, engine, new_run, populate, report};
use support::{TempDir, TestDb, child};

#[test]
#[ignore = "child process of the crash and concurrency tests"]
fn writer_child() {
    child::writer_main();
}

/// A prepared database with a populated history (as the first workstation login), its key
/// file, and the case of that history.
fn populated(tag: &str, dir: &TempDir) -> Option<(TestDb, PathBuf, i64)> {
    let db = TestDb::new(tag)?;
    let key = dir.path("audit.key");
    let store = child::open(db.app.connect_str(), &key);
    let (case_id, _) = populate(store.as_ref());
    assert!(store.verify_audit().unwrap().is_intact());
    Some((db, key, case_id))
}

fn verify_cli(db: &str, key: &Path) -> (u8, String, String) {
    cli(&[
        "audit",
        "verify",
        "--db",
        db,
        "--key",
        key.to_str().unwrap(),
    ])
}

#[test]
fn the_application_role_cannot_change_or_remove_history() {
    let dir = TempDir::new("grants");
    let Some((db, _key, _)) = populated("grants", &dir) else {
        return;
    };
    for (sql, expected) in [
        (
            "UPDATE audit_events SET reason = 'x' WHERE seq = 1",
            "permission denied",
        ),
        (
            "DELETE FROM audit_events WHERE seq = 1",
            "permission denied",
        ),
        ("TRUNCATE audit_events", "permission denied"),
        ("DELETE FROM audit_head", "permission denied"),
        ("TRUNCATE audit_head", "permission denied"),
        ("UPDATE audit_head SET seq = seq - 1", "only moves forward"),
        ("UPDATE runs SET p_yes = 0.9", "permission denied"),
        ("DELETE FROM runs", "permission denied"),
        (
            "UPDATE decisions SET final_answer = 'no'",
            "permission denied",
        ),
        ("UPDATE notes SET text = 'x'", "permission denied"),
        ("DELETE FROM ecg_inputs", "permission denied"),
        ("UPDATE store_meta SET value = 'x'", "permission denied"),
        ("CREATE TABLE sneaky (id INT)", "permission denied"),
    ] {
        let err = db.app_sql(&[sql]).expect_err(sql);
        assert!(err.contains(expected), "{sql}: {err}");
    }
    // The triggers bind the tables' owner too (grants alone would not).
    let owner_edit = db.admin_sql(&[
        "SET ROLE ecgr1_owner",
        "UPDATE audit_events SET reason = 'x' WHERE seq = 1",
    ]);
    assert!(
        owner_edit
            .as_ref()
            .is_err_and(|e| e.contains("audit events are append-only: UPDATE refused")),
        "{owner_edit:?}"
    );
}

#[test]
fn a_superusers_edit_is_named_by_verify() {
    let dir = TempDir::new("tamper");
    let Some((db, key, _)) = populated("tamper", &dir) else {
        return;
    };
    let url = db.app.connect_str().to_string();
    let (code, out, err) = verify_cli(&url, &key);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("intact"), "{out}");
    // A superuser can switch the triggers off; the HMAC, whose key is not in the database,
    // still shows the edit.
    db.admin_sql(&[
        "SET session_replication_role = replica",
        "UPDATE audit_events SET after_json = '{\"status\":\"open\"}' WHERE seq = 5",
    ])
    .unwrap();
    let (code, out, err) = verify_cli(&url, &key);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("event 5 was altered"), "{out}");
    assert!(
        err.contains("audit verification failed at event 5"),
        "{err}"
    );
}

#[test]
fn a_superusers_truncated_tail_is_named_by_verify_and_refused_by_writers() {
    let dir = TempDir::new("truncate");
    let Some((db, key, _)) = populated("truncate", &dir) else {
        return;
    };
    let store = child::open(db.app.connect_str(), &key);
    let last = store.verify_audit().unwrap().last_seq;
    drop(store);
    db.admin_sql(&[
        "SET session_replication_role = replica",
        &format!("DELETE FROM audit_events WHERE seq > {}", last - 2),
    ])
    .unwrap();
    let (code, out, _) = verify_cli(db.app.connect_str(), &key);
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!(
            "the tail was truncated: the signed head names event {last} but the history ends at event {}",
            last - 2
        )),
        "{out}"
    );
    let store = child::open(db.app.connect_str(), &key);
    let e = store.login("alice", None).unwrap_err().to_string();
    assert!(e.contains("does not match its signed head"), "{e}");
}

#[test]
fn eight_writers_times_200_appends_keep_one_contiguous_chain() {
    let dir = TempDir::new("eight");
    let Some((db, key, case_id)) = populated("eight", &dir) else {
        return;
    };
    let url = db.app.connect_str().to_string();
    let writers: Vec<_> = (0..8)
        .map(|_| child::spawn_writer(&url, &key, Some(case_id), Some(200)))
        .collect();
    let mut all: Vec<i64> = writers
        .into_iter()
        .enumerate()
        .flat_map(|(i, w)| {
            let acked = child::finish(w, &format!("writer {i}"));
            assert_eq!(acked.len(), 200, "writer {i}");
            acked
        })
        .collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 1600, "run ids collided");
    let store = child::open(&url, &key);
    // assert_all_present verifies the chain: sequence numbers 1..=n with no gap, every
    // link and the signed head.
    assert_eq!(child::assert_all_present(store.as_ref(), &all), 1601);
}

#[cfg(unix)]
#[test]
fn sigkill_mid_transaction_loses_no_acknowledged_event() {
    let dir = TempDir::new("crash");
    let Some((db, key, case_id)) = populated("crash", &dir) else {
        return;
    };
    let url = db.app.connect_str().to_string();
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut acked_total = Vec::new();
    let mut killed_mid_write = 0;
    for round in 0..12 {
        // Two writers, so one is often killed while the other waits on the lock.
        let mut a = child::spawn_writer(&url, &key, Some(case_id), None);
        let mut b = child::spawn_writer(&url, &key, Some(case_id), None);
        let acks_a = child::read_acks(a.stdout.take().unwrap());
        let acks_b = child::read_acks(b.stdout.take().unwrap());
        std::thread::sleep(Duration::from_millis(
            300 + child::next_random(&mut seed) % 500,
        ));
        a.kill().unwrap(); // SIGKILL
        b.kill().unwrap();
        a.wait().unwrap();
        b.wait().unwrap();
        let acked: Vec<i64> = acks_a
            .join()
            .unwrap()
            .into_iter()
            .chain(acks_b.join().unwrap())
            .collect();
        if !acked.is_empty() {
            killed_mid_write += 1;
        }
        acked_total.extend(acked);
        let store = child::open(&url, &key);
        let runs = child::assert_all_present(store.as_ref(), &acked_total);
        assert!(
            runs > acked_total.len(),
            "round {round}: {runs} run events for {} acked (+1 populated)",
            acked_total.len()
        );
    }
    assert!(
        killed_mid_write >= 6,
        "only {killed_mid_write} rounds were killed while writing"
    );
}

#[test]
fn eight_processes_opening_a_new_database_at_once_all_succeed() {
    // A bare database owned by the workstation login: the first opens apply the schema
    // themselves, under sqlx's migration lock, then agree on one key and one first user.
    let Some(db) = TestDb::bare("firstopen") else {
        return;
    };
    let dir = TempDir::new("firstopen");
    let key = dir.path("audit.key");
    let url = db.app.connect_str().to_string();
    let children: Vec<_> = (0..8)
        .map(|_| child::spawn_writer(&url, &key, None, Some(1)))
        .collect();
    let acked: Vec<i64> = children
        .into_iter()
        .enumerate()
        .flat_map(|(i, c)| child::finish(c, &format!("opener {i}")))
        .collect();
    assert_eq!(acked.len(), 8);
    let store = child::open(&url, &key);
    assert_eq!(child::assert_all_present(store.as_ref(), &acked), 8);
    let alice = store.login("alice", None).unwrap();
    let first_users = store
        .history(&alice, &HistoryFilter::default())
        .unwrap()
        .iter()
        .filter(|e| e.action == "create" && e.entity_type == "user")
        .count();
    assert_eq!(first_users, 1);
}

/// A department database at schema version 1 (before the serial comparison and the digitised
/// signal): a workstation
/// may not alter the owner's tables, so it is told to have `init-postgres` run; that brings
/// the schema to the current version without touching the history, and runs then keep their
/// comparison.
#[test]
fn init_postgres_brings_an_older_schema_up_to_date_and_workstations_wait_for_it() {
    let dir = TempDir::new("upgrade");
    let Some((db, key, case_id)) = populated("upgrade", &dir) else {
        return;
    };
    db.admin_sql(&[
        "ALTER TABLE runs DROP COLUMN comparison_json",
        "ALTER TABLE runs DROP COLUMN digitiser_version",
        "ALTER TABLE runs DROP COLUMN digitisation_json",
        "ALTER TABLE runs DROP COLUMN digitised_signal_csv",
        "DELETE FROM _sqlx_migrations WHERE version IN (20261203090000, 20261204090000)",
    ])
    .unwrap();
    let config = StoreConfig {
        db: db.location(),
        key: KeySource::File(key.clone()),
        first_user: "alice".into(),
        first_password: Some(PASSWORD.into()),
        clock: ecgr1_app::store::clock::Clock::System,
    };
    let refused = open_store(&config).err().unwrap();
    assert!(
        matches!(refused, StoreError::SchemaMissing { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("init-postgres"), "{refused}");

    init_postgres(&InitPostgres {
        admin: db.admin.clone(),
        owner_role: support::OWNER_ROLE.into(),
        app_role: support::APP_ROLE.into(),
        logins: Vec::new(),
    })
    .unwrap();
    let store = open_store(&config).unwrap();
    assert!(store.verify_audit().unwrap().is_intact());
    let alice = store.login("alice", None).unwrap();
    let (engine, report) = (engine(), report());
    let mut run = new_run(&engine, &report);
    run.comparison =
        Some(serde_json::json!({ "prior": { "sha256": "cd".repeat(32) }, "changes": [] }));
    let run_id = store.record_run(&alice, case_id, &run).unwrap();
    assert!(
        store
            .run_record(&alice, run_id)
            .unwrap()
            .comparison_json
            .is_some()
    );
}

/// The "done when": two workstation processes, logged in to PostgreSQL as two
/// different roles and acting as two different clinicians, analyse and sign runs into one
/// database at the same time with the real binary; `audit verify` then passes.
#[test]
fn two_workstations_as_two_users_sign_concurrently_and_verify_passes() {
    let dir = TempDir::new("wards");
    let Some((db, key, _)) = populated("wards", &dir) else {
        return;
    };
    let (url_a, url_b) = (
        db.app.connect_str().to_string(),
        db.second.connect_str().to_string(),
    );
    assert_ne!(db.app.user(), db.second.user(), "two database roles");
    let pw = dir.path("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let keys = key.to_str().unwrap().to_string();
    let (code, _, err) = cli(&[
        "user",
        "add",
        "bob",
        "--role",
        "cardiologist",
        "--db",
        &url_a,
        "--key",
        &keys,
        "--user",
        "alice",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(&[
        "user",
        "passwd",
        "bob",
        "--db",
        &url_a,
        "--key",
        &keys,
        "--user",
        "alice",
        "--password-file",
        pw.to_str().unwrap(),
        "--new-password-file",
        pw.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/samples/waveform_ecg.dcm");
    let ecgr1 = env!("CARGO_BIN_EXE_ecgr1");
    let station = |url: String, user: &'static str| {
        let (keys, pw, sample) = (keys.clone(), pw.clone(), sample.clone());
        std::thread::spawn(move || {
            let mut signed = Vec::new();
            for _ in 0..4 {
                let out = Command::new(ecgr1)
                    .args([
                        "analyze",
                        sample.to_str().unwrap(),
                        "--json",
                        "--db",
                        &url,
                        "--key",
                    ])
                    .arg(&keys)
                    .args(["--user", user])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                let run = value["run_id"].as_i64().unwrap().to_string();
                let out = Command::new(ecgr1)
                    .args(["sign", &run, "--agree", "--reason", "reviewed on the ward"])
                    .args([
                        "--db",
                        &url,
                        "--key",
                        &keys,
                        "--user",
                        user,
                        "--password-file",
                    ])
                    .arg(&pw)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                signed.push(run);
            }
            signed
        })
    };
    let a = station(url_a.clone(), "alice");
    let b = station(url_b.clone(), "bob");
    let (signed_a, signed_b) = (a.join().unwrap(), b.join().unwrap());
    assert_eq!(signed_a.len() + signed_b.len(), 8);
    let out = Command::new(ecgr1)
        .args(["audit", "verify", "--json", "--db", &url_b, "--key", &keys])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["intact"], true);
    let store = child::open(&url_a, &key);
    let alice = store.login("alice", None).unwrap();
    let signers: Vec<String> = store
        .history(&alice, &HistoryFilter::default())
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "sign")
        .map(|e| e.actor)
        .collect();
    assert!(signers.iter().filter(|s| *s == "alice").count() >= 4);
    assert_eq!(signers.iter().filter(|s| *s == "bob").count(), 4);
}

#[test]
fn urls_are_never_taken_for_files_and_an_unreachable_server_is_named() {
    let dir = TempDir::new("urls");
    let cwd_marker = Path::new("postgres:");
    let (code, _, err) = cli(&[
        "user",
        "add",
        "z",
        "--role",
        "auditor",
        "--db",
        "mysql://root@db/cardio",
        "--user",
        "x",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown database scheme 'mysql'"), "{err}");
    let key = dir.path("k");
    let (code, _, err) = cli(&[
        "user",
        "add",
        "z",
        "--role",
        "auditor",
        "--db",
        "postgres://ward:hunter2@127.0.0.1:1/cardio",
        "--key",
        key.to_str().unwrap(),
        "--user",
        "x",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("PostgreSQL server 127.0.0.1:1 (database cardio)"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!cwd_marker.exists(), "a URL became a file path");
    assert!(!key.exists(), "no key for a store that never opened");
}

/// `bench-audit --db postgres://…` prints appends/s with 1, 4 and 8 concurrent writers and
/// verify events/s for PostgreSQL beside SQLite from the same run, and does not write into a
/// database that already holds history (its synthetic events could never be deleted).
#[test]
fn bench_audit_puts_postgres_beside_sqlite_and_refuses_a_used_database() {
    let Some(db) = TestDb::new("bench") else {
        return;
    };
    let dir = TempDir::new("bench");
    let url = db.app.connect_str().to_string();
    let scratch = dir.path("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let args = [
        "bench-audit",
        "--events",
        "200",
        "--batch",
        "50",
        "--concurrent-events",
        "16",
        "--dir",
        scratch.to_str().unwrap(),
        "--db",
        &url,
    ];
    let (code, out, err) = cli(&args);
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(
        out.contains("writers  sqlite appends/s  postgres appends/s  postgres/sqlite"),
        "{out}"
    );
    // The comparison table: the rows after its header.
    let table: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("writers  sqlite appends/s"))
        .collect();
    let rates = |label: &str| -> Vec<f64> {
        let line = table
            .iter()
            .find(|l| l.split_whitespace().next() == Some(label))
            .unwrap_or_else(|| panic!("no row '{label}' in:\n{out}"));
        line.split_whitespace()
            .skip(1)
            .take(3)
            .map(|w| w.trim_end_matches('x').parse::<f64>().unwrap())
            .collect()
    };
    for label in ["1", "4", "8", "verify"] {
        let row = rates(label);
        assert_eq!(row.len(), 3, "{label}: {out}");
        assert!(row.iter().all(|r| *r > 0.0), "{label}: {row:?}");
    }
    // (bench-audit verified the chain the writers left: it fails on a break.)
    // A second run brings its own random key, which the used database refuses by name.
    let (code, _, err) = cli(&args);
    assert_eq!(code, 1);
    assert!(
        err.contains("does not belong to the database") && err.contains(&db.name),
        "{err}"
    );
}
