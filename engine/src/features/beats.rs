//! Beat typing (dominant vs ectopic, by QRS template correlation and prematurity) and the
//! per-lead median beats built from the dominant beats.

use super::{Beat, BeatKind, MAX_MEDIAN_BEATS, MedianBeats, WorkLead};

/// QRS window for template matching, around the fiducial.
const QRS_BEFORE_S: f64 = 0.06;
const QRS_AFTER_S: f64 = 0.10;
/// Below this correlation with the dominant template a QRS is a different morphology.
const MORPHOLOGY_CORRELATION: f64 = 0.85;
/// A beat is premature when its RR is below this fraction of the median RR ...
const PREMATURE_FRACTION: f64 = 0.85;
/// ... and the next RR is longer than this fraction (a pause follows).
const PAUSE_FRACTION: f64 = 1.1;

pub(crate) struct TypedBeats {
    pub beats: Vec<Beat>,
    pub median_rr_samples: Option<f64>,
}

/// Types every beat. With no usable leads or no peaks, returns no beats.
pub(crate) fn type_beats(leads: &[&WorkLead], r_peaks: &[usize], fs: f64) -> TypedBeats {
    let n = leads.first().map_or(0, |w| w.samples.len());
    let before = (QRS_BEFORE_S * fs).round() as usize;
    let after = (QRS_AFTER_S * fs).round() as usize;
    let width = before + after;
    // Beats whose QRS window lies inside the record.
    let inside: Vec<bool> = r_peaks
        .iter()
        .map(|&r| r >= before && r + after < n)
        .collect();
    // Template: per-lead, per-sample median of all complete QRS windows.
    let complete: Vec<usize> = r_peaks
        .iter()
        .zip(&inside)
        .filter(|(_, ok)| **ok)
        .map(|(&r, _)| r)
        .collect();
    let mut template = vec![0.0; width * leads.len()];
    let mut column = Vec::with_capacity(complete.len());
    for (li, w) in leads.iter().enumerate() {
        for k in 0..width {
            column.clear();
            column.extend(
                complete
                    .iter()
                    .map(|&r| order_key(w.samples[r - before + k])),
            );
            template[li * width + k] = median_of_keys(&mut column).unwrap_or(0.0);
        }
    }
    let mut rr_sorted: Vec<usize> = r_peaks.windows(2).map(|p| p[1] - p[0]).collect();
    rr_sorted.sort_unstable();
    let median_rr = (!rr_sorted.is_empty()).then(|| rr_sorted[rr_sorted.len() / 2] as f64);
    let mut beats = Vec::with_capacity(r_peaks.len());
    for (k, &r) in r_peaks.iter().enumerate() {
        let corr = if inside[k] && !complete.is_empty() {
            correlation(leads, r - before, width, &template)
        } else {
            1.0
        };
        let rr_prev = (k > 0).then(|| (r - r_peaks[k - 1]) as f64);
        let rr_next = r_peaks.get(k + 1).map(|&nx| (nx - r) as f64);
        let premature = match (rr_prev, rr_next, median_rr) {
            (Some(p), Some(nx), Some(m)) => p < PREMATURE_FRACTION * m && nx > PAUSE_FRACTION * m,
            _ => false,
        };
        let kind = if corr < MORPHOLOGY_CORRELATION {
            BeatKind::VentricularEctopic
        } else if premature {
            BeatKind::SupraventricularEctopic
        } else {
            BeatKind::Dominant
        };
        beats.push(Beat {
            r_index: r,
            time_s: r as f64 / fs,
            kind,
            rr_prev_ms: rr_prev.map(|v| v * 1000.0 / fs),
            template_correlation: corr,
            p_onset: None,
            qrs_onset: None,
            qrs_offset: None,
            t_offset: None,
        });
    }
    TypedBeats {
        beats,
        median_rr_samples: median_rr,
    }
}

/// Pearson correlation of the concatenated, per-lead de-meaned QRS windows with the template.
fn correlation(leads: &[&WorkLead], start: usize, width: usize, template: &[f64]) -> f64 {
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (li, w) in leads.iter().enumerate() {
        let x = &w.samples[start..start + width];
        let t = &template[li * width..(li + 1) * width];
        let mx = x.iter().sum::<f64>() / width as f64;
        let mt = t.iter().sum::<f64>() / width as f64;
        for (a, b) in x.iter().zip(t) {
            let (a, b) = (a - mx, b - mt);
            sxy += a * b;
            sxx += a * a;
            syy += b * b;
        }
    }
    if sxx <= 0.0 || syy <= 0.0 {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

/// An integer with the order of [`f64::total_cmp`]: the sign bit kept, the other bits flipped
/// for negative numbers. The map is its own inverse, so [`from_order_key`] undoes it.
fn order_key(x: f64) -> i64 {
    let bits = x.to_bits() as i64;
    bits ^ ((((bits >> 63) as u64) >> 1) as i64)
}

fn from_order_key(key: i64) -> f64 {
    f64::from_bits((key ^ ((((key >> 63) as u64) >> 1) as i64)) as u64)
}

/// Median of [`order_key`]s (reorders them); `None` when empty. The same value as
/// [`median_in_place`] on the numbers (the element of rank len/2 in the total order), found
/// with plain integer comparisons.
fn median_of_keys(keys: &mut [i64]) -> Option<f64> {
    if keys.is_empty() {
        return None;
    }
    let mid = keys.len() / 2;
    // Few beats (the usual 10 s record): the element whose rank range covers the middle,
    // counted without data-dependent branches — faster than a selection's mispredicted ones.
    if keys.len() <= SMALL_MEDIAN {
        for &x in keys.iter() {
            let (mut less, mut equal) = (0usize, 0usize);
            for &y in keys.iter() {
                less += usize::from(y < x);
                equal += usize::from(y == x);
            }
            if less <= mid && mid < less + equal {
                return Some(from_order_key(x));
            }
        }
    }
    let (_, m, _) = keys.select_nth_unstable(mid);
    Some(from_order_key(*m))
}

/// Up to this many values the median is found by counting ranks.
const SMALL_MEDIAN: usize = 24;

/// Median of a small buffer (reorders it); `None` when empty.
pub(crate) fn median_in_place(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    Some(*m)
}

/// Window of a median beat, from the median RR: before the fiducial 45 % of RR (250–450 ms),
/// after it 75 % (300–700 ms), so the P wave and the T-wave end are inside at 40–150 bpm.
pub(crate) fn window(median_rr_samples: Option<f64>, fs: f64) -> (usize, usize) {
    let rr = median_rr_samples.unwrap_or(fs);
    let pre = (0.45 * rr).clamp(0.25 * fs, 0.45 * fs);
    let post = (0.75 * rr).clamp(0.3 * fs, 0.7 * fs);
    (pre.round() as usize, post.round() as usize)
}

/// Per-lead median beats over the dominant beats (all leads, usable or not, so that every
/// lead gets values or a reason). Also fills each lead's noise estimate.
pub(crate) fn median_beats(
    work: &[WorkLead],
    typed: &TypedBeats,
    fs: f64,
    n: usize,
) -> Option<MedianBeats> {
    let (pre, post) = window(typed.median_rr_samples, fs);
    let mut used: Vec<usize> = typed
        .beats
        .iter()
        .filter(|b| b.kind == BeatKind::Dominant && b.r_index >= pre && b.r_index + post < n)
        .map(|b| b.r_index)
        .collect();
    if used.is_empty() {
        return None;
    }
    if used.len() > MAX_MEDIAN_BEATS {
        let step = used.len() as f64 / MAX_MEDIAN_BEATS as f64;
        used = (0..MAX_MEDIAN_BEATS)
            .map(|k| used[(k as f64 * step) as usize])
            .collect();
    }
    let width = pre + post;
    let mut column = Vec::with_capacity(used.len());
    let mut leads = Vec::with_capacity(work.len());
    for w in work {
        // A windowed lead (one panel of a page) averages only the beats inside its window.
        let inside: Vec<usize> = used
            .iter()
            .copied()
            .filter(|&r| r - pre >= w.window.start && r + post <= w.window.end)
            .collect();
        let beats_here = if inside.is_empty() { &used } else { &inside };
        let mut median = vec![0.0; width];
        for (k, m) in median.iter_mut().enumerate() {
            column.clear();
            column.extend(
                beats_here
                    .iter()
                    .map(|&r| order_key(w.samples[r - pre + k])),
            );
            *m = median_of_keys(&mut column).unwrap_or(0.0);
        }
        leads.push((w.lead.name().to_string(), median));
    }
    Some(MedianBeats {
        pre,
        leads,
        reference_r: used[0],
        beats_used: used.len(),
    })
}

/// RMS difference between each dominant beat and the median, per lead (µV); needs ≥ 3 beats.
pub(crate) fn beat_noise(w: &WorkLead, median: &[f64], beats: &[Beat], pre: usize) -> Option<f64> {
    let n = w.samples.len();
    let width = median.len();
    let (mut sum, mut count) = (0.0, 0usize);
    let mut nbeats = 0;
    for b in beats.iter().filter(|b| b.kind == BeatKind::Dominant) {
        if b.r_index < pre
            || b.r_index - pre + width > n
            || b.r_index - pre < w.window.start
            || b.r_index - pre + width > w.window.end
        {
            continue;
        }
        nbeats += 1;
        let start = b.r_index - pre;
        for (x, m) in w.samples[start..start + width].iter().zip(median) {
            sum += (x - m).powi(2);
            count += 1;
        }
    }
    (nbeats >= 3 && count > 0).then(|| (sum / count as f64).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_order_keys_equals_the_total_order_median() {
        let specials = [
            0.0,
            -0.0,
            1.5,
            -1.5,
            f64::MIN_POSITIVE,
            -f64::MAX,
            3e300,
            -7e-310,
        ];
        let mut rng = crate::test_rng::XorShift::new(0x2545_F491_4F6C_DD1D);
        for len in 1..40 {
            for _ in 0..50 {
                let values: Vec<f64> = (0..len)
                    .map(|_| {
                        let state = rng.next_u64();
                        if state.is_multiple_of(5) {
                            specials[(state >> 8) as usize % specials.len()]
                        } else {
                            ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2000.0
                        }
                    })
                    .collect();
                let mut keys: Vec<i64> = values.iter().map(|&v| order_key(v)).collect();
                let mut plain = values.clone();
                let expected = median_in_place(&mut plain).map(f64::to_bits);
                assert_eq!(median_of_keys(&mut keys).map(f64::to_bits), expected);
            }
        }
        assert_eq!(
            from_order_key(order_key(-0.0)).to_bits(),
            (-0.0f64).to_bits()
        );
    }
}
