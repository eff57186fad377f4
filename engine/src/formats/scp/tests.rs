//! The SCP-ECG reader against the fixtures `scripts/make_scp_fixtures.py` writes from the
//! standard's byte layout, read back by ecgdatakit's independent SCP-ECG reader.

use super::*;
use crate::record::{AnnotationKind, StandardLead};

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/scp")
        .join(name)
}

fn read_fixture(stem: &str) -> (SignalInput, serde_json::Value) {
    let bytes = std::fs::read(fixture(&format!("{stem}.scp"))).unwrap_or_else(|e| panic!("{e}"));
    assert!(looks_like_scp(&bytes), "{stem}");
    let text = std::fs::read_to_string(fixture(&format!("{stem}.reference.json")))
        .unwrap_or_else(|e| panic!("{e}"));
    let want = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let got = read(&bytes, &format!("{stem}.scp")).unwrap_or_else(|e| panic!("{stem}: {e}"));
    (got, want)
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
        .unwrap_or_default()
}

/// Samples, units, lead names and rate as ecgdatakit reads them, on every stored lead.
fn assert_leads_match(stem: &str, leads: &[LeadSignal], rate_hz: f64, want: &serde_json::Value) {
    for lead in leads.iter().filter(|l| !l.derived) {
        let w = &want[lead.lead.name()];
        assert_eq!(
            w["count"].as_u64(),
            Some(lead.samples_uv.len() as u64),
            "{stem} {}",
            lead.lead
        );
        if let Some(rate) = w["rate_hz"].as_f64() {
            assert_eq!(rate, rate_hz, "{stem}");
        }
        if let Some(per_count) = w["uv_per_count"].as_f64() {
            let gain = lead.calibration.as_ref().map_or(f64::NAN, |c| c.gain);
            assert_eq!(
                lead.calibration.as_ref().map(|c| c.units.as_str()),
                Some("nV")
            );
            assert!(
                (1.0 / gain / 1000.0 - per_count).abs() < 1e-12,
                "{stem}: units"
            );
        }
        let first = floats(&w["first"]);
        assert_eq!(first.len(), 25, "{stem}");
        for (a, b) in lead.samples_uv.iter().zip(&first) {
            assert!((a - b).abs() < 1e-9, "{stem} {}: {a} vs {b}", lead.lead);
        }
        let sum: f64 = lead.samples_uv.iter().sum();
        let want_sum = w["sum"].as_f64().unwrap_or(f64::NAN);
        assert!(
            (sum - want_sum).abs() < 1e-6,
            "{stem} {}: {sum} vs {want_sum}",
            lead.lead
        );
    }
}

#[test]
fn fixtures_match_the_independent_reader() {
    for stem in [
        "scp_plain",
        "scp_huffman",
        "scp_custom_tables",
        "scp_reference_beat",
    ] {
        let (s, want) = read_fixture(stem);
        let r = &s.record;
        assert_eq!(r.provenance.format, Format::Scp);
        let names: Vec<&str> = r
            .leads
            .iter()
            .filter(|l| !l.derived)
            .map(|l| l.lead.name())
            .collect();
        let want_names: Vec<&str> = want["leads"]
            .as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(names, want_names, "{stem}");
        assert_leads_match(stem, &r.leads, r.sample_rate_hz, &want["rhythm"]);
        let p = &want["patient"];
        let name = format!(
            "{}^{}",
            p["last_name"].as_str().unwrap_or_default(),
            p["first_name"].as_str().unwrap_or_default()
        );
        assert_eq!(s.patient.name.as_deref(), Some(name.as_str()), "{stem}");
        assert_eq!(s.patient.id.as_deref(), p["id"].as_str());
        assert_eq!(s.patient.birth_date.as_deref(), p["birth_date"].as_str());
        assert_eq!(s.patient.sex.as_deref(), p["sex"].as_str());
        assert_eq!(
            r.acquisition_time.as_deref(),
            want["acquisition_time"].as_str()
        );
        let device = r.device.clone().unwrap_or_default();
        for part in ["manufacturer", "model"] {
            let w = want["device"][part].as_str().unwrap_or_default();
            assert!(device.contains(w), "{stem}: {device} lacks {w}");
        }
        // Leads not stored (III, aVR, aVL, aVF in the 8-lead files) are derived and marked.
        assert!(r.missing_standard_leads().is_empty(), "{stem}");
    }
}

#[test]
fn reference_beats_and_the_carts_reading_match_the_independent_reader() {
    let (s, want) = read_fixture("scp_reference_beat");
    let r = &s.record;
    let beats = r
        .representative_beats
        .as_ref()
        .unwrap_or_else(|| panic!("no reference beats"));
    assert_leads_match(
        "reference beats",
        &beats.leads,
        beats.sample_rate_hz,
        &want["median"],
    );
    assert_eq!(beats.leads.len(), 8);
    let value = |label: &str| {
        r.annotations
            .iter()
            .find(|a| a.label == label && a.lead.is_none())
            .and_then(|a| a.value)
    };
    assert_eq!(value("Ventricular rate"), want["heart_rate_bpm"].as_f64());
    let axes = floats(&want["axes_deg"]);
    assert_eq!(
        [value("P axis"), value("QRS axis"), value("T axis")]
            .map(|v| v.unwrap_or(f64::NAN))
            .to_vec(),
        axes
    );
    assert_eq!(value("QRS duration"), Some(90.0));
    assert_eq!(value("PR interval"), Some(152.0));
    assert_eq!(value("QTc (Bazett)"), Some(428.0));
    let texts: Vec<&str> = r
        .annotations
        .iter()
        .filter(|a| a.kind == AnnotationKind::Text)
        .map(|a| a.label.as_str())
        .collect();
    for st in want["statements"].as_array().into_iter().flatten() {
        assert!(
            texts.contains(&st.as_str().unwrap_or_default()),
            "{texts:?}"
        );
    }
    for code in want["universal_statements"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let label = format!(
            "{} (universal statement code)",
            code.as_str().unwrap_or_default()
        );
        assert!(texts.contains(&label.as_str()), "{texts:?}");
    }
    let r_v5 = r
        .annotations
        .iter()
        .find(|a| a.label == "R amplitude" && a.lead.as_deref() == Some("V5"));
    assert_eq!(r_v5.and_then(|a| a.value), Some(1200.0 - 50.0 * 6.0));
    assert!(
        r.processing_notes
            .iter()
            .any(|n| n.contains("reference-beat subtraction"))
    );
}

/// At 1000 nV per count the plain fixture's samples are the CSV sample's integer microvolts:
/// the multiplier is read in nV, not µV or mV.
#[test]
fn the_plain_fixture_holds_the_sample_in_microvolts() {
    let (s, _) = read_fixture("scp_plain");
    let csv_bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../assets/samples/synthetic_sinus.csv"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let csv = crate::formats::csv::read(
        &csv_bytes,
        "synthetic_sinus.csv",
        &crate::formats::csv::CsvOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for lead in [
        StandardLead::I,
        StandardLead::II,
        StandardLead::V1,
        StandardLead::V6,
    ] {
        let a = s.record.lead(lead).map(|l| &l.samples_uv);
        let b = csv.record.lead(lead).map(|l| &l.samples_uv);
        assert_eq!(a, b, "{lead}");
    }
}

#[test]
fn the_fixture_is_measured() {
    let (s, _) = read_fixture("scp_reference_beat");
    let m = crate::features::measure(&s.record).unwrap_or_else(|e| panic!("{e}"));
    let rate = m.heart_rate_bpm.value.unwrap_or_default();
    assert!((rate - 70.0).abs() < 2.0, "{rate}");
}

#[test]
fn other_bytes_are_not_taken_for_scp() {
    assert!(!looks_like_scp(b""));
    assert!(!looks_like_scp(&[0u8; 64]));
    let bytes = std::fs::read(fixture("scp_plain.scp")).unwrap_or_else(|e| panic!("{e}"));
    let mut moved = bytes.clone();
    moved[28] = 8; // Section 0 no longer at byte 7
    assert!(!looks_like_scp(&moved));
    assert_eq!(crate::formats::detect(&bytes, "x.bin"), Some(Format::Scp));
}

#[test]
fn a_damaged_byte_is_caught_by_the_crc_and_named() {
    let mut bytes = std::fs::read(fixture("scp_huffman.scp")).unwrap_or_else(|e| panic!("{e}"));
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    let err = read(&bytes, "damaged.scp")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.starts_with("damaged.scp: inconsistent in record CRC: stored"),
        "{err}"
    );
}

/// Recomputes every section's CRC and the record's after an edit, so that a mutation reaches
/// the parser instead of stopping at the checksum.
fn fix_crcs(bytes: &mut [u8]) {
    let u32_at = |b: &[u8], i: usize| {
        b.get(i..i + 4)
            .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
    };
    let sec0_len = u32_at(bytes, 10).min(bytes.len().saturating_sub(6));
    let mut at = 22;
    while at + 10 <= 6 + sec0_len {
        let length = u32_at(bytes, at + 2);
        let start = u32_at(bytes, at + 6).wrapping_sub(1);
        if length >= 16
            && start
                .checked_add(length)
                .is_some_and(|end| end <= bytes.len())
        {
            let crc = sections::crc_ccitt(&bytes[start + 2..start + length]);
            bytes[start..start + 2].copy_from_slice(&crc.to_le_bytes());
        }
        at += 10;
    }
    if sec0_len >= 2 && bytes.len() >= 6 + sec0_len {
        let crc = sections::crc_ccitt(&bytes[8..6 + sec0_len]);
        bytes[6..8].copy_from_slice(&crc.to_le_bytes());
    }
    if bytes.len() > 2 {
        let crc = sections::crc_ccitt(&bytes[2..]);
        bytes[..2].copy_from_slice(&crc.to_le_bytes());
    }
}

/// A deterministic stand-in for the fuzz target: bytes changed in the headers and the data
/// (CRCs made right again) and every cut of the file give a record or an error, never a panic.
#[test]
fn mutated_and_cut_files_give_errors_not_panics() {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for stem in [
        "scp_plain",
        "scp_huffman",
        "scp_custom_tables",
        "scp_reference_beat",
    ] {
        let bytes =
            std::fs::read(fixture(&format!("{stem}.scp"))).unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..60 {
            let mut b = bytes.clone();
            for _ in 0..=(next() % 3) {
                // Half the edits in the first 600 bytes: the headers, tables and lead blocks.
                let span = if next() % 2 == 0 {
                    600.min(b.len())
                } else {
                    b.len()
                };
                let at = (next() % span as u64) as usize;
                b[at] = next() as u8;
            }
            fix_crcs(&mut b);
            let _ = read(&b, "mutated.scp");
        }
        for cut in (0..bytes.len()).step_by(bytes.len() / 97 + 1) {
            assert!(
                read(&bytes[..cut], "cut.scp").is_err(),
                "{stem}: cut at {cut}"
            );
        }
    }
}
