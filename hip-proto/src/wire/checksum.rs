//! The HIP checksum (RFC 7401 section 5.1.1): the Internet checksum of an
//! IPv4 or IPv6 pseudo-header (as TCP/UDP use) followed by the HIP packet,
//! with protocol 139 and the HIP packet length.

use std::net::IpAddr;

use super::header::Packet;

/// IP protocol number of HIP.
pub const IPPROTO_HIP: u8 = 139;

fn sum16(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Sum of the pseudo-header for an upper-layer packet of `len` octets.
/// Mixed families are summed as IPv6 with the IPv4 address v4-mapped.
pub fn pseudo_header_sum(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> u32 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut acc = sum16(0, &s.octets());
            acc = sum16(acc, &d.octets());
            acc += u32::from(proto);
            acc + (len as u32 & 0xffff)
        }
        _ => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            };
            let mut acc = sum16(0, &v6(src).octets());
            acc = sum16(acc, &v6(dst).octets());
            acc += (len as u32) >> 16;
            acc += len as u32 & 0xffff;
            acc + u32::from(proto)
        }
    }
}

/// The checksum of `packet` as it would be with its Checksum field zero.
pub fn compute(src: IpAddr, dst: IpAddr, packet: &[u8]) -> u16 {
    let mut acc = pseudo_header_sum(src, dst, IPPROTO_HIP, packet.len());
    // Everything but the Checksum field (octets 4-5); 6 is even, so the
    // 16-bit alignment of the rest is unchanged.
    acc = sum16(acc, &packet[..packet.len().min(4)]);
    if packet.len() > 6 {
        acc = sum16(acc, &packet[6..]);
    }
    fold(acc)
}

/// Write the correct checksum into a HIP packet.
pub fn fill(packet: &mut [u8], src: IpAddr, dst: IpAddr) {
    if packet.len() < 6 {
        return;
    }
    packet[4] = 0;
    packet[5] = 0;
    let c = compute(src, dst, packet);
    Packet::new_unchecked(packet).set_checksum(c);
}

/// True if the packet's checksum is right for these addresses.
pub fn verify(packet: &[u8], src: IpAddr, dst: IpAddr) -> bool {
    if packet.len() < 6 {
        return false;
    }
    compute(src, dst, packet) == u16::from_be_bytes([packet[4], packet[5]])
}

/// The Internet checksum (RFC 1071) of arbitrary data, for other headers.
pub fn internet_checksum(initial: u32, data: &[u8]) -> u16 {
    fold(sum16(initial, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_then_verify_both_families() {
        let mut p = vec![0u8; 48];
        p[0] = 59;
        p[1] = 5;
        p[2] = 1;
        p[3] = 0x21;
        for (i, b) in p.iter_mut().enumerate().skip(8) {
            *b = i as u8;
        }
        for (s, d) in [("192.0.2.1", "192.0.2.2"), ("2001:db8::1", "2001:db8::2")] {
            let (s, d): (IpAddr, IpAddr) = (s.parse().unwrap(), d.parse().unwrap());
            fill(&mut p, s, d);
            assert!(verify(&p, s, d));
            assert!(!verify(&p, d, "2001:db8::3".parse().unwrap()));
            p[20] ^= 1;
            assert!(!verify(&p, s, d));
            p[20] ^= 1;
        }
    }
}
