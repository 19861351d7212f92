//! ICMP "destination unreachable" written back into the TUN for destinations
//! hipd cannot resolve: ICMPv6 type 1 code 3 (RFC 4443 section 3.1) for HITs,
//! ICMPv4 type 3 code 1 (RFC 792) for LSIs.
use std::net::{Ipv4Addr, Ipv6Addr};

fn csum_add(mut sum: u32, data: &[u8]) -> u32 {
    let mut it = data.chunks_exact(2);
    for c in &mut it {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = it.remainder() {
        sum += u32::from(*b) << 8;
    }
    sum
}

fn csum_fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Builds an IPv6 packet from `src` to the original sender carrying ICMPv6
/// address unreachable with as much of `orig` as fits in 1280 bytes.
/// Returns None if `orig` is not an IPv6 packet (or is itself an ICMPv6 error).
pub fn unreachable_v6(orig: &[u8], src: Ipv6Addr) -> Option<Vec<u8>> {
    if orig.len() < 40 || orig[0] >> 4 != 6 {
        return None;
    }
    if orig[6] == 58 && orig.get(40).is_some_and(|t| *t < 128) {
        return None; // never answer an ICMPv6 error with an error (RFC 4443 2.4 e)
    }
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&orig[8..24]).ok()?);
    let quote = &orig[..orig.len().min(1280 - 48)];
    let plen = 8 + quote.len();
    let mut p = Vec::with_capacity(40 + plen);
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(&(plen as u16).to_be_bytes());
    p.extend_from_slice(&[58, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&[1, 3, 0, 0, 0, 0, 0, 0]);
    p.extend_from_slice(quote);
    let mut s = csum_add(0, &src.octets());
    s = csum_add(s, &dst.octets());
    s = csum_add(s, &(plen as u32).to_be_bytes());
    s = csum_add(s, &[0, 0, 0, 58]);
    s = csum_add(s, &p[40..]);
    p[42..44].copy_from_slice(&csum_fold(s).to_be_bytes());
    Some(p)
}

/// Builds an IPv4 ICMP host unreachable from `src` quoting `orig` (max 576 bytes total).
pub fn unreachable_v4(orig: &[u8], src: Ipv4Addr) -> Option<Vec<u8>> {
    if orig.len() < 20 || orig[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(orig[0] & 0x0f) * 4;
    if orig[9] == 1
        && orig
            .get(ihl)
            .is_some_and(|t| !matches!(t, 0 | 8 | 13 | 14 | 15 | 16))
    {
        return None; // no error about an ICMP error (RFC 1122 3.2.2)
    }
    let dst: [u8; 4] = orig[12..16].try_into().ok()?;
    let quote = &orig[..orig.len().min(576 - 28)];
    let total = 28 + quote.len();
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 64, 1, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst);
    let h = csum_fold(csum_add(0, &p[..20]));
    p[10..12].copy_from_slice(&h.to_be_bytes());
    p.extend_from_slice(&[3, 1, 0, 0, 0, 0, 0, 0]);
    p.extend_from_slice(quote);
    let c = csum_fold(csum_add(0, &p[20..]));
    p[22..24].copy_from_slice(&c.to_be_bytes());
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v6_checksum_verifies() {
        let mut orig = vec![0x60, 0, 0, 0, 0, 8, 58, 64];
        orig.extend_from_slice(&"2001:20::1".parse::<Ipv6Addr>().unwrap().octets());
        orig.extend_from_slice(&"2001:20::2".parse::<Ipv6Addr>().unwrap().octets());
        orig.extend_from_slice(&[128, 0, 0, 0, 0, 1, 0, 1]);
        let src: Ipv6Addr = "2001:20::2".parse().unwrap();
        let p = unreachable_v6(&orig, src).unwrap();
        assert_eq!(&p[24..40], &orig[8..24]);
        let mut s = csum_add(0, &p[8..40]);
        s = csum_add(s, &((p.len() - 40) as u32).to_be_bytes());
        s = csum_add(s, &[0, 0, 0, 58]);
        s = csum_add(s, &p[40..]);
        assert_eq!(csum_fold(s), 0);
        assert_eq!(p[40], 1);
        // An ICMPv6 error is not answered.
        let mut err = orig.clone();
        err[40] = 1;
        assert!(unreachable_v6(&err, src).is_none());
        assert!(unreachable_v6(&orig[..10], src).is_none());
    }

    #[test]
    fn v4_checksums_verify() {
        let mut orig = vec![
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 9,
        ];
        orig.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]);
        let p = unreachable_v4(&orig, Ipv4Addr::new(1, 0, 0, 9)).unwrap();
        assert_eq!(csum_fold(csum_add(0, &p[..20])), 0);
        assert_eq!(csum_fold(csum_add(0, &p[20..])), 0);
        assert_eq!(&p[16..20], &[1, 0, 0, 1]);
    }
}
