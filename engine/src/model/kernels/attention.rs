//! Scaled dot-product attention in bf16 on the CPU, one tile of queries at a time.
//!
//! For each attention head and each tile of [`QUERY_TILE`] queries the scores against every key
//! the tile may see are computed by the bf16 kernel (`S = Q Kᵀ`, keys packed once per key/value
//! head), softmaxed in f32 row by row, rounded to bf16 and multiplied by the values (`O = P V`,
//! values packed transposed once per key/value head). Memory is one tile's scores per thread
//! (64 × keys f32: 0.7 MB for a 2,600-patch image) instead of the `heads × L × T` score matrix,
//! and both products run in the packed kernels. Because a tile holds a whole row of scores, the
//! softmax is exact in one pass over the row (no running maximum has to be rescaled, as the
//! flash-attention scheme does when keys come in blocks); with keys counted in thousands a row
//! fits in the L2 cache, so the blocked-key variant would save nothing here.
//!
//! Grouped-query attention reads each key/value head for all its query heads: no repeated copy.
//! A causal mask is applied by computing only the keys a tile's last query may see and masking
//! the rest of each row.

use half::bf16;
use rayon::prelude::*;

use super::Isa;
use super::gemm::{ShapeError, matmul_serial};
use super::packed::PackedBf16;

/// Queries per tile.
pub const QUERY_TILE: usize = 64;

/// The sizes of one attention call. `q` is `[heads, queries, head_dim]`, `k` and `v` are
/// `[kv_heads, keys, head_dim]`, all row-major; query head `h` reads key/value head
/// `h / (heads / kv_heads)`.
#[derive(Clone, Copy, Debug)]
pub struct AttentionShape {
    pub heads: usize,
    pub kv_heads: usize,
    pub queries: usize,
    pub keys: usize,
    pub head_dim: usize,
    /// `Some(past)`: query `i` sees keys `0..=past + i` (a decoder's prefill or decode step
    /// after `past` cached tokens); `None`: every key.
    pub causal_past: Option<usize>,
}

/// softmax(q kᵀ · scale [+ causal mask]) v into `out` (`[heads, queries, head_dim]`).
pub fn attention(
    isa: Isa,
    q: &[bf16],
    k: &[bf16],
    v: &[bf16],
    shape: AttentionShape,
    scale: f32,
    out: &mut [bf16],
) -> Result<(), ShapeError> {
    let AttentionShape {
        heads,
        kv_heads,
        queries,
        keys,
        head_dim: d,
        causal_past,
    } = shape;
    let ok = heads > 0
        && kv_heads > 0
        && heads.is_multiple_of(kv_heads)
        && d.is_multiple_of(2)
        && keys > 0
        && q.len() == heads * queries * d
        && k.len() == kv_heads * keys * d
        && v.len() == k.len()
        && out.len() == q.len()
        && causal_past.is_none_or(|past| past + queries == keys);
    if !ok {
        return Err(ShapeError::new(format!(
            "attention operands do not fit {shape:?}"
        )));
    }
    if queries == 0 {
        return Ok(());
    }
    // Values transposed to [head_dim, keys] (keys padded to even with zeros, so the pairs the
    // kernel reads never cross into another row), packed as the weight of `P Vᵀᵀ`.
    let keys_even = keys + keys % 2;
    let packed: Vec<(PackedBf16, PackedBf16)> = (0..kv_heads)
        .into_par_iter()
        .map(|g| {
            let kg = &k[g * keys * d..(g + 1) * keys * d];
            let vg = &v[g * keys * d..(g + 1) * keys * d];
            let mut vt = vec![bf16::ZERO; d * keys_even];
            for (t, row) in vg.chunks_exact(d).enumerate() {
                for (c, &x) in row.iter().enumerate() {
                    vt[c * keys_even + t] = x;
                }
            }
            match (
                PackedBf16::pack(kg, keys, d),
                PackedBf16::pack(&vt, d, keys_even),
            ) {
                (Some(kp), Some(vp)) => Ok((kp, vp)),
                _ => Err(ShapeError::new(format!(
                    "could not pack key/value head {g}"
                ))),
            }
        })
        .collect::<Result<_, _>>()?;
    let rep = heads / kv_heads;
    let tiles = queries.div_ceil(QUERY_TILE);
    let results: Vec<Vec<bf16>> = (0..heads * tiles)
        .into_par_iter()
        .map(|task| {
            let (h, tile) = (task / tiles, task % tiles);
            let (kp, vp) = &packed[h / rep];
            let q0 = tile * QUERY_TILE;
            let rows = QUERY_TILE.min(queries - q0);
            let qt = &q[(h * queries + q0) * d..(h * queries + q0 + rows) * d];
            tile_attention(isa, qt, rows, q0, kp, vp, keys, causal_past, scale)
        })
        .collect::<Result<_, _>>()?;
    for (task, o) in results.into_iter().enumerate() {
        let (h, tile) = (task / tiles, task % tiles);
        let start = (h * queries + tile * QUERY_TILE) * d;
        out[start..start + o.len()].copy_from_slice(&o);
    }
    Ok(())
}

/// One head's tile of `rows` queries starting at query `q0`: `[rows, head_dim]` bf16.
#[allow(clippy::too_many_arguments)]
fn tile_attention(
    isa: Isa,
    qt: &[bf16],
    rows: usize,
    q0: usize,
    kp: &PackedBf16,
    vp: &PackedBf16,
    keys: usize,
    causal_past: Option<usize>,
    scale: f32,
) -> Result<Vec<bf16>, ShapeError> {
    let d = kp.cols();
    let keys_even = vp.cols();
    let mut scores = vec![0f32; rows * keys];
    matmul_serial(isa, qt, rows, kp, None, &mut scores)?;
    let mut probs = vec![bf16::ZERO; rows * keys_even];
    let mut e = vec![0f32; keys];
    for (i, (s, p)) in scores
        .chunks_exact(keys)
        .zip(probs.chunks_exact_mut(keys_even))
        .enumerate()
    {
        let visible = causal_past.map_or(keys, |past| (past + q0 + i + 1).min(keys));
        let s = &s[..visible];
        let e = &mut e[..visible];
        let max = lane_max(s) * scale;
        // The exponential in plain arithmetic (vectorised; the C library's `expf` one value at a
        // time was most of a 2,600-patch image's attention), then the sum in eight lanes.
        for (v, &x) in e.iter_mut().zip(s) {
            *v = super::activation::exp(x * scale - max);
        }
        let inv = 1.0 / lane_sum(e);
        for (dst, &v) in p.iter_mut().zip(e.iter()) {
            *dst = bf16::from_f32(v * inv);
        }
    }
    let mut out = vec![bf16::ZERO; rows * d];
    matmul_serial(isa, &probs, rows, vp, None, &mut out)?;
    Ok(out)
}

/// Lanes of the reductions below: independent partial results the compiler keeps in one vector.
const LANES: usize = 8;

/// The largest of `x` (not empty). `scale` is positive, so the largest scaled score is the
/// largest score scaled.
fn lane_max(x: &[f32]) -> f32 {
    let mut m = [f32::NEG_INFINITY; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for (m, &v) in m.iter_mut().zip(c) {
            *m = if v > *m { v } else { *m };
        }
    }
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |a, &v| a.max(v));
    m.iter().fold(tail, |a, &v| a.max(v))
}

/// The sum of `x` in eight partial sums.
fn lane_sum(x: &[f32]) -> f32 {
    let mut s = [0f32; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for (s, &v) in s.iter_mut().zip(c) {
            *s += v;
        }
    }
    s.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::XorShift;

    fn random(rng: &mut XorShift, n: usize) -> Vec<bf16> {
        (0..n)
            .map(|_| bf16::from_f32(rng.below(1 << 24) as f32 / (1 << 23) as f32 - 1.0))
            .collect()
    }

    /// Attention in f64 from the definition.
    fn reference(q: &[bf16], k: &[bf16], v: &[bf16], s: AttentionShape, scale: f64) -> Vec<f64> {
        let d = s.head_dim;
        let f = |x: bf16| f64::from(x.to_f32());
        let mut out = vec![0f64; q.len()];
        for h in 0..s.heads {
            let g = h / (s.heads / s.kv_heads);
            for i in 0..s.queries {
                let visible = s.causal_past.map_or(s.keys, |p| p + i + 1);
                let qi = &q[(h * s.queries + i) * d..][..d];
                let sc: Vec<f64> = (0..visible)
                    .map(|j| {
                        let kj = &k[(g * s.keys + j) * d..][..d];
                        qi.iter().zip(kj).map(|(&a, &b)| f(a) * f(b)).sum::<f64>() * scale
                    })
                    .collect();
                let max = sc.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = sc.iter().map(|x| (x - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                for c in 0..d {
                    out[(h * s.queries + i) * d + c] = (0..visible)
                        .map(|j| e[j] / sum * f(v[(g * s.keys + j) * d + c]))
                        .sum();
                }
            }
        }
        out
    }

    fn isas() -> Vec<Isa> {
        let best = Isa::detect();
        let mut v = vec![Isa::Scalar];
        if best != Isa::Scalar {
            v.push(Isa::Avx2);
        }
        if matches!(best, Isa::Avx512Bf16 | Isa::AmxBf16) {
            v.push(Isa::Avx512Bf16);
        }
        if best == Isa::AmxBf16 {
            v.push(best);
        } else {
            println!("AMX-BF16 attention not tested: {}", best.name());
        }
        v
    }

    #[test]
    fn tiled_attention_matches_the_definition() {
        let mut rng = XorShift::new(3);
        let cases = [
            // Grouped-query prefill over two tiles, causal.
            AttentionShape {
                heads: 4,
                kv_heads: 2,
                queries: 70,
                keys: 70,
                head_dim: 8,
                causal_past: Some(0),
            },
            // Heads wide enough for AMX tiles (16 pairs), two 32-row tiles per query tile and a
            // key count that leaves 3 pairs to the AVX-512 kernel in `P V`.
            AttentionShape {
                heads: 2,
                kv_heads: 1,
                queries: 70,
                keys: 70,
                head_dim: 32,
                causal_past: Some(0),
            },
            // A decode step after 9 cached tokens (odd key count).
            AttentionShape {
                heads: 4,
                kv_heads: 1,
                queries: 1,
                keys: 10,
                head_dim: 16,
                causal_past: Some(9),
            },
            // A vision span: every key, odd length.
            AttentionShape {
                heads: 2,
                kv_heads: 2,
                queries: 67,
                keys: 67,
                head_dim: 72,
                causal_past: None,
            },
        ];
        for s in cases {
            let q = random(&mut rng, s.heads * s.queries * s.head_dim);
            let k = random(&mut rng, s.kv_heads * s.keys * s.head_dim);
            let v = random(&mut rng, k.len());
            let scale = 1.0 / (s.head_dim as f64).sqrt();
            let want = reference(&q, &k, &v, s, scale);
            for isa in isas() {
                let mut out = vec![bf16::ZERO; q.len()];
                attention(isa, &q, &k, &v, s, scale as f32, &mut out).unwrap();
                // Probabilities and outputs are rounded to bf16 (relative 2^-9 each).
                for (idx, (&o, &w)) in out.iter().zip(&want).enumerate() {
                    assert!(
                        (f64::from(o.to_f32()) - w).abs() <= 8e-3,
                        "{} {s:?} at {idx}: {o} vs {w}",
                        isa.name()
                    );
                }
            }
        }
    }

    #[test]
    fn shapes_that_do_not_fit_are_refused() {
        let x = vec![bf16::ONE; 8];
        let mut out = vec![bf16::ZERO; 8];
        let s = AttentionShape {
            heads: 3,
            kv_heads: 2,
            queries: 1,
            keys: 1,
            head_dim: 8,
            causal_past: None,
        };
        assert!(attention(Isa::Scalar, &x, &x, &x, s, 1.0, &mut out).is_err());
    }
}
