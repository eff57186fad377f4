#!/usr/bin/env python3
"""Generates the EDF/EDF+ and CSV fixtures and sample assets, deterministically.

Writes (paths relative to the repository root):
  tests/fixtures/edf/twelve_lead_plus.edf   EDF+C by pyedflib: 12 leads with label variants
      ("ECG I", "II", "Lead III", "EKG V1-Ref", ...), mixed uV/mV dimensions, 12- and 16-bit
      digital ranges, a 50 Hz respiration channel, an SpO2 (%) channel, an annotation.
  tests/fixtures/edf/plain_three_lead.edf   plain EDF by pyedflib: I, II, V1 in mV.
  tests/fixtures/edf/reference.json         pyedflib's physical values, ranges, rates and
      annotations for both files (what the Rust parity tests compare against).
  tests/fixtures/csv/*.csv                  small valid CSV variants.
  tests/fixtures/bad/edf/*, tests/fixtures/bad/csv/* and their expected.json.
  assets/samples/synthetic_sinus.edf        12-lead synthetic sinus rhythm, 70 bpm, 500 Hz, 10 s.
  assets/samples/synthetic_sinus.csv        the same signal, integer µV.
  assets/samples/synthetic_twi.csv          62 bpm, T-wave inversion in V1–V3, integer µV.

With --check-writer it also asks cargo to (re)write tests/fixtures/edf/written_by_ecgr1.edf
(our EDF+ writer's output for twelve_lead_plus.edf, a golden file a Rust test compares
against) and reads it back with pyedflib, reporting the largest difference from pyedflib's
reading of the original.

Inputs are pinned in scripts/requirements-edf.txt; nothing here is random except a seeded
generator.
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyedflib

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"
EDF_DIR = FIX / "edf"
CSV_DIR = FIX / "csv"
BAD_EDF = FIX / "bad" / "edf"
BAD_CSV = FIX / "bad" / "csv"
ASSETS = ROOT / "assets" / "samples"

LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]

# Wave shapes: (centre relative to the R peak in s, Gaussian sigma in s).
WAVES = {
    "P": (-0.160, 0.022),
    "Q": (-0.022, 0.006),
    "R": (0.000, 0.008),
    "S": (0.024, 0.008),
    "T": (0.250, 0.042),
}
# Amplitudes in mV for the independent leads; III, aVR, aVL, aVF follow from I and II.
AMPLITUDES = {
    "I": dict(P=0.08, Q=-0.05, R=0.60, S=-0.10, T=0.20),
    "II": dict(P=0.12, Q=-0.08, R=1.00, S=-0.15, T=0.30),
    "V1": dict(P=0.06, Q=0.00, R=0.20, S=-0.90, T=0.10),
    "V2": dict(P=0.08, Q=0.00, R=0.40, S=-1.20, T=0.35),
    "V3": dict(P=0.08, Q=0.00, R=0.70, S=-0.80, T=0.40),
    "V4": dict(P=0.08, Q=-0.03, R=1.20, S=-0.40, T=0.45),
    "V5": dict(P=0.08, Q=-0.05, R=1.30, S=-0.20, T=0.35),
    "V6": dict(P=0.07, Q=-0.05, R=1.00, S=-0.10, T=0.25),
}
TWI_T = {"V1": -0.25, "V2": -0.35, "V3": -0.30}


def synthetic_ecg(bpm, rate_hz=500, seconds=10.0, twi=False, seed=7):
    """12-lead synthetic ECG in µV: a dict lead -> float array."""
    n = int(round(rate_hz * seconds))
    t = np.arange(n) / rate_hz
    rr = 60.0 / bpm
    peaks = np.arange(0.35, seconds + rr, rr)
    rng = np.random.default_rng(seed)
    out = {}
    for lead, amps in AMPLITUDES.items():
        x = np.zeros(n)
        for wave, (centre, sigma) in WAVES.items():
            a = amps[wave]
            if wave == "T" and twi and lead in TWI_T:
                a = TWI_T[lead]
            for p in peaks:
                x += a * np.exp(-0.5 * ((t - p - centre) / sigma) ** 2)
        # A little noise (5 µV rms) so the signal is not unnaturally clean.
        out[lead] = x * 1000.0 + rng.normal(0.0, 5.0, n)
    i, ii = out["I"], out["II"]
    out["III"] = ii - i
    out["aVR"] = -(i + ii) / 2
    out["aVL"] = i - ii / 2
    out["aVF"] = ii - i / 2
    return {lead: out[lead] for lead in LEADS}


def write_pyedflib(path, channels, file_type, start, annotations=(), patient=None):
    """channels: list of dicts with label, dimension, rate, pmin, pmax, dmin, dmax, data."""
    w = pyedflib.EdfWriter(str(path), len(channels), file_type=file_type)
    try:
        headers = [
            dict(
                label=c["label"],
                dimension=c["dimension"],
                sample_frequency=c["rate"],
                physical_min=c["pmin"],
                physical_max=c["pmax"],
                digital_min=c["dmin"],
                digital_max=c["dmax"],
                transducer="AgAgCl electrode",
                prefilter="HP:0.05Hz LP:150Hz",
            )
            for c in channels
        ]
        w.setSignalHeaders(headers)
        w.setStartdatetime(start)
        if patient:
            w.setPatientCode(patient["code"])
            w.setSex(patient["sex"])
            w.setBirthdate(patient["birthdate"])
            w.setPatientName(patient["name"])
            w.setEquipment(patient["equipment"])
        w.writeSamples([np.asarray(c["data"], dtype=np.float64) for c in channels])
        for onset, duration, text in annotations:
            w.writeAnnotation(onset, duration, text)
    finally:
        w.close()


def pyedflib_reference(path):
    r = pyedflib.EdfReader(str(path))
    try:
        signals = []
        for i in range(r.signals_in_file):
            signals.append(
                dict(
                    label=r.getLabel(i),
                    dimension=r.getPhysicalDimension(i),
                    sample_rate_hz=r.getSampleFrequency(i),
                    physical_min=r.getPhysicalMinimum(i),
                    physical_max=r.getPhysicalMaximum(i),
                    digital_min=r.getDigitalMinimum(i),
                    digital_max=r.getDigitalMaximum(i),
                    physical=[float(f"{v:.10g}") for v in r.readSignal(i)],
                )
            )
        onsets, durations, texts = r.readAnnotations()
        return dict(
            start=r.getStartdatetime().isoformat(),
            signals=signals,
            annotations=[
                dict(onset_s=float(o), duration_s=float(d), text=str(t))
                for o, d, t in zip(onsets, durations, texts)
            ],
        )
    finally:
        r.close()


def make_reference_edf():
    EDF_DIR.mkdir(parents=True, exist_ok=True)
    ecg = synthetic_ecg(75, rate_hz=250, seconds=2.0, seed=11)
    # (label as written, lead, dimension, physical range, digital range)
    variants = [
        ("ECG I", "I", "uV", (-3276.8, 3276.7), (-32768, 32767)),
        ("II", "II", "mV", (-5.0, 5.0), (-2048, 2047)),
        ("Lead III", "III", "uV", (-4000, 4000), (-32768, 32767)),
        ("aVR", "aVR", "mV", (-3.2768, 3.2767), (-32768, 32767)),
        ("EKG aVL", "aVL", "uV", (-2500, 2600), (-30000, 30000)),
        ("ECG aVF", "aVF", "mV", (-4.0, 4.0), (-32768, 32767)),
        ("EKG V1-Ref", "V1", "uV", (-5000, 5000), (-32768, 32767)),
        ("V2-Ref", "V2", "mV", (-6.0, 6.0), (-2048, 2047)),
        ("ECG V3", "V3", "uV", (-5000, 5000), (-32768, 32767)),
        ("V4", "V4", "mV", (-5.0, 5.0), (-32768, 32767)),
        ("Lead V5", "V5", "uV", (-5000, 5000), (-32768, 32767)),
        ("ECG V6", "V6", "mV", (-5.0, 5.0), (-32768, 32767)),
    ]
    channels = []
    for label, lead, dim, (pmin, pmax), (dmin, dmax) in variants:
        data = ecg[lead] / (1000.0 if dim == "mV" else 1.0)
        channels.append(dict(label=label, dimension=dim, rate=250, pmin=pmin, pmax=pmax,
                             dmin=dmin, dmax=dmax, data=data))
    t = np.arange(100) / 50.0
    channels.append(dict(label="Resp", dimension="mV", rate=50, pmin=-1.0, pmax=1.0,
                         dmin=-32768, dmax=32767, data=0.5 * np.sin(2 * np.pi * 0.3 * t)))
    channels.append(dict(label="SpO2", dimension="%", rate=50, pmin=0, pmax=100,
                         dmin=0, dmax=1000, data=np.full(100, 97.0)))
    plus = EDF_DIR / "twelve_lead_plus.edf"
    write_pyedflib(
        plus, channels, pyedflib.FILETYPE_EDFPLUS, dt.datetime(2021, 3, 4, 5, 6, 7),
        annotations=[(1.0, 0.5, "Sinus rhythm"), (0.25, -1, "Electrode check")],
        patient=dict(code="MCH-0234567", sex=1, birthdate=dt.date(1951, 5, 2),
                     name="Haagse_Harry", equipment="Cart9"),
    )
    plain_channels = [
        dict(label=lbl, dimension="mV", rate=250, pmin=-5.0, pmax=5.0, dmin=-32768, dmax=32767,
             data=ecg[lbl] / 1000.0)
        for lbl in ("I", "II", "V1")
    ]
    plain = EDF_DIR / "plain_three_lead.edf"
    write_pyedflib(plain, plain_channels, pyedflib.FILETYPE_EDF, dt.datetime(1999, 12, 31, 23, 59, 58))
    reference = {
        "pyedflib_version": pyedflib.__version__,
        "files": {p.name: pyedflib_reference(p) for p in (plus, plain)},
    }
    (EDF_DIR / "reference.json").write_text(json.dumps(reference) + "\n")


def write_assets():
    ASSETS.mkdir(parents=True, exist_ok=True)
    sinus = synthetic_ecg(70, seed=1)
    channels = [
        dict(label=f"ECG {lead}", dimension="uV", rate=500, pmin=-5000, pmax=5000,
             dmin=-32768, dmax=32767, data=np.clip(sinus[lead], -5000, 5000))
        for lead in LEADS
    ]
    write_pyedflib(ASSETS / "synthetic_sinus.edf", channels, pyedflib.FILETYPE_EDFPLUS,
                   dt.datetime(2024, 1, 15, 9, 30, 0))
    write_integer_csv(ASSETS / "synthetic_sinus.csv", sinus, 500)
    twi = synthetic_ecg(62, twi=True, seed=2)
    write_integer_csv(ASSETS / "synthetic_twi.csv", twi, 500)
    for name in ("synthetic_sinus.edf", "synthetic_sinus.csv", "synthetic_twi.csv"):
        size = (ASSETS / name).stat().st_size
        assert size < 300_000, f"{name} is {size} bytes"
        print(f"{name}: {size} bytes")


def write_integer_csv(path, leads, rate_hz):
    """time in ms (integers at 500 Hz) and integer µV keep the file small."""
    n = len(next(iter(leads.values())))
    step_ms = 1000 / rate_hz
    assert step_ms == int(step_ms)
    lines = ["time_ms," + ",".join(f"{lead}_uV" for lead in leads)]
    cols = [np.rint(v).astype(int) for v in leads.values()]
    for k in range(n):
        lines.append(f"{int(k * step_ms)}," + ",".join(str(c[k]) for c in cols))
    path.write_text("\n".join(lines) + "\n")


def make_csv_fixtures():
    CSV_DIR.mkdir(parents=True, exist_ok=True)
    (CSV_DIR / "semicolon_decimal_comma_mv.csv").write_text(
        "t [s];ECG II (mV);V1 (mV)\n0;0,125;-0,5\n0,004;0,25;-0,4\n0,008;0,5;-0,3\n0,012;0,25;-0,2\n"
    )
    (CSV_DIR / "tab_time_ms_uv.csv").write_text(
        "# exported by a test script\ntime_ms\tI\tII\tV2\n0\t100\t200\t300\n2\t110\t210\t310\n4\t120\t220\t320\n"
    )


# --- malformed corpus -------------------------------------------------------------------

def edf_bytes(signals, records=2, duration="1", reserved="", header_bytes=None,
              start_date="04.03.21", record_field=None):
    """A small EDF built by hand so each malformed variant breaks exactly one thing."""
    ns = len(signals)

    def f(text, width):
        b = text.encode("latin-1") if isinstance(text, str) else text
        return b[:width].ljust(width, b" ")

    out = b"".join([
        f("0", 8), f("X X X X", 80), f("Startdate 04-MAR-2021 X X X", 80), f(start_date, 8),
        f("05.06.07", 8), f(str(header_bytes if header_bytes is not None else 256 * (ns + 1)), 8),
        f(reserved, 44), f(record_field if record_field is not None else str(records), 8),
        f(duration, 8), f(str(ns), 4),
    ])
    for key, width in [("label", 16), ("transducer", 80), ("dim", 8), ("pmin", 8), ("pmax", 8),
                       ("dmin", 8), ("dmax", 8), ("prefilter", 80), ("spr", 8), ("reserved", 32)]:
        out += b"".join(f(str(s.get(key, "")), width) for s in signals)
    for r in range(records):
        for s in signals:
            spr = int(s["spr"])
            out += np.arange(spr, dtype="<i2").tobytes()
    return out


def good_signal(label, **kw):
    s = dict(label=label, dim="uV", pmin="-3276.8", pmax="3276.7", dmin="-32768", dmax="32767", spr="10")
    s.update(kw)
    return s


def make_bad_edf():
    BAD_EDF.mkdir(parents=True, exist_ok=True)
    ok = [good_signal("ECG I"), good_signal("ECG II"), good_signal("ECG V1")]
    cases = {}

    def bad(name, data, kind, field):
        (BAD_EDF / name).write_bytes(data)
        cases[name] = dict(kind=kind, field=field)

    full = edf_bytes(ok, records=3)
    bad("truncated_data.edf", full[:-7], "Truncated", "data record 3")
    bad("bad_header_length.edf", edf_bytes(ok, header_bytes=1000), "Inconsistent", "number of bytes in header")
    bad("dig_min_not_below_max.edf",
        edf_bytes([ok[0], ok[1], good_signal("ECG V1", dmin="100", dmax="100")]),
        "Invalid", "signal 3 (ECG V1) digital minimum")
    bad("phys_min_equals_max.edf", edf_bytes([good_signal("II", pmin="5", pmax="5")]),
        "Invalid", "signal 1 (II) physical minimum")
    bad("non_numeric_phys_max.edf", edf_bytes([ok[0], good_signal("ECG II", pmax="high")]),
        "Invalid", "signal 2 (ECG II) physical maximum")
    bad("non_ascii_start_date.edf", edf_bytes(ok, start_date="04.03.\xe921"), "Invalid", "start date")
    bad("edf_plus_d.edf", edf_bytes(ok, reserved="EDF+D"), "Unsupported", "reserved")
    bad("absurd_record_count.edf", edf_bytes(ok, records=1, record_field="99999999"),
        "TooLarge", "number of data records")
    bad("zero_record_duration.edf", edf_bytes(ok, duration="0"), "Invalid", "duration of a data record")
    bad("ecg_lead_in_mmhg.edf", edf_bytes([ok[0], good_signal("ECG V2", dim="mmHg")]),
        "Unsupported", "signal 2 (ECG V2) physical dimension")
    bad("signal_headers_missing.edf", edf_bytes(ok)[:300], "Truncated", "signal headers")
    bad("unknown_count_uneven_size.edf", edf_bytes(ok, record_field="-1")[:-3],
        "Inconsistent", "number of data records")
    # Issue 19 §5: labels that name no ECG lead are refused (not read as leads nobody can place).
    bad("garbage_labels.edf",
        edf_bytes([good_signal("Chan 1"), good_signal("xq#7~"), good_signal("@@@@")]),
        "Invalid", "signal labels")
    (BAD_EDF / "expected.json").write_text(json.dumps(cases, indent=1, sort_keys=True) + "\n")


def make_bad_csv():
    BAD_CSV.mkdir(parents=True, exist_ok=True)
    cases = {}

    def bad(name, text, kind, field):
        (BAD_CSV / name).write_text(text)
        cases[name] = dict(kind=kind, field=field)

    bad("ragged_row.csv", "time_s,I,II\n0,1,2\n0.002,3,4\n0.004,5\n", "Inconsistent", "row 4")
    bad("non_numeric_cell.csv", "time_s,I,II\n0,1,2\n0.002,3,abc\n", "Invalid", "row 3, column 3 (II)")
    bad("no_rate.csv", "I,II,V1\n1,2,3\n4,5,6\n", "Invalid", "sample rate")
    bad("non_uniform_time.csv", "time_s,II\n0,1\n0.002,2\n0.004,3\n0.009,4\n0.011,5\n",
        "Inconsistent", "row 5, column 1 (time_s)")
    bad("duplicate_lead.csv", "time_s,II,ECG II\n0,1,2\n0.002,3,4\n", "Inconsistent", "column 3")
    bad("unknown_unit.csv", "time_s,I,II (mmHg)\n0,1,2\n0.002,3,4\n", "Invalid", "column 3")
    bad("infinite_value.csv", "time_s,I\n0,1\n0.002,inf\n", "Invalid", "row 3, column 2 (I)")
    bad("header_only.csv", "time_s,I,II\n", "Truncated", "data rows")
    bad("time_not_increasing.csv", "time_s,I\n0,1\n0,2\n0,3\n", "Invalid", "column 1 (time_s)")
    (BAD_CSV / "expected.json").write_text(json.dumps(cases, indent=1, sort_keys=True) + "\n")


def check_writer():
    """Has cargo write our EDF+ output of twelve_lead_plus.edf, then reads it with pyedflib."""
    golden = EDF_DIR / "written_by_ecgr1.edf"
    env = dict(os.environ, ECGR1_BLESS="1")
    cmd = ["cargo", "test", "-q", "-p", "ecgr1-engine", "--lib",
           "formats::edf::tests::parity::writer_output_is_the_golden_file"]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    ours = pyedflib.EdfReader(str(golden))
    orig = pyedflib.EdfReader(str(EDF_DIR / "twelve_lead_plus.edf"))
    try:
        labels = ours.getSignalLabels()
        worst = 0.0
        for i in range(orig.signals_in_file):
            label = orig.getLabel(i)
            if label in ("Resp", "SpO2"):
                continue
            lead = label.replace("EKG ", "").replace("ECG ", "").replace("Lead ", "").replace("-Ref", "")
            j = labels.index(f"ECG {lead}")
            scale = 1000.0 if orig.getPhysicalDimension(i) == "mV" else 1.0
            a = orig.readSignal(i) * scale
            b = ours.readSignal(j)
            step = (orig.getPhysicalMaximum(i) - orig.getPhysicalMinimum(i)) / (
                orig.getDigitalMaximum(i) - orig.getDigitalMinimum(i)) * scale
            ours_step = (ours.getPhysicalMaximum(j) - ours.getPhysicalMinimum(j)) / (
                ours.getDigitalMaximum(j) - ours.getDigitalMinimum(j))
            diff = float(np.max(np.abs(a - b)))
            worst = max(worst, diff / ours_step)
            assert diff <= ours_step, f"{label}: {diff} µV > one digital unit {ours_step} µV (source step {step})"
        print(f"pyedflib {pyedflib.__version__} read {golden.name}: {ours.signals_in_file} signals, "
              f"{ours.getNSamples()[0]} samples each, file type {ours.filetype}, "
              f"largest difference {worst:.3f} of our digital unit; annotations {ours.readAnnotations()}")
    finally:
        ours.close()
        orig.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check-writer", action="store_true",
                    help="also bless and check our EDF+ writer's output with pyedflib (needs cargo)")
    args = ap.parse_args()
    make_reference_edf()
    make_csv_fixtures()
    make_bad_edf()
    make_bad_csv()
    write_assets()
    if args.check_writer:
        check_writer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
