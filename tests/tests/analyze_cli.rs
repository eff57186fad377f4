//! `ecgr1 measure` and `ecgr1 analyze`: the JSON interface (keys, units, nulls with reasons)
//! on in-memory records built from the committed cart fixture, and one end-to-end run on the
//! real DICOM sample.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ecgr1_app::cli::{analyze::report_json, measure::measurements_json};
use ecgr1_engine::features::measure;
use ecgr1_engine::formats::Format;
use ecgr1_engine::protocol::read_measurements;
use ecgr1_engine::record::{EcgRecord, LeadId, LeadSignal, Provenance};
use ecgr1_engine::report::Task;
use serde_json::Value;

const MEASURE_KEYS: [&str; 14] = [
    "heart_rate_bpm",
    "rr_ms",
    "pr_ms",
    "p_ms",
    "qrs_ms",
    "qt_ms",
    "qtc_bazett_ms",
    "qtc_fridericia_ms",
    "p_axis_deg",
    "qrs_axis_deg",
    "t_axis_deg",
    "rhythm",
    "beats",
    "leads",
];
const ANALYZE_KEYS: [&str; 9] = [
    "engine",
    "task",
    "steps",
    "summary",
    "answer",
    "p_yes",
    "band",
    "evidence",
    "input_notes",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn cart_record() -> EcgRecord {
    let path = root().join("fixtures/features/waveform_ecg_rhythm.json");
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let leads = v["leads"]
        .as_array()
        .unwrap_or_else(|| panic!("leads"))
        .iter()
        .map(|l| {
            let name = l["name"].as_str().unwrap_or_default();
            let s = l["samples_uv"]
                .as_array()
                .unwrap_or_else(|| panic!("samples"))
                .iter()
                .map(|x| x.as_f64().unwrap_or(f64::NAN))
                .collect();
            LeadSignal::new(LeadId::from_label(name), name, s)
        })
        .collect();
    EcgRecord {
        sample_rate_hz: v["sample_rate_hz"].as_f64().unwrap_or_default(),
        leads,
        acquisition_time: None,
        device: None,
        provenance: Provenance {
            format: Format::Dicom,
            file_name: "waveform_ecg.dcm".into(),
            sha256: String::new(),
            byte_len: 0,
        },
        annotations: Vec::new(),
        representative_beats: None,
        processing_notes: Vec::new(),
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn assert_measure_json(v: &Value) {
    let k = keys(v);
    for key in MEASURE_KEYS {
        assert!(k.contains(key), "measure JSON lacks {key}");
    }
    let qrs = v["qrs_ms"].as_f64().unwrap_or(f64::NAN);
    assert!((qrs - 75.0).abs() <= 10.0, "qrs_ms {qrs}");
    assert_eq!(v["beats"].as_array().map(Vec::len), Some(10));
    assert_eq!(v["leads"].as_object().map(serde_json::Map::len), Some(12));
    assert!(v["leads"]["V2"]["t_amplitude_uv"].is_number());
}

fn assert_analyze_json(v: &Value, task: &str) {
    let k = keys(v);
    for key in ANALYZE_KEYS {
        assert!(k.contains(key), "analyze JSON lacks {key}");
    }
    assert_eq!(v["engine"], "protocol");
    assert_eq!(v["task"], task);
    assert_eq!(v["steps"].as_array().map(Vec::len), Some(6));
    assert!(v["steps"][0]["title"].is_string() && v["steps"][0]["text"].is_string());
    assert!(v["p_yes"].is_null() && v["band"].is_null());
    assert!(v["evidence"].as_array().is_some_and(|e| !e.is_empty()));
}

#[test]
fn measure_json_has_the_documented_keys_and_values() {
    let m = measure(&cart_record()).unwrap_or_else(|e| panic!("{e}"));
    assert_measure_json(&measurements_json(&m));
}

#[test]
fn an_unmeasurable_lead_is_null_with_a_reason() {
    let mut rec = cart_record();
    let v3 = rec
        .leads
        .iter_mut()
        .find(|l| l.lead.name() == "V3")
        .unwrap_or_else(|| panic!("V3"));
    v3.samples_uv.iter_mut().for_each(|x| *x = 0.0);
    let m = measure(&rec).unwrap_or_else(|e| panic!("{e}"));
    let v = measurements_json(&m);
    assert!(v["leads"]["V3"]["r_amplitude_uv"].is_null());
    assert_eq!(
        v["quality"]["unmeasured"]["lead.V3.r_amplitude_uv"],
        "flat lead"
    );
    assert!(v["cornell_uv"].is_null(), "Cornell needs S in V3");
    assert!(
        v["quality"]["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x["kind"] == "flat_lead"))
    );
    // The other leads are still measured.
    assert!(v["leads"]["V2"]["r_amplitude_uv"].is_number());
}

#[test]
fn analyze_json_for_both_tasks() {
    let m = measure(&cart_record()).unwrap_or_else(|e| panic!("{e}"));
    let r = read_measurements(&m, "", Task::Interpret, Vec::new());
    let v = report_json(&r);
    assert_analyze_json(&v, "interpret");
    assert!(
        v["answer"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "sinus rhythm"))
    );
    let r = read_measurements(&m, "chest pain", Task::Twi, Vec::new());
    let v = report_json(&r);
    assert_analyze_json(&v, "twi");
    let answer = v["answer"].as_array().cloned().unwrap_or_default();
    assert!(answer == vec![Value::from("no")] || answer == vec![Value::from("yes")]);
    assert!(v["input_notes"].as_array().is_some_and(|n| {
        n.iter()
            .any(|x| x.as_str().is_some_and(|s| s.contains("no P(yes)")))
    }));
}

#[test]
fn cli_errors_name_the_problem() {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = ecgr1_app::cli::run(
        ["ecgr1", "measure", "/nonexistent/x.hea"],
        &mut out,
        &mut err,
    );
    assert_eq!(code, 1);
    assert!(String::from_utf8_lossy(&err).starts_with("error:"));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = ecgr1_app::cli::run(
        ["ecgr1", "analyze", "x.dcm", "--engine", "remote"],
        &mut out,
        &mut err,
    );
    assert_eq!(code, 1);
    assert!(String::from_utf8_lossy(&err).contains("x.dcm"));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../assets/samples/synthetic_twi.csv"
    );
    let code = ecgr1_app::cli::run(
        ["ecgr1", "analyze", sample, "--engine", "local"],
        &mut out,
        &mut err,
    );
    assert_eq!(code, 1);
    assert!(String::from_utf8_lossy(&err).contains("--engine local needs --model DIR"));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = ecgr1_app::cli::run(
        ["ecgr1", "analyze", "x.dcm", "--task", "diagnose"],
        &mut out,
        &mut err,
    );
    assert_eq!(code, 2);
}

#[test]
fn measure_and_analyze_the_real_dicom_sample() {
    let file = root().join("../assets/samples/waveform_ecg.dcm");
    let file = file.to_string_lossy().into_owned();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = ecgr1_app::cli::run(
        ["ecgr1", "measure", file.as_str(), "--json"],
        &mut out,
        &mut err,
    );
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    let v: Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_measure_json(&v);
    let started = std::time::Instant::now();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = ecgr1_app::cli::run(
        ["ecgr1", "analyze", file.as_str(), "--json"],
        &mut out,
        &mut err,
    );
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    assert!(started.elapsed().as_secs_f64() < 1.0);
    let v: Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_analyze_json(&v, "interpret");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = ecgr1_app::cli::run(
        ["ecgr1", "analyze", file.as_str(), "--task", "twi", "--json"],
        &mut out,
        &mut err,
    );
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    let v: Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_analyze_json(&v, "twi");
}
