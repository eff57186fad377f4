//! The machine's own limits, measured in the same run as a benchmark so that its figures can be
//! printed as fractions of them: memory bandwidth (a STREAM-style read and copy over buffers far
//! larger than the caches, on every kernel thread) bounds decode, which reads every weight once
//! per token.

use std::time::Instant;

use rayon::prelude::*;

/// Measured memory bandwidth in GB/s (10⁹ bytes per second).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct MemoryBandwidth {
    /// Reading a buffer once (what a decode step does with the weights).
    pub read_gb_s: f64,
    /// Copying one buffer into another, counting the bytes read and the bytes written.
    pub copy_gb_s: f64,
    pub threads: usize,
    pub buffer_mib: usize,
}

/// Best of `repeats` passes over `buffer_mib` MiB (each thread its own contiguous share).
pub fn measure_bandwidth(buffer_mib: usize, repeats: usize) -> MemoryBandwidth {
    let words = buffer_mib * (1 << 20) / 8;
    let threads = super::threads().max(1);
    let chunk = words.div_ceil(threads).max(1);
    // Written first, so every page is mapped before anything is timed.
    let src: Vec<u64> = (0..words as u64).collect();
    let mut dst = vec![0u64; words];
    let mut best_read = f64::INFINITY;
    let mut best_copy = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        let sum: u64 = src
            .par_chunks(chunk)
            .map(|c| c.iter().fold(0u64, |a, &x| a.wrapping_add(x)))
            .reduce(|| 0, u64::wrapping_add);
        std::hint::black_box(sum);
        best_read = best_read.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        dst.par_chunks_mut(chunk)
            .zip(src.par_chunks(chunk))
            .for_each(|(d, s)| d.copy_from_slice(s));
        std::hint::black_box(&dst);
        best_copy = best_copy.min(t.elapsed().as_secs_f64());
    }
    let bytes = (words * 8) as f64;
    MemoryBandwidth {
        read_gb_s: bytes / best_read / 1e9,
        copy_gb_s: 2.0 * bytes / best_copy / 1e9,
        threads,
        buffer_mib,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidth_is_positive_and_finite() {
        let b = measure_bandwidth(8, 1);
        assert!(b.read_gb_s.is_finite() && b.read_gb_s > 0.0);
        assert!(b.copy_gb_s.is_finite() && b.copy_gb_s > 0.0);
        assert_eq!(b.buffer_mib, 8);
    }
}
