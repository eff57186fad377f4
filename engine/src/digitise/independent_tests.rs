//! A page drawn by another program (matplotlib, `scripts/make_matplotlib_page.py`): the
//! digitiser must not be tuned to the project's own renderer only.

use std::path::PathBuf;

use super::tests::{check_measurements, source_record};
use super::*;

fn fixture() -> RgbImage {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/digitise/matplotlib_3x4_150dpi.png");
    image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

#[test]
fn a_matplotlib_page_keeps_its_scales_scores_and_measures_like_its_source() {
    let out = digitise(&fixture(), &DigitiseOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let r = &out.report;
    let ppm = 150.0 / 25.4;
    let g = r.grid.unwrap_or_else(|| panic!("no grid found"));
    for v in [g.px_per_mm_x, g.px_per_mm_y] {
        assert!((v - ppm).abs() / ppm < 0.01, "pitch {v} vs {ppm}");
    }
    assert_eq!(r.layout, "3x4");
    assert_eq!(r.gain_mm_mv, Some(10.0));
    assert_eq!(r.gain_source, GainSource::CalibrationPulse);
    assert_eq!(r.speed_mm_s, Some(25.0));
    let source = source_record();
    let shown = snr::shown_part(&source, r);
    let score = snr::score(&shown, &out.record).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "matplotlib page: SNR {:.1} dB, per lead {:?}",
        score.mean_snr_db,
        score
            .leads
            .iter()
            .map(|l| format!("{} {:.1}", l.lead, l.aligned_snr_db))
            .collect::<Vec<_>>()
    );
    assert!(
        score.mean_snr_db >= MATPLOTLIB_SNR_FLOOR_DB,
        "{}",
        score.mean_snr_db
    );
    assert_eq!(r.rhythm_leads, vec![StandardLead::II], "{:?}", r.notes);
    check_measurements(&out);
}

/// What the page scores, measured (see the README's table), less a margin.
const MATPLOTLIB_SNR_FLOOR_DB: f64 = 15.0;
