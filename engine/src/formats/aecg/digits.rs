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

impl DigitTokens<'_> {
    /// Every token's value as [`Self::values`] gives it, `as f64`, appended to `out`; `Err(k)`
    /// when token `k` is not an integer. Where the CPU has AVX2, four tokens are converted at
    /// a time (`formats::wide_cells`); the values are the same bits either way.
    pub(super) fn read_into(&self, out: &mut Vec<f64>) -> Result<(), usize> {
        out.reserve(self.count);
        #[cfg(target_arch = "x86_64")]
        if crate::formats::wide_cells::available() {
            // SAFETY: `read_into_avx2` needs nothing but AVX2, which the CPU was just found
            // to have; everything it does is safe code compiled with that feature enabled.
            #[allow(unsafe_code)]
            return unsafe { self.read_into_avx2(out) };
        }
        self.read_into_scalar(out)
    }

    fn read_into_scalar(&self, out: &mut Vec<f64>) -> Result<(), usize> {
        for (k, value) in self.values().enumerate() {
            out.push(value.map_err(|_| k)? as f64);
        }
        Ok(())
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn read_into_avx2(&self, out: &mut Vec<f64>) -> Result<(), usize> {
        let (mut starts, mut ends) = (SetBits::from(&self.starts, 0), SetBits::from(&self.ends, 0));
        let bytes = self.text.as_bytes();
        let mut first = 0;
        loop {
            let (mut words, mut lens, mut spans) = ([0u64; 4], [0u64; 4], [(0usize, 0usize); 4]);
            let mut n = 0;
            while n < 4 {
                // Every start is followed by its end: the bitmap counts past the text as space.
                let (Some(start), Some(end)) = (starts.next(), ends.next()) else {
                    break;
                };
                (words[n], lens[n], spans[n]) =
                    (load8(bytes, start), (end - start) as u64, (start, end));
                n += 1;
            }
            let (numbers, whole) = crate::formats::wide_cells::integers4(words, lens);
            for (lane, &(start, end)) in spans.iter().enumerate().take(n) {
                if whole >> lane & 1 == 1 {
                    // `+ 0.0` turns the kernel's -0.0 for "-0" into the 0.0 of an i64 zero.
                    out.push(numbers[lane] + 0.0);
                } else {
                    // Both bounds sit next to ASCII whitespace or at the text's ends.
                    let token = self.text.get(start..end).unwrap_or_default();
                    out.push(token.parse::<i64>().map_err(|_| first + lane)? as f64);
                }
            }
            if n < 4 {
                return Ok(());
            }
            first += 4;
        }
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
            batch_reads_agree(&tokens, &got, &text);
        }
    }

    /// `read_into` (four at a time where the CPU has AVX2, and the scalar path) gives every
    /// value `as f64` with the same bits, or the index of the first token that is no integer.
    fn batch_reads_agree(tokens: &DigitTokens<'_>, values: &[Result<i64, &str>], text: &str) {
        let want: Result<Vec<u64>, usize> = values
            .iter()
            .enumerate()
            .map(|(k, v)| v.map(|v| (v as f64).to_bits()).map_err(|_| k))
            .collect();
        let (mut fast, mut scalar) = (Vec::new(), Vec::new());
        let got_fast = tokens.read_into(&mut fast);
        let got_scalar = tokens.read_into_scalar(&mut scalar);
        for (got, out) in [(got_fast, fast), (got_scalar, scalar)] {
            match &want {
                Ok(bits) => {
                    assert_eq!(got, Ok(()), "{text:?}");
                    assert_eq!(
                        &out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        bits,
                        "{text:?}"
                    );
                }
                Err(k) => assert_eq!(got, Err(*k), "{text:?}"),
            }
        }
    }

    #[test]
    fn batch_reads_of_whole_numbers_and_odd_tokens_agree() {
        let mut rng = crate::test_rng::XorShift::new(0x0BAD_5EED_1234_4321);
        let tokens = [
            "0",
            "-0",
            "7",
            "-12",
            "345",
            "-6789",
            "12345678",
            "-1234567",
            "-12345678",
            "123456789",
            "+5",
            "007",
            "99999999999999999999",
            "x",
            "1.5",
        ];
        for _ in 0..2000 {
            let odd = rng.below(4) == 0;
            let n = rng.below(30);
            let mut text = String::new();
            for _ in 0..n {
                let pick = rng.below(if odd { tokens.len() as u64 } else { 10 }) as usize;
                text.push_str(tokens[pick]);
                text.push_str([" ", "\n", "  ", "\t"][rng.below(4) as usize]);
            }
            let digit_tokens = DigitTokens::new(&text);
            let values: Vec<_> = digit_tokens.values().collect();
            batch_reads_agree(&digit_tokens, &values, &text);
        }
    }
}
