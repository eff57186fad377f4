//! `ecgr1 model score|info|bench|quantize|parity`: check a local checkpoint against the reference
//! implementation, describe it, time it, write a quantised copy, and judge it on a reference.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use ecgr1_engine::formats::EcgInput;

use super::input::ReadArgs;
use ecgr1_engine::model::checkpoint::file_hashes;
use ecgr1_engine::model::generate::top_k_logprobs;
use ecgr1_engine::model::preprocess::ProcessedImage;
use ecgr1_engine::model::quant::QuantizedWeights;
use ecgr1_engine::model::qwen3vl::ecg_sizes;
use ecgr1_engine::model::weights::SafetensorsFiles;
use ecgr1_engine::model::{
    Checkpoint, LocalModelEngine, LocalModelOptions, ModelDType, ModelFamily, PromptInput,
};
use ecgr1_engine::record::ModelSignal;
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
    /// Load time, prefill time, decode tokens/s and peak memory on one ECG image and/or (ECG-R1)
    /// one signal; with --python (image prompts), the same figures for transformers on the same
    /// checkpoint and input, as ratios.
    Bench(BenchArgs),
    /// Write a copy whose language-model matrices are GGUF-quantised (q8_0 or q4k); vision and
    /// ECG towers, norms and biases stay float. The copy loads like any checkpoint.
    Quantize(super::model_quantize::QuantizeArgs),
    /// Replay a transformers reference (tests/fixtures/model/reference/*.json: prompts, top-20
    /// log-probabilities, greedy tokens, P(yes)) on this machine's device and judge every case;
    /// exits 1 if any differs beyond the reference dtype's tolerance.
    Parity(super::model_parity::ParityArgs),
}

/// The checkpoint to load and where to run it: the same flags for `model score` and `model bench`.
#[derive(Debug, Args)]
pub struct EngineChoice {
    /// Checkpoint directory, or ORG/NAME[@REVISION] in the local Hugging Face cache.
    #[arg(long)]
    pub model: String,
    /// Compute dtype: f32, bf16 or f16 (default: bf16 on a GPU; on the CPU bf16 for bf16 weights
    /// where the packed bf16 kernels run, else f32; `model info` says which).
    #[arg(long)]
    pub dtype: Option<ModelDType>,
    /// Run on the CPU even when a GPU is available.
    #[arg(long)]
    pub cpu: bool,
}

impl EngineChoice {
    pub(super) fn load(&self) -> Result<LocalModelEngine> {
        let mut opts = LocalModelOptions::new(self.model.clone());
        opts.dtype = self.dtype;
        opts.prefer_gpu = !self.cpu;
        LocalModelEngine::load(opts).with_context(|| format!("loading {}", self.model))
    }
}

/// The ECG the prompt carries: an image, a signal (ECG-R1), both, or neither (text only).
#[derive(Debug, Args)]
pub struct PromptFiles {
    /// ECG image (PNG or JPEG); it becomes an image part of the user message.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// ECG signal file (WFDB, EDF, DICOM, HL7 aECG, CSV, MUSE, Sierra, SCP-ECG) for a
    /// checkpoint with an ECG tower (ECG-R1): resampled to 500 Hz, leads reordered to ECG-R1's
    /// training order, 10 s; its tokens come first in the user message. Alone, or together
    /// with --image.
    #[arg(long)]
    pub ecg: Option<PathBuf>,
    /// How --ecg and --image are read (the options every command that reads a file takes).
    #[command(flatten)]
    pub read: ReadArgs,
}

impl PromptFiles {
    /// The preprocessed image and the tower's signal, each when given.
    fn load(
        &self,
        engine: &LocalModelEngine,
    ) -> Result<(Option<ProcessedImage>, Option<ModelSignal>)> {
        let image = match &self.image {
            None => None,
            Some(path) => match self.read.load(path)? {
                EcgInput::Image(img) => Some(engine.preprocess(&img)?),
                EcgInput::Signal(_) => {
                    bail!("{}: --image needs a PNG or JPEG image", path.display())
                }
            },
        };
        let signal = match &self.ecg {
            None => None,
            Some(path) => match self.read.load(path)? {
                EcgInput::Signal(s) => Some(
                    engine
                        .model_signal(&s.record)
                        .with_context(|| format!("{}: --ecg", path.display()))?,
                ),
                EcgInput::Image(_) => bail!(
                    "{}: --ecg needs a signal file; give images with --image",
                    path.display()
                ),
            },
        };
        Ok((image, signal))
    }
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub engine: EngineChoice,
    /// Without --image or --ecg the prompt is text only (the notes and the question), which
    /// keeps a CPU comparison of float and quantised weights short.
    #[command(flatten)]
    pub files: PromptFiles,
    #[arg(
        long,
        default_value = "Male, 64 years. Chest pain for 2 hours. History of hypertension."
    )]
    pub notes: String,
    /// Tokens to decode (greedy, stop tokens ignored so every run decodes the same count).
    #[arg(long, default_value_t = 32)]
    pub new_tokens: usize,
    /// Python with torch + transformers (scripts/requirements-model.txt) to run the reference
    /// benchmark in the same run.
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// The reference benchmark script.
    #[arg(long, default_value = "scripts/bench_transformers.py")]
    pub reference_script: PathBuf,
    /// Size of each buffer of the memory-bandwidth measurement, in MiB (far above the caches).
    #[arg(long, default_value_t = 1024)]
    pub bandwidth_mib: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub engine: EngineChoice,
    #[command(flatten)]
    pub files: PromptFiles,
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
    /// Print JSON: {"prompt_tokens", "prompt_token_ids", "top_logprobs": [[id, logprob], …],
    /// "top_tokens", "ecg_notes"}.
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
        ModelCommand::Parity(a) => super::model_parity::run(a, out),
    }
}

fn score(args: &ScoreArgs, out: &mut dyn Write) -> Result<()> {
    if args.top_k == 0 {
        bail!("--top-k must be at least 1");
    }
    let engine = args.engine.load()?;
    let (image, signal) = args.files.load(&engine)?;
    let input = PromptInput {
        system: args.system.as_deref(),
        notes: &args.notes,
        question: &args.prompt,
        with_image: image.is_some(),
        ecg_tokens: if signal.is_some() {
            engine.ecg_tokens()
        } else {
            0
        },
    };
    let (_, ids) = engine.prompt_ids(&input, image.as_ref())?;
    let logits = engine.next_token_logits(&ids, image.as_ref(), signal.as_ref())?;
    let ecg_notes: Vec<String> = signal.map(|s| s.notes).unwrap_or_default();
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
            "ecg_notes": ecg_notes,
        });
        writeln!(out, "{}", serde_json::to_string(&value)?)?;
    } else {
        writeln!(out, "prompt tokens: {}", ids.len())?;
        for note in &ecg_notes {
            writeln!(out, "signal: {note}")?;
        }
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
    let t = ckpt.config.text();
    let (vision_depth, vision_width, vision_heads) = ckpt.config.vision_sizes();
    let ecg = ecg_sizes(&weights);
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
    let ecg_json = ecg.as_ref().map(|e| {
        json!({
            "width": e.width,
            "leads": e.leads,
            "patch_samples": e.patch,
            "tokens": e.tokens,
            "samples": e.patch * e.tokens.saturating_sub(1),
            "depth": e.depth,
            "heads": e.heads,
            "mlp_width": e.mlp_width,
            "projector": format!("mlp{}x_gelu", e.projector_layers),
            "projector_out": e.projector_out,
        })
    });
    let (cpu_dtype, cpu_dtype_reason) = ModelDType::cpu_default(ckpt.weights_dtype);
    let value = json!({
        "family": ckpt.family.name(),
        "family_name": ckpt.family.display_name(),
        "reads_signal": ckpt.family.reads_signal(),
        "checkpoint": ckpt.dir.display().to_string(),
        "parameters": parameters,
        "dtype": dtypes.first(),
        "quantization": quantization,
        "dtypes": dtypes,
        "config_dtype": ckpt.stored_dtype,
        "cpu_compute_dtype": cpu_dtype.name(),
        "cpu_compute_dtype_reason": cpu_dtype_reason,
        "cpu_kernel": ecgr1_engine::model::kernels::CpuMatmul::detect().name(),
        "text": {
            "layers": t.num_layers,
            "hidden_size": t.hidden_size,
            "heads": t.num_heads,
            "kv_heads": t.num_kv_heads,
            "head_dim": t.head_dim,
            "vocab_size": t.vocab_size,
            "tied_embeddings": t.tie_word_embeddings,
        },
        "vision": {
            "depth": vision_depth,
            "embed_dim": vision_width,
            "heads": vision_heads,
        },
        "ecg_tower": ecg_json,
        "files": file_list,
    });
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        writeln!(out, "family:     {}", ckpt.family.display_name())?;
        writeln!(out, "checkpoint: {}", ckpt.dir.display())?;
        writeln!(out, "parameters: {parameters}")?;
        writeln!(out, "dtype:      {}", dtypes.join(", "))?;
        writeln!(out, "on the CPU: {cpu_dtype_reason}")?;
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
            t.num_layers, t.hidden_size, t.num_heads, t.num_kv_heads, t.vocab_size
        )?;
        writeln!(
            out,
            "vision:     depth {vision_depth}, width {vision_width}"
        )?;
        if let Some(e) = &ecg {
            writeln!(
                out,
                "ECG tower:  {} leads × {} samples, patch {}, {} tokens, width {}, {} blocks, {} heads, MLP {}; projector mlp{}x_gelu → {}",
                e.leads,
                e.patch * e.tokens.saturating_sub(1),
                e.patch,
                e.tokens,
                e.width,
                e.depth,
                e.heads,
                e.mlp_width,
                e.projector_layers,
                e.projector_out
            )?;
        }
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
    Checkpoint::open(&args.engine.model)?.weight_hashes()?;
    // The machine's memory bandwidth, measured before the weights take the memory: the roofline
    // every decode figure is printed against.
    let bandwidth =
        ecgr1_engine::model::kernels::roofline::measure_bandwidth(args.bandwidth_mib, 3);
    // The bf16 kernel's instruction throughput on every thread: the ceiling of prefill.
    let bf16_peak_gflop_s = ecgr1_engine::model::kernels::roofline::measure_bf16_peak(
        ecgr1_engine::model::kernels::Isa::detect(),
        200,
    );
    let t = Instant::now();
    let engine = args.engine.load()?;
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
    // Neither an image nor a signal: a text-only prompt (the notes and the question), which
    // keeps a CPU comparison of float and quantised weights short.
    let (image, signal) = args.files.load(&engine)?;
    let ecg_tokens = if signal.is_some() {
        engine.ecg_tokens()
    } else {
        0
    };
    // Refused before the long runs start rather than after them.
    if args.python.is_some() {
        if engine.checkpoint().quantization.is_some() {
            bail!("--python runs transformers, which cannot load a quantised checkpoint");
        }
        if image.is_none()
            && !matches!(
                engine.checkpoint().family,
                ModelFamily::Qwen3Vl | ModelFamily::EcgR1
            )
        {
            bail!(
                "--python needs --image for Qwen2-VL (its reference benchmark prefills an image)"
            );
        }
    }
    let input = PromptInput {
        system: Some(ecgr1_engine::model::engine::SYSTEM_PROMPT),
        notes: &args.notes,
        question: ecgr1_engine::model::engine::TWI_QUESTION,
        with_image: image.is_some(),
        ecg_tokens,
    };
    let (_, ids) = engine.prompt_ids(&input, image.as_ref())?;
    let images: Vec<ProcessedImage> = image.iter().cloned().collect();
    let image_tokens = image
        .as_ref()
        .map_or(0, |i| i.token_count(engine.image_config().merge_size));
    let model = engine.model();
    // The tower and projector run on their own first so their time is not hidden in the
    // prefill; the device is synchronised because GPU kernels return before they finish.
    let (ecg_rows, ecg_tower_s) = match &signal {
        None => (None, None),
        Some(s) => {
            let t = Instant::now();
            let rows = model.encode_ecg(s)?;
            model.device().synchronize()?;
            (Some(rows), Some(t.elapsed().as_secs_f64()))
        }
    };
    let t = Instant::now();
    let (mut session, logits) = model.prefill_encoded(&ids, &images, ecg_rows.as_ref())?;
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
    let decode_bytes = model.text_model().decode_weight_bytes();
    // On a GPU the weights are read from its memory and the products run in its BLAS: both
    // limits are the device's, measured here, after the run, beside the weights.
    let device_limits = if model.device().is_cpu() {
        None
    } else {
        Some(ecgr1_engine::model::kernels::roofline::measure_device(
            model.device(),
            args.bandwidth_mib,
            8192,
            5,
        )?)
    };
    let read_gb_s = device_limits.map_or(bandwidth.read_gb_s, |d| d.copy_gb_s);
    let bf16_peak_gflop_s = match device_limits {
        Some(d) => Some(d.bf16_matmul_gflop_s),
        None => bf16_peak_gflop_s,
    };
    let roofline_tps = read_gb_s * 1e9 / decode_bytes.max(1) as f64;
    // The decoder's matrix products alone (attention and the vision tower come on top, in both
    // engines alike): the work both engines do for the same prompt.
    let prefill_flops = 2.0 * model.text_model().matrix_macs_per_token() as f64 * ids.len() as f64;
    let prefill_gflop_s = |seconds: f64| prefill_flops / seconds / 1e9;
    let ours = json!({
        "load_s": load_s,
        "ecg_tower_s": ecg_tower_s,
        "prefill_s": prefill_s,
        "prompt_tokens": ids.len(),
        "image_tokens": image_tokens,
        "ecg_tokens": ecg_tokens,
        "text_tokens": ids.len().saturating_sub(image_tokens + ecg_tokens),
        "decode_steps": decode_steps,
        "decode_tokens_per_s": decode_tps,
        "peak_rss_mib": peak_rss_mib(),
        "device": engine.identity().device,
        "dtype": model.dtype().name(),
        "quantization": engine.checkpoint().quantization.as_ref().map(|q| q.quant_type.name()),
        "quantized_matrices": quantized,
        "language_model_matrices": matrices,
        "weights_bytes": weights_bytes,
        "threads": ecgr1_engine::model::kernels::threads(),
        "cpu_kernel": ecgr1_engine::model::kernels::CpuMatmul::detect().name(),
        "decode_bytes_per_token": decode_bytes,
        "decode_roofline_tokens_per_s": roofline_tps,
        "decode_roofline_fraction": decode_tps / roofline_tps,
        "prefill_decoder_gflop_s": prefill_gflop_s(prefill_s),
        "prefill_peak_fraction": bf16_peak_gflop_s.map(|peak| prefill_gflop_s(prefill_s) / peak),
    });
    let ckpt_dir = engine.checkpoint().dir.clone();
    let dtype = model.dtype().name();
    // The reference runs where ours ran: on the GPU when ours did.
    let reference_device = if model.device().is_cuda() {
        "cuda"
    } else {
        "cpu"
    };
    // The reference loads the same weights again: free ours first, or an 8B checkpoint would
    // be in memory twice (the two processes run one after the other, never together).
    drop((session, ecg_rows, images));
    drop(engine);
    let reference = match &args.python {
        None => None,
        Some(py) => Some(run_reference(args, py, &ckpt_dir, dtype, reference_device)?),
    };
    let prompt_ids_match = reference.as_ref().map(|r| {
        r.get("prompt_token_ids")
            .and_then(serde_json::Value::as_array)
            .is_some_and(|theirs| {
                theirs.len() == ids.len()
                    && theirs
                        .iter()
                        .zip(&ids)
                        .all(|(t, o)| t.as_u64() == Some(u64::from(*o)))
            })
    });
    let ratio = |key: &str, invert: bool| -> Option<f64> {
        let r = reference.as_ref()?.get(key)?.as_f64()?;
        let o = ours.get(key)?.as_f64()?;
        if invert { Some(r / o) } else { Some(o / r) }
    };
    let ratios = reference.as_ref().map(|_| {
        json!({
            "load_speedup": ratio("load_s", true),
            "ecg_tower_speedup": ratio("ecg_tower_s", true),
            "prefill_speedup": ratio("prefill_s", true),
            "decode_speedup": ratio("decode_tokens_per_s", false),
            "peak_memory_ratio": ratio("peak_rss_mib", false),
        })
    });
    // The ids are compared above; the JSON keeps only the verdict.
    let reference = reference.map(|mut r| {
        if let Some(o) = r.as_object_mut() {
            o.remove("prompt_token_ids");
        }
        r
    });
    // The reference reads the same weights per token and does the same decoder products.
    let reference = reference.map(|mut r| {
        let decode = r
            .get("decode_tokens_per_s")
            .and_then(serde_json::Value::as_f64);
        let prefill = r.get("prefill_s").and_then(serde_json::Value::as_f64);
        if let Some(o) = r.as_object_mut() {
            o.insert(
                "decode_roofline_fraction".into(),
                json!(decode.map(|d| d / roofline_tps)),
            );
            o.insert(
                "prefill_decoder_gflop_s".into(),
                json!(prefill.map(prefill_gflop_s)),
            );
            o.insert(
                "prefill_peak_fraction".into(),
                json!(
                    prefill
                        .zip(bf16_peak_gflop_s)
                        .map(|(p, peak)| prefill_gflop_s(p) / peak)
                ),
            );
        }
        r
    });
    let value = json!({
        "machine": {
            "memory_read_gb_s": bandwidth.read_gb_s,
            "memory_read_one_stream_gb_s": bandwidth.read_one_stream_gb_s,
            "memory_read_many_streams_gb_s": bandwidth.read_many_streams_gb_s,
            "memory_copy_gb_s": bandwidth.copy_gb_s,
            "threads": bandwidth.threads,
            "bf16_peak_gflop_s": bf16_peak_gflop_s,
            "device_copy_gb_s": device_limits.map(|d| d.copy_gb_s),
            "device_bf16_matmul_gflop_s": device_limits.map(|d| d.bf16_matmul_gflop_s),
            "roofline_from": if device_limits.is_some() { "device" } else { "cpu" },
        },
        "ecgr1": ours,
        "transformers": reference,
        "ratios": ratios,
        "prompt_ids_match": prompt_ids_match,
    });
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    print_bench(&value, out)
}

/// Runs `scripts/bench_transformers.py` on the same checkpoint, inputs, prompt, dtype and device
/// and returns the JSON line it prints last.
fn run_reference(
    args: &BenchArgs,
    py: &Path,
    ckpt_dir: &Path,
    dtype: &str,
    device: &str,
) -> Result<serde_json::Value> {
    let mut cmd = std::process::Command::new(py);
    cmd.arg(&args.reference_script)
        .arg("--model")
        .arg(ckpt_dir)
        .arg("--notes")
        .arg(&args.notes)
        .arg("--new-tokens")
        .arg(args.new_tokens.max(1).to_string())
        .arg("--dtype")
        .arg(dtype)
        .arg("--device")
        .arg(device);
    if let Some(image) = &args.files.image {
        cmd.arg("--image").arg(image);
    }
    if let Some(ecg) = &args.files.ecg {
        cmd.arg("--ecg").arg(ecg);
    }
    let output = cmd
        .output()
        .with_context(|| format!("running {}", py.display()))?;
    if !output.status.success() {
        bail!(
            "the reference benchmark {} failed: {}",
            args.reference_script.display(),
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let last = text.lines().last().unwrap_or("");
    serde_json::from_str::<serde_json::Value>(last).with_context(|| {
        format!(
            "reading the JSON line of {}",
            args.reference_script.display()
        )
    })
}

/// The table of `model bench`: ours, the reference's and their ratio per figure.
fn print_bench(value: &serde_json::Value, out: &mut dyn Write) -> Result<()> {
    let show = |v: &serde_json::Value, key: &str| v.get(key).and_then(serde_json::Value::as_f64);
    let fmt = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |x| format!("{x:.3}"));
    writeln!(
        out,
        "{:<24}{:>14}{:>14}{:>10}",
        "", "ecgr1", "transformers", "ratio"
    )?;
    let mut rows = vec![("load (s)", "load_s", "load_speedup")];
    if value["ecgr1"]["ecg_tower_s"].is_number() {
        rows.push(("ECG tower (s)", "ecg_tower_s", "ecg_tower_speedup"));
    }
    rows.extend([
        ("prefill (s)", "prefill_s", "prefill_speedup"),
        ("decode (tokens/s)", "decode_tokens_per_s", "decode_speedup"),
        ("peak memory (MiB)", "peak_rss_mib", "peak_memory_ratio"),
        ("decode / roofline", "decode_roofline_fraction", ""),
        ("prefill GFLOP/s", "prefill_decoder_gflop_s", ""),
        ("prefill / bf16 peak", "prefill_peak_fraction", ""),
    ]);
    let reference = value["transformers"]
        .as_object()
        .map(|_| &value["transformers"]);
    for (label, key, ratio_key) in rows {
        writeln!(
            out,
            "{label:<24}{:>14}{:>14}{:>10}",
            fmt(show(&value["ecgr1"], key)),
            fmt(reference.and_then(|r| show(r, key))),
            fmt(show(&value["ratios"], ratio_key)),
        )?;
    }
    let ours = &value["ecgr1"];
    let machine = &value["machine"];
    writeln!(
        out,
        "memory: read {:.1} GB/s (best of {:.1} with one stream and {:.1} with {} streams per \
         thread), copy {:.1} GB/s on {} threads; a decode step reads {:.2} GB of weights, so \
         the roofline is {:.2} tokens/s; {} kernels",
        machine["memory_read_gb_s"].as_f64().unwrap_or(0.0),
        machine["memory_read_one_stream_gb_s"]
            .as_f64()
            .unwrap_or(0.0),
        machine["memory_read_many_streams_gb_s"]
            .as_f64()
            .unwrap_or(0.0),
        ecgr1_engine::model::kernels::roofline::READ_STREAMS,
        machine["memory_copy_gb_s"].as_f64().unwrap_or(0.0),
        machine["threads"],
        ours["decode_bytes_per_token"].as_f64().unwrap_or(0.0) / 1e9,
        ours["decode_roofline_tokens_per_s"].as_f64().unwrap_or(0.0),
        ours["cpu_kernel"].as_str().unwrap_or("?"),
    )?;
    if let Some(copy) = machine["device_copy_gb_s"].as_f64() {
        writeln!(
            out,
            "device: copy {copy:.0} GB/s (bytes read and written), bf16 8192³ product {:.0} \
             GFLOP/s; the decode roofline and the prefill peak above are the device's",
            machine["device_bf16_matmul_gflop_s"]
                .as_f64()
                .unwrap_or(0.0)
        )?;
    } else {
        writeln!(
            out,
            "prefill GFLOP/s counts the decoder's matrix products (2 × multiply-adds × prompt \
             tokens); the bf16 peak is the kernel's dot-product instruction issued on registers \
             alone on every thread: {}",
            machine["bf16_peak_gflop_s"].as_f64().map_or_else(
                || "not measured for this kernel".to_string(),
                |p| format!("{p:.0} GFLOP/s")
            ),
        )?;
    }
    writeln!(
        out,
        "prompt {} tokens ({} ECG, {} image, {} text), {} decode steps, {} on {}",
        ours["prompt_tokens"],
        ours["ecg_tokens"],
        ours["image_tokens"],
        ours["text_tokens"],
        ours["decode_steps"],
        ours["dtype"].as_str().unwrap_or("?"),
        ours["device"].as_str().unwrap_or("?")
    )?;
    match value["prompt_ids_match"].as_bool() {
        Some(true) => writeln!(out, "prompt token ids: identical in both")?,
        Some(false) => writeln!(
            out,
            "warning: the reference's prompt token ids differ from ours ({} tokens); the \
             figures do not compare the same work",
            value["transformers"]["prompt_tokens"]
        )?,
        None => {}
    }
    writeln!(
        out,
        "prefill excludes the ECG tower (timed on its own) but includes the vision tower"
    )?;
    writeln!(
        out,
        "language model: {} of {} matrices quantised ({}), weights {:.1} MiB on disk",
        ours["quantized_matrices"],
        ours["language_model_matrices"],
        ours["quantization"].as_str().unwrap_or("float"),
        ours["weights_bytes"].as_f64().unwrap_or(0.0) / f64::from(1u32 << 20)
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn fixtures() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/model")
    }

    use crate::cli::{run_captured as run, run_model};

    /// A reference case's prompt as `model score` flags, on the CPU, printing JSON.
    fn case_prompt(case: &serde_json::Value) -> [&str; 8] {
        [
            "--notes",
            case["notes"].as_str().unwrap(),
            "--prompt",
            case["question"].as_str().unwrap(),
            "--system",
            case["system"].as_str().unwrap(),
            "--cpu",
            "--json",
        ]
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
        let (code, out, err) = run_model(
            "score",
            &model,
            &[
                &["--image", image.to_str().unwrap(), "--top-k", "20"][..],
                &case_prompt(case),
            ]
            .concat(),
        );
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

    /// `model score --ecg` (and `--ecg` + `--image`) against the ECG-R1 reference cases.
    #[test]
    fn score_with_a_signal_matches_the_ecgr1_reference() {
        let reference: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixtures().join("reference/ecgr1-tiny.json")).unwrap(),
        )
        .unwrap();
        let model = fixtures().join("ecgr1-tiny");
        let image = fixtures().join("ecg_small.png");
        for case in reference["cases"].as_array().unwrap() {
            let Some(ecg) = case["ecg"].as_str() else {
                continue;
            };
            let ecg = fixtures().join("../../..").join(ecg);
            let (ecg, image) = (ecg.display().to_string(), image.display().to_string());
            let mut extra = vec!["--ecg", ecg.as_str()];
            extra.extend(case_prompt(case));
            if case["image"].is_string() {
                extra.extend(["--image", image.as_str()]);
            }
            let (code, out, err) = run_model("score", &model, &extra);
            assert_eq!(code, 0, "{err}");
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["prompt_token_ids"], case["input_ids"], "{}", case["name"]);
            let ours = v["top_logprobs"].as_array().unwrap();
            for (o, w) in ours.iter().zip(case["top_logprobs"].as_array().unwrap()) {
                assert_eq!(o[0], w[0], "{}", case["name"]);
                assert!((o[1].as_f64().unwrap() - w[1].as_f64().unwrap()).abs() < 1e-3);
            }
        }
    }

    #[test]
    fn score_refuses_a_signal_for_a_model_without_a_tower() {
        let model = fixtures().join("qwen3vl-tiny");
        let ecg = fixtures().join("../../../assets/samples/synthetic_sinus.csv");
        let (code, _, err) = run_model(
            "score",
            &model,
            &["--ecg", ecg.to_str().unwrap(), "--prompt", "Q", "--cpu"],
        );
        assert_eq!(code, 1);
        assert!(err.contains("no ECG tower"), "{err}");
    }

    #[test]
    fn info_reports_ecgr1_with_its_tower_sizes() {
        let model = fixtures().join("ecgr1-tiny");
        let (code, out, err) = run_model("info", &model, &["--json"]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["family"], "ecg-r1");
        assert_eq!(v["reads_signal"], true);
        let t = &v["ecg_tower"];
        assert_eq!(t["width"], 64);
        assert_eq!(t["leads"], 12);
        assert_eq!(t["tokens"], 101);
        assert_eq!(t["samples"], 5000);
        assert_eq!(t["depth"], 2);
        assert_eq!(t["projector"], "mlp2x_gelu");
        let (code, out, _) = run_model("info", &fixtures().join("qwen3vl-tiny"), &[]);
        assert_eq!(code, 0);
        assert!(out.starts_with("family:     Qwen3-VL\n"), "{out}");
        assert!(!out.contains("ECG tower"), "{out}");
    }

    #[test]
    fn info_lists_family_parameters_and_hashes() {
        let model = fixtures().join("qwen2vl-legacy");
        let (code, out, err) = run_model("info", &model, &["--json"]);
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

    /// The synthetic sample without its time column: readable only with --sample-rate.
    fn csv_without_time(dir: &Path) -> std::path::PathBuf {
        let text =
            std::fs::read_to_string(fixtures().join("../../../assets/samples/synthetic_sinus.csv"))
                .unwrap();
        let body: String = text
            .lines()
            .map(|l| l.split_once(',').map_or(l, |(_, rest)| rest).to_string() + "\n")
            .collect();
        let path = dir.join("no_time.csv");
        std::fs::write(&path, body).unwrap();
        path
    }

    #[test]
    fn ecg_is_read_with_the_shared_reading_options() {
        let model = fixtures().join("ecgr1-tiny");
        let dir = tempfile::tempdir().unwrap();
        let ecg = csv_without_time(dir.path());
        let ecg = ecg.to_str().unwrap();
        let score = |read: &[&str]| {
            let mut args = vec!["--ecg", ecg, "--prompt", "Q", "--cpu", "--json"];
            args.extend_from_slice(read);
            run_model("score", &model, &args)
        };
        let (code, _, err) = score(&[]);
        assert_eq!(code, 1);
        assert!(err.contains("--sample-rate"), "{err}");
        let (code, out, err) = score(&["--sample-rate", "500", "--units", "uV"]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(
            v["prompt_token_ids"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        );
        let (code, _, err) = score(&["--sample-rate", "500", "--units", "furlongs"]);
        assert_eq!(code, 1);
        assert!(err.contains("--units furlongs"), "{err}");
    }

    #[test]
    fn missing_checkpoint_is_an_error_line() {
        let (code, _, err) = run(&["ecgr1", "model", "info", "--model", "/nonexistent/ckpt"]);
        assert_eq!(code, 1);
        assert!(err.starts_with("error:"), "{err}");
    }

    #[test]
    fn bench_runs_ecgr1_on_a_signal_and_names_the_prompt_parts() {
        let model = fixtures().join("ecgr1-tiny");
        let ecg = fixtures().join("../../../assets/samples/synthetic_sinus.csv");
        let (code, out, err) = run_model(
            "bench",
            &model,
            &[
                "--ecg",
                ecg.to_str().unwrap(),
                "--new-tokens",
                "2",
                "--cpu",
                "--json",
            ],
        );
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["ecgr1"]["ecg_tokens"], 101);
        assert_eq!(v["ecgr1"]["image_tokens"], 0);
        assert!(v["ecgr1"]["ecg_tower_s"].as_f64().unwrap() > 0.0);
        let prompt = v["ecgr1"]["prompt_tokens"].as_u64().unwrap();
        assert_eq!(v["ecgr1"]["text_tokens"].as_u64().unwrap(), prompt - 101);
        assert!(v["prompt_ids_match"].is_null());
        // The table names the tower's row and the prompt's parts.
        let (code, out, err) = run_model(
            "bench",
            &model,
            &["--ecg", ecg.to_str().unwrap(), "--new-tokens", "2", "--cpu"],
        );
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("\nECG tower (s)"), "{out}");
        assert!(out.contains("(101 ECG, 0 image, "), "{out}");
    }

    /// `--python` is refused before anything runs where the reference cannot follow: Qwen2-VL
    /// without an image (its reference prefills one).
    #[test]
    fn bench_refuses_a_reference_it_cannot_run() {
        let model = fixtures().join("qwen2vl-tiny");
        let (code, _, err) = run_model(
            "bench",
            &model,
            &["--python", "/nonexistent/python3", "--cpu"],
        );
        assert_eq!(code, 1);
        assert!(err.contains("--python needs --image for Qwen2-VL"), "{err}");
    }

    #[test]
    fn bench_reports_its_figures_on_the_tiny_checkpoint() {
        let model = fixtures().join("qwen2vl-tiny");
        let image = fixtures().join("ecg_small.png");
        let (code, out, err) = run_model(
            "bench",
            &model,
            &[
                "--image",
                image.to_str().unwrap(),
                "--new-tokens",
                "4",
                "--cpu",
                "--json",
            ],
        );
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(v["ecgr1"]["decode_tokens_per_s"].as_f64().unwrap() > 0.0);
        assert_eq!(v["ecgr1"]["image_tokens"], 6);
        assert!(v["ecgr1"]["ecg_tower_s"].is_null());
        assert!(v["transformers"].is_null());
    }
}
