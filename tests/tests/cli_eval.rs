//! `ecgr1 eval` on a manifest of the bundled samples with known TWI answers: the protocol
//! engine's textbook table, the verifier rate, the paired comparison and the output files.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

#[test]
fn eval_and_compare_on_the_bundled_samples() {
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/samples");
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.csv");
    let rows = [
        ("synthetic_twi.csv", "chest pain", "yes"),
        ("synthetic_sinus.csv", "", "no"),
        ("synthetic_sinus.edf", "", "no"),
        ("waveform_ecg.dcm", "\"routine, pre-op\"", "no"),
        // A row that cannot be read is counted as a failure, not fatal.
        ("missing.hea", "", "no"),
    ];
    let text: String = std::iter::once("file,notes,label\n".to_string())
        .chain(
            rows.iter()
                .map(|(file, notes, label)| format!("{samples}/{file},{notes},{label}\n")),
        )
        .collect();
    std::fs::write(&manifest, text).unwrap();
    let out_dir = dir.path().join("out");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = ecgr1_app::cli::run(
        [
            "ecgr1",
            "eval",
            manifest.to_str().unwrap(),
            "--task",
            "twi",
            "--compare",
            "protocol",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &mut out,
        &mut err,
    );
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).unwrap()).unwrap();
    let first = &summary["engines"][0];
    assert_eq!(first["rows"], 5);
    assert_eq!(first["failures"], 1);
    // TP 1, TN 3: every readable case answered as labelled.
    assert_eq!(first["binary"]["confusion"]["tp"], 1);
    assert_eq!(first["binary"]["confusion"]["tn"], 3);
    assert_eq!(first["binary"]["accuracy"]["value"], 1.0);
    // The protocol engine has no P(yes): no AUC, no calibration, no bands.
    assert!(first["auc"].is_null() && first["bands"].is_null());
    assert_eq!(first["verifier_contradicted"], 0);
    assert!(first["verifier_claims"].as_u64().unwrap() > 20);
    // Identical engines: no discordant pairs.
    assert_eq!(summary["comparison"]["mcnemar"]["p_exact"], 1.0);
    assert!(
        std::fs::read_dir(&out_dir)
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with("rows-0"))
    );
}

/// A model with a P(yes) (the tiny random ECG-R1 checkpoint reading each signal through its
/// tower) against the protocol engine on the same manifest: the local engine's rows carry
/// P(yes), so AUC, calibration and the per-band counts exist, and every row lands in exactly
/// one band; the paired comparison runs over the rows both engines answered.
#[test]
fn a_local_model_with_p_yes_gets_auc_bands_and_a_paired_comparison() {
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/samples");
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/model/ecgr1-tiny"
    );
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.csv");
    let rows = [
        ("synthetic_twi.csv", "yes"),
        ("synthetic_sinus.csv", "no"),
        ("waveform_ecg.dcm", "no"),
        ("synthetic_sinus.hea", "no"),
    ];
    let text: String = std::iter::once("file,notes,label\n".to_string())
        .chain(
            rows.iter()
                .map(|(file, label)| format!("{samples}/{file},chest pain,{label}\n")),
        )
        .collect();
    std::fs::write(&manifest, text).unwrap();
    let out_dir = dir.path().join("out");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = ecgr1_app::cli::run(
        [
            "ecgr1",
            "eval",
            manifest.to_str().unwrap(),
            "--task",
            "twi",
            "--engine",
            "local",
            "--model",
            model,
            "--max-tokens",
            "8",
            "--compare",
            "protocol",
            "--bootstrap",
            "200",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &mut out,
        &mut err,
    );
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).unwrap()).unwrap();
    let local = &summary["engines"][0];
    assert_eq!(local["rows"], 4);
    // Random weights write arbitrary text: a row without a yes/no answer counts as a failure
    // of the answer, but its P(yes) (read after appending <answer>) is still scored.
    assert_eq!(
        local["answered"].as_u64().unwrap() + local["failures"].as_u64().unwrap(),
        4,
        "{local}"
    );
    assert!(!local["auc"].is_null(), "AUC from P(yes): {local}");
    let bands = local["bands"].as_array().expect("per-band counts");
    let counted: u64 = bands
        .iter()
        .map(|b| b["observed_positive"]["total"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 4, "every row in exactly one band: {bands:?}");
    assert!(!local["calibration"].is_null(), "{local}");
    // The protocol engine beside it has no P(yes).
    assert!(summary["engines"][1]["auc"].is_null());
    assert!(summary["comparison"]["mcnemar"].is_object(), "{summary}");
    assert!(out_dir.join("roc.png").is_file());
}

/// `eval` reads the manifest's files with the same options as every other command: a CSV
/// without a time column fails its row without --sample-rate and is read with it.
#[test]
fn eval_reads_with_the_shared_reading_options() {
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/samples");
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(format!("{samples}/synthetic_sinus.csv")).unwrap();
    let body: String = text
        .lines()
        .map(|l| l.split_once(',').map_or(l, |(_, rest)| rest).to_string() + "\n")
        .collect();
    let csv = dir.path().join("no_time.csv");
    std::fs::write(&csv, body).unwrap();
    let manifest = dir.path().join("manifest.csv");
    std::fs::write(
        &manifest,
        format!("file,notes,label\n{},,no\n", csv.display()),
    )
    .unwrap();
    let summary = |extra: &[&str], out: &str| {
        let out_dir = dir.path().join(out);
        let mut argv = vec![
            "ecgr1",
            "eval",
            manifest.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ];
        argv.extend_from_slice(extra);
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let code = ecgr1_app::cli::run(argv, &mut o, &mut e);
        assert_eq!(code, 0, "{}", String::from_utf8_lossy(&e));
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).unwrap()).unwrap();
        v["engines"][0].clone()
    };
    assert_eq!(summary(&[], "default")["failures"], 1);
    let read = summary(&["--sample-rate", "500", "--units", "uV"], "with_rate");
    assert_eq!(read["failures"], 0);
    assert_eq!(read["binary"]["confusion"]["tn"], 1);
}
