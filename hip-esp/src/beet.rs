//! BEET mode (RFC 7402 section 3.1, draft-nikander-esp-beet-mode): only the
//! transport header and payload travel in ESP; the inner IP header is
//! dropped by the sender and rebuilt by the receiver from the SA's inner
//! addresses — HITs for IPv6 applications, LSIs for IPv4 ones.
//!
//! The wire convention (HIPL's, see ../shared/interop/hipl-1.0.8/README.md):
//! IPv4 (LSI) traffic rides the HIT-addressed SA with the IPv4 protocol
//! number as next header, and transport checksums on the wire are the ones
//! for the HIT (IPv6) pseudo-header. So the sender converts TCP/UDP/UDP-Lite
//! checksums from the LSI pseudo-header to the HIT one, and a receiver that
//! delivers to an IPv4 socket converts them back (RFC 1624 incremental
//! update). ICMPv4 has no pseudo-header; its checksum is recomputed on
//! delivery, which also repairs HIPL's complemented ICMPv4 checksums.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

/// The inner addresses of a packet as the local host sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inner {
    /// IPv6 between HITs.
    Hit { src: Ipv6Addr, dst: Ipv6Addr },
    /// IPv4 between LSIs; the HITs give the wire checksum convention.
    Lsi {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        src_hit: Ipv6Addr,
        dst_hit: Ipv6Addr,
    },
}

/// Why an inner packet was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BeetError {
    #[error("inner packet truncated or not IPv4/IPv6")]
    Malformed,
    #[error("inner IPv4 fragments are not carried")]
    Fragment,
    #[error("no headroom to rebuild the inner header")]
    NoRoom,
}

const TCP: u8 = 6;
const UDP: u8 = 17;
const UDPLITE: u8 = 136;
const ICMP: u8 = 1;

fn sum16(mut acc: u32, data: &[u8]) -> u32 {
    let mut it = data.chunks_exact(2);
    for c in &mut it {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = it.remainder() {
        acc += u32::from(*b) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

fn pseudo4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u16 {
    let acc =
        sum16(sum16(0, &src.octets()), &dst.octets()) + u32::from(proto) + (len as u32 & 0xffff);
    fold(acc)
}

fn pseudo6(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, len: usize) -> u16 {
    let acc = sum16(sum16(0, &src.octets()), &dst.octets())
        + (len as u32 >> 16)
        + (len as u32 & 0xffff)
        + u32::from(proto);
    fold(acc)
}

/// Offset of the checksum field in a transport header, if it has one that
/// covers a pseudo-header.
fn csum_offset(proto: u8) -> Option<usize> {
    match proto {
        TCP => Some(16),
        UDP | UDPLITE => Some(6),
        _ => None,
    }
}

/// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
fn adjust(field: u16, old: u16, new: u16) -> u16 {
    !fold(u32::from(!field) + u32::from(!old) + u32::from(new))
}

/// Full checksum of `seg` with pseudo-header sum `pseudo` (field zeroed first).
fn full(seg: &mut [u8], off: usize, pseudo: u16) -> u16 {
    seg[off] = 0;
    seg[off + 1] = 0;
    let c = !fold(sum16(u32::from(pseudo), seg));
    if c == 0 {
        0xffff
    } else {
        c
    }
}

/// Strip the inner IP header of an outbound packet and put the transport
/// checksum in wire (HIT) form. Returns the payload range within `pkt` and
/// the next header. `hits` are (source, destination) HITs for LSI packets.
pub fn encapsulate(
    pkt: &mut [u8],
    hits: (Ipv6Addr, Ipv6Addr),
) -> Result<(Range<usize>, u8), BeetError> {
    match pkt.first().map(|b| b >> 4) {
        Some(6) => {
            if pkt.len() < 40 {
                return Err(BeetError::Malformed);
            }
            let plen = usize::from(u16::from_be_bytes([pkt[4], pkt[5]]));
            if 40 + plen > pkt.len() {
                return Err(BeetError::Malformed);
            }
            Ok((40..40 + plen, pkt[6]))
        }
        Some(4) => {
            if pkt.len() < 20 {
                return Err(BeetError::Malformed);
            }
            let ihl = usize::from(pkt[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
            if ihl < 20 || total < ihl || total > pkt.len() {
                return Err(BeetError::Malformed);
            }
            if u16::from_be_bytes([pkt[6], pkt[7]]) & 0x3fff != 0 {
                return Err(BeetError::Fragment);
            }
            let proto = pkt[9];
            let src = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
            let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
            let seg = &mut pkt[ihl..total];
            if let Some(off) = csum_offset(proto) {
                if seg.len() < off + 2 {
                    return Err(BeetError::Malformed);
                }
                let field = u16::from_be_bytes([seg[off], seg[off + 1]]);
                let new_p = pseudo6(hits.0, hits.1, proto, seg.len());
                let c = if proto == UDP && field == 0 {
                    // No checksum over IPv4; IPv6 requires one.
                    full(seg, off, new_p)
                } else {
                    adjust(field, pseudo4(src, dst, proto, seg.len()), new_p)
                };
                seg[off..off + 2].copy_from_slice(&c.to_be_bytes());
            }
            Ok((ihl..total, proto))
        }
        _ => Err(BeetError::Malformed),
    }
}

/// Rebuild the inner IP header in front of a decrypted payload at
/// `buf[payload]` (which needs 40 octets of headroom for IPv6, 20 for IPv4)
/// and fix the transport checksum for it. Returns the inner packet's range.
pub fn decapsulate(
    buf: &mut [u8],
    payload: Range<usize>,
    next_header: u8,
    inner: Inner,
    hop_limit: u8,
) -> Result<Range<usize>, BeetError> {
    let len = payload.len();
    match inner {
        Inner::Hit { src, dst } => {
            let start = payload.start.checked_sub(40).ok_or(BeetError::NoRoom)?;
            let plen = u16::try_from(len).map_err(|_| BeetError::Malformed)?;
            let h = &mut buf[start..payload.start];
            h[..4].copy_from_slice(&[0x60, 0, 0, 0]);
            h[4..6].copy_from_slice(&plen.to_be_bytes());
            h[6] = next_header;
            h[7] = hop_limit;
            h[8..24].copy_from_slice(&src.octets());
            h[24..40].copy_from_slice(&dst.octets());
            Ok(start..payload.end)
        }
        Inner::Lsi {
            src,
            dst,
            src_hit,
            dst_hit,
        } => {
            let start = payload.start.checked_sub(20).ok_or(BeetError::NoRoom)?;
            let total = u16::try_from(len + 20).map_err(|_| BeetError::Malformed)?;
            {
                let seg = &mut buf[payload.clone()];
                if let Some(off) = csum_offset(next_header) {
                    if seg.len() < off + 2 {
                        return Err(BeetError::Malformed);
                    }
                    let field = u16::from_be_bytes([seg[off], seg[off + 1]]);
                    let c = adjust(
                        field,
                        pseudo6(src_hit, dst_hit, next_header, seg.len()),
                        pseudo4(src, dst, next_header, seg.len()),
                    );
                    seg[off..off + 2].copy_from_slice(&c.to_be_bytes());
                } else if next_header == ICMP && seg.len() >= 4 {
                    let c = full(seg, 2, 0);
                    let c = if c == 0xffff { 0 } else { c };
                    seg[2..4].copy_from_slice(&c.to_be_bytes());
                }
            }
            let h = &mut buf[start..payload.start];
            h.copy_from_slice(&[
                0x45,
                0,
                0,
                0,
                0,
                0,
                0x40,
                0,
                hop_limit,
                next_header,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ]);
            h[2..4].copy_from_slice(&total.to_be_bytes());
            h[12..16].copy_from_slice(&src.octets());
            h[16..20].copy_from_slice(&dst.octets());
            let c = !fold(sum16(0, h));
            h[10..12].copy_from_slice(&c.to_be_bytes());
            Ok(start..payload.end)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_v4(pkt: &[u8]) -> bool {
        let ihl = usize::from(pkt[0] & 15) * 4;
        if fold(sum16(0, &pkt[..ihl])) != 0xffff {
            return false;
        }
        let proto = pkt[9];
        let seg = &pkt[ihl..];
        let src = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
        let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
        let p = if proto == ICMP {
            0
        } else {
            pseudo4(src, dst, proto, seg.len())
        };
        fold(sum16(u32::from(p), seg)) == 0xffff
    }

    fn valid_v6(pkt: &[u8]) -> bool {
        let src = Ipv6Addr::from(<[u8; 16]>::try_from(&pkt[8..24]).unwrap());
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&pkt[24..40]).unwrap());
        let seg = &pkt[40..];
        fold(sum16(u32::from(pseudo6(src, dst, pkt[6], seg.len())), seg)) == 0xffff
    }

    fn tcp_v4(src: Ipv4Addr, dst: Ipv4Addr, data: &[u8]) -> Vec<u8> {
        let mut seg = vec![0u8; 20];
        seg[0..2].copy_from_slice(&1234u16.to_be_bytes());
        seg[2..4].copy_from_slice(&22u16.to_be_bytes());
        seg[12] = 0x50;
        seg.extend_from_slice(data);
        let p = pseudo4(src, dst, TCP, seg.len());
        let c = full(&mut seg, 16, p);
        seg[16..18].copy_from_slice(&c.to_be_bytes());
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, TCP, 0, 0];
        p[2..4].copy_from_slice(&((20 + seg.len()) as u16).to_be_bytes());
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        let hc = !fold(sum16(0, &p));
        p[10..12].copy_from_slice(&hc.to_be_bytes());
        p.extend_from_slice(&seg);
        p
    }

    #[test]
    fn lsi_tcp_round_trip_and_wire_checksum_is_over_hits() {
        let (l1, l2) = (Ipv4Addr::new(1, 0, 0, 1), Ipv4Addr::new(1, 0, 0, 2));
        let (h1, h2): (Ipv6Addr, Ipv6Addr) =
            ("2001:20::1".parse().unwrap(), "2001:20::2".parse().unwrap());
        for len in [0, 1, 7, 100, 1400] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut pkt = tcp_v4(l1, l2, &data);
            assert!(valid_v4(&pkt));
            let (r, nh) = encapsulate(&mut pkt, (h1, h2)).unwrap();
            assert_eq!(nh, TCP);
            let seg = pkt[r.clone()].to_vec();
            // On the wire the TCP checksum is right for the HIT pseudo-header.
            assert_eq!(
                fold(sum16(u32::from(pseudo6(h1, h2, TCP, seg.len())), &seg)),
                0xffff
            );
            // The receiver rebuilds it as IPv6 (between HITs) ...
            let mut buf = vec![0u8; 64];
            buf.extend_from_slice(&seg);
            let out = decapsulate(
                &mut buf,
                64..64 + seg.len(),
                nh,
                Inner::Hit { src: h1, dst: h2 },
                64,
            )
            .unwrap();
            assert!(valid_v6(&buf[out]));
            // ... or as IPv4 between its own LSIs for the peer.
            let mut buf = vec![0u8; 64];
            buf.extend_from_slice(&seg);
            let (m1, m2) = (Ipv4Addr::new(1, 0, 0, 9), Ipv4Addr::new(1, 0, 0, 1));
            let inner = Inner::Lsi {
                src: m1,
                dst: m2,
                src_hit: h1,
                dst_hit: h2,
            };
            let out = decapsulate(&mut buf, 64..64 + seg.len(), nh, inner, 64).unwrap();
            assert!(valid_v4(&buf[out.clone()]));
            assert_eq!(&buf[out.start + 12..out.start + 16], &m1.octets());
        }
    }

    #[test]
    fn icmpv4_checksum_is_repaired_on_delivery() {
        let mut seg = vec![8, 0, 0, 0, 0, 1, 0, 1, 1, 2, 3];
        let c = full(&mut seg, 2, 0);
        seg[2..4].copy_from_slice(&(!c).to_be_bytes()); // HIPL's complemented form
        let mut buf = vec![0u8; 20];
        buf.extend_from_slice(&seg);
        let h: Ipv6Addr = "2001:10::1".parse().unwrap();
        let inner = Inner::Lsi {
            src: Ipv4Addr::new(1, 0, 0, 2),
            dst: Ipv4Addr::new(1, 0, 0, 1),
            src_hit: h,
            dst_hit: h,
        };
        let out = decapsulate(&mut buf, 20..20 + seg.len(), ICMP, inner, 64).unwrap();
        assert!(valid_v4(&buf[out]));
    }

    #[test]
    fn bad_inner_packets_are_errors() {
        let h: Ipv6Addr = "2001:20::1".parse().unwrap();
        assert_eq!(
            encapsulate(&mut [0x45; 10], (h, h)),
            Err(BeetError::Malformed)
        );
        assert_eq!(
            encapsulate(&mut [0x70; 60], (h, h)),
            Err(BeetError::Malformed)
        );
        let mut frag = tcp_v4(Ipv4Addr::new(1, 0, 0, 1), Ipv4Addr::new(1, 0, 0, 2), b"x");
        frag[6] = 0x20;
        assert_eq!(encapsulate(&mut frag, (h, h)), Err(BeetError::Fragment));
        let mut buf = vec![0u8; 30];
        assert_eq!(
            decapsulate(&mut buf, 10..30, TCP, Inner::Hit { src: h, dst: h }, 64),
            Err(BeetError::NoRoom)
        );
        for len in 0..80 {
            let mut p: Vec<u8> = (0..len)
                .map(|i| (i as u8).wrapping_mul(37) ^ 0x45)
                .collect();
            let _ = encapsulate(&mut p, (h, h));
        }
    }
}
