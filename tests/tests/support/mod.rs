//! Shared by the end-to-end tests that play an OpenAI-compatible server on 127.0.0.1.

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
