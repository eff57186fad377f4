//! Lead quality and per-lead measurements on the baseline-corrected median beats.

use super::delineate::Delineation;
use super::{
    Basis, LeadMeasurements, LeadQuality, Measured, MedianBeats, Source, TPolarity, WorkLead,
};

/// A lead with more invalid samples than this is treated as disconnected.
const LEAD_OFF_INVALID_FRACTION: f64 = 0.2;
/// Peak-to-peak above this (µV) after conditioning is saturation or electrode artefact.
const LEAD_OFF_P2P_UV: f64 = 15_000.0;
/// Peak-to-peak below this (µV) is a flat lead.
const FLAT_P2P_UV: f64 = 50.0;
/// Beat-to-beat noise above this (µV RMS) makes a lead noisy.
pub(crate) const NOISY_UV: f64 = 120.0;
/// Deflections smaller than this (µV) are not counted as Q, S or R' waves.
const MIN_WAVE_UV: f64 = 20.0;
/// A T wave whose largest deflection is below this (µV) is flat.
const FLAT_T_UV: f64 = 50.0;
/// Pathological Q (DESIGN.md): wider than 30 ms or deeper than 0.1 mV.
const PATHOLOGICAL_Q_MS: f64 = 30.0;
const PATHOLOGICAL_Q_UV: f64 = 100.0;

pub(crate) fn assess_quality(x: &[f64], invalid: usize, _fs: f64) -> LeadQuality {
    let n = x.len().max(1);
    let (lo, hi) = x
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let p2p = hi - lo;
    let invalid_fraction = invalid as f64 / n as f64;
    LeadQuality {
        flat: p2p.is_nan() || p2p < FLAT_P2P_UV,
        lead_off: invalid_fraction > LEAD_OFF_INVALID_FRACTION || p2p > LEAD_OFF_P2P_UV,
        noisy: false,
        noise_uv: None,
        invalid_fraction,
    }
}

fn src(lead: &str, m: &MedianBeats, i: Option<usize>) -> Source {
    Source {
        lead: Some(lead.to_string()),
        basis: Basis::Median,
        sample_index: i.and_then(|i| (m.reference_r + i).checked_sub(m.pre)),
        median_index: i,
    }
}

fn lead_src(lead: &str) -> Source {
    Source {
        lead: Some(lead.to_string()),
        basis: Basis::Median,
        sample_index: None,
        median_index: None,
    }
}

fn id(lead: &str, name: &str) -> String {
    format!("lead.{lead}.{name}")
}

/// A lead whose values could not be measured, each with the reason.
pub(crate) fn unmeasured_lead(w: &WorkLead, reason: &str) -> LeadMeasurements {
    let lead = w.lead.name();
    let reason = if w.quality.lead_off {
        "lead off"
    } else if w.quality.flat {
        "flat lead"
    } else {
        reason
    };
    let none =
        |name: &str, unit: &str| Measured::none(id(lead, name), unit, lead_src(lead), reason);
    LeadMeasurements {
        lead: lead.to_string(),
        quality: w.quality.clone(),
        p_amplitude_uv: none("p_amplitude_uv", "uV"),
        q_amplitude_uv: none("q_amplitude_uv", "uV"),
        q_duration_ms: none("q_duration_ms", "ms"),
        r_amplitude_uv: none("r_amplitude_uv", "uV"),
        r_duration_ms: none("r_duration_ms", "ms"),
        s_amplitude_uv: none("s_amplitude_uv", "uV"),
        s_duration_ms: none("s_duration_ms", "ms"),
        r_prime_amplitude_uv: none("r_prime_amplitude_uv", "uV"),
        t_amplitude_uv: none("t_amplitude_uv", "uV"),
        st_j_uv: none("st_j_uv", "uV"),
        st_j60_uv: none("st_j60_uv", "uV"),
        st_j80_uv: none("st_j80_uv", "uV"),
        t_polarity: None,
        t_depth_uv: none("t_depth_uv", "uV"),
        t_symmetry_ratio: none("t_symmetry_ratio", "ratio"),
        pathological_q: None,
    }
}

/// Index and value of the sample with the largest |value| in `x[a..=b]`.
fn extreme(x: &[f64], a: usize, b: usize) -> Option<(usize, f64)> {
    (a..=b.min(x.len().checked_sub(1)?))
        .max_by(|&i, &j| x[i].abs().total_cmp(&x[j].abs()))
        .map(|i| (i, x[i]))
}

/// Samples from `peak` outwards until the signal returns to 0 (or the bounds).
fn zero_crossings(x: &[f64], peak: usize, lo: usize, hi: usize) -> (usize, usize) {
    let sign = x[peak].signum();
    let mut a = peak;
    while a > lo && x[a - 1] * sign > 0.0 {
        a -= 1;
    }
    let mut b = peak;
    while b < hi && x[b + 1] * sign > 0.0 {
        b += 1;
    }
    (a, b)
}

pub(crate) fn measure_leads(
    m: &MedianBeats,
    d: &Delineation,
    work: &[WorkLead],
    fs: f64,
) -> Vec<LeadMeasurements> {
    let f = &d.fiducials;
    let ms = |samples: usize| samples as f64 * 1000.0 / fs;
    let mut out = Vec::with_capacity(work.len());
    for (w, (name, x)) in work.iter().zip(&m.leads) {
        if !w.quality.usable() {
            out.push(unmeasured_lead(w, "lead not usable"));
            continue;
        }
        let (Some(on), Some(off)) = (f.qrs_onset, f.qrs_offset) else {
            out.push(unmeasured_lead(w, "QRS boundaries not found"));
            continue;
        };
        let lead = name.as_str();
        let s = |i: usize| src(lead, m, Some(i));
        let last = x.len() - 1;
        let off = off.min(last);
        // P wave.
        let p = match (f.p_onset, f.p_offset) {
            (Some(a), Some(b)) => extreme(x, a, b).map_or_else(
                || {
                    Measured::none(
                        id(lead, "p_amplitude_uv"),
                        "uV",
                        lead_src(lead),
                        "no P wave",
                    )
                },
                |(i, v)| Measured::some(id(lead, "p_amplitude_uv"), v, "uV", s(i)),
            ),
            _ => Measured::none(
                id(lead, "p_amplitude_uv"),
                "uV",
                lead_src(lead),
                "no P wave on the median beat",
            ),
        };
        // QRS waves.
        let (r_idx, r_val) = (on..=off)
            .map(|i| (i, x[i]))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((on, 0.0));
        let has_r = r_val >= MIN_WAVE_UV;
        let (q_amp, q_dur, q_at) = if has_r {
            let (qi, qv) = (on..r_idx)
                .map(|i| (i, x[i]))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((on, 0.0));
            if qv <= -MIN_WAVE_UV {
                let (_, end) = zero_crossings(x, qi, on, r_idx);
                (qv, ms(end + 1 - on), qi)
            } else {
                (0.0, 0.0, on)
            }
        } else {
            // QS complex: the whole QRS is negative.
            let (qi, qv) = (on..=off)
                .map(|i| (i, x[i]))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((on, 0.0));
            (qv.min(0.0), ms(off - on), qi)
        };
        let (r_amp, r_dur) = if has_r {
            let (a, b) = zero_crossings(x, r_idx, on, off);
            (r_val, ms(b + 1 - a))
        } else {
            (0.0, 0.0)
        };
        let (s_amp, s_dur, s_idx) = if has_r && r_idx < off {
            let (si, sv) = (r_idx + 1..=off)
                .map(|i| (i, x[i]))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((off, 0.0));
            if sv <= -MIN_WAVE_UV {
                let (a, b) = zero_crossings(x, si, r_idx, off);
                (sv, ms(b + 1 - a), Some(si))
            } else {
                (0.0, 0.0, None)
            }
        } else {
            (0.0, 0.0, None)
        };
        let r_prime = s_idx.and_then(|si| {
            (si + 1..=off)
                .map(|i| (i, x[i]))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .filter(|(_, v)| *v >= MIN_WAVE_UV)
        });
        let r_prime_m = Measured::some(
            id(lead, "r_prime_amplitude_uv"),
            r_prime.map_or(0.0, |(_, v)| v),
            "uV",
            s(r_prime.map_or(off, |(i, _)| i)),
        );
        // ST levels (3-sample mean).
        let level = |i: usize| -> Option<f64> {
            (i < last && i >= 1).then(|| (x[i - 1] + x[i] + x[i + 1]) / 3.0)
        };
        let st = |name: &str, after_ms: f64| -> Measured {
            let i = off + (after_ms * fs / 1000.0).round() as usize;
            Measured::maybe(
                id(lead, name),
                level(i),
                "uV",
                s(i.min(last)),
                "beyond the median beat",
            )
        };
        // T wave.
        let (t_amp, t_pol, t_depth, t_sym) = match f.t_offset {
            Some(tend) if tend > off + (0.06 * fs) as usize => {
                let a = off + (0.06 * fs) as usize;
                let tend = tend.min(last);
                let (pi, pv) = (a..=tend)
                    .map(|i| (i, x[i]))
                    .max_by(|u, v| u.1.total_cmp(&v.1))
                    .unwrap_or((a, 0.0));
                let (ni, nv) = (a..=tend)
                    .map(|i| (i, x[i]))
                    .min_by(|u, v| u.1.total_cmp(&v.1))
                    .unwrap_or((a, 0.0));
                let (ei, ev) = if pv.abs() >= nv.abs() {
                    (pi, pv)
                } else {
                    (ni, nv)
                };
                let big = pv.abs().max(nv.abs());
                let small = pv.abs().min(nv.abs());
                let pol = if big < FLAT_T_UV {
                    TPolarity::Flat
                } else if small >= 0.4 * big && small >= FLAT_T_UV && pv > 0.0 && nv < 0.0 {
                    TPolarity::Biphasic
                } else if ev > 0.0 {
                    TPolarity::Positive
                } else {
                    TPolarity::Negative
                };
                let amp = Measured::some(id(lead, "t_amplitude_uv"), ev, "uV", s(ei));
                let depth = if pol == TPolarity::Negative {
                    Measured::some(id(lead, "t_depth_uv"), -nv, "uV", s(ni))
                } else {
                    Measured::none(
                        id(lead, "t_depth_uv"),
                        "uV",
                        s(ei),
                        "T wave is not inverted",
                    )
                };
                // Half-amplitude limb durations around the T peak.
                let half = ev / 2.0;
                let mut lft = ei;
                while lft > off && (x[lft] - half) * ev.signum() > 0.0 {
                    lft -= 1;
                }
                let mut rgt = ei;
                let right_limit = (tend + (0.1 * fs) as usize).min(last);
                while rgt < right_limit && (x[rgt] - half) * ev.signum() > 0.0 {
                    rgt += 1;
                }
                let sym = if pol == TPolarity::Flat || rgt == ei || lft == ei {
                    Measured::none(
                        id(lead, "t_symmetry_ratio"),
                        "ratio",
                        s(ei),
                        "T wave flat or its limbs not found",
                    )
                } else {
                    Measured::some(
                        id(lead, "t_symmetry_ratio"),
                        (ei - lft) as f64 / (rgt - ei) as f64,
                        "ratio",
                        s(ei),
                    )
                };
                (amp, Some(pol), depth, sym)
            }
            _ => {
                let why = "T-wave end not found";
                (
                    Measured::none(id(lead, "t_amplitude_uv"), "uV", lead_src(lead), why),
                    None,
                    Measured::none(id(lead, "t_depth_uv"), "uV", lead_src(lead), why),
                    Measured::none(id(lead, "t_symmetry_ratio"), "ratio", lead_src(lead), why),
                )
            }
        };
        let pathological_q =
            (lead != "aVR").then_some(q_dur > PATHOLOGICAL_Q_MS || -q_amp > PATHOLOGICAL_Q_UV);
        out.push(LeadMeasurements {
            lead: lead.to_string(),
            quality: w.quality.clone(),
            p_amplitude_uv: p,
            q_amplitude_uv: Measured::some(id(lead, "q_amplitude_uv"), q_amp, "uV", s(q_at)),
            q_duration_ms: Measured::some(id(lead, "q_duration_ms"), q_dur, "ms", s(on)),
            r_amplitude_uv: Measured::some(id(lead, "r_amplitude_uv"), r_amp, "uV", s(r_idx)),
            r_duration_ms: Measured::some(id(lead, "r_duration_ms"), r_dur, "ms", s(r_idx)),
            s_amplitude_uv: Measured::some(
                id(lead, "s_amplitude_uv"),
                s_amp,
                "uV",
                s(s_idx.unwrap_or(off)),
            ),
            s_duration_ms: Measured::some(
                id(lead, "s_duration_ms"),
                s_dur,
                "ms",
                s(s_idx.unwrap_or(off)),
            ),
            r_prime_amplitude_uv: r_prime_m,
            t_amplitude_uv: t_amp,
            st_j_uv: st("st_j_uv", 0.0),
            st_j60_uv: st("st_j60_uv", 60.0),
            st_j80_uv: st("st_j80_uv", 80.0),
            t_polarity: t_pol,
            t_depth_uv: t_depth,
            t_symmetry_ratio: t_sym,
            pathological_q,
        });
    }
    out
}

/// Sokolow–Lyon (|S V1| + max(R V5, R V6)) and Cornell (R aVL + |S V3|) voltages, µV.
pub(crate) fn voltages(leads: &[LeadMeasurements]) -> (Measured, Measured) {
    let get = |lead: &str, f: fn(&LeadMeasurements) -> &Measured| -> Option<f64> {
        leads
            .iter()
            .find(|l| l.lead == lead)
            .and_then(|l| f(l).value)
    };
    let source = |names: &str| Source {
        lead: Some(names.to_string()),
        basis: Basis::Leads,
        sample_index: None,
        median_index: None,
    };
    let s_v1 = get("V1", |l| &l.s_amplitude_uv);
    let r_v5 = get("V5", |l| &l.r_amplitude_uv);
    let r_v6 = get("V6", |l| &l.r_amplitude_uv);
    let r_max = match (r_v5, r_v6) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let sokolow = s_v1.zip(r_max).map(|(s, r)| s.abs() + r);
    let r_avl = get("aVL", |l| &l.r_amplitude_uv);
    let s_v3 = get("V3", |l| &l.s_amplitude_uv);
    let cornell = r_avl.zip(s_v3).map(|(r, s)| r + s.abs());
    (
        Measured::maybe(
            "sokolow_lyon_uv",
            sokolow,
            "uV",
            source("V1,V5,V6"),
            "needs S in V1 and R in V5 or V6",
        ),
        Measured::maybe(
            "cornell_uv",
            cornell,
            "uV",
            source("aVL,V3"),
            "needs R in aVL and S in V3",
        ),
    )
}
