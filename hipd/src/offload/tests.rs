//! Hand-built packets and property tests for segmentation and coalescing,
//! checked with a checksum written independently of `super::checksum`.
use super::ip::{TCP_ACK, TCP_CWR, TCP_FIN, TCP_PSH};
use super::vnet::{
    VnetHdr, F_NEEDS_CSUM, GSO_NONE, GSO_TCPV4, GSO_TCPV6, GSO_UDP, GSO_UDP_L4, VNET_HDR_LEN,
};
use super::{complete_checksum, segment, Coalescer, OffloadError, Pushed};
use proptest::prelude::*;

const SRC4: [u8; 4] = [10, 0, 0, 1];
const DST4: [u8; 4] = [10, 0, 0, 2];
const SRC6: [u8; 16] = [0x20, 0x01, 0x20, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const DST6: [u8; 16] = [0x20, 0x01, 0x20, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// RFC 1071 sum over 16-bit words, the plain way.
fn ref_sum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for p in parts {
        for c in p.chunks(2) {
            let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
            sum += u32::from(w);
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

fn pseudo(v6: bool, pkt: &[u8], proto: u8, len: usize) -> Vec<u8> {
    let (s, n) = if v6 { (8, 16) } else { (12, 4) };
    let mut p = pkt[s..s + 2 * n].to_vec();
    if v6 {
        p.extend_from_slice(&(len as u32).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, proto]);
    } else {
        p.extend_from_slice(&[0, proto]);
        p.extend_from_slice(&(len as u16).to_be_bytes());
    }
    p
}

#[derive(Clone, Debug)]
struct Tcp {
    v6: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    options: Vec<u8>,
    id: u16,
}

impl Tcp {
    fn new(v6: bool) -> Self {
        Tcp {
            v6,
            seq: 1000,
            ack: 77,
            flags: TCP_ACK,
            window: 512,
            options: Vec::new(),
            id: 0x1234,
        }
    }
}

/// IP header for `l4_len` octets of `proto` (lengths right, IPv4 checksum set).
fn ip_header(v6: bool, proto: u8, l4_len: usize, id: u16) -> Vec<u8> {
    if v6 {
        let mut h = vec![0x60, 0, 0, 0];
        h.extend_from_slice(&(l4_len as u16).to_be_bytes());
        h.extend_from_slice(&[proto, 64]);
        h.extend_from_slice(&SRC6);
        h.extend_from_slice(&DST6);
        h
    } else {
        let mut h = vec![0x45, 0];
        h.extend_from_slice(&((20 + l4_len) as u16).to_be_bytes());
        h.extend_from_slice(&id.to_be_bytes());
        h.extend_from_slice(&[0x40, 0, 64, proto, 0, 0]);
        h.extend_from_slice(&SRC4);
        h.extend_from_slice(&DST4);
        let c = !ref_sum(&[&h]);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    }
}

/// A complete TCP packet with correct checksums.
fn tcp_packet(t: &Tcp, payload: &[u8]) -> Vec<u8> {
    let doff = 20 + t.options.len();
    let mut p = ip_header(t.v6, 6, doff + payload.len(), t.id);
    let l4 = p.len();
    p.extend_from_slice(&[0x30, 0x39, 0x01, 0xbb]);
    p.extend_from_slice(&t.seq.to_be_bytes());
    p.extend_from_slice(&t.ack.to_be_bytes());
    p.extend_from_slice(&[((doff / 4) as u8) << 4, t.flags]);
    p.extend_from_slice(&t.window.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0]);
    p.extend_from_slice(&t.options);
    p.extend_from_slice(payload);
    let ph = pseudo(t.v6, &p, 6, p.len() - l4);
    let c = !ref_sum(&[&ph, &p[l4..]]);
    p[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
    p
}

/// A complete UDP packet with correct checksums.
fn udp_packet(v6: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = ip_header(v6, 17, 8 + payload.len(), 9);
    let l4 = p.len();
    p.extend_from_slice(&[0x13, 0x88, 0x00, 0x35]);
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    let ph = pseudo(v6, &p, 17, p.len() - l4);
    let c = !ref_sum(&[&ph, &p[l4..]]);
    p[l4 + 6..l4 + 8].copy_from_slice(&c.to_be_bytes());
    p
}

/// The super-packet and vnet header the kernel hands over for TSO/USO:
/// lengths of the whole, the pseudo-header sum in the checksum field.
fn as_super(mut p: Vec<u8>, v6: bool, udp: bool, gso_size: u16) -> (VnetHdr, Vec<u8>) {
    let l4 = if v6 { 40 } else { 20 };
    let (csum_off, proto) = if udp { (6, 17) } else { (16, 6) };
    let hdr_len = if udp {
        l4 + 8
    } else {
        l4 + usize::from(p[l4 + 12] >> 4) * 4
    };
    let ph = pseudo(v6, &p, proto, p.len() - l4);
    let partial = ref_sum(&[&ph]);
    p[l4 + csum_off..l4 + csum_off + 2].copy_from_slice(&partial.to_be_bytes());
    let gso_type = match (udp, v6) {
        (true, _) => GSO_UDP_L4,
        (false, true) => GSO_TCPV6,
        (false, false) => GSO_TCPV4,
    };
    let hdr = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type,
        hdr_len: hdr_len as u16,
        gso_size,
        csum_start: l4 as u16,
        csum_offset: csum_off as u16,
    };
    (hdr, p)
}

/// What `check_packet` found in a valid packet.
#[derive(Debug)]
struct Seen {
    payload_at: usize,
    seq: u32,
    flags: u8,
    id: u16,
}

/// Asserts `p` is a complete, valid IPv4/IPv6 TCP or UDP packet.
fn check_packet(p: &[u8]) -> Seen {
    let v6 = p[0] >> 4 == 6;
    let (l4, proto, id) = if v6 {
        assert_eq!(usize::from(u16::from_be_bytes([p[4], p[5]])), p.len() - 40);
        (40, p[6], 0)
    } else {
        assert_eq!(p[0], 0x45);
        assert_eq!(usize::from(u16::from_be_bytes([p[2], p[3]])), p.len());
        assert_eq!(ref_sum(&[&p[..20]]), 0xffff, "IPv4 header checksum");
        (20, p[9], u16::from_be_bytes([p[4], p[5]]))
    };
    let ph = pseudo(v6, p, proto, p.len() - l4);
    assert_eq!(ref_sum(&[&ph, &p[l4..]]), 0xffff, "transport checksum");
    if proto == 17 {
        assert_eq!(
            usize::from(u16::from_be_bytes([p[l4 + 4], p[l4 + 5]])),
            p.len() - l4
        );
        return Seen {
            payload_at: l4 + 8,
            seq: 0,
            flags: 0,
            id,
        };
    }
    let seq = u32::from_be_bytes([p[l4 + 4], p[l4 + 5], p[l4 + 6], p[l4 + 7]]);
    Seen {
        payload_at: l4 + usize::from(p[l4 + 12] >> 4) * 4,
        seq,
        flags: p[l4 + 13],
        id,
    }
}

/// Runs `segment` and returns copies of the segments.
fn split(hdr: &VnetHdr, pkt: &[u8]) -> Result<Vec<Vec<u8>>, OffloadError> {
    let mut buf = vec![0u8; 70_000];
    let mut segs = Vec::new();
    let n = segment(hdr, pkt, &mut buf, 64, |b, r| {
        assert_eq!(r.start, 64);
        segs.push(b[r].to_vec());
    })?;
    assert_eq!(n, segs.len());
    Ok(segs)
}

/// Completes a merged packet's partial checksum as the kernel would.
fn complete(vnet: &VnetHdr, pkt: &[u8]) -> Vec<u8> {
    let mut p = pkt.to_vec();
    complete_checksum(vnet, &mut p).unwrap();
    p
}

fn payload(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ salt)
        .collect()
}

#[test]
fn vnet_header_round_trips_and_rejects_short_input() {
    let h = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: GSO_TCPV6,
        hdr_len: 60,
        gso_size: 1440,
        csum_start: 40,
        csum_offset: 16,
    };
    let mut b = [0u8; VNET_HDR_LEN];
    h.emit(&mut b).unwrap();
    assert_eq!(b[0], 1);
    assert_eq!(b[1], 4);
    assert_eq!(&b[4..6], &1440u16.to_ne_bytes());
    assert_eq!(VnetHdr::parse(&b), Ok(h));
    assert_eq!(VnetHdr::parse(&b[..9]), Err(OffloadError::ShortVnetHdr));
    assert_eq!(h.emit(&mut [0u8; 9]), Err(OffloadError::BufferTooSmall));
}

#[test]
fn tcpv4_super_packet_splits_into_mss_segments() {
    let mut t = Tcp::new(false);
    t.flags = TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR;
    let data = payload(2500, 7);
    let (hdr, pkt) = as_super(tcp_packet(&t, &data), false, false, 1000);
    let segs = split(&hdr, &pkt).unwrap();
    assert_eq!(segs.len(), 3);
    let seen: Vec<Seen> = segs.iter().map(|s| check_packet(s)).collect();
    assert_eq!(segs[0].len(), 40 + 1000);
    assert_eq!(segs[2].len(), 40 + 500);
    assert_eq!(seen[0].seq, 1000);
    assert_eq!(seen[1].seq, 2000);
    assert_eq!(seen[2].seq, 3000);
    assert_eq!(seen[0].flags, TCP_ACK | TCP_CWR);
    assert_eq!(seen[1].flags, TCP_ACK);
    assert_eq!(seen[2].flags, TCP_ACK | TCP_PSH | TCP_FIN);
    assert_eq!(
        [seen[0].id, seen[1].id, seen[2].id],
        [0x1234, 0x1235, 0x1236]
    );
    let joined: Vec<u8> = segs
        .iter()
        .zip(&seen)
        .flat_map(|(s, x)| s[x.payload_at..].to_vec())
        .collect();
    assert_eq!(joined, data);
}

#[test]
fn tcpv6_with_timestamps_and_uso_split() {
    let mut t = Tcp::new(true);
    t.options = vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
    let data = payload(3000, 1);
    let (hdr, pkt) = as_super(tcp_packet(&t, &data), true, false, 1428);
    let segs = split(&hdr, &pkt).unwrap();
    assert_eq!(segs.len(), 3);
    for s in &segs {
        let x = check_packet(s);
        assert_eq!(x.payload_at, 72);
        assert_eq!(&s[60..72], &t.options[..]);
    }
    for v6 in [false, true] {
        let data = payload(1000, 3);
        let (hdr, pkt) = as_super(udp_packet(v6, &data), v6, true, 300);
        let segs = split(&hdr, &pkt).unwrap();
        assert_eq!(segs.len(), 4);
        let joined: Vec<u8> = segs
            .iter()
            .flat_map(|s| s[check_packet(s).payload_at..].to_vec())
            .collect();
        assert_eq!(joined, data);
    }
}

#[test]
fn gso_none_with_needs_csum_is_completed() {
    let data = payload(101, 9);
    let (mut hdr, pkt) = as_super(udp_packet(false, &data), false, true, 0);
    hdr.gso_type = GSO_NONE;
    let segs = split(&hdr, &pkt).unwrap();
    assert_eq!(segs.len(), 1);
    check_packet(&segs[0]);
    let mut inplace = pkt.clone();
    complete_checksum(&hdr, &mut inplace).unwrap();
    assert_eq!(inplace, segs[0]);
    let plain = VnetHdr::default();
    assert_eq!(split(&plain, &pkt).unwrap()[0], pkt);
}

#[test]
fn malformed_super_packets_are_rejected() {
    let t = Tcp::new(false);
    let (hdr, pkt) = as_super(tcp_packet(&t, &payload(3000, 0)), false, false, 1000);
    let bad = |f: &dyn Fn(&mut VnetHdr, &mut Vec<u8>)| {
        let (mut h, mut p) = (hdr, pkt.clone());
        f(&mut h, &mut p);
        split(&h, &p).unwrap_err()
    };
    assert_eq!(bad(&|h, _| h.gso_size = 0), OffloadError::ZeroGsoSize);
    assert_eq!(
        bad(&|h, _| h.hdr_len = 4000),
        OffloadError::HdrLenBeyondPacket
    );
    assert_eq!(
        bad(&|h, _| h.gso_type = GSO_UDP),
        OffloadError::UnsupportedGsoType(3)
    );
    assert_eq!(
        bad(&|h, _| h.gso_type = GSO_TCPV6),
        OffloadError::VersionMismatch
    );
    assert_eq!(
        bad(&|h, _| h.gso_type = GSO_UDP_L4),
        OffloadError::ProtocolMismatch
    );
    assert_eq!(bad(&|h, _| h.csum_offset = 6), OffloadError::BadCsumOffsets);
    assert_eq!(bad(&|_, p| p[6] = 0x20), OffloadError::Fragment);
    assert_eq!(bad(&|_, p| p[32] = 0x40), OffloadError::BadTransportHeader);
    assert_eq!(bad(&|_, p| p.truncate(40)), OffloadError::EmptyPayload);
    assert_eq!(bad(&|_, p| p[0] = 0x35), OffloadError::BadIpHeader);
    assert_eq!(
        bad(&|h, p| {
            p.resize(70_000, 0);
            h.gso_size = 65535 - 20;
        }),
        OffloadError::GsoSizeTooLarge
    );
    let mut small = [0u8; 1000];
    assert_eq!(
        segment(&hdr, &pkt, &mut small, 0, |_, _| ()),
        Err(OffloadError::BufferTooSmall)
    );
    // IPv6 with a hop-by-hop extension header.
    let (mut h6, mut p6) = as_super(
        tcp_packet(&Tcp::new(true), &payload(3000, 0)),
        true,
        false,
        1000,
    );
    p6[6] = 0;
    assert_eq!(split(&h6, &p6).unwrap_err(), OffloadError::ProtocolMismatch);
    h6.gso_type = GSO_NONE;
    h6.csum_start = 6000;
    assert_eq!(split(&h6, &p6).unwrap_err(), OffloadError::BadCsumOffsets);
}

/// Pushes every packet and collects what `flush` emits, as (vnet, packet).
fn coalesce_all(c: &mut Coalescer, pkts: &[Vec<u8>]) -> Vec<(VnetHdr, Vec<u8>)> {
    let mut out = Vec::new();
    let mut take = |b: &[u8]| out.push((VnetHdr::parse(b).unwrap(), b[VNET_HDR_LEN..].to_vec()));
    for p in pkts {
        c.push_or_flush(p, &mut take).unwrap();
    }
    c.flush(&mut take);
    assert!(c.is_empty());
    out
}

fn tcp_run(t: &Tcp, sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut t = t.clone();
    sizes
        .iter()
        .map(|&n| {
            let p = tcp_packet(&t, &payload(n, t.seq as u8));
            t.seq = t.seq.wrapping_add(n as u32);
            p
        })
        .collect()
}

#[test]
fn coalescer_merges_in_order_segments() {
    for v6 in [false, true] {
        let mut t = Tcp::new(v6);
        t.options = vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
        let mut pkts = tcp_run(&t, &[1000, 1000, 1000, 400]);
        let last = pkts.len() - 1;
        let l4 = if v6 { 40 } else { 20 };
        pkts[last][l4 + 13] |= TCP_PSH;
        let ph_fix = |p: &mut Vec<u8>| {
            p[l4 + 16] = 0;
            p[l4 + 17] = 0;
            let ph = pseudo(v6, p, 6, p.len() - l4);
            let c = !ref_sum(&[&ph, &p[l4..]]);
            p[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
        };
        ph_fix(&mut pkts[last]);
        let mut c = Coalescer::new(4, 65535);
        let out = coalesce_all(&mut c, &pkts);
        assert_eq!(out.len(), 1);
        let (vnet, merged) = &out[0];
        assert_eq!(vnet.gso_type, if v6 { GSO_TCPV6 } else { GSO_TCPV4 });
        assert_eq!(vnet.flags, F_NEEDS_CSUM);
        assert_eq!(vnet.gso_size, 1000);
        assert_eq!(usize::from(vnet.hdr_len), l4 + 32);
        assert_eq!((vnet.csum_start, vnet.csum_offset), (l4 as u16, 16));
        let full = complete(vnet, merged);
        let seen = check_packet(&full);
        assert_eq!(seen.flags, TCP_ACK | TCP_PSH);
        assert_eq!(seen.seq, 1000);
        assert_eq!(full.len(), l4 + 32 + 3400);
    }
}

/// A change to the second segment's header.
type Tweak = Box<dyn Fn(&mut Tcp)>;

#[test]
fn coalescer_keeps_apart_what_must_not_merge() {
    let t = Tcp::new(false);
    let base = tcp_run(&t, &[1000, 1000]);
    let variants: Vec<(&str, Tweak)> = vec![
        ("ack", Box::new(|t| t.ack += 1)),
        ("window", Box::new(|t| t.window += 1)),
        ("options", Box::new(|t| t.options = vec![1, 1, 1, 1])),
        ("syn", Box::new(|t| t.flags |= 0x02)),
        ("gap", Box::new(|t| t.seq += 1)),
    ];
    for (what, f) in variants {
        let mut t2 = t.clone();
        t2.seq += 1000;
        f(&mut t2);
        let second = tcp_packet(&t2, &payload(1000, 0));
        let mut c = Coalescer::new(4, 65535);
        let out = coalesce_all(&mut c, &[base[0].clone(), second.clone()]);
        assert_eq!(out.len(), 2, "{what}");
        assert!(out.iter().all(|(v, _)| *v == VnetHdr::default()), "{what}");
        assert_eq!(out[0].1, base[0]);
        assert_eq!(out[1].1, second);
    }
    // A larger segment after a smaller one, anything after PSH, bad checksums.
    let cases: Vec<(Vec<Vec<u8>>, usize)> = vec![
        (tcp_run(&t, &[500, 1000]), 2),
        (tcp_run(&t, &[1000, 500, 500]), 2),
        (
            {
                let mut p = tcp_run(&t, &[1000, 1000]);
                p[1][60] ^= 1;
                p
            },
            2,
        ),
        (
            {
                let mut p = tcp_run(&t, &[1000, 1000, 1000]);
                p[0][60] ^= 1;
                p
            },
            2,
        ),
        (
            {
                let mut t = t.clone();
                t.flags |= TCP_PSH;
                tcp_run(&t, &[1000, 1000])
            },
            2,
        ),
    ];
    for (i, (pkts, want)) in cases.into_iter().enumerate() {
        let out = coalesce_all(&mut Coalescer::new(4, 65535), &pkts);
        assert_eq!(out.len(), want, "case {i}");
    }
}

#[test]
fn coalescer_interleaves_flows_and_reports_full() {
    let t = Tcp::new(false);
    let a = tcp_run(&t, &[1000, 1000]);
    let mut b = tcp_run(&t, &[1000, 1000]);
    for p in &mut b {
        p[21] ^= 0xff; // other source port
        p[36] = 0;
        p[37] = 0;
        let ph = pseudo(false, p, 6, p.len() - 20);
        let c = !ref_sum(&[&ph, &p[20..]]);
        p[36..38].copy_from_slice(&c.to_be_bytes());
    }
    let udp = udp_packet(true, &payload(10, 0));
    let mut c = Coalescer::new(3, 65535);
    assert_eq!(c.push(&a[0]), Ok(Pushed::Stored));
    assert_eq!(c.push(&b[0]), Ok(Pushed::Stored));
    assert_eq!(c.push(&a[1]), Ok(Pushed::Merged));
    assert_eq!(c.push(&udp), Ok(Pushed::Stored));
    assert_eq!(c.push(&b[1]), Ok(Pushed::Merged));
    assert_eq!(c.push(&udp), Err(OffloadError::CoalescerFull));
    assert_eq!(c.push(&vec![0u8; 65536]), Err(OffloadError::TooLarge));
    let out = coalesce_all(&mut c, &[]);
    assert_eq!(out.len(), 3);
    assert_eq!(out[2].1, udp);
    assert_eq!(out[0].0.gso_type, GSO_TCPV4);
    assert_eq!(out[1].0.gso_type, GSO_TCPV4);
}

#[test]
fn coalescer_respects_max_len() {
    let t = Tcp::new(false);
    let pkts = tcp_run(&t, &[1000; 10]);
    let out = coalesce_all(&mut Coalescer::new(8, 3100), &pkts);
    // 40 + 3000 fits, 40 + 4000 does not: three per merged packet.
    assert_eq!(out.len(), 4);
    assert_eq!(out[0].1.len(), 3040);
}

/// Flags the sender may put on the segment that ends a TSO write.
fn last_flags() -> impl Strategy<Value = u8> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(psh, fin, cwr)| {
        TCP_ACK
            | if psh { TCP_PSH } else { 0 }
            | if fin { TCP_FIN } else { 0 }
            | if cwr { TCP_CWR } else { 0 }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn tso_split_then_gro_restores_the_stream(
        v6 in any::<bool>(),
        len in 1usize..40_000,
        mss in 1usize..2000,
        seq in any::<u32>(),
        flags in last_flags(),
        ts in any::<bool>(),
        slots in 1usize..8,
    ) {
        let mut t = Tcp::new(v6);
        t.seq = seq;
        t.flags = flags;
        if ts {
            t.options = vec![1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8];
        }
        let data = payload(len, seq as u8);
        let (hdr, pkt) = as_super(tcp_packet(&t, &data), v6, false, mss as u16);
        let segs = split(&hdr, &pkt).unwrap();
        let n = segs.len();
        prop_assert_eq!(n, len.div_ceil(mss));
        let mut stream = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            let x = check_packet(s);
            prop_assert_eq!(x.seq, seq.wrapping_add(stream.len() as u32));
            let body = &s[x.payload_at..];
            prop_assert_eq!(body.len(), if i + 1 < n { mss } else { len - mss * (n - 1) });
            let mut want = flags;
            if i + 1 < n { want &= !(TCP_FIN | TCP_PSH); }
            if i > 0 { want &= !TCP_CWR; }
            prop_assert_eq!(x.flags, want);
            if !v6 { prop_assert_eq!(x.id, 0x1234u16.wrapping_add(i as u16)); }
            stream.extend_from_slice(body);
        }
        prop_assert_eq!(&stream, &data);

        let out = coalesce_all(&mut Coalescer::new(slots, 65535), &segs);
        let mut restored = Vec::new();
        for (vnet, p) in &out {
            let full = if vnet.gso_type == GSO_NONE {
                prop_assert_eq!(vnet, &VnetHdr::default());
                p.clone()
            } else {
                prop_assert_eq!(vnet.gso_type, if v6 { GSO_TCPV6 } else { GSO_TCPV4 });
                prop_assert_eq!(usize::from(vnet.gso_size), mss);
                prop_assert_eq!(usize::from(vnet.hdr_len), x_hdr_len(v6, ts));
                complete(vnet, p)
            };
            let x = check_packet(&full);
            prop_assert_eq!(x.seq, seq.wrapping_add(restored.len() as u32));
            restored.extend_from_slice(&full[x.payload_at..]);
        }
        prop_assert_eq!(&restored, &data);
        if len + x_hdr_len(v6, ts) <= 65535 && n >= 2 {
            let lone = usize::from(flags & TCP_CWR != 0) + usize::from(flags & TCP_FIN != 0);
            let run = usize::from(n > lone);
            prop_assert_eq!(out.len(), lone + run);
        }
    }

    #[test]
    fn uso_split_gives_valid_datagrams(v6 in any::<bool>(), len in 1usize..30_000, size in 1usize..3000) {
        let data = payload(len, 5);
        let (hdr, pkt) = as_super(udp_packet(v6, &data), v6, true, size as u16);
        let segs = split(&hdr, &pkt).unwrap();
        prop_assert_eq!(segs.len(), len.div_ceil(size));
        let mut joined = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            let x = check_packet(s);
            if i + 1 < segs.len() { prop_assert_eq!(s.len() - x.payload_at, size); }
            joined.extend_from_slice(&s[x.payload_at..]);
        }
        prop_assert_eq!(joined, data);
    }

    #[test]
    fn random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        vnet in proptest::collection::vec(any::<u8>(), 10),
        headroom in 0usize..100,
    ) {
        let hdr = VnetHdr::parse(&vnet).unwrap();
        let mut buf = vec![0u8; 400];
        let _ = segment(&hdr, &bytes, &mut buf, headroom, |b, r| { let _ = &b[r]; });
        let mut copy = bytes.clone();
        let _ = complete_checksum(&hdr, &mut copy);
        let mut c = Coalescer::new(2, 1500);
        for _ in 0..3 {
            let _ = c.push_or_flush(&bytes, |b| { let _ = VnetHdr::parse(b); });
        }
    }

    #[test]
    fn mutated_packets_never_panic(
        v6 in any::<bool>(),
        udp in any::<bool>(),
        flips in proptest::collection::vec((0usize..80, any::<u8>()), 1..6),
        vflips in proptest::collection::vec((0usize..10, any::<u8>()), 0..3),
        cut in 0usize..200,
    ) {
        let data = payload(500, 1);
        let p = if udp { udp_packet(v6, &data) } else { tcp_packet(&Tcp::new(v6), &data) };
        let (hdr, mut pkt) = as_super(p, v6, udp, 100);
        for (at, v) in flips { if let Some(b) = pkt.get_mut(at) { *b = v; } }
        pkt.truncate(pkt.len().saturating_sub(cut));
        let mut raw = [0u8; VNET_HDR_LEN];
        hdr.emit(&mut raw).unwrap();
        for (at, v) in vflips { raw[at] = v; }
        let hdr = VnetHdr::parse(&raw).unwrap();
        if let Ok(segs) = split(&hdr, &pkt) {
            let mut c = Coalescer::new(2, 65535);
            for s in &segs { let _ = c.push_or_flush(s, |_| ()); }
            c.flush(|_| ());
        }
        let mut c = Coalescer::new(1, 65535);
        let _ = c.push(&pkt);
        let _ = c.push(&pkt);
        c.flush(|_| ());
    }
}

fn x_hdr_len(v6: bool, ts: bool) -> usize {
    (if v6 { 40 } else { 20 }) + 20 + if ts { 12 } else { 0 }
}

/// The source port of a TCP packet built by `tcp_packet` (with `port` set).
fn with_sport(mut p: Vec<u8>, v6: bool, port: u16) -> Vec<u8> {
    let l4 = if v6 { 40 } else { 20 };
    p[l4..l4 + 2].copy_from_slice(&port.to_be_bytes());
    p[l4 + 16..l4 + 18].copy_from_slice(&[0, 0]);
    let ph = pseudo(v6, &p, 6, p.len() - l4);
    let c = !ref_sum(&[&ph, &p[l4..]]);
    p[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
    p
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Segments of several flows, interleaved at random (with a stray UDP
    /// packet now and then), come out of the coalescer with every flow's
    /// bytes in order and every packet valid.
    #[test]
    fn interleaved_flows_stay_in_order(
        v6 in any::<bool>(),
        sizes in proptest::collection::vec(1usize..1500, 1..60),
        picks in proptest::collection::vec(0u8..4, 60),
        slots in 1usize..6,
    ) {
        let mut seqs = [100u32, 5000, 900_000];
        let mut sent: [Vec<u8>; 3] = Default::default();
        let mut pkts = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let pick = usize::from(picks[i]);
            if pick == 3 {
                pkts.push(udp_packet(v6, &payload(n.min(100), 0)));
                continue;
            }
            let mut t = Tcp::new(v6);
            t.seq = seqs[pick];
            let data = payload(n, i as u8);
            pkts.push(with_sport(tcp_packet(&t, &data), v6, 1000 + pick as u16));
            seqs[pick] = seqs[pick].wrapping_add(n as u32);
            sent[pick].extend_from_slice(&data);
        }
        let out = coalesce_all(&mut Coalescer::new(slots, 65535), &pkts);
        let mut got: [Vec<u8>; 3] = Default::default();
        let mut udp = 0;
        for (vnet, p) in &out {
            let full = if vnet.is_gso() { complete(vnet, p) } else { p.clone() };
            let x = check_packet(&full);
            let l4 = if v6 { 40 } else { 20 };
            if full[if v6 { 6 } else { 9 }] == 17 {
                udp += 1;
                continue;
            }
            let flow = usize::from(u16::from_be_bytes([full[l4], full[l4 + 1]]) - 1000);
            got[flow].extend_from_slice(&full[x.payload_at..]);
        }
        prop_assert_eq!(got, sent);
        prop_assert_eq!(udp, picks[..sizes.len()].iter().filter(|&&p| p == 3).count());
    }
}
