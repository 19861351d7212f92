//! The exact bytes that HIP_MAC, HIP_MAC_2, HIP_SIGNATURE and
//! HIP_SIGNATURE_2 protect (RFC 7401 sections 5.2.12-5.2.15 and 6.4;
//! RFC 5201 sections 5.2.9-5.2.12 and 6.4).
//!
//! Every function takes a packet's bytes and the type of the MAC or
//! signature parameter and returns: the HIP header with Checksum zero and
//! Header Length set to cover what follows, then every parameter whose type
//! is lower than that type, in packet order. The target parameter need not
//! be present, so the same function serves the sender (on the packet built
//! so far) and the receiver (on the whole packet).

use super::header::{Packet, HEADER_LEN};
use super::repr::MAX_PACKET_LEN;
use super::types::ParamType;
use super::{Error, Result};

/// Writes the covered bytes into `out` and returns their length; no heap
/// allocation, so a receiver can check a MAC or signature before parsing
/// (issue 15: dropping costs less than accepting). `Error::TooLong` when
/// they do not fit in `out` or exceed [`MAX_PACKET_LEN`].
fn covered_into(packet: &[u8], below: u16, insert: Option<&[u8]>, out: &mut [u8]) -> Result<usize> {
    covered_placed(packet, below, insert, HostIdPlace::TypeOrder, out)
}

/// Where HIP_MAC_2's inserted HOST_ID goes in the covered bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostIdPlace {
    /// At its place in type order (RFC 7401 section 6.4.1; RFC 5201).
    TypeOrder,
    /// After every covered parameter, whatever their types: HIPL 1.0.8
    /// (`hip_create_msg_pseudo_hmac2` appends it), which differs from type
    /// order only when an R2 carries parameters above HOST_ID's type, such
    /// as REG_RESPONSE or REG_FROM.
    AfterParameters,
}

fn covered_placed(
    packet: &[u8],
    below: u16,
    insert: Option<&[u8]>,
    place: HostIdPlace,
    out: &mut [u8],
) -> Result<usize> {
    let pk = Packet::new_checked(packet)?;
    let mut len = 0;
    let mut put = |b: &[u8]| -> Result<()> {
        let end = len + b.len();
        out.get_mut(len..end)
            .ok_or(Error::TooLong)?
            .copy_from_slice(b);
        len = end;
        Ok(())
    };
    put(&packet[..HEADER_LEN])?;
    let mut inserted = insert.is_none();
    let insert_ty = insert
        .filter(|b| b.len() >= 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]));
    for p in pk.params() {
        let p = p?;
        let ty = p.raw_type();
        if !inserted && place == HostIdPlace::TypeOrder && insert_ty.is_some_and(|it| it < ty) {
            put(insert.unwrap_or_default())?;
            inserted = true;
        }
        if ty < below {
            put(p.as_bytes())?;
        }
    }
    if !inserted {
        put(insert.unwrap_or_default())?;
    }
    if len > MAX_PACKET_LEN {
        return Err(Error::TooLong);
    }
    out[1] = (len / 8 - 1) as u8;
    out[4] = 0;
    out[5] = 0;
    Ok(len)
}

fn covered(packet: &[u8], below: u16, insert: Option<&[u8]>) -> Result<Vec<u8>> {
    let mut out = vec![0; (packet.len() + insert.map_or(0, <[u8]>::len)).min(MAX_PACKET_LEN)];
    let len = covered_into(packet, below, insert, &mut out)?;
    out.truncate(len);
    Ok(out)
}

/// The covered bytes of a MAC or signature parameter of type `below`
/// (optionally with `insert`, as for HIP_MAC_2) written into a caller's
/// stack buffer, for checks made before a packet is parsed.
pub fn into_buffer<'b>(
    packet: &[u8],
    below: ParamType,
    insert: Option<&[u8]>,
    out: &'b mut [u8; MAX_PACKET_LEN],
) -> Result<&'b [u8]> {
    let len = covered_into(packet, below.value(), insert, out)?;
    Ok(&out[..len])
}

/// Bytes covered by HIP_MAC (RFC 7401 section 6.4.1): header and all
/// parameters with a type below HIP_MAC's, checksum zero, length adjusted.
pub fn hip_mac(packet: &[u8]) -> Result<Vec<u8>> {
    covered(packet, ParamType::HipMac.value(), None)
}

/// Bytes covered by HIP_MAC_2 (RFC 7401 section 6.4.1): as HIP_MAC, plus the
/// responder's HOST_ID parameter exactly as it was in R1 (type, length,
/// contents, padding) inserted at its place in type order.
pub fn hip_mac_2(packet: &[u8], responder_host_id_param: &[u8]) -> Result<Vec<u8>> {
    covered(
        packet,
        ParamType::HipMac2.value(),
        Some(responder_host_id_param),
    )
}

/// [`hip_mac_2`] with the HOST_ID at `place`.
pub fn hip_mac_2_placed(
    packet: &[u8],
    responder_host_id_param: &[u8],
    place: HostIdPlace,
) -> Result<Vec<u8>> {
    let mut out = vec![0; (packet.len() + responder_host_id_param.len()).min(MAX_PACKET_LEN)];
    let len = covered_placed(
        packet,
        ParamType::HipMac2.value(),
        Some(responder_host_id_param),
        place,
        &mut out,
    )?;
    out.truncate(len);
    Ok(out)
}

/// [`into_buffer`] for HIP_MAC_2 with the HOST_ID at `place`.
pub fn mac_2_into_buffer<'b>(
    packet: &[u8],
    responder_host_id_param: &[u8],
    place: HostIdPlace,
    out: &'b mut [u8; MAX_PACKET_LEN],
) -> Result<&'b [u8]> {
    let len = covered_placed(
        packet,
        ParamType::HipMac2.value(),
        Some(responder_host_id_param),
        place,
        out,
    )?;
    Ok(&out[..len])
}

/// Bytes covered by HIP_SIGNATURE (RFC 7401 section 6.4.2): header and all
/// parameters with a type below HIP_SIGNATURE's (HIP_MAC included).
pub fn hip_signature(packet: &[u8]) -> Result<Vec<u8>> {
    covered(packet, ParamType::HipSignature.value(), None)
}

/// Bytes covered by HIP_SIGNATURE_2 in R1 (RFC 7401 sections 5.2.15, 6.4.2):
/// as HIP_SIGNATURE but below HIP_SIGNATURE_2's type, with the Receiver's
/// HIT zeroed and PUZZLE's Opaque and Random #I zeroed, so that one signed R1
/// serves every initiator.
pub fn hip_signature_2(packet: &[u8]) -> Result<Vec<u8>> {
    let mut out = covered(packet, ParamType::HipSignature2.value(), None)?;
    out[24..40].fill(0);
    let puzzle = ParamType::Puzzle.value();
    let mut off = HEADER_LEN;
    while off + 4 <= out.len() {
        let ty = u16::from_be_bytes([out[off], out[off + 1]]);
        let len = usize::from(u16::from_be_bytes([out[off + 2], out[off + 3]]));
        let total = super::param::padded_len(len);
        if ty == puzzle && len >= 4 && off + 4 + len <= out.len() {
            // K and Lifetime stay; Opaque (2) and #I (the rest) are zeroed.
            out[off + 6..off + 4 + len].fill(0);
        }
        off += total;
    }
    Ok(out)
}

/// The raw bytes (type, length, contents, padding) of the first parameter
/// of a type, e.g. the HOST_ID of an R1 for a later HIP_MAC_2 computation.
pub fn raw_param(packet: &[u8], ty: ParamType) -> Result<Vec<u8>> {
    let pk = Packet::new_checked(packet)?;
    for p in pk.params() {
        let p = p?;
        if p.raw_type() == ty.value() {
            return Ok(p.as_bytes().to_vec());
        }
    }
    Err(Error::MissingParam(ty.value()))
}

/// Bytes covered by a parameter of type `ty` under the generic rule (header
/// with checksum zero and adjusted length, then every parameter of a lower
/// type), with no field zeroed. cutehip signs its R2 this way under the
/// HIP_SIGNATURE_2 type (see ../shared/interop/cutehip/README.md).
pub fn below(packet: &[u8], ty: u16) -> Result<Vec<u8>> {
    covered(packet, ty, None)
}
