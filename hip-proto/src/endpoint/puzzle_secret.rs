//! Stateless puzzle #I (RFC 7401 section 4.1.1: "the Responder can ... compute #I
//! from a local secret, the HITs ... so it need not keep state"; RFC 5201 section 4.1.1).
//!
//! `I = HMAC-SHA-256(secret_g, "hipr puzzle" | g | K | HIT-I | HIT-R)` truncated to the
//! #I length (RHASH_len/8 in v2, 8 bytes in v1). The generation `g` travels in the
//! PUZZLE Opaque field (zeroed under SIGNATURE_2, so a precomputed signed R1 stays
//! valid). The current and the previous generation are accepted, so a rotation
//! does not break exchanges in flight. Binding K into #I means the difficulty echoed
//! in the I2 SOLUTION is authenticated too: an initiator cannot claim a lower K.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::random::RandomSource;
use crate::crypto::rhash::Rhash;
use crate::Hit;

const LABEL: &[u8] = b"hipr puzzle";

/// Longest #I: RHASH_len of SHA-384.
pub const MAX_I_LEN: usize = 48;

/// Errors of #I recomputation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PuzzleSecretError {
    /// The generation in the Opaque field is neither current nor previous.
    #[error("puzzle generation {0} expired or unknown")]
    UnknownGeneration(u16),
    /// #I length is zero or longer than [`MAX_I_LEN`].
    #[error("invalid #I length {0}")]
    Length(usize),
    /// #I does not match the recomputed value.
    #[error("#I does not match")]
    Mismatch,
}

/// The current and previous puzzle secrets.
pub struct PuzzleSecrets {
    generation: u16,
    current: Zeroizing<[u8; 32]>,
    previous: Option<Zeroizing<[u8; 32]>>,
}

impl core::fmt::Debug for PuzzleSecrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PuzzleSecrets")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl PuzzleSecrets {
    /// Fresh secrets, generation 0.
    pub fn new(random: &mut dyn RandomSource) -> Self {
        let mut s = Zeroizing::new([0u8; 32]);
        random.fill(&mut s[..]);
        PuzzleSecrets {
            generation: 0,
            current: s,
            previous: None,
        }
    }

    /// The current generation (goes into the PUZZLE Opaque field).
    pub fn generation(&self) -> u16 {
        self.generation
    }

    /// Starts a new generation; the old one stays acceptable until the next rotation.
    pub fn rotate(&mut self, random: &mut dyn RandomSource) {
        let mut s = Zeroizing::new([0u8; 32]);
        random.fill(&mut s[..]);
        let old = core::mem::replace(&mut self.current, s);
        self.previous = Some(old);
        self.generation = self.generation.wrapping_add(1);
    }

    fn secret(&self, generation: u16) -> Option<&[u8; 32]> {
        if generation == self.generation {
            Some(&self.current)
        } else if generation == self.generation.wrapping_sub(1) {
            self.previous.as_deref()
        } else {
            None
        }
    }

    /// #I for a generation, difficulty K and HIT pair.
    pub fn compute(
        &self,
        generation: u16,
        k: u8,
        hit_i: &Hit,
        hit_r: &Hit,
        len: usize,
    ) -> Result<Vec<u8>, PuzzleSecretError> {
        let mut out = [0u8; MAX_I_LEN];
        self.compute_into(generation, k, hit_i, hit_r, len, &mut out)?;
        Ok(out[..len].to_vec())
    }

    /// [`Self::compute`] into the first `len` octets of `out`, with no
    /// allocation (the I2 check runs on every I2 an attacker sends).
    fn compute_into(
        &self,
        generation: u16,
        k: u8,
        hit_i: &Hit,
        hit_r: &Hit,
        len: usize,
        out: &mut [u8; MAX_I_LEN],
    ) -> Result<(), PuzzleSecretError> {
        if len == 0 || len > MAX_I_LEN {
            return Err(PuzzleSecretError::Length(len));
        }
        let secret = self
            .secret(generation)
            .ok_or(PuzzleSecretError::UnknownGeneration(generation))?;
        let g = generation.to_be_bytes();
        // HMAC-SHA-256 gives 32 bytes; a longer #I (SHA-384 RHASH) uses a second block.
        let mut done = 0;
        let mut block = 0u8;
        while done < len {
            let mac = Rhash::Sha256.hmac_tag(
                &secret[..],
                &[LABEL, &g, &[k], &hit_i.0, &hit_r.0, &[block]],
            );
            let mac = mac.as_ref();
            let take = (len - done).min(mac.len());
            out[done..done + take].copy_from_slice(&mac[..take]);
            done += take;
            block = block.wrapping_add(1);
        }
        Ok(())
    }

    /// Recomputes and compares (constant time) the #I echoed in an I2 SOLUTION.
    pub fn check(
        &self,
        generation: u16,
        k: u8,
        hit_i: &Hit,
        hit_r: &Hit,
        i: &[u8],
    ) -> Result<(), PuzzleSecretError> {
        let mut expected = [0u8; MAX_I_LEN];
        self.compute_into(generation, k, hit_i, hit_r, i.len(), &mut expected)?;
        if bool::from(expected[..i.len()].ct_eq(i)) {
            Ok(())
        } else {
            Err(PuzzleSecretError::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter_rng() -> impl FnMut(&mut [u8]) {
        let mut n = 0u8;
        move |b: &mut [u8]| {
            for x in b {
                n = n.wrapping_add(1);
                *x = n;
            }
        }
    }

    #[test]
    fn recomputable_bound_to_hits_and_generation() {
        let mut rng = counter_rng();
        let mut s = PuzzleSecrets::new(&mut rng);
        let (a, b) = (Hit([1; 16]), Hit([2; 16]));
        let i = s.compute(0, 3, &a, &b, 32).expect("valid");
        assert_eq!(s.check(0, 3, &a, &b, &i), Ok(()));
        assert_eq!(s.check(0, 3, &b, &a, &i), Err(PuzzleSecretError::Mismatch));
        assert_eq!(
            s.check(0, 2, &a, &b, &i),
            Err(PuzzleSecretError::Mismatch),
            "K is bound"
        );
        let long = s.compute(0, 3, &a, &b, 48).expect("valid");
        assert_eq!(&long[..32], &i[..]);
        assert_eq!(
            s.compute(0, 3, &a, &b, 49),
            Err(PuzzleSecretError::Length(49))
        );
        s.rotate(&mut rng);
        assert_eq!(s.generation(), 1);
        assert_eq!(
            s.check(0, 3, &a, &b, &i),
            Ok(()),
            "previous generation still accepted"
        );
        assert_ne!(s.compute(1, 3, &a, &b, 32).expect("valid"), i);
        s.rotate(&mut rng);
        assert_eq!(
            s.check(0, 3, &a, &b, &i),
            Err(PuzzleSecretError::UnknownGeneration(0))
        );
        assert_eq!(
            s.check(7, 3, &a, &b, &i),
            Err(PuzzleSecretError::UnknownGeneration(7))
        );
    }
}
