//! EDF+C writer: 16-bit samples, physical range per lead from the data, dimension uV, an
//! "EDF Annotations" signal carrying the time-keeping TALs EDF+ requires (plus one annotation
//! over any padding of the last record), and a de-identified patient field ("X X X X").
//! The record's own annotations are not written.

use super::{FormatError, FormatErrorKind, MONTHS};
use crate::record::{EcgRecord, LeadId};

/// EDF+ recommends data records of at most 61 440 bytes.
const RECOMMENDED_RECORD_BYTES: usize = 61_440;
/// Largest physical value that fits the 8-character field as an integer number of µV.
const MAX_ABS_UV: f64 = 9_999_999.0;

/// Writes the record as EDF+C. See [`write_with_notes`] for what the writer had to decide.
pub fn write(record: &EcgRecord) -> Result<Vec<u8>, FormatError> {
    write_with_notes(record).map(|(bytes, _)| bytes)
}

/// Writes the record as EDF+C and returns plain-language notes about choices made (start
/// date unknown, non-finite samples written as 0 µV, record duration other than 1 s).
pub fn write_with_notes(record: &EcgRecord) -> Result<(Vec<u8>, Vec<String>), FormatError> {
    let file = record.provenance.file_name.as_str();
    let err = |kind, field: &str, problem: String| FormatError::new(file, kind, field, problem);
    record
        .validate()
        .map_err(|e| err(FormatErrorKind::Invalid, "record", e.to_string()))?;
    let n = record.samples_per_lead();
    if n == 0 {
        return Err(err(
            FormatErrorKind::Invalid,
            "record",
            "has no samples; EDF needs at least one data record".to_string(),
        ));
    }
    let fs = record.sample_rate_hz;
    let leads = &record.leads;
    let mut notes = Vec::new();
    let (layout, padding) = if let Some(layout) = choose_layout(n, fs, leads.len()) {
        (layout, 0)
    } else if let Some(layout) = padded_layout(fs) {
        // No whole-record layout has an exactly representable duration (e.g. 650 000 samples
        // at 360 Hz): fill the last record by repeating each lead's last value, and say so in
        // the notes and in an EDF+ annotation over the padded span.
        let padding = n.div_ceil(layout.samples_per_record) * layout.samples_per_record - n;
        notes.push(format!(
            "last data record padded with {padding} sample(s) ({:.6} s) repeating each lead's last value, marked by an annotation; the recording has {n} samples",
            padding as f64 / fs
        ));
        (layout, padding)
    } else {
        return Err(err(
            FormatErrorKind::Unsupported,
            "sample rate",
            format!(
                "{fs} Hz cannot be written as samples per data record over a duration that EDF's 8-character field holds exactly"
            ),
        ));
    };
    if layout.duration_text != "1" {
        notes.push(format!(
            "data records of {} s ({} samples) so that the samples fill whole records",
            layout.duration_text, layout.samples_per_record
        ));
    }
    let total = n + padding;
    let record_count = total / layout.samples_per_record;

    // Physical range per lead, whole microvolts so the 8-character fields are exact.
    let mut ranges = Vec::with_capacity(leads.len());
    for lead in leads {
        let non_finite = lead.samples_uv.iter().filter(|v| !v.is_finite()).count();
        let (mut lo, mut hi) = lead
            .samples_uv
            .iter()
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if non_finite > 0 {
            notes.push(format!(
                "lead {}: {non_finite} non-finite sample(s) written as 0 µV (EDF cannot mark them)",
                lead.lead
            ));
            lo = lo.min(0.0);
            hi = hi.max(0.0);
        }
        if lo.abs() > MAX_ABS_UV || hi.abs() > MAX_ABS_UV {
            return Err(err(
                FormatErrorKind::Invalid,
                &format!("lead {} physical range", lead.lead),
                format!("values beyond ±{MAX_ABS_UV} µV do not fit an EDF uV field"),
            ));
        }
        let (mut lo, mut hi) = (lo.floor(), hi.ceil());
        if lo >= hi {
            lo -= 1.0;
            hi += 1.0;
        }
        ranges.push((lo, hi));
    }

    let (start_date, start_time, recording_date) = if let Some((y, mo, d, h, mi, s)) =
        parse_iso(record.acquisition_time.as_deref())
    {
        (
            format!("{d:02}.{mo:02}.{:02}", y % 100),
            format!("{h:02}.{mi:02}.{s:02}"),
            format!("{d:02}-{}-{y:04}", MONTHS[(mo - 1) as usize]),
        )
    } else {
        notes.push(
            "acquisition time unknown or not ISO 8601 within 1985–2084: start date written as 01.01.85 00.00.00 and the recording field says X".to_string(),
        );
        (
            "01.01.85".to_string(),
            "00.00.00".to_string(),
            "X".to_string(),
        )
    };
    let device = record
        .device
        .as_deref()
        .map_or_else(|| "X".to_string(), |d| sanitize(d).replace(' ', "_"));
    let recording = format!("Startdate {recording_date} X X {device}");

    // Time-keeping TAL per record: "+<onset>\x14\x14\x00". Onsets are exact decimal multiples
    // of the duration text, computed in integers.
    let (dur_units, decimals) = layout.duration_fixed;
    let tal = |k: usize| -> Vec<u8> {
        let units = k as u128 * dur_units as u128;
        let scale = 10u128.pow(decimals);
        let onset = if decimals == 0 {
            format!("+{units}")
        } else {
            format!(
                "+{}.{:0width$}",
                units / scale,
                units % scale,
                width = decimals as usize
            )
        };
        let mut b = onset.into_bytes();
        b.extend_from_slice(&[0x14, 0x14, 0x00]);
        b
    };
    // The padding annotation, in the last record: "+onset\x15duration\x14text\x14\x00".
    let padding_tal = (padding > 0).then(|| {
        format!(
            "+{}\u{15}{}\u{14}padding, not recorded\u{14}\u{0}",
            trim_decimal(n as f64 / fs),
            trim_decimal(padding as f64 / fs)
        )
        .into_bytes()
    });
    let last_record_tal = |k: usize| -> Vec<u8> {
        let mut b = tal(k);
        if k + 1 == record_count
            && let Some(extra) = &padding_tal
        {
            b.extend_from_slice(extra);
        }
        b
    };
    let annotation_bytes = last_record_tal(record_count - 1).len().max(tal(0).len());
    let annotation_spr = annotation_bytes.div_ceil(2);

    let ns = leads.len() + 1;
    let header_bytes = 256 * (ns + 1);
    let mut out = Vec::with_capacity(
        header_bytes
            + record_count * 2 * (layout.samples_per_record * leads.len() + annotation_spr),
    );
    let mut put = |text: &str, width: usize| {
        let mut field: Vec<u8> = text.bytes().take(width).collect();
        field.resize(width, b' ');
        out.extend_from_slice(&field);
    };
    put("0", 8);
    put("X X X X", 80);
    put(&recording, 80);
    put(&start_date, 8);
    put(&start_time, 8);
    put(&header_bytes.to_string(), 8);
    put("EDF+C", 44);
    put(&record_count.to_string(), 8);
    put(&layout.duration_text, 8);
    put(&ns.to_string(), 4);

    let label = |lead: &LeadId| match lead {
        LeadId::Standard(s) => format!("ECG {}", s.name()),
        LeadId::Other(name) => sanitize(name),
    };
    let spr_text = layout.samples_per_record.to_string();
    for lead in leads {
        put(&label(&lead.lead), 16);
    }
    put("EDF Annotations", 16);
    for _ in 0..ns {
        put("", 80); // transducer
    }
    for _ in leads {
        put("uV", 8);
    }
    put("", 8);
    for (lo, _) in &ranges {
        put(&format!("{lo}"), 8);
    }
    put("-1", 8);
    for (_, hi) in &ranges {
        put(&format!("{hi}"), 8);
    }
    put("1", 8);
    for _ in 0..ns {
        put("-32768", 8);
    }
    for _ in 0..ns {
        put("32767", 8);
    }
    for _ in 0..ns {
        put("", 80); // prefiltering
    }
    for _ in leads {
        put(&spr_text, 8);
    }
    put(&annotation_spr.to_string(), 8);
    for _ in 0..ns {
        put("", 32);
    }

    for k in 0..record_count {
        let from = k * layout.samples_per_record;
        for (lead, &(lo, hi)) in leads.iter().zip(&ranges) {
            let digits_per_uv = 65_535.0 / (hi - lo);
            let pad_value = lead.samples_uv.last().copied().unwrap_or(0.0);
            for t in from..from + layout.samples_per_record {
                let v = lead.samples_uv.get(t).copied().unwrap_or(pad_value);
                let v = if v.is_finite() { v } else { 0.0 };
                let d = ((v - lo) * digits_per_uv - 32_768.0)
                    .round()
                    .clamp(-32_768.0, 32_767.0) as i16;
                out.extend_from_slice(&d.to_le_bytes());
            }
        }
        let mut annotation = last_record_tal(k);
        annotation.resize(annotation_spr * 2, 0);
        out.extend_from_slice(&annotation);
    }
    Ok((out, notes))
}

/// Record layout: samples per data record, the duration as written, and that duration as
/// an integer count of 10^-decimals seconds.
struct Layout {
    samples_per_record: usize,
    duration_text: String,
    duration_fixed: (u64, u32),
}

/// Chooses samples per record among the divisors of `n` so that the duration is written
/// exactly in 8 characters, preferring 1 s and records within the recommended size.
fn choose_layout(n: usize, fs: f64, leads: usize) -> Option<Layout> {
    let mut divisors = Vec::new();
    let mut d = 1usize;
    while d * d <= n {
        if n.is_multiple_of(d) {
            divisors.push(d);
            divisors.push(n / d);
        }
        d += 1;
    }
    let mut best: Option<(f64, Layout)> = None;
    for spr in divisors {
        let duration = spr as f64 / fs;
        let Some((text, fixed)) = exact_decimal(duration) else {
            continue;
        };
        // The rate a reader recovers must be the one we have.
        let parsed: f64 = text.parse().unwrap_or(f64::NAN);
        if (spr as f64 / parsed - fs).abs() > 1e-9 * fs {
            continue;
        }
        let oversize = 2 * spr * (leads + 1) > RECOMMENDED_RECORD_BYTES;
        let score = duration.ln().abs() + if oversize { 100.0 } else { 0.0 };
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((
                score,
                Layout {
                    samples_per_record: spr,
                    duration_text: text,
                    duration_fixed: fixed,
                },
            ));
        }
    }
    best.map(|(_, layout)| layout)
}

/// Data records of 1 s (or 0.5, 0.2, 0.1, 2, 5, 10 s) holding a whole number of samples,
/// for recordings that must be padded to fill their last record.
fn padded_layout(fs: f64) -> Option<Layout> {
    for duration in [1.0, 0.5, 0.2, 0.1, 2.0, 5.0, 10.0] {
        let spr = fs * duration;
        if (spr - spr.round()).abs() <= 1e-9 * spr && spr >= 1.0 {
            let (text, fixed) = exact_decimal(duration)?;
            return Some(Layout {
                samples_per_record: spr.round() as usize,
                duration_text: text,
                duration_fixed: fixed,
            });
        }
    }
    None
}

/// A decimal with up to 6 places, trailing zeros trimmed (TAL onsets and durations).
fn trim_decimal(v: f64) -> String {
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Writes `value` as a plain decimal of at most 8 characters if that is exact (to 1e-12
/// relative); also returns it as (integer units, decimals).
fn exact_decimal(value: f64) -> Option<(String, (u64, u32))> {
    if !(value.is_finite() && value > 0.0) {
        return None;
    }
    for decimals in 0..=6u32 {
        let scale = 10f64.powi(decimals as i32);
        let units = (value * scale).round();
        if units < 1.0 || (units / scale - value).abs() > 1e-12 * value {
            continue;
        }
        let units = units as u64;
        let text = if decimals == 0 {
            units.to_string()
        } else {
            let s = 10u64.pow(decimals);
            format!(
                "{}.{:0width$}",
                units / s,
                units % s,
                width = decimals as usize
            )
        };
        if text.len() <= 8 {
            return Some((text, (units, decimals)));
        }
        return None;
    }
    None
}

/// Printable ASCII only, as EDF requires.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// "YYYY-MM-DD[Thh:mm:ss…]" → parts, only for years EDF's two-digit field can carry.
fn parse_iso(text: Option<&str>) -> Option<(u32, u32, u32, u32, u32, u32)> {
    let t = text?.trim();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let s = t.get(range)?;
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if t.get(4..5)? != "-" || t.get(7..8)? != "-" {
        return None;
    }
    let (h, mi, s) = if t.len() >= 19 && matches!(t.get(10..11), Some("T" | " ")) {
        (num(11..13)?, num(14..16)?, num(17..19)?)
    } else if t.len() == 10 {
        (0, 0, 0)
    } else {
        return None;
    };
    let ok = (1985..=2084).contains(&y)
        && (1..=12).contains(&mo)
        && (1..=31).contains(&d)
        && h < 24
        && mi < 60
        && s < 61;
    ok.then_some((y, mo, d, h, mi, s))
}
