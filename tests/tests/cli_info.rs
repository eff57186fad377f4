//! `ecgr1 info --json` on every bundled sample: the documented keys are present and agree
//! with the file (12 standard leads, a positive rate, a SHA-256 of the original bytes).

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

fn run_cli(args: &[&str]) -> (u8, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut argv = vec!["ecgr1"];
    argv.extend_from_slice(args);
    let code = ecgr1_app::cli::run(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

fn samples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/samples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            matches!(ext, "hea" | "edf" | "csv" | "dcm" | "xml")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn info_json_has_the_documented_keys_for_every_sample() {
    let files = samples();
    assert!(
        files.len() >= 3,
        "expected bundled samples, found {files:?}"
    );
    for file in files {
        let path = file.to_string_lossy().into_owned();
        let (code, out, err) = run_cli(&["info", &path, "--json"]);
        assert_eq!(code, 0, "{path}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        for key in [
            "format",
            "sample_rate_hz",
            "samples",
            "duration_s",
            "leads",
            "derived_leads",
            "sha256",
        ] {
            assert!(v.get(key).is_some(), "{path}: missing key {key}");
        }
        assert!(v["sample_rate_hz"].as_f64().unwrap() > 0.0);
        let leads: Vec<&str> = v["leads"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| l.as_str())
            .collect();
        for lead in [
            "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
        ] {
            assert!(
                leads.contains(&lead),
                "{path}: lead {lead} missing from {leads:?}"
            );
        }
        assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
    }
}

#[test]
fn errors_go_to_stderr_with_a_non_zero_code() {
    let (code, out, err) = run_cli(&["info", "/nonexistent/ecg.hea"]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.starts_with("error: ") && err.contains("/nonexistent/ecg.hea"),
        "{err}"
    );
}
