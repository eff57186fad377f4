//! Reader for DICOM waveform files: 12-lead ECG Waveform Storage (1.2.840.10008.5.1.4.1.1.9.1.1)
//! and General ECG Waveform Storage (…9.1.2), in Explicit or Implicit VR Little Endian.
//!
//! The rhythm multiplex group becomes the record's leads, a median-beat group becomes its
//! representative beats, and the Waveform Annotation Sequence (measurements, fiducial points,
//! statements) becomes its annotations.
//!
//! Physical values follow PS3.3 C.10.9.1.4: Channel Baseline (003A,0213) is the "offset of
//! encoded sample value 0 from actual 0" in the sensitivity units, so
//! `value = raw × Channel Sensitivity × Correction Factor + Channel Baseline`
//! (pydicom's `waveform_array` computes the same).

mod dataset;

use self::dataset::{Code, Ctx, DataSet, Tag, tag_name};
use super::{
    FormatError, FormatErrorKind, MAX_CHANNELS, MAX_TOTAL_SAMPLES, SignalInput, sha256_hex,
};
use crate::record::{
    Annotation, AnnotationKind, Calibration, EcgRecord, Format, LeadId, LeadSignal, PatientInfo,
    PersonName, Provenance, RepresentativeBeats, StandardLead,
};

const SOP_CLASS_UID: Tag = Tag(0x0008, 0x0016);
const WAVEFORM_SEQUENCE: Tag = Tag(0x5400, 0x0100);
const CHANNEL_COUNT: Tag = Tag(0x003A, 0x0005);
const SAMPLE_COUNT: Tag = Tag(0x003A, 0x0010);
const SAMPLING_FREQUENCY: Tag = Tag(0x003A, 0x001A);
const GROUP_LABEL: Tag = Tag(0x003A, 0x0020);
const CHANNEL_DEFINITIONS: Tag = Tag(0x003A, 0x0200);
const CHANNEL_LABEL: Tag = Tag(0x003A, 0x0203);
const CHANNEL_SOURCE: Tag = Tag(0x003A, 0x0208);
const CHANNEL_SENSITIVITY: Tag = Tag(0x003A, 0x0210);
const SENSITIVITY_UNITS: Tag = Tag(0x003A, 0x0211);
const CORRECTION_FACTOR: Tag = Tag(0x003A, 0x0212);
const CHANNEL_BASELINE: Tag = Tag(0x003A, 0x0213);
const BITS_ALLOCATED: Tag = Tag(0x5400, 0x1004);
const SAMPLE_INTERPRETATION: Tag = Tag(0x5400, 0x1006);
const PADDING_VALUE: Tag = Tag(0x5400, 0x100A);
const WAVEFORM_DATA: Tag = Tag(0x5400, 0x1010);
const ANNOTATIONS: Tag = Tag(0x0040, 0xB020);
const REFERENCED_CHANNELS: Tag = Tag(0x0040, 0xA0B0);
const REFERENCED_SAMPLES: Tag = Tag(0x0040, 0xA132);
const REFERENCED_TIMES: Tag = Tag(0x0040, 0xA138);
const NUMERIC_VALUE: Tag = Tag(0x0040, 0xA30A);
const CONCEPT_NAME: Tag = Tag(0x0040, 0xA043);
const MEASUREMENT_UNITS: Tag = Tag(0x0040, 0x08EA);
const TEXT_VALUE: Tag = Tag(0x0070, 0x0006);

/// Annotations a file may carry (a 12-lead cart writes fewer than a hundred).
const MAX_ANNOTATIONS: usize = 100_000;

/// SOP classes this reader accepts; other waveform classes (hemodynamic, audio, ...) are not ECGs.
const ECG_SOP_CLASSES: [&str; 2] = [
    "1.2.840.10008.5.1.4.1.1.9.1.1", // 12-lead ECG Waveform Storage
    "1.2.840.10008.5.1.4.1.1.9.1.2", // General ECG Waveform Storage
];

/// Reads a DICOM ECG file held in memory.
pub fn read(bytes: &[u8], file_name: &str) -> Result<SignalInput, FormatError> {
    let ctx = Ctx { file: file_name };
    let file = dataset::parse(bytes, ctx)?;
    let ds = &file.body;
    if let Some(sop) = ds.string(SOP_CLASS_UID)
        && !ECG_SOP_CLASSES.contains(&sop.as_str())
    {
        return Err(ctx.err(
            FormatErrorKind::Unsupported,
            tag_name(SOP_CLASS_UID),
            format!("SOP class {sop} is not 12-lead or General ECG Waveform Storage"),
        ));
    }
    let items = ds.items(WAVEFORM_SEQUENCE);
    if items.is_empty() {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            tag_name(WAVEFORM_SEQUENCE),
            "the file has no waveform multiplex group",
        ));
    }
    let mut groups = Vec::with_capacity(items.len());
    let mut total_samples = 0usize;
    for (index, item) in items.iter().enumerate() {
        let group = MultiplexGroup::read(item, index + 1, total_samples, ctx)?;
        total_samples += group.channels.len() * group.samples;
        groups.push(group);
    }
    let rhythm_index = choose_rhythm_group(&groups);
    let median_index = groups
        .iter()
        .enumerate()
        .find(|(i, g)| *i != rhythm_index && g.is_median())
        .map(|(i, _)| i);

    let mut notes = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        if i != rhythm_index && Some(i) != median_index {
            notes.push(format!(
                "multiplex group {} ('{}', {} channels) not used",
                g.number,
                g.label,
                g.channels.len()
            ));
        }
    }
    let annotations = read_annotations(ds, &groups, rhythm_index, median_index, &mut notes, ctx)?;

    let mut groups: Vec<Option<MultiplexGroup>> = groups.into_iter().map(Some).collect();
    let Some(rhythm) = groups[rhythm_index].take() else {
        // rhythm_index < groups.len() by construction of choose_rhythm_group.
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            tag_name(WAVEFORM_SEQUENCE),
            "no rhythm group",
        ));
    };
    let representative_beats =
        median_index
            .and_then(|i| groups[i].take())
            .map(|g| RepresentativeBeats {
                sample_rate_hz: g.rate_hz,
                leads: g.into_leads(&mut notes),
            });
    let rate = rhythm.rate_hz;
    let rhythm_label = rhythm.label.clone();
    let leads = rhythm.into_leads(&mut notes);
    if leads.is_empty() {
        return Err(ctx.err(
            FormatErrorKind::Unsupported,
            tag_name(SENSITIVITY_UNITS),
            format!("multiplex group '{rhythm_label}' has no channel in voltage units"),
        ));
    }

    let mut record = EcgRecord {
        sample_rate_hz: rate,
        leads,
        acquisition_time: acquisition_time(ds),
        device: device(ds),
        provenance: Provenance {
            format: Format::Dicom,
            file_name: file_name.to_string(),
            sha256: sha256_hex(bytes),
            byte_len: bytes.len() as u64,
        },
        annotations,
        representative_beats,
        processing_notes: notes,
    };
    record.validate().map_err(|e| {
        ctx.err(
            FormatErrorKind::Inconsistent,
            tag_name(CHANNEL_SOURCE),
            e.to_string(),
        )
    })?;
    record.derive_limb_leads();
    Ok(SignalInput {
        record,
        patient: patient(ds),
    })
}

/// One channel's definition.
#[derive(Debug)]
struct Channel {
    label: String,
    lead: LeadId,
    /// Physical units per stored unit, including the correction factor.
    scale: f64,
    /// Physical value of stored 0, in `units`.
    baseline: f64,
    units: String,
    /// Microvolts per physical unit; `None` for a channel not in voltage units.
    uv_per_unit: Option<f64>,
}

/// A multiplex group decoded to physical values (in each channel's own units).
#[derive(Debug)]
struct MultiplexGroup {
    /// 1-based position in the Waveform Sequence (what annotations reference).
    number: usize,
    label: String,
    rate_hz: f64,
    samples: usize,
    channels: Vec<Channel>,
    /// Per channel, values in µV (NaN where the file's padding value marks no data).
    data_uv: Vec<Vec<f64>>,
}

#[derive(Clone, Copy, Debug)]
enum SampleType {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
}

impl SampleType {
    fn bytes(self) -> usize {
        match self {
            Self::I8 | Self::U8 => 1,
            Self::I16 | Self::U16 => 2,
            Self::I32 | Self::U32 => 4,
        }
    }

    fn decode(self, b: &[u8]) -> i64 {
        match self {
            Self::I8 => i64::from(b[0] as i8),
            Self::U8 => i64::from(b[0]),
            Self::I16 => i64::from(i16::from_le_bytes([b[0], b[1]])),
            Self::U16 => i64::from(u16::from_le_bytes([b[0], b[1]])),
            Self::I32 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            Self::U32 => i64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        }
    }
}

impl MultiplexGroup {
    fn is_median(&self) -> bool {
        let l = self.label.to_ascii_uppercase();
        l.contains("MEDIAN") || l.contains("REPRESENTATIVE") || l.contains("AVERAGE")
    }

    fn read(
        item: &DataSet<'_>,
        number: usize,
        samples_so_far: usize,
        ctx: Ctx<'_>,
    ) -> Result<Self, FormatError> {
        let field = |tag: Tag| format!("Waveform Sequence item {number}: {}", tag_name(tag));
        let required = |tag: Tag, v: Option<u64>| {
            v.ok_or_else(|| ctx.err(FormatErrorKind::Invalid, field(tag), "missing"))
        };
        let label = item.string(GROUP_LABEL).unwrap_or_default();
        let channel_count = required(CHANNEL_COUNT, item.uint(CHANNEL_COUNT, 2, ctx)?)?;
        if channel_count == 0 || channel_count > MAX_CHANNELS as u64 {
            return Err(ctx.err(
                FormatErrorKind::TooLarge,
                field(CHANNEL_COUNT),
                format!("{channel_count} channels (1 to {MAX_CHANNELS} accepted)"),
            ));
        }
        let sample_count = required(SAMPLE_COUNT, item.uint(SAMPLE_COUNT, 4, ctx)?)?;
        let total = channel_count.saturating_mul(sample_count);
        if sample_count == 0
            || total.saturating_add(samples_so_far as u64) > MAX_TOTAL_SAMPLES as u64
        {
            return Err(ctx.err(
                if sample_count == 0 {
                    FormatErrorKind::Invalid
                } else {
                    FormatErrorKind::TooLarge
                },
                field(SAMPLE_COUNT),
                format!(
                    "{sample_count} samples × {channel_count} channels (at most {MAX_TOTAL_SAMPLES} samples in all)"
                ),
            ));
        }
        let (channels_n, samples) = (channel_count as usize, sample_count as usize);
        let rate_hz = item.decimal(SAMPLING_FREQUENCY, ctx)?.ok_or_else(|| {
            ctx.err(
                FormatErrorKind::Invalid,
                field(SAMPLING_FREQUENCY),
                "missing",
            )
        })?;
        if !(rate_hz > 0.0 && rate_hz <= 1.0e6) {
            return Err(ctx.err(
                FormatErrorKind::Invalid,
                field(SAMPLING_FREQUENCY),
                format!("{rate_hz} Hz is not a plausible sampling frequency"),
            ));
        }
        let bits = required(BITS_ALLOCATED, item.uint(BITS_ALLOCATED, 2, ctx)?)?;
        let interpretation = item.string(SAMPLE_INTERPRETATION).ok_or_else(|| {
            ctx.err(
                FormatErrorKind::Invalid,
                field(SAMPLE_INTERPRETATION),
                "missing",
            )
        })?;
        let sample_type = match (interpretation.as_str(), bits) {
            ("SB", 8) => SampleType::I8,
            ("UB", 8) => SampleType::U8,
            ("SS", 16) => SampleType::I16,
            ("US", 16) => SampleType::U16,
            ("SL", 32) => SampleType::I32,
            ("UL", 32) => SampleType::U32,
            ("SB" | "UB" | "SS" | "US" | "SL" | "UL", _) => {
                return Err(ctx.err(
                    FormatErrorKind::Inconsistent,
                    field(BITS_ALLOCATED),
                    format!(
                        "{bits} bits allocated does not fit sample interpretation {interpretation}"
                    ),
                ));
            }
            (other, _) => {
                return Err(ctx.err(
                    FormatErrorKind::Unsupported,
                    field(SAMPLE_INTERPRETATION),
                    format!("sample interpretation '{other}' (only SB, UB, SS, US, SL, UL)"),
                ));
            }
        };
        let definitions = item.items(CHANNEL_DEFINITIONS);
        if definitions.len() != channels_n {
            return Err(ctx.err(
                FormatErrorKind::Inconsistent,
                field(CHANNEL_DEFINITIONS),
                format!(
                    "{} channel definitions for {channels_n} channels",
                    definitions.len()
                ),
            ));
        }
        let channels = definitions
            .iter()
            .enumerate()
            .map(|(k, def)| Channel::read(def, number, k + 1, ctx))
            .collect::<Result<Vec<_>, _>>()?;

        let data = item
            .bytes(WAVEFORM_DATA)
            .ok_or_else(|| ctx.err(FormatErrorKind::Invalid, field(WAVEFORM_DATA), "missing"))?;
        let expected = channels_n * samples * sample_type.bytes();
        // Values are padded to an even length, so one spare byte is allowed.
        if data.len() != expected && data.len() != expected + 1 {
            return Err(ctx.err(
                if data.len() < expected {
                    FormatErrorKind::Truncated
                } else {
                    FormatErrorKind::Inconsistent
                },
                field(WAVEFORM_DATA),
                format!(
                    "{} bytes, but {channels_n} channels × {samples} samples × {} bytes = {expected}",
                    data.len(),
                    sample_type.bytes()
                ),
            ));
        }
        let padding = item
            .bytes(PADDING_VALUE)
            .filter(|p| p.len() >= sample_type.bytes())
            .map(|p| sample_type.decode(p));

        let mut data_uv: Vec<Vec<f64>> = (0..channels_n)
            .map(|_| Vec::with_capacity(samples))
            .collect();
        // Waveform Data interleaves channels: C1S1, C2S1, …, CnS1, C1S2, …
        for frame in data[..expected].chunks_exact(channels_n * sample_type.bytes()) {
            for ((out, ch), raw) in data_uv
                .iter_mut()
                .zip(&channels)
                .zip(frame.chunks_exact(sample_type.bytes()))
            {
                let raw = sample_type.decode(raw);
                let value = if Some(raw) == padding {
                    f64::NAN
                } else {
                    (raw as f64 * ch.scale + ch.baseline) * ch.uv_per_unit.unwrap_or(1.0)
                };
                out.push(value);
            }
        }
        Ok(Self {
            number,
            label,
            rate_hz,
            samples,
            channels,
            data_uv,
        })
    }

    /// The channels in voltage units as leads; others are dropped with a note.
    fn into_leads(self, notes: &mut Vec<String>) -> Vec<LeadSignal> {
        let mut leads = Vec::with_capacity(self.channels.len());
        for (ch, samples_uv) in self.channels.into_iter().zip(self.data_uv) {
            if ch.uv_per_unit.is_none() {
                notes.push(format!(
                    "channel '{}' of group '{}' is in '{}', not a voltage: left out",
                    ch.label, self.label, ch.units
                ));
                continue;
            }
            let mut lead = LeadSignal::new(ch.lead, ch.label, samples_uv);
            // physical = (stored − baseline) / gain, so gain = 1/scale, baseline = −b/scale.
            lead.calibration = Some(Calibration {
                gain: 1.0 / ch.scale,
                baseline: -ch.baseline / ch.scale,
                units: ch.units,
            });
            leads.push(lead);
        }
        leads
    }
}

impl Channel {
    fn read(
        def: &DataSet<'_>,
        group: usize,
        number: usize,
        ctx: Ctx<'_>,
    ) -> Result<Self, FormatError> {
        let field = |tag: Tag| {
            format!(
                "Waveform Sequence item {group}, channel {number}: {}",
                tag_name(tag)
            )
        };
        let source = def.code(CHANNEL_SOURCE);
        let (lead, label) = lead_from_source(
            source.as_ref(),
            def.string(CHANNEL_LABEL).as_deref(),
            number,
        );
        let sensitivity = def.decimal(CHANNEL_SENSITIVITY, ctx)?;
        let correction = def.decimal(CORRECTION_FACTOR, ctx)?.unwrap_or(1.0);
        let baseline = def.decimal(CHANNEL_BASELINE, ctx)?.unwrap_or(0.0);
        let units = def.code(SENSITIVITY_UNITS).map(|c| c.value);
        let (Some(sensitivity), Some(units)) = (sensitivity, units) else {
            return Err(ctx.err(
                FormatErrorKind::Invalid,
                field(CHANNEL_SENSITIVITY),
                format!("channel '{label}' has no sensitivity or no sensitivity units, so its samples have no physical scale"),
            ));
        };
        let scale = sensitivity * correction;
        let uv_per_unit = microvolts_per(&units);
        // The largest stored magnitude (2^32) must still give a finite microvolt value.
        let largest = (scale.abs() * 4.3e9 + baseline.abs()) * uv_per_unit.unwrap_or(1.0);
        if scale == 0.0 || !scale.is_finite() || !largest.is_finite() {
            return Err(ctx.err(
                FormatErrorKind::Invalid,
                field(CHANNEL_SENSITIVITY),
                format!(
                    "sensitivity {sensitivity} × correction {correction} gives no usable scale"
                ),
            ));
        }
        Ok(Self {
            label,
            lead,
            scale,
            baseline,
            units,
            uv_per_unit,
        })
    }
}

/// Microvolts per unit for the UCUM voltage units ECG files use.
fn microvolts_per(unit: &str) -> Option<f64> {
    match unit.trim() {
        "uV" | "µV" | "μV" | "UV" => Some(1.0),
        "mV" | "MV" => Some(1000.0),
        "V" => Some(1.0e6),
        "nV" => Some(1.0e-3),
        _ => None,
    }
}

/// Maps a channel source code to a lead: SCP-ECG (5.6.3-9-N) and MDC (2:N) codes first, then
/// the code meaning ("Lead I (Einthoven)"), then the channel label.
fn lead_from_source(
    source: Option<&Code>,
    channel_label: Option<&str>,
    number: usize,
) -> (LeadId, String) {
    let label = source
        .map(|c| c.meaning.clone())
        .filter(|m| !m.is_empty())
        .or_else(|| channel_label.map(str::to_string))
        .or_else(|| source.map(|c| c.value.clone()).filter(|v| !v.is_empty()))
        .unwrap_or_else(|| format!("channel {number}"));
    let by_code = source.and_then(|c| {
        let n = c
            .value
            .strip_prefix("5.6.3-9-")
            .or_else(|| c.value.strip_prefix("2:"))?;
        super::scp::leads::standard_lead(n.parse().ok()?)
    });
    let by_text = || {
        [Some(label.as_str()), channel_label]
            .into_iter()
            .flatten()
            .find_map(|text| {
                // "Lead I (Einthoven)" → "Lead I"
                let head = text.split('(').next().unwrap_or(text);
                StandardLead::from_label(head)
            })
    };
    let lead = by_code
        .or_else(by_text)
        .map_or_else(|| LeadId::Other(label.clone()), LeadId::Standard);
    (lead, label)
}

/// The group labelled RHYTHM, else the longest group that is not a median beat, else the longest.
fn choose_rhythm_group(groups: &[MultiplexGroup]) -> usize {
    if let Some(i) = groups
        .iter()
        .position(|g| g.label.trim().eq_ignore_ascii_case("RHYTHM"))
    {
        return i;
    }
    let duration = |g: &MultiplexGroup| g.samples as f64 / g.rate_hz;
    let longest = |median_ok: bool| {
        groups
            .iter()
            .enumerate()
            .filter(|(_, g)| median_ok || !g.is_median())
            .max_by(|a, b| duration(a.1).total_cmp(&duration(b.1)))
            .map(|(i, _)| i)
    };
    longest(false).or_else(|| longest(true)).unwrap_or(0)
}

/// Reads the Waveform Annotation Sequence: coded measurements with a numeric value, fiducial
/// points at referenced sample positions, and free-text statements.
fn read_annotations(
    ds: &DataSet<'_>,
    groups: &[MultiplexGroup],
    rhythm: usize,
    median: Option<usize>,
    notes: &mut Vec<String>,
    ctx: Ctx<'_>,
) -> Result<Vec<Annotation>, FormatError> {
    let mut out = Vec::new();
    let mut skipped = 0usize;
    for item in ds.items(ANNOTATIONS) {
        let concept = item.code(CONCEPT_NAME);
        let label = concept
            .as_ref()
            .map(|c| {
                if c.meaning.is_empty() {
                    c.value.clone()
                } else {
                    c.meaning.clone()
                }
            })
            .unwrap_or_default();
        // Referenced Waveform Channels: pairs (multiplex group number, channel number; 0 = all).
        let refs = item.uints(REFERENCED_CHANNELS, 2, ctx)?;
        let group_ref = refs.first().map(|&g| g as usize);
        let lead = refs.chunks_exact(2).find_map(|pair| {
            let g = groups.get((pair[0] as usize).checked_sub(1)?)?;
            let ch = g.channels.get((pair[1] as usize).checked_sub(1)?)?;
            Some(ch.lead.name().to_string())
        });
        // Sample positions refer to the referenced group; name it unless it is the rhythm.
        let referenced = group_ref
            .and_then(|g| g.checked_sub(1))
            .filter(|&i| i < groups.len());
        let suffix = match referenced {
            Some(i) if i != rhythm => {
                let what = if Some(i) == median {
                    "median beat"
                } else {
                    groups[i].label.as_str()
                };
                format!(" [{what}]")
            }
            _ => String::new(),
        };
        let rate = referenced.map_or(groups[rhythm].rate_hz, |i| groups[i].rate_hz);

        if let Some(text) = item.string(TEXT_VALUE) {
            out.push(Annotation {
                kind: AnnotationKind::Text,
                label: text,
                value: None,
                unit: None,
                sample_index: None,
                lead: lead.clone(),
            });
            continue;
        }
        let values = item.decimals(NUMERIC_VALUE, ctx)?;
        if out.len() + values.len() > MAX_ANNOTATIONS {
            return Err(ctx.err(
                FormatErrorKind::TooLarge,
                tag_name(ANNOTATIONS),
                format!("more than {MAX_ANNOTATIONS} annotations"),
            ));
        }
        if !values.is_empty() {
            let unit = item.code(MEASUREMENT_UNITS).map(|c| c.value);
            for value in values {
                out.push(Annotation {
                    kind: AnnotationKind::Measurement,
                    label: format!("{label}{suffix}"),
                    value: Some(value),
                    unit: unit.clone(),
                    sample_index: None,
                    lead: lead.clone(),
                });
            }
            continue;
        }
        // DICOM sample positions count from 1.
        let mut positions: Vec<usize> = Vec::new();
        for p in item.uints(REFERENCED_SAMPLES, 4, ctx)? {
            match (p as usize).checked_sub(1) {
                Some(ix) => positions.push(ix),
                None => skipped += 1,
            }
        }
        for t in item.decimals(REFERENCED_TIMES, ctx)? {
            if t >= 0.0 {
                positions.push((t * rate).round() as usize);
            } else {
                skipped += 1;
            }
        }
        if out.len() + positions.len() > MAX_ANNOTATIONS {
            return Err(ctx.err(
                FormatErrorKind::TooLarge,
                tag_name(ANNOTATIONS),
                format!("more than {MAX_ANNOTATIONS} annotations"),
            ));
        }
        if positions.is_empty() {
            if !label.is_empty() {
                skipped += 1;
            }
            continue;
        }
        for ix in positions {
            out.push(Annotation {
                kind: AnnotationKind::Fiducial,
                label: format!("{label}{suffix}"),
                value: None,
                unit: None,
                sample_index: Some(ix),
                lead: lead.clone(),
            });
        }
    }
    if skipped > 0 {
        notes.push(format!(
            "{skipped} waveform annotation(s) without a usable value or position were left out"
        ));
    }
    Ok(out)
}

/// DA "YYYYMMDD" → "YYYY-MM-DD"; anything else is kept as written.
fn iso_date(da: &str) -> String {
    if da.len() == 8 && da.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}-{}", &da[..4], &da[4..6], &da[6..8])
    } else {
        da.to_string()
    }
}

/// DT/TM "YYYYMMDDHHMMSS.FFFFFF" → ISO 8601 "YYYY-MM-DDTHH:MM:SS.FFFFFF" where it parses.
fn iso_date_time(date: &str, time: &str) -> String {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    if date.len() == 8 && digits(date) && hms.len() >= 4 && hms.len() <= 6 && digits(hms) {
        let sec = if hms.len() == 6 { &hms[4..6] } else { "00" };
        let mut s = format!("{}T{}:{}:{}", iso_date(date), &hms[..2], &hms[2..4], sec);
        if !frac.is_empty() && digits(frac) {
            s.push('.');
            s.push_str(frac);
        }
        s
    } else {
        format!("{date} {time}").trim().to_string()
    }
}

fn acquisition_time(ds: &DataSet<'_>) -> Option<String> {
    if let Some(dt) = ds.string(Tag(0x0008, 0x002A)) {
        // Drop a UTC offset suffix ("+0100") for the local-time ISO form.
        let core = dt.split(['+', '-']).next().unwrap_or(&dt);
        if core.len() > 8 && core.is_ascii() {
            return Some(iso_date_time(&core[..8], &core[8..]));
        }
        return Some(iso_date(core));
    }
    for (d, t) in [
        (Tag(0x0008, 0x0022), Tag(0x0008, 0x0032)),
        (Tag(0x0008, 0x0023), Tag(0x0008, 0x0033)),
    ] {
        if let Some(date) = ds.string(d) {
            return Some(match ds.string(t) {
                Some(time) => iso_date_time(&date, &time),
                None => iso_date(&date),
            });
        }
    }
    None
}

fn device(ds: &DataSet<'_>) -> Option<String> {
    let parts: Vec<String> = [Tag(0x0008, 0x0070), Tag(0x0008, 0x1090)]
        .into_iter()
        .filter_map(|t| ds.string(t))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn patient(ds: &DataSet<'_>) -> PatientInfo {
    PatientInfo {
        // Person names are "Family^Given^Middle^Prefix^Suffix": kept in their parts.
        name: ds
            .string(Tag(0x0010, 0x0010))
            .and_then(|n| PersonName::normalise(&n)),
        id: ds.string(Tag(0x0010, 0x0020)),
        birth_date: ds.string(Tag(0x0010, 0x0030)).map(|d| iso_date(&d)),
        sex: ds.string(Tag(0x0010, 0x0040)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scp_and_mdc_codes_and_meanings_map_to_leads() {
        let code = |v: &str, m: &str| Code {
            value: v.into(),
            scheme: String::new(),
            meaning: m.into(),
        };
        let cases = [
            (code("5.6.3-9-1", "Lead I (Einthoven)"), StandardLead::I),
            (code("5.6.3-9-64", "x"), StandardLead::AVF),
            (code("2:62", "Lead aVR"), StandardLead::AVR),
            (code("unknown", "Lead V4"), StandardLead::V4),
        ];
        for (c, want) in cases {
            assert_eq!(
                lead_from_source(Some(&c), None, 1).0,
                LeadId::Standard(want),
                "{c:?}"
            );
        }
        assert_eq!(
            lead_from_source(None, Some("V5"), 3).0,
            LeadId::Standard(StandardLead::V5)
        );
        assert_eq!(
            lead_from_source(None, None, 3),
            (LeadId::Other("channel 3".into()), "channel 3".into())
        );
    }

    #[test]
    fn dates_become_iso() {
        assert_eq!(iso_date("19710123"), "1971-01-23");
        assert_eq!(iso_date_time("20130125", "105919"), "2013-01-25T10:59:19");
        assert_eq!(
            iso_date_time("20130125", "105919.25"),
            "2013-01-25T10:59:19.25"
        );
    }
}

#[cfg(test)]
mod reference_tests;
