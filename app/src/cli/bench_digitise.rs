//! `ecgr1 bench-digitise [--dpi 300] [--repeats 5]`: digitises a page the renderer draws from
//! the bundled sample and prints the time per page beside two baselines timed in the same run
//! (decoding the page's PNG alone, and drawing the page), and the SNR of what was read against
//! the source signal (the Challenge 2024 score). The digitiser runs on the calling thread and
//! starts none, so the time is one core's.

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use ecgr1_engine::digitise::{DigitiseOptions, digitise, snr};
use ecgr1_engine::formats::{EcgInput, LoadOptions, load_path};
use ecgr1_engine::render::{RenderOptions, render};
use image::RgbImage;

/// The target for a 300-dpi page on one core.
const TARGET_MS: f64 = 1000.0;

#[derive(Debug, Args)]
pub struct BenchDigitiseArgs {
    /// Resolution of the rendered page.
    #[arg(long, default_value_t = 300.0)]
    pub dpi: f64,
    /// Timed runs of each step (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Print JSON (`digitise_ms`, `png_decode_ms`, `render_ms`, `snr_db`, ...).
    #[arg(long)]
    pub json: bool,
}

/// Median of `repeats` timed runs of `f`, in milliseconds, with the last result.
fn median_ms<T>(repeats: usize, mut f: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut times = Vec::with_capacity(repeats);
    let mut last = None;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        last = Some(f()?);
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let value = last.context("no run was timed")?;
    Ok((times[times.len() / 2], value))
}

pub fn run(args: &BenchDigitiseArgs, out: &mut dyn Write) -> Result<()> {
    if !(50.0..=600.0).contains(&args.dpi) {
        bail!("--dpi {}: expected 50 to 600", args.dpi);
    }
    let sample = super::demo::samples_dir().join("synthetic_sinus.hea");
    let source = match load_path(&sample, &LoadOptions::default())
        .with_context(|| format!("reading {}", sample.display()))?
    {
        EcgInput::Signal(s) => s.record,
        EcgInput::Image(_) => bail!("{}: not a signal", sample.display()),
    };
    let options = RenderOptions {
        dpi: args.dpi,
        ..RenderOptions::default()
    };
    let (render_ms, page) = median_ms(args.repeats, || Ok(render(&source, &options)?))?;
    let rgb = RgbImage::from_fn(page.width(), page.height(), |x, y| {
        image::Rgb(page.pixel(x, y).unwrap_or([255, 255, 255]))
    });
    let mut png = Vec::new();
    rgb.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .context("encoding the page as PNG")?;
    let (decode_ms, decoded) = median_ms(args.repeats, || {
        Ok(image::load_from_memory(&png)
            .context("decoding the page's PNG")?
            .to_rgb8())
    })?;
    let (digitise_ms, digitised) = median_ms(args.repeats, || {
        Ok(digitise(&decoded, &DigitiseOptions::default())?)
    })?;
    let truth = snr::shown_part(&source, &digitised.report);
    let score = snr::score(&truth, &digitised.record)?;
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    if args.json {
        let value = serde_json::json!({
            "dpi": args.dpi,
            "width_px": rgb.width(),
            "height_px": rgb.height(),
            "png_bytes": png.len(),
            "repeats": args.repeats.max(1),
            "digitise_ms": digitise_ms,
            "png_decode_ms": decode_ms,
            "render_ms": render_ms,
            "snr_db": score.mean_snr_db,
            "target_ms": TARGET_MS,
            "build": build,
            "threads": 1,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "page: {} at {} dpi, {}×{} px ({} kB as PNG), {build} build, one thread",
        sample
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        args.dpi,
        rgb.width(),
        rgb.height(),
        png.len() / 1024
    )?;
    writeln!(
        out,
        "digitise:          {digitise_ms:>9.1} ms per page (median of {})",
        args.repeats.max(1)
    )?;
    writeln!(
        out,
        "baseline: decode   {decode_ms:>9.1} ms (the same page's PNG, decoded alone)"
    )?;
    writeln!(
        out,
        "baseline: render   {render_ms:>9.1} ms (drawing the page)"
    )?;
    writeln!(
        out,
        "SNR {:.1} dB against the source over what the page shows; target < {TARGET_MS:.0} ms per page: {}",
        score.mean_snr_db,
        if digitise_ms < TARGET_MS {
            "met"
        } else {
            "not met"
        }
    )?;
    if cfg!(debug_assertions) {
        writeln!(
            out,
            "note: a debug build; the figure to compare with the target comes from `cargo run --release -p ecgr1-app -- bench-digitise`"
        )?;
    }
    Ok(())
}
