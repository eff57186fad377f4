//! Whole numbers four at a time with AVX2: CSV cells (`csv::plain_rows`) and the digits of
//! HL7 aECG (`aecg::digits`).
//!
//! ECG text holds whole numbers of one to five bytes: CSV files in microvolts (`-123`), aECG
//! digits in ADC units. The scalar SWAR parse costs about 40 instructions a cell; here the same steps (sign,
//! digit check, right-alignment, the 8 → 4 → 2 → 1 digit-pair multiplies) run on four cells
//! in one 256-bit register. Only `-?[0-9]{1,8}` is accepted, which is exactly an integer below
//! 10^8 and so exact as an `f64`; anything else in a cell (a decimal point, more bytes, junk)
//! is left to the scalar parser, so the values are the same bits either way.

use std::arch::x86_64::{
    __m256i, _mm_cvtsd_f64, _mm_unpackhi_pd, _mm256_add_epi64, _mm256_and_si256,
    _mm256_andnot_si256, _mm256_castpd256_pd128, _mm256_castsi256_pd, _mm256_castsi256_si128,
    _mm256_cmpeq_epi8, _mm256_cmpeq_epi64, _mm256_cmpgt_epi64, _mm256_cvtepi32_pd,
    _mm256_extractf128_pd, _mm256_madd_epi16, _mm256_maddubs_epi16, _mm256_min_epu8,
    _mm256_movemask_epi8, _mm256_movemask_pd, _mm256_mul_epu32, _mm256_or_pd, _mm256_or_si256,
    _mm256_permutevar8x32_epi32, _mm256_set_epi32, _mm256_set_epi64x, _mm256_set1_epi8,
    _mm256_set1_epi16, _mm256_set1_epi32, _mm256_set1_epi64x, _mm256_setzero_si256,
    _mm256_sllv_epi64, _mm256_srli_epi64, _mm256_srlv_epi64, _mm256_sub_epi8, _mm256_sub_epi64,
};

/// Whether this CPU can run [`integers4`] (checked once by `std`, then a load).
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx2")
}

#[target_feature(enable = "avx2")]
#[inline]
fn lanes(values: [u64; 4]) -> __m256i {
    // `as i64` keeps the bits: the lanes are bytes of text, not numbers.
    _mm256_set_epi64x(
        values[3] as i64,
        values[2] as i64,
        values[1] as i64,
        values[0] as i64,
    )
}

/// Four cells, each given as the 8 bytes from its start (first byte lowest, as
/// `swar::load8` gives) and its length: their values where the cell is `-?[0-9]{1,8}`, and
/// the set of those cells as bits 0..4. Other lanes' values are meaningless.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn integers4(words: [u64; 4], lens: [u64; 4]) -> ([f64; 4], u32) {
    let words = lanes(words);
    let lens = lanes(lens);
    let one = _mm256_set1_epi64x(1);
    // A leading '-': shift it out, and remember the sign.
    let negative = _mm256_cmpeq_epi64(
        _mm256_and_si256(words, _mm256_set1_epi64x(0xFF)),
        _mm256_set1_epi64x(i64::from(b'-')),
    );
    let digits = _mm256_srlv_epi64(words, _mm256_and_si256(negative, _mm256_set1_epi64x(8)));
    let count = _mm256_sub_epi64(lens, _mm256_and_si256(negative, one));
    // 1..=8 digits (`count` is a small signed number, so signed compares are right).
    let count_ok = _mm256_and_si256(
        _mm256_cmpgt_epi64(count, _mm256_setzero_si256()),
        _mm256_cmpgt_epi64(_mm256_set1_epi64x(9), count),
    );
    let values = _mm256_sub_epi8(digits, _mm256_set1_epi8(b'0' as i8));
    let is_digit = _mm256_cmpeq_epi8(_mm256_min_epu8(values, _mm256_set1_epi8(9)), values);
    // The bits past the digits: a shift of 8 × (8 − count) (0..=56 for a valid count).
    let unused_bits = bits_of_bytes(_mm256_sub_epi64(_mm256_set1_epi64x(8), count));
    let digit_bytes = _mm256_srlv_epi64(_mm256_set1_epi64x(-1), unused_bits);
    let not_digits = _mm256_andnot_si256(is_digit, digit_bytes);
    let valid = _mm256_and_si256(
        count_ok,
        _mm256_cmpeq_epi64(not_digits, _mm256_setzero_si256()),
    );
    // Digits moved to the top of the lane, zeros before them: the first digit is the most
    // significant, and each byte pair, then word pair, then half, combines (×10, ×100, ×10^4).
    let aligned = _mm256_sllv_epi64(values, unused_bits);
    let pairs = _mm256_maddubs_epi16(aligned, _mm256_set1_epi16(0x010A));
    let quads = _mm256_madd_epi16(pairs, _mm256_set1_epi32(0x0001_0064));
    let numbers = _mm256_add_epi64(
        _mm256_mul_epu32(quads, _mm256_set1_epi64x(10_000)),
        _mm256_srli_epi64::<32>(quads),
    );
    // Below 10^8, so the low 32 bits of each lane hold the number: gather them and convert.
    let low_halves = _mm256_permutevar8x32_epi32(numbers, _mm256_set_epi32(7, 5, 3, 1, 6, 4, 2, 0));
    let magnitudes = _mm256_cvtepi32_pd(_mm256_castsi256_si128(low_halves));
    let sign_bits = _mm256_and_si256(negative, _mm256_set1_epi64x(i64::MIN));
    let signed = _mm256_or_pd(magnitudes, _mm256_castsi256_pd(sign_bits));
    let low = _mm256_castpd256_pd128(signed);
    let high = _mm256_extractf128_pd::<1>(signed);
    let out = [
        _mm_cvtsd_f64(low),
        _mm_cvtsd_f64(_mm_unpackhi_pd(low, low)),
        _mm_cvtsd_f64(high),
        _mm_cvtsd_f64(_mm_unpackhi_pd(high, high)),
    ];
    (out, _mm256_movemask_pd(_mm256_castsi256_pd(valid)) as u32)
}

/// The bytes of a 64-byte chunk equal to `delim` or `\n` (the CSV cell ends), bit `i` for
/// byte `i`: the same as the SWAR mask, two compares per 32 bytes.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn cell_ends64(chunk: &[u8; 64], delim: u8) -> u64 {
    let (low, high) = chunk.split_at(32);
    u64::from(cell_ends32(low, delim)) | (u64::from(cell_ends32(high, delim)) << 32)
}

#[target_feature(enable = "avx2")]
#[inline]
fn cell_ends32(bytes: &[u8], delim: u8) -> u32 {
    let word = |k: usize| {
        bytes
            .get(8 * k..8 * k + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_le_bytes)
    };
    let v = lanes([word(0), word(1), word(2), word(3)]);
    let ends = _mm256_or_si256(
        _mm256_cmpeq_epi8(v, _mm256_set1_epi8(delim as i8)),
        _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'\n' as i8)),
    );
    // The sign bit of each byte, as a 32-bit mask (`as u32` keeps the bits).
    _mm256_movemask_epi8(ends) as u32
}

/// Bytes to bits: `n × 8` in every lane.
#[target_feature(enable = "avx2")]
#[inline]
fn bits_of_bytes(n: __m256i) -> __m256i {
    _mm256_sllv_epi64(n, _mm256_set1_epi64x(3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::swar::load8;

    fn convert(cells: [&str; 4]) -> ([f64; 4], u32) {
        let words = cells.map(|c| load8(c.as_bytes(), 0));
        let lens = cells.map(|c| c.len() as u64);
        assert!(available(), "the test machines have AVX2");
        // SAFETY: AVX2 is present (asserted just above), the only requirement of `integers4`.
        #[allow(unsafe_code)]
        unsafe {
            integers4(words, lens)
        }
    }

    #[test]
    fn whole_numbers_read_like_str_parse_and_the_rest_is_refused() {
        let accepted = [
            "0", "-0", "7", "-7", "12", "-12", "999", "-1234", "12345", "-123456", "1234567",
            "12345678", "-1234567", "00000001", "-0000007", "99999999",
        ];
        let refused = [
            "",
            "-",
            "+5",
            "1.5",
            "-1.",
            "1e3",
            "x",
            " 1",
            "1 ",
            "--1",
            "1-",
            "123456789",
            "-12345678",
            "0x10",
            "1,2",
        ];
        for chunk in accepted.chunks(4) {
            let cells: [&str; 4] = std::array::from_fn(|i| chunk.get(i).copied().unwrap_or("0"));
            let (values, valid) = convert(cells);
            assert_eq!(valid, 0b1111, "{cells:?}");
            for (v, c) in values.iter().zip(cells) {
                assert_eq!(v.to_bits(), c.parse::<f64>().unwrap().to_bits(), "{c}");
            }
        }
        for chunk in refused.chunks(3) {
            // One accepted cell among the refused ones: only its bit is set.
            let cells = [
                chunk[0],
                "42",
                chunk.get(1).copied().unwrap_or("-"),
                chunk.get(2).copied().unwrap_or(""),
            ];
            let (values, valid) = convert(cells);
            assert_eq!(valid, 0b0010, "{cells:?}");
            assert_eq!(values[1], 42.0);
        }
    }

    #[test]
    fn cell_ends_are_the_delimiters_and_newlines() {
        let mut rng = crate::test_rng::XorShift::new(0x00E4_D50F_CE11);
        for _ in 0..2000 {
            let chunk: [u8; 64] = std::array::from_fn(|_| {
                [b',', b'\n', b';', b'\t', b'1', b'-', 0x80 | b',', 0x00][rng.below(8) as usize]
            });
            for delim in [b',', b';', b'\t'] {
                let want: u64 = (0..64)
                    .filter(|&i| chunk[i] == delim || chunk[i] == b'\n')
                    .map(|i| 1u64 << i)
                    .sum();
                // SAFETY: AVX2 is present (asserted), the only requirement.
                assert!(available());
                #[allow(unsafe_code)]
                let got = unsafe { cell_ends64(&chunk, delim) };
                assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn random_cells_agree_with_the_scalar_parser() {
        let mut rng = crate::test_rng::XorShift::new(0xA5A5_1234_5678_9ABC);
        let alphabet = b"0123456789-.e+ ,\r";
        for _ in 0..50_000 {
            let cells: [String; 4] = std::array::from_fn(|_| {
                let len = rng.below(10) as usize;
                (0..len)
                    .map(|_| {
                        let range = if rng.below(4) == 0 { 17 } else { 11 };
                        let pick = rng.below(range) as usize;
                        char::from(alphabet[pick])
                    })
                    .collect()
            });
            let refs: [&str; 4] = std::array::from_fn(|i| cells[i].as_str());
            let (values, valid) = convert(refs);
            for (k, cell) in refs.iter().enumerate() {
                let digits = cell.strip_prefix('-').unwrap_or(cell);
                let whole = cell.len() <= 8
                    && !digits.is_empty()
                    && digits.bytes().all(|b| b.is_ascii_digit());
                assert_eq!(valid >> k & 1 == 1, whole, "{cell:?}");
                if whole {
                    assert_eq!(
                        values[k].to_bits(),
                        cell.parse::<f64>().unwrap().to_bits(),
                        "{cell}"
                    );
                }
            }
        }
    }
}
