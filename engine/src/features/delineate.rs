//! Global delineation on the median beats: one set of boundaries for all leads, found on
//! signals that combine the usable leads (spatial velocity for the QRS, RMS of the
//! baseline-corrected medians for P and T), as the CSE recommendations do.
//!
//! QRS onset/offset: where the spatial velocity stays below a fraction of its QRS maximum
//! for 10 ms. T end and the P boundaries: the tangent at the steepest slope of the RMS curve
//! intersected with its local baseline level.

use super::{MedianBeats, MedianFiducials, WorkLead};

/// QRS boundaries: spatial velocity below this fraction of its QRS maximum ...
const QRS_ONSET_FRACTION: f64 = 0.035;
const QRS_OFFSET_FRACTION: f64 = 0.06;
/// The threshold is at least this multiple of the median velocity over the beat.
const NOISE_FLOOR_FACTOR: f64 = 2.0;
/// ... for this long.
const QUIET_RUN_S: f64 = 0.01;
/// The P wave must reach this RMS amplitude (µV) above the PR baseline.
const MIN_P_RMS_UV: f64 = 15.0;
/// Where the P search window starts, the lead energy must be below this fraction of the P
/// peak's for the P onset to be measured: above it the P wave rises out of the previous T wave
/// (measured on the synthetic records: 0.15–0.28 at 40–100 bpm, 0.69 at 120 bpm).
const P_SEPARATE_FRACTION: f64 = 0.4;
/// Slope estimation half-width.
const SLOPE_HALF_S: f64 = 0.008;

pub(crate) struct Delineation {
    pub fiducials: MedianFiducials,
    pub p_axis: Option<f64>,
    pub qrs_axis: Option<f64>,
    pub t_axis: Option<f64>,
}

/// Delineates the median beats and subtracts each lead's PR-segment baseline from them.
pub(crate) fn delineate(
    m: &mut MedianBeats,
    work: &[WorkLead],
    fs: f64,
    rr_mean_ms: Option<f64>,
) -> Delineation {
    let r = m.pre;
    let width = m.leads.first().map_or(0, |(_, v)| v.len());
    let usable: Vec<usize> = (0..m.leads.len())
        .filter(|&i| {
            work.get(i)
                .is_some_and(|w| w.quality.usable() && !w.quality.noisy)
        })
        .collect();
    let usable = if usable.is_empty() {
        (0..m.leads.len())
            .filter(|&i| work.get(i).is_some_and(|w| w.quality.usable()))
            .collect()
    } else {
        usable
    };
    let mut fid = MedianFiducials {
        r,
        ..MedianFiducials::default()
    };
    let none = Delineation {
        fiducials: fid.clone(),
        p_axis: None,
        qrs_axis: None,
        t_axis: None,
    };
    if usable.is_empty() || width < 8 || r + 2 >= width {
        return none;
    }
    // Spatial velocity.
    let mut vel = vec![0.0; width];
    for &li in &usable {
        let x = &m.leads[li].1;
        for i in 1..width - 1 {
            vel[i] += (x[i + 1] - x[i - 1]).abs() * 0.5;
        }
    }
    let smooth_w = ((0.004 * fs).round() as usize).max(1);
    let mut vs = vec![0.0; width];
    super::filter::moving_average(&vel, smooth_w, &mut vs);
    let near = (0.06 * fs).round() as usize;
    let vmax = vs[r.saturating_sub(near)..(r + near).min(width)]
        .iter()
        .copied()
        .fold(0.0, f64::max);
    if vmax <= 0.0 {
        return none;
    }
    // Noise floor of the velocity: its median over the whole beat (most of a beat is slow),
    // so noisy medians do not keep the QRS "open" forever.
    let mut sorted = vs.clone();
    let floor = super::beats::median_in_place(&mut sorted).unwrap_or(0.0) * NOISE_FLOOR_FACTOR;
    let run = ((QUIET_RUN_S * fs).round() as usize).max(2);
    let reach = (0.15 * fs).round() as usize;
    // Onset: walk back from R until the velocity has been quiet for `run` samples.
    let on_th = (QRS_ONSET_FRACTION * vmax).max(floor);
    let mut qrs_on = None;
    let mut quiet = 0;
    let mut i = r;
    while i > 0 && r - i < reach {
        if vs[i] < on_th {
            quiet += 1;
            if quiet >= run {
                qrs_on = Some(i + run - 1);
                break;
            }
        } else {
            quiet = 0;
        }
        i -= 1;
    }
    let off_th = (QRS_OFFSET_FRACTION * vmax).max(floor);
    let mut qrs_off = None;
    quiet = 0;
    for (i, &v) in vs.iter().enumerate().take((r + reach).min(width)).skip(r) {
        if v < off_th {
            quiet += 1;
            if quiet >= run {
                qrs_off = Some(i + 1 - run);
                break;
            }
        } else {
            quiet = 0;
        }
    }
    let (Some(on), Some(off)) = (qrs_on, qrs_off) else {
        return none;
    };
    fid.qrs_onset = Some(on);
    fid.qrs_offset = Some(off);
    fid.j = Some(off);
    // Baseline: the PR segment just before the QRS onset.
    let b_lo = on.saturating_sub((0.02 * fs).round() as usize);
    let b_hi = on
        .saturating_sub((0.004 * fs).round() as usize)
        .max(b_lo + 1);
    for (_, x) in &mut m.leads {
        let seg = &x[b_lo..b_hi.min(x.len())];
        let base = seg.iter().sum::<f64>() / seg.len().max(1) as f64;
        for v in x.iter_mut() {
            *v -= base;
        }
    }
    // RMS curve of the baseline-corrected medians.
    let mut rms = vec![0.0; width];
    for &li in &usable {
        for (acc, v) in rms.iter_mut().zip(&m.leads[li].1) {
            *acc += v * v;
        }
    }
    let nl = usable.len() as f64;
    for v in &mut rms {
        *v = (*v / nl).sqrt();
    }
    let h = ((SLOPE_HALF_S * fs).round() as usize).max(1);
    let slope = |i: usize| -> f64 {
        let a = i.saturating_sub(h);
        let b = (i + h).min(width - 1);
        (rms[b] - rms[a]) / (b - a).max(1) as f64
    };
    // T wave.
    let limit = rr_mean_ms.map_or(width - 1, |rr| {
        (r + (0.7 * rr * fs / 1000.0) as usize).min(width - 1)
    });
    let t_start = off + (0.08 * fs).round() as usize;
    if t_start + 2 * h < limit {
        let tp = (t_start..limit)
            .max_by(|&a, &b| rms[a].total_cmp(&rms[b]))
            .unwrap_or(t_start);
        fid.t_peak = Some(tp);
        let search_end = (tp + (0.25 * fs) as usize).min(limit);
        let mut steepest = None;
        let mut best = 0.0;
        for i in tp..search_end {
            let s = slope(i);
            if s < best {
                best = s;
                steepest = Some(i);
            }
            if rms[i] < 0.15 * rms[tp] {
                break;
            }
        }
        if let Some(s) = steepest {
            let base_end = (s + (0.15 * fs) as usize).min(limit);
            let base = rms[s..=base_end]
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
            let t_end = s as f64 + (base - rms[s]) / best;
            if t_end.is_finite() {
                fid.t_offset = Some((t_end.round() as usize).clamp(tp, limit));
            }
        }
    }
    // P wave: before the QRS, after 300 ms before it at most. In a fast rhythm those 300 ms
    // reach back into the previous beat's T wave, whose peak would be taken for P: the window
    // then starts 20 ms after that T wave ends (this beat's T end, one RR interval earlier).
    let previous_t_end = match (fid.t_offset, rr_mean_ms) {
        (Some(t_end), Some(rr)) => {
            let at = t_end as f64 - rr * fs / 1000.0 + 0.02 * fs;
            (at > 0.0).then_some(at.round() as usize)
        }
        _ => None,
    };
    let p_lo = on
        .saturating_sub((0.3 * fs).round() as usize)
        .max(h)
        .max(previous_t_end.unwrap_or(0));
    let p_hi = on.saturating_sub((0.02 * fs).round() as usize);
    if p_hi > p_lo + 4 * h {
        let pp = (p_lo..p_hi)
            .max_by(|&a, &b| rms[a].total_cmp(&rms[b]))
            .unwrap_or(p_lo);
        let hump = rms[pp] >= MIN_P_RMS_UV && pp > p_lo + h && rms[p_lo] < 0.7 * rms[pp];
        if hump {
            // Ascending limb: steepest rise before the peak.
            let up = (p_lo..pp).max_by(|&a, &b| slope(a).total_cmp(&slope(b)));
            let down = (pp..on).min_by(|&a, &b| slope(a).total_cmp(&slope(b)));
            if let (Some(u), Some(d)) = (up, down) {
                let su = slope(u);
                let sd = slope(d);
                let base_off = rms[d..on].iter().copied().fold(f64::INFINITY, f64::min);
                if su > 0.0 && sd < 0.0 {
                    // Onset: the tangent at the steepest rise meets the isoelectric
                    // line, which is the PR segment (0 after baseline correction), not the
                    // T-P level that may sit above it.
                    let p_on = u as f64 - rms[u] / su;
                    let p_off = d as f64 + (base_off - rms[d]) / sd;
                    if p_on.is_finite() && p_off.is_finite() && p_on >= 0.0 && p_off > p_on {
                        fid.p_peak = Some(pp);
                        // A P wave that rises from the tail of the previous T wave (fast
                        // rates) is there, but where it starts is not: the tangent would put
                        // the onset tens of ms early and invent a long PR. Its peak still
                        // counts for the rhythm; PR and P duration are left unmeasured.
                        if rms[p_lo] < P_SEPARATE_FRACTION * rms[pp] {
                            fid.p_onset = Some(p_on.round() as usize);
                            fid.p_offset = Some((p_off.round() as usize).min(on));
                        }
                    }
                }
            }
        }
    }
    // Frontal axes from net areas in the limb leads.
    let area_axis = |a: Option<usize>, b: Option<usize>| -> Option<f64> {
        let (a, b) = (a?, b?);
        if b <= a {
            return None;
        }
        frontal_axis(m.leads.iter().enumerate().filter_map(|(li, (name, x))| {
            if !usable.contains(&li) {
                return None;
            }
            let area: f64 = x[a..=b.min(width - 1)].iter().sum();
            Some((name.as_str(), area))
        }))
    };
    let p_axis = area_axis(fid.p_onset, fid.p_offset);
    let qrs_axis = area_axis(fid.qrs_onset, fid.qrs_offset);
    let t_axis = area_axis(fid.qrs_offset, fid.t_offset);
    Delineation {
        fiducials: fid,
        p_axis,
        qrs_axis,
        t_axis,
    }
}

/// Least-squares frontal-plane axis (degrees, −180..180) from (limb lead, net area) pairs:
/// each lead sees g·(Ex cos θ + Ey sin θ) with hexaxial angle θ and gain g (√3/2 for the
/// augmented leads). Needs two non-collinear leads.
pub(crate) fn frontal_axis<'a>(leads: impl Iterator<Item = (&'a str, f64)>) -> Option<f64> {
    let g_aug = 3f64.sqrt() / 2.0;
    let (mut sxx, mut sxy, mut syy, mut bx, mut by) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut count = 0;
    for (name, area) in leads {
        let (deg, g): (f64, f64) = match name {
            "I" => (0.0, 1.0),
            "II" => (60.0, 1.0),
            "III" => (120.0, 1.0),
            "aVR" => (-150.0, g_aug),
            "aVL" => (-30.0, g_aug),
            "aVF" => (90.0, g_aug),
            _ => continue,
        };
        let (s, c) = deg.to_radians().sin_cos();
        let (ax, ay) = (g * c, g * s);
        sxx += ax * ax;
        sxy += ax * ay;
        syy += ay * ay;
        bx += ax * area;
        by += ay * area;
        count += 1;
    }
    let det = sxx * syy - sxy * sxy;
    if count < 2 || det.abs() < 1e-9 {
        return None;
    }
    let ex = (syy * bx - sxy * by) / det;
    let ey = (sxx * by - sxy * bx) / det;
    if ex == 0.0 && ey == 0.0 {
        return None;
    }
    Some(ey.atan2(ex).to_degrees())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_of_a_pure_lead_ii_vector_is_60_degrees() {
        let e = |deg: f64, g: f64| g * (60f64 - deg).to_radians().cos() * 100.0;
        let g = 3f64.sqrt() / 2.0;
        let leads = [
            ("I", e(0.0, 1.0)),
            ("II", e(60.0, 1.0)),
            ("III", e(120.0, 1.0)),
            ("aVR", e(-150.0, g)),
            ("aVL", e(-30.0, g)),
            ("aVF", e(90.0, g)),
        ];
        let axis = frontal_axis(leads.into_iter()).unwrap_or(f64::NAN);
        assert!((axis - 60.0).abs() < 1e-6, "{axis}");
        assert!(frontal_axis([("I", 1.0)].into_iter()).is_none());
    }
}
