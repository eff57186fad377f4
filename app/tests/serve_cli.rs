//! `ecgr1 serve` as a process, and `ecgr1 analyze --engine remote` against it with an API key
//! file: the greedy text and P(yes) of `analyze --engine local` on the same checkpoint and
//! image. Loopback only.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/model")
}

/// `ecgr1 serve` as a process, `ecgr1 analyze --engine remote` against it with a key file: the
/// P(yes) of `analyze --engine local` on the same checkpoint and image.
#[test]
fn the_serve_command_and_analyze_engine_remote_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "# department keys\nsk-ward-7\n").unwrap();
    let client_key = dir.path().join("key");
    std::fs::write(&client_key, "sk-ward-7\n").unwrap();
    let model = fixtures().join("qwen2vl-tiny");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ecgr1"))
        .args(["serve", "--model"])
        .arg(&model)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--cpu",
            "--max-logprobs",
            "512",
            "--api-key-file",
        ])
        .arg(&keys)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {line}"))
        .to_string();
    assert!(line.contains("API key required"), "{line}");
    let image = fixtures().join("ecg_small.png");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "ecgr1",
            "analyze",
            image.to_str().unwrap(),
            "--task",
            "twi",
            "--max-tokens",
            "8",
            "--json",
        ];
        args.extend_from_slice(extra);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = ecgr1_app::cli::run(args, &mut out, &mut err);
        (code, out, String::from_utf8_lossy(&err).into_owned())
    };
    let (code, out, err) = run(&[
        "--engine",
        "remote",
        "--server",
        &url,
        "--api-key-file",
        client_key.to_str().unwrap(),
        "--top-logprobs",
        "512",
    ]);
    let local = run(&[
        "--engine",
        "local",
        "--model",
        model.to_str().unwrap(),
        "--cpu",
    ]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, 0, "{err}");
    assert_eq!(local.0, 0, "{}", local.2);
    let remote: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let local: serde_json::Value = serde_json::from_slice(&local.1).unwrap();
    assert_eq!(remote["engine"], "remote");
    assert_eq!(remote["raw_output"], local["raw_output"]);
    let (r, l) = (
        remote["p_yes"].as_f64().unwrap(),
        local["p_yes"].as_f64().unwrap(),
    );
    assert!((r - l).abs() < 1e-4, "remote {r} local {l}");
}
