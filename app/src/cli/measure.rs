//! `ecgr1 measure FILE [--json]`: the feature database of one recording, with units.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;
use clap::Args;
use ecgr1_engine::features::{self, LeadMeasurements, Measured, Measurements};
use ecgr1_engine::formats::EcgInput;

use super::input::InputArgs;
use serde_json::{Map, Value, json};

#[derive(Debug, Args)]
pub struct MeasureArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Print JSON (keys documented in the README).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &MeasureArgs, out: &mut dyn Write) -> Result<()> {
    let input = args.input.load()?;
    let record = super::input::signal_of(&input)?;
    let image_notes = if matches!(input, EcgInput::Image(_)) {
        record.processing_notes.clone()
    } else {
        Vec::new()
    };
    if !args.json {
        for note in &image_notes {
            writeln!(out, "note: {note}")?;
        }
    }
    let m = features::measure(&record)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.input.file.display()))?;
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&{
                let mut v = measurements_json(&m);
                if let Some(map) = v.as_object_mut().filter(|_| !image_notes.is_empty()) {
                    map.insert("input_notes".into(), serde_json::json!(image_notes));
                }
                v
            })?
        )?;
    } else {
        write_text(&m, out)?;
    }
    Ok(())
}

fn num(m: &Measured) -> Value {
    m.value
        .map_or(Value::Null, |v| json!((v * 10.0).round() / 10.0))
}

fn lead_json(l: &LeadMeasurements) -> Value {
    let mut o = Map::new();
    for v in l.values() {
        let key = v.id.rsplit('.').next().unwrap_or(&v.id).to_string();
        o.insert(key, num(v));
    }
    o.insert(
        "t_polarity".into(),
        json!(l.t_polarity.map(ecgr1_engine::features::TPolarity::name)),
    );
    o.insert("pathological_q".into(), json!(l.pathological_q));
    o.insert(
        "quality".into(),
        json!({
            "flat": l.quality.flat,
            "lead_off": l.quality.lead_off,
            "noisy": l.quality.noisy,
            "noise_uv": l.quality.noise_uv.map(|v| (v * 10.0).round() / 10.0),
        }),
    );
    Value::Object(o)
}

/// The stable JSON of a measurement set (see README, "ecgr1 measure"). Keys are snake_case
/// with the unit in the name; a value that could not be measured is null and its reason is in
/// `quality.unmeasured`.
pub fn measurements_json(m: &Measurements) -> Value {
    let mut unmeasured = BTreeMap::new();
    for v in m
        .globals()
        .into_iter()
        .chain(m.leads.iter().flat_map(LeadMeasurements::values))
    {
        if v.value.is_none() {
            unmeasured.insert(v.id.clone(), v.reason.clone().unwrap_or_default());
        }
    }
    let mut leads = Map::new();
    for l in &m.leads {
        leads.insert(l.lead.clone(), lead_json(l));
    }
    let sources: BTreeMap<&str, Value> = m
        .globals()
        .into_iter()
        .map(|v| (v.id.as_str(), json!(v.source)))
        .collect();
    let r = &m.rhythm;
    json!({
        "sample_rate_hz": m.sample_rate_hz,
        "duration_s": m.duration_s,
        "heart_rate_bpm": num(&m.heart_rate_bpm),
        "rr_ms": num(&m.rr_mean_ms),
        "rr_sd_ms": num(&m.rr_sd_ms),
        "pr_ms": num(&m.pr_ms),
        "p_ms": num(&m.p_ms),
        "qrs_ms": num(&m.qrs_ms),
        "qt_ms": num(&m.qt_ms),
        "qtc_bazett_ms": num(&m.qtc_bazett_ms),
        "qtc_fridericia_ms": num(&m.qtc_fridericia_ms),
        "p_axis_deg": num(&m.p_axis_deg),
        "qrs_axis_deg": num(&m.qrs_axis_deg),
        "t_axis_deg": num(&m.t_axis_deg),
        "sokolow_lyon_uv": num(&m.sokolow_lyon_uv),
        "cornell_uv": num(&m.cornell_uv),
        "rhythm": {
            "label": r.label,
            "sinus": r.sinus,
            "p_before_every_qrs": r.p_before_every_qrs,
            "pr_consistent": r.pr_consistent,
            "p_upright_in_ii": r.p_upright_in_ii,
            "bradycardia": r.bradycardia,
            "tachycardia": r.tachycardia,
            "irregularity_index": r.irregularity_index.value.map(|v| (v * 1000.0).round() / 1000.0),
            "af_suggested": r.af_suggested,
            "ventricular_ectopics": r.ventricular_ectopics,
            "supraventricular_ectopics": r.supraventricular_ectopics,
        },
        "beats": m.beats.iter().map(|b| (b.time_s * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
        "beat_details": m.beats.iter().map(|b| json!({
            "r_sample": b.r_index,
            "time_s": b.time_s,
            "kind": b.kind,
            "rr_prev_ms": b.rr_prev_ms,
            "template_correlation": (b.template_correlation * 1000.0).round() / 1000.0,
            "p_onset_sample": b.p_onset,
            "qrs_onset_sample": b.qrs_onset,
            "qrs_offset_sample": b.qrs_offset,
            "t_offset_sample": b.t_offset,
        })).collect::<Vec<_>>(),
        "median_fiducials": m.median_fiducials,
        "leads": leads,
        "sources": sources,
        "quality": {
            "flags": m.quality,
            "unmeasured": unmeasured,
        },
    })
}

fn show(m: &Measured) -> String {
    match m.value {
        Some(v) if m.unit == "ratio" => format!("{v:.2}"),
        Some(v) => format!("{v:.0} {}", m.unit.replace("uV", "µV").replace("deg", "°")),
        None => format!("— ({})", m.reason.as_deref().unwrap_or("not measured")),
    }
}

fn write_text(m: &Measurements, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "rhythm:      {}", m.rhythm.label)?;
    for (name, v) in [
        ("heart rate", &m.heart_rate_bpm),
        ("RR mean", &m.rr_mean_ms),
        ("RR SD", &m.rr_sd_ms),
        ("PR", &m.pr_ms),
        ("P duration", &m.p_ms),
        ("QRS", &m.qrs_ms),
        ("QT", &m.qt_ms),
        ("QTc Bazett", &m.qtc_bazett_ms),
        ("QTc Frid.", &m.qtc_fridericia_ms),
        ("P axis", &m.p_axis_deg),
        ("QRS axis", &m.qrs_axis_deg),
        ("T axis", &m.t_axis_deg),
        ("Sokolow-Lyon", &m.sokolow_lyon_uv),
        ("Cornell", &m.cornell_uv),
    ] {
        writeln!(out, "{name:<12} {}", show(v))?;
    }
    writeln!(
        out,
        "beats:       {} ({} ventricular, {} supraventricular ectopic)",
        m.beats.len(),
        m.rhythm.ventricular_ectopics,
        m.rhythm.supraventricular_ectopics
    )?;
    writeln!(
        out,
        "lead    R µV    S µV    Q ms   ST(J) µV  ST(J+60) µV  T µV    T"
    )?;
    for l in &m.leads {
        let f = |v: &Measured| {
            v.value
                .map_or_else(|| "—".to_string(), |x| format!("{x:.0}"))
        };
        writeln!(
            out,
            "{:<6}{:>7}{:>8}{:>8}{:>10}{:>13}{:>7}    {}",
            l.lead,
            f(&l.r_amplitude_uv),
            f(&l.s_amplitude_uv),
            f(&l.q_duration_ms),
            f(&l.st_j_uv),
            f(&l.st_j60_uv),
            f(&l.t_amplitude_uv),
            l.t_polarity.map_or("—", |p| p.name())
        )?;
    }
    for q in &m.quality {
        writeln!(
            out,
            "quality:     {} {}: {}",
            q.kind,
            q.lead.as_deref().unwrap_or(""),
            q.detail
        )?;
    }
    Ok(())
}
