"""Writes Philips Sierra ECG XML fixtures (XLI-compressed) and checks them with sierraecg.

- tests/fixtures/sierra/sierra_xli.xml: a PageWriter TC-style document, version 1.04,
  12 leads of 10 s at 500 Hz, 5 uV per count, XLI-compressed (written by the encoder below:
  second-difference residuals + 64, high bytes then low bytes, LZW with fixed 10-bit codes,
  the limb leads III, aVR, aVL and aVF stored as residuals against I and II), representative
  beats (Base64), the cart's global measurements and statements, a patient identifier.
- tests/fixtures/sierra/sierra_xli.reference.json: what sierraecg 0.4.0 (the independent
  reader on PyPI, pinned in requirements-sierra.txt) decodes: every lead's counts (exact), its
  sum, and the representative beats.
- tests/fixtures/bad/sierra/: malformed variants and expected.json.

Run from the repository root:
  python3 -m venv /tmp/venv-sierra && /tmp/venv-sierra/bin/pip install -r scripts/requirements-sierra.txt
  /tmp/venv-sierra/bin/python scripts/make_sierra_fixtures.py
"""

import base64
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import ecg_synth  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures", "sierra")
BAD = os.path.join(ROOT, "tests", "fixtures", "bad", "sierra")
LABELS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
RATE = 500
UV_PER_COUNT = 5
BITS = 10
MAX_CODE = (1 << BITS) - 2


def lzw_encode(data):
    table = {bytes([i]): i for i in range(256)}
    next_code = 256
    codes = []
    w = b""
    for byte in data:
        wc = w + bytes([byte])
        if wc in table:
            w = wc
            continue
        codes.append(table[w])
        if next_code <= MAX_CODE:
            table[wc] = next_code
            next_code += 1
        w = bytes([byte])
    if w:
        codes.append(table[w])
    bits = "".join(format(c, f"0{BITS}b") for c in codes)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


def xli_block(samples):
    """One lead: header + LZW(high bytes, low bytes) of the second-difference coding."""
    n = len(samples)
    values = [0] * n
    values[0], values[1] = samples[0], samples[1]
    residual = [0] * (n + 1)
    for k in range(2, n):
        residual[k] = 2 * samples[k - 1] - samples[k - 2] - samples[k]
    first = residual[2]
    for j in range(2, n):
        # values[j] carries the residual of sample j + 1 (+ 64); the last one is unused.
        values[j] = (residual[j + 1] + 64) if j + 1 < n else 64
    for v in values:
        assert -32768 <= v <= 32767
    raw = bytes([(v >> 8) & 0xFF for v in values]) + bytes([v & 0xFF for v in values])
    packed = lzw_encode(raw)
    header = len(packed).to_bytes(4, "little", signed=True) + b"\x00\x00" + first.to_bytes(2, "little", signed=True)
    return header + packed


def stored_leads(counts):
    """The limb leads as XLI stores them: residuals against I and II."""
    i, ii, iii = counts["I"], counts["II"], counts["III"]
    out = dict(counts)
    out["III"] = [b - a - c for a, b, c in zip(i, ii, iii)]
    out["aVR"] = [-r - math.floor((a + b) / 2) for a, b, r in zip(i, ii, counts["aVR"])]
    out["aVL"] = [math.floor((a - c) / 2) - r for a, c, r in zip(i, iii, counts["aVL"])]
    out["aVF"] = [math.floor((b + c) / 2) - r for b, c, r in zip(ii, iii, counts["aVF"])]
    return out


def document(counts, reps):
    stored = stored_leads(counts)
    data = b"".join(xli_block(stored[label]) for label in LABELS)
    text = base64.b64encode(data).decode("ascii")
    wrapped = "\n".join(text[i:i + 76] for i in range(0, len(text), 76))
    rep_xml = "".join(
        f'      <repbeat leadname="{label}">\n        <waveform duration="1200">'
        + base64.b64encode(b"".join(int(v).to_bytes(2, "little", signed=True) for v in reps[label])).decode("ascii")
        + "</waveform>\n      </repbeat>\n" for label in LABELS)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<restingecgdata>
  <documentinfo>
    <documenttype>PhilipsECG</documenttype>
    <documentversion>1.04</documentversion>
  </documentinfo>
  <patient>
    <generalpatientdata>
      <patientid>MRN0042</patientid>
      <name><lastname>Lefèvre</lastname><firstname>Marie</firstname></name>
      <sex>Female</sex>
    </generalpatientdata>
  </patient>
  <dataacquisition date="2026-03-15" time="10:21:32">
    <machine machineid="PageWriter TC70">PageWriter TC70</machine>
    <signalcharacteristics>
      <samplingrate>{RATE}</samplingrate>
      <resolution>16</resolution>
      <signalresolution>{UV_PER_COUNT}</signalresolution>
      <acquisitiontype>STD-12</acquisitiontype>
      <numberchannelsallocated>12</numberchannelsallocated>
    </signalcharacteristics>
  </dataacquisition>
  <interpretations>
    <interpretation>
      <globalmeasurements>
        <heartrate>72</heartrate>
        <print>152</print>
        <qrsdur>90</qrsdur>
        <qtint>400</qtint>
        <qtcb>438</qtcb>
        <pfrontaxis>58</pfrontaxis>
        <qrsfrontaxis>49</qrsfrontaxis>
        <tfrontaxis>Failed</tfrontaxis>
      </globalmeasurements>
      <statement><leftstatement>Sinus rhythm</leftstatement><rightstatement></rightstatement></statement>
      <statement><leftstatement>Normal ECG</leftstatement></statement>
    </interpretation>
  </interpretations>
  <waveforms>
    <repbeats dataencoding="Base64" samplespersec="{RATE}" resolution="{UV_PER_COUNT}" repbeatmethod="MEDIAN">
{rep_xml}    </repbeats>
    <parsedwaveforms dataencoding="Base64" compressflag="True" compressmethod="XLI" durationperchannel="10000" numberofleads="12" leadlabels="{" ".join(LABELS)}">
{wrapped}
    </parsedwaveforms>
  </waveforms>
</restingecgdata>
"""


def reference(path):
    import sierraecg

    f = sierraecg.read_file(path, include_repbeats=True)
    leads = {}
    for lead in f.leads:
        counts = [int(v) for v in lead.samples]
        leads[lead.label] = {"counts": counts, "sum": sum(counts), "rate_hz": lead.sampling_freq}
    reps = {label: {"count": len(r.samples), "sum": int(sum(int(v) for v in r.samples)), "resolution": r.resolution}
            for label, r in f.repbeats.items()}
    return {"reader": "sierraecg 0.4.0 read_file", "uv_per_count": UV_PER_COUNT,
            "leads": [lead.label for lead in f.leads], "rhythm": leads, "repbeats": reps}


def main():
    os.makedirs(FIX, exist_ok=True)
    os.makedirs(BAD, exist_ok=True)
    uv = ecg_synth.synth(RATE, 10.0, heart_rate_bpm=72.0, seed=11)
    counts = {label: [int(round(v / UV_PER_COUNT)) for v in uv[label]] for label in LABELS}
    start = int(round(60.0 / 72.0 * RATE))
    reps = {label: counts[label][start:start + 600] for label in LABELS}
    good = document(counts, reps)
    path = os.path.join(FIX, "sierra_xli.xml")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(good)
    ref = reference(path)
    # The reference must reproduce what was encoded, lead for lead and count for count.
    for label in LABELS:
        assert ref["rhythm"][label]["counts"][:len(counts[label])] == counts[label], label
    for lead in ref["rhythm"].values():
        lead["first"] = lead["counts"][:25]
        del lead["counts"]
    with open(path.replace(".xml", ".reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")

    data_at = good.index('leadlabels="')
    data_at = good.index(">", data_at) + 2
    bad = {
        "not_well_formed.xml": (good[: len(good) // 3], "Invalid", "XML"),
        "unknown_version.xml": (good.replace("<documentversion>1.04<", "<documentversion>9.9<"), "Unsupported", "documentinfo"),
        "no_resolution.xml": (good.replace(f"<signalresolution>{UV_PER_COUNT}</signalresolution>", ""), "Invalid", "signalresolution"),
        "unknown_compression.xml": (good.replace('compressmethod="XLI"', 'compressmethod="ZIP"'), "Unsupported", "compressmethod"),
        "bad_base64.xml": (good[:data_at] + "@@@@" + good[data_at:], "Invalid", "parsedwaveforms"),
        "truncated_xli.xml": (good[:data_at] + base64.b64encode(b"\x40\x00\x00\x00\x00\x00\x00\x00abc").decode() + "\n    </parsedwaveforms>\n  </waveforms>\n</restingecgdata>\n",
                              "Truncated", "XLI block 1"),
        "too_few_leads.xml": (good.replace('numberofleads="12"', 'numberofleads="13"').replace('leadlabels="I ', 'leadlabels="X I '),
                              "Inconsistent", "parsedwaveforms"),
        "zero_rate.xml": (good.replace(f"<samplingrate>{RATE}<", "<samplingrate>0<"), "Invalid", "samplingrate"),
    }
    expected = {}
    for name, (text, kind, field) in bad.items():
        with open(os.path.join(BAD, name), "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        expected[name] = {"kind": kind, "field": field}
    with open(os.path.join(BAD, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
