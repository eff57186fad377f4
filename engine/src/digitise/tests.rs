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
        // A photo has room around the page: pad so the turned corners stay in the picture.
        let pad = (f64::from(img.width()) * d.rotate_deg.to_radians().abs() * 0.6) as u32 + 4;
        let mut padded = RgbImage::from_pixel(
            img.width() + 2 * pad,
            img.height() + 2 * pad,
            Rgb([255, 255, 255]),
        );
        image::imageops::replace(&mut padded, &img, i64::from(pad), i64::from(pad));
        img = padded;
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

/// The source's measurements are reproduced from the digitised page.
pub(crate) fn check_measurements(out: &Digitised) {
    let source = crate::features::measure(&source_record()).unwrap_or_else(|e| panic!("{e}"));
    let digit = crate::features::measure(&out.record).unwrap_or_else(|e| panic!("{e}"));
    for (id, tol) in [
        ("rr_mean_ms", 10.0),
        ("pr_ms", 10.0),
        ("qrs_ms", 10.0),
        ("qt_ms", 10.0),
        ("p_axis_deg", 10.0),
        ("qrs_axis_deg", 10.0),
        ("t_axis_deg", 10.0),
    ] {
        let (a, b) = (source.value(id), digit.value(id));
        let (Some(a), Some(b)) = (a, b) else {
            panic!(
                "{id}: source {a:?}, digitised {b:?} ({:?}; flags {:?})",
                digit.get(id).map(|m| &m.reason),
                digit.quality
            );
        };
        assert!(
            (a - b).abs() <= tol,
            "{id}: source {a:.1}, digitised {b:.1}"
        );
    }
    let (a, b) = (source.heart_rate_bpm.value, digit.heart_rate_bpm.value);
    assert!(
        a.zip(b).is_some_and(|(a, b)| (a - b).abs() <= 1.0),
        "rate {a:?} vs {b:?}"
    );
}

#[test]
fn a_clean_300_dpi_page_scores_above_20_db_and_measures_like_its_source() {
    let o = options(Layout::ThreeByFour, 25.0, 10.0, 300.0);
    let (out, snr) = read(&o, Distortion::default(), &DigitiseOptions::default());
    check_scales(&out, &o);
    assert!(snr >= 20.0, "{snr}");
    assert_eq!(out.report.rhythm_leads, vec![StandardLead::II]);
    assert!(out.report.einthoven_relative.is_some_and(|e| e < 0.15));
    assert!(
        out.report
            .calibration_pulse
            .as_ref()
            .is_some_and(|p| p.rows_with_pulse == 4)
    );
    check_measurements(&out);
    // Each lead is present only over its panel's time: lead I over the first 2.5 s.
    let i = out
        .record
        .lead(StandardLead::I)
        .unwrap_or_else(|| panic!("no lead I"));
    assert!(i.samples_uv[1000].is_finite() && !i.samples_uv[2000].is_finite());
}

#[test]
fn low_resolution_and_other_layouts_keep_their_scales() {
    // 100 dpi: strokes a pixel wide; the honest floor measured there is about 13 dB.
    let o = options(Layout::ThreeByFour, 25.0, 10.0, 100.0);
    let (out, snr) = read(&o, Distortion::default(), &DigitiseOptions::default());
    check_scales(&out, &o);
    assert!(snr >= 10.0, "{snr}");
    for o in [
        options(Layout::SixByTwo, 50.0, 20.0, 150.0),
        options(Layout::TwelveByOne, 25.0, 5.0, 150.0),
    ] {
        let (out, snr) = read(&o, Distortion::default(), &DigitiseOptions::default());
        check_scales(&out, &o);
        assert!(snr >= 17.0, "{snr}");
    }
}

#[test]
fn pages_without_grid_or_pulse_use_what_is_left() {
    let base = options(Layout::ThreeByFour, 25.0, 10.0, 150.0);
    let no_grid = RenderOptions {
        grid: false,
        ..base.clone()
    };
    let (out, snr) = read(&no_grid, Distortion::default(), &DigitiseOptions::default());
    assert!(out.report.grid.is_none());
    assert_eq!(out.report.speed_source, SpeedSource::RowLengthNoGrid);
    assert!(snr >= 17.0, "{snr}");
    let no_pulse = RenderOptions {
        calibration_pulse: false,
        ..base.clone()
    };
    let stated = DigitiseOptions {
        gain_mm_mv: Some(10.0),
        ..DigitiseOptions::default()
    };
    let (out, snr) = read(&no_pulse, Distortion::default(), &stated);
    assert_eq!(out.report.gain_source, GainSource::Stated);
    assert!(snr >= 17.0, "{snr}");
    // Without the stated gain, or with neither grid nor pulse, it refuses and says why.
    let source = source_record();
    let img = page_image(&source, &no_pulse, Distortion::default());
    assert_eq!(
        digitise(&img, &DigitiseOptions::default()).err(),
        Some(DigitiseError::NoGain)
    );
    let bare = RenderOptions {
        grid: false,
        calibration_pulse: false,
        ..base
    };
    let img = page_image(&source, &bare, Distortion::default());
    assert_eq!(digitise(&img, &stated).err(), Some(DigitiseError::NoScale));
    // A blank page has no trace.
    let blank = RgbImage::from_pixel(800, 400, Rgb([255, 255, 255]));
    assert!(digitise(&blank, &stated).is_err());
}

#[test]
fn distorted_pages_score_above_10_db() {
    for (dpi, d) in [
        (
            150.0,
            Distortion {
                grayscale: true,
                jpeg_quality: Some(75),
                ..Distortion::default()
            },
        ),
        (
            150.0,
            Distortion {
                rotate_deg: 3.0,
                noise_sd: 10.0,
                ..Distortion::default()
            },
        ),
        // A blurred photo needs more pixels: at 150 dpi the blurred trace fades into the grid.
        (
            200.0,
            Distortion {
                blur_sigma: 1.0,
                noise_sd: 8.0,
                rotate_deg: -1.5,
                jpeg_quality: Some(80),
                grayscale: false,
            },
        ),
    ] {
        let o = options(Layout::ThreeByFour, 25.0, 10.0, dpi);
        let (out, snr) = read(&o, d, &DigitiseOptions::default());
        check_scales(&out, &o);
        assert!(snr >= 10.0, "{d:?}: {snr}");
        if d.rotate_deg != 0.0 {
            assert!((out.report.rotation_corrected_deg - d.rotate_deg).abs() < 0.2);
        }
    }
}

#[test]
fn too_skewed_pages_are_refused() {
    let o = options(Layout::ThreeByFour, 25.0, 10.0, 100.0);
    let d = Distortion {
        rotate_deg: 15.0,
        ..Distortion::default()
    };
    let img = page_image(&source_record(), &o, d);
    match digitise(&img, &DigitiseOptions::default()) {
        Err(DigitiseError::TooSkewed { .. } | DigitiseError::UnknownLayout(_)) => {}
        other => panic!("{:?}", other.map(|d| d.report)),
    }
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
    if kinds.contains("kinds") {
        let only = std::env::var("DIGITISE_KIND").unwrap_or_default();
        let dpi = std::env::var("DIGITISE_DPI")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200.0);
        for (name, o, d, given) in page_kinds(dpi) {
            if !name.contains(&only) {
                continue;
            }
            let (_, snr) = read(&o, d, &given);
            eprintln!("SWEEP {name}: {snr:.1} dB");
        }
    }
}

/// The page kinds of the issue at one resolution: (name, render options, distortion, what
/// the caller states).
pub(crate) fn page_kinds(dpi: f64) -> Vec<(String, RenderOptions, Distortion, DigitiseOptions)> {
    let base = options(Layout::ThreeByFour, 25.0, 10.0, dpi);
    let none = Distortion::default();
    let plain = DigitiseOptions::default();
    let mut out = vec![
        (
            "3x4 25 mm/s 10 mm/mV".to_string(),
            base.clone(),
            none,
            plain.clone(),
        ),
        (
            "6x2".into(),
            options(Layout::SixByTwo, 25.0, 10.0, dpi),
            none,
            plain.clone(),
        ),
        (
            "12x1".into(),
            options(Layout::TwelveByOne, 25.0, 10.0, dpi),
            none,
            plain.clone(),
        ),
        (
            "3x4 50 mm/s".into(),
            options(Layout::ThreeByFour, 50.0, 10.0, dpi),
            none,
            plain.clone(),
        ),
        (
            "3x4 5 mm/mV".into(),
            options(Layout::ThreeByFour, 25.0, 5.0, dpi),
            none,
            plain.clone(),
        ),
        (
            "3x4 20 mm/mV".into(),
            options(Layout::ThreeByFour, 25.0, 20.0, dpi),
            none,
            plain.clone(),
        ),
        (
            "3x4 no grid".into(),
            RenderOptions {
                grid: false,
                ..base.clone()
            },
            none,
            plain.clone(),
        ),
        (
            "3x4 no pulse, gain stated".into(),
            RenderOptions {
                calibration_pulse: false,
                ..base.clone()
            },
            none,
            DigitiseOptions {
                gain_mm_mv: Some(10.0),
                ..plain.clone()
            },
        ),
    ];
    let distorted = [
        (
            "black and white",
            Distortion {
                grayscale: true,
                ..none
            },
        ),
        (
            "JPEG q70",
            Distortion {
                jpeg_quality: Some(70),
                ..none
            },
        ),
        (
            "rotated 2°",
            Distortion {
                rotate_deg: 2.0,
                ..none
            },
        ),
        (
            "rotated -4.5°",
            Distortion {
                rotate_deg: -4.5,
                ..none
            },
        ),
        (
            "noise sd 12",
            Distortion {
                noise_sd: 12.0,
                ..none
            },
        ),
        (
            "photo-like (blur 1 px, noise, 1.5°, JPEG q80)",
            Distortion {
                blur_sigma: 1.0,
                noise_sd: 8.0,
                rotate_deg: 1.5,
                jpeg_quality: Some(80),
                grayscale: false,
            },
        ),
    ];
    for (name, d) in distorted {
        out.push((format!("3x4 {name}"), base.clone(), d, plain.clone()));
    }
    out
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
