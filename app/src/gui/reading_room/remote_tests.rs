//! The run panel's "Remote server" engine, driven through accessibility labels: the fields,
//! tokens streamed from `ecgr1 serve` into the live trace, cancel, a completed stored run, and
//! a clear error for each server failure (unreachable, HTTP 500, a cut stream, a model without
//! an ECG tower given a signal). Servers listen on 127.0.0.1 only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use egui_kittest::kittest::Queryable;

use super::run::EngineChoice;
use super::run_panel::{REMOTE_ENGINE, SERVER_FIELD};
use super::tests::{App, click, settle, step_until, type_into};
use super::{CANCEL_BUTTON, RUN_BUTTON};
use crate::gui::tests::start;
use crate::serve::{ServeOptions, ServerHandle};

fn serve(model: &str) -> ServerHandle {
    let mut options = ServeOptions::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/model")
            .join(model)
            .display()
            .to_string(),
        "127.0.0.1:0".parse().unwrap(),
    );
    options.prefer_gpu = false;
    options.max_logprobs = 512;
    crate::serve::start(&options).unwrap()
}

/// A window whose run panel is switched to the remote engine at `url` through its widgets.
fn with_remote(url: &str, task: ecgr1_engine::Task, max_tokens: usize) -> App {
    let mut harness = start("dr_reed");
    harness
        .ctx
        .set_missing_glyph_policy(egui::MissingGlyphPolicy::Tofu);
    click(&mut harness, "Engine");
    click(&mut harness, REMOTE_ENGINE);
    assert_eq!(
        harness.state().reading.run_settings.engine,
        EngineChoice::Remote
    );
    type_into(&mut harness, SERVER_FIELD, url);
    assert_eq!(harness.state().reading.run_settings.server, url);
    let settings = &mut harness.state_mut().reading.run_settings;
    settings.task = task;
    settings.max_tokens = max_tokens;
    settle(&mut harness);
    harness
}

fn run_to_end(harness: &mut App) {
    click(harness, RUN_BUTTON);
    step_until(harness, "the remote run", |app| {
        !app.reading.is_running() && app.reading.shown_run().is_some()
    });
}

#[test]
fn a_remote_run_streams_into_the_live_trace_can_be_cancelled_and_completes() {
    let server = serve("ecgr1-tiny");
    let mut harness = with_remote(&server.url(), ecgr1_engine::Task::Interpret, 8000);
    harness.get_by_label(RUN_BUTTON).click();
    settle(&mut harness);
    step_until(&mut harness, "streamed tokens", |app| {
        app.reading.active_run().is_some_and(|r| r.tokens >= 3) || !app.reading.is_running()
    });
    assert!(
        harness.state().reading.is_running(),
        "the run ended before it could be cancelled: {:?}",
        harness
            .state()
            .reading
            .shown_run()
            .map(|r| (&r.status, &r.error))
    );
    harness.get_by_label("Trace (live)");
    harness.get_by_label_contains("tokens/s");
    harness.get_by_label(CANCEL_BUTTON).click();
    settle(&mut harness);
    step_until(&mut harness, "the cancelled run", |app| {
        !app.reading.is_running()
    });
    assert_eq!(
        harness.state().reading.shown_run().unwrap().status,
        "cancelled"
    );

    harness.state_mut().reading.run_settings.max_tokens = 8;
    settle(&mut harness);
    run_to_end(&mut harness);
    let run = harness.state().reading.shown_run().unwrap();
    assert_eq!(run.status, "completed", "{:?}", run.error);
    let report = run.report.as_ref().unwrap();
    assert_eq!(report.engine.name, "remote");
    assert!(
        report
            .engine
            .checkpoint
            .as_deref()
            .unwrap()
            .contains(&server.url())
    );
    assert!(!report.raw_output.is_empty());
    harness.get_by_label_contains("Stored: case 1, run 2");
}

/// Answers `/v1/models` as an `ecgr1 serve` with an ECG tower would (so the sample's signal is
/// sent, and the failure under test is the chat answer's), then every chat request with
/// `chat`, raw.
fn fake_server(chat: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut first, mut length) = (String::new(), 0usize);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if first.is_empty() {
                    first = line;
                }
            }
            let _ = reader.read_exact(&mut vec![0u8; length]);
            let answer = if first.starts_with("GET /v1/models") {
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"object\":\"list\",\"data\":[{\"id\":\"fake\",\"ecgr1\":{\"server_version\":\"fake\",\"family\":\"ecg-r1\",\"weights_sha256\":[],\"dtype\":\"f32\",\"device\":\"cpu\",\"accepts_ecg\":true,\"ecg_tokens\":101,\"max_logprobs\":20}}]}"
            } else {
                chat
            };
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    url
}

fn failure_shown(url: &str, expected: &str) {
    let mut harness = with_remote(url, ecgr1_engine::Task::Twi, 8);
    run_to_end(&mut harness);
    let run = harness.state().reading.shown_run().unwrap();
    assert_eq!(run.status, "failed");
    let error = run.error.clone().unwrap();
    assert!(error.contains(expected) && error.contains(url), "{error}");
    assert!(run.report.is_none(), "nothing finished is shown or stored");
    harness.get_by_label_contains("Run failed:");
    harness.get_by_label_contains(expected);
}

#[test]
fn each_server_failure_is_a_clear_error_in_the_run_panel() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    failure_shown(
        &format!("http://127.0.0.1:{closed}"),
        "cannot reach the inference server",
    );
    failure_shown(
        &fake_server(
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"error\":{\"message\":\"model crashed\"}}",
        ),
        "HTTP 500: model crashed",
    );
    failure_shown(
        &fake_server(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"<think>\"}}]}\n\n",
        ),
        "cut off",
    );
    // The bundled sample is a signal; a Qwen2-VL server has no ECG tower for it.
    let server = serve("qwen2vl-tiny");
    failure_shown(&server.url(), "does not take ECG signals");
}
