//! Accuracy against the recording cart's own measurements (pydicom's waveform_ecg.dcm,
//! exported to JSON by scripts/export_waveform_ecg_fixture.py) and against synthetic records
//! with exact R-peak truth (scripts/make_synthetic_ecgs.py).

use std::path::PathBuf;

use super::*;
use crate::formats::Format;
use crate::record::{LeadSignal, Provenance};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/features")
}

fn record(fs: f64, leads: Vec<(String, Vec<f64>)>, name: &str) -> EcgRecord {
    EcgRecord {
        sample_rate_hz: fs,
        leads: leads
            .into_iter()
            .map(|(n, s)| LeadSignal::new(LeadId::from_label(&n), n, s))
            .collect(),
        acquisition_time: None,
        device: None,
        provenance: Provenance {
            format: Format::Dicom,
            file_name: name.into(),
            sha256: String::new(),
            byte_len: 0,
        },
        annotations: Vec::new(),
        representative_beats: None,
        processing_notes: Vec::new(),
    }
}

pub(crate) fn cart_fixture() -> (EcgRecord, serde_json::Value) {
    let text = std::fs::read_to_string(fixtures().join("waveform_ecg_rhythm.json"))
        .unwrap_or_else(|e| panic!("fixture: {e}"));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let fs = v["sample_rate_hz"].as_f64().unwrap_or_default();
    let leads = v["leads"]
        .as_array()
        .unwrap_or_else(|| panic!("leads"))
        .iter()
        .map(|l| {
            let name = l["name"].as_str().unwrap_or_default().to_string();
            let s = l["samples_uv"]
                .as_array()
                .unwrap_or_else(|| panic!("samples"))
                .iter()
                .map(|x| x.as_f64().unwrap_or(f64::NAN))
                .collect();
            (name, s)
        })
        .collect();
    (record(fs, leads, "waveform_ecg.dcm"), v)
}

pub(crate) struct Synthetic {
    pub name: String,
    pub record: EcgRecord,
    pub r_peaks: Vec<usize>,
    pub true_hr: f64,
}

pub(crate) fn synthetic_records() -> Vec<Synthetic> {
    let dir = fixtures().join("synthetic");
    let index: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("index.json")).unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    index
        .as_array()
        .unwrap_or_else(|| panic!("index"))
        .iter()
        .map(|r| {
            let bytes = std::fs::read(dir.join(r["file"].as_str().unwrap_or_default()))
                .unwrap_or_else(|e| panic!("{e}"));
            let n = r["samples"].as_u64().unwrap_or_default() as usize;
            let names: Vec<String> = r["leads"]
                .as_array()
                .unwrap_or_else(|| panic!("leads"))
                .iter()
                .map(|x| x.as_str().unwrap_or_default().to_string())
                .collect();
            let leads = names
                .iter()
                .enumerate()
                .map(|(li, name)| {
                    let s = (0..n)
                        .map(|k| {
                            let o = 2 * (li * n + k);
                            f64::from(i16::from_le_bytes([bytes[o], bytes[o + 1]]))
                        })
                        .collect();
                    (name.clone(), s)
                })
                .collect();
            let fs = r["sample_rate_hz"].as_f64().unwrap_or_default();
            Synthetic {
                name: r["name"].as_str().unwrap_or_default().to_string(),
                record: record(fs, leads, "synthetic"),
                r_peaks: r["r_peaks"]
                    .as_array()
                    .unwrap_or_else(|| panic!("r_peaks"))
                    .iter()
                    .map(|x| x.as_u64().unwrap_or_default() as usize)
                    .collect(),
                true_hr: r["true_mean_hr_bpm"].as_f64().unwrap_or_default(),
            }
        })
        .collect()
}

fn cart(v: &serde_json::Value, key: &str) -> f64 {
    v["cart_measurements"][key]["value"]
        .as_f64()
        .unwrap_or(f64::NAN)
}

#[test]
fn cart_measurements_are_matched_on_the_real_recording() {
    let (rec, v) = cart_fixture();
    let m = measure(&rec).unwrap_or_else(|e| panic!("{e}"));
    let show = |x: &Measured| format!("{}={:?}", x.id, x.value);
    eprintln!(
        "{} {} {} {} {} {} {} {} {} {}",
        show(&m.rr_mean_ms),
        show(&m.pr_ms),
        show(&m.p_ms),
        show(&m.qrs_ms),
        show(&m.qt_ms),
        show(&m.qtc_bazett_ms),
        show(&m.p_axis_deg),
        show(&m.qrs_axis_deg),
        show(&m.t_axis_deg),
        m.rhythm.label
    );
    eprintln!("{:?}", m.median_fiducials);
    let check = |got: &Measured, want: f64, tol: f64| {
        let g = got
            .value
            .unwrap_or_else(|| panic!("{} missing: {:?}", got.id, got.reason));
        assert!(
            (g - want).abs() <= tol,
            "{}: {g:.1} vs cart {want} (±{tol})",
            got.id
        );
    };
    check(&m.rr_mean_ms, cart(&v, "RR Interval"), 5.0);
    check(&m.pr_ms, cart(&v, "PR Interval"), 10.0);
    check(&m.qrs_ms, cart(&v, "QRS Duration"), 10.0);
    check(&m.qt_ms, cart(&v, "QT Interval"), 20.0);
    check(&m.p_axis_deg, cart(&v, "P Axis"), 15.0);
    check(&m.qrs_axis_deg, cart(&v, "QRS Axis"), 15.0);
    check(&m.t_axis_deg, cart(&v, "T Axis"), 15.0);
    assert_eq!(m.rhythm.label, "sinus rhythm");
    // Beat positions against the cart's fiducial points (1-based sample positions).
    let fs = rec.sample_rate_hz;
    let cart_beats: Vec<f64> = v["cart_rhythm_fiducials_1based"]["Fiducial Point"]
        .as_array()
        .unwrap_or_else(|| panic!("fiducials"))
        .iter()
        .map(|x| x.as_f64().unwrap_or_default() - 1.0)
        .collect();
    assert_eq!(
        m.beats.len(),
        cart_beats.len(),
        "beats: {:?}",
        m.beats.iter().map(|b| b.r_index).collect::<Vec<_>>()
    );
    for (b, c) in m.beats.iter().zip(&cart_beats) {
        let err_ms = (b.r_index as f64 - c).abs() * 1000.0 / fs;
        assert!(
            err_ms <= 20.0,
            "beat at {} vs cart {c}: {err_ms} ms",
            b.r_index
        );
    }
    // QRS onset / offset of each beat against the cart's.
    let onset: fn(&Beat) -> Option<usize> = |b| b.qrs_onset;
    let offset: fn(&Beat) -> Option<usize> = |b| b.qrs_offset;
    for (key, got) in [("QRS Onset", onset), ("QRS Offset", offset)] {
        let cart_pts: Vec<f64> = v["cart_rhythm_fiducials_1based"][key]
            .as_array()
            .unwrap_or_else(|| panic!("{key}"))
            .iter()
            .map(|x| x.as_f64().unwrap_or_default() - 1.0)
            .collect();
        for (b, c) in m.beats.iter().zip(&cart_pts) {
            if let Some(g) = got(b) {
                let err_ms = (g as f64 - c).abs() * 1000.0 / fs;
                assert!(err_ms <= 20.0, "{key} {g} vs cart {c}");
            }
        }
    }
}

#[test]
fn synthetic_rates_and_detection_meet_the_targets() {
    let tol = 25; // 50 ms at 500 Hz
    let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
    for s in synthetic_records() {
        let m = measure(&s.record).unwrap_or_else(|e| panic!("{}: {e}", s.name));
        let got: Vec<usize> = m.beats.iter().map(|b| b.r_index).collect();
        let mut matched = vec![false; got.len()];
        for &t in &s.r_peaks {
            if let Some(k) = got
                .iter()
                .enumerate()
                .position(|(k, &g)| !matched[k] && g.abs_diff(t) <= tol)
            {
                matched[k] = true;
                tp += 1;
            } else {
                fneg += 1;
            }
        }
        fp += matched.iter().filter(|m| !**m).count();
        let hr = m.heart_rate_bpm.value.unwrap_or(f64::NAN);
        eprintln!(
            "{}: hr {hr:.2} (true {:.2}) beats {}/{} qrs {:?} qt {:?} pr {:?} rhythm {} V{} S{} irr {:?}",
            s.name,
            s.true_hr,
            got.len(),
            s.r_peaks.len(),
            m.qrs_ms.value.map(f64::round),
            m.qt_ms.value.map(f64::round),
            m.pr_ms.value.map(f64::round),
            m.rhythm.label,
            m.rhythm.ventricular_ectopics,
            m.rhythm.supraventricular_ectopics,
            m.rhythm.irregularity_index.value
        );
        assert!(
            (hr - s.true_hr).abs() <= 1.0,
            "{}: hr {hr} vs {}",
            s.name,
            s.true_hr
        );
        // The generator puts P 160 ms before R in every beat (PR about 175 ms): a PR that is
        // measured must be near it, and a P wave rising out of the previous T wave (120 bpm)
        // leaves PR unmeasured rather than long.
        if let Some(pr) = m.pr_ms.value {
            assert!((pr - 175.0).abs() <= 20.0, "{}: PR {pr}", s.name);
        }
        if s.name.starts_with("sinus_") && s.true_hr < 130.0 {
            assert!(
                m.rhythm.label.starts_with("sinus"),
                "{}: {}",
                s.name,
                m.rhythm.label
            );
        }
        if s.name == "ectopic_pvc" {
            assert_eq!(m.rhythm.ventricular_ectopics, 2, "{}", s.name);
        }
        if s.name == "af_like" {
            assert!(m.rhythm.af_suggested, "AF not suggested");
        } else {
            assert!(!m.rhythm.af_suggested, "{}: AF suggested", s.name);
        }
    }
    let se = tp as f64 / (tp + fneg) as f64;
    let ppv = tp as f64 / (tp + fp) as f64;
    eprintln!("sensitivity {se:.4} ppv {ppv:.4} ({tp} tp, {fneg} fn, {fp} fp)");
    assert!(se >= 0.995 && ppv >= 0.995, "Se {se} PPV {ppv}");
}

#[test]
fn measuring_never_modifies_the_record() {
    let (rec, _) = cart_fixture();
    let copy = rec.clone();
    let _ = measure(&rec);
    assert_eq!(rec, copy);
}

#[test]
fn odd_records_give_errors_or_reasons_never_panics() {
    let names = ["I", "II", "V1"];
    let mk = |fs: f64, n: usize, f: &dyn Fn(usize) -> f64| {
        record(
            fs,
            names
                .iter()
                .map(|l| ((*l).to_string(), (0..n).map(f).collect()))
                .collect(),
            "odd",
        )
    };
    assert!(matches!(
        measure(&mk(50.0, 1000, &|_| 0.0)),
        Err(FeatureError::SampleRateTooLow(_))
    ));
    assert!(matches!(
        measure(&mk(500.0, 500, &|_| 0.0)),
        Err(FeatureError::TooShort(_))
    ));
    // Flat and invalid signals: measured, with every value missing and a reason.
    for f in [&(|_| 0.0) as &dyn Fn(usize) -> f64, &|_| f64::NAN, &|i| {
        if i % 2 == 0 { 1e6 } else { -1e6 }
    }] {
        let m = measure(&mk(500.0, 5000, f)).unwrap_or_else(|e| panic!("{e}"));
        assert!(m.qrs_ms.value.is_none() && m.qrs_ms.reason.is_some());
        assert!(m.heart_rate_bpm.value.is_none());
        assert!(!m.quality.is_empty());
    }
    // Noise only, a single spike, a step: never a panic.
    let mut seed = 1u64;
    let noise = move |_: usize| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        ((seed >> 33) as f64 / f64::from(u32::MAX) - 0.5) * 200.0
    };
    let noise = std::cell::RefCell::new(noise);
    let _ = measure(&mk(500.0, 5000, &|i| (noise.borrow_mut())(i)));
    let _ = measure(&mk(500.0, 5000, &|i| if i == 2500 { 3000.0 } else { 0.0 }));
    let _ = measure(&mk(1000.0, 3000, &|i| if i > 1500 { 2000.0 } else { 0.0 }));
    let _ = measure(&mk(100.0, 300, &|i| (i as f64).sin() * 1000.0));
}
