#!/usr/bin/env python3
"""Exports the rhythm group of pydicom's `waveform_ecg.dcm` test file (MIT licence) to
tests/fixtures/features/waveform_ecg_rhythm.json, together with the recording cart's own
measurements and fiducial points from its Waveform Annotation Sequence.

The feature tests read this JSON so they do not depend on the DICOM reader.
Install: pip install -r scripts/requirements-features.txt
"""
import json
import pathlib

import numpy as np
import pydicom
from pydicom.data import get_testdata_file

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/features/waveform_ecg_rhythm.json"


def main() -> None:
    ds = pydicom.dcmread(get_testdata_file("waveform_ecg.dcm"))
    group = ds.WaveformSequence[0]
    assert group.MultiplexGroupLabel == "RHYTHM"
    units = {ch.ChannelSensitivityUnitsSequence[0].CodeValue for ch in group.ChannelDefinitionSequence}
    assert units == {"uV"}, units
    # waveform_array applies sensitivity, correction factor and baseline: physical values in µV.
    data = ds.waveform_array(0)
    leads = []
    for ch, col in zip(group.ChannelDefinitionSequence, data.T):
        meaning = ch.ChannelSourceSequence[0].CodeMeaning  # e.g. "Lead I (Einthoven)"
        name = meaning.split("(")[0].replace("Lead", "").strip()
        leads.append({"name": name, "source_label": meaning, "samples_uv": [int(v) for v in np.rint(col)]})
    measurements = {}
    fiducials = {}
    statements = []
    for ann in ds.WaveformAnnotationSequence:
        if "UnformattedTextValue" in ann:
            statements.append(str(ann.UnformattedTextValue))
            continue
        meaning = ann.ConceptNameCodeSequence[0].CodeMeaning
        if "NumericValue" in ann:
            unit = ann.MeasurementUnitsCodeSequence[0].CodeValue
            measurements[meaning] = {"value": float(ann.NumericValue), "unit": unit}
        elif "ReferencedSamplePositions" in ann:
            fiducials.setdefault(meaning, []).append(int(ann.ReferencedSamplePositions))
    # The first fiducial set (QRS onset 460 of 1200 samples) describes the median beat; the
    # following ones are the rhythm beats. DICOM sample positions are 1-based.
    median = {k: v[0] for k, v in fiducials.items()}
    rhythm = {k: v[1:] for k, v in fiducials.items()}
    doc = {
        "source": "pydicom test data waveform_ecg.dcm (MIT), multiplex group 0 (RHYTHM)",
        "sample_rate_hz": float(group.SamplingFrequency),
        "units": "uV (rounded to integers; the file's resolution is 1.25 uV)",
        "leads": leads,
        "cart_statements": statements,
        "cart_measurements": measurements,
        "cart_median_fiducials_1based": median,
        "cart_rhythm_fiducials_1based": rhythm,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, separators=(",", ":")))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
