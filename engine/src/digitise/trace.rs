//! Trace extraction along one row: in every pixel column the ink forms vertical runs; a
//! dynamic-programming path picks one run per column so that consecutive runs join up (the
//! trace is continuous) and stay near the row's baseline (neighbouring rows' complexes and
//! leftover marks are elsewhere). A run taller than the stroke is a steep part of the trace
//! drawn inside one column: both of its ends are kept, in the order the path passes them, so
//! QRS peaks and troughs survive.

use image::GrayImage;

use super::pulse::runs;

/// Columns without ink that the path may bridge, mm.
const MAX_GAP_MM: f64 = 3.0;
/// Most runs considered per column (the nearest to the baseline).
const MAX_RUNS: usize = 6;
/// Inked columns back that a run may join: enough to cross a masked boundary mark while
/// another row's ink fills the same columns.
const LOOK_BACK: usize = 8;

/// The path through one row: the trace's centreline as (x, y) points in pixels, in order of
/// x, with the columns it covered.
#[derive(Clone, Debug, Default)]
pub(crate) struct RowTrace {
    pub points: Vec<(f64, f64)>,
    /// Columns (relative to the start) where the path found ink.
    pub covered: Vec<bool>,
    /// Jumps between consecutive runs longer than 2 mm (the path crossing a gap it guessed).
    pub jumps: usize,
}

/// The typical stroke width: the median length of the shortest run in columns that have ink.
pub(crate) fn stroke_width(ink: &GrayImage, y0: u32, y1: u32, x0: u32, x1: u32) -> f64 {
    let mut lengths: Vec<u32> = (x0..x1)
        .step_by(3)
        .filter_map(|x| runs(ink, x, y0, y1).iter().map(|r| r.1 - r.0).min())
        .collect();
    if lengths.is_empty() {
        return 1.0;
    }
    let mid = lengths.len() / 2;
    let (_, m, _) = lengths.select_nth_unstable(mid);
    f64::from(*m).max(1.0)
}

/// Gap between two runs (0 when they overlap or touch).
fn gap(a: (u32, u32), b: (u32, u32)) -> f64 {
    if a.1 < b.0 {
        f64::from(b.0 - a.1)
    } else if b.1 < a.0 {
        f64::from(a.0 - b.1)
    } else {
        0.0
    }
}

fn mid(r: (u32, u32)) -> f64 {
    f64::midpoint(f64::from(r.0), f64::from(r.1))
}

/// Traces the row between columns `x0` and `x1` inside the band `y0..y1`.
pub(crate) fn trace_row(
    ink: &GrayImage,
    (x0, x1): (u32, u32),
    (y0, y1): (u32, u32),
    baseline: f64,
    px_per_mm: f64,
    stroke: f64,
    darkness: &GrayImage,
) -> RowTrace {
    let n = (x1.saturating_sub(x0)) as usize;
    let mut cols: Vec<Vec<(u32, u32)>> = Vec::with_capacity(n);
    for x in x0..x1 {
        let mut r = runs(ink, x, y0, y1);
        if r.len() > MAX_RUNS {
            r.sort_by(|a, b| {
                (mid(*a) - baseline)
                    .abs()
                    .total_cmp(&(mid(*b) - baseline).abs())
            });
            r.truncate(MAX_RUNS);
            r.sort_unstable();
        }
        cols.push(r);
    }
    let max_gap = (MAX_GAP_MM * px_per_mm).ceil() as usize;
    let band = f64::from(y1 - y0).max(1.0);
    // cost[c][j]: best path cost ending on run j of column c; back[c][j]: (column, run) before.
    let mut cost: Vec<Vec<f64>> = cols.iter().map(|c| vec![f64::INFINITY; c.len()]).collect();
    let mut back: Vec<Vec<Option<(usize, usize)>>> =
        cols.iter().map(|c| vec![None; c.len()]).collect();
    let prior = |r: (u32, u32)| 0.5 * (mid(r) - baseline).abs() / band;
    // Skipping a column that has ink costs far more than bridging an empty one: the trace
    // is somewhere in it.
    let mut inked_before = vec![0usize; n + 1];
    for c in 0..n {
        inked_before[c + 1] = inked_before[c] + usize::from(!cols[c].is_empty());
    }
    let mut last_filled: Vec<usize> = Vec::new();
    for c in 0..n {
        for j in 0..cols[c].len() {
            let run = cols[c][j];
            // Starting fresh costs what skipping every column before would: the path covers
            // as much of the row as it can.
            let mut best = (
                prior(run) + c as f64 * 0.3 + inked_before[c] as f64 * 2.7 + 5.0,
                None,
            );
            for &p in last_filled.iter().rev().take(LOOK_BACK) {
                if c - p > max_gap + 1 {
                    continue;
                }
                let skipped_inked = (inked_before[c] - inked_before[p + 1]) as f64;
                let skipped = (c - p - 1) as f64 * 0.3 + skipped_inked * 3.0;
                for (i, &prev) in cols[p].iter().enumerate() {
                    let g = gap(prev, run) / px_per_mm;
                    let step = g * g * 4.0 + g + 0.02 * (mid(prev) - mid(run)).abs() / px_per_mm;
                    let total = cost[p][i] + step + skipped + prior(run);
                    if total < best.0 {
                        best = (total, Some((p, i)));
                    }
                }
            }
            cost[c][j] = best.0;
            back[c][j] = best.1;
        }
        if !cols[c].is_empty() {
            last_filled.push(c);
            if last_filled.len() > LOOK_BACK {
                last_filled.remove(0);
            }
        }
    }
    // The best end: among the last filled columns, charging for the columns left uncovered.
    let mut end: Option<(usize, usize, f64)> = None;
    for c in (0..n).rev().take(max_gap + 1) {
        for (j, &v) in cost[c].iter().enumerate() {
            let after =
                (n - 1 - c) as f64 * 0.3 + (inked_before[n] - inked_before[c + 1]) as f64 * 2.7;
            let total = v + after;
            if end.is_none_or(|e| total < e.2) {
                end = Some((c, j, total));
            }
        }
    }
    let Some((mut c, mut j, _)) = end else {
        return RowTrace {
            covered: vec![false; n],
            ..RowTrace::default()
        };
    };
    let mut chosen: Vec<(usize, (u32, u32))> = vec![(c, cols[c][j])];
    while let Some((pc, pj)) = back[c][j] {
        c = pc;
        j = pj;
        chosen.push((c, cols[c][j]));
    }
    chosen.reverse();
    let mut covered = vec![false; n];
    let mut points = Vec::with_capacity(chosen.len() * 2);
    let mut jumps = 0;
    let single = stroke * 1.6;
    let ink_level = full_ink(darkness, &chosen, x0);
    let width = stroke_coverage(darkness, &chosen, x0, single, ink_level).unwrap_or(stroke);
    let pen = Pen {
        ink,
        darkness,
        ink_level,
        width,
    };
    for k in 0..chosen.len() {
        let (c, run) = chosen[k];
        covered[c] = true;
        let x = x0 + c as u32;
        if let Some(&(_, p)) = k.checked_sub(1).and_then(|i| chosen.get(i))
            && gap(p, run) > 2.0 * px_per_mm
        {
            jumps += 1;
        }
        let len = f64::from(run.1 - run.0);
        if len <= single {
            let y = ink_interval_down(darkness, x, run, ink_level)
                .map_or(mid(run), |(a, b)| f64::midpoint(a, b));
            points.push((f64::from(x) + 0.5, y));
            continue;
        }
        // A steep stretch: each pixel row crosses the trace, so the trace's time in that row
        // is where the stroke lies along it (sub-pixel, from the darkness). Near a peak the
        // rising and the falling stroke merge into one wider segment: its left and right
        // halves are the two strokes. Rows where the trace turns flat give a long segment
        // and are left to the neighbouring columns.
        for y in run.0..run.1 {
            let yc = f64::from(y) + 0.5;
            match pen.crossings(x, y) {
                Crossing::None => {}
                Crossing::One(cx) => points.push((cx, yc)),
                Crossing::Two(a, b) => {
                    points.push((a, yc));
                    points.push((b, yc));
                }
            }
        }
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    RowTrace {
        points,
        covered,
        jumps,
    }
}

/// Where the trace crosses one pixel row.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Crossing {
    /// Not read here: no ink, or a flat stretch of trace running along the row.
    None,
    /// One stroke, centred at this x.
    One(f64),
    /// Two strokes merged into one segment (the sides of a peak or a trough).
    Two(f64, f64),
}

/// What a row's ink says about the pen that drew it: how dark full ink is and how wide one
/// stroke's mark is along a row it crosses steeply (in pixels of full ink).
struct Pen<'a> {
    ink: &'a GrayImage,
    darkness: &'a GrayImage,
    ink_level: f64,
    width: f64,
}

impl Pen<'_> {
    /// The ink segment of row `y` that holds column `x`, read with its anti-aliased edges.
    fn crossings(&self, x: u32, y: u32) -> Crossing {
        let ink = self.ink;
        // Two merged strokes are at most about three strokes wide before they part.
        let reach = (4.0 * self.width).ceil().max(4.0) as u32;
        let Some((l, r)) = ink_segment(ink, x, y, reach) else {
            return Crossing::None;
        };
        let Some((left, right)) = ink_interval(self.darkness, y, (l, r), self.ink_level) else {
            return Crossing::None;
        };
        let extent = right - left;
        if extent <= 1.6 * self.width {
            return Crossing::One(f64::midpoint(left, right));
        }
        if extent > 3.5 * self.width {
            return Crossing::None;
        }
        let half = self.width / 2.0;
        Crossing::Two(left + half, right - half)
    }
}

/// The run of ink along row `y` that holds column `x`, `None` when `x` has no ink or the run
/// reaches further than `reach` either side of it (a trace running along the row).
pub(crate) fn ink_segment(ink: &GrayImage, x: u32, y: u32, reach: u32) -> Option<(u32, u32)> {
    let w = ink.width();
    if y >= ink.height() || x >= w || ink.get_pixel(x, y).0[0] == 0 {
        return None;
    }
    let (mut l, mut r) = (x, x + 1);
    while l > 0 && ink.get_pixel(l - 1, y).0[0] != 0 {
        l -= 1;
        if x - l > reach {
            return None;
        }
    }
    while r < w && ink.get_pixel(r, y).0[0] != 0 {
        r += 1;
        if r - x > reach {
            return None;
        }
    }
    Some((l, r))
}

/// The ink segment `l..r` of row `y` (binarised ink) as an interval of the row, to a
/// fraction of a pixel. `None` when the row has no darkness there.
pub(crate) fn ink_interval(
    darkness: &GrayImage,
    y: u32,
    (l, r): (u32, u32),
    full: f64,
) -> Option<(f64, f64)> {
    let (l, r) = (l.saturating_sub(1), (r + 1).min(darkness.width()));
    covered_interval((l, r), |k| f64::from(darkness.get_pixel(k, y).0[0]) / full)
}

/// The same down column `x`: the run `a..b` of a thin (flat) stretch as an interval.
fn ink_interval_down(
    darkness: &GrayImage,
    x: u32,
    (a, b): (u32, u32),
    full: f64,
) -> Option<(f64, f64)> {
    let (a, b) = (a.saturating_sub(1), (b + 1).min(darkness.height()));
    covered_interval((a, b), |k| f64::from(darkness.get_pixel(x, k).0[0]) / full)
}

/// Pixels `from..to` along a line, each covered by ink in the share `cover` says, read as
/// one interval: the end pixels are covered only in part, from their inner side, so the
/// interval starts `cover` before the first pixel's far edge and ends `cover` after the last
/// pixel's near edge.
fn covered_interval((from, to): (u32, u32), cover: impl Fn(u32) -> f64) -> Option<(f64, f64)> {
    let cover = |k: u32| cover(k).clamp(0.0, 1.0);
    let first = (from..to).find(|&k| cover(k) > 0.02)?;
    let last = (from..to).rev().find(|&k| cover(k) > 0.02)?;
    if first == last {
        let c = f64::from(first) + 0.5;
        let half = cover(first) / 2.0;
        return Some((c - half, c + half));
    }
    Some((
        f64::from(first) + 1.0 - cover(first),
        f64::from(last) + cover(last),
    ))
}

/// The darkness of full ink: a high percentile of the darkness inside the chosen runs (their
/// middle pixels are fully inked; their ends are anti-aliased).
fn full_ink(darkness: &GrayImage, chosen: &[(usize, (u32, u32))], x0: u32) -> f64 {
    let mut levels: Vec<u8> = chosen
        .iter()
        .flat_map(|&(c, (a, b))| (a..b).map(move |y| (x0 + c as u32, y)))
        .filter(|&(x, y)| x < darkness.width() && y < darkness.height())
        .map(|(x, y)| darkness.get_pixel(x, y).0[0])
        .collect();
    if levels.is_empty() {
        return 255.0;
    }
    let k = (levels.len() * 9 / 10).min(levels.len() - 1);
    let (_, v, _) = levels.select_nth_unstable(k);
    f64::from(*v).max(1.0)
}

/// The mark one stroke leaves across its own direction, in pixels of full ink: the median
/// darkness mass of the thin (flat) columns, with one anti-aliased pixel either side.
fn stroke_coverage(
    darkness: &GrayImage,
    chosen: &[(usize, (u32, u32))],
    x0: u32,
    single: f64,
    ink_level: f64,
) -> Option<f64> {
    let h = darkness.height();
    let mut masses: Vec<f64> = chosen
        .iter()
        .filter(|(_, (a, b))| f64::from(b - a) <= single)
        .map(|&(c, (a, b))| {
            let x = x0 + c as u32;
            (a.saturating_sub(1)..(b + 1).min(h))
                .map(|y| f64::from(darkness.get_pixel(x, y).0[0]).min(ink_level))
                .sum::<f64>()
                / ink_level
        })
        .collect();
    if masses.is_empty() {
        return None;
    }
    let mid = masses.len() / 2;
    let (_, m, _) = masses.select_nth_unstable_by(mid, f64::total_cmp);
    Some(m.max(1.0))
}

/// The trace's value (y, px) at column position `x` by linear interpolation, `None` outside
/// the traced points or across an uncovered stretch longer than `max_gap` px.
pub(crate) fn sample(points: &[(f64, f64)], x: f64, max_gap: f64) -> Option<f64> {
    let i = points.partition_point(|p| p.0 <= x);
    if i == 0 {
        return (points.first()?.0 - x <= 0.5).then(|| points[0].1);
    }
    if i == points.len() {
        let last = points[i - 1];
        return (x - last.0 <= 0.5).then_some(last.1);
    }
    let (a, b) = (points[i - 1], points[i]);
    if b.0 - a.0 > max_gap {
        return None;
    }
    let t = if b.0 > a.0 {
        (x - a.0) / (b.0 - a.0)
    } else {
        0.0
    };
    Some(a.1 + t * (b.1 - a.1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    #[test]
    fn an_interval_is_read_from_its_partly_covered_end_pixels() {
        // Ink over [3.25, 6.5): pixel 3 is 3/4 covered, 4 and 5 fully, 6 half.
        let cover = [0.0, 0.0, 0.0, 0.75, 1.0, 1.0, 0.5, 0.0];
        let (a, b) = covered_interval((0, 8), |k| cover[k as usize]).unwrap();
        assert!((a - 3.25).abs() < 1e-9 && (b - 6.5).abs() < 1e-9, "{a} {b}");
        assert_eq!(covered_interval((0, 8), |_| 0.0), None);
    }

    #[test]
    fn merged_strokes_near_a_peak_read_as_two_crossings() {
        let mut ink = GrayImage::new(20, 3);
        let mut dark = GrayImage::new(20, 3);
        // Row 1: ink over [5, 10): the rising and the falling stroke of a peak, 2 px each.
        for x in 5..10 {
            ink.put_pixel(x, 1, Luma([255]));
            dark.put_pixel(x, 1, Luma([200]));
        }
        // Row 2: one stroke over [5, 7).
        for x in 5..7 {
            ink.put_pixel(x, 2, Luma([255]));
            dark.put_pixel(x, 2, Luma([200]));
        }
        let pen = Pen {
            ink: &ink,
            darkness: &dark,
            ink_level: 200.0,
            width: 2.0,
        };
        assert_eq!(pen.crossings(7, 1), Crossing::Two(6.0, 9.0));
        assert_eq!(pen.crossings(5, 2), Crossing::One(6.0));
        assert_eq!(pen.crossings(15, 2), Crossing::None);
    }
}
