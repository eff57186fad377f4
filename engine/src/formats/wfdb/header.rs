//! Parsing of WFDB header (`.hea`) text, following the WFDB header(5) specification:
//!
//! ```text
//! record[/nseg] nsig [fs[/counterfreq[(basecounter)]] [nsamp [basetime [basedate]]]]
//! file format[xspf][:skew][+offset] [gain[(baseline)][/units] [adcres [adczero [initval [checksum [blocksize [description]]]]]]]
//! # comment
//! ```

use super::super::{FormatError, FormatErrorKind, MAX_CHANNELS, MAX_TOTAL_SAMPLES};

/// WFDB_DEFFREQ: the sampling frequency when the record line gives none.
pub const DEFAULT_FREQUENCY_HZ: f64 = 250.0;
/// WFDB_DEFGAIN: ADC units per physical unit when the gain is missing or zero.
pub const DEFAULT_GAIN: f64 = 200.0;
/// Largest samples-per-frame value accepted for one signal.
pub const MAX_SAMPLES_PER_FRAME: usize = 1024;

/// The sample storage formats this reader decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleFormat {
    /// 8-bit first differences.
    Diff8,
    /// 16-bit two's complement, little-endian.
    F16,
    /// 24-bit two's complement, little-endian.
    F24,
    /// 32-bit two's complement, little-endian.
    F32,
    /// 16-bit two's complement, big-endian.
    F61,
    /// 8-bit offset binary.
    F80,
    /// 16-bit offset binary.
    F160,
    /// Two 12-bit samples in three bytes.
    F212,
    /// Three 10-bit samples in two 16-bit words.
    F310,
    /// Three 10-bit samples in one 32-bit word.
    F311,
}

impl SampleFormat {
    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            8 => Self::Diff8,
            16 => Self::F16,
            24 => Self::F24,
            32 => Self::F32,
            61 => Self::F61,
            80 => Self::F80,
            160 => Self::F160,
            212 => Self::F212,
            310 => Self::F310,
            311 => Self::F311,
            _ => return None,
        })
    }

    pub fn code(self) -> u32 {
        match self {
            Self::Diff8 => 8,
            Self::F16 => 16,
            Self::F24 => 24,
            Self::F32 => 32,
            Self::F61 => 61,
            Self::F80 => 80,
            Self::F160 => 160,
            Self::F212 => 212,
            Self::F310 => 310,
            Self::F311 => 311,
        }
    }

    /// The ADC resolution assumed when the header gives none (or 0).
    pub fn default_resolution(self) -> u32 {
        match self {
            Self::Diff8 | Self::F80 => 8,
            Self::F16 | Self::F61 | Self::F160 => 16,
            Self::F24 => 24,
            Self::F32 => 32,
            Self::F212 => 12,
            Self::F310 | Self::F311 => 10,
        }
    }

    /// The stored value WFDB reserves for "no valid sample" (WFDB_INVALID_SAMPLE scaled to the
    /// format's width); difference format 8 has none.
    pub fn invalid_sentinel(self) -> Option<i32> {
        match self {
            Self::Diff8 => None,
            Self::F80 => Some(-128),
            Self::F16 | Self::F61 | Self::F160 => Some(-32768),
            Self::F24 => Some(-8_388_608),
            Self::F32 => Some(i32::MIN),
            Self::F212 => Some(-2048),
            Self::F310 | Self::F311 => Some(-512),
        }
    }
}

/// The record line.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordLine {
    pub name: String,
    pub nsig: usize,
    pub frequency_hz: f64,
    pub counter_frequency: Option<f64>,
    pub base_counter: Option<f64>,
    /// Samples per signal (frames); `None` when the header leaves it to the data file length.
    pub nsamp: Option<usize>,
    pub base_time: Option<String>,
    pub base_date: Option<String>,
}

/// One signal line.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalLine {
    pub file_name: String,
    pub format: SampleFormat,
    pub samples_per_frame: usize,
    pub skew: usize,
    pub byte_offset: u64,
    /// ADC units per physical unit (`DEFAULT_GAIN` substituted for a missing or zero gain).
    pub gain: f64,
    /// True when the header gave no (or a zero) gain: the signal is uncalibrated.
    pub gain_defaulted: bool,
    pub baseline: i64,
    pub units: String,
    pub adc_resolution: u32,
    pub adc_zero: i64,
    pub initial_value: i64,
    pub checksum: Option<i64>,
    pub block_size: i64,
    pub description: Option<String>,
}

/// A parsed header.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub record: RecordLine,
    pub signals: Vec<SignalLine>,
    /// `#` comment lines, without the `#` and surrounding blanks, in file order.
    pub comments: Vec<String>,
}

/// Whitespace-separated tokens with their byte ranges (so the description can keep its spaces).
fn tokens(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                out.push((s, &line[s..i]));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push((s, &line[s..]));
    }
    out
}

struct Ctx<'a> {
    file: &'a str,
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

    fn invalid(&self, field: impl Into<String>, problem: impl Into<String>) -> FormatError {
        self.err(FormatErrorKind::Invalid, field, problem)
    }

    fn int<T: std::str::FromStr>(&self, field: &str, text: &str) -> Result<T, FormatError> {
        text.parse::<T>()
            .map_err(|_| self.invalid(field, format!("'{text}' is not a valid integer")))
    }

    fn finite(&self, field: &str, text: &str) -> Result<f64, FormatError> {
        let v: f64 = text
            .parse()
            .map_err(|_| self.invalid(field, format!("'{text}' is not a number")))?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(self.err(
                FormatErrorKind::NonFinite,
                field,
                format!("'{text}' is not finite"),
            ))
        }
    }
}

/// Parses header text. `file` names the header in errors.
pub fn parse(text: &str, file: &str) -> Result<Header, FormatError> {
    let ctx = Ctx { file };
    let mut comments = Vec::new();
    let mut lines = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim();
            if !comment.is_empty() {
                comments.push(comment.to_string());
            }
            continue;
        }
        lines.push(line);
    }
    let Some((first, signal_lines)) = lines.split_first() else {
        return Err(ctx.invalid("record line", "the header has no record line"));
    };
    let record = parse_record_line(&ctx, first)?;
    if signal_lines.len() < record.nsig {
        return Err(ctx.err(
            FormatErrorKind::Truncated,
            "signal count",
            format!(
                "the record line declares {} signal(s) but the header has {} signal line(s)",
                record.nsig,
                signal_lines.len()
            ),
        ));
    }
    if signal_lines.len() > record.nsig {
        return Err(ctx.err(
            FormatErrorKind::Inconsistent,
            "signal count",
            format!(
                "the record line declares {} signal(s) but the header has {} signal line(s)",
                record.nsig,
                signal_lines.len()
            ),
        ));
    }
    let signals = signal_lines
        .iter()
        .enumerate()
        .map(|(i, line)| parse_signal_line(&ctx, i, line))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Header {
        record,
        signals,
        comments,
    })
}

fn parse_record_line(ctx: &Ctx<'_>, line: &str) -> Result<RecordLine, FormatError> {
    let toks: Vec<&str> = tokens(line).into_iter().map(|(_, t)| t).collect();
    let name_tok = toks.first().copied().unwrap_or_default();
    if let Some((_, nseg)) = name_tok.split_once('/') {
        return Err(ctx.err(
            FormatErrorKind::Unsupported,
            "record name",
            format!("multi-segment records ({nseg} segments) are not supported; open a segment's own header"),
        ));
    }
    let Some(nsig_tok) = toks.get(1) else {
        return Err(ctx.invalid("signal count", "the record line has no signal count"));
    };
    let nsig: usize = ctx.int("signal count", nsig_tok)?;
    if nsig > MAX_CHANNELS {
        return Err(ctx.err(
            FormatErrorKind::TooLarge,
            "signal count",
            format!("{nsig} signals exceeds the limit of {MAX_CHANNELS}"),
        ));
    }
    let mut record = RecordLine {
        name: name_tok.to_string(),
        nsig,
        frequency_hz: DEFAULT_FREQUENCY_HZ,
        counter_frequency: None,
        base_counter: None,
        nsamp: None,
        base_time: None,
        base_date: None,
    };
    if let Some(freq_tok) = toks.get(2) {
        let (fs, counter) = match freq_tok.split_once('/') {
            Some((fs, counter)) => (fs, Some(counter)),
            None => (*freq_tok, None),
        };
        let fs = ctx.finite("sampling frequency", fs)?;
        if fs <= 0.0 {
            return Err(ctx.invalid("sampling frequency", format!("{fs} Hz is not positive")));
        }
        record.frequency_hz = fs;
        if let Some(counter) = counter {
            let (freq, base) = match counter.split_once('(') {
                Some((f, rest)) => {
                    let Some(base) = rest.strip_suffix(')') else {
                        return Err(ctx.invalid(
                            "base counter value",
                            format!("'{rest}' lacks its closing ')'"),
                        ));
                    };
                    (f, Some(ctx.finite("base counter value", base)?))
                }
                None => (counter, None),
            };
            let freq = ctx.finite("counter frequency", freq)?;
            if freq <= 0.0 {
                return Err(ctx.invalid("counter frequency", format!("{freq} is not positive")));
            }
            record.counter_frequency = Some(freq);
            record.base_counter = base;
        }
    }
    if let Some(nsamp_tok) = toks.get(3) {
        let nsamp: u64 = ctx.int("number of samples", nsamp_tok)?;
        if nsamp > MAX_TOTAL_SAMPLES as u64 {
            return Err(ctx.err(
                FormatErrorKind::TooLarge,
                "number of samples",
                format!("{nsamp} samples per signal exceeds the limit of {MAX_TOTAL_SAMPLES}"),
            ));
        }
        // 0 means "unknown": the data file's length decides.
        record.nsamp = (nsamp > 0).then_some(nsamp as usize);
    }
    record.base_time = toks.get(4).map(|s| (*s).to_string());
    record.base_date = toks.get(5).map(|s| (*s).to_string());
    if let Some(extra) = toks.get(6) {
        return Err(ctx.invalid(
            "record line",
            format!("unexpected field '{extra}' after the base date"),
        ));
    }
    Ok(record)
}

fn parse_format_field(
    ctx: &Ctx<'_>,
    field: &str,
    tok: &str,
) -> Result<(SampleFormat, usize, usize, u64), FormatError> {
    let digits_end = tok.find(|c: char| !c.is_ascii_digit()).unwrap_or(tok.len());
    let (code_text, mut rest) = tok.split_at(digits_end);
    let code: u32 = ctx.int(field, code_text)?;
    let Some(format) = SampleFormat::from_code(code) else {
        return Err(ctx.err(
            FormatErrorKind::Unsupported,
            field,
            format!("storage format {code} is not supported (supported: 8, 16, 24, 32, 61, 80, 160, 212, 310, 311)"),
        ));
    };
    let take = |prefix: char, rest: &mut &str| -> Option<String> {
        let r = rest.strip_prefix(prefix)?;
        let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        let (num, tail) = r.split_at(end);
        *rest = tail;
        Some(num.to_string())
    };
    let spf = match take('x', &mut rest) {
        Some(n) => ctx.int::<usize>(&format!("{field} samples per frame"), &n)?,
        None => 1,
    };
    let skew = match take(':', &mut rest) {
        Some(n) => ctx.int::<usize>(&format!("{field} skew"), &n)?,
        None => 0,
    };
    let offset = match take('+', &mut rest) {
        Some(n) => ctx.int::<u64>(&format!("{field} byte offset"), &n)?,
        None => 0,
    };
    if !rest.is_empty() {
        return Err(ctx.invalid(
            field,
            format!("'{tok}' has unexpected trailing text '{rest}'"),
        ));
    }
    // WFDB treats a zero samples-per-frame as one.
    let spf = spf.max(1);
    if spf > MAX_SAMPLES_PER_FRAME {
        return Err(ctx.err(
            FormatErrorKind::TooLarge,
            format!("{field} samples per frame"),
            format!("{spf} exceeds the limit of {MAX_SAMPLES_PER_FRAME}"),
        ));
    }
    if skew > MAX_TOTAL_SAMPLES {
        return Err(ctx.err(
            FormatErrorKind::TooLarge,
            format!("{field} skew"),
            format!("{skew} exceeds the limit of {MAX_TOTAL_SAMPLES}"),
        ));
    }
    Ok((format, spf, skew, offset))
}

fn parse_signal_line(ctx: &Ctx<'_>, index: usize, line: &str) -> Result<SignalLine, FormatError> {
    let n = index + 1;
    let toks = tokens(line);
    let tok = |i: usize| toks.get(i).map(|(_, t)| *t);
    let file_name = tok(0).unwrap_or_default().to_string();
    let Some(format_tok) = tok(1) else {
        return Err(ctx.invalid(
            format!("signal {n} format"),
            "the signal line has no storage format",
        ));
    };
    let (format, samples_per_frame, skew, byte_offset) =
        parse_format_field(ctx, &format!("signal {n} format"), format_tok)?;

    let mut gain = 0.0;
    let mut baseline = None;
    let mut units = "mV".to_string();
    if let Some(gain_tok) = tok(2) {
        let field = format!("signal {n} ADC gain");
        let (gain_part, unit_part) = match gain_tok.split_once('/') {
            Some((g, u)) => (g, Some(u)),
            None => (gain_tok, None),
        };
        let gain_text = match gain_part.split_once('(') {
            Some((g, rest)) => {
                let Some(b) = rest.strip_suffix(')') else {
                    return Err(ctx.invalid(
                        format!("signal {n} baseline"),
                        format!("'{rest}' lacks its closing ')'"),
                    ));
                };
                baseline = Some(ctx.int::<i64>(&format!("signal {n} baseline"), b)?);
                g
            }
            None => gain_part,
        };
        gain = ctx.finite(&field, gain_text)?;
        if gain < 0.0 {
            return Err(ctx.invalid(field, format!("{gain} is negative")));
        }
        if let Some(u) = unit_part {
            if u.is_empty() {
                return Err(ctx.invalid(format!("signal {n} units"), "empty units after '/'"));
            }
            units = u.to_string();
        }
    }
    let gain_defaulted = gain == 0.0;
    if gain_defaulted {
        gain = DEFAULT_GAIN;
    }
    let adc_resolution = match tok(3) {
        Some(t) => ctx.int::<u32>(&format!("signal {n} ADC resolution"), t)?,
        None => 0,
    };
    let adc_resolution = if adc_resolution == 0 {
        format.default_resolution()
    } else {
        adc_resolution
    };
    let adc_zero = match tok(4) {
        Some(t) => ctx.int::<i64>(&format!("signal {n} ADC zero"), t)?,
        None => 0,
    };
    let initial_value = match tok(5) {
        Some(t) => ctx.int::<i64>(&format!("signal {n} initial value"), t)?,
        None => adc_zero,
    };
    let checksum = match tok(6) {
        Some(t) => Some(ctx.int::<i64>(&format!("signal {n} checksum"), t)?),
        None => None,
    };
    let block_size = match tok(7) {
        Some(t) => ctx.int::<i64>(&format!("signal {n} block size"), t)?,
        None => 0,
    };
    let description = toks
        .get(8)
        .map(|(start, _)| line[*start..].trim().to_string())
        .filter(|d| !d.is_empty());
    Ok(SignalLine {
        file_name,
        format,
        samples_per_frame,
        skew,
        byte_offset,
        gain,
        gain_defaulted,
        baseline: baseline.unwrap_or(adc_zero),
        units,
        adc_resolution,
        adc_zero,
        initial_value,
        checksum,
        block_size,
        description,
    })
}

/// Microvolts per physical unit for the units a WFDB header may give a voltage in.
pub fn microvolts_per_unit(units: &str) -> Option<f64> {
    Some(match units {
        "mV" | "mv" | "MV" | "millivolt" | "millivolts" => 1000.0,
        "uV" | "uv" | "µV" | "μV" | "microvolt" | "microvolts" => 1.0,
        "V" | "v" | "volt" | "volts" => 1e6,
        "nV" | "nv" => 1e-3,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_header() {
        let text = "# leading comment\n100 2 360/720(3) 650000 12:30:05 25/12/2020\n\
            100.dat 212x2:3+512 200(1024)/mV 11 1024 995 -22131 0 MLII lead\n\
            100.dat 212 0 11 1024 1011 20052 0 V5\n# <age>: 69\n";
        let h = parse(text, "100.hea").unwrap();
        assert_eq!(h.record.name, "100");
        assert_eq!(h.record.nsig, 2);
        assert_eq!(h.record.frequency_hz, 360.0);
        assert_eq!(h.record.counter_frequency, Some(720.0));
        assert_eq!(h.record.base_counter, Some(3.0));
        assert_eq!(h.record.nsamp, Some(650_000));
        assert_eq!(h.record.base_time.as_deref(), Some("12:30:05"));
        assert_eq!(h.record.base_date.as_deref(), Some("25/12/2020"));
        let s = &h.signals[0];
        assert_eq!(s.format, SampleFormat::F212);
        assert_eq!((s.samples_per_frame, s.skew, s.byte_offset), (2, 3, 512));
        assert_eq!((s.gain, s.baseline, s.units.as_str()), (200.0, 1024, "mV"));
        assert_eq!(
            (s.adc_resolution, s.adc_zero, s.initial_value),
            (11, 1024, 995)
        );
        assert_eq!(s.checksum, Some(-22131));
        assert_eq!(s.description.as_deref(), Some("MLII lead"));
        let s = &h.signals[1];
        assert!(s.gain_defaulted);
        assert_eq!(s.gain, DEFAULT_GAIN);
        assert_eq!(s.baseline, 1024, "baseline defaults to ADC zero");
        assert_eq!(h.comments, vec!["leading comment", "<age>: 69"]);
    }

    #[test]
    fn minimal_header_takes_defaults() {
        let h = parse("r 1\nr.dat 16\n", "r.hea").unwrap();
        assert_eq!(h.record.frequency_hz, DEFAULT_FREQUENCY_HZ);
        assert_eq!(h.record.nsamp, None);
        let s = &h.signals[0];
        assert_eq!(
            (s.gain, s.baseline, s.units.as_str(), s.adc_resolution),
            (200.0, 0, "mV", 16)
        );
        assert_eq!(s.description, None);
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse("r 1 500\nr.dat 16 abc/mV\n", "r.hea").unwrap_err();
        assert_eq!(
            (e.kind, e.field.as_str()),
            (FormatErrorKind::Invalid, "signal 1 ADC gain")
        );
        let e = parse("r 1 500\nr.dat 999\n", "r.hea").unwrap_err();
        assert_eq!(e.kind, FormatErrorKind::Unsupported);
        let e = parse("r 3 500\nr.dat 16\n", "r.hea").unwrap_err();
        assert_eq!(
            (e.kind, e.field.as_str()),
            (FormatErrorKind::Truncated, "signal count")
        );
        let e = parse("r 100000 500\n", "r.hea").unwrap_err();
        assert_eq!(e.kind, FormatErrorKind::TooLarge);
        let e = parse("r/3 2 500\n", "r.hea").unwrap_err();
        assert_eq!(e.kind, FormatErrorKind::Unsupported);
        let e = parse("r 1 inf\nr.dat 16\n", "r.hea").unwrap_err();
        assert_eq!(e.kind, FormatErrorKind::NonFinite);
        let e = parse("r 1 500 99999999999\nr.dat 16\n", "r.hea").unwrap_err();
        assert_eq!(e.kind, FormatErrorKind::TooLarge);
    }
}
