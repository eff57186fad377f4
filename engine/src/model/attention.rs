//! Scaled dot-product attention over query blocks, so the score matrix of a long prompt or a
//! large image never has to exist whole (a 19 000-patch ECG page would otherwise need tens of GB).

use candle_core::{DType, Tensor};

/// Budget for one block of attention scores, in elements (f32: 64 MiB).
const SCORE_BLOCK_ELEMENTS: usize = 16 * 1024 * 1024;

/// softmax(q·kᵀ·scale + mask)·v with the softmax in f32. `q`: `[1, heads, L, d]`, `k`, `v`:
/// `[1, heads, T, d]`, `mask`: `[L, T]` added to the scores.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    scale: f64,
) -> candle_core::Result<Tensor> {
    attention_in_blocks(q, k, v, mask, scale, SCORE_BLOCK_ELEMENTS)
}

fn attention_in_blocks(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    scale: f64,
    block_elements: usize,
) -> candle_core::Result<Tensor> {
    let (_, heads, l, _) = q.dims4()?;
    let t = k.dim(2)?;
    let kt = k.t()?;
    let block = (block_elements / (heads * t).max(1)).clamp(1, l.max(1));
    let dtype = q.dtype();
    let mut outs = Vec::with_capacity(l.div_ceil(block));
    let mut start = 0;
    while start < l {
        let n = block.min(l - start);
        let qb = q.narrow(2, start, n)?;
        let mut s = (qb.matmul(&kt)? * scale)?;
        if let Some(m) = mask {
            s = s.broadcast_add(&m.narrow(0, start, n)?)?;
        }
        let p = candle_nn::ops::softmax_last_dim(&s.to_dtype(DType::F32)?)?.to_dtype(dtype)?;
        outs.push(p.matmul(v)?);
        start += n;
    }
    if outs.len() == 1 {
        return Ok(outs.remove(0));
    }
    Tensor::cat(&outs, 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn blocked_attention_equals_whole_attention() {
        let dev = Device::Cpu;
        let q = Tensor::randn(0f32, 1.0, (1, 2, 7, 4), &dev).unwrap();
        let k = Tensor::randn(0f32, 1.0, (1, 2, 9, 4), &dev).unwrap();
        let v = Tensor::randn(0f32, 1.0, (1, 2, 9, 4), &dev).unwrap();
        let mask: Vec<f32> = (0..7 * 9)
            .map(|i| {
                if i % 9 > i / 9 + 2 {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let mask = Tensor::from_vec(mask, (7, 9), &dev).unwrap();
        let whole = attention_in_blocks(&q, &k, &v, Some(&mask), 0.5, usize::MAX).unwrap();
        // 2 heads × 9 keys × 2 queries per block: four blocks.
        let blocked = attention_in_blocks(&q, &k, &v, Some(&mask), 0.5, 36).unwrap();
        let diff = (whole - blocked).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-6);
    }
}
