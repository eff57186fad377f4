//! Deskew: the page's rotation from its long horizontal lines (grid lines, trace baselines).
//!
//! A Hough transform (imageproc) on a reduced copy finds the rotation to the nearest degree;
//! the sharpness of the horizontal projection of the dark pixels (sum of squared row
//! counts, largest when lines are level) then refines it to a few hundredths of a degree.

use image::{GrayImage, Luma, Rgb, RgbImage};
use imageproc::geometric_transformations::{Border, Interpolation, rotate_about_center};
use imageproc::hough::{LineDetectionOptions, detect_lines};

/// Rotations beyond this are refused: the page is a photo taken at an angle.
pub const MAX_SKEW_DEG: f64 = 8.0;
/// Below this the page is left as it is (rotating blurs it for nothing).
const NEGLIGIBLE_DEG: f64 = 0.04;
/// Longest side of the reduced copy the Hough transform runs on.
const HOUGH_SIDE_PX: u32 = 700;
/// Dark pixels used by the refinement (an even subsample of all of them).
const REFINE_POINTS: usize = 120_000;

/// The dark pixels of the page, subsampled: (x, y).
fn dark_points(image: &RgbImage, paper_level: f64) -> Vec<(f32, f32)> {
    let threshold = paper_level - 40.0;
    let mut all = Vec::new();
    for (x, y, p) in image.enumerate_pixels() {
        let l = 0.299 * f64::from(p.0[0]) + 0.587 * f64::from(p.0[1]) + 0.114 * f64::from(p.0[2]);
        if l < threshold {
            all.push((x as f32, y as f32));
        }
    }
    if all.len() <= REFINE_POINTS {
        return all;
    }
    let step = all.len() as f64 / REFINE_POINTS as f64;
    (0..REFINE_POINTS)
        .map(|k| all[(k as f64 * step) as usize])
        .collect()
}

/// Sharpness of the row projection after rotating the points by `deg` (clockwise positive).
fn sharpness(points: &[(f32, f32)], deg: f64, height: f32) -> f64 {
    let (s, c) = deg.to_radians().sin_cos();
    let (s, c) = (s as f32, c as f32);
    let margin = height * 0.2;
    let bins = (height + 2.0 * margin) as usize + 1;
    let mut hist = vec![0u32; bins];
    for &(x, y) in points {
        // Row of the point once the page is turned back by `deg`.
        let yr = y * c - x * s + margin;
        if yr >= 0.0 && (yr as usize) < bins {
            hist[yr as usize] += 1;
        }
    }
    hist.iter().map(|&v| f64::from(v) * f64::from(v)).sum()
}

/// The rotation to the nearest degree from the strongest near-horizontal Hough lines, `None`
/// when none stands out.
fn hough_estimate(image: &RgbImage, paper_level: f64) -> Option<f64> {
    let (w, h) = image.dimensions();
    let factor = (w.max(h).div_ceil(HOUGH_SIDE_PX)).max(1);
    let (sw, sh) = (w.div_ceil(factor), h.div_ceil(factor));
    // Max-pooled so thin lines survive the reduction.
    let mut small = GrayImage::new(sw, sh);
    let threshold = paper_level - 40.0;
    for (x, y, p) in image.enumerate_pixels() {
        let l = 0.299 * f64::from(p.0[0]) + 0.587 * f64::from(p.0[1]) + 0.114 * f64::from(p.0[2]);
        if l < threshold {
            small.put_pixel(x / factor, y / factor, Luma([255]));
        }
    }
    let lines = detect_lines(
        &small,
        LineDetectionOptions {
            vote_threshold: (sw / 3).max(20),
            suppression_radius: 4,
        },
    );
    // Votes per angle among near-horizontal lines (90° in the transform's convention).
    let mut by_angle = [0u32; 180];
    for line in &lines {
        let a = line.angle_in_degrees as i64;
        if (a - 90).abs() <= MAX_SKEW_DEG as i64 + 1 {
            by_angle[line.angle_in_degrees as usize] += 1;
        }
    }
    let (angle, &count) = by_angle.iter().enumerate().max_by_key(|(_, c)| **c)?;
    (count > 0).then_some(angle as f64 - 90.0)
}

/// The page's clockwise rotation in degrees (positive: the right side is lower).
pub(crate) fn estimate_rotation(image: &RgbImage, paper_level: f64) -> f64 {
    let coarse = hough_estimate(image, paper_level).unwrap_or(0.0);
    let points = dark_points(image, paper_level);
    if points.is_empty() {
        return 0.0;
    }
    let height = image.height() as f32;
    let search = |centre: f64, half: f64, step: f64| {
        let steps = (half / step).round() as i64;
        (-steps..=steps)
            .map(|k| centre + k as f64 * step)
            .map(|deg| (deg, sharpness(&points, deg, height)))
            .fold((centre, f64::NEG_INFINITY), |best, cur| {
                if cur.1 > best.1 { cur } else { best }
            })
            .0
    };
    // The Hough angle is to the nearest degree; a wider first pass also covers a page whose
    // Hough vote went to a slanted feature.
    let first = search(coarse, 1.5, 0.25);
    let second = search(first, 0.3, 0.05);
    search(second, 0.06, 0.01)
}

/// The page turned back by `deg` (white where nothing was), or the page itself when the
/// rotation is negligible.
pub(crate) fn level(image: &RgbImage, deg: f64) -> Option<RgbImage> {
    if deg.abs() < NEGLIGIBLE_DEG {
        return None;
    }
    // imageproc rotates clockwise by positive angles; the page is turned counter-clockwise
    // by the same amount to level it.
    Some(rotate_about_center(
        image,
        (-deg).to_radians() as f32,
        Interpolation::Bilinear,
        Border::Constant(Rgb([255, 255, 255])),
    ))
}
