//! Text and label removal: connected components of the ink (imageproc) that are too small to
//! be a trace — lead labels, the settings footer, specks of noise — are erased.
//!
//! A component is kept when it is wide (a trace runs for centimetres) or tall (a QRS complex
//! or a calibration pulse, even when broken off its trace). Small pieces are kept only on a
//! trace's own level: a trace broken by compression leaves small pieces on its baseline, while
//! labels and footers are printed well above or below it.

use image::{GrayImage, Luma};
use imageproc::region_labelling::{Connectivity, connected_components};

/// Component size that marks a trace, in mm.
const TRACE_WIDTH_MM: f64 = 12.0;
const TRACE_HEIGHT_MM: f64 = 4.6;
/// Small pieces within this distance of a kept component's rows are kept, mm.
const NEAR_TRACE_MM: f64 = 1.2;

#[derive(Clone, Copy, Debug)]
struct Bounds {
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
    pixels: u32,
}

/// What was removed, for the report.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Removed {
    pub components: usize,
    pub pixels: u64,
}

/// Erases text-sized components from `ink` (255 = ink). `px_per_mm` sets the size scale.
pub(crate) fn remove_text(ink: &mut GrayImage, px_per_mm: f64) -> Removed {
    let labels = connected_components(&*ink, Connectivity::Eight, Luma([0u8]));
    let count = labels.pixels().map(|p| p.0[0]).max().unwrap_or(0) as usize;
    if count == 0 {
        return Removed::default();
    }
    let mut bounds = vec![
        Bounds {
            x0: u32::MAX,
            y0: u32::MAX,
            x1: 0,
            y1: 0,
            pixels: 0,
        };
        count + 1
    ];
    for (x, y, l) in labels.enumerate_pixels() {
        let l = l.0[0] as usize;
        if l == 0 {
            continue;
        }
        let b = &mut bounds[l];
        b.x0 = b.x0.min(x);
        b.y0 = b.y0.min(y);
        b.x1 = b.x1.max(x);
        b.y1 = b.y1.max(y);
        b.pixels += 1;
    }
    let wide = TRACE_WIDTH_MM * px_per_mm;
    let tall = TRACE_HEIGHT_MM * px_per_mm;
    let is_trace =
        |b: &Bounds| f64::from(b.x1 - b.x0 + 1) >= wide || f64::from(b.y1 - b.y0 + 1) >= tall;
    // Rows where a trace's pixels are dense: its baseline and flat segments.
    let height = ink.height() as usize;
    let mut trace_rows = vec![0u32; height];
    for (_, y, l) in labels.enumerate_pixels() {
        let l = l.0[0] as usize;
        if l != 0 && is_trace(&bounds[l]) {
            trace_rows[y as usize] += 1;
        }
    }
    let busiest = trace_rows.iter().copied().max().unwrap_or(0);
    let near = (NEAR_TRACE_MM * px_per_mm).ceil() as usize;
    let mut near_trace = vec![false; height];
    for (y, &c) in trace_rows.iter().enumerate() {
        if busiest > 0 && c * 8 >= busiest {
            for flag in &mut near_trace[y.saturating_sub(near)..(y + near + 1).min(height)] {
                *flag = true;
            }
        }
    }
    let keep: Vec<bool> = bounds
        .iter()
        .map(|b| {
            b.pixels > 0
                && (is_trace(b)
                    || (near_trace[b.y0 as usize] && near_trace[b.y1 as usize] && b.pixels > 1))
        })
        .collect();
    let mut removed = Removed::default();
    for (k, b) in bounds.iter().enumerate().skip(1) {
        if !keep[k] && b.pixels > 0 {
            removed.components += 1;
            removed.pixels += u64::from(b.pixels);
        }
    }
    for (x, y, l) in labels.enumerate_pixels() {
        let l = l.0[0] as usize;
        if l != 0 && !keep[l] {
            ink.put_pixel(x, y, Luma([0]));
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_go_and_traces_stay() {
        let mut ink = GrayImage::new(200, 100);
        // A trace: a long line at y = 60 with a tall spike.
        for x in 0..200 {
            ink.put_pixel(x, 60, Luma([255]));
        }
        for y in 30..60 {
            ink.put_pixel(100, y, Luma([255]));
        }
        // A letter far above it.
        for y in 5..15 {
            ink.put_pixel(20, y, Luma([255]));
        }
        let removed = remove_text(&mut ink, 4.0);
        assert_eq!(removed.components, 1);
        assert_eq!(ink.get_pixel(20, 10).0[0], 0);
        assert_eq!(ink.get_pixel(100, 40).0[0], 255);
        assert_eq!(ink.get_pixel(10, 60).0[0], 255);
    }
}
