//! Reliability tests of the case store and its audit chain: tampering, crashes (SIGKILL at
//! random moments), two writers at once, bad database files, missing keys, and roles.
//!
//! Child processes are this test binary re-executed (`crash_child` / `writer_child`, ignored
//! unless asked for by name) so no shared build output is run.
// Test helpers outside #[test] functions panic on failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod support;

use ecgr1_app::audit::AuditKey;
use ecgr1_app::store::{
    CaseStore, DbLocation, HistoryFilter, KeySource, SqliteStore, StoreConfig, StoreError,
};
use support::records::{PASSWORD, cli, populate};
use support::{TempDir, child};

fn config(db: &Path, key: &Path) -> StoreConfig {
    StoreConfig {
        db: DbLocation::File(db.to_path_buf()),
        key: KeySource::File(key.to_path_buf()),
        first_user: "alice".into(),
        first_password: Some(PASSWORD.into()),
        clock: ecgr1_app::store::clock::Clock::System,
    }
}

/// Runs raw SQL on a database file, bypassing the store (and, after dropping them, its triggers).
fn raw_sql(db: &Path, statements: &[&str]) {
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
                .unwrap_or_else(|e| panic!("{s}: {e}"));
        }
        conn.close().await.unwrap();
    });
}

fn verify_cli(db: &Path, key: &Path) -> (u8, String, String) {
    cli(&[
        "audit",
        "verify",
        "--db",
        db.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ])
}

/// A fresh populated database (closed), its key, and the number of events in it.
fn populated(dir: &TempDir) -> (PathBuf, PathBuf, i64) {
    let (db, key) = (dir.path("store.sqlite"), dir.path("audit.key"));
    let store = SqliteStore::open(&config(&db, &key)).unwrap();
    populate(&store);
    let v = store.verify_audit().unwrap();
    assert!(v.is_intact(), "{:?}", v.first_break);
    store.close();
    (db, key, v.last_seq)
}

#[test]
fn triggers_refuse_changes_to_history_runs_and_decisions() {
    let dir = TempDir::new("triggers");
    let (db, _key, _) = populated(&dir);
    for (sql, what) in [
        (
            "UPDATE audit_events SET reason = 'x' WHERE seq = 1",
            "audit events are append-only",
        ),
        (
            "DELETE FROM audit_events WHERE seq = 1",
            "audit events are append-only",
        ),
        ("UPDATE runs SET p_yes = 0.9", "runs are append-only"),
        ("DELETE FROM runs", "runs are append-only"),
        (
            "UPDATE decisions SET final_answer = 'no'",
            "decisions are append-only",
        ),
        ("DELETE FROM decisions", "decisions are append-only"),
        (
            "UPDATE notes SET text = 'x'",
            "note versions are append-only",
        ),
    ] {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let result = rt.block_on(async {
            use sqlx::Connection;
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&db);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut conn)
                .await
        });
        let err = result.expect_err(sql).to_string();
        assert!(err.contains(what), "{sql}: {err}");
    }
}

#[test]
fn tampering_is_named_at_the_exact_event() {
    let dir = TempDir::new("tamper");
    let (db, key, last) = populated(&dir);
    assert!(last >= 8, "populate writes enough events ({last})");
    let (code, out, _) = verify_cli(&db, &key);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact"), "{out}");

    let truncate = format!("DELETE FROM audit_events WHERE seq > {}", last - 2);
    let cases: [(&str, Vec<&str>, String); 5] = [
        (
            "edit",
            vec![
                "DROP TRIGGER audit_events_no_update",
                "UPDATE audit_events SET after_json = '{\"status\":\"open\"}' WHERE seq = 5",
            ],
            "event 5 was altered".into(),
        ),
        (
            "delete",
            vec![
                "DROP TRIGGER audit_events_no_delete",
                "DELETE FROM audit_events WHERE seq = 4",
            ],
            "event 4 is missing".into(),
        ),
        (
            "reorder",
            vec![
                "DROP TRIGGER audit_events_no_update",
                "UPDATE audit_events SET seq = 1000003 WHERE seq = 3",
                "UPDATE audit_events SET seq = 3 WHERE seq = 6",
                "UPDATE audit_events SET seq = 6 WHERE seq = 1000003",
            ],
            "event 3 is out of order: the event that belongs at position 3 is stored at position 6"
                .into(),
        ),
        (
            "truncate",
            vec!["DROP TRIGGER audit_events_no_delete", &truncate],
            format!(
                "the tail was truncated: the signed head names event {last} but the history ends at event {}",
                last - 2
            ),
        ),
        (
            "forged head",
            vec!["UPDATE audit_head SET seq = seq - 1"],
            format!(
                "the head record (event {}) has an invalid signature",
                last - 1
            ),
        ),
    ];
    for (name, statements, expected) in cases {
        let copy = dir.path(&format!("tampered-{}.sqlite", name.replace(' ', "-")));
        std::fs::copy(&db, &copy).unwrap();
        raw_sql(&copy, &statements);
        let (code, out, err) = verify_cli(&copy, &key);
        assert_eq!(code, 1, "{name}: {out}{err}");
        assert!(
            out.contains(&expected),
            "{name}: expected '{expected}' in:\n{out}"
        );
        assert!(
            err.contains("audit verification failed at event"),
            "{name}: {err}"
        );
        // The store refuses to append after a tail/head mismatch instead of hiding it.
        if name == "truncate" {
            let store = SqliteStore::open(&config(&copy, &key)).unwrap();
            let e = store.login("alice", None).unwrap_err();
            assert!(matches!(e, StoreError::ChainInconsistent { .. }), "{e}");
        }
    }
    let (code, _, err) = verify_cli(&dir.path("absent.sqlite"), &key);
    assert_eq!(code, 1);
    assert!(err.contains("no database at"), "{err}");
    assert!(!dir.path("absent.sqlite").exists());
    // The original is untouched and still verifies.
    assert_eq!(verify_cli(&db, &key).0, 0);
}

#[test]
fn cli_user_sign_history_export_round_trip() {
    let dir = TempDir::new("cli");
    let (db, key) = (dir.path("store.sqlite"), dir.path("audit.key"));
    let store = SqliteStore::open(&config(&db, &key)).unwrap();
    let (case_id, run_id) = populate(&store);
    store.close();
    let (dbs, keys) = (db.to_str().unwrap(), key.to_str().unwrap());
    let pw = dir.path("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let pws = pw.to_str().unwrap();

    let (code, out, err) = cli(&[
        "user",
        "add",
        "bob",
        "--role",
        "cardiologist",
        "--db",
        dbs,
        "--key",
        keys,
        "--user",
        "alice",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("added user 'bob'"), "{out}");
    let (code, _, err) = cli(&[
        "user", "add", "carol", "--role", "auditor", "--db", dbs, "--key", keys, "--user", "bob",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("permission denied: bob (cardiologist) may not add users"),
        "{err}"
    );

    let run = run_id.to_string();
    let (code, _, err) = cli(&[
        "sign",
        &run,
        "--override",
        "no",
        "--reason",
        "secondary TWI (LBBB)",
        "--db",
        dbs,
        "--key",
        keys,
        "--user",
        "alice",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("signing needs your password"), "{err}");
    let (code, out, err) = cli(&[
        "sign",
        &run,
        "--override",
        "no",
        "--reason",
        "secondary TWI (LBBB)",
        "--meaning",
        "approved",
        "--db",
        dbs,
        "--key",
        keys,
        "--user",
        "alice",
        "--password-file",
        pws,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("override \"no\" — approved by alice"), "{out}");

    let case = case_id.to_string();
    let (code, out, err) = cli(&[
        "history", "--case", &case, "--json", "--db", dbs, "--key", keys, "--as", "alice",
    ]);
    assert_eq!(code, 0, "{err}");
    let events: serde_json::Value = serde_json::from_str(&out).unwrap();
    let kinds: Vec<String> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["entity_type"].as_str().unwrap()
            )
        })
        .collect();
    for expected in [
        "create case",
        "create ecg_input",
        "create note",
        "change note",
        "create run",
        "sign decision",
    ] {
        assert!(
            kinds.iter().any(|k| k == expected),
            "{expected} missing in {kinds:?}"
        );
    }
    assert!(
        !kinds.iter().any(|k| k.ends_with(" user")),
        "case filter leaks: {kinds:?}"
    );

    let (code, out, _) = cli(&[
        "history", "--user", "bob", "--db", dbs, "--key", keys, "--as", "alice",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("permission_denied"), "{out}");

    let (code, out, err) = cli(&[
        "audit",
        "export",
        "--format",
        "csv",
        "--deidentified",
        "--db",
        dbs,
        "--key",
        keys,
        "--user",
        "alice",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(
        "seq,at,actor,role,action,entity_type,entity_id,before_json,after_json,reason\n"
    ));
    assert!(
        !out.contains("Jane Roe"),
        "de-identified export leaks the name"
    );
    assert!(out.contains("redacted"), "{out}");
    let file = dir.path("export.json");
    let (code, _, err) = cli(&[
        "audit",
        "export",
        "--format",
        "json",
        "--from",
        "2000-01-01",
        "--to",
        "2999-12-31",
        "-o",
        file.to_str().unwrap(),
        "--db",
        dbs,
        "--key",
        keys,
        "--user",
        "alice",
    ]);
    assert_eq!(code, 0, "{err}");
    let full = std::fs::read_to_string(&file).unwrap();
    assert!(
        full.contains("Jane Roe"),
        "the identified export keeps identity fields"
    );
    let (code, out, _) = cli(&[
        "audit",
        "export",
        "--format",
        "json",
        "--to",
        "2000-01-01",
        "--db",
        dbs,
        "--key",
        keys,
        "--user",
        "alice",
    ]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "[]");
    let (code, out, _) = cli(&["history", "--db", dbs, "--key", keys, "--as", "alice"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("export audit_events"),
        "exports are audited: {out}"
    );
    assert_eq!(verify_cli(&db, &key).0, 0);
}

#[test]
fn bad_files_give_clear_errors_and_are_not_modified() {
    let dir = TempDir::new("bad");
    let key = dir.path("audit.key");

    let garbage = dir.path("garbage.sqlite");
    std::fs::write(&garbage, b"this is not a database at all, just text\n").unwrap();
    let e = SqliteStore::open(&config(&garbage, &key))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("is not an ecgr1 database") && e.contains("SQLite file header"),
        "{e}"
    );
    assert_eq!(
        std::fs::read(&garbage).unwrap(),
        b"this is not a database at all, just text\n"
    );
    assert!(!key.exists(), "no key is created for a refused file");

    let foreign = dir.path("foreign.sqlite");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&foreign)
            .create_if_missing(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    });
    let before = std::fs::read(&foreign).unwrap();
    let e = SqliteStore::open(&config(&foreign, &key))
        .unwrap_err()
        .to_string();
    assert!(e.contains("another application (tables: customers)"), "{e}");
    assert_eq!(std::fs::read(&foreign).unwrap(), before);

    let (db, key2) = {
        let d = dir.path("newer.sqlite");
        let k = dir.path("newer.key");
        let store = SqliteStore::open(&config(&d, &k)).unwrap();
        store.close();
        (d, k)
    };
    raw_sql(
        &db,
        &[
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
           VALUES (29991231000000, 'from the future', 1, x'00', 0)",
        ],
    );
    let before = std::fs::read(&db).unwrap();
    let e = SqliteStore::open(&config(&db, &key2))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("written by a newer ecgr1 (schema version 29991231000000"),
        "{e}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), before);

    // Damaged pages inside a real store.
    let (good, good_key, _) = populated(&dir);
    let damaged = dir.path("damaged.sqlite");
    let mut bytes = std::fs::read(&good).unwrap();
    assert!(bytes.len() > 3 * 4096);
    let end = bytes.len() - 100;
    for b in &mut bytes[4096..end] {
        *b = 0xA5;
    }
    std::fs::write(&damaged, &bytes).unwrap();
    let e = SqliteStore::open(&config(&damaged, &good_key))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("damaged") || e.contains("not an ecgr1 database"),
        "{e}"
    );
    assert_eq!(std::fs::read(&damaged).unwrap(), bytes);

    // Missing key for an existing history: an error, and no new key.
    let moved = dir.path("moved.key");
    std::fs::rename(&good_key, &moved).unwrap();
    let e = SqliteStore::open(&config(&good, &good_key))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("is missing") && e.contains("never generated"),
        "{e}"
    );
    assert!(!good_key.exists());
    // A different key is recognised as the wrong one.
    let other = dir.path("other.key");
    AuditKey::create(&other).unwrap();
    let e = SqliteStore::open(&config(&good, &other))
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not belong to the database"), "{e}");
    std::fs::rename(&moved, &good_key).unwrap();
    let store = SqliteStore::open(&config(&good, &good_key)).unwrap();
    assert!(store.verify_audit().unwrap().is_intact());
}

// ---------------------------------------------------------------------------------------------
// Child processes (see support/child.rs).

#[test]
#[ignore = "child process of the crash and concurrency tests"]
fn writer_child() {
    child::writer_main();
}

fn reopen(db: &Path, key: &Path) -> SqliteStore {
    SqliteStore::open(&config(db, key)).unwrap()
}

#[cfg(unix)]
#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_write() {
    let dir = TempDir::new("crash");
    let (db, key) = (dir.path("store.sqlite"), dir.path("audit.key"));
    let store = SqliteStore::open(&config(&db, &key)).unwrap();
    let (case_id, _) = populate(&store);
    store.close();
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut acked_total = Vec::new();
    let mut killed_mid_write = 0;
    for round in 0..20 {
        let mut child = child::spawn_writer(db.to_str().unwrap(), &key, Some(case_id), None);
        let acks = child::read_acks(child.stdout.take().unwrap());
        let delay = 30 + child::next_random(&mut seed) % 400;
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acked = acks.join().unwrap();
        if !acked.is_empty() {
            killed_mid_write += 1;
        }
        acked_total.extend(acked);
        let store = reopen(&db, &key);
        let runs = child::assert_all_present(&store, &acked_total);
        store.close();
        assert!(
            runs >= acked_total.len(),
            "round {round}: {runs} run events < {} acked",
            acked_total.len()
        );
    }
    assert!(
        killed_mid_write >= 10,
        "only {killed_mid_write} rounds were killed while writing"
    );
    assert!(
        acked_total.len() > 100,
        "only {} writes acknowledged",
        acked_total.len()
    );
}

#[test]
fn two_processes_writing_at_once_lose_nothing() {
    let dir = TempDir::new("concurrent");
    let (db, key) = (dir.path("store.sqlite"), dir.path("audit.key"));
    let store = SqliteStore::open(&config(&db, &key)).unwrap();
    let (case_id, _) = populate(&store);
    store.close();
    let per_writer = 150;
    let start = Instant::now();
    let dbs = db.to_str().unwrap();
    let a = child::spawn_writer(dbs, &key, Some(case_id), Some(per_writer));
    let b = child::spawn_writer(dbs, &key, Some(case_id), Some(per_writer));
    let (ra, rb) = (child::finish(a, "writer a"), child::finish(b, "writer b"));
    assert_eq!(ra.len() as u64, per_writer);
    assert_eq!(rb.len() as u64, per_writer);
    let mut all: Vec<i64> = ra.iter().chain(&rb).copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len() as u64, 2 * per_writer, "run ids collided");
    let store = reopen(&db, &key);
    let runs = child::assert_all_present(&store, &all);
    assert_eq!(runs as u64, 2 * per_writer + 1);
    assert!(start.elapsed() < Duration::from_mins(2));
}

/// Eight processes opening the same NEW database at the same moment: each creates or finds
/// the schema, the key and the first user, and stores an analysis; none fails.
#[test]
fn eight_processes_opening_a_new_database_at_once_all_succeed() {
    for round in 0..3 {
        let dir = TempDir::new("first-open");
        let (db, key) = (dir.path("new.sqlite"), dir.path("audit.key"));
        let dbs = db.to_str().unwrap();
        let children: Vec<_> = (0..8)
            .map(|_| child::spawn_writer(dbs, &key, None, Some(1)))
            .collect();
        let acked: Vec<i64> = children
            .into_iter()
            .enumerate()
            .flat_map(|(i, c)| child::finish(c, &format!("round {round}, opener {i}")))
            .collect();
        assert_eq!(acked.len(), 8, "round {round}: {acked:?}");
        let store = reopen(&db, &key);
        assert_eq!(child::assert_all_present(&store, &acked), 8);
        let alice = store.login("alice", None).unwrap();
        let users = store
            .history(&alice, &HistoryFilter::default())
            .unwrap()
            .iter()
            .filter(|e| e.action == "create" && e.entity_type == "user")
            .count();
        assert_eq!(users, 1, "round {round}: one first user");
        store.close();
    }
}
