"""Writes GE MUSE RestingECG XML fixtures and checks them with an independent reader.

- tests/fixtures/muse/muse_sinus.xml: 10 s, 500 Hz Rhythm waveform and a 600-sample Median
  waveform, leads I, II, V1-V6 as MUSE stores them (2-byte little-endian, base64, 4.88 uV per
  bit, LeadDataCRC32 = zlib CRC-32 of the decoded bytes), the cart's measurements and
  statements, a patient identifier.
- tests/fixtures/muse/muse_sinus_prior.xml: the same patient a year earlier, T waves upright
  in V2-V4 where the current file has them inverted (for the serial comparison).
- tests/fixtures/muse/*.reference.json: what ecgdatakit (an independent MUSE reader on PyPI,
  pinned in requirements-muse.txt) reads from each file: rate, leads, sample counts, the first
  samples and the sum of every lead in microvolts, the median beats, measurements, statements.
- tests/fixtures/bad/muse/: malformed variants and expected.json (their specific errors).

Run from the repository root:
  python3 -m venv /tmp/venv-muse && /tmp/venv-muse/bin/pip install -r scripts/requirements-muse.txt
  /tmp/venv-muse/bin/python scripts/make_muse_fixtures.py
"""

import base64
import json
import os
import sys
import zlib

sys.path.insert(0, os.path.dirname(__file__))
import ecg_synth  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures", "muse")
BAD = os.path.join(ROOT, "tests", "fixtures", "bad", "muse")
STORED = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
UV_PER_BIT = 4.88
RATE = 500


def encode(values_uv):
    counts = [max(-32768, min(32767, int(round(v / UV_PER_BIT)))) for v in values_uv]
    raw = b"".join(int(c).to_bytes(2, "little", signed=True) for c in counts)
    text = base64.b64encode(raw).decode("ascii")
    # MUSE wraps the base64 text in lines.
    wrapped = "\n".join(text[i:i + 76] for i in range(0, len(text), 76))
    return wrapped, len(raw), len(counts), zlib.crc32(raw) & 0xFFFFFFFF


def lead_data(lead, values_uv):
    wrapped, nbytes, count, crc = encode(values_uv)
    return f"""      <LeadData>
        <LeadByteCountTotal>{nbytes}</LeadByteCountTotal>
        <LeadTimeOffset>0</LeadTimeOffset>
        <LeadSampleCountTotal>{count}</LeadSampleCountTotal>
        <LeadAmplitudeUnitsPerBit>{UV_PER_BIT}</LeadAmplitudeUnitsPerBit>
        <LeadAmplitudeUnits>MICROVOLTS</LeadAmplitudeUnits>
        <LeadHighLimit>32767</LeadHighLimit>
        <LeadLowLimit>-32768</LeadLowLimit>
        <LeadID>{lead}</LeadID>
        <LeadOffsetFirstSample>0</LeadOffsetFirstSample>
        <FirstSampleBaseline>0</FirstSampleBaseline>
        <LeadSampleSize>2</LeadSampleSize>
        <LeadOff>FALSE</LeadOff>
        <BaselineSway>FALSE</BaselineSway>
        <LeadDataCRC32>{crc}</LeadDataCRC32>
        <WaveFormData>{wrapped}</WaveFormData>
      </LeadData>
"""


def waveform(kind, signals):
    leads = "".join(lead_data(lead, signals[lead]) for lead in STORED)
    return f"""  <Waveform>
    <WaveformType>{kind}</WaveformType>
    <WaveformStartTime>0</WaveformStartTime>
    <NumberofLeads>{len(STORED)}</NumberofLeads>
    <SampleType>CONTINUOUS_SAMPLES</SampleType>
    <SampleBase>{RATE}</SampleBase>
    <SampleExponent>0</SampleExponent>
    <HighPassFilter>16</HighPassFilter>
    <LowPassFilter>150</LowPassFilter>
    <ACFilter>60</ACFilter>
{leads}  </Waveform>
"""


def document(signals, median, date, statements, measurements):
    stmts = "".join(
        f"""    <DiagnosisStatement>
      <StmtFlag>{"ENDSLINE" if last else "USER"}</StmtFlag>
      <StmtText>{text}</StmtText>
    </DiagnosisStatement>
""" for text, last in statements)
    meas = "".join(f"    <{k}>{v}</{k}>\n" for k, v in measurements.items())
    return f"""<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE RestingECG SYSTEM "restecg.dtd">
<RestingECG>
  <MuseInfo>
    <MuseVersion>9.0.9.18167</MuseVersion>
  </MuseInfo>
  <PatientDemographics>
    <PatientID>MRN0042</PatientID>
    <PatientAge>64</PatientAge>
    <AgeUnits>YEARS</AgeUnits>
    <DateofBirth>05-02-1961</DateofBirth>
    <Gender>FEMALE</Gender>
    <PatientLastName>MÜLLER</PatientLastName>
    <PatientFirstName>ANNA</PatientFirstName>
  </PatientDemographics>
  <TestDemographics>
    <DataType>RESTING</DataType>
    <Site>1</Site>
    <AcquisitionDevice>MAC55</AcquisitionDevice>
    <AcquisitionSoftwareVersion>010A</AcquisitionSoftwareVersion>
    <AcquisitionTime>10:21:32</AcquisitionTime>
    <AcquisitionDate>{date}</AcquisitionDate>
  </TestDemographics>
  <RestingECGMeasurements>
{meas}    <ECGSampleBase>{RATE}</ECGSampleBase>
    <ECGSampleExponent>0</ECGSampleExponent>
  </RestingECGMeasurements>
  <Diagnosis>
    <Modality>RESTING</Modality>
{stmts}  </Diagnosis>
{waveform("Median", median)}{waveform("Rhythm", signals)}</RestingECG>
"""


def invert_t(signals, leads, rate, rr_s):
    """Turns the T wave (0.35-0.60 s into each beat) of `leads` upside down."""
    out = {k: list(v) for k, v in signals.items()}
    for lead in leads:
        for i, v in enumerate(out[lead]):
            phase = (i / rate) % rr_s
            if 0.33 <= phase <= 0.62:
                out[lead][i] = -v
    return out


UV_PER_UNIT = {"uV": 1.0, "mV": 1000.0, "V": 1e6, "nV": 1e-3}


def microvolts(lead):
    """The lead's samples in microvolts, whether the reader left them raw or scaled them."""
    if lead.is_raw:
        factor = lead.resolution * UV_PER_UNIT[lead.resolution_unit]
    else:
        factor = UV_PER_UNIT[lead.units]
    return [float(s) * factor for s in lead.samples]


def reference(path):
    from ecgdatakit import FileParser

    record = FileParser().parse(path)
    rhythm = {}
    for lead in record.leads:
        physical = microvolts(lead)
        rhythm[lead.label] = {
            "first": [round(v, 6) for v in physical[:25]],
            "sum": round(sum(physical), 6),
            "count": len(physical),
            "reader_units": lead.units or lead.resolution_unit,
            "rate_hz": float(lead.sampling_rate),
        }
    median = {}
    for lead in getattr(record, "median_beats", None) or []:
        physical = microvolts(lead)
        median[lead.label] = {"sum": round(sum(physical), 6), "count": len(physical)}
    g = record.measurements
    return {
        "reader": "ecgdatakit 2.0.3 FileParser",
        "leads": [lead.label for lead in record.leads],
        "rhythm": rhythm,
        "median": median,
        "patient_id": record.patient.patient_id,
        "heart_rate_bpm": g.heart_rate,
        "qrs_ms": g.qrs_duration,
        "statements": [s[0] for s in record.interpretation.statements] if record.interpretation else [],
    }


def write(path, text):
    with open(path, "w", encoding="latin-1", newline="\n") as f:
        f.write(text)


def main():
    os.makedirs(FIX, exist_ok=True)
    os.makedirs(BAD, exist_ok=True)
    rr = 60.0 / 72.0
    current = invert_t(ecg_synth.synth(RATE, 10.0, heart_rate_bpm=72.0, seed=7), ["V2", "V3", "V4"], RATE, rr)
    prior = ecg_synth.synth(RATE, 10.0, heart_rate_bpm=72.0, seed=8)

    def median_of(signals):
        start = int(round(rr * RATE))
        return {k: v[start:start + 600] for k, v in signals.items()}

    measurements = {"VentricularRate": 72, "AtrialRate": 72, "PRInterval": 152, "QRSDuration": 90,
                    "QTInterval": 400, "QTCorrected": 438, "PAxis": 58, "RAxis": 49, "TAxis": 44,
                    "QRSCount": 12, "QOnset": 212, "QOffset": 257, "TOffset": 412}
    files = {
        "muse_sinus.xml": document(current, median_of(current), "03-15-2026",
                                   [("Normal sinus rhythm", False), ("T wave inversion in anterior leads", True)],
                                   measurements),
        "muse_sinus_prior.xml": document(prior, median_of(prior), "03-12-2025",
                                         [("Normal sinus rhythm", False), ("Normal ECG", True)], measurements),
    }
    for name, text in files.items():
        path = os.path.join(FIX, name)
        write(path, text)
        ref = reference(path)
        with open(path.replace(".xml", ".reference.json"), "w") as f:
            json.dump(ref, f, indent=1, ensure_ascii=False)
            f.write("\n")

    good = files["muse_sinus.xml"]
    first_data = good.index("<WaveFormData>")
    bad = {
        "not_well_formed.xml": (good[: len(good) // 2], "Invalid", "XML"),
        "no_rhythm.xml": (good.replace("<WaveformType>Rhythm</WaveformType>", "<WaveformType>Other</WaveformType>"),
                          "Invalid", "Waveform"),
        "bad_base64.xml": (good[:first_data] + "<WaveFormData>@@@@" + good[first_data + len("<WaveFormData>"):],
                           "Invalid", "WaveFormData"),
        "byte_count_mismatch.xml": (good.replace("<LeadByteCountTotal>1200<", "<LeadByteCountTotal>1202<", 1),
                                    "Inconsistent", "LeadByteCountTotal"),
        "zero_scale.xml": (good.replace(f"<LeadAmplitudeUnitsPerBit>{UV_PER_BIT}<", "<LeadAmplitudeUnitsPerBit>0<", 1),
                           "Invalid", "LeadAmplitudeUnitsPerBit"),
        "unknown_units.xml": (good.replace("<LeadAmplitudeUnits>MICROVOLTS<", "<LeadAmplitudeUnits>FURLONGS<", 1),
                              "Unsupported", "LeadAmplitudeUnits"),
        "four_byte_samples.xml": (good.replace("<LeadSampleSize>2<", "<LeadSampleSize>4<", 1),
                                  "Unsupported", "LeadSampleSize"),
        "no_sample_rate.xml": (good.replace(f"<SampleBase>{RATE}</SampleBase>", "", 1), "Invalid", "SampleBase"),
        "crc_mismatch.xml": (good.replace("<LeadDataCRC32>", "<LeadDataCRC32>1", 1), "Inconsistent", "LeadDataCRC32"),
        "entity_expansion.xml": (
            '<?xml version="1.0"?>\n<!DOCTYPE RestingECG [<!ENTITY a "aaaaaaaaaa">'
            + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
            + ']>\n<RestingECG><MuseInfo><MuseVersion>&i;</MuseVersion></MuseInfo></RestingECG>\n',
            "Invalid", "XML"),
    }
    expected = {}
    for name, (text, kind, field) in bad.items():
        write(os.path.join(BAD, name), text)
        expected[name] = {"kind": kind, "field": field}
    with open(os.path.join(BAD, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
