//! `ecgr1 verify --trace TRACE.txt FILE [--json]`: check any reasoning trace against the
//! measurements of a recording.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use ecgr1_engine::features::measure;
use ecgr1_engine::serial::compare;
use ecgr1_engine::verify::{ClaimStatus, Verification, verify_text_with_prior};
use serde_json::{Value, json};

use super::compare::{prior_of, read_and_measure};
use super::input::InputArgs;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The trace to check (plain text; an ECG-R1 `<think>` block or any free-text reading).
    #[arg(long, value_name = "TRACE.txt")]
    pub trace: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
    /// The patient's prior ECG: the trace's serial claims ("unchanged from prior", "new
    /// inversion") are checked against the comparison with it.
    #[arg(long, value_name = "PRIOR")]
    pub prior: Option<PathBuf>,
    /// Print JSON: `claims` [{text, kind, status, measured, expected, leads}] and `summary`.
    #[arg(long)]
    pub json: bool,
}

pub fn verification_json(v: &Verification) -> Value {
    json!({
        "claims": v.claims.iter().map(|c| json!({
            "text": c.text,
            "kind": c.kind.name(),
            "status": c.status,
            "measured": c.measured,
            "expected": c.expected,
            "leads": c.leads.iter().map(|l| l.name()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "summary": v.summary,
    })
}

pub fn write_verification_text(v: &Verification, out: &mut dyn Write) -> Result<()> {
    for c in &v.claims {
        let mark = match c.status {
            ClaimStatus::Supported => "supported   ",
            ClaimStatus::Contradicted => "CONTRADICTED",
            ClaimStatus::Uncheckable => "uncheckable ",
        };
        writeln!(out, "{mark} [{}] {}", c.kind.name(), c.text)?;
        if c.status != ClaimStatus::Uncheckable {
            writeln!(
                out,
                "             measured: {}; expected: {}",
                c.measured.as_deref().unwrap_or("-"),
                c.expected.as_deref().unwrap_or("-")
            )?;
        } else if let Some(m) = &c.measured {
            writeln!(out, "             ({m})")?;
        }
    }
    let s = v.summary;
    writeln!(
        out,
        "{} claims: {} supported, {} contradicted, {} uncheckable",
        s.claims, s.supported, s.contradicted, s.uncheckable
    )?;
    Ok(())
}

pub fn run(args: &VerifyArgs, out: &mut dyn Write) -> Result<()> {
    let trace = std::fs::read_to_string(&args.trace)
        .with_context(|| format!("reading the trace {}", args.trace.display()))?;
    let record = super::input::signal_of(&args.input.load()?)?;
    let measurements =
        measure(&record).with_context(|| format!("measuring {}", args.input.file.display()))?;
    let comparison = match &args.prior {
        Some(path) => {
            let (prior_record, prior) = read_and_measure(&args.input.read, path)?;
            Some(compare(&prior, &measurements, prior_of(&prior_record)))
        }
        None => None,
    };
    let verification = verify_text_with_prior(&trace, &measurements, comparison.as_ref());
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&verification_json(&verification))?
        )?;
    } else {
        write_verification_text(&verification, out)?;
    }
    Ok(())
}
