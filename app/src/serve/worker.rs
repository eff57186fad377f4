//! The model worker: one thread that owns the loaded model and serves queued requests one at a
//! time, each in its own session (its own KV cache), so concurrent clients never share state.
//! It streams each token's text and log-probabilities back to the request's connection and
//! stops before the next token once that connection is gone.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};

use ecgr1_engine::model::decoder::Session;
use ecgr1_engine::model::generate::{
    GenerationEvent, StopReason, TextStreamer, TokenStepper, generate, log_softmax, top_k_logprobs,
};
use ecgr1_engine::model::{ChatPrompt, LocalModelEngine, ModelError, PromptInput};
use tokio::sync::mpsc::UnboundedSender;

use super::request::JobSpec;
use crate::openai::wire::{TokenLogprob, TopLogprob};

/// What the worker sends back for one request.
#[derive(Clone, Debug, PartialEq)]
pub enum JobEvent {
    /// Text of one token (may be empty inside a multi-byte character) and, when asked for, its
    /// log-probability with the alternatives.
    Token {
        text: String,
        logprob: Option<TokenLogprob>,
    },
    Finished {
        /// "stop" or "length".
        reason: &'static str,
        prompt_tokens: usize,
        completion_tokens: usize,
    },
    /// The request could not be run; `client_error` marks a problem with its input (400).
    Failed { message: String, client_error: bool },
}

/// One queued request.
pub struct Job {
    pub spec: JobSpec,
    pub events: UnboundedSender<JobEvent>,
    /// Set when the client's connection closes.
    pub cancel: Arc<AtomicBool>,
}

/// The token ids the server generated for a prompt, so a request continuing that answer is fed
/// exactly those ids (re-tokenising the text can split it differently, and the distribution
/// after it would then differ from the one the answer was written with).
#[derive(Debug, Default)]
pub struct Continuations {
    entries: VecDeque<(Vec<u32>, String, Vec<u32>)>,
}

impl Continuations {
    const KEEP: usize = 64;

    pub fn remember(&mut self, prompt: Vec<u32>, text: String, tokens: Vec<u32>) {
        if self.entries.len() == Self::KEEP {
            self.entries.pop_front();
        }
        self.entries.push_back((prompt, text, tokens));
    }

    /// The ids of `content` after `prompt`: the generated ids of the longest remembered answer
    /// it starts with, then the tokenised rest.
    pub fn tokens_for(
        &self,
        prompt: &[u32],
        content: &str,
        chat: &ChatPrompt,
    ) -> Result<Vec<u32>, ModelError> {
        let best = self
            .entries
            .iter()
            .filter(|(p, text, _)| p.as_slice() == prompt && content.starts_with(text.as_str()))
            .max_by_key(|(_, text, _)| text.len());
        let (mut ids, rest) = match best {
            Some((_, text, tokens)) => (tokens.clone(), &content[text.len()..]),
            None => (Vec::new(), content),
        };
        if !rest.is_empty() {
            ids.extend(chat.encode_text(rest)?);
        }
        Ok(ids)
    }
}

/// Records the logits of every step so each token's log-probabilities can be reported.
struct RecordingStepper<'a, 'm> {
    session: &'a mut Session<'m>,
    last: &'a RefCell<Vec<f32>>,
}

impl TokenStepper for RecordingStepper<'_, '_> {
    fn feed(&mut self, ids: &[u32]) -> Result<Vec<f32>, ModelError> {
        let logits = self.session.feed(ids)?;
        self.last.borrow_mut().clone_from(&logits);
        Ok(logits)
    }
}

fn token_logprob(chat: &ChatPrompt, logits: &[f32], id: u32, k: usize) -> TokenLogprob {
    let piece = |id: u32| chat.tokenizer().decode(&[id], false).unwrap_or_default();
    let lp = log_softmax(logits);
    TokenLogprob {
        token: piece(id),
        logprob: lp.get(id as usize).copied().unwrap_or(f64::NEG_INFINITY),
        bytes: Some(piece(id).into_bytes()),
        top_logprobs: top_k_logprobs(logits, k)
            .into_iter()
            .map(|(t, logprob)| TopLogprob {
                token: piece(t),
                logprob,
                bytes: Some(piece(t).into_bytes()),
            })
            .collect(),
    }
}

fn is_client_error(e: &ModelError) -> bool {
    matches!(
        e,
        ModelError::Image(_) | ModelError::Signal(_) | ModelError::EcgTower(_)
    )
}

/// Runs one job to its end; returns `Err` only for failures to report to the client.
fn execute(
    engine: &mut LocalModelEngine,
    continuations: &mut Continuations,
    job: &Job,
) -> Result<(), ModelError> {
    let spec = &job.spec;
    let mut params = engine.generation_params_mut().clone();
    params.max_new_tokens = spec.max_tokens;
    params.temperature = spec.temperature;
    params.top_p = spec.top_p;
    params.seed = spec.seed;
    if let (Some(signal), Some(tower)) = (&spec.signal, engine.model().ecg_tower())
        && (signal.leads != tower.leads || signal.samples != tower.samples())
    {
        return Err(ModelError::Signal(format!(
            "the served model's ECG tower takes {} leads × {} samples, the ecg part holds {} × {}",
            tower.leads,
            tower.samples(),
            signal.leads,
            signal.samples
        )));
    }
    let processed = spec
        .image
        .as_ref()
        .map(|i| engine.preprocess(i))
        .transpose()?;
    let ecg_tokens = if spec.signal.is_some() {
        engine.ecg_tokens()
    } else {
        0
    };
    let input = PromptInput {
        system: spec.system.as_deref(),
        notes: "",
        question: &spec.text,
        with_image: processed.is_some(),
        ecg_tokens,
    };
    let (_, prompt) = engine.prompt_ids(&input, processed.as_ref())?;
    let chat = engine.chat();
    let mut ids = prompt.clone();
    if let Some(c) = &spec.continuation {
        ids.extend(continuations.tokens_for(&prompt, c, chat)?);
    }
    let images: Vec<_> = processed.into_iter().collect();
    let (mut session, first_logits) =
        engine
            .model()
            .prefill_with_ecg(&ids, &images, spec.signal.as_ref())?;
    let last = RefCell::new(first_logits.clone());
    let mut stepper = RecordingStepper {
        session: &mut session,
        last: &last,
    };
    let (text_tx, text_rx) = mpsc::channel::<GenerationEvent>();
    let decode = |t: &[u32]| chat.decode(t);
    let mut streamer = TextStreamer::new(&decode, Some(&text_tx));
    let mut sent = String::new();
    let out = generate(
        &mut stepper,
        first_logits,
        &ids,
        &params,
        Some(&job.cancel),
        &mut |id| {
            streamer.push(id);
            let text: String = text_rx
                .try_iter()
                .filter_map(|e| match e {
                    GenerationEvent::Token { text, .. } => Some(text),
                    GenerationEvent::Finished(_) => None,
                })
                .collect();
            sent.push_str(&text);
            let logprob = spec
                .top_logprobs
                .map(|k| token_logprob(chat, &last.borrow(), id, k));
            if job.events.send(JobEvent::Token { text, logprob }).is_err() {
                // The connection is gone: stop before the next token.
                job.cancel.store(true, Ordering::Relaxed);
            }
        },
    )?;
    let text = chat.decode(&out.tokens)?;
    // Characters still incomplete at the last token were held back by the streamer.
    if let Some(rest) = text.strip_prefix(sent.as_str())
        && !rest.is_empty()
    {
        let _ = job.events.send(JobEvent::Token {
            text: rest.to_string(),
            logprob: None,
        });
    }
    let mut answered = spec.continuation.clone().unwrap_or_default();
    answered.push_str(&text);
    let mut answered_ids = ids[prompt.len()..].to_vec();
    answered_ids.extend(&out.tokens);
    continuations.remember(prompt.clone(), answered, answered_ids);
    let _ = job.events.send(JobEvent::Finished {
        reason: match out.reason {
            StopReason::Stop => "stop",
            StopReason::MaxTokens => "length",
        },
        prompt_tokens: ids.len(),
        completion_tokens: out.tokens.len(),
    });
    Ok(())
}

/// Serves `queue` until every sender is gone. `waiting` counts the jobs not started yet.
pub fn serve_queue(mut engine: LocalModelEngine, queue: &Receiver<Job>, waiting: &AtomicUsize) {
    let mut continuations = Continuations::default();
    for job in queue {
        waiting.fetch_sub(1, Ordering::Relaxed);
        if job.cancel.load(Ordering::Relaxed) || job.events.is_closed() {
            continue;
        }
        match execute(&mut engine, &mut continuations, &job) {
            Ok(()) | Err(ModelError::Cancelled) => {}
            Err(e) => {
                let _ = job.events.send(JobEvent::Failed {
                    client_error: is_client_error(&e),
                    message: e.to_string(),
                });
            }
        }
    }
}
