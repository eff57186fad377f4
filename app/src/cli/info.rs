//! `ecgr1 info FILE [--json]`

use std::io::Write;

use anyhow::Result;
use clap::Args;
use ecgr1_engine::EcgRecord;
use ecgr1_engine::digitise::{DigitiseOptions, Digitised};
use ecgr1_engine::formats::EcgInput;
use serde_json::{Value, json};

use super::input::{InputArgs, digitise_for_measuring};

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
    // An image is digitised to say what signal it carries (or why it carries none).
    let digitised = match &input {
        EcgInput::Image(i) => Some(
            digitise_for_measuring(i, &DigitiseOptions::default()).map_err(|e| format!("{e:#}")),
        ),
        EcgInput::Signal(_) => None,
    };
    if args.json {
        let mut value = describe(&input);
        if let (Some(d), Some(map)) = (&digitised, value.as_object_mut()) {
            let (report, record, error) = match d {
                Ok(d) => (
                    serde_json::to_value(&d.report)?,
                    describe_record(&d.record),
                    None,
                ),
                Err(e) => (Value::Null, Value::Null, Some(e.clone())),
            };
            map.insert("digitised".into(), json!(error.is_none()));
            map.insert("digitisation".into(), report);
            map.insert("digitised_record".into(), record);
            map.insert("digitisation_error".into(), json!(error));
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        write_text(&input, out)?;
        match &digitised {
            Some(Ok(d)) => write_digitised(d, out)?,
            Some(Err(e)) => writeln!(out, "digitised:   no. {e}")?,
            None => {}
        }
    }
    Ok(())
}

/// The signal digitised from a page: what was found, and the record it became.
fn write_digitised(d: &Digitised, out: &mut dyn Write) -> Result<()> {
    let (r, record) = (&d.report, &d.record);
    writeln!(
        out,
        "digitised:   yes, by {} (layout {}, rotation corrected {:.2}°)",
        r.digitiser_version, r.layout, r.rotation_corrected_deg
    )?;
    writeln!(out, "gain:        {}", r.gain_text())?;
    writeln!(out, "speed:       {}", r.speed_text())?;
    writeln!(
        out,
        "signal:      {} leads at {} Hz over {:.1} s, mean confidence {:.2}",
        record.leads.len(),
        record.sample_rate_hz,
        record.duration_s(),
        r.mean_confidence()
    )?;
    let leads: Vec<String> = r
        .leads
        .iter()
        .map(|b| {
            format!(
                "{}{} {:.0} %",
                b.panel.lead,
                if b.panel.rhythm { " (rhythm)" } else { "" },
                b.confidence * 100.0
            )
        })
        .collect();
    writeln!(out, "confidence:  {}", leads.join(", "))?;
    for n in &r.notes {
        writeln!(out, "note:        {n}")?;
    }
    Ok(())
}

/// The stable JSON description of an input (see README, "ecgr1 info").
pub fn describe(input: &EcgInput) -> serde_json::Value {
    match input {
        EcgInput::Signal(s) => {
            let mut v = describe_record(&s.record);
            if let Some(map) = v.as_object_mut() {
                map.insert("has_patient_data".into(), json!(!s.patient.is_empty()));
            }
            v
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

/// The stable JSON description of a record (a signal file's, or one digitised from a page).
fn describe_record(r: &EcgRecord) -> Value {
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
    })
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
        }
    }
    Ok(())
}
