//! `y = x Wᵀ + b` for bf16 activations `x` (`[M, K]`, row-major) and a packed bf16 weight `W`
//! ([`PackedBf16`], `[N, K]`), accumulated in f32.
//!
//! Work is cut into column groups of [`GROUP_PANELS`] panels (64 output columns), spread over
//! rayon's threads; each group walks the inner dimension in blocks of [`K_BLOCK_PAIRS`] pairs (the
//! group's slice of weights, 256 KiB, then stays in the core's L2 cache while every tile of rows
//! reuses it) and, inside a block, the rows in tiles of `MR`. A tile's results live in registers
//! for the whole block; between blocks they rest in the group's f32 accumulator, and at the end
//! the bias is added in f32 and the result rounded once to the output type. For decode (`M = 1`)
//! this is one pass over each weight, front to back, which is what a memory-bound step needs.

use half::bf16;
use rayon::prelude::*;

use super::Isa;
use super::packed::{PANEL, PackedBf16, PairBlock};

/// Panels per column group: 64 output columns, 24 of the 32 AVX-512 registers as accumulators
/// with 6-row tiles.
pub const GROUP_PANELS: usize = 4;
const GROUP_COLS: usize = GROUP_PANELS * PANEL;
/// Inner pairs per block: 4 panels × 1024 pairs × 64 B = 256 KiB of weights.
pub const K_BLOCK_PAIRS: usize = 1024;

/// An element the kernels can write: f32 (logits, tests) or bf16 (activations).
pub trait OutputElement: Copy + Send + Sync + Default + 'static {
    fn from_f32(v: f32) -> Self;
}

impl OutputElement for f32 {
    fn from_f32(v: f32) -> Self {
        v
    }
}

impl OutputElement for bf16 {
    /// Round to nearest, ties to even, as torch rounds its f32 accumulators.
    fn from_f32(v: f32) -> Self {
        bf16::from_f32(v)
    }
}

/// Errors of a call whose sizes do not fit together (the callers check shapes first, so this
/// names a bug rather than bad input).
#[derive(Debug, thiserror::Error)]
#[error("bf16 matmul: {0}")]
pub struct ShapeError(String);

impl ShapeError {
    pub(crate) fn new(problem: String) -> Self {
        Self(problem)
    }
}

/// `out[M, N] = x[M, K] · Wᵀ + bias` with the kernel for `isa`, the column groups spread over
/// rayon's threads.
pub fn matmul<T: OutputElement>(
    isa: Isa,
    x: &[bf16],
    m: usize,
    w: &PackedBf16,
    bias: Option<&[f32]>,
    out: &mut [T],
) -> Result<(), ShapeError> {
    matmul_on(isa, x, m, w, bias, out, true)
}

/// [`matmul`] on the calling thread alone, for callers that already run one task per thread.
pub fn matmul_serial<T: OutputElement>(
    isa: Isa,
    x: &[bf16],
    m: usize,
    w: &PackedBf16,
    bias: Option<&[f32]>,
    out: &mut [T],
) -> Result<(), ShapeError> {
    matmul_on(isa, x, m, w, bias, out, false)
}

fn matmul_on<T: OutputElement>(
    isa: Isa,
    x: &[bf16],
    m: usize,
    w: &PackedBf16,
    bias: Option<&[f32]>,
    out: &mut [T],
    parallel: bool,
) -> Result<(), ShapeError> {
    let (n, k) = (w.rows(), w.cols());
    if x.len() != m * k || out.len() != m * n || bias.is_some_and(|b| b.len() != n) {
        return Err(ShapeError(format!(
            "x has {} values for {m} × {k}, out {} for {m} × {n}, bias {:?} for {n}",
            x.len(),
            out.len(),
            bias.map(<[f32]>::len)
        )));
    }
    if m == 0 {
        return Ok(());
    }
    // bf16 and u16 have the same size and alignment, and every bit pattern of either is a value
    // of the other: the kernels read the activations as raw bits.
    let x_bits: &[u16] = bytemuck_bf16(x);
    let groups = w.panels().div_ceil(GROUP_PANELS);
    let out_ptr = SharedOut(out.as_mut_ptr());
    let run = |g: usize| {
        let cols = group_results(isa, x_bits, m, w, g);
        let c0 = g * GROUP_COLS;
        let width = GROUP_COLS.min(n - c0);
        for r in 0..m {
            let acc = &cols[r * GROUP_COLS..r * GROUP_COLS + width];
            let dst_start = r * n + c0;
            // SAFETY: `dst_start + width <= m * n == out.len()` (c0 + width <= n); groups own
            // disjoint column ranges [c0, c0 + width), so no two threads write one element, and
            // `out` outlives the parallel loop, which joins before `matmul` returns.
            let dst =
                unsafe { std::slice::from_raw_parts_mut(out_ptr.get().add(dst_start), width) };
            match bias {
                Some(b) => {
                    for ((d, &a), &bb) in dst.iter_mut().zip(acc).zip(&b[c0..c0 + width]) {
                        *d = T::from_f32(a + bb);
                    }
                }
                None => {
                    for (d, &a) in dst.iter_mut().zip(acc) {
                        *d = T::from_f32(a);
                    }
                }
            }
        }
    };
    if !parallel || groups == 1 || super::threads() == 1 {
        (0..groups).for_each(run);
    } else {
        (0..groups).into_par_iter().for_each(run);
    }
    Ok(())
}

/// The out pointer shared by the column groups (each writes only its own columns).
#[derive(Clone, Copy)]
struct SharedOut<T>(*mut T);
// SAFETY: the pointer is only used to write disjoint column ranges of one output buffer, one
// range per group (see `matmul`).
unsafe impl<T> Send for SharedOut<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SharedOut<T> {}
impl<T> SharedOut<T> {
    fn get(self) -> *mut T {
        self.0
    }
}

fn bytemuck_bf16(x: &[bf16]) -> &[u16] {
    // SAFETY: `bf16` is `#[repr(transparent)]` over `u16` (half's documented layout), so the
    // slice has the same length, alignment and validity as a `[u16]`.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<u16>(), x.len()) }
}

/// The f32 results of column group `g` for every row: `[M, 64]` row-major.
fn group_results(isa: Isa, x: &[u16], m: usize, w: &PackedBf16, g: usize) -> Vec<f32> {
    let k = w.cols();
    let pairs = w.pairs();
    let p0 = g * GROUP_PANELS;
    let np = GROUP_PANELS.min(w.panels() - p0);
    let panels = w.blocks_from_panel(p0);
    let mut acc = vec![0f32; m * GROUP_COLS];
    let mr_max = max_rows(isa);
    let mut q0 = 0;
    while q0 < pairs {
        let kq = K_BLOCK_PAIRS.min(pairs - q0);
        let mut r0 = 0;
        while r0 < m {
            let mr = mr_max.min(m - r0);
            let tile = Tile {
                a: &x[r0 * k + 2 * q0..],
                lda: k,
                b: &panels[q0..],
                panel_stride: pairs,
                pairs: kq,
                rows: mr,
                panels: np,
            };
            let acc_rows = &mut acc[r0 * GROUP_COLS..(r0 + mr) * GROUP_COLS];
            run_tile(isa, &tile, acc_rows);
            r0 += mr;
        }
        q0 += kq;
    }
    acc
}

/// Rows per tile for each kernel (its accumulators fill the register file).
fn max_rows(isa: Isa) -> usize {
    match isa {
        Isa::AmxBf16 => super::amx::TILE_ROWS * super::amx::MAX_ROW_TILES,
        Isa::Avx512Bf16 => 6,
        Isa::Avx2 | Isa::Scalar => 4,
    }
}

/// One tile's operands: `rows` rows of activations from `a` (row stride `lda`, starting at the
/// block's first pair), `panels` panels of weights from `b` (panel `p`'s pair `q` at
/// `b[p * panel_stride + q]`), `pairs` pairs.
#[derive(Clone, Copy)]
pub(crate) struct Tile<'a> {
    pub a: &'a [u16],
    pub lda: usize,
    pub b: &'a [PairBlock],
    pub panel_stride: usize,
    pub pairs: usize,
    pub rows: usize,
    pub panels: usize,
}

impl Tile<'_> {
    /// Whether every access the kernels make is inside the slices: the last row's last pair in
    /// `a`, the last panel's last pair in `b`.
    fn in_bounds(&self) -> bool {
        self.rows >= 1
            && self.panels >= 1
            && self.panels <= GROUP_PANELS
            && (self.rows - 1) * self.lda + 2 * self.pairs <= self.a.len()
            && (self.panels - 1) * self.panel_stride + self.pairs <= self.b.len()
    }
}

/// Adds the tile's products to `acc` (`rows` rows of 64 f32, panel `p` in columns 16p..16p+16).
pub(crate) fn run_tile(isa: Isa, t: &Tile<'_>, acc: &mut [f32]) {
    assert!(
        t.in_bounds() && acc.len() >= t.rows * GROUP_COLS,
        "tile outside its operands"
    );
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::AmxBf16 => amx_tile(t, acc),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512Bf16` is only chosen when the processor reports AVX-512F, BW and
        // BF16 (`Isa::detect`, or a test that checked the same), and the assert above proves
        // every load and store the kernel makes is inside `t.a`, `t.b` and `acc`.
        Isa::Avx512Bf16 => unsafe { super::avx512bf16::tile(t, acc.as_mut_ptr(), GROUP_COLS) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, for AVX2 and FMA.
        Isa::Avx2 => unsafe { super::avx2::tile(t, acc.as_mut_ptr(), GROUP_COLS) },
        _ => scalar_tile(t, acc),
    }
}

/// The AMX kernel takes the part of a tile that fills whole AMX tiles (16 or 32 rows, a multiple
/// of 16 pairs); the rest (the last rows of a prefill, an inner dimension that is not a multiple
/// of 32) goes to the AVX512-BF16 kernel, which every AMX processor also has.
#[cfg(target_arch = "x86_64")]
fn amx_tile(t: &Tile<'_>, acc: &mut [f32]) {
    use super::amx::{MAX_ROW_TILES, TILE_PAIRS, TILE_ROWS};
    let amx_pairs = t.pairs / TILE_PAIRS * TILE_PAIRS;
    let amx_rows = if amx_pairs == 0 {
        0
    } else {
        (t.rows / TILE_ROWS).min(MAX_ROW_TILES) * TILE_ROWS
    };
    if amx_rows > 0 {
        let core = Tile {
            rows: amx_rows,
            pairs: amx_pairs,
            ..*t
        };
        assert!(
            core.in_bounds() && acc.len() >= amx_rows * GROUP_COLS,
            "AMX tile outside its operands"
        );
        // SAFETY: `Isa::AmxBf16` is only chosen when `amx::available()` (processor support and
        // the kernel's grant of the tile state); the tile has 16 or 32 rows, a positive multiple
        // of 16 pairs and 1 to 4 panels (`in_bounds`), and `acc` holds its rows of 64 f32.
        unsafe { super::amx::tile(&core, acc.as_mut_ptr(), GROUP_COLS) };
        if amx_pairs < t.pairs {
            let tail = Tile {
                a: &t.a[2 * amx_pairs..],
                b: &t.b[amx_pairs..],
                pairs: t.pairs - amx_pairs,
                rows: amx_rows,
                ..*t
            };
            avx512_rows(&tail, acc);
        }
    }
    if amx_rows < t.rows {
        let rest = Tile {
            a: &t.a[amx_rows * t.lda..],
            rows: t.rows - amx_rows,
            ..*t
        };
        avx512_rows(&rest, &mut acc[amx_rows * GROUP_COLS..]);
    }
}

/// `t` (any number of rows) on the AVX512-BF16 kernel, six rows at a time.
#[cfg(target_arch = "x86_64")]
fn avx512_rows(t: &Tile<'_>, acc: &mut [f32]) {
    let mr_max = max_rows(Isa::Avx512Bf16);
    let mut r0 = 0;
    while r0 < t.rows {
        let rows = mr_max.min(t.rows - r0);
        let part = Tile {
            a: &t.a[r0 * t.lda..],
            rows,
            ..*t
        };
        run_tile(Isa::Avx512Bf16, &part, &mut acc[r0 * GROUP_COLS..]);
        r0 += rows;
    }
}

/// The reference kernel: the same sums in plain code, in the same order per output element as
/// the SIMD kernels (pair by pair, each pair's two products added to the running sum).
pub(crate) fn scalar_tile(t: &Tile<'_>, acc: &mut [f32]) {
    let f = |bits: u16| f32::from_bits(u32::from(bits) << 16);
    for i in 0..t.rows {
        let a_row = &t.a[i * t.lda..];
        for p in 0..t.panels {
            let panel = &t.b[p * t.panel_stride..p * t.panel_stride + t.pairs];
            let out = &mut acc[i * GROUP_COLS + p * PANEL..i * GROUP_COLS + (p + 1) * PANEL];
            for (q, block) in panel.iter().enumerate() {
                let (a0, a1) = (f(a_row[2 * q]), f(a_row[2 * q + 1]));
                for (j, o) in out.iter_mut().enumerate() {
                    *o += a0 * f(block.0[2 * j]) + a1 * f(block.0[2 * j + 1]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::XorShift;

    fn random_bf16(rng: &mut XorShift, n: usize) -> Vec<bf16> {
        (0..n)
            .map(|_| bf16::from_f32(rng.below(1 << 24) as f32 / (1 << 23) as f32 - 1.0))
            .collect()
    }

    /// `x Wᵀ + b` in f64 from the unpacked operands.
    fn reference(x: &[bf16], w: &[bf16], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f64> {
        let mut y = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k)
                    .map(|l| f64::from(x[i * k + l].to_f32()) * f64::from(w[j * k + l].to_f32()))
                    .sum();
                y[i * n + j] = s + f64::from(b[j]);
            }
        }
        y
    }

    fn isas() -> Vec<Isa> {
        let mut v = vec![Isa::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                v.push(Isa::Avx2);
            }
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512bf16")
            {
                v.push(Isa::Avx512Bf16);
            }
        }
        if Isa::best_supported() == Isa::AmxBf16 {
            v.push(Isa::AmxBf16);
        } else {
            println!(
                "AMX-BF16 kernel not tested: {}",
                Isa::best_supported().name()
            );
        }
        v
    }

    #[test]
    fn every_kernel_matches_the_f64_reference_on_ragged_shapes() {
        let mut rng = XorShift::new(7);
        // Rows around the tile heights, columns around panels and groups, an inner dimension
        // over one block of pairs.
        for &(m, n, k) in &[
            (1, 1, 2),
            (1, 70, 30),
            (5, 17, 8),
            (7, 64, 2050),
            (13, 131, 66),
            (6, 16, 4),
            // AMX: 32- and 16-row tiles with AVX-512 rows after them, an odd last panel pair
            // (7 panels), an inner block of 515 pairs (3 past the last 16-pair step), and an
            // inner dimension over one block that is a multiple of the step.
            (40, 100, 1030),
            (16, 48, 64),
            (33, 16, 2112),
        ] {
            let x = random_bf16(&mut rng, m * k);
            let w = random_bf16(&mut rng, n * k);
            let b: Vec<f32> = (0..n).map(|i| i as f32 * 0.01).collect();
            let packed = PackedBf16::pack(&w, n, k).unwrap();
            let want = reference(&x, &w, &b, m, n, k);
            for isa in isas() {
                let mut got = vec![0f32; m * n];
                matmul(isa, &x, m, &packed, Some(&b), &mut got).unwrap();
                for (idx, (&g, &r)) in got.iter().zip(&want).enumerate() {
                    // f32 accumulation over k products of magnitude ≤ 1.
                    let tol = 1e-6 * k as f64 + 1e-6;
                    assert!(
                        (f64::from(g) - r).abs() <= tol,
                        "{} m={m} n={n} k={k} at {idx}: {g} vs {r}",
                        isa.name()
                    );
                }
            }
        }
    }

    #[test]
    fn simd_kernels_equal_the_scalar_kernel_in_bf16() {
        let mut rng = XorShift::new(11);
        let (m, n, k) = (9, 100, 258);
        let x = random_bf16(&mut rng, m * k);
        let w = random_bf16(&mut rng, n * k);
        let packed = PackedBf16::pack(&w, n, k).unwrap();
        let mut scalar = vec![bf16::ZERO; m * n];
        matmul(Isa::Scalar, &x, m, &packed, None, &mut scalar).unwrap();
        for isa in isas() {
            let mut got = vec![bf16::ZERO; m * n];
            matmul(isa, &x, m, &packed, None, &mut got).unwrap();
            // Sums of the same products in another association differ in f32 by far less than
            // one bf16 step, so the rounded results differ by at most one step.
            for (g, s) in got.iter().zip(&scalar) {
                let step = s.to_f32().abs().max(1e-3) / 128.0;
                assert!(
                    (g.to_f32() - s.to_f32()).abs() <= step,
                    "{}: {g} vs {s}",
                    isa.name()
                );
            }
        }
    }

    #[test]
    fn mismatched_sizes_are_refused() {
        let w = PackedBf16::pack(&[bf16::ONE; 8], 2, 4).unwrap();
        let mut out = vec![0f32; 2];
        assert!(matmul(Isa::Scalar, &[bf16::ONE; 3], 1, &w, None, &mut out).is_err());
        assert!(matmul(Isa::Scalar, &[bf16::ONE; 4], 1, &w, Some(&[0.0]), &mut out).is_err());
    }
}
