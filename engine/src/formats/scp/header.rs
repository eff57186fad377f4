//! Section 1: the header's tags (tag byte, 16-bit length, value), up to tag 255.
//!
//! Kept: the patient's last and first names (tags 0, 1; tag 3 the second last name), the
//! identifier (2), birth date (5), sex (8), the acquiring device (14), the acquisition date and
//! time (25, 26). Text is NUL-terminated, in the character set Section 1's language code names
//! (tag 14); without one it is read as UTF-8 where it is valid UTF-8, else as ISO 8859-1.
//! The age (tag 4) is not kept: [`PatientInfo`] has the birth date, not an age.

use super::Ctx;
use super::sections::Bytes;
use crate::formats::FormatError;
use crate::record::{PatientInfo, PersonName};

/// Manufacturer codes of tag 14 (EN 1064 Annex), for a device that does not spell its name.
const MANUFACTURERS: [&str; 21] = [
    "",
    "Burdick",
    "Cambridge",
    "Compumed",
    "Datamed",
    "Fukuda",
    "Hewlett-Packard",
    "Marquette Electronics",
    "Mortara Instruments",
    "Nihon Kohden",
    "Okin",
    "Quinton",
    "Siemens",
    "Spacelabs",
    "Telemed",
    "Hellige",
    "ESA-OTE",
    "Schiller",
    "Picker-Schwarzer",
    "et medical devices",
    "Zwönitz",
];

/// What Section 1 says.
#[derive(Debug, Default)]
pub(super) struct Header {
    pub patient: PatientInfo,
    pub acquisition_time: Option<String>,
    pub device: Option<String>,
    pub notes: Vec<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Charset {
    /// No language code: UTF-8 where valid, else ISO 8859-1.
    Unspecified,
    Latin1,
    Utf8,
    Utf16Le,
}

fn decode(value: &[u8], charset: Charset) -> Option<String> {
    let text = if charset == Charset::Utf16Le {
        let units: Vec<u16> = value
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .take_while(|&u| u != 0)
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        let bytes = value.split(|&b| b == 0).next().unwrap_or_default();
        match (charset, std::str::from_utf8(bytes)) {
            (Charset::Utf8 | Charset::Unspecified, Ok(s)) => s.to_string(),
            (Charset::Utf8, Err(_)) => String::from_utf8_lossy(bytes).into_owned(),
            _ => bytes.iter().map(|&b| char::from(b)).collect(),
        }
    };
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// A date: year (16-bit), month, day; `None` when unset (zero) or impossible.
fn date(value: &[u8]) -> Option<String> {
    let [y0, y1, month, day, ..] = *value else {
        return None;
    };
    let year = u16::from_le_bytes([y0, y1]);
    ((1..=12).contains(&month) && (1..=31).contains(&day) && year > 0)
        .then(|| format!("{year:04}-{month:02}-{day:02}"))
}

fn time(value: &[u8]) -> Option<String> {
    let [h, m, s, ..] = *value else {
        return None;
    };
    (h < 24 && m < 60 && s < 60).then(|| format!("{h:02}:{m:02}:{s:02}"))
}

/// Tag 14, the acquiring device: 36 fixed bytes (manufacturer code at byte 7, model at 8–13,
/// language code at 16), then NUL-separated strings (analysing program, serial number,
/// software, SCP implementation, manufacturer).
fn device(value: &[u8], charset: Charset) -> Option<String> {
    let code = usize::from(*value.get(7)?);
    let model = value.get(8..14).and_then(|m| decode(m, Charset::Latin1));
    let strings: Vec<&[u8]> = value
        .get(36..)
        .unwrap_or_default()
        .split(|&b| b == 0)
        .collect();
    let named = strings.get(4).and_then(|s| decode(s, charset));
    let manufacturer = named.or_else(|| {
        MANUFACTURERS
            .get(code)
            .filter(|m| !m.is_empty())
            .map(|m| (*m).to_string())
    });
    let software = strings.get(2).and_then(|s| decode(s, charset));
    let name = [manufacturer, model]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    match (name.is_empty(), software) {
        (true, _) => None,
        (false, Some(v)) => Some(format!("{name} (software {v})")),
        (false, None) => Some(name),
    }
}

fn charset_of(language: u8, notes: &mut Vec<String>) -> Charset {
    // Bit 0 clear: 8-bit ISO 8859-1 ("ASCII only" or Latin-1) per the standard.
    match language {
        l if l & 0x01 == 0 => Charset::Latin1,
        0x37 => Charset::Utf8,
        0x07 => Charset::Utf16Le,
        other => {
            notes.push(format!(
                "Section 1 names character set code {other:#04x}, which this reader does not \
                 decode: its text was read as ISO 8859-1"
            ));
            Charset::Latin1
        }
    }
}

pub(super) fn read(ctx: &Ctx<'_>, body: &[u8]) -> Result<Header, FormatError> {
    let s = Bytes::new(body, "Section 1");
    let mut tags: Vec<(u8, &[u8])> = Vec::new();
    let mut at = 0;
    while at + 3 <= s.len() {
        let tag = s.u8(ctx, at, "tag")?;
        let length = usize::from(s.u16(ctx, at + 1, &format!("tag {tag} length"))?);
        if tag == 255 {
            break;
        }
        tags.push((tag, s.slice(ctx, at + 3, length, &format!("tag {tag}"))?));
        at += 3 + length;
    }
    let mut header = Header::default();
    // The language code of tag 14 decides how every text tag is read, wherever it stands.
    let charset = tags
        .iter()
        .find(|(t, v)| *t == 14 && v.len() > 16)
        .map_or(Charset::Unspecified, |(_, v)| {
            charset_of(v[16], &mut header.notes)
        });
    let text = |v: &[u8]| decode(v, charset);
    let (mut last, mut first, mut second_last) = (None, None, None);
    let (mut acq_date, mut acq_time) = (None, None);
    for &(tag, value) in &tags {
        match tag {
            0 => last = text(value),
            1 => first = text(value),
            2 => header.patient.id = text(value),
            3 => second_last = text(value),
            5 => header.patient.birth_date = date(value),
            8 => {
                header.patient.sex = match value.first() {
                    Some(1) => Some("M".to_string()),
                    Some(2) => Some("F".to_string()),
                    Some(9) => Some("U".to_string()),
                    _ => None,
                }
            }
            14 => header.device = device(value, charset),
            25 => acq_date = date(value),
            26 => acq_time = time(value),
            _ => {}
        }
    }
    // The family name (with a second last name) and the given name, kept in their parts.
    let family = match (last, second_last) {
        (Some(l), Some(s)) => Some(format!("{l} {s}")),
        (l, s) => l.or(s),
    };
    header.patient.name =
        PersonName::from_family_given(family.as_deref(), first.as_deref()).stored();
    header.acquisition_time = match (acq_date, acq_time) {
        (Some(d), Some(t)) => Some(format!("{d}T{t}")),
        (Some(d), None) => Some(d),
        (None, Some(t)) => {
            header
                .notes
                .push(format!("acquisition time {t} given without a date"));
            None
        }
        (None, None) => None,
    };
    Ok(header)
}
