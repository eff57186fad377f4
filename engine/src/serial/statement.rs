//! The serial sentences a trace carries, and their removal for de-identified views.
//!
//! Every serial sentence starts with [`SERIAL_PREFIX`] and is one sentence per change, with
//! no semicolon inside, so the verifier's sentence splitter keeps each whole and a
//! de-identified view can drop exactly these sentences.

use super::{ChangeKind, SerialComparison};
use crate::report::{Evidence, Report};

/// How every serial sentence begins.
pub const SERIAL_PREFIX: &str = "Compared with the ECG of";

/// Evidence ids of serial statements start with this.
pub const SERIAL_EVIDENCE: &str = "serial.";

/// The prior's label made safe to sit inside a sentence of a trace (no line breaks, tags or
/// sentence ends).
fn clean_label(label: &str) -> String {
    let cleaned: String = label
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '<' | '>' | ';' | '*') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.replace(". ", " ");
    let trimmed = cleaned.trim().trim_end_matches('.');
    if trimmed.is_empty() {
        "an earlier date".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Leads as a trace writes them: a run of three or more neighbouring precordial leads becomes
/// a range ("V2–V4"), others are listed ("II, III, aVF", "V5, V6"). Limb leads are never
/// written as ranges: readers do not agree on their order.
pub fn lead_range(leads: &[String]) -> String {
    const PRECORDIAL: [&str; 6] = ["V1", "V2", "V3", "V4", "V5", "V6"];
    let mut parts: Vec<String> = leads
        .iter()
        .filter(|l| !PRECORDIAL.contains(&l.as_str()))
        .cloned()
        .collect();
    let mut run: Vec<&str> = Vec::new();
    let flush = |run: &mut Vec<&str>, parts: &mut Vec<String>| {
        if run.len() >= 3 {
            parts.push(format!("{}–{}", run[0], run[run.len() - 1]));
        } else {
            parts.extend(run.iter().map(|s| (*s).to_string()));
        }
        run.clear();
    };
    for lead in PRECORDIAL {
        if leads.iter().any(|l| l == lead) {
            run.push(lead);
        } else {
            flush(&mut run, &mut parts);
        }
    }
    flush(&mut run, &mut parts);
    parts.join(", ")
}

/// One sentence per significant change, or one saying there is none.
pub(crate) fn sentences(c: &SerialComparison) -> Vec<(String, Evidence)> {
    let label = clean_label(&c.prior.label);
    if c.changes.is_empty() {
        return vec![(
            format!(
                // No numbers or lead names here: the verifier would read them as claims.
                "{SERIAL_PREFIX} {label}: no significant change by the serial criteria."
            ),
            Evidence {
                measurement: format!("{SERIAL_EVIDENCE}unchanged"),
                lead: None,
                value: Some(0.0),
                unit: None,
                threshold: Some("no change reaches a serial criterion".into()),
                sample_index: None,
            },
        )];
    }
    c.changes
        .iter()
        .map(|change| {
            let delta = match change.kind {
                ChangeKind::QrsWidened => c.global("qrs_ms").and_then(|g| g.delta),
                ChangeKind::QtcLengthened => c.global("qtc_bazett_ms").and_then(|g| g.delta),
                ChangeKind::AxisShift => c.global("qrs_axis_deg").and_then(|g| g.delta),
                _ => None,
            };
            let threshold = match change.kind {
                ChangeKind::QrsWidened => "QRS +20 ms",
                ChangeKind::QtcLengthened => "QTc +30 ms",
                ChangeKind::AxisShift => "axis shift >= 30°",
                ChangeKind::NewTInversion => "new T inversion >= 1 mm in two contiguous leads",
                ChangeKind::NewStElevation => {
                    "new ST elevation >= 1 mm limb / 2 mm precordial in two contiguous leads"
                }
                ChangeKind::NewStDepression => {
                    "new ST depression >= 0.5 mm in two contiguous leads"
                }
                ChangeKind::NewBundleBranchBlock => "bundle branch block absent before",
            };
            (
                format!("{SERIAL_PREFIX} {label}: {}.", change.text),
                Evidence {
                    measurement: format!("{SERIAL_EVIDENCE}{}", change.kind.name()),
                    lead: (!change.leads.is_empty()).then(|| lead_range(&change.leads)),
                    value: delta,
                    unit: None,
                    threshold: Some(threshold.to_string()),
                    sample_index: None,
                },
            )
        })
        .collect()
}

pub(crate) fn statement(c: &SerialComparison) -> String {
    sentences(c)
        .into_iter()
        .map(|(s, _)| s)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Removes every serial sentence from `text`.
fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(SERIAL_PREFIX) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        // The sentence ends at the first full stop followed by whitespace or the end.
        let bytes = tail.as_bytes();
        let mut end = tail.len();
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'.' && bytes.get(i + 1).is_none_or(u8::is_ascii_whitespace) {
                end = i + 1;
                break;
            }
        }
        rest = &tail[end..];
        // Drop the space that separated the removed sentence from the next one.
        if out.ends_with(' ') || out.is_empty() || out.ends_with('\n') {
            rest = rest.strip_prefix(' ').unwrap_or(rest);
        }
    }
    out.push_str(rest);
    out.trim_end_matches(' ').to_string()
}

/// The report without its serial sentences and their evidence: what a de-identified view
/// (teaching rounds) shows, so it never reveals that two cases are the same patient's.
pub fn without_serial(report: &Report) -> Report {
    let mut r = report.clone();
    for step in &mut r.steps {
        step.text = strip(&step.text);
        step.evidence
            .retain(|e| !e.measurement.starts_with(SERIAL_EVIDENCE));
    }
    r.summary = strip(&r.summary);
    r.raw_output = strip(&r.raw_output);
    r
}
