//! Multi-lead QRS detection: the 5–20 Hz slope energy of every usable lead is summed,
//! smoothed over 100 ms, and its peaks are accepted greedily (largest first) with a 200 ms
//! refractory period and a threshold relative to the typical beat; long gaps are searched
//! again at half the threshold. The fiducial is then placed at the peak of the spatial
//! magnitude (sum of squares over leads) of the measurement signal.

use super::WorkLead;
use super::filter;

/// No two QRS complexes closer than this (physiological refractory period).
const REFRACTORY_S: f64 = 0.2;
/// Energy smoothing window.
const INTEGRATION_S: f64 = 0.1;
/// A peak is a beat when its energy reaches this fraction of the typical beat's.
const THRESHOLD_FRACTION: f64 = 0.12;
/// Gaps longer than this multiple of the median RR are searched again.
const SEARCH_BACK_FACTOR: f64 = 1.6;
/// Fiducial search half-window around the energy peak.
const FIDUCIAL_HALF_WINDOW_S: f64 = 0.08;

/// Returns the R fiducial sample of every detected QRS, in order.
pub(crate) fn detect_qrs(leads: &[&WorkLead], fs: f64, n: usize) -> Vec<usize> {
    if n < 3 || leads.is_empty() {
        return Vec::new();
    }
    let mut energy = vec![0.0; n];
    let mut scratch = vec![0.0; n];
    let signals: Vec<&[f64]> = leads.iter().map(|w| &w.samples[..n]).collect();
    for group in signals.chunks(filter::LANES) {
        filter::add_qrs_energy::<{ filter::LANES }>(group, fs, &mut energy);
    }
    filter::moving_average(&energy, (INTEGRATION_S * fs).round() as usize, &mut scratch);
    let smooth = scratch;
    let refractory = (REFRACTORY_S * fs).round() as usize;
    // Local maxima, largest first, accepted when no accepted peak lies within the refractory
    // period.
    let mut maxima: Vec<usize> = (1..n - 1)
        .filter(|&i| smooth[i] > smooth[i - 1] && smooth[i] >= smooth[i + 1])
        .collect();
    maxima.sort_by(|&a, &b| smooth[b].total_cmp(&smooth[a]));
    let mut taken = std::collections::BTreeSet::new();
    for &i in &maxima {
        let lo = i.saturating_sub(refractory);
        if taken.range(lo..=i + refractory).next().is_none() {
            taken.insert(i);
        }
    }
    let candidates: Vec<usize> = taken.into_iter().collect();
    let Some(max_height) = candidates.iter().map(|&i| smooth[i]).reduce(f64::max) else {
        return Vec::new();
    };
    if max_height <= 0.0 {
        return Vec::new();
    }
    // The typical beat: median height of the candidates that reach 10 % of the largest.
    let mut strong: Vec<f64> = candidates
        .iter()
        .map(|&i| smooth[i])
        .filter(|&h| h >= 0.1 * max_height)
        .collect();
    strong.sort_by(f64::total_cmp);
    let typical = strong[strong.len() / 2];
    let threshold = THRESHOLD_FRACTION * typical;
    let mut beats: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&i| smooth[i] >= threshold)
        .collect();
    // Search back in long gaps at half the threshold.
    if beats.len() >= 3 {
        let mut rr: Vec<usize> = beats.windows(2).map(|w| w[1] - w[0]).collect();
        rr.sort_unstable();
        let median_rr = rr[rr.len() / 2] as f64;
        let mut added = Vec::new();
        for w in beats.windows(2) {
            if (w[1] - w[0]) as f64 > SEARCH_BACK_FACTOR * median_rr {
                let best = candidates
                    .iter()
                    .copied()
                    .filter(|&c| c > w[0] + refractory && c + refractory < w[1])
                    .filter(|&c| smooth[c] >= 0.5 * threshold)
                    .max_by(|&a, &b| smooth[a].total_cmp(&smooth[b]));
                added.extend(best);
            }
        }
        beats.extend(added);
        beats.sort_unstable();
    }
    // Fiducial: peak of the spatial magnitude near each energy peak.
    let half = (FIDUCIAL_HALF_WINDOW_S * fs).round() as usize;
    let mut out: Vec<usize> = beats
        .iter()
        .map(|&c| {
            let lo = c.saturating_sub(half);
            let hi = (c + half).min(n - 1);
            (lo..=hi)
                .max_by(|&a, &b| {
                    spatial_magnitude(leads, a).total_cmp(&spatial_magnitude(leads, b))
                })
                .unwrap_or(c)
        })
        .collect();
    out.sort_unstable();
    out.dedup_by(|a, b| a.abs_diff(*b) < refractory);
    out
}

fn spatial_magnitude(leads: &[&WorkLead], i: usize) -> f64 {
    leads.iter().map(|w| w.samples[i] * w.samples[i]).sum()
}
