//! The packed bf16 weight layout shared by every kernel.
//!
//! A weight `W` of `[N, K]` (output rows × inner dimension, as checkpoints store linear layers) is
//! cut into panels of [`PANEL`] output rows. Inside a panel, for each pair of inner positions
//! `(2q, 2q + 1)`, the 16 rows' two values sit side by side: one 64-byte [`PairBlock`] of
//! `[row 0: k, k+1][row 1: k, k+1] … [row 15: k, k+1]`. That is exactly the register the
//! AVX512-BF16 instruction `vdpbf16ps` multiplies against a broadcast pair of activations, so the
//! kernels load each block once per use, aligned, and a panel is one sequential stream of memory
//! (what decode, which reads every weight once per token, needs to run at the memory's speed).
//! Rows past `N` are zero.

use half::bf16;

/// Output rows per panel: one 512-bit register of f32 results.
pub const PANEL: usize = 16;

/// The 16 rows' values at two consecutive inner positions, as bf16 bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct PairBlock(pub [u16; 2 * PANEL]);

/// A `[N, K]` bf16 matrix in panel layout. `K` is even (every matrix of the supported models is);
/// [`PackedBf16::pack`] refuses an odd one and the caller keeps candle's layer.
#[derive(Clone)]
pub struct PackedBf16 {
    rows: usize,
    cols: usize,
    blocks: Vec<PairBlock>,
}

impl std::fmt::Debug for PackedBf16 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedBf16")
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .finish_non_exhaustive()
    }
}

impl PackedBf16 {
    /// Packs the row-major `[rows, cols]` matrix `w`. `None` when `cols` is odd or the sizes do not
    /// match `w`.
    pub fn pack(w: &[bf16], rows: usize, cols: usize) -> Option<Self> {
        if !cols.is_multiple_of(2) || cols == 0 || rows == 0 || w.len() != rows.checked_mul(cols)? {
            return None;
        }
        let pairs = cols / 2;
        let panels = rows.div_ceil(PANEL);
        let mut blocks = vec![PairBlock::default(); panels * pairs];
        for (p, panel) in blocks.chunks_exact_mut(pairs).enumerate() {
            for j in 0..PANEL {
                let r = p * PANEL + j;
                if r >= rows {
                    break;
                }
                let row = &w[r * cols..(r + 1) * cols];
                for (q, block) in panel.iter_mut().enumerate() {
                    block.0[2 * j] = row[2 * q].to_bits();
                    block.0[2 * j + 1] = row[2 * q + 1].to_bits();
                }
            }
        }
        Some(Self { rows, cols, blocks })
    }

    /// Output rows `N`.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Inner dimension `K`.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Pairs of inner positions: `K / 2`, the length of one panel in blocks.
    pub fn pairs(&self) -> usize {
        self.cols / 2
    }

    pub fn panels(&self) -> usize {
        self.rows.div_ceil(PANEL)
    }

    /// The blocks of panel `p` onwards (each panel is [`Self::pairs`] blocks).
    pub(crate) fn blocks_from_panel(&self, p: usize) -> &[PairBlock] {
        &self.blocks[p * self.pairs()..]
    }

    /// Bytes the packed weights occupy.
    pub fn bytes(&self) -> usize {
        self.blocks.len() * std::mem::size_of::<PairBlock>()
    }

    /// Row `r` of the original matrix (a token's embedding, when the LM head shares the table).
    pub fn row(&self, r: usize) -> Vec<bf16> {
        let (p, j) = (r / PANEL, r % PANEL);
        let panel = &self.blocks[p * self.pairs()..(p + 1) * self.pairs()];
        let mut out = Vec::with_capacity(self.cols);
        for b in panel {
            out.push(bf16::from_bits(b.0[2 * j]));
            out.push(bf16::from_bits(b.0[2 * j + 1]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_keeps_every_value_and_pads_with_zero() {
        let (rows, cols) = (19, 6);
        let w: Vec<bf16> = (0..rows * cols).map(|i| bf16::from_f32(i as f32)).collect();
        let p = PackedBf16::pack(&w, rows, cols).unwrap();
        assert_eq!((p.rows(), p.cols(), p.panels(), p.pairs()), (19, 6, 2, 3));
        for r in 0..rows {
            assert_eq!(p.row(r), &w[r * cols..(r + 1) * cols], "row {r}");
        }
        // Row 16 + 5 = 21 does not exist: its slots are zero.
        let pad = &p.blocks_from_panel(1)[0].0[2 * 5..2 * 5 + 2];
        assert_eq!(pad, &[0, 0]);
        assert!(PackedBf16::pack(&w[..rows * 5], rows, 5).is_none());
    }
}
