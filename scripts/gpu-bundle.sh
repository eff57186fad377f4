#!/usr/bin/env bash
# Builds, on a machine without a GPU, one folder that checks the engine on an NVIDIA GPU
# machine with no Rust toolchain and no network (scripts/gpu-check.sh, run there, says what it
# does): a stripped release `ecgr1` with the `cuda` feature (xz-compressed), the CUDA runtime it links
# against, the tiny parity checkpoints with their transformers references, and the scripts that
# make a real-shape random checkpoint there with that machine's own torch.
#
#   scripts/gpu-bundle.sh [OUT_DIR]        (default: target/gpu-bundle/ecgr1-gpu)
#
# Then the folder is self-tested here: the binary must start, say "no CUDA device" and run the
# f32 parity cases on the CPU. The folder must stay under 60 MiB (what a GPU machine accepts).
#
# CUDA: nvcc 13.0 from PyPI (scripts/install-cuda-toolchain.sh), because PTX from a newer nvcc
# does not load under a 13.0 driver; kernels for Hopper (sm_90: H100, H200), which
# ECGR1_CUDA_COMPUTE_CAP overrides. libcudart ships in the folder; the driver, cuBLAS, cuRAND
# and NVRTC are the GPU machine's own (its driver; the nvidia-* wheels beside its torch).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${1:-target/gpu-bundle/ecgr1-gpu}"
LIMIT_MIB=60
export ECGR1_CUDA_VERSION="${ECGR1_CUDA_VERSION:-13.0.88}"
export ECGR1_CUDA_CCCL_VERSION="${ECGR1_CUDA_CCCL_VERSION:-13.0.85}"
export ECGR1_CUDA_COMPUTE_CAP="${ECGR1_CUDA_COMPUTE_CAP:-90}"
eval "$(scripts/install-cuda-toolchain.sh)"
export CUDAFORGE_THREADS="$(nproc)"
# Its own target folder: the CUDA version and compute capability differ from CI's cuda build.
export CARGO_TARGET_DIR="${ECGR1_GPU_TARGET_DIR:-target/gpu-bundle/cargo}"

# What the binary links against. candle-kernels links `-lcudart`: the runtime wheel ships
# libcudart.so.13 only, so it gets its link name. candle turns on cudarc's `dynamic-linking`, so
# the driver, cuBLAS, cuBLASLt, cuRAND and NVRTC are needed libraries too: stand-ins with their
# sonames (scripts/cuda-link-stubs.py, like the toolkit's stub libcuda.so) let this machine link;
# the GPU machine's real ones are loaded there. gcc reads LIBRARY_PATH for link-time search,
# which (unlike RUSTFLAGS) does not rebuild every crate.
linkdir="${CARGO_TARGET_DIR}/cuda-link"
mkdir -p "${linkdir}"
ln -sf "${CUDA_ROOT}/lib/libcudart.so.13" "${linkdir}/libcudart.so"
cudarc_src="$(cargo metadata --format-version 1 --features ecgr1-app/cuda 2>/dev/null \
    | python3 -c 'import json,sys,os; print(next(os.path.dirname(p["manifest_path"]) for p in json.load(sys.stdin)["packages"] if p["name"]=="cudarc"))')"
python3 scripts/cuda-link-stubs.py "${cudarc_src}" "${linkdir}/stubs"
linkdir="$(cd "${linkdir}" && pwd)"
LIBRARY_PATH="${linkdir}:${linkdir}/stubs${LIBRARY_PATH:+:${LIBRARY_PATH}}" \
    cargo build --release -p ecgr1-app --bin ecgr1 --features cuda

rm -rf "${OUT}"
mkdir -p "${OUT}/bin" "${OUT}/lib" "${OUT}/scripts" "${OUT}/tests/fixtures/model/reference" \
    "${OUT}/assets/samples"
# Stripped, then xz-compressed: candle's kernels for sm_90 (PTX and the static MMQ library's
# machine code) make the stripped binary about 92 MiB, which compresses to about 17 MiB.
# gpu-check.sh unpacks it with python3's lzma (no xz needed there).
cp "${CARGO_TARGET_DIR}/release/ecgr1" "${OUT}/bin/ecgr1"
strip "${OUT}/bin/ecgr1"
stripped_mib=$(( $(stat -c %s "${OUT}/bin/ecgr1") / 1048576 ))
xz -T"$(nproc)" -6 "${OUT}/bin/ecgr1"
cp -L "${CUDA_ROOT}/lib/libcudart.so.13" "${OUT}/lib/"
# The stand-ins, for the self-test only (gpu-check.sh --self-test puts them on the library path;
# on the GPU machine they are never looked at).
mkdir -p "${OUT}/selftest-lib"
cp "${linkdir}"/stubs/*.so.* "${OUT}/selftest-lib/"
rm -f "${OUT}"/selftest-lib/*.c
# The parity checkpoints, their references (the transformers peers' outputs) and the inputs
# the references name, at the paths they name them by (the repository's layout).
for name in qwen2vl-tiny qwen3vl-tiny ecgr1-tiny; do
    cp -r "tests/fixtures/model/${name}" "${OUT}/tests/fixtures/model/"
done
cp tests/fixtures/model/ecg_small.png tests/fixtures/model/ecg_tiny.png "${OUT}/tests/fixtures/model/"
for ref in qwen2vl-tiny qwen3vl-tiny ecgr1-tiny qwen3vl-tiny.bf16 ecgr1-tiny.bf16; do
    cp "tests/fixtures/model/reference/${ref}.json" "${OUT}/tests/fixtures/model/reference/"
done
cp assets/samples/synthetic_sinus.csv "${OUT}/assets/samples/"
# make_qwen3vl_fixtures.py --bench-checkpoint imports the other two generators;
# bench_transformers.py is the baseline `model bench --python` runs.
cp scripts/gpu-check.sh scripts/make_qwen3vl_fixtures.py scripts/make_model_fixtures.py \
    scripts/make_ecg_tower_fixtures.py scripts/bench_transformers.py \
    scripts/qwen3vl_chat_template.jinja "${OUT}/scripts/"
git rev-parse HEAD > "${OUT}/COMMIT" 2>/dev/null || echo unknown > "${OUT}/COMMIT"

size_mib=$(( $(du -sb "${OUT}" | cut -f1) / 1048576 ))
echo "bundle: ${OUT} (${size_mib} MiB; binary ${stripped_mib} MiB stripped, $(( $(stat -c %s "${OUT}/bin/ecgr1.xz") / 1048576 )) MiB compressed)"
if [ "${size_mib}" -ge "${LIMIT_MIB}" ]; then
    echo "the bundle is ${size_mib} MiB, over the ${LIMIT_MIB} MiB a GPU machine accepts" >&2
    exit 1
fi

# Self-test here, where there is no GPU: the binary must start, find no CUDA device and say so
# (not panic), and still pass the f32 parity cases on the CPU.
echo "== self-test (no GPU here)"
"${OUT}/scripts/gpu-check.sh" --self-test --out "$(dirname "${OUT}")/selftest-out"
