#!/usr/bin/env bash
# Installs, without root and without a GPU, what building the `cuda` feature needs: NVIDIA's
# nvcc (with cicc, the CUDA runtime headers and CCCL) from PyPI, into a private folder.
# candle-kernels' build script compiles its .cu kernels to PTX with this nvcc; cudarc reads
# the toolkit version from it. Nothing is linked against CUDA libraries by a library build or
# `cargo check`.
#
# Prints the environment to use, for `eval "$(scripts/install-cuda-toolchain.sh)"`.
#
# Versions: CUDA 13.4 by default (cudarc 0.19.10, used by candle 0.11.1, knows 11.4–13.4; 13.5
# is refused). ECGR1_CUDA_VERSION and ECGR1_CUDA_CCCL_VERSION pick another release, for a
# binary that must run under an older driver (PTX from nvcc 13.4 does not load under a 13.0
# driver): scripts/gpu-bundle.sh builds with 13.0. ECGR1_CUDA_COMPUTE_CAP picks the GPU
# generation candle's kernels are compiled for (default 80, Ampere; 90 is Hopper).
set -euo pipefail

CUDA_VERSION="${ECGR1_CUDA_VERSION:-13.4.92}"
CCCL_VERSION="${ECGR1_CUDA_CCCL_VERSION:-13.3.5.0.6}"
COMPUTE_CAP="${ECGR1_CUDA_COMPUTE_CAP:-80}"
DIR="${ECGR1_CUDA_DIR:-${HOME}/.cache/ecgr1-cuda/${CUDA_VERSION}}"
ROOT="${DIR}/nvidia/cu13"

if [ ! -x "${ROOT}/bin/nvcc" ] || [ ! -x "${ROOT}/nvvm/bin/cicc" ]; then
    rm -rf "${DIR}"
    mkdir -p "${DIR}"
    # One pip call: --target replaces the shared nvidia/ folder on a second call.
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "${DIR}" \
        "nvidia-cuda-nvcc==${CUDA_VERSION}" \
        "nvidia-cuda-runtime==${CUDA_VERSION}" \
        "nvidia-cuda-crt==${CUDA_VERSION}" \
        "nvidia-nvvm==${CUDA_VERSION}" \
        "nvidia-cuda-cccl==${CCCL_VERSION}" >&2
fi

# Wheels do not always keep the executable bit.
chmod +x "${ROOT}/bin/"* "${ROOT}/nvvm/bin/"* 2>/dev/null || true
"${ROOT}/bin/nvcc" --version >&2

cat <<ENV
export CUDA_ROOT="${ROOT}"
export CUDA_PATH="${ROOT}"
export CUDA_HOME="${ROOT}"
export PATH="${ROOT}/bin:\${PATH}"
# No GPU to ask: compile the kernels for the generation named (sm_80 unless told otherwise).
export CUDA_COMPUTE_CAP=${COMPUTE_CAP}
ENV
