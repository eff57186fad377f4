//! Shared by the end-to-end tests: running the command line in process, and playing an
//! OpenAI-compatible server on 127.0.0.1.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::io::BufRead;

/// Reads one HTTP request: its head (request line and headers, as sent) and its body
/// (`Content-Length` bytes; none when the header is missing).
pub fn read_request(reader: &mut impl BufRead) -> (String, Vec<u8>) {
    let mut head = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        head.push_str(&line);
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    (head, body)
}

/// Runs `ecgr1 ARGS…` in this process: exit code, standard output, standard error.
pub fn cli(args: &[&str]) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut argv = vec!["ecgr1"];
    argv.extend_from_slice(args);
    let code = ecgr1_app::cli::run(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

/// A bundled sample under `assets/samples/`.
pub fn sample(name: &str) -> String {
    format!("{}/../assets/samples/{name}", env!("CARGO_MANIFEST_DIR"))
}
