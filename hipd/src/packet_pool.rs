//! Reusable buffers for the HIP control packets the readers hand to the
//! control actor, so that receiving (and dropping) a control packet
//! allocates nothing in steady state. A lock-free queue of a fixed number of
//! buffers: readers take one, the actor gives it back after handling the
//! packet. An empty pool means the actor is behind: the reader drops the
//! packet (counted), which bounds the memory a flood can tie up.
//!
//! The buffers are made as they are first needed, up to [`POOL_SIZE`], and
//! then circulate: a quiet daemon holds the few its traffic ever had in
//! flight instead of 2 MiB (issue 16: memory at rest), and a busy one
//! allocates only while the pool grows, never per packet after that.
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_queue::ArrayQueue;

/// Buffers in the pool.
pub const POOL_SIZE: usize = 1024;
/// Capacity each buffer starts with (a typical control packet fits).
const BUF_CAPACITY: usize = 2048;
/// A buffer that grew past this (a rare large packet) is replaced when
/// returned, so the pool's memory stays bounded.
const BUF_KEEP_MAX: usize = 16 * 1024;

/// The pool.
pub struct PacketPool {
    free: ArrayQueue<Vec<u8>>,
    /// Buffers made so far (at most [`POOL_SIZE`]).
    made: AtomicUsize,
}

impl PacketPool {
    /// A pool that will hold up to [`POOL_SIZE`] buffers, none made yet.
    pub fn new() -> Self {
        PacketPool {
            free: ArrayQueue::new(POOL_SIZE),
            made: AtomicUsize::new(0),
        }
    }

    /// A buffer holding a copy of `pkt`, or None when every buffer is in use.
    pub fn copy_of(&self, pkt: &[u8]) -> Option<Vec<u8>> {
        let mut b = match self.free.pop() {
            Some(b) => b,
            None => self.make()?,
        };
        b.clear();
        b.extend_from_slice(pkt);
        Some(b)
    }

    /// A new buffer while fewer than [`POOL_SIZE`] exist.
    fn make(&self) -> Option<Vec<u8>> {
        self.made
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < POOL_SIZE).then_some(n + 1)
            })
            .ok()
            .map(|_| Vec::with_capacity(BUF_CAPACITY))
    }

    /// Buffers made so far.
    pub fn made(&self) -> usize {
        self.made.load(Ordering::Acquire)
    }

    /// Gives a buffer back.
    pub fn give_back(&self, mut b: Vec<u8>) {
        if b.capacity() > BUF_KEEP_MAX {
            b = Vec::with_capacity(BUF_CAPACITY);
        }
        let _ = self.free.push(b);
    }

    /// Buffers free now.
    pub fn available(&self) -> usize {
        self.free.len()
    }
}

impl Default for PacketPool {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_made_as_needed_and_then_reused() {
        let p = PacketPool::new();
        assert_eq!((p.made(), p.available()), (0, 0), "nothing made at rest");
        let a = p.copy_of(b"one").unwrap();
        assert_eq!(p.made(), 1);
        let ptr = a.as_ptr();
        p.give_back(a);
        // One packet at a time: the one buffer circulates.
        for _ in 0..100 {
            let b = p.copy_of(b"again").unwrap();
            assert_eq!(b.as_ptr(), ptr);
            p.give_back(b);
        }
        assert_eq!(p.made(), 1);
    }

    #[test]
    fn buffers_circulate_and_an_empty_pool_refuses() {
        let p = PacketPool::new();
        let taken: Vec<Vec<u8>> = (0..POOL_SIZE)
            .map(|i| p.copy_of(&[i as u8]).unwrap())
            .collect();
        assert!(p.copy_of(b"x").is_none(), "empty");
        assert_eq!(p.made(), POOL_SIZE, "no more than the pool's size");
        let ptrs: Vec<*const u8> = taken.iter().map(|b| b.as_ptr()).collect();
        for b in taken {
            p.give_back(b);
        }
        assert_eq!(p.available(), POOL_SIZE);
        // The same allocations come back: nothing new per packet.
        let again = p.copy_of(&[7; 100]).unwrap();
        assert!(ptrs.contains(&again.as_ptr()));
        assert_eq!(again, vec![7; 100]);
        // A grown buffer is not kept.
        let mut big = again;
        big.resize(BUF_KEEP_MAX + 1, 0);
        p.give_back(big);
        assert_eq!(p.available(), POOL_SIZE);
    }
}
