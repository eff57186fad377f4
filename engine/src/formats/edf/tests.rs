use super::*;
use crate::record::StandardLead;

/// A small EDF file built field by field, so each test can break one thing.
struct Builder {
    reserved: String,
    records: i64,
    duration: String,
    patient: String,
    recording: String,
    signals: Vec<Sig>,
    annotations: Option<Vec<Vec<u8>>>,
}

#[derive(Clone)]
struct Sig {
    label: String,
    dim: String,
    pmin: String,
    pmax: String,
    dmin: String,
    dmax: String,
    spr: usize,
    /// Digital values for all records (len = records * spr).
    data: Vec<i16>,
}

fn sig(label: &str, dim: &str, spr: usize, records: usize) -> Sig {
    Sig {
        label: label.into(),
        dim: dim.into(),
        pmin: "-3276.8".into(),
        pmax: "3276.7".into(),
        dmin: "-32768".into(),
        dmax: "32767".into(),
        spr,
        data: (0..spr * records)
            .map(|k| (k as i16).wrapping_mul(7))
            .collect(),
    }
}

impl Builder {
    fn new(signals: Vec<Sig>, records: i64) -> Self {
        Self {
            reserved: String::new(),
            records,
            duration: "1".into(),
            patient: "MCH-0234567 F 02-MAY-1951 Haagse_Harry".into(),
            recording: "Startdate 02-MAR-2002 PSG-1234/2002 NN Telemetry03".into(),
            signals,
            annotations: None,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut sigs = self.signals.clone();
        if let Some(ann) = &self.annotations {
            let spr = ann.iter().map(Vec::len).max().unwrap_or(2).div_ceil(2);
            let mut s = sig("EDF Annotations", "", spr, 0);
            s.pmin = "-1".into();
            s.pmax = "1".into();
            s.data = ann
                .iter()
                .flat_map(|rec| {
                    let mut b = rec.clone();
                    b.resize(spr * 2, 0);
                    b.chunks(2)
                        .map(|p| i16::from_le_bytes([p[0], p[1]]))
                        .collect::<Vec<_>>()
                })
                .collect();
            sigs.push(s);
        }
        let ns = sigs.len();
        let mut out = Vec::new();
        let mut put = |t: &str, w: usize| {
            let mut f: Vec<u8> = t.bytes().take(w).collect();
            f.resize(w, b' ');
            out.extend_from_slice(&f);
        };
        put("0", 8);
        put(&self.patient, 80);
        put(&self.recording, 80);
        put("02.03.02", 8);
        put("10.20.30", 8);
        put(&(256 * (ns + 1)).to_string(), 8);
        put(&self.reserved, 44);
        put(&self.records.to_string(), 8);
        put(&self.duration, 8);
        put(&ns.to_string(), 4);
        for s in &sigs {
            put(&s.label, 16);
        }
        for _ in &sigs {
            put("AgAgCl", 80);
        }
        for s in &sigs {
            put(&s.dim, 8);
        }
        for s in &sigs {
            put(&s.pmin, 8);
        }
        for s in &sigs {
            put(&s.pmax, 8);
        }
        for s in &sigs {
            put(&s.dmin, 8);
        }
        for s in &sigs {
            put(&s.dmax, 8);
        }
        for _ in &sigs {
            put("HP:0.05Hz LP:150Hz", 80);
        }
        for s in &sigs {
            put(&s.spr.to_string(), 8);
        }
        for _ in &sigs {
            put("", 32);
        }
        // Data for as many records as the signals carry (a test may declare more).
        let records = sigs.iter().map(|s| s.data.len() / s.spr).min().unwrap_or(0);
        for r in 0..records {
            for s in &sigs {
                for v in &s.data[r * s.spr..(r + 1) * s.spr] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        out
    }
}

fn read_ok(bytes: &[u8]) -> SignalInput {
    match read(bytes, "t.edf") {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fn read_err(bytes: &[u8]) -> FormatError {
    match read(bytes, "t.edf") {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    }
}

#[test]
fn reads_header_and_scales_to_microvolts() {
    let mut b = Builder::new(
        vec![sig("ECG II", "mV", 10, 2), sig("V1-Ref", "uV", 10, 2)],
        2,
    );
    b.reserved = "EDF+C".into();
    let input = read_ok(&b.bytes());
    let rec = &input.record;
    assert_eq!(rec.provenance.format, Format::EdfPlus);
    assert_eq!(rec.sample_rate_hz, 10.0);
    assert_eq!(rec.acquisition_time.as_deref(), Some("2002-03-02T10:20:30"));
    assert_eq!(rec.device.as_deref(), Some("Telemetry03"));
    assert_eq!(input.patient.id.as_deref(), Some("MCH-0234567"));
    assert_eq!(input.patient.sex.as_deref(), Some("F"));
    assert_eq!(input.patient.birth_date.as_deref(), Some("1951-05-02"));
    assert_eq!(input.patient.name.as_deref(), Some("Haagse Harry"));
    let ii = rec
        .lead(StandardLead::II)
        .map(|l| l.samples_uv.clone())
        .unwrap_or_default();
    // digital 7 → 0.7 mV → 700 µV (scale 0.1 per digit)
    assert!((ii[1] - 700.0).abs() < 1e-6, "{}", ii[1]);
    let v1 = rec
        .lead(StandardLead::V1)
        .map(|l| l.samples_uv.clone())
        .unwrap_or_default();
    assert!((v1[1] - 0.7).abs() < 1e-9);
    let cal = rec
        .lead(StandardLead::II)
        .and_then(|l| l.calibration.clone());
    let cal = cal.unwrap_or_else(|| panic!("no calibration"));
    assert!((cal.gain - 10.0).abs() < 1e-9);
    assert!(cal.baseline.abs() < 1e-6);
    assert_eq!(cal.units, "mV");
    assert_eq!(rec.provenance.sha256, sha256_hex(&b.bytes()));
}

#[test]
fn derives_limb_leads_from_i_and_ii() {
    let b = Builder::new(
        vec![sig("Lead I", "uV", 5, 1), sig("EKG II", "uV", 5, 1)],
        1,
    );
    let rec = read_ok(&b.bytes()).record;
    assert_eq!(rec.provenance.format, Format::Edf);
    assert_eq!(rec.derived_leads(), vec!["III", "aVR", "aVL", "aVF"]);
}

#[test]
fn annotations_are_parsed_and_not_a_lead() {
    let mut b = Builder::new(vec![sig("II", "uV", 10, 2)], 2);
    b.reserved = "EDF+C".into();
    b.annotations = Some(vec![
        b"+0\x14\x14\x00+0.5\x150.2\x14Beat\x14\x00".to_vec(),
        b"+1\x14\x14\x00".to_vec(),
    ]);
    let rec = read_ok(&b.bytes()).record;
    assert_eq!(rec.leads.len(), 1);
    assert_eq!(rec.annotations.len(), 1);
    assert_eq!(rec.annotations[0].label, "Beat");
    assert_eq!(rec.annotations[0].sample_index, Some(5));
    assert_eq!(rec.annotations[0].value, Some(0.2));
}

#[test]
fn other_rates_are_resampled_to_the_ecg_rate() {
    let b = Builder::new(vec![sig("II", "uV", 20, 3), sig("Resp", "mV", 5, 3)], 3);
    let rec = read_ok(&b.bytes()).record;
    assert_eq!(rec.sample_rate_hz, 20.0);
    assert!(rec.leads.iter().all(|l| l.samples_uv.len() == 60));
    assert!(
        rec.processing_notes
            .iter()
            .any(|n| n.contains("'Resp' recorded at 5 Hz resampled to 20 Hz"))
    );
}

#[test]
fn non_voltage_channels_are_dropped_with_a_note_but_ecg_ones_are_errors() {
    let b = Builder::new(vec![sig("II", "uV", 5, 1), sig("SpO2", "%", 5, 1)], 1);
    let rec = read_ok(&b.bytes()).record;
    assert_eq!(rec.leads.len(), 1);
    assert!(rec.processing_notes.iter().any(|n| n.contains("SpO2")));
    let b = Builder::new(vec![sig("I", "uV", 5, 1), sig("ECG V3", "mmHg", 5, 1)], 1);
    let e = read_err(&b.bytes());
    assert_eq!(e.kind, FormatErrorKind::Unsupported);
    assert_eq!(e.field, "signal 2 (ECG V3) physical dimension");
}

#[test]
fn header_validation_names_the_field() {
    let mut s = sig("V1", "uV", 5, 1);
    s.dmin = "100".into();
    s.dmax = "100".into();
    let e =
        read_err(&Builder::new(vec![sig("I", "uV", 5, 1), sig("II", "uV", 5, 1), s], 1).bytes());
    assert_eq!(e.field, "signal 3 (V1) digital minimum");
    assert_eq!(e.kind, FormatErrorKind::Invalid);

    let mut s = sig("V1", "uV", 5, 1);
    s.pmin = "1".into();
    s.pmax = "1.0".into();
    let e = read_err(&Builder::new(vec![s], 1).bytes());
    assert_eq!(e.field, "signal 1 (V1) physical minimum");

    let mut s = sig("V1", "uV", 5, 1);
    s.pmax = "abc".into();
    let e = read_err(&Builder::new(vec![s], 1).bytes());
    assert_eq!(e.field, "signal 1 (V1) physical maximum");
    assert!(e.problem.contains("not a number"));

    let mut s = sig("V1", "V", 5, 1);
    s.pmax = "9e307".into();
    let e = read_err(&Builder::new(vec![s], 1).bytes());
    assert_eq!(e.kind, FormatErrorKind::NonFinite);

    let mut s = sig("V1", "uV", 5, 1);
    s.pmax = "inf".into();
    assert_eq!(
        read_err(&Builder::new(vec![s], 1).bytes()).kind,
        FormatErrorKind::Invalid
    );

    let mut bytes = Builder::new(vec![sig("II", "uV", 5, 1)], 1).bytes();
    bytes[184..192].copy_from_slice(b"768     ");
    let e = read_err(&bytes);
    assert_eq!(e.kind, FormatErrorKind::Inconsistent);
    assert_eq!(e.field, "number of bytes in header");

    let mut bytes = Builder::new(vec![sig("II", "uV", 5, 1)], 1).bytes();
    bytes[240] = 0xE9;
    let e = read_err(&bytes);
    assert_eq!(e.field, "number of data records");
    assert!(e.problem.contains("not printable ASCII"));
}

#[test]
fn truncated_and_oversized_files_are_refused() {
    let bytes = Builder::new(vec![sig("II", "uV", 5, 3)], 3).bytes();
    let e = read_err(&bytes[..bytes.len() - 1]);
    assert_eq!(e.kind, FormatErrorKind::Truncated);
    assert_eq!(e.field, "data record 3");
    let e = read_err(&bytes[..300]);
    assert_eq!(e.kind, FormatErrorKind::Truncated);

    let mut b = Builder::new(vec![sig("II", "uV", 5, 1)], 1);
    b.records = 99_999_999;
    let mut bytes = b.bytes();
    bytes.truncate(512);
    let e = read_err(&bytes);
    assert_eq!(e.kind, FormatErrorKind::TooLarge);
    assert_eq!(e.field, "number of data records");
}

#[test]
fn unknown_record_count_is_derived_from_the_file_size() {
    let mut bytes = Builder::new(vec![sig("II", "uV", 5, 4)], 4).bytes();
    bytes[236..244].copy_from_slice(b"-1      ");
    let rec = read_ok(&bytes).record;
    assert_eq!(rec.samples_per_lead(), 20);
    bytes.pop();
    assert_eq!(read_err(&bytes).kind, FormatErrorKind::Inconsistent);
}

#[test]
fn edf_plus_d_is_unsupported() {
    let mut b = Builder::new(vec![sig("II", "uV", 5, 1)], 1);
    b.reserved = "EDF+D".into();
    let e = read_err(&b.bytes());
    assert_eq!(e.kind, FormatErrorKind::Unsupported);
    assert!(e.problem.contains("discontinuous"));
}

#[test]
fn duplicate_leads_are_inconsistent() {
    let b = Builder::new(vec![sig("II", "uV", 5, 1), sig("ECG II", "uV", 5, 1)], 1);
    let e = read_err(&b.bytes());
    assert_eq!(e.kind, FormatErrorKind::Inconsistent);
    assert!(e.field.contains("ECG II"));
}

fn synthetic_record(rate: f64, n: usize) -> EcgRecord {
    let leads = StandardLead::STANDARD_ORDER
        .iter()
        .enumerate()
        .map(|(k, l)| {
            let samples = (0..n)
                .map(|t| 1000.0 * ((t as f64 / rate) * (k as f64 + 1.0)).sin() + k as f64 * 13.7)
                .collect();
            LeadSignal::new(LeadId::Standard(*l), l.name(), samples)
        })
        .collect();
    EcgRecord {
        sample_rate_hz: rate,
        leads,
        acquisition_time: Some("2024-05-06T07:08:09".into()),
        device: Some("Cart 9".into()),
        provenance: Provenance {
            format: Format::Csv,
            file_name: "x.csv".into(),
            sha256: String::new(),
            byte_len: 0,
        },
        annotations: Vec::new(),
        representative_beats: None,
        processing_notes: Vec::new(),
    }
}

fn assert_round_trip(rec: &EcgRecord) {
    let bytes = match write_with_notes(rec) {
        Ok((b, _)) => b,
        Err(e) => panic!("{e}"),
    };
    let back = read_ok(&bytes);
    assert!(back.patient.is_empty(), "{:?}", back.patient);
    let back = back.record;
    assert_eq!(back.provenance.format, Format::EdfPlus);
    assert_eq!(back.sample_rate_hz, rec.sample_rate_hz);
    assert_eq!(back.samples_per_lead(), rec.samples_per_lead());
    for lead in &rec.leads {
        let other = back.leads.iter().find(|l| l.lead == lead.lead);
        let other = other.unwrap_or_else(|| panic!("lead {} lost", lead.lead));
        let cal = other
            .calibration
            .clone()
            .unwrap_or_else(|| panic!("no calibration"));
        let step = 1.0 / cal.gain;
        let max = lead
            .samples_uv
            .iter()
            .zip(&other.samples_uv)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            max <= step * 0.5 + 1e-9,
            "lead {}: error {max} > half step {step}",
            lead.lead
        );
    }
}

#[test]
fn writer_round_trips_within_half_a_digital_unit() {
    let rec = synthetic_record(500.0, 5000);
    assert_round_trip(&rec);
    let bytes = write(&rec).unwrap_or_default();
    let back = read_ok(&bytes).record;
    assert_eq!(
        back.acquisition_time.as_deref(),
        Some("2024-05-06T07:08:09")
    );
    assert_eq!(back.device.as_deref(), Some("Cart 9"));
    assert_eq!(&bytes[8..15], b"X X X X");
}

#[test]
fn writer_handles_partial_seconds_and_odd_rates() {
    // 2501 samples at 500 Hz: 1 s records cannot hold them; 0.002 s (1-sample) records can.
    assert_round_trip(&synthetic_record(500.0, 2501));
    // 360 Hz, 10 s.
    assert_round_trip(&synthetic_record(360.0, 3600));
    // 650 000 samples at 360 Hz (an MIT-BIH record) have no exact whole-record layout: the
    // last 1 s record is padded and the padding annotated.
    let rec = synthetic_record(360.0, 3601);
    let (bytes, notes) = write_with_notes(&rec).unwrap_or_default();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("padded with 359 sample(s)")),
        "{notes:?}"
    );
    let back = read_ok(&bytes).record;
    assert_eq!(back.samples_per_lead(), 3960);
    assert_eq!(back.annotations.len(), 1);
    assert_eq!(back.annotations[0].label, "padding, not recorded");
    assert_eq!(back.annotations[0].sample_index, Some(3601));
    for (a, b) in rec.leads.iter().zip(&back.leads) {
        let step = 1.0 / b.calibration.as_ref().map_or(1.0, |c| c.gain);
        for (x, y) in a.samples_uv.iter().zip(&b.samples_uv[..3601]) {
            assert!((x - y).abs() <= step, "{x} {y}");
        }
    }
    // Whole seconds: 1 s records and no notes.
    let rec = synthetic_record(250.0, 1250);
    let (_, notes) = write_with_notes(&rec).unwrap_or_default();
    assert!(notes.is_empty(), "{notes:?}");
}

#[test]
fn writer_notes_unknown_start_and_non_finite_samples() {
    let mut rec = synthetic_record(500.0, 500);
    rec.acquisition_time = None;
    rec.leads[0].samples_uv[3] = f64::NAN;
    let (bytes, notes) = write_with_notes(&rec).unwrap_or_default();
    assert!(notes.iter().any(|n| n.contains("01.01.85")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("non-finite")), "{notes:?}");
    let back = read_ok(&bytes).record;
    assert_eq!(
        back.acquisition_time.as_deref(),
        Some("1985-01-01T00:00:00")
    );
    assert!(back.leads[0].samples_uv[3].abs() < 0.1);
}

/// Parity with pyedflib (the reference reader) on files pyedflib wrote; see
/// scripts/make_edf_fixtures.py.
mod parity {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/edf")
            .join(name)
    }

    fn load(name: &str) -> (Vec<u8>, SignalInput) {
        let bytes = std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let input = read(&bytes, name).unwrap_or_else(|e| panic!("{e}"));
        (bytes, input)
    }

    fn num(v: &serde_json::Value) -> f64 {
        v.as_f64().unwrap_or(f64::NAN)
    }

    fn reference() -> serde_json::Value {
        let text = std::fs::read_to_string(fixture("reference.json"))
            .unwrap_or_else(|e| panic!("reference.json: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("reference.json: {e}"))
    }

    #[test]
    fn values_match_pyedflib_within_one_digital_unit() {
        let reference = reference();
        let files = reference["files"].as_object().cloned().unwrap_or_default();
        assert_eq!(files.len(), 2);
        let mut compared = 0;
        for (name, want) in files {
            let (_, input) = load(&name);
            let rec = &input.record;
            assert_eq!(
                rec.acquisition_time.as_deref(),
                want["start"].as_str(),
                "{name}"
            );
            for sig in want["signals"].as_array().cloned().unwrap_or_default() {
                let label = sig["label"].as_str().unwrap_or_default();
                let dimension = sig["dimension"].as_str().unwrap_or_default();
                let ours = rec.leads.iter().find(|l| l.source_label == label);
                let Some(scale) = microvolts_per_unit(dimension) else {
                    assert!(ours.is_none(), "{name}: non-voltage {label} kept");
                    continue;
                };
                let ours = ours.unwrap_or_else(|| panic!("{name}: {label} missing"));
                let theirs: Vec<f64> = sig["physical"]
                    .as_array()
                    .map(|a| a.iter().map(num).collect())
                    .unwrap_or_default();
                if (num(&sig["sample_rate_hz"]) - rec.sample_rate_hz).abs() > 1e-9 {
                    // Resampled to the ECG rate: same duration, not the same samples.
                    let ratio = rec.sample_rate_hz / num(&sig["sample_rate_hz"]);
                    assert_eq!(
                        ours.samples_uv.len(),
                        (theirs.len() as f64 * ratio) as usize
                    );
                    continue;
                }
                let step = (num(&sig["physical_max"]) - num(&sig["physical_min"]))
                    / (num(&sig["digital_max"]) - num(&sig["digital_min"]))
                    * scale;
                assert_eq!(ours.samples_uv.len(), theirs.len(), "{name} {label}");
                for (k, (a, b)) in ours.samples_uv.iter().zip(&theirs).enumerate() {
                    assert!(
                        (a - b * scale).abs() <= step,
                        "{name} {label} sample {k}: ours {a} µV, pyedflib {} µV, step {step}",
                        b * scale
                    );
                }
                compared += 1;
            }
            let want_ann = want["annotations"].as_array().cloned().unwrap_or_default();
            assert_eq!(rec.annotations.len(), want_ann.len(), "{name}");
            for a in &want_ann {
                let text = a["text"].as_str().unwrap_or_default();
                let ours = rec.annotations.iter().find(|x| x.label == text);
                let ours = ours.unwrap_or_else(|| panic!("{name}: annotation {text} missing"));
                let at = (num(&a["onset_s"]) * rec.sample_rate_hz).round() as usize;
                assert_eq!(ours.sample_index, Some(at));
                let duration = num(&a["duration_s"]);
                assert_eq!(ours.value, (duration >= 0.0).then_some(duration));
            }
        }
        assert_eq!(compared, 15);
    }

    #[test]
    fn label_variants_map_to_the_twelve_leads() {
        let (_, input) = load("twelve_lead_plus.edf");
        let rec = &input.record;
        assert!(rec.missing_standard_leads().is_empty());
        assert!(rec.derived_leads().is_empty());
        assert_eq!(rec.provenance.format, Format::EdfPlus);
        assert_eq!(rec.device.as_deref(), Some("Cart9"));
        assert_eq!(input.patient.name.as_deref(), Some("Haagse Harry"));
        assert_eq!(input.patient.birth_date.as_deref(), Some("1951-05-02"));
        assert!(
            rec.processing_notes
                .iter()
                .any(|n| n.contains("'Resp' recorded at 50 Hz"))
        );
        assert!(rec.processing_notes.iter().any(|n| n.contains("SpO2")));
        let (_, plain) = load("plain_three_lead.edf");
        assert_eq!(plain.record.provenance.format, Format::Edf);
        assert_eq!(
            plain.record.derived_leads(),
            vec!["III", "aVR", "aVL", "aVF"]
        );
        assert!(plain.patient.is_empty(), "{:?}", plain.patient);
    }

    /// Our EDF+ output of the pyedflib file, committed so that pyedflib's reading of it can
    /// be checked by the script (`--check-writer`, which sets ECGR1_BLESS=1 to rewrite it).
    #[test]
    fn writer_output_is_the_golden_file() {
        let (_, input) = load("twelve_lead_plus.edf");
        let bytes = write(&input.record).unwrap_or_else(|e| panic!("{e}"));
        let golden = fixture("written_by_ecgr1.edf");
        if std::env::var_os("ECGR1_BLESS").is_some() {
            std::fs::write(&golden, &bytes).unwrap_or_else(|e| panic!("{e}"));
        }
        let committed = std::fs::read(&golden).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            committed == bytes,
            "writer output differs from {}",
            golden.display()
        );
        // And it reads back as the same record within one digital unit of each file.
        let back = read(&bytes, "written_by_ecgr1.edf").unwrap_or_else(|e| panic!("{e}"));
        for lead in &input.record.leads {
            let other = back.record.leads.iter().find(|l| l.lead == lead.lead);
            let other = other.unwrap_or_else(|| panic!("{} lost", lead.lead));
            let step = |l: &LeadSignal| {
                let c = l
                    .calibration
                    .clone()
                    .unwrap_or_else(|| panic!("no calibration"));
                microvolts_per_unit(&c.units).unwrap_or(f64::NAN) / c.gain
            };
            let tol = step(lead) + step(other);
            for (a, b) in lead.samples_uv.iter().zip(&other.samples_uv) {
                assert!((a - b).abs() <= tol, "{}: {a} vs {b}", lead.lead);
            }
        }
    }
}

#[test]
fn plain_edf_free_text_patient_is_kept_as_id() {
    let mut b = Builder::new(vec![sig("II", "uV", 5, 1)], 1);
    b.patient = "Jane Roe 1234".into();
    let input = read_ok(&b.bytes());
    assert_eq!(input.patient.id.as_deref(), Some("Jane Roe 1234"));
    assert_eq!(input.patient.name, None);
}

/// Issue 19 §5: labels that name no ECG lead are refused, naming the labels found, instead of
/// being read as leads nobody can place (and then measured as a flat lead I). A file with an
/// ECG-labelled channel beside them still reads.
#[test]
fn a_file_without_a_recognisable_ecg_lead_is_refused_naming_its_labels() {
    let garbage = Builder::new(
        vec![
            sig("Chan 1", "uV", 5, 1),
            sig("xq#7~", "uV", 5, 1),
            sig("Temp", "degC", 5, 1),
        ],
        1,
    );
    let e = read_err(&garbage.bytes());
    assert_eq!(
        (e.kind, e.field.as_str()),
        (FormatErrorKind::Invalid, "signal labels")
    );
    let message = e.to_string();
    assert!(
        message.starts_with("t.edf: invalid in signal labels"),
        "{message}"
    );
    for label in ["'Chan 1'", "'xq#7~'", "'Temp'"] {
        assert!(message.contains(label), "{message}");
    }
    let with_ecg = Builder::new(vec![sig("Chan 1", "uV", 5, 1), sig("ECG", "uV", 5, 1)], 1);
    assert_eq!(read_ok(&with_ecg.bytes()).record.leads.len(), 2);
}
