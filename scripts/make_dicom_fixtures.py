"""Builds the DICOM ECG sample, reference values and fixtures (deterministic).

- assets/samples/waveform_ecg.dcm: pydicom's test file (MIT), copied unchanged.
- tests/fixtures/dicom/waveform_ecg.reference.json: what pydicom reads from it.
- tests/fixtures/dicom/*.dcm + *.reference.json: tiny synthetic edge cases.
- tests/fixtures/bad/dicom/: malformed files and expected.json.

Run from the repository root:  pip install -r scripts/requirements-dicom.txt
                               python3 scripts/make_dicom_fixtures.py
"""

import hashlib
import io
import json
import os
import shutil
import struct
import sys

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence

sys.path.insert(0, os.path.dirname(__file__))
import ecg_synth  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures", "dicom")
BAD = os.path.join(ROOT, "tests", "fixtures", "bad", "dicom")
ASSETS = os.path.join(ROOT, "assets", "samples")

ECG_12_LEAD = "1.2.840.10008.5.1.4.1.1.9.1.1"
GENERAL_ECG = "1.2.840.10008.5.1.4.1.1.9.1.2"
IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"

SCP_CODES = {"I": "1", "II": "2", "V1": "3", "V2": "4", "V3": "5", "V4": "6", "V5": "7", "V6": "8",
             "III": "61", "aVR": "62", "aVL": "63", "aVF": "64"}


def channel_meaning(ch):
    src = ch.get("ChannelSourceSequence")
    if src:
        return str(src[0].get("CodeMeaning", ""))
    return str(ch.get("ChannelLabel", ""))


def reference(path, every_nth_rhythm=1):
    """Everything a reader must reproduce, as pydicom reads it."""
    ds = pydicom.dcmread(path)
    groups = []
    for i, item in enumerate(ds.WaveformSequence):
        arr = ds.waveform_array(i)  # (samples, channels), physical units of each channel
        label = str(item.get("MultiplexGroupLabel", ""))
        step = every_nth_rhythm if label == "RHYTHM" else 1
        chans = []
        for j, ch in enumerate(item.ChannelDefinitionSequence):
            col = arr[:, j]
            units = str(ch.ChannelSensitivityUnitsSequence[0].CodeValue)
            chans.append({
                "meaning": channel_meaning(ch),
                "code": str(ch.ChannelSourceSequence[0].CodeValue) if "ChannelSourceSequence" in ch else "",
                "units": units,
                "sensitivity": float(ch.ChannelSensitivity) * float(ch.get("ChannelSensitivityCorrectionFactor", 1.0)),
                "sum": float(np.sum(col)),
                "sum_abs": float(np.sum(np.abs(col))),
                "values": [round(float(v), 6) for v in col[::step]],
            })
        groups.append({
            "label": label,
            "channels": int(item.NumberOfWaveformChannels),
            "samples": int(item.NumberOfWaveformSamples),
            "rate_hz": float(item.SamplingFrequency),
            "every_nth": step,
            "channel_list": chans,
        })
    annotations = []
    for a in ds.get("WaveformAnnotationSequence", []):
        entry = {}
        if "ConceptNameCodeSequence" in a:
            entry["concept"] = str(a.ConceptNameCodeSequence[0].CodeMeaning)
        if "NumericValue" in a:
            nv = a.NumericValue
            entry["values"] = [float(v) for v in (nv if isinstance(nv, (list, pydicom.multival.MultiValue)) else [nv])]
        if "MeasurementUnitsCodeSequence" in a:
            entry["unit"] = str(a.MeasurementUnitsCodeSequence[0].CodeValue)
        if "ReferencedSamplePositions" in a:
            rp = a.ReferencedSamplePositions
            entry["sample_positions"] = [int(v) for v in (rp if isinstance(rp, (list, pydicom.multival.MultiValue)) else [rp])]
        if "ReferencedWaveformChannels" in a:
            entry["channels"] = [int(v) for v in a.ReferencedWaveformChannels]
        if "UnformattedTextValue" in a:
            entry["text"] = str(a.UnformattedTextValue)
        annotations.append(entry)
    return {
        "file": os.path.basename(path),
        "sha256": hashlib.sha256(open(path, "rb").read()).hexdigest(),
        "patient": {"name": str(ds.get("PatientName", "")), "id": str(ds.get("PatientID", "")),
                    "birth_date": str(ds.get("PatientBirthDate", "")), "sex": str(ds.get("PatientSex", ""))},
        "acquisition_datetime": str(ds.get("AcquisitionDateTime", "")),
        "manufacturer": str(ds.get("Manufacturer", "")),
        "model": str(ds.get("ManufacturerModelName", "")),
        "groups": groups,
        "annotations": annotations,
    }


def code_item(value, scheme, meaning):
    c = Dataset()
    c.CodeValue = value
    c.CodingSchemeDesignator = scheme
    c.CodeMeaning = meaning
    return c


def waveform_group(label, rate, leads, data_uv, *, unit="uV", sensitivity=2.5, correction=1.0,
                   baseline=0.0, scheme="SCPECG", interp="SS", bits=16, undefined=False):
    """A multiplex group whose stored values reproduce data_uv (rounded to the ADC step)."""
    g = Dataset()
    g.MultiplexGroupTimeOffset = "0"
    g.WaveformOriginality = "ORIGINAL"
    g.NumberOfWaveformChannels = len(leads)
    n = len(data_uv[leads[0]])
    g.NumberOfWaveformSamples = n
    g.SamplingFrequency = str(rate)
    g.MultiplexGroupLabel = label
    uv_per_unit = {"uV": 1.0, "mV": 1000.0}[unit]
    defs = []
    for lead in leads:
        ch = Dataset()
        if scheme == "SCPECG":
            src = code_item("5.6.3-9-" + SCP_CODES[lead], "SCPECG", "Lead " + lead)
        elif scheme == "MDC":
            src = code_item("2:" + SCP_CODES[lead], "MDC", "Lead " + lead)
        else:  # a local code: the reader must fall back to the code meaning
            src = code_item("LOCAL-" + lead, "99LOCAL", "Lead " + lead + " (local)")
        ch.ChannelSourceSequence = Sequence([src])
        ch.ChannelSensitivity = str(sensitivity)
        ch.ChannelSensitivityUnitsSequence = Sequence([code_item(unit, "UCUM", unit)])
        ch.ChannelSensitivityCorrectionFactor = str(correction)
        ch.ChannelBaseline = str(baseline)
        ch.WaveformBitsStored = bits
        defs.append(ch)
    g.ChannelDefinitionSequence = Sequence(defs)
    g.WaveformBitsAllocated = bits
    g.WaveformSampleInterpretation = interp
    dtype = {"SS": "<i2", "SL": "<i4"}[interp]
    step = sensitivity * correction
    raw = np.zeros((n, len(leads)), dtype=dtype)
    for j, lead in enumerate(leads):
        phys = np.asarray(data_uv[lead]) / uv_per_unit  # in channel units
        raw[:, j] = np.round((phys - baseline) / step).astype(dtype)
    g.WaveformData = raw.tobytes()
    if undefined:
        g.ChannelDefinitionSequence.is_undefined_length = True
        for d in defs:
            d.is_undefined_length_sequence_item = True
            for sq in ("ChannelSourceSequence", "ChannelSensitivityUnitsSequence"):
                d[sq].is_undefined_length = True
                d[sq].value[0].is_undefined_length_sequence_item = True
        g.is_undefined_length_sequence_item = True
    return g


def base_dataset(sop):
    ds = Dataset()
    ds.SOPClassUID = sop
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.Modality = "ECG"
    ds.AcquisitionDateTime = "20240314093015"
    ds.Manufacturer = "ECG-R1 fixtures"
    ds.ManufacturerModelName = "synth-1"
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "SYN-0001"
    ds.PatientBirthDate = "19800229"
    ds.PatientSex = "F"
    return ds


def meta_bytes(ts, sop):
    """File meta group, Explicit VR Little Endian, written by hand so any UID can be used."""
    def el(group, elem, vr, value):
        if len(value) % 2:
            value += b"\0"
        if vr in (b"OB",):
            return struct.pack("<HH2s2xI", group, elem, vr, len(value)) + value
        return struct.pack("<HH2sH", group, elem, vr, len(value)) + value
    body = (el(2, 1, b"OB", b"\x00\x01") + el(2, 2, b"UI", sop.encode()) +
            el(2, 3, b"UI", b"1.2.826.0.1.3680043.8.498.1") + el(2, 0x10, b"UI", ts.encode()) +
            el(2, 0x12, b"UI", b"1.2.826.0.1.3680043.8.498") )
    return b"\0" * 128 + b"DICM" + el(2, 0, b"UL", struct.pack("<I", len(body))) + body


def body_bytes(ds, implicit):
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = implicit
    write_dataset(fp, ds)
    return fp.getvalue()


def dicom_file(ds, ts=EXPLICIT, sop=ECG_12_LEAD):
    return meta_bytes(ts, sop) + body_bytes(ds, ts == IMPLICIT)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


def fiducial(concept, position, group=1, channel=0):
    a = Dataset()
    a.ConceptNameCodeSequence = Sequence([code_item("5.10.3-5", "SCPECG", concept)])
    a.ReferencedWaveformChannels = [group, channel]
    a.TemporalRangeType = "POINT"
    a.ReferencedSamplePositions = position
    return a


def measurement(concept, value, unit, channel=0):
    a = Dataset()
    a.MeasurementUnitsCodeSequence = Sequence([code_item(unit, "UCUM", unit)])
    a.ConceptNameCodeSequence = Sequence([code_item("X", "SCPECG", concept)])
    a.ReferencedWaveformChannels = [1, channel]
    a.NumericValue = str(value)
    return a


def main():
    os.makedirs(FIX, exist_ok=True)
    os.makedirs(BAD, exist_ok=True)
    os.makedirs(ASSETS, exist_ok=True)

    # 1. The real recording from pydicom's test data.
    src = get_testdata_file("waveform_ecg.dcm")
    dst = os.path.join(ASSETS, "waveform_ecg.dcm")
    shutil.copyfile(src, dst)
    write_json(os.path.join(FIX, "waveform_ecg.reference.json"), reference(dst, every_nth_rhythm=4))

    # 2. Implicit VR, MDC codes, mV units, non-zero baseline and correction factor, only I, II,
    #    V1-V6 (so III, aVR, aVL, aVF must be derived), plus annotations.
    synth = ecg_synth.synth(500, 1.2, seed=7)
    eight = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    ds = base_dataset(GENERAL_ECG)
    ds.WaveformSequence = Sequence([waveform_group(
        "RHYTHM", 500, eight, synth, unit="mV", sensitivity=0.005, correction=0.98,
        baseline=0.012, scheme="MDC")])
    ds.WaveformAnnotationSequence = Sequence([
        measurement("QRS Duration", 88, "ms"),
        measurement("R Amplitude", 1.25, "mV", channel=2),
        fiducial("QRS Onset", 100),
        fiducial("T Offset", 301, channel=1),
    ])
    path = os.path.join(FIX, "implicit_mdc_mv.dcm")
    write(path, dicom_file(ds, IMPLICIT, GENERAL_ECG))
    write_json(os.path.join(FIX, "implicit_mdc_mv.reference.json"), reference(path))

    # 3. Explicit VR, every sequence and item of undefined length, 32-bit samples, local codes
    #    (lead from the code meaning), a median-beat group listed first and a rhythm group
    #    with no RHYTHM label (the reader must pick the longer one).
    synth12 = ecg_synth.synth(250, 2.0, seed=11)
    median = {k: v[:200] for k, v in synth12.items()}
    ds = base_dataset(ECG_12_LEAD)
    ds.WaveformSequence = Sequence([
        waveform_group("MEDIAN BEAT", 250, ecg_synth.LEADS, median, sensitivity=1.0,
                       baseline=-3.5, scheme="LOCAL", interp="SL", bits=32, undefined=True),
        waveform_group("CONTINUOUS", 250, ecg_synth.LEADS, synth12, sensitivity=1.0,
                       baseline=-3.5, scheme="LOCAL", interp="SL", bits=32, undefined=True),
    ])
    ds["WaveformSequence"].is_undefined_length = True
    path = os.path.join(FIX, "undefined_lengths.dcm")
    write(path, dicom_file(ds, EXPLICIT))
    write_json(os.path.join(FIX, "undefined_lengths.reference.json"), reference(path))

    make_bad(synth)


def make_bad(synth):
    eight = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    short = {k: v[:50] for k, v in synth.items()}

    def good_ds():
        ds = base_dataset(ECG_12_LEAD)
        ds.WaveformSequence = Sequence([waveform_group("RHYTHM", 500, eight, short)])
        return ds

    expected = {}
    good = dicom_file(good_ds())

    # The last element's header is cut after 5 bytes.
    write(os.path.join(BAD, "truncated_element.dcm"), good + b"\x10\x00\x20\x00L")
    expected["truncated_element.dcm"] = {"kind": "Truncated", "field": "element header"}

    # Patient's Name declares 65520 bytes at the end of the file.
    write(os.path.join(BAD, "length_beyond_end.dcm"),
          good + struct.pack("<HH2sH", 0x0010, 0x0010, b"PN", 0xFFF0) + b"Doe")
    expected["length_beyond_end.dcm"] = {"kind": "Truncated", "field": "(0010,0010)"}

    # The file is cut inside the Waveform Sequence.
    write(os.path.join(BAD, "cut_in_waveform.dcm"), good[: len(good) - 300])
    expected["cut_in_waveform.dcm"] = {"kind": "Truncated", "field": "Waveform Sequence"}

    ds = base_dataset(ECG_12_LEAD)
    write(os.path.join(BAD, "no_waveform_sequence.dcm"), dicom_file(ds))
    expected["no_waveform_sequence.dcm"] = {"kind": "Invalid", "field": "Waveform Sequence"}

    for name, ts in [("big_endian.dcm", "1.2.840.10008.1.2.2"), ("deflated.dcm", "1.2.840.10008.1.2.1.99"),
                     ("jpeg_baseline.dcm", "1.2.840.10008.1.2.4.50")]:
        write(os.path.join(BAD, name), meta_bytes(ts, ECG_12_LEAD) + body_bytes(good_ds(), False))
        expected[name] = {"kind": "Unsupported", "field": "Transfer Syntax UID"}

    # Eight channel definitions, nine channels' worth of data.
    ds = good_ds()
    g = ds.WaveformSequence[0]
    g.WaveformData = g.WaveformData + b"\x01\x00" * 50
    write(os.path.join(BAD, "data_length_mismatch.dcm"), dicom_file(ds))
    expected["data_length_mismatch.dcm"] = {"kind": "Inconsistent", "field": "Waveform Data"}

    # Number of Waveform Channels says 9 but eight channels are defined.
    ds = good_ds()
    ds.WaveformSequence[0].NumberOfWaveformChannels = 9
    write(os.path.join(BAD, "channel_count_mismatch.dcm"), dicom_file(ds))
    expected["channel_count_mismatch.dcm"] = {"kind": "Inconsistent", "field": "Channel Definition Sequence"}

    # Four billion samples per channel.
    ds = good_ds()
    ds.WaveformSequence[0].NumberOfWaveformSamples = 0xFFFFFFF0
    write(os.path.join(BAD, "absurd_sample_count.dcm"), dicom_file(ds))
    expected["absurd_sample_count.dcm"] = {"kind": "TooLarge", "field": "Number of Waveform Samples"}

    # 12 bits allocated for signed 16-bit samples.
    ds = good_ds()
    ds.WaveformSequence[0].WaveformBitsAllocated = 12
    write(os.path.join(BAD, "bits_mismatch.dcm"), dicom_file(ds))
    expected["bits_mismatch.dcm"] = {"kind": "Inconsistent", "field": "Waveform Bits Allocated"}

    # A non-numeric sampling frequency.
    ds = good_ds()
    ds.WaveformSequence[0].SamplingFrequency = "12345"
    data = dicom_file(ds)
    assert data.count(b"12345 ") == 1
    write(os.path.join(BAD, "bad_sampling_frequency.dcm"), data.replace(b"12345 ", b"fast  "))
    expected["bad_sampling_frequency.dcm"] = {"kind": "Invalid", "field": "Sampling Frequency"}

    # Sequences nested 40 deep (undefined lengths, Implicit VR).
    nest = b"".join(struct.pack("<HHI", 0x5400, 0x0100, 0xFFFFFFFF) + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
                    for _ in range(40))
    write(os.path.join(BAD, "deep_nesting.dcm"), meta_bytes(IMPLICIT, ECG_12_LEAD) + nest)
    expected["deep_nesting.dcm"] = {"kind": "TooLarge", "field": "Waveform Sequence"}

    # A channel without sensitivity.
    ds = good_ds()
    del ds.WaveformSequence[0].ChannelDefinitionSequence[3].ChannelSensitivity
    write(os.path.join(BAD, "missing_sensitivity.dcm"), dicom_file(ds))
    expected["missing_sensitivity.dcm"] = {"kind": "Invalid", "field": "channel 4: Channel Sensitivity"}

    # A hemodynamic waveform, not an ECG.
    ds = good_ds()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.9.2.1"
    write(os.path.join(BAD, "not_an_ecg.dcm"), dicom_file(ds, sop="1.2.840.10008.5.1.4.1.1.9.2.1"))
    expected["not_an_ecg.dcm"] = {"kind": "Unsupported", "field": "(0008,0016)"}

    write_json(os.path.join(BAD, "expected.json"), expected)


if __name__ == "__main__":
    main()
