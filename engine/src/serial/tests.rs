use super::*;
use crate::features::accuracy_tests::cart_fixture;
use crate::features::{self, TPolarity};
use crate::report::Task;
use crate::verify::{ClaimStatus, verify_text_with_prior};

fn cart() -> Measurements {
    let (rec, _) = cart_fixture();
    features::measure(&rec).unwrap_or_else(|e| panic!("{e}"))
}

fn prior_ecg() -> PriorEcg {
    PriorEcg {
        label: "2026-01-05 09:30".into(),
        acquisition_time: Some("2026-01-05T09:30:00".into()),
        sha256: "ab".repeat(32),
    }
}

fn lead_mut<'a>(m: &'a mut Measurements, lead: &str) -> &'a mut LeadMeasurements {
    m.leads
        .iter_mut()
        .find(|l| l.lead == lead)
        .unwrap_or_else(|| panic!("{lead}"))
}

/// Makes the T wave of `lead` upright (`depth` ≤ 0) or inverted by `depth` µV.
fn set_t(m: &mut Measurements, lead: &str, depth: f64) {
    let l = lead_mut(m, lead);
    l.quality = crate::features::LeadQuality::default();
    if depth > 0.0 {
        l.t_polarity = Some(TPolarity::Negative);
        l.t_amplitude_uv.value = Some(-depth);
        l.t_depth_uv.value = Some(depth);
    } else {
        l.t_polarity = Some(TPolarity::Positive);
        l.t_amplitude_uv.value = Some(300.0);
        l.t_depth_uv.value = None;
    }
}

fn set_st(m: &mut Measurements, lead: &str, st_j: f64, st_j60: f64) {
    let l = lead_mut(m, lead);
    l.quality = crate::features::LeadQuality::default();
    l.st_j_uv.value = Some(st_j);
    l.st_j60_uv.value = Some(st_j60);
}

/// A baseline with upright T waves and isoelectric ST everywhere, so every test starts from
/// "nothing abnormal" regardless of the fixture.
fn baseline() -> Measurements {
    let mut m = cart();
    let names: Vec<String> = m.leads.iter().map(|l| l.lead.clone()).collect();
    for n in &names {
        set_t(&mut m, n, 0.0);
        set_st(&mut m, n, 0.0, 0.0);
    }
    m.qrs_ms.value = Some(90.0);
    m.qtc_bazett_ms.value = Some(420.0);
    m.qrs_axis_deg.value = Some(45.0);
    m
}

fn kinds(c: &SerialComparison) -> Vec<ChangeKind> {
    c.changes.iter().map(|x| x.kind).collect()
}

#[test]
fn the_same_ecg_is_unchanged() {
    let m = baseline();
    let c = compare(&m, &m, prior_ecg());
    assert!(c.unchanged(), "{:?}", c.changes);
    assert!(c.statement().starts_with(SERIAL_PREFIX));
    assert!(c.statement().contains("no significant change"));
    assert_eq!(c.global("qrs_ms").and_then(|g| g.delta), Some(0.0));
    assert_eq!(c.leads.len(), 12);
}

#[test]
fn qrs_widening_counts_from_20_ms() {
    let prior = baseline();
    let mut current = baseline();
    current.qrs_ms.value = Some(109.0);
    assert!(!compare(&prior, &current, prior_ecg()).has(ChangeKind::QrsWidened));
    current.qrs_ms.value = Some(110.0);
    let c = compare(&prior, &current, prior_ecg());
    assert!(c.has(ChangeKind::QrsWidened), "{:?}", c.changes);
    assert!(c.statement().contains("widened to 110 ms from 90 ms"));
    // Narrowing is not widening.
    current.qrs_ms.value = Some(60.0);
    assert!(!compare(&prior, &current, prior_ecg()).has(ChangeKind::QrsWidened));
}

#[test]
fn qtc_lengthening_counts_from_30_ms() {
    let prior = baseline();
    let mut current = baseline();
    current.qtc_bazett_ms.value = Some(449.0);
    assert!(!compare(&prior, &current, prior_ecg()).has(ChangeKind::QtcLengthened));
    current.qtc_bazett_ms.value = Some(450.0);
    assert!(compare(&prior, &current, prior_ecg()).has(ChangeKind::QtcLengthened));
}

#[test]
fn axis_shift_counts_from_30_degrees_across_the_wrap() {
    let prior = baseline();
    let mut current = baseline();
    current.qrs_axis_deg.value = Some(74.0);
    assert!(!compare(&prior, &current, prior_ecg()).has(ChangeKind::AxisShift));
    current.qrs_axis_deg.value = Some(15.0);
    assert!(compare(&prior, &current, prior_ecg()).has(ChangeKind::AxisShift));
    // 170° → −170° is a 20° shift, not 340°.
    let mut p = baseline();
    p.qrs_axis_deg.value = Some(170.0);
    current.qrs_axis_deg.value = Some(-170.0);
    let c = compare(&p, &current, prior_ecg());
    assert_eq!(c.global("qrs_axis_deg").and_then(|g| g.delta), Some(20.0));
    assert!(!c.has(ChangeKind::AxisShift));
}

#[test]
fn new_t_inversion_needs_1_mm_in_two_contiguous_leads() {
    let prior = baseline();
    let mut current = baseline();
    // One lead only: no serial change.
    set_t(&mut current, "V2", 150.0);
    assert!(!compare(&prior, &current, prior_ecg()).has(ChangeKind::NewTInversion));
    // Two non-contiguous leads: none either.
    set_t(&mut current, "V5", 150.0);
    assert!(!compare(&prior, &current, prior_ecg()).has(ChangeKind::NewTInversion));
    // Shallower than 1 mm in the neighbour: still none.
    set_t(&mut current, "V3", 90.0);
    assert!(!compare(&prior, &current, prior_ecg()).has(ChangeKind::NewTInversion));
    set_t(&mut current, "V3", 100.0);
    set_t(&mut current, "V4", 200.0);
    set_t(&mut current, "V5", 0.0);
    let c = compare(&prior, &current, prior_ecg());
    let change = c
        .changes
        .iter()
        .find(|x| x.kind == ChangeKind::NewTInversion)
        .unwrap_or_else(|| panic!("{:?}", c.changes));
    assert_eq!(change.leads, vec!["V2", "V3", "V4"]);
    assert!(
        c.statement()
            .contains("Compared with the ECG of 2026-01-05 09:30: new T-wave inversion in V2–V4."),
        "{}",
        c.statement()
    );
    // Inverted on both ECGs: not new.
    let c = compare(&current, &current, prior_ecg());
    assert!(!c.has(ChangeKind::NewTInversion));
}

#[test]
fn new_st_elevation_and_depression() {
    let prior = baseline();
    let mut current = baseline();
    // Precordial elevation needs 2 mm: 1.5 mm in V2–V3 is not new elevation.
    set_st(&mut current, "V2", 150.0, 150.0);
    set_st(&mut current, "V3", 150.0, 150.0);
    assert!(!compare(&prior, &current, prior_ecg()).has(ChangeKind::NewStElevation));
    set_st(&mut current, "V2", 220.0, 200.0);
    set_st(&mut current, "V3", 250.0, 200.0);
    assert!(compare(&prior, &current, prior_ecg()).has(ChangeKind::NewStElevation));
    // Limb elevation of 1 mm in II and aVF (contiguous) counts.
    let mut inferior = baseline();
    set_st(&mut inferior, "II", 100.0, 80.0);
    set_st(&mut inferior, "aVF", 120.0, 80.0);
    let c = compare(&prior, &inferior, prior_ecg());
    assert!(c.has(ChangeKind::NewStElevation), "{:?}", c.changes);
    // Elevation that was already there is not new.
    assert!(!compare(&inferior, &inferior, prior_ecg()).has(ChangeKind::NewStElevation));
    // Depression of 0.5 mm at J+60 in V5 and V6.
    let mut dep = baseline();
    set_st(&mut dep, "V5", -40.0, -60.0);
    set_st(&mut dep, "V6", -40.0, -50.0);
    let c = compare(&prior, &dep, prior_ecg());
    assert!(c.has(ChangeKind::NewStDepression), "{:?}", c.changes);
    set_st(&mut dep, "V6", -40.0, -40.0);
    assert!(!compare(&prior, &dep, prior_ecg()).has(ChangeKind::NewStDepression));
}

#[test]
fn new_bundle_branch_block() {
    let prior = baseline();
    let mut current = baseline();
    // Wide QRS with a dominant R in V1: right bundle branch block.
    current.qrs_ms.value = Some(140.0);
    let v1 = lead_mut(&mut current, "V1");
    v1.r_amplitude_uv.value = Some(900.0);
    v1.s_amplitude_uv.value = Some(-200.0);
    let c = compare(&prior, &current, prior_ecg());
    assert_eq!(
        c.bundle_branch_block_current,
        Some(BundleBranchBlock::Right)
    );
    assert!(c.has(ChangeKind::NewBundleBranchBlock), "{:?}", kinds(&c));
    assert!(c.statement().contains("new right bundle branch block"));
    // The same block on both: not new.
    assert!(!compare(&current, &current, prior_ecg()).has(ChangeKind::NewBundleBranchBlock));
}

#[test]
fn missing_values_are_not_changes() {
    let prior = baseline();
    let mut current = baseline();
    current.qrs_ms.value = None;
    let c = compare(&prior, &current, prior_ecg());
    assert!(!c.has(ChangeKind::QrsWidened));
    assert!(
        c.not_compared
            .iter()
            .any(|n| n == "QRS: not measured on the current ECG")
    );
}

#[test]
fn lead_ranges() {
    let l = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    assert_eq!(lead_range(&l(&["V2", "V3", "V4"])), "V2–V4");
    assert_eq!(lead_range(&l(&["V5", "V6"])), "V5, V6");
    assert_eq!(lead_range(&l(&["II", "III", "aVF"])), "II, III, aVF");
    assert_eq!(
        lead_range(&l(&["I", "V1", "V2", "V3", "V6"])),
        "I, V1–V3, V6"
    );
}

#[test]
fn the_protocol_trace_carries_the_serial_sentences_and_they_verify() {
    let prior = baseline();
    let mut current = baseline();
    for l in ["V2", "V3", "V4"] {
        set_t(&mut current, l, 200.0);
    }
    current.qrs_ms.value = Some(118.0);
    let c = compare(&prior, &current, prior_ecg());
    let report =
        protocol::read_measurements_with_prior(&current, "", Task::Interpret, Vec::new(), Some(&c));
    let last = &report.steps[5];
    assert!(
        last.text
            .contains("Compared with the ECG of 2026-01-05 09:30: new T-wave inversion in V2–V4."),
        "{}",
        last.text
    );
    assert!(
        last.text
            .contains("the QRS has widened to 118 ms from 90 ms")
    );
    assert!(
        last.evidence
            .iter()
            .any(|e| e.measurement == "serial.new_t_inversion")
    );
    assert!(report.summary.contains("new T-wave inversion in V2–V4"));
    // The protocol's own serial sentences never contradict the measurements or the deltas.
    let v = verify_text_with_prior(&report.raw_output, &current, Some(&c));
    assert_eq!(v.summary.contradicted, 0, "{:#?}", v.claims);
    assert!(
        v.claims
            .iter()
            .any(|x| x.kind == crate::verify::claims::ClaimKind::Serial
                && x.status == ClaimStatus::Supported)
    );
    // De-identified: no serial sentence, no serial evidence, the rest intact.
    let plain = without_serial(&report);
    assert!(
        !plain.raw_output.contains(SERIAL_PREFIX),
        "{}",
        plain.raw_output
    );
    assert!(!plain.summary.contains(SERIAL_PREFIX));
    assert!(
        plain
            .steps
            .iter()
            .flat_map(|s| &s.evidence)
            .all(|e| !e.measurement.starts_with(SERIAL_EVIDENCE))
    );
    let without = protocol::read_measurements(&current, "", Task::Interpret, Vec::new());
    assert_eq!(plain.steps[5].text, without.steps[5].text);
    assert_eq!(plain.summary, without.summary);
}

#[test]
fn unchanged_reading_verifies_as_unchanged() {
    let m = baseline();
    let c = compare(&m, &m, prior_ecg());
    let report = protocol::read_measurements_with_prior(&m, "", Task::Twi, Vec::new(), Some(&c));
    let v = verify_text_with_prior(&report.raw_output, &m, Some(&c));
    assert_eq!(v.summary.contradicted, 0, "{:#?}", v.claims);
}
