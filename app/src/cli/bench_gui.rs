//! `ecgr1 bench-gui`: CPU time per frame of the reading room drawing a 12-lead, 10 s, 1000 Hz
//! record in 3×4 + rhythm at 1920×1080 (layout and tessellation, as eframe does each frame;
//! no GPU), and the time from launch to the first frame with the ECG drawn.
//!
//! Baselines measured in the same run: for frames, the same panels drawn the naive way (every
//! sample a polyline vertex, no per-pixel min/max reduction); for launch, reading the same
//! file alone.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use ecgr1_engine::formats::{EcgInput, LoadOptions, load_path};
use ecgr1_engine::render::{PanelSource, page_layout};
use ecgr1_ui::PaperSettings;

use crate::audit::AuditKey;
use crate::gui::{StartOptions, WorkstationApp, samples_dir};
use crate::store::{DbLocation, KeySource, StoreConfig};

const WIDTH: f32 = 1920.0;
const HEIGHT: f32 = 1080.0;
const FRAME_TARGET_MS: f64 = 4.0;
const LAUNCH_TARGET_MS: f64 = 500.0;

#[derive(Debug, Args)]
pub struct BenchGuiArgs {
    /// The 12-lead record to draw (default: the bundled 1000 Hz, 10 s DICOM sample).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Frames timed after the warm-up.
    #[arg(long, default_value_t = 200)]
    pub frames: usize,
}

fn raw_input() -> egui::RawInput {
    egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(WIDTH, HEIGHT),
        )),
        ..egui::RawInput::default()
    }
}

/// One frame: the UI pass, then tessellation into meshes (what the renderer uploads).
fn frame(ctx: &egui::Context, draw: &mut dyn FnMut(&mut egui::Ui)) -> usize {
    let mut out = ctx.run_ui(raw_input(), |ui| draw(ui));
    // There is no GPU to upload font and image textures to: they are dropped on purpose.
    out.textures_delta.clear();
    let meshes = ctx.tessellate(out.shapes, out.pixels_per_point);
    meshes.len()
}

/// Median and 95th percentile of `n` timed frames, in ms, after a warm-up.
fn time_frames(ctx: &egui::Context, n: usize, draw: &mut dyn FnMut(&mut egui::Ui)) -> (f64, f64) {
    for _ in 0..10 {
        frame(ctx, draw);
    }
    let mut times: Vec<f64> = (0..n.max(1))
        .map(|_| {
            let start = Instant::now();
            frame(ctx, draw);
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

fn start_options(file: PathBuf) -> Result<StartOptions> {
    Ok(StartOptions {
        file: Some(file),
        store: Ok(StoreConfig {
            db: DbLocation::Memory,
            key: KeySource::Given(AuditKey::random().context("audit key")?),
            first_user: "bench".into(),
            first_password: None,
            clock: crate::store::clock::Clock::System,
        }),
        user: "bench".into(),
        persisted: None,
        load_options: ecgr1_engine::formats::LoadOptions::default(),
    })
}

/// Naive drawing of the same page: every sample of every panel as a polyline vertex.
fn naive_paper(ui: &mut egui::Ui, record: &ecgr1_engine::EcgRecord) {
    let Ok(layout) = page_layout(record, &PaperSettings::default().render_options()) else {
        return;
    };
    let rect = ui.available_rect_before_wrap();
    let pt_per_mm = rect.width() / layout.width_mm as f32;
    let painter = ui.painter_at(rect);
    let at = |x: f64, y: f64| {
        egui::pos2(
            rect.min.x + x as f32 * pt_per_mm,
            rect.min.y + y as f32 * pt_per_mm,
        )
    };
    painter.rect_filled(rect, 0.0, egui::Color32::WHITE);
    let stroke = egui::Stroke::new(1.0, egui::Color32::BLACK);
    for panel in &layout.panels {
        let (PanelSource::Recorded | PanelSource::Derived, Some(index)) =
            (panel.source, panel.record_index)
        else {
            continue;
        };
        let lead = &record.leads[index];
        let rate = record.sample_rate_hz;
        let first = (panel.t_start_s * rate) as usize;
        let last = ((panel.t_end_s * rate) as usize).min(lead.samples_uv.len());
        let points: Vec<egui::Pos2> = (first..last)
            .map(|i| {
                let t = i as f64 / rate;
                at(panel.x_at(t), panel.y_at_uv(lead.samples_uv[i]))
            })
            .collect();
        if points.len() >= 2 {
            painter.add(egui::Shape::line(points, stroke));
        }
    }
}

pub fn run(args: &BenchGuiArgs, out: &mut dyn Write) -> Result<()> {
    let file = match &args.file {
        Some(f) => f.clone(),
        None => samples_dir()
            .context("assets/samples not found; pass --file")?
            .join("waveform_ecg.dcm"),
    };
    let read_start = Instant::now();
    let input = load_path(&file, &LoadOptions::default())
        .with_context(|| format!("reading {}", file.display()))?;
    let read_ms = read_start.elapsed().as_secs_f64() * 1000.0;
    let EcgInput::Signal(signal) = input else {
        bail!("{}: an image has no signal to draw", file.display());
    };
    let record = signal.record;
    writeln!(
        out,
        "record: {} — {} leads, {} Hz, {:.1} s; window {WIDTH}×{HEIGHT}, layout 3×4 + rhythm",
        file.display(),
        record.leads.len(),
        record.sample_rate_hz,
        record.duration_s()
    )?;

    // Launch: a new window until the first frame that draws the ECG.
    let ctx = egui::Context::default();
    let launch_start = Instant::now();
    let mut app = WorkstationApp::new(&ctx, start_options(file.clone())?);
    let mut frames_to_ecg = 0;
    loop {
        frame(&ctx, &mut |ui| app.show(ui));
        frames_to_ecg += 1;
        if app.reading_room().shows_signal() {
            // This frame received the record; the next one draws it.
            frame(&ctx, &mut |ui| app.show(ui));
            break;
        }
        if launch_start.elapsed().as_secs() > 30 {
            bail!("the ECG was not drawn within 30 s of launch");
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let launch_ms = launch_start.elapsed().as_secs_f64() * 1000.0;

    let (ours, ours_p95) = time_frames(&ctx, args.frames, &mut |ui| app.show(ui));
    let naive_ctx = egui::Context::default();
    let (naive, naive_p95) = time_frames(&naive_ctx, args.frames, &mut |ui| {
        egui::CentralPanel::default().show(ui, |ui| naive_paper(ui, &record));
    });

    writeln!(
        out,
        "frame (reading room, CPU: layout + tessellation), {} frames:",
        args.frames
    )?;
    writeln!(
        out,
        "  workstation   median {ours:7.2} ms  p95 {ours_p95:7.2} ms   target < {FRAME_TARGET_MS} ms: {}",
        if ours < FRAME_TARGET_MS {
            "met"
        } else {
            "NOT met"
        }
    )?;
    writeln!(
        out,
        "  naive paper   median {naive:7.2} ms  p95 {naive_p95:7.2} ms   (every sample a vertex, no grid or panels)"
    )?;
    writeln!(
        out,
        "  ratio naive / workstation: {:.1}×",
        naive / ours.max(1e-9)
    )?;
    writeln!(out, "launch to first drawn ECG ({frames_to_ecg} frames):")?;
    writeln!(
        out,
        "  workstation   {launch_ms:7.1} ms   target < {LAUNCH_TARGET_MS} ms: {}",
        if launch_ms < LAUNCH_TARGET_MS {
            "met"
        } else {
            "NOT met"
        }
    )?;
    writeln!(
        out,
        "  reading the file alone {read_ms:.1} ms (launch is {:.1}× that)",
        launch_ms / read_ms.max(1e-9)
    )?;
    Ok(())
}
