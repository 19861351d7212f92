//! TUN offloads (GSO on the way out, GRO on the way in), pure and I/O-free.
//!
//! With `IFF_VNET_HDR` and `TUNSETOFFLOAD` (`TUN_F_CSUM | TUN_F_TSO4 |
//! TUN_F_TSO6 [| TUN_F_USO4 | TUN_F_USO6]`), every read from the TUN starts
//! with a `struct virtio_net_hdr` ([`vnet`]) and may carry a TCP or UDP
//! super-packet of up to 64 KB with a partial checksum; [`segment()`] splits it
//! into MSS-sized IP packets ready for ESP. On the way back, [`coalesce`]
//! merges in-order TCP segments of one flow into one super-packet written to
//! the TUN with a vnet header, so the kernel's TCP stack sees few large
//! packets.
//!
//! The design follows wireguard-go (`tun/offload_linux.go`, `tun/tun_linux.go`
//! in WireGuard/wireguard-go: `gsoSplit`, `gsoNoneChecksum`, `tcpGRO`,
//! `applyTCPCoalesceAccounting`) and, where it is stricter, the kernel
//! (`include/uapi/linux/virtio_net.h`, `include/linux/virtio_net.h`
//! `virtio_net_hdr_to_skb`, `net/ipv4/tcp_offload.c` `tcp_gso_segment` and
//! `tcp_gro_receive`, `net/ipv6/ip6_offload.c` `ipv6_gro_receive`).
//! Neither path allocates per packet: [`segment::segment`] writes into one
//! caller-provided buffer, [`coalesce::Coalescer`] into storage allocated
//! once at construction.
pub mod checksum;
pub mod coalesce;
pub mod ip;
pub mod segment;
pub mod vnet;

pub use coalesce::{Coalescer, Pushed};
pub use segment::{complete_checksum, segment};
pub use vnet::VnetHdr;

/// Why a packet could not be segmented, checksummed or coalesced. The data
/// plane drops the packet and counts the error; none of these is fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OffloadError {
    /// Fewer octets than a `struct virtio_net_hdr`.
    #[error("shorter than a virtio_net_hdr")]
    ShortVnetHdr,
    /// The output buffer cannot hold the header or the largest segment.
    #[error("output buffer too small")]
    BufferTooSmall,
    /// A `gso_type` this module does not handle (UFO, unknown values).
    #[error("unsupported GSO type {0}")]
    UnsupportedGsoType(u8),
    /// GSO requested with `gso_size` 0.
    #[error("gso_size is 0 for a GSO packet")]
    ZeroGsoSize,
    /// Segment header plus `gso_size` exceeds an IP packet's 65535 octets.
    #[error("gso_size too large")]
    GsoSizeTooLarge,
    /// `hdr_len` points beyond the end of the packet.
    #[error("hdr_len beyond the packet")]
    HdrLenBeyondPacket,
    /// `csum_start`/`csum_offset` do not designate a checksum inside the
    /// packet, or do not match the transport header of a GSO packet.
    #[error("bad csum_start/csum_offset")]
    BadCsumOffsets,
    /// Not an IPv4 or IPv6 packet, or one whose IP header is truncated.
    #[error("malformed IP header")]
    BadIpHeader,
    /// The IP version does not match the GSO type (e.g. TCPV6 on IPv4).
    #[error("IP version does not match the GSO type")]
    VersionMismatch,
    /// The transport protocol does not match the GSO type, or the IPv6
    /// packet has extension headers (not supported for GSO).
    #[error("transport protocol does not match the GSO type (or IPv6 extension header)")]
    ProtocolMismatch,
    /// An IPv4 fragment cannot be segmented.
    #[error("IPv4 fragment")]
    Fragment,
    /// The TCP data offset or UDP header is malformed or truncated.
    #[error("malformed transport header")]
    BadTransportHeader,
    /// A GSO packet without payload.
    #[error("GSO packet without payload")]
    EmptyPayload,
    /// A packet longer than 65535 octets.
    #[error("packet too large")]
    TooLarge,
    /// Every coalescer slot is in use: flush, then push again.
    #[error("coalescer full")]
    CoalescerFull,
}

#[cfg(test)]
mod tests;
