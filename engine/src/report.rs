//! The one report type every engine produces, the risk band, and the `Engine` trait.
//!
//! The GUI, the store and the verifier only ever see a [`Report`], so the built-in protocol
//! engine, a local ECG-R1 checkpoint and (later) a remote server are interchangeable.

use serde::{Deserialize, Serialize};

use crate::formats::EcgImage;
use crate::record::EcgRecord;

/// What the clinician asks the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// A full reading: six-step trace and diagnostic labels.
    Interpret,
    /// T-wave-inversion triage: is the inversion ischemic? yes/no.
    Twi,
}

impl Task {
    pub fn name(self) -> &'static str {
        match self {
            Self::Interpret => "interpret",
            Self::Twi => "twi",
        }
    }
}

impl std::str::FromStr for Task {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "interpret" => Ok(Self::Interpret),
            "twi" => Ok(Self::Twi),
            other => Err(format!(
                "unknown task '{other}' (expected interpret or twi)"
            )),
        }
    }
}

/// Ischemia risk band derived from the model's own P(yes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskBand {
    Low,
    Intermediate,
    High,
}

impl RiskBand {
    /// Lower bound of the high band (inclusive).
    pub const HIGH_FROM: f64 = 0.80;
    /// Lower bound of the intermediate band (inclusive).
    pub const INTERMEDIATE_FROM: f64 = 0.20;

    /// Maps P(yes) to a band: ≥ 0.80 high, 0.20–0.79 intermediate, < 0.20 low.
    /// Returns `None` for a probability that is not a finite number in [0, 1].
    pub fn from_p_yes(p_yes: f64) -> Option<Self> {
        if !(0.0..=1.0).contains(&p_yes) {
            return None;
        }
        Some(if p_yes >= Self::HIGH_FROM {
            Self::High
        } else if p_yes >= Self::INTERMEDIATE_FROM {
            Self::Intermediate
        } else {
            Self::Low
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Intermediate => "intermediate",
            Self::High => "high",
        }
    }

    /// Probabilistic wording, never a diagnosis.
    pub fn wording(self) -> &'static str {
        match self {
            Self::High => "high probability of ischemia",
            Self::Intermediate => "intermediate probability of ischemia",
            Self::Low => "low probability of ischemia",
        }
    }

    /// How the bands are defined, for tooltips and reports.
    pub fn thresholds_explained() -> &'static str {
        "Risk bands come from the model's probability of answering \"yes\": P(yes) ≥ 0.80 is high, \
         0.20 to 0.79 intermediate, below 0.20 low. They express the model's confidence, not a diagnosis."
    }
}

/// The standing notice shown wherever an AI assessment is shown.
pub const ASSIST_NOTICE: &str =
    "Decision support only: this assessment assists and does not diagnose. The physician decides.";

/// P(yes) as read from the model's softmax at the answer position.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnswerScore {
    /// Probability mass of every token that decodes to "yes" (any case, with or without a space).
    pub yes_mass: f64,
    /// Likewise for "no".
    pub no_mass: f64,
    /// yes_mass / (yes_mass + no_mass).
    pub p_yes: f64,
}

impl AnswerScore {
    /// Normalises raw masses; `None` when both are zero or not finite.
    pub fn from_masses(yes_mass: f64, no_mass: f64) -> Option<Self> {
        let total = yes_mass + no_mass;
        if !(total.is_finite() && total > 0.0 && yes_mass >= 0.0 && no_mass >= 0.0) {
            return None;
        }
        Some(Self {
            yes_mass,
            no_mass,
            p_yes: yes_mass / total,
        })
    }
}

/// Who produced a report: enough to reproduce it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineIdentity {
    /// "protocol", "ecg-r1", "remote".
    pub name: String,
    pub version: String,
    /// Model family ("qwen2-vl", "qwen3-vl+ecg-coca"), if a model.
    pub family: Option<String>,
    pub checkpoint: Option<String>,
    /// (file name, SHA-256) of every weight file.
    pub weights_sha256: Vec<(String, String)>,
    pub device: String,
    pub dtype: Option<String>,
}

/// A pointer from a statement to the measurement that supports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Stable measurement id, e.g. "qrs_ms" or "lead.V2.t_amplitude_uv".
    pub measurement: String,
    pub lead: Option<String>,
    pub value: Option<f64>,
    pub unit: Option<String>,
    /// The threshold the value was compared with, in words ("> 120 ms").
    pub threshold: Option<String>,
    /// Sample index in the record the value was measured at, when it is a point.
    pub sample_index: Option<usize>,
}

/// One headed step of the `<think>` trace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceStep {
    pub title: String,
    pub text: String,
    pub evidence: Vec<Evidence>,
}

/// Wall-clock timings of a run, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub load_ms: Option<f64>,
    pub prefill_ms: Option<f64>,
    pub decode_ms: Option<f64>,
    pub total_ms: f64,
    pub generated_tokens: Option<usize>,
}

/// The result of one engine run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub engine: EngineIdentity,
    pub task: Task,
    pub steps: Vec<TraceStep>,
    /// The short narrative after the steps.
    pub summary: String,
    /// Answer labels (for `twi`: a single "yes" or "no").
    pub answer: Vec<String>,
    /// The full text the engine wrote, exactly.
    pub raw_output: String,
    pub score: Option<AnswerScore>,
    pub band: Option<RiskBand>,
    /// Problems found parsing the output (missing tags, truncation, ...). Empty when well formed.
    pub parse_issues: Vec<String>,
    /// What was done to the input on the way in (padding, resampling, derived leads, ...) and
    /// what the engine could not do with it.
    pub input_notes: Vec<String>,
    pub timings: Timings,
}

impl Report {
    /// P(yes) if the engine produced one.
    pub fn p_yes(&self) -> Option<f64> {
        self.score.map(|s| s.p_yes)
    }
}

/// What an engine is asked to do.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub record: Option<&'a EcgRecord>,
    pub image: Option<&'a EcgImage>,
    /// The patient's history as typed by the clinician (may be empty).
    pub notes: &'a str,
    pub task: Task,
}

impl<'a> Request<'a> {
    /// The signal a model is given: the record, unless it was digitised from the request's own
    /// image. That signal is for the measurements, the protocol and the verifier; the model reads
    /// the image itself, and is not given the same ECG twice, once reconstructed.
    pub fn model_signal(&self) -> Option<&'a EcgRecord> {
        self.record
            .filter(|r| !(self.image.is_some() && r.is_digitised()))
    }

    /// The note a model engine adds to its input notes when it leaves the digitised signal out.
    pub fn digitised_signal_note(&self) -> Option<&'static str> {
        (self.record.is_some() && self.model_signal().is_none()).then_some(
            "the signal digitised from the image is used for the measurements and the verifier; \
             the model reads the image",
        )
    }
}

/// Why an engine could not produce a report at all (a malformed output is still a report).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the request has no input: give a signal file, an image, or both")]
    NoInput,
    #[error("{0}")]
    Input(String),
    #[error("model: {0}")]
    Model(String),
    #[error("cancelled")]
    Cancelled,
}

/// Every interpretation engine implements this.
pub trait Engine {
    fn identity(&self) -> EngineIdentity;
    fn run(&mut self, request: &Request<'_>) -> Result<Report, EngineError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_the_published_cut_offs() {
        assert_eq!(RiskBand::from_p_yes(0.80), Some(RiskBand::High));
        assert_eq!(RiskBand::from_p_yes(0.7999), Some(RiskBand::Intermediate));
        assert_eq!(RiskBand::from_p_yes(0.20), Some(RiskBand::Intermediate));
        assert_eq!(RiskBand::from_p_yes(0.1999), Some(RiskBand::Low));
        assert_eq!(RiskBand::from_p_yes(f64::NAN), None);
        assert_eq!(RiskBand::from_p_yes(1.2), None);
        assert!(RiskBand::High.wording().contains("probability"));
    }

    #[test]
    fn score_normalises_masses() {
        let s = AnswerScore::from_masses(0.6, 0.2).unwrap_or_else(|| panic!("valid masses"));
        assert!((s.p_yes - 0.75).abs() < 1e-12);
        assert!(AnswerScore::from_masses(0.0, 0.0).is_none());
    }

    #[test]
    fn task_parses() {
        assert_eq!("twi".parse::<Task>(), Ok(Task::Twi));
        assert!("diagnose".parse::<Task>().is_err());
    }
}
