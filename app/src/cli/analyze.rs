//! `ecgr1 analyze FILE [--notes TEXT] [--task interpret|twi] [--engine protocol] [--json]`

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;

use anyhow::{Result, bail};
use clap::Args;
use ecgr1_engine::EcgRecord;
use ecgr1_engine::digitise::DigitiseOptions;
use ecgr1_engine::features::{Measurements, measure};
use ecgr1_engine::formats::{EcgImage, EcgInput, load_path};
use ecgr1_engine::model::generate::GenerationEvent;
use ecgr1_engine::protocol::ProtocolEngine;
use ecgr1_engine::report::{ASSIST_NOTICE, Report, Request, Task};
use ecgr1_engine::serial::{SerialComparison, compare};
use ecgr1_engine::verify::{Verification, verify_report_with_prior};
use serde_json::{Value, json};

use super::compare::{comparison_json, prior_of, read_and_measure};
use super::input::{InputArgs, digitise_for_measuring, run_digitisation};
use super::store_args::StoreArgs;
use super::verify::{verification_json, write_verification_text};
use crate::engines::{EngineArgs, build};
use crate::store::{AnalysisIds, NewAnalysis, NewRun, RunDigitisation, RunOutcome};

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The patient's prior ECG: the reading is compared with it (the protocol engine's trace
    /// says what changed; serial claims of any engine's trace are checked against the deltas).
    #[arg(long, value_name = "PRIOR")]
    pub prior: Option<PathBuf>,
    /// The patient identifier to store the case under when the file carries none (cases of
    /// one identifier are one patient's, for comparison with the prior ECG).
    #[arg(long = "patient-id", value_name = "ID")]
    pub patient_id: Option<String>,
    /// An ECG image to give the model together with (or instead of) the signal file.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Clinical notes (history, symptoms, medication), e.g. "chest pain, on digoxin".
    #[arg(long, default_value = "")]
    pub notes: String,
    /// interpret (full reading) or twi (is the T-wave inversion ischaemic? yes/no).
    #[arg(long, default_value = "interpret")]
    pub task: Task,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Print JSON (keys documented in the README).
    #[arg(long)]
    pub json: bool,
    /// Store the case, input, notes, run, report, measurements and verifier flags in the case
    /// store when --db (or $ECGR1_DB) is given.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Everything one analysis produced: the inputs as read, the report, and its verification.
pub struct Analysis {
    pub record: Option<EcgRecord>,
    pub image: Option<EcgImage>,
    pub report: Report,
    pub verification: Option<Verification>,
    pub measurements: Option<Measurements>,
    /// The comparison with `--prior`, when given.
    pub comparison: Option<SerialComparison>,
    /// For an image input that could be digitised: what the store keeps of it.
    pub digitisation: Option<RunDigitisation>,
}

/// Loads the inputs, runs the engine and verifies its trace against the measurements.
/// Tokens of a local model are streamed to `stream_out` as they are written.
pub fn analyze(
    args: &AnalyzeArgs,
    stream_out: Option<&mut (dyn Write + Send)>,
) -> Result<Analysis> {
    let (record, mut image, digitisation) = match args.input.load()? {
        EcgInput::Signal(s) => (Some(s.record), None, None),
        // The model sees the image; the measurements and the protocol read the signal
        // digitised from it, when the page can be digitised.
        EcgInput::Image(i) => match digitise_for_measuring(&i, &DigitiseOptions::default()) {
            Ok(d) => {
                let stored = run_digitisation(&d);
                (Some(d.record), Some(i), Some(stored))
            }
            Err(_) => (None, Some(i), None),
        },
    };
    if let Some(path) = &args.image {
        match load_path(path, &args.input.load_options()?)? {
            EcgInput::Image(i) => image = Some(i),
            EcgInput::Signal(_) => bail!("{}: --image must be a PNG or JPEG image", path.display()),
        }
    }
    let comparison = match (&args.prior, &record) {
        (None, _) => None,
        (Some(path), None) => bail!(
            "{}: --prior needs a signal file to compare with (an image cannot be measured)",
            path.display()
        ),
        (Some(path), Some(current)) => {
            let (prior_record, prior) = read_and_measure(&args.input.read, path)?;
            let current = measure(current)
                .map_err(|e| anyhow::anyhow!("{}: {e}", args.input.file.display()))?;
            Some(compare(&prior, &current, prior_of(&prior_record)))
        }
    };
    let (sender, receiver) = mpsc::channel::<GenerationEvent>();
    let streaming = stream_out.is_some() && args.engine.engine != "protocol";
    let mut engine = build(&args.engine, streaming.then_some(sender))?;
    let request = Request {
        record: record.as_ref(),
        image: image.as_ref(),
        notes: &args.notes,
        task: args.task,
    };
    let report = std::thread::scope(|scope| {
        let printer = stream_out.map(|out| {
            scope.spawn(move || {
                for event in receiver {
                    if let GenerationEvent::Token { text, .. } = event {
                        let _ = out.write_all(text.as_bytes());
                        let _ = out.flush();
                    }
                }
                let _ = writeln!(out);
            })
        });
        let report = match &comparison {
            // The protocol engine writes the serial sentences into its own trace.
            Some(c) if args.engine.engine == "protocol" => {
                ProtocolEngine::new().run_with_prior(&request, Some(c))
            }
            _ => engine.run(&request),
        };
        drop(engine);
        if let Some(p) = printer {
            let _ = p.join();
        }
        report
    })
    .map_err(|e| anyhow::anyhow!("{}: {e}", args.input.file.display()))?;
    let (measurements, verification) = check_report(&report, record.as_ref(), comparison.as_ref());
    Ok(Analysis {
        record,
        image,
        report,
        verification,
        measurements,
        comparison,
        digitisation,
    })
}

/// Measures the record (when there is one) and checks the report's trace against the
/// measurements: what every stored run carries beside its report.
pub fn check_report(
    report: &Report,
    record: Option<&EcgRecord>,
    comparison: Option<&SerialComparison>,
) -> (Option<Measurements>, Option<Verification>) {
    let measurements = record.and_then(|r| measure(r).ok());
    let verification = measurements
        .as_ref()
        .map(|m| verify_report_with_prior(report, m, comparison));
    (measurements, verification)
}

/// A completed run as the store keeps it: the report with its parameters, measurements and
/// verifier flags (the same for the CLI and the GUI).
pub fn completed_run<'a>(
    engine: &EngineArgs,
    report: &'a Report,
    image_sha256: Option<&str>,
    measurements: Option<&Measurements>,
    verification: Option<&Verification>,
    comparison: Option<&SerialComparison>,
    digitisation: Option<RunDigitisation>,
) -> NewRun<'a> {
    NewRun {
        engine: &report.engine,
        task: report.task,
        parameters: run_parameters(engine, report, image_sha256),
        seed: None,
        started_at: None,
        finished_at: None,
        outcome: RunOutcome::Completed(report),
        measurements: measurements.map(|m| serde_json::to_value(m).unwrap_or(Value::Null)),
        verifier_flags: verification.map(verification_json),
        comparison: comparison.map(|c| serde_json::to_value(c).unwrap_or(Value::Null)),
        digitisation,
    }
}

/// The original bytes of the input as the store keeps them: for WFDB the header followed by
/// its data file (the same bytes the record's SHA-256 covers for a single-file record).
pub fn original_bytes(path: &std::path::Path, input: &EcgInput) -> Result<Vec<u8>> {
    let is_wfdb = matches!(input, EcgInput::Signal(s) if s.record.provenance.format == ecgr1_engine::Format::Wfdb);
    if is_wfdb {
        let mut bytes = ecgr1_engine::formats::read_file_bytes(&path.with_extension("hea"))?;
        let dat = path.with_extension("dat");
        if dat.exists() {
            bytes.extend(ecgr1_engine::formats::read_file_bytes(&dat)?);
        }
        return Ok(bytes);
    }
    Ok(ecgr1_engine::formats::read_file_bytes(path)?)
}

/// The engine parameters stored with a run (the same for the CLI and the GUI).
pub fn run_parameters(engine: &EngineArgs, report: &Report, image_sha256: Option<&str>) -> Value {
    json!({
        "engine": engine.engine,
        "model": engine.model,
        "server": engine.server,
        "max_tokens": engine.max_tokens,
        "dtype": report.engine.dtype,
        "image_sha256": image_sha256,
        "decoding": "greedy",
    })
}

fn store_analysis(
    args: &AnalyzeArgs,
    analysis: &Analysis,
    err: &mut dyn Write,
) -> Result<AnalysisIds> {
    let (store, session, _) = args.store.open_and_login(err)?;
    let mut input = args.input.load()?;
    if let (Some(id), EcgInput::Signal(s)) = (&args.patient_id, &mut input) {
        match &s.patient.id {
            Some(found) if found != id => bail!(
                "{}: the file names patient {found}, not --patient-id {id}; nothing was stored",
                args.input.file.display()
            ),
            _ => s.patient.id = Some(id.clone()),
        }
    }
    let bytes = original_bytes(&args.input.file, &input)?;
    let report = &analysis.report;
    let ids = store.record_analysis(
        &session,
        &NewAnalysis {
            input_bytes: &bytes,
            input: &input,
            notes: &args.notes,
            run: completed_run(
                &args.engine,
                report,
                analysis
                    .image
                    .as_ref()
                    .map(|i| i.provenance.sha256.as_str()),
                analysis.measurements.as_ref(),
                analysis.verification.as_ref(),
                analysis.comparison.as_ref(),
                analysis.digitisation.clone(),
            ),
        },
    )?;
    Ok(ids)
}

pub fn run(args: &AnalyzeArgs, out: &mut dyn Write) -> Result<()> {
    let mut stderr = std::io::stderr();
    let stream: Option<&mut (dyn Write + Send)> = if args.json { None } else { Some(&mut stderr) };
    let analysis = analyze(args, stream)?;
    let stored = if args.store.location.db.is_some() || std::env::var_os("ECGR1_DB").is_some() {
        Some(store_analysis(args, &analysis, &mut std::io::stderr())?)
    } else {
        None
    };
    if args.json {
        let mut value = report_json(&analysis.report);
        value["verification"] = analysis
            .verification
            .as_ref()
            .map_or(Value::Null, verification_json);
        value["comparison"] = analysis
            .comparison
            .as_ref()
            .map_or(Value::Null, comparison_json);
        value["case_id"] = stored.map_or(Value::Null, |ids| json!(ids.case_id));
        value["run_id"] = stored.map_or(Value::Null, |ids| json!(ids.run_id));
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        write_text(&analysis.report, out)?;
        if let Some(v) = &analysis.verification {
            writeln!(out, "\nverifier (trace against the measurements):")?;
            write_verification_text(v, out)?;
        }
        if let Some(ids) = stored {
            writeln!(
                out,
                "\nstored: case {} run {} (sign with: ecgr1 sign {} --agree|--override LABEL --reason TEXT)",
                ids.case_id, ids.run_id, ids.run_id
            )?;
        }
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
        "band": r.band.map(ecgr1_engine::RiskBand::name),
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
