//! Reusable buffers for the HIP control packets the readers hand to the
//! control actor, so that receiving (and dropping) a control packet
//! allocates nothing in steady state. A lock-free queue of a fixed number of
//! buffers: readers take one, the actor gives it back after handling the
//! packet. An empty pool means the actor is behind: the reader drops the
//! packet (counted), which bounds the memory a flood can tie up.
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
}

impl PacketPool {
    /// A full pool of [`POOL_SIZE`] buffers.
    pub fn new() -> Self {
        let free = ArrayQueue::new(POOL_SIZE);
        for _ in 0..POOL_SIZE {
            let _ = free.push(Vec::with_capacity(BUF_CAPACITY));
        }
        PacketPool { free }
    }

    /// A buffer holding a copy of `pkt`, or None when every buffer is in use.
    pub fn copy_of(&self, pkt: &[u8]) -> Option<Vec<u8>> {
        let mut b = self.free.pop()?;
        b.clear();
        b.extend_from_slice(pkt);
        Some(b)
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
    fn buffers_circulate_and_an_empty_pool_refuses() {
        let p = PacketPool::new();
        let taken: Vec<Vec<u8>> = (0..POOL_SIZE)
            .map(|i| p.copy_of(&[i as u8]).unwrap())
            .collect();
        assert!(p.copy_of(b"x").is_none(), "empty");
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
