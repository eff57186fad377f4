//! WFDB records (PhysioNet): a text header (`.hea`) and one or more binary data files.
//!
//! Reading follows the WFDB header(5) and signal(5) specifications: formats 8, 16, 24, 32, 61,
//! 80, 160, 212, 310 and 311; several signals per data file (interleaved frames) and signals
//! spread over several files; samples-per-frame, skew and byte offsets; ADC gain (200 when
//! missing or zero, as WFDB_DEFGAIN), baseline (ADC zero when missing), units (mV when
//! missing). Stored values equal to the format's invalid-sample value become NaN. Checksums are
//! verified; a mismatch is reported in `processing_notes`, not refused, because the samples are
//! still what the file holds and a wrong checksum is usually a tool's bookkeeping error.
//!
//! The record's SHA-256 is taken over the header bytes followed by each data file's bytes, each
//! file once, in the order the signals first name them.
//!
//! Multi-segment records are refused (`Unsupported`); open one segment's header instead.

mod decode;
mod header;
mod write;

use std::path::{Path, PathBuf};

use self::header::{Header, SampleFormat, SignalLine, microvolts_per_unit};
pub use self::write::write;
use sha2::{Digest, Sha256};

use super::{FormatError, FormatErrorKind, MAX_TOTAL_SAMPLES, SignalInput, read_file_bytes};
use crate::formats::Format;
use crate::record::{
    Annotation, Calibration, EcgRecord, LeadId, LeadSignal, PatientInfo, Provenance,
};

/// Does this text look like a WFDB header (a record line: name, signal count, rate, followed
/// by signal lines whose second field is a storage format)?
pub fn looks_like_header(head: &str) -> bool {
    let mut lines = head
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let Some(record) = lines.next() else {
        return false;
    };
    let toks: Vec<&str> = record.split_whitespace().collect();
    let name_ok = toks.first().is_some_and(|n| {
        let base = n.split_once('/').map_or(*n, |(b, _)| b);
        !base.is_empty()
            && base
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    });
    let Some(nsig) = toks.get(1).and_then(|t| t.parse::<usize>().ok()) else {
        return false;
    };
    let rate_ok = toks
        .get(2)
        .is_none_or(|t| t.starts_with(|c: char| c.is_ascii_digit()));
    if !(name_ok && rate_ok && toks.len() <= 6) {
        return false;
    }
    if nsig == 0 {
        return true;
    }
    lines.next().is_some_and(|signal| {
        let mut t = signal.split_whitespace();
        let _file = t.next();
        t.next().is_some_and(|f| {
            let code: String = f.chars().take_while(char::is_ascii_digit).collect();
            code.parse::<u32>()
                .ok()
                .and_then(SampleFormat::from_code)
                .is_some()
        })
    })
}

/// Reads a record from its header bytes; data files are looked up beside `header_path`.
pub fn read_from_dir(header: &[u8], header_path: &Path) -> Result<SignalInput, FormatError> {
    let dir = header_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let header_name = header_path.display().to_string();
    let mut load = |name: &str| -> Result<Vec<u8>, FormatError> {
        let path: PathBuf = dir.join(name);
        read_file_bytes(&path)
    };
    read(header, &header_name, &mut load)
}

/// Data file names must stay beside the header: no absolute paths, no `..`.
fn check_data_file_name(name: &str, header_name: &str, n: usize) -> Result<(), FormatError> {
    let field = format!("signal {n} file name");
    if name == "-" || name == "~" {
        return Err(FormatError::new(
            header_name,
            FormatErrorKind::Unsupported,
            field,
            format!("'{name}' (standard input or a null signal) is not supported"),
        ));
    }
    let path = Path::new(name);
    let escapes = path.is_absolute()
        || name.starts_with('/')
        || name.starts_with('\\')
        || name.contains(':')
        || path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir));
    if escapes || name.split(['/', '\\']).any(|p| p == "..") {
        return Err(FormatError::new(
            header_name,
            FormatErrorKind::Invalid,
            field,
            format!("'{name}' points outside the record's directory"),
        ));
    }
    Ok(())
}

/// A run of consecutive signals stored in one data file.
struct Group {
    file_name: String,
    /// Indices into the header's signals.
    signals: Vec<usize>,
    format: SampleFormat,
    byte_offset: u64,
}

fn groups(h: &Header, header_name: &str) -> Result<Vec<Group>, FormatError> {
    let mut out: Vec<Group> = Vec::new();
    for (i, s) in h.signals.iter().enumerate() {
        let n = i + 1;
        if let Some(g) = out.last_mut()
            && g.file_name == s.file_name
        {
            if s.format != g.format {
                return Err(FormatError::new(
                    header_name,
                    FormatErrorKind::Inconsistent,
                    format!("signal {n} format"),
                    format!(
                        "format {} differs from format {} of the other signals in {}",
                        s.format.code(),
                        g.format.code(),
                        s.file_name
                    ),
                ));
            }
            g.signals.push(i);
            continue;
        }
        if out.iter().any(|g| g.file_name == s.file_name) {
            return Err(FormatError::new(
                header_name,
                FormatErrorKind::Inconsistent,
                format!("signal {n} file name"),
                format!(
                    "signals stored in {} are not listed consecutively",
                    s.file_name
                ),
            ));
        }
        check_data_file_name(&s.file_name, header_name, n)?;
        out.push(Group {
            file_name: s.file_name.clone(),
            signals: vec![i],
            format: s.format,
            byte_offset: s.byte_offset,
        });
    }
    Ok(out)
}

/// The display name of a data file: beside the header's own path.
fn data_display_name(header_name: &str, file: &str) -> String {
    let p = Path::new(header_name);
    match p.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(file).display().to_string(),
        _ => file.to_string(),
    }
}

/// Per-signal stored values (before calibration), `frames * spf` of them.
struct Decoded {
    values: Vec<Vec<i32>>,
    frames: usize,
}

/// Reads a record whose data files are supplied by `load_data` (given each data file's name
/// as the header writes it). `header_name` names the header in errors.
pub fn read(
    header: &[u8],
    header_name: &str,
    load_data: &mut dyn FnMut(&str) -> Result<Vec<u8>, FormatError>,
) -> Result<SignalInput, FormatError> {
    let text = String::from_utf8_lossy(header);
    let h = header::parse(&text, header_name)?;
    if h.signals.is_empty() {
        return Err(FormatError::new(
            header_name,
            FormatErrorKind::Invalid,
            "signal count",
            "the record has no signals",
        ));
    }
    // Units are checked before any data is read, so a wrong header fails fast.
    let mut scale_uv = Vec::with_capacity(h.signals.len());
    for (i, s) in h.signals.iter().enumerate() {
        let Some(scale) = microvolts_per_unit(&s.units) else {
            return Err(FormatError::new(
                header_name,
                FormatErrorKind::Unsupported,
                format!("signal {} units", i + 1),
                format!("'{}' is not a voltage unit (expected mV, uV or V)", s.units),
            ));
        };
        scale_uv.push(scale);
    }
    let total_spf: usize = h.signals.iter().map(|s| s.samples_per_frame).sum();
    let max_skew = h.signals.iter().map(|s| s.skew).max().unwrap_or(0);
    let limit_frames = MAX_TOTAL_SAMPLES / total_spf.max(1);
    if let Some(nsamp) = h.record.nsamp
        && nsamp > limit_frames
    {
        return Err(FormatError::new(
            header_name,
            FormatErrorKind::TooLarge,
            "number of samples",
            format!(
                "{nsamp} frames × {total_spf} samples per frame exceeds the limit of {MAX_TOTAL_SAMPLES} samples"
            ),
        ));
    }

    let groups = groups(&h, header_name)?;
    let mut hasher = Sha256::new();
    hasher.update(header);
    let mut byte_len = header.len() as u64;
    let mut decoded: Vec<Option<Vec<i32>>> = vec![None; h.signals.len()];
    let mut frames_per_group = Vec::with_capacity(groups.len());
    for g in &groups {
        let first = g.signals[0] + 1;
        let display = data_display_name(header_name, &g.file_name);
        let bytes = load_data(&g.file_name).map_err(|e| {
            FormatError::new(
                &display,
                e.kind,
                format!("data file {} of signal {first}", g.file_name),
                format!("{} (named by record header {header_name})", e.problem),
            )
        })?;
        hasher.update(&bytes);
        byte_len += bytes.len() as u64;
        let offset = usize::try_from(g.byte_offset).unwrap_or(usize::MAX);
        let Some(payload) = bytes.get(offset..) else {
            return Err(FormatError::new(
                &display,
                FormatErrorKind::Truncated,
                format!("signal {first} byte offset"),
                format!(
                    "byte offset {} is beyond the end of the file ({} bytes; record header {header_name})",
                    g.byte_offset,
                    bytes.len()
                ),
            ));
        };
        let frame_len: usize = g
            .signals
            .iter()
            .map(|&i| h.signals[i].samples_per_frame)
            .sum();
        let available_values = decode::values_in(g.format, payload.len());
        let available_frames = available_values / frame_len;
        let frames = match h.record.nsamp {
            Some(nsamp) => {
                if available_frames < nsamp {
                    return Err(FormatError::new(
                        &display,
                        FormatErrorKind::Truncated,
                        format!("data file {}", g.file_name),
                        format!(
                            "the header declares {nsamp} samples per signal but the file holds only {available_frames} (record header {header_name})"
                        ),
                    ));
                }
                // Skewed signals read past the declared length when the file has the frames.
                available_frames.min(nsamp.saturating_add(max_skew))
            }
            None => available_frames.min(limit_frames.saturating_add(max_skew)),
        };
        if h.record.nsamp.is_none() && available_frames > limit_frames.saturating_add(max_skew) {
            return Err(FormatError::new(
                &display,
                FormatErrorKind::TooLarge,
                format!("data file {}", g.file_name),
                format!(
                    "{available_frames} frames × {total_spf} samples per frame exceeds the limit of {MAX_TOTAL_SAMPLES} samples"
                ),
            ));
        }
        // One value per signal per frame (the usual case) in a byte-aligned format: each
        // signal straight from the bytes.
        let direct: Option<Vec<Vec<i32>>> = if frame_len == g.signals.len() {
            (0..frame_len)
                .map(|k| decode::decode_strided(g.format, payload, k, frame_len, frames))
                .collect()
        } else {
            None
        };
        // Otherwise decode the interleaved stream and de-interleave it.
        let mut per_signal: Vec<Vec<i32>> = if let Some(direct) = direct {
            direct
        } else if frame_len == g.signals.len() {
            let stream = decode::decode(g.format, payload, frames * frame_len);
            (0..frame_len)
                .map(|k| stream[k..].iter().step_by(frame_len).copied().collect())
                .collect()
        } else {
            let stream = decode::decode(g.format, payload, frames * frame_len);
            let mut per_signal: Vec<Vec<i32>> = g
                .signals
                .iter()
                .map(|&i| Vec::with_capacity(frames * h.signals[i].samples_per_frame))
                .collect();
            for frame in stream.chunks_exact(frame_len) {
                let mut at = 0;
                for (k, &i) in g.signals.iter().enumerate() {
                    let spf = h.signals[i].samples_per_frame;
                    per_signal[k].extend_from_slice(&frame[at..at + spf]);
                    at += spf;
                }
            }
            per_signal
        };
        if g.format == SampleFormat::Diff8 {
            for (k, &i) in g.signals.iter().enumerate() {
                let mut acc = h.signals[i].initial_value;
                for v in &mut per_signal[k] {
                    acc += i64::from(*v);
                    // Wrap like the WFDB library's int arithmetic would for absurd files.
                    *v = acc as i32;
                    acc = i64::from(*v);
                }
            }
        }
        for (k, &i) in g.signals.iter().enumerate() {
            decoded[i] = Some(std::mem::take(&mut per_signal[k]));
        }
        frames_per_group.push(frames);
    }
    let available = frames_per_group.iter().copied().min().unwrap_or(0);
    let frames = h
        .record
        .nsamp
        .unwrap_or_else(|| available.saturating_sub(max_skew));
    let decoded = Decoded {
        values: decoded.into_iter().map(Option::unwrap_or_default).collect(),
        frames,
    };
    let sha256 = hex::encode(hasher.finalize());
    build_record(&h, header_name, &decoded, &scale_uv, sha256, byte_len)
}

fn build_record(
    h: &Header,
    header_name: &str,
    decoded: &Decoded,
    scale_uv: &[f64],
    sha256: String,
    byte_len: u64,
) -> Result<SignalInput, FormatError> {
    let mut notes = Vec::new();
    let spfs: Vec<usize> = h.signals.iter().map(|s| s.samples_per_frame).collect();
    let uniform_spf = spfs.iter().all(|&s| s == spfs[0]);
    let out_spf = if uniform_spf { spfs[0] } else { 1 };
    if !uniform_spf {
        notes.push(
            "signals have different samples per frame: each frame's samples were averaged to the frame rate"
                .to_string(),
        );
    }
    let frames = decoded.frames;
    let mut leads = Vec::with_capacity(h.signals.len());
    let mut seen = std::collections::HashSet::new();
    for (i, s) in h.signals.iter().enumerate() {
        let n = i + 1;
        let values = &decoded.values[i];
        verify_checksum(s, values, frames, n, &mut notes);
        // The sentinel compared as an f64 (exact: every i32 is one, and distinct i32 are
        // distinct f64; NaN, equal to nothing, when the format has none), so the conversion
        // below is a branch-free select the compiler can vectorise with SSE2.
        let sentinel = s.format.invalid_sentinel().map_or(f64::NAN, f64::from);
        let (baseline, scale, gain) = (s.baseline as f64, scale_uv[i], s.gain);
        let physical = |v: i32| -> f64 {
            let stored = f64::from(v);
            let value = (stored - baseline) * scale / gain;
            if stored == sentinel { f64::NAN } else { value }
        };
        let spf = s.samples_per_frame;
        let mut samples = Vec::with_capacity(frames * out_spf);
        let whole_run = s
            .skew
            .checked_add(frames)
            .and_then(|end| values.get(s.skew.checked_mul(spf)?..end.checked_mul(spf)?))
            .filter(|_| uniform_spf);
        if let Some(run) = whole_run {
            // Every frame present and nothing to average: one pass over the run.
            samples.extend(run.iter().map(|&v| physical(v)));
        } else {
            for t in 0..frames {
                let frame = t + s.skew;
                let chunk = values.get(frame * spf..(frame + 1) * spf);
                match chunk {
                    None => samples.extend(std::iter::repeat_n(f64::NAN, out_spf)),
                    Some(chunk) if uniform_spf => {
                        samples.extend(chunk.iter().map(|&v| physical(v)));
                    }
                    Some(chunk) => {
                        let valid: Vec<f64> = chunk
                            .iter()
                            .map(|&v| physical(v))
                            .filter(|v| !v.is_nan())
                            .collect();
                        samples.push(if valid.is_empty() {
                            f64::NAN
                        } else {
                            valid.iter().sum::<f64>() / valid.len() as f64
                        });
                    }
                }
            }
        }
        if s.skew > 0 && values.len() < (frames + s.skew) * spf {
            notes.push(format!(
                "signal {n}: skew of {} frames runs past the end of the data; the missing samples are NaN",
                s.skew
            ));
        }
        if s.gain_defaulted {
            notes.push(format!(
                "signal {n}: the header gives no ADC gain; the WFDB default of 200 units per {} was used (uncalibrated)",
                s.units
            ));
        }
        let label = s
            .description
            .clone()
            .unwrap_or_else(|| format!("signal {n}"));
        let mut lead = LeadId::from_label(&label);
        if let LeadId::Standard(std_lead) = lead
            && !seen.insert(std_lead)
        {
            notes.push(format!(
                "signal {n} is a second '{label}'; kept as a separate channel, not as lead {std_lead}"
            ));
            lead = LeadId::Other(format!("{label} (signal {n})"));
        }
        let mut signal = LeadSignal::new(lead, label, samples);
        signal.calibration = Some(Calibration {
            gain: s.gain,
            baseline: s.baseline as f64,
            units: s.units.clone(),
        });
        leads.push(signal);
    }

    let mut annotations = Vec::new();
    let mut patient = PatientInfo::default();
    for c in &h.comments {
        // PhysioNet records often carry "<age>: 63 <sex>: M" (PTB, PTB-XL, MIMIC); the sex
        // belongs to the patient data, not to the record's annotations.
        let mut text = c.clone();
        if let Some(at) = c.find("<sex>:") {
            let rest = &c[at + "<sex>:".len()..];
            let value_end = rest.find('<').unwrap_or(rest.len());
            let sex = rest[..value_end].trim();
            if !sex.is_empty() {
                patient.sex = Some(sex.to_string());
            }
            text = format!("{}{}", &c[..at], &rest[value_end..])
                .trim()
                .to_string();
        }
        if text.is_empty() {
            continue;
        }
        annotations.push(Annotation::statement(text));
    }
    if let Some(counter) = h.record.counter_frequency {
        notes.push(format!(
            "counter frequency {counter} (base counter value {})",
            h.record.base_counter.unwrap_or(0.0)
        ));
    }
    let mut record = EcgRecord {
        sample_rate_hz: h.record.frequency_hz * out_spf as f64,
        leads,
        acquisition_time: acquisition_time(
            h.record.base_time.as_deref(),
            h.record.base_date.as_deref(),
        ),
        device: None,
        provenance: Provenance {
            format: Format::Wfdb,
            file_name: Path::new(header_name).file_name().map_or_else(
                || header_name.to_string(),
                |f| f.to_string_lossy().into_owned(),
            ),
            sha256,
            byte_len,
        },
        annotations,
        representative_beats: None,
        processing_notes: notes,
    };
    if out_spf > 1 {
        record.processing_notes.push(format!(
            "{out_spf} samples per frame: sample rate is {} Hz × {out_spf}",
            h.record.frequency_hz
        ));
    }
    record.derive_limb_leads();
    record.validate().map_err(|e| {
        FormatError::new(
            header_name,
            FormatErrorKind::Inconsistent,
            "signals",
            e.to_string(),
        )
    })?;
    Ok(SignalInput { record, patient })
}

/// WFDB checksum: the 16-bit sum of all stored values of the signal. Only meaningful when the
/// header declares the length, since it covers exactly that many samples.
fn verify_checksum(
    s: &SignalLine,
    values: &[i32],
    frames: usize,
    n: usize,
    notes: &mut Vec<String>,
) {
    let Some(expected) = s.checksum else { return };
    let count = frames * s.samples_per_frame;
    let Some(values) = values.get(..count) else {
        return;
    };
    let sum = values
        .iter()
        .fold(0i64, |acc, &v| acc.wrapping_add(i64::from(v)));
    let actual = sum.rem_euclid(65536);
    if actual != expected.rem_euclid(65536) {
        notes.push(format!(
            "signal {n} ({}): checksum mismatch: header says {expected}, data sums to {} (mod 65536)",
            s.description.as_deref().unwrap_or("no description"),
            actual as i16
        ));
    }
}

/// "HH:MM:SS[.sss]" and "DD/MM/YYYY" as ISO 8601 when they parse; otherwise as written.
fn acquisition_time(time: Option<&str>, date: Option<&str>) -> Option<String> {
    let iso_date = date.and_then(|d| {
        let parts: Vec<&str> = d.split('/').collect();
        let [dd, mm, yyyy] = parts.as_slice() else {
            return None;
        };
        let (dd, mm, yyyy) = (
            dd.parse::<u32>().ok()?,
            mm.parse::<u32>().ok()?,
            yyyy.parse::<u32>().ok()?,
        );
        ((1..=31).contains(&dd) && (1..=12).contains(&mm))
            .then(|| format!("{yyyy:04}-{mm:02}-{dd:02}"))
    });
    let iso_time = time.and_then(|t| {
        let parts: Vec<&str> = t.split(':').collect();
        let (h, m, s) = match parts.as_slice() {
            [h, m, s] => (*h, *m, *s),
            [m, s] => ("0", *m, *s),
            [s] => ("0", "0", *s),
            _ => return None,
        };
        let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
        let (sec, frac) = s.split_once('.').map_or((s, None), |(a, b)| (a, Some(b)));
        let sec = sec.parse::<u32>().ok()?;
        if h > 23
            || m > 59
            || sec > 60
            || frac.is_some_and(|f| !f.chars().all(|c| c.is_ascii_digit()))
        {
            return None;
        }
        Some(match frac {
            Some(f) if !f.is_empty() => format!("{h:02}:{m:02}:{sec:02}.{f}"),
            _ => format!("{h:02}:{m:02}:{sec:02}"),
        })
    });
    match (iso_date, iso_time, time, date) {
        (Some(d), Some(t), _, _) => Some(format!("{d}T{t}")),
        (None, Some(t), _, None) => Some(t),
        (_, _, None, None) => None,
        (_, _, t, d) => Some(
            [t.unwrap_or_default(), d.unwrap_or_default()]
                .join(" ")
                .trim()
                .to_string(),
        ),
    }
}

#[cfg(test)]
mod tests;
