//! `ecgr1 model parity`: a checkpoint judged against its transformers reference on whatever
//! device this machine has, with the tolerances of `ecgr1_engine::model::parity`. This is how
//! the GPU check proves the CUDA path where no Rust toolchain (and so no `cargo test`) exists.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use ecgr1_engine::model::ModelDType;
use ecgr1_engine::model::parity::{FixtureRoots, ParityReference, check_reference};
use ecgr1_engine::report::Engine;
use serde_json::json;

use super::model::EngineChoice;

#[derive(Debug, Args)]
pub struct ParityArgs {
    /// The checkpoint, dtype and device (the dtype defaults to the reference's: f32, or bf16
    /// for a `*.bf16.json` reference).
    #[command(flatten)]
    pub engine: EngineChoice,
    /// Reference file written by scripts/make_model_fixtures.py or make_qwen3vl_fixtures.py.
    /// Its images are read from the folder above `reference/`, its signals from the repository
    /// root three folders above that; a bf16 reference needs its f32 one beside it.
    #[arg(long)]
    pub reference: PathBuf,
    /// Print JSON: {"reference", "checkpoint", "device", "dtype", "passed", "cases": […]}.
    #[arg(long)]
    pub json: bool,
}

/// `X.bf16.json` → `X.json`.
fn f32_sibling(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".bf16.json")?;
    Some(path.with_file_name(format!("{stem}.json")))
}

pub fn run(args: &ParityArgs, out: &mut dyn Write) -> Result<()> {
    let reference = ParityReference::read(&args.reference)?;
    let f32_reference = if reference.is_bf16() {
        let path = f32_sibling(&args.reference).with_context(|| {
            format!(
                "{}: a bf16 reference is judged against the f32 one beside it, NAME.json for \
                 NAME.bf16.json; this file is not named NAME.bf16.json",
                args.reference.display()
            )
        })?;
        Some(ParityReference::read(&path)?)
    } else {
        None
    };
    let want = if reference.is_bf16() {
        ModelDType::Bf16
    } else {
        ModelDType::F32
    };
    if let Some(dtype) = args.engine.dtype
        && dtype != want
    {
        bail!(
            "{}: a {} reference is judged in {}; --dtype {} would be judged with the wrong \
             tolerances",
            args.reference.display(),
            want.name(),
            want.name(),
            dtype.name()
        );
    }
    let choice = EngineChoice {
        model: args.engine.model.clone(),
        dtype: Some(want),
        cpu: args.engine.cpu,
    };
    let engine = choice.load()?;
    let identity = engine.identity();
    let report = check_reference(
        &engine,
        &reference,
        f32_reference.as_ref(),
        &FixtureRoots::of_reference(&args.reference),
    )
    .with_context(|| format!("replaying {}", args.reference.display()))?;
    if args.json {
        let value = json!({
            "reference": args.reference.display().to_string(),
            "checkpoint": args.engine.model,
            "device": identity.device,
            "dtype": want.name(),
            "passed": report.passed(),
            "cases": report.cases,
        });
        writeln!(out, "{}", serde_json::to_string(&value)?)?;
    } else {
        writeln!(
            out,
            "{} on {} in {}: {} cases",
            args.reference.display(),
            identity.device,
            want.name(),
            report.cases.len()
        )?;
        for c in &report.cases {
            writeln!(
                out,
                "  {:<14} {}  {}",
                c.name,
                if c.passed() { "ok    " } else { "FAILED" },
                c.summary()
            )?;
            for f in &c.failures {
                writeln!(out, "      {f}")?;
            }
        }
    }
    let failed = report.cases.iter().filter(|c| !c.passed()).count();
    if failed > 0 {
        bail!(
            "{}: {failed} of {} cases differ from the reference beyond its tolerance",
            args.reference.display(),
            report.cases.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::cli::{run_captured, run_model};

    fn fixtures() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/model")
    }

    #[test]
    fn an_f32_and_a_bf16_reference_pass_on_the_cpu() {
        for (name, reference) in [
            ("qwen2vl-tiny", "qwen2vl-tiny.json"),
            ("ecgr1-tiny", "ecgr1-tiny.bf16.json"),
        ] {
            let r = fixtures().join("reference").join(reference);
            let (code, out, err) = run_model(
                "parity",
                &fixtures().join(name),
                &["--reference", r.to_str().unwrap(), "--cpu", "--json"],
            );
            assert_eq!(code, 0, "{reference}: {err}{out}");
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["passed"], true);
            assert_eq!(v["device"], "cpu");
            let dtype = if reference.contains("bf16") {
                "bf16"
            } else {
                "f32"
            };
            assert_eq!(v["dtype"], dtype);
            let cases = v["cases"].as_array().unwrap();
            assert!(cases.len() >= 2, "{reference}");
            for c in cases {
                assert!(c["greedy_judged"].as_u64().unwrap() >= 8, "{c}");
                assert!(c["failures"].as_array().unwrap().is_empty(), "{c}");
            }
        }
    }

    #[test]
    fn a_reference_of_another_checkpoint_fails_with_its_differences_named() {
        // qwen2vl-legacy's reference on qwen2vl-tiny: same prompts, other weights.
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("reference/qwen2vl-legacy.json");
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::copy(fixtures().join("reference/qwen2vl-legacy.json"), &copy).unwrap();
        std::fs::copy(
            fixtures().join("ecg_small.png"),
            dir.path().join("ecg_small.png"),
        )
        .unwrap();
        let (code, out, err) = run_model(
            "parity",
            &fixtures().join("qwen2vl-tiny"),
            &["--reference", copy.to_str().unwrap(), "--cpu"],
        );
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("FAILED"), "{out}");
        assert!(
            err.contains("cases differ from the reference beyond its tolerance"),
            "{err}"
        );
    }

    #[test]
    fn a_dtype_other_than_the_references_is_refused_and_a_missing_file_named() {
        let r = fixtures().join("reference/qwen3vl-tiny.bf16.json");
        let (code, _, err) = run_model(
            "parity",
            &fixtures().join("qwen3vl-tiny"),
            &[
                "--reference",
                r.to_str().unwrap(),
                "--dtype",
                "f32",
                "--cpu",
            ],
        );
        assert_eq!(code, 1);
        assert!(err.contains("a bf16 reference is judged in bf16"), "{err}");
        let (code, _, err) = run_captured(&[
            "ecgr1",
            "model",
            "parity",
            "--model",
            "nowhere",
            "--reference",
            "no-such-reference.json",
        ]);
        assert_eq!(code, 1);
        assert!(err.contains("no-such-reference.json"), "{err}");
    }
}
