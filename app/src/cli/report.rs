//! `ecgr1 report RUN --pdf OUT.pdf [--deidentified]`: the clinical report of a stored run.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::store_args::StoreArgs;
use crate::report_pdf::{ReportOptions, build_report_pdf};
use crate::store::DbLocation;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run id (printed by `ecgr1 analyze --db`).
    pub run: i64,
    /// Where to write the PDF.
    #[arg(long, value_name = "OUT.pdf")]
    pub pdf: PathBuf,
    /// Leave the patient's identifying fields out (they are also left out for users whose
    /// role may not see them).
    #[arg(long)]
    pub deidentified: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(args: &ReportArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    // A report reads an existing store; opening a missing path would create an empty one.
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
    let report = build_report_pdf(
        store.as_ref(),
        &session,
        args.run,
        &ReportOptions {
            deidentified: args.deidentified,
            generated_at: None,
        },
    )?;
    std::fs::write(&args.pdf, &report.bytes)
        .with_context(|| format!("writing the report to {}", args.pdf.display()))?;
    writeln!(
        out,
        "wrote {}: report of run {} (case {}), {} pages, {} bytes, SHA-256 {}{}",
        args.pdf.display(),
        report.run_id,
        report.case_id,
        report.pages,
        report.bytes.len(),
        report.sha256,
        if report.identity_included {
            ", includes patient identity"
        } else {
            ""
        }
    )?;
    Ok(())
}
