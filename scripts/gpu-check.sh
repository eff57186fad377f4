#!/usr/bin/env bash
# The engine's GPU check, run from the folder scripts/gpu-bundle.sh builds, on an NVIDIA machine
# with no Rust toolchain and no network (its own python3 with torch and transformers is used for
# the real-shape checkpoint and the transformers baseline):
#
#   scripts/gpu-check.sh [--out DIR]        on the GPU machine (under 8 minutes)
#   scripts/gpu-check.sh --self-test        here, without a GPU (gpu-bundle.sh runs it)
#
# Steps, each with its own time limit, each recorded in DIR/gpu-check.json as it finishes (so a
# run cut short still leaves what it measured), with its log in DIR/gpu-check.log:
#   1. device: the GPU's name, memory and driver (nvidia-smi), torch's and transformers' versions;
#   2. parity: every tiny reference (Qwen2-VL, Qwen3-VL, ECG-R1; f32 and bf16) replayed on CUDA
#      by `ecgr1 model parity` against the committed transformers outputs;
#   3. a real-shape (ECG-R1-8B) random bf16 checkpoint, written there with that machine's torch
#      (make_qwen3vl_fixtures.py --bench-checkpoint);
#   4. `ecgr1 model bench` on it in bf16 on CUDA, signal-only prompt: ours alone, then with
#      transformers on the same GPU in the same run (--python) for the ratios; decode as a
#      fraction of the GPU's copy bandwidth, prefill as a fraction of its bf16 product rate;
#   5. the same with the page-sized image (646 image tokens), if time is left.
# Exit status: 0 when every parity case passed on CUDA and the bench ran, 1 otherwise.
#
# --self-test: the binary must start and say "no CUDA device" cleanly (no panic), and the f32
# and bf16 parity cases must pass on the CPU; steps 3–5 are skipped.
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "${here}"

self_test=0
out="${OUT:-${here}/gpu-check-out}"
while [ $# -gt 0 ]; do
    case "$1" in
        --self-test) self_test=1 ;;
        --out) out="$2"; shift ;;
        *) echo "usage: scripts/gpu-check.sh [--self-test] [--out DIR]" >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "${out}"
work="$(mktemp -d)"
log="${out}/gpu-check.log"
: > "${log}"
started=$(date +%s)
py="${PYTHON:-python3}"

# The CUDA runtime shipped beside the binary, the driver's folder, then the CUDA libraries beside
# torch (cuBLAS, cuBLASLt, cuRAND, NVRTC, which the binary needs), then the machine's own.
libs="${here}/lib"
if [ ${self_test} -eq 1 ]; then
    # No NVIDIA driver here: the link-time stand-ins (cuInit answers CUDA_ERROR_STUB_LIBRARY).
    libs="${libs}:${here}/selftest-lib"
fi
for lib in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
    [ -d "${lib}" ] && libs="${libs}:${lib}"
done
if "${py}" -c 'import nvidia' 2>/dev/null; then
    for dir in $("${py}" -c 'import nvidia; print(" ".join(nvidia.__path__))'); do
        for lib in "${dir}"/*/lib "${dir}"/cu*/lib; do
            [ -d "${lib}" ] && libs="${libs}:${lib}"
        done
    done
fi
export LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:+:${LD_LIBRARY_PATH}}"

# Unpacked into the scratch folder (not beside the archive: the folder must stay small).
ecgr1="${work}/ecgr1"
if ! "${py}" -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)' "${here}/bin/ecgr1.xz" "${ecgr1}"; then
    echo "could not unpack ${here}/bin/ecgr1.xz" | tee -a "${log}"
    exit 1
fi
chmod +x "${ecgr1}"
fixtures="tests/fixtures/model"
failed=0

# Appends one step's JSON (a file) under its name to gpu-check.json.
record() {
    "${py}" - "${out}/gpu-check.json" "$1" "$2" <<'PY'
import json, os, sys
path, name, step_file = sys.argv[1:4]
doc = json.load(open(path)) if os.path.exists(path) else {"steps": {}}
try:
    value = json.load(open(step_file))
except (OSError, ValueError) as e:
    text = open(step_file, errors="replace").read() if os.path.exists(step_file) else ""
    value = {"error": f"no JSON from this step ({e})", "output_tail": text[-2000:]}
doc["steps"][name] = value
json.dump(doc, open(path, "w"), indent=2)
PY
}

# Runs a step with a time limit: step NAME SECONDS COMMAND…; its stdout is the step's JSON.
step() {
    local name="$1" limit="$2"
    shift 2
    echo "== ${name} (limit ${limit} s, $(( $(date +%s) - started )) s in)" | tee -a "${log}"
    # Through bash, so that a step may be one of this script's functions (exported below).
    timeout "${limit}" bash -c '"$@"' _ "$@" > "${work}/${name}.json" 2>> "${log}"
    local rc=$?
    tail -c 600 "${work}/${name}.json" >> "${log}"; echo >> "${log}"
    [ ${rc} -eq 124 ] && echo "${name}: stopped at its ${limit} s limit" | tee -a "${log}"
    record "${name}" "${work}/${name}.json"
    return ${rc}
}

rm -f "${out}/gpu-check.json"
device_info() {
    "${py}" - "${self_test}" <<'PY'
import json, subprocess, sys
info = {"self_test": sys.argv[1] == "1"}
try:
    q = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                        "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
    info["nvidia_smi"] = q.stdout.strip() or q.stderr.strip()
except (OSError, subprocess.SubprocessError) as e:
    info["nvidia_smi"] = f"not available: {e}"
for mod in ("torch", "transformers"):
    try:
        info[mod] = __import__(mod).__version__
    except Exception as e:  # a missing or broken package is a finding, not a crash
        info[mod] = f"not available: {e}"
try:
    import torch
    info["torch_cuda"] = torch.version.cuda
    info["torch_sees_gpu"] = torch.cuda.is_available()
except Exception:
    pass
print(json.dumps(info))
PY
}
export -f device_info
export py self_test
step device 60 device_info
echo "commit: $(cat "${here}/COMMIT" 2>/dev/null)" >> "${log}"

# 2. Parity. In the self-test the device must be the CPU, with the reason the GPU was not used.
for reference in qwen2vl-tiny qwen3vl-tiny ecgr1-tiny qwen3vl-tiny.bf16 ecgr1-tiny.bf16; do
    model="${reference%.bf16}"
    if ! step "parity_${reference//./_}" 120 "${ecgr1}" model parity --model "${fixtures}/${model}" \
        --reference "${fixtures}/reference/${reference}.json" --json; then
        failed=1
    fi
    device="$("${py}" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("device",""))' \
        "${work}/parity_${reference//./_}.json" 2>/dev/null)"
    echo "${reference}: ran on ${device:-?}" | tee -a "${log}"
    if [ ${self_test} -eq 1 ]; then
        case "${device}" in
            "cpu (no CUDA device"*) ;;
            *) echo "self-test: expected the CPU with 'no CUDA device', got '${device}'" | tee -a "${log}"; failed=1 ;;
        esac
    else
        case "${device}" in
            cuda*) ;;
            *) echo "${reference}: did not run on CUDA" | tee -a "${log}"; failed=1 ;;
        esac
    fi
done
if grep -q "panicked" "${log}"; then
    echo "a panic is in the log" | tee -a "${log}"
    failed=1
fi

if [ ${self_test} -eq 1 ]; then
    echo "self-test $([ ${failed} -eq 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - started )) s; ${out}/gpu-check.json" | tee -a "${log}"
    rm -rf "${work}"
    exit ${failed}
fi

# 3–5. The real-shape checkpoint and the benches (bf16 on CUDA, transformers on the same GPU).
bench_dir="${GPU_CHECK_BENCH_DIR:-/tmp/ecgr1-bench-checkpoint}"
make_checkpoint() {
    local t0
    t0=$(date +%s)
    "${py}" scripts/make_qwen3vl_fixtures.py --bench-checkpoint "${bench_dir}" >&2 || return 1
    printf '{"dir": "%s", "seconds": %s, "bytes": %s}\n' "${bench_dir}" "$(( $(date +%s) - t0 ))" \
        "$(du -sb "${bench_dir}" | cut -f1)"
}
bench() {
    "${ecgr1}" model bench --model "${bench_dir}" --dtype bf16 \
        --ecg assets/samples/synthetic_sinus.csv --json "$@"
}
export -f make_checkpoint bench
export ecgr1 bench_dir
with_transformers=(--python "${py}" --reference-script scripts/bench_transformers.py)
if step bench_checkpoint 240 make_checkpoint; then
    # Ours alone first (a failure of the transformers baseline must not lose our figures), then
    # both in one run for the ratios.
    step bench_signal 120 bench --new-tokens 64 || failed=1
    step bench_signal_vs_transformers 180 bench --new-tokens 64 "${with_transformers[@]}" || true
    left=$(( 470 - ($(date +%s) - started) ))
    if [ ${left} -gt 60 ]; then
        step bench_signal_image_vs_transformers "${left}" bench --new-tokens 32 \
            --image "${bench_dir}/bench_ecg.png" "${with_transformers[@]}" || true
    else
        echo "bench_signal_image_vs_transformers: skipped, ${left} s left" | tee -a "${log}"
    fi
else
    failed=1
fi
echo "gpu check $([ ${failed} -eq 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - started )) s; ${out}/gpu-check.json" | tee -a "${log}"
rm -rf "${work}"
exit ${failed}
