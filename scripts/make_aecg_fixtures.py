"""Writes HL7 aECG fixtures and the aECG sample (deterministic, no aECG library needed).

- tests/fixtures/aecg/*.xml + *.expected.json: small files and the values a reader must get.
- assets/samples/synthetic_sinus_aecg.xml: 10 s, 500 Hz, leads I, II, V1-V6.
- tests/fixtures/bad/aecg/: malformed files and expected.json.

Run from the repository root:  python3 scripts/make_aecg_fixtures.py
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import ecg_synth  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures", "aecg")
BAD = os.path.join(ROOT, "tests", "fixtures", "bad", "aecg")
ASSETS = os.path.join(ROOT, "assets", "samples")

MDC = {"I": "MDC_ECG_LEAD_I", "II": "MDC_ECG_LEAD_II", "III": "MDC_ECG_LEAD_III",
       "aVR": "MDC_ECG_LEAD_AVR", "aVL": "MDC_ECG_LEAD_AVL", "aVF": "MDC_ECG_LEAD_AVF",
       **{f"V{i}": f"MDC_ECG_LEAD_V{i}" for i in range(1, 7)}}
UV_PER = {"uV": 1.0, "mV": 1000.0}


def digits_for(values_uv, origin, scale, unit):
    f = UV_PER[unit]
    return [int(round((v / f - origin) / scale)) for v in values_uv]


def lead_sequence(lead, digits, origin, scale, unit, per_line=20):
    rows = [" ".join(str(d) for d in digits[i:i + per_line]) for i in range(0, len(digits), per_line)]
    body = "\n".join(rows)
    return f"""            <component>
              <sequence>
                <code code="{MDC[lead]}" codeSystem="2.16.840.1.113883.6.24" codeSystemName="MDC"/>
                <value xsi:type="SLIST_PQ">
                  <origin value="{origin}" unit="{unit}"/>
                  <scale value="{scale}" unit="{unit}"/>
                  <digits>{body}</digits>
                </value>
              </sequence>
            </component>
"""


def time_sequence(kind, increment, unit):
    head = '<head value="20240314093015.000"/>' if kind == "TIME_ABSOLUTE" else '<head value="0" unit="s"/>'
    vtype = "GLIST_TS" if kind == "TIME_ABSOLUTE" else "GLIST_PQ"
    inc = f'<increment value="{increment}" unit="{unit}"/>' if increment is not None else ""
    return f"""            <component>
              <sequence>
                <code code="{kind}" codeSystem="2.16.840.1.113883.5.4"/>
                <value xsi:type="{vtype}">{head}{inc}</value>
              </sequence>
            </component>
"""


def sequence_set(leads, data, origin, scale, unit, time_kind, increment, inc_unit):
    expected = {}
    parts = [time_sequence(time_kind, increment, inc_unit)]
    for lead in leads:
        d = digits_for(data[lead], origin, scale, unit)
        parts.append(lead_sequence(lead, d, origin, scale, unit))
        phys = [(origin + scale * x) * UV_PER[unit] for x in d]
        expected[lead] = {"first": [round(v, 6) for v in phys[:25]], "sum": sum(phys), "count": len(phys)}
    return "          <sequenceSet>\n" + "".join(parts) + "          </sequenceSet>\n", expected


def annotation(code, value, unit, lead=None):
    support = ""
    if lead:
        support = f"""<support><supportingROI><code code="ROIPS" codeSystem="2.16.840.1.113883.5.4"/>
          <component><boundary><code code="{MDC[lead]}" codeSystem="2.16.840.1.113883.6.24"/></boundary></component>
        </supportingROI></support>"""
    return f"""          <component><annotation>
            <code code="{code}" codeSystem="2.16.840.1.113883.6.24"/>
            <value xsi:type="PQ" value="{value}" unit="{unit}"/>{support}
          </annotation></component>
"""


def document(rhythm_set, median_set=None, annotations="", namespace=True, patient=True):
    ns = ' xmlns="urn:hl7-org:v3"' if namespace else ""
    derivation = ""
    if median_set:
        derivation = f"""      <derivation>
        <derivedSeries>
          <code code="REPRESENTATIVE_BEAT" codeSystem="2.16.840.1.113883.5.4"/>
          <component>
{median_set}          </component>
        </derivedSeries>
      </derivation>
"""
    subject = ""
    if patient:
        subject = """  <componentOf><timepointEvent><componentOf><subjectAssignment><subject>
    <trialSubject>
      <id root="2.16.840.1.113883.3.999" extension="SYN-0002"/>
      <subjectDemographicPerson>
        <name><given>Jane</given><family>Roe</family></name>
        <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>
        <birthTime value="19750612"/>
      </subjectDemographicPerson>
    </trialSubject>
  </subject></subjectAssignment></componentOf></timepointEvent></componentOf>
"""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<AnnotatedECG{ns} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" classCode="OBS" moodCode="EVN">
  <id root="2.16.840.1.113883.3.999.1"/>
  <code code="93000" codeSystem="2.16.840.1.113883.6.12" codeSystemName="CPT-4"/>
  <effectiveTime><low value="20240314093015"/><high value="20240314093025"/></effectiveTime>
{subject}  <component>
    <series>
      <code code="RHYTHM" codeSystem="2.16.840.1.113883.5.4"/>
      <effectiveTime><low value="20240314093015"/></effectiveTime>
      <author><seriesAuthor><manufacturedSeriesDevice><manufacturerModelName>synth-aecg</manufacturerModelName></manufacturedSeriesDevice>
        <manufacturerOrganization><name>ECG-R1 fixtures</name></manufacturerOrganization></seriesAuthor></author>
      <component>
{rhythm_set}      </component>
{derivation}      <subjectOf>
        <annotationSet>
{annotations}        </annotationSet>
      </subjectOf>
    </series>
  </component>
</AnnotatedECG>
"""


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


EIGHT = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]


def main():
    # Twelve leads, 500 Hz, µV, TIME_ABSOLUTE in s, a representative beat and measurements.
    data = ecg_synth.synth(500, 2.0, seed=21)
    rhythm, exp_rhythm = sequence_set(ecg_synth.LEADS, data, 0, 5, "uV", "TIME_ABSOLUTE", 0.002, "s")
    beat = {k: v[:400] for k, v in data.items()}
    median, exp_median = sequence_set(ecg_synth.LEADS, beat, 0, 5, "uV", "TIME_RELATIVE", 2, "ms")
    ann = (annotation("MDC_ECG_TIME_PD_QRS", 88, "ms") + annotation("MDC_ECG_TIME_PD_PR", 152, "ms") +
           annotation("MDC_ECG_TIME_PD_QT", 384, "ms") + annotation("MDC_ECG_HEART_RATE", 72, "bpm") +
           annotation("MDC_ECG_WAVE_RAMPL", 1.2, "mV", lead="V5") +
           """          <component><annotation><code code="MDC_ECG_INTERPRETATION_STATEMENT" codeSystem="2.16.840.1.113883.6.24"/>
            <value xsi:type="ST">Sinus rhythm</value></annotation></component>
""")
    write(os.path.join(FIX, "twelve_lead.xml"), document(rhythm, median, ann))
    write_json(os.path.join(FIX, "twelve_lead.expected.json"), {
        "rate_hz": 500.0, "leads": ecg_synth.LEADS, "samples": 1000, "rhythm": exp_rhythm,
        "median_rate_hz": 500.0, "median": exp_median,
        "measurements": [["MDC_ECG_TIME_PD_QRS", 88, "ms"], ["MDC_ECG_TIME_PD_PR", 152, "ms"],
                         ["MDC_ECG_TIME_PD_QT", 384, "ms"], ["MDC_ECG_HEART_RATE", 72, "bpm"]],
    })

    # Only I, II, V1-V6 (limb leads must be derived), mV with an origin, ms increment, 250 Hz,
    # and no default namespace.
    data = ecg_synth.synth(250, 2.0, seed=22)
    rhythm, exp_rhythm = sequence_set(EIGHT, data, 0.01, 0.005, "mV", "TIME_RELATIVE", 4, "ms")
    write(os.path.join(FIX, "eight_lead_mv.xml"), document(rhythm, namespace=False, patient=False))
    write_json(os.path.join(FIX, "eight_lead_mv.expected.json"), {
        "rate_hz": 250.0, "leads": EIGHT, "samples": 500, "rhythm": exp_rhythm,
    })

    # The bundled sample: 10 s at 500 Hz, eight recorded leads.
    data = ecg_synth.synth(500, 10.0, seed=23)
    rhythm, _ = sequence_set(EIGHT, data, 0, 5, "uV", "TIME_ABSOLUTE", 0.002, "s")
    ann = annotation("MDC_ECG_TIME_PD_QRS", 88, "ms") + annotation("MDC_ECG_HEART_RATE", 72, "bpm")
    write(os.path.join(ASSETS, "synthetic_sinus_aecg.xml"), document(rhythm, annotations=ann))

    make_bad()


def make_bad():
    data = {k: v[:40] for k, v in ecg_synth.synth(500, 0.1, seed=24).items()}
    expected = {}

    def bad(name, text, kind, field):
        write(os.path.join(BAD, name), text)
        expected[name] = {"kind": kind, "field": field}

    good_set, _ = sequence_set(EIGHT, data, 0, 5, "uV", "TIME_ABSOLUTE", 0.002, "s")
    good = document(good_set)
    bad("not_well_formed.xml", good.replace("</series>", "", 1), "Invalid", "XML")
    no_inc, _ = sequence_set(EIGHT, data, 0, 5, "uV", "TIME_ABSOLUTE", None, "s")
    bad("missing_increment.xml", document(no_inc), "Invalid", "increment")
    v3 = good.index("MDC_ECG_LEAD_V3")
    digits_at = good.index("<digits>", v3) + len("<digits>")
    bad("non_numeric_digits.xml", good[:digits_at] + "12 x7 " + good[digits_at:], "Invalid",
        "digits of lead MDC_ECG_LEAD_V3")
    bad("unknown_scale_unit.xml", good.replace('<scale value="5" unit="uV"/>', '<scale value="5" unit="mmHg"/>', 1),
        "Unsupported", "scale unit of lead MDC_ECG_LEAD_I")
    bad("unknown_increment_unit.xml", good.replace('unit="s"/></value>', 'unit="min"/></value>', 1),
        "Unsupported", "increment unit")
    short = {k: (v if k != "V2" else v[:30]) for k, v in data.items()}
    uneven, _ = sequence_set(EIGHT, short, 0, 5, "uV", "TIME_ABSOLUTE", 0.002, "s")
    bad("unequal_lengths.xml", document(uneven), "Inconsistent", "digits of lead MDC_ECG_LEAD_V2")
    bad("non_numeric_scale.xml", good.replace('<scale value="5" unit="uV"/>', '<scale value="five" unit="uV"/>', 1),
        "Invalid", "scale of lead MDC_ECG_LEAD_I")
    bad("entity_expansion.xml",
        '<?xml version="1.0"?>\n<!DOCTYPE AnnotatedECG [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>\n'
        '<AnnotatedECG>&b;</AnnotatedECG>\n', "Invalid", "XML")
    bad("no_series.xml", '<?xml version="1.0"?>\n<AnnotatedECG xmlns="urn:hl7-org:v3"><id root="1"/></AnnotatedECG>\n',
        "Invalid", "series")
    write_json(os.path.join(BAD, "expected.json"), expected)


if __name__ == "__main__":
    main()
