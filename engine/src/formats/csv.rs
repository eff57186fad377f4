//! CSV (and semicolon- or tab-separated) ECG files: a header row of lead names, an optional
//! time column, one row per sample.
//!
//! Rules, documented once:
//! - Delimiter: whichever of `,` `;` tab occurs most in the header row. With `;` or tab, a
//!   comma inside a number is read as the decimal separator ("0,25").
//! - Time column (`time`, `time_s`, `t`, `time_ms`, also `time (ms)`, `t [s]`): the sample rate
//!   is inferred from it and every step must be within 1 % of the mean step, otherwise the
//!   row is named in the error. A `sample` column is an index only; the rate must then be
//!   given. An explicit rate option wins over the time column but must agree within 1 %.
//! - Units per column from a header suffix (`II_mV`, `II (uV)`, `II [mV]`), else from
//!   [`CsvOptions::units`]. When neither names any unit, the amplitudes decide, with a note in
//!   the record saying so: leads peaking (median over the leads of each one's largest |value|)
//!   at 100 or more are microvolts (the convention of the workstation's own CSV writer), at
//!   0.05–20 millivolts; anything else is refused as ambiguous, naming the peak.
//! - An empty cell (or `NaN`/`NA`) in a lead column is a missing sample, stored as NaN (the
//!   record's marker for invalid samples; the model input turns it into 0 and says so), and
//!   counted in a note. Any other non-numeric cell is an error naming its row and column;
//!   the time column may not have gaps.
//! - Lines that are empty or start with `#` are skipped.

use super::{
    FormatError, FormatErrorKind, MAX_CHANNELS, MAX_TOTAL_SAMPLES, SignalInput, sha256_hex,
};
use crate::record::{EcgRecord, Format, LeadId, LeadSignal, PatientInfo, Provenance};

/// Largest accepted deviation of one time step from the mean step, as a fraction of it.
const TIME_STEP_TOLERANCE: f64 = 0.01;
/// Rates within this relative distance of a whole number of Hz are taken as that number
/// (time stamps written with a few decimals carry rounding noise).
const RATE_SNAP_RELATIVE: f64 = 1e-5;

/// The physical unit of a CSV file's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvUnits {
    Microvolts,
    Millivolts,
    Volts,
}

impl CsvUnits {
    pub fn microvolts_per_unit(self) -> f64 {
        match self {
            Self::Microvolts => 1.0,
            Self::Millivolts => 1000.0,
            Self::Volts => 1_000_000.0,
        }
    }

    /// "uV", "µV", "mV", "V" in any case.
    pub fn parse(text: &str) -> Option<Self> {
        let norm: String = text
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
            "uv" | "microvolt" | "microvolts" => Some(Self::Microvolts),
            "mv" | "millivolt" | "millivolts" => Some(Self::Millivolts),
            "v" | "volt" | "volts" => Some(Self::Volts),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Microvolts => "µV",
            Self::Millivolts => "mV",
            Self::Volts => "V",
        }
    }
}

/// Options a CSV file cannot carry itself.
#[derive(Clone, Debug, Default)]
pub struct CsvOptions {
    /// Units of every lead column without a unit suffix in its header.
    pub units: Option<CsvUnits>,
    /// Sample rate, required when the file has no time column.
    pub sample_rate_hz: Option<f64>,
}

/// What a header cell names.
#[derive(Clone, Debug, PartialEq)]
enum Column {
    /// Time stamps; the factor converts them to seconds.
    Time { seconds_per_unit: f64 },
    /// A running sample number.
    SampleIndex,
    Lead {
        lead: LeadId,
        units: Option<CsvUnits>,
    },
}

/// A header cell split into name and unit suffix: `II_mV`, `II (uV)`, `II [mV]`.
fn split_unit(cell: &str) -> (&str, Option<&str>) {
    for (open, close) in [('(', ')'), ('[', ']')] {
        if let Some(inner) = cell.strip_suffix(close)
            && let Some(at) = inner.rfind(open)
        {
            return (
                inner[..at].trim(),
                Some(inner[at + open.len_utf8()..].trim()),
            );
        }
    }
    if let Some(at) = cell.rfind('_') {
        let suffix = &cell[at + 1..];
        let is_unit = CsvUnits::parse(suffix).is_some()
            || matches!(suffix.to_ascii_lowercase().as_str(), "s" | "ms");
        if is_unit && at > 0 {
            return (cell[..at].trim(), Some(suffix));
        }
    }
    (cell, None)
}

fn unquote(cell: &str) -> &str {
    let t = cell.trim();
    t.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(t)
        .trim()
}

/// Classifies a header cell; `Err` carries the problem with its unit.
fn classify(cell: &str) -> Result<Column, String> {
    let (name, unit) = split_unit(unquote(cell));
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "time" | "t" => {
            let seconds_per_unit = match unit.map(str::to_ascii_lowercase).as_deref() {
                None | Some("s" | "sec" | "seconds") => 1.0,
                Some("ms" | "msec" | "milliseconds") => 0.001,
                Some(other) => return Err(format!("time unit '{other}' is not s or ms")),
            };
            return Ok(Column::Time { seconds_per_unit });
        }
        "sample" | "samples" | "index" | "sample_index" if unit.is_none() => {
            return Ok(Column::SampleIndex);
        }
        _ => {}
    }
    let units = match unit {
        None => None,
        Some(u) => {
            Some(CsvUnits::parse(u).ok_or_else(|| format!("unit '{u}' is not uV, µV, mV or V"))?)
        }
    };
    if name.is_empty() {
        return Err("empty column name".to_string());
    }
    Ok(Column::Lead {
        lead: LeadId::from_label(name),
        units,
    })
}

/// Picks the delimiter that occurs most often in the header row.
fn delimiter(header: &str) -> Option<char> {
    [',', ';', '\t']
        .into_iter()
        .map(|d| (d, header.matches(d).count()))
        .filter(|(_, n)| *n > 0)
        .max_by_key(|(_, n)| *n)
        .map(|(d, _)| d)
}

/// The first line that carries content (not empty, not a `#` comment).
fn first_content_line(text: &str) -> Option<&str> {
    text.trim_start_matches('\u{feff}')
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
}

/// Does this text start with a CSV header row naming at least one standard ECG lead?
pub fn looks_like_csv(head: &str) -> bool {
    let Some(line) = first_content_line(head) else {
        return false;
    };
    let cells: Vec<&str> = match delimiter(line) {
        Some(d) => line.split(d).collect(),
        None => vec![line],
    };
    let mut leads = 0;
    for cell in &cells {
        let cell = unquote(cell);
        if cell.parse::<f64>().is_ok() {
            return false; // a data row, not a header
        }
        if let Ok(Column::Lead {
            lead: LeadId::Standard(_),
            ..
        }) = classify(cell)
        {
            leads += 1;
        }
    }
    leads >= 1
}

/// Parses a numeric cell: `Ok(None)` for a missing value (empty, NaN, NA).
fn number(cell: &str, decimal_comma: bool) -> Result<Option<f64>, String> {
    let t = unquote(cell);
    if t.is_empty() || t.eq_ignore_ascii_case("nan") || t.eq_ignore_ascii_case("na") {
        return Ok(None);
    }
    let owned;
    let t = if decimal_comma && t.contains(',') {
        owned = t.replace(',', ".");
        owned.as_str()
    } else {
        t
    };
    // Rust also parses "inf" and "infinity"; ECG files hold plain decimals.
    if !t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return Err(format!("'{t}' is not a number"));
    }
    let v: f64 = t.parse().map_err(|_| format!("'{t}' is not a number"))?;
    if v.is_finite() {
        Ok(Some(v))
    } else {
        Err(format!("'{t}' overflows a finite number"))
    }
}

/// Empty and `#` comment lines carry no row.
fn is_content(line: &str) -> bool {
    !line.trim().is_empty() && !line.trim_start().starts_with('#')
}

/// Reads a CSV ECG file: the header row names the columns, then every other line with content
/// is one row of samples; the SHA-256 of the file is computed after the parse.
pub fn read(
    bytes: &[u8],
    file_name: &str,
    options: &CsvOptions,
) -> Result<SignalInput, FormatError> {
    let err =
        |kind, field: &str, problem: String| FormatError::new(file_name, kind, field, problem);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].split(|&b| b == b'\n').count();
        err(
            FormatErrorKind::Invalid,
            &format!("row {line}"),
            format!("byte {} is not UTF-8 text", e.valid_up_to() + 1),
        )
    })?;
    let text = text.trim_start_matches('\u{feff}');
    // Each line with its number (1-based, counting empty and comment lines too, as editors do).
    let mut lines = text
        .split('\n')
        .map(|line| line.trim_end_matches('\r'))
        .zip(1usize..);
    let Some((header, header_row)) = lines.by_ref().find(|(line, _)| is_content(line)) else {
        return Err(err(
            FormatErrorKind::Invalid,
            "header row",
            "the file has no header row".into(),
        ));
    };
    let delim = delimiter(header);
    let decimal_comma = matches!(delim, Some(';' | '\t'));
    let names: Vec<String> = match delim {
        Some(d) => header.split(d).map(str::to_string).collect(),
        None => vec![header.to_string()],
    };
    if names.len() > MAX_CHANNELS + 1 {
        return Err(err(
            FormatErrorKind::TooLarge,
            "header row",
            format!(
                "{} columns; at most {MAX_CHANNELS} leads are accepted",
                names.len()
            ),
        ));
    }
    let mut columns = Vec::with_capacity(names.len());
    let mut time_col: Option<usize> = None;
    let mut index_col: Option<usize> = None;
    for (c, name) in names.iter().enumerate() {
        let field = || format!("row {header_row}, column {} ({})", c + 1, unquote(name));
        if unquote(name).parse::<f64>().is_ok() {
            return Err(err(
                FormatErrorKind::Invalid,
                &field(),
                "is a number: the first row must name the columns (time_s, I, II, ...)".into(),
            ));
        }
        let column = classify(name).map_err(|p| err(FormatErrorKind::Invalid, &field(), p))?;
        match column {
            Column::Time { .. } | Column::SampleIndex
                if time_col.is_some() || index_col.is_some() =>
            {
                return Err(err(
                    FormatErrorKind::Inconsistent,
                    &field(),
                    "a second time or sample column".into(),
                ));
            }
            Column::Time { .. } => time_col = Some(c),
            Column::SampleIndex => index_col = Some(c),
            Column::Lead {
                lead: LeadId::Standard(l),
                ..
            } => {
                let dup = columns.iter().position(
                    |k| matches!(k, Column::Lead { lead: LeadId::Standard(m), .. } if *m == l),
                );
                if let Some(first) = dup {
                    return Err(err(
                        FormatErrorKind::Inconsistent,
                        &field(),
                        format!("lead {l} already in column {}", first + 1),
                    ));
                }
            }
            Column::Lead { .. } => {}
        }
        columns.push(column);
    }
    let lead_cols: Vec<usize> = (0..columns.len())
        .filter(|&c| matches!(columns[c], Column::Lead { .. }))
        .collect();
    if lead_cols.is_empty() {
        return Err(err(
            FormatErrorKind::Invalid,
            "header row",
            "no lead column (only time)".into(),
        ));
    }

    // Where each column's values go: its lead's slot, or `None` for the time/sample column.
    let slots: Vec<Option<usize>> = (0..columns.len())
        .map(|c| lead_cols.iter().position(|&k| k == c))
        .collect();
    let layout = RowLayout {
        file_name,
        names: &names,
        slots: &slots,
        leads: lead_cols.len(),
        delim,
        decimal_comma,
    };
    // One row per line at most: room for them all up front (within the sample limit), so a
    // long recording is not copied as its vectors grow.
    let max_rows = (memchr::memchr_iter(b'\n', text.as_bytes()).count() + 1)
        .min(MAX_TOTAL_SAMPLES / layout.leads);
    let Table {
        mut samples,
        times,
        time_lines,
        rows,
        missing,
    } = read_rows(lines, &layout, max_rows)?;
    if rows == 0 {
        return Err(err(
            FormatErrorKind::Truncated,
            "data rows",
            "the header is not followed by any data row".into(),
        ));
    }

    let mut notes = Vec::new();
    let rate = sample_rate(
        file_name,
        &columns,
        time_col,
        &names,
        (&times, &time_lines),
        options,
        &mut notes,
    )?;

    // Units per column.
    let suffixed = lead_cols
        .iter()
        .any(|&c| matches!(columns[c], Column::Lead { units: Some(_), .. }));
    let mut silent_header_units = CsvUnits::Microvolts;
    if options.units.is_none() && !suffixed {
        let (units, note) = units_from_amplitudes(&samples)
            .map_err(|problem| err(FormatErrorKind::Invalid, "units", problem))?;
        silent_header_units = units;
        notes.push(note);
    }
    let mut leads = Vec::with_capacity(lead_cols.len());
    for (slot, &c) in lead_cols.iter().enumerate() {
        let Column::Lead { lead, units } = &columns[c] else {
            continue;
        };
        if let (Some(own), Some(opt)) = (units, options.units)
            && *own != opt
        {
            notes.push(format!(
                "column {} says {} in its header; that wins over the {} option",
                unquote(&names[c]),
                own.name(),
                opt.name()
            ));
        }
        let scale = units
            .or(options.units)
            .unwrap_or(silent_header_units)
            .microvolts_per_unit();
        let values = std::mem::take(&mut samples[slot]);
        let values = if scale == 1.0 {
            values
        } else {
            values.into_iter().map(|v| v * scale).collect()
        };
        leads.push(LeadSignal::new(lead.clone(), unquote(&names[c]), values));
    }
    if missing > 0 {
        notes.push(format!(
            "{missing} empty cell(s) read as missing samples (NaN)"
        ));
    }
    let mut record = EcgRecord {
        sample_rate_hz: rate,
        leads,
        acquisition_time: None,
        device: None,
        provenance: Provenance {
            format: Format::Csv,
            file_name: file_name.to_string(),
            sha256: sha256_hex(bytes),
            byte_len: bytes.len() as u64,
        },
        annotations: Vec::new(),
        representative_beats: None,
        processing_notes: notes,
    };
    record
        .validate()
        .map_err(|e| err(FormatErrorKind::Inconsistent, "columns", e.to_string()))?;
    record.derive_limb_leads();
    Ok(SignalInput {
        record,
        patient: PatientInfo::default(),
    })
}

/// Lead peaks (the median over the leads of each lead's largest |value|) from which a file
/// with no units is read as millivolts: an ECG lead peaks at some 0.3–3 mV.
const MILLIVOLT_PEAKS: std::ops::RangeInclusive<f64> = 0.05..=20.0;
/// Lead peaks from which such a file is read as microvolts (300–3000 µV in an ECG; 100 µV
/// leaves room for a low-voltage recording).
const MICROVOLT_PEAK_MIN: f64 = 100.0;

/// The units of a file whose header and options name none, decided from its amplitudes, with
/// the note that says so; `Err` with the problem when the amplitudes fit neither millivolts
/// nor microvolts. The median over the leads of each lead's largest |value| decides, so that
/// an artefact in one lead does not.
fn units_from_amplitudes(samples: &[Vec<f64>]) -> Result<(CsvUnits, String), String> {
    const PREFIX: &str = "no units in the header or options";
    let mut peaks: Vec<f64> = samples
        .iter()
        .map(|lead| {
            lead.iter()
                .filter(|v| v.is_finite())
                .fold(0.0f64, |m, v| m.max(v.abs()))
        })
        .collect();
    // Leads that are all zero (or all missing) say nothing about the units.
    peaks.retain(|&p| p > 0.0);
    peaks.sort_by(f64::total_cmp);
    let peak = match peaks.len() {
        0 => 0.0,
        n if n % 2 == 1 => peaks[n / 2],
        n => f64::midpoint(peaks[n / 2 - 1], peaks[n / 2]),
    };
    let shown = trimmed(peak, 6);
    let give_units = "give the units (--units uV, mV or V, or a header suffix such as II_mV)";
    if peak == 0.0 {
        Ok((
            CsvUnits::Microvolts,
            format!("{PREFIX}: values read as µV (every value is 0, so the units change nothing)"),
        ))
    } else if peak >= MICROVOLT_PEAK_MIN {
        Ok((
            CsvUnits::Microvolts,
            format!(
                "{PREFIX}: values read as µV, from their amplitudes (the leads peak at a median |value| of {shown})"
            ),
        ))
    } else if MILLIVOLT_PEAKS.contains(&peak) {
        Ok((
            CsvUnits::Millivolts,
            format!(
                "{PREFIX}: values read as mV, from their amplitudes (the leads peak at a median |value| of {shown}; in µV every lead would be flat)"
            ),
        ))
    } else if peak < *MILLIVOLT_PEAKS.start() {
        Err(format!(
            "{PREFIX}, and the amplitudes do not tell: the leads peak at a median |value| of {shown}, too small for mV (at least {}): volts, or a flat recording; {give_units}",
            MILLIVOLT_PEAKS.start()
        ))
    } else {
        Err(format!(
            "{PREFIX}, and the amplitudes do not tell: the leads peak at a median |value| of {shown}, too large for mV (at most {}) and too small for µV (at least {MICROVOLT_PEAK_MIN}); {give_units}",
            MILLIVOLT_PEAKS.end()
        ))
    }
}

/// What the row reader needs to know of the header.
struct RowLayout<'a> {
    file_name: &'a str,
    names: &'a [String],
    /// Per column: its lead's slot, or `None` for the time/sample column.
    slots: &'a [Option<usize>],
    leads: usize,
    delim: Option<char>,
    decimal_comma: bool,
}

/// The data rows: one vector per lead, the time column's values and their line numbers.
struct Table {
    samples: Vec<Vec<f64>>,
    times: Vec<f64>,
    /// The line number of each time value (comments or blank lines may lie between rows).
    time_lines: Vec<usize>,
    rows: usize,
    /// Empty lead cells, read as NaN.
    missing: usize,
}

/// Reads the data rows from the lines after the header (each with its line number);
/// `max_rows` sizes the vectors.
fn read_rows<'t>(
    lines: impl Iterator<Item = (&'t str, usize)>,
    layout: &RowLayout<'_>,
    max_rows: usize,
) -> Result<Table, FormatError> {
    let err = |kind, field: &str, problem: String| {
        FormatError::new(layout.file_name, kind, field, problem)
    };
    let columns = layout.slots.len();
    let has_time = layout.slots.contains(&None);
    let mut samples: Vec<Vec<f64>> = (0..layout.leads)
        .map(|_| Vec::with_capacity(max_rows))
        .collect();
    let mut times = Vec::with_capacity(if has_time { max_rows } else { 0 });
    let mut time_lines = Vec::with_capacity(if has_time { max_rows } else { 0 });
    let (mut rows, mut missing) = (0usize, 0usize);
    let mut cells: Vec<&str> = Vec::with_capacity(columns);
    for (line, row) in lines {
        if !is_content(line) {
            continue;
        }
        if (rows + 1) * layout.leads > MAX_TOTAL_SAMPLES {
            return Err(err(
                FormatErrorKind::TooLarge,
                &format!("row {row}"),
                format!("more than {MAX_TOTAL_SAMPLES} samples in all"),
            ));
        }
        cells.clear();
        match layout.delim {
            Some(d) => cells.extend(line.split(d)),
            None => cells.push(line),
        }
        if cells.len() != columns {
            return Err(err(
                FormatErrorKind::Inconsistent,
                &format!("row {row}"),
                format!(
                    "{} cells but the header has {} columns",
                    cells.len(),
                    columns
                ),
            ));
        }
        for (c, (cell, slot)) in cells.iter().zip(layout.slots).enumerate() {
            let field = || {
                format!(
                    "row {row}, column {} ({})",
                    c + 1,
                    unquote(&layout.names[c])
                )
            };
            let value = number(cell, layout.decimal_comma)
                .map_err(|p| err(FormatErrorKind::Invalid, &field(), p))?;
            match (slot, value) {
                (Some(slot), Some(v)) => samples[*slot].push(v),
                (Some(slot), None) => {
                    missing += 1;
                    samples[*slot].push(f64::NAN);
                }
                (None, Some(v)) => {
                    times.push(v);
                    time_lines.push(row);
                }
                (None, None) => {
                    return Err(err(
                        FormatErrorKind::Invalid,
                        &field(),
                        "the time/sample column has no value".into(),
                    ));
                }
            }
        }
        rows += 1;
    }
    Ok(Table {
        samples,
        times,
        time_lines,
        rows,
        missing,
    })
}

/// The sample rate from the option and/or the time column.
fn sample_rate(
    file_name: &str,
    columns: &[Column],
    time_col: Option<usize>,
    names: &[String],
    (times, time_lines): (&[f64], &[usize]),
    options: &CsvOptions,
    notes: &mut Vec<String>,
) -> Result<f64, FormatError> {
    let err =
        |kind, field: String, problem: String| FormatError::new(file_name, kind, field, problem);
    if let Some(r) = options.sample_rate_hz
        && !(r.is_finite() && r > 0.0)
    {
        return Err(err(
            FormatErrorKind::Invalid,
            "sample rate option".into(),
            format!("{r} Hz is not a positive rate"),
        ));
    }
    let inferred = match time_col {
        Some(c) => {
            let Column::Time { seconds_per_unit } = columns[c] else {
                return Err(err(
                    FormatErrorKind::Invalid,
                    "time column".into(),
                    "not a time column".into(),
                ));
            };
            let col_name = unquote(&names[c]).to_string();
            if times.len() < 2 {
                return Err(err(
                    FormatErrorKind::Invalid,
                    format!("column {} ({col_name})", c + 1),
                    "one time stamp cannot give a sample rate; give the sample rate (--sample-rate)".into(),
                ));
            }
            let (first, last) = (times[0], times[times.len() - 1]);
            let mean = (last - first) / (times.len() - 1) as f64;
            if !(mean.is_finite() && mean > 0.0) {
                return Err(err(
                    FormatErrorKind::Invalid,
                    format!("column {} ({col_name})", c + 1),
                    "time does not increase".into(),
                ));
            }
            // Steps are compared with the median step, so the row named is the one that breaks
            // the rhythm rather than the first row of a file whose mean was pulled off. When
            // the steps span less than the tolerance of the smallest, none can be off whatever
            // the median (it lies between them), so the sort for the median is skipped: the
            // common case, and on a long recording most of this function's time.
            let steps = || times.windows(2).map(|p| p[1] - p[0]);
            let low = steps().fold(f64::INFINITY, f64::min);
            let high = steps().fold(f64::NEG_INFINITY, f64::max);
            if !(low > 0.0 && high - low <= TIME_STEP_TOLERANCE * low) {
                let mut sorted: Vec<f64> = steps().collect();
                let middle = sorted.len() / 2;
                let median = *sorted.select_nth_unstable_by(middle, f64::total_cmp).1;
                for (k, step) in steps().enumerate() {
                    if (step - median).abs() > TIME_STEP_TOLERANCE * median {
                        return Err(err(
                            FormatErrorKind::Inconsistent,
                            format!(
                                "row {}, column {} ({col_name})",
                                time_lines.get(k + 1).copied().unwrap_or_default(),
                                c + 1
                            ),
                            format!(
                                "time step {} differs from the usual step {} by more than 1 %: samples are not uniformly spaced",
                                trimmed(step, 9),
                                trimmed(median, 9)
                            ),
                        ));
                    }
                }
            }
            let rate = 1.0 / (mean * seconds_per_unit);
            let snapped = rate.round();
            Some(if (rate - snapped).abs() <= RATE_SNAP_RELATIVE * rate {
                snapped
            } else {
                rate
            })
        }
        None => None,
    };
    match (options.sample_rate_hz, inferred) {
        (Some(given), Some(found)) => {
            if (given - found).abs() > TIME_STEP_TOLERANCE * given {
                return Err(err(
                    FormatErrorKind::Inconsistent,
                    "time column".into(),
                    format!("the time stamps give {found} Hz but the sample rate option says {given} Hz"),
                ));
            }
            Ok(given)
        }
        (Some(given), None) => Ok(given),
        (None, Some(found)) => {
            notes.push(format!("sample rate {found} Hz inferred from the time column"));
            Ok(found)
        }
        (None, None) => Err(err(
            FormatErrorKind::Invalid,
            "sample rate".into(),
            "the file has no time column, so its sample rate is unknown: give the sample rate (--sample-rate HZ)".into(),
        )),
    }
}

/// Writes `time_s,<leads…>` and one row per sample, values in µV with three decimals (trailing
/// zeros trimmed), missing samples as empty cells. Reading it back gives the same values
/// within 0.0005 µV and the same rate.
pub fn write(record: &EcgRecord) -> Vec<u8> {
    let mut out =
        String::with_capacity(record.samples_per_lead() * (record.leads.len() + 1) * 9 + 64);
    out.push_str("time_s");
    for lead in &record.leads {
        out.push(',');
        let name: String = lead
            .lead
            .name()
            .chars()
            .map(|c| {
                if matches!(c, ',' | ';' | '\t' | '"' | '\n' | '\r') {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        out.push_str(&name);
    }
    out.push('\n');
    let n = record.samples_per_lead();
    for k in 0..n {
        out.push_str(&trimmed(k as f64 / record.sample_rate_hz, 9));
        for lead in &record.leads {
            out.push(',');
            if let Some(v) = lead.samples_uv.get(k).filter(|v| v.is_finite()) {
                out.push_str(&trimmed(*v, 3));
            }
        }
        out.push('\n');
    }
    out.into_bytes()
}

/// A fixed-decimal number without trailing zeros ("12.5", "-3", "0").
fn trimmed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" { "0".to_string() } else { s }
}

#[cfg(test)]
mod tests;
