//! SCP-ECG (EN 1064 / ISO 11073-91064): the binary format of many resting-ECG carts.
//!
//! A record is a 6-byte header (CRC-CCITT of the rest, record size) and sections, each with a
//! 16-byte header and its own CRC; Section 0 points to the others. Read top to bottom:
//! - the container and every CRC ([`sections`]); a mismatch refuses the file;
//! - Section 1, the header's tags ([`header`]): patient (kept apart in [`PatientInfo`]),
//!   acquisition date and time, device;
//! - Section 2, the Huffman tables ([`huffman`]): the standard's default table or the file's;
//! - Section 3, the leads and their sample ranges; Section 4, the QRS complexes and the
//!   zones where the reference beat was subtracted ([`signal`]);
//! - Section 5, the reference beats, and Section 6, the rhythm data: 16-bit values or Huffman
//!   streams, first or second differences; when Section 3 says the reference beat was
//!   subtracted, Section 6 holds the residual and the beat is added back in each zone.
//!   Physical value = count × the section's amplitude value multiplier (nV per count);
//! - Sections 7, 8, 10, 11, the cart's measurements and statements ([`cart`]), kept as
//!   annotations.
//!
//! Not read: bimodal compression (rhythm data decimated between the QRS complexes), the long-term
//! rhythm data of SCP-ECG 3 (Section 12), the manufacturers' sections: each is named in an
//! error or a processing note, never skipped silently.

mod cart;
mod header;
mod huffman;
pub(crate) mod leads;
mod sections;
mod signal;

use super::{Format, FormatError, FormatErrorKind, MAX_TOTAL_SAMPLES, SignalInput, sha256_hex};
use crate::record::{
    Calibration, EcgRecord, LeadId, LeadSignal, PatientInfo, Provenance, RepresentativeBeats,
};
use sections::Bytes;
use signal::{Counts, Encoded, LeadDef};

pub(super) struct Ctx<'a> {
    pub file: &'a str,
}

impl Ctx<'_> {
    pub fn err(
        &self,
        kind: FormatErrorKind,
        field: &str,
        problem: impl Into<String>,
    ) -> FormatError {
        FormatError::new(self.file, kind, field, problem)
    }
}

/// Does a file start like an SCP-ECG record? Section 0 right after the 6-byte record header,
/// a whole number of 10-byte pointers, and its first pointer to itself at byte 7.
pub fn looks_like_scp(bytes: &[u8]) -> bool {
    let u16_at = |i: usize| {
        bytes
            .get(i..i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |i: usize| {
        bytes
            .get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (Some(size), Some(id), Some(len), Some(first), Some(index)) =
        (u32_at(2), u16_at(8), u32_at(10), u16_at(22), u32_at(28))
    else {
        return false;
    };
    id == 0 && len >= 26 && (len - 16) % 10 == 0 && size >= 6 + len && first == 0 && index == 7
}

fn missing(ctx: &Ctx<'_>, id: u16, why: &str) -> FormatError {
    ctx.err(
        FormatErrorKind::Invalid,
        &format!("Section {id}"),
        format!("missing: {why}"),
    )
}

/// The reference beats of Section 5, decoded, when the file has them.
fn reference_beats(
    ctx: &Ctx<'_>,
    sections: &sections::Sections<'_>,
    leads: &signal::Leads,
    qrs: Option<&signal::QrsLocations>,
    tables: Option<&[huffman::Table]>,
    notes: &mut Vec<String>,
) -> Result<Option<Encoded>, FormatError> {
    let Some(section) = sections.get(5) else {
        return Ok(None);
    };
    let s = Bytes::new(section.body, "Section 5");
    let interval = s.u16(ctx, 2, "sample interval")?;
    let length_ms = qrs.map_or(0, |q| q.reference_ms);
    let count = (interval > 0 && length_ms > 0)
        .then(|| (f64::from(length_ms) * 1000.0 / f64::from(interval)).round() as usize);
    if count.unwrap_or(0).saturating_mul(leads.defs.len()) > MAX_TOTAL_SAMPLES {
        return Err(ctx.err(
            FormatErrorKind::TooLarge,
            "Section 4 reference beat length",
            format!("{length_ms} ms makes more than {MAX_TOTAL_SAMPLES} reference-beat samples"),
        ));
    }
    let counts = vec![count.unwrap_or(0); leads.defs.len()];
    let counts = match (count, tables) {
        (Some(_), _) => Counts::Known(&counts),
        (None, None) => Counts::FromBytes,
        (None, Some(_)) if leads.subtraction => {
            return Err(ctx.err(
                FormatErrorKind::Invalid,
                "Section 4 reference beat length",
                "not given: the Huffman-coded reference beats, needed to rebuild the rhythm \
                 data, cannot be decoded",
            ));
        }
        (None, Some(_)) => {
            notes.push(
                "the reference beats (Section 5) were not read: Huffman-coded without a \
                 length in Section 4"
                    .to_string(),
            );
            return Ok(None);
        }
    };
    signal::read_encoded(
        ctx,
        section.body,
        "Section 5",
        counts,
        leads.defs.len(),
        tables,
    )
    .map(Some)
}

/// Describes how the rhythm data were stored, for the record's notes.
fn encoding_note(
    body: &[u8],
    tables: Option<&[huffman::Table]>,
    default: bool,
    subtraction: bool,
) -> String {
    let diff = match body.get(4) {
        Some(1) => "first differences",
        Some(2) => "second differences",
        _ => "amplitudes",
    };
    let coding = match (tables, default) {
        (None, _) => "16-bit".to_string(),
        (Some(_), true) => "Huffman-coded (the standard's default table)".to_string(),
        (Some(t), false) => format!("Huffman-coded ({} table(s) of the file)", t.len()),
    };
    let residual = if subtraction {
        ", the residual after reference-beat subtraction (the reference beat added back)"
    } else {
        ""
    };
    format!("SCP-ECG rhythm data: {coding} {diff}{residual}")
}

fn lead_signal(def: &LeadDef, samples_uv: Vec<f64>, avm_nv: u16) -> LeadSignal {
    let label = leads::name(u16::from(def.code));
    let lead = leads::standard_lead(u32::from(def.code))
        .map_or_else(|| LeadId::Other(label.clone()), LeadId::Standard);
    let mut signal = LeadSignal::new(lead, label, samples_uv);
    signal.calibration = Some(Calibration {
        gain: 1.0 / f64::from(avm_nv),
        baseline: 0.0,
        units: "nV".to_string(),
    });
    signal
}

/// Places each lead's samples on the record's common timeline: leads recorded over different
/// sample ranges (Section 3) are padded with NaN (not recorded) outside their own range.
fn on_timeline(defs: &[LeadDef], leads: Vec<Vec<f64>>, notes: &mut Vec<String>) -> Vec<Vec<f64>> {
    let first = defs.iter().map(|d| d.start).min().unwrap_or(1);
    let last = defs.iter().map(|d| d.end).max().unwrap_or(first);
    if defs.iter().all(|d| d.start == first && d.end == last) {
        return leads;
    }
    notes.push(format!(
        "the leads cover different sample ranges (Section 3); samples {first}–{last} kept, \
         NaN where a lead was not recorded"
    ));
    defs.iter()
        .zip(leads)
        .map(|(d, samples)| {
            let mut out = vec![f64::NAN; last - first + 1];
            out[d.start - first..d.start - first + samples.len()].copy_from_slice(&samples);
            out
        })
        .collect()
}

/// Reads an SCP-ECG record.
pub fn read(bytes: &[u8], file_name: &str) -> Result<SignalInput, FormatError> {
    let ctx = Ctx { file: file_name };
    let sections = sections::read(&ctx, bytes)?;
    let mut notes = Vec::new();
    let header = match sections.get(1) {
        Some(s) => header::read(&ctx, s.body)?,
        None => header::Header::default(),
    };
    notes.extend(header.notes);
    let tables = sections
        .get(2)
        .map(|s| huffman::read_tables(&ctx, s.body))
        .transpose()?;
    let default_table = sections
        .get(2)
        .is_some_and(|s| s.body.get(..2) == Some(&19999u16.to_le_bytes()[..]));
    let Some(rhythm) = sections.get(6) else {
        if sections.get(12).is_some() {
            return Err(ctx.err(
                FormatErrorKind::Unsupported,
                "Section 12",
                "long-term rhythm data (SCP-ECG 3) are not read",
            ));
        }
        return Err(missing(&ctx, 6, "the record holds no rhythm data"));
    };
    let leads = signal::read_leads(
        &ctx,
        sections
            .get(3)
            .ok_or_else(|| missing(&ctx, 3, "the leads are not defined"))?
            .body,
    )?;
    if leads.defs.len() > super::MAX_CHANNELS {
        return Err(ctx.err(
            FormatErrorKind::TooLarge,
            "Section 3 number of leads",
            format!(
                "{} leads exceeds the limit of {}",
                leads.defs.len(),
                super::MAX_CHANNELS
            ),
        ));
    }
    let span = leads.defs.iter().map(|d| d.end).max().unwrap_or(0);
    if span.saturating_mul(leads.defs.len()) > MAX_TOTAL_SAMPLES {
        return Err(ctx.err(
            FormatErrorKind::TooLarge,
            "Section 3",
            format!("more than {MAX_TOTAL_SAMPLES} samples in the record"),
        ));
    }
    let qrs = sections
        .get(4)
        .map(|s| signal::read_qrs(&ctx, s.body))
        .transpose()?;
    let tables = tables.as_deref();
    let reference = reference_beats(&ctx, &sections, &leads, qrs.as_ref(), tables, &mut notes)?;
    // Bimodal compression (a flag up to SCP-ECG 2.x) decimates the residual between the QRS
    // complexes by the ratio of the two sample intervals; at equal intervals nothing was
    // decimated and the data read as usual.
    let r = Bytes::new(rhythm.body, "Section 6");
    let interval = r.u16(&ctx, 2, "sample interval")?;
    let bimodal = sections.protocol < 30 && r.u8(&ctx, 5, "flags")? != 0;
    if bimodal && reference.as_ref().is_none_or(|b| b.interval_us != interval) {
        return Err(ctx.err(
            FormatErrorKind::Unsupported,
            "Section 6 bimodal compression",
            "rhythm data decimated between the QRS complexes are not read",
        ));
    }
    let counts: Vec<usize> = leads.defs.iter().map(LeadDef::count).collect();
    let encoded = signal::read_encoded(
        &ctx,
        rhythm.body,
        "Section 6",
        Counts::Known(&counts),
        leads.defs.len(),
        tables,
    )?;
    notes.push(encoding_note(
        rhythm.body,
        tables,
        default_table,
        leads.subtraction,
    ));
    let rate_hz = encoded.rate_hz();
    let samples_uv: Vec<Vec<f64>> = if leads.subtraction {
        let beats = reference
            .as_ref()
            .ok_or_else(|| missing(&ctx, 5, "Section 3 says the reference beat was subtracted from the rhythm data, and only the residual is stored"))?;
        let qrs = qrs.as_ref().ok_or_else(|| {
            missing(
                &ctx,
                4,
                "Section 3 says the reference beat was subtracted, but where is not given",
            )
        })?;
        // Each zone adds at most one reference beat: bound the work a crafted file can ask for.
        let beat_len = beats.values.first().map_or(0, Vec::len);
        if beat_len
            .saturating_mul(qrs.qrs.len())
            .saturating_mul(leads.defs.len())
            > MAX_TOTAL_SAMPLES
        {
            return Err(ctx.err(
                FormatErrorKind::TooLarge,
                "Section 4 QRS locations",
                format!(
                    "{} zones of a {beat_len}-sample reference beat on {} leads",
                    qrs.qrs.len(),
                    leads.defs.len()
                ),
            ));
        }
        if beats.interval_us != encoded.interval_us {
            return Err(ctx.err(
                FormatErrorKind::Unsupported,
                "Section 5 sample interval",
                format!(
                    "{} µs, but the rhythm data's is {} µs: the reference beat cannot be added back",
                    beats.interval_us, encoded.interval_us
                ),
            ));
        }
        signal::add_reference_beats(
            &leads.defs,
            &encoded.values,
            encoded.avm_nv,
            &beats.values,
            beats.avm_nv,
            qrs,
        )
        .into_iter()
        .map(|nv| nv.into_iter().map(|v| v as f64 / 1000.0).collect())
        .collect()
    } else {
        let uv_per_count = f64::from(encoded.avm_nv) / 1000.0;
        encoded
            .values
            .iter()
            .map(|v| v.iter().map(|&c| c as f64 * uv_per_count).collect())
            .collect()
    };
    let samples_uv = on_timeline(&leads.defs, samples_uv, &mut notes);
    let record_leads = leads
        .defs
        .iter()
        .zip(samples_uv)
        .map(|(d, s)| lead_signal(d, s, encoded.avm_nv))
        .collect();
    let representative_beats = reference.map(|b| {
        let uv_per_count = f64::from(b.avm_nv) / 1000.0;
        RepresentativeBeats {
            sample_rate_hz: b.rate_hz(),
            leads: leads
                .defs
                .iter()
                .zip(&b.values)
                .map(|(d, v)| {
                    lead_signal(
                        d,
                        v.iter().map(|&c| c as f64 * uv_per_count).collect(),
                        b.avm_nv,
                    )
                })
                .collect(),
        }
    });
    let mut annotations = Vec::new();
    if let Some(s) = sections.get(7) {
        annotations.extend(cart::global_measurements(
            &ctx, s.body, rate_hz, &mut notes,
        )?);
    }
    for id in [8, 11] {
        if let Some(s) = sections.get(id) {
            annotations.extend(cart::statements(&ctx, s.body, id, &mut notes)?);
        }
    }
    if let Some(s) = sections.get(10) {
        annotations.extend(cart::lead_measurements(&ctx, s.body)?);
    }
    if let Some(s) = sections.get(9) {
        notes.push(format!(
            "Section 9 (the manufacturer's diagnostic data, {} bytes) not read",
            s.body.len()
        ));
    }
    for (id, len) in sections.vendor() {
        notes.push(format!("manufacturer Section {id} ({len} bytes) not read"));
    }
    let mut record = EcgRecord {
        sample_rate_hz: rate_hz,
        leads: record_leads,
        acquisition_time: header.acquisition_time,
        device: header.device,
        provenance: Provenance {
            format: Format::Scp,
            file_name: file_name.to_string(),
            sha256: sha256_hex(bytes),
            byte_len: bytes.len() as u64,
        },
        annotations,
        representative_beats,
        processing_notes: notes,
    };
    record
        .validate()
        .map_err(|e| ctx.err(FormatErrorKind::Inconsistent, "Section 3", e.to_string()))?;
    record.derive_limb_leads();
    let patient: PatientInfo = header.patient;
    Ok(SignalInput { record, patient })
}

#[cfg(test)]
mod tests;
