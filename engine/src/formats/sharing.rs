//! Reading on every core: while the calling thread parses, a helper thread computes the
//! file's SHA-256 and then takes pieces of the parse (rows of a CSV file, leads of an aECG
//! file).
//!
//! The helpers live in a small pool of the readers' own (one thread fewer than the machine's
//! cores), not rayon's global pool, so a read never queues behind a model run. The calling
//! thread never waits for a helper to *start*: every job, the hash included, is claimed by
//! whoever comes first, so if the helpers are busy the calling thread simply does everything
//! itself, and it only waits (spinning, not sleeping) for jobs a helper has already begun.
//! Waking a helper is not free: on the 2-core reference VM the caller spends 15–20 µs in it
//! and the helper starts some 45 µs later (measured). So a read wakes a helper once, at its
//! start, for the hash; the parse's jobs come while it is still busy hashing (no wake-up
//! then), and small files are hashed on the calling thread.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::sha256_hex;

/// The readers' helper threads, or `None` on a single core (or when threads cannot be made),
/// where everything runs on the calling thread.
fn helpers() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        if cores < 2 {
            return None;
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(cores - 1)
            .thread_name(|i| format!("ecgr1-reader-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// How many threads can work on one read: the caller plus the helpers.
pub(super) fn threads() -> usize {
    1 + helpers().map_or(0, rayon::ThreadPool::current_num_threads)
}

/// Numbered jobs (`0..count`) that any thread may take, each exactly once. A job returns
/// whether it succeeded; after a failure the jobs not yet taken are skipped, because the
/// caller then redoes the work its own way (and names the problem).
pub(super) struct SharedJobs<'a> {
    count: usize,
    next: AtomicUsize,
    finished: AtomicUsize,
    failed: AtomicBool,
    job: &'a (dyn Fn(usize) -> bool + Sync),
}

impl<'a> SharedJobs<'a> {
    pub(super) fn new(count: usize, job: &'a (dyn Fn(usize) -> bool + Sync)) -> Self {
        Self {
            count,
            next: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
            job,
        }
    }

    /// Takes and runs jobs until none is left to take (all of them, when no other thread
    /// helps).
    pub(super) fn help(&self) {
        loop {
            let k = self.next.fetch_add(1, Ordering::Relaxed);
            if k >= self.count {
                return;
            }
            if !self.failed.load(Ordering::Relaxed) && !(self.job)(k) {
                self.failed.store(true, Ordering::Relaxed);
            }
            // Release: what the job wrote is visible to whoever sees the count (`wait`).
            self.finished.fetch_add(1, Ordering::Release);
        }
    }

    /// Waits for the jobs other threads took; they are already running, and short.
    fn wait(&self) {
        while self.finished.load(Ordering::Acquire) < self.count {
            std::thread::yield_now();
        }
    }

    /// Whether every job succeeded (meaningful once [`share`] has returned).
    pub(super) fn succeeded(&self) -> bool {
        !self.failed.load(Ordering::Acquire)
    }
}

/// Files smaller than this are hashed on the calling thread: waking a helper costs the caller
/// 15–20 µs on the reference VM (measured), about what the hash of 64 KiB takes.
const HASH_ALONGSIDE_MIN_BYTES: usize = 64 * 1024;

/// Whether a file of `len` bytes is hashed on a helper core.
pub(super) fn worth_a_helper(len: usize) -> bool {
    len >= HASH_ALONGSIDE_MIN_BYTES && helpers().is_some()
}

/// Wakes the helpers ahead of a read (a task that does nothing): a helper that has just
/// finished a task stays awake a while looking for the next, so the read's own tasks then
/// start at once, and handing them over costs the caller no wake-up.
pub(super) fn wake_helpers() {
    if let Some(pool) = helpers() {
        pool.spawn(|| {});
    }
}

/// The SHA-256 of a file's bytes, taken by whichever thread comes first.
struct SharedHash<'b> {
    bytes: &'b [u8],
    taken: AtomicBool,
    hex: OnceLock<String>,
}

impl<'b> SharedHash<'b> {
    fn new(bytes: &'b [u8]) -> Self {
        Self {
            bytes,
            taken: AtomicBool::new(false),
            hex: OnceLock::new(),
        }
    }

    fn take(&self) {
        if !self.taken.swap(true, Ordering::AcqRel) {
            // Only the thread that took the hash sets it, so this cannot find it set.
            let _ = self.hex.set(sha256_hex(self.bytes));
        }
    }

    /// Takes the hash if no helper has, else waits for the helper computing it. Spinning
    /// (with yields) rather than blocking: a blocked caller needs a wake-up, which costs as
    /// much again on a VM.
    fn wait(&self) {
        self.take();
        while self.hex.get().is_none() {
            std::thread::yield_now();
        }
    }

    fn into_hex(self) -> String {
        self.hex
            .into_inner()
            .unwrap_or_else(|| sha256_hex(self.bytes))
    }
}

/// Runs `main` on the calling thread while a helper computes the SHA-256 of `bytes`; returns
/// the hash (hex) and what `main` returned. `main` may [`share`] jobs: the helper joins them
/// once the hash is done, without a second wake-up (it is busy, not asleep, when they come).
pub(super) fn hash_while<R>(bytes: &[u8], main: impl FnOnce() -> R) -> (String, R) {
    let hash = SharedHash::new(bytes);
    let result = match helpers() {
        Some(pool) if bytes.len() >= HASH_ALONGSIDE_MIN_BYTES => pool.in_place_scope(|scope| {
            scope.spawn(|_| hash.take());
            let result = main();
            // Inside the scope, so that its end finds the task done instead of putting the
            // caller to sleep.
            hash.wait();
            result
        }),
        _ => {
            let result = main();
            hash.take();
            result
        }
    };
    (hash.into_hex(), result)
}

/// Runs `jobs` on the calling thread and the helpers, and returns when all are done.
pub(super) fn share(jobs: &SharedJobs<'_>) {
    let Some(pool) = helpers().filter(|_| jobs.count > 1) else {
        jobs.help();
        return;
    };
    let helpers = pool.current_num_threads().min(jobs.count - 1);
    let finished_helpers = AtomicUsize::new(0);
    pool.in_place_scope(|scope| {
        for _ in 0..helpers {
            scope.spawn(|_| {
                jobs.help();
                finished_helpers.fetch_add(1, Ordering::Release);
            });
        }
        jobs.help();
        jobs.wait();
        // Until every helper task has run (a late one finds nothing to do): then the scope
        // ends without the caller sleeping on it, which would cost a wake-up.
        while finished_helpers.load(Ordering::Acquire) < helpers {
            std::thread::yield_now();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_runs_once_and_the_hash_is_the_files() {
        let bytes = b"time_s,I\n0,1\n".repeat(10_000);
        let runs: Vec<AtomicUsize> = (0..97).map(|_| AtomicUsize::new(0)).collect();
        let job = |k: usize| {
            runs[k].fetch_add(1, Ordering::Relaxed);
            true
        };
        let jobs = SharedJobs::new(runs.len(), &job);
        let (hash, answer) = hash_while(&bytes, || {
            share(&jobs);
            42
        });
        assert_eq!(answer, 42);
        assert_eq!(hash, sha256_hex(&bytes));
        assert!(jobs.succeeded());
        assert!(runs.iter().all(|r| r.load(Ordering::Relaxed) == 1));
    }

    #[test]
    fn a_failed_job_is_reported_and_untaken_jobs_are_skipped() {
        let ran = AtomicUsize::new(0);
        let job = |k: usize| {
            ran.fetch_add(1, Ordering::Relaxed);
            k != 0
        };
        // On one thread: job 0 fails, and none of the others run.
        let alone = SharedJobs::new(10_000, &job);
        alone.help();
        assert_eq!(ran.load(Ordering::Relaxed), 1);
        assert!(!alone.succeeded());
        // Shared: the failure is reported whichever thread met it.
        let shared = SharedJobs::new(10_000, &job);
        share(&shared);
        assert!(!shared.succeeded());
    }

    #[test]
    fn helpers_woken_ahead_still_share_the_work() {
        let bytes = vec![7u8; 4 * HASH_ALONGSIDE_MIN_BYTES];
        assert_eq!(worth_a_helper(bytes.len()), threads() > 1);
        assert!(!worth_a_helper(HASH_ALONGSIDE_MIN_BYTES - 1));
        for _ in 0..50 {
            wake_helpers();
            let ran = AtomicUsize::new(0);
            let job = |_| ran.fetch_add(1, Ordering::Relaxed) < usize::MAX;
            let jobs = SharedJobs::new(20, &job);
            let (hash, ()) = hash_while(&bytes, || share(&jobs));
            assert_eq!(hash, sha256_hex(&bytes));
            assert_eq!(ran.load(Ordering::Relaxed), 20);
        }
    }

    #[test]
    fn the_hash_is_the_files_whether_or_not_a_helper_takes_it() {
        for len in [
            0,
            10,
            HASH_ALONGSIDE_MIN_BYTES,
            3 * HASH_ALONGSIDE_MIN_BYTES + 1,
        ] {
            let bytes = vec![0xA5u8; len];
            let (hash, n) = hash_while(&bytes, || 7);
            assert_eq!((hash, n), (sha256_hex(&bytes), 7), "{len} bytes");
        }
    }
}
