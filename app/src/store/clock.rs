//! UTC timestamps as RFC 3339 text with microseconds, which sort correctly as strings.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Now, e.g. "2026-11-23T20:15:00.123456Z".
pub fn now_utc() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_utc(since.as_secs() as i64, since.subsec_micros())
}

/// Where the store takes its timestamps from. Every stored time (cases, runs, notes,
/// signatures, audit events) is read from the store's clock, so a test can give the store a
/// [`Clock::stepping`] one and get the same history, and the same pictures of it, on any day.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system's UTC time.
    #[default]
    System,
    /// Starts at a given instant and moves one second forward at every reading: times stay
    /// strictly increasing, as the audit chain's order expects, but do not depend on the day.
    Stepping(Arc<AtomicI64>),
}

impl Clock {
    /// A stepping clock whose first reading is `start_secs` (seconds since the Unix epoch).
    pub fn stepping(start_secs: i64) -> Self {
        Self::Stepping(Arc::new(AtomicI64::new(start_secs)))
    }

    /// The current time as [`now_utc`] formats it.
    pub fn now(&self) -> String {
        match self {
            Self::System => now_utc(),
            Self::Stepping(next) => format_utc(next.fetch_add(1, Ordering::SeqCst), 0),
        }
    }
}

/// Formats seconds since the Unix epoch plus microseconds.
pub fn format_utc(secs: i64, micros: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Which end of a range a bare date stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    Start,
    End,
}

/// Parses a `--from`/`--to` value: a date `YYYY-MM-DD` (the whole day, UTC) or a full UTC
/// timestamp `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`. Returns a string comparable with stored times.
pub fn parse_bound(text: &str, bound: Bound) -> Result<String, String> {
    let bad =
        || format!("'{text}' is not a date: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)");
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Result<u32, String> {
        let part = text.get(r).ok_or_else(bad)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    if b.len() == 10 {
        return Ok(match bound {
            Bound::Start => format!("{y:04}-{m:02}-{d:02}T00:00:00.000000Z"),
            Bound::End => format!("{y:04}-{m:02}-{d:02}T23:59:59.999999Z"),
        });
    }
    if b.len() < 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' || !text.ends_with('Z') {
        return Err(bad());
    }
    let (hh, mm, ss) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if hh > 23 || mm > 59 || ss > 60 {
        return Err(bad());
    }
    let frac = &text[19..text.len() - 1];
    let micros = if frac.is_empty() {
        match bound {
            Bound::Start => 0,
            Bound::End => 999_999,
        }
    } else {
        let digits_part = frac.strip_prefix('.').ok_or_else(bad)?;
        if digits_part.is_empty()
            || digits_part.len() > 6
            || !digits_part.bytes().all(|c| c.is_ascii_digit())
        {
            return Err(bad());
        }
        let scale = 10u32.pow(6 - digits_part.len() as u32);
        digits_part.parse::<u32>().map_err(|_| bad())? * scale
    };
    Ok(format!(
        "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{micros:06}Z"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_utc(0, 0), "1970-01-01T00:00:00.000000Z");
        // 2024-02-29T12:34:56Z (leap day).
        assert_eq!(format_utc(1_709_210_096, 7), "2024-02-29T12:34:56.000007Z");
        assert!(now_utc().ends_with('Z'));
    }

    #[test]
    fn a_stepping_clock_moves_one_second_per_reading() {
        let clock = Clock::stepping(1_709_210_096);
        assert_eq!(clock.now(), "2024-02-29T12:34:56.000000Z");
        assert_eq!(clock.clone().now(), "2024-02-29T12:34:57.000000Z");
        assert_eq!(clock.now(), "2024-02-29T12:34:58.000000Z");
        assert!(Clock::System.now().ends_with('Z'));
    }

    #[test]
    fn parses_bounds() {
        assert_eq!(
            parse_bound("2026-01-02", Bound::End).unwrap(),
            "2026-01-02T23:59:59.999999Z"
        );
        assert_eq!(
            parse_bound("2026-01-02T03:04:05.5Z", Bound::Start).unwrap(),
            "2026-01-02T03:04:05.500000Z"
        );
        assert!(parse_bound("yesterday", Bound::Start).is_err());
        assert!(parse_bound("2026-13-01", Bound::Start).is_err());
    }
}
