//! The record export on a freshly stored and signed run: fields checked in both formats, the
//! refusals, the audit event, and the committed fixtures that the independent validators
//! checked (`scripts/validate_export.py`: hl7apy for the message, fhir.resources for the
//! bundle) regenerated here byte for byte, so a change to the export cannot leave the
//! validators' verdicts describing a different file.

use base64::Engine as _;
use ecgr1_engine::features::measure;
use ecgr1_engine::formats::{EcgInput, LoadOptions, load_path, sha256_hex};
use ecgr1_engine::protocol::ProtocolEngine;
use ecgr1_engine::report::{Engine, Request, Task};
use ecgr1_engine::verify::verify_report;
use ecgr1_engine::{PatientInfo, PersonName, SignalInput};
use serde_json::{Value, json};

use super::hl7::unescape;
use super::*;
use crate::audit::AuditKey;
use crate::cli::verify::verification_json;
use crate::store::clock::Clock;
use crate::store::{
    AnalysisIds, DbLocation, HistoryFilter, KeySource, NewAnalysis, NewDecision, NewRun, Role,
    RunOutcome, SignatureMeaning, SqliteStore, StoreConfig, Verdict,
};

const PASSWORD: &str = "correct horse battery staple";
const FIXED_TIME: &str = "2026-11-24T08:30:00.000000Z";
/// Every HL7 delimiter in the free text and the name (`^` in a stored name separates its
/// parts, DICOM-style; everywhere else it is text).
const NAME: &str = "Müller|Schmidt~Ø\\x&y^Zoë Anne";
const NOTES: &str = "chest pain | 2 h ^ on & off ~ \\ worse at rest\nknown LBBB? no";
const REASON: &str = "primary pattern | T ≥ 1 mm in V2–V4 ^ & ~ \\ confirmed";

fn sample_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/samples/synthetic_twi.csv")
}

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/export")
}

/// A store on a stepping clock and a fixed audit key, so every stored time, hash and keyed
/// pseudonym (and so every export) is the same on any day.
fn open_store() -> (SqliteStore, Session) {
    let store = SqliteStore::open(&StoreConfig {
        db: DbLocation::Memory,
        key: KeySource::Given(AuditKey::from_bytes([0x5a; crate::audit::key::KEY_LEN])),
        first_user: "alice".into(),
        first_password: Some(PASSWORD.into()),
        // 2026-11-24T08:00:00Z
        clock: Clock::stepping(1_795_507_200),
    })
    .unwrap();
    let session = store.login("alice", Some(PASSWORD)).unwrap();
    (store, session)
}

fn store_run(store: &SqliteStore, session: &Session, patient: PatientInfo) -> AnalysisIds {
    let bytes = std::fs::read(sample_path()).unwrap();
    let EcgInput::Signal(signal) = load_path(&sample_path(), &LoadOptions::default()).unwrap()
    else {
        panic!("a signal");
    };
    let record = signal.record;
    let report = ProtocolEngine::new()
        .run(&Request {
            record: Some(&record),
            image: None,
            notes: NOTES,
            task: Task::Twi,
        })
        .unwrap();
    let measurements = measure(&record).unwrap();
    let verification = verify_report(&report, &measurements);
    let input = EcgInput::Signal(Box::new(SignalInput { record, patient }));
    store
        .record_analysis(
            session,
            &NewAnalysis {
                input_bytes: &bytes,
                input: &input,
                notes: NOTES,
                run: NewRun {
                    engine: &report.engine,
                    task: report.task,
                    parameters: json!({"engine": report.engine.name}),
                    seed: None,
                    started_at: Some(FIXED_TIME.into()),
                    finished_at: Some(FIXED_TIME.into()),
                    outcome: RunOutcome::Completed(&report),
                    measurements: Some(serde_json::to_value(&measurements).unwrap()),
                    verifier_flags: Some(verification_json(&verification)),
                    comparison: None,
                    digitisation: None,
                },
            },
        )
        .unwrap()
}

fn patient() -> PatientInfo {
    PatientInfo {
        name: Some(NAME.into()),
        id: Some("MRN|47^11".into()),
        birth_date: Some("1960-02-03".into()),
        sex: Some("F".into()),
    }
}

fn sign(store: &SqliteStore, session: &Session, run_id: i64) {
    store
        .sign(
            session,
            &NewDecision {
                run_id,
                verdict: Verdict::Agree,
                reason: REASON,
                meaning: SignatureMeaning::Approved,
                password: PASSWORD,
            },
        )
        .unwrap();
}

fn options() -> ExportOptions {
    ExportOptions {
        generated_at: Some(FIXED_TIME.into()),
        placer_order: Some("ORD-2026^0815".into()),
    }
}

/// A signed run and its two exports.
fn signed_exports() -> (
    SqliteStore,
    Session,
    AnalysisIds,
    RecordExport,
    RecordExport,
) {
    let (store, session) = open_store();
    let ids = store_run(&store, &session, patient());
    sign(&store, &session, ids.run_id);
    let hl7 = export_for_record(
        &store,
        &session,
        ids.run_id,
        RecordFormat::Hl7V2,
        &options(),
    )
    .unwrap();
    let fhir = export_for_record(
        &store,
        &session,
        ids.run_id,
        RecordFormat::FhirR4,
        &options(),
    )
    .unwrap();
    (store, session, ids, hl7, fhir)
}

/// Segments of an ER7 message, each split into fields (MSH's field 1 is the separator).
fn segments(message: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(message).unwrap();
    assert!(
        text.ends_with('\r') && !text.contains('\n'),
        "CR-terminated segments"
    );
    text.split('\r')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut fields: Vec<String> = s.split('|').map(str::to_string).collect();
            if fields[0] == "MSH" {
                fields.insert(1, "|".into());
            }
            fields
        })
        .collect()
}

fn field(segment: &[String], k: usize) -> &str {
    segment.get(k).map_or("", String::as_str)
}

#[test]
fn the_hl7_message_carries_patient_order_measurements_decision_engine_and_pdf() {
    let (_store, _session, ids, hl7, _) = signed_exports();
    let segs = segments(&hl7.bytes);
    let names: Vec<&str> = segs.iter().map(|s| s[0].as_str()).collect();
    assert_eq!(&names[..5], ["MSH", "SFT", "PID", "ORC", "OBR"]);
    let msh = &segs[0];
    assert_eq!(field(msh, 2), "^~\\&");
    assert_eq!(field(msh, 3), "ECGR1");
    assert_eq!(field(msh, 18), "UNICODE UTF-8");
    assert_eq!(field(msh, 9), "ORU^R01^ORU_R01");
    assert_eq!(field(msh, 10), hl7.message_id);
    assert_eq!(field(msh, 12), "2.5.1");
    assert_eq!(field(msh, 7), "20261124083000+0000");

    let pid = &segs[2];
    let id: Vec<&str> = field(pid, 3).split('^').collect();
    assert_eq!(unescape(id[0]), "MRN|47^11");
    assert_eq!(id[4], "MR");
    let name: Vec<String> = field(pid, 5).split('^').map(unescape).collect();
    assert_eq!(name, ["Müller|Schmidt~Ø\\x&y", "Zoë Anne"]);
    assert_eq!(field(pid, 7), "19600203");
    assert_eq!(field(pid, 8), "F");

    let orc = &segs[3];
    assert_eq!(unescape(field(orc, 2)), "ORD-2026^0815");
    assert_eq!(
        field(orc, 3),
        format!("{}-{}^ECGR1", ids.case_id, ids.run_id)
    );
    let obr = &segs[4];
    assert_eq!(field(obr, 4), "11524-6^EKG study^LN");
    assert_eq!(field(obr, 25), "F");
    assert_eq!(field(obr, 32), "alice");
    let notes = segs
        .iter()
        .find(|s| s[0] == "NTE" && field(s, 3).starts_with("Clinical notes"))
        .unwrap();
    let lines: Vec<String> = field(notes, 3).split('~').map(unescape).collect();
    assert_eq!(lines.join("\n"), format!("Clinical notes: {NOTES}"));

    let obx: Vec<&Vec<String>> = segs.iter().filter(|s| s[0] == "OBX").collect();
    for (k, o) in obx.iter().enumerate() {
        assert_eq!(field(o, 1), (k + 1).to_string(), "OBX set ids count up");
    }
    let by_code = |code: &str| {
        obx.iter()
            .find(|o| field(o, 3).split('^').next() == Some(code))
            .unwrap_or_else(|| panic!("no OBX {code}"))
    };
    let EcgInput::Signal(signal) = load_path(&sample_path(), &LoadOptions::default()).unwrap()
    else {
        panic!("a signal");
    };
    let m = measure(&signal.record).unwrap();
    for (code, measured, ucum) in [
        ("8867-4", &m.heart_rate_bpm, "/min"),
        ("8625-6", &m.pr_ms, "ms"),
        ("8633-2", &m.qrs_ms, "ms"),
        ("8634-8", &m.qt_ms, "ms"),
        ("8636-3", &m.qtc_bazett_ms, "ms"),
        ("8626-4", &m.p_axis_deg, "deg"),
        ("8632-0", &m.qrs_axis_deg, "deg"),
        ("8638-1", &m.t_axis_deg, "deg"),
    ] {
        let o = by_code(code);
        assert_eq!(field(o, 2), "NM");
        assert_eq!(field(o, 3).split('^').nth(2), Some("LN"));
        assert_eq!(field(o, 6), format!("{ucum}^{ucum}^UCUM"));
        match measured.value {
            Some(v) => {
                let sent: f64 = field(o, 5).parse().unwrap();
                assert!(
                    (sent - v).abs() <= 0.05,
                    "{code}: sent {sent}, measured {v}"
                );
                assert_eq!(field(o, 11), "F");
            }
            None => assert_eq!((field(o, 5), field(o, 11)), ("", "X")),
        }
    }
    assert_eq!(field(by_code("8636-3"), 17), "BAZETT^Bazett^L");
    let decision = by_code("ECGR1-DECISION");
    let text = unescape(field(decision, 5));
    assert!(text.contains(&format!("reason: {REASON}")), "{text}");
    assert!(text.contains("agrees with the engine") && text.contains("meaning: approved"));
    assert_eq!(field(decision, 16), "alice");
    assert!(unescape(field(by_code("ECGR1-ENGINE"), 5)).starts_with("protocol "));
    assert!(
        obx.iter()
            .any(|o| field(o, 3).starts_with("ECGR1-STATEMENT^"))
    );

    // The PDF, whole: base64 in ED.5, and the same report the PDF command writes.
    let ed = by_code("ECGR1-REPORT");
    assert_eq!(field(ed, 2), "ED");
    let parts: Vec<&str> = field(ed, 5).split('^').collect();
    assert_eq!(&parts[..4], ["ECGR1", "AP", "PDF", "Base64"]);
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(parts[4])
        .unwrap();
    assert!(pdf.starts_with(b"%PDF-1.7"));
    assert_eq!(sha256_hex(&pdf), hl7.pdf_sha256);
    crate::pdf::checks::assert_pdfa_2b(&pdf);
    let pdf_text = crate::pdf::checks::pdf_text(&pdf);
    assert!(pdf_text.contains("Zoë Anne"), "accents print as they are");
}

#[test]
fn the_fhir_bundle_carries_the_same_fields() {
    let (_store, _session, ids, hl7, fhir) = signed_exports();
    let bundle: Value = serde_json::from_slice(&fhir.bytes).unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "transaction");
    let entries = bundle["entry"].as_array().unwrap();
    let of = |kind: &str| -> Vec<&Value> {
        entries
            .iter()
            .map(|e| &e["resource"])
            .filter(|r| r["resourceType"] == kind)
            .collect()
    };
    for e in entries {
        assert!(e["fullUrl"].as_str().unwrap().starts_with("urn:uuid:"));
        assert_eq!(e["request"]["method"], "POST");
    }
    let patient = of("Patient")[0];
    assert_eq!(patient["identifier"][0]["value"], "MRN|47^11");
    assert_eq!(patient["name"][0]["family"], "Müller|Schmidt~Ø\\x&y");
    assert_eq!(patient["name"][0]["given"][0], "Zoë Anne");
    assert_eq!(patient["birthDate"], "1960-02-03");
    assert_eq!(patient["gender"], "female");

    // The same observations as the HL7 message, with LOINC codes and UCUM units.
    let hl7_values: Vec<(String, String)> = segments(&hl7.bytes)
        .into_iter()
        .filter(|s| s[0] == "OBX" && field(s, 3).ends_with("^LN"))
        .map(|s| {
            (
                field(&s, 3).split('^').next().unwrap().to_string(),
                field(&s, 5).to_string(),
            )
        })
        .collect();
    let observations = of("Observation");
    for (code, value) in &hl7_values {
        let o = observations
            .iter()
            .find(|o| o["code"]["coding"][0]["code"] == code.as_str())
            .unwrap_or_else(|| panic!("no Observation {code}"));
        assert_eq!(o["code"]["coding"][0]["system"], "http://loinc.org");
        if value.is_empty() {
            assert!(o["dataAbsentReason"]["text"].is_string(), "{o}");
        } else {
            let q = &o["valueQuantity"];
            assert_eq!(q["system"], "http://unitsofmeasure.org");
            let sent: f64 = value.parse().unwrap();
            assert!((q["value"].as_f64().unwrap() - sent).abs() < 1e-9, "{code}");
        }
    }
    assert_eq!(hl7_values.len(), CODINGS.len());

    let report = of("DiagnosticReport")[0];
    assert_eq!(report["status"], "final");
    assert_eq!(report["code"]["coding"][0]["code"], "11524-6");
    assert_eq!(
        report["identifier"][0]["value"],
        format!("{}-{}", ids.case_id, ids.run_id)
    );
    assert_eq!(report["identifier"][1]["value"], "ORD-2026^0815");
    assert!(report["conclusion"].as_str().unwrap().contains(REASON));
    let form = &report["presentedForm"][0];
    assert_eq!(form["contentType"], "application/pdf");
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(form["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(sha256_hex(&pdf), fhir.pdf_sha256);
    assert_eq!(fhir.pdf_sha256, hl7.pdf_sha256, "the same report in both");
    assert_eq!(form["size"], pdf.len());
    assert_eq!(
        report["result"].as_array().unwrap().len(),
        observations.len()
    );

    let provenance = of("Provenance")[0];
    let practitioner = entries
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Practitioner")
        .unwrap();
    assert_eq!(practitioner["resource"]["identifier"][0]["value"], "alice");
    assert_eq!(
        provenance["agent"][0]["who"]["reference"],
        practitioner["fullUrl"]
    );
    assert_eq!(
        provenance["agent"][0]["type"]["coding"][0]["code"],
        "attester"
    );
    assert_eq!(
        provenance["agent"][1]["type"]["coding"][0]["code"],
        "author"
    );
    let device = entries
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Device")
        .unwrap();
    assert_eq!(
        provenance["agent"][1]["who"]["reference"],
        device["fullUrl"]
    );
    assert_eq!(device["resource"]["identifier"][0]["value"], "protocol");
    assert_eq!(
        provenance["signature"][0]["type"][0]["code"],
        "1.2.840.10065.1.12.1.1"
    );
    assert_eq!(
        provenance["target"].as_array().unwrap().len(),
        observations.len() + 1
    );
}

#[test]
fn every_export_is_audited_and_the_same_export_is_the_same_bytes() {
    let (store, session, ids, hl7, fhir) = signed_exports();
    let again = export_for_record(
        &store,
        &session,
        ids.run_id,
        RecordFormat::Hl7V2,
        &options(),
    )
    .unwrap();
    assert_eq!(again.bytes, hl7.bytes);
    let events = store
        .history(
            &session,
            &HistoryFilter {
                case_id: Some(ids.case_id),
                ..HistoryFilter::default()
            },
        )
        .unwrap();
    let exports: Vec<Value> = events
        .iter()
        .filter(|e| e.action == "export" && e.entity_type == "report")
        .map(|e| serde_json::from_str(e.after_json.as_deref().unwrap()).unwrap())
        .collect();
    assert_eq!(exports.len(), 3);
    assert_eq!(exports[0]["format"], "hl7v2.5.1-oru-r01");
    assert_eq!(exports[0]["sha256"], hl7.sha256);
    assert_eq!(exports[1]["format"], "fhir-r4-bundle");
    assert_eq!(exports[1]["sha256"], fhir.sha256);
    assert_eq!(exports[1]["signer"], "alice");
    assert!(store.verify_audit().unwrap().is_intact());
}

#[test]
fn unsigned_anonymous_and_withheld_runs_are_refused_clearly() {
    let (store, session) = open_store();
    let ids = store_run(&store, &session, patient());
    let message = export_for_record(
        &store,
        &session,
        ids.run_id,
        RecordFormat::Hl7V2,
        &options(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        message.contains(&format!("run {} is not signed", ids.run_id))
            && message.contains("only a signed run can be exported"),
        "{message}"
    );
    // Nothing was recorded for the refused export.
    let exported = store
        .history(&session, &HistoryFilter::default())
        .unwrap()
        .iter()
        .any(|e| e.action == "export");
    assert!(!exported);

    let anonymous = store_run(&store, &session, PatientInfo::default());
    sign(&store, &session, anonymous.run_id);
    let message = export_for_record(
        &store,
        &session,
        anonymous.run_id,
        RecordFormat::FhirR4,
        &options(),
    )
    .unwrap_err()
    .to_string();
    assert!(message.contains("no patient identifier"), "{message}");

    sign(&store, &session, ids.run_id);
    store
        .add_user(&session, "tom", &[Role::Trainer], None)
        .unwrap();
    let trainer = store.login("tom", None).unwrap();
    let message = export_for_record(
        &store,
        &trainer,
        ids.run_id,
        RecordFormat::Hl7V2,
        &options(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        message.contains("may not view identifying patient data"),
        "{message}"
    );

    let message = export_for_record(&store, &session, 99, RecordFormat::Hl7V2, &options())
        .unwrap_err()
        .to_string();
    assert_eq!(message, "run 99 does not exist");
}

/// The validators' verdicts (`scripts/validate_export.py`) describe exactly the files a fresh
/// export writes. `UPDATE_EXPORT_FIXTURES=1` rewrites the exports; the validators must then be
/// run again (the verdicts hold each file's SHA-256, so a stale verdict fails here).
#[test]
fn the_validated_fixtures_are_what_a_fresh_export_writes() {
    let (_store, _session, _ids, hl7, fhir) = signed_exports();
    let dir = fixtures();
    let files = [("oru_r01.hl7", &hl7.bytes), ("bundle.json", &fhir.bytes)];
    if std::env::var_os("UPDATE_EXPORT_FIXTURES").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    for (name, bytes) in files {
        let committed = std::fs::read(dir.join(name)).unwrap();
        assert!(
            committed == *bytes,
            "tests/fixtures/export/{name} is not what the export writes now: regenerate it \
             (UPDATE_EXPORT_FIXTURES=1 cargo test -p ecgr1-app --lib record_export) and run \
             the validators again (scripts/validate_export.py, see scripts/README.md)"
        );
    }
    let verdict = |name: &str| -> Value {
        let path = dir.join(name);
        serde_json::from_slice(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let hl7_verdict = verdict("hl7apy_verdict.json");
    assert_eq!(hl7_verdict["valid"], true, "{hl7_verdict}");
    assert_eq!(
        hl7_verdict["sha256"], hl7.sha256,
        "hl7apy checked another file"
    );
    assert_eq!(hl7_verdict["message_type"], "ORU_R01");
    assert_eq!(hl7_verdict["version"], "2.5.1");
    assert_eq!(hl7_verdict["patient_identifier"], "MRN|47^11");
    assert_eq!(hl7_verdict["patient_family_name"], "Müller|Schmidt~Ø\\x&y");
    assert_eq!(hl7_verdict["pdf_sha256"], hl7.pdf_sha256);
    assert!(
        hl7_verdict["decision"].as_str().unwrap().contains(REASON),
        "hl7apy unescaped the reason to the text signed"
    );
    let loinc: Vec<&str> = hl7_verdict["loinc"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let expected: Vec<&str> = CODINGS.iter().map(|c| c.loinc).collect();
    assert_eq!(loinc, expected);

    let fhir_verdict = verdict("fhir_resources_verdict.json");
    assert_eq!(fhir_verdict["valid"], true, "{fhir_verdict}");
    assert_eq!(
        fhir_verdict["sha256"], fhir.sha256,
        "fhir.resources checked another file"
    );
    assert_eq!(fhir_verdict["pdf_sha256"], fhir.pdf_sha256);
    assert_eq!(fhir_verdict["patient_identifier"], "MRN|47^11");
    assert_eq!(fhir_verdict["provenance_signer"], "alice");
    let counts = &fhir_verdict["resources"];
    assert_eq!(counts["DiagnosticReport"], 1);
    assert_eq!(counts["Provenance"], 1);
    assert_eq!(
        counts["Observation"],
        CODINGS.len() + 1,
        "with QTc Fridericia"
    );
}

/// Names the readers give in parts reach PID-5 and `Patient.name` as parts; a name read as
/// one string is sent whole as the family name in HL7 and only as text in FHIR.
#[test]
fn names_read_in_parts_are_exported_in_parts() {
    let scp = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/scp/scp_plain.scp");
    let EcgInput::Signal(from_scp) = load_path(&scp, &LoadOptions::default()).unwrap() else {
        panic!("a signal");
    };
    let cases = [
        (
            from_scp.patient.name.clone().unwrap(),
            "Müller^Anna",
            json!("Müller"),
            json!(["Anna"]),
        ),
        (
            PersonName::normalise("Doe ^ John ^ Quincy ^ Dr. ^ Jr.").unwrap(),
            // XPN puts the suffix before the prefix.
            "Doe^John^Quincy^Jr.^Dr.",
            json!("Doe"),
            json!(["John", "Quincy"]),
        ),
        (
            "Anna Müller".to_string(),
            "Anna Müller",
            Value::Null,
            Value::Null,
        ),
    ];
    for (name, xpn, family, given) in cases {
        let (store, session) = open_store();
        let mut who = patient();
        who.name = Some(name.clone());
        let ids = store_run(&store, &session, who);
        sign(&store, &session, ids.run_id);
        let export =
            |format| export_for_record(&store, &session, ids.run_id, format, &options()).unwrap();
        let pid = segments(&export(RecordFormat::Hl7V2).bytes)
            .into_iter()
            .find(|s| s[0] == "PID")
            .unwrap();
        assert_eq!(field(&pid, 5), xpn, "{name}");
        let bundle: Value = serde_json::from_slice(&export(RecordFormat::FhirR4).bytes).unwrap();
        let fhir_name = bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["resource"]["resourceType"] == "Patient")
            .map(|e| e["resource"]["name"][0].clone())
            .unwrap();
        assert_eq!(fhir_name["family"], family, "{name}");
        assert_eq!(fhir_name["given"], given, "{name}");
        assert!(fhir_name["text"].is_string(), "{name}");
    }
}
