//! A reader's corrections: a lead box placed by hand is read in place of the one found, and a
//! stated gain rescales every lead.

use super::tests::{Distortion, options, page_image, source_record};
use super::*;

fn lead_samples(d: &Digitised, lead: StandardLead) -> Vec<f64> {
    d.record
        .lead(lead)
        .map_or_else(|| panic!("no lead {lead}"), |l| l.samples_uv.clone())
}

/// Peak-to-peak amplitude over the finite samples.
fn span(samples: &[f64]) -> f64 {
    let finite = samples.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    hi - lo
}

fn page() -> RgbImage {
    page_image(
        &source_record(),
        &options(Layout::ThreeByFour, 25.0, 10.0, 150.0),
        Distortion::default(),
    )
}

#[test]
fn a_corrected_lead_box_is_read_in_place_of_the_one_found() {
    let img = page();
    let found = digitise(&img, &DigitiseOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let boxes = &found.report.leads;
    let lead_box = |lead: StandardLead| {
        boxes
            .iter()
            .find(|b| b.panel.lead == lead && !b.panel.rhythm)
            .unwrap_or_else(|| panic!("no {lead} box"))
    };
    // The same box, placed by hand: the same trace, now marked as corrected.
    let same = DigitiseOptions {
        lead_boxes: vec![lead_box(StandardLead::V1).panel.clone()],
        ..DigitiseOptions::default()
    };
    let again = digitise(&img, &same).unwrap_or_else(|e| panic!("{e}"));
    let v1 = again
        .report
        .leads
        .iter()
        .find(|b| b.panel.lead == StandardLead::V1 && !b.panel.rhythm)
        .unwrap_or_else(|| panic!("no V1 box"));
    assert!(v1.corrected);
    let score = snr::score(&found.record, &again.record).unwrap_or_else(|e| panic!("{e}"));
    let v1_snr = score
        .leads
        .iter()
        .find(|l| l.lead == StandardLead::V1)
        .map_or_else(|| panic!("no V1 score"), |l| l.aligned_snr_db);
    assert!(v1_snr > 20.0, "{v1_snr}");
    // V1's box moved onto the row below (V2's panel): V1 now reads V2's trace.
    let v2 = lead_box(StandardLead::V2);
    let mut moved = lead_box(StandardLead::V1).panel.clone();
    moved.y_px = v2.panel.y_px;
    moved.height_px = v2.panel.height_px;
    moved.zero_y_px = v2.panel.zero_y_px;
    let moved_out = digitise(
        &img,
        &DigitiseOptions {
            lead_boxes: vec![moved],
            ..DigitiseOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (v1_now, v2_found) = (
        lead_samples(&moved_out, StandardLead::V1),
        lead_samples(&found, StandardLead::V2),
    );
    // V2's panel shows the same seconds one row down: where both are read they agree.
    let (mut diff, mut power, mut count) = (0.0, 0.0, 0usize);
    for (a, b) in v1_now.iter().zip(&v2_found) {
        if a.is_finite() && b.is_finite() {
            diff += (a - b).powi(2);
            power += b * b;
            count += 1;
        }
    }
    assert!(count > 1000, "{count} samples in common");
    assert!(diff / power < 0.01, "relative error {}", diff / power);
    assert!(span(&v1_now) > 300.0, "{}", span(&v1_now));
    // A box off the page or a lead the page lacks is refused by name.
    let mut outside = lead_box(StandardLead::I).panel.clone();
    outside.x_px = -50.0;
    let err = digitise(
        &img,
        &DigitiseOptions {
            lead_boxes: vec![outside],
            ..DigitiseOptions::default()
        },
    )
    .err()
    .unwrap_or_else(|| panic!("accepted a box off the page"));
    assert!(err.to_string().contains("lead box"), "{err}");
    let mut no_such = lead_box(StandardLead::I).panel.clone();
    no_such.rhythm = true;
    no_such.lead = StandardLead::V6;
    let err = digitise(
        &img,
        &DigitiseOptions {
            lead_boxes: vec![no_such],
            ..DigitiseOptions::default()
        },
    )
    .err()
    .unwrap_or_else(|| panic!("accepted a rhythm strip the page lacks"));
    assert!(
        err.to_string().contains("no rhythm strip panel of lead V6"),
        "{err}"
    );
}

#[test]
fn a_stated_gain_rescales_every_lead() {
    let img = page();
    let found = digitise(&img, &DigitiseOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found.report.gain_mm_mv, Some(10.0));
    let doubled = digitise(
        &img,
        &DigitiseOptions {
            gain_mm_mv: Some(20.0),
            ..DigitiseOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doubled.report.gain_source, GainSource::Stated);
    let (a, b) = (
        span(&lead_samples(&found, StandardLead::II)),
        span(&lead_samples(&doubled, StandardLead::II)),
    );
    assert!(
        (b / a - 0.5).abs() < 0.01,
        "{a} µV at 10 mm/mV, {b} µV at 20"
    );
}

#[test]
fn the_options_a_report_records_read_the_page_again_exactly() {
    let img = page();
    let found = digitise(&img, &DigitiseOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let found_v1 = found
        .report
        .leads
        .iter()
        .find(|b| b.panel.lead == StandardLead::V1 && !b.panel.rhythm)
        .unwrap_or_else(|| panic!("no V1 box"));
    let mut moved = found_v1.panel.clone();
    moved.zero_y_px += 4.0;
    let told = DigitiseOptions {
        gain_mm_mv: Some(20.0),
        speed_mm_s: Some(25.0),
        layout: None,
        lead_boxes: vec![moved.clone()],
    };
    let corrected = digitise(&img, &told).unwrap_or_else(|e| panic!("{e}"));
    let recovered = DigitiseOptions::that_read(&corrected.report);
    assert_eq!(recovered.gain_mm_mv, Some(20.0));
    assert_eq!(recovered.speed_mm_s, Some(25.0));
    assert_eq!(recovered.layout.as_deref(), Some("3x4"));
    assert_eq!(recovered.lead_boxes, vec![moved]);
    let again = digitise(&img, &recovered).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.report, corrected.report);
    assert_eq!(
        crate::formats::csv::write(&again.record),
        crate::formats::csv::write(&corrected.record)
    );
    // A reading the digitiser found by itself is recovered as nothing told but its layout.
    let plain = DigitiseOptions::that_read(&found.report);
    assert_eq!(
        plain,
        DigitiseOptions {
            layout: Some("3x4".into()),
            ..DigitiseOptions::default()
        }
    );
}

#[test]
fn a_lead_box_is_stored_flat_as_before_its_panel_was_shared_with_corrections() {
    // A box as reports stored it before `LeadPanel` existed reads back unchanged.
    let stored = serde_json::json!({
        "lead": "V1", "rhythm": false, "x_px": 12.0, "y_px": 30.0, "width_px": 200.0,
        "height_px": 80.0, "zero_y_px": 70.0, "t_start_s": 2.5, "t_end_s": 5.0,
        "coverage": 0.97, "confidence": 0.97
    });
    let read: LeadBox = serde_json::from_value(stored.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read.panel.lead, StandardLead::V1);
    assert_eq!(read.panel.zero_y_px, 70.0);
    assert!(!read.corrected);
    let mut written = serde_json::to_value(&read).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        written.as_object_mut().and_then(|o| o.remove("corrected")),
        Some(false.into())
    );
    assert_eq!(written, stored);
}
