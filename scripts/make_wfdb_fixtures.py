#!/usr/bin/env python3
"""Generate WFDB reference fixtures with the reference Python reader/writer (wfdb-python).

Deterministic (fixed seed, fixed synthetic waveform). Versions pinned in
scripts/requirements-wfdb.txt. Run from the repository root:

    pip install -r scripts/requirements-wfdb.txt
    python3 scripts/make_wfdb_fixtures.py            # writes fixtures and the sample record
    python3 scripts/make_wfdb_fixtures.py --check-written   # python reads ecgr1's written file

Outputs:
  tests/fixtures/wfdb/<name>.hea/.dat   12-lead records written by wfdb.wrsamp, one per format
  tests/fixtures/wfdb/<name>.json       what wfdb.rdrecord reads back: digital values,
                                        physical values, gains, baselines, units
  tests/fixtures/wfdb/multifile.*       12 signals spread over two .dat files (212 and 16)
  assets/samples/synthetic_sinus.*      12-lead, 10 s, 500 Hz, format 16 sinus rhythm at 70 bpm

--check-written reads tests/fixtures/wfdb/written/*.hea (written by ecgr1's WFDB writer; the
Rust test `wfdb_reference` keeps those bytes in sync) with wfdb.rdrecord and checks that the
values equal the source record's reference values within one ADC unit of the written gain.
"""

import json
import math
import os
import sys

import numpy as np
import wfdb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "wfdb")
SAMPLES = os.path.join(ROOT, "assets", "samples")

LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
RATE_HZ = 500
HEART_RATE_BPM = 70.0

# Waves relative to the R peak: (name, centre offset s, width sigma s).
WAVES = [("P", -0.20, 0.025), ("Q", -0.03, 0.008), ("R", 0.0, 0.010), ("S", 0.03, 0.010), ("T", 0.25, 0.050)]
# Amplitudes in mV of P, Q, R, S, T for the leads that are not computed from others.
AMPLITUDES_MV = {
    "I": [0.08, -0.05, 0.70, -0.10, 0.20],
    "II": [0.15, -0.08, 1.10, -0.20, 0.30],
    "V1": [0.05, 0.00, 0.20, -0.90, -0.10],
    "V2": [0.06, 0.00, 0.40, -1.20, 0.30],
    "V3": [0.07, 0.00, 0.80, -0.80, 0.40],
    "V4": [0.08, -0.05, 1.40, -0.40, 0.45],
    "V5": [0.08, -0.08, 1.30, -0.20, 0.35],
    "V6": [0.08, -0.06, 1.00, -0.10, 0.25],
}


def synthetic_ecg_mv(n_samples, start_s=0.0, seed=1234):
    """12 x n array (mV): sum of Gaussian waves per beat; limb leads by Einthoven/Goldberger."""
    rng = np.random.default_rng(seed)
    t = start_s + np.arange(n_samples) / RATE_HZ
    rr = 60.0 / HEART_RATE_BPM
    first_r = 0.35
    peaks = np.arange(first_r, t[-1] + rr, rr)
    out = {}
    for lead, amps in AMPLITUDES_MV.items():
        x = np.zeros(n_samples)
        for r in peaks:
            for (_, offset, sigma), amp in zip(WAVES, amps):
                x += amp * np.exp(-0.5 * ((t - r - offset) / sigma) ** 2)
        x += rng.normal(0.0, 0.005, n_samples)  # 5 µV of noise
        out[lead] = x
    i, ii = out["I"], out["II"]
    out["III"] = ii - i
    out["aVR"] = -(i + ii) / 2
    out["aVL"] = i - ii / 2
    out["aVF"] = ii - i / 2
    return np.stack([out[lead] for lead in LEADS], axis=1)


# Per format: gain (adu per unit), baseline, units. Chosen so the ECG fits the format's range
# and so that the fixtures exercise non-zero baselines and µV units.
FORMATS = {
    "8": (100.0, 0, "mV"),
    "16": (1000.0, 0, "mV"),
    "24": (100.0, 50, "uV"),
    "32": (1.0e6, -7, "mV"),
    "61": (1000.0, 12, "mV"),
    "80": (50.0, 3, "mV"),
    "160": (1000.0, 0, "mV"),
    "212": (200.0, 0, "mV"),
    "310": (150.0, -4, "mV"),
    "311": (150.0, 5, "mV"),
}
FIXTURE_SAMPLES = 160
# Formats wfdb-python 4.3.1 reads but cannot write: the script packs their data files itself
# (following signal(5)) and checks that wfdb.rdrecord decodes exactly the values packed.
SELF_PACKED = {"8", "61", "160", "310", "311"}


def to_units(mv, units):
    return mv * 1000.0 if units == "uV" else mv


def dump_reference(record_dir, name, path_json):
    digital = wfdb.rdrecord(os.path.join(record_dir, name), physical=False)
    physical = wfdb.rdrecord(os.path.join(record_dir, name), physical=True)
    ref = {
        "record": name,
        "reader": f"wfdb-python {wfdb.__version__} rdrecord",
        "fmt": digital.fmt,
        "fs": float(digital.fs),
        "sig_len": int(digital.sig_len),
        "sig_name": digital.sig_name,
        "units": digital.units,
        "adc_gain": [float(g) for g in digital.adc_gain],
        "baseline": [int(b) for b in digital.baseline],
        # Digital values per signal; the format's invalid value where the sample is missing.
        "digital": [[int(v) for v in digital.d_signal[:, k]] for k in range(digital.n_sig)],
        # Physical values per signal in the record's units (null for invalid samples).
        "physical": [
            [None if math.isnan(v) else float(f"{v:.9g}") for v in physical.p_signal[:, k]]
            for k in range(physical.n_sig)
        ],
    }
    with open(path_json, "w") as f:
        json.dump(ref, f, separators=(",", ":"))
        f.write("\n")
    return ref


def pack(fmt, d):
    """Pack frame-interleaved digital values (2-D [t, signal]) as signal(5) describes."""
    v = d.astype(np.int64).reshape(-1)
    if fmt == "61":
        return v.astype(">i2").tobytes()
    if fmt == "160":
        return (v + 32768).astype("<u2").tobytes()
    if fmt == "8":
        n_sig = d.shape[1]
        diffs = np.diff(d.astype(np.int64), axis=0, prepend=d[:1].astype(np.int64))
        assert np.all(np.abs(diffs) <= 127), "format 8 differences must fit in 8 bits"
        assert diffs.shape[1] == n_sig
        return diffs.reshape(-1).astype("i1").tobytes()
    assert len(v) % 3 == 0, "310/311 fixtures hold whole groups of three values"
    v = v & 0x3FF
    v0, v1, v2 = v[0::3], v[1::3], v[2::3]
    if fmt == "311":
        w = v0 | (v1 << 10) | (v2 << 20)
        return w.astype("<u4").tobytes()
    if fmt == "310":
        w0 = (v0 << 1) | ((v2 & 0x1F) << 11)
        w1 = (v1 << 1) | ((v2 >> 5) << 11)
        return np.stack([w0, w1], axis=1).reshape(-1).astype("<u2").tobytes()
    raise ValueError(fmt)


def repack(name, fmt):
    """Turn a format-16 record written by wrsamp into format `fmt`: same digital values,
    header format and resolution fields changed, data file packed by `pack`."""
    d = wfdb.rdrecord(os.path.join(FIXTURES, name), physical=False).d_signal.astype(np.int64)
    sentinel = {"8": None, "61": -32768, "160": -32768, "310": -512, "311": -512}[fmt]
    if sentinel is not None:
        d[d == -32768] = sentinel
    else:
        assert not np.any(d == -32768), "format 8 has no invalid-sample value"
    checksums = [int(x) for x in d.sum(axis=0) % 65536]
    res = {"8": 8, "61": 16, "160": 16, "310": 10, "311": 10}[fmt]
    hea = os.path.join(FIXTURES, f"{name}.hea")
    with open(hea) as f:
        lines = f.read().splitlines()
    out = []
    for line in lines:
        fields = line.split(" ")
        if fields[0] == f"{name}.dat":
            k = sum(1 for o in out if o.startswith(f"{name}.dat "))
            fields[1] = fmt
            fields[3] = str(res)
            fields[6] = str(checksums[k])
        out.append(" ".join(fields))
    with open(hea, "w") as f:
        f.write("\n".join(out) + "\n")
    with open(os.path.join(FIXTURES, f"{name}.dat"), "wb") as f:
        f.write(pack(fmt, d))
    return d


def write_format_fixtures():
    os.makedirs(FIXTURES, exist_ok=True)
    ecg = synthetic_ecg_mv(FIXTURE_SAMPLES, start_s=0.2)
    written = []
    for fmt, (gain, baseline, units) in FORMATS.items():
        name = f"fmt{fmt}"
        sig = to_units(ecg.copy(), units)
        if fmt != "8":
            # One missing sample in V6 exercises the invalid-sample value.
            sig[17, 11] = np.nan
        try:
            wfdb.wrsamp(
                name,
                fs=RATE_HZ,
                units=[units] * 12,
                sig_name=LEADS,
                p_signal=sig,
                fmt=["16" if fmt in SELF_PACKED else fmt] * 12,
                adc_gain=[gain] * 12,
                baseline=[baseline] * 12,
                comments=[f"synthetic 12-lead ECG, format {fmt}", "<age>: 50 <sex>: F"],
                base_time=__import__("datetime").time(8, 30, 0),
                base_date=__import__("datetime").date(2024, 3, 1),
                write_dir=FIXTURES,
            )
        except Exception as e:  # report formats the reference writer refuses
            print(f"format {fmt}: wfdb.wrsamp cannot write it: {e}")
            continue
        packed = repack(name, fmt) if fmt in SELF_PACKED else None
        ref = dump_reference(FIXTURES, name, os.path.join(FIXTURES, f"{name}.json"))
        if packed is not None:
            # The reference reader must decode exactly the values this script packed.
            assert ref["digital"] == [[int(v) for v in packed[:, k]] for k in range(12)], fmt
        written.append(fmt)
    print("formats written:", ", ".join(written))

    # Twelve signals over two data files with different formats.
    sig = ecg.copy()
    rec = wfdb.Record(
        record_name="multifile",
        n_sig=12,
        fs=RATE_HZ,
        sig_len=FIXTURE_SAMPLES,
        file_name=["multifile_a.dat"] * 6 + ["multifile_b.dat"] * 6,
        fmt=["212"] * 6 + ["16"] * 6,
        adc_gain=[200.0] * 6 + [1000.0] * 6,
        baseline=[0] * 12,
        units=["mV"] * 12,
        sig_name=LEADS,
        p_signal=sig,
        comments=["signals spread over two data files"],
    )
    rec.set_d_features(do_adc=True)
    rec.set_defaults()
    rec.wrsamp(write_dir=FIXTURES)
    dump_reference(FIXTURES, "multifile", os.path.join(FIXTURES, "multifile.json"))


def write_sample():
    os.makedirs(SAMPLES, exist_ok=True)
    ecg = synthetic_ecg_mv(RATE_HZ * 10, start_s=0.0, seed=70)
    wfdb.wrsamp(
        "synthetic_sinus",
        fs=RATE_HZ,
        units=["mV"] * 12,
        sig_name=LEADS,
        p_signal=ecg,
        fmt=["16"] * 12,
        adc_gain=[1000.0] * 12,
        baseline=[0] * 12,
        comments=[
            "synthetic sinus rhythm, 70 bpm, sum of Gaussian P/QRS/T waves (scripts/make_wfdb_fixtures.py)",
            "not a recording of a person",
        ],
        write_dir=SAMPLES,
    )


def check_written():
    """Python's reader must read ecgr1's written records as the values of their source."""
    written_dir = os.path.join(FIXTURES, "written")
    names = sorted(f[:-4] for f in os.listdir(written_dir) if f.endswith(".hea"))
    if not names:
        sys.exit("no written records found: run `cargo test -p ecgr1-engine --test wfdb_reference` first")
    failures = 0
    for name in names:
        # written/<source>.hea was written from fixture <source>.
        with open(os.path.join(FIXTURES, f"{name}.json")) as f:
            ref = json.load(f)
        rec = wfdb.rdrecord(os.path.join(written_dir, name), physical=True)
        assert rec.fs == ref["fs"], (name, rec.fs, ref["fs"])
        assert rec.sig_len == ref["sig_len"], name
        worst = 0.0
        for k in range(ref["sig_len"] and len(ref["physical"])):
            scale_ref = 1000.0 if ref["units"][k] == "mV" else 1.0
            scale_out = 1000.0 if rec.units[k] == "mV" else 1.0
            step_uv = scale_out / rec.adc_gain[k]
            for t, v in enumerate(ref["physical"][k]):
                got = rec.p_signal[t, k]
                if v is None:
                    if not math.isnan(got):
                        print(f"{name}: signal {k} sample {t}: expected missing, got {got}")
                        failures += 1
                    continue
                diff = abs(got * scale_out - v * scale_ref)
                worst = max(worst, diff)
                if diff > step_uv + 1e-6:
                    print(f"{name}: signal {k} sample {t}: {got} vs reference {v}")
                    failures += 1
        print(f"{name}: wfdb-python reads ecgr1's file; worst difference {worst:.6f} µV")
    if failures:
        sys.exit(f"{failures} mismatches")
    print("check-written: all written records match")


if __name__ == "__main__":
    if "--check-written" in sys.argv:
        check_written()
    else:
        write_format_fixtures()
        write_sample()
