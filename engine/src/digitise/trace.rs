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
            for &p in last_filled.iter().rev().take(3) {
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
            if last_filled.len() > 4 {
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
    let half = stroke / 2.0;
    let single = stroke * 1.6;
    // A row segment longer than this is a flat stretch, not a steep stroke crossing the row.
    let reach = (2.0 * stroke).ceil().max(3.0) as u32;
    for k in 0..chosen.len() {
        let (c, run) = chosen[k];
        covered[c] = true;
        let x = f64::from(x0) + c as f64;
        let (top, bottom) = (f64::from(run.0) + half, f64::from(run.1) - half);
        let len = f64::from(run.1 - run.0);
        let prev = points.last().map(|&(_, y)| y);
        let next = chosen.get(k + 1).map(|&(_, r)| mid(r));
        if let Some(&(_, p)) = k.checked_sub(1).and_then(|i| chosen.get(i))
            && gap(p, run) > 2.0 * px_per_mm
        {
            jumps += 1;
        }
        if len <= single || top >= bottom {
            points.push((x + 0.5, mid(run)));
            continue;
        }
        let prev_run = k.checked_sub(1).map(|i| chosen[i].1);
        let next_run = chosen.get(k + 1).map(|&(_, r)| r);
        let neighbours: Vec<(u32, u32)> = prev_run.into_iter().chain(next_run).collect();
        let margin = half.max(1.0);
        let apex = !neighbours.is_empty()
            && neighbours
                .iter()
                .all(|r| top < f64::from(r.0) + half - margin);
        let trough = !neighbours.is_empty()
            && neighbours
                .iter()
                .all(|r| bottom > f64::from(r.1) - half + margin);
        if apex && !trough {
            points.push((x + 0.5, top));
            continue;
        }
        if trough && !apex {
            points.push((x + 0.5, bottom));
            continue;
        }
        // A steep stroke: each pixel row crosses it once, so its time is that row's ink
        // centroid (sub-pixel, from the darkness). Rows at the ends of the run where the
        // stroke turns flat give no centroid and are left to the neighbouring columns.
        let _ = (prev, next);
        for y in run.0..run.1 {
            if let Some(cx) = row_centroid(ink, darkness, x as u32, y, reach) {
                points.push((cx, f64::from(y) + 0.5));
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

/// Darkness-weighted centre (x, px) of the ink segment of row `y` that holds column `x`.
fn row_centroid(ink: &GrayImage, darkness: &GrayImage, x: u32, y: u32, reach: u32) -> Option<f64> {
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
    // One anti-aliased pixel either side belongs to the stroke too.
    let (l, r) = (l.saturating_sub(1), (r + 1).min(w));
    let (mut sum, mut weight) = (0.0, 0.0);
    for k in l..r {
        let d = f64::from(darkness.get_pixel(k, y).0[0]);
        sum += (f64::from(k) + 0.5) * d;
        weight += d;
    }
    (weight > 0.0).then(|| sum / weight)
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
