//! The vendors' formats end to end: a GE MUSE XML, a Philips Sierra XML (XLI) and SCP-ECG
//! files each open, measure and analyze through the command line, keep the cart's own reading, and two MUSE
//! ECGs of one patient give the serial comparison and its sentence in the reading.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;

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

fn json(args: &[&str]) -> serde_json::Value {
    let (code, out, err) = run_cli(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

fn fixture(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
        .display()
        .to_string()
}

#[test]
fn muse_and_sierra_files_open_measure_and_analyze() {
    for (file, format) in [
        ("muse/muse_sinus.xml", "ge-muse"),
        ("sierra/sierra_xli.xml", "philips-sierra"),
    ] {
        let f = fixture(file);
        let info = json(&["info", &f, "--json"]);
        assert_eq!(info["format"], format);
        assert_eq!(info["sample_rate_hz"], 500.0);
        assert_eq!(info["missing_leads"].as_array().map(Vec::len), Some(0));
        assert_eq!(info["has_patient_data"], true);
        let annotations = info["annotations"].as_array().unwrap();
        assert!(
            annotations
                .iter()
                .any(|a| a["label"] == "Ventricular rate" && a["value"] == 72.0),
            "{file}: the cart's rate"
        );
        assert!(annotations.iter().any(|a| a["kind"] == "text"));
        let m = json(&["measure", &f, "--json"]);
        let rate = m["heart_rate_bpm"].as_f64().unwrap();
        assert!((rate - 72.0).abs() < 2.0, "{file}: {rate}");
        let a = json(&["analyze", &f, "--json"]);
        assert_eq!(a["verification"]["summary"]["contradicted"], 0, "{file}");
        assert!(!a["answer"].as_array().unwrap().is_empty());
    }
}

#[test]
fn scp_ecg_files_open_measure_and_analyze() {
    for file in [
        "scp/scp_reference_beat.scp",
        "scp/scp_huffman.scp",
        "scp/scp_custom_tables.scp",
        "scp/scp_plain.scp",
    ] {
        let f = fixture(file);
        let info = json(&["info", &f, "--json"]);
        assert_eq!(info["format"], "scp-ecg", "{file}");
        assert_eq!(info["sample_rate_hz"], 500.0);
        assert_eq!(info["missing_leads"].as_array().map(Vec::len), Some(0));
        assert_eq!(info["has_patient_data"], true);
        let m = json(&["measure", &f, "--json"]);
        let rate = m["heart_rate_bpm"].as_f64().unwrap();
        assert!((rate - 70.0).abs() < 2.0, "{file}: {rate}");
        let a = json(&["analyze", &f, "--json"]);
        assert_eq!(a["verification"]["summary"]["contradicted"], 0, "{file}");
        assert!(!a["answer"].as_array().unwrap().is_empty());
    }
    // The cart's own reading (Sections 7, 8, 11) comes with the file.
    let info = json(&["info", &fixture("scp/scp_reference_beat.scp"), "--json"]);
    let annotations = info["annotations"].as_array().unwrap();
    assert!(
        annotations
            .iter()
            .any(|a| a["label"] == "Ventricular rate" && a["value"] == 70.0)
    );
    assert!(
        annotations
            .iter()
            .any(|a| a["kind"] == "text" && a["label"] == "Sinus rhythm")
    );
}

#[test]
fn two_muse_ecgs_of_one_patient_show_the_new_t_inversion() {
    let prior = fixture("muse/muse_sinus_prior.xml");
    let current = fixture("muse/muse_sinus.xml");
    let c = json(&["compare", &prior, &current, "--json"]);
    let changes = c["changes"].as_array().unwrap();
    let twi = changes
        .iter()
        .find(|x| x["kind"] == "new_t_inversion")
        .unwrap_or_else(|| panic!("no new T inversion in {c:#}"));
    assert_eq!(twi["leads"], serde_json::json!(["V2", "V3", "V4"]));
    assert_eq!(c["prior"]["acquisition_time"], "2025-03-12T10:21:32");
    assert!(c["leads"]["V3"]["t_delta_uv"].as_f64().unwrap() < -100.0);
    // The protocol reading says so, and its serial claims verify against the deltas.
    let a = json(&["analyze", &current, "--prior", &prior, "--json"]);
    let steps = a["steps"].as_array().unwrap();
    let last = steps.last().unwrap()["text"].as_str().unwrap();
    assert!(
        last.contains(
            "Compared with the ECG of 2025-03-12T10:21:32: new T-wave inversion in V2–V4."
        ),
        "{last}"
    );
    assert_eq!(a["verification"]["summary"]["contradicted"], 0, "{a:#}");
    assert!(a["comparison"]["unchanged"] == false);
    // A trace claiming "unchanged from prior" is contradicted by the deltas.
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.txt");
    std::fs::write(&trace, "Sinus rhythm. Unchanged from the prior ECG.").unwrap();
    let (code, out, err) = run_cli(&[
        "verify",
        "--trace",
        &trace.display().to_string(),
        &current,
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // Without a prior, `verify` cannot check it: uncheckable, never a guess.
    assert!(
        v["claims"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["kind"] == "serial" && x["status"] == "uncheckable"),
        "{v:#}"
    );
    let v = json(&[
        "verify",
        "--trace",
        &trace.display().to_string(),
        &current,
        "--prior",
        &prior,
        "--json",
    ]);
    let serial = v["claims"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "serial")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(serial["status"], "contradicted", "{v:#}");
    assert!(
        serial["measured"]
            .as_str()
            .is_some_and(|m| m.contains("new T-wave inversion in V2–V4")),
        "{serial:#}"
    );
}
