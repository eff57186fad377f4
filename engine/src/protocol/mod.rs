//! The built-in protocol engine: the five-phase reading protocol ECG-R1 was trained on,
//! applied deterministically to the feature database and written as the same six-step
//! trace. Every sentence carries its evidence (measurement id, lead, value, threshold,
//! sample). The report is produced by writing ECG-R1-format text and parsing it back with
//! [`crate::trace::parse`], so this engine and the model are read the same way.

mod phases;

pub(crate) use phases::{
    STD_UV, STE_LIMB_UV, STE_PRECORDIAL_UV, bundle_branch_block, contiguous, inverted,
    is_precordial,
};

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::features::{self, Measured, Measurements};
use crate::report::{
    Engine, EngineError, EngineIdentity, Evidence, Report, Request, Task, Timings,
};
use crate::serial::{self, SerialComparison};
use crate::trace;

/// Said in every protocol TWI report: there is no model probability to show.
pub const NO_PROBABILITY_NOTE: &str =
    "The protocol engine's answer is rule-based: it has no P(yes), so no risk band is shown.";
/// Said when only an image was given.
pub const IMAGE_ONLY_NOTE: &str = "The protocol engine measures signals; it cannot measure an image that could not be digitised, so it gives no reading rather than a guess. Open the signal file, or use the ecg-r1 model engine for images.";

/// A bundle branch block pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BundleBranchBlock {
    Right,
    Left,
}

impl BundleBranchBlock {
    pub fn name(self) -> &'static str {
        match self {
            Self::Right => "right bundle branch block",
            Self::Left => "left bundle branch block",
        }
    }
}

/// The deterministic engine.
#[derive(Debug, Default)]
pub struct ProtocolEngine;

impl ProtocolEngine {
    pub fn new() -> Self {
        Self
    }
}

/// Clinical context recognised in the free-text notes.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct NoteContext {
    pub chest_pain: bool,
    pub known_lbbb: bool,
    pub known_rbbb: bool,
    pub digoxin: bool,
    pub paced: bool,
    pub pre_excitation: bool,
    pub lvh: bool,
    /// The phrases that were recognised, as typed.
    pub matched: Vec<String>,
}

impl NoteContext {
    pub(crate) fn parse(notes: &str) -> Self {
        let lower = notes.to_lowercase();
        let mut ctx = Self::default();
        let table: [(&str, &[&str]); 7] = [
            (
                "chest_pain",
                &["chest pain", "angina", "troponin", "acs", "chest tightness"],
            ),
            (
                "lbbb",
                &[
                    "lbbb",
                    "left bundle branch block",
                    "left bundle-branch block",
                ],
            ),
            (
                "rbbb",
                &[
                    "rbbb",
                    "right bundle branch block",
                    "right bundle-branch block",
                ],
            ),
            ("digoxin", &["digoxin", "digitalis", "lanoxin"]),
            ("paced", &["pacemaker", "paced", "pacing"]),
            ("pre", &["wpw", "wolff", "pre-excitation", "preexcitation"]),
            (
                "lvh",
                &["lvh", "left ventricular hypertrophy", "hypertrophic"],
            ),
        ];
        for (key, words) in table {
            for w in words {
                let found = if w.len() <= 3 {
                    lower
                        .split(|c: char| !c.is_alphanumeric())
                        .any(|tok| tok == *w)
                } else {
                    lower.contains(w)
                };
                if found {
                    match key {
                        "chest_pain" => ctx.chest_pain = true,
                        "lbbb" => ctx.known_lbbb = true,
                        "rbbb" => ctx.known_rbbb = true,
                        "digoxin" => ctx.digoxin = true,
                        "paced" => ctx.paced = true,
                        "pre" => ctx.pre_excitation = true,
                        _ => ctx.lvh = true,
                    }
                    ctx.matched.push((*w).to_string());
                }
            }
        }
        ctx
    }
}

/// Evidence pointing at a measured value.
pub(crate) fn ev(m: &Measured, threshold: &str) -> Evidence {
    Evidence {
        measurement: m.id.clone(),
        lead: m.source.lead.clone(),
        value: m.value,
        unit: Some(m.unit.clone()),
        threshold: (!threshold.is_empty()).then(|| threshold.to_string()),
        sample_index: m.source.sample_index,
    }
}

/// Evidence for a statement that rests on the clinician's notes.
pub(crate) fn ev_note(phrase: &str) -> Evidence {
    Evidence {
        measurement: "notes".to_string(),
        lead: None,
        value: None,
        unit: None,
        threshold: Some(format!("note mentions \"{phrase}\"")),
        sample_index: None,
    }
}

/// Evidence for a derived finding with no single value (a count, a flag).
pub(crate) fn ev_flag(
    id: &str,
    lead: Option<&str>,
    value: Option<f64>,
    threshold: &str,
) -> Evidence {
    Evidence {
        measurement: id.to_string(),
        lead: lead.map(str::to_string),
        value,
        unit: None,
        threshold: Some(threshold.to_string()),
        sample_index: None,
    }
}

/// One step being written: its sentences and their evidence.
#[derive(Default)]
pub(crate) struct StepWriter {
    pub text: String,
    pub evidence: Vec<Evidence>,
}

impl StepWriter {
    /// Adds one sentence with the evidence it rests on.
    pub(crate) fn say(
        &mut self,
        sentence: impl AsRef<str>,
        evidence: impl IntoIterator<Item = Evidence>,
    ) {
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        self.text.push_str(sentence.as_ref().trim());
        self.evidence.extend(evidence);
    }
}

/// What the phases produce before it is written out.
pub(crate) struct Reading {
    pub steps: Vec<StepWriter>,
    pub summary: String,
    pub answer: Vec<String>,
    pub notes_used: Vec<String>,
}

fn identity() -> EngineIdentity {
    EngineIdentity {
        name: "protocol".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        family: None,
        checkpoint: None,
        weights_sha256: Vec::new(),
        device: "cpu".to_string(),
        dtype: None,
    }
}

/// Builds the report from a reading: writes the ECG-R1 text, parses it back, attaches the
/// evidence step by step.
fn report_from(
    reading: Reading,
    task: Task,
    mut input_notes: Vec<String>,
    started: Instant,
) -> Report {
    let titled: Vec<(String, String)> = trace::STEP_TITLES
        .iter()
        .zip(&reading.steps)
        .map(|(t, s)| ((*t).to_string(), s.text.clone()))
        .collect();
    let raw = trace::write(&titled, &reading.summary, &reading.answer);
    let parsed = trace::parse(&raw);
    let mut issues = parsed.issues;
    let mut steps = parsed.steps;
    if steps.len() == reading.steps.len() {
        for (s, w) in steps.iter_mut().zip(reading.steps) {
            s.evidence = w.evidence;
        }
    } else {
        issues.push(format!(
            "wrote {} steps but parsed {}: evidence not attached",
            reading.steps.len(),
            steps.len()
        ));
    }
    input_notes.extend(reading.notes_used);
    if task == Task::Twi {
        input_notes.push(NO_PROBABILITY_NOTE.to_string());
    }
    Report {
        engine: identity(),
        task,
        steps,
        summary: parsed.summary,
        answer: parsed.answer,
        raw_output: raw,
        score: None,
        band: None,
        parse_issues: issues,
        input_notes,
        timings: Timings {
            total_ms: started.elapsed().as_secs_f64() * 1000.0,
            ..Timings::default()
        },
    }
}

/// Reads already-measured features (the CLI and GUI measure once and reuse).
pub fn read_measurements(
    m: &Measurements,
    notes: &str,
    task: Task,
    input_notes: Vec<String>,
) -> Report {
    read_measurements_with_prior(m, notes, task, input_notes, None)
}

/// Like [`read_measurements`]; when the ECG was compared with the patient's prior one, the
/// final step says what changed (one sentence per change, see [`crate::serial`]) and the
/// summary repeats it.
pub fn read_measurements_with_prior(
    m: &Measurements,
    notes: &str,
    task: Task,
    input_notes: Vec<String>,
    prior: Option<&SerialComparison>,
) -> Report {
    let started = Instant::now();
    let ctx = NoteContext::parse(notes);
    let mut reading = match task {
        Task::Interpret => phases::interpret(m, &ctx),
        Task::Twi => phases::twi(m, &ctx),
    };
    if let Some(comparison) = prior {
        if let Some(last) = reading.steps.last_mut() {
            for (sentence, evidence) in serial::sentences(comparison) {
                last.say(sentence, [evidence]);
            }
        }
        reading.summary = format!("{} {}", reading.summary, comparison.statement());
    }
    report_from(reading, task, input_notes, started)
}

impl Engine for ProtocolEngine {
    fn identity(&self) -> EngineIdentity {
        identity()
    }

    fn run(&mut self, request: &Request<'_>) -> Result<Report, EngineError> {
        self.run_with_prior(request, None)
    }
}

impl ProtocolEngine {
    /// A reading that, when the ECG was compared with the patient's prior one, says in its
    /// final step what changed (see [`read_measurements_with_prior`]).
    pub fn run_with_prior(
        &self,
        request: &Request<'_>,
        prior: Option<&SerialComparison>,
    ) -> Result<Report, EngineError> {
        let started = Instant::now();
        let Some(record) = request.record else {
            if request.image.is_some() {
                let raw = IMAGE_ONLY_NOTE.to_string();
                return Ok(Report {
                    engine: identity(),
                    task: request.task,
                    steps: Vec::new(),
                    summary: raw.clone(),
                    answer: Vec::new(),
                    raw_output: raw.clone(),
                    score: None,
                    band: None,
                    parse_issues: Vec::new(),
                    input_notes: vec![raw],
                    timings: Timings {
                        total_ms: started.elapsed().as_secs_f64() * 1000.0,
                        ..Timings::default()
                    },
                });
            }
            return Err(EngineError::NoInput);
        };
        let m = features::measure(record).map_err(|e| EngineError::Input(e.to_string()))?;
        let mut input_notes = record.processing_notes.clone();
        // A record digitised from the image says so in its own processing notes.
        if request.image.is_some() && !record.is_digitised() {
            input_notes.push(
                "an image was also given; the protocol engine reads only the signal".to_string(),
            );
        }
        let mut report =
            read_measurements_with_prior(&m, request.notes, request.task, input_notes, prior);
        report.timings.total_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(report)
    }
}

#[cfg(test)]
mod tests;
