//! Property test: random inner packets (TCP, UDP, ICMPv6 over HITs; TCP,
//! UDP, ICMPv4 over LSIs) through encapsulate -> seal -> open -> decapsulate
//! with every suite come out with the same payload and valid checksums.

use std::net::{Ipv4Addr, Ipv6Addr};

use hip_esp::beet::{decapsulate, encapsulate, Inner};
use hip_esp::{InboundSa, OutboundSa, Suite};
use proptest::prelude::*;

fn sum(mut acc: u32, d: &[u8]) -> u32 {
    for c in d.chunks(2) {
        acc += u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0));
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

fn pseudo(src: &[u8], dst: &[u8], proto: u8, len: usize) -> u32 {
    sum(sum(0, src), dst) + u32::from(proto) + (len as u32 & 0xffff) + (len as u32 >> 16)
}

fn set_csum(seg: &mut [u8], proto: u8, p: u32) {
    let off = match proto {
        6 => 16,
        17 => 6,
        _ => 2,
    };
    seg[off] = 0;
    seg[off + 1] = 0;
    let c = !(sum(p, seg) as u16);
    seg[off..off + 2].copy_from_slice(&c.to_be_bytes());
}

fn segment(proto: u8, data: &[u8]) -> Vec<u8> {
    let hdr = match proto {
        6 => 20,
        17 => 8,
        _ => 8,
    };
    let mut s = vec![0u8; hdr];
    s[0] = 8;
    if proto == 6 {
        s[12] = 0x50;
    }
    if proto == 17 {
        s[4..6].copy_from_slice(&((hdr + data.len()) as u16).to_be_bytes());
    }
    s.extend_from_slice(data);
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn inner_packets_survive_the_esp_path(
        suite_i in 0usize..Suite::ALL.len(),
        lsi in any::<bool>(),
        proto_i in 0usize..3,
        data in proptest::collection::vec(any::<u8>(), 0..1500),
        v6_outer in any::<bool>(),
    ) {
        let _ = v6_outer; // locators do not change ESP; both families use the same SA code
        let suite = Suite::ALL[suite_i];
        let h1: Ipv6Addr = "2001:20::1:1".parse().unwrap();
        let h2: Ipv6Addr = "2001:20::2:2".parse().unwrap();
        let (l1, l2) = (Ipv4Addr::new(1, 0, 0, 1), Ipv4Addr::new(1, 0, 0, 2));
        let proto = if lsi { [6u8, 17, 1][proto_i] } else { [6u8, 17, 58][proto_i] };
        let mut seg = segment(proto, &data);
        // The application's packet.
        let mut pkt = if lsi {
            let p = if proto == 1 { 0 } else { pseudo(&l1.octets(), &l2.octets(), proto, seg.len()) };
            set_csum(&mut seg, proto, p);
            let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
            h[2..4].copy_from_slice(&((20 + seg.len()) as u16).to_be_bytes());
            h.extend_from_slice(&l1.octets());
            h.extend_from_slice(&l2.octets());
            let c = !(sum(0, &h) as u16);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            h.extend_from_slice(&seg);
            h
        } else {
            let p = pseudo(&h1.octets(), &h2.octets(), proto, seg.len());
            set_csum(&mut seg, proto, p);
            let mut h = vec![0x60, 0, 0, 0, 0, 0, proto, 64];
            h[4..6].copy_from_slice(&(seg.len() as u16).to_be_bytes());
            h.extend_from_slice(&h1.octets());
            h.extend_from_slice(&h2.octets());
            h.extend_from_slice(&seg);
            h
        };
        let original = pkt.clone();
        let (range, nh) = encapsulate(&mut pkt, (h1, h2)).unwrap();
        prop_assert_eq!(nh, proto);
        let enc = vec![3u8; suite.enc_key_len()];
        let auth = vec![4u8; suite.auth_key_len()];
        let out = OutboundSa::new(77, suite, &enc, &auth, [5; 16]).unwrap();
        let inb = InboundSa::new(77, suite, &enc, &auth).unwrap();
        // Buffer with room for the rebuilt inner header before the ESP packet.
        let head = 40 + out.headroom();
        let mut buf = vec![0u8; head + range.len() + out.tailroom()];
        buf[head..head + range.len()].copy_from_slice(&pkt[range.clone()]);
        let sealed = out.seal(&mut buf, head..head + range.len(), nh).unwrap();
        let esp_start = sealed.range.start;
        let opened = inb.open(&mut buf[sealed.range.clone()]).unwrap();
        let payload = opened.payload.start + esp_start..opened.payload.end + esp_start;
        let inner = if lsi {
            Inner::Lsi { src: l1, dst: l2, src_hit: h1, dst_hit: h2 }
        } else {
            Inner::Hit { src: h1, dst: h2 }
        };
        let rebuilt = decapsulate(&mut buf, payload, opened.next_header, inner, 64).unwrap();
        let got = &buf[rebuilt];
        // Same packet as the application sent (headers rebuilt identically).
        prop_assert_eq!(got, &original[..]);
    }
}
