//! A whole HIP packet as a typed value (RFC 7401 section 5, RFC 5201 section 5).

use super::header::{Packet, HEADER_LEN};
use super::params::ParamRepr;
use super::types::ParamType;
use super::{checksum, Error, Result};
use crate::registry::{PacketType, Version};
use crate::Hit;
use std::net::IpAddr;

/// The largest HIP packet: Header Length is one octet of 8-octet units.
pub const MAX_PACKET_LEN: usize = (255 + 1) * 8;

/// Options for [`HipRepr::parse`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Accept parameters that are not in ascending type order. RFC 7401
    /// section 5.2.1 requires the order; an older cutehip sent R1 parameters
    /// out of order (see ../shared/interop/cutehip/README.md). Off by default.
    pub allow_unordered: bool,
    /// Accept unknown critical parameters instead of failing. For
    /// diagnostics only; the protocol must reject them (RFC 7401 5.2.1).
    pub allow_unknown_critical: bool,
    /// Treat HIPL 1.0.8's private NAT parameters (types 4120 and 4121, from
    /// draft-era NAT traversal; 4121 has the critical bit) as understood.
    /// HIPL sends them in R1 and I2 with `nat plain-udp`.
    pub hipl_private: bool,
}

/// HIPL 1.0.8's private parameter types (see [`ParseOptions::hipl_private`]).
pub const HIPL_PRIVATE_PARAMS: [u16; 2] = [4120, 4121];

/// A HIP packet: the fixed header fields and the parameters in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HipRepr {
    pub next_header: u8,
    pub packet_type: PacketType,
    pub version: Version,
    /// The three reserved bits after Version (zero on send).
    pub reserved: u8,
    pub controls: u16,
    pub sender_hit: Hit,
    pub receiver_hit: Hit,
    pub params: Vec<ParamRepr>,
}

impl HipRepr {
    /// A packet with no parameters, Next Header 59 and Controls 0.
    pub fn new(
        packet_type: PacketType,
        version: Version,
        sender_hit: Hit,
        receiver_hit: Hit,
    ) -> Self {
        HipRepr {
            next_header: 59,
            packet_type,
            version,
            reserved: 0,
            controls: 0,
            sender_hit,
            receiver_hit,
            params: Vec::new(),
        }
    }

    /// Parse and validate a packet: length, fixed bits, version, every
    /// parameter's syntax, ascending order and unknown critical parameters.
    pub fn parse(packet: &Packet<&[u8]>, opts: ParseOptions) -> Result<HipRepr> {
        packet.check_len()?;
        packet.check_fixed_bits()?;
        let version = packet.version();
        if !matches!(version, Version::V1 | Version::V2) {
            return Err(Error::UnsupportedVersion(version.value()));
        }
        let mut params = Vec::new();
        let mut prev = 0u16;
        for p in packet.params() {
            let p = p?;
            let ty = p.raw_type();
            if ty < prev && !opts.allow_unordered {
                return Err(Error::ParamOrder { prev, ty });
            }
            prev = ty;
            let repr = ParamRepr::parse(ty, p.contents())?;
            if let ParamRepr::Unknown { ty, .. } = repr {
                let private_ok = opts.hipl_private && HIPL_PRIVATE_PARAMS.contains(&ty);
                if ty & 1 == 1 && !opts.allow_unknown_critical && !private_ok {
                    return Err(Error::UnknownCriticalParam(ty));
                }
            }
            params.push(repr);
        }
        Ok(HipRepr {
            next_header: packet.next_header(),
            packet_type: packet.packet_type(),
            version,
            reserved: packet.reserved(),
            controls: packet.controls(),
            sender_hit: packet.sender_hit(),
            receiver_hit: packet.receiver_hit(),
            params,
        })
    }

    /// Parse from bytes with default options.
    pub fn parse_bytes(bytes: &[u8]) -> Result<HipRepr> {
        HipRepr::parse(&Packet::new_checked(bytes)?, ParseOptions::default())
    }

    /// Length of the emitted packet.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.params.iter().map(ParamRepr::buffer_len).sum::<usize>()
    }

    /// Emit the packet with a zero checksum.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = vec![0u8; HEADER_LEN];
        for p in &self.params {
            p.emit(&mut out)?;
        }
        if out.len() > MAX_PACKET_LEN {
            return Err(Error::TooLong);
        }
        let header_len = (out.len() / 8 - 1) as u8;
        let mut pk = Packet::new_unchecked(&mut out[..]);
        pk.set_next_header(self.next_header);
        pk.set_header_len(header_len);
        pk.set_packet_type(self.packet_type);
        pk.set_version(self.version);
        pk.set_reserved(self.reserved);
        pk.set_controls(self.controls);
        pk.set_sender_hit(self.sender_hit);
        pk.set_receiver_hit(self.receiver_hit);
        Ok(out)
    }

    /// Emit the packet with the checksum for these locators.
    pub fn to_bytes_with_checksum(&self, src: IpAddr, dst: IpAddr) -> Result<Vec<u8>> {
        let mut out = self.to_bytes()?;
        checksum::fill(&mut out, src, dst);
        Ok(out)
    }

    /// The first parameter of a type.
    pub fn param(&self, ty: ParamType) -> Option<&ParamRepr> {
        let t = ty.value();
        self.params.iter().find(|p| p.type_number() == t)
    }

    /// All parameters of a type.
    pub fn params_of(&self, ty: ParamType) -> impl Iterator<Item = &ParamRepr> {
        let t = ty.value();
        self.params.iter().filter(move |p| p.type_number() == t)
    }

    /// Insert a parameter at its place in ascending type order (after any
    /// parameters of the same type).
    pub fn insert_ordered(&mut self, p: ParamRepr) {
        let t = p.type_number();
        let pos = self
            .params
            .iter()
            .position(|q| q.type_number() > t)
            .unwrap_or(self.params.len());
        self.params.insert(pos, p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::params::*;

    #[test]
    fn order_and_critical_rules() {
        let mut r = HipRepr::new(PacketType::R2, Version::V2, Hit([1; 16]), Hit([2; 16]));
        r.params.push(ParamRepr::HipMac(vec![1; 32]));
        r.params.push(ParamRepr::EspInfo(EspInfo {
            reserved: 0,
            keymat_index: 0,
            old_spi: 0,
            new_spi: 5,
        }));
        let b = r.to_bytes().unwrap();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(matches!(
            HipRepr::parse(&p, ParseOptions::default()),
            Err(Error::ParamOrder { .. })
        ));
        let lenient = ParseOptions {
            allow_unordered: true,
            ..Default::default()
        };
        assert_eq!(HipRepr::parse(&p, lenient).unwrap(), r);

        let mut r = HipRepr::new(PacketType::R2, Version::V2, Hit([1; 16]), Hit([2; 16]));
        r.params.push(ParamRepr::Unknown {
            ty: 1001,
            contents: vec![9; 3],
        });
        let b = r.to_bytes().unwrap();
        assert_eq!(
            HipRepr::parse_bytes(&b),
            Err(Error::UnknownCriticalParam(1001))
        );
        r.params[0] = ParamRepr::Unknown {
            ty: 1000,
            contents: vec![9; 3],
        };
        let b = r.to_bytes().unwrap();
        assert_eq!(HipRepr::parse_bytes(&b).unwrap(), r);
    }

    #[test]
    fn insert_ordered_keeps_ascending_types() {
        let mut r = HipRepr::new(PacketType::I2, Version::V2, Hit([1; 16]), Hit([2; 16]));
        r.insert_ordered(ParamRepr::HipMac(vec![1; 20]));
        r.insert_ordered(ParamRepr::Seq(1));
        r.insert_ordered(ParamRepr::EspInfo(EspInfo {
            reserved: 0,
            keymat_index: 1,
            old_spi: 2,
            new_spi: 3,
        }));
        let types: Vec<u16> = r.params.iter().map(|p| p.type_number()).collect();
        assert_eq!(types, vec![65, 385, 61505]);
    }
}
