//! From a hovered trace sentence to what it cites on the ECG: the evidence of its step that the
//! sentence names (a lead, or the kind of measurement), and the leads of the verifier's claims
//! made in it, as highlights on the paper.

use std::fmt::Write as _;

use ecgr1_engine::StandardLead;
use ecgr1_engine::report::Evidence;
use ecgr1_engine::verify::CheckedClaim;
use ecgr1_ui::Highlight;
use ecgr1_ui::trace_view::claim_finding;

/// Time shown around a point measurement: from a little before the beat's R fiducial to the
/// end of its T wave.
const BEFORE_S: f64 = 0.25;
const AFTER_S: f64 = 0.45;

/// Words in a sentence that point at a measurement, by a fragment of the measurement id.
const KEYWORDS: [(&str, &[&str]); 10] = [
    ("heart_rate", &["rate", "bpm", "brady", "tachy"]),
    ("rr_", &["rhythm", "rr", "regular"]),
    ("pr_", &["pr"]),
    ("qrs", &["qrs", "bundle", "block"]),
    ("qt", &["qt"]),
    ("axis", &["axis", "deviation"]),
    ("st_", &["st"]),
    (
        "t_",
        &["t wave", "t-wave", "t inversion", "inverted", "inversion"],
    ),
    ("q_", &["q wave", "q-wave", "pathological q"]),
    (
        "r_amplitude",
        &[
            "voltage",
            "hypertrophy",
            "lvh",
            "r wave",
            "sokolow",
            "cornell",
        ],
    ),
];

fn words(sentence: &str) -> Vec<String> {
    sentence
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether the sentence names this piece of evidence: its lead, or its kind of measurement.
fn names(sentence: &str, evidence: &Evidence) -> bool {
    let lower = sentence.to_lowercase();
    let ws = words(sentence);
    if let Some(lead) = &evidence.lead
        && ws.iter().any(|w| w == &lead.to_lowercase())
    {
        return true;
    }
    let id = evidence.measurement.to_lowercase();
    let measurement = id.rsplit('.').next().unwrap_or(&id);
    KEYWORDS.iter().any(|(fragment, keys)| {
        measurement.contains(fragment)
            && keys.iter().any(|k| {
                if k.contains(' ') || k.contains('-') {
                    lower.contains(k)
                } else {
                    ws.iter().any(|w| w == k || w.starts_with(k) && k.len() > 3)
                }
            })
    })
}

fn evidence_label(e: &Evidence) -> String {
    let mut s = e.measurement.clone();
    if let Some(v) = e.value {
        let _ = write!(s, " = {v:.0}");
        if let Some(u) = &e.unit {
            let _ = write!(s, " {u}");
        }
    }
    if let Some(t) = &e.threshold {
        let _ = write!(s, " ({t})");
    }
    s
}

/// The highlights for one hovered sentence of a step.
pub fn highlights_for(
    sentence: &str,
    step_evidence: &[Evidence],
    claims: &[CheckedClaim],
    sample_rate_hz: f64,
    duration_s: f64,
) -> Vec<Highlight> {
    let measured: Vec<&Evidence> = step_evidence
        .iter()
        .filter(|e| e.measurement != "notes")
        .collect();
    let named: Vec<&Evidence> = measured
        .iter()
        .copied()
        .filter(|e| names(sentence, e))
        .collect();
    // A sentence that names nothing in particular cites its step's evidence as a whole.
    let cited = if named.is_empty() { measured } else { named };
    let mut out: Vec<Highlight> = cited
        .into_iter()
        .map(|e| {
            let (start_s, end_s) = match e.sample_index {
                Some(i) if sample_rate_hz > 0.0 => {
                    let t = i as f64 / sample_rate_hz;
                    ((t - BEFORE_S).max(0.0), (t + AFTER_S).min(duration_s))
                }
                _ => (0.0, duration_s),
            };
            Highlight {
                leads: e
                    .lead
                    .as_deref()
                    .and_then(StandardLead::from_label)
                    .into_iter()
                    .collect(),
                start_s,
                end_s,
                label: evidence_label(e),
            }
        })
        .collect();
    for claim in claims.iter().filter(|c| !c.leads.is_empty()) {
        out.push(Highlight {
            leads: claim.leads.clone(),
            start_s: 0.0,
            end_s: duration_s,
            label: format!("verifier: {}", claim_finding(claim)),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, lead: Option<&str>, sample: Option<usize>) -> Evidence {
        Evidence {
            measurement: id.into(),
            lead: lead.map(str::to_string),
            value: Some(92.0),
            unit: Some("ms".into()),
            threshold: Some("< 120 ms".into()),
            sample_index: sample,
        }
    }

    #[test]
    fn a_sentence_highlights_the_evidence_it_names() {
        let evidence = [
            ev("qrs_ms", None, Some(1000)),
            ev("pr_ms", None, Some(900)),
            ev("lead.V2.t_amplitude_uv", Some("V2"), None),
            ev("notes", None, None),
        ];
        let h = highlights_for("The QRS is narrow at 92 ms.", &evidence, &[], 500.0, 10.0);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].label, "qrs_ms = 92 ms (< 120 ms)");
        assert!((h[0].start_s - 1.75).abs() < 1e-9 && (h[0].end_s - 2.45).abs() < 1e-9);
        assert!(h[0].leads.is_empty());

        let h = highlights_for("T waves are inverted in V2.", &evidence, &[], 500.0, 10.0);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].leads, vec![StandardLead::V2]);
        assert_eq!((h[0].start_s, h[0].end_s), (0.0, 10.0));
    }

    #[test]
    fn a_sentence_naming_nothing_cites_the_whole_step_but_not_the_notes() {
        let evidence = [ev("qrs_ms", None, None), ev("notes", None, None)];
        let h = highlights_for("Overall this is reassuring.", &evidence, &[], 500.0, 10.0);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].label, "qrs_ms = 92 ms (< 120 ms)");
    }
}
