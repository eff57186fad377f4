//! The cart's own reading: Section 7 (global measurements), 8 (interpretation statements),
//! 10 (per-lead measurements) and 11 (universal statement codes), kept as annotations — the
//! representation the DICOM and MUSE readers use for the cart's values.

use super::Ctx;
use super::leads;
use super::sections::Bytes;
use crate::formats::FormatError;
use crate::record::{Annotation, AnnotationKind};

/// The standard's "not computed" value.
const UNDEFINED: u16 = 29999;

/// Adds a global measurement when the cart computed it.
fn add(out: &mut Vec<Annotation>, label: &str, value: Option<f64>, unit: &str) {
    if let Some(v) = value {
        out.push(Annotation::measurement(label, v, unit, None));
    }
}

fn defined(v: u16) -> Option<f64> {
    (v != UNDEFINED && v != u16::MAX && v != 0).then_some(f64::from(v))
}

fn axis(v: i16) -> Option<f64> {
    (v.unsigned_abs() != 999 && v.unsigned_abs() != UNDEFINED).then_some(f64::from(v))
}

/// Section 7: mean RR and PP, the wave boundaries and axes of reference beat type 0, the
/// pacemaker spikes, and (when present) the ventricular and atrial rates and the QTc.
/// `rate_hz` places the spikes, given in ms, on the record's samples.
pub(super) fn global_measurements(
    ctx: &Ctx<'_>,
    body: &[u8],
    rate_hz: f64,
    notes: &mut Vec<String>,
) -> Result<Vec<Annotation>, FormatError> {
    let s = Bytes::new(body, "Section 7");
    let blocks = usize::from(s.u8(ctx, 0, "number of measurement blocks")?);
    let spikes = usize::from(s.u8(ctx, 1, "number of pacemaker spikes")?);
    let mut out = Vec::new();
    add(
        &mut out,
        "RR interval",
        defined(s.u16(ctx, 2, "mean RR")?),
        "ms",
    );
    add(
        &mut out,
        "PP interval",
        defined(s.u16(ctx, 4, "mean PP")?),
        "ms",
    );
    let mut at = 6;
    if blocks > 0 {
        // The first block is reference beat type 0, the beat the cart measured.
        let b = s.slice(ctx, at, 16, "measurement block 1")?;
        let b = Bytes::new(b, "Section 7 measurement block 1");
        let point = |i: usize| -> Result<Option<f64>, FormatError> {
            Ok(defined(b.u16(ctx, 2 * i, "wave boundary")?))
        };
        let (p_on, p_off, qrs_on, qrs_off, t_off) =
            (point(0)?, point(1)?, point(2)?, point(3)?, point(4)?);
        add(&mut out, "P onset (reference beat)", p_on, "ms");
        add(&mut out, "P offset (reference beat)", p_off, "ms");
        add(&mut out, "QRS onset (reference beat)", qrs_on, "ms");
        add(&mut out, "QRS offset (reference beat)", qrs_off, "ms");
        add(&mut out, "T offset (reference beat)", t_off, "ms");
        // The intervals are the distances between the cart's own boundaries of that beat.
        let between =
            |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| b - a).filter(|d| *d > 0.0);
        let intervals = [
            ("PR interval", between(p_on, qrs_on)),
            ("QRS duration", between(qrs_on, qrs_off)),
            ("QT interval", between(qrs_on, t_off)),
        ];
        if intervals.iter().any(|(_, v)| v.is_some()) {
            notes.push(
                "the cart's PR, QRS and QT are the distances between its wave boundaries of \
                 reference beat 0 (Section 7)"
                    .to_string(),
            );
        }
        for (label, v) in intervals {
            add(&mut out, label, v, "ms");
        }
        add(&mut out, "P axis", axis(b.i16(ctx, 10, "P axis")?), "deg");
        add(
            &mut out,
            "QRS axis",
            axis(b.i16(ctx, 12, "QRS axis")?),
            "deg",
        );
        add(&mut out, "T axis", axis(b.i16(ctx, 14, "T axis")?), "deg");
    }
    at += 16 * blocks;
    s.slice(ctx, at, 10 * spikes, &format!("{spikes} pacemaker spikes"))?;
    for i in 0..spikes {
        let time_ms = s.u16(ctx, at + 4 * i, "spike time")?;
        let amplitude = s.i16(ctx, at + 4 * i + 2, "spike amplitude")?;
        out.push(Annotation {
            kind: AnnotationKind::Fiducial,
            label: "pacemaker spike".to_string(),
            value: Some(f64::from(amplitude)),
            unit: Some("µV".to_string()),
            sample_index: Some((f64::from(time_ms) * rate_hz / 1000.0).round() as usize),
            lead: None,
        });
    }
    at += 10 * spikes;
    // The optional part: the QRS types, then the rates and QTc. Read when complete.
    if let Ok(count) = s.u16(ctx, at, "number of QRS complexes") {
        let count = usize::from(count);
        at += 2 + count;
        if count > 0 && at <= s.len() {
            add(&mut out, "QRS count", Some(count as f64), "beats");
        }
        if at + 7 <= s.len() {
            add(
                &mut out,
                "Ventricular rate",
                defined(s.u16(ctx, at, "ventricular rate")?),
                "bpm",
            );
            add(
                &mut out,
                "Atrial rate",
                defined(s.u16(ctx, at + 2, "atrial rate")?),
                "bpm",
            );
            let formula = match s.u8(ctx, at + 6, "QTc formula")? {
                1 => "QTc (Bazett)",
                2 => "QTc (Hodges)",
                _ => "QTc",
            };
            add(&mut out, formula, defined(s.u16(ctx, at + 4, "QTc")?), "ms");
        }
    }
    Ok(out)
}

/// Section 8 (textual statements) or 11 (universal statement codes): who confirmed them, then
/// each statement (sequence number, length, text; in Section 11 a type byte first, 1 meaning a
/// code). NUL-separated parts are joined with spaces.
pub(super) fn statements(
    ctx: &Ctx<'_>,
    body: &[u8],
    id: u16,
    notes: &mut Vec<String>,
) -> Result<Vec<Annotation>, FormatError> {
    let what = format!("Section {id}");
    let s = Bytes::new(body, &what);
    let confirmed = s.u8(ctx, 0, "report type")?;
    let count = usize::from(s.u8(ctx, 8, "number of statements")?);
    match confirmed {
        1 => notes.push(format!(
            "the statements of {what} were confirmed by a physician"
        )),
        2 => notes.push(format!("the statements of {what} were overread")),
        _ => {}
    }
    let mut at = 9;
    let mut out = Vec::new();
    for i in 1..=count {
        let field = format!("statement {i}");
        let length = usize::from(s.u16(ctx, at + 1, &field)?);
        let mut value = s.slice(ctx, at + 3, length, &field)?;
        at += 3 + length;
        let mut coded = false;
        if id == 11 {
            coded = value.first() == Some(&1);
            value = value.get(1..).unwrap_or_default();
        }
        let parts: Vec<String> = value
            .split(|&b| b == 0)
            .map(|p| String::from_utf8_lossy(p).trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        if parts.is_empty() {
            continue;
        }
        let text = parts.join(" ");
        out.push(Annotation::statement(if coded {
            format!("{text} (universal statement code)")
        } else {
            text
        }));
    }
    Ok(out)
}

/// Section 10's per-lead measurements, in file order (ms, µV, µV/s); later fields (morphology
/// codes, quality) are not values and are not kept.
const LEAD_MEASUREMENTS: [(&str, &str); 20] = [
    ("P duration", "ms"),
    ("PR interval", "ms"),
    ("QRS duration", "ms"),
    ("QT interval", "ms"),
    ("Q duration", "ms"),
    ("R duration", "ms"),
    ("S duration", "ms"),
    ("R' duration", "ms"),
    ("S' duration", "ms"),
    ("Q amplitude", "µV"),
    ("R amplitude", "µV"),
    ("S amplitude", "µV"),
    ("R' amplitude", "µV"),
    ("S' amplitude", "µV"),
    ("J point amplitude", "µV"),
    ("P+ amplitude", "µV"),
    ("P- amplitude", "µV"),
    ("T+ amplitude", "µV"),
    ("T- amplitude", "µV"),
    ("ST slope", "µV/s"),
];

/// Section 10: number of leads, a manufacturer field, then per lead its code, the byte length
/// of its values (some writers count the 4-byte block header in it) and 16-bit values.
pub(super) fn lead_measurements(
    ctx: &Ctx<'_>,
    body: &[u8],
) -> Result<Vec<Annotation>, FormatError> {
    let s = Bytes::new(body, "Section 10");
    let count = usize::from(s.u16(ctx, 0, "number of leads")?);
    let blocks = lead_blocks(body, count, false)
        .or_else(|| lead_blocks(body, count, true))
        .ok_or_else(|| {
            ctx.err(
                crate::formats::FormatErrorKind::Truncated,
                "Section 10 lead measurements",
                format!("{count} leads' blocks run past the section"),
            )
        })?;
    let mut out = Vec::new();
    for (code, values) in blocks {
        let lead = leads::name(code);
        for (pair, (label, unit)) in values.chunks_exact(2).zip(LEAD_MEASUREMENTS) {
            let v = i16::from_le_bytes([pair[0], pair[1]]);
            if v.unsigned_abs() != UNDEFINED && v != i16::MIN {
                out.push(Annotation::measurement(
                    label,
                    f64::from(v),
                    unit,
                    Some(lead.as_str()),
                ));
            }
        }
    }
    Ok(out)
}

fn lead_blocks(body: &[u8], count: usize, with_header: bool) -> Option<Vec<(u16, &[u8])>> {
    let mut at = 4;
    let mut out = Vec::with_capacity(count.min(256));
    for _ in 0..count {
        let head = body.get(at..at + 4)?;
        let code = u16::from_le_bytes([head[0], head[1]]);
        let size = usize::from(u16::from_le_bytes([head[2], head[3]]));
        let size = if with_header {
            size.checked_sub(4)?
        } else {
            size
        };
        out.push((code, body.get(at + 4..at + 4 + size)?));
        at += 4 + size;
    }
    Some(out)
}
