//! Malformed answers from an OpenAI-compatible server — no log-probabilities, HTTP 500, a
//! truncated stream, wrong JSON — each give `analyze --engine remote` a clear error naming the
//! server and the problem, and nothing is stored as a finished run. The server is a tiny fake
//! on 127.0.0.1 that answers each connection with a canned HTTP response.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

const MODELS: &str =
    r#"{"object":"list","data":[{"id":"fake-vl","object":"model","created":0,"owned_by":"test"}]}"#;

/// A chunk with one token of text and its log-probabilities.
fn chunk(text: &str, with_logprobs: bool, finish: Option<&str>) -> String {
    let logprobs = if with_logprobs {
        format!(
            r#","logprobs":{{"content":[{{"token":{t},"logprob":-0.5,"top_logprobs":[{{"token":{t},"logprob":-0.5}},{{"token":"yes","logprob":-1.0}},{{"token":"no","logprob":-2.0}}]}}]}}"#,
            t = serde_json::to_string(text).unwrap()
        )
    } else {
        String::new()
    };
    let finish = finish.map_or("null".to_string(), |f| format!("\"{f}\""));
    format!(
        r#"data: {{"id":"x","object":"chat.completion.chunk","created":1,"model":"fake-vl","choices":[{{"index":0,"delta":{{"content":{}}}{logprobs},"finish_reason":{finish}}}]}}

"#,
        serde_json::to_string(text).unwrap()
    )
}

fn http(status: &str, content_type: &str, body: &str) -> String {
    format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n{body}")
}

/// Serves `/v1/models` and answers every chat request with `chat` (raw HTTP, then closes).
fn fake_server(chat: String) -> (String, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let chats = Arc::new(Mutex::new(0usize));
    let counter = Arc::clone(&chats);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (head, _) = support::read_request(&mut reader);
            let answer = if head.starts_with("GET /v1/models") {
                http("200 OK", "application/json", MODELS)
            } else {
                *counter.lock().unwrap() += 1;
                chat.clone()
            };
            let _ = stream.write_all(answer.as_bytes());
            let _ = stream.flush();
        }
    });
    (url, chats)
}

#[test]
fn each_malformed_answer_is_a_clear_error_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let key = dir.path().join("audit.key");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "correct horse battery staple\n").unwrap();
    let (dbs, keys, pws) = (
        db.to_str().unwrap(),
        key.to_str().unwrap(),
        pw.to_str().unwrap(),
    );
    let image = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/model/ecg_small.png");
    let store = [
        "--db",
        dbs,
        "--key",
        keys,
        "--user",
        "alice",
        "--password-file",
        pws,
    ];
    // One stored run first (the protocol engine), so the store exists and has a history.
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../assets/samples/synthetic_twi.csv"
    );
    let mut args = vec!["analyze", sample, "--task", "twi", "--json"];
    args.extend_from_slice(&store);
    let (code, _, err) = support::cli(&args);
    assert_eq!(code, 0, "{err}");

    let sse = |body: String| http("200 OK", "text/event-stream", &body);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "no logprobs",
            sse(format!(
                "{}{}data: [DONE]\n\n",
                chunk("<think>", false, None),
                chunk("ok", false, Some("stop"))
            )),
            "carries no log-probabilities",
        ),
        (
            "HTTP 500",
            http(
                "500 Internal Server Error",
                "application/json",
                r#"{"error":{"message":"CUDA error: out of memory","type":"server_error"}}"#,
            ),
            "HTTP 500: CUDA error: out of memory",
        ),
        (
            "truncated stream",
            sse(chunk("<think>", true, None)),
            "cut off",
        ),
        (
            "wrong JSON",
            sse("data: {\"id\": \"x\", \"choices\": [\n\n".into()),
            "not JSON",
        ),
        (
            "not a chunk",
            sse("data: {\"choices\": \"many\"}\n\n".into()),
            "not a chat.completion.chunk",
        ),
    ];
    for (case, answer, expected) in cases {
        let (url, chats) = fake_server(answer);
        let mut args = vec![
            "analyze", image, "--engine", "remote", "--server", &url, "--task", "twi", "--json",
        ];
        args.extend_from_slice(&store);
        let (code, out, err) = support::cli(&args);
        assert_eq!(code, 1, "{case}: {out}");
        assert!(err.starts_with("error:"), "{case}: {err}");
        assert!(
            err.contains(expected),
            "{case}: expected '{expected}' in {err}"
        );
        assert!(err.contains(&url), "{case}: the server is named: {err}");
        // The answer was never asked for twice: a partial or failed answer is not re-sent.
        assert_eq!(*chats.lock().unwrap(), 1, "{case}");
    }
    // Still the one protocol run: no remote run was stored, finished or otherwise.
    let (code, out, err) = support::cli(&[
        "history", "--json", "--db", dbs, "--key", keys, "--as", "alice",
    ]);
    assert_eq!(code, 0, "{err}");
    let text = out.to_lowercase();
    assert!(!text.contains("remote"), "{out}");
    let (code, out, err) = support::cli(&["audit", "verify", "--db", dbs, "--key", keys]);
    assert_eq!(code, 0, "{err}{out}");
}

#[test]
fn an_unreachable_server_and_a_missing_model_are_named() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let image = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/model/ecg_small.png");
    let (code, _, err) = support::cli(&["analyze", image, "--engine", "remote", "--server", &url]);
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot reach the inference server") && err.contains(&url),
        "{err}"
    );
    let (url, _) = fake_server(String::new());
    let (code, _, err) = support::cli(&[
        "analyze",
        image,
        "--engine",
        "remote",
        "--server",
        &url,
        "--model",
        "ecg-r1-8b",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("does not serve a model named 'ecg-r1-8b'") && err.contains("fake-vl"),
        "{err}"
    );
    let (code, _, err) = support::cli(&["analyze", image, "--engine", "remote"]);
    assert_eq!(code, 1);
    assert!(err.contains("--server URL"), "{err}");
}
