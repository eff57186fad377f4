//! `ecgr1 serve` under load on the tiny checkpoint: 4 concurrent clients × 20 requests each get
//! the single-client answer (no request sees another's KV cache), a full queue answers 429,
//! a closed connection cancels its request, API keys are checked, and the server keeps
//! answering throughout. (The `ecgr1 serve` process itself: `app/tests/serve_cli.rs`.)
//! Loopback only.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ecgr1_app::remote::{RemoteEngine, RemoteOptions};
use ecgr1_app::serve::{ServeOptions, ServerHandle, start};
use ecgr1_engine::formats::{EcgImage, EcgInput, LoadOptions, load_path};
use ecgr1_engine::model::ModelDType;
use ecgr1_engine::report::{Engine, EngineError, Report, Request, Task};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/model")
}

fn image() -> EcgImage {
    match load_path(&fixtures().join("ecg_small.png"), &LoadOptions::default()).unwrap() {
        EcgInput::Image(i) => i,
        EcgInput::Signal(_) => panic!("an image"),
    }
}

fn serve(queue: usize, keys: Vec<String>) -> ServerHandle {
    let mut options = ServeOptions::new(
        fixtures().join("qwen2vl-tiny").display().to_string(),
        "127.0.0.1:0".parse().unwrap(),
    );
    options.dtype = Some(ModelDType::F32);
    options.prefer_gpu = false;
    options.queue = queue;
    options.max_logprobs = 512;
    options.api_keys = keys;
    start(&options).unwrap()
}

fn client(server: &ServerHandle, max_tokens: usize) -> RemoteEngine {
    let mut options = RemoteOptions::new(server.url());
    options.top_logprobs = 512;
    options.max_tokens = max_tokens;
    RemoteEngine::connect(options).unwrap()
}

fn ask(engine: &mut RemoteEngine, image: &EcgImage, notes: &str) -> Report {
    engine
        .run(&Request {
            record: None,
            image: Some(image),
            notes,
            task: Task::Twi,
        })
        .unwrap()
}

/// A raw chat request with `max_tokens`, streamed or not; returns the HTTP status line's code.
fn raw_chat(server: &ServerHandle, max_tokens: usize) -> u16 {
    let body = format!(
        r#"{{"messages":[{{"role":"user","content":"hello"}}],"max_tokens":{max_tokens}}}"#
    );
    let mut s = TcpStream::connect(server.addr).unwrap();
    write!(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut line = String::new();
    BufReader::new(&mut s).read_line(&mut line).unwrap();
    let _ = s.read_to_end(&mut Vec::new());
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn health(server: &ServerHandle) -> serde_json::Value {
    let mut s = TcpStream::connect(server.addr).unwrap();
    write!(
        s,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let body = text.split("\r\n\r\n").nth(1).unwrap();
    serde_json::from_str(body).unwrap()
}

#[test]
fn four_clients_times_twenty_requests_all_get_the_single_client_answer() {
    let server = serve(16, Vec::new());
    let img = image();
    let notes = ["chest pain", "", "on digoxin", "known LBBB"];
    // The single-client answers, one per prompt.
    let mut alone = client(&server, 6);
    let expected: Vec<Report> = notes.iter().map(|n| ask(&mut alone, &img, n)).collect();
    let url = server.url();
    std::thread::scope(|scope| {
        for c in 0..4 {
            let (img, expected, url) = (&img, &expected, &url);
            scope.spawn(move || {
                let mut options = RemoteOptions::new(url.clone());
                options.top_logprobs = 512;
                options.max_tokens = 6;
                let mut engine = RemoteEngine::connect(options).unwrap();
                for r in 0..20 {
                    // Each client cycles through the prompts from a different start, so
                    // different prompts are in the queue together.
                    let k = (c + r) % notes.len();
                    let got = ask(&mut engine, img, notes[k]);
                    assert_eq!(
                        got.raw_output, expected[k].raw_output,
                        "client {c} request {r}"
                    );
                    assert_eq!(got.p_yes(), expected[k].p_yes(), "client {c} request {r}");
                }
            });
        }
    });
    assert_eq!(health(&server)["status"], "ok");
}

#[test]
fn a_full_queue_answers_429_and_the_server_keeps_serving() {
    let server = serve(1, Vec::new());
    // Twelve long requests at once: one runs, one waits, the rest are refused.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..12)
            .map(|_| scope.spawn(|| raw_chat(&server, 400)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert_eq!(health(&server)["queue_capacity"], 1);
    assert_eq!(raw_chat(&server, 2), 200);
}

#[test]
fn closing_the_connection_cancels_the_request() {
    let server = serve(4, Vec::new());
    let img = image();
    let mut engine = client(&server, 4000);
    let cancel = engine.cancel_flag();
    let (tx, rx) = std::sync::mpsc::channel();
    engine.set_stream(Some(tx));
    let started = Instant::now();
    let stopper = std::thread::spawn({
        let cancel = Arc::clone(&cancel);
        move || {
            // Cancel once the first token has arrived.
            let _ = rx.recv();
            cancel.store(true, Ordering::Relaxed);
        }
    });
    let r = engine.run(&Request {
        record: None,
        image: Some(&img),
        notes: "",
        task: Task::Interpret,
    });
    stopper.join().unwrap();
    assert!(matches!(r, Err(EngineError::Cancelled)), "{r:?}");
    // The worker stopped that request: a short one is served right after, long before the
    // 4000 tokens of the cancelled one could have been written.
    let mut quick = client(&server, 2);
    ask(&mut quick, &img, "");
    assert!(started.elapsed() < Duration::from_mins(1));
}

#[test]
fn api_keys_are_required_when_configured() {
    let server = serve(4, vec!["sk-station-4".into()]);
    let e = RemoteEngine::connect(RemoteOptions::new(server.url())).unwrap_err();
    assert!(
        e.to_string().contains("HTTP 401") && e.to_string().contains("needs an API key"),
        "{e}"
    );
    let mut wrong = RemoteOptions::new(server.url());
    wrong.api_key = Some("sk-guess".into());
    let e = RemoteEngine::connect(wrong).unwrap_err().to_string();
    assert!(e.contains("not one this server accepts"), "{e}");
    let mut right = RemoteOptions::new(server.url());
    right.api_key = Some("sk-station-4".into());
    right.max_tokens = 2;
    right.top_logprobs = 512;
    let mut engine = RemoteEngine::connect(right).unwrap();
    ask(&mut engine, &image(), "");
}
