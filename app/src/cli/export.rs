//! `ecgr1 export RUN --hl7 OUT.hl7 | --fhir OUT.json`: a signed run's result for the patient's
//! record, as an HL7 v2.5.1 ORU^R01 message or a FHIR R4 Bundle (both may be written at once).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::store_args::StoreArgs;
use crate::record_export::{ExportOptions, RecordFormat, export_for_record};
use crate::store::DbLocation;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The run id (printed by `ecgr1 analyze --db`); the run must be signed.
    pub run: i64,
    /// Write an HL7 v2.5.1 ORU^R01 message here.
    #[arg(long, value_name = "OUT.hl7")]
    pub hl7: Option<PathBuf>,
    /// Write a FHIR R4 transaction Bundle (JSON) here.
    #[arg(long, value_name = "OUT.json")]
    pub fhir: Option<PathBuf>,
    /// The order number of the hospital's order-entry system (HL7 placer order number; a
    /// placer identifier on the FHIR DiagnosticReport).
    #[arg(long, value_name = "ID")]
    pub placer_order: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(args: &ExportArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    let targets: Vec<(RecordFormat, &PathBuf)> = [
        (RecordFormat::Hl7V2, args.hl7.as_ref()),
        (RecordFormat::FhirR4, args.fhir.as_ref()),
    ]
    .into_iter()
    .filter_map(|(f, p)| p.map(|p| (f, p)))
    .collect();
    if targets.is_empty() {
        bail!("say where to write the export: --hl7 OUT.hl7 and/or --fhir OUT.json");
    }
    // An export reads an existing store; opening a missing path would create an empty one.
    if let DbLocation::File(path) = args.store.location.db_location()?
        && !path.exists()
    {
        bail!(
            "the case store {} does not exist (store runs with `ecgr1 analyze FILE --db {}` first)",
            path.display(),
            path.display()
        );
    }
    let (store, session, _) = args.store.open_and_login(err)?;
    let options = ExportOptions {
        generated_at: None,
        placer_order: args.placer_order.clone(),
    };
    for (format, path) in targets {
        let export = export_for_record(store.as_ref(), &session, args.run, format, &options)?;
        std::fs::write(path, &export.bytes)
            .with_context(|| format!("writing the export to {}", path.display()))?;
        writeln!(
            out,
            "wrote {}: {} of run {} (case {}), signed by {}, {} measurements ({} not measured), \
             report PDF embedded, {} bytes, SHA-256 {}",
            path.display(),
            format.name(),
            export.run_id,
            export.case_id,
            export.signer,
            export.measured,
            export.not_measured,
            export.bytes.len(),
            export.sha256
        )?;
    }
    Ok(())
}
