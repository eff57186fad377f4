#!/usr/bin/env python3
"""Independent checks of the record export (`ecgr1 export --hl7/--fhir`).

Reads the committed exports in tests/fixtures/export/ (written by the Rust test
`record_export::tests::the_validated_fixtures_are_what_a_fresh_export_writes` with
UPDATE_EXPORT_FIXTURES=1) and writes each validator's verdict beside them:

- hl7apy_verdict.json: hl7apy parses the ER7 message as HL7 v2.5.1 with STRICT validation
  (message structure ORU_R01, segment groups, field data types and lengths) and validates it,
  with each ED payload (the PDF) emptied for that pass, because hl7apy's tables cap ED.5 at 199
  characters; the full message is then parsed as it is and the PDF read back from it. The
  verdict holds the fields read back through hl7apy, unescaped by this script (hl7apy has no
  unescape).
- fhir_resources_verdict.json: fhir.resources (pydantic models; R4B, the R4-compatible release
  this package ships besides R5) parses the Bundle and every resource in it with its own model;
  the verdict holds the fields read back from the models.

Each verdict records the SHA-256 of the file it checked, so the Rust test fails when the export
changes and the validators were not run again.

    python3 -m venv /tmp/venv-export
    /tmp/venv-export/bin/pip install -r scripts/requirements-export.txt
    /tmp/venv-export/bin/python scripts/validate_export.py
"""

import base64
import hashlib
import json
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "export"
LOINC = ["8867-4", "8625-6", "8633-2", "8634-8", "8636-3", "8626-4", "8632-0", "8638-1"]


def unescape(value: str) -> str:
    """ER7 escape sequences back to text (HL7 v2.5.1 §2.7; hl7apy 1.3.5 has no unescape)."""
    while not isinstance(value, str):  # a subcomponent's value is a datatype object
        value = value.value
    out, k = [], 0
    codes = {"F": "|", "S": "^", "T": "&", "R": "~", "E": "\\"}
    while k < len(value):
        end = value.find("\\", k + 1) if value[k] == "\\" else -1
        if end > k and value[k + 1 : end] in codes:
            out.append(codes[value[k + 1 : end]])
            k = end + 1
        elif end > k and value[k + 1 : end] == ".br":
            out.append("\n")
            k = end + 1
        else:
            out.append(value[k])
            k += 1
    return "".join(out)


def check_hl7(path: Path) -> dict:
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    raw = path.read_bytes()
    verdict = {
        "tool": f"hl7apy {metadata.version('hl7apy')}",
        "file": path.name,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "valid": False,
        "errors": [],
    }
    try:
        text = raw.decode("utf-8")
        # hl7apy's tables give ED.5 (the encapsulated data) a length of 199, which any
        # embedded PDF exceeds; HL7 v2.5.1 itself sends ED payloads of any size in OBX-5.
        # So the message is validated STRICTLY with every ED payload emptied, and the full
        # message, payload included, is then parsed as it is (TOLERANT) to read the PDF back.
        segments = text.split("\r")
        emptied = []
        for k, segment in enumerate(segments):
            fields = segment.split("|")
            if fields[0] == "OBX" and len(fields) > 5 and fields[2] == "ED":
                parts = fields[5].split("^")
                emptied.append({"obx": fields[1], "payload_chars": len(parts[4]) if len(parts) > 4 else 0})
                fields[5] = "^".join(parts[:4] + [""])
                segments[k] = "|".join(fields)
        strict = parse_message(
            "\r".join(segments), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True
        )
        strict.validate()
        verdict["strict_validation"] = "the whole message, with each ED payload emptied"
        verdict["ed_payloads_emptied_for_strict"] = emptied
        msg = parse_message(text, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=True)
        verdict["message_type"] = msg.name
        verdict["version"] = msg.version
        result = msg.oru_r01_patient_result
        pid = result.oru_r01_patient.pid
        verdict["patient_identifier"] = unescape(pid.pid_3.cx_1.value)
        verdict["patient_family_name"] = unescape(pid.pid_5.xpn_1.fn_1.value)
        verdict["patient_given_name"] = unescape(pid.pid_5.xpn_2.value)
        order = result.oru_r01_order_observation
        verdict["filler_order"] = order.obr.obr_3.value
        verdict["placer_order"] = unescape(order.obr.obr_2.ei_1.value)
        verdict["universal_service"] = order.obr.obr_4.value
        loinc = []
        observations = []
        pdf_sha = None
        decision = None
        for group in order.oru_r01_observation:
            obx = group.obx
            code = obx.obx_3.ce_1.value
            kind = obx.obx_2.value
            system = obx.obx_3.ce_3.value
            if system == "LN":
                loinc.append(code)
            entry = {"code": code, "system": system, "type": kind, "status": obx.obx_11.value}
            if kind == "NM":
                entry["value"] = obx.obx_5.value
                entry["units"] = obx.obx_6.value
            if kind == "ED":
                data = obx.obx_5.value.split("^")
                entry["ed"] = data[:4]
                pdf = base64.b64decode(data[4], validate=True)
                if not pdf.startswith(b"%PDF-"):
                    raise ValueError("the ED payload is not a PDF")
                pdf_sha = hashlib.sha256(pdf).hexdigest()
                entry["pdf_bytes"] = len(pdf)
            if code == "ECGR1-DECISION":
                decision = unescape(obx.obx_5.value)
            observations.append(entry)
        verdict["loinc"] = loinc
        verdict["observations"] = observations
        verdict["pdf_sha256"] = pdf_sha
        verdict["decision"] = decision
        verdict["valid"] = True
    except Exception as e:  # the verdict records any failure; the Rust test reads it
        verdict["errors"].append(f"{type(e).__name__}: {e}")
    return verdict


def check_fhir(path: Path) -> dict:
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.bundle import Bundle

    raw = path.read_bytes()
    verdict = {
        "tool": f"fhir.resources {metadata.version('fhir.resources')} (R4B models)",
        "file": path.name,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "valid": False,
        "errors": [],
    }
    try:
        data = json.loads(raw)
        bundle = Bundle.model_validate(data)
        counts = {}
        for entry in data["entry"]:
            resource = entry["resource"]
            kind = resource["resourceType"]
            model = get_fhir_model_class(kind).model_validate(resource)
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "Patient":
                verdict["patient_identifier"] = model.identifier[0].value
                verdict["patient_family_name"] = model.name[0].family
            if kind == "DiagnosticReport":
                form = model.presentedForm[0]
                # fhir.resources decodes (and so checks) base64Binary values itself.
                pdf = form.data
                if not pdf.startswith(b"%PDF-"):
                    raise ValueError("presentedForm.data is not a PDF")
                if hashlib.sha1(pdf).digest() != form.hash:
                    raise ValueError("presentedForm.hash is not the SHA-1 of its data")
                if form.size != len(pdf):
                    raise ValueError("presentedForm.size is not the size of its data")
                verdict["pdf_sha256"] = hashlib.sha256(pdf).hexdigest()
                verdict["report_code"] = model.code.coding[0].code
            if kind == "Observation" and model.code.coding[0].system == "http://loinc.org":
                q = model.valueQuantity
                verdict.setdefault("loinc", []).append(
                    {
                        "code": model.code.coding[0].code,
                        "value": float(q.value) if q else None,
                        "ucum": q.code if q else None,
                        "absent": model.dataAbsentReason.text if model.dataAbsentReason else None,
                    }
                )
            if kind == "Provenance":
                verdict["provenance_signer"] = model.signature[0].who.display
                verdict["provenance_agents"] = [a.type.coding[0].code for a in model.agent]
        verdict["bundle_type"] = bundle.type
        verdict["resources"] = counts
        codes = [o["code"] for o in verdict.get("loinc", [])]
        if codes != LOINC:
            raise ValueError(f"LOINC observations {codes}, expected {LOINC}")
        verdict["valid"] = True
    except Exception as e:
        verdict["errors"].append(f"{type(e).__name__}: {e}")
    return verdict


def main() -> int:
    ok = True
    for name, check, out in [
        ("oru_r01.hl7", check_hl7, "hl7apy_verdict.json"),
        ("bundle.json", check_fhir, "fhir_resources_verdict.json"),
    ]:
        verdict = check(FIXTURES / name)
        (FIXTURES / out).write_text(json.dumps(verdict, indent=2, ensure_ascii=False) + "\n")
        print(f"{name}: {'valid' if verdict['valid'] else 'INVALID'} ({verdict['tool']})")
        for e in verdict["errors"]:
            print(f"  {e}")
        ok &= verdict["valid"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
