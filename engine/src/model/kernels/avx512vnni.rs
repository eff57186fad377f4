//! The AVX512-VNNI q8_0 tile: `vpdpbusd` multiplies four unsigned bytes by four signed bytes
//! in each of 16 lanes and adds the four products to an int32. Activations are signed, so the
//! kernel multiplies |x| by w with x's sign moved onto w (the trick llama.cpp uses): exact, since
//! both are in [-127, 127].

use std::arch::x86_64::{
    __m512, __m512i, _mm256_loadu_si256, _mm512_abs_epi8, _mm512_cvtepi32_ps, _mm512_cvtph_ps,
    _mm512_dpbusd_epi32, _mm512_fmadd_ps, _mm512_load_si512, _mm512_loadu_ps, _mm512_mask_sub_epi8,
    _mm512_movepi8_mask, _mm512_mul_ps, _mm512_set1_epi32, _mm512_set1_ps, _mm512_setzero_ps,
    _mm512_setzero_si512, _mm512_storeu_ps,
};

use super::packed::PANEL;
use super::q8::{BLOCK, Q8Tile};

/// Adds the tile's products to `acc` (row `i`, panel `p` at `acc + i * ldacc + 16 p`).
///
/// # Safety
/// The processor supports AVX-512F, AVX-512BW and AVX512-VNNI; the tile is in bounds
/// (`Q8Tile::in_bounds`) and `acc` holds `t.rows` rows of `ldacc >= 16 * t.panels` f32.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn tile(t: &Q8Tile<'_>, acc: *mut f32, ldacc: usize) {
    macro_rules! by_panels {
        ($mr:literal) => {
            match t.panels {
                1 => tile_n::<$mr, 1>(t, acc, ldacc),
                2 => tile_n::<$mr, 2>(t, acc, ldacc),
                3 => tile_n::<$mr, 3>(t, acc, ldacc),
                _ => tile_n::<$mr, 4>(t, acc, ldacc),
            }
        };
    }
    // SAFETY (each arm): the caller's guarantees, passed on unchanged.
    unsafe {
        match t.rows {
            1 => by_panels!(1),
            2 => by_panels!(2),
            _ => by_panels!(3),
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn tile_n<const MR: usize, const NP: usize>(t: &Q8Tile<'_>, acc: *mut f32, ldacc: usize) {
    let mut c: [[__m512; NP]; MR] = [[_mm512_setzero_ps(); NP]; MR];
    // SAFETY: i < t.rows, p < t.panels: inside the caller's `acc`.
    unsafe {
        for (i, row) in c.iter_mut().enumerate() {
            for (p, v) in row.iter_mut().enumerate() {
                *v = _mm512_loadu_ps(acc.add(i * ldacc + p * PANEL));
            }
        }
    }
    let zero = _mm512_setzero_si512();
    for b in 0..t.blocks {
        let mut dots: [[__m512i; NP]; MR] = [[zero; NP]; MR];
        for g in 0..BLOCK / 4 {
            let mut w = [zero; NP];
            for (p, v) in w.iter_mut().enumerate() {
                // SAFETY: p < t.panels and b < t.blocks index `t.w` (Q8Tile::in_bounds); a
                // Q8Block is 512 bytes, 64-byte aligned, and group g's 64 bytes start at 64 g.
                *v = unsafe {
                    _mm512_load_si512(
                        t.w.as_ptr()
                            .add(p * t.panel_stride + b)
                            .cast::<__m512i>()
                            .add(g),
                    )
                };
            }
            for (i, row) in dots.iter_mut().enumerate() {
                // SAFETY: i < t.rows and 4g + 3 < 32 inside block b of row i of `t.x`
                // (Q8Tile::in_bounds); unaligned on purpose.
                let four = unsafe {
                    t.x.as_ptr()
                        .add(i * t.ldx + b * BLOCK + 4 * g)
                        .cast::<i32>()
                        .read_unaligned()
                };
                let xs = _mm512_set1_epi32(four);
                let magnitude = _mm512_abs_epi8(xs);
                let negative = _mm512_movepi8_mask(xs);
                for (p, d) in row.iter_mut().enumerate() {
                    let signed_w = _mm512_mask_sub_epi8(w[p], negative, zero, w[p]);
                    *d = _mm512_dpbusd_epi32(*d, magnitude, signed_w);
                }
            }
        }
        for (i, row) in c.iter_mut().enumerate() {
            let xs = _mm512_set1_ps(t.x_scales[i * t.lds + b]);
            for (p, v) in row.iter_mut().enumerate() {
                // SAFETY: the panel's scales of block b are inside `t.w_scales`
                // (Q8Tile::in_bounds); 16 f16 are 32 bytes.
                let ws = unsafe {
                    _mm512_cvtph_ps(_mm256_loadu_si256(
                        t.w_scales.as_ptr().add(p * t.panel_stride + b).cast(),
                    ))
                };
                *v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dots[i][p]), _mm512_mul_ps(ws, xs), *v);
            }
        }
    }
    // SAFETY: as for the loads above.
    unsafe {
        for (i, row) in c.iter().enumerate() {
            for (p, v) in row.iter().enumerate() {
                _mm512_storeu_ps(acc.add(i * ldacc + p * PANEL), *v);
            }
        }
    }
}
