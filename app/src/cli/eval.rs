//! `ecgr1 eval MANIFEST.csv [--engine …] [--compare ENGINE] [--task twi|interpret] [--out DIR]`:
//! run one or two engines over a labelled manifest and write the metrics, every row and plots.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use ecgr1_engine::EcgRecord;
use ecgr1_engine::eval::metrics;
use ecgr1_engine::features::measure;
use ecgr1_engine::report::{Report, Task};
use ecgr1_engine::verify::verify_report;
use serde_json::json;

use super::input::ReadArgs;
use crate::engines::{EngineArgs, build};
use crate::eval::{
    EvalConfig, RowOutcome, VerifierCounts, compare, plots, read_manifest, run_engine, summarise,
    write_rows_csv,
};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// CSV with columns file, image, notes, label (see README).
    pub manifest: PathBuf,
    #[arg(long, default_value = "twi")]
    pub task: Task,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// A second engine to compare with on the same rows (paired McNemar and DeLong): `protocol`
    /// or `local:DIR`.
    #[arg(long)]
    pub compare: Option<String>,
    /// Output folder (summary.json, rows CSV, plots, cache).
    #[arg(long, default_value = "eval-out")]
    pub out: PathBuf,
    /// Bootstrap replicates for the AUC interval.
    #[arg(long, default_value_t = 2000)]
    pub bootstrap: usize,
    /// How the manifest's files are read (the options every command that reads a file takes).
    #[command(flatten)]
    pub read: ReadArgs,
}

fn verify_counts(report: &Report, record: &EcgRecord) -> VerifierCounts {
    measure(record).map_or_else(
        |_| VerifierCounts::default(),
        |m| {
            let v = verify_report(report, &m);
            VerifierCounts {
                claims: v.summary.claims,
                contradicted: v.summary.contradicted,
            }
        },
    )
}

fn engine_args_for(spec: &str, base: &EngineArgs) -> EngineArgs {
    let mut args = base.clone();
    match spec.split_once(':') {
        Some((engine, model)) => {
            args.engine = engine.to_string();
            args.model = Some(model.to_string());
        }
        None => spec.clone_into(&mut args.engine),
    }
    args
}

fn evaluate(
    engine_args: &EngineArgs,
    rows: &[crate::eval::ManifestRow],
    config: &EvalConfig,
    err: &mut dyn Write,
) -> Result<(crate::eval::EngineSummary, Vec<RowOutcome>)> {
    let mut engine = build(engine_args, None)?;
    let outcomes = run_engine(rows, engine.as_mut(), config, Some(&verify_counts), err)?;
    let summary = summarise(engine.identity(), &outcomes, config);
    Ok((summary, outcomes))
}

pub fn run(args: &EvalArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    let rows = read_manifest(&args.manifest)?;
    let config = EvalConfig {
        task: args.task,
        out_dir: args.out.clone(),
        bootstrap_replicates: args.bootstrap,
        seed: 20_261_123,
        load_options: args.read.load_options()?,
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut engines = vec![args.engine.clone()];
    if let Some(spec) = &args.compare {
        engines.push(engine_args_for(spec, &args.engine));
    }
    let mut results = Vec::new();
    for (k, e) in engines.iter().enumerate() {
        let (summary, outcomes) = evaluate(e, &rows, &config, err)?;
        write_rows_csv(
            &args
                .out
                .join(format!("rows-{k}-{}.csv", summary.engine.name)),
            &outcomes,
        )?;
        results.push((summary, outcomes));
    }
    let mut curves = Vec::new();
    for (k, (summary, outcomes)) in results.iter().enumerate() {
        let (p, l): (Vec<f64>, Vec<bool>) = outcomes
            .iter()
            .filter_map(|o| {
                Some((
                    o.p_yes?,
                    matches!(
                        o.reference.first()?.to_lowercase().as_str(),
                        "yes" | "1" | "true"
                    ),
                ))
            })
            .unzip();
        if let Some(auc) = summary.auc {
            curves.push((
                summary.engine.name.clone(),
                metrics::roc_curve(&p, &l),
                auc.auc,
            ));
        }
        if let Some(cal) = &summary.calibration {
            plots::write_reliability(
                &args.out.join(format!("reliability-{k}.png")),
                &summary.engine.name,
                cal,
            )?;
        }
    }
    if !curves.is_empty() {
        plots::write_roc(&args.out.join("roc.png"), &curves)?;
    }
    let comparison = (results.len() == 2).then(|| {
        compare(
            &results[0].0.engine.name,
            &results[0].1,
            &results[1].0.engine.name,
            &results[1].1,
        )
    });
    let summary = json!({
        "manifest": args.manifest.display().to_string(),
        "task": args.task.name(),
        "engines": results.iter().map(|r| &r.0).collect::<Vec<_>>(),
        "comparison": comparison,
    });
    std::fs::write(
        args.out.join("summary.json"),
        serde_json::to_vec_pretty(&summary)?,
    )
    .with_context(|| format!("writing {}", args.out.join("summary.json").display()))?;
    for (s, _) in &results {
        write!(
            out,
            "{}: {} rows, {} failed",
            s.engine.name, s.rows, s.failures
        )?;
        if let Some(b) = &s.binary {
            let f = |p: &metrics::Proportion| {
                p.value
                    .map_or("—".into(), |v| format!("{:.1} %", v * 100.0))
            };
            write!(
                out,
                "; accuracy {}, sensitivity {}, specificity {}",
                f(&b.accuracy),
                f(&b.sensitivity),
                f(&b.specificity)
            )?;
        }
        if let Some(a) = &s.auc {
            write!(out, "; AUC {:.3} ({:.3}–{:.3})", a.auc, a.ci_low, a.ci_high)?;
        }
        if let Some(m) = &s.multilabel {
            write!(out, "; macro F1 {:.3}", m.macro_f1.unwrap_or(0.0))?;
        }
        if let Some(r) = s.verifier_contradiction_rate {
            write!(out, "; verifier contradictions {:.1} %", r * 100.0)?;
        }
        writeln!(out)?;
    }
    if let Some(c) = &comparison
        && let Some(m) = &c.mcnemar
    {
        writeln!(
            out,
            "McNemar: {} vs {}: exact p = {:.4}",
            m.a_only, m.b_only, m.p_exact
        )?;
    }
    writeln!(out, "wrote {}", args.out.join("summary.json").display())?;
    Ok(())
}
