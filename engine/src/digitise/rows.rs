//! Row and baseline detection: each printed row's isoelectric line is where its ink is densest
//! (a trace spends most of its time near the baseline), so the peaks of the ink's horizontal
//! projection are the rows' baselines. Each row's horizontal extent follows from its ink.

use image::GrayImage;

/// Rows are at least this far apart, mm.
const MIN_ROW_SPACING_MM: f64 = 7.0;
/// A row's baseline peak is at least this share of the strongest one.
const MIN_PEAK_SHARE: f64 = 0.18;

/// One printed row of trace.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row {
    /// The densest ink row (px): near the isoelectric line.
    pub baseline_y: f64,
    /// The band of image rows this row's trace may use (px, `y_top` inclusive, `y_bottom`
    /// exclusive); neighbouring bands overlap so tall complexes are not cut.
    pub y_top: u32,
    pub y_bottom: u32,
    /// First and one-past-last column holding this row's ink near its baseline.
    pub x_first: u32,
    pub x_end: u32,
}

/// Ink pixels per image row.
fn horizontal_projection(ink: &GrayImage) -> Vec<f64> {
    let w = ink.width() as usize;
    ink.as_raw()
        .chunks(w.max(1))
        .map(|row| row.iter().filter(|&&v| v != 0).count() as f64)
        .collect()
}

fn smooth(x: &[f64], half: usize) -> Vec<f64> {
    let mut prefix = vec![0.0; x.len() + 1];
    for (i, v) in x.iter().enumerate() {
        prefix[i + 1] = prefix[i] + v;
    }
    (0..x.len())
        .map(|i| {
            let lo = i.saturating_sub(half);
            let hi = (i + half + 1).min(x.len());
            (prefix[hi] - prefix[lo]) / (hi - lo) as f64
        })
        .collect()
}

/// The rows of trace on the page, top to bottom.
pub(crate) fn find_rows(ink: &GrayImage, px_per_mm: f64) -> Vec<Row> {
    let h = ink.height() as usize;
    let proj = horizontal_projection(ink);
    let smoothed = smooth(&proj, ((0.25 * px_per_mm) as usize).max(1));
    let sep = (MIN_ROW_SPACING_MM * px_per_mm) as usize;
    let mut order: Vec<usize> = (0..h).collect();
    order.sort_by(|&a, &b| smoothed[b].total_cmp(&smoothed[a]));
    let strongest = order.first().map_or(0.0, |&i| smoothed[i]);
    if strongest <= 0.0 {
        return Vec::new();
    }
    let mut peaks: Vec<usize> = Vec::new();
    for &y in &order {
        if smoothed[y] < MIN_PEAK_SHARE * strongest {
            break;
        }
        if peaks.iter().all(|&p| p.abs_diff(y) >= sep) {
            peaks.push(y);
        }
    }
    peaks.sort_unstable();
    // Refine each baseline to the centroid of the raw projection around its peak.
    let half = ((0.4 * px_per_mm) as usize).max(1);
    let baselines: Vec<f64> = peaks
        .iter()
        .map(|&p| {
            let lo = p.saturating_sub(half);
            let hi = (p + half + 1).min(h);
            let (mut s, mut sw) = (0.0, 0.0);
            for (y, &v) in proj.iter().enumerate().take(hi).skip(lo) {
                s += (y as f64 + 0.5) * v;
                sw += v;
            }
            if sw > 0.0 { s / sw } else { p as f64 + 0.5 }
        })
        .collect();
    let spacing = if baselines.len() > 1 {
        (baselines[baselines.len() - 1] - baselines[0]) / (baselines.len() - 1) as f64
    } else {
        h as f64 / 2.0
    };
    baselines
        .iter()
        .map(|&b| {
            let y_top = (b - 0.95 * spacing).max(0.0) as u32;
            let y_bottom = ((b + 0.95 * spacing) as u32).min(h as u32);
            // Horizontal extent from the ink close to the baseline (the trace returns to it
            // between complexes; labels and pulses tops are away from it).
            let near_top = (b - 0.3 * spacing).max(0.0) as u32;
            let near_bottom = ((b + 0.3 * spacing) as u32).min(h as u32);
            let (mut x_first, mut x_end) = (u32::MAX, 0);
            for y in near_top..near_bottom {
                for x in 0..ink.width() {
                    if ink.get_pixel(x, y).0[0] != 0 {
                        x_first = x_first.min(x);
                        x_end = x_end.max(x + 1);
                    }
                }
            }
            Row {
                baseline_y: b,
                y_top,
                y_bottom,
                x_first: x_first.min(x_end),
                x_end,
            }
        })
        .collect()
}

/// Are the rows evenly spaced (within 15 %), as every standard layout prints them?
pub(crate) fn evenly_spaced(rows: &[Row]) -> bool {
    if rows.len() < 3 {
        return true;
    }
    let gaps: Vec<f64> = rows
        .windows(2)
        .map(|w| w[1].baseline_y - w[0].baseline_y)
        .collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    gaps.iter().all(|g| (g - mean).abs() <= 0.15 * mean)
}
