//! q8_0 weights (GGUF's 32-value blocks of int8 with one f16 scale) re-laid at load for the
//! AVX512-VNNI integer dot product, the source blocks dropped.
//!
//! candle's quantised CPU matmul keeps the GGUF blocks and, on first use, a repacked copy beside
//! them (about twice the memory), and decodes q8_0 at about half the memory's speed. Here each
//! panel of 16 output rows holds, per 32-value block, the 16 rows' values in groups of four inner
//! positions (`[group 0..8][row 0..16][4]`, 512 bytes: one 64-byte register per group, what
//! `vpdpbusd` multiplies against four broadcast activation bytes) and, in a second array, the 16
//! rows' f16 scales. That is the GGUF file's 34 bytes per 32 values, no more. Activations are
//! quantised to q8_0 per row and block, as llama.cpp and candle do for their q8_0 products.

use half::f16;
use rayon::prelude::*;

use super::packed::PANEL;

/// Values per q8_0 block.
pub const BLOCK: usize = 32;
/// GGUF's q8_0 block: the f16 scale, then 32 int8 values.
const GGUF_BLOCK_BYTES: usize = 2 + BLOCK;

/// One panel's 16 rows × 32 values of one block, grouped by four inner positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct Q8Block(pub [i8; PANEL * BLOCK]);

impl Default for Q8Block {
    fn default() -> Self {
        Self([0; PANEL * BLOCK])
    }
}

/// A `[N, K]` q8_0 matrix in panel layout (`K` a multiple of 32; rows past `N` are zero).
#[derive(Clone)]
pub struct PackedQ8 {
    rows: usize,
    cols: usize,
    values: Vec<Q8Block>,
    /// Per panel and block, the 16 rows' scales.
    scales: Vec<[f16; PANEL]>,
}

impl std::fmt::Debug for PackedQ8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedQ8")
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .finish_non_exhaustive()
    }
}

impl PackedQ8 {
    /// Repacks GGUF q8_0 bytes of a row-major `[rows, cols]` tensor. `None` if the sizes do not
    /// match the bytes or `cols` is not a whole number of blocks.
    pub fn from_gguf(bytes: &[u8], rows: usize, cols: usize) -> Option<Self> {
        if rows == 0 || cols == 0 || !cols.is_multiple_of(BLOCK) {
            return None;
        }
        let blocks = cols / BLOCK;
        if bytes.len() != rows.checked_mul(blocks)?.checked_mul(GGUF_BLOCK_BYTES)? {
            return None;
        }
        let panels = rows.div_ceil(PANEL);
        let mut values = vec![Q8Block::default(); panels * blocks];
        let mut scales = vec![[f16::ZERO; PANEL]; panels * blocks];
        for r in 0..rows {
            let (p, j) = (r / PANEL, r % PANEL);
            for b in 0..blocks {
                let src = &bytes[(r * blocks + b) * GGUF_BLOCK_BYTES..][..GGUF_BLOCK_BYTES];
                scales[p * blocks + b][j] = f16::from_le_bytes([src[0], src[1]]);
                let dst = &mut values[p * blocks + b].0;
                for (k, &v) in src[2..].iter().enumerate() {
                    let (g, e) = (k / 4, k % 4);
                    dst[g * PANEL * 4 + j * 4 + e] = v as i8;
                }
            }
        }
        Some(Self {
            rows,
            cols,
            values,
            scales,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn blocks_per_row(&self) -> usize {
        self.cols / BLOCK
    }

    pub fn panels(&self) -> usize {
        self.rows.div_ceil(PANEL)
    }

    /// Bytes the packed weights occupy (the GGUF tensor's own size).
    pub fn bytes(&self) -> usize {
        self.values.len() * std::mem::size_of::<Q8Block>() + self.scales.len() * 2 * PANEL
    }

    /// Value and scale of row `r`, inner position `k`.
    #[cfg(test)]
    fn at(&self, r: usize, k: usize) -> (i8, f32) {
        let (p, j, b, kk) = (r / PANEL, r % PANEL, k / BLOCK, k % BLOCK);
        let i = p * self.blocks_per_row() + b;
        let (g, e) = (kk / 4, kk % 4);
        (
            self.values[i].0[g * PANEL * 4 + j * 4 + e],
            self.scales[i][j].to_f32(),
        )
    }
}

/// Activations quantised to q8_0: per row and 32-value block an f32 scale and 32 int8 values in
/// [-127, 127].
pub struct QuantizedRows {
    pub values: Vec<i8>,
    pub scales: Vec<f32>,
    pub rows: usize,
    pub cols: usize,
}

/// Rounds each block of `x` (`[rows, cols]`, `cols` a multiple of 32) to q8_0 as GGUF does:
/// scale = max |x| / 127, value = round(x / scale).
pub fn quantize_rows(x: &[f32], rows: usize, cols: usize) -> QuantizedRows {
    let mut values = vec![0i8; rows * cols];
    let mut scales = vec![0f32; rows * cols / BLOCK];
    for ((xb, vb), s) in x
        .chunks_exact(BLOCK)
        .zip(values.chunks_exact_mut(BLOCK))
        .zip(scales.iter_mut())
    {
        let amax = xb.iter().fold(0f32, |m, &v| m.max(v.abs()));
        let d = amax / 127.0;
        let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
        for (q, &v) in vb.iter_mut().zip(xb) {
            *q = (v * inv).round().clamp(-127.0, 127.0) as i8;
        }
        // The product uses the scale as the file stores it, rounded to f16, as GGUF's q8_0 does.
        *s = f16::from_f32(d).to_f32();
    }
    QuantizedRows {
        values,
        scales,
        rows,
        cols,
    }
}

/// Whether this processor runs the VNNI kernel.
pub fn vnni_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::env::var("ECGR1_CPU_KERNEL").as_deref() != Ok("candle")
            && std::env::var("ECGR1_CPU_KERNEL").as_deref() != Ok("scalar")
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Panels per column group and blocks per inner step: 4 × 64 × 544 B = 136 KiB of weights stay
/// in L2 while every tile of rows reuses them.
const GROUP_PANELS: usize = 4;
const GROUP_COLS: usize = GROUP_PANELS * PANEL;
const K_BLOCKS: usize = 64;

/// One tile's operands for the kernels: `rows` activation rows from block `b0` on, `panels`
/// panels of the group from block `b0` on, `blocks` blocks.
pub(crate) struct Q8Tile<'a> {
    pub x: &'a [i8],
    pub x_scales: &'a [f32],
    /// Row strides of `x` (values) and `x_scales` (blocks).
    pub ldx: usize,
    pub lds: usize,
    pub w: &'a [Q8Block],
    pub w_scales: &'a [[f16; PANEL]],
    /// Blocks between consecutive panels in `w` and `w_scales`.
    pub panel_stride: usize,
    pub blocks: usize,
    pub rows: usize,
    pub panels: usize,
}

impl Q8Tile<'_> {
    fn in_bounds(&self) -> bool {
        self.rows >= 1
            && self.panels >= 1
            && self.panels <= GROUP_PANELS
            && (self.rows - 1) * self.ldx + self.blocks * BLOCK <= self.x.len()
            && (self.rows - 1) * self.lds + self.blocks <= self.x_scales.len()
            && (self.panels - 1) * self.panel_stride + self.blocks <= self.w.len()
            && (self.panels - 1) * self.panel_stride + self.blocks <= self.w_scales.len()
    }
}

/// `out[M, N] = x[M, K] · Wᵀ + bias` with `x` quantised to q8_0 first; `vnni` picks the
/// AVX512-VNNI kernel (the caller checked [`vnni_available`]), else the scalar reference.
pub fn matmul(
    x: &[f32],
    m: usize,
    w: &PackedQ8,
    bias: Option<&[f32]>,
    out: &mut [f32],
    vnni: bool,
) -> Result<(), super::gemm::ShapeError> {
    let (n, k) = (w.rows(), w.cols());
    if x.len() != m * k || out.len() != m * n || bias.is_some_and(|b| b.len() != n) {
        return Err(super::gemm::ShapeError::new(format!(
            "q8_0 matmul: x has {} values for {m} × {k}, out {} for {m} × {n}",
            x.len(),
            out.len()
        )));
    }
    let q = quantize_rows(x, m, k);
    let nb = w.blocks_per_row();
    let groups = w.panels().div_ceil(GROUP_PANELS);
    let results: Vec<Vec<f32>> = (0..groups)
        .into_par_iter()
        .map(|g| {
            let p0 = g * GROUP_PANELS;
            let np = GROUP_PANELS.min(w.panels() - p0);
            let mut acc = vec![0f32; m * GROUP_COLS];
            let mr_max = if vnni { 3 } else { 4 };
            let mut b0 = 0;
            while b0 < nb {
                let kb = K_BLOCKS.min(nb - b0);
                let mut r0 = 0;
                while r0 < m {
                    let mr = mr_max.min(m - r0);
                    let t = Q8Tile {
                        x: &q.values[r0 * k + b0 * BLOCK..],
                        x_scales: &q.scales[r0 * nb + b0..],
                        ldx: k,
                        lds: nb,
                        w: &w.values[p0 * nb + b0..],
                        w_scales: &w.scales[p0 * nb + b0..],
                        panel_stride: nb,
                        blocks: kb,
                        rows: mr,
                        panels: np,
                    };
                    run_tile(&t, &mut acc[r0 * GROUP_COLS..(r0 + mr) * GROUP_COLS], vnni);
                    r0 += mr;
                }
                b0 += kb;
            }
            acc
        })
        .collect();
    for (g, acc) in results.iter().enumerate() {
        let c0 = g * GROUP_COLS;
        let width = GROUP_COLS.min(n - c0);
        for r in 0..m {
            let src = &acc[r * GROUP_COLS..r * GROUP_COLS + width];
            let dst = &mut out[r * n + c0..r * n + c0 + width];
            match bias {
                Some(b) => {
                    for ((d, &s), &bb) in dst.iter_mut().zip(src).zip(&b[c0..c0 + width]) {
                        *d = s + bb;
                    }
                }
                None => dst.copy_from_slice(src),
            }
        }
    }
    Ok(())
}

fn run_tile(t: &Q8Tile<'_>, acc: &mut [f32], vnni: bool) {
    assert!(
        t.in_bounds() && acc.len() >= t.rows * GROUP_COLS,
        "q8_0 tile outside its operands"
    );
    #[cfg(target_arch = "x86_64")]
    if vnni {
        // SAFETY: `vnni` is only true when the caller checked `vnni_available` (AVX-512F, BW and
        // VNNI reported by the processor), and the assert above proves every access is inside
        // the tile's slices and `acc`.
        unsafe { super::avx512vnni::tile(t, acc.as_mut_ptr(), GROUP_COLS) };
        return;
    }
    scalar_tile(t, acc);
}

/// The reference: each block's integer dot product, scaled by both scales, added in f32.
fn scalar_tile(t: &Q8Tile<'_>, acc: &mut [f32]) {
    for i in 0..t.rows {
        for p in 0..t.panels {
            for b in 0..t.blocks {
                let wb = &t.w[p * t.panel_stride + b].0;
                let ws = &t.w_scales[p * t.panel_stride + b];
                let xb = &t.x[i * t.ldx + b * BLOCK..][..BLOCK];
                let xs = t.x_scales[i * t.lds + b];
                for j in 0..PANEL {
                    let dot: i32 = (0..BLOCK)
                        .map(|kk| {
                            let (g, e) = (kk / 4, kk % 4);
                            i32::from(xb[kk]) * i32::from(wb[g * PANEL * 4 + j * 4 + e])
                        })
                        .sum();
                    acc[i * GROUP_COLS + p * PANEL + j] += dot as f32 * (ws[j].to_f32() * xs);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::XorShift;

    /// GGUF q8_0 bytes of a random `[rows, cols]` matrix, and the values they stand for.
    fn random_gguf(rng: &mut XorShift, rows: usize, cols: usize) -> (Vec<u8>, Vec<f32>) {
        let mut bytes = Vec::new();
        let mut dense = Vec::new();
        for _ in 0..rows * cols / BLOCK {
            let d = f16::from_f32(0.001 + rng.below(1000) as f32 * 1e-5);
            bytes.extend_from_slice(&d.to_le_bytes());
            for _ in 0..BLOCK {
                let q = rng.below(255) as i32 - 127;
                bytes.push(q as i8 as u8);
                dense.push(q as f32 * d.to_f32());
            }
        }
        (bytes, dense)
    }

    #[test]
    fn repacking_keeps_every_value_and_scale() {
        let mut rng = XorShift::new(5);
        let (rows, cols) = (19, 64);
        let (bytes, dense) = random_gguf(&mut rng, rows, cols);
        let w = PackedQ8::from_gguf(&bytes, rows, cols).unwrap();
        assert_eq!(w.bytes(), 2 * 16 * (2 + 32) * 2);
        for r in 0..rows {
            for k in 0..cols {
                let (v, s) = w.at(r, k);
                assert_eq!(f32::from(v) * s, dense[r * cols + k], "({r}, {k})");
            }
        }
        assert!(PackedQ8::from_gguf(&bytes[1..], rows, cols).is_none());
        assert!(PackedQ8::from_gguf(&bytes, rows, 63).is_none());
    }

    #[test]
    fn both_kernels_match_a_dense_product_of_the_quantised_operands() {
        let mut rng = XorShift::new(9);
        for &(m, n, k) in &[(1, 16, 32), (5, 70, 96), (4, 130, 2080), (7, 64, 32)] {
            let (bytes, dense) = random_gguf(&mut rng, n, k);
            let w = PackedQ8::from_gguf(&bytes, n, k).unwrap();
            let x: Vec<f32> = (0..m * k)
                .map(|_| rng.below(2001) as f32 / 1000.0 - 1.0)
                .collect();
            let bias: Vec<f32> = (0..n).map(|i| i as f32 * 0.1).collect();
            // The reference: the activations as quantised, times the weights as stored, in f64.
            let q = quantize_rows(&x, m, k);
            let want: Vec<f64> = (0..m * n)
                .map(|idx| {
                    let (i, j) = (idx / n, idx % n);
                    (0..k)
                        .map(|l| {
                            f64::from(q.values[i * k + l])
                                * f64::from(q.scales[i * (k / 32) + l / 32])
                                * f64::from(dense[j * k + l])
                        })
                        .sum::<f64>()
                        + f64::from(bias[j])
                })
                .collect();
            let mut kernels = vec![false];
            if vnni_available() {
                kernels.push(true);
            }
            for vnni in kernels {
                let mut out = vec![0f32; m * n];
                matmul(&x, m, &w, Some(&bias), &mut out, vnni).unwrap();
                for (idx, (&o, &r)) in out.iter().zip(&want).enumerate() {
                    assert!(
                        (f64::from(o) - r).abs() <= 1e-4 * (1.0 + r.abs()),
                        "vnni={vnni} m={m} n={n} k={k} at {idx}: {o} vs {r}"
                    );
                }
            }
            // And close to the float product (q8_0 keeps about 2 significant digits per value).
            let mut out = vec![0f32; m * n];
            matmul(&x, m, &w, Some(&bias), &mut out, false).unwrap();
            let exact: f64 = (0..k)
                .map(|l| f64::from(x[l]) * f64::from(dense[l]))
                .sum::<f64>()
                + f64::from(bias[0]);
            assert!((f64::from(out[0]) - exact).abs() <= 0.02 * (1.0 + exact.abs()));
        }
    }

    #[test]
    fn quantised_rows_are_within_half_a_step() {
        let x: Vec<f32> = (0..64).map(|i| (i as f32 - 20.0) * 0.37).collect();
        let q = quantize_rows(&x, 2, 32);
        for (i, &v) in x.iter().enumerate() {
            let s = q.scales[i / 32];
            assert!((f32::from(q.values[i]) * s - v).abs() <= 0.51 * s + 1e-6);
        }
    }
}
