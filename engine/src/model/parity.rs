//! Parity with Hugging Face transformers, judged on any device: a reference file written by
//! `scripts/make_model_fixtures.py` / `make_qwen3vl_fixtures.py` (the prompt, its token ids,
//! the top-20 next-token log-probabilities, 16 greedy tokens and the yes/no masses after
//! "<answer>", per case) is replayed through a loaded engine and every figure compared.
//!
//! The same checks serve the parity tests (CPU) and `ecgr1 model parity`, which is how the GPU
//! check (`scripts/gpu-check.sh`) proves the CUDA path on a machine without a Rust toolchain.
//!
//! Tolerances:
//! - f32 reference: top-20 log-probabilities within 1e-3, every greedy token equal, yes/no
//!   masses within 1e-3 relative and P(yes) within 1e-4.
//! - bf16 reference (`"dtype": "bfloat16"`): bf16 rounds every activation to 8 significant
//!   bits, in another order than transformers, so the bound is bf16's own error on the case —
//!   how far transformers in bf16 is from transformers in f32 on the same top-20 ids — doubled
//!   and capped at 0.25. Greedy tokens are fed teacher-forced along the reference's and judged
//!   only where its top-2 margin exceeds 0.25 (at a closer step either token is right to bf16
//!   precision); at least 8 of the 16 steps must be judged. P(yes) within 0.02.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::engine::LocalModelEngine;
use super::generate::{log_softmax, top_k_logprobs};
use super::preprocess::ProcessedImage;
use super::{ModelError, PromptInput};
use crate::formats::{EcgInput, LoadOptions, load_path};
use crate::record::ModelSignal;

/// A bf16 step where the reference's top-2 margin is at most this is fed but not judged.
const BF16_CLEAR_MARGIN: f64 = 0.25;
/// Greedy steps a bf16 case must judge.
const BF16_MIN_JUDGED: usize = 8;

/// One reference file: its cases and, for a bf16 reference, its dtype.
#[derive(Debug, Clone, Deserialize)]
pub struct ParityReference {
    /// "bfloat16" for a bf16 reference; absent for f32.
    #[serde(default)]
    pub dtype: Option<String>,
    pub cases: Vec<ReferenceCase>,
}

/// One prompt and what transformers computed for it.
#[derive(Debug, Clone, Deserialize)]
pub struct ReferenceCase {
    pub name: String,
    pub system: Option<String>,
    pub notes: String,
    pub question: String,
    /// Image file, relative to the fixtures folder (the one holding `reference/`).
    pub image: Option<String>,
    /// Signal file, relative to the repository root.
    pub ecg: Option<String>,
    pub prompt_text: String,
    pub input_ids: Vec<u32>,
    /// (token id, log-probability), most likely first.
    pub top_logprobs: Vec<(u32, f64)>,
    pub greedy_tokens: Vec<u32>,
    /// Per greedy step, the reference's top-1 minus top-2 logit (bf16 references).
    #[serde(default)]
    pub greedy_top2_margins: Option<Vec<f64>>,
    pub yes_token_ids: Vec<u32>,
    pub no_token_ids: Vec<u32>,
    pub yes_mass: f64,
    pub no_mass: f64,
    pub p_yes: f64,
}

impl ParityReference {
    /// Reads a reference file; errors name the file.
    pub fn read(path: &Path) -> Result<Self, ModelError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ModelError::file(path, e.to_string()))?;
        serde_json::from_str(&text)
            .map_err(|e| ModelError::file(path, format!("not a parity reference: {e}")))
    }

    pub fn is_bf16(&self) -> bool {
        self.dtype.as_deref() == Some("bfloat16")
    }
}

/// Where a reference's relative paths point: images under the fixtures folder (the parent of
/// `reference/`), signals under the repository root three folders above it (tests/fixtures/model).
#[derive(Debug, Clone)]
pub struct FixtureRoots {
    pub fixtures: PathBuf,
    pub repository: PathBuf,
}

impl FixtureRoots {
    /// The roots for a reference file at `<repository>/tests/fixtures/model/reference/<name>.json`.
    pub fn of_reference(path: &Path) -> Self {
        let fixtures = path
            .parent()
            .and_then(Path::parent)
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let repository = fixtures.join("../../..");
        Self {
            fixtures,
            repository,
        }
    }
}

/// How one case compared.
#[derive(Debug, Clone, Serialize)]
pub struct CaseParity {
    pub name: String,
    pub prompt_tokens: usize,
    /// Largest |ours − reference| over the reference's top-20 log-probabilities.
    pub worst_logprob_difference: f64,
    pub logprob_bound: f64,
    /// Greedy steps compared and how many of them were judged (all of them for f32).
    pub greedy_steps: usize,
    pub greedy_judged: usize,
    pub p_yes: f64,
    pub reference_p_yes: f64,
    pub p_yes_bound: f64,
    /// Every check that failed, in words; empty when the case passed.
    pub failures: Vec<String>,
}

impl CaseParity {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The case's figures on one line (without its name).
    pub fn summary(&self) -> String {
        format!(
            "prompt {} tokens, top-20 log-probs within {:.2e} (bound {:.2e}), {}/{} greedy steps \
             judged, P(yes) {:.5} (reference {:.5})",
            self.prompt_tokens,
            self.worst_logprob_difference,
            self.logprob_bound,
            self.greedy_judged,
            self.greedy_steps,
            self.p_yes,
            self.reference_p_yes
        )
    }
}

/// Every case of one reference on one loaded engine.
#[derive(Debug, Clone, Serialize)]
pub struct ParityReport {
    /// "f32" or "bf16": which tolerances applied.
    pub reference_dtype: String,
    pub cases: Vec<CaseParity>,
}

impl ParityReport {
    pub fn passed(&self) -> bool {
        self.cases.iter().all(CaseParity::passed)
    }
}

/// Replays every case of `reference` through `engine`. A bf16 reference needs the f32 one
/// written beside it (its bound is bf16's own distance from f32). Errors are failures to run
/// (a missing image, a tensor error); differences are reported in the cases.
pub fn check_reference(
    engine: &LocalModelEngine,
    reference: &ParityReference,
    f32_reference: Option<&ParityReference>,
    roots: &FixtureRoots,
) -> Result<ParityReport, ModelError> {
    let bf16 = reference.is_bf16();
    let f32_cases: HashMap<&str, &ReferenceCase> = f32_reference
        .map(|r| r.cases.iter().map(|c| (c.name.as_str(), c)).collect())
        .unwrap_or_default();
    let mut cases = Vec::with_capacity(reference.cases.len());
    for case in &reference.cases {
        let tolerance = if bf16 {
            let Some(f32_case) = f32_cases.get(case.name.as_str()) else {
                return Err(ModelError::Prompt(format!(
                    "case '{}': a bf16 reference is judged against its f32 reference, which has \
                     no such case",
                    case.name
                )));
            };
            Tolerance::bf16(case, f32_case)
        } else {
            Tolerance::F32
        };
        cases.push(check_case(engine, case, roots, &tolerance)?);
    }
    Ok(ParityReport {
        reference_dtype: if bf16 { "bf16" } else { "f32" }.into(),
        cases,
    })
}

enum Tolerance {
    F32,
    Bf16 { logprob: f64 },
}

impl Tolerance {
    fn bf16(case: &ReferenceCase, f32_case: &ReferenceCase) -> Self {
        let f32_top: HashMap<u32, f64> = f32_case.top_logprobs.iter().copied().collect();
        let noise = case
            .top_logprobs
            .iter()
            .filter_map(|(id, lp)| Some((f32_top.get(id)? - lp).abs()))
            .fold(0f64, f64::max);
        Self::Bf16 {
            logprob: (2.0 * noise).min(0.25),
        }
    }

    fn logprob(&self) -> f64 {
        match self {
            Self::F32 => 1e-3,
            Self::Bf16 { logprob } => *logprob,
        }
    }

    fn p_yes(&self) -> f64 {
        match self {
            Self::F32 => 1e-4,
            Self::Bf16 { .. } => 0.02,
        }
    }

    /// Whether greedy step `step` is judged.
    fn judges(&self, case: &ReferenceCase, step: usize) -> bool {
        match self {
            Self::F32 => true,
            Self::Bf16 { .. } => case
                .greedy_top2_margins
                .as_ref()
                .and_then(|m| m.get(step))
                .is_some_and(|&m| m > BF16_CLEAR_MARGIN),
        }
    }
}

fn case_image(
    engine: &LocalModelEngine,
    case: &ReferenceCase,
    roots: &FixtureRoots,
) -> Result<Option<ProcessedImage>, ModelError> {
    let Some(file) = &case.image else {
        return Ok(None);
    };
    let path = roots.fixtures.join(file);
    match load_path(&path, &LoadOptions::default()) {
        Ok(EcgInput::Image(img)) => Ok(Some(engine.preprocess(&img)?)),
        Ok(EcgInput::Signal(_)) => Err(ModelError::file(&path, "the case's image is a signal")),
        Err(e) => Err(ModelError::file(&path, e.to_string())),
    }
}

fn case_signal(
    engine: &LocalModelEngine,
    case: &ReferenceCase,
    roots: &FixtureRoots,
) -> Result<Option<ModelSignal>, ModelError> {
    let Some(file) = &case.ecg else {
        return Ok(None);
    };
    let path = roots.repository.join(file);
    match load_path(&path, &LoadOptions::default()) {
        Ok(EcgInput::Signal(s)) => Ok(Some(engine.model_signal(&s.record)?)),
        Ok(EcgInput::Image(_)) => Err(ModelError::file(&path, "the case's signal is an image")),
        Err(e) => Err(ModelError::file(&path, e.to_string())),
    }
}

fn check_case(
    engine: &LocalModelEngine,
    case: &ReferenceCase,
    roots: &FixtureRoots,
    tolerance: &Tolerance,
) -> Result<CaseParity, ModelError> {
    let mut failures = Vec::new();
    let image = case_image(engine, case, roots)?;
    let signal = case_signal(engine, case, roots)?;
    let input = PromptInput {
        system: case.system.as_deref(),
        notes: &case.notes,
        question: &case.question,
        with_image: image.is_some(),
        ecg_tokens: if signal.is_some() {
            engine.ecg_tokens()
        } else {
            0
        },
    };
    let (rendered, prompt) = engine.prompt_ids(&input, image.as_ref())?;
    if rendered != case.prompt_text {
        failures.push("the rendered prompt differs from the reference's".to_string());
    }
    if prompt != case.input_ids {
        failures.push(format!(
            "prompt token ids differ ({} ours, {} the reference's)",
            prompt.len(),
            case.input_ids.len()
        ));
        // Nothing after this compares like with like.
        return Ok(CaseParity {
            name: case.name.clone(),
            prompt_tokens: prompt.len(),
            worst_logprob_difference: f64::NAN,
            logprob_bound: tolerance.logprob(),
            greedy_steps: 0,
            greedy_judged: 0,
            p_yes: f64::NAN,
            reference_p_yes: case.p_yes,
            p_yes_bound: tolerance.p_yes(),
            failures,
        });
    }

    let images: Vec<ProcessedImage> = image.iter().cloned().collect();
    let (mut session, mut logits) =
        engine
            .model()
            .prefill_with_ecg(&prompt, &images, signal.as_ref())?;
    let lp = log_softmax(&logits);
    let worst = case
        .top_logprobs
        .iter()
        .map(|&(id, want)| lp.get(id as usize).map_or(f64::NAN, |&l| (l - want).abs()))
        // A NaN (a lost id, a NaN logit) is the worst difference, not one `max` skips.
        .map(|d| if d.is_nan() { f64::INFINITY } else { d })
        .fold(0f64, f64::max);
    if worst > tolerance.logprob() {
        failures.push(format!(
            "top-20 log-probabilities differ by up to {worst:.3e} (bound {:.3e})",
            tolerance.logprob()
        ));
    }

    // Teacher-forced along the reference's greedy tokens: a step judged is our top-1 against its.
    let mut judged = 0;
    for (step, &token) in case.greedy_tokens.iter().enumerate() {
        if tolerance.judges(case, step) {
            judged += 1;
            let ours = top_k_logprobs(&logits, 1).first().map(|&(id, _)| id);
            if ours != Some(token) {
                failures.push(format!(
                    "greedy token at step {step}: ours {ours:?}, the reference's {token}"
                ));
                break;
            }
        }
        logits = session.feed(&[token])?;
    }
    if matches!(tolerance, Tolerance::Bf16 { .. }) && judged < BF16_MIN_JUDGED {
        failures.push(format!(
            "only {judged} of {} greedy steps are clear enough to judge (at least \
             {BF16_MIN_JUDGED} needed)",
            case.greedy_tokens.len()
        ));
    }

    let yes_no = engine.yes_no_tokens();
    if yes_no.yes != case.yes_token_ids || yes_no.no != case.no_token_ids {
        failures.push("the yes/no token sets differ from the reference's".to_string());
    }
    let score = engine.score_after_answer_tag(&prompt, image.as_ref(), signal.as_ref())?;
    let p_yes = score.map_or(f64::NAN, |s| s.p_yes);
    if p_yes.is_nan() || (p_yes - case.p_yes).abs() > tolerance.p_yes() {
        failures.push(format!(
            "P(yes) {p_yes:.6} against the reference's {:.6} (bound {:.0e})",
            case.p_yes,
            tolerance.p_yes()
        ));
    }
    if let (Tolerance::F32, Some(s)) = (tolerance, score) {
        let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(1e-12);
        if rel(s.yes_mass, case.yes_mass) >= 1e-3 || rel(s.no_mass, case.no_mass) >= 1e-3 {
            failures.push(format!(
                "yes/no masses {:.6e}/{:.6e} against the reference's {:.6e}/{:.6e}",
                s.yes_mass, s.no_mass, case.yes_mass, case.no_mass
            ));
        }
    }
    Ok(CaseParity {
        name: case.name.clone(),
        prompt_tokens: prompt.len(),
        worst_logprob_difference: worst,
        logprob_bound: tolerance.logprob(),
        greedy_steps: case.greedy_tokens.len(),
        greedy_judged: judged,
        p_yes,
        reference_p_yes: case.p_yes,
        p_yes_bound: tolerance.p_yes(),
        failures,
    })
}
