//! The workstation's one extension to the OpenAI content parts: an ECG signal.
//!
//! ```json
//! {"type": "ecg", "ecg": {"format": "f32le-12x5000-mV", "data": "<base64>", "sha256": "<hex>"}}
//! ```
//!
//! `data` is the model input ECG-R1's tower reads, exactly as the local engine builds it
//! ([`ModelSignal::from_record`]): 12 leads in training order (I, II, III, aVR, aVF, aVL,
//! V1–V6), 5000 samples each at 500 Hz, millivolts, lead after lead (row-major `[12][5000]`),
//! each sample a little-endian IEEE-754 f32 — 240,000 bytes. `sha256` is the hex SHA-256 of
//! those bytes (before base64), so a damaged upload is refused instead of read. No public
//! server accepts this part; `ecgr1 serve` does when its model has an ECG tower.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ecgr1_engine::record::ModelSignal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The one format defined.
pub const ECG_FORMAT: &str = "f32le-12x5000-mV";
const LEADS: usize = 12;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EcgPart {
    pub format: String,
    /// Base64 (standard alphabet, padded) of the samples.
    pub data: String,
    /// Hex SHA-256 of the decoded bytes.
    pub sha256: String,
}

/// Why an ECG part cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EcgPartError {
    #[error("ECG part: format '{0}' is not supported (the only format is {ECG_FORMAT})")]
    Format(String),
    #[error("ECG part: data is not base64: {0}")]
    Base64(String),
    #[error("ECG part: data holds {got} bytes, {ECG_FORMAT} is {expected} bytes")]
    Length { got: usize, expected: usize },
    #[error("ECG part: sha256 {claimed} does not match the data (its SHA-256 is {actual})")]
    Hash { claimed: String, actual: String },
    #[error("ECG part: sample {index} is not a finite number")]
    NotFinite { index: usize },
    #[error(
        "ECG part: the signal is {leads} leads × {samples} samples; {ECG_FORMAT} needs 12 × 5000"
    )]
    Shape { leads: usize, samples: usize },
}

impl EcgPart {
    /// Encodes the model input of a signal.
    pub fn from_signal(signal: &ModelSignal) -> Result<Self, EcgPartError> {
        if signal.leads != LEADS
            || signal.samples != ModelSignal::SAMPLES
            || signal.data_mv.len() != LEADS * ModelSignal::SAMPLES
        {
            return Err(EcgPartError::Shape {
                leads: signal.leads,
                samples: signal.samples,
            });
        }
        let bytes: Vec<u8> = signal
            .data_mv
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        Ok(Self {
            format: ECG_FORMAT.to_string(),
            sha256: hex::encode(Sha256::digest(&bytes)),
            data: STANDARD.encode(&bytes),
        })
    }

    /// Decodes and checks the part into the signal the tower reads.
    pub fn to_signal(&self) -> Result<ModelSignal, EcgPartError> {
        if self.format != ECG_FORMAT {
            return Err(EcgPartError::Format(self.format.clone()));
        }
        let bytes = STANDARD
            .decode(self.data.as_bytes())
            .map_err(|e| EcgPartError::Base64(e.to_string()))?;
        let expected = LEADS * ModelSignal::SAMPLES * 4;
        if bytes.len() != expected {
            return Err(EcgPartError::Length {
                got: bytes.len(),
                expected,
            });
        }
        let actual = hex::encode(Sha256::digest(&bytes));
        if !actual.eq_ignore_ascii_case(self.sha256.trim()) {
            return Err(EcgPartError::Hash {
                claimed: self.sha256.clone(),
                actual,
            });
        }
        let data_mv: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        // The local engine zeroes non-finite samples before the tower; a sender that did not is
        // refused rather than silently changed.
        if let Some(index) = data_mv.iter().position(|v| !v.is_finite()) {
            return Err(EcgPartError::NotFinite { index });
        }
        Ok(ModelSignal {
            data_mv,
            leads: LEADS,
            samples: ModelSignal::SAMPLES,
            notes: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal() -> ModelSignal {
        ModelSignal {
            data_mv: (0..LEADS * ModelSignal::SAMPLES)
                .map(|i| (i as f32 * 0.001).sin())
                .collect(),
            leads: LEADS,
            samples: ModelSignal::SAMPLES,
            notes: Vec::new(),
        }
    }

    #[test]
    fn round_trips_bit_exactly() {
        let s = signal();
        let part = EcgPart::from_signal(&s).unwrap();
        assert_eq!(part.format, ECG_FORMAT);
        let back = part.to_signal().unwrap();
        assert_eq!(back.data_mv, s.data_mv);
        let json = serde_json::to_value(&part).unwrap();
        assert_eq!(json["format"], ECG_FORMAT);
    }

    #[test]
    fn damaged_parts_are_refused_by_name() {
        let mut part = EcgPart::from_signal(&signal()).unwrap();
        part.sha256 = "00".repeat(32);
        assert!(matches!(part.to_signal(), Err(EcgPartError::Hash { .. })));
        let mut part = EcgPart::from_signal(&signal()).unwrap();
        part.format = "i16-12x5000-uV".into();
        assert!(
            part.to_signal()
                .unwrap_err()
                .to_string()
                .contains("not supported")
        );
        let mut part = EcgPart::from_signal(&signal()).unwrap();
        part.data = STANDARD.encode([0u8; 16]);
        assert!(matches!(
            part.to_signal(),
            Err(EcgPartError::Length { got: 16, .. })
        ));
        part.data = "***".into();
        assert!(matches!(part.to_signal(), Err(EcgPartError::Base64(_))));
        let mut s = signal();
        s.data_mv[7] = f32::NAN;
        let part = EcgPart::from_signal(&s).unwrap();
        assert_eq!(part.to_signal(), Err(EcgPartError::NotFinite { index: 7 }));
        let mut s = signal();
        s.samples = 4000;
        assert!(matches!(
            EcgPart::from_signal(&s),
            Err(EcgPartError::Shape { .. })
        ));
    }
}
