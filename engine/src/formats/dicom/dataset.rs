//! A small, defensive DICOM Part 10 parser: preamble, file meta group, and a data set in
//! Explicit or Implicit VR Little Endian, with sequences of defined and undefined length.
//!
//! Values are borrowed slices of the input; nothing is allocated from a length the file
//! declares until that length has been checked against the bytes that remain.

use crate::formats::{FormatError, FormatErrorKind};

/// Sequences nested deeper than this are refused (real ECG files nest three or four deep).
const MAX_DEPTH: usize = 16;
/// Elements (all data sets together) a file may hold; bounds the memory of the parsed tree.
const MAX_ELEMENTS: usize = 1_000_000;
const UNDEFINED_LENGTH: u32 = 0xFFFF_FFFF;

const ITEM: Tag = Tag(0xFFFE, 0xE000);
const ITEM_DELIMITER: Tag = Tag(0xFFFE, 0xE00D);
const SEQUENCE_DELIMITER: Tag = Tag(0xFFFE, 0xE0DD);

const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
const DEFLATED_EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1.99";
const EXPLICIT_VR_BE: &str = "1.2.840.10008.1.2.2";

/// A data element tag (group, element).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag(pub u16, pub u16);

impl Tag {
    pub const TRANSFER_SYNTAX: Tag = Tag(0x0002, 0x0010);
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({:04X},{:04X})", self.0, self.1)
    }
}

/// Sequence tags the ECG reader looks into. In Implicit VR a defined-length sequence cannot
/// be told from a byte value without a dictionary; these are the ones that matter here.
const KNOWN_SEQUENCES: [Tag; 12] = [
    Tag(0x5400, 0x0100), // Waveform Sequence
    Tag(0x003A, 0x0200), // Channel Definition Sequence
    Tag(0x003A, 0x0208), // Channel Source Sequence
    Tag(0x003A, 0x0209), // Channel Source Modifiers Sequence
    Tag(0x003A, 0x0211), // Channel Sensitivity Units Sequence
    Tag(0x0040, 0xB020), // Waveform Annotation Sequence
    Tag(0x0040, 0x08EA), // Measurement Units Code Sequence
    Tag(0x0040, 0xA043), // Concept Name Code Sequence
    Tag(0x0040, 0xA168), // Concept Code Sequence
    Tag(0x0040, 0xA195), // Modifier Code Sequence
    Tag(0x0040, 0x0555), // Acquisition Context Sequence
    Tag(0x0008, 0x1111), // Referenced Performed Procedure Step Sequence
];

/// A human-readable name for the tags the reader uses, for error messages.
pub fn tag_name(tag: Tag) -> String {
    let name = match (tag.0, tag.1) {
        (0x0002, 0x0010) => "Transfer Syntax UID",
        (0x5400, 0x0100) => "Waveform Sequence",
        (0x5400, 0x1004) => "Waveform Bits Allocated",
        (0x5400, 0x1006) => "Waveform Sample Interpretation",
        (0x5400, 0x100A) => "Waveform Padding Value",
        (0x5400, 0x1010) => "Waveform Data",
        (0x003A, 0x0005) => "Number of Waveform Channels",
        (0x003A, 0x0010) => "Number of Waveform Samples",
        (0x003A, 0x001A) => "Sampling Frequency",
        (0x003A, 0x0020) => "Multiplex Group Label",
        (0x003A, 0x0200) => "Channel Definition Sequence",
        (0x003A, 0x0208) => "Channel Source Sequence",
        (0x003A, 0x0210) => "Channel Sensitivity",
        (0x003A, 0x0211) => "Channel Sensitivity Units Sequence",
        (0x003A, 0x0212) => "Channel Sensitivity Correction Factor",
        (0x003A, 0x0213) => "Channel Baseline",
        (0x0040, 0xB020) => "Waveform Annotation Sequence",
        (0x0040, 0xA0B0) => "Referenced Waveform Channels",
        (0x0040, 0xA132) => "Referenced Sample Positions",
        (0x0040, 0xA138) => "Referenced Time Offsets",
        (0x0040, 0xA30A) => "Numeric Value",
        (0x0040, 0xA043) => "Concept Name Code Sequence",
        (0x0040, 0x08EA) => "Measurement Units Code Sequence",
        (0xFFFE, 0xE000) => "Item",
        _ => return format!("element {tag}"),
    };
    format!("{name} {tag}")
}

/// One data element: a byte value or a sequence of items.
#[derive(Debug)]
pub struct Element<'a> {
    pub tag: Tag,
    /// The VR as written (Explicit VR), `None` in Implicit VR.
    pub vr: Option<[u8; 2]>,
    pub value: Value<'a>,
}

#[derive(Debug)]
pub enum Value<'a> {
    Bytes(&'a [u8]),
    Sequence(Vec<DataSet<'a>>),
}

/// A data set (the file's body, or one sequence item).
#[derive(Debug, Default)]
pub struct DataSet<'a> {
    pub elements: Vec<Element<'a>>,
}

/// A parsed Part 10 file.
#[derive(Debug)]
pub struct DicomFile<'a> {
    pub body: DataSet<'a>,
}

/// Reports errors naming the file; shared by the parser and the accessors.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'f> {
    pub file: &'f str,
}

impl Ctx<'_> {
    pub fn err(
        self,
        kind: FormatErrorKind,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> FormatError {
        FormatError::new(self.file, kind, field, problem)
    }
}

/// Parses preamble, file meta group and data set.
pub fn parse<'a>(bytes: &'a [u8], ctx: Ctx<'_>) -> Result<DicomFile<'a>, FormatError> {
    if bytes.len() < 132 {
        return Err(ctx.err(
            FormatErrorKind::Truncated,
            "preamble",
            format!(
                "{} bytes is shorter than the 128-byte preamble and DICM prefix",
                bytes.len()
            ),
        ));
    }
    if &bytes[128..132] != b"DICM" {
        return Err(ctx.err(
            FormatErrorKind::Unrecognised,
            "preamble",
            "no DICM prefix at byte 128: not a DICOM Part 10 file",
        ));
    }
    let mut parser = Parser {
        bytes,
        pos: 132,
        explicit: true,
        elements: 0,
        ctx,
    };
    // The file meta group is always Explicit VR Little Endian.
    let mut meta = DataSet::default();
    while parser.pos + 4 <= bytes.len() && parser.peek_tag() == Some(0x0002) {
        let el = parser.element(bytes.len(), 0)?;
        meta.elements.push(el);
    }
    let Some(ts) = meta.string(Tag::TRANSFER_SYNTAX) else {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            tag_name(Tag::TRANSFER_SYNTAX),
            "the file meta group has no transfer syntax",
        ));
    };
    parser.explicit = match ts.as_str() {
        EXPLICIT_VR_LE => true,
        IMPLICIT_VR_LE => false,
        EXPLICIT_VR_BE => {
            return Err(ctx.err(
                FormatErrorKind::Unsupported,
                tag_name(Tag::TRANSFER_SYNTAX),
                format!("{ts} (Explicit VR Big Endian, retired) is not supported; convert the file to Explicit VR Little Endian"),
            ));
        }
        DEFLATED_EXPLICIT_VR_LE => {
            return Err(ctx.err(
                FormatErrorKind::Unsupported,
                tag_name(Tag::TRANSFER_SYNTAX),
                format!("{ts} (Deflated Explicit VR Little Endian) is not supported; convert the file to Explicit VR Little Endian"),
            ));
        }
        other => {
            return Err(ctx.err(
                FormatErrorKind::Unsupported,
                tag_name(Tag::TRANSFER_SYNTAX),
                format!("transfer syntax {other} is not supported for waveforms (Explicit or Implicit VR Little Endian only)"),
            ));
        }
    };
    let body = parser.data_set(bytes.len(), false, 0)?;
    Ok(DicomFile { body })
}

struct Parser<'a, 'f> {
    bytes: &'a [u8],
    pos: usize,
    explicit: bool,
    elements: usize,
    ctx: Ctx<'f>,
}

/// VRs whose Explicit VR header has two reserved bytes and a 32-bit length.
fn has_long_length(vr: [u8; 2]) -> bool {
    matches!(
        &vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
    )
}

fn u16_le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> Parser<'a, '_> {
    fn peek_tag(&self) -> Option<u16> {
        self.bytes
            .get(self.pos..self.pos + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    /// Reads a tag, VR and length; `end` bounds the enclosing value.
    fn header(&mut self, end: usize) -> Result<(Tag, Option<[u8; 2]>, u32), FormatError> {
        let avail = end - self.pos;
        if avail < 8 {
            return Err(self.ctx.err(
                FormatErrorKind::Truncated,
                format!("element header at byte {}", self.pos),
                format!("needs 8 bytes, only {avail} remain"),
            ));
        }
        let b = self.bytes;
        let p = self.pos;
        let tag = Tag(u16_le(b, p), u16_le(b, p + 2));
        // Items and delimiters have no VR in any transfer syntax.
        if tag.0 == 0xFFFE || !self.explicit {
            self.pos += 8;
            return Ok((tag, None, u32_le(b, p + 4)));
        }
        let vr = [b[p + 4], b[p + 5]];
        if !vr.iter().all(u8::is_ascii_uppercase) {
            return Err(self.ctx.err(
                FormatErrorKind::Invalid,
                tag_name(tag),
                format!(
                    "value representation bytes {:02X} {:02X} at byte {} are not a VR",
                    vr[0],
                    vr[1],
                    p + 4
                ),
            ));
        }
        if has_long_length(vr) {
            if avail < 12 {
                return Err(self.ctx.err(
                    FormatErrorKind::Truncated,
                    tag_name(tag),
                    format!("header needs 12 bytes, only {avail} remain"),
                ));
            }
            self.pos += 12;
            Ok((tag, Some(vr), u32_le(b, p + 8)))
        } else {
            self.pos += 8;
            Ok((tag, Some(vr), u32::from(u16_le(b, p + 6))))
        }
    }

    fn count_element(&mut self, tag: Tag) -> Result<(), FormatError> {
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return Err(self.ctx.err(
                FormatErrorKind::TooLarge,
                tag_name(tag),
                format!("more than {MAX_ELEMENTS} data elements"),
            ));
        }
        Ok(())
    }

    /// Reads one element whose value must end by `end`.
    fn element(&mut self, end: usize, depth: usize) -> Result<Element<'a>, FormatError> {
        let (tag, vr, len) = self.header(end)?;
        self.count_element(tag)?;
        if tag.0 == 0xFFFE {
            return Err(self.ctx.err(
                FormatErrorKind::Invalid,
                tag_name(tag),
                format!(
                    "item or delimiter tag at byte {} outside a sequence",
                    self.pos - 8
                ),
            ));
        }
        let is_sequence = match vr {
            Some(v) => &v == b"SQ" || (&v == b"UN" && len == UNDEFINED_LENGTH),
            None => len == UNDEFINED_LENGTH || KNOWN_SEQUENCES.contains(&tag),
        };
        if is_sequence {
            // A UN sequence of undefined length is encoded in Implicit VR (PS3.5 6.2.2).
            let saved = self.explicit;
            if vr == Some(*b"UN") {
                self.explicit = false;
            }
            let items = self.sequence(tag, len, end, depth + 1);
            self.explicit = saved;
            return Ok(Element {
                tag,
                vr,
                value: Value::Sequence(items?),
            });
        }
        if len == UNDEFINED_LENGTH {
            return Err(self.ctx.err(
                FormatErrorKind::Unsupported,
                tag_name(tag),
                "undefined-length (encapsulated) value is not supported in a waveform file",
            ));
        }
        let len = len as usize;
        let avail = end - self.pos;
        if len > avail {
            return Err(self.ctx.err(
                FormatErrorKind::Truncated,
                tag_name(tag),
                format!(
                    "value declares {len} bytes at byte {} but only {avail} remain",
                    self.pos
                ),
            ));
        }
        let value = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(Element {
            tag,
            vr,
            value: Value::Bytes(value),
        })
    }

    fn sequence(
        &mut self,
        tag: Tag,
        len: u32,
        end: usize,
        depth: usize,
    ) -> Result<Vec<DataSet<'a>>, FormatError> {
        if depth > MAX_DEPTH {
            return Err(self.ctx.err(
                FormatErrorKind::TooLarge,
                tag_name(tag),
                format!("sequences nested more than {MAX_DEPTH} deep"),
            ));
        }
        let mut items = Vec::new();
        if len == UNDEFINED_LENGTH {
            loop {
                if self.pos >= end {
                    return Err(self.ctx.err(
                        FormatErrorKind::Truncated,
                        tag_name(tag),
                        "undefined-length sequence ends without a sequence delimiter",
                    ));
                }
                let (item_tag, _, item_len) = self.header(end)?;
                self.count_element(item_tag)?;
                if item_tag == SEQUENCE_DELIMITER {
                    return Ok(items);
                }
                items.push(self.item(tag, item_tag, item_len, end, depth)?);
            }
        }
        let len = len as usize;
        let avail = end - self.pos;
        if len > avail {
            return Err(self.ctx.err(
                FormatErrorKind::Truncated,
                tag_name(tag),
                format!(
                    "sequence declares {len} bytes at byte {} but only {avail} remain",
                    self.pos
                ),
            ));
        }
        let seq_end = self.pos + len;
        while self.pos < seq_end {
            let (item_tag, _, item_len) = self.header(seq_end)?;
            self.count_element(item_tag)?;
            items.push(self.item(tag, item_tag, item_len, seq_end, depth)?);
        }
        Ok(items)
    }

    fn item(
        &mut self,
        seq: Tag,
        item_tag: Tag,
        item_len: u32,
        end: usize,
        depth: usize,
    ) -> Result<DataSet<'a>, FormatError> {
        if item_tag != ITEM {
            return Err(self.ctx.err(
                FormatErrorKind::Invalid,
                tag_name(seq),
                format!(
                    "expected an item tag (FFFE,E000) at byte {}, found {item_tag}",
                    self.pos - 8
                ),
            ));
        }
        if item_len == UNDEFINED_LENGTH {
            return self.data_set(end, true, depth);
        }
        let len = item_len as usize;
        let avail = end - self.pos;
        if len > avail {
            return Err(self.ctx.err(
                FormatErrorKind::Truncated,
                format!("{} item", tag_name(seq)),
                format!(
                    "item declares {len} bytes at byte {} but only {avail} remain",
                    self.pos
                ),
            ));
        }
        let item_end = self.pos + len;
        self.data_set(item_end, false, depth)
    }

    /// Reads elements up to `end`, or up to an item delimiter when `until_delimiter`.
    fn data_set(
        &mut self,
        end: usize,
        until_delimiter: bool,
        depth: usize,
    ) -> Result<DataSet<'a>, FormatError> {
        let mut ds = DataSet::default();
        loop {
            if self.pos >= end {
                if until_delimiter {
                    return Err(self.ctx.err(
                        FormatErrorKind::Truncated,
                        "Item",
                        "undefined-length item ends without an item delimiter",
                    ));
                }
                return Ok(ds);
            }
            if until_delimiter
                && end - self.pos >= 8
                && Tag(
                    u16_le(self.bytes, self.pos),
                    u16_le(self.bytes, self.pos + 2),
                ) == ITEM_DELIMITER
            {
                self.pos += 8;
                return Ok(ds);
            }
            ds.elements.push(self.element(end, depth)?);
        }
    }
}

fn trim_value(s: &str) -> &str {
    s.trim_matches(|c: char| c == '\0' || c.is_whitespace())
}

/// Decodes text as UTF-8 when valid (covers ASCII and ISO_IR 192), else as Latin-1
/// (ISO_IR 100, the common default for European carts).
fn decode_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

impl<'a> DataSet<'a> {
    pub fn get(&self, tag: Tag) -> Option<&Element<'a>> {
        self.elements.iter().find(|e| e.tag == tag)
    }

    pub fn bytes(&self, tag: Tag) -> Option<&'a [u8]> {
        match self.get(tag)?.value {
            Value::Bytes(b) => Some(b),
            Value::Sequence(_) => None,
        }
    }

    /// A text value, trimmed of padding; `None` when absent or empty.
    pub fn string(&self, tag: Tag) -> Option<String> {
        let text = decode_text(self.bytes(tag)?);
        let t = trim_value(&text);
        (!t.is_empty()).then(|| t.to_string())
    }

    /// Items of a sequence (empty when absent).
    pub fn items(&self, tag: Tag) -> &[DataSet<'a>] {
        match self.get(tag).map(|e| &e.value) {
            Some(Value::Sequence(items)) => items,
            _ => &[],
        }
    }

    /// The first item of a code sequence's (code value, code meaning).
    pub fn code(&self, tag: Tag) -> Option<Code> {
        let item = self.items(tag).first()?;
        Some(Code {
            value: item.string(Tag(0x0008, 0x0100)).unwrap_or_default(),
            scheme: item.string(Tag(0x0008, 0x0102)).unwrap_or_default(),
            meaning: item.string(Tag(0x0008, 0x0104)).unwrap_or_default(),
        })
    }

    /// Unsigned integers of a binary (US/UL) or integer-string (IS) element. `implicit_width`
    /// is the byte width the standard gives the element, used when the file has no VR.
    pub fn uints(
        &self,
        tag: Tag,
        implicit_width: usize,
        ctx: Ctx<'_>,
    ) -> Result<Vec<u64>, FormatError> {
        let Some(el) = self.get(tag) else {
            return Ok(Vec::new());
        };
        let Value::Bytes(b) = el.value else {
            return Err(ctx.err(
                FormatErrorKind::Invalid,
                tag_name(tag),
                "is a sequence, expected a number",
            ));
        };
        let width = match el.vr.as_ref().map(|v| &v[..]) {
            Some(b"US" | b"SS" | b"OW") => 2,
            Some(b"UL" | b"SL" | b"OL") => 4,
            Some(b"UV" | b"SV") => 8,
            Some(b"IS" | b"DS") => {
                return decode_text(b)
                    .split('\\')
                    .map(trim_value)
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.parse::<u64>().map_err(|_| {
                            ctx.err(
                                FormatErrorKind::Invalid,
                                tag_name(tag),
                                format!("'{s}' is not a non-negative integer"),
                            )
                        })
                    })
                    .collect();
            }
            Some(b"OB" | b"UN") | None => implicit_width,
            Some(other) => {
                return Err(ctx.err(
                    FormatErrorKind::Invalid,
                    tag_name(tag),
                    format!(
                        "value representation {} cannot hold an integer",
                        String::from_utf8_lossy(other)
                    ),
                ));
            }
        };
        if b.len() % width != 0 {
            return Err(ctx.err(
                FormatErrorKind::Invalid,
                tag_name(tag),
                format!(
                    "value length {} is not a multiple of {width} bytes",
                    b.len()
                ),
            ));
        }
        Ok(b.chunks_exact(width)
            .map(|c| match width {
                2 => u64::from(u16::from_le_bytes([c[0], c[1]])),
                4 => u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                _ => u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
            })
            .collect())
    }

    /// The first value of an unsigned integer element.
    pub fn uint(
        &self,
        tag: Tag,
        implicit_width: usize,
        ctx: Ctx<'_>,
    ) -> Result<Option<u64>, FormatError> {
        Ok(self.uints(tag, implicit_width, ctx)?.first().copied())
    }

    /// All values of a decimal-string (DS) element; each must be finite.
    pub fn decimals(&self, tag: Tag, ctx: Ctx<'_>) -> Result<Vec<f64>, FormatError> {
        let Some(b) = self.bytes(tag) else {
            return Ok(Vec::new());
        };
        decode_text(b)
            .split('\\')
            .map(trim_value)
            .filter(|s| !s.is_empty())
            .map(|s| {
                let v: f64 = s.parse().map_err(|_| {
                    ctx.err(
                        FormatErrorKind::Invalid,
                        tag_name(tag),
                        format!("'{s}' is not a decimal number"),
                    )
                })?;
                if v.is_finite() {
                    Ok(v)
                } else {
                    Err(ctx.err(
                        FormatErrorKind::NonFinite,
                        tag_name(tag),
                        format!("'{s}' is not finite"),
                    ))
                }
            })
            .collect()
    }

    pub fn decimal(&self, tag: Tag, ctx: Ctx<'_>) -> Result<Option<f64>, FormatError> {
        Ok(self.decimals(tag, ctx)?.first().copied())
    }
}

/// A coded concept (code value, coding scheme, code meaning).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Code {
    pub value: String,
    pub scheme: String,
    pub meaning: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: Ctx<'static> = Ctx { file: "t.dcm" };

    fn file_with(ts: &str, body: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 128];
        f.extend_from_slice(b"DICM");
        let mut uid = ts.as_bytes().to_vec();
        if uid.len() % 2 == 1 {
            uid.push(0);
        }
        f.extend_from_slice(&[0x02, 0x00, 0x10, 0x00, b'U', b'I']);
        f.extend_from_slice(&(uid.len() as u16).to_le_bytes());
        f.extend_from_slice(&uid);
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn undefined_length_sequences_and_items_parse_in_implicit_vr() {
        let mut body = Vec::new();
        // (5400,0100) undefined-length sequence, one undefined-length item holding (003A,0005)=3.
        body.extend_from_slice(&[0x00, 0x54, 0x00, 0x01, 0xFF, 0xFF, 0xFF, 0xFF]);
        body.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        body.extend_from_slice(&[0x3A, 0x00, 0x05, 0x00, 2, 0, 0, 0, 3, 0]);
        body.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        body.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        let bytes = file_with(IMPLICIT_VR_LE, &body);
        let file = parse(&bytes, CTX).unwrap();
        let items = file.body.items(Tag(0x5400, 0x0100));
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].uint(Tag(0x003A, 0x0005), 2, CTX).unwrap(), Some(3));
    }

    #[test]
    fn length_beyond_end_is_truncation_not_allocation() {
        let body = [0x10, 0x00, 0x10, 0x00, b'P', b'N', 0xFF, 0xFF];
        let bytes = file_with(EXPLICIT_VR_LE, &body);
        let err = parse(&bytes, CTX).unwrap_err();
        assert_eq!(err.kind, FormatErrorKind::Truncated);
        assert!(err.field.contains("(0010,0010)"), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut body = Vec::new();
        for _ in 0..40 {
            body.extend_from_slice(&[0x00, 0x54, 0x00, 0x01, 0xFF, 0xFF, 0xFF, 0xFF]);
            body.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        }
        let bytes = file_with(IMPLICIT_VR_LE, &body);
        let err = parse(&bytes, CTX).unwrap_err();
        assert_eq!(err.kind, FormatErrorKind::TooLarge, "{err}");
    }

    #[test]
    fn big_endian_and_deflate_are_unsupported() {
        for ts in [
            EXPLICIT_VR_BE,
            DEFLATED_EXPLICIT_VR_LE,
            "1.2.840.10008.1.2.4.50",
        ] {
            let err = parse(&file_with(ts, &[]), CTX).unwrap_err();
            assert_eq!(err.kind, FormatErrorKind::Unsupported, "{err}");
            assert!(err.problem.contains(ts));
        }
    }
}
