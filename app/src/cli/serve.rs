//! `ecgr1 serve --model DIR --listen 127.0.0.1:8080 [--api-key-file F]`: the local engine as
//! the department's OpenAI-compatible inference server.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use ecgr1_engine::model::ModelDType;

use crate::remote::http::key_lines;
use crate::serve::{ServeOptions, start};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Checkpoint directory, or ORG/NAME[@REVISION] in the local Hugging Face cache (any
    /// family, float or quantised).
    #[arg(long)]
    pub model: String,
    /// Address to listen on. Give a non-loopback address only behind the department's TLS
    /// proxy: this server speaks plain HTTP.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// File of accepted API keys, one per line (# comments); without it no key is needed.
    #[arg(long)]
    pub api_key_file: Option<PathBuf>,
    /// The model name clients ask for (default: the checkpoint directory's name).
    #[arg(long)]
    pub served_model_name: Option<String>,
    /// Requests that may wait for the model; one more is answered 429.
    #[arg(long, default_value_t = 16)]
    pub queue: usize,
    /// The largest top_logprobs a request may ask for (vLLM's default is 20).
    #[arg(long, default_value_t = 20)]
    pub max_logprobs: usize,
    /// Compute dtype: f32, bf16 or f16 (default f32 on the CPU, bf16 on a GPU).
    #[arg(long)]
    pub dtype: Option<ModelDType>,
    /// Run on the CPU even when a GPU is available.
    #[arg(long)]
    pub cpu: bool,
}

pub fn run(args: &ServeArgs, out: &mut dyn Write) -> Result<()> {
    let api_keys: Vec<String> = match &args.api_key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("API key file {}", path.display()))?;
            let keys: Vec<String> = key_lines(&text).collect();
            if keys.is_empty() {
                bail!(
                    "API key file {}: holds no key (one key per line; lines starting with # are comments)",
                    path.display()
                );
            }
            keys
        }
        None => Vec::new(),
    };
    if args.queue == 0 {
        bail!("--queue must be at least 1");
    }
    let mut options = ServeOptions::new(args.model.clone(), args.listen);
    options.served_name.clone_from(&args.served_model_name);
    options.api_keys = api_keys;
    options.queue = args.queue;
    options.max_logprobs = args.max_logprobs;
    options.dtype = args.dtype;
    options.prefer_gpu = !args.cpu;
    let keyed = !options.api_keys.is_empty();
    let handle = start(&options)?;
    writeln!(
        out,
        "serving {} on {} (OpenAI-compatible: /v1/models, /v1/chat/completions, /health; queue {}; {})",
        handle.model_name,
        handle.url(),
        args.queue,
        if keyed {
            "API key required"
        } else {
            "no API key required"
        }
    )?;
    out.flush()?;
    handle.wait()
}
