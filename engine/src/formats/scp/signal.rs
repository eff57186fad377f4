//! The signal sections: 3 (lead definitions), 4 (QRS locations and subtraction zones),
//! 5 (reference beats) and 6 (rhythm data, or the residual after reference-beat subtraction).
//!
//! Sections 5 and 6 share one layout: amplitude value multiplier (nV per count), sample interval
//! (µs), difference encoding (0 none, 1 first, 2 second differences), a flag (Section 6:
//! bimodal compression), the byte count of each lead, then each lead's data: 16-bit
//! little-endian values, or a Huffman bit stream when Section 2 is present.

use super::Ctx;
use super::huffman::{self, Table};
use super::sections::Bytes;
use crate::formats::{FormatError, FormatErrorKind, MAX_TOTAL_SAMPLES};

/// One lead of Section 3: its sample range (1-based, inclusive) and its lead code.
#[derive(Clone, Copy, Debug)]
pub(super) struct LeadDef {
    pub start: usize,
    pub end: usize,
    pub code: u8,
}

impl LeadDef {
    pub fn count(&self) -> usize {
        self.end - self.start + 1
    }
}

pub(super) struct Leads {
    pub defs: Vec<LeadDef>,
    /// Section 3 flags bit 0: the rhythm data are residuals after reference-beat subtraction.
    pub subtraction: bool,
}

pub(super) fn read_leads(ctx: &Ctx<'_>, body: &[u8]) -> Result<Leads, FormatError> {
    let s = Bytes::new(body, "Section 3");
    let count = usize::from(s.u8(ctx, 0, "number of leads")?);
    let flags = s.u8(ctx, 1, "flags")?;
    if count == 0 {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            "Section 3 number of leads",
            "0: the record defines no lead",
        ));
    }
    s.slice(
        ctx,
        2,
        9 * count,
        &format!("lead definitions ({count} leads)"),
    )?;
    let mut defs = Vec::with_capacity(count);
    let mut total = 0usize;
    for i in 0..count {
        let at = 2 + 9 * i;
        let field = format!("lead {}", i + 1);
        let start = s.u32(ctx, at, &field)? as usize;
        let end = s.u32(ctx, at + 4, &field)? as usize;
        let code = s.u8(ctx, at + 8, &field)?;
        if start == 0 || end < start {
            return Err(ctx.err(
                FormatErrorKind::Invalid,
                &format!("Section 3 {field}"),
                format!("sample range {start}–{end} (samples are numbered from 1)"),
            ));
        }
        total = total.saturating_add(end - start + 1);
        if total > MAX_TOTAL_SAMPLES || end > MAX_TOTAL_SAMPLES {
            return Err(ctx.err(
                FormatErrorKind::TooLarge,
                &format!("Section 3 {field}"),
                format!("more than {MAX_TOTAL_SAMPLES} samples in the record"),
            ));
        }
        defs.push(LeadDef { start, end, code });
    }
    Ok(Leads {
        defs,
        subtraction: flags & 0x01 != 0,
    })
}

/// A QRS complex of Section 4: its type (reference beat number) and the subtraction zone
/// around its fiducial point (sample numbers of the rhythm data, 1-based).
#[derive(Clone, Copy, Debug)]
pub(super) struct Qrs {
    pub beat_type: u16,
    pub start: usize,
    pub fiducial: usize,
    pub end: usize,
}

pub(super) struct QrsLocations {
    /// Length of reference beat type 0, in ms.
    pub reference_ms: u16,
    /// The sample of the reference beat (1-based) that lies on each QRS fiducial point.
    pub reference_fiducial: usize,
    pub qrs: Vec<Qrs>,
}

pub(super) fn read_qrs(ctx: &Ctx<'_>, body: &[u8]) -> Result<QrsLocations, FormatError> {
    let s = Bytes::new(body, "Section 4");
    let reference_ms = s.u16(ctx, 0, "reference beat length")?;
    let reference_fiducial = usize::from(s.u16(ctx, 2, "fiducial point")?);
    let count = usize::from(s.u16(ctx, 4, "number of QRS complexes")?);
    s.slice(
        ctx,
        6,
        14 * count,
        &format!("QRS locations ({count} complexes)"),
    )?;
    let mut qrs = Vec::with_capacity(count);
    for i in 0..count {
        let at = 6 + 14 * i;
        let field = format!("QRS {}", i + 1);
        qrs.push(Qrs {
            beat_type: s.u16(ctx, at, &field)?,
            start: s.u32(ctx, at + 2, &field)? as usize,
            fiducial: s.u32(ctx, at + 6, &field)? as usize,
            end: s.u32(ctx, at + 10, &field)? as usize,
        });
    }
    Ok(QrsLocations {
        reference_ms,
        reference_fiducial,
        qrs,
    })
}

/// Section 5 or 6, decoded to integer values per lead (differences undone).
pub(super) struct Encoded {
    pub avm_nv: u16,
    pub interval_us: u16,
    pub values: Vec<Vec<i64>>,
}

impl Encoded {
    pub fn rate_hz(&self) -> f64 {
        1_000_000.0 / f64::from(self.interval_us)
    }
}

/// How many values each lead holds: known (Section 3 or 4), or "all its bytes" (16-bit
/// values without Huffman coding).
#[derive(Clone, Copy)]
pub(super) enum Counts<'a> {
    Known(&'a [usize]),
    FromBytes,
}

pub(super) fn read_encoded(
    ctx: &Ctx<'_>,
    body: &[u8],
    what: &str,
    counts: Counts<'_>,
    leads: usize,
    tables: Option<&[Table]>,
) -> Result<Encoded, FormatError> {
    let s = Bytes::new(body, what);
    let avm_nv = s.u16(ctx, 0, "amplitude value multiplier")?;
    let interval_us = s.u16(ctx, 2, "sample interval")?;
    let diff = s.u8(ctx, 4, "difference encoding")?;
    if avm_nv == 0 {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            &format!("{what} amplitude value multiplier"),
            "0 nV per count: the samples cannot be scaled",
        ));
    }
    if interval_us == 0 {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            &format!("{what} sample interval"),
            "0 µs: the sample rate is unknown",
        ));
    }
    if diff > 2 {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            &format!("{what} difference encoding"),
            format!("{diff} (0 is none, 1 first and 2 second differences)"),
        ));
    }
    let mut at = 6;
    let mut sizes = Vec::with_capacity(leads);
    for i in 0..leads {
        sizes.push(usize::from(s.u16(
            ctx,
            at,
            &format!("lead {} byte count", i + 1),
        )?));
        at += 2;
    }
    let mut values = Vec::with_capacity(leads);
    for (i, &size) in sizes.iter().enumerate() {
        let field = format!("{what} lead {}", i + 1);
        let data = s.slice(ctx, at, size, &format!("lead {} data", i + 1))?;
        at += size;
        let lead_values = match (tables, &counts) {
            (Some(tables), Counts::Known(counts)) => {
                huffman::decode(ctx, data, counts[i], tables, &field)?
            }
            (Some(_), Counts::FromBytes) => {
                return Err(ctx.err(
                    FormatErrorKind::Invalid,
                    &field,
                    "Huffman-coded, but no section gives its number of samples",
                ));
            }
            (None, counts) => {
                let count = match counts {
                    Counts::Known(c) => c[i],
                    Counts::FromBytes => size / 2,
                };
                if size < 2 * count {
                    return Err(ctx.err(
                        FormatErrorKind::Truncated,
                        &field,
                        format!("{size} bytes hold {} of its {count} samples", size / 2),
                    ));
                }
                data.chunks_exact(2)
                    .take(count)
                    .map(|b| i64::from(i16::from_le_bytes([b[0], b[1]])))
                    .collect()
            }
        };
        values.push(undo_differences(lead_values, diff));
    }
    Ok(Encoded {
        avm_nv,
        interval_us,
        values,
    })
}

/// Rebuilds amplitudes from first or second differences. Samples are 16-bit: the sums wrap
/// as they do in the 16-bit arithmetic of the carts that encode them (and as the reference
/// decoders wrap), so such files decode exactly.
fn undo_differences(values: Vec<i64>, mode: u8) -> Vec<i64> {
    let wrap = |v: i64| v as i16; // truncation to 16 bits is the wrap-around
    match mode {
        1 => {
            let mut x: i16 = 0;
            values
                .into_iter()
                .map(|d| {
                    x = x.wrapping_add(wrap(d));
                    i64::from(x)
                })
                .collect()
        }
        2 => {
            let mut out: Vec<i64> = Vec::with_capacity(values.len());
            let (mut x1, mut x2): (i16, i16) = (0, 0); // x[n-1], x[n-2]
            for (n, d) in values.into_iter().enumerate() {
                let x = if n < 2 {
                    wrap(d)
                } else {
                    wrap(d).wrapping_add(x1.wrapping_mul(2)).wrapping_sub(x2)
                };
                (x2, x1) = (x1, x);
                out.push(i64::from(x));
            }
            out
        }
        _ => values,
    }
}

/// Adds reference beat type 0 back into the residual of every lead, inside each type-0 QRS's
/// subtraction zone, aligning the beat's fiducial sample with the QRS fiducial. Works in
/// nanovolts so that different multipliers of Sections 5 and 6 add exactly.
pub(super) fn add_reference_beats(
    leads: &[LeadDef],
    residuals: &[Vec<i64>],
    residual_avm: u16,
    beats: &[Vec<i64>],
    beat_avm: u16,
    qrs: &QrsLocations,
) -> Vec<Vec<i64>> {
    let fid = qrs.reference_fiducial;
    leads
        .iter()
        .zip(residuals)
        .zip(beats)
        .map(|((lead, residual), beat)| {
            let mut nv: Vec<i64> = residual
                .iter()
                .map(|&v| v * i64::from(residual_avm))
                .collect();
            for q in qrs.qrs.iter().filter(|q| q.beat_type == 0) {
                // Rhythm sample s (1-based) lies on beat sample s - q.fiducial + fid.
                let first = q
                    .start
                    .max(lead.start)
                    .max((q.fiducial + 1).saturating_sub(fid));
                let last = q
                    .end
                    .min(lead.end)
                    .min((q.fiducial + beat.len()).saturating_sub(fid));
                for s in first..=last {
                    let (Some(r), Some(m)) = (
                        s.checked_sub(lead.start),
                        (s + fid).checked_sub(q.fiducial + 1),
                    ) else {
                        continue;
                    };
                    if let (Some(v), Some(b)) = (nv.get_mut(r), beat.get(m)) {
                        *v += b * i64::from(beat_avm);
                    }
                }
            }
            nv
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_are_undone_with_16_bit_wrap() {
        assert_eq!(undo_differences(vec![5, 1, -2, 0], 1), vec![5, 6, 4, 4]);
        // x0 = 1, x1 = 3, x2 = 0 + 2·3 − 1 = 5, x3 = 1 + 2·5 − 3 = 8
        assert_eq!(undo_differences(vec![1, 3, 0, 1], 2), vec![1, 3, 5, 8]);
        assert_eq!(undo_differences(vec![32767, 1], 1), vec![32767, -32768]);
        assert_eq!(undo_differences(vec![7, -9], 0), vec![7, -9]);
    }

    #[test]
    fn the_reference_beat_is_added_inside_the_zone_only() {
        let lead = LeadDef {
            start: 1,
            end: 8,
            code: 1,
        };
        let qrs = QrsLocations {
            reference_ms: 8,
            reference_fiducial: 2,
            qrs: vec![Qrs {
                beat_type: 0,
                start: 4,
                fiducial: 5,
                end: 6,
            }],
        };
        // Beat sample 2 lies on rhythm sample 5: rhythm 4, 5, 6 get beat samples 1, 2, 3.
        let out = add_reference_beats(
            &[lead],
            &[vec![1; 8]],
            1000,
            &[vec![10, 20, 30, 40]],
            2000,
            &qrs,
        );
        assert_eq!(
            out[0],
            vec![1000, 1000, 1000, 21_000, 41_000, 61_000, 1000, 1000]
        );
    }
}
