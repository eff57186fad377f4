//! Choosing and building an interpretation engine from the user's settings.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;

use anyhow::{Context, Result, bail};
use clap::Args;
use ecgr1_engine::model::generate::GenerationEvent;
use ecgr1_engine::model::{LocalModelEngine, LocalModelOptions, ModelDType};
use ecgr1_engine::protocol::ProtocolEngine;
use ecgr1_engine::report::Engine;

/// Engine selection shared by `analyze`, `eval` and the GUI.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// protocol (built in, deterministic, the default) or local (an ECG-R1 checkpoint on this machine).
    #[arg(long, default_value = "protocol")]
    pub engine: String,
    /// Checkpoint directory, or ORG/NAME[@REVISION] in the local Hugging Face cache (for --engine local).
    #[arg(long)]
    pub model: Option<String>,
    /// Compute dtype for the local model: f32, bf16 or f16 (default: bf16 on a GPU; on the CPU bf16
    /// for bf16 weights where the packed bf16 kernels run, else f32).
    #[arg(long)]
    pub dtype: Option<ModelDType>,
    /// Run the local model on the CPU even when a GPU is available.
    #[arg(long)]
    pub cpu: bool,
    /// Most tokens the local model may write (ECG-R1's setting is 2048).
    #[arg(long, default_value_t = 2048)]
    pub max_tokens: usize,
}

impl Default for EngineArgs {
    fn default() -> Self {
        Self {
            engine: "protocol".into(),
            model: None,
            dtype: None,
            cpu: false,
            max_tokens: 2048,
        }
    }
}

/// Builds the engine; `stream` receives the local model's tokens as they are written.
pub fn build(
    args: &EngineArgs,
    stream: Option<Sender<GenerationEvent>>,
) -> Result<Box<dyn Engine>> {
    build_cancellable(args, stream).map(|b| b.engine)
}

/// An engine and, for engines that write token by token, the flag that stops a run before
/// its next token (settable from any thread).
pub struct BuiltEngine {
    pub engine: Box<dyn Engine>,
    pub cancel: Option<Arc<AtomicBool>>,
}

/// Like [`build`], also handing back the engine's cancel flag.
pub fn build_cancellable(
    args: &EngineArgs,
    stream: Option<Sender<GenerationEvent>>,
) -> Result<BuiltEngine> {
    match args.engine.as_str() {
        "protocol" => Ok(BuiltEngine {
            engine: Box::new(ProtocolEngine::new()),
            cancel: None,
        }),
        "local" | "ecg-r1" => {
            let Some(model) = &args.model else {
                bail!(
                    "--engine local needs --model DIR (a Hugging Face checkpoint directory or cached model id)"
                );
            };
            let mut options = LocalModelOptions::new(model.clone());
            options.dtype = args.dtype;
            options.prefer_gpu = !args.cpu;
            options.generation.max_new_tokens = args.max_tokens;
            let mut engine = LocalModelEngine::load(options)
                .with_context(|| format!("loading the model from {model}"))?;
            engine.set_stream(stream);
            let cancel = engine.cancel_flag();
            Ok(BuiltEngine {
                engine: Box::new(engine),
                cancel: Some(cancel),
            })
        }
        "remote" => {
            bail!("the remote engine (an OpenAI-compatible server) is not built into this version")
        }
        other => bail!("unknown engine '{other}' (available: protocol, local)"),
    }
}
