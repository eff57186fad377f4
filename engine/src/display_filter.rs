//! Display-only filters for reading an ECG on screen: baseline wander removal, a mains notch and
//! a 40 Hz low-pass, as carts offer them. They make a filtered *copy* for drawing; what is
//! stored, measured and sent to the model is always the signal as recorded.

use serde::{Deserialize, Serialize};

use crate::EcgRecord;
use crate::features::filter::{Biquad, hold_invalid};

/// Mains frequency of the notch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MainsHz {
    Fifty,
    Sixty,
}

impl MainsHz {
    pub fn hz(self) -> f64 {
        match self {
            Self::Fifty => 50.0,
            Self::Sixty => 60.0,
        }
    }
}

/// Which display filters are on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct DisplayFilters {
    /// 0.5 Hz high-pass (baseline wander).
    pub baseline: bool,
    pub mains: Option<MainsHz>,
    /// 40 Hz low-pass (muscle noise; also blunts QRS notches — hence "display only").
    pub low_pass_40: bool,
}

/// Quality factor of the mains notch: a narrow notch (about 1.7 Hz wide at 50 Hz).
const NOTCH_Q: f64 = 30.0;

impl DisplayFilters {
    pub fn any(&self) -> bool {
        self.baseline || self.mains.is_some() || self.low_pass_40
    }

    /// "baseline 0.5 Hz, 50 Hz notch, 40 Hz low-pass", or "none".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.baseline {
            parts.push("baseline 0.5 Hz".to_string());
        }
        if let Some(m) = self.mains {
            parts.push(format!("{} Hz notch", m.hz()));
        }
        if self.low_pass_40 {
            parts.push("40 Hz low-pass".to_string());
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }

    /// A filtered copy of `record`. A filter the sample rate cannot support (a notch or cut
    /// at or above Nyquist) is skipped. Gaps (non-finite samples) stay gaps.
    pub fn apply(&self, record: &EcgRecord) -> EcgRecord {
        let mut out = record.clone();
        let fs = record.sample_rate_hz;
        let mut stages = Vec::new();
        if self.baseline {
            stages.push(Biquad::high_pass(0.5, fs));
        }
        if let Some(m) = self.mains
            && m.hz() < 0.45 * fs
        {
            stages.push(Biquad::notch(m.hz(), NOTCH_Q, fs));
        }
        if self.low_pass_40 && 40.0 < 0.45 * fs {
            stages.push(Biquad::low_pass(40.0, fs));
        }
        for lead in &mut out.leads {
            let gaps: Vec<usize> = lead
                .samples_uv
                .iter()
                .enumerate()
                .filter(|(_, v)| !v.is_finite())
                .map(|(i, _)| i)
                .collect();
            hold_invalid(&mut lead.samples_uv);
            for stage in &stages {
                stage.filtfilt(&mut lead.samples_uv);
            }
            for i in gaps {
                lead.samples_uv[i] = f64::NAN;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::Format;
    use crate::record::Provenance;
    use crate::{LeadId, LeadSignal, StandardLead};

    const FS: f64 = 500.0;

    fn record(samples: Vec<f64>) -> EcgRecord {
        EcgRecord {
            sample_rate_hz: FS,
            leads: vec![LeadSignal::new(
                LeadId::Standard(StandardLead::II),
                "II",
                samples,
            )],
            acquisition_time: None,
            device: None,
            provenance: Provenance {
                format: Format::Csv,
                file_name: "t.csv".into(),
                sha256: String::new(),
                byte_len: 0,
            },
            annotations: Vec::new(),
            representative_beats: None,
            processing_notes: Vec::new(),
        }
    }

    fn sine(f: f64, amp: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| amp * (2.0 * std::f64::consts::PI * f * i as f64 / FS).sin())
            .collect()
    }

    fn rms(x: &[f64]) -> f64 {
        (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
    }

    /// Middle of the signal (the ends carry the filters' start-up transients).
    fn middle(x: &[f64]) -> &[f64] {
        &x[x.len() / 5..x.len() * 4 / 5]
    }

    /// A narrow synthetic QRS (Gaussian, 1 mV, σ = 10 ms) every second.
    fn qrs_train(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let t = i as f64 / FS;
                let d = t - t.round();
                1000.0 * (-(d * d) / (2.0 * 0.01 * 0.01)).exp()
            })
            .collect()
    }

    #[test]
    fn the_notch_removes_mains_by_more_than_30_db() {
        let filters = DisplayFilters {
            mains: Some(MainsHz::Fifty),
            ..DisplayFilters::default()
        };
        let out = filters.apply(&record(sine(50.0, 500.0, 5000)));
        let before = rms(middle(&sine(50.0, 500.0, 5000)));
        let after = rms(middle(&out.leads[0].samples_uv));
        assert!(20.0 * (before / after).log10() > 30.0, "{before} → {after}");
    }

    #[test]
    fn baseline_drift_goes_and_the_qrs_stays() {
        let qrs = qrs_train(5000);
        let drifting: Vec<f64> = qrs
            .iter()
            .zip(sine(0.2, 800.0, 5000))
            .map(|(a, b)| a + b)
            .collect();
        let filters = DisplayFilters {
            baseline: true,
            mains: Some(MainsHz::Sixty),
            low_pass_40: true,
        };
        let out = filters.apply(&record(drifting));
        let y = &out.leads[0].samples_uv;
        // Between beats the trace is back near zero (the 800 µV drift is gone).
        let between: Vec<f64> = (1000..4000)
            .filter(|i| (i % 500) > 150 && (i % 500) < 350)
            .map(|i| y[i])
            .collect();
        assert!(
            between.iter().all(|v| v.abs() < 80.0),
            "{:?}",
            &between[..5]
        );
        // QRS peaks keep their height within 10 % (the 40 Hz low-pass blunts them a little).
        for beat in 2..8 {
            let peak = y[beat * 500 - 20..beat * 500 + 20]
                .iter()
                .copied()
                .fold(f64::MIN, f64::max);
            assert!((peak - 1000.0).abs() < 100.0, "beat {beat}: {peak}");
        }
    }

    #[test]
    fn gaps_stay_gaps_and_nothing_on_means_an_identical_copy() {
        let mut samples = qrs_train(2000);
        samples[700] = f64::NAN;
        let r = record(samples);
        let same = DisplayFilters::default().apply(&r);
        assert_eq!(
            format!("{:?}", same.leads[0].samples_uv),
            format!("{:?}", r.leads[0].samples_uv)
        );
        let filtered = DisplayFilters {
            baseline: true,
            ..DisplayFilters::default()
        }
        .apply(&r);
        assert!(filtered.leads[0].samples_uv[700].is_nan());
        assert!(filtered.leads[0].samples_uv[701].is_finite());
        assert_eq!(
            DisplayFilters {
                baseline: true,
                mains: Some(MainsHz::Fifty),
                low_pass_40: true
            }
            .describe(),
            "baseline 0.5 Hz, 50 Hz notch, 40 Hz low-pass"
        );
    }
}
