//! Decoding: greedy or sampled (temperature, top-p, seed), repetition penalty, stop tokens, a
//! token budget, tokens streamed through a channel and cancellation checked before every token.
//! Model-agnostic: any [`TokenStepper`] (a sequence that takes tokens and returns next-token
//! logits) can be decoded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;

use super::ModelError;

/// A sequence in progress that can be extended by tokens.
pub trait TokenStepper {
    /// Feeds tokens; returns the logits for the token after them.
    fn feed(&mut self, ids: &[u32]) -> Result<Vec<f32>, ModelError>;
}

#[derive(Clone, Debug, PartialEq)]
pub struct GenerationParams {
    pub max_new_tokens: usize,
    /// 0 (or below) means greedy.
    pub temperature: f64,
    /// Nucleus sampling mass in (0, 1]; 1 disables it.
    pub top_p: f64,
    pub seed: u64,
    /// 1 disables it; > 1 discourages tokens already in the sequence (CTRL-style, as
    /// transformers applies it: positive logits divided, negative multiplied).
    pub repetition_penalty: f64,
    pub stop_token_ids: Vec<u32>,
}

impl Default for GenerationParams {
    /// ECG-R1's published setting: greedy, up to 2048 new tokens.
    fn default() -> Self {
        Self {
            max_new_tokens: 2048,
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
            repetition_penalty: 1.0,
            stop_token_ids: Vec::new(),
        }
    }
}

/// What the generator streams.
#[derive(Clone, Debug, PartialEq)]
pub enum GenerationEvent {
    /// A token and the text it adds (may be empty while a multi-byte character is incomplete).
    Token {
        id: u32,
        text: String,
    },
    Finished(StopReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// A stop token (end of turn or end of text) was produced.
    Stop,
    /// The token budget ran out (the output may be truncated).
    MaxTokens,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GenerationOutput {
    /// Generated tokens, without the stop token.
    pub tokens: Vec<u32>,
    pub stop_token: Option<u32>,
    pub reason: StopReason,
    /// Log-probability of each generated token under the (unmodified) model distribution.
    pub logprobs: Vec<f32>,
    /// Whether the last generated token was sampled but not yet fed to the model.
    pub last_token_pending: bool,
}

/// SplitMix64: small, seedable, and the same on every platform.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Log-softmax in f64 of f32 logits.
pub fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    let lse = max + sum.ln();
    logits.iter().map(|&l| l as f64 - lse).collect()
}

/// Softmax in f64.
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    log_softmax(logits).into_iter().map(f64::exp).collect()
}

/// The `k` most likely tokens with their log-probabilities, most likely first.
pub fn top_k_logprobs(logits: &[f32], k: usize) -> Vec<(u32, f64)> {
    let lp = log_softmax(logits);
    let mut idx: Vec<usize> = (0..lp.len()).collect();
    idx.sort_by(|&a, &b| lp[b].total_cmp(&lp[a]).then(a.cmp(&b)));
    idx.into_iter().take(k).map(|i| (i as u32, lp[i])).collect()
}

fn argmax(v: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u32
}

fn choose(logits: &[f32], history: &[u32], p: &GenerationParams, rng: &mut Rng) -> u32 {
    let mut l = logits.to_vec();
    if p.repetition_penalty != 1.0 && p.repetition_penalty > 0.0 {
        let pen = p.repetition_penalty as f32;
        let mut seen = std::collections::HashSet::new();
        for &t in history {
            if seen.insert(t)
                && let Some(x) = l.get_mut(t as usize)
            {
                *x = if *x > 0.0 { *x / pen } else { *x * pen };
            }
        }
    }
    if p.temperature <= 0.0 {
        return argmax(&l);
    }
    let scaled: Vec<f32> = l
        .iter()
        .map(|&x| (x as f64 / p.temperature) as f32)
        .collect();
    let probs = softmax(&scaled);
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    let top_p = if p.top_p > 0.0 && p.top_p < 1.0 {
        p.top_p
    } else {
        1.0
    };
    let mut kept = Vec::new();
    let mut mass = 0.0;
    for i in order {
        kept.push(i);
        mass += probs[i];
        if mass >= top_p {
            break;
        }
    }
    let r = rng.next_f64() * mass;
    let mut acc = 0.0;
    for &i in &kept {
        acc += probs[i];
        if r < acc {
            return i as u32;
        }
    }
    kept.last().copied().unwrap_or(0) as u32
}

/// Decodes from `first_logits` (the logits after the prompt). `history` is the prompt (for the
/// repetition penalty). `on_token` sees each token as it is chosen (streaming). Checks `cancel`
/// before every token.
pub fn generate(
    stepper: &mut dyn TokenStepper,
    first_logits: Vec<f32>,
    history: &[u32],
    params: &GenerationParams,
    cancel: Option<&AtomicBool>,
    on_token: &mut dyn FnMut(u32),
) -> Result<GenerationOutput, ModelError> {
    let mut rng = Rng(params.seed);
    let mut seq = history.to_vec();
    let mut logits = first_logits;
    let mut tokens = Vec::new();
    let mut logprobs = Vec::new();
    loop {
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(ModelError::Cancelled);
        }
        let next = choose(&logits, &seq, params, &mut rng);
        let lp = log_softmax(&logits);
        if params.stop_token_ids.contains(&next) {
            return Ok(GenerationOutput {
                tokens,
                stop_token: Some(next),
                reason: StopReason::Stop,
                logprobs,
                last_token_pending: false,
            });
        }
        tokens.push(next);
        logprobs.push(lp.get(next as usize).copied().unwrap_or(f64::NEG_INFINITY) as f32);
        seq.push(next);
        on_token(next);
        if tokens.len() >= params.max_new_tokens {
            return Ok(GenerationOutput {
                tokens,
                stop_token: None,
                reason: StopReason::MaxTokens,
                logprobs,
                last_token_pending: true,
            });
        }
        logits = stepper.feed(&[next])?;
    }
}

/// Streams decoded text: keeps the ids so far and sends the newly completed text of each token.
pub struct TextStreamer<'a> {
    decode: &'a dyn Fn(&[u32]) -> Result<String, ModelError>,
    ids: Vec<u32>,
    sent: String,
    sender: Option<&'a Sender<GenerationEvent>>,
}

impl<'a> TextStreamer<'a> {
    pub fn new(
        decode: &'a dyn Fn(&[u32]) -> Result<String, ModelError>,
        sender: Option<&'a Sender<GenerationEvent>>,
    ) -> Self {
        Self {
            decode,
            ids: Vec::new(),
            sent: String::new(),
            sender,
        }
    }

    pub fn push(&mut self, id: u32) {
        self.ids.push(id);
        let text = (self.decode)(&self.ids).unwrap_or_default();
        // Hold back an incomplete UTF-8 sequence (decoded as U+FFFD) until it completes.
        let delta = if text.ends_with('\u{FFFD}') || !text.starts_with(&self.sent) {
            String::new()
        } else {
            text[self.sent.len()..].to_string()
        };
        if !delta.is_empty() {
            self.sent.push_str(&delta);
        }
        if let Some(s) = self.sender {
            // A receiver that went away just stops listening; generation goes on.
            let _ = s.send(GenerationEvent::Token { id, text: delta });
        }
    }

    pub fn finish(&self, reason: StopReason) {
        if let Some(s) = self.sender {
            let _ = s.send(GenerationEvent::Finished(reason));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy model: the next token is always (last + 1) mod 5, with token 4 as a stop token.
    struct Counter {
        last: u32,
    }
    impl TokenStepper for Counter {
        fn feed(&mut self, ids: &[u32]) -> Result<Vec<f32>, ModelError> {
            self.last = *ids.last().unwrap();
            let mut l = vec![0.0f32; 5];
            l[((self.last + 1) % 5) as usize] = 10.0;
            Ok(l)
        }
    }

    #[test]
    fn greedy_stops_on_stop_token_and_budget() {
        let mut m = Counter { last: 0 };
        let first = m.feed(&[0]).unwrap();
        let p = GenerationParams {
            max_new_tokens: 10,
            stop_token_ids: vec![4],
            ..GenerationParams::default()
        };
        let mut seen = Vec::new();
        let out = generate(&mut m, first.clone(), &[0], &p, None, &mut |t| seen.push(t)).unwrap();
        assert_eq!(out.tokens, vec![1, 2, 3]);
        assert_eq!(out.reason, StopReason::Stop);
        assert_eq!(seen, vec![1, 2, 3]);
        let p2 = GenerationParams {
            max_new_tokens: 2,
            ..p
        };
        let out = generate(
            &mut Counter { last: 0 },
            first,
            &[0],
            &p2,
            None,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(out.tokens, vec![1, 2]);
        assert_eq!(out.reason, StopReason::MaxTokens);
        assert!(out.last_token_pending);
    }

    #[test]
    fn cancellation_is_seen_before_the_next_token() {
        let flag = AtomicBool::new(true);
        let mut m = Counter { last: 0 };
        let first = m.feed(&[0]).unwrap();
        let r = generate(
            &mut m,
            first,
            &[0],
            &GenerationParams::default(),
            Some(&flag),
            &mut |_| {},
        );
        assert!(matches!(r, Err(ModelError::Cancelled)));
    }

    #[test]
    fn cancelling_during_a_token_stops_before_the_next() {
        let flag = AtomicBool::new(false);
        let mut m = Counter { last: 0 };
        let first = m.feed(&[0]).unwrap();
        let mut seen = 0;
        let r = generate(
            &mut m,
            first,
            &[0],
            &GenerationParams::default(),
            Some(&flag),
            &mut |_| {
                seen += 1;
                if seen == 2 {
                    flag.store(true, Ordering::Relaxed);
                }
            },
        );
        assert!(matches!(r, Err(ModelError::Cancelled)));
        assert_eq!(seen, 2);
    }

    #[test]
    fn sampling_is_reproducible_by_seed_and_respects_top_p() {
        let logits = vec![1.0f32, 0.9, 0.8, -5.0];
        let p = GenerationParams {
            temperature: 1.0,
            top_p: 0.5,
            seed: 7,
            ..GenerationParams::default()
        };
        let picks: Vec<u32> = {
            let mut rng = Rng(p.seed);
            (0..50)
                .map(|_| choose(&logits, &[], &p, &mut rng))
                .collect()
        };
        let again: Vec<u32> = {
            let mut rng = Rng(p.seed);
            (0..50)
                .map(|_| choose(&logits, &[], &p, &mut rng))
                .collect()
        };
        assert_eq!(picks, again);
        // top-p 0.5 keeps the two most likely tokens only.
        assert!(picks.iter().all(|&t| t <= 1));
        assert!(picks.contains(&0) && picks.contains(&1));
    }

    #[test]
    fn repetition_penalty_demotes_seen_tokens() {
        let logits = vec![2.0f32, 1.9];
        let p = GenerationParams {
            repetition_penalty: 1.5,
            ..GenerationParams::default()
        };
        assert_eq!(choose(&logits, &[0], &p, &mut Rng(0)), 1);
        assert_eq!(choose(&logits, &[], &p, &mut Rng(0)), 0);
    }

    #[test]
    fn top_k_is_sorted_and_normalised() {
        let t = top_k_logprobs(&[0.0, 1.0, 2.0], 2);
        assert_eq!(t[0].0, 2);
        assert_eq!(t[1].0, 1);
        let total: f64 = log_softmax(&[0.0, 1.0, 2.0]).iter().map(|x| x.exp()).sum();
        assert!((total - 1.0).abs() < 1e-12);
    }
}
