//! P(yes) from a server's log-probabilities: the token after `<answer>` is found in the
//! per-token entries, and the probabilities of its top alternatives that are "yes" or "no"
//! variants ([`yes_no_word`], the local engine's rule) are summed and normalised. A server
//! lists only its top k tokens, so a variant outside them is unseen: when neither word is
//! listed P(yes) is unknown, and when only one is, the other's mass is taken as the smallest
//! listed probability and the report says P(yes) is an estimate — never 0 or 1.

use ecgr1_engine::model::yes_no_word;
use ecgr1_engine::report::AnswerScore;

use crate::openai::wire::{TokenLogprob, TopLogprob};

/// The index of the token right after the first `<answer>`: the smallest `k` such that the
/// first `k` tokens' bytes contain the tag. `None` when the tag never appears; `Some(len)`
/// when it ends the output (the next position was never generated).
pub fn answer_position(entries: &[TokenLogprob], tag: &str) -> Option<usize> {
    let mut bytes = Vec::new();
    let tag = tag.as_bytes();
    for (k, e) in entries.iter().enumerate() {
        bytes.extend(e.raw_bytes());
        if contains(&bytes, tag) {
            return Some(k + 1);
        }
    }
    None
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// What the top log-probabilities at the answer token say.
#[derive(Clone, Debug, PartialEq)]
pub enum TopScore {
    /// Both words are listed.
    Listed(AnswerScore),
    /// Only one word is listed; the other is given the smallest listed probability.
    Estimated { score: AnswerScore, note: String },
    /// Neither word is listed.
    Unknown(String),
}

/// Sums the yes and no variants among `top` (the alternatives at the answer token).
pub fn score_top(top: &[TopLogprob]) -> TopScore {
    let (mut yes, mut no) = (0.0f64, 0.0f64);
    let (mut yes_seen, mut no_seen) = (false, false);
    for t in top {
        let p = t.logprob.exp();
        if !p.is_finite() {
            continue;
        }
        match yes_no_word(&t.text()) {
            Some(true) => {
                yes += p;
                yes_seen = true;
            }
            Some(false) => {
                no += p;
                no_seen = true;
            }
            None => {}
        }
    }
    let k = top.len();
    let smallest = top
        .iter()
        .map(|t| t.logprob.exp())
        .filter(|p| p.is_finite())
        .fold(f64::INFINITY, f64::min);
    let unknown = || {
        TopScore::Unknown(format!(
            "neither a \"yes\" nor a \"no\" token is among the server's top {k} log-probabilities at the answer token, so P(yes) is not known"
        ))
    };
    match (yes_seen, no_seen) {
        (true, true) => AnswerScore::from_masses(yes, no).map_or_else(unknown, TopScore::Listed),
        (true, false) | (false, true) if smallest.is_finite() => {
            let (missing, y, n) = if yes_seen {
                ("no", yes, smallest)
            } else {
                ("yes", smallest, no)
            };
            match AnswerScore::from_masses(y, n) {
                Some(score) => TopScore::Estimated {
                    score,
                    note: format!(
                        "no \"{missing}\" token is among the server's top {k} log-probabilities at the answer token: P(yes) = {:.4} is an estimate that gives \"{missing}\" the smallest listed probability ({smallest:.2e})",
                        score.p_yes
                    ),
                },
                None => unknown(),
            }
        }
        _ => unknown(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top(list: &[(&str, f64)]) -> Vec<TopLogprob> {
        list.iter()
            .map(|(t, p)| TopLogprob {
                token: (*t).to_string(),
                logprob: p.ln(),
                bytes: None,
            })
            .collect()
    }

    fn entry(t: &str) -> TokenLogprob {
        TokenLogprob {
            token: t.into(),
            logprob: -1.0,
            bytes: None,
            top_logprobs: Vec::new(),
        }
    }

    #[test]
    fn sums_every_variant_like_the_local_engine() {
        let s = score_top(&top(&[
            (" Yes", 0.5),
            ("yes", 0.1),
            ("No", 0.2),
            ("maybe", 0.1),
        ]));
        let TopScore::Listed(s) = s else {
            panic!("{s:?}")
        };
        assert!((s.p_yes - 0.75).abs() < 1e-12);
        assert!((s.yes_mass - 0.6).abs() < 1e-12);
    }

    #[test]
    fn never_reports_zero_or_one() {
        match score_top(&top(&[("maybe", 0.5), ("x", 0.2)])) {
            TopScore::Unknown(m) => assert!(m.contains("top 2"), "{m}"),
            other => panic!("{other:?}"),
        }
        match score_top(&top(&[("yes", 0.9), ("x", 0.01)])) {
            TopScore::Estimated { score, note } => {
                assert!(score.p_yes < 1.0 && score.p_yes > 0.98, "{score:?}");
                assert!(note.contains("no \"no\" token"), "{note}");
            }
            other => panic!("{other:?}"),
        }
        match score_top(&top(&[("No", 0.9), ("x", 0.01)])) {
            TopScore::Estimated { score, .. } => assert!(score.p_yes > 0.0 && score.p_yes < 0.02),
            other => panic!("{other:?}"),
        }
        assert!(matches!(score_top(&[]), TopScore::Unknown(_)));
    }

    #[test]
    fn finds_the_token_after_the_tag_across_pieces() {
        let e: Vec<_> = ["<think>", "x</think>", "<ans", "wer>", "yes"]
            .iter()
            .map(|t| entry(t))
            .collect();
        assert_eq!(answer_position(&e, "<answer>"), Some(4));
        assert_eq!(answer_position(&e[..4], "<answer>"), Some(4));
        assert_eq!(answer_position(&e[..3], "<answer>"), None);
    }
}
