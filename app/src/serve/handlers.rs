//! The HTTP side of `ecgr1 serve` (axum): `/health`, `/v1/models` and `/v1/chat/completions`
//! (whole or streamed as server-sent events). A request is queued for the model worker; a full
//! queue answers 429. Closing the connection drops the handler or the event stream, which sets
//! the job's cancel flag, and the worker stops before its next token.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream::{self, Stream};
use serde_json::json;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use super::request::{Limits, read_request};
use super::worker::{Job, JobEvent};
use crate::openai::wire::{
    AnswerMessage, ChatChunk, ChatCompletion, ChatRequest, ChoiceLogprobs, ChunkChoice,
    CompletionChoice, Delta, ErrorBody, ModelCard, ModelList, TokenLogprob, Usage,
};

/// What every handler shares.
pub struct AppState {
    pub card: ModelCard,
    pub limits: Limits,
    /// Accepted bearer keys; empty: no key needed.
    pub api_keys: Vec<String>,
    pub queue: SyncSender<Job>,
    pub waiting: Arc<AtomicUsize>,
    pub capacity: usize,
    pub fingerprint: String,
    pub next_id: AtomicU64,
}

fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    (status, Json(ErrorBody::new(message, kind, status.as_u16()))).into_response()
}

/// Compares without stopping at the first differing byte, so response times do not reveal how
/// much of a guessed key was right.
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// `Err` holds the 401 answer, boxed: a `Response` is too large to return by value in an `Err`.
fn authorised(state: &AppState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    if state.api_keys.is_empty() {
        return Ok(());
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(key) if state.api_keys.iter().any(|k| same_key(k, key)) => Ok(()),
        Some(_) => Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "the API key is not one this server accepts",
        ))),
        None => Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "this server needs an API key (Authorization: Bearer KEY)",
        ))),
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

// axum handlers are async by signature even when they do not wait for anything.
#[allow(clippy::unused_async)]
pub async fn health(State(state): State<Arc<AppState>>) -> Response {
    Json(json!({
        "status": "ok",
        "model": state.card.id,
        "queue_waiting": state.waiting.load(Ordering::Relaxed),
        "queue_capacity": state.capacity,
    }))
    .into_response()
}

#[allow(clippy::unused_async)]
pub async fn models(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorised(&state, &headers) {
        return *r;
    }
    Json(ModelList {
        object: "list".into(),
        data: vec![state.card.clone()],
    })
    .into_response()
}

/// Sets the job's cancel flag when dropped: with the handler's future or the event stream,
/// that is when the client's connection closes.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

pub async fn chat(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorised(&state, &headers) {
        return *r;
    }
    let request: ChatRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                format!("the request is not a chat completion request: {e}"),
            );
        }
    };
    let spec = match read_request(&request, &state.limits) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_request_error", e.0),
    };
    let (tx, rx) = unbounded_channel();
    let cancel = Arc::new(AtomicBool::new(false));
    let job = Job {
        spec,
        events: tx,
        cancel: Arc::clone(&cancel),
    };
    state.waiting.fetch_add(1, Ordering::Relaxed);
    match state.queue.try_send(job) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            state.waiting.fetch_sub(1, Ordering::Relaxed);
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                format!(
                    "the server's queue is full ({} requests waiting); try again shortly",
                    state.capacity
                ),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return r;
        }
        Err(TrySendError::Disconnected(_)) => {
            state.waiting.fetch_sub(1, Ordering::Relaxed);
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "the model worker has stopped",
            );
        }
    }
    let guard = CancelOnDrop(cancel);
    let id = format!(
        "chatcmpl-ecgr1-{}",
        state.next_id.fetch_add(1, Ordering::Relaxed)
    );
    if request.stream {
        let include_usage = request.stream_options.is_some_and(|o| o.include_usage);
        let events = sse_events(Arc::clone(&state), rx, guard, id, include_usage);
        Sse::new(events)
            .keep_alive(KeepAlive::default())
            .into_response()
    } else {
        whole_answer(&state, rx, guard, id).await
    }
}

async fn whole_answer(
    state: &AppState,
    mut rx: UnboundedReceiver<JobEvent>,
    guard: CancelOnDrop,
    id: String,
) -> Response {
    let mut text = String::new();
    let mut logprobs: Vec<TokenLogprob> = Vec::new();
    while let Some(event) = rx.recv().await {
        match event {
            JobEvent::Token { text: t, logprob } => {
                text.push_str(&t);
                logprobs.extend(logprob);
            }
            JobEvent::Finished {
                reason,
                prompt_tokens,
                completion_tokens,
            } => {
                drop(guard);
                return Json(ChatCompletion {
                    id,
                    object: "chat.completion".into(),
                    created: now_s(),
                    model: state.card.id.clone(),
                    system_fingerprint: Some(state.fingerprint.clone()),
                    choices: vec![CompletionChoice {
                        index: 0,
                        message: AnswerMessage {
                            role: "assistant".into(),
                            content: Some(text),
                        },
                        logprobs: (!logprobs.is_empty()).then_some(ChoiceLogprobs {
                            content: Some(logprobs),
                        }),
                        finish_reason: Some(reason.into()),
                    }],
                    usage: Some(Usage {
                        prompt_tokens,
                        completion_tokens,
                        total_tokens: prompt_tokens + completion_tokens,
                    }),
                })
                .into_response();
            }
            JobEvent::Failed {
                message,
                client_error,
            } => {
                return if client_error {
                    error(StatusCode::BAD_REQUEST, "invalid_request_error", message)
                } else {
                    error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
                };
            }
        }
    }
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "the model worker dropped the request",
    )
}

struct StreamState {
    app: Arc<AppState>,
    rx: UnboundedReceiver<JobEvent>,
    _guard: CancelOnDrop,
    id: String,
    created: u64,
    include_usage: bool,
    first: bool,
    finished: bool,
}

impl StreamState {
    fn chunk(
        &self,
        delta: Delta,
        logprobs: Option<TokenLogprob>,
        finish: Option<&str>,
    ) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.app.card.id.clone(),
            system_fingerprint: Some(self.app.fingerprint.clone()),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                logprobs: logprobs.map(|l| ChoiceLogprobs {
                    content: Some(vec![l]),
                }),
                finish_reason: finish.map(str::to_string),
            }],
            usage: None,
        }
    }
}

fn data(value: &impl serde::Serialize) -> Event {
    Event::default().data(serde_json::to_string(value).unwrap_or_else(|_| "{}".into()))
}

fn sse_events(
    app: Arc<AppState>,
    rx: UnboundedReceiver<JobEvent>,
    guard: CancelOnDrop,
    id: String,
    include_usage: bool,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let state = StreamState {
        app,
        rx,
        _guard: guard,
        id,
        created: now_s(),
        include_usage,
        first: true,
        finished: false,
    };
    stream::unfold(state, |mut st| async move {
        if st.finished {
            return None;
        }
        let role = if st.first {
            Some("assistant".to_string())
        } else {
            None
        };
        let events = match st.rx.recv().await {
            Some(JobEvent::Token { text, logprob }) => {
                st.first = false;
                vec![data(&st.chunk(
                    Delta {
                        role,
                        content: Some(text),
                    },
                    logprob,
                    None,
                ))]
            }
            Some(JobEvent::Finished {
                reason,
                prompt_tokens,
                completion_tokens,
            }) => {
                st.finished = true;
                let mut out = vec![data(&st.chunk(Delta::default(), None, Some(reason)))];
                if st.include_usage {
                    let mut usage = st.chunk(Delta::default(), None, None);
                    usage.choices.clear();
                    usage.usage = Some(Usage {
                        prompt_tokens,
                        completion_tokens,
                        total_tokens: prompt_tokens + completion_tokens,
                    });
                    out.push(data(&usage));
                }
                out.push(Event::default().data("[DONE]"));
                out
            }
            Some(JobEvent::Failed { message, .. }) => {
                // The answer has begun (the 200 and its headers are sent): the error goes in
                // the stream, as vLLM sends it, and the stream ends without [DONE].
                st.finished = true;
                vec![data(&ErrorBody::new(message, "server_error", 500))]
            }
            None => {
                st.finished = true;
                vec![data(&ErrorBody::new(
                    "the model worker dropped the request",
                    "server_error",
                    500,
                ))]
            }
        };
        Some((stream::iter(events.into_iter().map(Ok)), st))
    })
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_whole() {
        assert!(same_key("sk-abc", "sk-abc"));
        assert!(!same_key("sk-abc", "sk-abd"));
        assert!(!same_key("sk-abc", "sk-ab"));
    }
}
