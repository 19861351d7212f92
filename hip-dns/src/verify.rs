//! The Host Identity in a HIP RR, and the check that its HIT is the ORCHID of
//! that HI (RFC 8005 section 4.1: a host MUST compute the HIT from the HI and
//! use the stored one only as an optimisation).
//!
//! The Public Key field uses the IPSECKEY formats (RFC 8005 section 5.5),
//! which are the HOST_ID "Host Identity" field (RFC 7401 section 5.2.9) for
//! RSA and DSA but drop the curve field for ECDSA and EdDSA: the curve is
//! given by the key length instead.
//!
//! | PK algorithm | Public Key field                | HOST_ID Host Identity       |
//! |--------------|---------------------------------|-----------------------------|
//! | 1 DSA        | RFC 2536 (T Q P G Y)            | the same                    |
//! | 2 RSA        | RFC 3110 (e length, e, n)       | the same                    |
//! | 3 ECDSA      | RFC 6605: X \| Y (64 or 96)     | curve (1 / 2) \| 04 \| X \| Y |
//! | 4 EdDSA      | RFC 8080: key (32 Ed25519)      | curve 1 \| key              |

use hip_proto::crypto::hi::{HiError, HostIdPublic};
use hip_proto::crypto::orchid;
use hip_proto::hit::OrchidVersion;
use hip_proto::registry::{EcdsaCurve, EdDsaCurve, HiAlgorithm};
use hip_proto::Hit;

use crate::hip_rr::{HipRdata, PkAlgorithm};

/// Why a HIP RR's Host Identity is unusable or does not match its HIT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A PK algorithm HIP cannot use (none, or unassigned).
    #[error("PK algorithm {0:?} is not usable as a Host Identity")]
    UnsupportedAlgorithm(PkAlgorithm),
    /// An ECDSA or EdDSA key whose length names no supported curve.
    #[error("a {alg:?} public key of {len} octets names no supported curve")]
    UnsupportedKeyLength {
        /// The PK algorithm.
        alg: PkAlgorithm,
        /// The Public Key field length.
        len: usize,
    },
    /// The key bytes are not a valid key of their algorithm.
    #[error("bad public key: {0}")]
    Key(#[from] HiError),
    /// The HIT is neither an ORCHIDv1 (2001:10::/28) nor ORCHIDv2
    /// (2001:20::/28).
    #[error("HIT {0} is not an ORCHID")]
    NotOrchid(Hit),
    /// The HIT is not the ORCHID of the Host Identity.
    #[error("HIT {stored} does not match the Host Identity (computed {computed})")]
    HitMismatch {
        /// The HIT in the record.
        stored: Hit,
        /// The HIT computed from the record's HI, of the stored HIT's ORCHID version.
        computed: Hit,
    },
}

/// The Host Identity in a HIP RR's Public Key field (RFC 8005 section 5.5).
pub fn host_identity(r: &HipRdata) -> Result<HostIdPublic, VerifyError> {
    let pk = r.public_key.as_slice();
    let (alg, hi): (HiAlgorithm, Vec<u8>) = match r.pk_algorithm {
        PkAlgorithm::Dsa => (HiAlgorithm::Dsa, pk.to_vec()),
        PkAlgorithm::Rsa => (HiAlgorithm::Rsa, pk.to_vec()),
        PkAlgorithm::Ecdsa => {
            let curve = match pk.len() {
                64 => EcdsaCurve::NistP256,
                96 => EcdsaCurve::NistP384,
                len => {
                    return Err(VerifyError::UnsupportedKeyLength {
                        alg: r.pk_algorithm,
                        len,
                    })
                }
            };
            let mut hi = curve.value().to_be_bytes().to_vec();
            hi.push(0x04);
            hi.extend_from_slice(pk);
            (HiAlgorithm::Ecdsa, hi)
        }
        PkAlgorithm::EdDsa => {
            if pk.len() != 32 {
                return Err(VerifyError::UnsupportedKeyLength {
                    alg: r.pk_algorithm,
                    len: pk.len(),
                });
            }
            let mut hi = EdDsaCurve::Ed25519.value().to_be_bytes().to_vec();
            hi.extend_from_slice(pk);
            (HiAlgorithm::EdDsa, hi)
        }
        other => return Err(VerifyError::UnsupportedAlgorithm(other)),
    };
    Ok(HostIdPublic::from_hi_bytes(alg, &hi)?)
}

/// The PK algorithm and Public Key field that carry `hi` (the inverse of
/// [`host_identity`]).
pub fn public_key_field(hi: &HostIdPublic) -> (PkAlgorithm, Vec<u8>) {
    let b = hi.to_hi_bytes();
    match hi {
        HostIdPublic::Rsa(_) => (PkAlgorithm::Rsa, b),
        HostIdPublic::Dsa { .. } => (PkAlgorithm::Dsa, b),
        // Curve (2 octets) and the 0x04 uncompressed-point tag dropped.
        HostIdPublic::EcdsaP256(_) | HostIdPublic::EcdsaP384(_) => {
            (PkAlgorithm::Ecdsa, b[3..].to_vec())
        }
        // Curve (2 octets) dropped.
        HostIdPublic::Ed25519(_) => (PkAlgorithm::EdDsa, b[2..].to_vec()),
    }
}

/// Check that the record's HIT is the ORCHID of its HI, of the version the
/// HIT's prefix says (ORCHIDv1 RFC 4843, ORCHIDv2 RFC 7343); returns that
/// version and the Host Identity.
pub fn verify_hit(r: &HipRdata) -> Result<(OrchidVersion, HostIdPublic), VerifyError> {
    let hi = host_identity(r)?;
    let stored = Hit(r.hit);
    let version = stored
        .orchid_version()
        .ok_or(VerifyError::NotOrchid(stored))?;
    let computed = match version {
        OrchidVersion::V1 => orchid::hit_v1(&hi),
        // An HI whose suite has no ORCHIDv2 hash cannot have made this HIT.
        OrchidVersion::V2 => orchid::hit_v2(&hi).map_err(|_| VerifyError::HitMismatch {
            stored,
            computed: Hit::NULL,
        })?,
    };
    if computed != stored {
        return Err(VerifyError::HitMismatch { stored, computed });
    }
    Ok((version, hi))
}

impl HipRdata {
    /// The RDATA that publishes `hi` with its `hit` and rendezvous servers;
    /// fails if `hit` is not an ORCHID of `hi`.
    pub fn for_identity(
        hi: &HostIdPublic,
        hit: Hit,
        rendezvous_servers: Vec<hickory_proto::rr::Name>,
    ) -> Result<Self, VerifyError> {
        let (pk_algorithm, public_key) = public_key_field(hi);
        let r = HipRdata {
            pk_algorithm,
            hit: hit.0,
            public_key,
            rendezvous_servers,
        };
        verify_hit(&r)?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hip_proto::crypto::hi::{HostIdentity, KeySpec};

    fn ids() -> Vec<HostIdentity> {
        let mut rng = rand_core::OsRng;
        vec![
            HostIdentity::generate(KeySpec::Ed25519, &mut rng).unwrap(),
            HostIdentity::generate(KeySpec::EcdsaP256, &mut rng).unwrap(),
            HostIdentity::generate(KeySpec::EcdsaP384, &mut rng).unwrap(),
            HostIdentity::generate(KeySpec::Rsa(2048), &mut rng).unwrap(),
        ]
    }

    #[test]
    fn v1_and_v2_hits_verify_for_every_key_type() {
        for id in ids() {
            let hi = id.public();
            for (hit, v) in [
                (orchid::hit_v2(hi).unwrap(), OrchidVersion::V2),
                (orchid::hit_v1(hi), OrchidVersion::V1),
            ] {
                let r = HipRdata::for_identity(hi, hit, vec![]).unwrap();
                let wire = r.emit().unwrap();
                let back = HipRdata::parse(&wire).unwrap();
                let (version, got) = verify_hit(&back).unwrap();
                assert_eq!(version, v);
                assert_eq!(&got, hi);
            }
        }
    }

    #[test]
    fn key_field_formats_follow_rfc8005_5_5() {
        for id in ids() {
            let (alg, pk) = public_key_field(id.public());
            match id.public() {
                HostIdPublic::EcdsaP256(_) => assert_eq!((alg, pk.len()), (PkAlgorithm::Ecdsa, 64)),
                HostIdPublic::EcdsaP384(_) => assert_eq!((alg, pk.len()), (PkAlgorithm::Ecdsa, 96)),
                HostIdPublic::Ed25519(_) => assert_eq!((alg, pk.len()), (PkAlgorithm::EdDsa, 32)),
                HostIdPublic::Rsa(_) => {
                    assert_eq!(alg, PkAlgorithm::Rsa);
                    assert_eq!(pk, id.public().to_hi_bytes());
                }
                HostIdPublic::Dsa { .. } => unreachable!("not generated"),
            }
        }
    }

    #[test]
    fn wrong_hit_or_key_is_an_error() {
        let ids = ids();
        let a = ids[0].public();
        let b = ids[1].public();
        let hit_b = orchid::hit_v2(b).unwrap();
        assert!(matches!(
            HipRdata::for_identity(a, hit_b, vec![]),
            Err(VerifyError::HitMismatch { .. })
        ));
        let mut r = HipRdata::for_identity(a, orchid::hit_v2(a).unwrap(), vec![]).unwrap();
        r.hit[15] ^= 1;
        assert!(matches!(
            verify_hit(&r),
            Err(VerifyError::HitMismatch { .. })
        ));
        r.hit = [0xfe; 16];
        assert!(matches!(verify_hit(&r), Err(VerifyError::NotOrchid(_))));
        r.public_key.pop();
        assert!(matches!(
            verify_hit(&r),
            Err(VerifyError::UnsupportedKeyLength { len: 31, .. })
        ));
        r.pk_algorithm = PkAlgorithm::Unknown(9);
        assert!(matches!(
            verify_hit(&r),
            Err(VerifyError::UnsupportedAlgorithm(_))
        ));
    }

    /// The RFC 8005 section 7 example: an RSA key with an ORCHIDv1 HIT. The
    /// key parses, but the example's HIT is not the ORCHIDv1 of that key (the
    /// RFC's values are illustrative), so the record must be refused.
    #[test]
    fn rfc8005_example_key() {
        let r = HipRdata::from_presentation(
            "HIP ( 2 200100107B1A74DF365639CC39F1D578 AwEAAbdxyhNuSutc5EMzxTs9LBPCIkOFH8cIvM4p9+LrV4e19WzK00+CI6zBCQTdtWsuxKbWIy87UOoJTwkUs7lBu+Upr1gsNrut79ryra+bSRGQb1slImA8YVJyuIDsj7kwzG7jnERNqnWxZ48AWkskmdHaVDP4BcelrTI3rMXdXF5D )",
        )
        .unwrap();
        assert!(matches!(host_identity(&r), Ok(HostIdPublic::Rsa(_))));
        match verify_hit(&r) {
            Err(VerifyError::HitMismatch { stored, computed }) => {
                assert_eq!(stored, Hit(r.hit));
                assert_eq!(computed.orchid_version(), Some(OrchidVersion::V1));
            }
            other => panic!("expected a HIT mismatch, got {other:?}"),
        }
    }
}
