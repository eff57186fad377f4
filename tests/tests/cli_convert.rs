//! `ecgr1 convert` to CSV, WFDB and EDF+ preserves the rate, the leads and the values.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use ecgr1_engine::EcgRecord;
use ecgr1_engine::formats::{EcgInput, LoadOptions, load_path};

fn load(path: &Path) -> EcgRecord {
    match load_path(path, &LoadOptions::default()).unwrap() {
        EcgInput::Signal(s) => s.record,
        EcgInput::Image(_) => panic!("{} is an image", path.display()),
    }
}

#[test]
fn convert_round_trips_the_real_recording() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/samples/waveform_ecg.dcm");
    let original = load(&source);
    let dir = tempfile::tempdir().unwrap();
    // Tolerance per format: CSV keeps 0.001 µV; WFDB 16 keeps the source ADC step (or 1 µV);
    // EDF+ 16-bit spreads the lead's range over 65535 steps.
    for (ext, tol_uv) in [("csv", 0.01), ("hea", 1.0), ("edf", 2.0)] {
        let out = dir.path().join(format!("converted.{ext}"));
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let code = ecgr1_app::cli::run(
            [
                "ecgr1",
                "convert",
                source.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ],
            &mut stdout,
            &mut stderr,
        );
        assert_eq!(code, 0, "{ext}: {}", String::from_utf8_lossy(&stderr));
        let back = load(&out);
        assert_eq!(back.sample_rate_hz, original.sample_rate_hz, "{ext}");
        assert_eq!(
            back.samples_per_lead(),
            original.samples_per_lead(),
            "{ext}"
        );
        for lead in &original.leads {
            let other = back
                .leads
                .iter()
                .find(|l| l.lead == lead.lead)
                .unwrap_or_else(|| panic!("{ext}: {} missing", lead.lead));
            let worst = lead
                .samples_uv
                .iter()
                .zip(&other.samples_uv)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(
                worst <= tol_uv,
                "{ext} lead {}: worst difference {worst} µV",
                lead.lead
            );
        }
    }
}

#[test]
fn converting_an_image_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("page.png");
    image::RgbImage::from_pixel(4, 4, image::Rgb([255, 255, 255]))
        .save(&png)
        .unwrap();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = ecgr1_app::cli::run(
        [
            "ecgr1",
            "convert",
            png.to_str().unwrap(),
            "-o",
            dir.path().join("x.csv").to_str().unwrap(),
        ],
        &mut out,
        &mut err,
    );
    assert_eq!(code, 1);
    assert!(String::from_utf8_lossy(&err).contains("an image carries no signal"));
}
