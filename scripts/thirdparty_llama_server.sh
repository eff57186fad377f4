#!/usr/bin/env bash
# The remote engine against a third-party OpenAI-compatible server: llama.cpp's llama-server on
# the tiny random-weight Qwen2-VL fixture (tests/fixtures/model/qwen2vl-tiny), converted to a
# float GGUF text model plus its mmproj vision projector, for an image prompt. Two images:
#   input-size/   ecg_84x56.png: ecg_small.png brought to the model's input size (the fixture's
#                 processor resizes 320x180 to 84x56) with PIL's bicubic here, so neither side
#                 resizes it and the comparison is of the two engines alone
#   downscaled/   ecg_small.png itself (320x180): llama.cpp resizes it with its own bicubic
#                 (no antialiasing), the local engine as PIL does (antialiased)
# Each folder (read by tests/tests/remote_thirdparty.rs) holds:
#   exchange.json, NN-*   every request `ecgr1 analyze --engine remote` sent and the server's
#                         answers byte for byte (scripts/record_openai_exchange.py, a proxy)
#   remote.json           that run's report; local.json: `--engine local`, same image and notes
# and tests/fixtures/remote/llama-server/versions.txt says what ran.
# Pins: llama.cpp is the tree vendored in the PyPI sdist llama-cpp-python==0.3.36 (sha256
# below; PyPI has no llama-server binary wheel, so it is built from source), cmake and ninja
# from scripts/requirements-llama-server.txt; the GGUF conversion needs torch + transformers
# (scripts/requirements-model.txt), given as $CONVERT_PYTHON.
#
#   CONVERT_PYTHON=/path/to/venv-with-requirements-model/bin/python scripts/thirdparty_llama_server.sh
#
# The build is about 210 compile steps (30-60 min with one job on a shared 2-core machine;
# JOBS=N to use more). Loopback only; nothing here is run by CI.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${WORK:-/tmp/ecgr1-llama-server}"
VENV="${VENV:-$WORK/venv}"
PORT="${PORT:-18731}"
PROXY_PORT="${PROXY_PORT:-18732}"
JOBS="${JOBS:-1}"
CONVERT_PYTHON="${CONVERT_PYTHON:?set CONVERT_PYTHON to a python with scripts/requirements-model.txt}"
ECGR1="${ECGR1:-$ROOT/target/debug/ecgr1}"
OUT="$ROOT/tests/fixtures/remote/llama-server"
SDIST=llama_cpp_python-0.3.36
SDIST_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
mkdir -p "$WORK" "$OUT"

[ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q -r "$ROOT/scripts/requirements-llama-server.txt"
cd "$WORK"
if [ ! -d "$SDIST" ]; then
  "$VENV/bin/pip" download -q --no-deps --no-binary llama-cpp-python llama-cpp-python==0.3.36 -d dl
  echo "$SDIST_SHA256  dl/$SDIST.tar.gz" | sha256sum -c -
  tar xzf "dl/$SDIST.tar.gz"
fi
LLAMA="$WORK/$SDIST/vendor/llama.cpp"
BUILD="$WORK/build"
if [ ! -x "$BUILD/bin/llama-server" ]; then
  # No web UI (it would be fetched from a hub at configure time), no TLS, no tests.
  "$VENV/bin/cmake" -S "$LLAMA" -B "$BUILD" -G Ninja -DCMAKE_MAKE_PROGRAM="$VENV/bin/ninja" \
    -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_APP=OFF
  nice -n 15 "$VENV/bin/cmake" --build "$BUILD" --target llama-server -j"$JOBS"
fi

MODEL="$ROOT/tests/fixtures/model/qwen2vl-tiny"
PYTHONPATH="$LLAMA/gguf-py" "$CONVERT_PYTHON" "$ROOT/scripts/convert_tiny_for_llama.py" \
  "$LLAMA" "$MODEL" "$WORK/gguf"

# The fixture's image processor allows 3136-6272 pixels (min_pixels/max_pixels in
# processor_config.json), i.e. 4-8 merged 28x28 tokens: llama.cpp's defaults (8-4096 tokens)
# would give the same image 66 tokens where the local engine gives it 6.
"$BUILD/bin/llama-server" -m "$WORK/gguf/text-f32.gguf" --mmproj "$WORK/gguf/mmproj-f32.gguf" \
  --host 127.0.0.1 --port "$PORT" --ctx-size 4096 --n-gpu-layers 0 --jinja \
  --image-min-tokens 4 --image-max-tokens 8 > "$WORK/llama-server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/health" > /dev/null && break
  sleep 1
done

NOTES="Male, 64 years. Chest pain for 2 hours."
mkdir -p "$OUT/input-size" "$OUT/downscaled"
"$CONVERT_PYTHON" - "$ROOT/tests/fixtures/model/ecg_small.png" "$OUT/input-size/ecg_84x56.png" <<'EOF'
import sys
from PIL import Image
Image.open(sys.argv[1]).convert("RGB").resize((84, 56), Image.BICUBIC).save(sys.argv[2])
EOF

record() {  # IMAGE OUT_DIR
  python3 "$ROOT/scripts/record_openai_exchange.py" "127.0.0.1:$PROXY_PORT" "http://127.0.0.1:$PORT" \
    "$2" 2>> "$WORK/proxy.log" &
  local proxy=$!
  sleep 1
  # top_logprobs above the 480-token vocabulary: a random model's yes/no tokens are far down
  # the list. Four tokens keep the recording small (each carries 480 alternatives).
  local common=(analyze "$1" --task twi --notes "$NOTES" --max-tokens 4 --json --db :memory: --user thirdparty)
  "$ECGR1" "${common[@]}" --engine remote --server "http://127.0.0.1:$PROXY_PORT" \
    --top-logprobs 480 > "$2/remote.json"
  kill "$proxy"
  "$ECGR1" "${common[@]}" --engine local --model "$MODEL" --cpu > "$2/local.json"
  python3 - "$2" <<'EOF'
import json, sys
out = sys.argv[1]
r = json.load(open(f"{out}/remote.json")); l = json.load(open(f"{out}/local.json"))
print(out.rsplit("/", 1)[-1] + ":", "llama-server P(yes)", r["p_yes"], "local P(yes)", l["p_yes"],
      "difference", abs(r["p_yes"] - l["p_yes"]))
print("  llama-server text", repr(r["raw_output"]), "local text", repr(l["raw_output"]))
EOF
}
record "$OUT/input-size/ecg_84x56.png" "$OUT/input-size"
record "$ROOT/tests/fixtures/model/ecg_small.png" "$OUT/downscaled"
{
  echo "llama.cpp: the tree vendored in llama-cpp-python 0.3.36 (sdist sha256 $SDIST_SHA256)"
  "$BUILD/bin/llama-server" --version 2>&1 | tail -n 2
  "$CONVERT_PYTHON" -c 'import torch, transformers, PIL; print("conversion: torch", torch.__version__, "transformers", transformers.__version__, "pillow", PIL.__version__)'
  "$ECGR1" --version
} > "$OUT/versions.txt"
