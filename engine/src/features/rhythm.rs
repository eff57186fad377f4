//! Rhythm: sinus criteria (a P wave before every QRS, consistent PR, upright P in II),
//! brady-/tachycardia, an irregularity index suggesting atrial fibrillation, ectopic counts.

use super::{
    Basis, Beat, BeatKind, Measured, MedianBeats, MedianFiducials, Rhythm, Source, WorkLead,
    mean_sd,
};
use crate::record::StandardLead;

/// RMSSD / mean RR above this is an irregular rhythm.
const IRREGULARITY_AF: f64 = 0.10;
/// A beat has its own P wave when the deflection reaches this fraction of the median P.
const P_PRESENT_FRACTION: f64 = 0.4;
/// PR is consistent when the per-beat P-peak-to-R SD is below this (ms).
const PR_SD_MS: f64 = 20.0;
/// Per-beat P search half-window around the expected P peak.
const P_SEARCH_S: f64 = 0.04;

pub(crate) fn assess(
    work: &[WorkLead],
    beats: &mut [Beat],
    medians: Option<&MedianBeats>,
    fid: &MedianFiducials,
    heart_rate: Option<f64>,
    fs: f64,
) -> Rhythm {
    // Irregularity over intervals not touching a ventricular ectopic.
    let mut rr = Vec::new();
    for k in 1..beats.len() {
        if beats[k].kind != BeatKind::VentricularEctopic
            && beats[k - 1].kind != BeatKind::VentricularEctopic
            && let Some(v) = beats[k].rr_prev_ms
        {
            rr.push(v);
        }
    }
    let irregularity = if rr.len() >= 3 {
        let (mean, _) = mean_sd(&rr);
        let rmssd = (rr.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum::<f64>()
            / (rr.len() - 1) as f64)
            .sqrt();
        (mean > 0.0).then(|| rmssd / mean)
    } else {
        None
    };
    let irr_src = Source {
        lead: None,
        basis: Basis::Beats,
        sample_index: beats.first().map(|b| b.r_index),
        median_index: None,
    };
    let irregularity_index = Measured::maybe(
        "irregularity_index",
        irregularity,
        "ratio",
        irr_src,
        "needs at least 4 beats not adjacent to an ectopic",
    );
    // Per-beat P waves, in the lead with the largest median P.
    let mut p_found = Vec::new();
    let mut p_to_r_ms = Vec::new();
    let mut p_upright_ii = None;
    if let (Some(m), Some(pp), Some(on)) = (medians, fid.p_peak, fid.qrs_onset) {
        let best = m
            .leads
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                work.get(*i)
                    .is_some_and(|w| w.quality.usable() && !w.quality.noisy)
            })
            .max_by(|a, b| a.1.1[pp].abs().total_cmp(&b.1.1[pp].abs()));
        if let Some(ii) = m.leads.iter().find(|(n, _)| n == StandardLead::II.name()) {
            p_upright_ii = Some(ii.1[pp] > 0.0);
        }
        if let Some((li, (_, median))) = best {
            let x = &work[li].samples;
            let p_med = median[pp];
            let half = (P_SEARCH_S * fs).round() as usize;
            let base_lo = on.saturating_sub((0.02 * fs).round() as usize);
            let base_hi = on
                .saturating_sub((0.004 * fs).round() as usize)
                .max(base_lo + 1);
            for b in beats.iter_mut().filter(|b| b.kind == BeatKind::Dominant) {
                let Some(start) = b.r_index.checked_sub(m.pre) else {
                    continue;
                };
                if start + base_hi >= x.len() || start + pp < half || start + pp + half >= x.len() {
                    continue;
                }
                let base = x[start + base_lo..start + base_hi].iter().sum::<f64>()
                    / (base_hi - base_lo) as f64;
                let (pi, pv) = (start + pp - half..=start + pp + half)
                    .map(|i| (i, (x[i] - base) * p_med.signum()))
                    .max_by(|a, c| a.1.total_cmp(&c.1))
                    .unwrap_or((start + pp, 0.0));
                let found = pv >= P_PRESENT_FRACTION * p_med.abs();
                p_found.push(found);
                if found {
                    p_to_r_ms.push((b.r_index as f64 - pi as f64) * 1000.0 / fs);
                } else {
                    b.p_onset = None;
                }
            }
        }
    }
    let p_before_every = if p_found.is_empty() {
        None
    } else {
        Some(p_found.iter().all(|&f| f))
    };
    let pr_consistent = (p_to_r_ms.len() >= 2).then(|| mean_sd(&p_to_r_ms).1 < PR_SD_MS);
    let sinus = match (p_before_every, pr_consistent, p_upright_ii) {
        (Some(a), Some(b), Some(c)) => Some(a && b && c),
        (Some(false), _, _) | (_, Some(false), _) | (_, _, Some(false)) => Some(false),
        _ => None,
    };
    let bradycardia = heart_rate.map(|h| h < 60.0);
    let tachycardia = heart_rate.map(|h| h > 100.0);
    let af_suggested =
        irregularity.is_some_and(|v| v > IRREGULARITY_AF) && p_before_every != Some(true);
    if af_suggested {
        // In an irregular rhythm "premature" says nothing: count those beats as dominant.
        for b in beats
            .iter_mut()
            .filter(|b| b.kind == BeatKind::SupraventricularEctopic)
        {
            b.kind = BeatKind::Dominant;
        }
    }
    let ventricular_ectopics = beats
        .iter()
        .filter(|b| b.kind == BeatKind::VentricularEctopic)
        .count();
    let supraventricular_ectopics = beats
        .iter()
        .filter(|b| b.kind == BeatKind::SupraventricularEctopic)
        .count();
    let label = if heart_rate.is_none() {
        "undetermined".to_string()
    } else if af_suggested {
        "irregular rhythm suggesting atrial fibrillation".to_string()
    } else if sinus == Some(true) {
        if bradycardia == Some(true) {
            "sinus bradycardia".to_string()
        } else if tachycardia == Some(true) {
            "sinus tachycardia".to_string()
        } else {
            "sinus rhythm".to_string()
        }
    } else if sinus == Some(false) {
        "non-sinus rhythm".to_string()
    } else if fid.p_peak.is_none() {
        "undetermined rhythm (no P wave identified)".to_string()
    } else {
        "undetermined".to_string()
    };
    Rhythm {
        label,
        sinus,
        p_before_every_qrs: p_before_every,
        pr_consistent,
        p_upright_in_ii: p_upright_ii,
        bradycardia,
        tachycardia,
        irregularity_index,
        af_suggested,
        ventricular_ectopics,
        supraventricular_ectopics,
    }
}
