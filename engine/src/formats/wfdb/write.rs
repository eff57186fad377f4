//! Writer for WFDB format 16 (one `.dat` holding all signals interleaved, 16-bit little-endian).
//!
//! Calibration: each lead keeps the gain, baseline and units it was read with when those are
//! voltage units and every sample fits the 16-bit range under them. Otherwise (a lead computed
//! or read from a format without calibration, or one whose values overflow) the lead is written
//! in mV with baseline 0 and the largest gain from 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1
//! ADC units/mV at which it fits; at 1000 units/mV one ADC unit is 1 µV, so rounding to the
//! nearest unit changes a value by at most 0.5 µV. Stored value = round(µV / (µV per unit) ×
//! gain + baseline), half away from zero. NaN samples are written as the invalid-sample value
//! −32768. Derived leads are not written (readers derive them again from I and II); a header
//! comment lists them.

use std::fmt::Write as _;

use super::header::microvolts_per_unit;
use crate::formats::{FormatError, FormatErrorKind};
use crate::record::{AnnotationKind, Calibration, EcgRecord, LeadId, LeadSignal};

const INVALID: i16 = i16::MIN;
const FALLBACK_GAINS: [f64; 10] = [1000.0, 500.0, 200.0, 100.0, 50.0, 20.0, 10.0, 5.0, 2.0, 1.0];

/// The stored values of one lead under a calibration, or `None` if one overflows 16 bits.
fn quantise(samples: &[f64], cal: &Calibration) -> Option<Vec<i16>> {
    let scale = microvolts_per_unit(&cal.units)?;
    if !(cal.gain.is_finite() && cal.gain > 0.0 && cal.baseline.is_finite()) {
        return None;
    }
    samples
        .iter()
        .map(|&uv| {
            if uv.is_nan() {
                return Some(INVALID);
            }
            let adc = (uv / scale * cal.gain + cal.baseline).round();
            (adc > f64::from(i16::MIN) && adc <= f64::from(i16::MAX)).then_some(adc as i16)
        })
        .collect()
}

fn sanitise(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// Calibration and stored values for one lead; the note says when the lead's own calibration
/// could not be kept.
fn encode_lead(
    lead: &LeadSignal,
    record_name: &str,
) -> Result<(Calibration, Vec<i16>, Option<String>), FormatError> {
    if let Some(bad) = lead.samples_uv.iter().position(|v| v.is_infinite()) {
        return Err(FormatError::new(
            format!("{record_name}.dat"),
            FormatErrorKind::NonFinite,
            format!("lead {} sample {bad}", lead.lead),
            "an infinite value cannot be stored",
        ));
    }
    if let Some(cal) = &lead.calibration {
        let integral_baseline = Calibration {
            baseline: cal.baseline.round(),
            ..cal.clone()
        };
        if cal.baseline == integral_baseline.baseline
            && let Some(values) = quantise(&lead.samples_uv, &integral_baseline)
        {
            return Ok((integral_baseline, values, None));
        }
    }
    for gain in FALLBACK_GAINS {
        let cal = Calibration {
            gain,
            baseline: 0.0,
            units: "mV".into(),
        };
        if let Some(values) = quantise(&lead.samples_uv, &cal) {
            let note = lead.calibration.as_ref().map(|c| {
                format!(
                    "lead {}: source calibration {}({})/{} could not be kept in format 16; written at {gain} units/mV",
                    lead.lead, c.gain, c.baseline, c.units
                )
            });
            return Ok((cal, values, note));
        }
    }
    Err(FormatError::new(
        format!("{record_name}.dat"),
        FormatErrorKind::TooLarge,
        format!("lead {}", lead.lead),
        "values exceed ±32.767 V even at 1 unit/mV",
    ))
}

/// "YYYY-MM-DDTHH:MM:SS[.f]" → ("HH:MM:SS[.f]", Some("DD/MM/YYYY")); a bare time → (time, None).
fn base_time_date(iso: &str) -> Option<(String, Option<String>)> {
    let valid_time = |t: &str| {
        let parts: Vec<&str> = t.split(':').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit() || c == '.'))
    };
    match iso.split_once('T') {
        Some((date, time)) => {
            let d: Vec<&str> = date.split('-').collect();
            let [y, m, dd] = d.as_slice() else {
                return None;
            };
            let all_digits = [y, m, dd]
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
            (all_digits && valid_time(time))
                .then(|| (time.to_string(), Some(format!("{dd}/{m}/{y}"))))
        }
        None => valid_time(iso).then(|| (iso.to_string(), None)),
    }
}

/// Writes the record's recorded (non-derived) leads as a WFDB format-16 record named
/// `record_name`: returns the header (`record_name.hea`) and data (`record_name.dat`) bytes.
pub fn write(record: &EcgRecord, record_name: &str) -> Result<(Vec<u8>, Vec<u8>), FormatError> {
    let hea = format!("{record_name}.hea");
    if record_name.is_empty()
        || !record_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(FormatError::new(
            hea,
            FormatErrorKind::Invalid,
            "record name",
            format!("'{record_name}' must be letters, digits, '_' or '-'"),
        ));
    }
    record
        .validate()
        .map_err(|e| FormatError::new(&hea, FormatErrorKind::Invalid, "record", e.to_string()))?;
    let leads: Vec<&LeadSignal> = record.leads.iter().filter(|l| !l.derived).collect();
    if leads.is_empty() {
        return Err(FormatError::new(
            hea,
            FormatErrorKind::Invalid,
            "record",
            "every lead is derived; nothing recorded to write",
        ));
    }
    let nsamp = record.samples_per_lead();
    let mut encoded = Vec::with_capacity(leads.len());
    let mut comments = Vec::new();
    for lead in &leads {
        let (cal, values, note) = encode_lead(lead, record_name)?;
        comments.extend(note);
        encoded.push((cal, values));
    }
    let mut dat = Vec::with_capacity(nsamp * leads.len() * 2);
    for t in 0..nsamp {
        for (_, values) in &encoded {
            dat.extend_from_slice(&values[t].to_le_bytes());
        }
    }
    let mut head = format!(
        "{record_name} {} {} {nsamp}",
        leads.len(),
        record.sample_rate_hz
    );
    if let Some((time, date)) = record.acquisition_time.as_deref().and_then(base_time_date) {
        head.push(' ');
        head.push_str(&time);
        if let Some(date) = date {
            head.push(' ');
            head.push_str(&date);
        }
    }
    head.push('\n');
    for (lead, (cal, values)) in leads.iter().zip(&encoded) {
        let checksum = values.iter().fold(0i16, |acc, &v| acc.wrapping_add(v));
        let initial = values.first().copied().unwrap_or(0);
        // A standard lead is written under its standard name so every reader maps it back
        // (a source label like "Lead I (Einthoven)" would not); others keep their label.
        let label = match (&lead.lead, sanitise(&lead.source_label)) {
            (LeadId::Standard(s), _) => s.name().to_string(),
            (LeadId::Other(name), l) if l.is_empty() => name.clone(),
            (_, l) => l,
        };
        // Writing into a String cannot fail.
        let _ = writeln!(
            head,
            "{record_name}.dat 16 {}({})/{} 16 0 {initial} {checksum} 0 {label}",
            cal.gain, cal.baseline, cal.units
        );
    }
    let derived = record.derived_leads();
    if !derived.is_empty() {
        comments.push(format!(
            "derived leads not stored (compute from I and II): {}",
            derived.join(", ")
        ));
    }
    for a in record
        .annotations
        .iter()
        .filter(|a| a.kind == AnnotationKind::Text)
    {
        let text = sanitise(&a.label);
        if !comments.contains(&text) {
            comments.push(text);
        }
    }
    for c in comments {
        let _ = writeln!(head, "# {c}");
    }
    Ok((head.into_bytes(), dat))
}
