#!/usr/bin/env python3
"""Baseline for `ecgr1 bench formats`: time the reference Python readers on one file.

Usage: bench_readers.py FORMAT PATH REPEATS
Prints one JSON line: {"reader": ..., "ms_per_read": ..., "repeats": N} or {"error": ...}.
Readers: WFDB -> wfdb.rdsamp, EDF -> pyedflib, DICOM -> pydicom waveform_array,
CSV -> numpy.loadtxt, HL7 aECG -> xml.etree + numpy (no reference library exists).
Versions are pinned in scripts/requirements-bench.txt.
"""
import json
import sys
import time


def reader(fmt, path):
    if fmt == "wfdb":
        import wfdb

        record = path[:-4] if path.endswith((".hea", ".dat")) else path
        return "wfdb.rdsamp", lambda: wfdb.rdsamp(record)
    if fmt in ("edf", "edf+"):
        import pyedflib

        def read_edf():
            f = pyedflib.EdfReader(path)
            try:
                return [f.readSignal(i) for i in range(f.signals_in_file)]
            finally:
                f.close()

        return "pyedflib.EdfReader", read_edf
    if fmt == "dicom":
        import pydicom

        def read_dcm():
            ds = pydicom.dcmread(path)
            return ds.waveform_array(0)

        return "pydicom.waveform_array", read_dcm
    if fmt == "csv":
        import numpy as np

        return "numpy.loadtxt", lambda: np.loadtxt(path, delimiter=",", skiprows=1)
    if fmt == "hl7-aecg":
        import xml.etree.ElementTree as ET

        import numpy as np

        def read_xml():
            root = ET.parse(path).getroot()
            return [np.array(d.text.split(), dtype=float) for d in root.iter() if d.tag.endswith("digits")]

        return "xml.etree+numpy", read_xml
    raise ValueError(f"no reference reader for {fmt}")


def main():
    fmt, path, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    try:
        name, fn = reader(fmt, path)
        fn()  # warm-up: imports and caches
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        elapsed = time.perf_counter() - start
        print(json.dumps({"reader": name, "ms_per_read": elapsed * 1000 / repeats, "repeats": repeats}))
    except Exception as e:  # reported, not raised: the Rust side prints it as the baseline's absence
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))


if __name__ == "__main__":
    main()
