//! `ecgr1 model quantize`: write a checkpoint's language-model matrices as GGUF q8_0 or q4k.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use ecgr1_engine::model::quant::{QuantType, quantize_checkpoint};
use ecgr1_engine::model::resolve_model_path;
use serde_json::json;

#[derive(Debug, Args)]
pub struct QuantizeArgs {
    /// Float checkpoint directory, or ORG/NAME[@REVISION] in the local Hugging Face cache.
    #[arg(long)]
    pub model: String,
    /// q8_0 (8.5 bits per weight, blocks of 32) or q4k (4.5 bits, blocks of 256).
    #[arg(long = "to")]
    pub to: QuantType,
    /// New (or empty) directory for the quantised checkpoint.
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
    /// Print JSON (the manifest written as quantization.json, plus the copied files).
    #[arg(long)]
    pub json: bool,
    /// Print each tensor as it is written (to stderr).
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(args: &QuantizeArgs, out: &mut dyn Write) -> Result<()> {
    let src = resolve_model_path(&args.model)?;
    let started = std::time::Instant::now();
    let verbose = args.verbose;
    let report = quantize_checkpoint(&src, &args.out, args.to, &mut |line| {
        if verbose {
            eprintln!("{line}");
        }
    })
    .with_context(|| format!("quantising {} into {}", src.display(), args.out.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let m = &report.manifest;
    if args.json {
        let value = json!({
            "out": args.out.display().to_string(),
            "seconds": seconds,
            "manifest": m,
            "copied": report.copied,
            "skipped": report.skipped,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    let mib = |b: u64| b as f64 / f64::from(1u32 << 20);
    writeln!(
        out,
        "{}: {} language-model matrices as {} in {} ({:.1} MiB), the rest in float in {} ({:.1} MiB); source {:.1} MiB; {seconds:.1} s",
        args.out.display(),
        m.quantized.len(),
        m.quant_type.name(),
        m.gguf_file,
        mib(m.gguf_bytes),
        m.float_file,
        mib(m.float_bytes),
        mib(m.source.bytes),
    )?;
    if !m.kept_float.is_empty() {
        writeln!(out, "kept in float ({}):", m.kept_float.len())?;
        for k in &m.kept_float {
            writeln!(out, "  {} {:?}: {}", k.name, k.shape, k.reason)?;
        }
    }
    if !report.skipped.is_empty() {
        writeln!(
            out,
            "not copied (other weight files): {}",
            report.skipped.join(", ")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::cli::run_model;

    #[test]
    fn quantize_then_info_and_a_text_only_bench_on_the_copy() {
        let model =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/model/qwen2vl-legacy");
        let out = std::env::temp_dir().join(format!("ecgr1-cli-quant-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let (code, text, err) = run_model(
            "quantize",
            &model,
            &["--to", "q8_0", "-o", out.to_str().unwrap(), "--json"],
        );
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["manifest"]["quant_type"], "q8_0");
        assert_eq!(v["manifest"]["quantized"].as_array().unwrap().len(), 16);
        assert!(
            v["copied"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "tokenizer.json")
        );

        let (code, text, err) = run_model("info", &out, &["--json"]);
        assert_eq!(code, 0, "{err}");
        let info: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(info["quantization"]["type"], "q8_0");
        assert_eq!(info["dtype"], "q8_0");
        // The same parameters as the float original, wherever they are stored.
        let (_, orig, _) = run_model("info", &model, &["--json"]);
        let orig: serde_json::Value = serde_json::from_str(&orig).unwrap();
        assert_eq!(info["parameters"], orig["parameters"]);
        let files = info["files"].as_array().unwrap();
        assert!(files.iter().any(|f| f["name"] == "model-q8_0.gguf"));

        let (code, text, err) = run_model("bench", &out, &["--new-tokens", "3", "--cpu", "--json"]);
        assert_eq!(code, 0, "{err}");
        let b: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(b["ecgr1"]["quantization"], "q8_0");
        assert_eq!(b["ecgr1"]["quantized_matrices"], 16);
        assert_eq!(b["ecgr1"]["image_tokens"], 0);
        assert!(b["ecgr1"]["decode_tokens_per_s"].as_f64().unwrap() > 0.0);

        // Quantising into a directory that is not empty is an error line.
        let (code, _, err) = run_model(
            "quantize",
            &model,
            &["--to", "q4k", "-o", out.to_str().unwrap()],
        );
        assert_eq!(code, 1);
        assert!(err.contains("not empty"), "{err}");
        let _ = std::fs::remove_dir_all(&out);
    }
}
