//! The short vertical marks a printer draws where one lead's panel ends and the next begins.
//! They stand at exact times (every 2.5 s on a 3×4 page), so their sub-pixel positions fix
//! the time origin more precisely than the trace's first inked column can; and they are
//! masked out of the ink before tracing, so the trace is read right up to them instead of a
//! margin being dropped either side.

use image::GrayImage;

use super::pulse::runs;
use super::rows::Row;
use super::trace::{ink_interval, ink_segment};

/// Heights a boundary mark may have, mm (printers draw 3–10 mm).
const MARK_HEIGHT_MM: (f64, f64) = (2.0, 12.0);
/// How far from where the time scale puts a boundary its mark may stand, mm.
const SEARCH_MM: f64 = 1.0;
/// Rows of a mark whose centre strays further than this from the mark's median are the
/// trace crossing it, px.
const STRAIGHT_PX: f64 = 0.5;

/// One boundary mark.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct BoundaryMark {
    /// Centre of the vertical stroke, px (pixel k spans k..k+1).
    pub x_px: f64,
    /// Its rows, `y_top..y_bottom`.
    pub y_top: u32,
    pub y_bottom: u32,
    /// Half its width, px.
    pub half_width_px: f64,
}

/// The mark near `expected_x` on `row`, `None` when there is none (or the trace there is
/// too busy to tell one from a steep stroke).
pub(crate) fn find_mark(
    ink: &GrayImage,
    darkness: &GrayImage,
    row: &Row,
    expected_x: f64,
    px_per_mm: f64,
) -> Option<BoundaryMark> {
    let search = (SEARCH_MM * px_per_mm).max(3.0);
    let lo = (expected_x - search).floor().max(0.0) as u32;
    let hi = ((expected_x + search).ceil() as u32).min(ink.width());
    let (min_h, max_h) = (MARK_HEIGHT_MM.0 * px_per_mm, MARK_HEIGHT_MM.1 * px_per_mm);
    // The tallest run in the window that spans the baseline's neighbourhood.
    let (x, run) = (lo..hi)
        .flat_map(|x| {
            runs(ink, x, row.y_top, row.y_bottom)
                .into_iter()
                .map(move |r| (x, r))
        })
        .filter(|&(_, (a, b))| {
            let h = f64::from(b - a);
            h >= min_h && h <= max_h
        })
        .max_by_key(|&(_, (a, b))| b - a)?;
    // Row by row, the stroke's centre; a mark is straight, a trace's stroke is not.
    let reach = (0.6 * px_per_mm).ceil().max(3.0) as u32;
    let centres: Vec<(u32, f64, f64)> = (run.0..run.1)
        .filter_map(|y| segment(ink, darkness, x, y, reach).map(|(c, w)| (y, c, w)))
        .collect();
    if centres.len() * 3 < (run.1 - run.0) as usize * 2 {
        return None;
    }
    let mut xs: Vec<f64> = centres.iter().map(|c| c.1).collect();
    let mid = xs.len() / 2;
    let (_, &mut median, _) = xs.select_nth_unstable_by(mid, f64::total_cmp);
    let straight: Vec<&(u32, f64, f64)> = centres
        .iter()
        .filter(|c| (c.1 - median).abs() <= STRAIGHT_PX)
        .collect();
    if (straight.len() as f64) < min_h.min(f64::from(run.1 - run.0) * 0.7) {
        return None;
    }
    let n = straight.len() as f64;
    let x_px = straight.iter().map(|c| c.1).sum::<f64>() / n;
    let width = straight.iter().map(|c| c.2).sum::<f64>() / n;
    Some(BoundaryMark {
        x_px,
        y_top: run.0,
        y_bottom: run.1,
        half_width_px: width / 2.0,
    })
}

/// Centre and width (px) of the ink segment of row `y` holding column `x`, `None` when it is
/// wider than `reach` either side (a trace running along the row).
fn segment(
    ink: &GrayImage,
    darkness: &GrayImage,
    x: u32,
    y: u32,
    reach: u32,
) -> Option<(f64, f64)> {
    let (l, r) = ink_segment(ink, x, y, reach)?;
    // A mark is drawn in full ink: its darkest pixel is full.
    let full = (l..r)
        .map(|k| darkness.get_pixel(k, y).0[0])
        .max()
        .map_or(0.0, f64::from);
    if full <= 0.0 {
        return None;
    }
    let (left, right) = ink_interval(darkness, y, (l, r), full)?;
    Some((f64::midpoint(left, right), right - left))
}

/// How far the marks say the time origin must move, px: the median of each mark's offset
/// from where the time scale puts its boundary, when at least two marks agree within half a
/// pixel. `None` otherwise (the origin from the trace's start stands).
pub(crate) fn origin_shift(found: &[(f64, BoundaryMark)]) -> Option<f64> {
    if found.len() < 2 {
        return None;
    }
    let mut offsets: Vec<f64> = found.iter().map(|(e, m)| m.x_px - e).collect();
    let mid = offsets.len() / 2;
    let (_, &mut median, _) = offsets.select_nth_unstable_by(mid, f64::total_cmp);
    let agreeing = offsets
        .iter()
        .filter(|o| (*o - median).abs() <= 0.5)
        .count();
    (agreeing * 3 >= offsets.len() * 2 && agreeing >= 2).then_some(median)
}

/// Clears the mark's pixels from the ink (with one anti-aliased column either side), so that
/// the trace is not read through it; the trace under the mark is bridged like any gap.
pub(crate) fn mask(ink: &mut GrayImage, mark: &BoundaryMark) {
    let x0 = (mark.x_px - mark.half_width_px - 1.0).floor().max(0.0) as u32;
    let x1 = ((mark.x_px + mark.half_width_px + 1.0).ceil() as u32).min(ink.width());
    for x in x0..x1 {
        for y in mark.y_top..mark.y_bottom.min(ink.height()) {
            ink.put_pixel(x, y, image::Luma([0]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    fn row() -> Row {
        Row {
            y_top: 0,
            y_bottom: 60,
            baseline_y: 30.0,
            x_first: 0,
            x_end: 200,
        }
    }

    /// A flat trace at y 30 with a vertical mark 1.5 px wide centred at x = 100.25.
    fn page() -> (GrayImage, GrayImage) {
        let mut ink = GrayImage::new(200, 60);
        let mut dark = GrayImage::new(200, 60);
        for x in 0..200 {
            for y in 29..31 {
                ink.put_pixel(x, y, Luma([255]));
                dark.put_pixel(x, y, Luma([200]));
            }
        }
        for y in 15..45 {
            // Coverage of columns 99, 100, 101 by [99.5, 101.0): 0.5, 1, 0.
            dark.put_pixel(99, y, Luma([100]));
            dark.put_pixel(100, y, Luma([200]));
            ink.put_pixel(100, y, Luma([255]));
        }
        (ink, dark)
    }

    #[test]
    fn a_mark_is_found_to_a_fraction_of_a_pixel() {
        let (ink, dark) = page();
        let m = find_mark(&ink, &dark, &row(), 101.0, 4.0).unwrap();
        assert!((m.x_px - 100.25).abs() < 0.01, "{m:?}");
        assert!((m.half_width_px - 0.75).abs() < 0.01, "{m:?}");
        assert_eq!((m.y_top, m.y_bottom), (15, 45));
    }

    #[test]
    fn a_steep_stroke_is_not_a_mark() {
        let mut ink = GrayImage::new(200, 60);
        let mut dark = GrayImage::new(200, 60);
        // A stroke leaning one pixel every three rows.
        for y in 10..50u32 {
            let x = 90 + y / 3;
            ink.put_pixel(x, y, Luma([255]));
            dark.put_pixel(x, y, Luma([200]));
        }
        assert_eq!(find_mark(&ink, &dark, &row(), 100.0, 4.0), None);
    }

    #[test]
    fn the_origin_moves_only_when_the_marks_agree() {
        let mark = |x_px| BoundaryMark {
            x_px,
            y_top: 0,
            y_bottom: 1,
            half_width_px: 0.5,
        };
        assert_eq!(origin_shift(&[(100.0, mark(100.4))]), None);
        let agree = [
            (100.0, mark(100.4)),
            (200.0, mark(200.3)),
            (300.0, mark(300.5)),
        ];
        let shift = origin_shift(&agree).unwrap();
        assert!((shift - 0.4).abs() < 1e-9, "{shift}");
        let disagree = [
            (100.0, mark(100.4)),
            (200.0, mark(202.0)),
            (300.0, mark(297.0)),
        ];
        assert_eq!(origin_shift(&disagree), None);
    }

    #[test]
    fn masking_clears_the_mark_and_keeps_the_trace_beside_it() {
        let (mut ink, dark) = page();
        let m = find_mark(&ink, &dark, &row(), 100.0, 4.0).unwrap();
        mask(&mut ink, &m);
        assert_eq!(ink.get_pixel(100, 20).0[0], 0);
        assert_eq!(ink.get_pixel(100, 30).0[0], 0);
        assert_eq!(ink.get_pixel(96, 30).0[0], 255);
        assert_eq!(ink.get_pixel(104, 30).0[0], 255);
    }
}
