//! The trace verifier: extracts checkable claims from a reasoning trace and checks each
//! against the measurements, so the clinician sees where the model contradicts the signal.

pub mod check;
pub mod claims;
pub mod serial;

use serde::Serialize;

use crate::features::Measurements;
use crate::record::StandardLead;
use crate::serial::SerialComparison;

pub use check::{CheckedClaim, ClaimStatus, LeadFacts, MeasuredFacts, VerifySummary};

/// µV → mm at the standard 10 mm/mV.
fn mm(uv: Option<f64>) -> Option<f64> {
    uv.map(|v| v / 100.0)
}

impl From<&Measurements> for MeasuredFacts {
    fn from(m: &Measurements) -> Self {
        let leads = m
            .leads
            .iter()
            .filter_map(|l| {
                let lead = StandardLead::from_label(&l.lead)?;
                let usable = l.quality.usable();
                Some((
                    lead,
                    LeadFacts {
                        st_mm: mm(l.st_j60_uv.value).filter(|_| usable),
                        t_mm: mm(l.t_amplitude_uv.value).filter(|_| usable),
                        pathological_q: l.pathological_q.filter(|_| usable),
                        r_mm: mm(l.r_amplitude_uv.value).filter(|_| usable),
                    },
                ))
            })
            .collect();
        Self {
            heart_rate_bpm: m.heart_rate_bpm.value,
            pr_ms: m.pr_ms.value,
            qrs_ms: m.qrs_ms.value,
            qt_ms: m.qt_ms.value,
            // Bazett, the correction readers quote unless they say otherwise.
            qtc_ms: m.qtc_bazett_ms.value,
            qrs_axis_deg: m.qrs_axis_deg.value,
            sinus: m.rhythm.sinus,
            af_suggested: m
                .rhythm
                .irregularity_index
                .value
                .map(|_| m.rhythm.af_suggested),
            sokolow_lyon_mm: mm(m.sokolow_lyon_uv.value),
            cornell_mm: mm(m.cornell_uv.value),
            female: None,
            leads,
        }
    }
}

/// The verifier's result for one trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verification {
    pub claims: Vec<CheckedClaim>,
    pub summary: VerifySummary,
}

/// Extracts the claims of a trace and checks them against the measurements. Serial claims
/// ("unchanged from prior") are uncheckable here: there is no comparison.
pub fn verify_text(trace: &str, measurements: &Measurements) -> Verification {
    verify_text_with_prior(trace, measurements, None)
}

/// Like [`verify_text`], with the serial claims checked against the comparison with the
/// patient's prior ECG when there is one.
pub fn verify_text_with_prior(
    trace: &str,
    measurements: &Measurements,
    comparison: Option<&SerialComparison>,
) -> Verification {
    let facts = MeasuredFacts::from(measurements);
    let mut claims = check::check_all(&claims::extract(trace), &facts);
    claims.extend(serial::check_serial(trace, comparison));
    let summary = VerifySummary::of(&claims);
    Verification { claims, summary }
}

/// The reasoning of a report: the `<think>` part when there is one (the answer labels repeat
/// it), else the whole output.
fn reasoning(report: &crate::report::Report) -> &str {
    let raw = &report.raw_output;
    match (raw.find("<think>"), raw.find("</think>")) {
        (Some(a), Some(b)) if b > a => &raw[a + "<think>".len()..b],
        _ => raw.as_str(),
    }
}

/// Verifies the reasoning of a report against the measurements.
pub fn verify_report(report: &crate::report::Report, measurements: &Measurements) -> Verification {
    verify_text(reasoning(report), measurements)
}

/// Verifies the reasoning of a report, its serial claims against the comparison with the
/// prior ECG.
pub fn verify_report_with_prior(
    report: &crate::report::Report,
    measurements: &Measurements,
    comparison: Option<&SerialComparison>,
) -> Verification {
    verify_text_with_prior(reasoning(report), measurements, comparison)
}
