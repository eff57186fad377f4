//! `ecgr1 model score|info|bench|quantize`: check a local checkpoint against the reference
//! implementation, describe it, time it, and write a quantised copy.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use ecgr1_engine::formats::{EcgInput, LoadOptions, load_path};
use ecgr1_engine::model::checkpoint::file_hashes;
use ecgr1_engine::model::generate::top_k_logprobs;
use ecgr1_engine::model::quant::QuantizedWeights;
use ecgr1_engine::model::weights::SafetensorsFiles;
use ecgr1_engine::model::{
    Checkpoint, LocalModelEngine, LocalModelOptions, ModelDType, PromptInput,
};
use ecgr1_engine::report::Engine;
use serde_json::json;

#[derive(Debug, Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    pub command: ModelCommand,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Next-token log-probabilities after the chat-templated prompt (assistant turn opened), to
    /// compare with Hugging Face transformers on any checkpoint.
    Score(ScoreArgs),
    /// Family, parameter count, dtype, files and their SHA-256 (cached beside the weights).
    Info(InfoArgs),
    /// Load time, prefill time, decode tokens/s and peak memory on one ECG image; with
    /// --python, the same figures for transformers on the same checkpoint and input, as ratios.
    Bench(BenchArgs),
    /// Write a copy whose language-model matrices are GGUF-quantised (q8_0 or q4k); vision and
    /// ECG towers, norms and biases stay float. The copy loads like any checkpoint.
    Quantize(super::model_quantize::QuantizeArgs),
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Checkpoint directory, or ORG/NAME[@REVISION] in the local Hugging Face cache.
    #[arg(long)]
    pub model: String,
    /// The ECG image to prefill with (PNG or JPEG); without it the prompt is text only (the
    /// notes and the question), which keeps a CPU comparison of float and quantised weights
    /// short.
    #[arg(long)]
    pub image: Option<PathBuf>,
    #[arg(
        long,
        default_value = "Male, 64 years. Chest pain for 2 hours. History of hypertension."
    )]
    pub notes: String,
    /// Tokens to decode (greedy, stop tokens ignored so every run decodes the same count).
    #[arg(long, default_value_t = 32)]
    pub new_tokens: usize,
    /// Compute dtype: f32, bf16 or f16 (default f32 on the CPU, bf16 on a GPU).
    #[arg(long)]
    pub dtype: Option<ModelDType>,
    /// Run on the CPU even when a GPU is available.
    #[arg(long)]
    pub cpu: bool,
    /// Python with torch + transformers (scripts/requirements-model.txt) to run the reference
    /// benchmark in the same run.
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// The reference benchmark script.
    #[arg(long, default_value = "scripts/bench_transformers.py")]
    pub reference_script: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Checkpoint directory, or ORG/NAME[@REVISION] in the local Hugging Face cache.
    #[arg(long)]
    pub model: String,
    /// ECG image (PNG or JPEG); it becomes the first part of the user message.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Clinical notes; the user text is the notes, a blank line, then the prompt.
    #[arg(long, default_value = "")]
    pub notes: String,
    /// The question.
    #[arg(long)]
    pub prompt: String,
    /// System message (without it the chat template's own default applies).
    #[arg(long)]
    pub system: Option<String>,
    /// How many of the most likely next tokens to print.
    #[arg(long, default_value_t = 20)]
    pub top_k: usize,
    /// Compute dtype: f32, bf16 or f16 (default f32 on the CPU, bf16 on a GPU).
    #[arg(long)]
    pub dtype: Option<ModelDType>,
    /// Run on the CPU even when a GPU is available.
    #[arg(long)]
    pub cpu: bool,
    /// Print JSON: {"prompt_tokens", "prompt_token_ids", "top_logprobs": [[id, logprob], …],
    /// "top_tokens"}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Checkpoint directory, or ORG/NAME[@REVISION] in the local Hugging Face cache.
    #[arg(long)]
    pub model: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ModelArgs, out: &mut dyn Write) -> Result<()> {
    match &args.command {
        ModelCommand::Score(a) => score(a, out),
        ModelCommand::Info(a) => info(a, out),
        ModelCommand::Bench(a) => bench(a, out),
        ModelCommand::Quantize(a) => super::model_quantize::run(a, out),
    }
}

fn score(args: &ScoreArgs, out: &mut dyn Write) -> Result<()> {
    if args.top_k == 0 {
        bail!("--top-k must be at least 1");
    }
    let mut opts = LocalModelOptions::new(args.model.clone());
    opts.dtype = args.dtype;
    opts.prefer_gpu = !args.cpu;
    let engine = LocalModelEngine::load(opts).with_context(|| format!("loading {}", args.model))?;
    let image = match &args.image {
        None => None,
        Some(path) => match load_path(path, &LoadOptions::default())? {
            EcgInput::Image(img) => Some(engine.preprocess(&img)?),
            EcgInput::Signal(_) => bail!("{}: --image needs a PNG or JPEG image", path.display()),
        },
    };
    let input = PromptInput {
        system: args.system.as_deref(),
        notes: &args.notes,
        question: &args.prompt,
        with_image: image.is_some(),
    };
    let (_, ids) = engine.prompt_ids(&input, image.as_ref())?;
    let logits = engine.next_token_logits(&ids, image.as_ref())?;
    let top = top_k_logprobs(&logits, args.top_k);
    let tokens: Vec<String> = top
        .iter()
        .map(|(id, _)| engine.chat().decode(&[*id]).unwrap_or_default())
        .collect();
    if args.json {
        let value = json!({
            "prompt_tokens": ids.len(),
            "prompt_token_ids": ids,
            "top_logprobs": top.iter().map(|(id, lp)| json!([id, lp])).collect::<Vec<_>>(),
            "top_tokens": tokens,
        });
        writeln!(out, "{}", serde_json::to_string(&value)?)?;
    } else {
        writeln!(out, "prompt tokens: {}", ids.len())?;
        for ((id, lp), text) in top.iter().zip(&tokens) {
            writeln!(out, "{id:>8}  {lp:>10.5}  {text:?}")?;
        }
    }
    Ok(())
}

fn info(args: &InfoArgs, out: &mut dyn Write) -> Result<()> {
    let ckpt = Checkpoint::open(&args.model)?;
    let weights = SafetensorsFiles::open(&ckpt.weight_files)?;
    let quant = match ckpt.gguf_file() {
        Some(path) => Some(QuantizedWeights::open(&path)?),
        None => None,
    };
    let files = ckpt.files()?;
    let hashes = file_hashes(&ckpt.dir, &files)?;
    // Stored types by how many weights each holds; a quantised checkpoint's GGUF type counts.
    let mut counts: Vec<(String, u64)> = weights
        .dtype_counts()
        .iter()
        .map(|(d, n)| (format!("{d:?}").to_lowercase(), *n))
        .collect();
    if let (Some(q), Some(m)) = (&quant, &ckpt.quantization) {
        counts.push((m.quant_type.name().to_string(), q.element_count()));
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    let dtypes: Vec<String> = counts.into_iter().map(|(d, _)| d).collect();
    let parameters =
        weights.element_count() + quant.as_ref().map_or(0, QuantizedWeights::element_count);
    let quantization = ckpt.quantization.as_ref().map(|m| {
        json!({
            "type": m.quant_type.name(),
            "gguf_file": m.gguf_file,
            "quantized_tensors": m.quantized.len(),
            "kept_float": m.kept_float,
            "source": m.source,
        })
    });
    let c = &ckpt.config;
    let file_list: Vec<serde_json::Value> = files
        .iter()
        .zip(&hashes)
        .map(|(path, (name, sha))| {
            json!({
                "name": name,
                "bytes": std::fs::metadata(path).map_or(0, |m| m.len()),
                "sha256": sha,
            })
        })
        .collect();
    let value = json!({
        "family": ckpt.family.name(),
        "checkpoint": ckpt.dir.display().to_string(),
        "parameters": parameters,
        "dtype": dtypes.first(),
        "quantization": quantization,
        "dtypes": dtypes,
        "config_dtype": ckpt.stored_dtype,
        "text": {
            "layers": c.text.num_layers,
            "hidden_size": c.text.hidden_size,
            "heads": c.text.num_heads,
            "kv_heads": c.text.num_kv_heads,
            "vocab_size": c.text.vocab_size,
            "tied_embeddings": c.text.tie_word_embeddings,
        },
        "vision": {
            "depth": c.vision.depth,
            "embed_dim": c.vision.embed_dim,
            "heads": c.vision.num_heads,
        },
        "files": file_list,
    });
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        writeln!(out, "family:     {}", ckpt.family.name())?;
        writeln!(out, "checkpoint: {}", ckpt.dir.display())?;
        writeln!(out, "parameters: {parameters}")?;
        writeln!(out, "dtype:      {}", dtypes.join(", "))?;
        if let Some(m) = &ckpt.quantization {
            writeln!(
                out,
                "quantised:  {} language-model matrices as {} in {} ({} kept float), from {}",
                m.quantized.len(),
                m.quant_type.name(),
                m.gguf_file,
                m.kept_float.len(),
                m.source.dir
            )?;
        }
        writeln!(
            out,
            "text:       {} layers, hidden {}, {} heads ({} kv), vocab {}",
            c.text.num_layers,
            c.text.hidden_size,
            c.text.num_heads,
            c.text.num_kv_heads,
            c.text.vocab_size
        )?;
        writeln!(
            out,
            "vision:     depth {}, width {}",
            c.vision.depth, c.vision.embed_dim
        )?;
        for (path, (name, sha)) in files.iter().zip(&hashes) {
            let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
            writeln!(out, "  {sha}  {bytes:>12}  {name}")?;
        }
    }
    Ok(())
}

/// Peak resident memory of this process in MiB (Linux `VmHWM`); `None` elsewhere.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn bench(args: &BenchArgs, out: &mut dyn Write) -> Result<()> {
    use std::time::Instant;
    // Hash first (cached beside the weights) so the load time is the model's alone.
    Checkpoint::open(&args.model)?.weight_hashes()?;
    let mut opts = LocalModelOptions::new(args.model.clone());
    opts.dtype = args.dtype;
    opts.prefer_gpu = !args.cpu;
    let t = Instant::now();
    let engine = LocalModelEngine::load(opts).with_context(|| format!("loading {}", args.model))?;
    let load_s = t.elapsed().as_secs_f64();
    let (quantized, matrices) = engine.model().quantized_matrices();
    let weights_bytes: u64 = engine
        .checkpoint()
        .weight_files
        .iter()
        .cloned()
        .chain(engine.checkpoint().gguf_file())
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    let image = match &args.image {
        None => None,
        Some(path) => match load_path(path, &LoadOptions::default())? {
            EcgInput::Image(img) => Some(engine.preprocess(&img)?),
            EcgInput::Signal(_) => bail!("{}: --image needs a PNG or JPEG image", path.display()),
        },
    };
    let input = PromptInput {
        system: Some(ecgr1_engine::model::engine::SYSTEM_PROMPT),
        notes: &args.notes,
        question: ecgr1_engine::model::engine::TWI_QUESTION,
        with_image: image.is_some(),
    };
    let (_, ids) = engine.prompt_ids(&input, image.as_ref())?;
    let images: Vec<_> = image.iter().cloned().collect();
    let t = Instant::now();
    let (mut session, logits) = engine.model().prefill(&ids, &images)?;
    let prefill_s = t.elapsed().as_secs_f64();
    let params = ecgr1_engine::model::GenerationParams {
        max_new_tokens: args.new_tokens.max(1),
        ..ecgr1_engine::model::GenerationParams::default()
    };
    let t = Instant::now();
    let decoded = ecgr1_engine::model::generate::generate(
        &mut session,
        logits,
        &ids,
        &params,
        None,
        &mut |_| {},
    )?;
    // The last token is sampled without being fed; count the forward passes actually run.
    let decode_steps = decoded.tokens.len().saturating_sub(1).max(1);
    let decode_tps = decode_steps as f64 / t.elapsed().as_secs_f64();
    let ours = json!({
        "load_s": load_s,
        "prefill_s": prefill_s,
        "prompt_tokens": ids.len(),
        "image_tokens": image
            .as_ref()
            .map_or(0, |i| i.token_count(engine.image_config().merge_size)),
        "decode_tokens_per_s": decode_tps,
        "peak_rss_mib": peak_rss_mib(),
        "device": engine.identity().device,
        "dtype": engine.model().dtype().name(),
        "quantization": engine.checkpoint().quantization.as_ref().map(|q| q.quant_type.name()),
        "quantized_matrices": quantized,
        "language_model_matrices": matrices,
        "weights_bytes": weights_bytes,
    });
    let reference = match &args.python {
        None => None,
        Some(py) => {
            let Some(image_path) = &args.image else {
                bail!("--python needs --image (the reference benchmark prefills an image)");
            };
            if engine.checkpoint().quantization.is_some() {
                bail!("--python runs transformers, which cannot load a quantised checkpoint");
            }
            let output = std::process::Command::new(py)
                .arg(&args.reference_script)
                .arg("--model")
                .arg(&engine.checkpoint().dir)
                .arg("--image")
                .arg(image_path)
                .arg("--notes")
                .arg(&args.notes)
                .arg("--new-tokens")
                .arg(args.new_tokens.max(1).to_string())
                .arg("--dtype")
                .arg(engine.model().dtype().name())
                .output()
                .with_context(|| format!("running {}", py.display()))?;
            if !output.status.success() {
                bail!(
                    "the reference benchmark failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                );
            }
            let text = String::from_utf8_lossy(&output.stdout);
            let last = text.lines().last().unwrap_or("");
            Some(
                serde_json::from_str::<serde_json::Value>(last)
                    .context("reading the reference benchmark's JSON")?,
            )
        }
    };
    let ratio = |key: &str, invert: bool| -> Option<f64> {
        let r = reference.as_ref()?.get(key)?.as_f64()?;
        let o = ours.get(key)?.as_f64()?;
        if invert { Some(r / o) } else { Some(o / r) }
    };
    let ratios = reference.as_ref().map(|_| {
        json!({
            "load_speedup": ratio("load_s", true),
            "prefill_speedup": ratio("prefill_s", true),
            "decode_speedup": ratio("decode_tokens_per_s", false),
            "peak_memory_ratio": ratio("peak_rss_mib", false),
        })
    });
    let value = json!({"ecgr1": ours, "transformers": reference, "ratios": ratios});
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    let show = |v: &serde_json::Value, key: &str| v.get(key).and_then(serde_json::Value::as_f64);
    let fmt = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |x| format!("{x:.3}"));
    writeln!(
        out,
        "{:<24}{:>14}{:>14}{:>10}",
        "", "ecgr1", "transformers", "ratio"
    )?;
    let rows = [
        ("load (s)", "load_s", "load_speedup"),
        ("prefill (s)", "prefill_s", "prefill_speedup"),
        ("decode (tokens/s)", "decode_tokens_per_s", "decode_speedup"),
        ("peak memory (MiB)", "peak_rss_mib", "peak_memory_ratio"),
    ];
    for (label, key, ratio_key) in rows {
        let r = value["transformers"]
            .as_object()
            .map(|_| &value["transformers"]);
        writeln!(
            out,
            "{label:<24}{:>14}{:>14}{:>10}",
            fmt(show(&value["ecgr1"], key)),
            fmt(r.and_then(|r| show(r, key))),
            fmt(show(&value["ratios"], ratio_key)),
        )?;
    }
    writeln!(
        out,
        "prompt {} tokens ({} image tokens), {} on {}",
        value["ecgr1"]["prompt_tokens"],
        value["ecgr1"]["image_tokens"],
        value["ecgr1"]["dtype"],
        value["ecgr1"]["device"]
    )?;
    writeln!(
        out,
        "language model: {quantized} of {matrices} matrices quantised ({}), weights {:.1} MiB on disk",
        engine
            .checkpoint()
            .quantization
            .as_ref()
            .map_or("float", |q| q.quant_type.name()),
        weights_bytes as f64 / f64::from(1u32 << 20)
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn fixtures() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/model")
    }

    fn run(args: &[&str]) -> (u8, String, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = crate::cli::run(args.iter().copied(), &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn score_matches_the_reference_for_an_image_prompt() {
        let reference: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixtures().join("reference/qwen2vl-tiny.json")).unwrap(),
        )
        .unwrap();
        let case = &reference["cases"][1];
        assert_eq!(case["name"], "image");
        let model = fixtures().join("qwen2vl-tiny");
        let image = fixtures().join("ecg_small.png");
        let (code, out, err) = run(&[
            "ecgr1",
            "model",
            "score",
            "--model",
            model.to_str().unwrap(),
            "--image",
            image.to_str().unwrap(),
            "--notes",
            case["notes"].as_str().unwrap(),
            "--prompt",
            case["question"].as_str().unwrap(),
            "--system",
            case["system"].as_str().unwrap(),
            "--top-k",
            "20",
            "--cpu",
            "--json",
        ]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["prompt_tokens"],
            case["input_ids"].as_array().unwrap().len()
        );
        assert_eq!(v["prompt_token_ids"], case["input_ids"]);
        let ours = v["top_logprobs"].as_array().unwrap();
        let want = case["top_logprobs"].as_array().unwrap();
        assert_eq!(ours.len(), 20);
        for (o, w) in ours.iter().zip(want) {
            assert_eq!(o[0], w[0]);
            assert!((o[1].as_f64().unwrap() - w[1].as_f64().unwrap()).abs() < 1e-3);
        }
    }

    #[test]
    fn info_lists_family_parameters_and_hashes() {
        let model = fixtures().join("qwen2vl-legacy");
        let (code, out, err) = run(&[
            "ecgr1",
            "model",
            "info",
            "--model",
            model.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let reference: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixtures().join("reference/qwen2vl-legacy.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(v["family"], "qwen2-vl");
        assert_eq!(v["parameters"], reference["parameters"]);
        assert_eq!(v["dtype"], "bf16");
        let files = v["files"].as_array().unwrap();
        assert!(
            files
                .iter()
                .any(|f| f["name"] == "model-00001-of-00002.safetensors")
        );
        assert!(
            files
                .iter()
                .all(|f| f["sha256"].as_str().unwrap().len() == 64)
        );
    }

    #[test]
    fn missing_checkpoint_is_an_error_line() {
        let (code, _, err) = run(&["ecgr1", "model", "info", "--model", "/nonexistent/ckpt"]);
        assert_eq!(code, 1);
        assert!(err.starts_with("error:"), "{err}");
    }

    #[test]
    fn bench_reports_its_figures_on_the_tiny_checkpoint() {
        let model = fixtures().join("qwen2vl-tiny");
        let image = fixtures().join("ecg_small.png");
        let (code, out, err) = run(&[
            "ecgr1",
            "model",
            "bench",
            "--model",
            model.to_str().unwrap(),
            "--image",
            image.to_str().unwrap(),
            "--new-tokens",
            "4",
            "--cpu",
            "--json",
        ]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(v["ecgr1"]["decode_tokens_per_s"].as_f64().unwrap() > 0.0);
        assert_eq!(v["ecgr1"]["image_tokens"], 6);
        assert!(v["transformers"].is_null());
    }
}
