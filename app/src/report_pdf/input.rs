//! Reading a stored input back: check its bytes against the stored SHA-256, then decode them
//! the way `analyze` first read them, so the paper ECG and the measurements in a report come
//! from exactly the bytes the run saw.

use anyhow::{Result, bail};
use ecgr1_engine::EcgRecord;
use ecgr1_engine::formats::{EcgInput, Format, LoadOptions, load_bytes, sha256_hex, wfdb};
use serde_json::Value;

use crate::store::StoredInput;

/// Largest image edge embedded in a report; larger images are scaled down (300 dpi across a
/// landscape A4 page is about 3,200 pixels).
pub const MAX_IMAGE_EDGE_PX: u32 = 3200;

/// What the stored bytes gave.
#[derive(Debug)]
pub enum ReadBack {
    Signal(Box<EcgRecord>),
    /// RGB8 pixels, row-major, ready to embed.
    Image {
        width: u32,
        height: u32,
        rgb: Vec<u8>,
        /// The size of the stored image before any scaling.
        original: (u32, u32),
    },
    /// The bytes are intact but cannot be read back as the run read them; says why.
    NotReproducible(String),
}

/// Checks the stored hash, then decodes. A hash mismatch is an error: the report must not
/// show an ECG other than the one the run saw.
pub fn read_back(stored: &StoredInput) -> Result<ReadBack> {
    let computed = sha256_hex(&stored.bytes);
    if !computed.eq_ignore_ascii_case(&stored.sha256) {
        bail!(
            "the stored input {} of case {} is damaged: its bytes hash to SHA-256 {computed} but the \
             store recorded {}; no report was made",
            stored.file_name,
            stored.case_id,
            stored.sha256
        );
    }
    let decoded = if stored.format == Format::Wfdb.name() {
        read_wfdb(stored)
    } else {
        read_other(stored)
    };
    Ok(match decoded {
        Ok(EcgInput::Signal(signal)) => check_signal(stored, signal.record),
        Ok(EcgInput::Image(image)) => match image.decode_rgb() {
            Ok(rgb) => image_for_pdf(rgb),
            Err(e) => ReadBack::NotReproducible(format!("the stored image cannot be decoded: {e}")),
        },
        Err(problem) => ReadBack::NotReproducible(problem),
    })
}

fn read_other(stored: &StoredInput) -> Result<EcgInput, String> {
    let mut options = LoadOptions::default();
    match load_bytes(&stored.bytes, &stored.file_name, &options) {
        Ok(input) => Ok(input),
        // A CSV without a time column was read with a sample rate option; the store kept it.
        Err(first) if stored.format == Format::Csv.name() && stored.sample_rate_hz.is_some() => {
            options.csv.sample_rate_hz = stored.sample_rate_hz;
            load_bytes(&stored.bytes, &stored.file_name, &options).map_err(|e| {
                format!("the stored input cannot be read back: {e} (first try: {first})")
            })
        }
        Err(e) => Err(format!("the stored input cannot be read back: {e}")),
    }
}

/// The store keeps a WFDB record as its header followed by its data file.
fn read_wfdb(stored: &StoredInput) -> Result<EcgInput, String> {
    let Some(split) = wfdb_header_len(&stored.bytes) else {
        return Err("the stored WFDB record does not start with a readable header".to_string());
    };
    let (header, data) = stored.bytes.split_at(split);
    let mut served = false;
    let mut load = |_name: &str| {
        // Only one data file was stored; a record spread over several cannot be rebuilt.
        if served {
            return Err(ecgr1_engine::FormatError::new(
                &stored.file_name,
                ecgr1_engine::formats::FormatErrorKind::Unsupported,
                "data files",
                "the record names more than one data file; the store kept only the first",
            ));
        }
        served = true;
        Ok(data.to_vec())
    };
    wfdb::read(header, &stored.file_name, &mut load)
        .map(|s| EcgInput::Signal(Box::new(s)))
        .map_err(|e| format!("the stored WFDB record cannot be read back: {e}"))
}

/// Length of the WFDB header at the start of `bytes`: the record line, one line per signal,
/// and the comment lines (`#`, e.g. age and sex) that follow, blank lines included. Binary
/// sample data starts right after the last of them.
pub fn wfdb_header_len(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    let mut signals_left: Option<usize> = None;
    let mut end = None;
    while at < bytes.len() {
        let line_end = bytes[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |k| at + k + 1);
        let raw = &bytes[at..line_end];
        // A header is printable text; the first non-text line is sample data.
        let is_text = raw
            .iter()
            .all(|&b| b == b'\n' || b == b'\r' || b == b'\t' || (32..127).contains(&b));
        if !is_text || !raw.ends_with(b"\n") {
            break;
        }
        let line = String::from_utf8_lossy(raw);
        let line = line.trim();
        match signals_left {
            // Still before the record line: blanks and comments may come first.
            None if line.is_empty() || line.starts_with('#') => {}
            None => {
                let nsig = line.split_whitespace().nth(1)?.parse::<usize>().ok()?;
                signals_left = Some(nsig);
                end = (nsig == 0).then_some(line_end);
            }
            Some(_) if line.is_empty() || line.starts_with('#') => {
                if end.is_some() {
                    end = Some(line_end);
                }
            }
            Some(0) => break,
            Some(n) => {
                signals_left = Some(n - 1);
                if n == 1 {
                    end = Some(line_end);
                }
            }
        }
        at = line_end;
    }
    end
}

/// The re-read record must be the one that was stored: same rate, same length, and (for a
/// CSV) read with the same units.
fn check_signal(stored: &StoredInput, record: EcgRecord) -> ReadBack {
    let metadata: Value = serde_json::from_str(&stored.metadata_json).unwrap_or(Value::Null);
    if let Some(rate) = stored.sample_rate_hz
        && (rate - record.sample_rate_hz).abs() > 1e-9 * rate.max(1.0)
    {
        return ReadBack::NotReproducible(format!(
            "read back at {} Hz, but the run saw {rate} Hz",
            record.sample_rate_hz
        ));
    }
    if let Some(samples) = metadata["samples_per_lead"].as_u64()
        && samples != record.samples_per_lead() as u64
    {
        return ReadBack::NotReproducible(format!(
            "read back with {} samples per lead, but the run saw {samples}",
            record.samples_per_lead()
        ));
    }
    let unitless = |note: &str| note.starts_with("no units in the header or options");
    let stored_notes = metadata["processing_notes"].as_array();
    if stored.format == Format::Csv.name()
        && let Some(stored_notes) = stored_notes
        && record.processing_notes.iter().any(|n| unitless(n))
        && !stored_notes.iter().filter_map(Value::as_str).any(unitless)
    {
        return ReadBack::NotReproducible(
            "the CSV file states no units and was read with a units option that the store does \
             not record, so its amplitudes cannot be reproduced"
                .to_string(),
        );
    }
    ReadBack::Signal(Box::new(record))
}

fn image_for_pdf(rgb: image::RgbImage) -> ReadBack {
    let original = rgb.dimensions();
    let (w, h) = original;
    let longest = w.max(h);
    let rgb = if longest > MAX_IMAGE_EDGE_PX {
        let scale = f64::from(MAX_IMAGE_EDGE_PX) / f64::from(longest);
        let nw = ((f64::from(w) * scale).round() as u32).max(1);
        let nh = ((f64::from(h) * scale).round() as u32).max(1);
        image::imageops::resize(&rgb, nw, nh, image::imageops::FilterType::Triangle)
    } else {
        rgb
    };
    let (width, height) = rgb.dimensions();
    ReadBack::Image {
        width,
        height,
        rgb: rgb.into_raw(),
        original,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecgr1_engine::formats::load_path;

    fn stored(format: &str, file_name: &str, bytes: Vec<u8>) -> StoredInput {
        StoredInput {
            ecg_input_id: 1,
            case_id: 1,
            patient_id: None,
            file_name: file_name.into(),
            format: format.into(),
            kind: "signal".into(),
            sha256: sha256_hex(&bytes),
            sample_rate_hz: None,
            metadata_json: "{}".into(),
            created_at: String::new(),
            bytes,
            latest_note: None,
        }
    }

    fn sample(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../assets/samples")
            .join(name)
    }

    #[test]
    fn wfdb_header_and_data_are_split_where_the_header_ends() {
        let hea = std::fs::read(sample("synthetic_sinus.hea")).unwrap();
        let dat = std::fs::read(sample("synthetic_sinus.dat")).unwrap();
        let mut joined = hea.clone();
        joined.extend_from_slice(&dat);
        assert_eq!(wfdb_header_len(&joined), Some(hea.len()));
        let ReadBack::Signal(record) =
            read_back(&stored("wfdb", "synthetic_sinus.hea", joined)).unwrap()
        else {
            panic!("not a signal");
        };
        let EcgInput::Signal(original) =
            load_path(&sample("synthetic_sinus.hea"), &LoadOptions::default()).unwrap()
        else {
            panic!("not a signal");
        };
        assert_eq!(record.leads, original.record.leads);
        assert_eq!(record.sample_rate_hz, original.record.sample_rate_hz);
    }

    #[test]
    fn header_comments_belong_to_the_header() {
        let text = b"# leading comment\nrec 2 500 10\nrec.dat 16 200 16 0 0 0 0 I\nrec.dat 16 200 16 0 0 0 0 II\n# age: 60\n\n";
        let mut bytes = text.to_vec();
        bytes.extend_from_slice(&[0x01, 0x00, 0x0a, 0x00, 0xff, 0xfe]);
        assert_eq!(wfdb_header_len(&bytes), Some(text.len()));
        // Too few signal lines: no header.
        assert_eq!(wfdb_header_len(b"rec 3 500\nrec.dat 16\n\x00\x01"), None);
    }

    #[test]
    fn a_changed_byte_is_a_clear_error() {
        let mut input = stored(
            "csv",
            "synthetic_sinus.csv",
            std::fs::read(sample("synthetic_sinus.csv")).unwrap(),
        );
        input.bytes[40] ^= 1;
        let message = read_back(&input).unwrap_err().to_string();
        assert!(message.contains("damaged"), "{message}");
        assert!(message.contains("synthetic_sinus.csv"), "{message}");
        assert!(message.contains(&input.sha256), "{message}");
    }

    #[test]
    fn csv_units_given_on_the_command_line_are_not_guessed() {
        let bytes = b"time_ms,I,II\n0,0.1,0.2\n2,0.1,0.3\n4,0.2,0.1\n".to_vec();
        let mut input = stored("csv", "mv.csv", bytes);
        // What analyze stored for `--units mV`: no "no units" note.
        input.metadata_json =
            r#"{"processing_notes": ["sample rate 500 Hz inferred from the time column"]}"#.into();
        let ReadBack::NotReproducible(why) = read_back(&input).unwrap() else {
            panic!("a units option must not be guessed");
        };
        assert!(why.contains("units option"), "{why}");
    }
}
