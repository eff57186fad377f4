//! The AVX2 + FMA tile for processors without bf16 instructions: each packed block is widened to
//! f32 in registers (a bf16 is the top half of an f32), never in memory, so the weights are still
//! read once at half the bytes of f32.

use std::arch::x86_64::{
    __m256, __m256i, _mm256_and_si256, _mm256_castsi256_ps, _mm256_fmadd_ps, _mm256_load_si256,
    _mm256_loadu_ps, _mm256_set1_epi32, _mm256_set1_ps, _mm256_setzero_ps, _mm256_slli_epi32,
    _mm256_storeu_ps,
};

use super::gemm::Tile;
use super::packed::PANEL;

/// Adds the tile's products to `acc` (row `i`, panel `p` at `acc + i * ldacc + 16 p`).
///
/// # Safety
/// The processor supports AVX2 and FMA; `t` is in bounds (`Tile::in_bounds`) and `acc` holds
/// `t.rows` rows of `ldacc >= 16 * t.panels` f32.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn tile(t: &Tile<'_>, acc: *mut f32, ldacc: usize) {
    for p in 0..t.panels {
        // SAFETY (each arm): the caller's guarantees; panel p < t.panels.
        unsafe {
            match t.rows {
                1 => panel::<1>(t, p, acc, ldacc),
                2 => panel::<2>(t, p, acc, ldacc),
                3 => panel::<3>(t, p, acc, ldacc),
                _ => panel::<4>(t, p, acc, ldacc),
            }
        }
    }
}

#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn panel<const MR: usize>(t: &Tile<'_>, p: usize, acc: *mut f32, ldacc: usize) {
    let a = t.a.as_ptr();
    let blocks = t.b[p * t.panel_stride..].as_ptr();
    let high = _mm256_set1_epi32(0xffff_0000_u32 as i32);
    // c[i][h]: row i, output columns 8h..8h+8 of the panel.
    let mut c = [[_mm256_setzero_ps(); 2]; MR];
    // SAFETY: i < t.rows, so the addresses are inside the caller's `acc`.
    unsafe {
        for (i, row) in c.iter_mut().enumerate() {
            for (h, v) in row.iter_mut().enumerate() {
                *v = _mm256_loadu_ps(acc.add(i * ldacc + p * PANEL + 8 * h));
            }
        }
    }
    for q in 0..t.pairs {
        // SAFETY: q < t.pairs and the panel's blocks start at p * panel_stride, inside `t.b`
        // (Tile::in_bounds); a PairBlock is two 32-byte halves, 64-byte aligned.
        let (lo, hi) = unsafe {
            let blk = blocks.add(q).cast::<__m256i>();
            (_mm256_load_si256(blk), _mm256_load_si256(blk.add(1)))
        };
        // Each 32-bit lane holds (k, k+1) of one output column: k is the low half.
        let widen = |v: __m256i| -> (__m256, __m256) {
            (
                _mm256_castsi256_ps(_mm256_slli_epi32::<16>(v)),
                _mm256_castsi256_ps(_mm256_and_si256(v, high)),
            )
        };
        let (lo_k0, lo_k1) = widen(lo);
        let (hi_k0, hi_k1) = widen(hi);
        for (i, row) in c.iter_mut().enumerate() {
            // SAFETY: i < t.rows and 2q + 1 < 2 * t.pairs, inside `t.a` (Tile::in_bounds).
            let pair = unsafe { a.add(i * t.lda + 2 * q).cast::<u32>().read_unaligned() };
            let a0 = _mm256_set1_ps(f32::from_bits(pair << 16));
            let a1 = _mm256_set1_ps(f32::from_bits(pair & 0xffff_0000));
            row[0] = _mm256_fmadd_ps(a1, lo_k1, _mm256_fmadd_ps(a0, lo_k0, row[0]));
            row[1] = _mm256_fmadd_ps(a1, hi_k1, _mm256_fmadd_ps(a0, hi_k0, row[1]));
        }
    }
    // SAFETY: as for the loads above.
    unsafe {
        for (i, row) in c.iter().enumerate() {
            for (h, v) in row.iter().enumerate() {
                _mm256_storeu_ps(acc.add(i * ldacc + p * PANEL + 8 * h), *v);
            }
        }
    }
}
