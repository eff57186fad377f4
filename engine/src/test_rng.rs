//! A xorshift64 generator for tests: deterministic pseudo-random inputs (cells, digit texts,
//! sample values) without a dependency.

pub(crate) struct XorShift(u64);

impl XorShift {
    /// `seed` must not be zero (xorshift stays at zero).
    pub(crate) fn new(seed: u64) -> Self {
        assert_ne!(seed, 0, "a xorshift seed of zero repeats zero");
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
