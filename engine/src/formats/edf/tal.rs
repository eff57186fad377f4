//! EDF+ time-stamped annotation lists (TALs): `+onset[\x15duration]\x14text\x14…\x14\x00`.
//! Each data record's annotation signal holds one or more TALs followed by zero padding; the
//! first TAL of a record is its time-keeping entry (no text).

const ONSET_END: u8 = 0x15;
const TEXT_SEP: u8 = 0x14;

/// One TAL: an onset (seconds from the file start), an optional duration and its texts.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Tal {
    pub onset_s: f64,
    pub duration_s: Option<f64>,
    pub texts: Vec<String>,
}

/// Parses the annotation bytes of one data record.
pub(super) fn parse_record(bytes: &[u8]) -> Result<Vec<Tal>, String> {
    let mut out = Vec::new();
    for chunk in bytes.split(|&b| b == 0) {
        if chunk.is_empty() {
            continue; // padding, or the terminator of the previous TAL
        }
        out.push(parse_tal(chunk)?);
    }
    Ok(out)
}

fn parse_tal(chunk: &[u8]) -> Result<Tal, String> {
    let mut parts = chunk.split(|&b| b == TEXT_SEP);
    let timing = parts.next().unwrap_or_default();
    let (onset, duration) = match timing.iter().position(|&b| b == ONSET_END) {
        Some(at) => (&timing[..at], Some(&timing[at + 1..])),
        None => (timing, None),
    };
    if !matches!(onset.first(), Some(b'+' | b'-')) {
        return Err(format!(
            "onset '{}' does not start with + or -",
            String::from_utf8_lossy(onset)
        ));
    }
    let onset_s = decimal(onset, true)
        .ok_or_else(|| format!("onset '{}' is not a number", String::from_utf8_lossy(onset)))?;
    let duration_s =
        match duration {
            Some(d) => Some(decimal(d, false).ok_or_else(|| {
                format!("duration '{}' is not a number", String::from_utf8_lossy(d))
            })?),
            None => None,
        };
    if !chunk.ends_with(&[TEXT_SEP]) {
        return Err("a TAL does not end with 0x14".to_string());
    }
    let texts = parts
        .map(|t| String::from_utf8_lossy(t).trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    Ok(Tal {
        onset_s,
        duration_s,
        texts,
    })
}

/// A plain decimal ("+12.5", "0.25"): digits with at most one point, sign only if allowed.
fn decimal(bytes: &[u8], signed: bool) -> Option<f64> {
    let digits = match bytes.first() {
        Some(b'+' | b'-') if signed => &bytes[1..],
        _ => bytes,
    };
    let points = digits.split(|&b| b == b'.').count() - 1;
    if digits.is_empty() || points > 1 || !digits.iter().all(|&b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    std::str::from_utf8(bytes)
        .ok()?
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keeping_and_text_tals() {
        let bytes = b"+0\x14\x14\x00+1.5\x150.25\x14Beat\x14Noise\x14\x00\x00\x00";
        let tals = parse_record(bytes).unwrap_or_default();
        assert_eq!(tals.len(), 2);
        assert!(tals[0].texts.is_empty());
        assert_eq!(tals[1].onset_s, 1.5);
        assert_eq!(tals[1].duration_s, Some(0.25));
        assert_eq!(tals[1].texts, vec!["Beat".to_string(), "Noise".to_string()]);
    }

    #[test]
    fn malformed_tals_are_errors() {
        assert!(parse_record(b"0\x14\x14\x00").is_err());
        assert!(parse_record(b"+x\x14\x14\x00").is_err());
        assert!(parse_record(b"+1\x15-2\x14a\x14\x00").is_err());
        assert!(parse_record(b"+1\x14a").is_err());
    }
}
