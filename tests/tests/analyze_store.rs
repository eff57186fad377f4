//! From analysis to signed, verified history on the command line: `analyze --db` stores the
//! case, input, notes, run, report, measurements and verifier flags; `sign` records the
//! decision; `history` shows it; `audit verify` finds the chain intact.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

mod support;

#[test]
fn analyze_store_sign_history_verify() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let key = dir.path().join("audit.key");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "correct horse battery staple\n").unwrap();
    let (dbs, keys, pws) = (
        db.to_str().unwrap(),
        key.to_str().unwrap(),
        pw.to_str().unwrap(),
    );
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../assets/samples/synthetic_twi.csv"
    );

    let (code, out, err) = support::cli(&[
        "analyze",
        sample,
        "--task",
        "twi",
        "--notes",
        "chest pain",
        "--json",
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
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["answer"][0], "yes");
    let run = report["run_id"].as_i64().unwrap().to_string();
    let case = report["case_id"].as_i64().unwrap().to_string();

    let (code, out, err) = support::cli(&[
        "sign",
        &run,
        "--agree",
        "--reason",
        "primary pattern confirmed",
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
    assert!(out.contains("alice"), "{out}");

    let (code, out, err) = support::cli(&[
        "history", "--case", &case, "--json", "--db", dbs, "--key", keys, "--as", "alice",
    ]);
    assert_eq!(code, 0, "{err}");
    let events: serde_json::Value = serde_json::from_str(&out).unwrap();
    let text = events.to_string();
    assert!(text.contains("\"sign\""), "no sign event in {text}");

    let (code, out, err) = support::cli(&["audit", "verify", "--db", dbs, "--key", keys]);
    assert_eq!(code, 0, "{err}{out}");
}
