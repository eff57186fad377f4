//! WFDB reader parity with the reference reader (wfdb-python 4.3.1 `rdrecord`), and writer
//! round trips. Fixtures come from `scripts/make_wfdb_fixtures.py`: each `<name>.json` holds
//! what the reference reader read from `<name>.hea/.dat`.

// Helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ecgr1_engine::formats::wfdb;
use ecgr1_engine::formats::{EcgInput, LoadOptions, SignalInput, load_path};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/wfdb")
}

fn load(path: &Path) -> SignalInput {
    match load_path(path, &LoadOptions::default()) {
        Ok(EcgInput::Signal(s)) => *s,
        Ok(EcgInput::Image(_)) => panic!("{}: read as an image", path.display()),
        Err(e) => panic!("{e}"),
    }
}

fn uv_per_unit(units: &str) -> f64 {
    match units {
        "mV" => 1000.0,
        "uV" => 1.0,
        other => panic!("fixture units {other}"),
    }
}

struct Reference {
    name: String,
    value: serde_json::Value,
}

fn references() -> Vec<Reference> {
    let mut out: Vec<Reference> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| Reference {
            name: p.file_stem().unwrap().to_string_lossy().into_owned(),
            value: serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[test]
fn every_format_equals_the_reference_reader() {
    let refs = references();
    let mut formats: Vec<String> = Vec::new();
    for r in &refs {
        let v = &r.value;
        let input = load(&fixtures().join(format!("{}.hea", r.name)));
        let rec = &input.record;
        assert_eq!(rec.sample_rate_hz, v["fs"].as_f64().unwrap(), "{}", r.name);
        let sig_len = v["sig_len"].as_u64().unwrap() as usize;
        assert_eq!(rec.samples_per_lead(), sig_len, "{}", r.name);
        let names = v["sig_name"].as_array().unwrap();
        assert!(rec.derived_leads().is_empty(), "all 12 leads are recorded");
        for (k, name) in names.iter().enumerate() {
            let lead = &rec.leads[k];
            assert_eq!(lead.source_label, name.as_str().unwrap());
            let gain = v["adc_gain"][k].as_f64().unwrap();
            let baseline = v["baseline"][k].as_f64().unwrap();
            let units = v["units"][k].as_str().unwrap();
            let cal = lead.calibration.as_ref().unwrap();
            assert_eq!(
                (cal.gain, cal.baseline, cal.units.as_str()),
                (gain, baseline, units)
            );
            let scale = uv_per_unit(units);
            let step_uv = scale / gain;
            for t in 0..sig_len {
                let ours = lead.samples_uv[t];
                let digital = v["digital"][k][t].as_i64().unwrap();
                match v["physical"][k][t].as_f64() {
                    None => assert!(
                        ours.is_nan(),
                        "{} {name} sample {t}: {ours} should be missing",
                        r.name
                    ),
                    Some(phys) => {
                        let diff = (ours - phys * scale).abs();
                        assert!(
                            diff <= step_uv,
                            "{} {name} sample {t}: {ours} µV vs reference {phys} {units}",
                            r.name
                        );
                        let our_digital = (ours / scale * gain + baseline).round() as i64;
                        assert_eq!(our_digital, digital, "{} {name} sample {t}", r.name);
                    }
                }
            }
        }
        assert!(
            rec.processing_notes.iter().all(|n| !n.contains("checksum")),
            "{}: {:?}",
            r.name,
            rec.processing_notes
        );
        for f in v["fmt"].as_array().unwrap() {
            let f = f.as_str().unwrap().to_string();
            if !formats.contains(&f) {
                formats.push(f);
            }
        }
    }
    formats.sort_by_key(|f| f.parse::<u32>().unwrap());
    assert_eq!(
        formats,
        [
            "8", "16", "24", "32", "61", "80", "160", "212", "310", "311"
        ]
    );
}

#[test]
fn fixture_comments_and_time_are_kept() {
    let input = load(&fixtures().join("fmt212.hea"));
    assert_eq!(
        input.record.acquisition_time.as_deref(),
        Some("2024-03-01T08:30:00")
    );
    assert!(
        input
            .record
            .annotations
            .iter()
            .any(|a| a.label.contains("format 212"))
    );
    // The .dat names the same record.
    let via_dat = load(&fixtures().join("fmt212.dat"));
    assert_eq!(
        via_dat.record.provenance.sha256,
        input.record.provenance.sha256
    );
}

#[test]
fn read_write_read_keeps_values_within_one_adc_unit() {
    for r in references() {
        let input = load(&fixtures().join(format!("{}.hea", r.name)));
        let rec = &input.record;
        let (hea, dat) = wfdb::write(rec, "rt").unwrap();
        let back = wfdb::read(&hea, "rt.hea", &mut |name: &str| {
            assert_eq!(name, "rt.dat");
            Ok(dat.clone())
        })
        .unwrap()
        .record;
        assert_eq!(back.sample_rate_hz, rec.sample_rate_hz, "{}", r.name);
        assert_eq!(back.samples_per_lead(), rec.samples_per_lead());
        for (a, b) in rec.leads.iter().zip(&back.leads) {
            assert_eq!(a.lead, b.lead);
            let cal = b.calibration.as_ref().unwrap();
            let step = uv_per_unit(&cal.units) / cal.gain;
            for (x, y) in a.samples_uv.iter().zip(&b.samples_uv) {
                assert!(
                    (x.is_nan() && y.is_nan()) || (x - y).abs() <= step,
                    "{} {}: {x} vs {y}",
                    r.name,
                    a.lead
                );
            }
        }
    }
}

/// ecgr1's writer output for three fixtures is committed under `written/`, so that
/// `scripts/make_wfdb_fixtures.py --check-written` can confirm wfdb-python reads it. This test
/// keeps those bytes equal to what the writer produces now (set WFDB_UPDATE_WRITTEN=1 to
/// regenerate them after a deliberate writer change).
#[test]
fn committed_written_records_match_the_writer() {
    let dir = fixtures().join("written");
    for name in ["fmt16", "fmt212", "fmt24"] {
        let input = load(&fixtures().join(format!("{name}.hea")));
        let (hea, dat) = wfdb::write(&input.record, name).unwrap();
        let (hea_path, dat_path) = (
            dir.join(format!("{name}.hea")),
            dir.join(format!("{name}.dat")),
        );
        if std::env::var_os("WFDB_UPDATE_WRITTEN").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&hea_path, &hea).unwrap();
            std::fs::write(&dat_path, &dat).unwrap();
        }
        assert_eq!(
            std::fs::read(&hea_path).unwrap(),
            hea,
            "{}",
            hea_path.display()
        );
        assert_eq!(
            std::fs::read(&dat_path).unwrap(),
            dat,
            "{}",
            dat_path.display()
        );
    }
}

#[test]
fn bundled_synthetic_sample_reads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/samples/synthetic_sinus.hea");
    let rec = load(&path).record;
    assert_eq!(rec.sample_rate_hz, 500.0);
    assert_eq!(rec.samples_per_lead(), 5000);
    assert_eq!(rec.leads.len(), 12);
    assert!(rec.missing_standard_leads().is_empty());
    // Lead II R peaks are about 1.1 mV.
    let ii = rec.lead(ecgr1_engine::StandardLead::II).unwrap();
    let max = ii.samples_uv.iter().copied().fold(f64::MIN, f64::max);
    assert!((900.0..1300.0).contains(&max), "{max}");
}
