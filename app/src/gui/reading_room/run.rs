//! An engine run from the reading room: built and run on a worker thread that streams the
//! model's tokens back, can be cancelled before the next token, checks the trace against the
//! measurements and stores the run (a new case for a file not stored yet) as `analyze --db`
//! does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::time::Instant;

use ecgr1_engine::digitise::Digitised;
use ecgr1_engine::formats::EcgInput;
use ecgr1_engine::model::ModelDType;
use ecgr1_engine::model::generate::GenerationEvent;
use ecgr1_engine::protocol::ProtocolEngine;
use ecgr1_engine::report::{EngineError, EngineIdentity, Report, Request, Task};
use ecgr1_engine::serial::SerialComparison;
use ecgr1_engine::verify::Verification;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::link::StoreLink;
use crate::cli::analyze::{check_report, completed_run};
use crate::cli::input::run_digitisation;
use crate::engines::{EngineArgs, build_cancellable};
use crate::store::{NewAnalysis, NewRun, RunOutcome};

/// Which engine the clinician chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineChoice {
    Protocol,
    Local,
    /// An OpenAI-compatible inference server (`ecgr1 serve`, vLLM, llama.cpp's server).
    Remote,
}

/// Where the local model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    /// A GPU when the build has one compiled in and one is present, else the CPU.
    Auto,
    Cpu,
}

/// The run panel's settings (serialisable, so the window can keep them between starts).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSettings {
    pub engine: EngineChoice,
    pub task: Task,
    /// Checkpoint directory of the local model.
    pub checkpoint: String,
    pub device: DeviceChoice,
    /// `None`: f32 on the CPU, bf16 on a GPU.
    #[serde(with = "dtype_name")]
    pub dtype: Option<ModelDType>,
    pub max_tokens: usize,
    /// The inference server's URL (remote engine).
    pub server: String,
    /// The served model's name; empty takes the server's only model.
    pub remote_model: String,
    /// A file holding the server's API key; empty reads `$ECGR1_API_KEY` (or no key). The key
    /// itself is never kept.
    pub api_key_file: String,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            engine: EngineChoice::Protocol,
            task: Task::Interpret,
            checkpoint: String::new(),
            device: DeviceChoice::Auto,
            dtype: None,
            max_tokens: 2048,
            server: String::new(),
            remote_model: String::new(),
            api_key_file: String::new(),
        }
    }
}

/// A dtype kept by its name ("f32", "bf16", "f16"); an unknown name reads as the default.
mod dtype_name {
    use ecgr1_engine::model::ModelDType;
    use serde::{Deserialize, Deserializer, Serializer};

    // serde's `with` passes the field by reference.
    #[allow(clippy::ref_option, clippy::trivially_copy_pass_by_ref)]
    pub fn serialize<S: Serializer>(dtype: &Option<ModelDType>, s: S) -> Result<S::Ok, S::Error> {
        match dtype {
            Some(d) => s.serialize_some(d.name()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ModelDType>, D::Error> {
        let name: Option<String> = Option::deserialize(d)?;
        Ok(name.and_then(|n| n.parse().ok()))
    }
}

impl RunSettings {
    pub fn engine_args(&self) -> EngineArgs {
        let given = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let remote = self.engine == EngineChoice::Remote;
        EngineArgs {
            engine: match self.engine {
                EngineChoice::Protocol => "protocol".into(),
                EngineChoice::Local => "local".into(),
                EngineChoice::Remote => "remote".into(),
            },
            model: match self.engine {
                EngineChoice::Local => given(&self.checkpoint),
                EngineChoice::Remote => given(&self.remote_model),
                EngineChoice::Protocol => None,
            },
            server: given(&self.server).filter(|_| remote),
            api_key_file: given(&self.api_key_file)
                .filter(|_| remote)
                .map(std::path::PathBuf::from),
            dtype: self.dtype,
            cpu: self.device == DeviceChoice::Cpu,
            max_tokens: self.max_tokens,
            ..EngineArgs::default()
        }
    }
}

/// What a run needs, handed to the worker.
pub struct RunInput {
    pub settings: RunSettings,
    pub notes: String,
    pub input: Arc<EcgInput>,
    /// The original bytes (needed to store a new case); `None` for the synthetic signal.
    pub bytes: Option<Arc<Vec<u8>>>,
    pub link: Option<StoreLink>,
    /// The stored case, if the input is one already.
    pub case_id: Option<i64>,
    /// The comparison with the patient's prior ECG, when the clinician chose to compare.
    pub comparison: Option<Arc<SerialComparison>>,
    /// For an image input: the signal digitised from it (with the reader's corrections), which
    /// the protocol engine, the measurements and the verifier read and the store keeps.
    pub digitised: Option<Arc<Digitised>>,
}

/// How a run ended.
#[derive(Debug)]
pub enum Ended {
    Completed(Box<Report>),
    Cancelled,
    Failed(String),
}

/// Whether and where the run was stored.
#[derive(Clone, Debug, PartialEq)]
pub enum Stored {
    Yes {
        case_id: i64,
        run_id: i64,
    },
    /// Not stored, and why (no store, the synthetic signal, the engine never started).
    No(String),
    Failed(String),
}

/// What a finished run hands back.
#[derive(Debug)]
pub struct RunDone {
    pub ended: Ended,
    pub verification: Option<Verification>,
    pub stored: Stored,
    /// The comparison with the prior ECG the run was given.
    pub comparison: Option<SerialComparison>,
}

enum RunEvent {
    /// The engine is built (weights loaded); its cancel flag, if it writes token by token.
    Ready(Option<Arc<AtomicBool>>),
    Token(String),
    Done(Box<RunDone>),
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Building the engine (a model loads its weights here).
    Loading,
    /// Running: the model writes tokens.
    Running,
}

/// A run in progress, polled by the frame loop.
pub struct ActiveRun {
    rx: Receiver<RunEvent>,
    cancel_requested: Arc<AtomicBool>,
    engine_cancel: Option<Arc<AtomicBool>>,
    pub started: Instant,
    pub ready_at: Option<Instant>,
    pub phase: Phase,
    /// The text streamed so far.
    pub text: String,
    pub tokens: usize,
    pub streaming: bool,
    pub max_tokens: usize,
}

impl ActiveRun {
    /// Starts `input`'s run on a worker thread.
    pub fn start(ctx: &egui::Context, input: RunInput) -> Self {
        let (tx, rx) = channel();
        let cancel_requested = Arc::new(AtomicBool::new(false));
        let streaming = input.settings.engine != EngineChoice::Protocol;
        let max_tokens = input.settings.max_tokens;
        let requested = Arc::clone(&cancel_requested);
        let ctx = ctx.clone();
        std::thread::spawn(move || {
            let done = execute(&input, &tx, &requested, &ctx);
            // The window may have closed: nobody is waiting for the result then.
            let _ = tx.send(RunEvent::Done(Box::new(done)));
            ctx.request_repaint();
        });
        Self {
            rx,
            cancel_requested,
            engine_cancel: None,
            started: Instant::now(),
            ready_at: None,
            phase: Phase::Loading,
            text: String::new(),
            tokens: 0,
            streaming,
            max_tokens,
        }
    }

    /// Asks the run to stop: before the engine starts, or before the model's next token.
    pub fn cancel(&mut self) {
        self.cancel_requested.store(true, Ordering::Relaxed);
        if let Some(flag) = &self.engine_cancel {
            flag.store(true, Ordering::Relaxed);
        }
    }

    pub fn cancel_requested(&self) -> bool {
        self.cancel_requested.load(Ordering::Relaxed)
    }

    /// Tokens per second since the engine was ready.
    pub fn tokens_per_s(&self) -> Option<f64> {
        let since = self.ready_at?.elapsed().as_secs_f64();
        (self.tokens > 0 && since > 0.0).then(|| self.tokens as f64 / since)
    }

    /// Takes what the worker sent; returns the result once the run has ended.
    pub fn poll(&mut self) -> Option<RunDone> {
        loop {
            match self.rx.try_recv() {
                Ok(RunEvent::Ready(flag)) => {
                    self.phase = Phase::Running;
                    self.ready_at = Some(Instant::now());
                    if let Some(f) = &flag
                        && self.cancel_requested()
                    {
                        f.store(true, Ordering::Relaxed);
                    }
                    self.engine_cancel = flag;
                }
                Ok(RunEvent::Token(text)) => {
                    self.tokens += 1;
                    self.text.push_str(&text);
                }
                Ok(RunEvent::Done(done)) => return Some(*done),
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => {
                    return Some(RunDone {
                        ended: Ended::Failed("the run stopped without an answer".into()),
                        verification: None,
                        stored: Stored::No("the run stopped without an answer".into()),
                        comparison: None,
                    });
                }
            }
        }
    }
}

/// Builds the engine, runs it with streaming, checks and stores the result.
fn execute(
    input: &RunInput,
    tx: &Sender<RunEvent>,
    cancel_requested: &AtomicBool,
    ctx: &egui::Context,
) -> RunDone {
    let args = input.settings.engine_args();
    let (gen_tx, gen_rx) = channel::<GenerationEvent>();
    let streaming = input.settings.engine != EngineChoice::Protocol;
    let built = match build_cancellable(&args, streaming.then_some(gen_tx)) {
        Ok(b) => b,
        Err(e) => {
            return RunDone {
                ended: Ended::Failed(format!("{e:#}")),
                verification: None,
                stored: Stored::No("the engine did not start".into()),
                comparison: None,
            };
        }
    };
    if let Some(flag) = &built.cancel
        && cancel_requested.load(Ordering::Relaxed)
    {
        // Cancelled while the weights loaded: stop before the first token.
        flag.store(true, Ordering::Relaxed);
    }
    let _ = tx.send(RunEvent::Ready(built.cancel.clone()));
    ctx.request_repaint();
    let identity = built.engine.identity();
    let mut engine = built.engine;
    let (record, image) = match &*input.input {
        EcgInput::Signal(s) => (Some(&s.record), None),
        EcgInput::Image(i) => (input.digitised.as_ref().map(|d| &d.record), Some(i)),
    };
    let request = Request {
        record,
        image,
        notes: &input.notes,
        task: input.settings.task,
    };
    let result = if cancel_requested.load(Ordering::Relaxed) && built.cancel.is_none() {
        Err(EngineError::Cancelled)
    } else {
        std::thread::scope(|scope| {
            let forward = scope.spawn(|| {
                for event in gen_rx {
                    if let GenerationEvent::Token { text, .. } = event {
                        let _ = tx.send(RunEvent::Token(text));
                        ctx.request_repaint();
                    }
                }
            });
            let result = match (&input.comparison, input.settings.engine) {
                // The protocol engine writes the serial sentences into its own trace.
                (Some(c), EngineChoice::Protocol) => {
                    ProtocolEngine::new().run_with_prior(&request, Some(c.as_ref()))
                }
                _ => engine.run(&request),
            };
            // Dropping the engine drops its stream sender, which ends the forwarding loop.
            drop(engine);
            let _ = forward.join();
            result
        })
    };
    let image_sha256 = image.map(|i| i.provenance.sha256.as_str());
    match result {
        Ok(report) => {
            let comparison = input.comparison.as_deref();
            let (measurements, verification) = check_report(&report, record, comparison);
            let run = completed_run(
                &args,
                &report,
                image_sha256,
                measurements.as_ref(),
                verification.as_ref(),
                comparison,
                input.digitised.as_deref().map(run_digitisation),
            );
            let stored = store(input, &run);
            RunDone {
                ended: Ended::Completed(Box::new(report)),
                verification,
                stored,
                comparison: comparison.cloned(),
            }
        }
        Err(e) => {
            let (ended, outcome_message) = match e {
                EngineError::Cancelled => (Ended::Cancelled, None),
                other => {
                    let m = other.to_string();
                    (Ended::Failed(m.clone()), Some(m))
                }
            };
            let outcome = match &outcome_message {
                Some(m) => RunOutcome::Failed(m),
                None => RunOutcome::Cancelled,
            };
            let run = unfinished_run(&args, &identity, input.settings.task, image_sha256, outcome);
            let stored = store(input, &run);
            RunDone {
                ended,
                verification: None,
                stored,
                comparison: None,
            }
        }
    }
}

/// A cancelled or failed run, kept so the history shows the attempt.
fn unfinished_run<'a>(
    args: &EngineArgs,
    identity: &'a EngineIdentity,
    task: Task,
    image_sha256: Option<&str>,
    outcome: RunOutcome<'a>,
) -> NewRun<'a> {
    NewRun {
        engine: identity,
        task,
        parameters: json!({
            "engine": args.engine,
            "model": args.model,
            "server": args.server,
            "max_tokens": args.max_tokens,
            "dtype": identity.dtype,
            "image_sha256": image_sha256,
            "decoding": "greedy",
        }),
        seed: None,
        started_at: None,
        finished_at: None,
        outcome,
        measurements: None,
        verifier_flags: None,
        comparison: None,
        digitisation: None,
    }
}

/// Stores the run: on its case, or as a new case with the input and the notes.
fn store(input: &RunInput, run: &NewRun<'_>) -> Stored {
    let Some(link) = &input.link else {
        return Stored::No("no case store is open".into());
    };
    if let Some(case_id) = input.case_id {
        return match link.store.record_run(&link.session, case_id, run) {
            Ok(run_id) => Stored::Yes { case_id, run_id },
            Err(e) => Stored::Failed(e.to_string()),
        };
    }
    let Some(bytes) = &input.bytes else {
        return Stored::No(
            "the synthetic demo signal has no original file, so runs on it are not stored".into(),
        );
    };
    match link.store.record_analysis(
        &link.session,
        &NewAnalysis {
            input_bytes: bytes,
            input: &input.input,
            notes: &input.notes,
            run: run.clone(),
        },
    ) {
        Ok(ids) => Stored::Yes {
            case_id: ids.case_id,
            run_id: ids.run_id,
        },
        Err(e) => Stored::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_survive_a_round_trip_and_give_the_engine_arguments() {
        let settings = RunSettings {
            engine: EngineChoice::Local,
            task: Task::Twi,
            checkpoint: " /models/ecg-r1 ".into(),
            device: DeviceChoice::Cpu,
            dtype: Some(ModelDType::Bf16),
            max_tokens: 512,
            ..RunSettings::default()
        };
        let json = serde_json::to_string(&settings).unwrap();
        assert!(json.contains("\"bf16\""), "{json}");
        let back: RunSettings = serde_json::from_str(&json).unwrap();
        assert_eq!(back, settings);
        let args = back.engine_args();
        assert_eq!(args.engine, "local");
        assert_eq!(args.model.as_deref(), Some("/models/ecg-r1"));
        assert!(args.cpu);
        assert_eq!(args.max_tokens, 512);
        // Missing fields take their defaults.
        let partial: RunSettings = serde_json::from_str(r#"{"task":"twi"}"#).unwrap();
        assert_eq!(partial.engine, EngineChoice::Protocol);
        assert_eq!(partial.engine_args().model, None);
        let remote = RunSettings {
            engine: EngineChoice::Remote,
            server: " http://127.0.0.1:8080 ".into(),
            remote_model: "ecg-r1-8b".into(),
            checkpoint: "/models/ignored".into(),
            ..RunSettings::default()
        };
        let args = remote.engine_args();
        assert_eq!(args.engine, "remote");
        assert_eq!(args.server.as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(args.model.as_deref(), Some("ecg-r1-8b"));
        assert_eq!(args.api_key_file, None);
    }
}
