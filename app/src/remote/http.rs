//! The remote engine's HTTP: one `ureq` agent (TLS through rustls) with connect and read
//! timeouts, the API key as a bearer token, and retries with backoff for failures where the
//! server cannot have started on the request (the connection could not be made, or the server
//! said its queue is full). A request whose answer has begun is never sent again.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::RemoteError;
use crate::openai::wire::ErrorBody;

/// The environment variable the API key is read from when no key file is given.
pub const API_KEY_ENV: &str = "ECGR1_API_KEY";

/// Reads the API key: the first non-empty, non-comment line of `file`, else `$ECGR1_API_KEY`,
/// else none. Never from the command line, and never written anywhere.
pub fn read_api_key(file: Option<&Path>) -> Result<Option<String>, RemoteError> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| RemoteError::KeyFile {
            path: path.display().to_string(),
            problem: e.to_string(),
        })?;
        let key = first_key_line(&text).ok_or_else(|| RemoteError::KeyFile {
            path: path.display().to_string(),
            problem: "holds no key (one key per line; lines starting with # are comments)".into(),
        })?;
        return Ok(Some(key));
    }
    Ok(std::env::var(API_KEY_ENV)
        .ok()
        .and_then(|v| first_key_line(&v)))
}

/// The first non-empty line not starting with `#`, trimmed.
pub fn first_key_line(text: &str) -> Option<String> {
    key_lines(text).next()
}

/// Every key in a key file: non-empty lines not starting with `#`, trimmed.
pub fn key_lines(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
}

/// Timeouts and retries of the client.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HttpLimits {
    pub connect: Duration,
    /// Longest wait for the response head, and then for each part of the body (the first token
    /// comes after the whole prompt has been read by the model, so this is generous).
    pub read: Duration,
    /// Further attempts after a connection failure or a full queue.
    pub retries: u32,
    /// The first pause between attempts; it doubles each time, up to 8 s.
    pub backoff: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            read: Duration::from_mins(5),
            retries: 3,
            backoff: Duration::from_millis(250),
        }
    }
}

/// The server's base and how to reach it.
pub struct HttpClient {
    agent: ureq::Agent,
    /// The server root, without a trailing `/` or `/v1`.
    pub root: String,
    api_key: Option<String>,
    limits: HttpLimits,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is never printed.
        f.debug_struct("HttpClient")
            .field("root", &self.root)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// An answer whose status and head have arrived; the body is read by the caller.
pub struct Answer {
    pub status: u16,
    pub body: ureq::Body,
}

/// Normalises a server URL: `http(s)://host[:port][/prefix]`, a trailing `/` or `/v1` dropped.
pub fn server_root(url: &str) -> Result<String, RemoteError> {
    let trimmed = url.trim().trim_end_matches('/');
    let root = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
    let uri: ureq::http::Uri = root.parse().map_err(|e| RemoteError::Url {
        url: url.to_string(),
        problem: format!("{e}"),
    })?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(RemoteError::Url {
                url: url.to_string(),
                problem: "must start with http:// or https://".into(),
            });
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(RemoteError::Url {
            url: url.to_string(),
            problem: "has no host".into(),
        });
    }
    Ok(root.to_string())
}

impl HttpClient {
    pub fn new(
        server: &str,
        api_key: Option<String>,
        limits: HttpLimits,
    ) -> Result<Self, RemoteError> {
        let root = server_root(server)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(limits.connect))
            .timeout_recv_response(Some(limits.read))
            .timeout_recv_body(None)
            .http_status_as_error(false)
            .user_agent(format!("ecgr1/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Self {
            agent,
            root,
            api_key,
            limits,
        })
    }

    pub fn limits(&self) -> HttpLimits {
        self.limits
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.root)
    }

    /// GET `path`, retried on connection failures.
    pub fn get(&self, path: &str, cancel: Option<&AtomicBool>) -> Result<Answer, RemoteError> {
        self.with_retries(path, cancel, || {
            let mut req = self.agent.get(self.url(path));
            if let Some(key) = &self.api_key {
                req = req.header("Authorization", format!("Bearer {key}"));
            }
            req.call()
        })
    }

    /// POST `body` as JSON to `path`, retried on connection failures and full queues.
    pub fn post_json<T: Serialize>(
        &self,
        path: &str,
        body: &T,
        cancel: Option<&AtomicBool>,
    ) -> Result<Answer, RemoteError> {
        let bytes = serde_json::to_vec(body).map_err(|e| RemoteError::Protocol {
            server: self.root.clone(),
            problem: format!("cannot write the request: {e}"),
        })?;
        self.with_retries(path, cancel, || {
            let mut req = self
                .agent
                .post(self.url(path))
                .header("Content-Type", "application/json");
            if let Some(key) = &self.api_key {
                req = req.header("Authorization", format!("Bearer {key}"));
            }
            req.send(bytes.as_slice())
        })
    }

    fn with_retries(
        &self,
        path: &str,
        cancel: Option<&AtomicBool>,
        send: impl Fn() -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Answer, RemoteError> {
        let mut pause = self.limits.backoff;
        let mut attempt = 0u32;
        loop {
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(RemoteError::Cancelled);
            }
            match send() {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if status != 429 || attempt >= self.limits.retries {
                        return Ok(Answer {
                            status,
                            body: resp.into_body(),
                        });
                    }
                    // A full queue refused the request before any work: safe to send again,
                    // after the pause the server asks for (at most 8 s).
                    if let Some(after) = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                    {
                        pause = pause.max(Duration::from_secs(after.min(8)));
                    }
                }
                Err(e) if is_connection_error(&e) && attempt < self.limits.retries => {}
                Err(e) => {
                    return Err(RemoteError::Connect {
                        server: self.root.clone(),
                        path: path.to_string(),
                        attempts: attempt + 1,
                        problem: e.to_string(),
                    });
                }
            }
            attempt += 1;
            sleep_unless_cancelled(pause, cancel);
            pause = (pause * 2).min(Duration::from_secs(8));
        }
    }

    /// Reads a whole (small) answer body as text, at most `limit` bytes.
    pub fn read_text(&self, answer: Answer, limit: u64) -> Result<String, RemoteError> {
        let mut text = String::new();
        answer
            .body
            .into_reader()
            .take(limit)
            .read_to_string(&mut text)
            .map_err(|e| RemoteError::Protocol {
                server: self.root.clone(),
                problem: format!("reading the answer: {e}"),
            })?;
        Ok(text)
    }

    /// The error a non-success status stands for, with the server's own message.
    pub fn status_error(&self, path: &str, answer: Answer) -> RemoteError {
        let status = answer.status;
        let body = self.read_text(answer, 64 * 1024).unwrap_or_default();
        RemoteError::Status {
            server: self.root.clone(),
            path: path.to_string(),
            status,
            message: ErrorBody::message_of(&body),
        }
    }
}

/// Failures where the request cannot have reached the model: nothing was connected, or the
/// connection was refused or reset before an answer came.
fn is_connection_error(e: &ureq::Error) -> bool {
    use std::io::ErrorKind;
    match e {
        ureq::Error::ConnectionFailed => true,
        ureq::Error::Timeout(t) => matches!(t, ureq::Timeout::Connect | ureq::Timeout::Resolve),
        ureq::Error::Io(io) => matches!(
            io.kind(),
            ErrorKind::ConnectionRefused
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::NotConnected
                | ErrorKind::BrokenPipe
                | ErrorKind::AddrNotAvailable
        ),
        _ => false,
    }
}

fn sleep_unless_cancelled(pause: Duration, cancel: Option<&AtomicBool>) {
    let step = Duration::from_millis(20);
    let mut slept = Duration::ZERO;
    while slept < pause {
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return;
        }
        std::thread::sleep(step);
        slept += step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_normalised_and_bad_ones_named() {
        assert_eq!(
            server_root("http://127.0.0.1:8080/v1/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            server_root("https://gpu.example/ecg").unwrap(),
            "https://gpu.example/ecg"
        );
        let e = server_root("ftp://x").unwrap_err().to_string();
        assert!(e.contains("ftp://x") && e.contains("http://"), "{e}");
        assert!(server_root("not a url").is_err());
    }

    #[test]
    fn key_files_skip_comments_and_blank_lines() {
        assert_eq!(
            first_key_line("# station 4\n\n  sk-abc  \nsk-second\n").as_deref(),
            Some("sk-abc")
        );
        assert_eq!(key_lines("a\n#b\nc").collect::<Vec<_>>(), vec!["a", "c"]);
        assert_eq!(first_key_line("# only a comment\n"), None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "# nothing\n").unwrap();
        let e = read_api_key(Some(&path)).unwrap_err().to_string();
        assert!(e.contains("holds no key"), "{e}");
        std::fs::write(&path, "sk-1\n").unwrap();
        assert_eq!(read_api_key(Some(&path)).unwrap().as_deref(), Some("sk-1"));
        let client = HttpClient::new(
            "http://127.0.0.1:1",
            Some("sk-secret".into()),
            HttpLimits::default(),
        )
        .unwrap();
        assert!(!format!("{client:?}").contains("sk-secret"));
    }

    #[test]
    fn a_refused_connection_is_retried_then_reported() {
        // Nothing listens on a port just released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = HttpClient::new(
            &format!("http://127.0.0.1:{port}"),
            None,
            HttpLimits {
                retries: 2,
                backoff: Duration::from_millis(10),
                ..HttpLimits::default()
            },
        )
        .unwrap();
        let Err(e) = client.get("/v1/models", None) else {
            panic!("nothing listens there")
        };
        let text = e.to_string();
        assert!(text.contains("3 attempts"), "{text}");
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    }
}
