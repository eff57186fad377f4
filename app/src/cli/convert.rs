//! `ecgr1 convert FILE -o OUT.csv|OUT.hea|OUT.edf`: write a record in another format,
//! preserving the sample rate and the calibration.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use ecgr1_engine::formats::{EcgInput, csv, edf, wfdb};

use super::input::InputArgs;

#[derive(Debug, Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output file; its extension chooses the format: .csv (µV), .hea (WFDB format 16, writes
    /// the .dat beside it) or .edf (EDF+).
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

pub fn run(args: &ConvertArgs, out: &mut dyn Write) -> Result<()> {
    let record = match args.input.load()? {
        EcgInput::Signal(s) => s.record,
        EcgInput::Image(_) => bail!(
            "{}: an image carries no signal to convert (only signal files can be converted)",
            args.input.file.display()
        ),
    };
    let ext = args
        .output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let mut notes = Vec::new();
    match ext.as_str() {
        "csv" => write_file(&args.output, &csv::write(&record))?,
        "edf" => {
            let (bytes, n) = edf::write_with_notes(&record)?;
            notes = n;
            write_file(&args.output, &bytes)?;
        }
        "hea" => {
            let name = args
                .output
                .file_stem()
                .and_then(|s| s.to_str())
                .context("the output .hea needs a file name")?;
            let (header, data) = wfdb::write(&record, name)?;
            write_file(&args.output, &header)?;
            write_file(&args.output.with_extension("dat"), &data)?;
        }
        other => bail!(
            "{}: unknown output format '.{other}' (use .csv, .hea or .edf)",
            args.output.display()
        ),
    }
    writeln!(
        out,
        "wrote {} ({} leads, {} Hz, {} samples per lead)",
        args.output.display(),
        record.leads.len(),
        record.sample_rate_hz,
        record.samples_per_lead()
    )?;
    for n in notes {
        writeln!(out, "note: {n}")?;
    }
    Ok(())
}
