"""A recording proxy between the remote engine and a third-party OpenAI-compatible server: every
request `ecgr1 analyze --engine remote --server http://LISTEN` sends is forwarded to UPSTREAM,
and the exchange is written, byte for byte, to OUT_DIR for the Rust replay test
(tests/tests/remote_thirdparty.rs):

  exchange.json   one entry per request, in order: method, path, the request body as JSON
                  (each base64 image replaced by "data:<mime>;base64,<sha256:HEX>", the hash of
                  the decoded bytes, so the test can check the engine still sends the same
                  request), the HTTP status, content type and the file holding the answer
  NN-*.sse/json   the answers' bodies as the server sent them (streamed events un-chunked)

    python record_openai_exchange.py 127.0.0.1:LISTEN_PORT http://127.0.0.1:UPSTREAM_PORT OUT_DIR

Standard library only. Runs until it is killed; loopback only.
"""

import base64
import hashlib
import http.server
import json
import pathlib
import sys
import urllib.error
import urllib.request

OUT = pathlib.Path(sys.argv[3])
UPSTREAM = sys.argv[2].rstrip("/")
EXCHANGES: list = []


def redact_images(value):
    """The request with each data: URL's payload replaced by the SHA-256 of its bytes."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "url" and isinstance(item, str) and item.startswith("data:") and ";base64," in item:
                head, data = item.split(";base64,", 1)
                digest = hashlib.sha256(base64.b64decode(data)).hexdigest()
                out[key] = f"{head};base64,<sha256:{digest}>"
            else:
                out[key] = redact_images(item)
        return out
    if isinstance(value, list):
        return [redact_images(v) for v in value]
    return value


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization", "accept")}
        request = urllib.request.Request(UPSTREAM + self.path, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=600) as resp:
                status, content_type, answer = resp.status, resp.headers.get("Content-Type", ""), resp.read()
        except urllib.error.HTTPError as e:
            status, content_type, answer = e.code, e.headers.get("Content-Type", ""), e.read()
        n = len(EXCHANGES) + 1
        suffix = "sse" if content_type.startswith("text/event-stream") else "json"
        name = f"{n:02d}-{method.lower()}-{self.path.strip('/').replace('/', '-')}.{suffix}"
        (OUT / name).write_bytes(answer)
        EXCHANGES.append({
            "method": method,
            "path": self.path,
            "request": redact_images(json.loads(body)) if body else None,
            "status": status,
            "content_type": content_type,
            "response_file": name,
        })
        (OUT / "exchange.json").write_text(json.dumps(EXCHANGES, indent=1, ensure_ascii=False) + "\n")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.forward("GET")

    def do_POST(self) -> None:  # noqa: N802
        self.forward("POST")

    def log_message(self, fmt, *args) -> None:
        sys.stderr.write("record_openai_exchange: " + fmt % args + "\n")


def main() -> None:
    host, port = sys.argv[1].rsplit(":", 1)
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("[0-9][0-9]-*"):
        old.unlink()
    http.server.ThreadingHTTPServer((host, int(port)), Proxy).serve_forever()


if __name__ == "__main__":
    main()
