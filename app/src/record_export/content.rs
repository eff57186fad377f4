//! What a result sent to the patient's record holds, gathered once for both wire formats:
//! the patient, the order, each measurement with its LOINC code and UCUM unit (or why it was
//! not measured), the engine's statements, the signed decision, the engine identity and the
//! PDF report.

use anyhow::{Result, bail};
use ecgr1_engine::PersonName;
use ecgr1_engine::features::{Measured, Measurements};
use ecgr1_engine::report::{EngineIdentity, RiskBand};
use sha2::{Digest, Sha256};

use crate::report_pdf::{MeasuredSection, PatientSection, ReportData};
use crate::store::{DecisionRecord, PatientIdentity};

/// A measurement's coding. `unit` is the feature database's unit, `ucum` the same unit in
/// UCUM (what HL7 and FHIR carry).
#[derive(Clone, Copy, Debug)]
pub struct Coding {
    pub loinc: &'static str,
    pub display: &'static str,
    pub unit: &'static str,
    pub ucum: &'static str,
    /// The usual adult range, as the report prints it (HL7 OBX-7 form), if there is one.
    pub range: Option<(f64, f64)>,
    /// How the value was derived, when the code alone does not say (QTc formula).
    pub method: Option<&'static str>,
}

/// The measurements sent, in this order. LOINC codes for the ECG intervals and axes; UCUM
/// `/min`, `ms` and `deg`.
pub const CODINGS: [Coding; 8] = [
    Coding {
        loinc: "8867-4",
        display: "Heart rate",
        unit: "bpm",
        ucum: "/min",
        range: Some((60.0, 100.0)),
        method: None,
    },
    Coding {
        loinc: "8625-6",
        display: "P-R Interval",
        unit: "ms",
        ucum: "ms",
        range: Some((120.0, 200.0)),
        method: None,
    },
    Coding {
        loinc: "8633-2",
        display: "QRS duration",
        unit: "ms",
        ucum: "ms",
        range: Some((0.0, 100.0)),
        method: None,
    },
    Coding {
        loinc: "8634-8",
        display: "Q-T interval",
        unit: "ms",
        ucum: "ms",
        range: None,
        method: None,
    },
    Coding {
        loinc: "8636-3",
        display: "Q-T interval corrected",
        unit: "ms",
        ucum: "ms",
        range: Some((0.0, 440.0)),
        method: Some("Bazett"),
    },
    Coding {
        loinc: "8626-4",
        display: "P wave axis",
        unit: "deg",
        ucum: "deg",
        range: Some((0.0, 75.0)),
        method: None,
    },
    Coding {
        loinc: "8632-0",
        display: "QRS axis",
        unit: "deg",
        ucum: "deg",
        range: Some((-30.0, 90.0)),
        method: None,
    },
    Coding {
        loinc: "8638-1",
        display: "T wave axis",
        unit: "deg",
        ucum: "deg",
        range: None,
        method: None,
    },
];

fn measured<'m>(m: &'m Measurements, loinc: &str) -> Option<&'m Measured> {
    Some(match loinc {
        "8867-4" => &m.heart_rate_bpm,
        "8625-6" => &m.pr_ms,
        "8633-2" => &m.qrs_ms,
        "8634-8" => &m.qt_ms,
        "8636-3" => &m.qtc_bazett_ms,
        "8626-4" => &m.p_axis_deg,
        "8632-0" => &m.qrs_axis_deg,
        "8638-1" => &m.t_axis_deg,
        _ => return None,
    })
}

/// One measurement: its value, or why there is none.
#[derive(Clone, Debug)]
pub struct Observation {
    pub coding: Coding,
    pub value: Result<f64, String>,
}

/// Everything one export carries.
#[derive(Clone, Debug)]
pub struct RecordContent {
    pub case_id: i64,
    pub run_id: i64,
    /// The export's identifier (HL7 MSH-10, the FHIR bundle's identifier): 20 hex digits
    /// derived from the case, run, time and format, so one export made twice is one message.
    pub message_id: String,
    /// When the export was made (store UTC stamp).
    pub generated_at: String,
    /// When the ECG was recorded, or else stored (store UTC stamp).
    pub observed_at: String,
    pub patient: PatientIdentity,
    /// The identifier the patient is filed under.
    pub patient_identifier: String,
    /// The order-entry system's number, when the clinician gave one.
    pub placer_order: Option<String>,
    /// The workstation's own order number for this reading: case and run.
    pub filler_order: String,
    pub observations: Vec<Observation>,
    /// QTc by Fridericia, sent beside the LOINC-coded Bazett value under a local code.
    pub qtc_fridericia: Option<Result<f64, String>>,
    pub rhythm: Option<String>,
    /// The engine's answer labels and summary.
    pub statements: Vec<String>,
    pub summary: Option<String>,
    pub p_yes: Option<f64>,
    pub band: Option<RiskBand>,
    /// The verifier's counts, as the report words them.
    pub verifier: Option<String>,
    /// The signed decision sent (the latest one).
    pub decision: DecisionRecord,
    pub engine: EngineIdentity,
    pub clinical_notes: Option<String>,
    pub pdf: Vec<u8>,
    pub pdf_sha256: String,
}

/// The store's stamp ("2026-11-24T08:30:00.000000Z") cut to seconds ("2026-11-24T08:30:00Z");
/// `None` when it is not one.
pub fn utc_seconds(stamp: &str) -> Option<String> {
    let b = stamp.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    (b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
        && digits(11..13)
        && digits(14..16)
        && digits(17..19))
    .then(|| format!("{}Z", &stamp[..19]))
}

/// Why a run cannot go to the record, or the patient it would be filed under.
fn patient_for_record(data: &ReportData) -> Result<(PatientIdentity, String)> {
    let run = data.run.id;
    match &data.patient {
        PatientSection::Identified(p) => match p.identifier.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => Ok((p.clone(), id.to_string())),
            _ => bail!(
                "run {run} cannot be exported to a patient's record: the ECG came with patient \
                 data but no patient identifier, so the record would not know whose it is"
            ),
        },
        PatientSection::None => bail!(
            "run {run} cannot be exported to a patient's record: the ECG came with no patient \
             identifier (an anonymous recording cannot be filed in a record)"
        ),
        PatientSection::Withheld(why) => bail!(
            "run {run} cannot be exported to a patient's record: {why}; a record export needs \
             a role that may see the patient's identity"
        ),
    }
}

/// The signed decision and the patient a run would be filed under, or why it cannot go to
/// the record: no signed decision, or no patient identifier the user may see.
pub fn exportable(data: &ReportData) -> Result<(DecisionRecord, PatientIdentity, String)> {
    let run_id = data.run.id;
    let Some(decision) = data.decisions.last().cloned() else {
        bail!(
            "run {run_id} is not signed: only a signed run can be exported to the patient's \
             record (sign it first: `ecgr1 sign {run_id} --agree|--override LABEL --reason …`)"
        );
    };
    let (patient, identifier) = patient_for_record(data)?;
    Ok((decision, patient, identifier))
}

/// Gathers the content of a record export from the report's data (see [`exportable`] for
/// what is refused).
pub fn gather(
    data: &ReportData,
    pdf: Vec<u8>,
    format: &str,
    placer_order: Option<String>,
) -> Result<RecordContent> {
    let run_id = data.run.id;
    let (decision, patient, patient_identifier) = exportable(data)?;
    let (observations, qtc_fridericia, rhythm) = match &data.measured {
        MeasuredSection::Values(m) => {
            let mut observations = Vec::new();
            for coding in CODINGS {
                let Some(value) = measured(m, coding.loinc) else {
                    continue;
                };
                if value.value.is_some() && value.unit != coding.unit {
                    bail!(
                        "{} was measured in {:?}, not {}: refusing to send it under UCUM {}",
                        coding.display,
                        value.unit,
                        coding.unit,
                        coding.ucum
                    );
                }
                observations.push(Observation {
                    coding,
                    value: value_or_reason(value),
                });
            }
            (
                observations,
                Some(value_or_reason(&m.qtc_fridericia_ms)),
                Some(m.rhythm.label.clone()),
            )
        }
        MeasuredSection::Unavailable(why) => (
            CODINGS
                .iter()
                .map(|&coding| Observation {
                    coding,
                    value: Err(why.clone()),
                })
                .collect(),
            None,
            None,
        ),
    };
    let report = data.report.as_ref();
    let observed_at = acquisition_time(&data.input.metadata_json)
        .unwrap_or_else(|| data.input.created_at.clone());
    let pdf_sha256 = hex::encode(Sha256::digest(&pdf));
    let seed = format!(
        "{}|{}|{}|{format}|{pdf_sha256}",
        data.run.case_id, run_id, data.generated_at
    );
    let message_id = hex::encode(Sha256::digest(seed.as_bytes()))[..20].to_string();
    let clinical_notes = data
        .input
        .latest_note
        .clone()
        .filter(|n| !n.trim().is_empty());
    Ok(RecordContent {
        case_id: data.run.case_id,
        run_id,
        message_id,
        generated_at: data.generated_at.clone(),
        observed_at,
        patient,
        patient_identifier,
        placer_order: placer_order.filter(|p| !p.trim().is_empty()),
        filler_order: format!("{}-{run_id}", data.run.case_id),
        observations,
        qtc_fridericia,
        rhythm,
        statements: report.map(|r| r.answer.clone()).unwrap_or_default(),
        summary: report
            .map(|r| r.summary.clone())
            .filter(|s| !s.trim().is_empty()),
        p_yes: report.and_then(ecgr1_engine::Report::p_yes),
        band: report.and_then(|r| r.band),
        verifier: data
            .verification
            .as_ref()
            .map(crate::report_pdf::verifier_counts),
        decision,
        engine: data.engine.clone(),
        clinical_notes,
        pdf,
        pdf_sha256,
    })
}

fn value_or_reason(m: &Measured) -> Result<f64, String> {
    m.value
        .ok_or_else(|| m.reason.clone().unwrap_or_else(|| "not measured".into()))
}

/// The recording's own acquisition time, when the file gave one the store kept.
fn acquisition_time(metadata_json: &str) -> Option<String> {
    let metadata: serde_json::Value = serde_json::from_str(metadata_json).ok()?;
    let stamp = metadata["acquisition_time"].as_str()?;
    utc_seconds(stamp).map(|_| stamp.to_string())
}

impl RecordContent {
    /// "agrees with the engine" / "overrides the engine".
    pub fn verdict(&self) -> &'static str {
        if self.decision.kind == "agree" {
            "agrees with the engine"
        } else {
            "overrides the engine"
        }
    }

    /// The engine as one line: name, version, family, device, dtype.
    pub fn engine_line(&self) -> String {
        let e = &self.engine;
        let family = e
            .family
            .as_ref()
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        let dtype = e
            .dtype
            .as_ref()
            .map(|d| format!(", dtype {d}"))
            .unwrap_or_default();
        format!(
            "{} {}{family}, device {}{dtype}",
            e.name, e.version, e.device
        )
    }

    /// The patient's name in components (DICOM person-name order, see [`PersonName`]), as the
    /// store keeps a name the file gave in parts or one entered with carets. A name the file
    /// gave as one string (EDF, CSV, a plain aECG name) is one component, sent whole as the
    /// family name: which word is the given name cannot be known from it.
    pub fn name_parts(&self) -> Vec<String> {
        let Some(name) = self.patient.name.as_deref() else {
            return Vec::new();
        };
        PersonName::parse(name).map_or_else(
            || vec![name.trim().to_string()],
            |p| p.parts().into_iter().map(str::to_string).collect(),
        )
    }
}
