//! The PhysioNet Challenge 2024 digitisation score, from its published description.
//!
//! Per lead: the estimate may be shifted by up to 0.5 s in time and by a constant of up to
//! 1 mV in amplitude (never rescaled: a wrong gain is an error), then
//! `SNR = 10·log10(Σ ref² / Σ (ref − est)²)` over the samples present in both, multiplied by
//! the fraction of the reference's samples that the estimate covers. A lead the estimate
//! lacks scores 0 dB (so it pulls the mean down). The record's score is the mean over the
//! reference's standard leads.

use serde::{Deserialize, Serialize};

use crate::record::{EcgRecord, LeadId, StandardLead};

/// The largest time shift the alignment may use, seconds.
pub const MAX_SHIFT_S: f64 = 0.5;
/// The largest amplitude offset the alignment may use, microvolts (1 mV).
pub const MAX_OFFSET_UV: f64 = 1000.0;

/// One lead's score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadSnr {
    pub lead: StandardLead,
    /// The score: SNR after alignment, times `recovered_fraction`.
    pub snr_db: f64,
    /// SNR over the shared samples before the coverage scaling.
    pub aligned_snr_db: f64,
    /// Share of the reference's samples the estimate covers (after the shift).
    pub recovered_fraction: f64,
    /// Alignment used: estimate shifted later by this many ms, and raised by this many µV.
    pub shift_ms: f64,
    pub offset_uv: f64,
}

/// The record's score and the per-lead detail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnrScore {
    pub mean_snr_db: f64,
    pub leads: Vec<LeadSnr>,
}

/// Why two records cannot be scored against each other.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SnrError {
    #[error(
        "sample rates differ: reference {reference_hz} Hz, estimate {estimate_hz} Hz (resample first)"
    )]
    SampleRate { reference_hz: f64, estimate_hz: f64 },
    #[error("the reference has none of the twelve standard leads")]
    NoReferenceLeads,
}

/// Running sums over the samples shared at one shift.
#[derive(Default, Clone, Copy)]
struct Sums {
    count: usize,
    ref_sq: f64,
    diff: f64,
    diff_sq: f64,
}

/// Scores one lead. `reference` and `estimate` are µV at the same rate; NaN marks a sample
/// that is absent. `max_shift` is in samples.
pub fn lead_snr(reference: &[f64], estimate: &[f64], max_shift: usize, fs: f64) -> Alignment {
    let present = reference.iter().filter(|v| v.is_finite()).count();
    let mut best: Option<(f64, Sums, i64, f64)> = None;
    let max_shift = max_shift as i64;
    for shift in -max_shift..=max_shift {
        // The estimate sample compared with reference sample i is estimate[i - shift].
        let mut s = Sums::default();
        for (i, &r) in reference.iter().enumerate() {
            let j = i as i64 - shift;
            if j < 0 || j >= estimate.len() as i64 || !r.is_finite() {
                continue;
            }
            let e = estimate[j as usize];
            if !e.is_finite() {
                continue;
            }
            let d = r - e;
            s.count += 1;
            s.ref_sq += r * r;
            s.diff += d;
            s.diff_sq += d * d;
        }
        if s.count == 0 {
            continue;
        }
        let n = s.count as f64;
        let offset = (s.diff / n).clamp(-MAX_OFFSET_UV, MAX_OFFSET_UV);
        // Σ (d − c)² = Σ d² − 2cΣd + n c²
        let noise = (s.diff_sq - 2.0 * offset * s.diff + n * offset * offset).max(0.0);
        let snr = if noise <= 0.0 {
            f64::INFINITY
        } else if s.ref_sq <= 0.0 {
            f64::NEG_INFINITY
        } else {
            10.0 * (s.ref_sq / noise).log10()
        };
        let score = snr * s.count as f64 / present.max(1) as f64;
        if best.as_ref().is_none_or(|b| score > b.0) {
            best = Some((score, s, shift, offset));
        }
    }
    match best {
        None => Alignment {
            snr_db: 0.0,
            aligned_snr_db: 0.0,
            recovered_fraction: 0.0,
            shift_ms: 0.0,
            offset_uv: 0.0,
        },
        Some((score, s, shift, offset)) => {
            let fraction = s.count as f64 / present.max(1) as f64;
            Alignment {
                snr_db: score,
                aligned_snr_db: if fraction > 0.0 {
                    score / fraction
                } else {
                    0.0
                },
                recovered_fraction: fraction,
                shift_ms: -(shift as f64) * 1000.0 / fs,
                offset_uv: offset,
            }
        }
    }
}

/// The best alignment of one lead and its score ([`lead_snr`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Alignment {
    pub snr_db: f64,
    pub aligned_snr_db: f64,
    pub recovered_fraction: f64,
    pub shift_ms: f64,
    pub offset_uv: f64,
}

/// The part of `reference` a digitised page shows: each lead only over the time windows of
/// its panels in `report` (absent elsewhere). The Challenge scores a page against what it
/// plots; a 3×4 page shows each lead for 2.5 s.
pub fn shown_part(reference: &EcgRecord, report: &super::DigitisationReport) -> EcgRecord {
    let mut out = reference.clone();
    let fs = reference.sample_rate_hz;
    for lead in &mut out.leads {
        let windows: Vec<(f64, f64)> = report
            .leads
            .iter()
            .filter(|b| lead.lead == LeadId::Standard(b.panel.lead))
            .map(|b| (b.t_start_s, b.t_end_s))
            .collect();
        for (i, v) in lead.samples_uv.iter_mut().enumerate() {
            let t = i as f64 / fs;
            if !windows.iter().any(|&(a, b)| t >= a && t < b) {
                *v = f64::NAN;
            }
        }
    }
    out
}

/// Scores `estimate` against `reference` (both records at the same sample rate).
pub fn score(reference: &EcgRecord, estimate: &EcgRecord) -> Result<SnrScore, SnrError> {
    if (reference.sample_rate_hz - estimate.sample_rate_hz).abs() > 1e-9 {
        return Err(SnrError::SampleRate {
            reference_hz: reference.sample_rate_hz,
            estimate_hz: estimate.sample_rate_hz,
        });
    }
    let fs = reference.sample_rate_hz;
    let max_shift = (MAX_SHIFT_S * fs).round() as usize;
    let mut leads = Vec::new();
    for lead in StandardLead::STANDARD_ORDER {
        let Some(r) = reference
            .leads
            .iter()
            .find(|l| l.lead == LeadId::Standard(lead))
        else {
            continue;
        };
        let est = estimate
            .leads
            .iter()
            .find(|l| l.lead == LeadId::Standard(lead));
        let s = match est {
            Some(e) => lead_snr(&r.samples_uv, &e.samples_uv, max_shift, fs),
            None => lead_snr(&r.samples_uv, &[], max_shift, fs),
        };
        leads.push(LeadSnr {
            lead,
            snr_db: s.snr_db,
            aligned_snr_db: s.aligned_snr_db,
            recovered_fraction: s.recovered_fraction,
            shift_ms: s.shift_ms,
            offset_uv: s.offset_uv,
        });
    }
    if leads.is_empty() {
        return Err(SnrError::NoReferenceLeads);
    }
    let mean_snr_db = leads.iter().map(|l| l.snr_db).sum::<f64>() / leads.len() as f64;
    Ok(SnrScore { mean_snr_db, leads })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::test_support::record_with;

    /// A zero-mean ECG-like test signal: a sharp spike every 0.8 s on a slow wave.
    fn signal(n: usize, fs: f64) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let t = i as f64 / fs;
                let phase = (t % 0.8) - 0.4;
                1000.0 * (-phase * phase / 0.0004).exp() + 200.0 * (t * 7.0).sin()
            })
            .collect()
    }

    fn zero_mean(mut v: Vec<f64>) -> Vec<f64> {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        for x in &mut v {
            *x -= m;
        }
        v
    }

    #[test]
    fn an_all_zero_estimate_scores_zero_db() {
        let r = zero_mean(signal(5000, 500.0));
        let s = lead_snr(&r, &vec![0.0; 5000], 250, 500.0);
        assert!(s.snr_db.abs() < 0.05, "{s:?}");
    }

    #[test]
    fn a_gain_of_0_9_scores_20_db() {
        let r = zero_mean(signal(5000, 500.0));
        let e: Vec<f64> = r.iter().map(|v| 0.9 * v).collect();
        let s = lead_snr(&r, &e, 250, 500.0);
        assert!((s.snr_db - 20.0).abs() < 0.05, "{s:?}");
    }

    #[test]
    fn shifts_in_time_and_amplitude_within_the_window_are_recovered() {
        let r = signal(5000, 500.0);
        // Estimate 100 ms late and 0.5 mV high: the alignment undoes both exactly.
        let e: Vec<f64> = (0..5000)
            .map(|i| if i >= 50 { r[i - 50] + 500.0 } else { f64::NAN })
            .collect();
        let s = lead_snr(&r, &e, 250, 500.0);
        assert_eq!(s.shift_ms, 100.0);
        assert!((s.offset_uv + 500.0).abs() < 1e-6, "{s:?}");
        assert!(s.aligned_snr_db.is_infinite() || s.aligned_snr_db > 100.0);
        // Outside the window (0.8 s late, 2 mV high) the score collapses.
        let far: Vec<f64> = (0..5000)
            .map(|i| {
                if i >= 400 {
                    r[i - 400] + 2000.0
                } else {
                    f64::NAN
                }
            })
            .collect();
        let s = lead_snr(&r, &far, 250, 500.0);
        assert!(s.snr_db < 5.0, "{s:?}");
    }

    #[test]
    fn missing_leads_and_missing_samples_are_penalised() {
        let leads = [StandardLead::I, StandardLead::II];
        let mut reference = record_with(&leads, 5000, 500.0);
        for l in &mut reference.leads {
            l.samples_uv = zero_mean(signal(5000, 500.0));
        }
        let mut estimate = reference.clone();
        for l in &mut estimate.leads {
            l.samples_uv.iter_mut().for_each(|v| *v *= 0.9);
        }
        let both = score(&reference, &estimate).unwrap_or_else(|e| panic!("{e}"));
        assert!((both.mean_snr_db - 20.0).abs() < 0.05, "{both:?}");
        // Half of lead II absent: that lead scores half.
        let mut half = estimate.clone();
        half.leads[1].samples_uv[2500..].fill(f64::NAN);
        let s = score(&reference, &half).unwrap_or_else(|e| panic!("{e}"));
        assert!((s.leads[1].recovered_fraction - 0.5).abs() < 0.06, "{s:?}");
        assert!(s.leads[1].snr_db < 11.5 && s.leads[1].snr_db > 9.0, "{s:?}");
        // Lead II missing altogether: 0 dB for it, the mean halves.
        estimate.leads.truncate(1);
        let one = score(&reference, &estimate).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(one.leads[1].snr_db, 0.0);
        assert!((one.mean_snr_db - 10.0).abs() < 0.05, "{one:?}");
    }

    #[test]
    fn different_rates_are_refused() {
        let a = record_with(&[StandardLead::I], 10, 500.0);
        let b = record_with(&[StandardLead::I], 10, 250.0);
        assert!(matches!(score(&a, &b), Err(SnrError::SampleRate { .. })));
    }
}
