//! Eight bytes at a time in a `u64` ("SIMD within a register"): the text readers (CSV, the
//! digits of HL7 aECG) find separators and parse short numbers with a few word operations
//! instead of a loop and a branch per byte. Portable and safe: no intrinsics, no `unsafe`.
//!
//! Conventions: a word holds bytes in file order with the first byte lowest (little-endian
//! load); a "byte mask" has the high bit of each selected byte set and every other bit clear.

/// `0x01` in every byte.
pub(super) const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = ONES * 0x80;
const LOW_SEVEN: u64 = ONES * 0x7F;

/// Eight bytes from `at`, zero-padded past the end (zero is neither a digit nor a separator
/// the readers look for, so padding never passes for one).
#[inline]
pub(super) fn load8(bytes: &[u8], at: usize) -> u64 {
    // The common case is one unaligned load; the tail is a separate, cold function, because
    // one copy of variable length for both compiled to a call to memcpy per number (measured:
    // a third of the CSV reader's instructions).
    // `first_chunk` after `get(at..)` is one length compare; a range `at..at + 8` compiled to a
    // saturating add, a conditional move and two compares (measured, per number).
    if let Some(eight) = bytes.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        u64::from_le_bytes(*eight)
    } else {
        load_tail(bytes, at)
    }
}

#[cold]
#[inline(never)]
fn load_tail(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    let rest = bytes.get(at..).unwrap_or(&[]);
    let n = rest.len().min(8);
    word[..n].copy_from_slice(&rest[..n]);
    u64::from_le_bytes(word)
}

/// The bytes of `word` equal to `byte`, as a byte mask. Exact — no false match next to a real
/// one — because the addition is done on seven bits and cannot carry into the next byte.
#[inline]
pub(super) fn bytes_equal(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    !(((x & LOW_SEVEN) + LOW_SEVEN) | x) & HIGH_BITS
}

/// The bytes of `word` below `limit` (at most 0x80), as a byte mask; exact like
/// [`bytes_equal`].
#[inline]
pub(super) fn bytes_below(word: u64, limit: u8) -> u64 {
    debug_assert!(limit <= 0x80);
    // Seven-bit values plus (0x80 - limit) reach the high bit exactly when they are >= limit.
    let reach = ((word & LOW_SEVEN) + ONES * u64::from(0x80 - limit)) | word;
    !reach & HIGH_BITS
}

/// A byte mask squeezed to 8 bits, byte 0 in bit 0: one multiply moves bit `8 i + 7` to bit
/// `56 + i`, and no two partial products land on the same bit, so nothing carries.
#[inline]
pub(super) fn gather_high_bits(mask: u64) -> u64 {
    mask.wrapping_mul(0x0002_0408_1020_4081) >> 56
}

/// The low `n` bytes of a word set (`n` in 0..=8).
#[inline]
pub(super) fn low_bytes(n: usize) -> u64 {
    if n >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * n)) - 1
    }
}

/// Each byte of `word` minus `'0'` (digits become 0..=9), and the byte mask of the bytes that
/// are not ASCII digits.
#[inline]
pub(super) fn digit_values(word: u64) -> (u64, u64) {
    let values = word ^ (ONES * 0x30);
    // Above 9 once the high bit is set aside, or with the high bit set: not a digit. Seven-bit
    // values plus 0x76 stay below 0x100, so no byte carries into the next.
    let non_digit = (((values & LOW_SEVEN) + ONES * 0x76) | values) & HIGH_BITS;
    (values, non_digit)
}

/// The number of leading ASCII digits in a byte mask from [`digit_values`] (8 when all are).
#[inline]
pub(super) fn leading_digits(non_digit: u64) -> usize {
    (non_digit.trailing_zeros() / 8) as usize
}

/// The first `count` (1..=8) digit values of `values` (from [`digit_values`]) as a number,
/// the first digit most significant.
#[inline]
pub(super) fn digits_number(values: u64, count: usize) -> u64 {
    debug_assert!((1..=8).contains(&count));
    // Shifted up, the digits sit behind leading zeros; then neighbours are combined pairwise,
    // 8 → 4 → 2 → 1 lanes in three multiplies, each lane staying within its width.
    let digits = values << (8 * (8 - count));
    let pairs = (digits.wrapping_mul(10) + (digits >> 8)) & 0x00FF_00FF_00FF_00FF;
    let quads = (pairs.wrapping_mul(100) + (pairs >> 16)) & 0x0000_FFFF_0000_FFFF;
    (quads.wrapping_mul(10_000) + (quads >> 32)) & 0xFFFF_FFFF
}

/// Splits off a leading `-` without a branch (signs of ECG samples are random, and a
/// mispredicted branch per number cost more than the rest of the number, measured): the word
/// and length after it, and 1 when it was there.
#[inline]
pub(super) fn strip_minus(word: u64, len: usize) -> (u64, usize, u64) {
    let negative = u64::from((word & 0xFF) == u64::from(b'-'));
    (word >> (8 * negative), len - negative as usize, negative)
}

/// The first `len` (1..=8) bytes of `word` as `-?[0-9]+`, or `None` when they are anything else.
#[inline]
pub(super) fn short_integer(word: u64, len: usize) -> Option<i64> {
    debug_assert!((1..=8).contains(&len));
    let (word, len, negative) = strip_minus(word, len);
    let (values, non_digit) = digit_values(word);
    if len == 0 || leading_digits(non_digit) < len {
        return None;
    }
    // Below 10^8: fits an i64 and negates exactly; (m ^ -1) + 1 = -m, (m ^ 0) + 0 = m, so
    // the sign costs no branch.
    let magnitude = digits_number(values, len) as i64;
    let sign = -(negative as i64);
    Some((magnitude ^ sign) - sign)
}

/// Walks the set bits of a bitmap (bit `i` of word `w` stands for byte `64 w + i`) in order,
/// from a given byte position.
pub(super) struct SetBits<'a> {
    words: &'a [u64],
    word: usize,
    bits: u64,
}

impl<'a> SetBits<'a> {
    /// The set bits at or after position `pos`.
    pub(super) fn from(words: &'a [u64], pos: usize) -> Self {
        let word = pos / 64;
        let bits = words.get(word).map_or(0, |w| w & (u64::MAX << (pos % 64)));
        Self { words, word, bits }
    }

    #[inline]
    pub(super) fn next(&mut self) -> Option<usize> {
        while self.bits == 0 {
            self.word += 1;
            self.bits = *self.words.get(self.word)?;
        }
        let bit = self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(self.word * 64 + bit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_bytes_are_found_exactly_for_every_byte_value() {
        for target in [b',', b'\n', b' ', 0u8, 0x7F, 0x80, 0xFF] {
            for fill in 0..=255u8 {
                let mut bytes = [fill; 8];
                bytes[3] = target;
                let mask = bytes_equal(u64::from_le_bytes(bytes), target);
                let expected: u64 = (0..8)
                    .filter(|&i| bytes[i] == target)
                    .map(|i| 0x80u64 << (8 * i))
                    .sum();
                assert_eq!(mask, expected, "target {target} fill {fill}");
                assert_eq!(
                    gather_high_bits(mask),
                    (0..8)
                        .filter(|&i| bytes[i] == target)
                        .map(|i| 1u64 << i)
                        .sum::<u64>()
                );
            }
        }
    }

    #[test]
    fn bytes_below_a_limit_are_found_exactly() {
        for limit in [b'!', b'0', 0x80, 1] {
            for b in 0..=255u8 {
                let word = u64::from_le_bytes([b, 0x7F, b, 0x80, b, 0xFF, 0x20, b]);
                let got = bytes_below(word, limit);
                let bytes = word.to_le_bytes();
                let expected: u64 = (0..8)
                    .filter(|&i| bytes[i] < limit)
                    .map(|i| 0x80u64 << (8 * i))
                    .sum();
                assert_eq!(got, expected, "limit {limit} byte {b}");
            }
        }
    }

    #[test]
    fn digits_are_told_from_every_other_byte() {
        for b in 0..=255u8 {
            let (values, non_digit) = digit_values(u64::from(b) | (u64::from(b'7') << 8));
            assert_eq!(non_digit & 0x80 == 0, b.is_ascii_digit(), "byte {b}");
            if b.is_ascii_digit() {
                assert_eq!(values & 0xFF, u64::from(b - b'0'));
                assert_eq!(leading_digits(non_digit), 2);
            }
        }
    }

    #[test]
    fn short_integers_read_like_str_parse() {
        for text in [
            "0", "-0", "7", "-7", "42", "-1234567", "12345678", "00000009", "-00",
        ] {
            let got = short_integer(load8(text.as_bytes(), 0), text.len());
            assert_eq!(got, text.parse::<i64>().ok(), "{text}");
        }
        for text in ["-", "+1", "1-", "1 2", "1.0", "--1", "a", " 1"] {
            assert_eq!(
                short_integer(load8(text.as_bytes(), 0), text.len()),
                None,
                "{text}"
            );
        }
    }

    #[test]
    fn loads_past_the_end_are_zero_padded() {
        assert_eq!(load8(b"12", 0), u64::from_le_bytes(*b"12\0\0\0\0\0\0"));
        assert_eq!(load8(b"12", 2), 0);
        assert_eq!(load8(b"12", 9), 0);
    }
}
