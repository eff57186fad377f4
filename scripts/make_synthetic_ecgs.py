#!/usr/bin/env python3
"""Synthetic 12-lead ECGs with exact beat truth for the feature-database tests.

Each record is 10 s × 12 leads at 500 Hz, built from a moving cardiac dipole: every wave
(P, Q, R, S, T) is a Gaussian in time whose 3-D dipole vector is projected onto the twelve
lead vectors. Added on top: baseline wander (0.15–0.4 Hz sines), powerline hum (50 or 60 Hz)
and muscle noise (band-limited Gaussian noise). The R wave centre of every beat is the truth.

Output (deterministic, fixed seeds), in tests/fixtures/features/synthetic/:
  <name>.i16      int16 little-endian µV, lead-major (lead 0 samples, then lead 1, ...)
  index.json      per record: file, sample rate, lead names, samples, R-peak sample indices,
                  beat kinds ("N" or "V"), true mean heart rate, noise settings.
Install: pip install -r scripts/requirements-features.txt
"""
import json
import pathlib

import numpy as np

FS = 500
SECONDS = 10
N = FS * SECONDS
LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
OUT = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/features/synthetic"


def lead_vectors():
    """Unit-ish projection vectors (x: left, y: down, z: anterior) for the 12 leads."""
    def frontal(deg, gain=1.0):
        r = np.deg2rad(deg)
        return np.array([np.cos(r), np.sin(r), 0.0]) * gain
    vecs = {
        "I": frontal(0), "II": frontal(60), "III": frontal(120),
        "aVR": frontal(-150, np.sqrt(3) / 2), "aVL": frontal(-30, np.sqrt(3) / 2),
        "aVF": frontal(90, np.sqrt(3) / 2),
    }
    # Precordial leads sweep from anterior-right (V1) to left-lateral (V6).
    for i, ang in enumerate([-100, -80, -60, -40, -20, 0]):
        r = np.deg2rad(ang)
        vecs[f"V{i + 1}"] = np.array([np.cos(r) * 1.1, 0.25, -np.sin(r) * 1.1])
    return np.array([vecs[l] for l in LEADS])


# Wave: (offset from R in s (scaled for T), width s, dipole vector in µV)
NORMAL = {
    "P": (-0.16, 0.022, np.array([60.0, 110.0, -20.0])),
    "Q": (-0.025, 0.008, np.array([-60.0, -40.0, 120.0])),
    "R": (0.0, 0.011, np.array([900.0, 1100.0, -500.0])),
    "S": (0.028, 0.010, np.array([-150.0, -150.0, 500.0])),
    "T": (0.30, 0.055, np.array([180.0, 220.0, -40.0])),
}
PVC = {
    "Q": (-0.03, 0.02, np.array([-300.0, 200.0, 400.0])),
    "R": (0.0, 0.030, np.array([-700.0, 1300.0, 900.0])),
    "S": (0.055, 0.025, np.array([400.0, -300.0, -600.0])),
    "T": (0.32, 0.07, np.array([300.0, -350.0, -300.0])),
}


def add_beat(sig, t_r, rr, waves, lv, t, with_p=True):
    qt_scale = np.sqrt(max(rr, 0.3))  # Bazett-like: T moves with rate
    for name, (off, width, vec) in waves.items():
        if name == "P" and not with_p:
            continue
        centre = t_r + (off * qt_scale if name == "T" else off)
        lo, hi = np.searchsorted(t, [centre - 6 * width, centre + 6 * width])
        g = np.exp(-0.5 * ((t[lo:hi] - centre) / width) ** 2)
        sig[:, lo:hi] += np.outer(lv @ vec, g)


def make(name, rr_list, seed, mains_hz, kinds=None, af=False, wander_uv=300.0, emg_uv=25.0, mains_uv=60.0):
    rng = np.random.default_rng(seed)
    lv = lead_vectors()
    t = np.arange(N) / FS
    sig = np.zeros((12, N))
    r_times = []
    tr = 0.35 + rng.uniform(0, 0.1)
    i = 0
    while True:
        rr = rr_list[i % len(rr_list)]
        if tr > SECONDS - 0.35:
            break
        r_times.append(tr)
        tr += rr
        i += 1
    kinds = kinds or ["N"] * len(r_times)
    kinds = kinds[: len(r_times)]
    for k, (tr, kind) in enumerate(zip(r_times, kinds)):
        rr = (r_times[k] - r_times[k - 1]) if k > 0 else (r_times[1] - r_times[0])
        if kind == "V":
            add_beat(sig, tr, rr, PVC, lv, t)
        else:
            add_beat(sig, tr, rr, NORMAL, lv, t, with_p=not af)
    if af:
        # Fibrillatory waves: 5–7 Hz, ~40 µV, varying phase.
        f = 6.0 + 0.5 * np.sin(2 * np.pi * 0.3 * t)
        fw = 40.0 * np.sin(2 * np.pi * np.cumsum(f) / FS + rng.uniform(0, 6))
        sig += np.outer(np.abs(lv @ np.array([0.3, 0.6, -0.8])) / 1.2, fw)
    # Baseline wander: two slow sines, different per lead.
    for li in range(12):
        for f in (0.15, 0.33):
            sig[li] += wander_uv * rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.28))
    # Powerline.
    sig += mains_uv * np.sin(2 * np.pi * mains_hz * t + rng.uniform(0, 6.28))
    # Muscle noise: white noise smoothed by a 3-tap kernel (band-limited to ~150 Hz).
    emg = rng.normal(0, emg_uv, size=(12, N + 2))
    sig += (emg[:, :-2] + emg[:, 1:-1] + emg[:, 2:]) / np.sqrt(3)
    r_idx = [int(round(x * FS)) for x in r_times]
    rr_true = np.diff(r_times)
    return sig, {
        "name": name,
        "file": f"{name}.i16",
        "sample_rate_hz": FS,
        "leads": LEADS,
        "samples": N,
        "r_peaks": r_idx,
        "beat_kinds": kinds,
        "true_mean_hr_bpm": float(60.0 / rr_true.mean()),
        "mains_hz": mains_hz,
        "af_like": af,
    }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    records = []
    for k, bpm in enumerate([40, 60, 75, 100, 120, 150]):
        rr = 60.0 / bpm
        # Small physiological variability (±1 %), deterministic.
        rng = np.random.default_rng(100 + k)
        rrs = list(rr * (1 + 0.01 * rng.standard_normal(40)))
        records.append(make(f"sinus_{bpm}bpm", rrs, seed=k, mains_hz=50 if k % 2 == 0 else 60))
    # Ectopic: sinus 70 bpm with PVCs (premature by 35 %, compensatory pause).
    base = 60.0 / 70
    rrs, kinds = [], []
    for k in range(20):
        if k % 4 == 2:
            rrs += [base * 0.65, base * 1.35]
            kinds += ["V", "N"]
        else:
            rrs.append(base)
            kinds.append("N")
    kinds = ["N"] + kinds  # kind of beat k is set by the RR that precedes it
    records.append(make("ectopic_pvc", rrs, seed=20, mains_hz=50, kinds=kinds))
    # Irregular, AF-like: RR uniformly random in 0.45–1.05 s, no P waves, fibrillatory waves.
    rng = np.random.default_rng(30)
    rrs = list(rng.uniform(0.45, 1.05, size=40))
    records.append(make("af_like", rrs, seed=31, mains_hz=60, af=True))
    index = []
    for sig, meta in records:
        data = np.clip(np.rint(sig), -32768, 32767).astype("<i2")
        (OUT / meta["file"]).write_bytes(data.tobytes())
        index.append(meta)
    (OUT / "index.json").write_text(json.dumps(index, indent=1))
    total = sum((OUT / m["file"]).stat().st_size for m in index)
    print(f"wrote {len(index)} records, {total} bytes, to {OUT}")


if __name__ == "__main__":
    main()
