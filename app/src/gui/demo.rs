//! An in-memory synthetic 12-lead ECG, used only when no bundled sample file can be read, and
//! always labelled as synthetic wherever it is shown.

use ecgr1_engine::formats::Format;
use ecgr1_engine::record::Provenance;
use ecgr1_engine::{EcgRecord, LeadId, LeadSignal, StandardLead};

/// File name shown for the synthetic signal (there is no file).
pub const DEMO_NAME: &str = "synthetic demo signal (no file)";

const RATE_HZ: f64 = 500.0;
const SECONDS: f64 = 10.0;
const RR_S: f64 = 60.0 / 72.0;

/// Per-lead wave amplitudes in mV: P, Q, R, S, T.
fn amplitudes(lead: StandardLead) -> [f64; 5] {
    use StandardLead::{I, II, V1, V2, V3, V4, V5};
    match lead {
        I => [0.10, -0.05, 0.70, -0.10, 0.20],
        II => [0.15, -0.05, 1.10, -0.20, 0.30],
        V1 => [0.08, 0.0, 0.20, -1.00, -0.10],
        V2 => [0.08, 0.0, 0.40, -1.50, 0.40],
        V3 => [0.08, 0.0, 0.80, -0.90, 0.45],
        V4 => [0.08, -0.05, 1.40, -0.50, 0.40],
        V5 => [0.08, -0.08, 1.30, -0.30, 0.30],
        _ => [0.08, -0.08, 1.00, -0.10, 0.25],
    }
}

fn gaussian(t: f64, centre: f64, sigma: f64) -> f64 {
    (-0.5 * ((t - centre) / sigma).powi(2)).exp()
}

/// A 10 s, 500 Hz sinus rhythm at 72 bpm: I, II and V1–V6 from sums of Gaussian waves, the
/// other limb leads derived from I and II (and marked derived).
pub fn demo_record() -> EcgRecord {
    let n = (RATE_HZ * SECONDS) as usize;
    // (offset from the R peak in s, width in s) for P, Q, R, S, T.
    let waves = [
        (-0.17, 0.022),
        (-0.028, 0.008),
        (0.0, 0.011),
        (0.03, 0.01),
        (0.27, 0.045),
    ];
    let recorded = [
        StandardLead::I,
        StandardLead::II,
        StandardLead::V1,
        StandardLead::V2,
        StandardLead::V3,
        StandardLead::V4,
        StandardLead::V5,
        StandardLead::V6,
    ];
    let leads = recorded
        .iter()
        .map(|&lead| {
            let amp = amplitudes(lead);
            let samples = (0..n)
                .map(|i| {
                    let t = i as f64 / RATE_HZ;
                    // Nearest beat (R peaks from 0.35 s on); neighbours do not overlap enough to matter.
                    let k = ((t - 0.35) / RR_S).round().max(0.0);
                    let r = 0.35 + k * RR_S;
                    let mv: f64 = waves
                        .iter()
                        .zip(amp)
                        .map(|(&(offset, sigma), a)| a * gaussian(t, r + offset, sigma))
                        .sum();
                    (mv * 1000.0).round()
                })
                .collect();
            LeadSignal::new(LeadId::Standard(lead), lead.name(), samples)
        })
        .collect();
    let mut record = EcgRecord {
        sample_rate_hz: RATE_HZ,
        leads,
        acquisition_time: None,
        device: None,
        provenance: Provenance {
            // Nominal: the record did not come from a file.
            format: Format::Csv,
            file_name: DEMO_NAME.to_string(),
            sha256: String::new(),
            byte_len: 0,
        },
        annotations: Vec::new(),
        representative_beats: None,
        processing_notes: vec![
            "synthetic demo signal generated in memory (sinus rhythm, 72 bpm); not a recording"
                .to_string(),
        ],
    };
    record.derive_limb_leads();
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_record_has_twelve_valid_leads() {
        let r = demo_record();
        assert!(r.validate().is_ok());
        assert!(r.missing_standard_leads().is_empty());
        assert_eq!(r.samples_per_lead(), 5000);
        let ii = r.lead(StandardLead::II).unwrap();
        let peak = ii.samples_uv.iter().copied().fold(f64::MIN, f64::max);
        assert!((1000.0..1300.0).contains(&peak), "{peak}");
    }
}
