//! The reasoning trace, step by step, in collapsible sections. Each sentence is its own label
//! so hovering one can highlight the evidence it cites; the verifier's findings about a
//! sentence are drawn right after it.

use std::fmt::Write as _;

use ecgr1_engine::report::TraceStep;
use ecgr1_engine::verify::{CheckedClaim, ClaimStatus};
use egui::{Color32, RichText, Ui};

/// One sentence of a step and what the verifier found about it.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceSentence {
    pub text: String,
    /// Checked claims extracted from this sentence (supported, contradicted or uncheckable).
    pub claims: Vec<CheckedClaim>,
}

/// A step of the trace as the view draws it.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceStepView {
    pub number: usize,
    pub title: String,
    pub sentences: Vec<TraceSentence>,
}

/// Splits text into sentences at '.', '!' or '?' followed by white space, and at line
/// breaks. A decimal point ("0.86") or an abbreviation without a following space does not
/// split.
pub fn split_sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut current = String::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            current.push(c);
            let ends =
                matches!(c, '.' | '!' | '?') && chars.peek().is_some_and(|n| n.is_whitespace());
            if ends {
                push_trimmed(&mut out, &current);
                current.clear();
            }
        }
        push_trimmed(&mut out, &current);
    }
    out
}

fn push_trimmed(out: &mut Vec<String>, s: &str) {
    let t = s.trim();
    if !t.is_empty() {
        out.push(t.to_string());
    }
}

/// Whether the claim was extracted from `sentence` (the verifier quotes the claim's text).
fn claim_in_sentence(claim: &CheckedClaim, sentence: &str) -> bool {
    let claim = claim.text.trim();
    !claim.is_empty()
        && (sentence.contains(claim) || (claim.len() > sentence.len() && claim.contains(sentence)))
}

/// Builds the view of a trace: steps split into sentences, each with the verifier's claims
/// that came from it. A claim is attached to the first sentence that contains it.
pub fn build_steps(steps: &[TraceStep], claims: &[CheckedClaim]) -> Vec<TraceStepView> {
    let mut used = vec![false; claims.len()];
    steps
        .iter()
        .enumerate()
        .map(|(k, step)| TraceStepView {
            number: k + 1,
            title: step.title.clone(),
            sentences: split_sentences(&step.text)
                .into_iter()
                .map(|text| {
                    let mut mine = Vec::new();
                    for (c, claim) in claims.iter().enumerate() {
                        if !used[c] && claim_in_sentence(claim, &text) {
                            used[c] = true;
                            mine.push(claim.clone());
                        }
                    }
                    TraceSentence { text, claims: mine }
                })
                .collect(),
        })
        .collect()
}

/// The claims `build_steps` could not tie to a sentence (the verifier quotes a span that
/// crosses sentences, or comes from outside the steps), so they can be listed apart.
pub fn unplaced_claims(steps: &[TraceStepView], claims: &[CheckedClaim]) -> Vec<CheckedClaim> {
    let mut placed: Vec<&CheckedClaim> = steps
        .iter()
        .flat_map(|s| &s.sentences)
        .flat_map(|t| &t.claims)
        .collect();
    claims
        .iter()
        .filter(|c| {
            if let Some(i) = placed.iter().position(|p| p == c) {
                placed.swap_remove(i);
                false
            } else {
                true
            }
        })
        .cloned()
        .collect()
}

/// Draws claims that belong to no sentence, with their findings.
pub fn claims_list(ui: &mut Ui, claims: &[CheckedClaim]) {
    for claim in claims {
        let colour = match claim.status {
            ClaimStatus::Contradicted => CONTRADICTED,
            ClaimStatus::Supported => SUPPORTED,
            ClaimStatus::Uncheckable => ui.visuals().weak_text_color(),
        };
        ui.label(format!("\"{}\"", claim.text));
        ui.label(
            RichText::new(format!("verifier: {}", claim_finding(claim)))
                .small()
                .color(colour),
        );
    }
}

/// A hovered sentence: (step index, sentence index).
pub type SentenceRef = (usize, usize);

const CONTRADICTED: Color32 = Color32::from_rgb(200, 40, 40);
const SUPPORTED: Color32 = Color32::from_rgb(30, 130, 60);

/// Words for a claim's finding, e.g. "contradicted: measured QRS 92 ms, expected ≥ 120 ms".
pub fn claim_finding(claim: &CheckedClaim) -> String {
    let status = match claim.status {
        ClaimStatus::Supported => "supported",
        ClaimStatus::Contradicted => "contradicted",
        ClaimStatus::Uncheckable => "not checkable",
    };
    let mut s = format!("{status} ({})", claim.kind.name());
    if let Some(m) = &claim.measured {
        let _ = write!(s, ": measured {m}");
    }
    if let Some(e) = &claim.expected {
        let _ = write!(s, ", expected {e}");
    }
    s
}

/// The trace widget.
pub struct TraceView<'a> {
    steps: &'a [TraceStepView],
    /// While streaming, the last step is still being written.
    streaming: bool,
    id_salt: &'a str,
}

impl<'a> TraceView<'a> {
    pub fn new(steps: &'a [TraceStepView], id_salt: &'a str) -> Self {
        Self {
            steps,
            streaming: false,
            id_salt,
        }
    }

    pub fn streaming(mut self, streaming: bool) -> Self {
        self.streaming = streaming;
        self
    }

    /// Draws the steps; returns the sentence under the pointer, if any.
    pub fn show(self, ui: &mut Ui) -> Option<SentenceRef> {
        let mut hovered = None;
        let last = self.steps.len().saturating_sub(1);
        for (s, step) in self.steps.iter().enumerate() {
            let contradicted = step
                .sentences
                .iter()
                .flat_map(|t| &t.claims)
                .filter(|c| c.status == ClaimStatus::Contradicted)
                .count();
            let mut title = format!("Step {}: {}", step.number, step.title);
            if self.streaming && s == last {
                title.push_str(" (writing…)");
            }
            if contradicted > 0 {
                let _ = write!(title, " - {contradicted} contradicted");
            }
            egui::CollapsingHeader::new(title)
                .id_salt((self.id_salt, s))
                .default_open(true)
                .show(ui, |ui| {
                    for (k, sentence) in step.sentences.iter().enumerate() {
                        let r =
                            ui.add(egui::Label::new(&sentence.text).sense(egui::Sense::hover()));
                        if r.hovered() {
                            hovered = Some((s, k));
                        }
                        for claim in &sentence.claims {
                            let colour = match claim.status {
                                ClaimStatus::Contradicted => CONTRADICTED,
                                ClaimStatus::Supported => SUPPORTED,
                                ClaimStatus::Uncheckable => ui.visuals().weak_text_color(),
                            };
                            ui.label(
                                RichText::new(format!("verifier: {}", claim_finding(claim)))
                                    .small()
                                    .color(colour),
                            );
                        }
                    }
                });
        }
        hovered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecgr1_engine::verify::claims::ClaimKind;
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;

    fn claim(text: &str, status: ClaimStatus) -> CheckedClaim {
        CheckedClaim {
            text: text.into(),
            kind: ClaimKind::QrsDuration,
            status,
            measured: Some("QRS 92 ms".into()),
            expected: Some("≥ 120 ms for a wide QRS".into()),
            leads: Vec::new(),
        }
    }

    #[test]
    fn sentences_split_at_stops_but_not_at_decimal_points() {
        assert_eq!(
            split_sentences("Rate 72 bpm. P(yes) = 0.86 here!\nNext line? yes"),
            vec!["Rate 72 bpm.", "P(yes) = 0.86 here!", "Next line?", "yes"]
        );
        assert!(split_sentences("  \n ").is_empty());
    }

    #[test]
    fn claims_attach_to_the_sentence_they_came_from_once() {
        let steps = vec![TraceStep {
            title: "Conduction".into(),
            text: "The QRS is wide at 130 ms. Axis normal. The QRS is wide at 130 ms.".into(),
            evidence: Vec::new(),
        }];
        let claims = vec![claim("QRS is wide at 130 ms", ClaimStatus::Contradicted)];
        let view = build_steps(&steps, &claims);
        assert_eq!(view[0].sentences.len(), 3);
        assert_eq!(view[0].sentences[0].claims.len(), 1);
        assert!(view[0].sentences[1].claims.is_empty());
        assert!(view[0].sentences[2].claims.is_empty());
        assert_eq!(view[0].number, 1);
        let elsewhere = claim("rate is 150 bpm", ClaimStatus::Supported);
        let all = [claims[0].clone(), elsewhere.clone()];
        assert_eq!(unplaced_claims(&view, &all), vec![elsewhere]);
    }

    #[test]
    fn contradicted_claims_are_shown_next_to_their_sentence_and_in_the_heading() {
        let steps = build_steps(
            &[TraceStep {
                title: "Conduction, Axis & Intervals".into(),
                text: "The QRS is wide at 130 ms.".into(),
                evidence: Vec::new(),
            }],
            &[claim("QRS is wide at 130 ms", ClaimStatus::Contradicted)],
        );
        let harness = Harness::new_ui(|ui| {
            TraceView::new(&steps, "t").streaming(true).show(ui);
        });
        assert!(
            harness
                .query_by_label_contains(
                    "Step 1: Conduction, Axis & Intervals (writing…) - 1 contradicted"
                )
                .is_some()
        );
        harness.get_by_label("The QRS is wide at 130 ms.");
        assert!(
            harness
                .query_by_label_contains(
                    "contradicted (qrs_duration): measured QRS 92 ms, expected ≥ 120 ms"
                )
                .is_some()
        );
    }
}
