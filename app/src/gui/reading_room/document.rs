//! The ECG being read: where it came from, its input as read, its original bytes (what the
//! store keeps), and its measurements. Everything here is built on a worker thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ecgr1_engine::digitise::{DIGITISER_VERSION, DigitisationReport, DigitiseOptions, Digitised};
use ecgr1_engine::features::{BeatKind, Measurements, measure};
use ecgr1_engine::formats::csv;
use ecgr1_engine::formats::{EcgImage, EcgInput, LoadOptions, SignalInput, load_bytes, load_path};
use ecgr1_engine::{EcgRecord, PatientInfo};
use ecgr1_ui::{BeatMark, Fiducial, FiducialKind};

use super::super::demo_record;
use crate::cli::analyze::original_bytes;
use crate::cli::input::{
    digitise_for_measuring, measured_from_note, stored_digitisation, stored_digitised_signal,
};
use crate::store::RunRecord;

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
    /// Said beside the reading when it is not this build's own reading of the page (a stored
    /// signal this digitiser no longer reproduces, or a stored reading that cannot be read).
    pub notice: Option<String>,
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
    (
        DigitisedPage {
            options,
            outcome,
            notice: None,
        },
        measurements,
    )
}

/// What the newest run on an image case read of its page: the digitiser's report (which
/// holds the reader's corrections) and the signal its measurements and verifier read.
pub struct StoredReading {
    pub run_id: i64,
    pub report: DigitisationReport,
    pub signal: EcgRecord,
    /// The signal as stored (the project's CSV), to tell whether this build reproduces it.
    pub signal_csv: String,
}

impl StoredReading {
    /// The newest reading among a case's runs (oldest first); `Err` says why the newest run's
    /// stored reading cannot be read back.
    pub fn newest(runs: &[RunRecord]) -> Result<Option<Self>, String> {
        let Some(run) = runs.iter().rev().find(|r| r.digitisation_json.is_some()) else {
            return Ok(None);
        };
        let report = stored_digitisation(run).map_err(|e| format!("{e:#}"))?;
        let signal = stored_digitised_signal(run).map_err(|e| format!("{e:#}"))?;
        match (report, signal, &run.digitised_signal_csv) {
            (Some(report), Some(signal), Some(csv)) => Ok(Some(Self {
                run_id: run.id,
                report,
                signal,
                signal_csv: csv.clone(),
            })),
            _ => Err(format!(
                "run {} kept the digitiser's report but not the digitised signal",
                run.id
            )),
        }
    }
}

/// Digitises a stored case's page again as its newest run read it (the reader's
/// corrections included). When this build reads the page differently from the stored
/// signal, the stored signal is what is shown and measured, and the page says so.
pub fn reopen_page(
    image: &EcgImage,
    stored: Result<Option<StoredReading>, String>,
) -> (DigitisedPage, Result<Arc<Measurements>, String>) {
    let stored = match stored {
        Ok(None) => return digitise_page(image, DigitiseOptions::default()),
        Ok(Some(s)) => s,
        Err(why) => {
            let (mut page, m) = digitise_page(image, DigitiseOptions::default());
            page.notice = Some(format!(
                "{why}; the page was digitised afresh, without the corrections it was read with"
            ));
            return (page, m);
        }
    };
    let options = DigitiseOptions::that_read(&stored.report);
    let (page, measurements) = digitise_page(image, options.clone());
    let reproduced = page
        .digitised()
        .is_some_and(|d| csv::write(&d.record) == stored.signal_csv.as_bytes());
    if reproduced {
        return (page, measurements);
    }
    let run_id = stored.run_id;
    let why = match &page.outcome {
        Ok(_) => "reads it differently".to_string(),
        Err(e) => format!("cannot read it ({e})"),
    };
    let mut record = stored.signal;
    record.provenance = image.provenance.clone();
    record.processing_notes = vec![
        format!(
            "the signal run {run_id} stored, digitised from the image {} by {}",
            image.provenance.file_name, stored.report.digitiser_version
        ),
        measured_from_note(&stored.report),
    ];
    let measurements = measure(&record)
        .map(Arc::new)
        .map_err(|e| format!("the stored digitised signal cannot be measured: {e}"));
    let notice = format!(
        "Shown: the signal run {run_id} stored (read by {}), because this build ({DIGITISER_VERSION}) {why}. \
         Its trace is not drawn over the page. Digitise again to read the page with this build.",
        stored.report.digitiser_version
    );
    let digitised = Digitised {
        record,
        report: stored.report,
        overlays: Vec::new(),
    };
    (
        DigitisedPage {
            options,
            outcome: Ok(Arc::new(digitised)),
            notice: Some(notice),
        },
        measurements,
    )
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
        Self::build_reading(origin, input, bytes, Ok(None))
    }

    /// [`Document::build`] for a stored case: an image is read as its newest run read it.
    fn build_reading(
        origin: Origin,
        input: EcgInput,
        bytes: Option<Vec<u8>>,
        stored: Result<Option<StoredReading>, String>,
    ) -> Result<Self, String> {
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
                let (page, measurements) = reopen_page(image, stored);
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

/// Re-reads a stored case's original bytes; an image is digitised as the newest of `runs`
/// (the case's runs, oldest first) read it.
pub fn open_stored(
    case_id: i64,
    format: &str,
    file_name: &str,
    bytes: Vec<u8>,
    runs: &[RunRecord],
) -> Result<Document, String> {
    let input = if format == ecgr1_engine::Format::Wfdb.name() {
        read_stored_wfdb(&bytes, file_name)
    } else {
        load_bytes(&bytes, file_name, &LoadOptions::default()).map_err(|e| e.to_string())
    }
    .map_err(|e| format!("case {case_id}: {e}"))?;
    let stored = StoredReading::newest(runs).map_err(|e| format!("case {case_id}: {e}"));
    Document::build_reading(Origin::Case(case_id), input, Some(bytes), stored)
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
        let reread = open_stored(7, "dicom", doc.file_name(), bytes.to_vec(), &[]).unwrap();
        assert_eq!(reread.case_id(), Some(7));
        assert_eq!(reread.record(), doc.record());
    }

    #[test]
    fn a_stored_wfdb_record_is_split_back_into_header_and_data() {
        let path = samples_dir().unwrap().join("synthetic_sinus.hea");
        let doc = open_file(&path, Origin::File(path.clone()), &LoadOptions::default()).unwrap();
        let bytes = doc.bytes.as_ref().unwrap().to_vec();
        let reread = open_stored(3, "wfdb", doc.file_name(), bytes, &[]).unwrap();
        assert_eq!(reread.record().unwrap().leads, doc.record().unwrap().leads);
        let err = open_stored(3, "wfdb", "x.hea", b"\x00\x01garbage".to_vec(), &[])
            .err()
            .unwrap();
        assert!(err.starts_with("case 3: "), "{err}");
    }

    /// The bundled sample drawn as a 150-dpi page.
    fn sample_page() -> EcgImage {
        let path = samples_dir().unwrap().join("synthetic_sinus.hea");
        let Ok(EcgInput::Signal(signal)) = load_path(&path, &LoadOptions::default()) else {
            panic!("the sample is a signal");
        };
        let options = ecgr1_engine::render::RenderOptions {
            dpi: 150.0,
            ..Default::default()
        };
        let page = ecgr1_engine::render::render(&signal.record, &options).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("page.png");
        crate::cli::render::write_png(&page, &png).unwrap();
        let Ok(EcgInput::Image(image)) = load_path(&png, &LoadOptions::default()) else {
            panic!("a PNG is an image");
        };
        image
    }

    fn stored_reading(d: &Digitised, signal_csv: Vec<u8>) -> StoredReading {
        let signal = match load_bytes(&signal_csv, "digitised.csv", &LoadOptions::default()) {
            Ok(EcgInput::Signal(s)) => s.record,
            _ => panic!("the stored CSV is a signal"),
        };
        StoredReading {
            run_id: 4,
            report: d.report.clone(),
            signal,
            signal_csv: String::from_utf8(signal_csv).unwrap(),
        }
    }

    #[test]
    fn a_stored_signal_this_build_does_not_reproduce_is_shown_as_stored_and_said_so() {
        let image = sample_page();
        let (page, _) = digitise_page(&image, DigitiseOptions::default());
        let d = page.digitised().unwrap();
        // This build reproduces its own reading: no notice, the trace drawn.
        let same = stored_reading(d, csv::write(&d.record));
        let (again, _) = reopen_page(&image, Ok(Some(same)));
        assert!(again.notice.is_none());
        assert!(!again.digitised().unwrap().overlays.is_empty());
        // An older digitiser's reading (here: every sample 10 % larger) is what the run
        // measured: it is shown and measured as stored, and the page says why.
        let mut older = d.record.clone();
        for lead in &mut older.leads {
            for v in &mut lead.samples_uv {
                *v *= 1.1;
            }
        }
        let mut stored = stored_reading(d, csv::write(&older));
        stored.report.digitiser_version = "ecgr1-digitise/0.1.0+1".into();
        let (shown, measurements) = reopen_page(&image, Ok(Some(stored)));
        let notice = shown.notice.as_deref().unwrap();
        assert!(
            notice.contains("the signal run 4 stored (read by ecgr1-digitise/0.1.0+1)")
                && notice.contains("reads it differently"),
            "{notice}"
        );
        let read = shown.digitised().unwrap();
        assert_eq!(csv::write(&read.record), csv::write(&older));
        assert!(read.overlays.is_empty());
        assert_eq!(read.record.provenance.file_name, "page.png");
        let r_ii = |m: &Measurements| {
            m.lead(ecgr1_engine::StandardLead::II)
                .and_then(|l| l.r_amplitude_uv.value)
                .unwrap()
        };
        let fresh = measure(&d.record).unwrap();
        let ratio = r_ii(&measurements.unwrap()) / r_ii(&fresh);
        assert!((ratio - 1.1).abs() < 0.02, "{ratio}");
        // A stored reading that cannot be read back: digitised afresh, and said so.
        let (afresh, _) = reopen_page(&image, Err("run 4: unreadable".into()));
        assert!(
            afresh
                .notice
                .unwrap()
                .contains("run 4: unreadable; the page was digitised afresh")
        );
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
