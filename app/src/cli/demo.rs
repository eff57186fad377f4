//! `ecgr1 demo`: the embedded default end to end, with no weights — every bundled sample ECG
//! is read, measured, interpreted by the built-in protocol engine and its trace verified.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use ecgr1_engine::features::measure;
use ecgr1_engine::formats::{EcgInput, LoadOptions, load_path};
use ecgr1_engine::protocol::ProtocolEngine;
use ecgr1_engine::report::{ASSIST_NOTICE, Engine, Request, Task};
use ecgr1_engine::verify::verify_report;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder of sample ECGs (default: the bundled assets/samples).
    #[arg(long)]
    pub samples: Option<PathBuf>,
    /// Print every step of each trace, not only the answer.
    #[arg(long)]
    pub full: bool,
}

/// The bundled samples folder, found from the working directory or from the source tree.
pub fn samples_dir() -> PathBuf {
    let here = PathBuf::from("assets/samples");
    if here.is_dir() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/samples")
}

fn fmt(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "—".to_string(), |v| format!("{v:.0} {unit}"))
}

pub fn run(args: &DemoArgs, out: &mut dyn Write) -> Result<()> {
    let dir = args.samples.clone().unwrap_or_else(samples_dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading the samples folder {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("hea" | "edf" | "csv" | "dcm" | "xml")
            )
        })
        .collect();
    files.sort();
    writeln!(
        out,
        "ECG-R1 workstation demo: built-in protocol engine on {} bundled ECGs\n",
        files.len()
    )?;
    for path in files {
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let EcgInput::Signal(signal) = load_path(&path, &LoadOptions::default())? else {
            continue;
        };
        let record = &signal.record;
        let m = measure(record).with_context(|| format!("measuring {name}"))?;
        writeln!(
            out,
            "== {name} ({}, {} leads, {} Hz, {:.1} s)",
            record.provenance.format,
            record.leads.len(),
            record.sample_rate_hz,
            record.duration_s()
        )?;
        writeln!(
            out,
            "   HR {}  PR {}  QRS {}  QT {}  QTc {} (Bazett)  axis P/QRS/T {}/{}/{}  rhythm: {}",
            fmt(m.heart_rate_bpm.value, "bpm"),
            fmt(m.pr_ms.value, "ms"),
            fmt(m.qrs_ms.value, "ms"),
            fmt(m.qt_ms.value, "ms"),
            fmt(m.qtc_bazett_ms.value, "ms"),
            fmt(m.p_axis_deg.value, "°"),
            fmt(m.qrs_axis_deg.value, "°"),
            fmt(m.t_axis_deg.value, "°"),
            m.rhythm.label
        )?;
        for task in [Task::Interpret, Task::Twi] {
            let request = Request {
                record: Some(record),
                image: None,
                notes: "",
                task,
            };
            let report = ProtocolEngine::new()
                .run(&request)
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            if args.full && task == Task::Interpret {
                for (k, s) in report.steps.iter().enumerate() {
                    writeln!(
                        out,
                        "   Step {}: {}\n      {}",
                        k + 1,
                        s.title,
                        s.text.replace('\n', "\n      ")
                    )?;
                }
            }
            let v = verify_report(&report, &m);
            writeln!(
                out,
                "   {:<9} answer: {}   (verifier: {} claims, {} supported, {} contradicted; {:.1} ms)",
                task.name(),
                report.answer.join("; "),
                v.summary.claims,
                v.summary.supported,
                v.summary.contradicted,
                report.timings.total_ms
            )?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "The TWI answers are rule-based: the protocol engine has no P(yes), so no risk band is shown."
    )?;
    writeln!(out, "{ASSIST_NOTICE}")?;
    Ok(())
}
