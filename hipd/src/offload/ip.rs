//! The few IPv4/IPv6 header facts segmentation and coalescing need.
use super::OffloadError;

/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// The largest IP packet (IPv4 total length, IPv6 header plus payload length
/// without jumbograms) this module produces or accepts.
pub const MAX_IP_LEN: usize = 65535;
/// Octets in a UDP header.
pub const UDP_HDR_LEN: usize = 8;
/// Offset of the flags octet in a TCP header.
pub const TCP_FLAGS_AT: usize = 13;
/// TCP FIN.
pub const TCP_FIN: u8 = 0x01;
/// TCP SYN.
pub const TCP_SYN: u8 = 0x02;
/// TCP RST.
pub const TCP_RST: u8 = 0x04;
/// TCP PSH.
pub const TCP_PSH: u8 = 0x08;
/// TCP ACK.
pub const TCP_ACK: u8 = 0x10;
/// TCP URG.
pub const TCP_URG: u8 = 0x20;
/// TCP ECE.
pub const TCP_ECE: u8 = 0x40;
/// TCP CWR.
pub const TCP_CWR: u8 = 0x80;

/// Where the IP header of a packet ends and what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpInfo {
    /// IPv6 (else IPv4).
    pub v6: bool,
    /// IPv4 IHL * 4, or 40 for IPv6 (extension headers are not walked).
    pub header_len: usize,
    /// IPv4 protocol or IPv6 next header.
    pub proto: u8,
}

impl IpInfo {
    /// Parses the fixed part of an IPv4 or IPv6 header. Does not look at the
    /// length fields (a super-packet's are not meaningful).
    pub fn parse(pkt: &[u8]) -> Result<Self, OffloadError> {
        match pkt.first().map(|b| b >> 4) {
            Some(4) => {
                let ihl = usize::from(pkt[0] & 0x0f) * 4;
                if ihl < 20 || pkt.len() < ihl {
                    return Err(OffloadError::BadIpHeader);
                }
                Ok(IpInfo {
                    v6: false,
                    header_len: ihl,
                    proto: pkt[9],
                })
            }
            Some(6) if pkt.len() >= 40 => Ok(IpInfo {
                v6: true,
                header_len: 40,
                proto: pkt[6],
            }),
            _ => Err(OffloadError::BadIpHeader),
        }
    }

    /// Offset of the source address (the destination follows it).
    pub fn src_at(&self) -> usize {
        if self.v6 {
            8
        } else {
            12
        }
    }

    /// Octets per address.
    pub fn addr_len(&self) -> usize {
        if self.v6 {
            16
        } else {
            4
        }
    }

    /// Source and destination addresses of `pkt` (which [`IpInfo::parse`]
    /// accepted, so they are in bounds).
    pub fn addrs<'a>(&self, pkt: &'a [u8]) -> (&'a [u8], &'a [u8]) {
        let (at, n) = (self.src_at(), self.addr_len());
        (&pkt[at..at + n], &pkt[at + n..at + 2 * n])
    }

    /// True for an IPv4 fragment (MF set or a non-zero fragment offset).
    pub fn is_fragment(&self, pkt: &[u8]) -> bool {
        !self.v6 && (pkt[6] & 0x3f != 0 || pkt[7] != 0)
    }
}

/// Big-endian u16 at `at` (caller checked bounds).
pub fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Big-endian u32 at `at` (caller checked bounds).
pub fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Stores a big-endian u16 at `at` (caller checked bounds).
pub fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Recomputes the IPv4 header checksum of `hdr` (the whole IPv4 header).
pub fn fix_ipv4_checksum(hdr: &mut [u8]) {
    put16(hdr, 10, 0);
    let c = !super::checksum::fold(super::checksum::add(0, hdr));
    put16(hdr, 10, c);
}

/// Sets the IP length field of the packet in `pkt` (its whole length).
pub fn set_ip_len(ip: &IpInfo, pkt: &mut [u8]) {
    // Callers never exceed MAX_IP_LEN, so the casts do not truncate.
    if ip.v6 {
        put16(pkt, 4, (pkt.len() - 40) as u16);
    } else {
        put16(pkt, 2, pkt.len() as u16);
    }
}
