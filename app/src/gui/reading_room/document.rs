//! The ECG being read: where it came from, its input as read, its original bytes (what the
//! store keeps), and its measurements. Everything here is built on a worker thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ecgr1_engine::digitise::{DigitiseOptions, Digitised};
use ecgr1_engine::features::{BeatKind, Measurements, measure};
use ecgr1_engine::formats::{EcgImage, EcgInput, LoadOptions, SignalInput, load_bytes, load_path};
use ecgr1_engine::{EcgRecord, PatientInfo};
use ecgr1_ui::{BeatMark, Fiducial, FiducialKind};

use super::super::demo_record;
use crate::cli::analyze::original_bytes;
use crate::cli::input::digitise_for_measuring;

/// Bundled samples tried at start-up, in order of preference.
pub const SAMPLE_FILES: [&str; 4] = [
    "waveform_ecg.dcm",
    "synthetic_sinus.hea",
    "synthetic_sinus.edf",
    "synthetic_sinus.csv",
];

/// The `assets/samples` folder: next to the working directory (running from the repository
/// root) or next to the source tree the binary was built from.
pub fn samples_dir() -> Option<PathBuf> {
    let candidates = [
        PathBuf::from("assets/samples"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/samples"),
    ];
    candidates.into_iter().find(|p| p.is_dir())
}

/// Largest texture side used to show an image input (bigger images are subsampled).
const MAX_TEXTURE_SIDE: u32 = 4096;

/// Where the shown ECG came from.
#[derive(Clone, Debug, PartialEq)]
pub enum Origin {
    File(PathBuf),
    /// A bundled sample file (stored as a case when an engine is first run on it).
    Sample(PathBuf),
    /// The in-memory synthetic signal, with the reasons no sample file was read.
    Synthetic(String),
    /// A stored case, re-read from its stored original bytes.
    Case(i64),
}

/// An image input's pixels, subsampled for display.
pub struct ImagePixels {
    pub size: [usize; 2],
    pub pixels: Vec<u8>,
}

/// An image's digitisation as the reading room holds it: what the digitiser was told (the
/// reader's corrections) and what it read, or why it could not read the page.
pub struct DigitisedPage {
    pub options: DigitiseOptions,
    pub outcome: Result<Arc<Digitised>, String>,
}

impl DigitisedPage {
    pub fn digitised(&self) -> Option<&Digitised> {
        self.outcome.as_deref().ok()
    }
}

/// Digitises a page with `options` and measures what it read (on a worker thread).
pub fn digitise_page(
    image: &EcgImage,
    options: DigitiseOptions,
) -> (DigitisedPage, Result<Arc<Measurements>, String>) {
    let outcome = digitise_for_measuring(image, &options)
        .map(Arc::new)
        .map_err(|e| format!("{e:#}"));
    let measurements = match &outcome {
        Ok(d) => measure(&d.record)
            .map(Arc::new)
            .map_err(|e| format!("the digitised signal cannot be measured: {e}")),
        Err(why) => Err(why.clone()),
    };
    (DigitisedPage { options, outcome }, measurements)
}

/// An opened ECG.
pub struct Document {
    pub origin: Origin,
    pub input: Arc<EcgInput>,
    /// The original bytes as the store keeps them; `None` for the synthetic signal.
    pub bytes: Option<Arc<Vec<u8>>>,
    /// The measurements, or why there are none (an image, a record too short, ...).
    pub measurements: Result<Arc<Measurements>, String>,
    pub image: Option<ImagePixels>,
    /// For an image: the signal digitised from it, which the measurements read.
    pub digitised: Option<DigitisedPage>,
}

impl Document {
    pub fn record(&self) -> Option<&EcgRecord> {
        match &*self.input {
            EcgInput::Signal(s) => Some(&s.record),
            EcgInput::Image(_) => None,
        }
    }

    /// The signal the measurements read: the file's record, or the one digitised from the
    /// image.
    pub fn measured_record(&self) -> Option<&EcgRecord> {
        self.record().or_else(|| {
            self.digitised
                .as_ref()
                .and_then(DigitisedPage::digitised)
                .map(|d| &d.record)
        })
    }

    /// The digitiser's output, for an image it could read.
    pub fn digitisation(&self) -> Option<&Arc<Digitised>> {
        self.digitised
            .as_ref()
            .and_then(|p| p.outcome.as_ref().ok())
    }

    pub fn patient(&self) -> Option<&PatientInfo> {
        match &*self.input {
            EcgInput::Signal(s) => Some(&s.patient),
            EcgInput::Image(_) => None,
        }
    }

    pub fn file_name(&self) -> &str {
        match &*self.input {
            EcgInput::Signal(s) => &s.record.provenance.file_name,
            EcgInput::Image(i) => &i.provenance.file_name,
        }
    }

    pub fn case_id(&self) -> Option<i64> {
        match self.origin {
            Origin::Case(id) => Some(id),
            _ => None,
        }
    }

    /// Beat markers for the paper view.
    /// Per-beat delineation (P onset, QRS onset and offset, T offset) of the dominant beats,
    /// in seconds.
    pub fn fiducials(&self) -> Vec<Fiducial> {
        let (Ok(m), Some(record)) = (&self.measurements, self.measured_record()) else {
            return Vec::new();
        };
        let fs = record.sample_rate_hz;
        m.beats
            .iter()
            .flat_map(|b| {
                [
                    (b.p_onset, FiducialKind::POnset),
                    (b.qrs_onset, FiducialKind::QrsOnset),
                    (b.qrs_offset, FiducialKind::QrsOffset),
                    (b.t_offset, FiducialKind::TOffset),
                ]
            })
            .filter_map(|(at, kind)| {
                at.map(|i| Fiducial {
                    time_s: i as f64 / fs,
                    kind,
                })
            })
            .collect()
    }

    pub fn beat_marks(&self) -> Vec<BeatMark> {
        self.measurements.as_ref().map_or_else(
            |_| Vec::new(),
            |m| {
                m.beats
                    .iter()
                    .map(|b| BeatMark {
                        time_s: b.time_s,
                        dominant: b.kind == BeatKind::Dominant,
                    })
                    .collect()
            },
        )
    }

    /// Builds a document from a read input: measures a signal; decodes an image for display,
    /// digitises it and measures what it read.
    pub fn build(origin: Origin, input: EcgInput, bytes: Option<Vec<u8>>) -> Result<Self, String> {
        let (measurements, image, digitised) = match &input {
            EcgInput::Signal(s) => (
                measure(&s.record)
                    .map(Arc::new)
                    .map_err(|e| format!("cannot be measured: {e}")),
                None,
                None,
            ),
            EcgInput::Image(image) => {
                let rgb = image.decode_rgb().map_err(|e| e.to_string())?;
                let (w, h) = rgb.dimensions();
                let step = w.max(h).div_ceil(MAX_TEXTURE_SIDE).max(1);
                let (tw, th) = (w.div_ceil(step), h.div_ceil(step));
                let mut pixels = Vec::with_capacity((tw * th * 3) as usize);
                for y in (0..h).step_by(step as usize) {
                    for x in (0..w).step_by(step as usize) {
                        pixels.extend_from_slice(&rgb.get_pixel(x, y).0);
                    }
                }
                let (page, measurements) = digitise_page(image, DigitiseOptions::default());
                (
                    measurements,
                    Some(ImagePixels {
                        size: [tw as usize, th as usize],
                        pixels,
                    }),
                    Some(page),
                )
            }
        };
        Ok(Self {
            origin,
            input: Arc::new(input),
            bytes: bytes.map(Arc::new),
            measurements,
            image,
            digitised,
        })
    }
}

/// Reads a file from disk with its original bytes.
pub fn open_file(path: &Path, origin: Origin, options: &LoadOptions) -> Result<Document, String> {
    let input = load_path(path, options).map_err(|e| e.to_string())?;
    let bytes = original_bytes(path, &input).map_err(|e| format!("{e:#}"))?;
    Document::build(origin, input, Some(bytes))
}

/// The first readable bundled sample, or the synthetic signal with the reasons none was read.
pub fn open_sample() -> Result<Document, String> {
    let mut reasons = Vec::new();
    match samples_dir() {
        None => reasons.push("assets/samples was not found".to_string()),
        Some(dir) => {
            for name in SAMPLE_FILES {
                let path = dir.join(name);
                if !path.exists() {
                    reasons.push(format!("{name}: not present"));
                    continue;
                }
                match open_file(&path, Origin::Sample(path.clone()), &LoadOptions::default()) {
                    Ok(doc) => return Ok(doc),
                    Err(e) => reasons.push(e),
                }
            }
        }
    }
    let input = EcgInput::Signal(Box::new(SignalInput {
        record: demo_record(),
        patient: PatientInfo::default(),
    }));
    Document::build(Origin::Synthetic(reasons.join("; ")), input, None)
}

/// Re-reads a stored case's original bytes.
pub fn open_stored(
    case_id: i64,
    format: &str,
    file_name: &str,
    bytes: Vec<u8>,
) -> Result<Document, String> {
    let input = if format == ecgr1_engine::Format::Wfdb.name() {
        read_stored_wfdb(&bytes, file_name)
    } else {
        load_bytes(&bytes, file_name, &LoadOptions::default()).map_err(|e| e.to_string())
    }
    .map_err(|e| format!("case {case_id}: {e}"))?;
    Document::build(Origin::Case(case_id), input, Some(bytes))
}

/// Whether a line can belong to a WFDB header (text without control characters).
fn is_header_line(line: &[u8]) -> bool {
    std::str::from_utf8(line)
        .is_ok_and(|t| !t.chars().any(|c| c.is_control() && c != '\r' && c != '\t'))
}

/// A stored WFDB record is its header followed by its data file (see `analyze`'s
/// `original_bytes`). The header is the text lines at the start; the data may itself begin
/// with bytes that look like text, so split points are tried from the end of the text back
/// towards the start, and the first that reads as a record (header fields, data length and
/// checksums agree) wins.
fn read_stored_wfdb(bytes: &[u8], file_name: &str) -> Result<EcgInput, String> {
    let mut text_end = 0;
    let mut ends = Vec::new();
    while let Some(nl) = bytes[text_end..].iter().position(|&b| b == b'\n') {
        let line = &bytes[text_end..text_end + nl];
        if !is_header_line(line) {
            break;
        }
        text_end += nl + 1;
        ends.push(text_end);
    }
    let mut last_error = format!("{file_name}: no WFDB header at the start of the stored bytes");
    for &split in ends.iter().rev() {
        let (header, data) = bytes.split_at(split);
        let mut load = |_: &str| Ok(data.to_vec());
        match ecgr1_engine::formats::wfdb::read(header, file_name, &mut load) {
            Ok(signal) => return Ok(EcgInput::Signal(Box::new(signal))),
            Err(e) => last_error = e.to_string(),
        }
    }
    Err(last_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_opens_with_measurements_and_its_original_bytes() {
        let doc = open_sample().unwrap();
        assert!(matches!(doc.origin, Origin::Sample(_)));
        assert_eq!(doc.file_name(), "waveform_ecg.dcm");
        let m = doc.measurements.as_ref().unwrap();
        assert!(m.heart_rate_bpm.value.is_some());
        assert_eq!(doc.beat_marks().len(), m.beats.len());
        // Every dominant beat of the sample is delineated, in order P < Q < J < Te.
        let fiducials = doc.fiducials();
        assert!(fiducials.len() >= 3 * m.beats.len(), "{}", fiducials.len());
        for beat in fiducials.chunks(4).filter(|c| c.len() == 4) {
            let kinds: Vec<_> = beat.iter().map(|f| f.kind.label()).collect();
            if kinds == ["P", "Q", "J", "Te"] {
                assert!(
                    beat.windows(2).all(|w| w[0].time_s < w[1].time_s),
                    "{beat:?}"
                );
            }
        }
        assert!(fiducials.iter().all(|f| (0.0..10.0).contains(&f.time_s)));
        let bytes = doc.bytes.as_ref().unwrap();
        let reread = open_stored(7, "dicom", doc.file_name(), bytes.to_vec()).unwrap();
        assert_eq!(reread.case_id(), Some(7));
        assert_eq!(reread.record(), doc.record());
    }

    #[test]
    fn a_stored_wfdb_record_is_split_back_into_header_and_data() {
        let path = samples_dir().unwrap().join("synthetic_sinus.hea");
        let doc = open_file(&path, Origin::File(path.clone()), &LoadOptions::default()).unwrap();
        let bytes = doc.bytes.as_ref().unwrap().to_vec();
        let reread = open_stored(3, "wfdb", doc.file_name(), bytes).unwrap();
        assert_eq!(reread.record().unwrap().leads, doc.record().unwrap().leads);
        let err = open_stored(3, "wfdb", "x.hea", b"\x00\x01garbage".to_vec())
            .err()
            .unwrap();
        assert!(err.starts_with("case 3: "), "{err}");
    }

    #[test]
    fn an_image_that_cannot_be_digitised_is_shown_and_says_why_it_is_not_measured() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/model/ecg_tiny.png");
        let doc = open_file(&path, Origin::File(path.clone()), &LoadOptions::default()).unwrap();
        assert!(doc.image.is_some());
        assert!(doc.digitisation().is_none() && doc.measured_record().is_none());
        let why = doc.measurements.unwrap_err();
        assert!(why.contains("could not be digitised"), "{why}");
    }
}
