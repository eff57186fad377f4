//! Decoding of WFDB sample storage formats into a flat stream of stored values.
//!
//! Signals sharing one data file are interleaved frame by frame; the packed formats (212, 310,
//! 311) pack consecutive values of that interleaved stream regardless of which signal they
//! belong to, so decoding works on the stream and de-interleaving comes after.

use super::header::SampleFormat;

/// How many whole values `len` bytes hold in this format (a trailing partial group may still
/// hold the first value(s) of the group).
pub fn values_in(format: SampleFormat, len: usize) -> usize {
    match format {
        SampleFormat::Diff8 | SampleFormat::F80 => len,
        SampleFormat::F16 | SampleFormat::F61 | SampleFormat::F160 => len / 2,
        SampleFormat::F24 => len / 3,
        SampleFormat::F32 => len / 4,
        SampleFormat::F212 => len / 3 * 2 + usize::from(len % 3 >= 2),
        SampleFormat::F310 => len / 4 * 3 + usize::from(len % 4 >= 2),
        SampleFormat::F311 => len / 4 * 3 + (len % 4).saturating_sub(1),
    }
}

fn sign_extend(v: u32, bits: u32) -> i32 {
    let shift = 32 - bits;
    ((v << shift) as i32) >> shift
}

/// Decodes the first `count` stored values of `bytes` (the caller checked with [`values_in`]
/// that they are there). For difference format 8 the values are the raw differences; the
/// caller accumulates them per signal.
pub fn decode(format: SampleFormat, bytes: &[u8], count: usize) -> Vec<i32> {
    let mut out = Vec::with_capacity(count);
    match format {
        SampleFormat::Diff8 => out.extend(bytes.iter().take(count).map(|&b| i32::from(b as i8))),
        SampleFormat::F80 => out.extend(bytes.iter().take(count).map(|&b| i32::from(b) - 128)),
        SampleFormat::F16 => out.extend(
            bytes
                .chunks_exact(2)
                .take(count)
                .map(|c| i32::from(i16::from_le_bytes([c[0], c[1]]))),
        ),
        SampleFormat::F61 => out.extend(
            bytes
                .chunks_exact(2)
                .take(count)
                .map(|c| i32::from(i16::from_be_bytes([c[0], c[1]]))),
        ),
        SampleFormat::F160 => out.extend(
            bytes
                .chunks_exact(2)
                .take(count)
                .map(|c| i32::from(u16::from_le_bytes([c[0], c[1]])) - 32768),
        ),
        SampleFormat::F24 => out.extend(
            bytes
                .chunks_exact(3)
                .take(count)
                .map(|c| sign_extend(u32::from_le_bytes([c[0], c[1], c[2], 0]), 24)),
        ),
        SampleFormat::F32 => out.extend(
            bytes
                .chunks_exact(4)
                .take(count)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        ),
        SampleFormat::F212 => {
            let mut groups = bytes.chunks(3);
            while out.len() < count {
                let Some(g) = groups.next() else { break };
                let b = |i: usize| u32::from(g.get(i).copied().unwrap_or(0));
                out.push(sign_extend(b(0) | ((b(1) & 0x0F) << 8), 12));
                if out.len() < count && g.len() == 3 {
                    out.push(sign_extend(b(2) | ((b(1) & 0xF0) << 4), 12));
                }
            }
        }
        SampleFormat::F310 => {
            // Two little-endian words w0, w1: v0 = w0 bits 1..10, v1 = w1 bits 1..10,
            // v2 = w0 bits 11..15 (low half) and w1 bits 11..15 (high half).
            let mut groups = bytes.chunks(4);
            while out.len() < count {
                let Some(g) = groups.next() else { break };
                let b = |i: usize| u32::from(g.get(i).copied().unwrap_or(0));
                let w0 = b(0) | (b(1) << 8);
                let w1 = b(2) | (b(3) << 8);
                out.push(sign_extend((w0 >> 1) & 0x3FF, 10));
                if out.len() < count && g.len() == 4 {
                    out.push(sign_extend((w1 >> 1) & 0x3FF, 10));
                }
                if out.len() < count && g.len() == 4 {
                    out.push(sign_extend(
                        ((w0 >> 11) & 0x1F) | (((w1 >> 11) & 0x1F) << 5),
                        10,
                    ));
                }
            }
        }
        SampleFormat::F311 => {
            // One little-endian 32-bit word: v0 bits 0..9, v1 bits 10..19, v2 bits 20..29.
            let mut groups = bytes.chunks(4);
            while out.len() < count {
                let Some(g) = groups.next() else { break };
                let b = |i: usize| u32::from(g.get(i).copied().unwrap_or(0));
                let w = b(0) | (b(1) << 8) | (b(2) << 16) | (b(3) << 24);
                for k in 0..3usize {
                    // Value k needs bytes up to index ceil((k+1)*10/8) - 1 = [1, 2, 3][k].
                    if out.len() < count && g.len() > k + 1 {
                        out.push(sign_extend((w >> (10 * k)) & 0x3FF, 10));
                    }
                }
            }
        }
    }
    out
}

/// Takes every `stride`-th `W`-byte value starting at value `first`, `count` of them; `None`
/// when the bytes end before the last of them.
fn strided<const W: usize>(
    bytes: &[u8],
    first: usize,
    stride: usize,
    count: usize,
    value: impl Fn([u8; W]) -> i32,
) -> Option<Vec<i32>> {
    let last = first.checked_add(count.checked_sub(1)?.checked_mul(stride)?)?;
    let region = bytes.get(first * W..last.checked_add(1)?.checked_mul(W)?)?;
    // The region holds (count - 1) * stride + 1 whole values: exactly `count` steps.
    Some(
        region
            .as_chunks::<W>()
            .0
            .iter()
            .step_by(stride)
            .map(|&c| value(c))
            .collect(),
    )
}

/// For the byte-aligned formats (all but 212, 310 and 311): the values at stream positions
/// `first`, `first + stride`, … (`count` of them) — one signal of an interleaved file with
/// one sample per frame — decoded straight from the bytes, without the interleaved stream.
/// `None` for packed formats, for `count` 0 and when the bytes end early.
pub fn decode_strided(
    format: SampleFormat,
    bytes: &[u8],
    first: usize,
    stride: usize,
    count: usize,
) -> Option<Vec<i32>> {
    match format {
        SampleFormat::Diff8 => strided::<1>(bytes, first, stride, count, |[b]| i32::from(b as i8)),
        SampleFormat::F80 => strided::<1>(bytes, first, stride, count, |[b]| i32::from(b) - 128),
        SampleFormat::F16 => strided::<2>(bytes, first, stride, count, |c| {
            i32::from(i16::from_le_bytes(c))
        }),
        SampleFormat::F61 => strided::<2>(bytes, first, stride, count, |c| {
            i32::from(i16::from_be_bytes(c))
        }),
        SampleFormat::F160 => strided::<2>(bytes, first, stride, count, |c| {
            i32::from(u16::from_le_bytes(c)) - 32768
        }),
        SampleFormat::F24 => strided::<3>(bytes, first, stride, count, |[a, b, c]| {
            sign_extend(u32::from_le_bytes([a, b, c, 0]), 24)
        }),
        SampleFormat::F32 => strided::<4>(bytes, first, stride, count, i32::from_le_bytes),
        SampleFormat::F212 | SampleFormat::F310 | SampleFormat::F311 => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_formats_decode_known_bytes() {
        // 212: values 0x123 and -1 (0xFFF): byte0 = 0x23, byte1 = 0xF1, byte2 = 0xFF.
        assert_eq!(
            decode(SampleFormat::F212, &[0x23, 0xF1, 0xFF], 2),
            vec![0x123, -1]
        );
        assert_eq!(values_in(SampleFormat::F212, 5), 3);
        // 311: 1, -1, 511 -> w = 1 | 0x3FF << 10 | 0x1FF << 20.
        let w: u32 = 1 | (0x3FF << 10) | (0x1FF << 20);
        assert_eq!(
            decode(SampleFormat::F311, &w.to_le_bytes(), 3),
            vec![1, -1, 511]
        );
        // 310: v0 = 5, v1 = -2, v2 = 0b10101_00011 (675 -> sign-extended -349).
        let v2: u32 = 0b10101_00011;
        let w0 = (5u32 << 1) | ((v2 & 0x1F) << 11);
        let w1 = ((0x3FEu32) << 1) | ((v2 >> 5) << 11);
        let bytes = [w0 as u8, (w0 >> 8) as u8, w1 as u8, (w1 >> 8) as u8];
        assert_eq!(
            decode(SampleFormat::F310, &bytes, 3),
            vec![5, -2, sign_extend(v2, 10)]
        );
        assert_eq!(decode(SampleFormat::F24, &[0xFF, 0xFF, 0xFF], 1), vec![-1]);
        assert_eq!(decode(SampleFormat::F61, &[0x01, 0x00], 1), vec![256]);
        assert_eq!(decode(SampleFormat::F160, &[0x00, 0x80], 1), vec![0]);
        assert_eq!(decode(SampleFormat::F80, &[0], 1), vec![-128]);
    }

    #[test]
    fn strided_decoding_equals_the_deinterleaved_stream() {
        let bytes: Vec<u8> = (0..241u32).map(|i| (i * 37 + 11) as u8).collect();
        for format in [
            SampleFormat::Diff8,
            SampleFormat::F80,
            SampleFormat::F16,
            SampleFormat::F61,
            SampleFormat::F160,
            SampleFormat::F24,
            SampleFormat::F32,
        ] {
            for stride in 1..5 {
                let frames = values_in(format, bytes.len()) / stride;
                let stream = decode(format, &bytes, frames * stride);
                for first in 0..stride {
                    let expected: Vec<i32> =
                        stream[first..].iter().step_by(stride).copied().collect();
                    let got = decode_strided(format, &bytes, first, stride, frames);
                    assert_eq!(got, Some(expected), "{format:?} stride {stride}");
                }
            }
        }
        assert_eq!(decode_strided(SampleFormat::F212, &bytes, 0, 1, 3), None);
    }
}
