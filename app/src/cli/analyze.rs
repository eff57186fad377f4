//! `ecgr1 analyze FILE [--notes TEXT] [--task interpret|twi] [--engine protocol] [--json]`

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use ecgr1_engine::formats::{EcgInput, LoadOptions, load_path};
use ecgr1_engine::protocol::ProtocolEngine;
use ecgr1_engine::report::{ASSIST_NOTICE, Engine, Report, Request, Task};
use serde_json::{Value, json};

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The ECG file (signal file, or a PNG/JPEG image).
    pub file: PathBuf,
    /// Clinical notes (history, symptoms, medication), e.g. "chest pain, on digoxin".
    #[arg(long, default_value = "")]
    pub notes: String,
    /// interpret (full reading) or twi (is the T-wave inversion ischaemic? yes/no).
    #[arg(long, default_value = "interpret")]
    pub task: Task,
    /// The engine: protocol (built in, the default).
    #[arg(long, default_value = "protocol")]
    pub engine: String,
    /// Print JSON (keys documented in the README).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &AnalyzeArgs, out: &mut dyn Write) -> Result<()> {
    let mut engine = match args.engine.as_str() {
        "protocol" => ProtocolEngine::new(),
        other => bail!("engine '{other}' is not built into this version (available: protocol)"),
    };
    let input = load_path(&args.file, &LoadOptions::default())?;
    let (record, image) = match &input {
        EcgInput::Signal(s) => (Some(&s.record), None),
        EcgInput::Image(i) => (None, Some(i)),
    };
    let request = Request {
        record,
        image,
        notes: &args.notes,
        task: args.task,
    };
    let report = engine
        .run(&request)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&report_json(&report))?
        )?;
    } else {
        write_text(&report, out)?;
    }
    Ok(())
}

/// The stable JSON of a report (see README, "ecgr1 analyze").
pub fn report_json(r: &Report) -> Value {
    let evidence: Vec<_> = r.steps.iter().flat_map(|s| s.evidence.iter()).collect();
    json!({
        "engine": r.engine.name,
        "engine_version": r.engine.version,
        "device": r.engine.device,
        "task": r.task.name(),
        "steps": r.steps.iter().map(|s| json!({
            "title": s.title,
            "text": s.text,
            "evidence": s.evidence,
        })).collect::<Vec<_>>(),
        "summary": r.summary,
        "answer": r.answer,
        "p_yes": r.p_yes(),
        "band": r.band.map(ecgr1_engine::report::RiskBand::name),
        "evidence": evidence,
        "input_notes": r.input_notes,
        "parse_issues": r.parse_issues,
        "raw_output": r.raw_output,
        "total_ms": r.timings.total_ms,
        "notice": ASSIST_NOTICE,
    })
}

fn write_text(r: &Report, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "engine: {} {} ({})   task: {}",
        r.engine.name,
        r.engine.version,
        r.engine.device,
        r.task.name()
    )?;
    for (k, s) in r.steps.iter().enumerate() {
        writeln!(out, "\nStep {}: {}", k + 1, s.title)?;
        writeln!(out, "{}", s.text)?;
    }
    if !r.summary.is_empty() {
        writeln!(out, "\n{}", r.summary)?;
    }
    writeln!(
        out,
        "\nanswer: {}",
        if r.answer.is_empty() {
            "(none)".to_string()
        } else {
            r.answer.join("; ")
        }
    )?;
    if let (Some(p), Some(b)) = (r.p_yes(), r.band) {
        writeln!(out, "P(yes): {p:.2} — {}", b.wording())?;
    }
    for n in &r.input_notes {
        writeln!(out, "note: {n}")?;
    }
    for i in &r.parse_issues {
        writeln!(out, "parse issue: {i}")?;
    }
    writeln!(out, "{ASSIST_NOTICE}")?;
    Ok(())
}
