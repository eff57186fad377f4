//! Reading a streamed chat completion (server-sent events): each `data:` event is a chunk whose
//! text goes to the live trace as it comes and whose log-probabilities are kept; `[DONE]` ends
//! the stream. The body is read on a helper thread so a cancel takes effect at once, whatever
//! the server is doing; dropping the answer closes the connection, which is how an
//! OpenAI-compatible server learns the request was cancelled.

use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use ecgr1_engine::model::generate::GenerationEvent;
use serde_json::Value;

use super::RemoteError;
use crate::openai::wire::{ChatChunk, ErrorBody, TokenLogprob, Usage};

/// The most a streamed answer may hold (2048 tokens with 20 alternatives each is about 3 MB).
const STREAM_LIMIT_BYTES: u64 = 256 << 20;

/// Token id sent with streamed text from a server, which does not say which ids it chose.
pub const UNKNOWN_TOKEN_ID: u32 = u32::MAX;

/// What a finished stream held.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Streamed {
    pub text: String,
    /// One entry per generated token, when the server sent log-probabilities.
    pub logprobs: Vec<TokenLogprob>,
    pub finish_reason: Option<String>,
    pub model: Option<String>,
    pub system_fingerprint: Option<String>,
    pub usage: Option<Usage>,
    /// Chunks that carried text (a token count for servers that send no log-probabilities).
    pub text_chunks: usize,
    pub first_token_ms: Option<f64>,
}

enum Line {
    Text(String),
    Failed(String),
    End,
}

/// Reads the event stream of `body` to its end. Text is sent to `sink` as it arrives;
/// `cancel` is checked every few milliseconds. `server` names the server in errors.
pub fn read_stream(
    body: impl Read + Send + 'static,
    server: &str,
    read_timeout: Duration,
    sink: Option<&Sender<GenerationEvent>>,
    cancel: &AtomicBool,
) -> Result<Streamed, RemoteError> {
    let (tx, rx) = mpsc::sync_channel::<Line>(64);
    std::thread::spawn(move || {
        let mut reader = BufReader::new(body.take(STREAM_LIMIT_BYTES));
        loop {
            let mut line = String::new();
            let item = match reader.read_line(&mut line) {
                Ok(0) => Line::End,
                Ok(_) => Line::Text(line),
                Err(e) => Line::Failed(e.to_string()),
            };
            let last = !matches!(item, Line::Text(_));
            // The receiver is gone after a cancel or an error: returning drops the body,
            // which closes the connection.
            if tx.send(item).is_err() || last {
                return;
            }
        }
    });
    let started = Instant::now();
    let mut out = Streamed::default();
    let mut data = String::new();
    let mut done = false;
    let mut last_line = Instant::now();
    let protocol = |problem: String| RemoteError::Protocol {
        server: server.to_string(),
        problem,
    };
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(RemoteError::Cancelled);
        }
        let line = match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(l) => l,
            Err(RecvTimeoutError::Timeout) => {
                if last_line.elapsed() > read_timeout {
                    return Err(RemoteError::Timeout {
                        server: server.to_string(),
                        seconds: read_timeout.as_secs_f64(),
                        when: if out.text.is_empty() {
                            "before its answer began"
                        } else {
                            "in the middle of its answer (not sent again)"
                        },
                    });
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => Line::End,
        };
        last_line = Instant::now();
        match line {
            Line::Failed(e) => {
                return Err(RemoteError::Truncated {
                    server: server.to_string(),
                    problem: format!("the connection failed mid-answer: {e}"),
                    text_so_far: out.text.chars().count(),
                });
            }
            Line::End => break,
            Line::Text(l) => {
                let l = l.trim_end_matches(['\r', '\n']);
                if l.is_empty() {
                    if !data.is_empty() {
                        let event = std::mem::take(&mut data);
                        if event.trim() == "[DONE]" {
                            done = true;
                            break;
                        }
                        take_chunk(&event, &mut out, sink, started).map_err(protocol)?;
                    }
                } else if let Some(rest) = l.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
                }
                // `event:`, `id:`, `retry:` and `:` comments carry nothing for a chat answer.
            }
        }
    }
    // A last event without its blank line.
    if !done && !data.is_empty() {
        if data.trim() == "[DONE]" {
            done = true;
        } else {
            take_chunk(&data, &mut out, sink, started).map_err(protocol)?;
        }
    }
    if out.finish_reason.is_none() {
        return Err(RemoteError::Truncated {
            server: server.to_string(),
            problem: if done {
                "the stream ended ([DONE]) without saying why the answer finished (no finish_reason)".into()
            } else {
                "the stream ended before the answer was finished (no finish_reason, no [DONE])"
                    .into()
            },
            text_so_far: out.text.chars().count(),
        });
    }
    Ok(out)
}

fn take_chunk(
    event: &str,
    out: &mut Streamed,
    sink: Option<&Sender<GenerationEvent>>,
    started: Instant,
) -> Result<(), String> {
    let value: Value = serde_json::from_str(event).map_err(|e| {
        format!(
            "a streamed event is not JSON ({e}): {}",
            event.chars().take(200).collect::<String>()
        )
    })?;
    if value.get("error").is_some() {
        return Err(format!(
            "the server reported an error mid-answer: {}",
            ErrorBody::message_of(event)
        ));
    }
    let chunk: ChatChunk = serde_json::from_value(value)
        .map_err(|e| format!("a streamed chunk is not a chat.completion.chunk: {e}"))?;
    if !chunk.model.is_empty() {
        out.model = Some(chunk.model.clone());
    }
    if chunk.system_fingerprint.is_some() {
        out.system_fingerprint.clone_from(&chunk.system_fingerprint);
    }
    if chunk.usage.is_some() {
        out.usage = chunk.usage;
    }
    for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
        if let Some(text) = choice.delta.content
            && !text.is_empty()
        {
            out.first_token_ms
                .get_or_insert_with(|| started.elapsed().as_secs_f64() * 1000.0);
            out.text.push_str(&text);
            out.text_chunks += 1;
            if let Some(s) = sink {
                let _ = s.send(GenerationEvent::Token {
                    id: UNKNOWN_TOKEN_ID,
                    text,
                });
            }
        }
        if let Some(content) = choice.logprobs.and_then(|l| l.content) {
            out.logprobs.extend(content);
        }
        if let Some(reason) = choice.finish_reason {
            out.finish_reason = Some(reason);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str) -> Result<Streamed, RemoteError> {
        read_stream(
            std::io::Cursor::new(body.as_bytes().to_vec()),
            "http://127.0.0.1:9",
            Duration::from_secs(5),
            None,
            &AtomicBool::new(false),
        )
    }

    const CHUNK_A: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"<think>"},"logprobs":{"content":[{"token":"<think>","logprob":-0.1,"top_logprobs":[]}]},"finish_reason":null}]}"#;
    const CHUNK_END: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"length"}]}"#;

    #[test]
    fn reads_text_logprobs_and_the_end() {
        let (tx, rx) = mpsc::channel();
        let body =
            format!("data: {CHUNK_A}\n\n: keep-alive\n\ndata: {CHUNK_END}\n\ndata: [DONE]\n\n");
        let s = read_stream(
            std::io::Cursor::new(body.into_bytes()),
            "x",
            Duration::from_secs(5),
            Some(&tx),
            &AtomicBool::new(false),
        )
        .unwrap();
        assert_eq!(s.text, "<think>ok");
        assert_eq!(s.logprobs.len(), 1);
        assert_eq!(s.finish_reason.as_deref(), Some("length"));
        assert_eq!(s.model.as_deref(), Some("m"));
        let streamed: Vec<_> = rx.try_iter().collect();
        assert_eq!(streamed.len(), 2);
    }

    #[test]
    fn a_cut_stream_and_bad_json_are_named() {
        let e = read(&format!("data: {CHUNK_A}\n\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("before the answer was finished"), "{e}");
        assert!(e.contains("127.0.0.1:9"), "{e}");
        let e = read("data: {not json\n\n").unwrap_err().to_string();
        assert!(e.contains("not JSON"), "{e}");
        let e = read("data: {\"choices\": 3}\n\n").unwrap_err().to_string();
        assert!(e.contains("not a chat.completion.chunk"), "{e}");
        let e = read("data: {\"error\":{\"message\":\"GPU fell over\"}}\n\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("GPU fell over"), "{e}");
    }

    #[test]
    fn cancelling_stops_reading_at_once() {
        // A body that never ends.
        struct Endless;
        impl Read for Endless {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                std::thread::sleep(Duration::from_secs(30));
                Ok(0)
            }
        }
        let cancel = AtomicBool::new(true);
        let started = Instant::now();
        let r = read_stream(Endless, "x", Duration::from_mins(1), None, &cancel);
        assert!(matches!(r, Err(RemoteError::Cancelled)));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
