//! `ecgr1 compare PRIOR CURRENT [--json]`: the serial comparison of two recordings of one
//! patient (measurement deltas, significant changes and the trace's serial sentences).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use ecgr1_engine::features::{Measurements, measure};
use ecgr1_engine::formats::EcgInput;
use ecgr1_engine::protocol::BundleBranchBlock;
use ecgr1_engine::record::EcgRecord;
use ecgr1_engine::serial::{PriorEcg, SerialComparison, compare};
use serde_json::{Map, Value, json};

use super::input::ReadArgs;

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The earlier ECG of the patient (any signal format `info` reads).
    pub prior: PathBuf,
    /// The current ECG.
    pub current: PathBuf,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Print JSON (keys documented in the README).
    #[arg(long)]
    pub json: bool,
}

/// Reads and measures one signal file, naming the file in every error.
pub fn read_and_measure(read: &ReadArgs, path: &Path) -> Result<(EcgRecord, Measurements)> {
    let EcgInput::Signal(signal) = read.load(path)? else {
        bail!(
            "{}: an image carries no signal; a serial comparison needs two signal files",
            path.display()
        );
    };
    let m = measure(&signal.record).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok((signal.record, m))
}

/// How a trace names a prior recording: its acquisition time, else its file name.
pub fn prior_of(record: &EcgRecord) -> PriorEcg {
    PriorEcg {
        label: record
            .acquisition_time
            .clone()
            .unwrap_or_else(|| record.provenance.file_name.clone()),
        acquisition_time: record.acquisition_time.clone(),
        sha256: record.provenance.sha256.clone(),
    }
}

fn round1(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |v| json!((v * 10.0).round() / 10.0))
}

/// The stable JSON of a comparison (see README, "ecgr1 compare").
pub fn comparison_json(c: &SerialComparison) -> Value {
    let mut globals = Map::new();
    for g in &c.globals {
        globals.insert(
            g.id.clone(),
            json!({
                "prior": round1(g.prior),
                "current": round1(g.current),
                "delta": round1(g.delta),
                "threshold": g.threshold,
                "significant": g.significant,
            }),
        );
    }
    let mut leads = Map::new();
    for l in &c.leads {
        leads.insert(
            l.lead.clone(),
            json!({
                "st_j_prior_uv": round1(l.st_j_prior_uv),
                "st_j_current_uv": round1(l.st_j_current_uv),
                "st_j_delta_uv": round1(l.st_j_delta_uv),
                "st_j60_prior_uv": round1(l.st_j60_prior_uv),
                "st_j60_current_uv": round1(l.st_j60_current_uv),
                "st_j60_delta_uv": round1(l.st_j60_delta_uv),
                "t_prior_uv": round1(l.t_prior_uv),
                "t_current_uv": round1(l.t_current_uv),
                "t_delta_uv": round1(l.t_delta_uv),
                "t_inverted_prior": l.t_inverted_prior,
                "t_inverted_current": l.t_inverted_current,
                "new_t_inversion": l.new_t_inversion,
                "new_st_elevation": l.new_st_elevation,
                "new_st_depression": l.new_st_depression,
            }),
        );
    }
    json!({
        "prior": {
            "label": c.prior.label,
            "acquisition_time": c.prior.acquisition_time,
            "sha256": c.prior.sha256,
        },
        "unchanged": c.unchanged(),
        "changes": c.changes.iter().map(|x| json!({
            "kind": x.kind.name(),
            "leads": x.leads,
            "text": x.text,
            "measurements": x.measurements,
        })).collect::<Vec<_>>(),
        "statement": c.statement(),
        "globals": globals,
        "leads": leads,
        "bundle_branch_block_prior": c.bundle_branch_block_prior.map(BundleBranchBlock::name),
        "bundle_branch_block_current": c.bundle_branch_block_current.map(BundleBranchBlock::name),
        "not_compared": c.not_compared,
    })
}

fn show(v: Option<f64>, unit: &str) -> String {
    match (v, unit) {
        (Some(v), "deg") => format!("{v:.0}°"),
        (Some(v), unit) => format!("{v:.0} {unit}"),
        (None, _) => "—".to_string(),
    }
}

fn show_delta(v: Option<f64>, unit: &str) -> String {
    match (v, unit) {
        (Some(v), "deg") => format!("{v:+.0}°"),
        (Some(v), unit) => format!("{v:+.0} {unit}"),
        (None, _) => "—".to_string(),
    }
}

/// The comparison as text: the statement, the global deltas, the per-lead ST/T deltas.
pub fn write_text(c: &SerialComparison, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "{}", c.statement())?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<18} {:>10} {:>10} {:>10}  criterion",
        "", "prior", "current", "change"
    )?;
    for g in &c.globals {
        writeln!(
            out,
            "{:<18} {:>10} {:>10} {:>10}  {}{}",
            g.name,
            show(g.prior, &g.unit),
            show(g.current, &g.unit),
            show_delta(g.delta, &g.unit),
            g.threshold.as_deref().unwrap_or(""),
            if g.significant { "  SIGNIFICANT" } else { "" }
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<5} {:>9} {:>9} {:>9}   {:>9} {:>9} {:>9}",
        "lead", "ST prior", "ST now", "ΔST", "T prior", "T now", "ΔT"
    )?;
    for l in &c.leads {
        let mut flags = Vec::new();
        if l.new_t_inversion {
            flags.push("new T inversion");
        }
        if l.new_st_elevation {
            flags.push("new ST elevation");
        }
        if l.new_st_depression {
            flags.push("new ST depression");
        }
        writeln!(
            out,
            "{:<5} {:>9} {:>9} {:>9}   {:>9} {:>9} {:>9}   {}",
            l.lead,
            show(l.st_j_prior_uv, "µV"),
            show(l.st_j_current_uv, "µV"),
            show_delta(l.st_j_delta_uv, "µV"),
            show(l.t_prior_uv, "µV"),
            show(l.t_current_uv, "µV"),
            show_delta(l.t_delta_uv, "µV"),
            flags.join(", ")
        )?;
    }
    for n in &c.not_compared {
        writeln!(out, "not compared: {n}")?;
    }
    Ok(())
}

pub fn run(args: &CompareArgs, out: &mut dyn Write) -> Result<()> {
    let (prior_record, prior) = read_and_measure(&args.read, &args.prior)?;
    let (_, current) = read_and_measure(&args.read, &args.current)?;
    let c = compare(&prior, &current, prior_of(&prior_record));
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&comparison_json(&c))?
        )?;
    } else {
        write_text(&c, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::cli::run_captured;

    fn sample(name: &str) -> String {
        let dir = crate::gui::samples_dir().unwrap_or_else(|| panic!("assets/samples"));
        dir.join(name).display().to_string()
    }

    #[test]
    fn a_file_compared_with_itself_is_unchanged() {
        let f = sample("synthetic_sinus.csv");
        let (code, out, err) = run_captured(&["ecgr1", "compare", &f, &f, "--json"]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v["unchanged"], true);
        assert_eq!(v["changes"].as_array().map(Vec::len), Some(0));
        assert_eq!(v["globals"]["qrs_ms"]["delta"], 0.0);
        assert_eq!(v["globals"]["qrs_ms"]["threshold"], "+20 ms");
        assert!(v["leads"]["V2"]["t_delta_uv"].is_number());
        assert!(
            v["statement"]
                .as_str()
                .is_some_and(|s| s.starts_with("Compared with the ECG of"))
        );
        let (code, text, _) = run_captured(&["ecgr1", "compare", &f, &f]);
        assert_eq!(code, 0);
        assert!(text.contains("no significant change"), "{text}");
        assert!(text.contains("QRS axis"));
    }

    #[test]
    fn an_image_or_a_missing_file_is_refused_by_name() {
        let f = sample("synthetic_sinus.csv");
        let (code, _, err) = run_captured(&["ecgr1", "compare", "/nonexistent/prior.csv", &f]);
        assert_eq!(code, 1);
        assert!(err.contains("prior.csv"), "{err}");
    }
}
