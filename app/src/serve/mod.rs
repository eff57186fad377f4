//! `ecgr1 serve`: the local engine (any family, float or quantised, CPU or GPU) as the
//! department's OpenAI-compatible inference server — `/v1/models`, `/v1/chat/completions`
//! (streaming, logprobs and top_logprobs, image parts, the workstation's `ecg` part, vLLM's
//! `continue_final_message`) and `/health` — on axum. Requests wait in a bounded queue (429
//! when it is full) and the model worker serves them one at a time ([`worker`]).

pub mod handlers;
pub mod request;
pub mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::mpsc::sync_channel;

use anyhow::{Context, Result};
use axum::Router;
use axum::routing::{get, post};
use ecgr1_engine::model::{LocalModelEngine, LocalModelOptions, ModelDType};
use ecgr1_engine::report::Engine;

use crate::openai::wire::{ModelCard, ServerModelInfo};
use handlers::AppState;
use request::Limits;

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Checkpoint directory or cached model id.
    pub model: String,
    pub listen: SocketAddr,
    /// The name clients ask for (default: the checkpoint directory's name).
    pub served_name: Option<String>,
    /// Accepted bearer keys; empty: no key needed.
    pub api_keys: Vec<String>,
    /// Requests that may wait for the model; one more is answered 429.
    pub queue: usize,
    /// The largest `top_logprobs` answered (vLLM's default is 20).
    pub max_logprobs: usize,
    pub dtype: Option<ModelDType>,
    pub prefer_gpu: bool,
}

impl ServeOptions {
    pub fn new(model: impl Into<String>, listen: SocketAddr) -> Self {
        Self {
            model: model.into(),
            listen,
            served_name: None,
            api_keys: Vec::new(),
            queue: 16,
            max_logprobs: 20,
            dtype: None,
            prefer_gpu: true,
        }
    }
}

/// A running server. Dropping it stops accepting connections.
pub struct ServerHandle {
    pub addr: SocketAddr,
    pub model_name: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .field("model_name", &self.model_name)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The base URL clients use.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves until the process is stopped (or the server fails).
    pub fn wait(mut self) -> Result<()> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| anyhow::anyhow!("the server thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
    }
}

/// The Hugging Face snapshot revision of a checkpoint directory (`…/snapshots/REV`).
fn snapshot_revision(dir: &std::path::Path) -> Option<String> {
    let parent = dir.parent()?;
    (parent.file_name()? == "snapshots").then(|| dir.file_name()?.to_str().map(str::to_string))?
}

/// Loads the model, binds the address and starts serving on background threads.
pub fn start(options: &ServeOptions) -> Result<ServerHandle> {
    let mut local = LocalModelOptions::new(options.model.clone());
    local.dtype = options.dtype;
    local.prefer_gpu = options.prefer_gpu;
    let engine = LocalModelEngine::load(local)
        .with_context(|| format!("loading the model from {}", options.model))?;
    let identity = engine.identity();
    let checkpoint = engine.checkpoint();
    let name = options.served_name.clone().unwrap_or_else(|| {
        checkpoint
            .dir
            .file_name()
            .map_or_else(|| "ecg-r1".into(), |n| n.to_string_lossy().into_owned())
    });
    let accepts_ecg = engine.model_reads_signal();
    let info = ServerModelInfo {
        server_version: env!("CARGO_PKG_VERSION").into(),
        family: checkpoint.family.name().into(),
        revision: snapshot_revision(&checkpoint.dir),
        weights_sha256: identity.weights_sha256.clone(),
        dtype: identity.dtype.clone().unwrap_or_default(),
        device: identity.device.clone(),
        accepts_ecg,
        ecg_tokens: engine.ecg_tokens(),
        max_logprobs: options.max_logprobs,
    };
    let card = ModelCard {
        id: name.clone(),
        object: "model".into(),
        created: 0,
        owned_by: "ecgr1".into(),
        root: Some(checkpoint.dir.display().to_string()),
        ecgr1: Some(info),
    };
    let weights_prefix: String = identity
        .weights_sha256
        .first()
        .map(|(_, h)| h.chars().take(12).collect())
        .unwrap_or_default();
    let (queue_tx, queue_rx) = sync_channel(options.queue);
    let waiting = Arc::new(AtomicUsize::new(0));
    let state = Arc::new(AppState {
        limits: Limits {
            model_name: name.clone(),
            accepts_ecg,
            family: checkpoint.family.name().into(),
            max_logprobs: options.max_logprobs,
        },
        card,
        api_keys: options.api_keys.clone(),
        queue: queue_tx,
        waiting: Arc::clone(&waiting),
        capacity: options.queue,
        fingerprint: format!("ecgr1-{}-{weights_prefix}", env!("CARGO_PKG_VERSION")),
        next_id: AtomicU64::new(1),
    });
    std::thread::Builder::new()
        .name("ecgr1-serve-model".into())
        .spawn(move || worker::serve_queue(engine, &queue_rx, &waiting))
        .context("starting the model worker")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the HTTP runtime")?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(options.listen))
        .with_context(|| format!("listening on {}", options.listen))?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/health", get(handlers::health))
        .route("/v1/models", get(handlers::models))
        .route("/v1/chat/completions", post(handlers::chat))
        .with_state(state);
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("ecgr1-serve-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = shutdown_rx.await;
                    })
                    .await
                    .context("serving HTTP")
            })
        })
        .context("starting the HTTP server")?;
    Ok(ServerHandle {
        addr,
        model_name: name,
        shutdown: Some(shutdown_tx),
        thread: Some(thread),
    })
}
