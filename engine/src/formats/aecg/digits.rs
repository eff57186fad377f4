//! The text of an SLIST_PQ `<digits>` element: integers separated by XML whitespace, read the
//! way `split_ascii_whitespace` and `str::parse::<i64>` read them, but without a loop and a
//! branch per byte.
//!
//! Whitespace is found eight bytes at a time into a bitmap; token starts (a non-space after a
//! space) and ends (a space after a non-space) fall out of it with one shift per 64 bytes, and
//! walking them gives every token's bounds with no dependency on the token before, so the CPU
//! overlaps them. A token of at most eight bytes is parsed from one 8-byte load; anything
//! longer or unusual (`+5`, 19 digits) goes to `str::parse`, which also decides what is not an
//! integer.

use crate::formats::swar::{
    SetBits, bytes_below, bytes_equal, gather_high_bits, load8, short_integer,
};

/// The tokens of a digits text.
pub(super) struct DigitTokens<'a> {
    text: &'a str,
    starts: Vec<u64>,
    ends: Vec<u64>,
    count: usize,
}

/// The byte mask of the ASCII whitespace among eight bytes (what `u8::is_ascii_whitespace`
/// accepts: space, tab, line feed, form feed, carriage return).
#[inline]
fn whitespace_bytes(word: u64) -> u64 {
    // Digits text is spaces and newlines between numbers: when those two explain every byte
    // below '!', that is the answer; tabs, CR, form feeds and other control bytes take the
    // exact test.
    let below_bang = bytes_below(word, b'!');
    let common = bytes_equal(word, b' ') | bytes_equal(word, b'\n');
    if below_bang == common {
        return common;
    }
    common | bytes_equal(word, b'\t') | bytes_equal(word, b'\x0C') | bytes_equal(word, b'\r')
}

impl<'a> DigitTokens<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        let bytes = text.as_bytes();
        let words = bytes.len() / 64 + 1;
        let (mut starts, mut ends) = (Vec::with_capacity(words), Vec::with_capacity(words));
        // Whether the byte before the current word is whitespace; before the text counts as it.
        let mut space_before = 1u64;
        let mut count = 0usize;
        let mut push = |space: u64| {
            let shifted = (space << 1) | space_before;
            let word_starts = !space & shifted;
            starts.push(word_starts);
            ends.push(space & !shifted);
            count += word_starts.count_ones() as usize;
            space_before = space >> 63;
        };
        let mut chunks = bytes.chunks_exact(64);
        for chunk in &mut chunks {
            let mut space = 0u64;
            for (k, eight) in chunk.chunks_exact(8).enumerate() {
                space |= gather_high_bits(whitespace_bytes(load8(eight, 0))) << (8 * k);
            }
            push(space);
        }
        // The tail, with everything past the text counted as whitespace so that the last
        // token ends at the text's end.
        let rest = chunks.remainder();
        let mut space = u64::MAX << rest.len();
        for (i, b) in rest.iter().enumerate() {
            space |= u64::from(b.is_ascii_whitespace()) << i;
        }
        push(space);
        Self {
            text,
            starts,
            ends,
            count,
        }
    }

    /// How many tokens the text holds.
    pub(super) fn count(&self) -> usize {
        self.count
    }

    /// Each token in order: its value, or its text when it is not an integer (`str::parse`
    /// decides, as it would for the whole token).
    pub(super) fn values(&self) -> impl Iterator<Item = Result<i64, &'a str>> + '_ {
        let (mut starts, mut ends) = (SetBits::from(&self.starts, 0), SetBits::from(&self.ends, 0));
        let (text, bytes) = (self.text, self.text.as_bytes());
        std::iter::from_fn(move || {
            let start = starts.next()?;
            // Every start is followed by its end: the bitmap counts past the text as space.
            let end = ends.next()?;
            let len = end - start;
            if len <= 8
                && let Some(v) = short_integer(load8(bytes, start), len)
            {
                return Some(Ok(v));
            }
            // Both bounds sit next to ASCII whitespace or at the text's ends: char boundaries.
            let token = text.get(start..end).unwrap_or_default();
            Some(token.parse::<i64>().map_err(|_| token))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(text: &str) -> Vec<Result<i64, &str>> {
        text.split_ascii_whitespace()
            .map(|t| t.parse::<i64>().map_err(|_| t))
            .collect()
    }

    #[test]
    fn tokens_match_split_ascii_whitespace_and_parse() {
        let long = format!("{} -{} ", "7".repeat(70), "1".repeat(18));
        for text in [
            "",
            " ",
            "1",
            "1 2 3",
            "  -1\t2\n\n3\r\n-40 \x0C 5  ",
            "+5 -0 007 123456789 -12345678 99999999999999999999",
            "1.5 x 2e3 - -- 1-2",
            "é 3 ü",
            "1\x012 3 4\x0B5 \t7\r\n8\x0C9 \x00",
            long.as_str(),
        ] {
            let tokens = DigitTokens::new(text);
            let got: Vec<_> = tokens.values().collect();
            assert_eq!(got, reference(text), "{text:?}");
            assert_eq!(tokens.count(), got.len(), "{text:?}");
        }
    }

    #[test]
    fn random_texts_across_word_boundaries_match_the_reference() {
        let mut rng = crate::test_rng::XorShift::new(0xD1B5_4A32_D192_ED03);
        let mut next = move |n: u64| rng.below(n);
        for _ in 0..300 {
            let mut text = String::new();
            for _ in 0..next(200) {
                match next(12) {
                    0 => text.push_str("  "),
                    1 => text.push('\n'),
                    2 => text.push('\t'),
                    3 => text.push('-'),
                    4 => text.push('+'),
                    5 => text.push(['x', '\r', '\x0B', '\x01', '\x0C'][next(5) as usize]),
                    _ => text.push(char::from(b'0' + next(10) as u8)),
                }
                if next(3) == 0 {
                    text.push(' ');
                }
            }
            let tokens = DigitTokens::new(&text);
            let got: Vec<_> = tokens.values().collect();
            assert_eq!(got, reference(&text), "{text:?}");
            assert_eq!(tokens.count(), got.len());
        }
    }
}
