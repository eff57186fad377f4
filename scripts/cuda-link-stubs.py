#!/usr/bin/env python3
"""Link-time stand-ins for the CUDA libraries candle links against, for building the `cuda`
binary on a machine without NVIDIA's driver (scripts/gpu-bundle.sh).

candle 0.11 turns on cudarc's `dynamic-linking`, so the binary names libcuda.so.1 (the driver),
libcublas.so.13, libcublasLt.so.13, libcurand.so.10 and libnvrtc.so.13 as needed libraries, and
the linker wants a file for each. The toolkit's own answer is its stub libcuda.so (every entry
point returns CUDA_ERROR_STUB_LIBRARY), which no package registry here ships; so this writes the
same kind of library for each, with the real library's soname and every function cudarc declares
for it (read from cudarc's sources), each returning an error code:

  python3 scripts/cuda-link-stubs.py CUDARC_SRC_DIR OUT_DIR

OUT_DIR gets libNAME.so.N and the libNAME.so link name. On the GPU machine the real libraries
(its driver, the nvidia-* wheels beside its torch) are found instead, by soname. Here the stubs
also let the self-test start the binary: cuInit answers 34 (CUDA_ERROR_STUB_LIBRARY), candle
returns that as an error and ecgr1 says "no CUDA device" and runs on the CPU.
"""

import os
import re
import subprocess
import sys

# (cudarc module, soname, link name, the error every stub returns)
LIBRARIES = [
    ("driver", "libcuda.so.1", "libcuda.so", 34),  # CUDA_ERROR_STUB_LIBRARY
    ("cublas", "libcublas.so.13", "libcublas.so", 1),  # CUBLAS_STATUS_NOT_INITIALIZED
    ("cublaslt", "libcublasLt.so.13", "libcublasLt.so", 1),
    ("curand", "libcurand.so.10", "libcurand.so", 101),  # CURAND_STATUS_NOT_INITIALIZED
    ("nvrtc", "libnvrtc.so.13", "libnvrtc.so", 7),  # NVRTC_ERROR_BUILTIN_OPERATION_FAILURE
]

# The foreign declarations inside cudarc's `extern "C" { … }` blocks: indented, ending in ';'.
DECLARATION = re.compile(r"^\s+fn (\w+)\(.*;\s*$")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: cuda-link-stubs.py CUDARC_SRC_DIR OUT_DIR")
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for module, soname, link_name, error in LIBRARIES:
        path = os.path.join(src, "src", module, "sys", "mod.rs")
        names = sorted({m.group(1) for line in open(path) if (m := DECLARATION.match(line))})
        if not names:
            sys.exit(f"{path}: no foreign functions found; cudarc's layout changed")
        c_file = os.path.join(out, soname + ".c")
        with open(c_file, "w") as f:
            f.write(f"/* Link-time stub of {soname}: written by scripts/cuda-link-stubs.py. */\n")
            for name in names:
                f.write(f"int {name}(void) {{ return {error}; }}\n")
        target = os.path.join(out, soname)
        subprocess.run(["cc", "-shared", "-fPIC", "-O1", f"-Wl,-soname,{soname}", "-o", target, c_file],
                       check=True)
        link = os.path.join(out, link_name)
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(soname, link)
        print(f"{target}: {len(names)} functions")


if __name__ == "__main__":
    main()
