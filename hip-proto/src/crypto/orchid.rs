//! HIT generation: ORCHIDv2 (RFC 7343) for HIPv2 and ORCHIDv1 (RFC 4843)
//! for HIPv1 and HIPL.
//!
//! ORCHIDv2 := Prefix (2001:20::/28) | OGA ID (4 bits, the HIT suite) |
//!             Encode_96(Hash(Context ID | Input))
//! ORCHIDv1 := Prefix (2001:10::/28) | Encode_100(SHA-1(Context ID | Input))
//! Encode_n takes the middle n bits of the hash output. Input is the HOST_ID
//! "Host Identity" field (RFC 7401 section 3), i.e. the key encoding without
//! the algorithm field (v2) or DNSKEY header (v1, as HIPL computes it).
//!
//! The EdDSA suite (OGA ID 5) uses cSHAKE128 instead (RFC 9374 section 3.5):
//! Hash := cSHAKE128(Input, 96, "", Context ID) with
//! Input := Prefix | OGA ID | Host Identity; no Encode step.

use ring::digest;

use super::hi::HostIdPublic;
use crate::hit::Hit;
use crate::registry::HitSuiteId;

/// The HIT context ID (RFC 7401 section 3; RFC 4843 section 2).
pub const HIT_CONTEXT_ID: [u8; 16] = [
    0xF0, 0xEF, 0xF0, 0x2F, 0xBF, 0xF4, 0x3D, 0x0F, 0xE7, 0x93, 0x0C, 0x3C, 0x6E, 0x61, 0x74, 0xEA,
];

/// Why a HIT could not be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OrchidError {
    /// Kept for HIT suites added to the registry later.
    #[error("HIT suite {0:?} needs a hash this build does not provide (cSHAKE128)")]
    UnsupportedSuite(HitSuiteId),
}

fn hash(alg: &'static digest::Algorithm, input: &[u8]) -> digest::Digest {
    let mut c = digest::Context::new(alg);
    c.update(&HIT_CONTEXT_ID);
    c.update(input);
    c.finish()
}

/// Copy `n` bits of `src` starting at bit `from` into `dst` starting at bit `to`.
fn copy_bits(src: &[u8], from: usize, dst: &mut [u8], to: usize, n: usize) {
    for k in 0..n {
        let s = from + k;
        let bit = (src[s / 8] >> (7 - s % 8)) & 1;
        let d = to + k;
        dst[d / 8] = (dst[d / 8] & !(0x80 >> (d % 8))) | (bit << (7 - d % 8));
    }
}

/// The ORCHIDv2 HIT of a Host Identity (RFC 7343, OGA ID = HIT suite).
pub fn hit_v2(hi: &HostIdPublic) -> Result<Hit, OrchidError> {
    let suite = hi.hit_suite();
    if suite == HitSuiteId::EdDsaCshake128 {
        return Ok(hit_v2_cshake(hi));
    }
    let alg = match suite {
        HitSuiteId::RsaDsaSha256 => &digest::SHA256,
        HitSuiteId::EcdsaSha384 => &digest::SHA384,
        HitSuiteId::EcdsaLowSha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        other => return Err(OrchidError::UnsupportedSuite(other)),
    };
    let h = hash(alg, &hi.to_hi_bytes());
    let h = h.as_ref();
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&Hit::ORCHID_V2_PREFIX);
    out[3] |= suite.value() & 0x0f;
    copy_bits(h, (h.len() * 8 - 96) / 2, &mut out, 32, 96);
    Ok(Hit(out))
}

/// ORCHIDv2 with cSHAKE128 (RFC 9374 section 3.5) for the EdDSA suite.
fn hit_v2_cshake(hi: &HostIdPublic) -> Hit {
    use sha3::digest::{ExtendableOutput, Update, XofReader};
    let mut head = Hit::ORCHID_V2_PREFIX;
    head[3] |= HitSuiteId::EdDsaCshake128.value() & 0x0f;
    let core = sha3::CShake128Core::new_with_function_name(b"", &HIT_CONTEXT_ID);
    let mut h = sha3::CShake128::from_core(core);
    h.update(&head);
    h.update(&hi.to_hi_bytes());
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&head);
    h.finalize_xof().read(&mut out[4..]);
    Hit(out)
}

/// The ORCHIDv1 HIT of a Host Identity (RFC 4843), as HIPv1 and HIPL use.
pub fn hit_v1(hi: &HostIdPublic) -> Hit {
    let h = hash(&digest::SHA1_FOR_LEGACY_USE_ONLY, &hi.to_hi_bytes());
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&Hit::ORCHID_V1_PREFIX);
    copy_bits(h.as_ref(), 30, &mut out, 28, 100);
    Hit(out)
}

/// True if `hit` is the ORCHIDv1 or ORCHIDv2 HIT of `hi`, whichever prefix
/// the HIT carries (RFC 7401 section 6.5: the HIT must match the HI).
pub fn verify_hit(hit: &Hit, hi: &HostIdPublic) -> bool {
    use crate::hit::OrchidVersion;
    match hit.orchid_version() {
        Some(OrchidVersion::V1) => hit_v1(hi) == *hit,
        Some(OrchidVersion::V2) => hit_v2(hi).is_ok_and(|h| h == *hit),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eddsa_hits_use_oga_5_and_verify() {
        use crate::crypto::hi::{HostIdentity, KeySpec};
        let id = HostIdentity::generate(KeySpec::Ed25519, &mut rand_core::OsRng).unwrap();
        let hit = hit_v2(id.public()).unwrap();
        assert_eq!(hit.oga_id(), Some(5));
        assert!(verify_hit(&hit, id.public()));
        let other = HostIdentity::generate(KeySpec::Ed25519, &mut rand_core::OsRng).unwrap();
        assert!(!verify_hit(&hit, other.public()));
    }

    #[test]
    fn copy_bits_is_bit_exact() {
        let src = [0b1010_1100, 0b0101_0011];
        let mut dst = [0xff, 0x00];
        copy_bits(&src, 2, &mut dst, 4, 8);
        assert_eq!(dst, [0b1111_1011, 0b0001_0000]);
    }
}
