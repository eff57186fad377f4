//! ECG file formats: detection by content, one reader module per format, and writers for the
//! formats users move recordings between (CSV, WFDB format 16, EDF+).
//!
//! Every reader takes bytes (so it can be fuzzed) and returns the same [`SignalInput`]; every
//! failure is a [`FormatError`] naming the file, the field and the problem.
//!
//! # The pattern a reader follows
//! A reader is one module (a folder when it needs more than one file) with a
//! `pub fn read(bytes: &[u8], file_name: &str) -> Result<SignalInput, FormatError>` that a
//! reviewer can follow from top to bottom, on one thread:
//! 1. Check the size against the limits below before allocating anything the file declares
//!    ([`MAX_TOTAL_SAMPLES`], [`MAX_CHANNELS`]).
//! 2. Parse the container as it is: binary headers field by field with explicit bounds
//!    checks; text with `str`/`memchr` splitting and the standard library's number parsing;
//!    XML with `roxmltree` on the document as given.
//! 3. Convert to microvolts with the file's own gain, offset and units; a unit the reader
//!    cannot name is an error, never a guess kept silent (a guess is a processing note).
//! 4. Build the [`EcgRecord`] with its [`Provenance`](crate::record::Provenance) (format tag, file name, [`sha256_hex`] of
//!    the bytes), call `validate()` and `derive_limb_leads()`, and return the patient data
//!    apart in [`PatientInfo`].
//!
//! To add a format: add its tag to [`Format`] (in `crate::record`), its module here, one
//! content test in [`detect`] (magic bytes or a root element, never the file name alone) and
//! one arm in [`read_detected`]; add its fixtures and malformed variants under
//! `tests/fixtures/`, and a fuzz target under `fuzz/`.
//!
//! No `unsafe` anywhere in the readers: they parse untrusted files.
#![forbid(unsafe_code)]

pub mod aecg;
pub mod csv;
pub mod dicom;
pub mod edf;
pub mod image;
pub mod muse;
pub mod scp;
pub mod sierra;
pub mod wfdb;

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::record::{EcgRecord, PatientInfo};

pub use self::image::EcgImage;
pub use crate::record::Format;

/// Files larger than this are refused before they are read into memory.
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;
/// Total samples (all channels together) a reader may allocate for one record: 50 M samples is
/// 400 MB of f64, e.g. 12 leads × 1 kHz × 70 minutes.
pub const MAX_TOTAL_SAMPLES: usize = 50_000_000;
/// Channels a reader accepts in one record.
pub const MAX_CHANNELS: usize = 256;

/// What went wrong, for callers and tests that need to tell problems apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatErrorKind {
    /// The file could not be read from disk.
    Io,
    /// The bytes are not any format we know.
    Unrecognised,
    /// The file ends before the data it declares.
    Truncated,
    /// A field holds a value that is malformed or out of range.
    Invalid,
    /// Fields contradict each other (e.g. a checksum, or lengths that do not add up).
    Inconsistent,
    /// The file or a declared size exceeds the reader's limits.
    TooLarge,
    /// A physical value or a parameter is NaN or infinite.
    NonFinite,
    /// A valid file using a feature this reader does not implement.
    Unsupported,
}

impl FormatErrorKind {
    fn describe(self) -> &'static str {
        match self {
            Self::Io => "cannot read",
            Self::Unrecognised => "unrecognised format",
            Self::Truncated => "truncated",
            Self::Invalid => "invalid",
            Self::Inconsistent => "inconsistent",
            Self::TooLarge => "too large",
            Self::NonFinite => "non-finite value",
            Self::Unsupported => "unsupported",
        }
    }
}

/// A problem with an input file: names the file, the field and the problem.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{file}: {} in {field}: {problem}", kind.describe())]
pub struct FormatError {
    pub file: String,
    pub kind: FormatErrorKind,
    pub field: String,
    pub problem: String,
}

impl FormatError {
    pub fn new(
        file: impl Into<String>,
        kind: FormatErrorKind,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            kind,
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// A signal file's content: the record, and the patient data kept apart from it.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalInput {
    pub record: EcgRecord,
    pub patient: PatientInfo,
}

/// Whatever the user opened: a signal recording or an image of an ECG page.
#[derive(Clone, Debug, PartialEq)]
pub enum EcgInput {
    Signal(Box<SignalInput>),
    Image(EcgImage),
}

impl EcgInput {
    pub fn format(&self) -> Format {
        match self {
            Self::Signal(s) => s.record.provenance.format,
            Self::Image(i) => i.provenance.format,
        }
    }

    pub fn sha256(&self) -> &str {
        match self {
            Self::Signal(s) => &s.record.provenance.sha256,
            Self::Image(i) => &i.provenance.sha256,
        }
    }
}

/// Options the content alone cannot tell.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    pub csv: csv::CsvOptions,
}

/// Lowercase hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Recognises a format from the bytes (and, only to break ties between text formats, the
/// file name). Returns `None` when nothing matches. Binary formats are told by their magic
/// bytes first, then XML by its root element, then the text formats.
pub fn detect(bytes: &[u8], file_name: &str) -> Option<Format> {
    if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        return Some(Format::Dicom);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(Format::Png);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(Format::Jpeg);
    }
    if bytes.len() >= 256 && bytes.starts_with(b"0       ") {
        return Some(if bytes[192..].starts_with(b"EDF+") {
            Format::EdfPlus
        } else {
            Format::Edf
        });
    }
    if scp::looks_like_scp(bytes) {
        return Some(Format::Scp);
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    let trimmed = head.trim_start_matches('\u{feff}').trim_start();
    if muse::looks_like_muse(&head) {
        return Some(Format::Muse);
    }
    if sierra::looks_like_sierra(&head) {
        return Some(Format::Sierra);
    }
    if trimmed.starts_with('<') && head.contains("AnnotatedECG") {
        return Some(Format::Aecg);
    }
    let is_hea = Path::new(file_name)
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("hea"));
    if is_hea || wfdb::looks_like_header(&head) {
        return Some(Format::Wfdb);
    }
    if csv::looks_like_csv(&head) {
        return Some(Format::Csv);
    }
    None
}

fn display_name(path: &Path) -> String {
    path.display().to_string()
}

/// Reads a whole file, refusing ones larger than [`MAX_FILE_BYTES`] before allocating.
pub fn read_file_bytes(path: &Path) -> Result<Vec<u8>, FormatError> {
    let name = display_name(path);
    let meta = std::fs::metadata(path)
        .map_err(|e| FormatError::new(&name, FormatErrorKind::Io, "file", e.to_string()))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(FormatError::new(
            &name,
            FormatErrorKind::TooLarge,
            "file",
            format!(
                "{} bytes exceeds the limit of {MAX_FILE_BYTES} bytes",
                meta.len()
            ),
        ));
    }
    std::fs::read(path)
        .map_err(|e| FormatError::new(&name, FormatErrorKind::Io, "file", e.to_string()))
}

/// Opens any supported file. A WFDB record may be named by its `.hea`, its `.dat` or its
/// record path without extension.
pub fn load_path(path: &Path, options: &LoadOptions) -> Result<EcgInput, FormatError> {
    let name = display_name(path);
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    // A WFDB record named by its data file or by its bare record name.
    let header_path = match ext.as_deref() {
        Some("dat") => Some(path.with_extension("hea")),
        None if !path.exists() && path.with_extension("hea").exists() => {
            Some(path.with_extension("hea"))
        }
        _ => None,
    };
    if let Some(hea) = header_path {
        let bytes = read_file_bytes(&hea)?;
        return wfdb::read_from_dir(&bytes, &hea).map(|s| EcgInput::Signal(Box::new(s)));
    }
    let bytes = read_file_bytes(path)?;
    let format = detect(&bytes, &name).ok_or_else(|| unrecognised(&name))?;
    if format == Format::Wfdb {
        return wfdb::read_from_dir(&bytes, path).map(|s| EcgInput::Signal(Box::new(s)));
    }
    let file_name = path
        .file_name()
        .map_or_else(|| name.clone(), |f| f.to_string_lossy().into_owned());
    read_detected(format, &bytes, &file_name, options)
}

/// Reads bytes already in memory (all formats except WFDB, whose data lives in a second file).
pub fn load_bytes(
    bytes: &[u8],
    file_name: &str,
    options: &LoadOptions,
) -> Result<EcgInput, FormatError> {
    let format = detect(bytes, file_name).ok_or_else(|| unrecognised(file_name))?;
    read_detected(format, bytes, file_name, options)
}

fn unrecognised(file_name: &str) -> FormatError {
    FormatError::new(
        file_name,
        FormatErrorKind::Unrecognised,
        "content",
        "not WFDB, EDF/EDF+, DICOM, HL7 aECG, GE MUSE XML, Philips Sierra XML, SCP-ECG, CSV, PNG or JPEG",
    )
}

/// Hands bytes of a detected format to its reader: the one place a new format is wired in.
fn read_detected(
    format: Format,
    bytes: &[u8],
    file_name: &str,
    options: &LoadOptions,
) -> Result<EcgInput, FormatError> {
    let signal = match format {
        Format::Wfdb => {
            return Err(FormatError::new(
                file_name,
                FormatErrorKind::Unsupported,
                "content",
                "a WFDB header needs its data file: open it from disk",
            ));
        }
        Format::Edf | Format::EdfPlus => edf::read(bytes, file_name)?,
        Format::Dicom => dicom::read(bytes, file_name)?,
        Format::Aecg => aecg::read(bytes, file_name)?,
        Format::Muse => muse::read(bytes, file_name)?,
        Format::Sierra => sierra::read(bytes, file_name)?,
        Format::Scp => scp::read(bytes, file_name)?,
        Format::Csv => csv::read(bytes, file_name, &options.csv)?,
        Format::Png | Format::Jpeg => return image::read(bytes, file_name).map(EcgInput::Image),
    };
    Ok(EcgInput::Signal(Box::new(signal)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_binary_formats_by_magic() {
        let mut dicom = vec![0u8; 132];
        dicom[128..132].copy_from_slice(b"DICM");
        assert_eq!(detect(&dicom, "x.bin"), Some(Format::Dicom));
        assert_eq!(detect(b"\x89PNG\r\n\x1a\nrest", "x"), Some(Format::Png));
        assert_eq!(detect(&[0xFF, 0xD8, 0xFF, 0xE0], "x"), Some(Format::Jpeg));
        let mut edf = b"0       ".to_vec();
        edf.resize(256, b' ');
        assert_eq!(detect(&edf, "x"), Some(Format::Edf));
        edf[192..197].copy_from_slice(b"EDF+C");
        assert_eq!(detect(&edf, "x"), Some(Format::EdfPlus));
    }

    #[test]
    fn unknown_bytes_are_a_clear_error() {
        let err = load_bytes(
            b"\x00\x01\x02garbage",
            "mystery.bin",
            &LoadOptions::default(),
        )
        .err();
        let err = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(err.starts_with("mystery.bin: unrecognised format"), "{err}");
    }
}
