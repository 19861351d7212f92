//! Classic libpcap files: reading, writing, and decoding a captured frame down
//! to the HIP or ESP payload it carries.
//!
//! Used by tests, `hip-inspect` and the fuzz seeds. Pure functions over byte
//! slices; no I/O other than writing into a caller's `std::io::Write`.
//! Format: the libpcap "tcpdump" file format (24-byte global header,
//! 16-byte record headers), both byte orders, micro- and nanosecond magic.
//! HIP over UDP: RFC 5770 section 5.1 (port 10500, a 32-bit zero marker in
//! front of HIP control packets; ESP follows the UDP header directly).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The UDP port RFC 5770 and RFC 9028 assign to HIP and ESP over UDP.
pub const HIP_UDP_PORT: u16 = 10500;
/// IP protocol number of HIP (RFC 7401 section 5.1).
pub const IPPROTO_HIP: u8 = 139;
/// IP protocol number of ESP (RFC 4303).
pub const IPPROTO_ESP: u8 = 50;

/// Errors from reading a pcap file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PcapError {
    #[error("pcap file shorter than its 24-byte header")]
    ShortHeader,
    #[error("not a pcap file (magic {0:#010x})")]
    BadMagic(u32),
    #[error("pcap record {index} truncated")]
    TruncatedRecord { index: usize },
    #[error("unsupported pcap link type {0}")]
    UnsupportedLinkType(u32),
}

/// Link-layer header types this reader understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// DLT_EN10MB.
    Ethernet,
    /// DLT_RAW / LINKTYPE_RAW (101), LINKTYPE_IPV4 (228), LINKTYPE_IPV6 (229).
    RawIp,
    /// Linux cooked capture (113).
    LinuxSll,
}

impl LinkType {
    fn from_u32(v: u32) -> Result<Self, PcapError> {
        match v {
            1 => Ok(LinkType::Ethernet),
            101 | 228 | 229 | 12 | 14 => Ok(LinkType::RawIp),
            113 => Ok(LinkType::LinuxSll),
            other => Err(PcapError::UnsupportedLinkType(other)),
        }
    }

    fn to_u32(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::RawIp => 101,
            LinkType::LinuxSll => 113,
        }
    }
}

/// One record of a pcap file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// Timestamp in nanoseconds since the epoch.
    pub timestamp_ns: u64,
    /// The captured bytes (possibly shorter than the original frame).
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub orig_len: u32,
}

/// A parsed pcap file borrowing its records from the input.
#[derive(Debug, Clone)]
pub struct Pcap<'a> {
    pub link_type: LinkType,
    pub records: Vec<Record<'a>>,
}

/// Parse a whole pcap file.
pub fn parse(bytes: &[u8]) -> Result<Pcap<'_>, PcapError> {
    if bytes.len() < 24 {
        return Err(PcapError::ShortHeader);
    }
    let magic_le = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let (big_endian, nanos) = match magic_le {
        0xa1b2_c3d4 => (false, false),
        0xa1b2_3c4d => (false, true),
        0xd4c3_b2a1 => (true, false),
        0x4d3c_b2a1 => (true, true),
        other => return Err(PcapError::BadMagic(other)),
    };
    let rd32 = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    };
    let link_type = LinkType::from_u32(rd32(&bytes[20..24]) & 0x0fff_ffff)?;
    let mut records = Vec::new();
    let mut off = 24;
    while off < bytes.len() {
        let index = records.len();
        let hdr = bytes
            .get(off..off + 16)
            .ok_or(PcapError::TruncatedRecord { index })?;
        let secs = u64::from(rd32(&hdr[0..4]));
        let frac = u64::from(rd32(&hdr[4..8]));
        let incl = rd32(&hdr[8..12]) as usize;
        let orig_len = rd32(&hdr[12..16]);
        let start = off + 16;
        let data = start
            .checked_add(incl)
            .and_then(|end| bytes.get(start..end))
            .ok_or(PcapError::TruncatedRecord { index })?;
        let timestamp_ns = secs * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
        records.push(Record {
            timestamp_ns,
            data,
            orig_len,
        });
        off = start + incl;
    }
    Ok(Pcap { link_type, records })
}

/// Writes a little-endian microsecond pcap file.
pub struct Writer<W: std::io::Write> {
    out: W,
}

impl<W: std::io::Write> Writer<W> {
    /// Write the global header.
    pub fn new(mut out: W, link_type: LinkType) -> std::io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&65535u32.to_le_bytes());
        h.extend_from_slice(&link_type.to_u32().to_le_bytes());
        out.write_all(&h)?;
        Ok(Writer { out })
    }

    /// Append one frame.
    pub fn write(&mut self, timestamp_ns: u64, frame: &[u8]) -> std::io::Result<()> {
        let len = u32::try_from(frame.len())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "frame too long"))?;
        let secs = (timestamp_ns / 1_000_000_000) as u32;
        let usecs = ((timestamp_ns % 1_000_000_000) / 1000) as u32;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&usecs.to_le_bytes());
        h[8..12].copy_from_slice(&len.to_le_bytes());
        h[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(frame)
    }

    /// Give back the inner writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// What a captured frame carries, as far as HIP is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport<'a> {
    /// HIP directly over IP (protocol 139): the HIP packet.
    Hip(&'a [u8]),
    /// ESP directly over IP (protocol 50): the ESP packet from the SPI on.
    Esp(&'a [u8]),
    /// HIP over UDP port 10500: the HIP packet after the zero marker.
    HipOverUdp {
        sport: u16,
        dport: u16,
        hip: &'a [u8],
    },
    /// ESP over UDP port 10500: the ESP packet from the SPI on.
    EspOverUdp {
        sport: u16,
        dport: u16,
        esp: &'a [u8],
    },
    /// Anything else (other protocols, fragments, truncated headers).
    Other,
}

/// A frame decoded to its IP addresses and HIP-relevant payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Captured<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    pub transport: Transport<'a>,
}

/// Decode a link-layer frame down to IP and the HIP/ESP payload.
/// Returns `None` for non-IP frames.
pub fn decode_frame(link: LinkType, frame: &[u8]) -> Option<Captured<'_>> {
    let ip = match link {
        LinkType::RawIp => frame,
        LinkType::Ethernet => {
            let mut ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
            let mut off = 14;
            // 802.1Q VLAN tags.
            while ethertype == 0x8100 || ethertype == 0x88a8 {
                ethertype = u16::from_be_bytes([*frame.get(off + 2)?, *frame.get(off + 3)?]);
                off += 4;
            }
            if ethertype != 0x0800 && ethertype != 0x86dd {
                return None;
            }
            frame.get(off..)?
        }
        LinkType::LinuxSll => frame.get(16..)?,
    };
    decode_ip(ip)
}

/// Decode an IPv4 or IPv6 packet down to the HIP/ESP payload.
pub fn decode_ip(ip: &[u8]) -> Option<Captured<'_>> {
    let version = ip.first()? >> 4;
    let (src, dst, ttl, proto, payload) = match version {
        4 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            if ihl < 20 || total < ihl {
                return None;
            }
            let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            let ttl = *ip.get(8)?;
            let proto = *ip.get(9)?;
            let payload = ip.get(ihl..total.min(ip.len()))?;
            if frag & 0x3fff != 0 {
                // A fragment: not decodable on its own.
                return Some(Captured {
                    src: Ipv4Addr::from(src).into(),
                    dst: Ipv4Addr::from(dst).into(),
                    ttl,
                    transport: Transport::Other,
                });
            }
            (
                IpAddr::from(Ipv4Addr::from(src)),
                IpAddr::from(Ipv4Addr::from(dst)),
                ttl,
                proto,
                payload,
            )
        }
        6 => {
            let plen = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            let ttl = *ip.get(7)?;
            let mut next = *ip.get(6)?;
            let end = (40 + plen).min(ip.len());
            let mut off = 40;
            // Skip extension headers: hop-by-hop, routing, destination options.
            for _ in 0..8 {
                match next {
                    0 | 43 | 60 => {
                        let nh = *ip.get(off)?;
                        let len = (usize::from(*ip.get(off + 1)?) + 1) * 8;
                        next = nh;
                        off += len;
                    }
                    _ => break,
                }
            }
            (
                IpAddr::from(Ipv6Addr::from(src)),
                IpAddr::from(Ipv6Addr::from(dst)),
                ttl,
                next,
                ip.get(off..end)?,
            )
        }
        _ => return None,
    };
    let transport = match proto {
        IPPROTO_HIP => Transport::Hip(payload),
        IPPROTO_ESP => Transport::Esp(payload),
        17 => decode_udp(payload),
        _ => Transport::Other,
    };
    Some(Captured {
        src,
        dst,
        ttl,
        transport,
    })
}

/// RFC 5770 section 5.1: on port 10500 a packet starting with a 32-bit zero
/// marker is HIP; otherwise it is ESP (an SPI is never zero).
fn decode_udp(udp: &[u8]) -> Transport<'_> {
    let (Some(h), Some(body)) = (udp.get(..8), udp.get(8..)) else {
        return Transport::Other;
    };
    let sport = u16::from_be_bytes([h[0], h[1]]);
    let dport = u16::from_be_bytes([h[2], h[3]]);
    let ulen = usize::from(u16::from_be_bytes([h[4], h[5]]));
    if sport != HIP_UDP_PORT && dport != HIP_UDP_PORT {
        return Transport::Other;
    }
    let body = if ulen >= 8 && ulen - 8 <= body.len() {
        &body[..ulen - 8]
    } else {
        body
    };
    match body {
        [0, 0, 0, 0, hip @ ..] => Transport::HipOverUdp { sport, dport, hip },
        esp if esp.len() >= 8 => Transport::EspOverUdp { sport, dport, esp },
        _ => Transport::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back() {
        let mut w = Writer::new(Vec::new(), LinkType::RawIp).unwrap();
        w.write(1_500_000_123_000, &[0x45, 0, 0, 20]).unwrap();
        w.write(2_000_000_000_000, &[1, 2, 3]).unwrap();
        let bytes = w.into_inner();
        let p = parse(&bytes).unwrap();
        assert_eq!(p.link_type, LinkType::RawIp);
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.records[0].timestamp_ns, 1_500_000_123_000);
        assert_eq!(p.records[1].data, &[1, 2, 3]);
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert_eq!(parse(&[0; 3]).unwrap_err(), PcapError::ShortHeader);
        assert!(matches!(parse(&[0xff; 24]), Err(PcapError::BadMagic(_))));
        let mut w = Writer::new(Vec::new(), LinkType::Ethernet).unwrap();
        w.write(0, &[0; 40]).unwrap();
        let mut bytes = w.into_inner();
        bytes.truncate(bytes.len() - 1);
        assert_eq!(
            parse(&bytes).unwrap_err(),
            PcapError::TruncatedRecord { index: 0 }
        );
        for len in 0..60 {
            let _ = decode_frame(LinkType::Ethernet, &vec![0x86; len]);
            let _ = decode_ip(&vec![0x45; len]);
            let _ = decode_ip(&vec![0x60; len]);
        }
    }

    #[test]
    fn udp_marker_tells_hip_from_esp() {
        let mut udp = vec![0x29, 0x04, 0x29, 0x04, 0, 20, 0, 0];
        udp.extend_from_slice(&[0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(matches!(decode_udp(&udp), Transport::HipOverUdp { hip, .. } if hip.len() == 8));
        udp[8] = 1;
        assert!(matches!(decode_udp(&udp), Transport::EspOverUdp { esp, .. } if esp.len() == 12));
    }
}
