//! Local Scope Identifiers (RFC 7401 section 3.2 and RFC 5338 section 3):
//! IPv4 aliases for peers' HITs, meaningful only on this host. Allocated from
//! a configurable prefix (default 1.0.0.0/8, as HIPL uses). hipd allocates
//! its own identities first, so the host's own LSI is 1.0.0.1 and peers get
//! 1.0.0.2 and up, as with HIPL.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::Hit;

/// Why an LSI could not be allocated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LsiError {
    #[error("LSI prefix length {0} leaves no room for hosts")]
    BadPrefix(u8),
    #[error("LSI {0} is outside the configured prefix")]
    OutOfPrefix(Ipv4Addr),
    #[error("LSI {0} is already assigned to another HIT")]
    InUse(Ipv4Addr),
    #[error("the LSI prefix is exhausted")]
    Exhausted,
}

/// Allocates LSIs for HITs; stable for a HIT until released.
#[derive(Debug, Clone)]
pub struct LsiAllocator {
    network: u32,
    len: u8,
    next: u32,
    by_hit: HashMap<Hit, Ipv4Addr>,
    by_lsi: HashMap<Ipv4Addr, Hit>,
}

impl Default for LsiAllocator {
    fn default() -> Self {
        LsiAllocator::new(Ipv4Addr::new(1, 0, 0, 0), 8).expect("1.0.0.0/8 is valid")
    }
}

impl LsiAllocator {
    /// An allocator for `prefix/len` (len 1..=30).
    pub fn new(prefix: Ipv4Addr, len: u8) -> Result<Self, LsiError> {
        if !(1..=30).contains(&len) {
            return Err(LsiError::BadPrefix(len));
        }
        let mask = u32::MAX << (32 - len);
        Ok(LsiAllocator {
            network: u32::from(prefix) & mask,
            len,
            next: 1,
            by_hit: HashMap::new(),
            by_lsi: HashMap::new(),
        })
    }

    /// The prefix and its length.
    pub fn prefix(&self) -> (Ipv4Addr, u8) {
        (Ipv4Addr::from(self.network), self.len)
    }

    fn host_count(&self) -> u32 {
        (1u32 << (32 - self.len)) - 2
    }

    /// True if `a` is a host address of the prefix.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        let off = u32::from(a).wrapping_sub(self.network);
        (1..=self.host_count()).contains(&off)
    }

    /// The LSI of `hit`, allocating the next free one if it has none.
    pub fn allocate(&mut self, hit: Hit) -> Result<Ipv4Addr, LsiError> {
        if let Some(&a) = self.by_hit.get(&hit) {
            return Ok(a);
        }
        let n = self.host_count();
        for _ in 0..n {
            let off = self.next;
            self.next = if self.next >= n { 1 } else { self.next + 1 };
            let a = Ipv4Addr::from(self.network + off);
            if !self.by_lsi.contains_key(&a) {
                self.by_hit.insert(hit, a);
                self.by_lsi.insert(a, hit);
                return Ok(a);
            }
        }
        Err(LsiError::Exhausted)
    }

    /// Assign a chosen LSI (from configuration) to `hit`.
    pub fn assign(&mut self, hit: Hit, lsi: Ipv4Addr) -> Result<(), LsiError> {
        if !self.contains(lsi) {
            return Err(LsiError::OutOfPrefix(lsi));
        }
        match self.by_lsi.get(&lsi) {
            Some(h) if *h != hit => return Err(LsiError::InUse(lsi)),
            _ => {}
        }
        self.release(&hit);
        self.by_hit.insert(hit, lsi);
        self.by_lsi.insert(lsi, hit);
        Ok(())
    }

    /// Forget the LSI of `hit`.
    pub fn release(&mut self, hit: &Hit) {
        if let Some(a) = self.by_hit.remove(hit) {
            self.by_lsi.remove(&a);
        }
    }

    /// The LSI assigned to a HIT.
    pub fn lsi_of(&self, hit: &Hit) -> Option<Ipv4Addr> {
        self.by_hit.get(hit).copied()
    }

    /// The HIT behind an LSI.
    pub fn hit_of(&self, lsi: Ipv4Addr) -> Option<Hit> {
        self.by_lsi.get(&lsi).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn allocation_is_stable_and_bounded() {
        let mut a = LsiAllocator::new(Ipv4Addr::new(1, 0, 0, 0), 29).unwrap();
        let mut got = Vec::new();
        for i in 0..6u8 {
            got.push(a.allocate(Hit([i; 16])).unwrap());
        }
        assert_eq!(got[0], Ipv4Addr::new(1, 0, 0, 1));
        assert_eq!(a.allocate(Hit([0; 16])).unwrap(), got[0]);
        assert_eq!(a.allocate(Hit([9; 16])), Err(LsiError::Exhausted));
        a.release(&Hit([1; 16]));
        assert_eq!(a.allocate(Hit([9; 16])).unwrap(), got[1]);
        assert_eq!(a.hit_of(got[1]), Some(Hit([9; 16])));
        assert_eq!(a.assign(Hit([8; 16]), got[2]), Err(LsiError::InUse(got[2])));
        assert_eq!(
            a.assign(Hit([8; 16]), Ipv4Addr::new(2, 0, 0, 1)),
            Err(LsiError::OutOfPrefix(Ipv4Addr::new(2, 0, 0, 1)))
        );
        assert_eq!(
            LsiAllocator::new(Ipv4Addr::new(1, 0, 0, 0), 31).unwrap_err(),
            LsiError::BadPrefix(31)
        );
    }

    proptest! {
        #[test]
        fn never_duplicates(hits in proptest::collection::vec(any::<[u8; 16]>(), 1..60), len in 24u8..=30) {
            let mut a = LsiAllocator::new(Ipv4Addr::new(1, 0, 0, 0), len).unwrap();
            let mut seen = std::collections::HashMap::new();
            for h in hits {
                match a.allocate(Hit(h)) {
                    Ok(l) => {
                        prop_assert!(a.contains(l));
                        if let Some(prev) = seen.insert(l, h) { prop_assert_eq!(prev, h); }
                    }
                    Err(e) => prop_assert_eq!(e, LsiError::Exhausted),
                }
            }
        }
    }
}
