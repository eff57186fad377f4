//! The CSV reader's fast path: rows made only of plain decimal cells, found and parsed without
//! a byte-at-a-time scan.
//!
//! Two ideas keep it fast. First, every cell end (delimiter or newline) in the text is found up
//! front as a bitmap, 64 bytes to a word, compared eight bytes at a time (`formats::swar`);
//! walking the set bits gives each cell's start and end with no dependency on parsing the cell before it, so
//! the CPU overlaps the cells of a row. Second, a cell of at most eight bytes (`-123.456`) is
//! parsed from one 8-byte load with SWAR arithmetic: no loop over its digits and no branch per
//! digit. Anything else in a cell falls back to [`super::plain_decimal_prefix`], and a row with
//! any other content (quotes, spaces, decimal commas, missing values, a wrong cell count) is
//! left to the general path, which reads it or names its problem. Both paths give the same
//! bits as `str::parse::<f64>` for every cell they accept (see `plain_decimal_prefix`).

use super::{EXACT_POWERS_OF_TEN, plain_decimal_prefix};
use crate::formats::swar::{
    SetBits, bytes_equal, digit_values, digits_number, gather_high_bits, leading_digits, load8,
    low_bytes, strip_minus,
};

/// The positions of cell ends — `delim` or `\n` — as a bitmap (bit `i` of word `w` is byte
/// `64 w + i`), plus one bit just past the last byte: the end of a last line without `\n`.
pub(super) struct CellEndBits {
    pub(super) words: Vec<u64>,
    /// How many `\n` the text holds: an upper bound on its rows, for sizing.
    pub(super) newlines: usize,
}

pub(super) fn cell_ends(bytes: &[u8], delim: u8) -> CellEndBits {
    let mut words = Vec::with_capacity(bytes.len() / 64 + 1);
    // Per-byte-lane newline counts, flushed before a lane can pass 255.
    let (mut lanes, mut newlines, mut since_flush) = (0u64, 0usize, 0usize);
    let mut chunks = bytes.chunks_exact(64);
    for chunk in &mut chunks {
        let mut mask = 0u64;
        for (k, eight) in chunk.chunks_exact(8).enumerate() {
            let (ends, newline) = end_bytes(load8(eight, 0), delim);
            mask |= gather_high_bits(ends) << (8 * k);
            lanes += newline >> 7;
        }
        words.push(mask);
        since_flush += 8;
        if since_flush >= 248 {
            newlines += lane_sum(lanes);
            (lanes, since_flush) = (0, 0);
        }
    }
    newlines += lane_sum(lanes);
    let rest = chunks.remainder();
    let mut mask = 0u64;
    for (i, &b) in rest.iter().enumerate() {
        mask |= u64::from(b == delim || b == b'\n') << i;
        newlines += usize::from(b == b'\n');
    }
    // `rest` is shorter than 64 bytes, so the bit after it is in the same word.
    words.push(mask | (1u64 << rest.len()));
    CellEndBits { words, newlines }
}

/// The cell ends among 64 bytes of text, bit `i` for byte `i`.
#[inline]
fn end_mask(chunk: &[u8; 64], delim: u8) -> u64 {
    let mut mask = 0u64;
    for (k, eight) in chunk.chunks_exact(8).enumerate() {
        mask |= gather_high_bits(end_bytes(load8(eight, 0), delim).0) << (8 * k);
    }
    mask
}

/// The cell-end mask of the 64 bytes from `base` (bit `i` for byte `base + i`); for the last,
/// shorter word also the bit just past the text, which ends a last line without `\n`.
#[inline]
fn end_word(bytes: &[u8], base: usize, delim: u8, end_mask: impl Fn(&[u8; 64], u8) -> u64) -> u64 {
    if let Some(chunk) = bytes
        .get(base..base + 64)
        .and_then(|c| <&[u8; 64]>::try_from(c).ok())
    {
        return end_mask(chunk, delim);
    }
    let rest = bytes.get(base..).unwrap_or(&[]);
    let mut mask = 0u64;
    for (i, &b) in rest.iter().enumerate() {
        mask |= u64::from(b == delim || b == b'\n') << i;
    }
    // `rest` is shorter than 64 bytes, so the bit after it is in the same word.
    mask | (1u64 << rest.len())
}

/// Parses `text` — whole lines — when every line is exactly `columns` plain decimal cells (a
/// `\r` before each `\n` allowed), writing row `r` to `out[r * columns..(r + 1) * columns]`;
/// returns the number of rows, or `None` at the first line that is anything else or when
/// `out` has no room for it.
///
/// The same rows and values as [`plain_line`] line by line, but the loop keeps its place in
/// registers and builds the cell-end mask a word at a time as it goes, where `plain_line`
/// takes a prebuilt bitmap and a cursor in memory. Where the CPU has AVX2, whole-number cells
/// are converted four at a time (`wide_cells`), the others as here.
pub(super) fn plain_block(
    text: &[u8],
    delim: u8,
    columns: usize,
    out: &mut [f64],
) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if crate::formats::wide_cells::available() {
        // SAFETY: `plain_block_avx2` needs nothing but AVX2, which the CPU was just found to
        // have; everything it does is safe code compiled with that feature enabled.
        #[allow(unsafe_code)]
        return unsafe { plain_block_avx2(text, delim, columns, out) };
    }
    plain_block_scalar(text, delim, columns, out)
}

/// [`plain_block`] with every cell converted by the scalar parser.
fn plain_block_scalar(text: &[u8], delim: u8, columns: usize, out: &mut [f64]) -> Option<usize> {
    rows_of_cells(
        text,
        delim,
        columns,
        out,
        end_mask,
        |text, cells, values| {
            let last = values.len() - 1;
            let mut start = cells.row_start;
            for (column, (value, &len)) in values.iter_mut().zip(&cells.lens).enumerate() {
                *value = cell_value(text, start, len, column == last)?;
                start += len as usize + 1;
            }
            Some(())
        },
    )
}

/// [`plain_block`] with whole-number cells converted four at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn plain_block_avx2(text: &[u8], delim: u8, columns: usize, out: &mut [f64]) -> Option<usize> {
    let ends = |chunk: &[u8; 64], delim| crate::formats::wide_cells::cell_ends64(chunk, delim);
    rows_of_cells(text, delim, columns, out, ends, |text, cells, values| {
        convert_row_avx2(text, cells, values)
    })
}

/// One row's cells into `values`, four at a time. Out of line: inlined, it left the row loop
/// short of registers, which then kept its place in memory (measured).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline(never)]
fn convert_row_avx2(text: &[u8], cells: &RowCells, values: &mut [f64]) -> Option<()> {
    let last = values.len() - 1;
    // The cells are padded to whole fours with empty ones, which the kernel refuses.
    let fours = cells.words.chunks_exact(4).zip(cells.lens.chunks_exact(4));
    for (four, (values, (words, lens))) in values.chunks_mut(4).zip(fours).enumerate() {
        let (Ok(words), Ok(lens)) = (<[u64; 4]>::try_from(words), <[u64; 4]>::try_from(lens))
        else {
            return None;
        };
        let (numbers, whole) = crate::formats::wide_cells::integers4(words, lens);
        // A whole four is copied as an array: a slice copy of variable length compiled to
        // a call to memcpy (measured).
        if whole == 0b1111
            && let Ok(four) = <&mut [f64; 4]>::try_from(&mut *values)
        {
            *four = numbers;
            continue;
        }
        for (k, value) in values.iter_mut().enumerate() {
            let column = 4 * four + k;
            *value = if whole >> k & 1 == 1 {
                numbers[k]
            } else {
                let start = cells.start_of(column);
                cell_value(text, start, *cells.lens.get(column)?, column == last)?
            };
        }
    }
    Some(())
}

/// A row's cells as the row loop found them, one array per field (so that four of a kind
/// load together), each padded with empty cells to a multiple of four.
struct RowCells {
    /// The 8 bytes from each cell's start (`swar::load8`).
    words: Vec<u64>,
    /// Each cell's length in bytes, a `\r` before the line's `\n` included.
    lens: Vec<u64>,
    /// Where the row starts; each cell starts one byte (the delimiter) after the one before.
    row_start: usize,
}

impl RowCells {
    fn new(columns: usize) -> Self {
        let padded = columns.next_multiple_of(4);
        Self {
            words: vec![0; padded],
            lens: vec![0; padded],
            row_start: 0,
        }
    }

    /// Where cell `column` starts: a walk over the lengths before it, for the rare cell the
    /// fast path leaves to the scalar parser.
    fn start_of(&self, column: usize) -> usize {
        let before = self.lens.get(..column).unwrap_or(&self.lens);
        self.row_start + before.iter().map(|&len| len as usize + 1).sum::<usize>()
    }
}

/// The cell of `len` bytes from `start` by the scalar parser; the line's `last` cell drops a
/// `\r` before its `\n`.
#[inline]
fn cell_value(text: &[u8], start: usize, len: u64, last: bool) -> Option<f64> {
    let mut end = start + len as usize;
    if last && end > start && text.get(end - 1) == Some(&b'\r') {
        end -= 1;
    }
    plain_cell(text, start, end)
}

/// The row loop of [`plain_block`]: finds each line's cells and has `convert` turn them into
/// the row's part of `out`. `None` at a line with the wrong number of cells, a cell `convert`
/// refuses, or a row `out` has no room for.
#[allow(clippy::inline_always)]
#[inline(always)]
fn rows_of_cells(
    text: &[u8],
    delim: u8,
    columns: usize,
    out: &mut [f64],
    end_mask: impl Fn(&[u8; 64], u8) -> u64,
    mut convert: impl FnMut(&[u8], &RowCells, &mut [f64]) -> Option<()>,
) -> Option<usize> {
    let last = columns.checked_sub(1)?;
    let mut cells = RowCells::new(columns);
    let (mut row, mut column, mut cell_start) = (0usize, 0usize, 0usize);
    for base in (0..=text.len()).step_by(64) {
        let mut bits = end_word(text, base, delim, &end_mask);
        while bits != 0 {
            let end = base + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let line_ends = match text.get(end) {
                Some(&b) => b == b'\n',
                // Past the last byte: nothing more when the text ended with a line end,
                // else the end of a last line without `\n`.
                None if cell_start == end && column == 0 => return Some(row),
                None => true,
            };
            if line_ends != (column == last) {
                return None;
            }
            let (Some(word), Some(len)) = (cells.words.get_mut(column), cells.lens.get_mut(column))
            else {
                return None;
            };
            (*word, *len) = (load8(text, cell_start), (end - cell_start) as u64);
            if column == 0 {
                cells.row_start = cell_start;
            }
            cell_start = end + 1;
            if line_ends {
                let at = row * columns;
                convert(text, &cells, out.get_mut(at..at + columns)?)?;
                (row, column) = (row + 1, 0);
            } else {
                column += 1;
            }
        }
    }
    Some(row)
}

/// For eight bytes: the byte masks of those that are `delim` or `\n`, and of those that are `\n`.
#[inline]
fn end_bytes(word: u64, delim: u8) -> (u64, u64) {
    let newline = bytes_equal(word, b'\n');
    (newline | bytes_equal(word, delim), newline)
}

/// The sum of a word's eight byte lanes.
fn lane_sum(lanes: u64) -> usize {
    lanes.to_le_bytes().iter().map(|&b| usize::from(b)).sum()
}

/// Parses the line that starts at `start` when it is exactly `values.len()` plain decimal cells
/// (a `\r` before its `\n` allowed) and returns where the next line starts. `None` leaves the
/// line to the general path; `ends` must then be rebuilt at the next line's start.
#[inline]
pub(super) fn plain_line(
    bytes: &[u8],
    ends: &mut SetBits<'_>,
    start: usize,
    values: &mut [f64],
) -> Option<usize> {
    let last = values.len().checked_sub(1)?;
    let mut cell_start = start;
    for (c, value) in values.iter_mut().enumerate() {
        let end = ends.next()?;
        // Past the last byte counts as a line end (a last line without `\n`).
        let line_ends = bytes.get(end).is_none_or(|&b| b == b'\n');
        if line_ends != (c == last) {
            return None;
        }
        let mut cell_end = end;
        if line_ends && cell_end > cell_start && bytes[cell_end - 1] == b'\r' {
            cell_end -= 1;
        }
        *value = plain_cell(bytes, cell_start, cell_end)?;
        cell_start = end + 1;
    }
    Some(cell_start)
}

/// `bytes[start..end]` as a plain decimal, or `None`.
// Always: left to itself the compiler made it a call per cell from both row parsers
// (measured with callgrind).
#[allow(clippy::inline_always)]
#[inline(always)]
fn plain_cell(bytes: &[u8], start: usize, end: usize) -> Option<f64> {
    let len = end.checked_sub(start)?;
    if (1..=8).contains(&len)
        && let Some(v) = short_decimal(load8(bytes, start), len)
    {
        return Some(v);
    }
    let cell = bytes.get(start..end)?;
    match plain_decimal_prefix(cell) {
        Some((v, used)) if used == cell.len() => Some(v),
        _ => None,
    }
}

/// The first `len` (1..=8) bytes of `word` (the cell's text, first byte lowest) as
/// `[-]digits[.digits]`, or `None` when they are anything else (then the general parser
/// decides). Same value and rounding as [`plain_decimal_prefix`]: an integer below 10^8 is
/// exact, and one division by an exact power of ten rounds correctly.
#[inline]
fn short_decimal(word: u64, len: usize) -> Option<f64> {
    debug_assert!((1..=8).contains(&len));
    let (word, len, negative) = strip_minus(word, len);
    if len == 0 {
        return None;
    }
    let (values, non_digit) = digit_values(word);
    let int_digits = leading_digits(non_digit);
    let (digits, count, frac_digits) = if int_digits >= len {
        (values, len, 0)
    } else {
        // One '.' with digits on both sides: close the gap it leaves.
        let frac_digits = len - int_digits - 1;
        if int_digits == 0 || frac_digits == 0 || (word >> (8 * int_digits)) & 0xFF != 0x2E {
            return None;
        }
        let after_dot = 8 * (int_digits + 1);
        if (non_digit >> after_dot) & low_bytes(frac_digits) != 0 {
            return None;
        }
        let joined = (values & low_bytes(int_digits)) | ((values >> after_dot) << (8 * int_digits));
        (joined, len - 1, frac_digits)
    };
    let mantissa = digits_number(digits, count);
    // A branch, not a division by 10^0 = 1: files are all whole numbers or all decimals in a
    // column, so it predicts well, and the division showed as a fifth of the read (measured).
    let magnitude = if frac_digits == 0 {
        mantissa as f64
    } else {
        mantissa as f64 / EXACT_POWERS_OF_TEN[frac_digits]
    };
    Some(f64::from_bits(magnitude.to_bits() | (negative << 63)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(text: &str, cells: usize) -> Option<(Vec<f64>, usize)> {
        let ends = cell_ends(text.as_bytes(), b',').words;
        let mut cursor = SetBits::from(&ends, 0);
        let mut values = vec![0.0; cells];
        let next = plain_line(text.as_bytes(), &mut cursor, 0, &mut values)?;
        Some((values, next))
    }

    #[test]
    fn short_cells_give_the_bits_of_str_parse() {
        for cell in [
            "0", "-0", "7", "-7", "12", "99999999", "-9999999", "1.5", "-1.5", "12.345",
            "-123.456", "0.001", "123456.8", "10000000", "00000001", "-0.0", "3.141592",
        ] {
            let word = load8(cell.as_bytes(), 0);
            let got = short_decimal(word, cell.len()).unwrap_or_else(|| panic!("{cell}"));
            let want: f64 = cell.parse().unwrap();
            assert_eq!(got.to_bits(), want.to_bits(), "{cell}");
        }
    }

    #[test]
    fn longer_cells_take_the_general_plain_decimal_path() {
        for cell in [
            "1234567.8",
            "3.1415926",
            "-12345678",
            "123456789012345",
            "0.000000001",
        ] {
            let got = plain_cell(cell.as_bytes(), 0, cell.len()).unwrap();
            let want: f64 = cell.parse().unwrap();
            assert_eq!(got.to_bits(), want.to_bits(), "{cell}");
        }
        assert_eq!(plain_cell(b"1234567890123456", 0, 16), None, "16 digits");
    }

    #[test]
    fn anything_but_a_plain_decimal_is_left_to_the_general_parser() {
        for cell in [
            "-", "+5", "1.", ".5", "1..2", "1.2.3", "1e3", "a", " 1", "1 ", "--1", "1-", "0x10",
            "1,5", "\"1\"", "NaN", "1.2e", "-.5",
        ] {
            let word = load8(cell.as_bytes(), 0);
            assert_eq!(
                short_decimal(word, cell.len().min(8)),
                None,
                "{cell} must not be read as a plain decimal"
            );
        }
    }

    #[test]
    fn every_eight_byte_integer_and_decimal_shape_parses_exactly() {
        // All placements of the dot and the sign in cells of 1..=8 bytes, with varied digits.
        for len in 1..=8usize {
            for seed in 0..40u64 {
                let digits: String = (0..len)
                    .map(|i| char::from(b'0' + ((seed * 7 + i as u64 * 3) % 10) as u8))
                    .collect();
                let mut shapes = vec![digits.clone()];
                if len >= 2 {
                    shapes.push(format!("-{}", &digits[1..]));
                }
                for dot in 1..len.saturating_sub(1) {
                    shapes.push(format!("{}.{}", &digits[..dot], &digits[dot + 1..]));
                    if dot >= 2 {
                        shapes.push(format!("-{}.{}", &digits[1..dot], &digits[dot + 1..]));
                    }
                }
                for cell in shapes {
                    let word = load8(cell.as_bytes(), 0);
                    let got = short_decimal(word, cell.len()).unwrap();
                    let want: f64 = cell.parse().unwrap();
                    assert_eq!(got.to_bits(), want.to_bits(), "{cell}");
                }
            }
        }
    }

    /// Random rows of whole numbers, decimals, long and odd cells, CRLF or not: the AVX2 path
    /// and the scalar path read exactly the same rows and bits, or refuse the same text.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_rows_equal_the_scalar_rows() {
        assert!(crate::formats::wide_cells::available());
        let mut rng = crate::test_rng::XorShift::new(0x5EED_CAFE_F00D_0042);
        let cells = [
            "0",
            "-0",
            "7",
            "-12",
            "345",
            "-6789",
            "12345678",
            "-1234567",
            "1.5",
            "-0.25",
            "123456789",
            "-12345678",
            "1e3",
            "",
            "x",
            "12.345678",
            "00001",
        ];
        let mut refused = 0;
        for _ in 0..3000 {
            let columns = 1 + rng.below(9) as usize;
            let rows = 1 + rng.below(20);
            let odd = rng.below(3) == 0;
            let mut text = String::new();
            for _ in 0..rows {
                for c in 0..columns {
                    if c > 0 {
                        text.push(',');
                    }
                    let pick = rng.below(if odd { cells.len() as u64 } else { 10 }) as usize;
                    text.push_str(cells[pick]);
                }
                text.push_str(if rng.below(5) == 0 { "\r\n" } else { "\n" });
            }
            if rng.below(3) == 0 {
                text.pop();
            }
            let mut wide = vec![0.0; rows as usize * columns];
            let mut narrow = wide.clone();
            // SAFETY: AVX2 is present (asserted above), the only requirement.
            #[allow(unsafe_code)]
            let got = unsafe { plain_block_avx2(text.as_bytes(), b',', columns, &mut wide) };
            let want = plain_block_scalar(text.as_bytes(), b',', columns, &mut narrow);
            assert_eq!(got, want, "{text:?}");
            if want.is_some() {
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&wide), bits(&narrow), "{text:?}");
            } else {
                refused += 1;
            }
        }
        assert!(refused > 100 && refused < 2900, "{refused} of 3000 refused");
    }

    #[test]
    fn a_row_is_read_with_its_next_line_start() {
        let (values, next) = parse_line("1,-2,3.5\n4,5,6\n", 3).unwrap();
        assert_eq!(values, [1.0, -2.0, 3.5]);
        assert_eq!(next, 9);
        // CRLF, and a last line without a newline.
        let (values, next) = parse_line("10,20,-30\r\n", 3).unwrap();
        assert_eq!(values, [10.0, 20.0, -30.0]);
        assert_eq!(next, 11);
        let (values, next) = parse_line("7,8,123456789.25", 3).unwrap();
        assert_eq!(values, [7.0, 8.0, 123_456_789.25]);
        assert_eq!(next, 17);
    }

    #[test]
    fn irregular_rows_are_left_to_the_general_path() {
        for line in [
            "1,2\n",
            "1,2,3,4\n",
            "1,,3\n",
            "1, 2,3\n",
            "#1,2,3\n",
            "\n",
            "1,2,x\n",
        ] {
            assert!(parse_line(line, 3).is_none(), "{line:?}");
        }
    }

    #[test]
    fn the_bitmap_marks_exactly_the_cell_ends_and_counts_newlines() {
        // Every byte value next to delimiters and newlines, over several words and a tail.
        let mut text: Vec<u8> = (0..=255u8).collect();
        text.extend(b",\n,,\n\n1,2\n".repeat(40));
        text.extend((0..=255u8).rev());
        for delim in [b',', b';', b'\t', b'\n'] {
            let bits = cell_ends(&text, delim);
            for (i, &b) in text.iter().enumerate() {
                let set = bits.words[i / 64] >> (i % 64) & 1 == 1;
                assert_eq!(set, b == delim || b == b'\n', "byte {i} ({b})");
            }
            let past = text.len();
            assert_eq!(bits.words[past / 64] >> (past % 64) & 1, 1);
            assert_eq!(bits.words.len(), past / 64 + 1);
            assert_eq!(bits.newlines, text.split(|&b| b == b'\n').count() - 1);
        }
    }

    #[test]
    fn cell_ends_walk_across_words() {
        let text = format!("{}\n{},{}\n", "1".repeat(70), "2".repeat(60), "3".repeat(3));
        let bits = cell_ends(text.as_bytes(), b',');
        assert_eq!(bits.newlines, 2);
        let ends = bits.words;
        let mut cursor = SetBits::from(&ends, 0);
        assert_eq!(cursor.next(), Some(70));
        assert_eq!(cursor.next(), Some(131));
        assert_eq!(cursor.next(), Some(135));
        assert_eq!(cursor.next(), Some(136), "the bit past the last byte");
        assert_eq!(cursor.next(), None);
        let mut from_middle = SetBits::from(&ends, 71);
        assert_eq!(from_middle.next(), Some(131));
    }
}
