//! Choosing and building an interpretation engine from the user's settings.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;

use anyhow::{Context, Result, bail};
use clap::Args;
use ecgr1_engine::model::generate::GenerationEvent;
use ecgr1_engine::model::{LocalModelEngine, LocalModelOptions, ModelDType};
use ecgr1_engine::protocol::ProtocolEngine;
use ecgr1_engine::report::Engine;

use crate::remote::{RemoteEngine, RemoteOptions};

/// Engine selection shared by `analyze`, `eval` and the GUI.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// protocol (built in, deterministic, the default), local (an ECG-R1 checkpoint on this
    /// machine) or remote (an OpenAI-compatible inference server, --server URL).
    #[arg(long, default_value = "protocol")]
    pub engine: String,
    /// Checkpoint directory, or ORG/NAME[@REVISION] in the local Hugging Face cache (for --engine
    /// local); the served model's name (for --engine remote; default: the server's only model).
    #[arg(long)]
    pub model: Option<String>,
    /// The inference server for --engine remote, e.g. https://gpu-box:8080 (its /v1 API).
    #[arg(long)]
    pub server: Option<String>,
    /// File holding the server's API key (first non-comment line); without it $ECGR1_API_KEY is
    /// read. The key is never taken from the command line and never stored.
    #[arg(long)]
    pub api_key_file: Option<PathBuf>,
    /// Alternatives the remote engine asks for at each token to read P(yes) (OpenAI and vLLM
    /// allow at most 20 unless the server is started with a larger limit).
    #[arg(long, default_value_t = 20)]
    pub top_logprobs: usize,
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
            server: None,
            api_key_file: None,
            top_logprobs: 20,
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
            let Some(server) = &args.server else {
                bail!(
                    "--engine remote needs --server URL (an OpenAI-compatible inference server, e.g. http://gpu-box:8080)"
                );
            };
            let mut options =
                RemoteOptions::new(server.clone()).with_key_from(args.api_key_file.as_deref())?;
            options.model.clone_from(&args.model);
            options.max_tokens = args.max_tokens;
            options.top_logprobs = args.top_logprobs;
            let mut engine = RemoteEngine::connect(options)?;
            engine.set_stream(stream);
            let cancel = engine.cancel_flag();
            Ok(BuiltEngine {
                engine: Box::new(engine),
                cancel: Some(cancel),
            })
        }
        other => bail!("unknown engine '{other}' (available: protocol, local, remote)"),
    }
}
