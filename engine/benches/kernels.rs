//! Benchmark of the bf16 CPU kernels on their own, without a checkpoint: the memory roofline a
//! decode step is bound by, measured two ways in the same run (one read stream per thread, and
//! several), then the packed kernel's decode product (`M = 1`) over 1 GiB of weights as a fraction
//! of it, and a prefill-sized product (`M = 256`) in GFLOP/s; candle's matmul on the same shapes
//! (what every layer ran before the packed kernels) is the baseline beside each figure.
//!
//! `cargo bench -p ecgr1-engine --bench kernels` (`ECGR1_CPU_KERNEL=avx512|avx2|scalar` to force a
//! kernel; on an AMX machine the prefill product is also timed on the AVX512-BF16 kernel)

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use ecgr1_engine::model::kernels::gemm::matmul;
use ecgr1_engine::model::kernels::packed::PackedBf16;
use ecgr1_engine::model::kernels::{Isa, roofline};
use half::bf16;

/// One of the 8B decoder's square projections (q and o): 4096 × 4096.
const SIDE: usize = 4096;
/// Matrices in the decode pass: 32 × 32 MiB = 1 GiB, far above any cache.
const DECODE_MATRICES: usize = 32;
/// Prompt tokens of the prefill product.
const PREFILL_TOKENS: usize = 256;
/// Matrices in the prefill pass.
const PREFILL_MATRICES: usize = 4;

/// Random-looking bf16 values of a small magnitude, the same on every run.
fn values(n: usize, seed: u64) -> Vec<bf16> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bf16::from_f32(((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1)
        })
        .collect()
}

/// Best of `repeats` timings of `f`, in seconds.
fn best_s(repeats: usize, mut f: impl FnMut()) -> f64 {
    (0..repeats)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let isa = Isa::detect();
    let bandwidth = roofline::measure_bandwidth(1024, 3);
    println!(
        "memory read: {:.1} GB/s with one stream per thread, {:.1} GB/s with {} streams per \
         thread ({} threads); copy {:.1} GB/s",
        bandwidth.read_one_stream_gb_s,
        bandwidth.read_many_streams_gb_s,
        roofline::READ_STREAMS,
        bandwidth.threads,
        bandwidth.copy_gb_s
    );

    // Decode: one token through 1 GiB of packed weights.
    let raw: Vec<Vec<bf16>> = (0..DECODE_MATRICES)
        .map(|i| values(SIDE * SIDE, i as u64 + 1))
        .collect();
    let packed: Vec<PackedBf16> = raw
        .iter()
        .map(|w| PackedBf16::pack(w, SIDE, SIDE).ok_or("pack failed"))
        .collect::<Result<_, _>>()?;
    let weight_bytes: usize = packed.iter().map(PackedBf16::bytes).sum();
    let x = values(SIDE, 99);
    let mut out = vec![bf16::ZERO; SIDE];
    let mut failed = None;
    let ours_s = best_s(5, || {
        for w in &packed {
            if let Err(e) = matmul(isa, &x, 1, w, None, &mut out) {
                failed = Some(e);
            }
        }
    });
    if let Some(e) = failed {
        return Err(e.into());
    }
    let ours_gb_s = weight_bytes as f64 / ours_s / 1e9;

    // The baseline: candle's bf16 matmul on the same weights, over a quarter of them (it is
    // slow enough that the whole pass would dominate the benchmark's time).
    let device = Device::Cpu;
    let quarter = DECODE_MATRICES / 4;
    let candle_w: Vec<Tensor> = raw[..quarter]
        .iter()
        .map(|w| Tensor::from_slice(w, (SIDE, SIDE), &device))
        .collect::<Result<_, _>>()?;
    let candle_x = Tensor::from_slice(&x, (1, SIDE), &device)?;
    let mut candle_err = None;
    let candle_s = best_s(2, || {
        for w in &candle_w {
            if let Err(e) = w.t().and_then(|wt| candle_x.matmul(&wt)) {
                candle_err = Some(e);
            }
        }
    });
    if let Some(e) = candle_err {
        return Err(e.into());
    }
    let candle_gb_s = (quarter * SIDE * SIDE * 2) as f64 / candle_s / 1e9;
    println!(
        "decode (1 × {SIDE} by {DECODE_MATRICES} matrices {SIDE} × {SIDE}, {:.2} GiB bf16), {} kernel: \
         {ours_gb_s:.1} GB/s = {:.2} of the best read ({:.2} of one stream, {:.2} of {} streams); \
         candle bf16 {candle_gb_s:.2} GB/s; ratio {:.1}×",
        weight_bytes as f64 / f64::from(1u32 << 30),
        isa.name(),
        ours_gb_s / bandwidth.read_gb_s,
        ours_gb_s / bandwidth.read_one_stream_gb_s,
        ours_gb_s / bandwidth.read_many_streams_gb_s,
        roofline::READ_STREAMS,
        ours_gb_s / candle_gb_s,
    );
    drop(candle_w);

    // Prefill: 256 tokens through four of the matrices.
    let xs = values(PREFILL_TOKENS * SIDE, 7);
    let mut outs = vec![bf16::ZERO; PREFILL_TOKENS * SIDE];
    let flops = (2 * PREFILL_TOKENS * SIDE * SIDE * PREFILL_MATRICES) as f64;
    let mut failed = None;
    let ours_s = best_s(3, || {
        for w in &packed[..PREFILL_MATRICES] {
            if let Err(e) = matmul(isa, &xs, PREFILL_TOKENS, w, None, &mut outs) {
                failed = Some(e);
            }
        }
    });
    if let Some(e) = failed {
        return Err(e.into());
    }
    let baseline = |dtype: DType| -> Result<f64, candle_core::Error> {
        let ws: Vec<Tensor> = raw[..PREFILL_MATRICES]
            .iter()
            .map(|w| Tensor::from_slice(w, (SIDE, SIDE), &device)?.to_dtype(dtype))
            .collect::<Result<_, _>>()?;
        let xs = Tensor::from_slice(&xs, (PREFILL_TOKENS, SIDE), &device)?.to_dtype(dtype)?;
        let mut err = None;
        let s = best_s(2, || {
            for w in &ws {
                if let Err(e) = w.t().and_then(|wt| xs.matmul(&wt)) {
                    err = Some(e);
                }
            }
        });
        err.map_or(Ok(flops / s / 1e9), Err)
    };
    let ours_gflop_s = flops / ours_s / 1e9;
    match roofline::measure_bf16_peak(isa, 200) {
        Some(peak) => println!(
            "bf16 peak of the {} instruction on registers alone ({} threads): {peak:.0} GFLOP/s; \
             the prefill product reaches {:.2} of it",
            isa.name(),
            bandwidth.threads,
            ours_gflop_s / peak
        ),
        None => println!("bf16 peak: not measured for the {} kernel", isa.name()),
    }
    // On an AMX machine the AVX512-BF16 kernel (what the product ran on before the tiles) is
    // timed on the same operands, in the same run, as the second baseline.
    if isa == Isa::AmxBf16 {
        let mut failed = None;
        let avx512_s = best_s(3, || {
            for w in &packed[..PREFILL_MATRICES] {
                if let Err(e) = matmul(Isa::Avx512Bf16, &xs, PREFILL_TOKENS, w, None, &mut outs) {
                    failed = Some(e);
                }
            }
        });
        if let Some(e) = failed {
            return Err(e.into());
        }
        let avx512_gflop_s = flops / avx512_s / 1e9;
        println!(
            "prefill, avx512-bf16 kernel on the same operands: {avx512_gflop_s:.0} GFLOP/s; \
             amx-bf16 / avx512-bf16 = {:.2}×",
            ours_gflop_s / avx512_gflop_s
        );
    }
    let candle_bf16 = baseline(DType::BF16)?;
    let candle_f32 = baseline(DType::F32)?;
    println!(
        "prefill ({PREFILL_TOKENS} × {SIDE} by {PREFILL_MATRICES} matrices), {} kernel: \
         {ours_gflop_s:.0} GFLOP/s; candle bf16 {candle_bf16:.0} GFLOP/s (ratio {:.1}×), \
         candle f32 {candle_f32:.0} GFLOP/s (ratio {:.2}×)",
        isa.name(),
        ours_gflop_s / candle_bf16,
        ours_gflop_s / candle_f32,
    );
    Ok(())
}
