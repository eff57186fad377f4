//! `ecgr1 digitise IMG -o OUT.csv|OUT.hea [--json] [--truth FILE]`: a PNG/JPEG of a printed
//! 12-lead page becomes a signal file, with the digitiser's report (scales found, layout,
//! per-lead confidence) and, given the signal the page was drawn from, its Challenge 2024 SNR.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use ecgr1_engine::digitise::{DigitiseOptions, digitise_image, snr};
use ecgr1_engine::formats::{EcgInput, LoadOptions, csv, load_path, wfdb};

#[derive(Debug, Args)]
pub struct DigitiseArgs {
    /// The page image (PNG or JPEG).
    pub image: PathBuf,
    /// Output signal: .csv (µV, absent samples empty) or .hea (WFDB, writes the .dat beside it).
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// The signal the page was drawn from: adds its SNR (dB) to the report.
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,
    /// Gain printed on the page, mm/mV (needed when it has no calibration pulse).
    #[arg(long, value_name = "MM_PER_MV")]
    pub gain: Option<f64>,
    /// Paper speed printed on the page, mm/s.
    #[arg(long, value_name = "MM_PER_S")]
    pub speed: Option<f64>,
    /// Layout, when the rows are ambiguous: 3x4, 6x2 or 12x1.
    #[arg(long)]
    pub layout: Option<String>,
}

pub fn run(args: &DigitiseArgs, out: &mut dyn Write) -> Result<()> {
    let image = match load_path(&args.image, &LoadOptions::default())? {
        EcgInput::Image(i) => i,
        EcgInput::Signal(_) => bail!(
            "{}: already a signal file; digitise reads PNG or JPEG pages",
            args.image.display()
        ),
    };
    let options = DigitiseOptions {
        gain_mm_mv: args.gain,
        speed_mm_s: args.speed,
        layout: args.layout.clone(),
        lead_boxes: Vec::new(),
    };
    let digitised = digitise_image(&image, &options)
        .with_context(|| format!("{}: cannot digitise", args.image.display()))?;
    let record = &digitised.record;
    let ext = args
        .output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "csv" => std::fs::write(&args.output, csv::write(record))
            .with_context(|| format!("writing {}", args.output.display()))?,
        "hea" => {
            let name = args
                .output
                .file_stem()
                .and_then(|s| s.to_str())
                .context("the output .hea needs a file name")?;
            let (header, data) = wfdb::write(record, name)?;
            std::fs::write(&args.output, header)
                .with_context(|| format!("writing {}", args.output.display()))?;
            let dat = args.output.with_extension("dat");
            std::fs::write(&dat, data).with_context(|| format!("writing {}", dat.display()))?;
        }
        other => bail!(
            "{}: unknown output format '.{other}' (use .csv or .hea)",
            args.output.display()
        ),
    }
    let score = match &args.truth {
        None => None,
        Some(path) => {
            let truth = match load_path(path, &LoadOptions::default())? {
                EcgInput::Signal(s) => s.record,
                EcgInput::Image(_) => bail!("{}: --truth must be a signal file", path.display()),
            };
            let truth = truth
                .resampled(record.sample_rate_hz)
                .with_context(|| format!("{}: resampling to 500 Hz", path.display()))?;
            let shown = snr::shown_part(&truth, &digitised.report);
            Some((snr::score(&shown, record)?, snr::score(&truth, record)?))
        }
    };
    if args.json {
        let mut value = serde_json::to_value(&digitised.report)?;
        if let (Some((shown, whole)), Some(map)) = (&score, value.as_object_mut()) {
            map.insert("snr_db".into(), serde_json::json!(shown.mean_snr_db));
            map.insert(
                "snr_whole_record_db".into(),
                serde_json::json!(whole.mean_snr_db),
            );
            map.insert("snr_per_lead".into(), serde_json::to_value(&shown.leads)?);
        }
        map_output(&args.output, &mut value);
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    let r = &digitised.report;
    writeln!(
        out,
        "wrote {} ({} leads at {} Hz, layout {}, rotation corrected {:.2}°)",
        args.output.display(),
        record.leads.len(),
        record.sample_rate_hz,
        r.layout,
        r.rotation_corrected_deg
    )?;
    match r.grid {
        Some(g) => writeln!(
            out,
            "grid: {:.3} × {:.3} px/mm",
            g.px_per_mm_x, g.px_per_mm_y
        )?,
        None => writeln!(out, "grid: none found")?,
    }
    writeln!(
        out,
        "gain: {} ({:?}); speed: {} ({:?}); mean confidence {:.2}",
        r.gain_mm_mv
            .map_or("no mm scale".into(), |g| format!("{g} mm/mV")),
        r.gain_source,
        r.speed_mm_s
            .map_or("no mm scale".into(), |s| format!("{s} mm/s")),
        r.speed_source,
        r.mean_confidence()
    )?;
    if let Some(e) = r.einthoven_relative {
        writeln!(
            out,
            "Einthoven residual (I + III − II): {:.0} % of II",
            e * 100.0
        )?;
    }
    if let Some((shown, whole)) = &score {
        writeln!(
            out,
            "SNR {:.1} dB over what the page shows ({:.1} dB over the whole record)",
            shown.mean_snr_db, whole.mean_snr_db
        )?;
    }
    for n in &r.notes {
        writeln!(out, "note: {n}")?;
    }
    Ok(())
}

fn map_output(path: &std::path::Path, value: &mut serde_json::Value) {
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "output".into(),
            serde_json::json!(path.display().to_string()),
        );
    }
}
