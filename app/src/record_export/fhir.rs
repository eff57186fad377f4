//! The result as a FHIR R4 transaction Bundle: the Patient (created unless one with the same
//! identifier exists), the signing clinician (Practitioner), the engine (Device), one
//! Observation per measurement (LOINC code, UCUM quantity, or a data-absent reason), the
//! engine's P(yes) when it has one, the DiagnosticReport (conclusion, signed interpreter,
//! the PDF as `presentedForm`) and a Provenance naming the signer, with their signature's
//! type and time, and the engine.
//!
//! Resources refer to each other by `urn:uuid:` full URLs derived from the export's id, so the
//! same export is the same bundle, byte for byte.

use base64::Engine as _;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use sha1::Digest as _;
use sha2::Digest as _;
use sha2::Sha256;

use super::content::{RecordContent, utc_seconds};

pub const LOINC: &str = "http://loinc.org";
pub const UCUM: &str = "http://unitsofmeasure.org";
/// The workstation's own code system, for what LOINC does not name.
pub const LOCAL_CODES: &str = "urn:ecgr1:codes";
const USERS: &str = "urn:ecgr1:user";
const ENGINES: &str = "urn:ecgr1:engine";
const REPORTS: &str = "urn:ecgr1:report";

/// A stable `urn:uuid:` for resource `what` of this export (SHA-256 of both, shaped as a
/// version-5-style UUID).
fn urn(c: &RecordContent, what: &str) -> String {
    let digest = Sha256::digest(format!("{}|{what}", c.message_id).as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// FHIR `instant` / `dateTime` from a store stamp (seconds, UTC).
fn instant(stamp: &str) -> Value {
    utc_seconds(stamp).map_or(Value::Null, Value::String)
}

fn gender(text: Option<&str>) -> &'static str {
    match text.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some("f" | "female") => "female",
        Some("m" | "male") => "male",
        Some("o" | "other") => "other",
        _ => "unknown",
    }
}

/// A FHIR `date` ("1960-02-03"), or nothing when the stored birth date is not one.
fn birth_date(text: &str) -> Option<String> {
    let t = text.trim();
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    match (t.len(), digits.len()) {
        (10, 8) if t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-' => Some(t.to_string()),
        (8, 8) => Some(format!("{}-{}-{}", &t[..4], &t[4..6], &t[6..])),
        _ => None,
    }
}

fn entry(full_url: &str, resource: Value, kind: &str, if_none_exist: Option<String>) -> Value {
    let mut request = json!({"method": "POST", "url": kind});
    if let Some(query) = if_none_exist {
        request["ifNoneExist"] = Value::String(query);
    }
    let mut entry = json!({"fullUrl": full_url, "request": request});
    entry["resource"] = resource;
    entry
}

fn reference(url: &str) -> Value {
    json!({ "reference": url })
}

fn patient(c: &RecordContent) -> Value {
    let parts = c.name_parts();
    let mut name = json!({});
    if let Some(full) = c.patient.name.as_deref() {
        name["text"] = Value::String(
            parts
                .iter()
                .filter(|p| !p.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(" "),
        );
        if parts.len() > 1 || full.contains('^') {
            if let Some(family) = parts.first().filter(|f| !f.is_empty()) {
                name["family"] = Value::String(family.clone());
            }
            let given: Vec<&String> = parts
                .iter()
                .skip(1)
                .take(2)
                .filter(|g| !g.is_empty())
                .collect();
            if !given.is_empty() {
                name["given"] = json!(given);
            }
            if let Some(prefix) = parts.get(3).filter(|p| !p.is_empty()) {
                name["prefix"] = json!([prefix]);
            }
            if let Some(suffix) = parts.get(4).filter(|p| !p.is_empty()) {
                name["suffix"] = json!([suffix]);
            }
        }
    }
    let mut p = json!({
        "resourceType": "Patient",
        "identifier": [{
            "type": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                "code": "MR",
                "display": "Medical record number"
            }]},
            "value": c.patient_identifier
        }],
        "gender": gender(c.patient.sex.as_deref()),
    });
    if c.patient.name.is_some() {
        p["name"] = json!([name]);
    }
    if let Some(b) = c.patient.birth_date.as_deref().and_then(birth_date) {
        p["birthDate"] = Value::String(b);
    }
    p
}

fn quantity(value: f64, ucum: &str) -> Value {
    json!({"value": (value * 10.0).round() / 10.0, "unit": ucum, "system": UCUM, "code": ucum})
}

fn observation(c: &RecordContent, o: &super::content::Observation, refs: &Refs) -> Value {
    let mut obs = json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "procedure",
            "display": "Procedure"
        }]}],
        "code": {
            "coding": [{"system": LOINC, "code": o.coding.loinc, "display": o.coding.display}],
            "text": o.coding.display
        },
        "subject": reference(&refs.patient),
        "effectiveDateTime": instant(&c.observed_at),
        "issued": instant(&c.generated_at),
        "performer": [reference(&refs.device)],
    });
    if let Some(method) = o.coding.method {
        obs["method"] = json!({"text": method});
    }
    match &o.value {
        Ok(v) => {
            obs["valueQuantity"] = quantity(*v, o.coding.ucum);
            if let Some((low, high)) = o.coding.range {
                obs["referenceRange"] = json!([{
                    "low": quantity(low, o.coding.ucum),
                    "high": quantity(high, o.coding.ucum)
                }]);
            }
        }
        Err(why) => {
            obs["dataAbsentReason"] = json!({
                "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                    "code": "unknown",
                    "display": "Unknown"
                }],
                "text": format!("not measured: {why}")
            });
        }
    }
    obs
}

struct Refs {
    patient: String,
    practitioner: String,
    device: String,
    report: String,
}

/// The conclusion text of the DiagnosticReport: the signed answer first, then what the engine
/// said.
fn conclusion(c: &RecordContent) -> String {
    let d = &c.decision;
    let mut parts = vec![format!(
        "Signed final answer: {} (the clinician {}; reason: {}; meaning: {}).",
        d.final_answer,
        c.verdict(),
        d.reason,
        d.meaning
    )];
    if !c.statements.is_empty() {
        parts.push(format!("Engine statements: {}.", c.statements.join("; ")));
    }
    if let Some(s) = &c.summary {
        parts.push(format!("Engine summary: {s}"));
    }
    if let Some(r) = &c.rhythm {
        parts.push(format!("Rhythm: {r}."));
    }
    if let Some(v) = &c.verifier {
        parts.push(format!("Trace verifier: {v}."));
    }
    parts.push(ecgr1_engine::report::ASSIST_NOTICE.to_string());
    parts.join(" ")
}

/// ASTM E1762 signature types: an approval is the author's signature on the result, a review
/// a review signature.
fn signature_type(meaning: &str) -> Value {
    let (code, display) = if meaning == "approved" {
        ("1.2.840.10065.1.12.1.1", "Author's Signature")
    } else {
        ("1.2.840.10065.1.12.1.13", "Review Signature")
    };
    json!({"system": "urn:iso-astm:E1762-95:2013", "code": code, "display": display})
}

/// The transaction Bundle, pretty-printed JSON.
pub fn bundle(c: &RecordContent) -> anyhow::Result<Vec<u8>> {
    let refs = Refs {
        patient: urn(c, "patient"),
        practitioner: urn(c, "practitioner"),
        device: urn(c, "device"),
        report: urn(c, "report"),
    };
    let d = &c.decision;
    let mut entries = Vec::new();
    let pct = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    entries.push(entry(
        &refs.patient,
        patient(c),
        "Patient",
        Some(format!("identifier={}", pct(&c.patient_identifier))),
    ));
    entries.push(entry(
        &refs.practitioner,
        json!({
            "resourceType": "Practitioner",
            "identifier": [{"system": USERS, "value": d.signer}],
            "name": [{"text": d.signer}]
        }),
        "Practitioner",
        Some(format!(
            "identifier={}",
            pct(&format!("{USERS}|{}", d.signer))
        )),
    ));
    let mut device = json!({
        "resourceType": "Device",
        "identifier": [{"system": ENGINES, "value": c.engine.name}],
        "deviceName": [{
            "name": format!("ECG-R1 workstation {}, engine {}", env!("CARGO_PKG_VERSION"), c.engine.name),
            "type": "model-name"
        }],
        "version": [{"value": c.engine.version}],
        "note": [{"text": c.engine_line()}]
    });
    for (file, sha) in &c.engine.weights_sha256 {
        if let Some(notes) = device["note"].as_array_mut() {
            notes.push(json!({"text": format!("weights {file} SHA-256 {sha}")}));
        }
    }
    entries.push(entry(&refs.device, device, "Device", None));

    let mut results = Vec::new();
    for (k, o) in c.observations.iter().enumerate() {
        let url = urn(c, &format!("observation-{k}"));
        entries.push(entry(&url, observation(c, o, &refs), "Observation", None));
        results.push(reference(&url));
    }
    if let Some(qtcf) = &c.qtc_fridericia {
        let url = urn(c, "observation-qtcf");
        let mut obs = json!({
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": LOCAL_CODES, "code": "qtc-fridericia", "display": "QTc by Fridericia"}], "text": "QTc by Fridericia"},
            "subject": reference(&refs.patient),
            "effectiveDateTime": instant(&c.observed_at),
            "issued": instant(&c.generated_at),
            "method": {"text": "Fridericia"},
            "performer": [reference(&refs.device)],
        });
        match qtcf {
            Ok(v) => obs["valueQuantity"] = quantity(*v, "ms"),
            Err(why) => {
                obs["dataAbsentReason"] = json!({"text": format!("not measured: {why}")});
            }
        }
        entries.push(entry(&url, obs, "Observation", None));
        results.push(reference(&url));
    }
    if let Some(p) = c.p_yes {
        let url = urn(c, "observation-p-yes");
        let mut obs = json!({
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": LOCAL_CODES, "code": "p-yes", "display": "Engine probability of ischemia P(yes)"}]},
            "subject": reference(&refs.patient),
            "effectiveDateTime": instant(&c.observed_at),
            "issued": instant(&c.generated_at),
            "performer": [reference(&refs.device)],
            "valueQuantity": {"value": (p * 1000.0).round() / 1000.0, "unit": "1", "system": UCUM, "code": "1"},
        });
        if let Some(band) = c.band {
            obs["interpretation"] = json!([{"text": band.wording()}]);
        }
        entries.push(entry(&url, obs, "Observation", None));
        results.push(reference(&url));
    }

    let pdf_b64 = base64::engine::general_purpose::STANDARD.encode(&c.pdf);
    let sha1 = base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(&c.pdf));
    let mut identifiers = vec![json!({"system": REPORTS, "value": c.filler_order})];
    if let Some(placer) = &c.placer_order {
        identifiers.push(json!({
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PLAC", "display": "Placer Identifier"}]},
            "value": placer
        }));
    }
    let report = json!({
        "resourceType": "DiagnosticReport",
        "identifier": identifiers,
        "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
            "code": "EC",
            "display": "Electrocardiac (e.g., EKG, EEC, Holter)"
        }]}],
        "code": {"coding": [{"system": LOINC, "code": "11524-6", "display": "EKG study"}], "text": "12-lead ECG reading"},
        "subject": reference(&refs.patient),
        "effectiveDateTime": instant(&c.observed_at),
        "issued": instant(&c.generated_at),
        "performer": [reference(&refs.device)],
        "resultsInterpreter": [reference(&refs.practitioner)],
        "result": results,
        "conclusion": conclusion(c),
        "presentedForm": [{
            "contentType": "application/pdf",
            "language": "en",
            "data": pdf_b64,
            "size": c.pdf.len(),
            "hash": sha1,
            "title": format!("Clinical ECG report, case {} run {} (PDF/A-2b)", c.case_id, c.run_id),
            "creation": instant(&c.generated_at)
        }]
    });
    entries.push(entry(&refs.report, report, "DiagnosticReport", None));

    let mut targets = vec![reference(&refs.report)];
    targets.extend(results.iter().cloned());
    let signer_role = if d.meaning == "approved" {
        ("attester", "Attester")
    } else {
        ("verifier", "Verifier")
    };
    let provenance = json!({
        "resourceType": "Provenance",
        "target": targets,
        "recorded": instant(&c.generated_at),
        "agent": [
            {
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": signer_role.0, "display": signer_role.1}]},
                "who": {"reference": refs.practitioner, "display": d.signer}
            },
            {
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author", "display": "Author"}]},
                "who": {"reference": refs.device, "display": c.engine_line()}
            }
        ],
        "signature": [{
            "type": [signature_type(&d.meaning)],
            "when": instant(&d.signed_at),
            "who": {"reference": refs.practitioner, "display": d.signer}
        }]
    });
    entries.push(entry(&urn(c, "provenance"), provenance, "Provenance", None));

    let bundle = json!({
        "resourceType": "Bundle",
        "identifier": {"system": "urn:ecgr1:export", "value": c.message_id},
        "type": "transaction",
        "timestamp": instant(&c.generated_at),
        "entry": entries
    });
    let mut out = serde_json::to_vec_pretty(&bundle)
        .map_err(|e| anyhow::anyhow!("the FHIR bundle cannot be written as JSON: {e}"))?;
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_genders_take_fhir_forms() {
        assert_eq!(birth_date("1960-02-03").as_deref(), Some("1960-02-03"));
        assert_eq!(birth_date("19600203").as_deref(), Some("1960-02-03"));
        assert_eq!(birth_date("03.02.1960"), None);
        assert_eq!(gender(Some("F")), "female");
        assert_eq!(gender(Some("X")), "unknown");
        assert_eq!(
            instant("2026-11-24T08:30:00.123456Z"),
            json!("2026-11-24T08:30:00Z")
        );
    }

    #[test]
    fn signature_types_follow_the_meaning() {
        assert_eq!(signature_type("approved")["code"], "1.2.840.10065.1.12.1.1");
        assert_eq!(
            signature_type("reviewed")["code"],
            "1.2.840.10065.1.12.1.13"
        );
    }
}
