//! The HIP puzzle (RFC 7401 sections 4.1.2 and 6.3; RFC 5201 with SHA-1
//! and 8-octet I and J).
//!
//! A solution J satisfies Ltrunc(RHASH(I | HIT-I | HIT-R | J), K) == 0: the
//! lowest-order K bits of the hash are zero. J has the length of I.

use super::rhash::Rhash;
use crate::Hit;

/// The order of the HITs in the puzzle hash input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PuzzleInputOrder {
    /// RFC 7401: I | HIT-I | HIT-R | J.
    #[default]
    Rfc,
    /// cutehip: I | HIT-R | HIT-I | J (see ../shared/interop/cutehip/README.md).
    ResponderFirst,
    /// OpenHIP 0.9: the RFC's input, but the K bits that must be zero are
    /// the low bits of the hash's last 8 octets read as a little-endian
    /// integer (`compare_bits` in its util/hip_util.c loads them with
    /// `memcpy` into a `__u64` and masks without `ntoh64`; on x86 that tests
    /// octet 12 first instead of octet 19). Its solutions pass only this
    /// test, and it accepts only solutions that do.
    OpenHipLittleEndian,
}

/// Largest difficulty accepted (RFC 7401 section 4.1.2: K up to 40 is
/// representable; higher would take far too long to solve).
pub const MAX_K: u8 = 40;

/// One puzzle instance: the hash, difficulty, #I and the two HITs.
#[derive(Debug, Clone, Copy)]
pub struct Puzzle<'a> {
    pub rhash: Rhash,
    pub k: u8,
    pub i: &'a [u8],
    pub hit_i: &'a Hit,
    pub hit_r: &'a Hit,
    pub order: PuzzleInputOrder,
}

/// True if the `k` bits OpenHIP tests are zero ([`PuzzleInputOrder::OpenHipLittleEndian`]).
fn openhip_bits_zero(h: &[u8], k: u8) -> bool {
    let Some(last) = h.len().checked_sub(8).and_then(|at| h.get(at..)) else {
        return false;
    };
    let mut b = [0u8; 8];
    b.copy_from_slice(last);
    let mask = if k >= 64 { u64::MAX } else { (1u64 << k) - 1 };
    u64::from_le_bytes(b) & mask == 0
}

/// True if the lowest-order `k` bits of `h` are zero.
fn low_bits_zero(h: &[u8], k: u8) -> bool {
    let k = usize::from(k);
    if k > h.len() * 8 {
        return false;
    }
    let full = k / 8;
    let rest = k % 8;
    let n = h.len();
    h[n - full..].iter().all(|&b| b == 0)
        && (rest == 0 || h[n - full - 1] & ((1u8 << rest) - 1) == 0)
}

impl Puzzle<'_> {
    fn prefix(&self) -> ring::digest::Context {
        let mut c = self.rhash.context();
        c.update(self.i);
        let (a, b) = match self.order {
            PuzzleInputOrder::Rfc | PuzzleInputOrder::OpenHipLittleEndian => {
                (self.hit_i, self.hit_r)
            }
            PuzzleInputOrder::ResponderFirst => (self.hit_r, self.hit_i),
        };
        c.update(&a.0);
        c.update(&b.0);
        c
    }

    /// Are the bits this puzzle's convention tests zero in `h`?
    fn solved_by(&self, h: &[u8]) -> bool {
        match self.order {
            PuzzleInputOrder::OpenHipLittleEndian => openhip_bits_zero(h, self.k),
            _ => low_bits_zero(h, self.k),
        }
    }

    /// Check a solution J.
    pub fn verify(&self, j: &[u8]) -> bool {
        if j.len() != self.i.len() || self.k > MAX_K {
            return false;
        }
        let mut c = self.prefix();
        c.update(j);
        self.solved_by(c.finish().as_ref())
    }

    /// Search for a solution, trying J = start, start+1, ... (a big-endian
    /// counter of J's length) for at most `max_attempts` values.
    pub fn solve(&self, start: &[u8], max_attempts: u64) -> Option<Vec<u8>> {
        if start.len() != self.i.len() || self.k > MAX_K || self.i.is_empty() {
            return None;
        }
        let base = self.prefix();
        let mut j = start.to_vec();
        for _ in 0..max_attempts {
            let mut c = base.clone();
            c.update(&j);
            if self.solved_by(c.finish().as_ref()) {
                return Some(j);
            }
            for b in j.iter_mut().rev() {
                *b = b.wrapping_add(1);
                if *b != 0 {
                    break;
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_bits() {
        assert!(low_bits_zero(&[0xff, 0x00], 8));
        assert!(!low_bits_zero(&[0xff, 0x01], 8));
        assert!(low_bits_zero(&[0xf8, 0x00], 11));
        assert!(!low_bits_zero(&[0xfc, 0x00], 11));
        assert!(low_bits_zero(&[1, 2], 0));
        assert!(!low_bits_zero(&[0, 0], 17));
    }

    #[test]
    fn openhip_tests_the_first_of_the_last_eight_octets() {
        // hipd's RFC solution from a live run against OpenHIP (the hash's
        // last 8 octets): zero where RFC 5201 looks, not where OpenHIP does.
        let h = [0x6e, 0xc2, 0xd5, 0xb4, 0x88, 0x79, 0x08, 0x00];
        assert!(low_bits_zero(&h, 8) && !openhip_bits_zero(&h, 8));
        let o = [0x00, 0xfc, 0xd5, 0xb4, 0x88, 0x79, 0x08, 0x01];
        assert!(openhip_bits_zero(&o, 10) && !openhip_bits_zero(&o, 11));
        assert!(!low_bits_zero(&o, 1));
        assert!(!openhip_bits_zero(&o[..7], 1), "shorter than 8 octets");
    }

    #[test]
    fn solve_then_verify_both_orders() {
        let (a, b) = (Hit([1; 16]), Hit([2; 16]));
        for order in [
            PuzzleInputOrder::Rfc,
            PuzzleInputOrder::ResponderFirst,
            PuzzleInputOrder::OpenHipLittleEndian,
        ] {
            let p = Puzzle {
                rhash: Rhash::Sha256,
                k: 10,
                i: &[7; 32],
                hit_i: &a,
                hit_r: &b,
                order,
            };
            let j = p.solve(&[0; 32], 1 << 16).unwrap();
            assert!(p.verify(&j));
        }
        let p = Puzzle {
            rhash: Rhash::Sha1,
            k: 30,
            i: &[7; 8],
            hit_i: &a,
            hit_r: &b,
            order: PuzzleInputOrder::Rfc,
        };
        assert!(p.solve(&[0; 8], 10).is_none());
        // K = 20 (the minimum) is solvable in bounded time.
        let p20 = Puzzle {
            k: 20,
            i: &[9; 8],
            ..p
        };
        let j = p20.solve(&[0; 8], 1 << 26).unwrap();
        assert!(p20.verify(&j));
        assert!(!Puzzle { k: 0, ..p }.verify(&[0; 7]));
    }
}
