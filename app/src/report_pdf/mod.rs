//! The clinical report of one stored run as a PDF: the ECG on paper, the measurements, the AI
//! assessment, the verifier's findings, the clinician's signed decision, provenance and the
//! standing notice.
//!
//! Everything comes from the case store: the input is read back from its stored bytes (checked
//! against the stored SHA-256) and measured again; the assessment, verifier results and
//! decisions are the stored ones. The command line (`ecgr1 report`) and the GUI call
//! [`build_report_pdf`]; producing a report is written to the audit history.

mod draw;
pub mod input;

use anyhow::{Context, Result};
use ecgr1_engine::digitise::DigitisationReport;
use ecgr1_engine::features::{Measurements, measure};
use ecgr1_engine::formats::sha256_hex;
use ecgr1_engine::report::{EngineIdentity, Report};
use serde_json::{Value, json};

use crate::cli::input::{stored_digitisation, stored_digitised_signal};
use crate::store::clock::now_utc;
use crate::store::{
    CaseStore, DecisionRecord, PatientIdentity, Role, RunRecord, Session, StoredInput,
};

pub(crate) use draw::verifier_counts;
pub use input::{ReadBack, read_back};

/// How to make the report.
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    /// Leave the patient's identity out even when the acting user may see it.
    pub deidentified: bool,
    /// The generation time printed in the header (UTC, as [`now_utc`] writes it); `None` means
    /// now. Fixing it makes the output byte-for-byte reproducible.
    pub generated_at: Option<String>,
}

/// A finished report.
#[derive(Clone, Debug)]
pub struct ReportPdf {
    pub bytes: Vec<u8>,
    pub pages: usize,
    pub sha256: String,
    pub case_id: i64,
    pub run_id: i64,
    /// Whether the patient's identifying fields are printed.
    pub identity_included: bool,
}

/// Whose identity the report shows, or why not.
#[derive(Clone, Debug)]
pub(crate) enum PatientSection {
    Identified(PatientIdentity),
    /// No patient data came with the input.
    None,
    /// Left out, and why.
    Withheld(String),
}

/// The measurements part: values, or why there are none.
#[derive(Debug)]
pub(crate) enum MeasuredSection {
    Values(Box<Measurements>),
    Unavailable(String),
}

/// Everything the pages show, gathered before drawing.
#[derive(Debug)]
pub(crate) struct ReportData {
    pub generated_at: String,
    pub generated_by: String,
    pub run: RunRecord,
    pub input: StoredInput,
    pub read_back: ReadBack,
    pub measured: MeasuredSection,
    pub report: Option<Report>,
    pub engine: EngineIdentity,
    /// The stored verifier result (`claims`, `summary`), if the run was verified.
    pub verification: Option<Value>,
    pub decisions: Vec<DecisionRecord>,
    pub patient: PatientSection,
    /// The comparison with the patient's prior ECG the reading was made with; left out of a
    /// de-identified report, which must not link two ECGs of one patient.
    pub comparison: Option<ecgr1_engine::serial::SerialComparison>,
    /// For an image input: the digitiser's report stored with the run, whose digitised signal
    /// the measurements come from.
    pub digitisation: Option<DigitisationReport>,
}

/// Roles that may read identifying patient fields (the store enforces the same list).
const IDENTITY_ROLES: [Role; 3] = [Role::Cardiologist, Role::Auditor, Role::Admin];

fn patient_section(
    store: &dyn CaseStore,
    session: &Session,
    patient_id: Option<i64>,
    deidentified: bool,
) -> Result<PatientSection> {
    let Some(patient_id) = patient_id else {
        return Ok(PatientSection::None);
    };
    if deidentified {
        return Ok(PatientSection::Withheld(
            "de-identified report: patient identity left out on request".into(),
        ));
    }
    // Asking the store as a trainer would be refused and recorded as a denied attempt; the
    // report only wants to know whether it may print the identity.
    if !IDENTITY_ROLES.iter().any(|r| session.has(*r)) {
        return Ok(PatientSection::Withheld(format!(
            "patient identity withheld: {} ({}) may not view identifying patient data",
            session.name,
            session.roles_text()
        )));
    }
    Ok(PatientSection::Identified(
        store
            .patient_identity(session, patient_id)
            .context("reading the patient's identity")?,
    ))
}

pub(crate) fn gather(
    store: &dyn CaseStore,
    session: &Session,
    run_id: i64,
    options: &ReportOptions,
) -> Result<ReportData> {
    let run = store.run_record(session, run_id)?;
    let input = store
        .input_bytes(session, run_id)
        .with_context(|| format!("reading the stored input of run {run_id}"))?;
    let read_back = read_back(&input)?;
    let digitisation = stored_digitisation(&run)?;
    let measured = match &read_back {
        ReadBack::Image { .. } if digitisation.is_some() => digitised_measurements(&run),
        ReadBack::Signal(record) => match measure(record) {
            Ok(m) => MeasuredSection::Values(Box::new(m)),
            Err(e) => {
                MeasuredSection::Unavailable(format!("the signal could not be measured: {e}"))
            }
        },
        ReadBack::Image { .. } => MeasuredSection::Unavailable(
            "The input is an image that could not be digitised when this run was made, so an \
             image cannot be measured here: there are no intervals, axes or rate to report."
                .into(),
        ),
        ReadBack::NotReproducible(why) => {
            MeasuredSection::Unavailable(format!("not measured: {why}"))
        }
    };
    let report = match &run.report_json {
        Some(text) => Some(
            serde_json::from_str::<Report>(text)
                .with_context(|| format!("the stored report of run {run_id} is not readable"))?,
        ),
        None => None,
    };
    let engine: EngineIdentity = serde_json::from_str(&run.engine_json)
        .with_context(|| format!("the stored engine identity of run {run_id} is not readable"))?;
    let verification = match &run.verifier_flags_json {
        Some(text) => Some(serde_json::from_str::<Value>(text).with_context(|| {
            format!("the stored verifier result of run {run_id} is not readable")
        })?),
        None => None,
    };
    let decisions = store.decisions(session, run_id)?;
    let patient = patient_section(store, session, input.patient_id, options.deidentified)?;
    let (report, comparison) = if options.deidentified {
        (
            report.map(|r| ecgr1_engine::serial::without_serial(&r)),
            None,
        )
    } else {
        let comparison: Option<ecgr1_engine::serial::SerialComparison> = match &run.comparison_json
        {
            Some(text) => Some(serde_json::from_str(text).with_context(|| {
                format!("the stored serial comparison of run {run_id} is not readable")
            })?),
            None => None,
        };
        (report, comparison)
    };
    Ok(ReportData {
        generated_at: options.generated_at.clone().unwrap_or_else(now_utc),
        generated_by: session.name.clone(),
        run,
        input,
        read_back,
        measured,
        report,
        engine,
        verification,
        decisions,
        patient,
        comparison,
        digitisation,
    })
}

/// The measurements of the signal digitised from the image, as the run stored it: the same
/// signal the run's measurements and verifier read.
fn digitised_measurements(run: &RunRecord) -> MeasuredSection {
    match stored_digitised_signal(run) {
        Ok(Some(record)) => match measure(&record) {
            Ok(m) => MeasuredSection::Values(Box::new(m)),
            Err(e) => MeasuredSection::Unavailable(format!(
                "the signal digitised from the image could not be measured: {e}"
            )),
        },
        Ok(None) => MeasuredSection::Unavailable(format!(
            "run {} kept the digitiser's report but not the digitised signal",
            run.id
        )),
        Err(e) => MeasuredSection::Unavailable(format!("{e:#}")),
    }
}

/// Builds the PDF report of run `run_id` and records its production in the audit history.
///
/// # Errors
/// An unknown run, a stored input whose bytes no longer match their SHA-256, unreadable
/// stored JSON, or a store error.
pub fn build_report_pdf(
    store: &dyn CaseStore,
    session: &Session,
    run_id: i64,
    options: &ReportOptions,
) -> Result<ReportPdf> {
    let data = gather(store, session, run_id, options)?;
    let doc = draw::document(&data);
    let bytes = doc.to_bytes().context("writing the report PDF")?;
    let pages = doc.page_count();
    let identity_included = matches!(data.patient, PatientSection::Identified(_));
    let pdf = ReportPdf {
        sha256: sha256_hex(&bytes),
        pages,
        bytes,
        case_id: data.run.case_id,
        run_id,
        identity_included,
    };
    store
        .record_report_export(
            session,
            run_id,
            json!({
                "format": "pdf",
                "sha256": pdf.sha256,
                "bytes": pdf.bytes.len(),
                "pages": pdf.pages,
                "case_id": pdf.case_id,
                "input_sha256": data.input.sha256,
                "identity_included": identity_included,
                "deidentified": options.deidentified,
                "decisions": data.decisions.len(),
                "generated_at": data.generated_at,
            }),
        )
        .context("recording the report in the audit history")?;
    Ok(pdf)
}

/// The report's PDF bytes for gathered data, without recording anything (the record export
/// embeds it and records itself).
pub(crate) fn render(data: &ReportData) -> Result<Vec<u8>> {
    draw::document(data)
        .to_bytes()
        .context("writing the report PDF")
}

#[cfg(test)]
mod tests;
