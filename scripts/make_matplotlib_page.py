#!/usr/bin/env python3
"""Draws a standard 12-lead page with matplotlib, independently of the workstation's renderer,
so the digitiser is tested on a drawing it was not tuned to.

Page: landscape A4 (297 x 210 mm), 3 x 4 leads (I aVR V1 V4 / II aVL V2 V5 / III aVF V3 V6,
2.5 s each) and a 10 s lead II rhythm strip, 25 mm/s, 10 mm/mV, a 1 mm / 5 mm grid in pink and
red, a 1 mV calibration pulse (5 mm wide) at the start of every row, short separators where the
leads change, lead names above the trace and a title line. The signal is the bundled sample
`assets/samples/synthetic_sinus.hea`, read with wfdb.

    python3 -m venv /tmp/venv-mpl
    /tmp/venv-mpl/bin/pip install -r scripts/requirements-digitise.txt
    /tmp/venv-mpl/bin/python scripts/make_matplotlib_page.py            # writes the fixture
    /tmp/venv-mpl/bin/python scripts/make_matplotlib_page.py --dpi 200 --out /tmp/page.png

The output is deterministic for the pinned versions (no dates in the PNG metadata).
"""

import argparse
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import wfdb  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "assets" / "samples" / "synthetic_sinus"
OUT = ROOT / "tests" / "fixtures" / "digitise" / "matplotlib_3x4_150dpi.png"

PAGE_W_MM, PAGE_H_MM = 297.0, 210.0
SPEED_MM_S, GAIN_MM_MV = 25.0, 10.0
PULSE_X_MM, PULSE_W_MM = 12.0, 5.0
TRACE_X_MM = 20.0  # the trace starts here: 10 s end at 270 mm
ROW_BASELINES_MM = [48.0, 88.0, 128.0, 172.0]
COLUMNS = [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"], ["III", "aVF", "V3", "V6"]]
RHYTHM_LEAD = "II"


def grid(ax):
    """1 mm lines (light) and 5 mm lines (darker) across the whole page."""
    minor = dict(color=(1.0, 0.80, 0.80), linewidth=0.25, zorder=0)
    major = dict(color=(0.95, 0.55, 0.55), linewidth=0.55, zorder=1)
    for x in np.arange(0.0, PAGE_W_MM + 0.01, 1.0):
        ax.axvline(x, **(major if round(x) % 5 == 0 else minor))
    for y in np.arange(0.0, PAGE_H_MM + 0.01, 1.0):
        ax.axhline(y, **(major if round(y) % 5 == 0 else minor))


def pulse(ax, baseline):
    """The 1 mV calibration pulse with a short flat lead-in and lead-out."""
    top = baseline - 1.0 * GAIN_MM_MV
    x0, x1 = PULSE_X_MM, PULSE_X_MM + PULSE_W_MM
    xs = [PULSE_X_MM - 3.0, x0, x0, x1, x1, x1 + 2.0]
    ys = [baseline, baseline, top, top, baseline, baseline]
    ax.plot(xs, ys, color="black", linewidth=0.9, zorder=3, solid_joinstyle="miter")


def draw(dpi):
    record = wfdb.rdrecord(str(SAMPLE))
    fs = record.fs
    names = record.sig_name
    signal = record.p_signal  # mV
    n = signal.shape[0]
    t = np.arange(n) / fs

    fig = plt.figure(figsize=(PAGE_W_MM / 25.4, PAGE_H_MM / 25.4), dpi=dpi)
    ax = fig.add_axes([0.0, 0.0, 1.0, 1.0])
    ax.set_xlim(0.0, PAGE_W_MM)
    ax.set_ylim(PAGE_H_MM, 0.0)
    ax.set_axis_off()
    grid(ax)
    ax.text(
        8.0, 12.0,
        "synthetic_sinus  25 mm/s  10 mm/mV  (drawn by matplotlib)",
        fontsize=8, color="black", zorder=4, va="bottom",
    )
    for row, leads in enumerate(COLUMNS):
        baseline = ROW_BASELINES_MM[row]
        pulse(ax, baseline)
        for col, lead in enumerate(leads):
            k = names.index(lead)
            a, b = int(col * 2.5 * fs), int((col + 1) * 2.5 * fs)
            x = TRACE_X_MM + t[a:b] * SPEED_MM_S
            y = baseline - signal[a:b, k] * GAIN_MM_MV
            ax.plot(x, y, color="black", linewidth=0.9, zorder=3, solid_joinstyle="round")
            x_start = TRACE_X_MM + col * 2.5 * SPEED_MM_S
            ax.text(x_start + 1.5, baseline - 12.0, lead, fontsize=7, zorder=4)
            if col > 0:
                # A short separator where the lead changes.
                ax.plot([x_start, x_start], [baseline - 4.0, baseline + 4.0],
                        color="black", linewidth=0.9, zorder=3)
    baseline = ROW_BASELINES_MM[3]
    pulse(ax, baseline)
    k = names.index(RHYTHM_LEAD)
    ax.plot(TRACE_X_MM + t * SPEED_MM_S, baseline - signal[:, k] * GAIN_MM_MV,
            color="black", linewidth=0.9, zorder=3, solid_joinstyle="round")
    ax.text(TRACE_X_MM + 1.5, baseline - 12.0, RHYTHM_LEAD, fontsize=7, zorder=4)

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png", metadata={"Software": None})
    plt.close(fig)
    buf.seek(0)
    image = Image.open(buf).convert("RGB")
    # A 256-colour palette keeps the anti-aliased edges and makes the fixture small.
    image = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dpi", type=int, default=150)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    png = draw(args.dpi)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(png)
    print(f"{args.out}: {len(png) // 1024} kB at {args.dpi} dpi")


if __name__ == "__main__":
    main()
