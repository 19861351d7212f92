//! Caller-supplied randomness: hip-proto never calls the OS (sans-IO rule).

/// A source of cryptographically secure random bytes, implemented by the caller.
pub trait RandomSource {
    /// Fills `buf` entirely with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

impl<F: FnMut(&mut [u8])> RandomSource for F {
    fn fill(&mut self, buf: &mut [u8]) {
        self(buf)
    }
}
