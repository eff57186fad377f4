use std::fmt::Write as _;

use super::*;
use crate::record::StandardLead;

fn read_ok(text: &str, options: &CsvOptions) -> SignalInput {
    match read(text.as_bytes(), "t.csv", options) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fn read_err(text: &str, options: &CsvOptions) -> FormatError {
    match read(text.as_bytes(), "t.csv", options) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e,
    }
}

fn lead(input: &SignalInput, which: StandardLead) -> Vec<f64> {
    input
        .record
        .lead(which)
        .map(|l| l.samples_uv.clone())
        .unwrap_or_default()
}

#[test]
fn detects_header_rows_of_lead_names() {
    assert!(looks_like_csv("time_s,I,II,III\n0,1,2,3\n"));
    assert!(looks_like_csv("\u{feff}# exported\nII;V1\n1;2\n"));
    assert!(looks_like_csv("\"t\"\t\"ECG II (mV)\"\n"));
    assert!(looks_like_csv("II\n1\n2\n"));
    assert!(!looks_like_csv("0,1,2\n"));
    assert!(!looks_like_csv("name,age\nbob,3\n"));
    assert!(!looks_like_csv(""));
}

#[test]
fn infers_rate_from_the_time_column_and_reads_microvolts() {
    let input = read_ok(
        "time_s,I,II\n0,100,200\n0.002,110,210\n0.004,120,220\n",
        &CsvOptions::default(),
    );
    let rec = &input.record;
    assert_eq!(rec.sample_rate_hz, 500.0);
    assert_eq!(rec.provenance.format, Format::Csv);
    assert_eq!(lead(&input, StandardLead::II), vec![200.0, 210.0, 220.0]);
    assert_eq!(rec.derived_leads(), vec!["III", "aVR", "aVL", "aVF"]);
    assert!(
        rec.processing_notes
            .iter()
            .any(|n| n.contains("read as µV"))
    );
    assert!(input.patient.is_empty());
}

#[test]
fn time_in_milliseconds_and_unit_suffixes() {
    let input = read_ok(
        "time_ms;II_mV;V1 (uV);V2 [V]\n0;0,5;10;0.001\n4;1;20;0.002\n8;1,5;30;0.003\n",
        &CsvOptions::default(),
    );
    assert_eq!(input.record.sample_rate_hz, 250.0);
    assert_eq!(lead(&input, StandardLead::II), vec![500.0, 1000.0, 1500.0]);
    assert_eq!(lead(&input, StandardLead::V1), vec![10.0, 20.0, 30.0]);
    assert_eq!(lead(&input, StandardLead::V2), vec![1000.0, 2000.0, 3000.0]);
}

#[test]
fn units_option_and_rate_option_apply() {
    let options = CsvOptions {
        units: Some(CsvUnits::Millivolts),
        sample_rate_hz: Some(100.0),
    };
    let input = read_ok("Lead II\tEKG V6\n1\t2\n3\t4\n", &options);
    assert_eq!(input.record.sample_rate_hz, 100.0);
    assert_eq!(lead(&input, StandardLead::V6), vec![2000.0, 4000.0]);
    // header suffix wins over the option, with a note
    let input = read_ok("II_uV\n1\n", &options);
    assert_eq!(lead(&input, StandardLead::II), vec![1.0]);
    assert!(
        input
            .record
            .processing_notes
            .iter()
            .any(|n| n.contains("wins"))
    );
}

#[test]
fn missing_rate_is_a_clear_error() {
    let e = read_err("I,II\n1,2\n", &CsvOptions::default());
    assert_eq!(e.kind, FormatErrorKind::Invalid);
    assert_eq!(e.field, "sample rate");
    assert!(e.problem.contains("--sample-rate"));
    let e = read_err("sample,II\n0,1\n1,2\n", &CsvOptions::default());
    assert_eq!(e.field, "sample rate");
}

#[test]
fn cell_errors_name_row_and_column() {
    let e = read_err("time_s,I,II\n0,1,2\n0.002,x,2\n", &CsvOptions::default());
    assert_eq!(e.kind, FormatErrorKind::Invalid);
    assert_eq!(e.field, "row 3, column 2 (I)");
    let e = read_err("time_s,I,II\n0,1,2\n0.002,2\n", &CsvOptions::default());
    assert_eq!(e.kind, FormatErrorKind::Inconsistent);
    assert_eq!(e.field, "row 3");
    let e = read_err("time_s,I\n0,1\n0.002,inf\n", &CsvOptions::default());
    assert_eq!(e.field, "row 3, column 2 (I)");
    let e = read_err("time_s,I\n0,1\n0.002,1e999\n", &CsvOptions::default());
    assert_eq!(e.field, "row 3, column 2 (I)");
    let e = read_err("time_s,I\n0,1\n,2\n", &CsvOptions::default());
    assert_eq!(e.field, "row 3, column 1 (time_s)");
}

#[test]
fn non_uniform_time_names_the_row() {
    let e = read_err(
        "t,II\n0,1\n0.002,1\n0.004,1\n0.010,1\n0.012,1\n",
        &CsvOptions::default(),
    );
    assert_eq!(e.kind, FormatErrorKind::Inconsistent);
    assert_eq!(e.field, "row 5, column 1 (t)");
    let options = CsvOptions {
        units: None,
        sample_rate_hz: Some(250.0),
    };
    let e = read_err("t,II\n0,1\n0.002,1\n", &options);
    assert_eq!(e.field, "time column");
}

#[test]
fn empty_cells_are_missing_samples() {
    let input = read_ok("time_s,II,V1\n0,1,\n0.002,,2\n", &CsvOptions::default());
    assert!(lead(&input, StandardLead::II)[1].is_nan());
    assert!(lead(&input, StandardLead::V1)[0].is_nan());
    assert!(
        input
            .record
            .processing_notes
            .iter()
            .any(|n| n.contains("2 empty cell(s)"))
    );
}

#[test]
fn structural_errors() {
    let o = CsvOptions::default();
    assert_eq!(read_err("", &o).field, "header row");
    assert_eq!(read_err("time_s,II\n", &o).kind, FormatErrorKind::Truncated);
    assert_eq!(read_err("time_s\n0\n", &o).field, "header row");
    assert_eq!(
        read_err("II,ECG II\n1,2\n", &o).kind,
        FormatErrorKind::Inconsistent
    );
    assert_eq!(read_err("1,2\n3,4\n", &o).field, "row 1, column 1 (1)");
    assert!(read_err("II (mmHg)\n1\n", &o).problem.contains("mmHg"));
    let e = read(b"II\n\xff\n", "t.csv", &o).err().map(|e| e.field);
    assert_eq!(e.as_deref(), Some("row 2"));
}

#[test]
fn writer_round_trips_within_a_hundredth_of_a_microvolt() {
    let leads = StandardLead::STANDARD_ORDER
        .iter()
        .enumerate()
        .map(|(k, l)| {
            let s = (0..3600)
                .map(|t| 1234.5678 * ((t as f64) * 0.01 * (k as f64 + 1.0)).sin())
                .collect();
            LeadSignal::new(LeadId::Standard(*l), l.name(), s)
        })
        .collect();
    for rate in [500.0, 360.0, 1000.0, 257.0] {
        let mut rec = EcgRecord {
            sample_rate_hz: rate,
            leads: Vec::clone(&leads),
            acquisition_time: None,
            device: None,
            provenance: Provenance {
                format: Format::Edf,
                file_name: "x.edf".into(),
                sha256: String::new(),
                byte_len: 0,
            },
            annotations: Vec::new(),
            representative_beats: None,
            processing_notes: Vec::new(),
        };
        rec.leads[2].samples_uv[7] = f64::NAN;
        let bytes = write(&rec);
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("time_s,I,II,III,aVR,aVL,aVF,V1,"));
        assert!(looks_like_csv(&text));
        let back = read_ok(&text, &CsvOptions::default()).record;
        assert_eq!(back.sample_rate_hz, rate);
        assert_eq!(back.leads.len(), 12);
        for (a, b) in rec.leads.iter().zip(&back.leads) {
            assert_eq!(a.lead, b.lead);
            for (x, y) in a.samples_uv.iter().zip(&b.samples_uv) {
                assert!(
                    x.is_nan() && y.is_nan() || (x - y).abs() <= 0.01,
                    "{x} vs {y}"
                );
            }
        }
    }
}

fn repo_file(rel: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn fixture_variants_read() {
    let bytes = repo_file("tests/fixtures/csv/semicolon_decimal_comma_mv.csv");
    assert_eq!(crate::formats::detect(&bytes, "x.csv"), Some(Format::Csv));
    let input = read(&bytes, "x.csv", &CsvOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(input.record.sample_rate_hz, 250.0);
    assert_eq!(
        lead(&input, StandardLead::II),
        vec![125.0, 250.0, 500.0, 250.0]
    );
    assert_eq!(
        lead(&input, StandardLead::V1),
        vec![-500.0, -400.0, -300.0, -200.0]
    );
    let bytes = repo_file("tests/fixtures/csv/tab_time_ms_uv.csv");
    assert_eq!(crate::formats::detect(&bytes, "x.csv"), Some(Format::Csv));
    let input = read(&bytes, "x.csv", &CsvOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(input.record.sample_rate_hz, 500.0);
    assert_eq!(lead(&input, StandardLead::V2), vec![300.0, 310.0, 320.0]);
}

/// The sample assets hold the same synthetic signal in EDF+ (pyedflib, 16-bit over ±5 mV)
/// and CSV (integer µV): both readers must agree within the two quantisations.
#[test]
fn sample_assets_agree_across_formats() {
    let csv_bytes = repo_file("assets/samples/synthetic_sinus.csv");
    let edf_bytes = repo_file("assets/samples/synthetic_sinus.edf");
    let csv = read(&csv_bytes, "synthetic_sinus.csv", &CsvOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .record;
    let edf = crate::formats::edf::read(&edf_bytes, "synthetic_sinus.edf")
        .unwrap_or_else(|e| panic!("{e}"))
        .record;
    assert_eq!(csv.sample_rate_hz, 500.0);
    assert_eq!(edf.sample_rate_hz, 500.0);
    assert_eq!(csv.samples_per_lead(), 5000);
    assert_eq!(edf.samples_per_lead(), 5000);
    assert!(csv.missing_standard_leads().is_empty());
    assert!(edf.missing_standard_leads().is_empty());
    let tolerance = 0.5 + 10_000.0 / 65_535.0;
    for l in StandardLead::STANDARD_ORDER {
        let (a, b) = (csv.lead(l), edf.lead(l));
        let (Some(a), Some(b)) = (a, b) else {
            panic!("{l} missing")
        };
        for (x, y) in a.samples_uv.iter().zip(&b.samples_uv) {
            assert!((x - y).abs() <= tolerance, "{l}: csv {x} edf {y}");
        }
    }
    let twi = read(
        &repo_file("assets/samples/synthetic_twi.csv"),
        "synthetic_twi.csv",
        &CsvOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .record;
    assert_eq!(twi.samples_per_lead(), 5000);
    assert!(twi.missing_standard_leads().is_empty());
}

#[test]
fn rows_keep_their_line_numbers_around_comments_blank_lines_and_crlf() {
    let o = CsvOptions {
        units: Some(CsvUnits::Microvolts),
        sample_rate_hz: None,
    };
    let e = read_err(
        "time_s,I\r\n# note\r\n0,1\r\n\r\n0.002,2\r\n0.004,x\r\n",
        &o,
    );
    assert_eq!(e.field, "row 6, column 2 (I)");
    let e = read_err("time_s,I\n0,1\n   \n0.002,1,3\n", &o);
    assert_eq!(e.field, "row 4");
    let input = read_ok("# exported\n\ntime_s,I\n0,1\n#gap\n0.002,-2\n0.004,3", &o);
    assert_eq!(lead(&input, StandardLead::I), vec![1.0, -2.0, 3.0]);
}

/// Files that mix the fast path's rows (plain decimals) with rows only the general path reads
/// (quotes, spaces, exponents, missing values, CRLF, comments) give, cell for cell, the value
/// `str::parse` gives.
#[test]
fn mixed_rows_read_the_same_as_parsing_each_cell() {
    let mut rng = crate::test_rng::XorShift::new(0x2545_F491_4F6C_DD1D);
    let mut next = move |n: u64| rng.below(n);
    for _ in 0..40 {
        let mut text = String::from("sample,I,II,V1\n");
        let mut expected: Vec<[Option<f64>; 3]> = Vec::new();
        for row in 0..300 {
            if next(20) == 0 {
                text.push_str(["# comment\n", "\n", "  \n"][next(3) as usize]);
            }
            text.push_str(&row.to_string());
            let mut values = [None; 3];
            for value in &mut values {
                let digits = 1 + next(12);
                let mut cell: String = (0..digits)
                    .map(|_| char::from(b'0' + next(10) as u8))
                    .collect();
                if next(2) == 0 {
                    let at = 1 + next(digits) as usize;
                    cell.insert(at.min(cell.len()), '.');
                    if cell.ends_with('.') {
                        cell.push('5');
                    }
                }
                if next(2) == 0 {
                    cell.insert(0, '-');
                }
                let shown = match next(30) {
                    0 => String::new(),
                    1 => format!("\"{cell}\""),
                    2 => format!(" {cell}"),
                    3 => format!("{cell}e0"),
                    _ => cell.clone(),
                };
                *value = (!shown.is_empty()).then(|| cell.parse::<f64>().unwrap());
                text.push(',');
                text.push_str(&shown);
            }
            text.push_str(if next(10) == 0 { "\r\n" } else { "\n" });
            expected.push(values);
        }
        let options = CsvOptions {
            units: None,
            sample_rate_hz: Some(500.0),
        };
        let input = read_ok(&text, &options);
        for (k, which) in [StandardLead::I, StandardLead::II, StandardLead::V1]
            .into_iter()
            .enumerate()
        {
            let got = lead(&input, which);
            assert_eq!(got.len(), expected.len());
            for (row, (g, e)) in got.iter().zip(&expected).enumerate() {
                match e[k] {
                    Some(e) => assert_eq!(g.to_bits(), e.to_bits(), "row {row} lead {which}"),
                    None => assert!(g.is_nan(), "row {row} lead {which}"),
                }
            }
        }
    }
}

/// A long file of plain rows, 2 ms apart: `time_ms,V1_uV,V2_uV,V3_uV`.
fn long_plain_file(rng: &mut crate::test_rng::XorShift, rows: usize) -> String {
    let mut text = String::from("time_ms,V1_uV,V2_uV,V3_uV\n");
    for row in 0..rows {
        text.push_str(&(2 * row).to_string());
        for _ in 0..3 {
            let _ = write!(text, ",{}", i64::try_from(rng.below(2000)).unwrap() - 1000);
        }
        text.push('\n');
    }
    text
}

/// An odd line in the middle of a long file is read, or named by its line number.
#[test]
fn an_odd_row_in_a_long_file_is_read_or_named_by_its_line() {
    let mut rng = crate::test_rng::XorShift::new(0x0DDB_A11C_AFE5_0001);
    let options = CsvOptions::default();
    // Comments and blank lines are inserted; the other lines replace a row of the middle,
    // keeping its time stamp.
    for odd in ["# a comment", "", "1,,3", "1,2", "1,x,3", "1, 2,3"] {
        let text = long_plain_file(&mut rng, 8000);
        let start = text[text.len() / 2..].find('\n').unwrap() + text.len() / 2 + 1;
        let end = start + text[start..].find('\n').unwrap() + 1;
        let time = text[start..end].split(',').next().unwrap();
        let line = text[..start].matches('\n').count() + 1;
        let changed = match odd {
            "# a comment" | "" => format!("{}{odd}\n{}", &text[..start], &text[start..]),
            _ => format!("{}{time},{odd}\n{}", &text[..start], &text[end..]),
        };
        let whole = read(changed.as_bytes(), "t.csv", &options);
        let row = line - 2;
        match odd {
            "1,x,3" => {
                let e = whole.unwrap_err();
                assert_eq!(e.field, format!("row {line}, column 3 (V2_uV)"));
            }
            "1,2" => assert_eq!(whole.unwrap_err().field, format!("row {line}")),
            "1,,3" => assert!(whole.unwrap().record.leads[1].samples_uv[row].is_nan()),
            "1, 2,3" => assert_eq!(whole.unwrap().record.leads[1].samples_uv[row], 2.0),
            _ => assert_eq!(whole.unwrap().record.samples_per_lead(), 8000),
        }
    }
}

/// The provenance hash is the file's.
#[test]
fn the_record_carries_the_files_sha256() {
    let large = repo_file("assets/samples/synthetic_sinus.csv");
    let small = b"time_s,I\n0,1\n0.002,2\n".to_vec();
    for bytes in [large, small] {
        let input = read(&bytes, "t.csv", &CsvOptions::default()).unwrap();
        assert_eq!(
            input.record.provenance.sha256,
            crate::formats::sha256_hex(&bytes)
        );
    }
}

/// Time steps that vary within the tolerance are accepted whether they span less than it
/// (where the median is not needed) or not; a step off by more is named either way.
#[test]
fn time_steps_within_the_tolerance_pass_and_others_are_named() {
    let file = |steps: &[f64]| {
        let mut text = String::from("time_ms,I\n0,1\n");
        let mut t = 0.0;
        for (k, step) in steps.iter().enumerate() {
            t += step;
            let _ = writeln!(text, "{t},{k}");
        }
        text
    };
    let o = CsvOptions::default();
    // Span 0.5 % of the smallest step: the quick check passes.
    assert_eq!(
        read_ok(&file(&[2.0, 2.01, 2.0, 2.005]), &o)
            .record
            .sample_rate_hz
            .round(),
        499.0
    );
    // Span 1.5 %, each within 1 % of the median 2.0: the median check passes.
    assert!(
        read_ok(&file(&[1.99, 2.0, 2.0, 2.0, 2.02]), &o)
            .record
            .sample_rate_hz
            > 0.0
    );
    // One step 3 % off: named by its row.
    let e = read_err(&file(&[2.0, 2.0, 2.06, 2.0, 2.0]), &o);
    assert_eq!(e.field, "row 5, column 1 (time_ms)");
}

/// A file of lead columns whose header names no units: `rows` rows, every lead the same
/// shape scaled to peak at `peak` (and `-peak`).
fn unitless_file(peak: f64, rows: usize) -> String {
    let mut text = String::from("time_ms,I,II,V1,V2\n");
    for row in 0..rows {
        let phase = (row % 50) as f64 / 50.0;
        let v = peak * (std::f64::consts::TAU * phase).sin();
        let _ = writeln!(
            text,
            "{},{v:.4},{:.4},{:.4},{:.4}",
            2 * row,
            v / 2.0,
            -v,
            v * 0.8
        );
    }
    text
}

/// Issue 19 §5: a file in millivolts with no units in its header (amplitudes of about ±1–3)
/// is read as millivolts, not as microvolts that make every lead flat, and the notes say so.
#[test]
fn a_silent_header_over_millivolt_amplitudes_is_read_as_millivolts() {
    let input = read_ok(&unitless_file(2.5, 500), &CsvOptions::default());
    let ii = lead(&input, StandardLead::II);
    let peak = ii.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!((peak - 1250.0).abs() < 10.0, "lead II peaks at {peak} µV");
    let note = input
        .record
        .processing_notes
        .iter()
        .find(|n| n.starts_with("no units in the header or options"))
        .unwrap();
    assert!(note.contains("read as mV, from their amplitudes"), "{note}");
    // The same shape in microvolts stays microvolts.
    let input = read_ok(&unitless_file(1500.0, 500), &CsvOptions::default());
    let peak = lead(&input, StandardLead::V1)
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()));
    assert!((peak - 1500.0).abs() < 10.0, "{peak}");
    assert!(
        input
            .record
            .processing_notes
            .iter()
            .any(|n| n.contains("read as µV, from their amplitudes"))
    );
    // A units option or a header suffix decides without looking at the amplitudes.
    let options = CsvOptions {
        units: Some(CsvUnits::Microvolts),
        sample_rate_hz: None,
    };
    let input = read_ok(&unitless_file(2.5, 500), &options);
    assert!(
        lead(&input, StandardLead::II)
            .iter()
            .all(|v| v.abs() <= 1.25)
    );
}

/// Amplitudes that fit neither millivolts nor microvolts are refused with an error naming the
/// file, the peak and the way out; an all-zero file reads (its units change nothing).
#[test]
fn ambiguous_amplitudes_without_units_are_refused() {
    for peak in [45.0, 0.002] {
        let e = read_err(&unitless_file(peak, 500), &CsvOptions::default());
        assert_eq!(
            (e.kind, e.field.as_str()),
            (FormatErrorKind::Invalid, "units")
        );
        let message = e.to_string();
        assert!(
            message.starts_with("t.csv: invalid in units: no units"),
            "{message}"
        );
        assert!(message.contains("--units"), "{message}");
    }
    let e = read_err(&unitless_file(45.0, 500), &CsvOptions::default());
    assert!(e.problem.contains("too large for mV"), "{}", e.problem);
    let e = read_err(&unitless_file(0.002, 500), &CsvOptions::default());
    assert!(e.problem.contains("volts"), "{}", e.problem);
    let input = read_ok("time_ms,I,II\n0,0,0\n2,0,0\n", &CsvOptions::default());
    assert!(
        input
            .record
            .processing_notes
            .iter()
            .any(|n| n.contains("every value is 0"))
    );
}
