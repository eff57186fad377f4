//! Diagnostic-accuracy statistics for the evaluation harness: proportions with Wilson
//! intervals, ROC AUC with a bootstrap interval, calibration, risk-band tables, multi-label
//! scores, and paired comparisons of two engines (McNemar, DeLong).
//!
//! Everything here is plain arithmetic on slices so it can be checked against textbook
//! examples by hand.

use serde::Serialize;

use crate::report::RiskBand;

/// z for a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// A proportion with its 95 % Wilson score interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Proportion {
    pub successes: usize,
    pub total: usize,
    /// `None` when `total` is 0.
    pub value: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

impl Proportion {
    /// Wilson score interval (Wilson 1927), which behaves well near 0 and 1 unlike the Wald one.
    pub fn wilson(successes: usize, total: usize) -> Self {
        if total == 0 {
            return Self {
                successes,
                total,
                value: None,
                ci_low: None,
                ci_high: None,
            };
        }
        let n = total as f64;
        let p = successes as f64 / n;
        let z2 = Z95 * Z95;
        let denom = 1.0 + z2 / n;
        let centre = (p + z2 / (2.0 * n)) / denom;
        let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
        Self {
            successes,
            total,
            value: Some(p),
            ci_low: Some((centre - half).max(0.0)),
            ci_high: Some((centre + half).min(1.0)),
        }
    }
}

/// The 2×2 table of a yes/no task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Confusion {
    pub tp: usize,
    pub fp: usize,
    pub tn: usize,
    pub fn_: usize,
}

impl Confusion {
    pub fn from_pairs(pairs: impl IntoIterator<Item = (bool, bool)>) -> Self {
        let mut c = Self::default();
        for (predicted, actual) in pairs {
            match (predicted, actual) {
                (true, true) => c.tp += 1,
                (true, false) => c.fp += 1,
                (false, false) => c.tn += 1,
                (false, true) => c.fn_ += 1,
            }
        }
        c
    }

    pub fn total(&self) -> usize {
        self.tp + self.fp + self.tn + self.fn_
    }
}

/// Accuracy, sensitivity, specificity, PPV and NPV, each with a Wilson interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BinaryMetrics {
    pub confusion: Confusion,
    pub accuracy: Proportion,
    pub sensitivity: Proportion,
    pub specificity: Proportion,
    pub ppv: Proportion,
    pub npv: Proportion,
}

impl BinaryMetrics {
    pub fn from_confusion(c: Confusion) -> Self {
        Self {
            confusion: c,
            accuracy: Proportion::wilson(c.tp + c.tn, c.total()),
            sensitivity: Proportion::wilson(c.tp, c.tp + c.fn_),
            specificity: Proportion::wilson(c.tn, c.tn + c.fp),
            ppv: Proportion::wilson(c.tp, c.tp + c.fp),
            npv: Proportion::wilson(c.tn, c.tn + c.fn_),
        }
    }
}

/// Area under the ROC curve by the Mann–Whitney statistic (ties count one half).
/// `None` when either class is empty.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let (pos, neg) = split_by_label(scores, labels);
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let mut sum = 0.0;
    for &p in &pos {
        sum += neg.iter().map(|&n| psi(p, n)).sum::<f64>();
    }
    Some(sum / (pos.len() * neg.len()) as f64)
}

fn psi(pos: f64, neg: f64) -> f64 {
    if pos > neg {
        1.0
    } else if pos == neg {
        0.5
    } else {
        0.0
    }
}

fn split_by_label(scores: &[f64], labels: &[bool]) -> (Vec<f64>, Vec<f64>) {
    let mut pos = Vec::new();
    let mut neg = Vec::new();
    for (&s, &l) in scores.iter().zip(labels) {
        if l { pos.push(s) } else { neg.push(s) }
    }
    (pos, neg)
}

/// One point of an ROC curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RocPoint {
    pub threshold: f64,
    pub false_positive_rate: f64,
    pub true_positive_rate: f64,
}

/// The ROC curve: one point per distinct score (predict yes when score ≥ threshold), plus (0,0).
pub fn roc_curve(scores: &[f64], labels: &[bool]) -> Vec<RocPoint> {
    let (pos, neg) = split_by_label(scores, labels);
    if pos.is_empty() || neg.is_empty() {
        return Vec::new();
    }
    let mut thresholds: Vec<f64> = scores.iter().copied().filter(|s| s.is_finite()).collect();
    thresholds.sort_by(|a, b| b.total_cmp(a));
    thresholds.dedup();
    let mut out = vec![RocPoint {
        threshold: f64::INFINITY,
        false_positive_rate: 0.0,
        true_positive_rate: 0.0,
    }];
    for t in thresholds {
        out.push(RocPoint {
            threshold: t,
            false_positive_rate: neg.iter().filter(|&&s| s >= t).count() as f64 / neg.len() as f64,
            true_positive_rate: pos.iter().filter(|&&s| s >= t).count() as f64 / pos.len() as f64,
        });
    }
    out
}

/// A small deterministic generator (SplitMix64) so bootstrap intervals are reproducible.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform index in `0..n` (n > 0); the modulo bias is below 2^-40 for any n we use.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// AUC with a percentile bootstrap 95 % interval (stratified: positives and negatives are
/// resampled separately so every replicate has both classes).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct AucWithCi {
    pub auc: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub replicates: usize,
}

pub fn auc_bootstrap(
    scores: &[f64],
    labels: &[bool],
    replicates: usize,
    seed: u64,
) -> Option<AucWithCi> {
    let point = auc(scores, labels)?;
    let (pos, neg) = split_by_label(scores, labels);
    let mut rng = SplitMix64::new(seed);
    let mut values = Vec::with_capacity(replicates);
    let mut bs = Vec::with_capacity(pos.len() + neg.len());
    let mut bl = Vec::with_capacity(pos.len() + neg.len());
    for _ in 0..replicates {
        bs.clear();
        bl.clear();
        for _ in 0..pos.len() {
            bs.push(pos[rng.below(pos.len())]);
            bl.push(true);
        }
        for _ in 0..neg.len() {
            bs.push(neg[rng.below(neg.len())]);
            bl.push(false);
        }
        if let Some(a) = auc(&bs, &bl) {
            values.push(a);
        }
    }
    values.sort_by(f64::total_cmp);
    let pick = |q: f64| -> f64 {
        if values.is_empty() {
            return point;
        }
        let idx = ((values.len() - 1) as f64 * q).round() as usize;
        values[idx.min(values.len() - 1)]
    };
    Some(AucWithCi {
        auc: point,
        ci_low: pick(0.025),
        ci_high: pick(0.975),
        replicates: values.len(),
    })
}

/// One bin of a reliability diagram.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ReliabilityBin {
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    pub mean_predicted: Option<f64>,
    pub observed_rate: Option<f64>,
}

/// Calibration: expected calibration error over equal-width bins and the bins themselves.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibration {
    pub expected_calibration_error: f64,
    pub bins: Vec<ReliabilityBin>,
}

/// ECE = Σ_b (n_b / N) · |mean predicted_b − observed rate_b| over `n_bins` equal-width bins
/// of [0, 1]; a probability of exactly 1 falls into the last bin.
pub fn calibration(probabilities: &[f64], labels: &[bool], n_bins: usize) -> Calibration {
    let n_bins = n_bins.max(1);
    let mut sum_p = vec![0.0; n_bins];
    let mut sum_y = vec![0usize; n_bins];
    let mut count = vec![0usize; n_bins];
    for (&p, &y) in probabilities.iter().zip(labels) {
        if !p.is_finite() {
            continue;
        }
        let b = ((p.clamp(0.0, 1.0) * n_bins as f64) as usize).min(n_bins - 1);
        sum_p[b] += p;
        sum_y[b] += usize::from(y);
        count[b] += 1;
    }
    let total: usize = count.iter().sum();
    let mut ece = 0.0;
    let bins = (0..n_bins)
        .map(|b| {
            let (mean_predicted, observed_rate) = if count[b] > 0 {
                let mp = sum_p[b] / count[b] as f64;
                let or = sum_y[b] as f64 / count[b] as f64;
                ece += count[b] as f64 / total as f64 * (mp - or).abs();
                (Some(mp), Some(or))
            } else {
                (None, None)
            };
            ReliabilityBin {
                lower: b as f64 / n_bins as f64,
                upper: (b + 1) as f64 / n_bins as f64,
                count: count[b],
                mean_predicted,
                observed_rate,
            }
        })
        .collect();
    Calibration {
        expected_calibration_error: ece,
        bins,
    }
}

/// How many cases fell in each risk band and how often the reference said "yes" there.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BandRow {
    pub band: RiskBand,
    pub observed_positive: Proportion,
}

pub fn band_table(probabilities: &[f64], labels: &[bool]) -> Vec<BandRow> {
    [RiskBand::Low, RiskBand::Intermediate, RiskBand::High]
        .into_iter()
        .map(|band| {
            let (mut n, mut yes) = (0, 0);
            for (&p, &y) in probabilities.iter().zip(labels) {
                if RiskBand::from_p_yes(p) == Some(band) {
                    n += 1;
                    yes += usize::from(y);
                }
            }
            BandRow {
                band,
                observed_positive: Proportion::wilson(yes, n),
            }
        })
        .collect()
}

/// Precision, recall and F1 of one label in a multi-label task.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabelScore {
    pub label: String,
    pub support: usize,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
}

/// Multi-label scores: per label, macro F1 (mean over labels with a defined F1) and the
/// sample-averaged Jaccard index |P ∩ R| / |P ∪ R| (1 when both sets are empty).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MultiLabelMetrics {
    pub labels: Vec<LabelScore>,
    pub macro_f1: Option<f64>,
    pub mean_jaccard: Option<f64>,
}

/// Labels are compared case-insensitively after trimming.
pub fn multilabel(predicted: &[Vec<String>], reference: &[Vec<String>]) -> MultiLabelMetrics {
    use std::collections::{BTreeMap, BTreeSet};
    let norm = |v: &[String]| -> BTreeSet<String> {
        v.iter()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let mut tally: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new(); // tp, fp, fn
    let mut jaccard_sum = 0.0;
    let mut rows = 0usize;
    for (p, r) in predicted.iter().zip(reference) {
        let (p, r) = (norm(p), norm(r));
        for l in p.union(&r) {
            let e = tally.entry(l.clone()).or_default();
            match (p.contains(l), r.contains(l)) {
                (true, true) => e.0 += 1,
                (true, false) => e.1 += 1,
                (false, true) => e.2 += 1,
                (false, false) => {}
            }
        }
        let union = p.union(&r).count();
        jaccard_sum += if union == 0 {
            1.0
        } else {
            p.intersection(&r).count() as f64 / union as f64
        };
        rows += 1;
    }
    let labels: Vec<LabelScore> = tally
        .into_iter()
        .map(|(label, (tp, fp, fn_))| {
            let precision = (tp + fp > 0).then(|| tp as f64 / (tp + fp) as f64);
            let recall = (tp + fn_ > 0).then(|| tp as f64 / (tp + fn_) as f64);
            // F1 = 2TP / (2TP + FP + FN): equal to the harmonic mean where both are defined,
            // and 0 (not undefined) for a label only ever predicted or only ever present.
            let f1 = Some(2.0 * tp as f64 / (2 * tp + fp + fn_) as f64);
            LabelScore {
                label,
                support: tp + fn_,
                precision,
                recall,
                f1,
            }
        })
        .collect();
    let f1s: Vec<f64> = labels.iter().filter_map(|l| l.f1).collect();
    MultiLabelMetrics {
        macro_f1: (!f1s.is_empty()).then(|| f1s.iter().sum::<f64>() / f1s.len() as f64),
        mean_jaccard: (rows > 0).then(|| jaccard_sum / rows as f64),
        labels,
    }
}

/// McNemar's test on paired correctness of two engines.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct McNemar {
    /// Cases engine A got right and B wrong.
    pub a_only: usize,
    /// Cases B got right and A wrong.
    pub b_only: usize,
    /// Continuity-corrected chi-square statistic (1 d.o.f.).
    pub chi_square: f64,
    /// Exact two-sided binomial p-value (used when the discordant count is small, and always reported).
    pub p_exact: f64,
}

pub fn mcnemar(a_correct: &[bool], b_correct: &[bool]) -> McNemar {
    let (mut a_only, mut b_only) = (0usize, 0usize);
    for (&a, &b) in a_correct.iter().zip(b_correct) {
        match (a, b) {
            (true, false) => a_only += 1,
            (false, true) => b_only += 1,
            _ => {}
        }
    }
    let n = a_only + b_only;
    let chi_square = if n == 0 {
        0.0
    } else {
        let d = (a_only as f64 - b_only as f64).abs() - 1.0;
        d.max(0.0).powi(2) / n as f64
    };
    // Two-sided exact p: 2 · P(X ≤ min(b, c)) for X ~ Binomial(n, 1/2), capped at 1.
    let k = a_only.min(b_only);
    let mut cdf = 0.0;
    let mut log_choose = 0.0; // ln C(n, 0)
    for i in 0..=k {
        if i > 0 {
            log_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        cdf += (log_choose - n as f64 * std::f64::consts::LN_2).exp();
    }
    McNemar {
        a_only,
        b_only,
        chi_square,
        p_exact: if n == 0 { 1.0 } else { (2.0 * cdf).min(1.0) },
    }
}

/// DeLong's test for two correlated AUCs measured on the same cases.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DeLong {
    pub auc_a: f64,
    pub auc_b: f64,
    pub z: f64,
    pub p_value: f64,
}

/// DeLong, DeLong & Clarke-Pearson (1988): structural components V10 (per positive) and V01
/// (per negative) for each engine, their covariance matrices, and z = (A − B) / sd.
pub fn delong(scores_a: &[f64], scores_b: &[f64], labels: &[bool]) -> Option<DeLong> {
    let pos: Vec<usize> = (0..labels.len()).filter(|&i| labels[i]).collect();
    let neg: Vec<usize> = (0..labels.len()).filter(|&i| !labels[i]).collect();
    let (m, n) = (pos.len(), neg.len());
    if m < 2 || n < 2 || scores_a.len() != labels.len() || scores_b.len() != labels.len() {
        return None;
    }
    let components = |s: &[f64]| -> (Vec<f64>, Vec<f64>, f64) {
        let v10: Vec<f64> = pos
            .iter()
            .map(|&i| neg.iter().map(|&j| psi(s[i], s[j])).sum::<f64>() / n as f64)
            .collect();
        let v01: Vec<f64> = neg
            .iter()
            .map(|&j| pos.iter().map(|&i| psi(s[i], s[j])).sum::<f64>() / m as f64)
            .collect();
        let auc = v10.iter().sum::<f64>() / m as f64;
        (v10, v01, auc)
    };
    let (a10, a01, auc_a) = components(scores_a);
    let (b10, b01, auc_b) = components(scores_b);
    let cov = |x: &[f64], y: &[f64], mx: f64, my: f64| -> f64 {
        x.iter()
            .zip(y)
            .map(|(a, b)| (a - mx) * (b - my))
            .sum::<f64>()
            / (x.len() - 1) as f64
    };
    let s10_aa = cov(&a10, &a10, auc_a, auc_a);
    let s10_bb = cov(&b10, &b10, auc_b, auc_b);
    let s10_ab = cov(&a10, &b10, auc_a, auc_b);
    let s01_aa = cov(&a01, &a01, auc_a, auc_a);
    let s01_bb = cov(&b01, &b01, auc_b, auc_b);
    let s01_ab = cov(&a01, &b01, auc_a, auc_b);
    let var =
        (s10_aa + s10_bb - 2.0 * s10_ab) / m as f64 + (s01_aa + s01_bb - 2.0 * s01_ab) / n as f64;
    let diff = auc_a - auc_b;
    let (z, p_value) = if var > 1e-15 {
        let z = diff / var.sqrt();
        (z, 2.0 * normal_sf(z.abs()))
    } else if diff.abs() < 1e-15 {
        (0.0, 1.0)
    } else {
        (f64::INFINITY.copysign(diff), 0.0)
    };
    Some(DeLong {
        auc_a,
        auc_b,
        z,
        p_value,
    })
}

/// Upper tail of the standard normal, P(Z > z), via erfc.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' Chebyshev fit, |relative error| < 1.2e-7).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn wilson_matches_a_textbook_example() {
        // 81 of 263 (Newcombe 1998, example b): 0.3080, interval 0.2553 to 0.3662.
        let p = Proportion::wilson(81, 263);
        assert!(close(p.value.unwrap(), 0.30798, 1e-4));
        assert!(close(p.ci_low.unwrap(), 0.2553, 1e-4), "{:?}", p.ci_low);
        assert!(close(p.ci_high.unwrap(), 0.3662, 1e-4), "{:?}", p.ci_high);
        // 0 of 10: 0 to 0.2775.
        let z = Proportion::wilson(0, 10);
        assert_eq!(z.ci_low, Some(0.0));
        assert!(close(z.ci_high.unwrap(), 0.2775, 1e-4));
        assert_eq!(Proportion::wilson(0, 0).value, None);
    }

    #[test]
    fn binary_metrics_from_a_hand_counted_table() {
        // predicted, actual
        let pairs = [
            (true, true),
            (true, true),
            (true, true),
            (false, true),
            (true, false),
            (false, false),
            (false, false),
            (false, false),
            (false, false),
            (false, false),
        ];
        let m = BinaryMetrics::from_confusion(Confusion::from_pairs(pairs));
        assert_eq!(
            m.confusion,
            Confusion {
                tp: 3,
                fp: 1,
                tn: 5,
                fn_: 1
            }
        );
        assert_eq!(m.accuracy.value, Some(0.8));
        assert_eq!(m.sensitivity.value, Some(0.75));
        assert!(close(m.specificity.value.unwrap(), 5.0 / 6.0, 1e-12));
        assert_eq!(m.ppv.value, Some(0.75));
        assert!(close(m.npv.value.unwrap(), 5.0 / 6.0, 1e-12));
    }

    #[test]
    fn auc_counts_pairs_and_half_ties() {
        // Positives 0.9, 0.6, 0.4; negatives 0.5, 0.4, 0.1.
        // Pairs won: 0.9 beats 3; 0.6 beats 3; 0.4 beats 0.1, ties 0.4 → 1.5. Total 7.5 / 9.
        let scores = [0.9, 0.6, 0.4, 0.5, 0.4, 0.1];
        let labels = [true, true, true, false, false, false];
        assert!(close(auc(&scores, &labels).unwrap(), 7.5 / 9.0, 1e-12));
        assert_eq!(auc(&[0.3], &[true]), None);
        let roc = roc_curve(&scores, &labels);
        assert_eq!(roc.first().map(|p| p.true_positive_rate), Some(0.0));
        assert_eq!(
            roc.last()
                .map(|p| (p.false_positive_rate, p.true_positive_rate)),
            Some((1.0, 1.0))
        );
    }

    #[test]
    fn bootstrap_interval_brackets_the_auc_and_is_reproducible() {
        let scores: Vec<f64> = (0..40).map(|i| f64::from(i) / 40.0).collect();
        let labels: Vec<bool> = (0..40).map(|i| i % 3 != 0 && i > 10).collect();
        let a = auc_bootstrap(&scores, &labels, 500, 7).unwrap();
        let b = auc_bootstrap(&scores, &labels, 500, 7).unwrap();
        assert_eq!(a, b);
        assert!(a.ci_low <= a.auc && a.auc <= a.ci_high);
        assert!(a.ci_high - a.ci_low > 0.01);
    }

    #[test]
    fn ece_by_hand() {
        // Two bins used (of 10): [0.1,0.2) holds 0.1, 0.1 with labels 0, 1 → |0.1 − 0.5| = 0.4;
        // [0.9,1.0] holds 0.9, 1.0 with labels 1, 1 → |0.95 − 1| = 0.05. ECE = 0.5·0.4 + 0.5·0.05.
        let c = calibration(&[0.1, 0.1, 0.9, 1.0], &[false, true, true, true], 10);
        assert!(close(c.expected_calibration_error, 0.225, 1e-12));
        assert_eq!(c.bins[1].count, 2);
        assert_eq!(c.bins[9].count, 2);
    }

    #[test]
    fn band_table_counts_and_rates() {
        let rows = band_table(
            &[0.05, 0.1, 0.5, 0.85, 0.95],
            &[false, true, true, true, false],
        );
        assert_eq!(rows[0].observed_positive.total, 2);
        assert_eq!(rows[0].observed_positive.value, Some(0.5));
        assert_eq!(rows[1].observed_positive.total, 1);
        assert_eq!(rows[2].observed_positive.value, Some(0.5));
    }

    #[test]
    fn multilabel_scores_by_hand() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_string()).collect::<Vec<_>>();
        let predicted = vec![s(&["Sinus rhythm", "LVH"]), s(&["sinus rhythm"]), s(&[])];
        let reference = vec![s(&["sinus rhythm"]), s(&["sinus rhythm", "RBBB"]), s(&[])];
        let m = multilabel(&predicted, &reference);
        let get = |name: &str| m.labels.iter().find(|l| l.label == name).unwrap();
        assert_eq!(get("sinus rhythm").f1, Some(1.0));
        assert_eq!(get("lvh").precision, Some(0.0));
        assert_eq!(get("rbbb").recall, Some(0.0));
        // Macro F1 = (1 + 0 + 0) / 3; Jaccard = (1/2 + 1/2 + 1) / 3.
        assert!(close(m.macro_f1.unwrap(), 1.0 / 3.0, 1e-12));
        assert!(close(m.mean_jaccard.unwrap(), 2.0 / 3.0, 1e-12));
    }

    #[test]
    fn mcnemar_by_hand() {
        // b = 10 (A right only), c = 2: chi² = (|10 − 2| − 1)² / 12 = 49/12;
        // exact p = 2 · P(X ≤ 2 | n=12) = 2 · (1 + 12 + 66) / 4096 = 0.03857.
        let mut a = vec![true; 10];
        let mut b = vec![false; 10];
        a.extend([false, false]);
        b.extend([true, true]);
        a.extend([true; 5]);
        b.extend([true; 5]);
        let m = mcnemar(&a, &b);
        assert_eq!((m.a_only, m.b_only), (10, 2));
        assert!(close(m.chi_square, 49.0 / 12.0, 1e-12));
        assert!(close(m.p_exact, 158.0 / 4096.0, 1e-12));
    }

    #[test]
    fn delong_is_zero_for_identical_engines_and_detects_a_difference() {
        let labels = [true, true, true, true, false, false, false, false];
        let a = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1];
        let same = delong(&a, &a, &labels).unwrap();
        assert_eq!(same.p_value, 1.0);
        let b = [0.5, 0.2, 0.7, 0.3, 0.6, 0.3, 0.8, 0.1];
        let d = delong(&a, &b, &labels).unwrap();
        // Reference figures computed independently with numpy's covariance of the structural
        // components: AUC_B = 0.46875, z = 2.18260, two-sided p = 0.029065.
        assert_eq!(d.auc_a, 1.0);
        assert!(close(d.auc_b, 0.46875, 1e-12));
        assert!(close(d.z, 2.182_598_5, 1e-6), "{d:?}");
        assert!(close(d.p_value, 0.029_065_4, 1e-6), "{d:?}");
    }

    #[test]
    fn normal_tail_values() {
        assert!(close(normal_sf(0.0), 0.5, 1e-7));
        assert!(close(normal_sf(1.959_964), 0.025, 1e-6));
        assert!(close(2.0 * normal_sf(2.575_829), 0.01, 1e-6));
    }
}
