//! Serial comparison: the current ECG against the patient's prior one.
//!
//! Both are measured by the feature database; [`compare`] takes the differences of the
//! global values (rate, PR, QRS, QT, QTc, axes) and of each lead's ST level and T amplitude,
//! and names the changes that are significant by the conventional serial criteria:
//!
//! - QRS at least [`QRS_WIDENING_MS`] wider;
//! - QTc (Bazett) at least [`QTC_LENGTHENING_MS`] longer;
//! - a T wave newly inverted by at least 1 mm ([`crate::protocol`]'s inversion criterion)
//!   in at least two contiguous leads;
//! - ST elevation (≥ 1 mm limb / ≥ 2 mm precordial at J) or ST depression (≥ 0.5 mm at
//!   J+60), absent before and at least [`ST_CHANGE_UV`] away from the prior level, in at least
//!   two contiguous leads;
//! - a bundle branch block the prior ECG did not show (as the protocol reads the QRS);
//! - a QRS axis shift of at least [`AXIS_SHIFT_DEG`].
//!
//! A value missing on either side is never a change: it is listed in `not_compared`.

mod statement;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::features::{LeadMeasurements, Measured, Measurements};
use crate::protocol::{self, BundleBranchBlock};
use crate::record::StandardLead;

pub(crate) use statement::sentences;
pub use statement::{SERIAL_EVIDENCE, SERIAL_PREFIX, lead_range, without_serial};

/// QRS widening that counts as a significant change, ms.
pub const QRS_WIDENING_MS: f64 = 20.0;
/// QTc lengthening that counts as a significant change, ms.
pub const QTC_LENGTHENING_MS: f64 = 30.0;
/// QRS axis shift that counts as a significant change, degrees.
pub const AXIS_SHIFT_DEG: f64 = 30.0;
/// An ST level must move at least this far (µV, 1 mm) from the prior one to be a new deviation.
pub const ST_CHANGE_UV: f64 = 100.0;

/// Which ECG the current one is compared with, as the trace names it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorEcg {
    /// How the trace names the prior ECG: its acquisition time, or else its file name or the
    /// date it was stored.
    pub label: String,
    pub acquisition_time: Option<String>,
    /// SHA-256 of the prior input, so the stored comparison points at exactly one file.
    pub sha256: String,
}

/// One global value on both ECGs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValueDelta {
    /// The measurement id ("qrs_ms", "qrs_axis_deg").
    pub id: String,
    /// Its display name ("QRS", "QRS axis").
    pub name: String,
    pub unit: String,
    pub prior: Option<f64>,
    pub current: Option<f64>,
    /// current − prior; for axes the signed shortest angle between them.
    pub delta: Option<f64>,
    /// The significance criterion, in words, when the value has one ("+20 ms").
    pub threshold: Option<String>,
    pub significant: bool,
}

/// One lead's ST level and T wave on both ECGs (µV; `None` where unmeasured or unusable).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadDelta {
    pub lead: String,
    pub st_j_prior_uv: Option<f64>,
    pub st_j_current_uv: Option<f64>,
    pub st_j_delta_uv: Option<f64>,
    pub st_j60_prior_uv: Option<f64>,
    pub st_j60_current_uv: Option<f64>,
    pub st_j60_delta_uv: Option<f64>,
    pub t_prior_uv: Option<f64>,
    pub t_current_uv: Option<f64>,
    pub t_delta_uv: Option<f64>,
    pub t_inverted_prior: Option<bool>,
    pub t_inverted_current: Option<bool>,
    /// Inverted ≥ 1 mm now and not before (contiguity is judged across leads, in `changes`).
    pub new_t_inversion: bool,
    pub new_st_elevation: bool,
    pub new_st_depression: bool,
}

/// What kind of significant change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    QrsWidened,
    QtcLengthened,
    NewTInversion,
    NewStElevation,
    NewStDepression,
    NewBundleBranchBlock,
    AxisShift,
}

impl ChangeKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::QrsWidened => "qrs_widened",
            Self::QtcLengthened => "qtc_lengthened",
            Self::NewTInversion => "new_t_inversion",
            Self::NewStElevation => "new_st_elevation",
            Self::NewStDepression => "new_st_depression",
            Self::NewBundleBranchBlock => "new_bundle_branch_block",
            Self::AxisShift => "axis_shift",
        }
    }
}

/// A significant change, with the phrase the trace uses for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SerialChange {
    pub kind: ChangeKind,
    /// The leads it is seen in (empty for global changes).
    pub leads: Vec<String>,
    /// "new T-wave inversion in V2–V4", "the QRS has widened to 122 ms from 98 ms".
    pub text: String,
    /// The measurement ids it rests on ("qrs_ms", "lead.V2.t_amplitude_uv").
    pub measurements: Vec<String>,
    /// For a new bundle branch block, which one.
    pub bundle_branch_block: Option<BundleBranchBlock>,
}

/// The comparison of the current ECG with a prior one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SerialComparison {
    pub prior: PriorEcg,
    /// Heart rate, PR, QRS, QT, QTc (Bazett and Fridericia), P/QRS/T axes.
    pub globals: Vec<ValueDelta>,
    /// The standard leads present in both measurements, in the standard order.
    pub leads: Vec<LeadDelta>,
    pub bundle_branch_block_prior: Option<BundleBranchBlock>,
    pub bundle_branch_block_current: Option<BundleBranchBlock>,
    /// The significant changes; empty when the ECG is unchanged by these criteria.
    pub changes: Vec<SerialChange>,
    /// What could not be compared and why ("PR: not measured on the prior ECG").
    pub not_compared: Vec<String>,
}

impl SerialComparison {
    /// No significant change by the criteria above.
    pub fn unchanged(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn has(&self, kind: ChangeKind) -> bool {
        self.changes.iter().any(|c| c.kind == kind)
    }

    pub fn global(&self, id: &str) -> Option<&ValueDelta> {
        self.globals.iter().find(|g| g.id == id)
    }

    pub fn lead(&self, lead: &str) -> Option<&LeadDelta> {
        self.leads.iter().find(|l| l.lead == lead)
    }

    /// The serial sentence for a trace: "Compared with the ECG of …: new T-wave inversion
    /// in V2–V4." or "… no significant change (…)."
    pub fn statement(&self) -> String {
        statement::statement(self)
    }
}

/// The signed shortest angle from `from` to `to`, degrees in (−180, 180].
fn angle_delta(from: f64, to: f64) -> f64 {
    let d = (to - from).rem_euclid(360.0);
    if d > 180.0 { d - 360.0 } else { d }
}

fn usable(l: Option<&LeadMeasurements>) -> Option<&LeadMeasurements> {
    l.filter(|l| l.quality.usable())
}

fn value(l: Option<&LeadMeasurements>, f: fn(&LeadMeasurements) -> &Measured) -> Option<f64> {
    usable(l).and_then(|l| f(l).value)
}

fn sub(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(b? - a?)
}

fn st_threshold(lead: &str) -> f64 {
    if protocol::is_precordial(lead) {
        protocol::STE_PRECORDIAL_UV
    } else {
        protocol::STE_LIMB_UV
    }
}

/// The global values compared, with their significance rule.
struct GlobalRule {
    name: &'static str,
    get: fn(&Measurements) -> &Measured,
    /// Increase that is significant (for axes: shift in either direction).
    threshold: Option<f64>,
    angle: bool,
}

const GLOBALS: [GlobalRule; 9] = [
    GlobalRule {
        name: "heart rate",
        get: |m| &m.heart_rate_bpm,
        threshold: None,
        angle: false,
    },
    GlobalRule {
        name: "PR",
        get: |m| &m.pr_ms,
        threshold: None,
        angle: false,
    },
    GlobalRule {
        name: "QRS",
        get: |m| &m.qrs_ms,
        threshold: Some(QRS_WIDENING_MS),
        angle: false,
    },
    GlobalRule {
        name: "QT",
        get: |m| &m.qt_ms,
        threshold: None,
        angle: false,
    },
    GlobalRule {
        name: "QTc (Bazett)",
        get: |m| &m.qtc_bazett_ms,
        threshold: Some(QTC_LENGTHENING_MS),
        angle: false,
    },
    GlobalRule {
        name: "QTc (Fridericia)",
        get: |m| &m.qtc_fridericia_ms,
        threshold: None,
        angle: false,
    },
    GlobalRule {
        name: "P axis",
        get: |m| &m.p_axis_deg,
        threshold: None,
        angle: true,
    },
    GlobalRule {
        name: "QRS axis",
        get: |m| &m.qrs_axis_deg,
        threshold: Some(AXIS_SHIFT_DEG),
        angle: true,
    },
    GlobalRule {
        name: "T axis",
        get: |m| &m.t_axis_deg,
        threshold: None,
        angle: true,
    },
];

fn compare_globals(
    prior: &Measurements,
    current: &Measurements,
    not_compared: &mut Vec<String>,
) -> Vec<ValueDelta> {
    GLOBALS
        .iter()
        .map(|rule| {
            let (p, c) = ((rule.get)(prior), (rule.get)(current));
            let delta = match (p.value, c.value) {
                (Some(a), Some(b)) if rule.angle => Some(angle_delta(a, b)),
                (Some(a), Some(b)) => Some(b - a),
                (None, _) => {
                    not_compared.push(format!("{}: not measured on the prior ECG", rule.name));
                    None
                }
                (_, None) => {
                    not_compared.push(format!("{}: not measured on the current ECG", rule.name));
                    None
                }
            };
            let significant = match (delta, rule.threshold) {
                (Some(d), Some(t)) if rule.angle => d.abs() >= t,
                (Some(d), Some(t)) => d >= t,
                _ => false,
            };
            let unit = if rule.angle { "deg" } else { c.unit.as_str() };
            ValueDelta {
                id: c.id.clone(),
                name: rule.name.to_string(),
                unit: unit.to_string(),
                prior: p.value,
                current: c.value,
                delta,
                threshold: rule.threshold.map(|t| {
                    if rule.angle {
                        format!("shift >= {t:.0}°")
                    } else {
                        format!("+{t:.0} {unit}")
                    }
                }),
                significant,
            }
        })
        .collect()
}

fn compare_lead(lead: StandardLead, prior: &Measurements, current: &Measurements) -> LeadDelta {
    let name = lead.name();
    let (p, c) = (prior.lead(lead), current.lead(lead));
    let inverted = |l: Option<&LeadMeasurements>| usable(l).map(protocol::inverted);
    let (st_p, st_c) = (value(p, |l| &l.st_j_uv), value(c, |l| &l.st_j_uv));
    let (st60_p, st60_c) = (value(p, |l| &l.st_j60_uv), value(c, |l| &l.st_j60_uv));
    let (t_p, t_c) = (
        value(p, |l| &l.t_amplitude_uv),
        value(c, |l| &l.t_amplitude_uv),
    );
    let (inv_p, inv_c) = (inverted(p), inverted(c));
    let th = st_threshold(name);
    let new_st_elevation = name != "aVR"
        && matches!((st_p, st_c), (Some(a), Some(b)) if b >= th && a < th && b - a >= ST_CHANGE_UV);
    let new_st_depression = name != "aVR"
        && matches!((st60_p, st60_c), (Some(a), Some(b))
            if b <= protocol::STD_UV && a > protocol::STD_UV && a - b >= ST_CHANGE_UV / 2.0);
    LeadDelta {
        lead: name.to_string(),
        st_j_prior_uv: st_p,
        st_j_current_uv: st_c,
        st_j_delta_uv: sub(st_p, st_c),
        st_j60_prior_uv: st60_p,
        st_j60_current_uv: st60_c,
        st_j60_delta_uv: sub(st60_p, st60_c),
        t_prior_uv: t_p,
        t_current_uv: t_c,
        t_delta_uv: sub(t_p, t_c),
        t_inverted_prior: inv_p,
        t_inverted_current: inv_c,
        new_t_inversion: name != "aVR" && inv_c == Some(true) && inv_p == Some(false),
        new_st_elevation,
        new_st_depression,
    }
}

/// Leads flagged by `pick`, kept only when at least two of them are contiguous.
fn contiguous_leads(leads: &[LeadDelta], pick: fn(&LeadDelta) -> bool) -> Option<Vec<String>> {
    let names: Vec<&str> = leads
        .iter()
        .filter(|l| pick(l))
        .map(|l| l.lead.as_str())
        .collect();
    protocol::contiguous(&names).then(|| names.iter().map(|s| (*s).to_string()).collect())
}

fn lead_change(
    kind: ChangeKind,
    leads: &[LeadDelta],
    pick: fn(&LeadDelta) -> bool,
    what: &str,
    field: &str,
) -> Option<SerialChange> {
    let names = contiguous_leads(leads, pick)?;
    Some(SerialChange {
        kind,
        text: format!("new {what} in {}", lead_range(&names)),
        measurements: names.iter().map(|l| format!("lead.{l}.{field}")).collect(),
        leads: names,
        bundle_branch_block: None,
    })
}

fn global_change(globals: &[ValueDelta], id: &str, kind: ChangeKind) -> Option<SerialChange> {
    let g = globals.iter().find(|g| g.id == id && g.significant)?;
    let (delta, current, prior) = (g.delta?, g.current?, g.prior?);
    // The current value comes first after its name: the verifier reads the number that
    // follows "QRS" as the QRS duration, so the sentence must not lead with the difference.
    let text = match kind {
        ChangeKind::AxisShift => format!(
            "the QRS axis has shifted to {current:.0}° from {prior:.0}° ({:.0}°)",
            delta.abs()
        ),
        ChangeKind::QrsWidened => {
            format!("the QRS has widened to {current:.0} ms from {prior:.0} ms")
        }
        _ => format!("the QTc has lengthened to {current:.0} ms from {prior:.0} ms"),
    };
    Some(SerialChange {
        kind,
        leads: Vec::new(),
        text,
        measurements: vec![id.to_string()],
        bundle_branch_block: None,
    })
}

/// Compares the current ECG's measurements with the prior ECG's.
pub fn compare(
    prior: &Measurements,
    current: &Measurements,
    prior_ecg: PriorEcg,
) -> SerialComparison {
    let mut not_compared = Vec::new();
    let globals = compare_globals(prior, current, &mut not_compared);
    let leads: Vec<LeadDelta> = StandardLead::STANDARD_ORDER
        .into_iter()
        .filter(|&l| prior.lead(l).is_some() && current.lead(l).is_some())
        .map(|l| compare_lead(l, prior, current))
        .collect();
    for l in StandardLead::STANDARD_ORDER {
        match (prior.lead(l).is_some(), current.lead(l).is_some()) {
            (true, true) => {}
            (false, true) => not_compared.push(format!("lead {l}: not on the prior ECG")),
            (true, false) => not_compared.push(format!("lead {l}: not on the current ECG")),
            (false, false) => not_compared.push(format!("lead {l}: on neither ECG")),
        }
    }
    let bbb_prior = protocol::bundle_branch_block(prior);
    let bbb_current = protocol::bundle_branch_block(current);
    let mut changes: Vec<SerialChange> = [
        global_change(&globals, "qrs_ms", ChangeKind::QrsWidened),
        global_change(&globals, "qtc_bazett_ms", ChangeKind::QtcLengthened),
        global_change(&globals, "qrs_axis_deg", ChangeKind::AxisShift),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(bbb) = bbb_current
        && bbb_prior != Some(bbb)
    {
        changes.push(SerialChange {
            kind: ChangeKind::NewBundleBranchBlock,
            leads: vec!["V1".into()],
            text: format!("new {}", bbb.name()),
            measurements: vec!["qrs_ms".into(), "lead.V1.r_amplitude_uv".into()],
            bundle_branch_block: Some(bbb),
        });
    }
    changes.extend(
        [
            lead_change(
                ChangeKind::NewTInversion,
                &leads,
                |l| l.new_t_inversion,
                "T-wave inversion",
                "t_amplitude_uv",
            ),
            lead_change(
                ChangeKind::NewStElevation,
                &leads,
                |l| l.new_st_elevation,
                "ST elevation",
                "st_j_uv",
            ),
            lead_change(
                ChangeKind::NewStDepression,
                &leads,
                |l| l.new_st_depression,
                "ST depression",
                "st_j60_uv",
            ),
        ]
        .into_iter()
        .flatten(),
    );
    SerialComparison {
        prior: prior_ecg,
        globals,
        leads,
        bundle_branch_block_prior: bbb_prior,
        bundle_branch_block_current: bbb_current,
        changes,
        not_compared,
    }
}
