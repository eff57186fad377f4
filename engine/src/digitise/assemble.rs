//! From the levelled page's planes to the record: scales, layout, panels, leads, checks.

use crate::formats::Format;
use crate::record::{EcgRecord, LeadId, LeadSignal, Provenance, StandardLead};
use crate::render::Layout;
use crate::render::layout::PAGE_SECONDS;

use super::boundary::{BoundaryMark, find_mark, mask, origin_shift};
use super::pixels::{Planes, grid_projection};
use super::pulse::{Pulse, find_pulse};
use super::rows::{Row, evenly_spaced, find_rows};
use super::trace::{RowTrace, sample, stroke_width, trace_row};
use super::{
    DIGITISER_VERSION, DigitisationReport, DigitiseError, DigitiseOptions, Digitised, GainSource,
    GridFound, LeadBox, LeadPanel, OUTPUT_RATE_HZ, PulseFound, SNAP_TOLERANCE,
    STANDARD_GAINS_MM_MV, STANDARD_SPEEDS_MM_S, SpeedSource, TraceOverlay, grid, labels,
};

/// Without a grid, size thresholds assume a page this many mm wide.
const ASSUMED_PAGE_WIDTH_MM: f64 = 280.0;
/// Below this resolution (≈ 125 dpi) the trace is about one pixel wide.
const THIN_STROKE_PX_PER_MM: f64 = 5.0;
/// Samples this close to a column boundary are left absent (the boundary marker is there).
const BOUNDARY_MM: f64 = 0.5;
/// A rhythm strip is matched to the lead panel it correlates with best, at least this well.
const MIN_RHYTHM_MATCH: f64 = 0.8;

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// `value` snapped to the nearest of `choices` when within the tolerance.
fn snap(value: f64, choices: &[f64]) -> Option<f64> {
    choices
        .iter()
        .copied()
        .min_by(|a, b| ((value - a) / a).abs().total_cmp(&((value - b) / b).abs()))
        .filter(|c| ((value - c) / c).abs() <= SNAP_TOLERANCE)
}

/// The layout that `rows` rows print, with the number of rhythm strips under the lead rows.
fn layout_of(rows: usize, stated: Option<Layout>) -> Result<(Layout, usize), DigitiseError> {
    let found = match rows {
        3 => Some((Layout::ThreeByFour, 0)),
        4 => Some((Layout::ThreeByFour, 1)),
        6 => Some((Layout::SixByTwo, 0)),
        12 => Some((Layout::TwelveByOne, 0)),
        _ => None,
    };
    match (stated, found) {
        (Some(Layout::ThreeByFour), _) if (3..=6).contains(&rows) => {
            Ok((Layout::ThreeByFour, rows - 3))
        }
        (Some(l), Some((f, k))) if l == f => Ok((f, k)),
        (Some(l), _) => Err(DigitiseError::UnknownLayout(format!(
            "{rows} rows of trace found, which a {l} page does not have"
        ))),
        (None, Some(f)) => Ok(f),
        (None, None) => Err(DigitiseError::UnknownLayout(format!(
            "{rows} rows of trace found; 3×4 (+ rhythm strips), 6×2 and 12×1 pages have 3–6, 6 or 12"
        ))),
    }
}

/// Sample pairs present in both of two slices, with each side's mean.
type PresentPairs = (Vec<(f64, f64)>, f64, f64);

/// The pairs of two equally long slices where both are present, with each side's mean;
/// `None` with fewer than 50 pairs.
fn present_pairs(a: &[f64], b: &[f64]) -> Option<PresentPairs> {
    let pairs: Vec<(f64, f64)> = a
        .iter()
        .zip(b)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(&x, &y)| (x, y))
        .collect();
    if pairs.len() < 50 {
        return None;
    }
    let n = pairs.len() as f64;
    let (ma, mb) = pairs
        .iter()
        .fold((0.0, 0.0), |(sa, sb), (x, y)| (sa + x / n, sb + y / n));
    Some((pairs, ma, mb))
}

/// Pearson correlation of two equally long slices, skipping NaN pairs.
fn correlation(a: &[f64], b: &[f64]) -> Option<f64> {
    let (pairs, ma, mb) = present_pairs(a, b)?;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in &pairs {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

/// Σ(a − b)² / Σb² over the pairs present in both, each side's mean removed: how far `a`
/// is from `b` in shape and amplitude together.
fn residual(a: &[f64], b: &[f64]) -> Option<f64> {
    let (pairs, ma, mb) = present_pairs(a, b)?;
    let (diff, power) = pairs.iter().fold((0.0, 0.0), |(d, p), (x, y)| {
        (d + (x - ma - y + mb).powi(2), p + (y - mb).powi(2))
    });
    (power > 0.0).then(|| diff / power)
}

/// One panel's digitised samples (a whole page's length, NaN outside the panel's window).
struct PanelSignal {
    /// The row of trace it was read from.
    row: usize,
    lead: StandardLead,
    rhythm: bool,
    samples: Vec<f64>,
    lead_box: LeadBox,
}

/// The horizontal placement shared by all rows.
struct TimeScale {
    x0: f64,
    px_per_s: f64,
    speed_mm_s: Option<f64>,
    source: SpeedSource,
}

fn time_scale(
    rows: &[Row],
    pulses: &[Option<Pulse>],
    grid: Option<&GridFound>,
    options: &DigitiseOptions,
    notes: &mut Vec<String>,
) -> Result<TimeScale, DigitiseError> {
    let mut starts: Vec<f64> = rows
        .iter()
        .zip(pulses)
        .map(|(r, p)| match p {
            Some(p) => p.trace_start.map_or(p.x_end, f64::from),
            None => f64::from(r.x_first),
        })
        .collect();
    let mut ends: Vec<f64> = rows.iter().map(|r| f64::from(r.x_end)).collect();
    let (Some(x0), Some(x1)) = (median(&mut starts), median(&mut ends)) else {
        return Err(DigitiseError::NoTrace);
    };
    let width = x1 - x0;
    if width <= 0.0 {
        return Err(DigitiseError::NoTrace);
    }
    let scale = match (grid, options.speed_mm_s) {
        (Some(g), Some(speed)) => TimeScale {
            x0,
            px_per_s: speed * g.px_per_mm_x,
            speed_mm_s: Some(speed),
            source: SpeedSource::Stated,
        },
        (Some(g), None) => {
            let measured = width / g.px_per_mm_x / PAGE_SECONDS;
            let speed = snap(measured, &STANDARD_SPEEDS_MM_S).unwrap_or_else(|| {
                notes.push(format!(
                    "rows are {:.0} mm long: {measured:.1} mm/s if they hold {PAGE_SECONDS} s, not a standard speed",
                    width / g.px_per_mm_x
                ));
                measured
            });
            TimeScale {
                x0,
                px_per_s: speed * g.px_per_mm_x,
                speed_mm_s: Some(speed),
                source: SpeedSource::RowLengthOnGrid,
            }
        }
        (None, stated) => {
            if stated.is_some() {
                notes.push(
                    "the stated paper speed was not used: without a grid there is no mm scale"
                        .into(),
                );
            }
            TimeScale {
                x0,
                px_per_s: width / PAGE_SECONDS,
                speed_mm_s: None,
                source: SpeedSource::RowLengthNoGrid,
            }
        }
    };
    Ok(scale)
}

/// Reads the levelled page.
pub(crate) fn read_page(
    page: &image::RgbImage,
    planes: Planes,
    rotation: f64,
    stated_layout: Option<Layout>,
    options: &DigitiseOptions,
) -> Result<Digitised, DigitiseError> {
    let mut notes = Vec::new();
    let pitch_x = grid::pitch(&grid_projection(&planes, true), planes.width as usize);
    let pitch_y = grid::pitch(&grid_projection(&planes, false), planes.width as usize);
    let grid_found = match (pitch_x, pitch_y) {
        (Some(x), Some(y)) if ((x.px_per_mm - y.px_per_mm) / y.px_per_mm).abs() < 0.05 => {
            Some(GridFound {
                px_per_mm_x: x.px_per_mm,
                px_per_mm_y: y.px_per_mm,
                minor_lines: x.minor_lines && y.minor_lines,
            })
        }
        (Some(x), Some(y)) => {
            notes.push(format!(
                "grid pitches disagree ({:.2} px/mm across, {:.2} down): grid not used",
                x.px_per_mm, y.px_per_mm
            ));
            None
        }
        _ => None,
    };
    let size_scale = grid_found.map_or(f64::from(planes.width) / ASSUMED_PAGE_WIDTH_MM, |g| {
        f64::midpoint(g.px_per_mm_x, g.px_per_mm_y)
    });
    // Strokes about a pixel wide: read the ink again, counting half-covered pixels.
    let planes = if size_scale < THIN_STROKE_PX_PER_MM && planes.colour {
        super::pixels::separate(page, true)
    } else {
        planes
    };
    let planes = &planes;
    let mut ink = planes.ink.clone();
    let removed = labels::remove_text(&mut ink, size_scale);
    let rows = find_rows(&ink, size_scale);
    if rows.is_empty() {
        return Err(DigitiseError::NoTrace);
    }
    if !evenly_spaced(&rows) {
        return Err(DigitiseError::UnknownLayout(format!(
            "{} rows of trace found, unevenly spaced (baselines at {:?} px)",
            rows.len(),
            rows.iter()
                .map(|r| r.baseline_y.round())
                .collect::<Vec<_>>()
        )));
    }
    let (layout, _rhythm_strips) = layout_of(rows.len(), stated_layout)?;
    let pulses: Vec<Option<Pulse>> = rows
        .iter()
        .map(|r| find_pulse(&ink, r, size_scale))
        .collect();
    let found: Vec<&Pulse> = pulses.iter().flatten().collect();
    let pulse_found = (!found.is_empty()).then(|| {
        let mut h: Vec<f64> = found.iter().map(|p| p.height_px()).collect();
        let mut w: Vec<f64> = found.iter().map(|p| p.width_px()).collect();
        let height_px = median(&mut h).unwrap_or_default();
        let width_px = median(&mut w).unwrap_or_default();
        PulseFound {
            rows_with_pulse: found.len(),
            height_px,
            width_px,
            height_mm: grid_found.map(|g| height_px / g.px_per_mm_y),
            width_mm: grid_found.map(|g| width_px / g.px_per_mm_x),
            boxes_px: found
                .iter()
                .map(|p| [p.x_rise, p.y_top, p.width_px(), p.height_px()])
                .collect(),
        }
    });
    // Voltage scale.
    let (px_per_mv, gain_mm_mv, gain_source) = match (&pulse_found, grid_found, options.gain_mm_mv)
    {
        (_, Some(g), Some(gain)) => (gain * g.px_per_mm_y, Some(gain), GainSource::Stated),
        (Some(p), Some(g), None) => {
            let measured = p.height_px / g.px_per_mm_y;
            if let Some(gain) = snap(measured, &STANDARD_GAINS_MM_MV) {
                (
                    gain * g.px_per_mm_y,
                    Some(gain),
                    GainSource::CalibrationPulse,
                )
            } else {
                notes.push(format!(
                    "calibration pulse is {measured:.1} mm high: not a standard gain, used as measured"
                ));
                (p.height_px, Some(measured), GainSource::CalibrationPulse)
            }
        }
        (Some(p), None, _) => {
            if options.gain_mm_mv.is_some() {
                notes.push("the stated gain was not used: without a grid there is no mm scale; the pulse gives the scale".into());
            }
            (p.height_px, None, GainSource::CalibrationPulse)
        }
        (None, Some(_), None) => return Err(DigitiseError::NoGain),
        (None, None, _) => return Err(DigitiseError::NoScale),
    };
    let mut time = time_scale(&rows, &pulses, grid_found.as_ref(), options, &mut notes)?;
    let n = (PAGE_SECONDS * OUTPUT_RATE_HZ).round() as usize;
    let columns = layout.columns();
    let lead_rows = layout.lead_rows();
    let column_s = PAGE_SECONDS / columns as f64;
    // marks[r][k]: the mark where row r's panel k ends (k + 1 begins).
    let marks: Vec<Vec<Option<BoundaryMark>>> = rows
        .iter()
        .take(lead_rows)
        .map(|row| {
            (1..columns)
                .map(|k| {
                    let expected = time.x0 + k as f64 * column_s * time.px_per_s;
                    find_mark(&ink, &planes.darkness, row, expected, size_scale)
                })
                .collect()
        })
        .collect();
    let found_marks: Vec<(f64, BoundaryMark)> = marks
        .iter()
        .flat_map(|row| {
            row.iter().enumerate().filter_map(|(k, m)| {
                m.map(|m| (time.x0 + (k + 1) as f64 * column_s * time.px_per_s, m))
            })
        })
        .collect();
    if let Some(shift) = origin_shift(&found_marks) {
        time.x0 += shift;
        notes.push(format!(
            "time origin set by {} lead-boundary marks ({shift:+.2} px from the trace's start)",
            found_marks.len()
        ));
    }
    for (_, m) in &found_marks {
        mask(&mut ink, m);
    }
    let boundary_px = BOUNDARY_MM * size_scale;
    let mark_at = |r: usize, k: usize| marks.get(r).and_then(|m| m.get(k)).copied().flatten();
    // Where a mark was found and masked, only the mark itself hides the trace; elsewhere a
    // margin either side of the boundary is left absent.
    let boundary_trim = |m: Option<BoundaryMark>| m.map_or(boundary_px, |m| m.half_width_px + 0.5);
    let max_gap_px = 3.0 * size_scale;
    let mut panels: Vec<PanelSignal> = Vec::new();
    let mut overlays = Vec::new();
    let mut corrected_overlays = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        let x_start = time.x0.floor().max(0.0) as u32;
        let x_stop = ((time.x0 + PAGE_SECONDS * time.px_per_s).ceil() as u32).min(planes.width);
        let stroke = stroke_width(&ink, row.y_top, row.y_bottom, x_start, x_stop);
        let traced: RowTrace = trace_row(
            &ink,
            (x_start, x_stop),
            (row.y_top, row.y_bottom),
            row.baseline_y,
            size_scale,
            stroke,
            &planes.darkness,
        );
        if std::env::var_os("DIGITISE_DEBUG").is_some() {
            eprintln!(
                "row {r}: x {x_start}..{x_stop} stroke {stroke} points {} covered {} first {:?} last {:?}",
                traced.points.len(),
                traced.covered.iter().filter(|&&v| v).count(),
                traced.points.first(),
                traced.points.last()
            );
        }
        let zero_y = pulses[r].as_ref().map_or(row.baseline_y, |p| p.y_base);
        let rhythm = r >= lead_rows;
        let panel_count = if rhythm { 1 } else { columns };
        for c in 0..panel_count {
            let (t0, t1) = if rhythm {
                (0.0, PAGE_SECONDS)
            } else {
                (c as f64 * column_s, (c + 1) as f64 * column_s)
            };
            let (xa, xb) = (time.x0 + t0 * time.px_per_s, time.x0 + t1 * time.px_per_s);
            let reading = PanelReading {
                time: &time,
                window_s: (t0, t1),
                trim_px: (
                    if c > 0 {
                        boundary_trim(mark_at(r, c - 1))
                    } else {
                        0.0
                    },
                    if c + 1 < panel_count {
                        boundary_trim(mark_at(r, c))
                    } else {
                        0.0
                    },
                ),
                max_gap_px,
                zero_y,
                px_per_mv,
                n,
            };
            let samples = reading.samples(&traced.points);
            let coverage = coverage_between(&traced.covered, x_start, xa, xb);
            let confidence = confidence(coverage, traced.jumps);
            let lead = if rhythm {
                StandardLead::II
            } else {
                StandardLead::STANDARD_ORDER[c * lead_rows + r]
            };
            let lead_box = LeadBox {
                panel: LeadPanel {
                    lead,
                    rhythm,
                    x_px: xa,
                    y_px: f64::from(row.y_top),
                    width_px: xb - xa,
                    height_px: f64::from(row.y_bottom - row.y_top),
                    zero_y_px: zero_y,
                },
                t_start_s: t0,
                t_end_s: t1,
                coverage,
                confidence,
                corrected: false,
            };
            panels.push(PanelSignal {
                row: r,
                lead,
                rhythm,
                samples,
                lead_box,
            });
        }
        overlays.push((r, traced.points));
    }
    // Which lead each rhythm strip shows: the lead panel it matches best.
    let mut rhythm_leads = Vec::new();
    let lead_panels: Vec<(StandardLead, Vec<f64>)> = panels
        .iter()
        .filter(|p| !p.rhythm)
        .map(|p| (p.lead, p.samples.clone()))
        .collect();
    for p in panels.iter_mut().filter(|p| p.rhythm) {
        // Shape alone cannot tell leads apart whose waves are nearly proportional (II and aVF
        // often are); the strip and the panels share one gain, so among the leads whose shape
        // matches, the one of the same amplitude is the strip's.
        let best = lead_panels
            .iter()
            .filter_map(|(lead, s)| {
                let c = correlation(&p.samples, s)?;
                (c >= MIN_RHYTHM_MATCH).then_some((*lead, c, residual(&p.samples, s)?))
            })
            .min_by(|a, b| a.2.total_cmp(&b.2))
            .map(|(lead, c, _)| (lead, c))
            .or_else(|| {
                lead_panels
                    .iter()
                    .filter_map(|(lead, s)| correlation(&p.samples, s).map(|c| (*lead, c)))
                    .max_by(|a, b| a.1.total_cmp(&b.1))
            });
        match best {
            Some((lead, c)) if c >= MIN_RHYTHM_MATCH => p.lead = lead,
            other => notes.push(format!(
                "rhythm strip matched no lead panel well (best {:.2}): taken as lead II",
                other.map_or(0.0, |o| o.1)
            )),
        }
        p.lead_box.panel.lead = p.lead;
        rhythm_leads.push(p.lead);
    }
    // Panels a reader placed by hand replace the ones found.
    for correction in &options.lead_boxes {
        let Some(p) = panels
            .iter_mut()
            .find(|p| p.lead == correction.lead && p.rhythm == correction.rhythm)
        else {
            return Err(DigitiseError::BadOption {
                option: "lead box",
                problem: format!(
                    "the page has no {} panel of lead {}",
                    if correction.rhythm {
                        "rhythm strip"
                    } else {
                        "lead"
                    },
                    correction.lead
                ),
            });
        };
        let (found, traced) = read_corrected(
            &ink, planes, correction, &time, size_scale, px_per_mv, max_gap_px, n,
        )?;
        let (xa, xb) = (
            p.lead_box.panel.x_px,
            p.lead_box.panel.x_px + p.lead_box.panel.width_px,
        );
        if let Some((_, points)) = overlays.iter_mut().find(|(r, _)| *r == p.row) {
            // The row's path across the old box is what the reader rejected.
            points.retain(|&(x, _)| x < xa || x >= xb);
        }
        p.samples = found.samples;
        p.lead_box = found.lead_box;
        corrected_overlays.push(TraceOverlay {
            lead: correction.lead,
            rhythm: correction.rhythm,
            points_px: traced.iter().map(|&(x, y)| (x as f32, y as f32)).collect(),
        });
    }
    // Leads: a rhythm strip covers its lead's whole page; otherwise the panel.
    let mut leads = Vec::new();
    let mut boxes = Vec::new();
    for lead in StandardLead::STANDARD_ORDER {
        let chosen = panels
            .iter()
            .filter(|p| p.lead == lead)
            .max_by_key(|p| p.rhythm);
        let Some(p) = chosen else { continue };
        for q in panels.iter().filter(|q| q.lead == lead) {
            boxes.push(q.lead_box.clone());
        }
        if p.samples.iter().all(|v| !v.is_finite()) {
            notes.push(format!("{lead}: no trace found in its panel"));
            continue;
        }
        let mut signal = LeadSignal::new(LeadId::Standard(lead), lead.name(), p.samples.clone());
        signal.derived = false;
        leads.push(signal);
    }
    if leads.is_empty() {
        return Err(DigitiseError::NoTrace);
    }
    let (einthoven_residual_uv, einthoven_relative) = einthoven(&leads);
    let overlay_of = |row: usize, points: &[(f64, f64)]| {
        let rhythm = row >= lead_rows;
        let lead = if rhythm {
            rhythm_leads
                .get(row - lead_rows)
                .copied()
                .unwrap_or(StandardLead::II)
        } else {
            StandardLead::STANDARD_ORDER[row]
        };
        TraceOverlay {
            lead,
            rhythm,
            points_px: points.iter().map(|&(x, y)| (x as f32, y as f32)).collect(),
        }
    };
    let overlays = overlays
        .iter()
        .map(|(r, pts)| overlay_of(*r, pts))
        .chain(corrected_overlays)
        .collect();
    notes.push(format!(
        "{} lead(s) digitised; samples outside each panel's time window are absent (NaN), not zero",
        leads.len()
    ));
    let record = EcgRecord {
        sample_rate_hz: OUTPUT_RATE_HZ,
        leads,
        acquisition_time: None,
        device: None,
        provenance: Provenance {
            format: Format::Png,
            file_name: "digitised page".into(),
            sha256: String::new(),
            byte_len: 0,
        },
        annotations: Vec::new(),
        representative_beats: None,
        processing_notes: notes.clone(),
    };
    let report = DigitisationReport {
        digitiser_version: DIGITISER_VERSION.to_string(),
        image_width_px: planes.width,
        image_height_px: planes.height,
        colour_page: planes.colour,
        rotation_corrected_deg: rotation,
        grid: grid_found,
        calibration_pulse: pulse_found,
        gain_mm_mv,
        gain_source,
        px_per_mv,
        speed_mm_s: time.speed_mm_s,
        speed_source: time.source,
        px_per_s: time.px_per_s,
        layout: layout.name().to_string(),
        rhythm_leads: rhythm_leads.clone(),
        leads: boxes,
        einthoven_residual_uv,
        einthoven_relative,
        text_components_removed: removed.components,
        notes,
    };
    Ok(Digitised {
        record,
        report,
        overlays,
    })
}

/// How one panel's trace becomes samples: its time window, the columns trimmed at its inner
/// edges (where the boundary markers are), and the voltage scale.
struct PanelReading<'a> {
    time: &'a TimeScale,
    window_s: (f64, f64),
    /// Columns left absent after the panel's start and before its end, px.
    trim_px: (f64, f64),
    max_gap_px: f64,
    zero_y: f64,
    px_per_mv: f64,
    /// Samples in a page's length.
    n: usize,
}

impl PanelReading<'_> {
    /// A page's length of samples (µV), NaN outside the window and where the trace is absent.
    fn samples(&self, points: &[(f64, f64)]) -> Vec<f64> {
        let (t0, t1) = self.window_s;
        let (xa, xb) = (
            self.time.x0 + t0 * self.time.px_per_s,
            self.time.x0 + t1 * self.time.px_per_s,
        );
        let mut samples = vec![f64::NAN; self.n];
        for (i, s) in samples.iter_mut().enumerate() {
            let t = i as f64 / OUTPUT_RATE_HZ;
            if t < t0 || t >= t1 {
                continue;
            }
            let x = self.time.x0 + t * self.time.px_per_s;
            let trimmed = (self.trim_px.0 > 0.0 && x - xa < self.trim_px.0)
                || (self.trim_px.1 > 0.0 && xb - x < self.trim_px.1);
            if trimmed {
                continue;
            }
            if let Some(y) = sample(points, x, self.max_gap_px) {
                *s = (self.zero_y - y) / self.px_per_mv * 1000.0;
            }
        }
        samples
    }
}

/// Share of the columns `xa..xb` (page px) the path covered; `covered` starts at `x_start`.
fn coverage_between(covered: &[bool], x_start: u32, xa: f64, xb: f64) -> f64 {
    let (ca, cb) = (
        (xa - f64::from(x_start)).max(0.0) as usize,
        ((xb - f64::from(x_start)).max(0.0) as usize).min(covered.len()),
    );
    if cb > ca {
        covered[ca..cb].iter().filter(|&&v| v).count() as f64 / (cb - ca) as f64
    } else {
        0.0
    }
}

/// A panel's confidence: its coverage, lowered when the path guessed across several gaps.
fn confidence(coverage: f64, jumps: usize) -> f64 {
    coverage * if jumps > 3 { 0.8 } else { 1.0 }
}

/// What a corrected panel reads.
struct CorrectedPanel {
    samples: Vec<f64>,
    lead_box: LeadBox,
}

/// Reads a panel a reader placed by hand: the trace inside its box, timed by the page's time
/// scale, measured from its 0 mV line.
// The page's planes and scales, the same plain values the panel loop of `read_page` uses.
#[allow(clippy::too_many_arguments)]
fn read_corrected(
    ink: &image::GrayImage,
    planes: &Planes,
    c: &LeadPanel,
    time: &TimeScale,
    size_scale: f64,
    px_per_mv: f64,
    max_gap_px: f64,
    n: usize,
) -> Result<(CorrectedPanel, Vec<(f64, f64)>), DigitiseError> {
    let (w, h) = (f64::from(planes.width), f64::from(planes.height));
    let inside = [c.x_px, c.y_px, c.width_px, c.height_px, c.zero_y_px]
        .iter()
        .all(|v| v.is_finite())
        && c.width_px >= 1.0
        && c.height_px >= 1.0
        && c.x_px >= 0.0
        && c.y_px >= 0.0
        && c.x_px + c.width_px <= w + 0.5
        && c.y_px + c.height_px <= h + 0.5;
    if !inside {
        return Err(DigitiseError::BadOption {
            option: "lead box",
            problem: format!(
                "lead {}: the box ({:.0}, {:.0}) {:.0}×{:.0} px is not inside the {w}×{h} px page",
                c.lead, c.x_px, c.y_px, c.width_px, c.height_px
            ),
        });
    }
    let (xa, xb) = (
        c.x_px as u32,
        ((c.x_px + c.width_px) as u32).min(planes.width),
    );
    let (ya, yb) = (
        c.y_px as u32,
        ((c.y_px + c.height_px) as u32).min(planes.height),
    );
    let stroke = stroke_width(ink, ya, yb, xa, xb);
    let traced = trace_row(
        ink,
        (xa, xb),
        (ya, yb),
        c.zero_y_px,
        size_scale,
        stroke,
        &planes.darkness,
    );
    let t0 = ((c.x_px - time.x0) / time.px_per_s).clamp(0.0, PAGE_SECONDS);
    let t1 = ((c.x_px + c.width_px - time.x0) / time.px_per_s).clamp(0.0, PAGE_SECONDS);
    let reading = PanelReading {
        time,
        window_s: (t0, t1),
        trim_px: (0.0, 0.0),
        max_gap_px,
        zero_y: c.zero_y_px,
        px_per_mv,
        n,
    };
    let samples = reading.samples(&traced.points);
    let coverage = coverage_between(&traced.covered, xa, c.x_px, c.x_px + c.width_px);
    let lead_box = LeadBox {
        panel: c.clone(),
        t_start_s: t0,
        t_end_s: t1,
        coverage,
        confidence: confidence(coverage, traced.jumps),
        corrected: true,
    };
    Ok((CorrectedPanel { samples, lead_box }, traced.points))
}

/// RMS of I + III − II where all three are present (µV), and relative to II's RMS.
fn einthoven(leads: &[LeadSignal]) -> (Option<f64>, Option<f64>) {
    let get = |l: StandardLead| {
        leads
            .iter()
            .find(|s| s.lead == LeadId::Standard(l))
            .map(|s| &s.samples_uv)
    };
    let (Some(i), Some(ii), Some(iii)) = (
        get(StandardLead::I),
        get(StandardLead::II),
        get(StandardLead::III),
    ) else {
        return (None, None);
    };
    let (mut sum, mut ref_sum, mut count) = (0.0, 0.0, 0usize);
    for ((a, b), c) in i.iter().zip(ii).zip(iii) {
        if a.is_finite() && b.is_finite() && c.is_finite() {
            sum += (a + c - b).powi(2);
            ref_sum += b * b;
            count += 1;
        }
    }
    if count == 0 {
        return (None, None);
    }
    let rms = (sum / count as f64).sqrt();
    let ref_rms = (ref_sum / count as f64).sqrt();
    (Some(rms), (ref_rms > 0.0).then(|| rms / ref_rms))
}
