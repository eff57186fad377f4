//! Checks the reader against values pydicom 3.0.2 read from the same files
//! (`scripts/make_dicom_fixtures.py` writes the `*.reference.json` next to them).

use serde_json::Value;

use super::read;
use crate::record::{AnnotationKind, LeadSignal, StandardLead};

fn repo_path(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

fn load(rel: &str) -> (crate::formats::SignalInput, Value) {
    let path = repo_path(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let stem = name.trim_end_matches(".dcm");
    let reference = repo_path(&format!("tests/fixtures/dicom/{stem}.reference.json"));
    let text = std::fs::read_to_string(&reference)
        .unwrap_or_else(|e| panic!("{}: {e}", reference.display()));
    let input = read(&bytes, &name).unwrap_or_else(|e| panic!("{e}"));
    (input, serde_json::from_str(&text).unwrap())
}

fn uv_per(unit: &str) -> f64 {
    match unit {
        "uV" => 1.0,
        "mV" => 1000.0,
        other => panic!("unit {other}"),
    }
}

/// Every channel equals pydicom's physical value within one ADC unit, and the full-length
/// sums agree (the JSON may hold only every Nth sample).
fn assert_group_matches(leads: &[LeadSignal], group: &Value, context: &str) {
    let every = group["every_nth"].as_u64().unwrap() as usize;
    let samples = group["samples"].as_u64().unwrap() as usize;
    let channels = group["channel_list"].as_array().unwrap();
    assert!(
        leads.len() >= channels.len(),
        "{context}: {} leads",
        leads.len()
    );
    for (lead, ch) in leads.iter().zip(channels) {
        let factor = uv_per(ch["units"].as_str().unwrap());
        let adc_unit_uv = ch["sensitivity"].as_f64().unwrap() * factor;
        assert_eq!(lead.samples_uv.len(), samples, "{context} {}", lead.lead);
        let values = ch["values"].as_array().unwrap();
        assert_eq!(values.len(), samples.div_ceil(every));
        for (k, v) in values.iter().enumerate() {
            let want = v.as_f64().unwrap() * factor;
            let got = lead.samples_uv[k * every];
            assert!(
                (got - want).abs() <= adc_unit_uv,
                "{context} {} sample {}: {got} vs pydicom {want}",
                lead.lead,
                k * every
            );
        }
        let sum: f64 = lead.samples_uv.iter().sum();
        let want_sum = ch["sum"].as_f64().unwrap() * factor;
        assert!(
            (sum - want_sum).abs() <= 1e-6 * ch["sum_abs"].as_f64().unwrap() * factor + 1e-6,
            "{context} {}: sum {sum} vs {want_sum}",
            lead.lead
        );
    }
}

fn names(leads: &[LeadSignal]) -> Vec<String> {
    leads.iter().map(|l| l.lead.to_string()).collect()
}

const TWELVE: [&str; 12] = [
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
];

#[test]
fn waveform_ecg_matches_pydicom() {
    let (input, reference) = load("assets/samples/waveform_ecg.dcm");
    let rec = &input.record;
    assert_eq!(rec.sample_rate_hz, 1000.0);
    assert_eq!(rec.samples_per_lead(), 10_000);
    assert_eq!(names(&rec.leads), TWELVE);
    assert!(rec.derived_leads().is_empty());
    assert_eq!(rec.provenance.sha256, reference["sha256"].as_str().unwrap());
    let groups = reference["groups"].as_array().unwrap();
    assert_eq!(groups[0]["label"], "RHYTHM");
    assert_group_matches(&rec.leads, &groups[0], "rhythm");
    let beats = rec
        .representative_beats
        .as_ref()
        .expect("median beat group");
    assert_eq!(groups[1]["label"], "MEDIAN BEAT");
    assert_eq!(beats.sample_rate_hz, 1000.0);
    assert_eq!(names(&beats.leads), TWELVE);
    assert_group_matches(&beats.leads, &groups[1], "median");
    let cal = rec.leads[0].calibration.as_ref().unwrap();
    assert_eq!(
        (cal.gain, cal.baseline, cal.units.as_str()),
        (0.8, 0.0, "uV")
    );

    assert_eq!(input.patient.name.as_deref(), Some("Anonymous"));
    assert_eq!(input.patient.id.as_deref(), Some("642341"));
    assert_eq!(input.patient.birth_date.as_deref(), Some("1971-01-23"));
    assert_eq!(input.patient.sex.as_deref(), Some("F"));
    assert_eq!(rec.acquisition_time.as_deref(), Some("2013-01-25T10:59:19"));
    assert_eq!(
        rec.device.as_deref(),
        Some("Mortara Instrument, Inc. el250")
    );
}

#[test]
fn waveform_ecg_exposes_the_carts_measurements_and_fiducials() {
    let (input, reference) = load("assets/samples/waveform_ecg.dcm");
    let ann = &input.record.annotations;
    let measurement = |label: &str| {
        ann.iter()
            .find(|a| a.kind == AnnotationKind::Measurement && a.label == label)
            .map_or_else(
                || panic!("no {label} in {ann:#?}"),
                |a| (a.value.unwrap(), a.unit.clone().unwrap()),
            )
    };
    for (label, value, unit) in [
        ("RR Interval", 982.0, "ms"),
        ("PR Interval", 161.0, "ms"),
        ("QRS Duration", 75.0, "ms"),
        ("QT Interval", 368.0, "ms"),
        ("QTc Interval", 370.0, "ms"),
        ("P Axis", 74.0, "deg"),
        ("QRS Axis", 52.0, "deg"),
        ("T Axis", 57.0, "deg"),
    ] {
        assert_eq!(measurement(label), (value, unit.to_string()), "{label}");
    }
    assert!(
        ann.iter()
            .any(|a| a.kind == AnnotationKind::Text && a.label == "RITMO SINUSALE")
    );
    // Every fiducial point pydicom sees, at its 0-based sample index.
    let want: Vec<(String, usize)> = reference["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| {
            let pos = a.get("sample_positions")?.as_array()?.first()?.as_u64()? as usize;
            Some((a["concept"].as_str()?.to_string(), pos - 1))
        })
        .collect();
    let got: Vec<(String, usize)> = ann
        .iter()
        .filter(|a| a.kind == AnnotationKind::Fiducial)
        .map(|a| (a.label.clone(), a.sample_index.unwrap()))
        .collect();
    assert!(want.len() >= 30, "{}", want.len());
    assert_eq!(got, want);
    assert_eq!(got[0], ("P Onset".to_string(), 298));
}

#[test]
fn implicit_vr_mdc_codes_and_millivolts() {
    let (input, reference) = load("tests/fixtures/dicom/implicit_mdc_mv.dcm");
    let rec = &input.record;
    assert_eq!(rec.sample_rate_hz, 500.0);
    assert_eq!(
        names(&rec.leads),
        [
            "I", "II", "V1", "V2", "V3", "V4", "V5", "V6", "III", "aVR", "aVL", "aVF"
        ]
    );
    assert_eq!(rec.derived_leads(), ["III", "aVR", "aVL", "aVF"]);
    assert_group_matches(&rec.leads[..8], &reference["groups"][0], "rhythm");
    // Non-zero baseline: stored 0 is 0.012 mV = 12 µV.
    let cal = rec.leads[0].calibration.as_ref().unwrap();
    assert_eq!(cal.units, "mV");
    assert!((cal.gain - 1.0 / (0.005 * 0.98)).abs() < 1e-9);
    assert!((cal.baseline + 0.012 / (0.005 * 0.98)).abs() < 1e-9);
    let (i, ii, iii) = (
        rec.lead(StandardLead::I).unwrap(),
        rec.lead(StandardLead::II).unwrap(),
        rec.lead(StandardLead::III).unwrap(),
    );
    assert!((iii.samples_uv[40] - (ii.samples_uv[40] - i.samples_uv[40])).abs() < 1e-9);
    let fid: Vec<_> = rec
        .annotations
        .iter()
        .filter(|a| a.kind == AnnotationKind::Fiducial)
        .map(|a| (a.label.as_str(), a.sample_index, a.lead.as_deref()))
        .collect();
    assert_eq!(
        fid,
        [
            ("QRS Onset", Some(99), None),
            ("T Offset", Some(300), Some("I"))
        ]
    );
    let r = rec
        .annotations
        .iter()
        .find(|a| a.label == "R Amplitude")
        .unwrap();
    assert_eq!(
        (r.value, r.unit.as_deref(), r.lead.as_deref()),
        (Some(1.25), Some("mV"), Some("II"))
    );
    assert_eq!(input.patient.name.as_deref(), Some("Doe^Jane"));
    assert_eq!(rec.acquisition_time.as_deref(), Some("2024-03-14T09:30:15"));
}

#[test]
fn undefined_lengths_32_bit_and_group_choice() {
    let (input, reference) = load("tests/fixtures/dicom/undefined_lengths.dcm");
    let rec = &input.record;
    let groups = reference["groups"].as_array().unwrap();
    assert_eq!(groups[1]["label"], "CONTINUOUS");
    assert_eq!(rec.samples_per_lead(), 500);
    assert_eq!(names(&rec.leads), TWELVE);
    assert_eq!(rec.leads[0].source_label, "Lead I (local)");
    assert_group_matches(&rec.leads, &groups[1], "rhythm");
    let beats = rec.representative_beats.as_ref().unwrap();
    assert_group_matches(&beats.leads, &groups[0], "median");
}

#[test]
fn every_prefix_of_a_valid_file_is_an_error_not_a_panic() {
    let bytes = std::fs::read(repo_path("tests/fixtures/dicom/undefined_lengths.dcm")).unwrap();
    for cut in (0..bytes.len()).step_by(97) {
        assert!(
            read(&bytes[..cut], "cut.dcm").is_err(),
            "prefix {cut} accepted"
        );
    }
}
