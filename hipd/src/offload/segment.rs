//! GSO in userspace: splitting a TUN super-packet into IP packets.
//!
//! Follows wireguard-go's `handleVirtioRead`/`gsoSplit`/`gsoNoneChecksum`
//! (`tun/tun_linux.go`, `tun/offload_linux.go`) and the kernel's
//! `tcp_gso_segment`/`__udp_gso_segment`: every segment gets the IP header
//! of the super-packet with its length fixed (and for IPv4 the ID advanced by
//! the segment index and the header checksum recomputed), the transport
//! header with the TCP sequence number advanced by `gso_size` per segment,
//! FIN and PSH only on the last segment and CWR only on the first (or the
//! UDP length fixed), and a complete transport checksum computed from
//! scratch. As wireguard-go does, `hdr_len` is not trusted (the kernel may
//! set it to the whole first packet on the forwarding path): the header
//! length comes from the packet's own IP and TCP/UDP headers.
use std::ops::Range;

use super::checksum;
use super::ip::{
    be32, fix_ipv4_checksum, put16, set_ip_len, IpInfo, MAX_IP_LEN, PROTO_TCP, PROTO_UDP, TCP_CWR,
    TCP_FIN, TCP_FLAGS_AT, TCP_PSH, UDP_HDR_LEN,
};
use super::vnet::{VnetHdr, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4};
use super::OffloadError;

/// What the checks found about a GSO super-packet.
#[derive(Debug, Clone, Copy)]
struct Plan {
    ip: IpInfo,
    /// IP plus transport header octets, copied in front of every segment.
    headers: usize,
    /// Payload octets per segment (the last may be shorter).
    gso_size: usize,
}

/// Completes the checksum of a non-GSO packet in place, as
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM` asks (wireguard-go `gsoNoneChecksum`,
/// Linux `skb_checksum_help`): the value at `csum_start + csum_offset` is the
/// partial (pseudo-header) sum; the one's complement sum from `csum_start` to
/// the end is stored there. Without the flag the packet is left alone.
pub fn complete_checksum(hdr: &VnetHdr, pkt: &mut [u8]) -> Result<(), OffloadError> {
    if !hdr.needs_csum() {
        return Ok(());
    }
    let start = usize::from(hdr.csum_start);
    let at = start + usize::from(hdr.csum_offset);
    if at + 2 > pkt.len() {
        return Err(OffloadError::BadCsumOffsets);
    }
    let sum = checksum::add(0, &pkt[start..]);
    put16(pkt, at, checksum::finish(sum));
    Ok(())
}

/// Splits the packet `pkt` read from the TUN (after its vnet header `hdr`)
/// into IP packets and hands each to `out`, returning how many.
///
/// Each packet is written into `buf` at `headroom..headroom + len` and `out`
/// gets the whole of `buf` and that range, so it can seal the packet in
/// place (ESP header in the headroom, trailer after the range). A packet
/// with [`super::vnet::GSO_NONE`] is copied once, its checksum completed if
/// `F_NEEDS_CSUM` says so. Everything is checked before the first call to
/// `out`: on error nothing was emitted. `buf` must hold `headroom` plus the
/// largest segment (headers plus `gso_size`).
pub fn segment<F>(
    hdr: &VnetHdr,
    pkt: &[u8],
    buf: &mut [u8],
    headroom: usize,
    mut out: F,
) -> Result<usize, OffloadError>
where
    F: FnMut(&mut [u8], Range<usize>),
{
    if !hdr.is_gso() {
        let range = out_range(buf, headroom, pkt.len())?;
        buf[range.clone()].copy_from_slice(pkt);
        complete_checksum(hdr, &mut buf[range.clone()])?;
        out(buf, range);
        return Ok(1);
    }
    let plan = plan(hdr, pkt)?;
    out_range(
        buf,
        headroom,
        plan.headers + plan.gso_size.min(pkt.len() - plan.headers),
    )?;
    let payload = &pkt[plan.headers..];
    let count = payload.len().div_ceil(plan.gso_size);
    for (i, data) in payload.chunks(plan.gso_size).enumerate() {
        let range = headroom..headroom + plan.headers + data.len();
        let seg = &mut buf[range.clone()];
        seg[..plan.headers].copy_from_slice(&pkt[..plan.headers]);
        seg[plan.headers..].copy_from_slice(data);
        fix_segment(&plan, seg, i, i + 1 == count);
        out(buf, range);
    }
    Ok(count)
}

/// The range `headroom..headroom + len` of `buf`, if it fits.
fn out_range(buf: &[u8], headroom: usize, len: usize) -> Result<Range<usize>, OffloadError> {
    let end = headroom
        .checked_add(len)
        .filter(|end| *end <= buf.len())
        .ok_or(OffloadError::BufferTooSmall)?;
    Ok(headroom..end)
}

/// Checks a GSO super-packet against its vnet header.
fn plan(hdr: &VnetHdr, pkt: &[u8]) -> Result<Plan, OffloadError> {
    let kind = hdr.gso_kind();
    let tcp = match kind {
        GSO_TCPV4 | GSO_TCPV6 => true,
        GSO_UDP_L4 => false,
        other => return Err(OffloadError::UnsupportedGsoType(other)),
    };
    if hdr.gso_size == 0 {
        return Err(OffloadError::ZeroGsoSize);
    }
    if usize::from(hdr.hdr_len) > pkt.len() {
        return Err(OffloadError::HdrLenBeyondPacket);
    }
    let ip = IpInfo::parse(pkt)?;
    check_ip(kind, &ip, pkt)?;
    if hdr.needs_csum() {
        let want = if tcp { 16 } else { 6 };
        if usize::from(hdr.csum_start) != ip.header_len || hdr.csum_offset != want {
            return Err(OffloadError::BadCsumOffsets);
        }
    }
    let headers = ip.header_len + transport_len(tcp, &pkt[ip.header_len..])?;
    if headers == pkt.len() {
        return Err(OffloadError::EmptyPayload);
    }
    let gso_size = usize::from(hdr.gso_size);
    if headers + gso_size.min(pkt.len() - headers) > MAX_IP_LEN {
        return Err(OffloadError::GsoSizeTooLarge);
    }
    Ok(Plan {
        ip,
        headers,
        gso_size,
    })
}

/// IP version and protocol must match the GSO type; no IPv4 fragments.
fn check_ip(kind: u8, ip: &IpInfo, pkt: &[u8]) -> Result<(), OffloadError> {
    let (want_v6, want_proto) = match kind {
        GSO_TCPV4 => (Some(false), PROTO_TCP),
        GSO_TCPV6 => (Some(true), PROTO_TCP),
        _ => (None, PROTO_UDP),
    };
    if want_v6.is_some_and(|v6| v6 != ip.v6) {
        return Err(OffloadError::VersionMismatch);
    }
    if ip.proto != want_proto {
        return Err(OffloadError::ProtocolMismatch);
    }
    if ip.is_fragment(pkt) {
        return Err(OffloadError::Fragment);
    }
    Ok(())
}

/// Length of the TCP (from its data offset) or UDP header at `l4`.
fn transport_len(tcp: bool, l4: &[u8]) -> Result<usize, OffloadError> {
    let len = if tcp {
        let doff = l4.get(12).map_or(0, |b| usize::from(b >> 4) * 4);
        if doff < 20 {
            return Err(OffloadError::BadTransportHeader);
        }
        doff
    } else {
        UDP_HDR_LEN
    };
    if l4.len() < len {
        return Err(OffloadError::BadTransportHeader);
    }
    Ok(len)
}

/// Turns the copy of headers and payload in `seg` into segment `i`.
fn fix_segment(plan: &Plan, seg: &mut [u8], i: usize, last: bool) {
    let ip = &plan.ip;
    set_ip_len(ip, seg);
    if !ip.v6 {
        let id = u16::from_be_bytes([seg[4], seg[5]]).wrapping_add(i as u16);
        put16(seg, 4, id);
        fix_ipv4_checksum(&mut seg[..ip.header_len]);
    }
    let l4 = ip.header_len;
    let csum_at = if ip.proto == PROTO_TCP {
        fix_tcp(plan, &mut seg[l4..], i, last);
        l4 + 16
    } else {
        put16(seg, l4 + 4, (seg.len() - l4) as u16);
        l4 + 6
    };
    put16(seg, csum_at, 0);
    let (src, dst) = ip.addrs(seg);
    let sum = checksum::pseudo_header(src, dst, ip.proto, (seg.len() - l4) as u32);
    let sum = checksum::add(sum, &seg[l4..]);
    put16(seg, csum_at, checksum::finish(sum));
}

/// Sequence number and flags of TCP segment `i` (`tcp_gso_segment`).
fn fix_tcp(plan: &Plan, tcp: &mut [u8], i: usize, last: bool) {
    let seq = be32(tcp, 4).wrapping_add((i * plan.gso_size) as u32);
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    if !last {
        tcp[TCP_FLAGS_AT] &= !(TCP_FIN | TCP_PSH);
    }
    if i > 0 {
        tcp[TCP_FLAGS_AT] &= !TCP_CWR;
    }
}
