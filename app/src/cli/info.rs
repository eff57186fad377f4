//! `ecgr1 info FILE [--json]`

use std::io::Write;

use anyhow::Result;
use clap::Args;
use ecgr1_engine::formats::EcgInput;
use serde_json::json;

use super::input::InputArgs;

#[derive(Debug, Args)]
pub struct InfoArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Print JSON (keys documented in the README).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &InfoArgs, out: &mut dyn Write) -> Result<()> {
    let input = args.input.load()?;
    let value = describe(&input);
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        write_text(&input, out)?;
    }
    Ok(())
}

/// The stable JSON description of an input (see README, "ecgr1 info").
pub fn describe(input: &EcgInput) -> serde_json::Value {
    match input {
        EcgInput::Signal(s) => {
            let r = &s.record;
            json!({
                "format": r.provenance.format.name(),
                "file": r.provenance.file_name,
                "sha256": r.provenance.sha256,
                "sample_rate_hz": r.sample_rate_hz,
                "samples": r.samples_per_lead(),
                "duration_s": r.duration_s(),
                "leads": r.leads.iter().map(|l| l.lead.to_string()).collect::<Vec<_>>(),
                "source_labels": r.leads.iter().map(|l| l.source_label.clone()).collect::<Vec<_>>(),
                "derived_leads": r.derived_leads(),
                "missing_leads": r.missing_standard_leads().iter().map(|l| l.name()).collect::<Vec<_>>(),
                "acquisition_time": r.acquisition_time,
                "device": r.device,
                "annotations": r.annotations,
                "representative_beats": r.representative_beats.as_ref().map(|b| json!({
                    "sample_rate_hz": b.sample_rate_hz,
                    "leads": b.leads.iter().map(|l| l.lead.to_string()).collect::<Vec<_>>(),
                    "samples": b.leads.first().map_or(0, |l| l.samples_uv.len()),
                })),
                "processing_notes": r.processing_notes,
                "has_patient_data": !s.patient.is_empty(),
            })
        }
        EcgInput::Image(i) => json!({
            "format": i.provenance.format.name(),
            "file": i.provenance.file_name,
            "sha256": i.provenance.sha256,
            "width_px": i.width,
            "height_px": i.height,
            "sample_rate_hz": null,
            "samples": null,
            "duration_s": null,
            "leads": [],
            "derived_leads": [],
            "annotations": [],
        }),
    }
}

fn write_text(input: &EcgInput, out: &mut dyn Write) -> Result<()> {
    match input {
        EcgInput::Signal(s) => {
            let r = &s.record;
            writeln!(out, "file:        {}", r.provenance.file_name)?;
            writeln!(out, "format:      {}", r.provenance.format)?;
            writeln!(out, "sha256:      {}", r.provenance.sha256)?;
            writeln!(out, "sample rate: {} Hz", r.sample_rate_hz)?;
            writeln!(
                out,
                "samples:     {} per lead ({:.2} s)",
                r.samples_per_lead(),
                r.duration_s()
            )?;
            let leads: Vec<String> = r
                .leads
                .iter()
                .map(|l| {
                    if l.derived {
                        format!("{}*", l.lead)
                    } else {
                        l.lead.to_string()
                    }
                })
                .collect();
            writeln!(out, "leads:       {}", leads.join(" "))?;
            if r.leads.iter().any(|l| l.derived) {
                writeln!(out, "             (* derived from I and II)")?;
            }
            let missing = r.missing_standard_leads();
            if !missing.is_empty() {
                let names: Vec<&str> = missing.iter().map(|l| l.name()).collect();
                writeln!(out, "missing:     {}", names.join(" "))?;
            }
            if let Some(t) = &r.acquisition_time {
                writeln!(out, "acquired:    {t}")?;
            }
            if let Some(d) = &r.device {
                writeln!(out, "device:      {d}")?;
            }
            if let Some(b) = &r.representative_beats {
                writeln!(
                    out,
                    "median beats: {} leads at {} Hz",
                    b.leads.len(),
                    b.sample_rate_hz
                )?;
            }
            writeln!(out, "annotations: {}", r.annotations.len())?;
            for a in &r.annotations {
                let value = a
                    .value
                    .map(|v| {
                        format!(
                            " = {v}{}",
                            a.unit
                                .as_deref()
                                .map(|u| format!(" {u}"))
                                .unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                let at = a
                    .sample_index
                    .map(|i| format!(" @ sample {i}"))
                    .unwrap_or_default();
                writeln!(out, "  - {}{value}{at}", a.label)?;
            }
            for n in &r.processing_notes {
                writeln!(out, "note:        {n}")?;
            }
        }
        EcgInput::Image(i) => {
            writeln!(out, "file:        {}", i.provenance.file_name)?;
            writeln!(
                out,
                "format:      {} image, {}×{} px",
                i.provenance.format, i.width, i.height
            )?;
            writeln!(out, "sha256:      {}", i.provenance.sha256)?;
            writeln!(
                out,
                "note:        an image carries no signal; it can be read by the model, not measured"
            )?;
        }
    }
    Ok(())
}
