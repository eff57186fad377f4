use super::*;
use crate::record::AnnotationKind;

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/sierra")
        .join(name)
}

fn read_fixture() -> SignalInput {
    let bytes = std::fs::read(fixture("sierra_xli.xml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(looks_like_sierra(&String::from_utf8_lossy(&bytes[..512])));
    read(&bytes, "sierra_xli.xml").unwrap_or_else(|e| panic!("{e}"))
}

/// The XLI fixture decodes to exactly what sierraecg decodes (`make_sierra_fixtures.py`
/// also checks that sierraecg gives back what was encoded).
#[test]
fn xli_fixture_matches_the_independent_reader_sample_for_sample() {
    let text = std::fs::read_to_string(fixture("sierra_xli.reference.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    let want: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let uv = want["uv_per_count"].as_f64().unwrap_or(f64::NAN);
    let s = read_fixture();
    let r = &s.record;
    assert_eq!(r.provenance.format, Format::Sierra);
    assert_eq!(r.sample_rate_hz, 500.0);
    assert!(r.derived_leads().is_empty(), "all twelve leads are stored");
    for lead in &r.leads {
        let w = &want["rhythm"][lead.lead.name()];
        assert_eq!(w["rate_hz"].as_f64(), Some(r.sample_rate_hz));
        let first: Vec<f64> = w["first"]
            .as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
            .unwrap_or_default();
        assert_eq!(first.len(), 25, "{}", lead.lead);
        for (a, b) in lead.samples_uv.iter().zip(&first) {
            assert_eq!(*a, b * uv, "{}", lead.lead);
        }
        let sum: f64 = lead.samples_uv.iter().sum();
        assert_eq!(
            sum,
            w["sum"].as_f64().unwrap_or(f64::NAN) * uv,
            "{}",
            lead.lead
        );
        assert_eq!(
            lead.calibration.as_ref().map(|c| c.gain),
            Some(1.0 / uv),
            "{}",
            lead.lead
        );
    }
    let reps = r
        .representative_beats
        .as_ref()
        .unwrap_or_else(|| panic!("repbeats"));
    assert_eq!(reps.leads.len(), 12);
    for lead in &reps.leads {
        let w = &want["repbeats"][lead.lead.name()];
        assert_eq!(w["count"].as_u64(), Some(lead.samples_uv.len() as u64));
        let sum: f64 = lead.samples_uv.iter().sum();
        assert_eq!(sum, w["sum"].as_f64().unwrap_or(f64::NAN) * uv);
    }
}

#[test]
fn cart_values_patient_and_acquisition_are_kept() {
    let s = read_fixture();
    let r = &s.record;
    assert_eq!(s.patient.id.as_deref(), Some("MRN0042"));
    assert_eq!(s.patient.name.as_deref(), Some("Lefèvre^Marie"));
    assert_eq!(r.acquisition_time.as_deref(), Some("2026-03-15T10:21:32"));
    assert_eq!(r.device.as_deref(), Some("Philips PageWriter TC70"));
    let value = |label: &str| {
        r.annotations
            .iter()
            .find(|a| a.label == label)
            .and_then(|a| a.value)
    };
    assert_eq!(value("Ventricular rate"), Some(72.0));
    assert_eq!(value("QRS duration"), Some(90.0));
    // "Failed" is the cart saying it could not measure: no annotation, never a zero.
    assert_eq!(value("T axis"), None);
    let statements: Vec<&str> = r
        .annotations
        .iter()
        .filter(|a| a.kind == AnnotationKind::Text)
        .map(|a| a.label.as_str())
        .collect();
    assert_eq!(statements, vec!["Sinus rhythm", "Normal ECG"]);
    let m = crate::features::measure(r).unwrap_or_else(|e| panic!("{e}"));
    let rate = m.heart_rate_bpm.value.unwrap_or_default();
    assert!((rate - 72.0).abs() < 2.0, "{rate}");
}

#[test]
fn lzw_refuses_a_code_used_before_it_is_defined() {
    // Code 300 as the first code: nothing has defined it.
    let err = lzw_decode(&[0b0100_1011, 0b0000_0000], 100).err();
    assert!(err.is_some_and(|e| e.contains("before it was defined")));
    // A bomb stops at the limit instead of allocating.
    let zeros = vec![0u8; 64];
    assert!(lzw_decode(&zeros, 10).is_err());
}
