//! I2 replay protection: a puzzle solution is accepted at most once (RFC 7401
//! section 4.1.1: the responder keeps no per-initiator state before a valid I2,
//! and section 6.9: an I2 whose puzzle is not one the responder issued, or is
//! outdated, is dropped).
//!
//! The stateless #I ([`super::puzzle_secret`]) alone would accept a captured
//! genuine I2 again, from any source address, for as long as its R1 generation
//! is live (one to two rotation intervals), whenever the responder holds no
//! association for the HIT pair (after a CLOSE, a reset, an expiry). So the
//! fingerprint of every accepted I2's solution is kept with its generation and
//! forgotten with it: one bounded set for the current and one for the previous
//! generation, nothing older can pass the puzzle check anyway.
//!
//! The fingerprint covers the HITs, the generation, #I, J and the initiator's
//! Diffie-Hellman public value. #I is recomputed from the secret, so an honest
//! initiator that runs the exchange again within one generation gets the same
//! #I; its new J (random start) and new DH key tell the new I2 from a replay,
//! and a replayer cannot change either, both being under the I2's HIP_MAC and
//! signature. Entries are added only once an I2 passed every check, so a forged
//! copy cannot spend a genuine solution.
//!
//! Memory is bounded: when a generation's set is full, further I2s of that
//! generation are refused (not remembered and accepted), until the rotation
//! starts a fresh set. So that a storm of genuine I2s is not refused, the
//! endpoint rotates early once the current set is three quarters full
//! ([`SpentPuzzles::crowded`]): new R1s then carry a fresh generation, and the
//! last quarter takes the I2s already under way for the old one.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

use crate::Hit;

/// The fingerprint of one accepted puzzle solution.
pub type Fingerprint = [u8; 16];

/// Why an I2's solution may not be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    /// This solution was accepted before.
    Replayed,
    /// The generation's set is full; the I2 cannot be remembered.
    Full,
}

#[derive(Debug, Default)]
struct Generation {
    id: u16,
    seen: HashSet<Fingerprint>,
}

/// Spent puzzle solutions of the current and the previous R1 generation.
#[derive(Debug)]
pub struct SpentPuzzles {
    capacity: usize,
    current: Generation,
    previous: Option<Generation>,
}

impl SpentPuzzles {
    /// Empty sets for generation `generation`, each holding at most `capacity`.
    pub fn new(generation: u16, capacity: usize) -> Self {
        SpentPuzzles {
            capacity,
            current: Generation {
                id: generation,
                seen: HashSet::new(),
            },
            previous: None,
        }
    }

    /// The fingerprint of a solution (no allocation).
    pub fn fingerprint(
        generation: u16,
        hit_i: &Hit,
        hit_r: &Hit,
        i: &[u8],
        j: &[u8],
        dh_public: &[u8],
    ) -> Fingerprint {
        let mut h = Sha256::new();
        h.update(b"hipr spent puzzle");
        h.update(generation.to_be_bytes());
        h.update(hit_i.0);
        h.update(hit_r.0);
        for part in [i, j, dh_public] {
            // Length-prefixed, so that the parts cannot slide into each other.
            h.update((part.len() as u32).to_be_bytes());
            h.update(part);
        }
        let d = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&d[..16]);
        out
    }

    fn set(&self, generation: u16) -> Option<&Generation> {
        [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|g| g.id == generation)
    }

    /// Whether the solution may be accepted. A generation without a set (not
    /// live) is not refused here: the puzzle check refuses it.
    pub fn check(&self, generation: u16, fp: &Fingerprint) -> Result<(), Spent> {
        let Some(g) = self.set(generation) else {
            return Ok(());
        };
        if g.seen.contains(fp) {
            Err(Spent::Replayed)
        } else if g.seen.len() >= self.capacity {
            Err(Spent::Full)
        } else {
            Ok(())
        }
    }

    /// Is the current generation's set three quarters full (time to rotate
    /// before genuine I2s are refused)?
    pub fn crowded(&self) -> bool {
        self.current.seen.len() >= self.capacity - self.capacity / 4
    }

    /// Records an accepted solution; false when it was already spent or the
    /// set is full (then nothing is recorded).
    pub fn spend(&mut self, generation: u16, fp: Fingerprint) -> bool {
        let capacity = self.capacity;
        let g = if self.current.id == generation {
            &mut self.current
        } else {
            match self.previous.as_mut() {
                Some(p) if p.id == generation => p,
                _ => return false,
            }
        };
        g.seen.len() < capacity && g.seen.insert(fp)
    }

    /// The puzzle secret rotated to `generation`: the current set becomes the
    /// previous one, the old previous one is dropped.
    pub fn rotate(&mut self, generation: u16) {
        let old = std::mem::replace(
            &mut self.current,
            Generation {
                id: generation,
                seen: HashSet::new(),
            },
        );
        self.previous = Some(old);
    }

    /// Solutions remembered (both generations).
    pub fn len(&self) -> usize {
        self.current.seen.len() + self.previous.as_ref().map_or(0, |p| p.seen.len())
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(n: u8) -> Fingerprint {
        SpentPuzzles::fingerprint(
            0,
            &Hit([1; 16]),
            &Hit([2; 16]),
            &[n; 32],
            &[3; 32],
            &[4; 64],
        )
    }

    #[test]
    fn spent_once_bounded_and_forgotten_with_the_generation() {
        let mut s = SpentPuzzles::new(0, 2);
        assert_eq!(s.check(0, &fp(1)), Ok(()));
        assert!(s.spend(0, fp(1)));
        assert_eq!(s.check(0, &fp(1)), Err(Spent::Replayed));
        assert!(!s.spend(0, fp(1)));
        assert!(s.spend(0, fp(2)));
        assert_eq!(
            s.check(0, &fp(3)),
            Err(Spent::Full),
            "full: refuse, not grow"
        );
        assert!(!s.spend(0, fp(3)));
        assert_eq!(s.len(), 2);
        s.rotate(1);
        assert_eq!(
            s.check(0, &fp(1)),
            Err(Spent::Replayed),
            "previous still known"
        );
        assert_eq!(s.check(1, &fp(1)), Ok(()));
        assert!(s.spend(1, fp(1)));
        s.rotate(2);
        assert_eq!(s.len(), 1, "generation 0 forgotten");
        assert_eq!(
            s.check(0, &fp(1)),
            Ok(()),
            "not live: the puzzle check refuses it"
        );
        assert_eq!(s.check(1, &fp(1)), Err(Spent::Replayed));
    }

    #[test]
    fn fingerprint_separates_every_input() {
        let (a, b) = (Hit([1; 16]), Hit([2; 16]));
        let base = SpentPuzzles::fingerprint(0, &a, &b, &[1; 8], &[2; 8], &[3; 8]);
        for other in [
            SpentPuzzles::fingerprint(1, &a, &b, &[1; 8], &[2; 8], &[3; 8]),
            SpentPuzzles::fingerprint(0, &b, &a, &[1; 8], &[2; 8], &[3; 8]),
            SpentPuzzles::fingerprint(0, &a, &b, &[9; 8], &[2; 8], &[3; 8]),
            SpentPuzzles::fingerprint(0, &a, &b, &[1; 8], &[9; 8], &[3; 8]),
            SpentPuzzles::fingerprint(0, &a, &b, &[1; 8], &[2; 8], &[9; 8]),
            SpentPuzzles::fingerprint(0, &a, &b, &[1; 9], &[2; 7], &[3; 8]),
        ] {
            assert_ne!(base, other);
        }
    }
}
