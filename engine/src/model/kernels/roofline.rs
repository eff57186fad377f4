//! The machine's own limits, measured in the same run as a benchmark so that its figures can be
//! printed as fractions of them: memory bandwidth (a STREAM-style read and copy over buffers far
//! larger than the caches, on every kernel thread) bounds decode, which reads every weight once
//! per token; the bf16 kernel's own instruction issued back to back on registers alone (no
//! memory operands), on every thread, bounds prefill, which is compute-bound. On a GPU
//! ([`measure_device`]) the same two figures come from a device copy and a large bf16 product.

use std::time::Instant;

use rayon::prelude::*;

/// Measured memory bandwidth in GB/s (10⁹ bytes per second).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct MemoryBandwidth {
    /// Reading a buffer once (what a decode step does with the weights): the best of the read
    /// probes, one stream per thread and [`READ_STREAMS`] interleaved streams per thread.
    pub read_gb_s: f64,
    /// Reading with one sequential stream per thread. On some machines one stream per core
    /// cannot keep enough cache misses in flight to reach the memory's limit, while a decode
    /// step, whose threads each read several weight panels at once, can.
    pub read_one_stream_gb_s: f64,
    /// Reading with [`READ_STREAMS`] interleaved streams per thread.
    pub read_many_streams_gb_s: f64,
    /// Copying one buffer into another, counting the bytes read and the bytes written.
    pub copy_gb_s: f64,
    pub threads: usize,
    pub buffer_mib: usize,
}

/// Streams each thread reads at once in the many-stream probe: as many as the weight panels a
/// decode thread walks side by side (four per column group). Measured on a 2-core AMD EPYC with
/// AVX2: 4 streams 20.6–21.2 GB/s, 2 streams 19.3, 8 streams 19.6, one stream 16.4–17.2.
pub const READ_STREAMS: usize = 4;

/// Words in a 64-byte cache line.
const LINE_WORDS: usize = 8;

/// Sums `words` front to back, one sequential stream.
fn read_one_stream(words: &[u64]) -> u64 {
    words.iter().fold(0u64, |a, &x| a.wrapping_add(x))
}

/// Sums `words` as [`READ_STREAMS`] equal parts read side by side, a cache line of each in
/// turn, so that the core keeps that many independent miss streams in flight; with 256-bit loads
/// where the processor has AVX2, since narrower loads cap one core's read rate below the
/// memory's on some machines (the decode kernels load 256 or 512 bits at a time).
fn read_many_streams(words: &[u64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present (checked just above), which is all `read_streams_avx2` needs.
        return unsafe { read_streams_avx2(words) };
    }
    read_streams_portable(words)
}

/// The [`READ_STREAMS`] parts of `words` (each a whole number of `block` words) and the rest.
fn stream_parts(words: &[u64], block: usize) -> (usize, &[u64]) {
    let part = words.len() / READ_STREAMS / block * block;
    (part, &words[part * READ_STREAMS..])
}

fn read_streams_portable(words: &[u64]) -> u64 {
    let (part, rest) = stream_parts(words, LINE_WORDS);
    let mut sums = [0u64; LINE_WORDS];
    if part > 0 {
        let mut parts = words[..part * READ_STREAMS].chunks_exact(part);
        let (Some(a), Some(b), Some(c), Some(d)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return read_one_stream(words);
        };
        let lines = a
            .chunks_exact(LINE_WORDS)
            .zip(b.chunks_exact(LINE_WORDS))
            .zip(c.chunks_exact(LINE_WORDS))
            .zip(d.chunks_exact(LINE_WORDS));
        for (((a, b), c), d) in lines {
            for (k, sum) in sums.iter_mut().enumerate() {
                *sum = sum
                    .wrapping_add(a[k])
                    .wrapping_add(b[k])
                    .wrapping_add(c[k])
                    .wrapping_add(d[k]);
            }
        }
    }
    sums.iter()
        .fold(read_one_stream(rest), |a, &x| a.wrapping_add(x))
}

/// [`read_streams_portable`] with 256-bit loads: per step, two cache lines (16 words) of each
/// of the four parts, into four vector accumulators.
///
/// # Safety
/// The processor must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[expect(
    clippy::cast_ptr_alignment,
    reason = "the loads and the store are the unaligned forms (loadu, storeu)"
)]
unsafe fn read_streams_avx2(words: &[u64]) -> u64 {
    use std::arch::x86_64::{
        __m256i, _mm256_add_epi64, _mm256_loadu_si256, _mm256_setzero_si256, _mm256_storeu_si256,
    };
    const STEP: usize = 16;
    let (part, rest) = stream_parts(words, STEP);
    let mut acc = [_mm256_setzero_si256(); 4];
    let base = words.as_ptr();
    for i in (0..part).step_by(STEP) {
        for s in 0..READ_STREAMS {
            for (q, a) in acc.iter_mut().enumerate() {
                // SAFETY: `s * part + i + 4 * q + 3 < READ_STREAMS * part <= words.len()`
                // (i + 16 <= part, q < 4), so the four words loaded lie inside `words`; the load
                // is unaligned (`loadu`), so any u64 address is valid.
                let v =
                    unsafe { _mm256_loadu_si256(base.add(s * part + i + 4 * q).cast::<__m256i>()) };
                *a = _mm256_add_epi64(*a, v);
            }
        }
    }
    let total = _mm256_add_epi64(
        _mm256_add_epi64(acc[0], acc[1]),
        _mm256_add_epi64(acc[2], acc[3]),
    );
    let mut lanes = [0u64; 4];
    // SAFETY: `lanes` is 32 writable bytes; the store is unaligned (`storeu`).
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast::<__m256i>(), total) };
    lanes
        .iter()
        .fold(read_one_stream(rest), |a, &x| a.wrapping_add(x))
}

/// Seconds of the fastest of `repeats` parallel reads of `src` by `read`, each thread its own
/// contiguous share of `chunk` words.
fn best_read_s(src: &[u64], chunk: usize, repeats: usize, read: fn(&[u64]) -> u64) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        let sum: u64 = src
            .par_chunks(chunk)
            .map(read)
            .reduce(|| 0, u64::wrapping_add);
        std::hint::black_box(sum);
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

/// Best of `repeats` passes over `buffer_mib` MiB (each thread its own contiguous share).
pub fn measure_bandwidth(buffer_mib: usize, repeats: usize) -> MemoryBandwidth {
    let words = buffer_mib * (1 << 20) / 8;
    let threads = super::threads().max(1);
    let chunk = words.div_ceil(threads).max(1);
    // Written first, so every page is mapped before anything is timed.
    let src: Vec<u64> = (0..words as u64).collect();
    let mut dst = vec![0u64; words];
    let one_stream_s = best_read_s(&src, chunk, repeats, read_one_stream);
    let many_streams_s = best_read_s(&src, chunk, repeats, read_many_streams);
    let mut best_copy = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        dst.par_chunks_mut(chunk)
            .zip(src.par_chunks(chunk))
            .for_each(|(d, s)| d.copy_from_slice(s));
        std::hint::black_box(&dst);
        best_copy = best_copy.min(t.elapsed().as_secs_f64());
    }
    let bytes = (words * 8) as f64;
    MemoryBandwidth {
        read_gb_s: bytes / one_stream_s.min(many_streams_s) / 1e9,
        read_one_stream_gb_s: bytes / one_stream_s / 1e9,
        read_many_streams_gb_s: bytes / many_streams_s / 1e9,
        copy_gb_s: 2.0 * bytes / best_copy / 1e9,
        threads,
        buffer_mib,
    }
}

/// The bf16 multiply-add throughput of the kernel `isa` on this machine, in GFLOP/s over every
/// kernel thread: its dot-product instruction (`tdpbf16ps` for AMX, `vdpbf16ps` for
/// AVX512-BF16) issued for about `millis` ms per thread with no memory operands. `None` for the
/// kernels whose work is not one such instruction (AVX2 widens to f32 FMAs, scalar code).
pub fn measure_bf16_peak(isa: super::Isa, millis: u64) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        let (flop_per_dot, run): (usize, fn(usize) -> usize) = match isa {
            // SAFETY: `Isa::AmxBf16` is only chosen when `amx::available()`.
            super::Isa::AmxBf16 => (super::amx::FLOP_PER_DOT, |n| unsafe {
                super::amx::peak_loop(n)
            }),
            // SAFETY: `Isa::Avx512Bf16` is only chosen when the processor reports AVX-512F, BW
            // and BF16.
            super::Isa::Avx512Bf16 => (super::avx512bf16::FLOP_PER_DOT, |n| unsafe {
                super::avx512bf16::peak_loop(n)
            }),
            _ => return None,
        };
        let threads = super::threads().max(1);
        // Calibrate the step count on one thread, then time every thread at once, best of 3.
        let mut steps = 1024;
        loop {
            let t = Instant::now();
            run(steps);
            let ms = t.elapsed().as_secs_f64() * 1e3;
            if ms >= 5.0 || steps >= 1 << 30 {
                steps = ((steps as f64) * (millis.max(1) as f64) / ms.max(1e-3)) as usize;
                break;
            }
            steps *= 4;
        }
        let steps = steps.max(1);
        let mut best = 0f64;
        for _ in 0..3 {
            let t = Instant::now();
            let dots: usize = (0..threads).into_par_iter().map(|_| run(steps)).sum();
            let s = t.elapsed().as_secs_f64();
            best = best.max((dots * flop_per_dot) as f64 / s / 1e9);
        }
        Some(best)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (isa, millis);
        None
    }
}

/// A GPU's own limits, measured through candle on the device the model runs on: the bandwidth
/// of a device-to-device copy (counting bytes read and written, as a decode step's weight reads
/// are bounded by it) and the bf16 matrix-product rate of its BLAS on a large square product
/// (the ceiling prefill is printed against).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct DeviceLimits {
    pub copy_gb_s: f64,
    pub bf16_matmul_gflop_s: f64,
}

/// Best of `repeats` copies of a `buffer_mib` MiB buffer and of `repeats` bf16 products of
/// `n`×`n` matrices on `device`, each timed to the device's synchronisation.
pub fn measure_device(
    device: &candle_core::Device,
    buffer_mib: usize,
    n: usize,
    repeats: usize,
) -> candle_core::Result<DeviceLimits> {
    use candle_core::{DType, Tensor};
    let elements = buffer_mib * (1 << 20) / 4;
    let src = Tensor::ones(elements, DType::F32, device)?;
    device.synchronize()?;
    let mut best_copy = f64::INFINITY;
    // One more than asked: the first copy also maps the destination's pages.
    for _ in 0..=repeats.max(1) {
        let t = Instant::now();
        let dst = src.copy()?;
        device.synchronize()?;
        best_copy = best_copy.min(t.elapsed().as_secs_f64());
        drop(dst);
    }
    let a = Tensor::randn(0f32, 1.0, (n, n), device)?.to_dtype(DType::BF16)?;
    let b = Tensor::randn(0f32, 1.0, (n, n), device)?.to_dtype(DType::BF16)?;
    // The first product is a warm-up (BLAS handles, kernel choice); it is not timed.
    drop(a.matmul(&b)?);
    device.synchronize()?;
    let mut best_matmul = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        let c = a.matmul(&b)?;
        device.synchronize()?;
        best_matmul = best_matmul.min(t.elapsed().as_secs_f64());
        drop(c);
    }
    let bytes = (elements * 4) as f64;
    Ok(DeviceLimits {
        copy_gb_s: 2.0 * bytes / best_copy / 1e9,
        bf16_matmul_gflop_s: 2.0 * (n as f64).powi(3) / best_matmul / 1e9,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_limits_are_positive_and_finite_on_the_cpu_too() {
        let d = measure_device(&candle_core::Device::Cpu, 4, 64, 1).unwrap();
        assert!(d.copy_gb_s.is_finite() && d.copy_gb_s > 0.0, "{d:?}");
        assert!(
            d.bf16_matmul_gflop_s.is_finite() && d.bf16_matmul_gflop_s > 0.0,
            "{d:?}"
        );
    }

    #[test]
    fn bandwidth_is_positive_and_finite() {
        let b = measure_bandwidth(8, 1);
        assert!(b.read_gb_s.is_finite() && b.read_gb_s > 0.0);
        assert!(b.copy_gb_s.is_finite() && b.copy_gb_s > 0.0);
        assert_eq!(
            b.read_gb_s,
            b.read_one_stream_gb_s.max(b.read_many_streams_gb_s)
        );
        assert_eq!(b.buffer_mib, 8);
    }

    #[test]
    fn the_bf16_peak_is_positive_where_the_kernel_has_one() {
        let isa = super::super::Isa::detect();
        match measure_bf16_peak(isa, 2) {
            Some(p) => assert!(p.is_finite() && p > 0.0, "{p}"),
            None => assert!(!matches!(
                isa,
                super::super::Isa::AmxBf16 | super::super::Isa::Avx512Bf16
            )),
        }
        assert!(measure_bf16_peak(super::super::Isa::Scalar, 2).is_none());
    }

    /// Both probes read every word exactly once, whatever the length.
    #[test]
    fn both_reads_sum_every_word_once() {
        for len in [0, 1, 7, 8, 9, 31, 32, 63, 64, 65, 127, 128, 1000, 4099] {
            let words: Vec<u64> = (1..=len as u64).collect();
            let want = len as u64 * (len as u64 + 1) / 2;
            assert_eq!(read_one_stream(&words), want, "{len}");
            assert_eq!(read_many_streams(&words), want, "{len}");
            assert_eq!(read_streams_portable(&words), want, "{len}");
        }
    }
}
