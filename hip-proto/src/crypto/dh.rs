//! Diffie-Hellman for DIFFIE_HELLMAN (RFC 7401 section 5.2.7; RFC 5201
//! section 5.2.6): MODP groups (RFC 3526) and ECDH on NIST P-256/P-384 and
//! X25519 (RFC 9374).
//!
//! Public values have fixed lengths: MODP values are big-endian, padded to
//! the prime's length; ECDH values are X | Y, each padded to the field
//! length, without the 0x04 prefix; X25519 values are the 32-octet
//! u-coordinate. The shared secret Kij is the MODP value g^xy mod p padded
//! to the prime's length, or the X coordinate for ECDH.
//!
//! Sans-IO: the private key is derived from random octets the caller passes.

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Encoding, Uint, U1536, U2048, U3072};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use zeroize::Zeroizing;

use crate::registry::DhGroupId;

/// Why a DH operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhError {
    #[error("DH group {0:?} is not supported")]
    UnsupportedGroup(DhGroupId),
    #[error("need {need} random octets, got {got}")]
    NotEnoughRandom { need: usize, got: usize },
    #[error("the random octets do not give a valid private key; draw new ones")]
    BadRandom,
    #[error("the peer's public value is invalid")]
    InvalidPeerValue,
}

// RFC 3526 primes (generator 2), as OpenSSL's named groups modp_1536/2048/3072.
const MODP_1536_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF",
);
const MODP_2048_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
);
const MODP_3072_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
);

/// Bits of private exponent for the MODP groups: twice the strength target
/// of the largest group (RFC 3526 section 8 suggests 2 x 128 bits for 3072).
const MODP_EXPONENT_BITS: usize = 512;

/// Groups this implementation can compute.
pub fn supported_groups() -> &'static [DhGroupId] {
    &[
        DhGroupId::Modp1536,
        DhGroupId::Modp2048,
        DhGroupId::Modp3072,
        DhGroupId::NistP256,
        DhGroupId::NistP384,
        DhGroupId::Curve25519,
    ]
}

/// Length of a group's public value in octets.
pub fn public_value_len(group: DhGroupId) -> Option<usize> {
    Some(match group {
        DhGroupId::Modp1536 => 192,
        DhGroupId::Modp2048 => 256,
        DhGroupId::Modp3072 => 384,
        DhGroupId::NistP256 => 64,
        DhGroupId::NistP384 => 96,
        DhGroupId::Curve25519 => 32,
        _ => return None,
    })
}

/// Random octets [`DhKeyPair::from_random`] needs for a group.
pub fn random_len(group: DhGroupId) -> Option<usize> {
    Some(match group {
        DhGroupId::Modp1536 | DhGroupId::Modp2048 | DhGroupId::Modp3072 => MODP_EXPONENT_BITS / 8,
        DhGroupId::NistP256 | DhGroupId::Curve25519 => 32,
        DhGroupId::NistP384 => 48,
        _ => return None,
    })
}

#[derive(Clone)]
enum Secret {
    Modp(Zeroizing<Vec<u8>>),
    P256(p256::NonZeroScalar),
    P384(p384::NonZeroScalar),
    X25519(Zeroizing<[u8; 32]>),
}

/// The private half of an ephemeral DH key pair: what an association keeps
/// after its exchange, for a rekey that brings only the peer's new public
/// value (RFC 7402 section 6.10 step 1). Without the public value, which
/// was sent already: its copy was about 100 octets of every association
/// (issue 16: memory per association).
#[derive(Clone)]
pub struct DhSecret {
    group: DhGroupId,
    secret: Secret,
}

impl std::fmt::Debug for DhSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhSecret")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// An ephemeral DH key pair of one group.
#[derive(Clone)]
pub struct DhKeyPair {
    secret: DhSecret,
    public: Vec<u8>,
}

impl std::fmt::Debug for DhKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhKeyPair")
            .field("group", &self.secret.group)
            .finish_non_exhaustive()
    }
}

fn modpow<const L: usize>(p_hex: &str, base: &[u8], exp: &[u8]) -> Vec<u8>
where
    Uint<L>: Encoding,
{
    let p = Uint::<L>::from_be_hex(p_hex);
    let params = DynResidueParams::new(&p);
    let mut b = vec![0u8; Uint::<L>::BYTES];
    b[Uint::<L>::BYTES - base.len()..].copy_from_slice(base);
    let mut e = vec![0u8; Uint::<L>::BYTES];
    e[Uint::<L>::BYTES - exp.len()..].copy_from_slice(exp);
    let base = DynResidue::new(&Uint::<L>::from_be_slice(&b), params);
    let r = base.pow_bounded_exp(&Uint::<L>::from_be_slice(&e), exp.len() * 8);
    r.retrieve().to_be_bytes().as_ref().to_vec()
}

fn modp(group: DhGroupId, base: &[u8], exp: &[u8]) -> Vec<u8> {
    match group {
        DhGroupId::Modp1536 => modpow::<{ U1536::LIMBS }>(MODP_1536_HEX, base, exp),
        DhGroupId::Modp2048 => modpow::<{ U2048::LIMBS }>(MODP_2048_HEX, base, exp),
        _ => modpow::<{ U3072::LIMBS }>(MODP_3072_HEX, base, exp),
    }
}

fn modp_prime(group: DhGroupId) -> Vec<u8> {
    let hex = match group {
        DhGroupId::Modp1536 => MODP_1536_HEX,
        DhGroupId::Modp2048 => MODP_2048_HEX,
        _ => MODP_3072_HEX,
    };
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0))
        .collect()
}

/// Compare two equal-length big-endian numbers.
fn be_less(a: &[u8], b: &[u8]) -> bool {
    a < b
}

impl DhKeyPair {
    /// Derive a key pair from `random` (at least [`random_len`] octets).
    pub fn from_random(group: DhGroupId, random: &[u8]) -> Result<Self, DhError> {
        let need = random_len(group).ok_or(DhError::UnsupportedGroup(group))?;
        if random.len() < need {
            return Err(DhError::NotEnoughRandom {
                need,
                got: random.len(),
            });
        }
        let r = &random[..need];
        let (secret, public) = match group {
            DhGroupId::Modp1536 | DhGroupId::Modp2048 | DhGroupId::Modp3072 => {
                if r.iter().all(|&b| b == 0) {
                    return Err(DhError::BadRandom);
                }
                let public = modp(group, &[2], r);
                (Secret::Modp(Zeroizing::new(r.to_vec())), public)
            }
            DhGroupId::NistP256 => {
                let s = p256::NonZeroScalar::try_from(r).map_err(|_| DhError::BadRandom)?;
                let pt = p256::PublicKey::from_secret_scalar(&s).to_encoded_point(false);
                (Secret::P256(s), pt.as_bytes()[1..].to_vec())
            }
            DhGroupId::NistP384 => {
                let s = p384::NonZeroScalar::try_from(r).map_err(|_| DhError::BadRandom)?;
                let pt = p384::PublicKey::from_secret_scalar(&s).to_encoded_point(false);
                (Secret::P384(s), pt.as_bytes()[1..].to_vec())
            }
            DhGroupId::Curve25519 => {
                let mut k = Zeroizing::new([0u8; 32]);
                k.copy_from_slice(r);
                let public = curve25519_dalek::constants::X25519_BASEPOINT
                    .mul_clamped(*k)
                    .to_bytes()
                    .to_vec();
                (Secret::X25519(k), public)
            }
            other => return Err(DhError::UnsupportedGroup(other)),
        };
        Ok(DhKeyPair {
            secret: DhSecret { group, secret },
            public,
        })
    }

    /// The group.
    pub fn group(&self) -> DhGroupId {
        self.secret.group
    }

    /// The public value as it goes in DIFFIE_HELLMAN.
    pub fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// The private half.
    pub fn secret(&self) -> &DhSecret {
        &self.secret
    }

    /// The private half, the public value dropped.
    pub fn into_secret(self) -> DhSecret {
        self.secret
    }

    /// Compute Kij from the peer's public value ([`DhSecret::agree`]).
    pub fn agree(&self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, DhError> {
        self.secret.agree(peer)
    }
}

impl DhSecret {
    /// The group.
    pub fn group(&self) -> DhGroupId {
        self.group
    }

    /// Compute Kij from the peer's public value, validating it first:
    /// MODP values must satisfy 1 < y < p - 1, ECDH points must be on the
    /// curve, and an all-zero X25519 result is refused.
    pub fn agree(&self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, DhError> {
        let bad = |_| DhError::InvalidPeerValue;
        let want = public_value_len(self.group).ok_or(DhError::UnsupportedGroup(self.group))?;
        // MODP values may arrive without their leading zero octets (cutehip
        // strips them, ../shared/interop/cutehip/README.md item 9): pad.
        let mut padded = [0u8; 384];
        let peer =
            if matches!(self.secret, Secret::Modp(_)) && peer.len() < want && !peer.is_empty() {
                padded[want - peer.len()..want].copy_from_slice(peer);
                &padded[..want]
            } else {
                peer
            };
        if peer.len() != want {
            return Err(DhError::InvalidPeerValue);
        }
        let out = match &self.secret {
            Secret::Modp(x) => {
                let p = modp_prime(self.group);
                let mut p_minus_1 = p.clone();
                if let Some(last) = p_minus_1.last_mut() {
                    *last -= 1; // p is odd
                }
                let mut one = vec![0u8; p.len()];
                if let Some(last) = one.last_mut() {
                    *last = 1;
                }
                if !be_less(&one, peer) || !be_less(peer, &p_minus_1) {
                    return Err(DhError::InvalidPeerValue);
                }
                modp(self.group, peer, x)
            }
            Secret::P256(s) => {
                let mut sec1 = vec![4u8];
                sec1.extend_from_slice(peer);
                let pk = p256::PublicKey::from_sec1_bytes(&sec1).map_err(bad)?;
                let ss = p256::ecdh::diffie_hellman(s, pk.as_affine());
                ss.raw_secret_bytes().to_vec()
            }
            Secret::P384(s) => {
                let mut sec1 = vec![4u8];
                sec1.extend_from_slice(peer);
                let pk = p384::PublicKey::from_sec1_bytes(&sec1).map_err(bad)?;
                let ss = p384::ecdh::diffie_hellman(s, pk.as_affine());
                ss.raw_secret_bytes().to_vec()
            }
            Secret::X25519(k) => {
                let mut u = [0u8; 32];
                u.copy_from_slice(peer);
                let out = curve25519_dalek::montgomery::MontgomeryPoint(u)
                    .mul_clamped(**k)
                    .to_bytes();
                if out == [0u8; 32] {
                    return Err(DhError::InvalidPeerValue);
                }
                out.to_vec()
            }
        };
        Ok(Zeroizing::new(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rnd(seed: u8, n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1)
            .collect()
    }

    #[test]
    fn both_sides_agree_in_every_group() {
        for &g in supported_groups() {
            let n = random_len(g).unwrap();
            let a = DhKeyPair::from_random(g, &rnd(1, n)).unwrap();
            let b = DhKeyPair::from_random(g, &rnd(7, n)).unwrap();
            assert_eq!(
                a.public_value().len(),
                public_value_len(g).unwrap(),
                "{g:?}"
            );
            let k1 = a.agree(b.public_value()).unwrap();
            let k2 = b.agree(a.public_value()).unwrap();
            assert_eq!(*k1, *k2, "{g:?}");
            assert_ne!(a.public_value(), b.public_value());
        }
    }

    #[test]
    fn modp_primes_are_safe_primes() {
        // Fermat test with base 2 on p: 2^(p-1) = 1 mod p. A typo in a
        // constant would fail this with overwhelming probability.
        for g in [
            DhGroupId::Modp1536,
            DhGroupId::Modp2048,
            DhGroupId::Modp3072,
        ] {
            let mut e = modp_prime(g);
            *e.last_mut().unwrap() -= 1;
            let r = modp(g, &[2], &e);
            assert!(r.iter().rev().skip(1).all(|&b| b == 0), "{g:?}");
            assert_eq!(*r.last().unwrap(), 1, "{g:?}");
        }
    }

    #[test]
    fn invalid_peer_values_are_refused() {
        let a = DhKeyPair::from_random(DhGroupId::Modp1536, &rnd(3, 64)).unwrap();
        let mut one = vec![0u8; 192];
        one[191] = 1;
        assert_eq!(a.agree(&one).unwrap_err(), DhError::InvalidPeerValue);
        assert_eq!(
            a.agree(&modp_prime(DhGroupId::Modp1536)).unwrap_err(),
            DhError::InvalidPeerValue
        );
        // A short MODP value is a value without its leading zeros.
        let b = DhKeyPair::from_random(DhGroupId::Modp1536, &rnd(9, 64)).unwrap();
        let mut short = b.public_value().to_vec();
        short[0] = 0;
        let k_short = a.agree(&short[1..]).unwrap();
        assert_eq!(*k_short, *a.agree(&short).unwrap());
        assert_eq!(a.agree(&[0; 200]).unwrap_err(), DhError::InvalidPeerValue);
        let e = DhKeyPair::from_random(DhGroupId::NistP256, &rnd(3, 32)).unwrap();
        assert_eq!(e.agree(&[1; 64]).unwrap_err(), DhError::InvalidPeerValue);
        let x = DhKeyPair::from_random(DhGroupId::Curve25519, &rnd(3, 32)).unwrap();
        assert_eq!(x.agree(&[0; 32]).unwrap_err(), DhError::InvalidPeerValue);
        assert!(matches!(
            DhKeyPair::from_random(DhGroupId::NistP384, &[1; 3]),
            Err(DhError::NotEnoughRandom { .. })
        ));
        assert_eq!(
            DhKeyPair::from_random(DhGroupId::NistP256, &[0xff; 32]).unwrap_err(),
            DhError::BadRandom
        );
        assert!(matches!(
            DhKeyPair::from_random(DhGroupId::Modp384, &[1; 64]),
            Err(DhError::UnsupportedGroup(_))
        ));
    }
}
