//! A rendered page given to the commands that read ECGs: `info` digitises it and says so,
//! `analyze` gives the same reading as the signal it was drawn from, and an image that cannot
//! be digitised is said to be one, with the reason.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};

/// The bundled sample drawn by `ecgr1 render` at `dpi`.
fn render_page(dir: &Path, dpi: &str) -> PathBuf {
    let png = dir.join("page.png");
    let (code, _, err) = support::cli(&[
        "render",
        &support::sample("synthetic_sinus.hea"),
        "-o",
        png.to_str().unwrap(),
        "--dpi",
        dpi,
    ]);
    assert_eq!(code, 0, "{err}");
    png
}

fn json(args: &[&str]) -> serde_json::Value {
    let (code, out, err) = support::cli(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn info_digitises_a_page_and_says_how() {
    let dir = tempfile::tempdir().unwrap();
    let page = render_page(dir.path(), "150");
    let path = page.to_str().unwrap();
    let (code, out, err) = support::cli(&["info", path]);
    assert_eq!(code, 0, "{err}");
    for needle in [
        "format:      png image",
        "digitised:   yes, by ecgr1-digitise/",
        "gain:        10 mm/mV, from the calibration pulse",
        "speed:       25 mm/s, from a 10 s row's length on the grid",
        "signal:      12 leads at 500 Hz over 10.0 s, mean confidence",
        "confidence:  I ",
    ] {
        assert!(out.contains(needle), "{needle:?} is not in:\n{out}");
    }
    let v = json(&["info", path, "--json"]);
    assert_eq!(v["format"], "png");
    assert_eq!(v["digitised"], true);
    assert_eq!(v["digitisation"]["layout"], "3x4");
    assert_eq!(v["digitisation"]["gain_mm_mv"], 10.0);
    assert_eq!(v["digitised_record"]["sample_rate_hz"], 500.0);
    assert_eq!(v["digitised_record"]["leads"].as_array().unwrap().len(), 12);
    assert!(v["digitisation_error"].is_null());
    let notes = v["digitised_record"]["processing_notes"].to_string();
    assert!(
        notes.contains("measurements come from the digitised image"),
        "{notes}"
    );

    // An image the digitiser cannot read says so, and why.
    let small = format!(
        "{}/../tests/fixtures/model/ecg_tiny.png",
        env!("CARGO_MANIFEST_DIR")
    );
    let (code, out, err) = support::cli(&["info", &small]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("digitised:   no. ecg_tiny.png: the image could not be digitised"),
        "{out}"
    );
    let v = json(&["info", &small, "--json"]);
    assert_eq!(v["digitised"], false);
    assert!(v["digitisation"].is_null());
    assert!(
        v["digitisation_error"]
            .as_str()
            .unwrap()
            .contains("could not be digitised")
    );
}

/// At 300 dpi. At 200 dpi the page's QRS reads 98 ms against the source's 102 ms: within the
/// 10 ms the issue allows, but across the protocol's 100 ms threshold, so that reading lacks
/// the source's "incomplete bundle branch block" (README, Digitisation).
#[test]
fn analyze_reads_a_rendered_page_as_it_reads_the_source_signal() {
    let dir = tempfile::tempdir().unwrap();
    let page = render_page(dir.path(), "300");
    let from_page = json(&["analyze", page.to_str().unwrap(), "--json"]);
    let from_signal = json(&["analyze", &support::sample("synthetic_sinus.hea"), "--json"]);
    assert_eq!(from_page["engine"], "protocol");
    assert!(
        !from_page["answer"].as_array().unwrap().is_empty(),
        "{from_page}"
    );
    assert_eq!(from_page["answer"], from_signal["answer"]);
    let notes = from_page["input_notes"].to_string();
    assert!(
        notes.contains("measurements come from the digitised image"),
        "{notes}"
    );
    // The trace's claims are checked against the digitised signal's measurements.
    assert_eq!(
        from_page["verification"]["summary"]["contradicted"], 0,
        "{}",
        from_page["verification"]
    );
}

#[test]
fn bench_digitise_prints_the_time_beside_its_baselines_and_the_snr() {
    // A small page keeps the test short; the benchmark's own default is 300 dpi.
    let v = json(&["bench-digitise", "--dpi", "100", "--repeats", "1", "--json"]);
    for key in ["digitise_ms", "png_decode_ms", "render_ms", "snr_db"] {
        assert!(v[key].as_f64().is_some_and(|x| x > 0.0), "{key}: {v}");
    }
    assert_eq!(v["threads"], 1);
    assert!(v["snr_db"].as_f64().unwrap() > 10.0, "{v}");
    let (code, out, err) = support::cli(&["bench-digitise", "--dpi", "100", "--repeats", "1"]);
    assert_eq!(code, 0, "{err}");
    for needle in [
        "ms per page",
        "baseline: decode",
        "baseline: render",
        "SNR",
        "target < 1000 ms",
    ] {
        assert!(out.contains(needle), "{needle:?} is not in:\n{out}");
    }
    let (code, _, err) = support::cli(&["bench-digitise", "--dpi", "5"]);
    assert_eq!(code, 1);
    assert!(err.contains("--dpi 5"), "{err}");
}
