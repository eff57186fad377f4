//! EDF and EDF+ (continuous, "EDF+C") reader, and an EDF+C writer.
//!
//! Layout (Kemp et al. 1992; EDF+ 2003): a 256-byte fixed header, then 256 bytes per signal
//! stored field by field (all labels, then all transducers, ...), then data records, each
//! holding `samples per data record` little-endian 16-bit integers for every signal in turn.
//! physical = (digital − digital minimum) × (physical range / digital range) + physical minimum.
//!
//! Choices a clinician would expect, documented here once:
//! - Channels recorded at another rate than the ECG leads are resampled (anti-aliased,
//!   [`crate::dsp::resample`]) to the highest ECG-lead rate and the record's processing notes
//!   say so; nothing recorded is silently dropped, except channels whose dimension is not a
//!   voltage (SpO2 in %, temperature, ...), which are named in a note and left out because the
//!   record holds microvolts only.
//! - An ECG channel (a standard lead, or a label starting with ECG/EKG) with a dimension that
//!   is not a voltage is an error: guessing its scale would mis-state every amplitude.
//! - A file with no ECG channel at all (every label unrecognisable) is an error naming the
//!   labels found: its signals cannot be placed as leads.
//! - Free-text header fields (patient, recording, label, transducer, prefilter) with bytes
//!   outside printable ASCII are decoded as Latin-1 with a note (many real files carry accented
//!   names); numeric and structural fields must be ASCII.
//! - EDF+D (discontinuous) files are refused: their records are not contiguous in time.
//! - The free-text patient field of a plain EDF file is kept as the patient id (it lives in
//!   [`PatientInfo`], so de-identified views drop it); EDF+ "code sex birthdate name" is split.

mod tal;
mod write;

pub use write::{write, write_with_notes};

use std::fmt::Display;

use super::{
    FormatError, FormatErrorKind, MAX_CHANNELS, MAX_TOTAL_SAMPLES, SignalInput, sha256_hex,
};
use crate::formats::Format;
use crate::record::{
    Annotation, AnnotationKind, Calibration, EcgRecord, LeadId, LeadSignal, PatientInfo, Provenance,
};

/// Size of the fixed part of the header and of each signal's header.
const FIXED_HEADER_BYTES: usize = 256;
const SIGNAL_HEADER_BYTES: usize = 256;
/// The label EDF+ reserves for the annotation channel.
const ANNOTATION_LABEL: &str = "EDF Annotations";
/// Widths of the per-signal fields, in the order they are stored.
const SIGNAL_FIELDS: [(&str, usize); 10] = [
    ("label", 16),
    ("transducer type", 80),
    ("physical dimension", 8),
    ("physical minimum", 8),
    ("physical maximum", 8),
    ("digital minimum", 8),
    ("digital maximum", 8),
    ("prefiltering", 80),
    ("samples per data record", 8),
    ("reserved", 32),
];
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// The fixed part of an EDF header, decoded.
#[derive(Debug)]
struct MainHeader {
    patient: String,
    recording: String,
    start_date: String,
    start_time: String,
    header_bytes: usize,
    reserved: String,
    /// `None` when the file says −1 (unknown; derived from the file size).
    record_count: Option<usize>,
    record_duration_s: f64,
    signal_count: usize,
}

/// One signal's header, decoded and checked.
#[derive(Debug, Clone)]
struct SignalHeader {
    label: String,
    dimension: String,
    phys_min: f64,
    phys_max: f64,
    dig_min: i32,
    dig_max: i32,
    prefilter: String,
    samples_per_record: usize,
}

impl SignalHeader {
    fn is_annotation(&self) -> bool {
        self.label == ANNOTATION_LABEL
    }
}

/// The name of one signal's header field, e.g. "signal 2 (ECG II) physical minimum".
#[derive(Clone, Copy)]
struct SignalField<'a> {
    number: usize,
    label: &'a str,
    what: &'static str,
}

impl Display for SignalField<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "signal {} ({}) {}", self.number, self.label, self.what)
    }
}

impl From<SignalField<'_>> for String {
    fn from(field: SignalField<'_>) -> Self {
        field.to_string()
    }
}

/// Error helper bound to one file name.
struct Ctx<'a> {
    file: &'a str,
    notes: Vec<String>,
}

impl Ctx<'_> {
    fn err(
        &self,
        kind: FormatErrorKind,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> FormatError {
        FormatError::new(self.file, kind, field, problem)
    }

    /// A structural or numeric field: printable ASCII only, trimmed.
    fn ascii(&self, raw: &[u8], field: impl Display + Copy) -> Result<String, FormatError> {
        if let Some((pos, b)) = raw
            .iter()
            .enumerate()
            .find(|(_, b)| !(0x20..=0x7e).contains(*b))
        {
            return Err(self.err(
                FormatErrorKind::Invalid,
                field.to_string(),
                format!(
                    "byte 0x{b:02X} at position {} is not printable ASCII (EDF header fields are ASCII)",
                    pos + 1
                ),
            ));
        }
        Ok(String::from_utf8_lossy(raw).trim().to_string())
    }

    /// A free-text field: ASCII expected, anything else decoded as Latin-1 with a note.
    fn text(&mut self, raw: &[u8], field: impl Display + Copy) -> String {
        if raw.iter().all(|b| (0x20..=0x7e).contains(b)) {
            return String::from_utf8_lossy(raw).trim().to_string();
        }
        self.notes.push(format!(
            "{field}: bytes outside printable ASCII decoded as Latin-1"
        ));
        raw.iter()
            .map(|&b| {
                if b < 0x20 || b == 0x7f {
                    ' '
                } else {
                    char::from(b)
                }
            })
            .collect::<String>()
            .trim()
            .to_string()
    }

    /// A decimal number field (finite).
    fn number(&self, raw: &[u8], field: impl Display + Copy) -> Result<f64, FormatError> {
        let text = self.ascii(raw, field)?;
        if text.is_empty() {
            return Err(self.err(
                FormatErrorKind::Invalid,
                field.to_string(),
                "is empty, a number is required",
            ));
        }
        // Rust also parses "inf" and "NaN"; EDF numbers are plain decimals only.
        if !text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
        {
            return Err(self.err(
                FormatErrorKind::Invalid,
                field.to_string(),
                format!("'{text}' is not a number"),
            ));
        }
        let value: f64 = text.parse().map_err(|_| {
            self.err(
                FormatErrorKind::Invalid,
                field.to_string(),
                format!("'{text}' is not a number"),
            )
        })?;
        if !value.is_finite() {
            return Err(self.err(
                FormatErrorKind::NonFinite,
                field.to_string(),
                format!("'{text}' is not a finite number"),
            ));
        }
        Ok(value)
    }

    /// An integer field (a decimal written with a zero fraction, "500.", is accepted).
    fn integer(&self, raw: &[u8], field: impl Display + Copy) -> Result<i64, FormatError> {
        let value = self.number(raw, field)?;
        if value.fract() != 0.0 || value.abs() > 1e15 {
            return Err(self.err(
                FormatErrorKind::Invalid,
                field.to_string(),
                format!("{value} is not an integer"),
            ));
        }
        Ok(value as i64)
    }
}

/// Reads an EDF or EDF+C file.
pub fn read(bytes: &[u8], file_name: &str) -> Result<SignalInput, FormatError> {
    let mut ctx = Ctx {
        file: file_name,
        notes: Vec::new(),
    };
    let main = read_main_header(&mut ctx, bytes)?;
    let signals = read_signal_headers(&mut ctx, bytes, &main)?;
    let is_plus = main.reserved.starts_with("EDF+");
    if main.reserved.starts_with("EDF+D") {
        return Err(ctx.err(
            FormatErrorKind::Unsupported,
            "reserved (EDF+ type)",
            "EDF+D (discontinuous) recordings are not supported: their data records are not \
             contiguous in time; export the recording as EDF+C",
        ));
    }
    let record_samples: usize = signals.iter().map(|s| s.samples_per_record).sum();
    let record_bytes = record_samples * 2;
    let data = &bytes[main.header_bytes.min(bytes.len())..];
    let record_count = if let Some(n) = main.record_count {
        n
    } else {
        // −1 ("unknown", written while recording) is usable only when the file size says it.
        if !data.len().is_multiple_of(record_bytes) {
            return Err(ctx.err(
                FormatErrorKind::Inconsistent,
                "number of data records",
                format!(
                    "is -1 (unknown) and the {} data bytes are not a whole number of {record_bytes}-byte records",
                    data.len()
                ),
            ));
        }
        ctx.notes.push(format!(
            "number of data records given as -1; {} derived from the file size",
            data.len() / record_bytes
        ));
        data.len() / record_bytes
    };
    // Refuse absurd sizes before allocating anything proportional to them.
    let total_samples = (record_count as u128) * (record_samples as u128);
    if total_samples > MAX_TOTAL_SAMPLES as u128 {
        return Err(ctx.err(
            FormatErrorKind::TooLarge,
            "number of data records",
            format!(
                "{record_count} records of {record_samples} samples ({total_samples} samples) exceed the limit of {MAX_TOTAL_SAMPLES}"
            ),
        ));
    }
    if record_count == 0 {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            "number of data records",
            "is 0: the file holds no signal",
        ));
    }
    let needed = record_count * record_bytes;
    if data.len() < needed {
        let complete = data.len() / record_bytes;
        return Err(ctx.err(
            FormatErrorKind::Truncated,
            format!("data record {}", complete + 1),
            format!(
                "the header declares {record_count} records of {record_bytes} bytes ({needed} bytes) but only {} data bytes follow the header",
                data.len()
            ),
        ));
    }
    if data.len() > needed {
        ctx.notes.push(format!(
            "{} bytes after the last data record ignored",
            data.len() - needed
        ));
    }

    let (leads, annotations) =
        decode_signals(&mut ctx, &main, &signals, &data[..needed], record_count)?;
    let (patient, device) = parse_identification(&main, is_plus);
    let acquisition_time = parse_start(&ctx, &main, is_plus)?;

    let mut notes = std::mem::take(&mut ctx.notes);
    let (sample_rate_hz, leads) = align_rates(&ctx, &main, leads, record_count, &mut notes)?;
    let mut record = EcgRecord {
        sample_rate_hz,
        leads,
        acquisition_time: Some(acquisition_time),
        device,
        provenance: Provenance {
            format: if is_plus {
                Format::EdfPlus
            } else {
                Format::Edf
            },
            file_name: file_name.to_string(),
            sha256: sha256_hex(bytes),
            byte_len: bytes.len() as u64,
        },
        annotations: annotations_to_record(
            annotations,
            sample_rate_hz,
            record_count,
            main.record_duration_s,
        ),
        representative_beats: None,
        processing_notes: notes,
    };
    record
        .validate()
        .map_err(|e| ctx.err(FormatErrorKind::Inconsistent, "signals", e.to_string()))?;
    record.derive_limb_leads();
    Ok(SignalInput { record, patient })
}

fn read_main_header(ctx: &mut Ctx<'_>, bytes: &[u8]) -> Result<MainHeader, FormatError> {
    if bytes.len() < FIXED_HEADER_BYTES {
        return Err(ctx.err(
            FormatErrorKind::Truncated,
            "header",
            format!(
                "{} bytes; the fixed EDF header alone is 256 bytes",
                bytes.len()
            ),
        ));
    }
    let version = ctx.ascii(&bytes[0..8], "version")?;
    if version != "0" {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            "version",
            format!("'{version}' (EDF and EDF+ files start with '0')"),
        ));
    }
    let patient = ctx.text(&bytes[8..88], "patient identification");
    let recording = ctx.text(&bytes[88..168], "recording identification");
    let start_date = ctx.ascii(&bytes[168..176], "start date")?;
    let start_time = ctx.ascii(&bytes[176..184], "start time")?;
    let header_bytes = ctx.integer(&bytes[184..192], "number of bytes in header")?;
    let reserved = ctx.ascii(&bytes[192..236], "reserved (EDF+ type)")?;
    let record_count = ctx.integer(&bytes[236..244], "number of data records")?;
    let record_duration_s = ctx.number(&bytes[244..252], "duration of a data record")?;
    let signal_count = ctx.integer(&bytes[252..256], "number of signals")?;

    if signal_count < 1 || signal_count > MAX_CHANNELS as i64 {
        return Err(ctx.err(
            if signal_count > 0 {
                FormatErrorKind::TooLarge
            } else {
                FormatErrorKind::Invalid
            },
            "number of signals",
            format!("{signal_count}; between 1 and {MAX_CHANNELS} are accepted"),
        ));
    }
    let signal_count = signal_count as usize;
    let expected_header = FIXED_HEADER_BYTES + SIGNAL_HEADER_BYTES * signal_count;
    if header_bytes != expected_header as i64 {
        return Err(ctx.err(
            FormatErrorKind::Inconsistent,
            "number of bytes in header",
            format!(
                "{header_bytes}, but {signal_count} signal(s) need 256 + {signal_count} × 256 = {expected_header}"
            ),
        ));
    }
    let record_count = match record_count {
        -1 => None,
        n if n < 0 => {
            return Err(ctx.err(
                FormatErrorKind::Invalid,
                "number of data records",
                format!("{n}; only -1 (unknown) may be negative"),
            ));
        }
        n => Some(n as usize),
    };
    if record_duration_s <= 0.0 {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            "duration of a data record",
            format!("{record_duration_s} s; a signal needs a positive record duration"),
        ));
    }
    Ok(MainHeader {
        patient,
        recording,
        start_date,
        start_time,
        header_bytes: expected_header,
        reserved,
        record_count,
        record_duration_s,
        signal_count,
    })
}

fn read_signal_headers(
    ctx: &mut Ctx<'_>,
    bytes: &[u8],
    main: &MainHeader,
) -> Result<Vec<SignalHeader>, FormatError> {
    let ns = main.signal_count;
    if bytes.len() < main.header_bytes {
        return Err(ctx.err(
            FormatErrorKind::Truncated,
            "signal headers",
            format!(
                "the header declares {} bytes for {ns} signal(s) but the file has {}",
                main.header_bytes,
                bytes.len()
            ),
        ));
    }
    // Slice out each field of signal `i`.
    let mut offsets = [0usize; 10];
    let mut at = FIXED_HEADER_BYTES;
    for (k, (_, width)) in SIGNAL_FIELDS.iter().enumerate() {
        offsets[k] = at;
        at += width * ns;
    }
    let field = |k: usize, i: usize| {
        let width = SIGNAL_FIELDS[k].1;
        let start = offsets[k] + width * i;
        &bytes[start..start + width]
    };
    let mut out = Vec::with_capacity(ns);
    for i in 0..ns {
        let label = ctx.text(field(0, i), format_args!("signal {} label", i + 1));
        // Field names are formatted only when a message needs them (not for every field read).
        let name = |what: &'static str| SignalField {
            number: i + 1,
            label: &label,
            what,
        };
        // Transducer type is free text nothing downstream needs; it is still checked by decoding.
        let _transducer = ctx.text(field(1, i), name("transducer type"));
        let dimension = decode_dimension(field(2, i));
        let phys_min = ctx.number(field(3, i), name("physical minimum"))?;
        let phys_max = ctx.number(field(4, i), name("physical maximum"))?;
        let dig_min = ctx.integer(field(5, i), name("digital minimum"))?;
        let dig_max = ctx.integer(field(6, i), name("digital maximum"))?;
        let prefilter = ctx.text(field(7, i), name("prefiltering"));
        let spr = ctx.integer(field(8, i), name("samples per data record"))?;
        for (value, what) in [(dig_min, "digital minimum"), (dig_max, "digital maximum")] {
            if !(i64::from(i16::MIN)..=i64::from(i16::MAX)).contains(&value) {
                return Err(ctx.err(
                    FormatErrorKind::Invalid,
                    name(what),
                    format!("{value} is outside the 16-bit range -32768..32767"),
                ));
            }
        }
        if dig_min >= dig_max {
            return Err(ctx.err(
                FormatErrorKind::Invalid,
                name("digital minimum"),
                format!("{dig_min} is not below the digital maximum {dig_max}"),
            ));
        }
        if phys_min == phys_max {
            return Err(ctx.err(
                FormatErrorKind::Invalid,
                name("physical minimum"),
                format!("equals the physical maximum ({phys_max}); the scale would be undefined"),
            ));
        }
        if spr < 1 || spr > MAX_TOTAL_SAMPLES as i64 {
            return Err(ctx.err(
                if spr < 1 {
                    FormatErrorKind::Invalid
                } else {
                    FormatErrorKind::TooLarge
                },
                name("samples per data record"),
                format!("{spr}; at least 1 and at most {MAX_TOTAL_SAMPLES}"),
            ));
        }
        out.push(SignalHeader {
            label,
            dimension,
            phys_min,
            phys_max,
            dig_min: dig_min as i32,
            dig_max: dig_max as i32,
            prefilter,
            samples_per_record: spr as usize,
        });
    }
    Ok(out)
}

/// The dimension field, with the micro sign accepted in Latin-1 (0xB5) or UTF-8 (C2 B5).
fn decode_dimension(raw: &[u8]) -> String {
    let text = match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        Err(_) => raw.iter().map(|&b| char::from(b)).collect(),
    };
    text.trim().to_string()
}

/// Microvolts per unit of a voltage dimension ("uV", "µV", "mV", "V", any case), or `None`.
pub(crate) fn microvolts_per_unit(dimension: &str) -> Option<f64> {
    let norm: String = dimension
        .trim()
        .chars()
        .map(|c| {
            if c == 'µ' || c == 'μ' {
                'u'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    match norm.as_str() {
        "uv" | "microvolt" | "microvolts" => Some(1.0),
        "mv" | "millivolt" | "millivolts" => Some(1000.0),
        "v" | "volt" | "volts" => Some(1_000_000.0),
        "nv" => Some(0.001),
        _ => None,
    }
}

/// Does this label name an ECG channel (a standard lead, or ECG/EKG by prefix)?
fn is_ecg_label(label: &str) -> bool {
    let upper = label.trim().to_ascii_uppercase();
    LeadId::from_label(label).standard().is_some()
        || upper.starts_with("ECG")
        || upper.starts_with("EKG")
}

/// A decoded channel before rate alignment.
struct Channel {
    signal: LeadSignal,
    rate_hz: f64,
}

/// Decodes every data signal to microvolts and gathers the annotation channels' TALs.
fn decode_signals(
    ctx: &mut Ctx<'_>,
    main: &MainHeader,
    signals: &[SignalHeader],
    data: &[u8],
    record_count: usize,
) -> Result<(Vec<Channel>, Vec<tal::Tal>), FormatError> {
    let record_samples: usize = signals.iter().map(|s| s.samples_per_record).sum();
    let record_bytes = record_samples * 2;
    let mut channels = Vec::new();
    let mut tals = Vec::new();
    let mut offset_in_record = 0usize;
    let mut first_record_start: Option<f64> = None;
    // Prefiltering as recorded, grouped so twelve identical fields make one note.
    let mut prefilters: Vec<(String, Vec<String>)> = Vec::new();
    for (i, sig) in signals.iter().enumerate() {
        let start = offset_in_record;
        offset_in_record += sig.samples_per_record * 2;
        if sig.is_annotation() {
            for r in 0..record_count {
                let at = r * record_bytes + start;
                let chunk = &data[at..at + sig.samples_per_record * 2];
                match tal::parse_record(chunk) {
                    Ok(parsed) => {
                        if r == 0
                            && first_record_start.is_none()
                            && let Some(first) = parsed.first()
                        {
                            first_record_start = Some(first.onset_s);
                        }
                        tals.extend(parsed.into_iter().filter(|t| !t.texts.is_empty()));
                    }
                    Err(problem) => ctx.notes.push(format!(
                        "signal {} ({}) data record {}: annotations skipped: {problem}",
                        i + 1,
                        sig.label,
                        r + 1
                    )),
                }
            }
            continue;
        }
        let Some(scale_uv) = microvolts_per_unit(&sig.dimension) else {
            if is_ecg_label(&sig.label) {
                return Err(ctx.err(
                    FormatErrorKind::Unsupported,
                    format!("signal {} ({}) physical dimension", i + 1, sig.label),
                    format!(
                        "'{}' is not a voltage unit (uV, µV, mV or V); an ECG lead's amplitude cannot be scaled",
                        sig.dimension
                    ),
                ));
            }
            ctx.notes.push(format!(
                "signal {} ({}) has dimension '{}', not a voltage, and was not kept",
                i + 1,
                sig.label,
                sig.dimension
            ));
            continue;
        };
        let units_per_digit = (sig.phys_max - sig.phys_min) / f64::from(sig.dig_max - sig.dig_min);
        // Eight-character fields can still say 9e307; in µV that overflows.
        if !(sig.phys_min * scale_uv).is_finite() || !(sig.phys_max * scale_uv).is_finite() {
            return Err(ctx.err(
                FormatErrorKind::NonFinite,
                format!("signal {} ({}) physical maximum", i + 1, sig.label),
                format!(
                    "physical range {}..{} {} overflows when converted to µV",
                    sig.phys_min, sig.phys_max, sig.dimension
                ),
            ));
        }
        let mut samples = Vec::with_capacity(record_count * sig.samples_per_record);
        for r in 0..record_count {
            let at = r * record_bytes + start;
            let chunk = &data[at..at + sig.samples_per_record * 2];
            // Fixed-size pairs (not chunks_exact slices) so the conversion vectorises.
            let (dig_min, phys_min) = (f64::from(sig.dig_min), sig.phys_min);
            samples.extend(chunk.as_chunks::<2>().0.iter().map(|&pair| {
                let digital = f64::from(i16::from_le_bytes(pair));
                ((digital - dig_min) * units_per_digit + phys_min) * scale_uv
            }));
        }
        let gain = 1.0 / units_per_digit;
        let mut signal =
            LeadSignal::new(LeadId::from_label(&sig.label), sig.label.clone(), samples);
        signal.calibration = Some(Calibration {
            gain,
            baseline: f64::from(sig.dig_min) - sig.phys_min * gain,
            units: sig.dimension.clone(),
        });
        if !sig.prefilter.is_empty() {
            match prefilters.iter_mut().find(|(p, _)| *p == sig.prefilter) {
                Some((_, labels)) => labels.push(sig.label.clone()),
                None => prefilters.push((sig.prefilter.clone(), vec![sig.label.clone()])),
            }
        }
        channels.push(Channel {
            signal,
            rate_hz: snap_rate(sig.samples_per_record as f64 / main.record_duration_s),
        });
    }
    for (prefilter, labels) in prefilters {
        ctx.notes.push(format!(
            "prefiltering recorded for {}: {prefilter}",
            labels.join(", ")
        ));
    }
    if channels.is_empty() {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            "signals",
            "no ECG or other voltage channel (only annotations or non-voltage signals)",
        ));
    }
    // Labels that name no ECG lead would be read as leads nobody can place, every standard lead
    // "missing", and then measured as flat: such a file is refused, naming what it holds.
    if !channels
        .iter()
        .any(|c| is_ecg_label(&c.signal.source_label))
    {
        let labels: Vec<String> = signals
            .iter()
            .filter(|s| !s.is_annotation())
            .map(|s| format!("'{}'", s.label))
            .collect();
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            "signal labels",
            format!(
                "no recognisable ECG lead among {} (expected standard lead names such as I, II, \
                 aVF, V1, or labels starting with ECG or EKG)",
                labels.join(", ")
            ),
        ));
    }
    // Annotation onsets are relative to the file start; the data start at the first
    // record's time-keeping onset (normally 0).
    let origin = first_record_start.unwrap_or(0.0);
    for t in &mut tals {
        t.onset_s -= origin;
    }
    Ok((channels, tals))
}

/// Rates computed as samples / duration pick up float noise (1 / 0.002); snap to integers.
fn snap_rate(rate: f64) -> f64 {
    if (rate - rate.round()).abs() <= 1e-9 * rate.max(1.0) {
        rate.round()
    } else {
        rate
    }
}

/// Brings every channel to the highest ECG-lead rate (or the highest rate when no channel is
/// a standard lead), resampling the others, and checks no lead appears twice.
fn align_rates(
    ctx: &Ctx<'_>,
    main: &MainHeader,
    channels: Vec<Channel>,
    record_count: usize,
    notes: &mut Vec<String>,
) -> Result<(f64, Vec<LeadSignal>), FormatError> {
    let ecg_rate = channels
        .iter()
        .filter(|c| c.signal.lead.standard().is_some())
        .map(|c| c.rate_hz)
        .fold(f64::NAN, f64::max);
    let target = if ecg_rate.is_nan() {
        channels.iter().map(|c| c.rate_hz).fold(f64::NAN, f64::max)
    } else {
        ecg_rate
    };
    // Samples per lead at the target rate: the target is some channel's samples per record
    // divided by the record duration, so this is an integer up to float noise.
    let per_lead = (target * main.record_duration_s).round() as usize * record_count;
    let total = per_lead as u128 * channels.len() as u128;
    if total > MAX_TOTAL_SAMPLES as u128 {
        return Err(ctx.err(
            FormatErrorKind::TooLarge,
            "signals",
            format!(
                "{} channels at {target} Hz would need {total} samples, over the limit of {MAX_TOTAL_SAMPLES}",
                channels.len()
            ),
        ));
    }
    let mut seen: Vec<(crate::record::StandardLead, usize)> = Vec::new();
    let mut leads = Vec::with_capacity(channels.len());
    for (index, mut channel) in channels.into_iter().enumerate() {
        if let Some(std_lead) = channel.signal.lead.standard() {
            if let Some((_, first)) = seen.iter().find(|(l, _)| *l == std_lead) {
                return Err(ctx.err(
                    FormatErrorKind::Inconsistent,
                    format!("signal label '{}'", channel.signal.source_label),
                    format!(
                        "lead {std_lead} appears twice (kept channel {} and {})",
                        first + 1,
                        index + 1
                    ),
                ));
            }
            seen.push((std_lead, index));
        }
        if (channel.rate_hz - target).abs() > 1e-9 * target {
            let resampled =
                crate::dsp::resample(&channel.signal.samples_uv, channel.rate_hz, target).map_err(
                    |e| {
                        ctx.err(
                            FormatErrorKind::Invalid,
                            format!(
                                "signal '{}' samples per data record",
                                channel.signal.source_label
                            ),
                            format!("cannot resample: {e}"),
                        )
                    },
                )?;
            notes.push(format!(
                "channel '{}' recorded at {} Hz resampled to {target} Hz to match the ECG leads",
                channel.signal.source_label, channel.rate_hz
            ));
            channel.signal.samples_uv = resampled;
        }
        // Guard the exact length against rounding in the resampler.
        let last = channel.signal.samples_uv.last().copied().unwrap_or(0.0);
        channel.signal.samples_uv.resize(per_lead, last);
        leads.push(channel.signal);
    }
    Ok((target, leads))
}

fn annotations_to_record(
    tals: Vec<tal::Tal>,
    rate_hz: f64,
    record_count: usize,
    record_duration_s: f64,
) -> Vec<Annotation> {
    let length_s = record_count as f64 * record_duration_s;
    let mut out = Vec::new();
    for t in tals {
        let sample_index = (t.onset_s >= 0.0 && t.onset_s <= length_s)
            .then(|| (t.onset_s * rate_hz).round() as usize);
        for text in t.texts {
            let label = if sample_index.is_some() {
                text
            } else {
                format!("{text} (onset {} s, outside the signal)", t.onset_s)
            };
            out.push(Annotation {
                kind: AnnotationKind::Text,
                label,
                // EDF+ durations are in seconds; the value is the annotation's duration.
                value: t.duration_s,
                unit: t.duration_s.map(|_| "s".to_string()),
                sample_index,
                lead: None,
            });
        }
    }
    out
}

/// EDF+ identification: patient "code sex birthdate name ..." and recording
/// "Startdate dd-MMM-yyyy admincode technician equipment ...". Plain EDF: free text.
fn parse_identification(main: &MainHeader, is_plus: bool) -> (PatientInfo, Option<String>) {
    let known = |s: &str| (s != "X" && !s.is_empty()).then(|| s.replace('_', " "));
    let mut patient = PatientInfo::default();
    let fields: Vec<&str> = main.patient.split_whitespace().collect();
    // EDF+ structure, also accepted in plain EDF files whose writer followed it (edflib does).
    let structured = fields.len() >= 4
        && matches!(fields[1], "M" | "F" | "X")
        && (fields[2] == "X" || edf_plus_date_to_iso(fields[2]).is_some());
    if (is_plus && fields.len() >= 4) || structured {
        patient.id = known(fields[0]);
        patient.sex = known(fields[1]);
        patient.birth_date = known(fields[2]).map(|d| edf_plus_date_to_iso(&d).unwrap_or(d));
        patient.name = known(fields[3]);
    } else if !main.patient.is_empty() && main.patient != "X" {
        patient.id = Some(main.patient.clone());
    }
    let rec: Vec<&str> = main.recording.split_whitespace().collect();
    let device = if is_plus && rec.len() >= 5 && rec[0] == "Startdate" {
        known(rec[4])
    } else {
        None
    };
    (patient, device)
}

/// "02-MAY-1951" → "1951-05-02".
fn edf_plus_date_to_iso(date: &str) -> Option<String> {
    let mut parts = date.split('-');
    let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
    let day: u32 = d.parse().ok()?;
    let month = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(m))? + 1;
    let year: u32 = y.parse().ok()?;
    (parts.next().is_none() && (1..=31).contains(&day) && y.len() == 4)
        .then(|| format!("{year:04}-{month:02}-{day:02}"))
}

/// Start date "dd.mm.yy" and time "hh.mm.ss" → ISO 8601. Two-digit years 85–99 are 19xx and
/// 00–84 are 20xx; an EDF+ recording field's four-digit year takes precedence (and is the
/// only source after 2084, when the header says "yy").
fn parse_start(ctx: &Ctx<'_>, main: &MainHeader, is_plus: bool) -> Result<String, FormatError> {
    let triple = |text: &str, field: &str| -> Result<[u32; 3], FormatError> {
        let parts: Vec<&str> = text.split('.').collect();
        let bad = || {
            ctx.err(
                FormatErrorKind::Invalid,
                field,
                format!("'{text}' is not in the form nn.nn.nn"),
            )
        };
        if parts.len() != 3 {
            return Err(bad());
        }
        let mut out = [0u32; 3];
        for (slot, part) in out.iter_mut().zip(&parts) {
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            *slot = part.parse().map_err(|_| bad())?;
        }
        Ok(out)
    };
    let plus_year = if is_plus {
        main.recording
            .split_whitespace()
            .nth(1)
            .filter(|_| main.recording.starts_with("Startdate"))
            .and_then(edf_plus_date_to_iso)
            .and_then(|iso| iso[..4].parse::<u32>().ok())
    } else {
        None
    };
    let date_text = main.start_date.as_str();
    let (day, month, year) = if date_text.get(6..) == Some("yy") && plus_year.is_some() {
        let [d, m] = {
            let t = triple(&date_text.replace("yy", "00"), "start date")?;
            [t[0], t[1]]
        };
        (d, m, plus_year.unwrap_or(2085))
    } else {
        let [d, m, yy] = triple(date_text, "start date")?;
        let year = match plus_year {
            Some(y) if y % 100 == yy => y,
            _ if yy >= 85 => 1900 + yy,
            _ => 2000 + yy,
        };
        (d, m, year)
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            "start date",
            format!("'{date_text}' is not a calendar date (dd.mm.yy)"),
        ));
    }
    let [h, mi, s] = triple(&main.start_time, "start time")?;
    if h > 23 || mi > 59 || s > 60 {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            "start time",
            format!("'{}' is not a time of day (hh.mm.ss)", main.start_time),
        ));
    }
    Ok(format!(
        "{year:04}-{month:02}-{day:02}T{h:02}:{mi:02}:{s:02}"
    ))
}

#[cfg(test)]
mod tests;
