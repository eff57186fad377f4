//! Checking claims against what was measured. Each claim ends supported, contradicted (with
//! the measured value and the criterion it fails) or uncheckable (nothing measured to compare).
//!
//! Tolerances are stated next to each rule; they are wider than measurement error so a flag
//! means a real disagreement, not rounding.

use std::collections::BTreeMap;

use serde::Serialize;

use super::claims::{Claim, ClaimKind, Qualifier};
use crate::record::StandardLead;

/// The measured facts the verifier compares claims with. Built from the feature database's
/// measurements (see `From<&Measurements>`); every field is optional because a value that
/// could not be measured must make a claim uncheckable, never contradicted.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MeasuredFacts {
    pub heart_rate_bpm: Option<f64>,
    pub pr_ms: Option<f64>,
    pub qrs_ms: Option<f64>,
    pub qt_ms: Option<f64>,
    pub qtc_ms: Option<f64>,
    pub qrs_axis_deg: Option<f64>,
    /// Sinus criteria met (P before each QRS, consistent PR, upright P in II).
    pub sinus: Option<bool>,
    /// Irregularity suggesting atrial fibrillation.
    pub af_suggested: Option<bool>,
    /// Sokolow–Lyon voltage SV1 + max(RV5, RV6), mm.
    pub sokolow_lyon_mm: Option<f64>,
    /// Cornell voltage R(aVL) + S(V3), mm.
    pub cornell_mm: Option<f64>,
    /// Female patient (Cornell threshold 20 mm instead of 28 mm); unknown → 28 mm.
    pub female: Option<bool>,
    pub leads: BTreeMap<StandardLead, LeadFacts>,
}

/// Per-lead measured facts, amplitudes in mm at 10 mm/mV.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LeadFacts {
    /// ST level at J+60 ms relative to the PR baseline (positive = elevation).
    pub st_mm: Option<f64>,
    /// T-wave peak amplitude (negative = inverted).
    pub t_mm: Option<f64>,
    pub pathological_q: Option<bool>,
    pub r_mm: Option<f64>,
}

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    Supported,
    Contradicted,
    Uncheckable,
}

/// A claim with its verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckedClaim {
    pub text: String,
    pub kind: ClaimKind,
    pub status: ClaimStatus,
    /// What was measured, in words with units ("QRS 92 ms").
    pub measured: Option<String>,
    /// The criterion the claim implies ("≥ 120 ms for a wide QRS").
    pub expected: Option<String>,
    pub leads: Vec<StandardLead>,
}

/// Counts over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerifySummary {
    pub claims: usize,
    pub supported: usize,
    pub contradicted: usize,
    pub uncheckable: usize,
}

impl VerifySummary {
    pub fn of(checked: &[CheckedClaim]) -> Self {
        let count = |s| checked.iter().filter(|c| c.status == s).count();
        Self {
            claims: checked.len(),
            supported: count(ClaimStatus::Supported),
            contradicted: count(ClaimStatus::Contradicted),
            uncheckable: count(ClaimStatus::Uncheckable),
        }
    }
}

struct Verdict {
    status: ClaimStatus,
    measured: Option<String>,
    expected: Option<String>,
}

fn uncheckable(why: &str) -> Verdict {
    Verdict {
        status: ClaimStatus::Uncheckable,
        measured: Some(why.to_string()),
        expected: None,
    }
}

fn verdict(ok: bool, measured: String, expected: String) -> Verdict {
    Verdict {
        status: if ok {
            ClaimStatus::Supported
        } else {
            ClaimStatus::Contradicted
        },
        measured: Some(measured),
        expected: Some(expected),
    }
}

/// Checks every claim.
pub fn check_all(claims: &[Claim], facts: &MeasuredFacts) -> Vec<CheckedClaim> {
    claims
        .iter()
        .map(|c| {
            let v = check(c, facts);
            CheckedClaim {
                text: c.text.clone(),
                kind: c.kind,
                status: v.status,
                measured: v.measured,
                expected: v.expected,
                leads: c.leads.clone(),
            }
        })
        .collect()
}

fn check(claim: &Claim, facts: &MeasuredFacts) -> Verdict {
    match claim.kind {
        ClaimKind::HeartRate => check_rate(claim, facts),
        ClaimKind::Rhythm => check_rhythm(claim, facts),
        ClaimKind::PrInterval => check_interval(claim, facts.pr_ms, "PR", IntervalRule::PR),
        ClaimKind::QrsDuration => check_interval(claim, facts.qrs_ms, "QRS", IntervalRule::QRS),
        ClaimKind::QtInterval => check_interval(claim, facts.qt_ms, "QT", IntervalRule::QT),
        ClaimKind::Qtc => check_interval(claim, facts.qtc_ms, "QTc", IntervalRule::QTC),
        ClaimKind::Axis => check_axis(claim, facts),
        ClaimKind::BundleBranchBlock => check_bbb(claim, facts),
        ClaimKind::Hypertrophy => check_lvh(claim, facts),
        ClaimKind::StElevation => check_st(claim, facts, 1.0),
        ClaimKind::StDepression => check_st(claim, facts, -1.0),
        ClaimKind::TWaveInversion => check_twi(claim, facts),
        ClaimKind::PathologicalQ => check_q(claim, facts),
        // Extracted and checked by `super::serial`, never by `claims::extract`.
        ClaimKind::Serial => uncheckable("serial claims are checked against the comparison"),
    }
}

/// Does a stated value (or range) agree with the measurement within `tol`?
fn value_agrees(claim: &Claim, measured: f64, tol: f64) -> Option<bool> {
    let v = claim.value?;
    let hi = claim.value_high.unwrap_or(v);
    Some(measured >= v.min(hi) - tol && measured <= v.max(hi) + tol)
}

fn stated(claim: &Claim, unit: &str) -> String {
    match (claim.value, claim.value_high) {
        (Some(v), Some(h)) => format!("{v:.0}–{h:.0} {unit}"),
        (Some(v), None) => format!("{v:.0} {unit}"),
        _ => String::new(),
    }
}

fn check_rate(claim: &Claim, f: &MeasuredFacts) -> Verdict {
    let Some(hr) = f.heart_rate_bpm else {
        return uncheckable("heart rate not measured");
    };
    let measured = format!("heart rate {hr:.0} bpm");
    // ±5 bpm or ±10 %, whichever is wider: rates are often rounded or averaged differently.
    let tol = (hr * 0.10).max(5.0);
    if let Some(ok) = value_agrees(claim, hr, tol) {
        return verdict(
            ok,
            measured,
            format!("{} ± {tol:.0} bpm", stated(claim, "bpm")),
        );
    }
    let (ok, expected) = match claim.qualifier {
        Some(Qualifier::Tachycardia) => (hr > 95.0, "> 100 bpm for tachycardia"),
        Some(Qualifier::Bradycardia) => (hr < 65.0, "< 60 bpm for bradycardia"),
        Some(Qualifier::Normal) => ((55.0..=105.0).contains(&hr), "60–100 bpm for a normal rate"),
        _ => return uncheckable("no rate value or rate word to check"),
    };
    verdict(ok != claim.negated, measured, expected.to_string())
}

fn check_rhythm(claim: &Claim, f: &MeasuredFacts) -> Verdict {
    match claim.qualifier {
        Some(Qualifier::Sinus) => match (f.sinus, f.af_suggested) {
            (Some(sinus), af) => {
                let measured = format!(
                    "sinus criteria {}{}",
                    if sinus { "met" } else { "not met" },
                    if af == Some(true) {
                        ", irregularity suggests AF"
                    } else {
                        ""
                    }
                );
                let claimed_sinus = !claim.negated;
                verdict(
                    sinus == claimed_sinus,
                    measured,
                    "P before every QRS, consistent PR, upright P in II".into(),
                )
            }
            (None, _) => uncheckable("rhythm not classified"),
        },
        Some(Qualifier::AtrialFibrillation) => match f.af_suggested {
            Some(af) => verdict(
                af != claim.negated,
                format!(
                    "RR irregularity {}",
                    if af {
                        "suggests AF"
                    } else {
                        "does not suggest AF"
                    }
                ),
                "irregularly irregular RR without P waves".into(),
            ),
            None => uncheckable("RR irregularity not measured"),
        },
        _ => uncheckable("rhythm statement not checkable against measurements"),
    }
}

/// Normal limits and tolerances for an interval.
#[derive(Clone, Copy)]
struct IntervalRule {
    /// Tolerance for a stated value, ms.
    tol: f64,
    /// Upper limit of normal, ms (a "prolonged"/"wide" claim needs the value above it).
    upper: f64,
    /// Lower limit of normal, ms ("short").
    lower: f64,
    /// Slack around the limits for word claims, ms.
    slack: f64,
}

impl IntervalRule {
    const PR: Self = Self {
        tol: 20.0,
        upper: 200.0,
        lower: 120.0,
        slack: 10.0,
    };
    const QRS: Self = Self {
        tol: 20.0,
        upper: 120.0,
        lower: 0.0,
        slack: 10.0,
    };
    const QT: Self = Self {
        tol: 30.0,
        upper: 460.0,
        lower: 300.0,
        slack: 20.0,
    };
    const QTC: Self = Self {
        tol: 30.0,
        upper: 440.0,
        lower: 340.0,
        slack: 20.0,
    };
}

fn check_interval(claim: &Claim, measured: Option<f64>, name: &str, rule: IntervalRule) -> Verdict {
    let Some(m) = measured else {
        return uncheckable(&format!("{name} not measured"));
    };
    let measured_text = format!("{name} {m:.0} ms");
    if let Some(ok) = value_agrees(claim, m, rule.tol) {
        return verdict(
            ok,
            measured_text,
            format!("{} ± {:.0} ms", stated(claim, "ms"), rule.tol),
        );
    }
    let (ok, expected) = match claim.qualifier {
        Some(Qualifier::Prolonged | Qualifier::Wide) => (
            m > rule.upper - rule.slack,
            format!("> {:.0} ms for prolonged/wide", rule.upper),
        ),
        Some(Qualifier::Short) => (
            m < rule.lower + rule.slack,
            format!("< {:.0} ms for short", rule.lower),
        ),
        Some(Qualifier::Narrow) => (
            m < rule.upper + rule.slack,
            format!("< {:.0} ms for narrow", rule.upper),
        ),
        Some(Qualifier::Normal) => (
            m >= rule.lower - rule.slack && m <= rule.upper + rule.slack,
            format!("{:.0}–{:.0} ms for normal", rule.lower, rule.upper),
        ),
        _ => return uncheckable("no value or normal/abnormal word to check"),
    };
    verdict(ok != claim.negated, measured_text, expected)
}

fn check_axis(claim: &Claim, f: &MeasuredFacts) -> Verdict {
    let Some(axis) = f.qrs_axis_deg else {
        return uncheckable("QRS axis not measured");
    };
    let measured = format!("QRS axis {axis:.0}°");
    // Axis estimates differ by method; ±20° is the usual agreement between methods.
    if let Some(v) = claim.value {
        let diff = ((v - axis + 180.0).rem_euclid(360.0) - 180.0).abs();
        return verdict(diff <= 20.0, measured, format!("{v:.0}° ± 20°"));
    }
    let slack = 10.0;
    let (ok, expected) = match claim.qualifier {
        Some(Qualifier::LeftDeviation) => (axis < -30.0 + slack, "< −30° for left axis deviation"),
        Some(Qualifier::RightDeviation) => (axis > 90.0 - slack, "> +90° for right axis deviation"),
        Some(Qualifier::Normal) => (
            (-30.0 - slack..=90.0 + slack).contains(&axis),
            "−30° to +90° for a normal axis",
        ),
        _ => return uncheckable("no axis value or deviation word"),
    };
    verdict(ok != claim.negated, measured, expected.to_string())
}

fn check_bbb(claim: &Claim, f: &MeasuredFacts) -> Verdict {
    let Some(qrs) = f.qrs_ms else {
        return uncheckable("QRS duration not measured");
    };
    let measured = format!("QRS {qrs:.0} ms");
    if claim.negated {
        // "No bundle branch block" cannot hold with a clearly wide QRS; a wide QRS has other
        // causes too, so only a narrow one supports it and a borderline one is not judged.
        return if qrs < 120.0 {
            verdict(
                true,
                measured,
                "< 120 ms without bundle branch block".into(),
            )
        } else if qrs >= 130.0 {
            verdict(
                false,
                measured,
                "< 120 ms without bundle branch block".into(),
            )
        } else {
            uncheckable("QRS borderline for a bundle branch block")
        };
    }
    if claim.qualifier == Some(Qualifier::Incomplete) {
        return verdict(
            (90.0..130.0).contains(&qrs),
            measured,
            "100–120 ms for an incomplete block".into(),
        );
    }
    verdict(
        qrs >= 110.0,
        measured,
        "≥ 120 ms for a complete bundle branch block".into(),
    )
}

fn check_lvh(claim: &Claim, f: &MeasuredFacts) -> Verdict {
    if claim.qualifier != Some(Qualifier::Left) {
        return uncheckable("right ventricular hypertrophy criteria are not measured");
    }
    let avl = f.leads.get(&StandardLead::AVL).and_then(|l| l.r_mm);
    let cornell_limit = if f.female == Some(true) { 20.0 } else { 28.0 };
    let criteria = [
        f.sokolow_lyon_mm
            .map(|v| (v > 35.0, format!("Sokolow–Lyon {v:.1} mm"))),
        f.cornell_mm
            .map(|v| (v > cornell_limit, format!("Cornell {v:.1} mm"))),
        avl.map(|v| (v > 11.0, format!("R(aVL) {v:.1} mm"))),
    ];
    let known: Vec<&(bool, String)> = criteria.iter().flatten().collect();
    if known.is_empty() {
        return uncheckable("voltages not measured");
    }
    let any_met = known.iter().any(|c| c.0);
    let measured = known
        .iter()
        .map(|c| c.1.clone())
        .collect::<Vec<_>>()
        .join(", ");
    let expected =
        format!("Sokolow–Lyon > 35 mm, Cornell > {cornell_limit:.0} mm or R(aVL) > 11 mm");
    if let Some(v) = claim.value
        && let Some(sl) = f.sokolow_lyon_mm
    {
        // A stated voltage (usually Sokolow–Lyon) must match within 3 mm.
        return verdict((v - sl).abs() <= 3.0, measured, format!("{v:.0} mm ± 3 mm"));
    }
    verdict(any_met != claim.negated, measured, expected)
}

/// The measured value of every lead the claim names (every standard lead when it names none),
/// skipping leads where the value was not measured.
fn lead_values<T>(
    claim: &Claim,
    f: &MeasuredFacts,
    get: impl Fn(&LeadFacts) -> Option<T>,
) -> Vec<(StandardLead, T)> {
    let leads: &[StandardLead] = if claim.leads.is_empty() {
        &StandardLead::STANDARD_ORDER
    } else {
        &claim.leads
    };
    leads
        .iter()
        .filter_map(|l| Some((*l, get(f.leads.get(l)?)?)))
        .collect()
}

/// ST deviation: `sign` is +1 for elevation, −1 for depression.
fn check_st(claim: &Claim, f: &MeasuredFacts, sign: f64) -> Verdict {
    let word = if sign > 0.0 {
        "elevation"
    } else {
        "depression"
    };
    let values: Vec<(StandardLead, f64)> = lead_values(claim, f, |l| l.st_mm.map(|v| v * sign));
    if values.is_empty() {
        return uncheckable("ST level not measured in those leads");
    }
    let measured = values
        .iter()
        .map(|(l, v)| format!("{l} {:+.1} mm", v * sign))
        .collect::<Vec<_>>()
        .join(", ");
    // The diagnostic threshold (DESIGN: ≥ 1 mm limb, ≥ 2 mm precordial for elevation).
    let meets = |l: StandardLead, v: f64| {
        if sign > 0.0 && !l.is_limb() {
            v >= 2.0
        } else {
            v >= 1.0
        }
    };
    if claim.negated {
        let offenders: Vec<String> = values
            .iter()
            .filter(|(l, v)| meets(*l, *v))
            .map(|(l, _)| l.to_string())
            .collect();
        return verdict(
            offenders.is_empty(),
            measured,
            format!("no lead meeting the ST {word} threshold (≥ 1 mm limb, ≥ 2 mm precordial)"),
        );
    }
    if claim.leads.is_empty() {
        return uncheckable("ST deviation claimed without naming leads");
    }
    // A lead "shows" the deviation when it is at least half a millimetre in that direction;
    // the claim holds when most named leads do.
    let showing = values.iter().filter(|(_, v)| *v >= 0.5).count();
    verdict(
        showing * 2 >= values.len(),
        measured,
        format!("ST {word} ≥ 0.5 mm in most of the named leads"),
    )
}

fn check_twi(claim: &Claim, f: &MeasuredFacts) -> Verdict {
    let values: Vec<(StandardLead, f64)> = lead_values(claim, f, |l| l.t_mm);
    if values.is_empty() {
        return uncheckable("T waves not measured in those leads");
    }
    let measured = values
        .iter()
        .map(|(l, v)| format!("T {l} {v:+.1} mm"))
        .collect::<Vec<_>>()
        .join(", ");
    if claim.negated {
        // T is normally negative in aVR and may be in III and V1; inversion elsewhere deeper
        // than 1 mm contradicts "no T inversion".
        let offenders = values
            .iter()
            .filter(|(l, v)| {
                !matches!(l, StandardLead::AVR | StandardLead::III | StandardLead::V1) && *v <= -1.0
            })
            .count();
        return verdict(
            offenders == 0,
            measured,
            "no T inversion ≤ −1 mm outside aVR, III, V1".into(),
        );
    }
    if claim.leads.is_empty() {
        return uncheckable("T inversion claimed without naming leads");
    }
    let inverted = values.iter().filter(|(_, v)| *v < 0.0).count();
    let depth_ok = claim.value.is_none_or(|depth| {
        let deepest = values.iter().map(|(_, v)| -v).fold(f64::MIN, f64::max);
        (deepest - depth.abs()).abs() <= 1.5
    });
    verdict(
        inverted * 2 >= values.len() && depth_ok,
        measured,
        "negative T wave in most of the named leads".into(),
    )
}

fn check_q(claim: &Claim, f: &MeasuredFacts) -> Verdict {
    let values: Vec<(StandardLead, bool)> = lead_values(claim, f, |l| l.pathological_q);
    if values.is_empty() {
        return uncheckable("Q waves not measured in those leads");
    }
    let flagged: Vec<String> = values
        .iter()
        .filter(|(_, q)| *q)
        .map(|(l, _)| l.to_string())
        .collect();
    let measured = if flagged.is_empty() {
        "no pathological Q measured".to_string()
    } else {
        format!("pathological Q in {}", flagged.join(", "))
    };
    let expected = "Q > 40 ms or deeper than 25 % of R (DESIGN: > 30 ms or > 0.1 mV)".to_string();
    if claim.negated {
        return verdict(flagged.is_empty(), measured, expected);
    }
    if claim.leads.is_empty() {
        return uncheckable("Q waves claimed without naming leads");
    }
    verdict(!flagged.is_empty(), measured, expected)
}

#[cfg(test)]
mod tests {
    use super::super::claims::extract;
    use super::*;
    use StandardLead::{AVF, AVL, II, III, V1, V2, V3, V5};

    fn facts() -> MeasuredFacts {
        let mut leads = BTreeMap::new();
        for l in StandardLead::STANDARD_ORDER {
            leads.insert(
                l,
                LeadFacts {
                    st_mm: Some(0.0),
                    t_mm: Some(3.0),
                    pathological_q: Some(false),
                    r_mm: Some(8.0),
                },
            );
        }
        for l in [V1, V2, V3] {
            leads.get_mut(&l).unwrap().t_mm = Some(-2.5);
        }
        for l in [II, III, AVF] {
            leads.get_mut(&l).unwrap().st_mm = Some(1.5);
        }
        leads.get_mut(&III).unwrap().pathological_q = Some(true);
        MeasuredFacts {
            heart_rate_bpm: Some(72.0),
            pr_ms: Some(160.0),
            qrs_ms: Some(92.0),
            qt_ms: Some(380.0),
            qtc_ms: Some(415.0),
            qrs_axis_deg: Some(50.0),
            sinus: Some(true),
            af_suggested: Some(false),
            sokolow_lyon_mm: Some(24.0),
            cornell_mm: Some(14.0),
            female: None,
            leads,
        }
    }

    fn statuses(text: &str) -> Vec<(ClaimKind, ClaimStatus)> {
        check_all(&extract(text), &facts())
            .iter()
            .map(|c| (c.kind, c.status))
            .collect()
    }

    #[test]
    fn values_within_tolerance_are_supported_and_far_ones_contradicted() {
        assert_eq!(
            statuses("Heart rate 75 bpm."),
            vec![(ClaimKind::HeartRate, ClaimStatus::Supported)]
        );
        assert_eq!(
            statuses("Heart rate 110 bpm."),
            vec![(ClaimKind::HeartRate, ClaimStatus::Contradicted)]
        );
        assert_eq!(
            statuses("PR interval 0.17 s."),
            vec![(ClaimKind::PrInterval, ClaimStatus::Supported)]
        );
        assert_eq!(
            statuses("QRS duration 140 ms."),
            vec![(ClaimKind::QrsDuration, ClaimStatus::Contradicted)]
        );
        assert_eq!(
            statuses("QTc 420 ms."),
            vec![(ClaimKind::Qtc, ClaimStatus::Supported)]
        );
        assert_eq!(
            statuses("Axis +60°."),
            vec![(ClaimKind::Axis, ClaimStatus::Supported)]
        );
        assert_eq!(
            statuses("Axis -60°."),
            vec![(ClaimKind::Axis, ClaimStatus::Contradicted)]
        );
    }

    #[test]
    fn words_are_checked_against_limits() {
        assert_eq!(
            statuses("Sinus tachycardia."),
            vec![
                (ClaimKind::HeartRate, ClaimStatus::Contradicted),
                (ClaimKind::Rhythm, ClaimStatus::Supported)
            ]
        );
        assert_eq!(
            statuses("The QRS is wide."),
            vec![(ClaimKind::QrsDuration, ClaimStatus::Contradicted)]
        );
        assert_eq!(
            statuses("QTc is prolonged."),
            vec![(ClaimKind::Qtc, ClaimStatus::Contradicted)]
        );
        assert_eq!(
            statuses("Left axis deviation."),
            vec![(ClaimKind::Axis, ClaimStatus::Contradicted)]
        );
        assert_eq!(
            statuses("Right bundle branch block."),
            vec![(ClaimKind::BundleBranchBlock, ClaimStatus::Contradicted)]
        );
        assert_eq!(
            statuses("No bundle branch block."),
            vec![(ClaimKind::BundleBranchBlock, ClaimStatus::Supported)]
        );
        assert_eq!(
            statuses("Voltage criteria for LVH are met."),
            vec![(ClaimKind::Hypertrophy, ClaimStatus::Contradicted)]
        );
        assert_eq!(
            statuses("No LVH."),
            vec![(ClaimKind::Hypertrophy, ClaimStatus::Supported)]
        );
        assert_eq!(
            statuses("Atrial fibrillation."),
            vec![(ClaimKind::Rhythm, ClaimStatus::Contradicted)]
        );
    }

    #[test]
    fn lead_claims_use_the_named_leads() {
        assert_eq!(
            statuses("ST elevation in the inferior leads."),
            vec![(ClaimKind::StElevation, ClaimStatus::Supported)]
        );
        assert_eq!(
            statuses("ST elevation in V1-V3."),
            vec![(ClaimKind::StElevation, ClaimStatus::Contradicted)]
        );
        // Inferior elevation of 1.5 mm meets the limb-lead threshold: "no ST elevation" is contradicted.
        assert_eq!(
            statuses("No ST elevation."),
            vec![(ClaimKind::StElevation, ClaimStatus::Contradicted)]
        );
        assert_eq!(
            statuses("T-wave inversion in V1–V3."),
            vec![(ClaimKind::TWaveInversion, ClaimStatus::Supported)]
        );
        assert_eq!(
            statuses("T-wave inversion in I and aVL."),
            vec![(ClaimKind::TWaveInversion, ClaimStatus::Contradicted)]
        );
        assert_eq!(
            statuses("No T wave inversion."),
            vec![(ClaimKind::TWaveInversion, ClaimStatus::Contradicted)]
        );
        assert_eq!(
            statuses("Pathological Q waves in II, III, aVF."),
            vec![(ClaimKind::PathologicalQ, ClaimStatus::Supported)]
        );
        assert_eq!(
            statuses("Q waves in V5."),
            vec![(ClaimKind::PathologicalQ, ClaimStatus::Contradicted)]
        );
        let _ = (AVL, V5);
    }

    #[test]
    fn unmeasured_values_are_uncheckable_not_contradicted() {
        let empty = MeasuredFacts::default();
        let checked = check_all(
            &extract("Heart rate 72 bpm. QRS 90 ms. ST elevation in V2."),
            &empty,
        );
        assert!(
            checked.iter().all(|c| c.status == ClaimStatus::Uncheckable),
            "{checked:#?}"
        );
        let s = VerifySummary::of(&checked);
        assert_eq!((s.claims, s.uncheckable), (3, 3));
    }

    #[test]
    fn contradictions_say_what_was_measured_and_expected() {
        let checked = check_all(&extract("QRS duration 140 ms."), &facts());
        assert_eq!(checked[0].measured.as_deref(), Some("QRS 92 ms"));
        assert_eq!(checked[0].expected.as_deref(), Some("140 ms ± 20 ms"));
    }
}
