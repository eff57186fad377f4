//! The SCP-ECG container: the record header (CRC-CCITT, size), Section 0's pointers to the
//! other sections, each section's 16-byte header and its CRC.

use super::Ctx;
use crate::formats::{FormatError, FormatErrorKind};

/// Every section starts with CRC (2), id (2), length (4), section version (1), protocol version
/// (1) and 6 reserved bytes; the length counts the header.
pub(super) const SECTION_HEADER: usize = 16;

/// CRC-CCITT as EN 1064 defines it: polynomial 0x1021, initial value 0xFFFF, no reflection,
/// no final XOR (the catalogue's CRC-16/IBM-3740, formerly "CCITT-FALSE").
const CRC_CCITT: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740);

pub(super) fn crc_ccitt(bytes: &[u8]) -> u16 {
    CRC_CCITT.checksum(bytes)
}

/// Little-endian reads with the bounds checked, failing with the field named.
#[derive(Clone, Copy)]
pub(super) struct Bytes<'a> {
    pub data: &'a [u8],
    /// What these bytes are, for errors ("Section 3").
    pub what: &'a str,
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8], what: &'a str) -> Self {
        Self { data, what }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn slice(
        &self,
        ctx: &Ctx<'_>,
        at: usize,
        len: usize,
        field: &str,
    ) -> Result<&'a [u8], FormatError> {
        at.checked_add(len)
            .and_then(|end| self.data.get(at..end))
            .ok_or_else(|| {
                ctx.err(
                    FormatErrorKind::Truncated,
                    &format!("{} {field}", self.what),
                    format!(
                        "needs bytes {at}..{} but the section holds {}",
                        at.saturating_add(len),
                        self.data.len()
                    ),
                )
            })
    }

    pub fn u8(&self, ctx: &Ctx<'_>, at: usize, field: &str) -> Result<u8, FormatError> {
        Ok(self.slice(ctx, at, 1, field)?[0])
    }

    pub fn u16(&self, ctx: &Ctx<'_>, at: usize, field: &str) -> Result<u16, FormatError> {
        let b = self.slice(ctx, at, 2, field)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn i16(&self, ctx: &Ctx<'_>, at: usize, field: &str) -> Result<i16, FormatError> {
        let b = self.slice(ctx, at, 2, field)?;
        Ok(i16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&self, ctx: &Ctx<'_>, at: usize, field: &str) -> Result<u32, FormatError> {
        let b = self.slice(ctx, at, 4, field)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// One section found through Section 0: its body (after the header) and protocol version.
#[derive(Clone, Copy, Debug)]
pub(super) struct Section<'a> {
    pub body: &'a [u8],
    pub protocol: u8,
}

/// The sections of a record, by id (0–11 are the standard's; higher ids are the
/// manufacturer's and are kept unread).
pub(super) struct Sections<'a> {
    found: Vec<(u16, Section<'a>)>,
    /// Section 0's protocol version (the record's SCP-ECG version × 10).
    pub protocol: u8,
}

impl<'a> Sections<'a> {
    pub fn get(&self, id: u16) -> Option<Section<'a>> {
        self.found.iter().find(|(i, _)| *i == id).map(|(_, s)| *s)
    }

    /// The manufacturer's sections (ids above 11), kept unread: (id, bytes).
    pub fn vendor(&self) -> impl Iterator<Item = (u16, usize)> + '_ {
        self.found
            .iter()
            .filter(|(i, _)| *i > 11)
            .map(|(i, s)| (*i, s.body.len()))
    }
}

/// Checks the record's size and CRC, walks Section 0's pointers and checks each standard
/// section's header and CRC. A damaged file is refused: a CRC that does not match means the
/// samples cannot be trusted.
pub(super) fn read<'a>(ctx: &Ctx<'_>, bytes: &'a [u8]) -> Result<Sections<'a>, FormatError> {
    let file = Bytes::new(bytes, "record");
    let declared = file.u32(ctx, 2, "size")? as usize;
    if declared > bytes.len() {
        return Err(ctx.err(
            FormatErrorKind::Truncated,
            "record size",
            format!("declares {declared} bytes but the file has {}", bytes.len()),
        ));
    }
    if declared < 6 + SECTION_HEADER {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            "record size",
            format!("{declared} bytes cannot hold Section 0"),
        ));
    }
    // Bytes after the declared size (padding some writers add) are not part of the record.
    let record = &bytes[..declared];
    let stored = file.u16(ctx, 0, "CRC")?;
    let computed = crc_ccitt(&record[2..]);
    if stored != computed {
        return Err(ctx.err(
            FormatErrorKind::Inconsistent,
            "record CRC",
            format!("stored {stored:#06x} but the bytes give {computed:#06x}: the file is damaged"),
        ));
    }
    let record_bytes = Bytes::new(record, "record");
    let section0 = section_at(ctx, record_bytes, 0, 6, None)?;
    let pointers = Bytes::new(section0.body, "Section 0");
    let mut found = vec![(0, section0)];
    for entry in 0..pointers.len() / 10 {
        let at = entry * 10;
        let id = pointers.u16(ctx, at, "pointer id")?;
        let length = pointers.u32(ctx, at + 2, "pointer length")? as usize;
        let index = pointers.u32(ctx, at + 6, "pointer index")? as usize;
        if id == 0 || length == 0 {
            continue; // Section 0 itself, or a section the record does not hold
        }
        let field = format!("Section 0 pointer to Section {id}");
        let start = index.checked_sub(1).ok_or_else(|| {
            ctx.err(
                FormatErrorKind::Invalid,
                &field,
                "index 0 (indices start at 1)",
            )
        })?;
        if start.saturating_add(length) > record.len() {
            return Err(ctx.err(
                FormatErrorKind::Truncated,
                &field,
                format!(
                    "{length} bytes at byte {index} run past the {}-byte record",
                    record.len()
                ),
            ));
        }
        if found.iter().any(|(i, _)| *i == id) {
            return Err(ctx.err(FormatErrorKind::Inconsistent, &field, "listed twice"));
        }
        let section = if id > 11 {
            // Manufacturers' sections need not follow the standard header: kept as found.
            Section {
                body: &record[start..start + length],
                protocol: 0,
            }
        } else {
            section_at(ctx, record_bytes, id, start, Some(length))?
        };
        found.push((id, section));
    }
    Ok(Sections {
        protocol: section0.protocol,
        found,
    })
}

/// The section `id` whose header starts at `start`; `listed` is Section 0's length for it.
fn section_at<'a>(
    ctx: &Ctx<'_>,
    record: Bytes<'a>,
    id: u16,
    start: usize,
    listed: Option<usize>,
) -> Result<Section<'a>, FormatError> {
    let what = format!("Section {id}");
    let header = Bytes::new(
        record.slice(ctx, start, SECTION_HEADER, &format!("{what} header"))?,
        "",
    );
    let stored_crc = header.u16(ctx, 0, &what)?;
    let header_id = header.u16(ctx, 2, &what)?;
    let length = header.u32(ctx, 4, &what)? as usize;
    if header_id != id {
        return Err(ctx.err(
            FormatErrorKind::Inconsistent,
            &format!("{what} header"),
            format!("the section found there says it is Section {header_id}"),
        ));
    }
    if length < SECTION_HEADER || listed.is_some_and(|l| l != length) {
        return Err(ctx.err(
            FormatErrorKind::Inconsistent,
            &format!("{what} length"),
            match listed {
                Some(l) if l != length => {
                    format!("{length} bytes in its header but {l} in Section 0")
                }
                _ => format!("{length} bytes is shorter than the section header"),
            },
        ));
    }
    let bytes = record.slice(ctx, start, length, &format!("{what} length"))?;
    let computed = crc_ccitt(&bytes[2..]);
    if stored_crc != computed {
        return Err(ctx.err(
            FormatErrorKind::Inconsistent,
            &format!("{what} CRC"),
            format!(
                "stored {stored_crc:#06x} but the bytes give {computed:#06x}: the section is damaged"
            ),
        ));
    }
    Ok(Section {
        body: &bytes[SECTION_HEADER..],
        protocol: bytes[9],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc_is_ccitt_with_initial_ffff() {
        // The check value of CRC-16/IBM-3740 (and of Python's binascii.crc_hqx(b, 0xFFFF)).
        assert_eq!(crc_ccitt(b"123456789"), 0x29B1);
    }
}
