//! The digits of an aECG file are most of its bytes (12 leads × 5000 numbers), and an XML
//! parser reads them a character at a time looking for markup; the reader then tokenises
//! them again. So the XML parser is given a copy of the document with the character data of
//! each plain `<digits>` element cut out, and the reader takes the digits from the original
//! bytes.
//!
//! Only content that cannot change the parse is cut: ASCII characters allowed in XML text,
//! with no `<` (markup), `&` (a reference) or `]` (a possible `]]>`). Cutting such text from
//! between two tags leaves a well-formed document well-formed and an ill-formed one
//! ill-formed; since error positions would shift, a document that fails to parse is parsed
//! again whole, and that error is the one reported. XML would turn a `\r\n` in the text into
//! `\n`; both are whitespace between digits, so the tokens are the same.

use std::ops::Range;

pub(super) const OPEN: &[u8] = b"<digits>";
const CLOSE: &[u8] = b"</digits>";

/// The document with some digits cut out, and where they were.
pub(super) struct Elided {
    pub(super) text: String,
    /// For each cut, in order: its position in `text` (just after `<digits>`) and its byte
    /// range in the original document.
    cuts: Vec<(usize, Range<usize>)>,
}

impl Elided {
    /// Cuts the plain content of every `<digits>` element of `text`, or `None` when there is
    /// none to cut.
    pub(super) fn new(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        // Where the cuts go (original ranges), found first so that the copy is allocated once,
        // at its size.
        let mut found = Vec::new();
        let mut from = 0usize;
        while let Some(open) = memchr::memmem::find(&bytes[from..], OPEN) {
            let start = from + open + OPEN.len();
            // The content runs to the next markup, which must be this element's end tag.
            let Some(len) = memchr::memchr(b'<', &bytes[start..]) else {
                break;
            };
            let end = start + len;
            from = end;
            if bytes[end..].starts_with(CLOSE) && plain_character_data(&bytes[start..end]) {
                found.push(start..end);
            }
        }
        if found.is_empty() {
            return None;
        }
        let removed: usize = found.iter().map(ExactSizeIterator::len).sum();
        let mut kept = String::with_capacity(text.len() - removed);
        let mut cuts = Vec::with_capacity(found.len());
        let mut copied = 0;
        for range in found {
            // Cuts sit next to ASCII `>` and `<`: character boundaries.
            kept.push_str(&text[copied..range.start]);
            copied = range.end;
            cuts.push((kept.len(), range));
        }
        kept.push_str(&text[copied..]);
        Some(Self { text: kept, cuts })
    }

    /// The original range of the digits cut at position `at` of the elided text (just after
    /// a `<digits>` tag), if any were.
    pub(super) fn cut_at(&self, at: usize) -> Option<Range<usize>> {
        let k = self.cuts.binary_search_by_key(&at, |(pos, _)| *pos).ok()?;
        Some(self.cuts[k].1.clone())
    }
}

/// Text an XML parser reads as it stands: tab, line feed, carriage return and printable ASCII
/// other than `<`, `&` and `]`.
// `&`/`|` on booleans on purpose: no branch per byte, so the loop is vectorised.
#[allow(clippy::needless_bitwise_bool)]
fn plain_character_data(bytes: &[u8]) -> bool {
    // A fold rather than `all`, for the same reason.
    bytes.iter().fold(true, |plain, &b| {
        plain
            & (matches!(b, b'\t' | b'\n' | b'\r')
                | ((0x20..0x7F).contains(&b) & (b != b'<') & (b != b'&') & (b != b']')))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_digits_are_cut_and_found_again() {
        let text = "<a><digits>1 2\r\n-3</digits><b/><digits>4</digits></a>";
        let elided = Elided::new(text).unwrap();
        assert_eq!(elided.text, "<a><digits></digits><b/><digits></digits></a>");
        let first = elided.text.find("<digits>").unwrap() + OPEN.len();
        let second = elided.text.rfind("<digits>").unwrap() + OPEN.len();
        assert_eq!(&text[elided.cut_at(first).unwrap()], "1 2\r\n-3");
        assert_eq!(&text[elided.cut_at(second).unwrap()], "4");
        assert_eq!(elided.cut_at(first + 1), None);
    }

    #[test]
    fn anything_the_parser_must_see_is_left_in_place() {
        for text in [
            "<digits>1 &amp; 2</digits>",
            "<digits>1 <!-- c --> 2</digits>",
            "<digits>1 ]]> 2</digits>",
            "<digits>1 <![CDATA[2]]></digits>",
            "<digits>1 \u{1} 2</digits>",
            "<digits>1 é 2</digits>",
            "<digits xmlns=\"x\">1 2</digits>",
            "<v:digits>1 2</v:digits>",
            "<digits>1 2",
            "<digits>1 2</other>",
        ] {
            assert!(Elided::new(text).is_none(), "{text}");
        }
        // The one plain element is cut, the other kept.
        let text = "<r><digits>1 &lt;</digits><digits>5 6</digits></r>";
        let elided = Elided::new(text).unwrap();
        assert_eq!(
            elided.text,
            "<r><digits>1 &lt;</digits><digits></digits></r>"
        );
    }
}
