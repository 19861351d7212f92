//! `struct virtio_net_hdr` as the TUN driver reads and writes it
//! (`include/uapi/linux/virtio_net.h`; `Documentation/networking/tuntap.rst`).
//!
//! Layout: `flags: u8, gso_type: u8, hdr_len, gso_size, csum_start,
//! csum_offset: __virtio16`. For a TUN without `TUNSETVNETLE`/`TUNSETVNETBE`
//! the 16-bit fields are in the host's native byte order (the legacy virtio
//! rule, `tun_is_little_endian` in `drivers/net/tun_vnet.h`), i.e.
//! little-endian on x86 and arm64; this module uses native order to match.
//! The size the TUN prepends is 10 octets unless changed by `TUNSETVNETHDRSZ`;
//! hipd sets it to [`VNET_HDR_LEN`].
use super::OffloadError;

/// Size of `struct virtio_net_hdr` (what `TUNSETVNETHDRSZ` is set to).
pub const VNET_HDR_LEN: usize = 10;

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum is partial; complete it from
/// `csum_start`, storing at `csum_start + csum_offset` (`CHECKSUM_PARTIAL`).
pub const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`: the checksum has been verified.
pub const F_DATA_VALID: u8 = 2;
/// `VIRTIO_NET_HDR_F_RSC_INFO`: RSC information in the csum fields (unused).
pub const F_RSC_INFO: u8 = 4;

/// `VIRTIO_NET_HDR_GSO_NONE`: not a GSO frame.
pub const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`: TCP over IPv4 (TSO).
pub const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_UDP`: IPv4 UDP fragmentation offload (UFO, refused).
pub const GSO_UDP: u8 = 3;
/// `VIRTIO_NET_HDR_GSO_TCPV6`: TCP over IPv6.
pub const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_UDP_L4`: UDP segmentation (USO), IPv4 or IPv6.
pub const GSO_UDP_L4: u8 = 5;
/// `VIRTIO_NET_HDR_GSO_ECN`: flag bit on `gso_type`, TCP has ECN set.
pub const GSO_ECN: u8 = 0x80;

/// A parsed `struct virtio_net_hdr`, fields in host order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// `F_*` bits.
    pub flags: u8,
    /// One of the `GSO_*` values, possibly with [`GSO_ECN`].
    pub gso_type: u8,
    /// Length of the IP plus transport headers (advisory: not trusted).
    pub hdr_len: u16,
    /// Payload octets per segment (the MSS for TCP).
    pub gso_size: u16,
    /// Offset of the transport header, where checksumming starts.
    pub csum_start: u16,
    /// Offset of the checksum field from `csum_start` (16 TCP, 6 UDP).
    pub csum_offset: u16,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

impl VnetHdr {
    /// Parses the first [`VNET_HDR_LEN`] octets of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Self, OffloadError> {
        let b = buf.get(..VNET_HDR_LEN).ok_or(OffloadError::ShortVnetHdr)?;
        Ok(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(b, 2),
            gso_size: u16_at(b, 4),
            csum_start: u16_at(b, 6),
            csum_offset: u16_at(b, 8),
        })
    }

    /// Writes the header into the first [`VNET_HDR_LEN`] octets of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), OffloadError> {
        let b = buf
            .get_mut(..VNET_HDR_LEN)
            .ok_or(OffloadError::BufferTooSmall)?;
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        Ok(())
    }

    /// The GSO type without the [`GSO_ECN`] bit.
    pub fn gso_kind(&self) -> u8 {
        self.gso_type & !GSO_ECN
    }

    /// True if the packet must be split into several ([`GSO_NONE`] is not).
    pub fn is_gso(&self) -> bool {
        self.gso_kind() != GSO_NONE
    }

    /// True if [`F_NEEDS_CSUM`] is set.
    pub fn needs_csum(&self) -> bool {
        self.flags & F_NEEDS_CSUM != 0
    }
}
