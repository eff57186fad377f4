//! `ecgr1 store migrate`: a workstation's history copied into another store (SQLite here, and
//! PostgreSQL when the test cluster is configured), both chains verified, and the source chain
//! rebuilt from the copy and re-verified with the workstation's key (provenance).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use ecgr1_app::audit::{AuditEvent, AuditKey, Head, Verifier};
use ecgr1_app::store::{HistoryFilter, NewAnalysis, WorklistFilter};
use support::records::{self, PASSWORD, cli, engine, new_run, populate, report};
use support::{TestDb, child};

fn migrate_into(dest: &str, dir: &Path) {
    let (source, source_key) = (dir.join("ward.sqlite"), dir.join("ward.key"));
    let store = child::open(source.to_str().unwrap(), &source_key);
    let (case_id, _) = populate(store.as_ref());
    // A second run with a serial comparison: the copy keeps it.
    let alice = store.login("alice", None).unwrap();
    let (engine, report) = (engine(), report());
    let comparison = serde_json::json!({ "prior": { "sha256": "cd".repeat(32) }, "changes": [] });
    let mut run = new_run(&engine, &report);
    run.comparison = Some(comparison.clone());
    store.record_run(&alice, case_id, &run).unwrap();
    // An image case whose run keeps the digitised signal: the copy keeps it too.
    let (image_bytes, image) = records::image_input();
    let mut digitised_run = new_run(&engine, &report);
    digitised_run.digitisation = Some(records::digitisation());
    store
        .record_analysis(
            &alice,
            &NewAnalysis {
                input_bytes: &image_bytes,
                input: &image,
                notes: "",
                run: digitised_run,
            },
        )
        .unwrap();
    let source_events = store.verify_audit().unwrap().events;
    drop(store);
    let dest_key = dir.join("department.key");
    let pw = dir.join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let from = format!("sqlite:{}", source.display());
    let args = [
        "store",
        "migrate",
        "--from",
        &from,
        "--from-key",
        source_key.to_str().unwrap(),
        "--to",
        dest,
        "--to-key",
        dest_key.to_str().unwrap(),
        "--user",
        "alice",
        "--password-file",
        pw.to_str().unwrap(),
        "--json",
    ];
    let (code, out, err) = cli(&args);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["source_events"], source_events);
    assert!(
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r[0] == "runs" && r[1] == 3),
        "{report}"
    );
    let (code, out, err) = cli(&[
        "audit",
        "verify",
        "--db",
        dest,
        "--key",
        dest_key.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");

    // The copy's events rebuild the source chain exactly: re-verify it with the source key.
    let store = child::open(dest, &dest_key);
    let alice = store.login("alice", None).unwrap();
    let events = store.history(&alice, &HistoryFilter::default()).unwrap();
    let mut verifier = Verifier::new(&AuditKey::load(&source_key).unwrap());
    let mut rebuilt = 0;
    for event in &events {
        let Some(p) = event
            .reason
            .as_deref()
            .and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok())
            .filter(|p| p.get("imported_from").is_some())
        else {
            continue;
        };
        let original = AuditEvent {
            seq: p["source_seq"].as_i64().unwrap(),
            entity_id: p["source_entity_id"].as_str().map(str::to_string),
            reason: p["source_reason"].as_str().map(str::to_string),
            ..event.clone()
        };
        let hash = hex::decode(p["source_hash"].as_str().unwrap()).unwrap();
        assert!(
            verifier.feed(&original, &hash),
            "source event {}",
            original.seq
        );
        rebuilt += 1;
    }
    assert_eq!(rebuilt, source_events);
    let import = events.iter().find(|e| e.action == "import").unwrap();
    let after: serde_json::Value =
        serde_json::from_str(import.after_json.as_deref().unwrap()).unwrap();
    let head = Head {
        seq: after["source_head_seq"].as_i64().unwrap(),
        hash: hex::decode(after["source_head_hash"].as_str().unwrap()).unwrap(),
        mac: hex::decode(after["source_head_mac"].as_str().unwrap()).unwrap(),
    };
    // The rebuilt chain ends at the recorded signed head, whose MAC the source key checks.
    let v = verifier.finish(Some(&head));
    assert!(v.is_intact(), "{v:?}");
    assert_eq!(v.last_seq, head.seq);
    // The copied case is found under its new id by the case filter.
    let cases = events
        .iter()
        .filter(|e| e.entity_type == "case" && e.action == "create")
        .count();
    assert_eq!(cases, 2);
    let copied = store.worklist(&alice, &WorklistFilter::default()).unwrap();
    // Newest first: the image case, then the signal case.
    let image_runs = store.case_runs(&alice, copied[0].case_id).unwrap();
    let d = records::digitisation();
    assert_eq!(image_runs.len(), 1);
    assert_eq!(
        image_runs[0].digitiser_version.as_deref(),
        Some(d.digitiser_version.as_str())
    );
    assert_eq!(image_runs[0].digitisation_json, Some(d.report.to_string()));
    assert_eq!(
        image_runs[0].digitised_signal_csv.as_deref(),
        Some(d.signal_csv.as_str())
    );
    let runs = store.case_runs(&alice, copied[1].case_id).unwrap();
    assert_eq!(
        runs.iter()
            .map(|r| r.comparison_json.clone())
            .collect::<Vec<_>>(),
        vec![None, Some(comparison.to_string())]
    );
}

#[test]
fn a_workstation_history_migrates_into_another_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("department.sqlite");
    migrate_into(dest.to_str().unwrap(), dir.path());
}

#[test]
fn a_workstation_history_migrates_into_postgres() {
    let Some(db) = TestDb::new("migrate") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    migrate_into(db.app.connect_str(), dir.path());
}
