//! The evaluation harness: runs an engine over a manifest of labelled ECGs, caches every
//! result by input hash and engine identity (so an interrupted run resumes where it stopped),
//! and computes the metrics of [`ecgr1_engine::eval::metrics`].

pub mod manifest;
pub mod plots;

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use ecgr1_engine::EcgRecord;
use ecgr1_engine::eval::metrics::{
    self, AucWithCi, BandRow, BinaryMetrics, Calibration, Confusion, DeLong, McNemar,
    MultiLabelMetrics,
};
use ecgr1_engine::formats::{EcgInput, LoadOptions, load_path, sha256_hex};
use ecgr1_engine::report::{Engine, EngineIdentity, Report, Request, RiskBand, Task};
use serde::{Deserialize, Serialize};

pub use manifest::{ManifestRow, read_manifest};

/// How many claims a run's trace made and how many contradicted the measurements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VerifierCounts {
    pub claims: usize,
    pub contradicted: usize,
}

/// Checks a report against its record; supplied by the caller so the harness stays
/// independent of how verification is configured.
pub type VerifyFn<'a> = &'a dyn Fn(&Report, &EcgRecord) -> VerifierCounts;

/// The outcome of one manifest row for one engine (also the cache entry).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowOutcome {
    pub line: usize,
    pub file: Option<String>,
    pub image: Option<String>,
    /// SHA-256 of the inputs (signal, image, notes) — the cache key together with the engine.
    pub input_sha256: String,
    pub reference: Vec<String>,
    pub answer: Vec<String>,
    pub p_yes: Option<f64>,
    pub band: Option<RiskBand>,
    /// For yes/no tasks: the answer equals the reference. `None` when there is no answer.
    pub correct: Option<bool>,
    pub error: Option<String>,
    pub parse_issues: Vec<String>,
    pub verifier: Option<VerifierCounts>,
}

/// Everything the harness computes for one engine.
#[derive(Clone, Debug, Serialize)]
pub struct EngineSummary {
    pub engine: EngineIdentity,
    pub task: Task,
    pub rows: usize,
    pub failures: usize,
    pub answered: usize,
    pub binary: Option<BinaryMetrics>,
    pub auc: Option<AucWithCi>,
    pub calibration: Option<Calibration>,
    pub bands: Option<Vec<BandRow>>,
    pub multilabel: Option<MultiLabelMetrics>,
    pub verifier_claims: usize,
    pub verifier_contradicted: usize,
    pub verifier_contradiction_rate: Option<f64>,
}

/// Paired comparison of two engines on the same rows.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub engine_a: String,
    pub engine_b: String,
    /// Rows both engines answered.
    pub paired_rows: usize,
    pub mcnemar: Option<McNemar>,
    pub delong: Option<DeLong>,
}

/// Options for one evaluation run.
#[derive(Clone, Debug)]
pub struct EvalConfig {
    pub task: Task,
    pub out_dir: PathBuf,
    pub bootstrap_replicates: usize,
    pub seed: u64,
    /// How every row's files are read (the command line's shared reading options).
    pub load_options: LoadOptions,
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

struct LoadedRow {
    record: Option<EcgRecord>,
    image: Option<ecgr1_engine::formats::EcgImage>,
    input_sha256: String,
}

fn load_row(row: &ManifestRow, options: &LoadOptions) -> Result<LoadedRow, String> {
    let mut record = None;
    let mut image = None;
    let mut hash_input = String::new();
    if let Some(file) = &row.file {
        match load_path(file, options).map_err(|e| e.to_string())? {
            EcgInput::Signal(s) => {
                hash_input.push_str(&s.record.provenance.sha256);
                record = Some(s.record);
            }
            EcgInput::Image(i) => {
                hash_input.push_str(&i.provenance.sha256);
                image = Some(i);
            }
        }
    }
    if let Some(path) = &row.image {
        match load_path(path, options).map_err(|e| e.to_string())? {
            EcgInput::Image(i) => {
                hash_input.push('|');
                hash_input.push_str(&i.provenance.sha256);
                image = Some(i);
            }
            EcgInput::Signal(_) => {
                return Err(format!(
                    "{}: the 'image' column names a signal file",
                    display(path)
                ));
            }
        }
    }
    hash_input.push('|');
    hash_input.push_str(&row.notes);
    // Reading options change the record a CSV file gives, so they are part of the cache key;
    // the defaults add nothing, which keeps the keys of runs without them as they were.
    let csv = &options.csv;
    if let Some(units) = csv.units {
        let _ = write!(hash_input, "|units={}", units.name());
    }
    if let Some(rate) = csv.sample_rate_hz {
        let _ = write!(hash_input, "|sample_rate_hz={rate}");
    }
    Ok(LoadedRow {
        record,
        image,
        input_sha256: sha256_hex(hash_input.as_bytes()),
    })
}

fn cache_key(identity: &EngineIdentity, task: Task, input_sha256: &str) -> String {
    let identity = serde_json::to_string(identity).unwrap_or_default();
    sha256_hex(format!("{identity}|{}|{input_sha256}", task.name()).as_bytes())
}

fn is_correct(task: Task, answer: &[String], reference: &[String]) -> Option<bool> {
    match task {
        Task::Twi => {
            let a = answer.first()?.trim().to_lowercase();
            let r = reference.first()?.trim().to_lowercase();
            Some(a == r)
        }
        Task::Interpret => None,
    }
}

fn format_eta(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// Runs `engine` over every row, using and filling the cache under `config.out_dir/cache`.
/// A row that fails (unreadable file, engine error) is recorded with its error and counted;
/// it never stops the run.
pub fn run_engine(
    rows: &[ManifestRow],
    engine: &mut dyn Engine,
    config: &EvalConfig,
    verify: Option<VerifyFn<'_>>,
    progress: &mut dyn Write,
) -> Result<Vec<RowOutcome>> {
    let identity = engine.identity();
    let cache_dir = config.out_dir.join("cache").join(sanitise(&identity.name));
    std::fs::create_dir_all(&cache_dir)
        .with_context(|| format!("creating {}", display(&cache_dir)))?;
    let started = Instant::now();
    let mut outcomes = Vec::with_capacity(rows.len());
    let (mut failures, mut cached, mut computed) = (0usize, 0usize, 0usize);
    for (k, row) in rows.iter().enumerate() {
        let outcome = match load_row(row, &config.load_options) {
            Err(error) => failed_row(row, String::new(), error),
            Ok(loaded) => {
                let key = cache_key(&identity, config.task, &loaded.input_sha256);
                let cache_file = cache_dir.join(format!("{key}.json"));
                if let Some(hit) = read_cache(&cache_file, row) {
                    cached += 1;
                    hit
                } else {
                    let outcome = evaluate_row(row, &loaded, engine, config.task, verify);
                    computed += 1;
                    // A result is cached only once complete, so an interrupted run resumes cleanly.
                    let tmp = cache_file.with_extension("tmp");
                    std::fs::write(&tmp, serde_json::to_vec(&outcome)?)
                        .and_then(|()| std::fs::rename(&tmp, &cache_file))
                        .with_context(|| format!("writing {}", display(&cache_file)))?;
                    outcome
                }
            }
        };
        if outcome.error.is_some() {
            failures += 1;
        }
        outcomes.push(outcome);
        let done = k + 1;
        let elapsed = started.elapsed().as_secs_f64();
        let eta = if computed > 0 {
            elapsed / computed as f64 * (rows.len() - done) as f64
        } else {
            0.0
        };
        let _ = write!(
            progress,
            "\r[{}] {done}/{} rows, {failures} failed, {cached} from cache, ETA {}",
            identity.name,
            rows.len(),
            format_eta(eta)
        );
        let _ = progress.flush();
    }
    let _ = writeln!(progress);
    Ok(outcomes)
}

fn sanitise(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn read_cache(path: &Path, row: &ManifestRow) -> Option<RowOutcome> {
    let bytes = std::fs::read(path).ok()?;
    let mut outcome: RowOutcome = serde_json::from_slice(&bytes).ok()?;
    // The same input may sit on another line of an edited manifest: keep the row's own context.
    outcome.line = row.line;
    outcome.reference.clone_from(&row.labels);
    Some(outcome)
}

fn failed_row(row: &ManifestRow, input_sha256: String, error: String) -> RowOutcome {
    RowOutcome {
        line: row.line,
        file: row.file.as_deref().map(display),
        image: row.image.as_deref().map(display),
        input_sha256,
        reference: row.labels.clone(),
        answer: Vec::new(),
        p_yes: None,
        band: None,
        correct: None,
        error: Some(error),
        parse_issues: Vec::new(),
        verifier: None,
    }
}

fn evaluate_row(
    row: &ManifestRow,
    loaded: &LoadedRow,
    engine: &mut dyn Engine,
    task: Task,
    verify: Option<VerifyFn<'_>>,
) -> RowOutcome {
    let request = Request {
        record: loaded.record.as_ref(),
        image: loaded.image.as_ref(),
        notes: &row.notes,
        task,
    };
    match engine.run(&request) {
        Err(e) => failed_row(row, loaded.input_sha256.clone(), e.to_string()),
        Ok(report) => {
            let verifier = match (verify, loaded.record.as_ref()) {
                (Some(f), Some(record)) => Some(f(&report, record)),
                _ => None,
            };
            let error = if report.answer.is_empty() {
                Some(format!("no answer ({})", report.parse_issues.join("; ")))
            } else {
                None
            };
            RowOutcome {
                line: row.line,
                file: row.file.as_deref().map(display),
                image: row.image.as_deref().map(display),
                input_sha256: loaded.input_sha256.clone(),
                reference: row.labels.clone(),
                correct: is_correct(task, &report.answer, &row.labels),
                p_yes: report.p_yes(),
                band: report.band,
                answer: report.answer,
                error,
                parse_issues: report.parse_issues,
                verifier,
            }
        }
    }
}

fn reference_is_yes(outcome: &RowOutcome) -> Option<bool> {
    match outcome.reference.first()?.trim().to_lowercase().as_str() {
        "yes" | "1" | "true" | "positive" => Some(true),
        "no" | "0" | "false" | "negative" => Some(false),
        _ => None,
    }
}

fn answer_is_yes(outcome: &RowOutcome) -> Option<bool> {
    match outcome.answer.first()?.trim().to_lowercase().as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// Computes the summary of one engine's outcomes.
pub fn summarise(
    identity: EngineIdentity,
    outcomes: &[RowOutcome],
    config: &EvalConfig,
) -> EngineSummary {
    let failures = outcomes.iter().filter(|o| o.error.is_some()).count();
    let answered = outcomes.iter().filter(|o| !o.answer.is_empty()).count();
    let (mut binary, mut auc, mut calibration, mut bands, mut multilabel) =
        (None, None, None, None, None);
    match config.task {
        Task::Twi => {
            let pairs: Vec<(bool, bool)> = outcomes
                .iter()
                .filter_map(|o| Some((answer_is_yes(o)?, reference_is_yes(o)?)))
                .collect();
            if !pairs.is_empty() {
                binary = Some(BinaryMetrics::from_confusion(Confusion::from_pairs(pairs)));
            }
            let (probs, labels): (Vec<f64>, Vec<bool>) = outcomes
                .iter()
                .filter_map(|o| Some((o.p_yes?, reference_is_yes(o)?)))
                .unzip();
            if !probs.is_empty() {
                auc = metrics::auc_bootstrap(
                    &probs,
                    &labels,
                    config.bootstrap_replicates,
                    config.seed,
                );
                calibration = Some(metrics::calibration(&probs, &labels, 10));
                bands = Some(metrics::band_table(&probs, &labels));
            }
        }
        Task::Interpret => {
            let (pred, refs): (Vec<Vec<String>>, Vec<Vec<String>>) = outcomes
                .iter()
                .filter(|o| o.error.is_none())
                .map(|o| (o.answer.clone(), o.reference.clone()))
                .unzip();
            if !pred.is_empty() {
                multilabel = Some(metrics::multilabel(&pred, &refs));
            }
        }
    }
    let claims: usize = outcomes
        .iter()
        .filter_map(|o| o.verifier)
        .map(|v| v.claims)
        .sum();
    let contradicted: usize = outcomes
        .iter()
        .filter_map(|o| o.verifier)
        .map(|v| v.contradicted)
        .sum();
    EngineSummary {
        engine: identity,
        task: config.task,
        rows: outcomes.len(),
        failures,
        answered,
        binary,
        auc,
        calibration,
        bands,
        multilabel,
        verifier_claims: claims,
        verifier_contradicted: contradicted,
        verifier_contradiction_rate: (claims > 0).then(|| contradicted as f64 / claims as f64),
    }
}

/// Paired tests between two engines' outcomes on the same manifest (rows matched by line).
pub fn compare(name_a: &str, a: &[RowOutcome], name_b: &str, b: &[RowOutcome]) -> Comparison {
    let mut a_correct = Vec::new();
    let mut b_correct = Vec::new();
    let (mut sa, mut sb, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    for (x, y) in a.iter().zip(b) {
        debug_assert_eq!(x.line, y.line);
        if let (Some(ca), Some(cb)) = (x.correct, y.correct) {
            a_correct.push(ca);
            b_correct.push(cb);
        }
        if let (Some(pa), Some(pb), Some(l)) = (x.p_yes, y.p_yes, reference_is_yes(x)) {
            sa.push(pa);
            sb.push(pb);
            labels.push(l);
        }
    }
    Comparison {
        engine_a: name_a.to_string(),
        engine_b: name_b.to_string(),
        paired_rows: a_correct.len(),
        mcnemar: (!a_correct.is_empty()).then(|| metrics::mcnemar(&a_correct, &b_correct)),
        delong: metrics::delong(&sa, &sb, &labels),
    }
}

/// Writes `rows.csv` (one line per row) for an engine.
pub fn write_rows_csv(path: &Path, outcomes: &[RowOutcome]) -> Result<()> {
    let mut out = String::from(
        "line,file,image,reference,answer,p_yes,band,correct,error,claims,contradicted\n",
    );
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for o in outcomes {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}",
            o.line,
            q(o.file.as_deref().unwrap_or("")),
            q(o.image.as_deref().unwrap_or("")),
            q(&o.reference.join("; ")),
            q(&o.answer.join("; ")),
            o.p_yes.map(|p| format!("{p:.6}")).unwrap_or_default(),
            o.band.map_or("", RiskBand::name),
            o.correct.map(|c| c.to_string()).unwrap_or_default(),
            q(o.error.as_deref().unwrap_or("")),
            o.verifier.map(|v| v.claims.to_string()).unwrap_or_default(),
            o.verifier
                .map(|v| v.contradicted.to_string())
                .unwrap_or_default(),
        );
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", display(path)))
}

#[cfg(test)]
mod tests;
