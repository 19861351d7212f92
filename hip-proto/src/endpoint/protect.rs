//! Building and checking the integrity protection of HIP packets: HIP_MAC /
//! HIP_MAC_2 (RFC 7401 sections 5.2.12-5.2.13, 6.4.1) and HIP_SIGNATURE /
//! HIP_SIGNATURE_2 (sections 5.2.14-5.2.15, 6.4.2), the checksum (section 5.1.1;
//! zero over UDP, RFC 5770 section 5.1), and the caller's randomness as an RNG.

use std::net::IpAddr;

use rand_core::{CryptoRng, RngCore};

use super::counters::DropReason;
use super::identity::LocalIdentity;
use super::random::RandomSource;
use crate::crypto::hi::HostIdPublic;
use crate::crypto::mac;
use crate::crypto::rhash::Rhash;
use crate::crypto::sign::SignatureScheme;
use crate::wire::{
    checksum, cover, HipRepr, Packet, ParamRepr, ParamType, Signature, MAX_PACKET_LEN,
};

/// The caller's [`RandomSource`] as a `rand_core` RNG (RSASSA-PSS salts).
pub struct CallerRng<'a>(pub &'a mut dyn RandomSource);

impl RngCore for CallerRng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.0.fill(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

impl CryptoRng for CallerRng<'_> {}

/// Why a packet could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The packet does not encode (too long).
    #[error("encoding: {0}")]
    Wire(#[from] crate::wire::Error),
    /// Signing failed.
    #[error("signing: {0}")]
    Sign(#[from] crate::crypto::sign::SignError),
}

/// Appends HIP_MAC (RFC 7401 section 6.4.1) keyed with `key`.
pub fn append_mac(repr: &mut HipRepr, rhash: Rhash, key: &[u8]) -> Result<(), BuildError> {
    let covered = cover::hip_mac(&repr.to_bytes()?)?;
    repr.insert_ordered(ParamRepr::HipMac(mac::compute(rhash, key, &covered)));
    Ok(())
}

/// Appends HIP_MAC_2: as HIP_MAC plus the sender's HOST_ID parameter as
/// sent in R1, inserted at `place`.
pub fn append_mac_2(
    repr: &mut HipRepr,
    rhash: Rhash,
    key: &[u8],
    host_id_raw: &[u8],
    place: cover::HostIdPlace,
) -> Result<(), BuildError> {
    let covered = cover::hip_mac_2_placed(&repr.to_bytes()?, host_id_raw, place)?;
    repr.insert_ordered(ParamRepr::HipMac2(mac::compute(rhash, key, &covered)));
    Ok(())
}

/// Appends HIP_SIGNATURE (or, with `sig2`, HIP_SIGNATURE_2 under the generic
/// coverage rule that cutehip uses outside R1).
pub fn append_signature(
    repr: &mut HipRepr,
    id: &LocalIdentity,
    sig2: bool,
    random: &mut dyn RandomSource,
) -> Result<(), BuildError> {
    let bytes = repr.to_bytes()?;
    let (covered, wrap): (_, fn(Signature) -> ParamRepr) = if sig2 {
        (
            cover::below(&bytes, ParamType::HipSignature2.value())?,
            ParamRepr::HipSignature2,
        )
    } else {
        (cover::hip_signature(&bytes)?, ParamRepr::HipSignature)
    };
    let sig = id.hi.sign(&covered, id.scheme(), &mut CallerRng(random))?;
    repr.insert_ordered(wrap(Signature {
        alg: id.sig_alg(),
        signature: sig,
    }));
    Ok(())
}

/// Emits with the checksum for these locators, or zero when sent over UDP.
pub fn emit(repr: &HipRepr, src: IpAddr, dst: IpAddr, udp: bool) -> Result<Vec<u8>, BuildError> {
    if udp {
        Ok(repr.to_bytes()?)
    } else {
        Ok(repr.to_bytes_with_checksum(src, dst)?)
    }
}

/// Verifies a MAC parameter of type `ty` from the packet bytes alone (constant
/// time, no heap allocation: the covered bytes go to a stack buffer), so it
/// can run before the packet is parsed.
fn check_mac_param(
    bytes: &[u8],
    ty: ParamType,
    insert: Option<&[u8]>,
    rhash: Rhash,
    key: &[u8],
) -> Result<(), DropReason> {
    let tag = mac_tag(bytes, ty)?;
    let mut buf = [0u8; MAX_PACKET_LEN];
    let covered =
        cover::into_buffer(bytes, ty, insert, &mut buf).map_err(|_| DropReason::Malformed)?;
    verify_tag(rhash, key, covered, tag)
}

/// The contents of the packet's first parameter of type `ty`.
fn mac_tag(bytes: &[u8], ty: ParamType) -> Result<&[u8], DropReason> {
    let pk = Packet::new_checked(bytes).map_err(|_| DropReason::Malformed)?;
    let tag = pk
        .params()
        .map_while(Result::ok)
        .find(|p| p.raw_type() == ty.value())
        .ok_or(DropReason::BadMac)?;
    let range = tag.offset() + 4..tag.offset() + 4 + tag.contents().len();
    bytes.get(range).ok_or(DropReason::Malformed)
}

fn verify_tag(rhash: Rhash, key: &[u8], covered: &[u8], tag: &[u8]) -> Result<(), DropReason> {
    if mac::verify(rhash, key, covered, tag) {
        Ok(())
    } else {
        Err(DropReason::BadMac)
    }
}

/// Verifies RELAY_HMAC with `key` (RFC 9028 section 5.8: computed like
/// RVS_HMAC over the packet below it), from the bytes alone.
pub fn check_relay_hmac(bytes: &[u8], rhash: Rhash, key: &[u8]) -> Result<(), DropReason> {
    check_mac_param(bytes, ParamType::RelayHmac, None, rhash, key)
}

/// Verifies HIP_MAC with `key` (RFC 7401 section 6.4.1).
pub fn check_mac(bytes: &[u8], rhash: Rhash, key: &[u8]) -> Result<(), DropReason> {
    check_mac_param(bytes, ParamType::HipMac, None, rhash, key)
}

/// Verifies HIP_MAC_2 with `key` and the sender's R1 HOST_ID parameter
/// (RFC 7401 section 6.4.1) inserted at `place`.
pub fn check_mac_2(
    bytes: &[u8],
    rhash: Rhash,
    key: &[u8],
    host_id_raw: &[u8],
    place: cover::HostIdPlace,
) -> Result<(), DropReason> {
    let tag = mac_tag(bytes, ParamType::HipMac2)?;
    let mut buf = [0u8; MAX_PACKET_LEN];
    let covered = cover::mac_2_into_buffer(bytes, host_id_raw, place, &mut buf)
        .map_err(|_| DropReason::Malformed)?;
    verify_tag(rhash, key, covered, tag)
}

/// Verifies HIP_SIGNATURE, or HIP_SIGNATURE_2 when `allow_sig2` (cutehip's R2;
/// R1 uses [`check_r1_signature`]).
pub fn check_signature(
    bytes: &[u8],
    repr: &HipRepr,
    peer: &HostIdPublic,
    scheme: SignatureScheme,
    allow_sig2: bool,
) -> Result<(), DropReason> {
    let (sig, covered) = match (
        repr.param(ParamType::HipSignature),
        repr.param(ParamType::HipSignature2),
    ) {
        (Some(ParamRepr::HipSignature(s)), _) => (s, cover::hip_signature(bytes)),
        (_, Some(ParamRepr::HipSignature2(s))) if allow_sig2 => {
            (s, cover::below(bytes, ParamType::HipSignature2.value()))
        }
        _ => return Err(DropReason::BadSignature),
    };
    let covered = covered.map_err(|_| DropReason::Malformed)?;
    peer.verify(&covered, &sig.signature, scheme)
        .map_err(|_| DropReason::BadSignature)
}

/// Verifies an R1's HIP_SIGNATURE_2 (receiver HIT and puzzle #I/Opaque zeroed).
pub fn check_r1_signature(
    bytes: &[u8],
    repr: &HipRepr,
    peer: &HostIdPublic,
    scheme: SignatureScheme,
) -> Result<(), DropReason> {
    let Some(ParamRepr::HipSignature2(sig)) = repr.param(ParamType::HipSignature2) else {
        return Err(DropReason::BadSignature);
    };
    let covered = cover::hip_signature_2(bytes).map_err(|_| DropReason::Malformed)?;
    peer.verify(&covered, &sig.signature, scheme)
        .map_err(|_| DropReason::BadSignature)
}

/// Verifies the HIP checksum (RFC 7401 section 6.1); UDP-encapsulated packets
/// carry zero (RFC 5770 section 5.1) and are covered by the UDP checksum.
pub fn check_checksum(bytes: &[u8], src: IpAddr, dst: IpAddr, udp: bool) -> Result<(), DropReason> {
    if udp || checksum::verify(bytes, src, dst) {
        Ok(())
    } else {
        Err(DropReason::BadChecksum)
    }
}
