//! The machine's own limits, measured in the same run as a benchmark so that its figures can be
//! printed as fractions of them: memory bandwidth (a STREAM-style read and copy over buffers far
//! larger than the caches, on every kernel thread) bounds decode, which reads every weight once
//! per token.

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

/// Streams each thread reads at once in the many-stream probe: as many as the panels a
/// decode thread walks side by side, twice over.
pub const READ_STREAMS: usize = 8;

/// Words in a 64-byte cache line.
const LINE_WORDS: usize = 8;

/// Sums `words` front to back, one sequential stream.
fn read_one_stream(words: &[u64]) -> u64 {
    words.iter().fold(0u64, |a, &x| a.wrapping_add(x))
}

/// Sums `words` as [`READ_STREAMS`] equal parts read side by side, a cache line of each in
/// turn, so that the core has that many independent miss streams in flight.
fn read_many_streams(words: &[u64]) -> u64 {
    let part = words.len().div_ceil(READ_STREAMS).max(1);
    let mut lines: Vec<_> = words.chunks(part).map(|p| p.chunks(LINE_WORDS)).collect();
    let mut sums = [0u64; READ_STREAMS];
    loop {
        let mut any = false;
        for (stream, sum) in lines.iter_mut().zip(sums.iter_mut()) {
            if let Some(line) = stream.next() {
                *sum = line.iter().fold(*sum, |a, &x| a.wrapping_add(x));
                any = true;
            }
        }
        if !any {
            break;
        }
    }
    sums.iter().fold(0u64, |a, &x| a.wrapping_add(x))
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Both probes read every word exactly once, whatever the length.
    #[test]
    fn both_reads_sum_every_word_once() {
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4099] {
            let words: Vec<u64> = (1..=len as u64).collect();
            let want = len as u64 * (len as u64 + 1) / 2;
            assert_eq!(read_one_stream(&words), want, "{len}");
            assert_eq!(read_many_streams(&words), want, "{len}");
        }
    }
}
