//! Checks against the values `scripts/make_aecg_fixtures.py` wrote beside each fixture.

use serde_json::Value;

use super::*;
use crate::record::StandardLead;

fn repo_path(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

fn load(stem: &str) -> (SignalInput, Value) {
    let xml = std::fs::read(repo_path(&format!("tests/fixtures/aecg/{stem}.xml"))).unwrap();
    let text = std::fs::read_to_string(repo_path(&format!(
        "tests/fixtures/aecg/{stem}.expected.json"
    )))
    .unwrap();
    let input = read(&xml, &format!("{stem}.xml")).unwrap_or_else(|e| panic!("{e}"));
    (input, serde_json::from_str(&text).unwrap())
}

fn assert_leads_match(leads: &[LeadSignal], expected: &Value) {
    for lead in leads.iter().filter(|l| !l.derived) {
        let want = &expected[lead.lead.name()];
        assert_eq!(
            lead.samples_uv.len() as u64,
            want["count"].as_u64().unwrap()
        );
        for (k, v) in want["first"].as_array().unwrap().iter().enumerate() {
            let w = v.as_f64().unwrap();
            assert!(
                (lead.samples_uv[k] - w).abs() < 1e-6,
                "{} [{k}]: {} vs {w}",
                lead.lead,
                lead.samples_uv[k]
            );
        }
        let sum: f64 = lead.samples_uv.iter().sum();
        assert!(
            (sum - want["sum"].as_f64().unwrap()).abs() < 1e-3,
            "{}",
            lead.lead
        );
    }
}

#[test]
fn twelve_leads_with_median_beat_and_measurements() {
    let (input, expected) = load("twelve_lead");
    let rec = &input.record;
    assert_eq!(rec.sample_rate_hz, 500.0);
    assert_eq!(rec.samples_per_lead(), 1000);
    let names: Vec<_> = rec.leads.iter().map(|l| l.lead.to_string()).collect();
    assert_eq!(
        names,
        [
            "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"
        ]
    );
    assert!(rec.derived_leads().is_empty());
    assert_leads_match(&rec.leads, &expected["rhythm"]);
    let beats = rec.representative_beats.as_ref().unwrap();
    assert_eq!(beats.sample_rate_hz, 500.0);
    assert_leads_match(&beats.leads, &expected["median"]);
    for m in expected["measurements"].as_array().unwrap() {
        let label = m[0].as_str().unwrap();
        let a = rec.annotations.iter().find(|a| a.label == label).unwrap();
        assert_eq!(a.kind, AnnotationKind::Measurement);
        assert_eq!(a.value, m[1].as_f64());
        assert_eq!(a.unit.as_deref(), m[2].as_str());
    }
    let r = rec
        .annotations
        .iter()
        .find(|a| a.label == "MDC_ECG_WAVE_RAMPL")
        .unwrap();
    assert_eq!((r.value, r.lead.as_deref()), (Some(1.2), Some("V5")));
    assert!(
        rec.annotations
            .iter()
            .any(|a| a.kind == AnnotationKind::Text && a.label.ends_with("Sinus rhythm"))
    );
    assert_eq!(rec.acquisition_time.as_deref(), Some("2024-03-14T09:30:15"));
    assert_eq!(rec.device.as_deref(), Some("ECG-R1 fixtures synth-aecg"));
    assert_eq!(input.patient.name.as_deref(), Some("Roe^Jane"));
    assert_eq!(input.patient.id.as_deref(), Some("SYN-0002"));
    assert_eq!(input.patient.birth_date.as_deref(), Some("1975-06-12"));
    assert_eq!(input.patient.sex.as_deref(), Some("F"));
    let cal = rec.leads[0].calibration.as_ref().unwrap();
    assert_eq!(
        (cal.gain, cal.baseline, cal.units.as_str()),
        (0.2, 0.0, "uV")
    );
}

#[test]
fn eight_leads_in_millivolts_get_derived_limb_leads() {
    let (input, expected) = load("eight_lead_mv");
    let rec = &input.record;
    assert_eq!(rec.sample_rate_hz, 250.0);
    assert_eq!(rec.derived_leads(), ["III", "aVR", "aVL", "aVF"]);
    assert_leads_match(&rec.leads, &expected["rhythm"]);
    let i = rec.lead(StandardLead::I).unwrap();
    let ii = rec.lead(StandardLead::II).unwrap();
    let avr = rec.lead(StandardLead::AVR).unwrap();
    assert!((avr.samples_uv[7] + f64::midpoint(i.samples_uv[7], ii.samples_uv[7])).abs() < 1e-9);
    // origin 0.01 mV = 10 µV: stored 0 sits at baseline −2 steps of 0.005 mV.
    let cal = i.calibration.as_ref().unwrap();
    assert!((cal.baseline + 2.0).abs() < 1e-9, "{cal:?}");
    assert!(input.patient.is_empty());
}

#[test]
fn the_bundled_sample_reads() {
    let bytes = std::fs::read(repo_path("assets/samples/synthetic_sinus_aecg.xml")).unwrap();
    assert!(bytes.len() < 300 * 1024);
    let input = read(&bytes, "synthetic_sinus_aecg.xml").unwrap();
    assert_eq!(input.record.samples_per_lead(), 5000);
    assert_eq!(input.record.leads.len(), 12);
    assert_eq!(crate::formats::detect(&bytes, "x"), Some(Format::Aecg));
}

#[test]
fn hostile_inputs_are_errors() {
    let cases: [(&str, FormatErrorKind); 3] = [
        ("<AnnotatedECG><component>", FormatErrorKind::Invalid),
        ("<other/>", FormatErrorKind::Invalid),
        ("<AnnotatedECG/>", FormatErrorKind::Invalid),
    ];
    for (text, kind) in cases {
        let err = read(text.as_bytes(), "x.xml").unwrap_err();
        assert_eq!(err.kind, kind, "{text}: {err}");
    }
    assert_eq!(
        read(&[0xff, 0xfe, 0x00], "x.xml").unwrap_err().kind,
        FormatErrorKind::Invalid
    );
}

#[test]
fn timestamps_become_iso() {
    assert_eq!(
        iso_timestamp("20021122091000.250+0100"),
        "2002-11-22T09:10:00.250"
    );
    assert_eq!(iso_timestamp("19750612"), "1975-06-12");
    assert_eq!(iso_timestamp("garbage"), "garbage");
}

/// The twelve-lead fixture with the `n`-th `<digits>` text starting with a non-integer and
/// the `m`-th `<scale>` set to zero (rhythm leads come first, in file order).
fn spoiled(bad_digits: &[usize], zero_scales: &[usize]) -> Vec<u8> {
    let xml = std::fs::read_to_string(repo_path("tests/fixtures/aecg/twelve_lead.xml")).unwrap();
    let mut out = String::new();
    for (n, part) in xml.split("<digits>").enumerate() {
        if n > 0 {
            out.push_str("<digits>");
            if bad_digits.contains(&(n - 1)) {
                out.push_str("x7 ");
            }
        }
        out.push_str(part);
    }
    let mut result = String::new();
    for (m, part) in out.split("<scale value=\"").enumerate() {
        if m > 0 {
            result.push_str("<scale value=\"");
            if zero_scales.contains(&(m - 1)) {
                result.push('0');
                result.push_str(&part[part.find('"').unwrap()..]);
                continue;
            }
        }
        result.push_str(part);
    }
    result.into_bytes()
}

/// The problem reported is the first in the file: a lead's digits before a later lead's scale.
#[test]
fn the_first_problem_in_file_order_is_reported() {
    let labels: Vec<String> = read(&spoiled(&[], &[]), "t.xml")
        .unwrap()
        .record
        .leads
        .iter()
        .filter(|l| !l.derived)
        .map(|l| l.source_label.clone())
        .collect();
    let digits_of = |k: usize| format!("digits of lead {}", labels[k]);
    let scale_of = |k: usize| format!("scale of lead {}", labels[k]);
    for (bad_digits, zero_scales, field) in [
        (vec![2, 9], vec![], digits_of(2)),
        (vec![9, 2], vec![], digits_of(2)),
        (vec![7], vec![3], scale_of(3)),
        (vec![1], vec![5], digits_of(1)),
        (vec![11], vec![], digits_of(11)),
    ] {
        let e = read(&spoiled(&bad_digits, &zero_scales), "t.xml").unwrap_err();
        assert_eq!(e.field, field, "{bad_digits:?} {zero_scales:?}: {e}");
    }
}

#[test]
fn the_record_carries_the_files_sha256() {
    for rel in [
        "assets/samples/synthetic_sinus_aecg.xml",
        "tests/fixtures/aecg/twelve_lead.xml",
    ] {
        let bytes = std::fs::read(repo_path(rel)).unwrap();
        let input = read(&bytes, "t.xml").unwrap();
        assert_eq!(
            input.record.provenance.sha256,
            crate::formats::sha256_hex(&bytes),
            "{rel}"
        );
    }
}

/// An XML error is reported as the XML parser gives it, with its position in the file.
#[test]
fn xml_errors_name_positions_in_the_file() {
    let text = std::fs::read_to_string(repo_path("tests/fixtures/aecg/twelve_lead.xml")).unwrap();
    let broken = text.replace("</AnnotatedECG>", "</AnnotatedEKG>");
    let e = read(broken.as_bytes(), "t.xml").unwrap_err();
    let own = Document::parse(&broken).unwrap_err().to_string();
    assert_eq!(e.problem, own);
}
