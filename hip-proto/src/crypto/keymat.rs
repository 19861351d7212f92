//! KEYMAT generation and key drawing (RFC 7401 section 6.5 for v2,
//! RFC 5201 section 6.5 for v1, RFC 7402 section 7 for the ESP keys).
//!
//! * v2: KEYMAT = HKDF-RHASH(salt = #I | J, IKM = Kij,
//!   info = sort(HIT-I | HIT-R), L).
//! * v1: K1 = SHA-1(Kij | sort(HIT-I | HIT-R) | I | J | 0x01),
//!   Kn = SHA-1(Kij | K(n-1) | n), KEYMAT = K1 | K2 | ...
//!
//! Keys are drawn in order: HIP-gl encryption, HIP-gl integrity, HIP-lg
//! encryption, HIP-lg integrity, then, from the ESP_INFO keymat index, the
//! ESP keys SA-gl encryption, SA-gl authentication, SA-lg encryption, SA-lg
//! authentication. "gl" is the direction from the host with the greater HIT
//! to the one with the lesser HIT.

use zeroize::Zeroizing;

use super::rhash::Rhash;
use crate::Hit;

/// KEYMAT cannot provide the requested key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("KEYMAT exhausted: {need} octets at index {index}, only {have} derived")]
pub struct KeymatExhausted {
    pub index: usize,
    pub need: usize,
    pub have: usize,
}

/// How much KEYMAT is derived up front: enough for the HIP keys and several
/// rekeyings of the largest ESP suite (RFC 7402 section 7: a rekey without
/// new DH continues from the keymat index).
pub const DEFAULT_KEYMAT_LEN: usize = 1024;

/// Derived key material.
pub struct Keymat {
    bytes: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Keymat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keymat({} octets)", self.bytes.len())
    }
}

/// The two HITs in ascending numeric order, concatenated.
pub fn sorted_hits(a: &Hit, b: &Hit) -> [u8; 32] {
    let (lo, hi) = if a.0 <= b.0 { (a, b) } else { (b, a) };
    let mut o = [0u8; 32];
    o[..16].copy_from_slice(&lo.0);
    o[16..].copy_from_slice(&hi.0);
    o
}

impl Keymat {
    /// HIPv2 KEYMAT (RFC 7401 section 6.5). `None` if `len` is beyond what
    /// HKDF can produce (255 hash blocks).
    pub fn v2(
        rhash: Rhash,
        kij: &[u8],
        hit_i: &Hit,
        hit_r: &Hit,
        i: &[u8],
        j: &[u8],
        len: usize,
    ) -> Option<Self> {
        let mut salt = i.to_vec();
        salt.extend_from_slice(j);
        let info = sorted_hits(hit_i, hit_r);
        rhash.hkdf(&salt, kij, &info, len).map(|b| Keymat {
            bytes: Zeroizing::new(b),
        })
    }

    /// HIPv1 KEYMAT (RFC 5201 section 6.5), SHA-1 based.
    pub fn v1(kij: &[u8], hit_i: &Hit, hit_r: &Hit, i: &[u8], j: &[u8], len: usize) -> Self {
        let sha1 = Rhash::Sha1;
        let mut out = Zeroizing::new(Vec::with_capacity(len + 20));
        let k1 = sha1.digest(&[kij, &sorted_hits(hit_i, hit_r), i, j, &[1]]);
        out.extend_from_slice(&k1);
        let mut prev = k1;
        let mut n: u8 = 2;
        while out.len() < len {
            let k = sha1.digest(&[kij, &prev, &[n]]);
            out.extend_from_slice(&k);
            prev = k;
            n = n.wrapping_add(1);
        }
        out.truncate(len);
        Keymat { bytes: out }
    }

    /// `len` octets starting at `index`.
    pub fn get(&self, index: usize, len: usize) -> Result<&[u8], KeymatExhausted> {
        index
            .checked_add(len)
            .and_then(|end| self.bytes.get(index..end))
            .ok_or(KeymatExhausted {
                index,
                need: len,
                have: self.bytes.len(),
            })
    }

    /// Total derived length.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True if nothing was derived.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Key octets drawn from KEYMAT, held inline (at most `N`) and zeroized on
/// drop. Every association keeps four HIP keys for life; as vectors they
/// were four allocations besides the vectors themselves (issue 16: memory
/// per association).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyBytes<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> KeyBytes<N> {
    /// A copy of `k`; `None` when it is longer than `N`.
    pub fn new(k: &[u8]) -> Option<Self> {
        let mut bytes = [0u8; N];
        bytes.get_mut(..k.len())?.copy_from_slice(k);
        Some(KeyBytes {
            len: u8::try_from(k.len()).ok()?,
            bytes,
        })
    }
}

impl<const N: usize> std::ops::Deref for KeyBytes<N> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl<const N: usize> Drop for KeyBytes<N> {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.bytes);
    }
}

/// Longest encryption key drawn (AES-256: HIP_CIPHER and ESP).
pub const MAX_ENC_KEY: usize = 32;
/// Longest integrity key drawn (HMAC-SHA-384, the ECDSA suite's RHASH).
pub const MAX_INTEG_KEY: usize = 48;

/// An encryption key and an integrity key for one direction.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPair {
    pub enc: KeyBytes<MAX_ENC_KEY>,
    pub integ: KeyBytes<MAX_INTEG_KEY>,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeyPair(enc {} B, integ {} B)",
            self.enc.len(),
            self.integ.len()
        )
    }
}

/// Keys for both directions: `gl` (greater HIT to lesser) and `lg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectionalKeys {
    pub gl: KeyPair,
    pub lg: KeyPair,
}

impl DirectionalKeys {
    /// Draw gl-enc, gl-integ, lg-enc, lg-integ from `index`. Returns the keys
    /// and the index after them. A key longer than [`MAX_ENC_KEY`] or
    /// [`MAX_INTEG_KEY`] (no supported suite has one) is refused as if the
    /// KEYMAT were exhausted.
    pub fn draw(
        km: &Keymat,
        index: usize,
        enc_len: usize,
        integ_len: usize,
    ) -> Result<(Self, usize), KeymatExhausted> {
        let mut at = index;
        let mut take = |n: usize| -> Result<&[u8], KeymatExhausted> {
            let k = km.get(at, n)?;
            at += n;
            Ok(k)
        };
        fn inline<const N: usize>(k: &[u8], at: usize) -> Result<KeyBytes<N>, KeymatExhausted> {
            KeyBytes::new(k).ok_or(KeymatExhausted {
                index: at,
                need: k.len(),
                have: N,
            })
        }
        let gl = KeyPair {
            enc: inline(take(enc_len)?, index)?,
            integ: inline(take(integ_len)?, index)?,
        };
        let lg = KeyPair {
            enc: inline(take(enc_len)?, index)?,
            integ: inline(take(integ_len)?, index)?,
        };
        Ok((DirectionalKeys { gl, lg }, at))
    }

    /// (outgoing, incoming) keys for the host with HIT `local` talking to `peer`.
    pub fn for_local(&self, local: &Hit, peer: &Hit) -> (&KeyPair, &KeyPair) {
        if local.0 > peer.0 {
            (&self.gl, &self.lg)
        } else {
            (&self.lg, &self.gl)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_chain_matches_its_definition() {
        let a = Hit([1; 16]);
        let b = Hit([2; 16]);
        let km = Keymat::v1(b"kij", &b, &a, b"IIIIIIII", b"JJJJJJJJ", 50);
        let mut sorted = vec![1u8; 16];
        sorted.extend_from_slice(&[2; 16]);
        let k1 = Rhash::Sha1.digest(&[b"kij", &sorted, b"IIIIIIII", b"JJJJJJJJ", &[1]]);
        let k2 = Rhash::Sha1.digest(&[b"kij", &k1, &[2]]);
        assert_eq!(km.get(0, 20).unwrap(), &k1[..]);
        assert_eq!(km.get(20, 20).unwrap(), &k2[..]);
        assert!(km.get(40, 11).is_err());
        assert!(km.get(usize::MAX, 2).is_err());
    }

    #[test]
    fn directions_follow_hit_order() {
        let km = Keymat::v2(
            Rhash::Sha256,
            b"k",
            &Hit([9; 16]),
            &Hit([3; 16]),
            b"i",
            b"j",
            200,
        )
        .unwrap();
        let (keys, next) = DirectionalKeys::draw(&km, 0, 16, 32).unwrap();
        assert_eq!(next, 96);
        assert_eq!(&*keys.gl.enc, km.get(0, 16).unwrap());
        assert_eq!(&*keys.lg.integ, km.get(64, 32).unwrap());
        let (out, inn) = keys.for_local(&Hit([9; 16]), &Hit([3; 16]));
        assert_eq!(out, &keys.gl);
        assert_eq!(inn, &keys.lg);
    }
}
