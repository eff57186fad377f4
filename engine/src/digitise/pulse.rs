//! The 1 mV calibration pulse at the start of a row: a flat-topped box rising from the
//! baseline, 0.2 s wide. Its height is 1 mV on this page; its flat lead-in is 0 mV.

use image::GrayImage;

use super::rows::Row;

/// The pulse is looked for this far from the row's first ink, mm.
const SEARCH_MM: f64 = 25.0;
/// Shortest and longest flat top accepted, mm (0.2 s at 12.5 mm/s and at 50 mm/s, with room).
const TOP_MM: (f64, f64) = (1.5, 14.0);
/// Lowest pulse accepted, mm (1 mV at 5 mm/mV, with room for a thick stroke).
const MIN_HEIGHT_MM: f64 = 3.0;

/// A calibration pulse found on one row (pixel coordinates, stroke centres).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Pulse {
    pub x_start: f64,
    pub x_rise: f64,
    pub x_fall: f64,
    /// End of the pulse's flat lead-out: the last column before the gap that parts it from the
    /// trace, when there is such a gap.
    pub x_end: f64,
    pub y_top: f64,
    pub y_base: f64,
    /// Where the trace starts after the pulse, when a gap parts them.
    pub trace_start: Option<u32>,
}

impl Pulse {
    pub fn height_px(&self) -> f64 {
        self.y_base - self.y_top
    }

    pub fn width_px(&self) -> f64 {
        self.x_fall - self.x_rise
    }
}

/// Ink runs (top, one-past-bottom) in column `x` between rows `y0` and `y1`.
pub(crate) fn runs(ink: &GrayImage, x: u32, y0: u32, y1: u32) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut start = None;
    for y in y0..y1 {
        let on = ink.get_pixel(x, y).0[0] != 0;
        match (on, start) {
            (true, None) => start = Some(y),
            (false, Some(s)) => {
                out.push((s, y));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, y1));
    }
    out
}

fn centre((a, b): (u32, u32)) -> f64 {
    f64::midpoint(f64::from(a), f64::from(b))
}

/// Finds the pulse on `row`, `None` when the row starts without one.
pub(crate) fn find_pulse(ink: &GrayImage, row: &Row, px_per_mm: f64) -> Option<Pulse> {
    let x0 = row.x_first;
    let x_limit = (x0 + (SEARCH_MM * px_per_mm) as u32).min(row.x_end);
    let base = row.baseline_y;
    let y_low = ((base + 1.0 * px_per_mm) as u32).min(row.y_bottom);
    // Topmost ink per column, and the runs.
    let cols: Vec<Vec<(u32, u32)>> = (x0..x_limit)
        .map(|x| runs(ink, x, row.y_top, y_low))
        .collect();
    let top = |i: usize| cols[i].first().map(|r| r.0);
    let min_height = MIN_HEIGHT_MM * px_per_mm;
    let tolerance = (0.3 * px_per_mm).max(1.5);
    // Longest run of columns whose top is flat and high above the baseline.
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < cols.len() {
        let Some(t) = top(i) else {
            i += 1;
            continue;
        };
        if base - f64::from(t) < min_height {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < cols.len()
            && top(j).is_some_and(|u| (f64::from(u) - f64::from(t)).abs() <= tolerance)
        {
            j += 1;
        }
        if best.is_none_or(|(a, b)| j - i > b - a) {
            best = Some((i, j));
        }
        i = j;
    }
    let (a, b) = best?;
    let top_mm = (b - a) as f64 / px_per_mm;
    if !(TOP_MM.0..=TOP_MM.1).contains(&top_mm) {
        return None;
    }
    // The top stroke's centre, over the middle of the flat top (away from the edges).
    let inner = (a + (b - a) / 4)..(b - (b - a) / 4).max(a + (b - a) / 4 + 1);
    let tops: Vec<f64> = inner
        .filter_map(|k| cols[k].first().map(|&r| centre(r)))
        .collect();
    if tops.is_empty() {
        return None;
    }
    let y_top = tops.iter().sum::<f64>() / tops.len() as f64;
    // Edges: columns next to the top whose ink reaches from the top to the baseline.
    let reaches = |k: usize| {
        cols[k]
            .iter()
            .any(|&(s, e)| f64::from(s) <= y_top + tolerance && f64::from(e) >= base - tolerance)
    };
    let edge_centre = |range: std::ops::Range<usize>| {
        let ks: Vec<usize> = range.filter(|&k| reaches(k)).collect();
        (!ks.is_empty()).then(|| ks.iter().sum::<usize>() as f64 / ks.len() as f64 + 0.5)
    };
    let reach = (0.6 * px_per_mm).ceil() as usize + 1;
    let x_rise = f64::from(x0) + edge_centre(a.saturating_sub(reach)..(a + reach).min(b))?;
    let x_fall = f64::from(x0) + edge_centre(b.saturating_sub(reach)..(b + reach).min(cols.len()))?;
    // The flat baseline on either side: the lead-in, else the lead-out.
    let flat = |k: usize| {
        cols[k]
            .iter()
            .filter(|&&(s, e)| (centre((s, e)) - base).abs() <= 1.5 * px_per_mm)
            .map(|&r| centre(r))
            .next()
    };
    let margin = reach + 1;
    let rise_col = (x_rise - f64::from(x0)) as usize;
    let fall_col = (x_fall - f64::from(x0)) as usize;
    let lead_in: Vec<f64> = (0..rise_col.saturating_sub(margin))
        .filter_map(flat)
        .collect();
    // The lead-out runs from the fall to the first gap.
    let mut lead_out = Vec::new();
    let mut k = fall_col + margin;
    while k < cols.len() && !cols[k].is_empty() {
        if let Some(c) = flat(k) {
            lead_out.push(c);
        }
        k += 1;
    }
    let gap_start = k;
    let x_end = f64::from(x0) + gap_start as f64;
    let trace_start = (gap_start < cols.len())
        .then(|| (gap_start..cols.len()).find(|&k| !cols[k].is_empty()))
        .flatten()
        .map(|k| x0 + k as u32)
        .or_else(|| {
            // The gap may run to the edge of the search window: look further.
            (x0 + gap_start as u32..row.x_end)
                .find(|&x| !runs(ink, x, row.y_top, y_low).is_empty())
                .filter(|_| gap_start >= cols.len())
        });
    let samples = if lead_in.len() >= 2 {
        lead_in
    } else {
        lead_out
    };
    let y_base = if samples.is_empty() {
        base
    } else {
        samples.iter().sum::<f64>() / samples.len() as f64
    };
    let pulse = Pulse {
        x_start: f64::from(x0),
        x_rise,
        x_fall,
        x_end,
        y_top,
        y_base,
        trace_start,
    };
    (pulse.height_px() >= min_height * 0.9).then_some(pulse)
}
