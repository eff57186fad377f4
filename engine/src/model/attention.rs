//! Scaled dot-product attention for every part of the model. bf16 on the CPU runs the tiled
//! kernel of [`super::kernels::attention`]; everything else (f32, a GPU) computes over query
//! blocks with candle, so the score matrix of a long prompt or a large image never has to exist
//! whole (a 19 000-patch ECG page would otherwise need tens of GB).

use candle_core::{DType, Device, Tensor};

use super::kernels::CpuMatmul;
use super::kernels::attention::AttentionShape;

/// Budget for one block of attention scores, in elements (f32: 64 MiB).
const SCORE_BLOCK_ELEMENTS: usize = 16 * 1024 * 1024;

/// softmax(q·kᵀ·scale [+ causal mask])·v with the softmax in f32. `q`: `[1, heads, L, d]`, `k`,
/// `v`: `[1, kv_heads, T, d]` (grouped-query attention when `kv_heads < heads`: each key/value
/// head serves `heads / kv_heads` query heads). `causal_past: Some(p)`: query `i` sees keys
/// `0..=p + i` (then `T = p + L`); `None`: every key.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    causal_past: Option<usize>,
    scale: f64,
) -> candle_core::Result<Tensor> {
    if let (DType::BF16, Device::Cpu, CpuMatmul::Packed(isa)) =
        (q.dtype(), q.device(), CpuMatmul::detect())
    {
        return kernel_attention(isa, q, k, v, causal_past, scale);
    }
    let (_, heads, l, _) = q.dims4()?;
    let kv_heads = k.dim(1)?;
    let k = repeat_kv(k, heads / kv_heads.max(1))?;
    let v = repeat_kv(v, heads / kv_heads.max(1))?;
    let mask = match causal_past {
        Some(past) if l > 1 => Some(causal_mask(past, l, q.device(), q.dtype())?),
        _ => None,
    };
    attention_in_blocks(q, &k, &v, mask.as_ref(), scale, SCORE_BLOCK_ELEMENTS)
}

fn kernel_attention(
    isa: super::kernels::Isa,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    causal_past: Option<usize>,
    scale: f64,
) -> candle_core::Result<Tensor> {
    let (_, heads, queries, head_dim) = q.dims4()?;
    let (_, kv_heads, keys, _) = k.dims4()?;
    let shape = AttentionShape {
        heads,
        kv_heads,
        queries,
        keys,
        head_dim,
        causal_past,
    };
    let flat = |t: &Tensor| t.contiguous()?.flatten_all()?.to_vec1::<half::bf16>();
    let (qv, kv, vv) = (flat(q)?, flat(k)?, flat(v)?);
    let mut out = vec![half::bf16::ZERO; qv.len()];
    super::kernels::attention::attention(isa, &qv, &kv, &vv, shape, scale as f32, &mut out)
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    Tensor::from_vec(out, (1, heads, queries, head_dim), q.device())
}

/// Each key/value head repeated for the query heads it serves: `[b, kv, T, d]` → `[b, kv·rep,
/// T, d]`.
fn repeat_kv(t: &Tensor, rep: usize) -> candle_core::Result<Tensor> {
    if rep <= 1 {
        return t.contiguous();
    }
    let (b, kv, s, d) = t.dims4()?;
    t.unsqueeze(2)?
        .expand((b, kv, rep, s, d))?
        .reshape((b, kv * rep, s, d))?
        .contiguous()
}

/// `[L, past + L]`: 0 where query `i` may see key `j` (`j <= past + i`), −∞ elsewhere.
fn causal_mask(
    past: usize,
    l: usize,
    device: &Device,
    dtype: DType,
) -> candle_core::Result<Tensor> {
    let total = past + l;
    let m: Vec<f32> = (0..l)
        .flat_map(|i| {
            (0..total).map(move |j| {
                if j <= past + i {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
        })
        .collect();
    Tensor::from_vec(m, (l, total), device)?.to_dtype(dtype)
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
