use super::*;
use crate::record::StandardLead;

fn read_mem(header: &str, files: &[(&str, Vec<u8>)]) -> Result<SignalInput, FormatError> {
    let files: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(n, b)| ((*n).to_string(), b.clone()))
        .collect();
    let mut load = |name: &str| {
        files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.clone())
            .ok_or_else(|| FormatError::new(name, FormatErrorKind::Io, "file", "not found"))
    };
    read(header.as_bytes(), "dir/rec.hea", &mut load)
}

fn le16(values: &[i16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn reads_interleaved_format_16_with_calibration_and_invalid_samples() {
    let header = "rec 2 500 3 10:20:30 01/02/2021\n\
        rec.dat 16 1000(10)/mV 16 0 10 0 0 I\n\
        rec.dat 16 2(0)/uV 16 0 0 0 0 ECG II\n# hello\n# <age>: 40 <sex>: F\n";
    let dat = le16(&[10, 0, 1010, 4, i16::MIN, -6]);
    let input = read_mem(header, &[("rec.dat", dat.clone())]).unwrap();
    let r = &input.record;
    assert_eq!(r.sample_rate_hz, 500.0);
    assert_eq!(r.leads[0].samples_uv[..2], [0.0, 1000.0]);
    assert!(r.leads[0].samples_uv[2].is_nan());
    assert_eq!(r.leads[1].samples_uv, vec![0.0, 2.0, -3.0]);
    assert_eq!(r.leads[1].lead, LeadId::Standard(StandardLead::II));
    assert_eq!(r.derived_leads(), vec!["III", "aVR", "aVL", "aVF"]);
    assert_eq!(r.acquisition_time.as_deref(), Some("2021-02-01T10:20:30"));
    assert_eq!(input.patient.sex.as_deref(), Some("F"));
    assert_eq!(r.annotations.len(), 2);
    assert_eq!(r.annotations[0].label, "hello");
    assert_eq!(r.annotations[1].label, "<age>: 40");
    let mut all = header.as_bytes().to_vec();
    all.extend_from_slice(&dat);
    assert_eq!(r.provenance.sha256, crate::formats::sha256_hex(&all));
    assert_eq!(r.provenance.byte_len, all.len() as u64);
}

#[test]
fn checksum_mismatch_is_a_note() {
    let header = "rec 1 500 2\nrec.dat 16 200 16 0 0 123 0 V1\n";
    let input = read_mem(header, &[("rec.dat", le16(&[1, 2]))]).unwrap();
    assert!(
        input
            .record
            .processing_notes
            .iter()
            .any(|n| n.contains("checksum mismatch"))
    );
    let header = "rec 1 500 2\nrec.dat 16 200 16 0 0 3 0 V1\n";
    let input = read_mem(header, &[("rec.dat", le16(&[1, 2]))]).unwrap();
    assert!(
        !input
            .record
            .processing_notes
            .iter()
            .any(|n| n.contains("checksum"))
    );
}

#[test]
fn signals_over_several_files_and_formats() {
    // Signal 1 in a.dat as format 80, signal 2 in b.dat as format 61 with a 4-byte offset.
    let header = "rec 2 250\na.dat 80 100 8 0 0 0 0 V1\nb.dat 61+4 100 16 0 0 0 0 V2\n";
    let a = vec![128u8, 228, 28];
    let b = vec![9, 9, 9, 9, 0x00, 0x64, 0xFF, 0x9C, 0x00, 0x00];
    let input = read_mem(header, &[("a.dat", a), ("b.dat", b)]).unwrap();
    let r = &input.record;
    assert_eq!(r.samples_per_lead(), 3);
    assert_eq!(r.leads[0].samples_uv, vec![0.0, 1000.0, -1000.0]);
    assert_eq!(r.leads[1].samples_uv, vec![1000.0, -1000.0, 0.0]);
}

#[test]
fn difference_format_8_accumulates_from_initial_value() {
    let header = "rec 1 100 3\nrec.dat 8 200 8 0 100 0 0 V1\n";
    let input = read_mem(header, &[("rec.dat", vec![0u8, 2, 0xFE])]).unwrap();
    assert_eq!(input.record.leads[0].samples_uv, vec![500.0, 510.0, 500.0]);
}

#[test]
fn samples_per_frame_and_skew() {
    // Two signals, 2 samples per frame each: rate doubles.
    let header = "rec 2 250 2\nrec.dat 16x2 1000 16 0 0 0 0 V1\nrec.dat 16x2 1000 16 0 0 0 0 V2\n";
    let input = read_mem(header, &[("rec.dat", le16(&[1, 2, 10, 20, 3, 4, 30, 40]))]).unwrap();
    assert_eq!(input.record.sample_rate_hz, 500.0);
    assert_eq!(input.record.leads[0].samples_uv, vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(
        input.record.leads[1].samples_uv,
        vec![10.0, 20.0, 30.0, 40.0]
    );
    // Skew of 1 on signal 2: its sample t comes from frame t + 1.
    let header = "rec 2 250 2\nrec.dat 16 1000 16 0 0 0 0 V1\nrec.dat 16:1 1000 16 0 0 0 0 V2\n";
    let input = read_mem(header, &[("rec.dat", le16(&[1, 10, 2, 20, 3, 30]))]).unwrap();
    assert_eq!(input.record.leads[0].samples_uv, vec![1.0, 2.0]);
    assert_eq!(input.record.leads[1].samples_uv, vec![20.0, 30.0]);
}

#[test]
fn length_comes_from_the_data_when_the_header_omits_it() {
    let header = "rec 2 500\nrec.dat 212 200 12 0 0 0 0 V1\nrec.dat 212 200 12 0 0 0 0 V2\n";
    // Two frames of format 212 = 4 values = 6 bytes.
    let input = read_mem(header, &[("rec.dat", vec![200, 0, 100, 56, 0xFF, 0x0F])]).unwrap();
    assert_eq!(input.record.samples_per_lead(), 2);
    assert_eq!(input.record.leads[0].samples_uv, vec![1000.0, -1000.0]);
}

#[test]
fn errors_name_file_field_and_problem() {
    let header = "rec 1 500 10\nrec.dat 16 200 16 0 0 0 0 V1\n";
    let e = read_mem(header, &[("rec.dat", le16(&[1, 2, 3]))]).unwrap_err();
    assert_eq!(e.kind, FormatErrorKind::Truncated);
    assert_eq!(e.file, "dir/rec.dat");
    assert!(e.to_string().contains("dir/rec.hea"), "{e}");
    let e = read_mem(header, &[]).unwrap_err();
    assert_eq!(e.kind, FormatErrorKind::Io);
    assert!(e.field.contains("data file rec.dat"));
    let e = read_mem("rec 1 500 2\nrec.dat 16 200/furlong\n", &[]).unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_str()),
        (FormatErrorKind::Unsupported, "signal 1 units")
    );
    let e = read_mem("rec 1 500 2\n../etc.dat 16\n", &[]).unwrap_err();
    assert_eq!(e.kind, FormatErrorKind::Invalid);
    let e = read_mem("rec 2 500 40000000\nrec.dat 16\nrec.dat 16\n", &[]).unwrap_err();
    assert_eq!(e.kind, FormatErrorKind::TooLarge);
    let e = read_mem(
        "rec 1 500 2\nrec.dat 16+100\n",
        &[("rec.dat", le16(&[1, 2]))],
    )
    .unwrap_err();
    assert_eq!(e.kind, FormatErrorKind::Truncated);
}

#[test]
fn duplicate_lead_labels_are_kept_apart() {
    let header = "rec 2 500 1\nrec.dat 16 200 16 0 0 0 0 II\nrec.dat 16 200 16 0 0 0 0 II\n";
    let input = read_mem(header, &[("rec.dat", le16(&[1, 2]))]).unwrap();
    assert_eq!(
        input.record.leads[1].lead,
        LeadId::Other("II (signal 2)".into())
    );
    assert!(input.record.validate().is_ok());
}

#[test]
fn header_detection() {
    assert!(looks_like_header(
        "100 2 360 650000\n100.dat 212 200 11 1024 995 -22131 0 MLII\n"
    ));
    assert!(looks_like_header("# c\nrec 1\nrec.dat 16\n"));
    assert!(!looks_like_header("time_s,I,II\n0,1,2\n"));
    assert!(!looks_like_header("I II III\n1 2 3\n"));
}

fn synthetic_record() -> EcgRecord {
    let n = 300;
    let leads = StandardLead::STANDARD_ORDER
        .iter()
        .enumerate()
        .map(|(k, l)| {
            let samples = (0..n)
                .map(|t| {
                    ((t as f64 * 0.05 + k as f64).sin() * 800.0 * (k as f64 + 1.0) / 6.0).round()
                })
                .collect();
            LeadSignal::new(LeadId::Standard(*l), l.name(), samples)
        })
        .collect();
    EcgRecord {
        sample_rate_hz: 500.0,
        leads,
        acquisition_time: Some("2024-05-06T07:08:09".into()),
        device: None,
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

#[test]
fn written_format_16_reads_back_identically() {
    let rec = synthetic_record();
    let (hea, dat) = write(&rec, "out").unwrap();
    let input = read(&hea, "out.hea", &mut |name: &str| {
        assert_eq!(name, "out.dat");
        Ok(dat.clone())
    })
    .unwrap();
    let back = input.record;
    assert_eq!(back.sample_rate_hz, 500.0);
    assert_eq!(
        back.acquisition_time.as_deref(),
        Some("2024-05-06T07:08:09")
    );
    assert!(
        back.processing_notes
            .iter()
            .all(|n| !n.contains("checksum")),
        "{:?}",
        back.processing_notes
    );
    for (a, b) in rec.leads.iter().zip(&back.leads) {
        assert_eq!(a.lead, b.lead);
        assert_eq!(
            a.samples_uv, b.samples_uv,
            "integral µV survive exactly at 1000 units/mV"
        );
        assert_eq!(b.calibration.as_ref().map(|c| c.gain), Some(1000.0));
    }
    // Writing again with the calibration just read keeps it and the same bytes.
    let (hea2, dat2) = write(&back, "out").unwrap();
    assert_eq!(dat2, dat);
    assert_eq!(hea2, hea);
}

#[test]
fn writer_keeps_source_calibration_and_falls_back_when_it_overflows() {
    let mut rec = synthetic_record();
    rec.leads[0].calibration = Some(Calibration {
        gain: 200.0,
        baseline: 1024.0,
        units: "mV".into(),
    });
    rec.leads[1].calibration = Some(Calibration {
        gain: 1e6,
        baseline: 0.0,
        units: "uV".into(),
    });
    rec.leads[2].samples_uv[5] = f64::NAN;
    let (hea, dat) = write(&rec, "cal").unwrap();
    let text = String::from_utf8(hea.clone()).unwrap();
    assert!(text.contains("cal.dat 16 200(1024)/mV"), "{text}");
    assert!(text.contains("could not be kept"), "{text}");
    let back = read(&hea, "cal.hea", &mut |_: &str| Ok(dat.clone()))
        .unwrap()
        .record;
    assert!(back.leads[2].samples_uv[5].is_nan());
    for (a, b) in rec.leads.iter().zip(&back.leads) {
        let gain = b.calibration.as_ref().unwrap().gain;
        let step = 1000.0 / gain;
        for (x, y) in a.samples_uv.iter().zip(&b.samples_uv) {
            assert!(
                x.is_nan() && y.is_nan() || (x - y).abs() <= step / 2.0 + 1e-9,
                "{x} vs {y}"
            );
        }
    }
    let mut bad = synthetic_record();
    bad.leads[0].samples_uv[0] = f64::INFINITY;
    assert_eq!(
        write(&bad, "x").unwrap_err().kind,
        FormatErrorKind::NonFinite
    );
    assert_eq!(
        write(&rec, "a b").unwrap_err().kind,
        FormatErrorKind::Invalid
    );
}

#[test]
fn derived_leads_are_not_written() {
    let mut rec = synthetic_record();
    rec.leads.retain(|l| !matches!(l.lead.standard(), Some(s) if matches!(s, StandardLead::III | StandardLead::AVR | StandardLead::AVL | StandardLead::AVF)));
    rec.derive_limb_leads();
    let (hea, dat) = write(&rec, "d").unwrap();
    let text = String::from_utf8(hea.clone()).unwrap();
    assert!(text.starts_with("d 8 500 300"), "{text}");
    let back = read(&hea, "d.hea", &mut |_: &str| Ok(dat.clone()))
        .unwrap()
        .record;
    assert_eq!(back.derived_leads(), vec!["III", "aVR", "aVL", "aVF"]);
}
