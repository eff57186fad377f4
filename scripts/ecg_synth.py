"""A small deterministic synthetic ECG shared by the DICOM and aECG fixture generators.

Each beat is a sum of Gaussian waves (P, Q, R, S, T) on a frontal/horizontal heart-vector
model, so the limb leads obey Einthoven's and Goldberger's relations exactly (III = II - I,
...), which lets the readers' limb-lead derivation be checked against the truth.
"""

import math
import random

LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]

# Wave: (centre within beat in s, width s, frontal amplitude mV, frontal angle deg, precordial gains V1..V6)
WAVES = [
    (0.10, 0.025, 0.15, 60, [0.05, 0.08, 0.10, 0.10, 0.10, 0.08]),   # P
    (0.20, 0.010, -0.10, 60, [0.0, -0.05, -0.10, -0.10, -0.08, -0.06]),  # Q
    (0.22, 0.012, 1.20, 50, [0.30, 0.60, 0.90, 1.30, 1.40, 1.10]),  # R
    (0.245, 0.012, -0.25, 50, [-1.00, -1.20, -0.70, -0.40, -0.20, -0.10]),  # S
    (0.45, 0.045, 0.30, 45, [0.10, 0.25, 0.35, 0.40, 0.35, 0.25]),  # T
]


def synth(rate_hz, seconds, heart_rate_bpm=72.0, seed=1, noise_uv=4.0):
    """Returns {lead: [µV floats]} for the 12 standard leads."""
    rng = random.Random(seed)
    n = int(round(rate_hz * seconds))
    rr = 60.0 / heart_rate_bpm
    out = {lead: [0.0] * n for lead in LEADS}
    for k in range(n):
        t = k / rate_hz
        phase = t % rr
        hx = hy = 0.0
        prec = [0.0] * 6
        for centre, width, amp, angle, gains in WAVES:
            g = math.exp(-0.5 * ((phase - centre) / width) ** 2)
            a = math.radians(angle)
            hx += amp * g * math.cos(a)
            hy += amp * g * math.sin(a)
            for j in range(6):
                prec[j] += gains[j] * g
        wander = 0.03 * math.sin(2 * math.pi * 0.2 * t)
        lead_i = (hx + wander) * 1000.0 + rng.gauss(0, noise_uv)
        # Lead II axis at 60 degrees.
        lead_ii = (hx * math.cos(math.radians(60)) + hy * math.sin(math.radians(60)) + wander) * 1000.0
        lead_ii += rng.gauss(0, noise_uv)
        out["I"][k] = lead_i
        out["II"][k] = lead_ii
        out["III"][k] = lead_ii - lead_i
        out["aVR"][k] = -(lead_i + lead_ii) / 2
        out["aVL"][k] = lead_i - lead_ii / 2
        out["aVF"][k] = lead_ii - lead_i / 2
        for j in range(6):
            out[f"V{j + 1}"][k] = prec[j] * 1000.0 + rng.gauss(0, noise_uv)
    return out
