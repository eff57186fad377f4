//! Sending a signed result to the patient's record: an HL7 v2.5.1 ORU^R01 message
//! ([`hl7`]) or a FHIR R4 transaction Bundle ([`fhir`]), both carrying the measurements with
//! their LOINC codes and UCUM units, the engine's statements, the signed decision, the engine
//! identity and the clinical PDF report.
//!
//! Only a signed run goes to the record, and only under a patient identifier the acting user
//! may see. Every export is an `export` event in the audit history (entity `report`, as the
//! PDF report's), with the hash of what was written. The command line (`ecgr1 export`) and the
//! reading room call [`export_for_record`].

mod content;
pub mod fhir;
pub mod hl7;

use anyhow::{Context, Result};
use ecgr1_engine::formats::sha256_hex;
use serde_json::json;

pub use content::{CODINGS, Coding};

use crate::report_pdf::{ReportOptions, gather, render};
use crate::store::{CaseStore, Session};

/// The wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordFormat {
    /// HL7 v2.5.1 ORU^R01, ER7 encoding, segments ended by carriage returns.
    Hl7V2,
    /// FHIR R4 Bundle (transaction), JSON.
    FhirR4,
}

impl RecordFormat {
    /// The name the audit history and the command line use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hl7V2 => "hl7v2.5.1-oru-r01",
            Self::FhirR4 => "fhir-r4-bundle",
        }
    }
}

/// How to make the export.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// The export time (UTC, as the store writes it); `None` means now. Fixing it makes the
    /// output byte-for-byte reproducible.
    pub generated_at: Option<String>,
    /// The order-entry system's order number, when the clinician has one.
    pub placer_order: Option<String>,
}

/// A finished export.
#[derive(Clone, Debug)]
pub struct RecordExport {
    pub format: RecordFormat,
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub case_id: i64,
    pub run_id: i64,
    /// The export's identifier (MSH-10; the bundle's identifier).
    pub message_id: String,
    /// Measurements sent with a value, and those sent as not measured.
    pub measured: usize,
    pub not_measured: usize,
    pub pdf_sha256: String,
    pub signer: String,
}

/// Builds the export of run `run_id` in `format` and records it in the audit history.
///
/// # Errors
/// An unknown or unsigned run, a patient without an identifier (or one the user may not see),
/// a damaged stored input, or a store error; nothing is recorded then.
pub fn export_for_record(
    store: &dyn CaseStore,
    session: &Session,
    run_id: i64,
    format: RecordFormat,
    options: &ExportOptions,
) -> Result<RecordExport> {
    let data = gather(
        store,
        session,
        run_id,
        &ReportOptions {
            deidentified: false,
            generated_at: options.generated_at.clone(),
        },
    )?;
    // Refuse before drawing the report.
    content::exportable(&data)?;
    let pdf = render(&data)?;
    let c = content::gather(&data, pdf, format.name(), options.placer_order.clone())?;
    let bytes = match format {
        RecordFormat::Hl7V2 => hl7::message(&c),
        RecordFormat::FhirR4 => fhir::bundle(&c)?,
    };
    let measured = c.observations.iter().filter(|o| o.value.is_ok()).count();
    let export = RecordExport {
        format,
        sha256: sha256_hex(&bytes),
        bytes,
        case_id: c.case_id,
        run_id,
        message_id: c.message_id.clone(),
        measured,
        not_measured: c.observations.len() - measured,
        pdf_sha256: c.pdf_sha256.clone(),
        signer: c.decision.signer.clone(),
    };
    store
        .record_report_export(
            session,
            run_id,
            json!({
                "format": format.name(),
                "destination": "patient record",
                "sha256": export.sha256,
                "bytes": export.bytes.len(),
                "message_id": export.message_id,
                "case_id": export.case_id,
                "input_sha256": data.input.sha256,
                "report_pdf_sha256": export.pdf_sha256,
                "decision_id": c.decision.id,
                "signer": c.decision.signer,
                "measurements": export.measured,
                "not_measured": export.not_measured,
                "placer_order": c.placer_order,
                "identity_included": true,
                "generated_at": data.generated_at,
            }),
        )
        .context("recording the export in the audit history")?;
    Ok(export)
}

#[cfg(test)]
mod tests;
