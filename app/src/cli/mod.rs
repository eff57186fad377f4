//! The `ecgr1` command line. Each subcommand lives in its own module with its arguments and
//! a `run` function; output goes to the writers passed in so tests can capture it.

pub mod analyze;
pub mod audit_cmd;
mod bench_audit;
mod bench_digitise;
mod bench_formats;
mod bench_gui;
pub mod compare;
mod convert;
mod demo;
mod digitise;
mod eval;
mod export;
mod history;
mod info;
pub mod input;
pub mod measure;
mod model;
mod model_parity;
mod model_quantize;
pub(crate) mod render;
mod report;
mod serve;
mod sign;
pub mod store_args;
mod store_cmd;
mod user;
pub mod verify;

use std::ffi::OsString;
use std::io::Write;

use clap::{Parser, Subcommand};

/// ECG-R1 workstation: open 12-lead ECGs, measure them, and read them with an engine.
#[derive(Debug, Parser)]
#[command(name = "ecgr1", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The embedded default end to end: read, measure, interpret and verify every bundled sample.
    Demo(demo::DemoArgs),
    /// Show what a file holds: format, rate, leads, duration, SHA-256, annotations.
    Info(info::InfoArgs),
    /// Write a recording in another format: .csv (µV), .hea (WFDB format 16) or .edf (EDF+).
    Convert(convert::ConvertArgs),
    /// Measure a recording: rate, rhythm, intervals, axes, per-lead amplitudes, with units.
    Measure(measure::MeasureArgs),
    /// Compare a patient's ECG with their prior one: measurement deltas, significant changes
    /// and the serial sentences of the reading.
    Compare(compare::CompareArgs),
    /// Read a recording with an engine (protocol by default): six-step trace and answer.
    Analyze(analyze::AnalyzeArgs),
    /// Evaluate an engine (or compare two) on a labelled manifest of ECGs.
    Eval(eval::EvalArgs),
    /// Check a reasoning trace against a recording's measurements.
    Verify(verify::VerifyArgs),
    /// Local model checkpoints: parity scoring, description, benchmarks and quantisation.
    Model(model::ModelArgs),
    /// Digitise a PNG/JPEG of a printed 12-lead page into a signal file (.csv or .hea).
    Digitise(digitise::DigitiseArgs),
    /// Draw a signal file on ECG paper as a PNG (3x4/6x2/12x1, 25/50 mm/s, 5/10/20 mm/mV).
    Render(render::RenderArgs),
    /// Open the workstation window (the default when no subcommand is given).
    Gui(crate::gui::GuiArgs),
    /// Manage users of the case store (admin): add, set passwords.
    User(user::UserArgs),
    /// Serve a local checkpoint as an OpenAI-compatible inference server for the department's
    /// workstations (their --engine remote).
    Serve(serve::ServeArgs),
    /// Sign a decision on a stored run: agree, or override with your own answer.
    Sign(sign::SignArgs),
    /// Write the clinical report of a stored run as a PDF (ECG, measurements, assessment,
    /// verifier, signature, provenance).
    Report(report::ReportArgs),
    /// Export a signed run to the patient's record: HL7 v2.5.1 ORU^R01 (--hl7) and/or a FHIR
    /// R4 Bundle (--fhir), with LOINC-coded measurements and the PDF report embedded.
    Export(export::ExportArgs),
    /// List the audit history (optionally of one case or one user).
    History(history::HistoryArgs),
    /// Verify or export the tamper-evident audit history.
    Audit(audit_cmd::AuditArgs),
    /// The case store itself: prepare a department PostgreSQL database, or copy a
    /// workstation's history into one.
    Store(store_cmd::StoreCmdArgs),
    /// Benchmark: append and verify audit events.
    BenchAudit(bench_audit::BenchAuditArgs),
    /// Benchmark: read and render every bundled sample against the reference Python readers.
    BenchFormats(bench_formats::BenchFormatsArgs),
    /// Benchmark: digitise a rendered 300-dpi page on one thread (time per page beside the
    /// PNG decode and the page render, and the SNR).
    BenchDigitise(bench_digitise::BenchDigitiseArgs),
    /// Frame time of the reading room and time from launch to the first drawn ECG.
    BenchGui(bench_gui::BenchGuiArgs),
}

/// Runs the command line; returns the process exit code. Errors go to `err` as one line
/// starting with "error:".
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let rendered = e.render().to_string();
            let target: &mut dyn Write = if e.use_stderr() { err } else { out };
            let _ = target.write_all(rendered.as_bytes());
            return code;
        }
    };
    let result = match cli.command {
        Some(Command::Demo(args)) => demo::run(&args, out),
        Some(Command::Info(args)) => info::run(&args, out),
        Some(Command::Convert(args)) => convert::run(&args, out),
        Some(Command::Measure(args)) => measure::run(&args, out),
        Some(Command::Compare(args)) => compare::run(&args, out),
        Some(Command::Analyze(args)) => analyze::run(&args, out),
        Some(Command::Verify(args)) => verify::run(&args, out),
        Some(Command::Eval(args)) => eval::run(&args, out, err),
        Some(Command::Model(args)) => model::run(&args, out),
        Some(Command::Render(args)) => render::run(&args, out),
        Some(Command::Digitise(args)) => digitise::run(&args, out),
        Some(Command::Gui(args)) => crate::gui::run(&args),
        Some(Command::User(args)) => user::run(&args, out, err),
        Some(Command::Serve(args)) => serve::run(&args, out),
        Some(Command::Sign(args)) => sign::run(&args, out, err),
        Some(Command::Report(args)) => report::run(&args, out, err),
        Some(Command::Export(args)) => export::run(&args, out, err),
        Some(Command::History(args)) => history::run(&args, out, err),
        Some(Command::Audit(args)) => audit_cmd::run(&args, out, err),
        Some(Command::Store(args)) => store_cmd::run(&args, out, err),
        Some(Command::BenchAudit(args)) => bench_audit::run(&args, out),
        Some(Command::BenchFormats(args)) => bench_formats::run(&args, out),
        Some(Command::BenchDigitise(args)) => bench_digitise::run(&args, out),
        Some(Command::BenchGui(args)) => bench_gui::run(&args, out),
        None => crate::gui::run(&crate::gui::GuiArgs::default()),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "error: {e:#}");
            1
        }
    }
}

/// `ecgr1 model SUBCOMMAND --model MODEL EXTRA…`, captured: the model commands' tests.
#[cfg(test)]
pub(crate) fn run_model(
    subcommand: &str,
    model: &std::path::Path,
    extra: &[&str],
) -> (u8, String, String) {
    let model = model.display().to_string();
    let mut args = vec!["ecgr1", "model", subcommand, "--model", model.as_str()];
    args.extend_from_slice(extra);
    run_captured(&args)
}

/// Runs the command line on `args` and returns the exit code with what it wrote to stdout and
/// stderr (for the commands' tests).
#[cfg(test)]
pub(crate) fn run_captured(args: &[&str]) -> (u8, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = run(args.iter().copied(), &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap_or_default(),
        String::from_utf8(err).unwrap_or_default(),
    )
}
