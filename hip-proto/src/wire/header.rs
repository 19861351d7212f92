//! The fixed HIP header (RFC 7401 section 5.1; identical in RFC 5201 section 5.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Header   | Header Length |0| Packet Type |Version| RES.|1|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Checksum             |           Controls            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                Sender's Host Identity Tag (HIT)               |
//! |                Receiver's Host Identity Tag (HIT)             |
//! /                        HIP Parameters                         /
//! ```

use super::param::ParamIter;
use super::{Error, Result};
use crate::registry::{PacketType, Version};
use crate::Hit;

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;
/// IPv6 "No Next Header", the value HIP puts in Next Header (RFC 7401 5.1).
pub const NO_NEXT_HEADER: u8 = 59;

mod field {
    use core::ops::Range;
    pub const NEXT_HEADER: usize = 0;
    pub const HEADER_LEN: usize = 1;
    pub const PACKET_TYPE: usize = 2;
    pub const VERSION: usize = 3;
    pub const CHECKSUM: Range<usize> = 4..6;
    pub const CONTROLS: Range<usize> = 6..8;
    pub const SENDER_HIT: Range<usize> = 8..24;
    pub const RECEIVER_HIT: Range<usize> = 24..40;
}

/// A checked view of a HIP packet in a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checks; accessors may panic on a short buffer.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wrap a buffer and check that every header accessor is in bounds and
    /// that the Header Length field matches the buffer length exactly.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Packet { buffer };
        p.check_len()?;
        Ok(p)
    }

    /// Check lengths: the fixed header fits, and (Header Length + 1) * 8
    /// equals the buffer length (RFC 7401 section 5.1).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated {
                need: HEADER_LEN,
                have: len,
            });
        }
        let header = self.total_len();
        if header != len || header < HEADER_LEN {
            return Err(Error::BadLength {
                header,
                buffer: len,
            });
        }
        Ok(())
    }

    /// Check the fixed bits: the bit before Packet Type is 0 and the last bit
    /// of the Version octet is 1 (RFC 7401 section 5.1).
    pub fn check_fixed_bits(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b[field::PACKET_TYPE] & 0x80 != 0 || b[field::VERSION] & 0x01 != 1 {
            return Err(Error::BadFixedBits);
        }
        Ok(())
    }

    /// Consume the view and return the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Next Header (59, IPPROTO_NONE, when no payload follows).
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    /// Header Length in 8-octet units, not counting the first 8 octets.
    pub fn header_len(&self) -> u8 {
        self.buffer.as_ref()[field::HEADER_LEN]
    }

    /// The packet length the Header Length field declares, in octets.
    pub fn total_len(&self) -> usize {
        (usize::from(self.header_len()) + 1) * 8
    }

    /// Packet Type.
    pub fn packet_type(&self) -> PacketType {
        PacketType::from(self.buffer.as_ref()[field::PACKET_TYPE] & 0x7f)
    }

    /// HIP Version (the high 4 bits of octet 3).
    pub fn version(&self) -> Version {
        Version::from(self.buffer.as_ref()[field::VERSION] >> 4)
    }

    /// The 3 reserved bits after Version.
    pub fn reserved(&self) -> u8 {
        (self.buffer.as_ref()[field::VERSION] >> 1) & 0x07
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::CHECKSUM];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Controls field (RFC 7401 section 5.1.2).
    pub fn controls(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::CONTROLS];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Sender's HIT.
    pub fn sender_hit(&self) -> Hit {
        let mut h = [0; 16];
        h.copy_from_slice(&self.buffer.as_ref()[field::SENDER_HIT]);
        Hit(h)
    }

    /// Receiver's HIT.
    pub fn receiver_hit(&self) -> Hit {
        let mut h = [0; 16];
        h.copy_from_slice(&self.buffer.as_ref()[field::RECEIVER_HIT]);
        Hit(h)
    }

    /// The parameter area, bounded by the Header Length field.
    pub fn params_bytes(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = self.total_len().min(b.len());
        &b[HEADER_LEN.min(end)..end]
    }

    /// Iterate over the parameters.
    pub fn params(&self) -> ParamIter<'_> {
        ParamIter::new(self.params_bytes(), HEADER_LEN)
    }

    /// The whole packet as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = v;
    }
    pub fn set_header_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::HEADER_LEN] = v;
    }
    pub fn set_packet_type(&mut self, t: PacketType) {
        self.buffer.as_mut()[field::PACKET_TYPE] = u8::from(t) & 0x7f;
    }
    /// Set Version, clearing the reserved bits and setting the fixed bit.
    pub fn set_version(&mut self, v: Version) {
        self.buffer.as_mut()[field::VERSION] = (u8::from(v) << 4) | 0x01;
    }
    /// Set the reserved bits (kept only for byte-exact re-emission).
    pub fn set_reserved(&mut self, r: u8) {
        let b = &mut self.buffer.as_mut()[field::VERSION];
        *b = (*b & 0xf1) | ((r & 0x07) << 1);
    }
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_controls(&mut self, v: u16) {
        self.buffer.as_mut()[field::CONTROLS].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_sender_hit(&mut self, h: Hit) {
        self.buffer.as_mut()[field::SENDER_HIT].copy_from_slice(&h.0);
    }
    pub fn set_receiver_hit(&mut self, h: Hit) {
        self.buffer.as_mut()[field::RECEIVER_HIT].copy_from_slice(&h.0);
    }
    /// Mutable parameter area.
    pub fn params_bytes_mut(&mut self) -> &mut [u8] {
        let end = self.total_len().min(self.buffer.as_ref().len());
        &mut self.buffer.as_mut()[HEADER_LEN.min(end)..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i1() -> Vec<u8> {
        let mut b = vec![0u8; 40];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_next_header(NO_NEXT_HEADER);
        p.set_header_len(4);
        p.set_packet_type(PacketType::I1);
        p.set_version(Version::V2);
        p.set_sender_hit(Hit([0x20; 16]));
        b
    }

    #[test]
    fn header_fields() {
        let b = i1();
        let p = Packet::new_checked(&b[..]).unwrap();
        p.check_fixed_bits().unwrap();
        assert_eq!(p.packet_type(), PacketType::I1);
        assert_eq!(p.version(), Version::V2);
        assert_eq!(p.sender_hit(), Hit([0x20; 16]));
        assert_eq!(p.params().count(), 0);
    }

    #[test]
    fn length_and_fixed_bits_are_checked() {
        let mut b = i1();
        b[1] = 5;
        assert!(matches!(
            Packet::new_checked(&b[..]),
            Err(Error::BadLength { .. })
        ));
        assert!(matches!(
            Packet::new_checked(&b[..30]),
            Err(Error::Truncated { .. })
        ));
        let mut b = i1();
        b[3] &= 0xfe;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap().check_fixed_bits(),
            Err(Error::BadFixedBits)
        );
    }
}
