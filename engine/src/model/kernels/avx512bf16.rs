//! The AVX512-BF16 tile: `vdpbf16ps` multiplies a broadcast pair of activations by one packed
//! block (16 output columns × 2 inner positions) and adds both products to 16 f32 accumulators.

use std::arch::x86_64::{
    __m512bh, __m512i, _mm512_dpbf16_ps, _mm512_load_si512, _mm512_loadu_ps, _mm512_set1_epi32,
    _mm512_setzero_ps, _mm512_setzero_si512, _mm512_storeu_ps,
};

use super::gemm::Tile;
use super::packed::PANEL;

/// Adds the tile's products to `acc` (row `i`, panel `p` at `acc + i * ldacc + 16 p`).
///
/// # Safety
/// The processor supports AVX-512F, AVX-512BW and AVX512-BF16; `t` is in bounds
/// (`Tile::in_bounds`) and `acc` holds `t.rows` rows of `ldacc >= 16 * t.panels` f32.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
pub(super) unsafe fn tile(t: &Tile<'_>, acc: *mut f32, ldacc: usize) {
    // Rows and panels are dispatched to constant sizes, so the accumulators are registers.
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
            3 => by_panels!(3),
            4 => by_panels!(4),
            5 => by_panels!(5),
            _ => by_panels!(6),
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
unsafe fn tile_n<const MR: usize, const NP: usize>(t: &Tile<'_>, acc: *mut f32, ldacc: usize) {
    let a = t.a.as_ptr();
    let b = t.b.as_ptr();
    let mut c = [[_mm512_setzero_ps(); NP]; MR];
    // SAFETY: rows < t.rows and panels < t.panels, so every accumulator address is inside the
    // caller's `acc`.
    unsafe {
        for (i, row) in c.iter_mut().enumerate() {
            for (p, v) in row.iter_mut().enumerate() {
                *v = _mm512_loadu_ps(acc.add(i * ldacc + p * PANEL));
            }
        }
    }
    for q in 0..t.pairs {
        let mut bv = [as_bh(_mm512_setzero_si512()); NP];
        for (p, v) in bv.iter_mut().enumerate() {
            // SAFETY: p < t.panels and q < t.pairs, so `p * panel_stride + q` indexes `t.b`
            // (Tile::in_bounds); a PairBlock is 64 bytes and 64-byte aligned, as the aligned load
            // requires.
            *v = as_bh(unsafe {
                _mm512_load_si512(b.add(p * t.panel_stride + q).cast::<__m512i>())
            });
        }
        for (i, row) in c.iter_mut().enumerate() {
            // SAFETY: i < t.rows and 2q + 1 < 2 * t.pairs, inside `t.a` (Tile::in_bounds); the
            // read is unaligned on purpose (rows start at any even element).
            let pair = unsafe { a.add(i * t.lda + 2 * q).cast::<i32>().read_unaligned() };
            let av = as_bh(_mm512_set1_epi32(pair));
            for (p, v) in row.iter_mut().enumerate() {
                *v = _mm512_dpbf16_ps(*v, av, bv[p]);
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

/// The same 512 bits seen as 32 bf16 values.
#[inline]
fn as_bh(v: __m512i) -> __m512bh {
    // SAFETY: both are plain 512-bit vector types; every bit pattern is valid for either.
    unsafe { std::mem::transmute::<__m512i, __m512bh>(v) }
}

/// Independent accumulators of [`peak_loop`]: enough to cover the instruction's latency on
/// both of a core's vector ports.
const PEAK_ACCUMULATORS: usize = 12;

/// Floating-point operations of one `vdpbf16ps`: 16 lanes × 2 products, a multiply and an add
/// each.
pub(super) const FLOP_PER_DOT: usize = 16 * 2 * 2;

/// Runs `steps × 12` bf16 dot products on registers alone and returns the products issued.
///
/// # Safety
/// The processor supports AVX-512F, AVX-512BW and AVX512-BF16.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
pub(super) unsafe fn peak_loop(steps: usize) -> usize {
    let a = as_bh(_mm512_set1_epi32(0x3f80_3f80));
    let b = as_bh(_mm512_set1_epi32(std::hint::black_box(0)));
    let mut c = [_mm512_setzero_ps(); PEAK_ACCUMULATORS];
    for _ in 0..steps {
        for v in &mut c {
            *v = _mm512_dpbf16_ps(*v, a, b);
        }
    }
    std::hint::black_box(&c);
    steps * PEAK_ACCUMULATORS
}
