//! [`LocalModelEngine`]: a Qwen2-VL, Qwen3-VL or ECG-R1 checkpoint behind the [`Engine`] trait.
//! It renders the prompt with the checkpoint's template, streams the generated tokens, parses the
//! output and reads P(yes) from the softmax at the answer position. ECG-R1 reads the signal
//! through its ECG tower (500 Hz, 12 leads in training order, 10 s); the image-only families
//! get a signal drawn on ECG paper instead.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;
use std::time::Instant;

use super::answer::{YesNoTokens, answer_labels, parse_output, trace_steps};
use super::checkpoint::{Checkpoint, ModelFamily};
use super::decoder::Session;
use super::generate::{
    GenerationEvent, GenerationParams, StopReason, TextStreamer, TokenStepper, generate,
};
use super::network::Network;
use super::preprocess::{ImageProcessorConfig, ProcessedImage, preprocess_rgb8};
use super::prompt::{ChatPrompt, IM_END, PromptInput};
use super::{ModelDType, ModelError, select_device};
use crate::formats::EcgImage;
use crate::record::ModelSignal;
use crate::report::{
    AnswerScore, Engine, EngineError, EngineIdentity, Report, Request, RiskBand, Task, Timings,
};

/// ECG-R1's system prompt.
pub const SYSTEM_PROMPT: &str = "You are a helpful, harmless clinical ECG assistant. Provide concise, evidence-based interpretations.";
/// The T-wave-inversion question (yes/no).
pub const TWI_QUESTION: &str = "Is the T-wave inversion on this ECG caused by myocardial ischemia? \
Think step by step inside <think></think>, then answer yes or no inside <answer></answer>.";
/// The interpretation question.
pub const INTERPRET_QUESTION: &str = "Interpret this 12-lead ECG. Reason step by step inside \
<think></think>, then give the diagnostic labels separated by ';' inside <answer></answer>.";
/// The tag the answer follows; P(yes) is read at the token after it.
pub const ANSWER_TAG: &str = "<answer>";

/// The question a task asks the model.
pub fn question_for(task: Task) -> &'static str {
    match task {
        Task::Twi => TWI_QUESTION,
        Task::Interpret => INTERPRET_QUESTION,
    }
}

/// How to load and run a checkpoint.
#[derive(Clone, Debug)]
pub struct LocalModelOptions {
    /// Checkpoint directory or model id in the local Hugging Face cache.
    pub model: String,
    /// `None`: f32 on the CPU, bf16 on a GPU.
    pub dtype: Option<ModelDType>,
    /// Use a GPU when the build has one compiled in and one is present.
    pub prefer_gpu: bool,
    pub generation: GenerationParams,
    pub system_prompt: String,
}

impl LocalModelOptions {
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            dtype: None,
            prefer_gpu: true,
            generation: GenerationParams::default(),
            system_prompt: SYSTEM_PROMPT.to_string(),
        }
    }
}

/// A loaded local model.
pub struct LocalModelEngine {
    checkpoint: Checkpoint,
    model: Network,
    chat: ChatPrompt,
    image_config: ImageProcessorConfig,
    yes_no: YesNoTokens,
    identity: EngineIdentity,
    options: LocalModelOptions,
    stream: Option<Sender<GenerationEvent>>,
    cancel: Arc<AtomicBool>,
    load_ms: f64,
}

impl std::fmt::Debug for LocalModelEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModelEngine")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// Records the yes/no score of every logits vector the model returns, so the score at the
/// answer position is known after generation without keeping whole distributions.
struct ScoringStepper<'a, 'm> {
    session: &'a mut Session<'m>,
    yes_no: &'a YesNoTokens,
    scores: Vec<Option<AnswerScore>>,
}

impl TokenStepper for ScoringStepper<'_, '_> {
    fn feed(&mut self, ids: &[u32]) -> Result<Vec<f32>, ModelError> {
        let logits = self.session.feed(ids)?;
        self.scores.push(self.yes_no.score(&logits));
        Ok(logits)
    }
}

impl LocalModelEngine {
    /// Opens the checkpoint, loads tokenizer, template, image processor and weights, and hashes
    /// the weight files (cached beside them).
    pub fn load(options: LocalModelOptions) -> Result<Self, ModelError> {
        let started = Instant::now();
        let checkpoint = Checkpoint::open(&options.model)?;
        let (device, device_name) = select_device(options.prefer_gpu);
        let dtype = options
            .dtype
            .unwrap_or_else(|| ModelDType::default_for(&device, checkpoint.weights_dtype));
        let chat = ChatPrompt::load(&checkpoint.dir, &checkpoint.config)?;
        let defaults = match checkpoint.family {
            ModelFamily::Qwen2Vl => ImageProcessorConfig::default(),
            ModelFamily::Qwen3Vl | ModelFamily::EcgR1 => ImageProcessorConfig::qwen3vl(),
        };
        let image_config =
            ImageProcessorConfig::from_dir_with_defaults(&checkpoint.dir, &defaults)?;
        if device.is_cpu() {
            // `checkpoint.parameters` counts the GGUF tensors too (see Checkpoint::open).
            let parameters = match &checkpoint.quantization {
                Some(q) => q.memory_parameters(
                    checkpoint.parameters,
                    dtype.candle().size_in_bytes() as u64,
                ),
                None => checkpoint.parameters,
            };
            super::check_memory(parameters, dtype, super::available_memory_bytes())?;
        }
        let model = Network::load(&checkpoint, &device, dtype)?;
        let vocab = checkpoint.config.text().vocab_size.min(chat.vocab_size());
        let tok = chat.tokenizer();
        let yes_no = YesNoTokens::scan(vocab, &|id| tok.decode(&[id], false).ok());
        let weights_sha256 = checkpoint.weight_hashes()?;
        let identity = EngineIdentity {
            name: "ecg-r1".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            family: Some(checkpoint.family.name().into()),
            checkpoint: Some(checkpoint.dir.display().to_string()),
            weights_sha256,
            device: device_name,
            dtype: Some(match &checkpoint.quantization {
                Some(q) => q.describe_dtype(dtype.name()),
                None => dtype.name().into(),
            }),
        };
        let mut options = options;
        let mut stops = checkpoint.eos_token_ids.clone();
        stops.extend(chat.token_id(IM_END));
        stops.extend(options.generation.stop_token_ids.iter().copied());
        stops.sort_unstable();
        stops.dedup();
        options.generation.stop_token_ids = stops;
        Ok(Self {
            checkpoint,
            model,
            chat,
            image_config,
            yes_no,
            identity,
            options,
            stream: None,
            cancel: Arc::new(AtomicBool::new(false)),
            load_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    pub fn model(&self) -> &Network {
        &self.model
    }

    pub fn chat(&self) -> &ChatPrompt {
        &self.chat
    }

    pub fn image_config(&self) -> &ImageProcessorConfig {
        &self.image_config
    }

    pub fn yes_no_tokens(&self) -> &YesNoTokens {
        &self.yes_no
    }

    pub fn generation_params_mut(&mut self) -> &mut GenerationParams {
        &mut self.options.generation
    }

    /// Tokens and the end are sent here as they are produced.
    pub fn set_stream(&mut self, sender: Option<Sender<GenerationEvent>>) {
        self.stream = sender;
    }

    /// Set it (from any thread) to stop the current run before its next token.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    /// Preprocesses an ECG image file's pixels.
    pub fn preprocess(&self, image: &EcgImage) -> Result<ProcessedImage, ModelError> {
        let rgb = image
            .decode_rgb()
            .map_err(|e| ModelError::Image(e.to_string()))?;
        let (w, h) = rgb.dimensions();
        preprocess_rgb8(rgb.as_raw(), w as usize, h as usize, &self.image_config)
    }

    /// Renders and tokenises a prompt; returns the rendered text and the ids.
    pub fn prompt_ids(
        &self,
        input: &PromptInput<'_>,
        image: Option<&ProcessedImage>,
    ) -> Result<(String, Vec<u32>), ModelError> {
        let rendered = self.chat.render(input)?;
        let counts: Vec<usize> = image
            .map(|i| i.token_count(self.image_config.merge_size))
            .into_iter()
            .collect();
        let ids = self.chat.encode(&rendered, &counts)?;
        Ok((rendered, ids))
    }

    /// The model input built from a record when this checkpoint reads signals (ECG-R1): 500 Hz,
    /// the training lead order, 5000 samples; its notes say what was resampled, derived, padded
    /// or cut.
    pub fn model_signal(
        &self,
        record: &crate::record::EcgRecord,
    ) -> Result<ModelSignal, ModelError> {
        let Some(tower) = self.model.ecg_tower() else {
            return Err(ModelError::Signal(
                "this checkpoint has no ECG tower; it reads images only".into(),
            ));
        };
        let signal =
            ModelSignal::from_record(record).map_err(|e| ModelError::Signal(e.to_string()))?;
        if signal.leads != tower.leads || signal.samples != tower.samples() {
            return Err(ModelError::Signal(format!(
                "the ECG tower takes {} leads × {} samples, the signal has {} × {}",
                tower.leads,
                tower.samples(),
                signal.leads,
                signal.samples
            )));
        }
        Ok(signal)
    }

    /// Tokens one signal becomes in the prompt (0 when the checkpoint has no ECG tower).
    pub fn ecg_tokens(&self) -> usize {
        self.model.ecg_tower().map_or(0, |t| t.tokens)
    }

    /// Next-token logits after a prompt (for `ecgr1 model score`).
    pub fn next_token_logits(
        &self,
        ids: &[u32],
        image: Option<&ProcessedImage>,
        ecg: Option<&ModelSignal>,
    ) -> Result<Vec<f32>, ModelError> {
        let images: Vec<ProcessedImage> = image.cloned().into_iter().collect();
        Ok(self.model.prefill_with_ecg(ids, &images, ecg)?.1)
    }

    /// P(yes) right after `ids` + "<answer>" (the score used when the model wrote no answer).
    pub fn score_after_answer_tag(
        &self,
        ids: &[u32],
        image: Option<&ProcessedImage>,
        ecg: Option<&ModelSignal>,
    ) -> Result<Option<AnswerScore>, ModelError> {
        let images: Vec<ProcessedImage> = image.cloned().into_iter().collect();
        let (mut session, _) = self.model.prefill_with_ecg(ids, &images, ecg)?;
        let tag = self.chat.encode_text(ANSWER_TAG)?;
        let logits = session.feed(&tag)?;
        Ok(self.yes_no.score(&logits))
    }

    fn run_model(&self, request: &Request<'_>) -> Result<Report, ModelError> {
        let started = Instant::now();
        let reads_signal = self.model_reads_signal();
        let mut input_notes: Vec<String> = request
            .digitised_signal_note()
            .map(String::from)
            .into_iter()
            .collect();
        let signal = match request.model_signal() {
            Some(record) if reads_signal => {
                let s = self.model_signal(record)?;
                input_notes.push(format!(
                    "signal given to the ECG tower: {} leads (I, II, III, aVR, aVF, aVL, V1–V6) × {} samples at 500 Hz, mV ({} ECG tokens)",
                    s.leads,
                    s.samples,
                    self.ecg_tokens()
                ));
                input_notes.extend(s.notes.iter().map(|n| format!("signal: {n}")));
                Some(s)
            }
            Some(_) => {
                input_notes.push(format!(
                    "the signal itself is not read by this model ({} reads the image only)",
                    self.checkpoint.family.display_name()
                ));
                None
            }
            None => None,
        };
        let processed = request.image.map(|i| self.preprocess(i)).transpose()?;
        if signal.is_none() && processed.is_none() {
            return Err(ModelError::Prompt("no image and no signal".into()));
        }
        if let (Some(image), Some(p)) = (request.image, &processed) {
            input_notes.push(format!(
                "image {}×{} resized to {}×{} ({} visual tokens)",
                image.width,
                image.height,
                p.resized_width,
                p.resized_height,
                p.token_count(self.image_config.merge_size)
            ));
        }
        let question = question_for(request.task);
        let input = PromptInput {
            system: Some(&self.options.system_prompt),
            notes: request.notes,
            question,
            with_image: processed.is_some(),
            ecg_tokens: if signal.is_some() {
                self.ecg_tokens()
            } else {
                0
            },
        };
        let (_, ids) = self.prompt_ids(&input, processed.as_ref())?;
        let images: Vec<ProcessedImage> = processed.into_iter().collect();
        let prefill_start = Instant::now();
        let (mut session, first_logits) =
            self.model
                .prefill_with_ecg(&ids, &images, signal.as_ref())?;
        let prefill_ms = prefill_start.elapsed().as_secs_f64() * 1000.0;
        let first_score = self.yes_no.score(&first_logits);
        let decode_start = Instant::now();
        let decode = |t: &[u32]| self.chat.decode(t);
        let mut streamer = TextStreamer::new(&decode, self.stream.as_ref());
        let mut stepper = ScoringStepper {
            session: &mut session,
            yes_no: &self.yes_no,
            scores: Vec::new(),
        };
        let out = generate(
            &mut stepper,
            first_logits,
            &ids,
            &self.options.generation,
            Some(&self.cancel),
            &mut |t| streamer.push(t),
        )?;
        streamer.finish(out.reason);
        let scores = std::mem::take(&mut stepper.scores);
        let decode_ms = decode_start.elapsed().as_secs_f64() * 1000.0;
        let text = self.chat.decode(&out.tokens)?;
        let truncated = out.reason == StopReason::MaxTokens;
        let parsed = parse_output(&text, truncated);

        // The answer position: the first token index whose prefix contains "<answer>"
        // (monotonic in the prefix length, so a binary search finds it).
        let mut notes_on_score = Vec::new();
        let answer_index = if text.contains(ANSWER_TAG) {
            let (mut lo, mut hi) = (0usize, out.tokens.len());
            while lo < hi {
                let mid = usize::midpoint(lo, hi);
                if self.chat.decode(&out.tokens[..mid])?.contains(ANSWER_TAG) {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            Some(lo)
        } else {
            None
        };
        let score = match answer_index {
            Some(0) => first_score,
            Some(k) if k <= scores.len() => scores[k - 1],
            Some(_) => {
                // The tag ends the output and its last token was never fed.
                let last = out.tokens.last().copied().into_iter().collect::<Vec<_>>();
                self.yes_no.score(&session.feed(&last)?)
            }
            None => {
                notes_on_score.push(
                    "the model wrote no <answer>; P(yes) was read after appending <answer>"
                        .to_string(),
                );
                let mut feed: Vec<u32> = Vec::new();
                if out.last_token_pending
                    && let Some(&t) = out.tokens.last()
                {
                    feed.push(t);
                }
                feed.extend(self.chat.encode_text(ANSWER_TAG)?);
                self.yes_no.score(&session.feed(&feed)?)
            }
        };
        let mut parse_issues = parsed.issues.clone();
        parse_issues.extend(notes_on_score);
        let (score, band) = match request.task {
            Task::Twi => (score, score.and_then(|s| RiskBand::from_p_yes(s.p_yes))),
            Task::Interpret => (None, None),
        };
        if request.task == Task::Twi && score.is_none() {
            parse_issues.push("no probability mass on yes/no tokens at the answer position".into());
        }
        let answer = answer_labels(parsed.answer.as_deref(), request.task);
        let steps = trace_steps(&text, parsed.think.as_deref());
        Ok(Report {
            engine: self.identity.clone(),
            task: request.task,
            steps,
            summary: parsed.summary,
            answer,
            raw_output: text,
            score,
            band,
            parse_issues,
            input_notes,
            timings: Timings {
                load_ms: Some(self.load_ms),
                prefill_ms: Some(prefill_ms),
                decode_ms: Some(decode_ms),
                total_ms: started.elapsed().as_secs_f64() * 1000.0,
                generated_tokens: Some(out.tokens.len()),
            },
        })
    }
}

impl LocalModelEngine {
    /// Whether the loaded network reads signals itself (an ECG-R1 checkpoint with its tower).
    pub fn model_reads_signal(&self) -> bool {
        self.model.ecg_tower().is_some()
    }
}

impl Engine for LocalModelEngine {
    fn identity(&self) -> EngineIdentity {
        self.identity.clone()
    }

    fn run(&mut self, request: &Request<'_>) -> Result<Report, EngineError> {
        // An image-only model gets a signal without an image drawn on ECG paper first, the way a
        // cart prints it (3×4 + rhythm strip, 25 mm/s, 10 mm/mV), and the report says so; ECG-R1
        // reads the signal itself through its tower.
        let rendered;
        let mut request = *request;
        let mut rendered_note = None;
        if request.image.is_none() && request.record.is_none() {
            return Err(EngineError::NoInput);
        }
        if request.image.is_none() && !self.model_reads_signal() {
            let Some(record) = request.record else {
                return Err(EngineError::NoInput);
            };
            rendered = render_for_model(record)?;
            rendered_note = Some(format!(
                "the signal was rendered to ECG paper ({}×{} px, 3×4 + rhythm II, 25 mm/s, 10 mm/mV, {RENDER_DPI} dpi) for the model",
                rendered.width, rendered.height
            ));
            request.image = Some(&rendered);
        }
        let request = &request;
        let result = self.run_model(request).map(|mut report| {
            if let Some(note) = rendered_note {
                report.input_notes.insert(0, note);
            }
            report
        });
        // A cancel request applies to the run in progress (or about to start); clear it after.
        self.cancel
            .store(false, std::sync::atomic::Ordering::Relaxed);
        result.map_err(|e| match e {
            ModelError::Cancelled => EngineError::Cancelled,
            ModelError::Image(m) | ModelError::Signal(m) => EngineError::Input(m),
            other => EngineError::Model(other.to_string()),
        })
    }
}

/// Resolution of the page drawn for the model when only a signal is given: 100 dpi gives a
/// 1063×531 px page, inside ECG-R1's pixel budget (at most 768 visual tokens).
const RENDER_DPI: f64 = 100.0;

fn render_for_model(record: &crate::record::EcgRecord) -> Result<EcgImage, EngineError> {
    let options = crate::render::RenderOptions {
        dpi: RENDER_DPI,
        ..crate::render::RenderOptions::default()
    };
    let page = crate::render::render(record, &options)
        .map_err(|e| EngineError::Input(format!("cannot draw the signal for the model: {e}")))?;
    let png = page
        .to_png()
        .map_err(|e| EngineError::Input(format!("cannot encode the drawn signal: {e}")))?;
    let name = format!("{} (rendered)", record.provenance.file_name);
    crate::formats::image::read(&png, &name).map_err(|e| EngineError::Input(e.to_string()))
}
