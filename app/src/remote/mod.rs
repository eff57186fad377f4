//! The remote engine: an OpenAI-compatible inference server (vLLM, llama.cpp's server,
//! `ecgr1 serve`) behind the [`Engine`] trait. It sends the local engine's chat messages
//! ([`messages`]), streams the answer into the live trace ([`stream`]), reads P(yes) from the
//! server's log-probabilities at the answer token ([`score`]) and records the server's
//! identity (URL, model, revision, weights hash or "not reported") in every report.
//!
//! When the model wrote no `<answer>` (or the tag ends the output), P(yes) is read, as the
//! local engine does, after appending `<answer>`: a second request continues the answer with
//! vLLM's `continue_final_message` for one token.

pub mod http;
pub mod messages;
pub mod score;
pub mod stream;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::Instant;

use ecgr1_engine::model::engine::ANSWER_TAG;
use ecgr1_engine::model::generate::{GenerationEvent, StopReason};
use ecgr1_engine::model::{answer_labels, parse_output, trace_steps};
use ecgr1_engine::record::ModelSignal;
use ecgr1_engine::report::{
    Engine, EngineError, EngineIdentity, Report, Request, RiskBand, Task, Timings,
};

use crate::openai::EcgPart;
use crate::openai::wire::{
    ChatCompletion, ChatRequest, Message, MessageContent, ModelCard, ModelList, ServerModelInfo,
    StreamOptions,
};
use http::{HttpClient, HttpLimits};
use score::{TopScore, answer_position, score_top};

/// What the identity says where a server does not report something.
pub const NOT_REPORTED: &str = "not reported";
const CHAT_PATH: &str = "/v1/chat/completions";
const MODELS_PATH: &str = "/v1/models";

/// Everything that can go wrong talking to a server; each names the server.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("server URL '{url}' {problem}")]
    Url { url: String, problem: String },
    #[error("API key file {path}: {problem}")]
    KeyFile { path: String, problem: String },
    #[error(
        "cannot reach the inference server {server} ({path}) after {attempts} attempts: {problem}"
    )]
    Connect {
        server: String,
        path: String,
        attempts: u32,
        problem: String,
    },
    #[error("the inference server {server} answered {path} with HTTP {status}: {message}")]
    Status {
        server: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("the inference server {server} sent a malformed answer: {problem}")]
    Protocol { server: String, problem: String },
    #[error(
        "the inference server {server}'s answer was cut off ({text_so_far} characters received; nothing was stored and the request was not sent again): {problem}"
    )]
    Truncated {
        server: String,
        problem: String,
        text_so_far: usize,
    },
    #[error("the inference server {server} sent nothing for {seconds:.0} s {when}")]
    Timeout {
        server: String,
        seconds: f64,
        /// "before its answer began" or "in the middle of its answer (not sent again)".
        when: &'static str,
    },
    #[error("{0}")]
    Input(String),
    #[error("cancelled")]
    Cancelled,
}

impl From<RemoteError> for EngineError {
    fn from(e: RemoteError) -> Self {
        match e {
            RemoteError::Cancelled => Self::Cancelled,
            RemoteError::Input(m) => Self::Input(m),
            other => Self::Model(other.to_string()),
        }
    }
}

/// How to reach a server and what to ask it.
#[derive(Clone)]
pub struct RemoteOptions {
    pub server: String,
    /// The served model's name; `None` takes the server's only (or first) model.
    pub model: Option<String>,
    /// Read from a key file or `$ECGR1_API_KEY` ([`http::read_api_key`]); never stored.
    pub api_key: Option<String>,
    pub max_tokens: usize,
    /// Alternatives asked for at each token (OpenAI and vLLM allow at most 20 by default).
    pub top_logprobs: usize,
    pub limits: HttpLimits,
}

impl std::fmt::Debug for RemoteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteOptions")
            .field("server", &self.server)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("max_tokens", &self.max_tokens)
            .field("top_logprobs", &self.top_logprobs)
            .finish_non_exhaustive()
    }
}

impl RemoteOptions {
    pub fn new(server: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            model: None,
            api_key: None,
            max_tokens: 2048,
            top_logprobs: 20,
            limits: HttpLimits::default(),
        }
    }

    /// With the key read from `key_file`, else `$ECGR1_API_KEY`.
    pub fn with_key_from(mut self, key_file: Option<&Path>) -> Result<Self, RemoteError> {
        self.api_key = http::read_api_key(key_file)?;
        Ok(self)
    }
}

/// A connected server.
pub struct RemoteEngine {
    client: HttpClient,
    options: RemoteOptions,
    model: ModelCard,
    identity: EngineIdentity,
    stream: Option<Sender<GenerationEvent>>,
    cancel: Arc<AtomicBool>,
}

impl std::fmt::Debug for RemoteEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteEngine")
            .field("server", &self.client.root)
            .field("model", &self.model.id)
            .finish_non_exhaustive()
    }
}

/// The identity a report carries for a model on a server.
pub fn server_identity(root: &str, card: &ModelCard) -> EngineIdentity {
    let info = card.ecgr1.as_ref();
    let revision = info
        .and_then(|i| i.revision.clone())
        .unwrap_or_else(|| NOT_REPORTED.to_string());
    let weights = match info {
        Some(i) if !i.weights_sha256.is_empty() => i.weights_sha256.clone(),
        _ => vec![("weights".to_string(), NOT_REPORTED.to_string())],
    };
    EngineIdentity {
        name: "remote".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        family: info.map(|i| i.family.clone()),
        checkpoint: Some(format!(
            "{root} model {} (revision {revision}{})",
            card.id,
            card.root
                .as_deref()
                .map(|r| format!(", weights {r}"))
                .unwrap_or_default()
        )),
        weights_sha256: weights,
        device: format!(
            "remote {root} ({})",
            info.map_or(NOT_REPORTED, |i| i.device.as_str())
        ),
        dtype: info.map(|i| i.dtype.clone()),
    }
}

impl RemoteEngine {
    /// Asks the server which models it serves and picks `options.model` (or its only one).
    pub fn connect(options: RemoteOptions) -> Result<Self, RemoteError> {
        let client = HttpClient::new(&options.server, options.api_key.clone(), options.limits)?;
        let answer = client.get(MODELS_PATH, None)?;
        if answer.status != 200 {
            return Err(client.status_error(MODELS_PATH, answer));
        }
        let text = client.read_text(answer, 4 << 20)?;
        let list: ModelList = serde_json::from_str(&text).map_err(|e| RemoteError::Protocol {
            server: client.root.clone(),
            problem: format!("{MODELS_PATH} is not a model list ({e})"),
        })?;
        let card = match &options.model {
            Some(name) => list.data.iter().find(|m| &m.id == name).cloned().ok_or_else(|| {
                RemoteError::Input(format!(
                    "the inference server {} does not serve a model named '{name}' (it serves: {})",
                    client.root,
                    list.data.iter().map(|m| m.id.as_str()).collect::<Vec<_>>().join(", ")
                ))
            })?,
            None => list.data.first().cloned().ok_or_else(|| RemoteError::Protocol {
                server: client.root.clone(),
                problem: format!("{MODELS_PATH} lists no model"),
            })?,
        };
        let identity = server_identity(&client.root, &card);
        Ok(Self {
            client,
            options,
            model: card,
            identity,
            stream: None,
            cancel: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Streamed text is sent here as it arrives.
    pub fn set_stream(&mut self, sender: Option<Sender<GenerationEvent>>) {
        self.stream = sender;
    }

    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    /// What `ecgr1 serve` said about its model (`None` for other servers).
    pub fn server_info(&self) -> Option<&ServerModelInfo> {
        self.model.ecgr1.as_ref()
    }

    fn server_accepts_ecg(&self) -> bool {
        self.server_info().is_some_and(|i| i.accepts_ecg)
    }

    fn chat_request(&self, messages: Vec<Message>, task: Task) -> ChatRequest {
        let scores = task == Task::Twi;
        ChatRequest {
            model: Some(self.model.id.clone()),
            messages,
            max_tokens: Some(self.options.max_tokens),
            temperature: Some(0.0),
            logprobs: scores,
            top_logprobs: scores.then_some(self.options.top_logprobs),
            ..ChatRequest::default()
        }
    }

    /// The signal part and the notes on what was sent, or why the request cannot go.
    fn signal_part(
        &self,
        request: &Request<'_>,
        notes: &mut Vec<String>,
    ) -> Result<Option<EcgPart>, RemoteError> {
        if let Some(note) = request.digitised_signal_note() {
            notes.push(note.into());
        }
        let Some(record) = request.model_signal() else {
            return Ok(None);
        };
        if !self.server_accepts_ecg() {
            let why = match self.server_info() {
                Some(info) => format!(
                    "its model ({}) has no ECG tower",
                    info.family
                ),
                None => "the `ecg` content part is an ecgr1 serve extension that other OpenAI-compatible servers do not accept".into(),
            };
            if request.image.is_some() {
                notes.push(format!(
                    "the inference server {} does not take ECG signals ({why}): only the image was sent, not the signal",
                    self.client.root
                ));
                return Ok(None);
            }
            return Err(RemoteError::Input(format!(
                "the inference server {} does not take ECG signals ({why}); give an image of the ECG (--image), or use a server running `ecgr1 serve` with an ECG-R1 checkpoint",
                self.client.root
            )));
        }
        let signal = ModelSignal::from_record(record)
            .map_err(|e| RemoteError::Input(format!("ECG signal: {e}")))?;
        let tokens = self.server_info().map_or(0, |i| i.ecg_tokens);
        notes.push(format!(
            "signal sent to the server's ECG tower: {} leads (I, II, III, aVR, aVF, aVL, V1–V6) × {} samples at 500 Hz, mV ({tokens} ECG tokens)",
            signal.leads, signal.samples
        ));
        notes.extend(signal.notes.iter().map(|n| format!("signal: {n}")));
        EcgPart::from_signal(&signal)
            .map(Some)
            .map_err(|e| RemoteError::Input(e.to_string()))
    }

    /// The streamed answer to `body`.
    fn stream_answer(&self, body: &ChatRequest) -> Result<stream::Streamed, RemoteError> {
        let answer = self.client.post_json(CHAT_PATH, body, Some(&self.cancel))?;
        if answer.status != 200 {
            return Err(self.client.status_error(CHAT_PATH, answer));
        }
        stream::read_stream(
            answer.body.into_reader(),
            &self.client.root,
            self.client.limits().read,
            self.stream.as_ref(),
            &self.cancel,
        )
    }

    /// P(yes) after `messages` + the assistant's `text` (which ends with `<answer>`): one more
    /// token, continuing the answer.
    fn score_continuation(
        &self,
        mut messages: Vec<Message>,
        text: String,
    ) -> Result<TopScore, RemoteError> {
        messages.push(Message {
            role: "assistant".into(),
            content: MessageContent::Text(text),
        });
        let mut body = self.chat_request(messages, Task::Twi);
        body.max_tokens = Some(1);
        body.continue_final_message = true;
        body.add_generation_prompt = Some(false);
        let answer = self
            .client
            .post_json(CHAT_PATH, &body, Some(&self.cancel))?;
        if answer.status != 200 {
            return Err(self.client.status_error(CHAT_PATH, answer));
        }
        let text = self.client.read_text(answer, 16 << 20)?;
        let protocol = |problem: String| RemoteError::Protocol {
            server: self.client.root.clone(),
            problem,
        };
        let done: ChatCompletion = serde_json::from_str(&text)
            .map_err(|e| protocol(format!("the answer is not a chat.completion ({e})")))?;
        let first = done
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.logprobs)
            .and_then(|l| l.content)
            .and_then(|c| c.into_iter().next())
            .ok_or_else(|| {
                protocol(
                    "the answer to the P(yes) request carries no log-probabilities (the server must support logprobs and top_logprobs)".into(),
                )
            })?;
        Ok(score_top(&first.top_logprobs))
    }

    fn run_remote(&self, request: &Request<'_>) -> Result<Report, RemoteError> {
        let started = Instant::now();
        if request.record.is_none() && request.image.is_none() {
            return Err(RemoteError::Input(EngineError::NoInput.to_string()));
        }
        let mut input_notes = Vec::new();
        let ecg = self.signal_part(request, &mut input_notes)?;
        if let Some(image) = request.image {
            input_notes.push(format!(
                "image {}×{} sent as {}",
                image.width,
                image.height,
                messages::image_mime(&image.bytes)
            ));
        }
        let messages = messages::chat_messages(request.notes, request.task, request.image, ecg);
        let mut body = self.chat_request(messages.clone(), request.task);
        body.stream = true;
        body.stream_options = Some(StreamOptions {
            include_usage: true,
        });
        let decode_start = Instant::now();
        let streamed = self.stream_answer(&body)?;
        let decode_ms = decode_start.elapsed().as_secs_f64() * 1000.0;
        let truncated = streamed.finish_reason.as_deref() == Some("length");
        if let Some(s) = &self.stream {
            let _ = s.send(GenerationEvent::Finished(if truncated {
                StopReason::MaxTokens
            } else {
                StopReason::Stop
            }));
        }
        let text = streamed.text.clone();
        let parsed = parse_output(&text, truncated);
        let mut parse_issues = parsed.issues.clone();
        let score = if request.task == Task::Twi {
            if streamed.logprobs.is_empty() && !text.is_empty() {
                return Err(RemoteError::Protocol {
                    server: self.client.root.clone(),
                    problem: "the answer carries no log-probabilities, so P(yes) cannot be read (the server must support logprobs: true with top_logprobs)".into(),
                });
            }
            let top = match answer_position(&streamed.logprobs, ANSWER_TAG) {
                Some(k) if k < streamed.logprobs.len() => {
                    score_top(&streamed.logprobs[k].top_logprobs)
                }
                Some(_) => self.score_continuation(messages, text.clone())?,
                None => {
                    parse_issues.push(
                        "the model wrote no <answer>; P(yes) was read after appending <answer>"
                            .to_string(),
                    );
                    self.score_continuation(messages, format!("{text}{ANSWER_TAG}"))?
                }
            };
            match top {
                TopScore::Listed(s) => Some(s),
                TopScore::Estimated { score, note } => {
                    parse_issues.push(note);
                    Some(score)
                }
                TopScore::Unknown(why) => {
                    parse_issues.push(why);
                    None
                }
            }
        } else {
            None
        };
        let band = score.and_then(|s| RiskBand::from_p_yes(s.p_yes));
        let mut identity = self.identity.clone();
        if let Some(fp) = &streamed.system_fingerprint {
            identity.version = format!("{} (server {fp})", identity.version);
        }
        let generated = streamed
            .usage
            .as_ref()
            .map(|u| u.completion_tokens)
            .or((!streamed.logprobs.is_empty()).then_some(streamed.logprobs.len()))
            .unwrap_or(streamed.text_chunks);
        Ok(Report {
            engine: identity,
            task: request.task,
            steps: trace_steps(&text, parsed.think.as_deref()),
            summary: parsed.summary.clone(),
            answer: answer_labels(parsed.answer.as_deref(), request.task),
            raw_output: text,
            score,
            band,
            parse_issues,
            input_notes,
            timings: Timings {
                load_ms: None,
                prefill_ms: streamed.first_token_ms,
                decode_ms: Some(decode_ms),
                total_ms: started.elapsed().as_secs_f64() * 1000.0,
                generated_tokens: Some(generated),
            },
        })
    }
}

impl Engine for RemoteEngine {
    fn identity(&self) -> EngineIdentity {
        self.identity.clone()
    }

    fn run(&mut self, request: &Request<'_>) -> Result<Report, EngineError> {
        let result = self.run_remote(request);
        // A cancel applies to the run in progress (or about to start); clear it after.
        self.cancel.store(false, Ordering::Relaxed);
        result.map_err(EngineError::from)
    }
}
