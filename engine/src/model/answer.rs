//! The answer: P(yes) from the softmax at the answer position, and a minimal parse of the
//! `<think>…</think><answer>…</answer>` output.
//!
//! Integration note: the full trace parser (six steps, summary, labels) is `crate::trace` on
//! another branch; [`parse_output`] here only extracts what the local engine needs (think text,
//! answer, problems) and should be replaced by the shared parser when the branches meet.

use super::generate::softmax;
use crate::report::{AnswerScore, Task, TraceStep};

/// Which answer word a token's text is: "yes" or "no" in any case, with or without one leading
/// space. The one rule both the local engine (over the vocabulary) and the remote engine (over
/// a server's top log-probabilities) sum P(yes) by.
pub fn yes_no_word(token: &str) -> Option<bool> {
    let s = token.strip_prefix(' ').unwrap_or(token).to_lowercase();
    match s.as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// The answer labels of a parsed output: TWI's one lower-cased word, or the interpretation's
/// `;`-separated labels.
pub fn answer_labels(answer: Option<&str>, task: Task) -> Vec<String> {
    match (answer, task) {
        (Some(a), Task::Twi) => vec![a.to_lowercase()],
        (Some(a), Task::Interpret) => a
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        (None, _) => Vec::new(),
    }
}

/// The trace steps of a model's output: ECG-R1-8B writes six headed steps (parsed by the
/// shared trace parser, like every engine's output); the 2B TWI model writes free reasoning,
/// kept as one step.
pub fn trace_steps(text: &str, think: Option<&str>) -> Vec<TraceStep> {
    let shared = crate::trace::parse(text);
    if shared.steps.is_empty() {
        think
            .iter()
            .map(|t| TraceStep {
                title: "Reasoning".into(),
                text: (*t).to_string(),
                evidence: Vec::new(),
            })
            .collect()
    } else {
        shared.steps
    }
}

/// Every vocabulary id that decodes to "yes" or "no" (any case, with or without one leading
/// space).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct YesNoTokens {
    pub yes: Vec<u32>,
    pub no: Vec<u32>,
}

impl YesNoTokens {
    /// Scans the vocabulary with `decode` (one id at a time).
    pub fn scan(vocab_size: usize, decode: &dyn Fn(u32) -> Option<String>) -> Self {
        let mut out = Self::default();
        for id in 0..vocab_size as u32 {
            let Some(s) = decode(id) else { continue };
            match yes_no_word(&s) {
                Some(true) => out.yes.push(id),
                Some(false) => out.no.push(id),
                None => {}
            }
        }
        out
    }

    /// Raw yes/no probability masses of the full-vocabulary softmax of `logits`, normalised into
    /// P(yes). `None` when neither word has any mass (or the vocabulary has neither).
    pub fn score(&self, logits: &[f32]) -> Option<AnswerScore> {
        let p = softmax(logits);
        let mass = |ids: &[u32]| ids.iter().filter_map(|&i| p.get(i as usize)).sum::<f64>();
        AnswerScore::from_masses(mass(&self.yes), mass(&self.no))
    }
}

/// What [`parse_output`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AnswerParse {
    pub think: Option<String>,
    /// Text between the think block and the answer (the narrative).
    pub summary: String,
    pub answer: Option<String>,
    /// Byte offset in the text right after the first `<answer>` tag.
    pub answer_offset: Option<usize>,
    pub issues: Vec<String>,
}

/// Extracts the think block and the answer, reporting malformed output (missing or repeated
/// tags, empty answer, truncation) as issues; never fails.
pub fn parse_output(text: &str, truncated: bool) -> AnswerParse {
    let mut out = AnswerParse::default();
    let count = |tag: &str| text.matches(tag).count();
    for tag in ["<think>", "</think>", "<answer>", "</answer>"] {
        if count(tag) > 1 {
            out.issues
                .push(format!("{tag} appears {} times", count(tag)));
        }
    }
    let think_end = text.find("</think>");
    match (text.find("<think>"), think_end) {
        (Some(a), Some(b)) if b > a => out.think = Some(text[a + 7..b].trim().to_string()),
        (Some(_), None) => out.issues.push("<think> is never closed".into()),
        (None, _) => out.issues.push("no <think> block".into()),
        _ => out.issues.push("</think> comes before <think>".into()),
    }
    let after_think = think_end.map_or(0, |b| b + "</think>".len());
    if let Some(a) = text.find("<answer>") {
        let start = a + "<answer>".len();
        out.answer_offset = Some(start);
        if a >= after_think {
            out.summary = text[after_think..a].trim().to_string();
        }
        if let Some(len) = text[start..].find("</answer>") {
            let ans = text[start..start + len].trim();
            if ans.is_empty() {
                out.issues.push("the answer is empty".into());
            } else {
                out.answer = Some(ans.to_string());
            }
        } else {
            out.issues.push("<answer> is never closed".into());
            let ans = text[start..].trim();
            if !ans.is_empty() {
                out.answer = Some(ans.to_string());
            }
        }
    } else {
        out.issues.push("no <answer>".into());
        out.summary = text[after_think.min(text.len())..].trim().to_string();
    }
    if truncated {
        out.issues
            .push("the output was cut off at the token limit".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_well_formed_answer() {
        let p = parse_output(
            "<think>T inversion V2-V4.</think>\nLikely ischemic.\n<answer>yes</answer>",
            false,
        );
        assert_eq!(p.think.as_deref(), Some("T inversion V2-V4."));
        assert_eq!(p.summary, "Likely ischemic.");
        assert_eq!(p.answer.as_deref(), Some("yes"));
        assert!(p.issues.is_empty(), "{:?}", p.issues);
    }

    #[test]
    fn reports_malformed_output() {
        let p = parse_output("<think>a</think><answer></answer>", false);
        assert!(p.issues.iter().any(|i| i.contains("empty")));
        let p = parse_output("<think>never closed", true);
        assert!(p.issues.iter().any(|i| i.contains("never closed")));
        assert!(p.issues.iter().any(|i| i.contains("no <answer>")));
        assert!(p.issues.iter().any(|i| i.contains("cut off")));
        let p = parse_output("<answer>yes</answer><answer>no</answer>", false);
        assert!(p.issues.iter().any(|i| i.contains("appears 2 times")));
        assert_eq!(p.answer.as_deref(), Some("yes"));
        let p = parse_output("", false);
        assert!(p.answer.is_none());
    }

    #[test]
    fn yes_no_tokens_cover_case_and_leading_space() {
        let vocab = ["yes", " Yes", "YES", "no", " No", "nope", "  yes", "y"];
        let t = YesNoTokens::scan(vocab.len(), &|i| {
            vocab.get(i as usize).map(|s| (*s).to_string())
        });
        assert_eq!(t.yes, vec![0, 1, 2]);
        assert_eq!(t.no, vec![3, 4]);
        let logits = [0.0f32, 0.0, 0.0, 0.0, 0.0, 5.0, 5.0, 5.0];
        let s = t.score(&logits).unwrap();
        assert!((s.p_yes - 0.6).abs() < 1e-12);
        assert!(s.yes_mass < 0.01);
    }
}
