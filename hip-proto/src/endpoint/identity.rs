//! Local Host Identities and what each contributes to packets: the HIT
//! (ORCHIDv2, RFC 7343, for HIPv2; ORCHIDv1, RFC 4843, for HIPv1), the HOST_ID
//! parameter in the layout of its version (RFC 7401 section 5.2.9, RFC 5201
//! section 5.2.8) and the signature rules (RFC 7401 section 5.2.14, RFC 5201
//! section 5.2.11).

use crate::crypto::hi::{HostIdPublic, HostIdentity};
use crate::crypto::orchid::{hit_v1, hit_v2, OrchidError};
use crate::crypto::sign::SignatureScheme;
use crate::registry::{DiType, Version};
use crate::wire::{HostId, HostIdLayout, ParamRepr, SigAlgField};
use crate::Hit;

/// Why an identity cannot be used for the base exchange.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The HIT could not be computed.
    #[error(transparent)]
    Orchid(#[from] OrchidError),
    /// The HIT suite's RHASH is not implemented (EdDSA/cSHAKE128, RFC 9374).
    #[error("HIT suite without an implemented RHASH (EdDSA/cSHAKE128 needs cSHAKE128/KMAC128)")]
    NoRhash,
    /// RFC 5201 defines no signature encoding for this key type.
    #[error("HIPv1 (RFC 5201) has no signature encoding for this key type")]
    NoV1Signature,
}

/// One local Host Identity bound to one HIP version.
#[derive(Debug, Clone)]
pub struct LocalIdentity {
    /// The private key.
    pub hi: HostIdentity,
    /// Its HIT (ORCHIDv1 for `V1`, ORCHIDv2 for `V2`).
    pub hit: Hit,
    /// The HIP version this identity speaks.
    pub version: Version,
}

impl LocalIdentity {
    /// Binds `hi` to `version` and computes its HIT. Refused: a v2 identity
    /// whose HIT suite has no RHASH here (EdDSA/cSHAKE128 of RFC 9374 would
    /// need cSHAKE128 and KMAC128 as RHASH and HMAC), and v1 keys RFC 5201 has
    /// no signature encoding for (Ed25519, P-384).
    pub fn new(hi: HostIdentity, version: Version) -> Result<Self, IdentityError> {
        let hit = match version {
            Version::V1 => {
                if matches!(
                    hi.public(),
                    HostIdPublic::Ed25519(_) | HostIdPublic::EcdsaP384(_)
                ) {
                    return Err(IdentityError::NoV1Signature);
                }
                hit_v1(hi.public())
            }
            _ => hit_v2(hi.public())?,
        };
        if version != Version::V1
            && crate::endpoint::r1_generation::rhash_for(version, &hit).is_none()
        {
            return Err(IdentityError::NoRhash);
        }
        Ok(LocalIdentity { hi, hit, version })
    }

    /// The HOST_ID parameter: RFC 7401 layout for v2; the RFC 5201 DNSKEY
    /// layout (flags 0x0202, protocol 0xFF) for v1, as HIPL expects.
    pub fn host_id_param(&self) -> ParamRepr {
        host_id_param(self.hi.public(), self.version)
    }

    /// The signature scheme of this identity's version.
    pub fn scheme(&self) -> SignatureScheme {
        scheme(self.version)
    }

    /// The algorithm field of HIP_SIGNATURE(_2) for this identity's version.
    pub fn sig_alg(&self) -> SigAlgField {
        sig_alg(self.hi.public(), self.version)
    }
}

/// HOST_ID of a public key for a version.
pub fn host_id_param(public: &HostIdPublic, version: Version) -> ParamRepr {
    let layout = match version {
        Version::V1 => HostIdLayout::Rfc5201 {
            flags: 0x0202,
            protocol: 0xff,
        },
        _ => HostIdLayout::Rfc7401,
    };
    ParamRepr::HostId(HostId {
        layout,
        algorithm: public.algorithm(),
        hi: public.to_hi_bytes(),
        di_type: DiType::None,
        di: Vec::new(),
    })
}

/// Signature rules per version: RFC 5201 (SHA-1, HIPL's ECDSA encoding) for v1.
pub fn scheme(version: Version) -> SignatureScheme {
    match version {
        Version::V1 => SignatureScheme::Rfc5201,
        _ => SignatureScheme::Rfc7401,
    }
}

/// HIP_SIGNATURE algorithm field: one octet in v1, two in v2.
pub fn sig_alg(public: &HostIdPublic, version: Version) -> SigAlgField {
    let alg = public.algorithm().value();
    match version {
        Version::V1 => SigAlgField::OneOctet(alg as u8),
        _ => SigAlgField::TwoOctets(alg),
    }
}

/// The peer's public key from a HOST_ID parameter.
pub fn peer_public(h: &HostId) -> Result<HostIdPublic, crate::crypto::hi::HiError> {
    HostIdPublic::from_hi_bytes(h.algorithm, &h.hi)
}
