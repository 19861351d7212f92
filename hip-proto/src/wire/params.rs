//! Typed representations of every HIP parameter.
//!
//! Each variant of [`ParamRepr`] parses from a parameter's contents and emits
//! them back. Layouts: RFC 7401 section 5.2 (v2), RFC 5201 section 5.2 (v1),
//! RFC 7402 section 5.1 (ESP_INFO, ESP_TRANSFORM), RFC 5206 / RFC 8046
//! (LOCATOR / LOCATOR_SET), RFC 8003 (REG_*), RFC 8004 (FROM, VIA_RVS,
//! RVS_HMAC), RFC 5770 / RFC 9028 (NAT traversal), RFC 5201 (HIP_TRANSFORM,
//! R1_COUNTER v1). Parameters with no typed form are kept as `Unknown`.
//!
//! Where the wire shows two layouts for one type, the representation keeps
//! which one it was (HOST_ID's RFC 5201 DNSKEY layout that HIPL also uses in
//! its "v2", and the 1-octet v1 vs 2-octet v2 signature algorithm field), so
//! that emit(parse(bytes)) == bytes.

use super::param::padded_len;
use super::types::{
    CandidateKind, LocatorType, NatTraversalMode, NotifyMessageType, ParamType, RegType,
};
use super::{Error, Result};
use crate::registry::{
    DhGroupId, DiType, EspTransformId, HiAlgorithm, HipCipherId, HipTransformId, HitSuiteId,
};

/// ESP_INFO (RFC 7402 section 5.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspInfo {
    pub reserved: u16,
    pub keymat_index: u16,
    pub old_spi: u32,
    pub new_spi: u32,
}

/// One locator of LOCATOR (RFC 5206 section 4) / LOCATOR_SET (RFC 8046 section 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locator {
    pub traffic_type: u8,
    pub locator_type: LocatorType,
    /// The Locator Length field, in 4-octet units, as received.
    pub length_field: u8,
    /// The octet holding Reserved and the P (preferred) bit.
    pub flags: u8,
    pub lifetime: u32,
    /// The locator itself (for type 1: SPI then IPv6 address).
    pub data: Vec<u8>,
}

impl Locator {
    /// The P bit: this locator is preferred (RFC 8046 section 4).
    pub fn preferred(&self) -> bool {
        self.flags & 1 == 1
    }

    /// Build a type 1 (ESP SPI + IPv6 or v4-mapped address) locator with the
    /// RFC length (5 units of 4 octets).
    pub fn esp_spi(spi: u32, addr: std::net::Ipv6Addr, preferred: bool, lifetime: u32) -> Self {
        let mut data = spi.to_be_bytes().to_vec();
        data.extend_from_slice(&addr.octets());
        Locator {
            traffic_type: 0,
            locator_type: LocatorType::EspSpiIpv6,
            length_field: 5,
            flags: u8::from(preferred),
            lifetime,
            data,
        }
    }

    /// Build a type 2 transport locator (RFC 5770 section 5.7, RFC 9028
    /// section 5.7; Locator Length 7): UDP `port`, candidate `kind`
    /// ([`CandidateKind`]), ICE `priority`, `spi` and the address (IPv4
    /// v4-mapped).
    pub fn transport(
        at: std::net::SocketAddr,
        kind: CandidateKind,
        priority: u32,
        spi: u32,
        preferred: bool,
        lifetime: u32,
    ) -> Self {
        let addr = match at.ip() {
            std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            std::net::IpAddr::V6(v6) => v6,
        };
        let mut data = at.port().to_be_bytes().to_vec();
        data.push(17);
        data.push(kind.value());
        data.extend_from_slice(&priority.to_be_bytes());
        data.extend_from_slice(&spi.to_be_bytes());
        data.extend_from_slice(&addr.octets());
        Locator {
            traffic_type: 0,
            locator_type: LocatorType::Transport,
            length_field: 7,
            flags: u8::from(preferred),
            lifetime,
            data,
        }
    }

    /// A type 2 transport locator's UDP transport address and candidate
    /// kind; `None` for other types, other protocols than UDP or a wrong
    /// length.
    pub fn transport_address(&self) -> Option<(std::net::SocketAddr, CandidateKind)> {
        if self.locator_type != LocatorType::Transport || self.data.len() != 28 {
            return None;
        }
        let port = u16::from_be_bytes([self.data[0], self.data[1]]);
        if self.data[2] != 17 || port == 0 {
            return None;
        }
        let ip = self.address()?;
        Some((
            std::net::SocketAddr::new(ip, port),
            CandidateKind::from(self.data[3]),
        ))
    }

    /// The SPI of a type 1 locator.
    pub fn spi(&self) -> Option<u32> {
        match self.locator_type {
            LocatorType::EspSpiIpv6 if self.data.len() == 20 => Some(u32::from_be_bytes([
                self.data[0],
                self.data[1],
                self.data[2],
                self.data[3],
            ])),
            _ => None,
        }
    }

    /// The address carried by a type 0 or type 1 locator, v4-mapped
    /// addresses turned back into IPv4.
    pub fn address(&self) -> Option<std::net::IpAddr> {
        let raw: [u8; 16] = match self.locator_type {
            LocatorType::Ipv6 if self.data.len() == 16 => self.data[..].try_into().ok()?,
            LocatorType::EspSpiIpv6 if self.data.len() == 20 => self.data[4..].try_into().ok()?,
            LocatorType::Transport if self.data.len() == 28 => self.data[12..].try_into().ok()?,
            _ => return None,
        };
        let v6 = std::net::Ipv6Addr::from(raw);
        Some(match v6.to_ipv4_mapped() {
            Some(v4) => v4.into(),
            None => v6.into(),
        })
    }
}

/// PUZZLE (RFC 7401 section 5.2.4; v1: RFC 5201 section 5.2.4, 8-octet #I).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Puzzle {
    pub k: u8,
    pub lifetime: u8,
    pub opaque: [u8; 2],
    pub i: Vec<u8>,
}

/// SOLUTION (RFC 7401 section 5.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solution {
    pub k: u8,
    pub reserved: u8,
    pub opaque: [u8; 2],
    pub i: Vec<u8>,
    pub j: Vec<u8>,
}

/// One public value of DIFFIE_HELLMAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhValue {
    pub group: DhGroupId,
    pub public: Vec<u8>,
}

/// DIFFIE_HELLMAN (RFC 7401 section 5.2.7). RFC 5201 allows two public
/// values (HIPL's v1 R1 sends groups 3 and 1); bytes after the last value
/// that do not form a whole value are kept in `trailing`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffieHellman {
    pub values: Vec<DhValue>,
    pub trailing: Vec<u8>,
}

/// Which layout a HOST_ID parameter uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostIdLayout {
    /// RFC 7401 section 5.2.9: 2-octet Algorithm field, then the key.
    Rfc7401,
    /// RFC 5201 section 5.2.8: DNSKEY RDATA (flags, protocol, algorithm, key).
    Rfc5201 { flags: u16, protocol: u8 },
}

/// HOST_ID (RFC 7401 section 5.2.9, RFC 5201 section 5.2.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostId {
    pub layout: HostIdLayout,
    pub algorithm: HiAlgorithm,
    /// The "Host Identity" key bytes (without algorithm or DNSKEY header).
    pub hi: Vec<u8>,
    pub di_type: DiType,
    /// The Domain Identifier (FQDN or NAI), as sent.
    pub di: Vec<u8>,
}

/// CERT (RFC 7401 section 5.2.2 of RFC 8002).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cert {
    pub group: u8,
    pub count: u8,
    pub id: u8,
    pub cert_type: u8,
    pub certificate: Vec<u8>,
}

/// NOTIFICATION (RFC 7401 section 5.2.19).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub reserved: u16,
    pub msg_type: NotifyMessageType,
    pub data: Vec<u8>,
}

/// A transport address as in REG_FROM, RELAY_FROM, RELAY_TO, RELAYED_ADDRESS
/// and MAPPED_ADDRESS (RFC 5770 section 5.5-5.7, RFC 9028 section 5.12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportAddr {
    pub port: u16,
    pub protocol: u8,
    pub reserved: u8,
    pub address: [u8; 16],
}

/// PEER_PERMISSION (RFC 9028 section 5.13): a Data Relay Client asks its
/// Data Relay Server to forward ESP between the client and the peer at
/// `peer` (a transport address) on the SPIs the two use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPermission {
    /// The peer's transport address.
    pub peer: TransportAddr,
    /// The SPI of the client's outbound ESP (the peer's inbound SA).
    pub ospi: u32,
    /// The SPI of the client's inbound ESP (what the peer sends with).
    pub ispi: u32,
}

/// The signature algorithm field: one octet in RFC 5201 (and HIPL's v2),
/// two octets in RFC 7401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlgField {
    OneOctet(u8),
    TwoOctets(u16),
}

impl SigAlgField {
    /// The algorithm value (HI algorithm registry).
    pub fn algorithm(self) -> HiAlgorithm {
        match self {
            SigAlgField::OneOctet(a) => HiAlgorithm::from(u16::from(a)),
            SigAlgField::TwoOctets(a) => HiAlgorithm::from(a),
        }
    }
}

/// HIP_SIGNATURE / HIP_SIGNATURE_2 (RFC 7401 section 5.2.14/5.2.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub alg: SigAlgField,
    pub signature: Vec<u8>,
}

/// A HIP parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamRepr {
    EspInfo(EspInfo),
    /// R1_COUNTER of HIPv1 (type 128).
    R1CounterV1(u64),
    /// R1_COUNTER (type 129, RFC 7401 section 5.2.3).
    R1Counter(u64),
    /// LOCATOR (RFC 5206) / LOCATOR_SET (RFC 8046), type 193.
    LocatorSet(Vec<Locator>),
    Puzzle(Puzzle),
    Solution(Solution),
    /// SEQ: Update ID (RFC 7401 section 5.2.16).
    Seq(u32),
    /// ACK: peer Update IDs (RFC 7401 section 5.2.17).
    Ack(Vec<u32>),
    DhGroupList(Vec<DhGroupId>),
    DiffieHellman(DiffieHellman),
    /// HIP_TRANSFORM (RFC 5201 section 5.2.8).
    HipTransform(Vec<HipTransformId>),
    HipCipher(Vec<HipCipherId>),
    NatTraversalMode {
        reserved: u16,
        modes: Vec<NatTraversalMode>,
    },
    /// TRANSACTION_PACING: Min Ta in ms (RFC 5770 section 5.3).
    TransactionPacing(u32),
    /// ENCRYPTED (RFC 7401 section 5.2.18): IV and ciphertext, whose split
    /// depends on the negotiated HIP_CIPHER.
    Encrypted {
        reserved: u32,
        data: Vec<u8>,
    },
    HostId(HostId),
    /// HIT_SUITE_LIST (RFC 7401 section 5.2.10): one octet per suite, the ID
    /// in the upper 4 bits.
    HitSuiteList(Vec<u8>),
    Cert(Cert),
    Notification(Notification),
    EchoRequestSigned(Vec<u8>),
    EchoResponseSigned(Vec<u8>),
    EchoRequestUnsigned(Vec<u8>),
    EchoResponseUnsigned(Vec<u8>),
    RegInfo {
        min_lifetime: u8,
        max_lifetime: u8,
        types: Vec<RegType>,
    },
    RegRequest {
        lifetime: u8,
        types: Vec<RegType>,
    },
    RegResponse {
        lifetime: u8,
        types: Vec<RegType>,
    },
    /// REG_FAILED (RFC 8003 section 4.3.3).
    RegFailed {
        lifetime: u8,
        failure_type: u8,
        types: Vec<RegType>,
    },
    RegFrom(TransportAddr),
    TransportFormatList(Vec<u16>),
    EspTransform {
        reserved: u16,
        suites: Vec<EspTransformId>,
    },
    RelayedAddress(TransportAddr),
    MappedAddress(TransportAddr),
    /// PEER_PERMISSION (RFC 9028 section 5.13).
    PeerPermission(PeerPermission),
    HipMac(Vec<u8>),
    HipMac2(Vec<u8>),
    HipSignature2(Signature),
    HipSignature(Signature),
    RelayFrom(TransportAddr),
    RelayTo(TransportAddr),
    /// FROM (RFC 8004 section 4.2.2).
    From([u8; 16]),
    RvsHmac(Vec<u8>),
    /// VIA_RVS (RFC 8004 section 4.2.3).
    ViaRvs(Vec<[u8; 16]>),
    RelayHmac(Vec<u8>),
    /// A parameter without a typed form, kept as received.
    Unknown {
        ty: u16,
        contents: Vec<u8>,
    },
}

/// Bounds-checked reader over parameter contents.
struct Rd<'a> {
    b: &'a [u8],
    ty: u16,
}

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.b.len() < n {
            return Err(Error::Malformed {
                ty: self.ty,
                reason: "contents too short",
            });
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    fn rest(&mut self) -> &'a [u8] {
        let r = self.b;
        self.b = &[];
        r
    }
    fn end(&self) -> Result<()> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(Error::Malformed {
                ty: self.ty,
                reason: "unexpected trailing octets",
            })
        }
    }
    fn u16_list(&mut self) -> Result<Vec<u16>> {
        if self.b.len() % 2 != 0 {
            return Err(Error::Malformed {
                ty: self.ty,
                reason: "list of 16-bit values has odd length",
            });
        }
        Ok(self
            .rest()
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect())
    }
    fn addr(&mut self) -> Result<[u8; 16]> {
        let mut a = [0; 16];
        a.copy_from_slice(self.take(16)?);
        Ok(a)
    }
    fn transport_addr(&mut self) -> Result<TransportAddr> {
        let t = TransportAddr {
            port: self.u16()?,
            protocol: self.u8()?,
            reserved: self.u8()?,
            address: self.addr()?,
        };
        self.end()?;
        Ok(t)
    }
}

fn malformed(ty: u16, reason: &'static str) -> Error {
    Error::Malformed { ty, reason }
}

fn put_u16_list(out: &mut Vec<u8>, list: impl IntoIterator<Item = u16>) {
    for v in list {
        out.extend_from_slice(&v.to_be_bytes());
    }
}

fn put_transport_addr(out: &mut Vec<u8>, t: &TransportAddr) {
    out.extend_from_slice(&t.port.to_be_bytes());
    out.push(t.protocol);
    out.push(t.reserved);
    out.extend_from_slice(&t.address);
}

impl ParamRepr {
    /// Parse a parameter of raw type `ty` (critical bit included) from its contents.
    pub fn parse(ty: u16, contents: &[u8]) -> Result<ParamRepr> {
        let mut r = Rd { b: contents, ty };
        let p = match ParamType::from(ty) {
            ParamType::EspInfo => {
                let v = EspInfo {
                    reserved: r.u16()?,
                    keymat_index: r.u16()?,
                    old_spi: r.u32()?,
                    new_spi: r.u32()?,
                };
                r.end()?;
                ParamRepr::EspInfo(v)
            }
            ParamType::R1CounterV1 | ParamType::R1Counter => {
                let _reserved = r.u32()?;
                let c = r.u64()?;
                r.end()?;
                if ty == 128 {
                    ParamRepr::R1CounterV1(c)
                } else {
                    ParamRepr::R1Counter(c)
                }
            }
            ParamType::LocatorSet => ParamRepr::LocatorSet(parse_locators(&mut r)?),
            ParamType::Puzzle => {
                let k = r.u8()?;
                let lifetime = r.u8()?;
                let o = r.take(2)?;
                let i = r.rest().to_vec();
                if i.is_empty() {
                    return Err(malformed(ty, "PUZZLE without #I"));
                }
                ParamRepr::Puzzle(Puzzle {
                    k,
                    lifetime,
                    opaque: [o[0], o[1]],
                    i,
                })
            }
            ParamType::Solution => {
                let k = r.u8()?;
                let reserved = r.u8()?;
                let o = r.take(2)?;
                let rest = r.rest();
                if rest.is_empty() || rest.len() % 2 != 0 {
                    return Err(malformed(ty, "SOLUTION #I and J differ in length"));
                }
                let (i, j) = rest.split_at(rest.len() / 2);
                ParamRepr::Solution(Solution {
                    k,
                    reserved,
                    opaque: [o[0], o[1]],
                    i: i.to_vec(),
                    j: j.to_vec(),
                })
            }
            ParamType::Seq => {
                let v = r.u32()?;
                r.end()?;
                ParamRepr::Seq(v)
            }
            ParamType::Ack => {
                if contents.is_empty() || contents.len() % 4 != 0 {
                    return Err(malformed(ty, "ACK length is not a multiple of 4"));
                }
                ParamRepr::Ack(
                    contents
                        .chunks_exact(4)
                        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                )
            }
            ParamType::DhGroupList => {
                ParamRepr::DhGroupList(contents.iter().map(|&g| DhGroupId::from(g)).collect())
            }
            ParamType::DiffieHellman => ParamRepr::DiffieHellman(parse_dh(&mut r)?),
            ParamType::HipTransform => ParamRepr::HipTransform(
                r.u16_list()?
                    .into_iter()
                    .map(HipTransformId::from)
                    .collect(),
            ),
            ParamType::HipCipher => {
                ParamRepr::HipCipher(r.u16_list()?.into_iter().map(HipCipherId::from).collect())
            }
            ParamType::NatTraversalMode => {
                let reserved = r.u16()?;
                let modes = r
                    .u16_list()?
                    .into_iter()
                    .map(NatTraversalMode::from)
                    .collect();
                ParamRepr::NatTraversalMode { reserved, modes }
            }
            ParamType::TransactionPacing => {
                let v = r.u32()?;
                r.end()?;
                ParamRepr::TransactionPacing(v)
            }
            ParamType::Encrypted => {
                let reserved = r.u32()?;
                ParamRepr::Encrypted {
                    reserved,
                    data: r.rest().to_vec(),
                }
            }
            ParamType::HostId => ParamRepr::HostId(parse_host_id(&mut r)?),
            ParamType::HitSuiteList => ParamRepr::HitSuiteList(contents.to_vec()),
            ParamType::Cert => ParamRepr::Cert(Cert {
                group: r.u8()?,
                count: r.u8()?,
                id: r.u8()?,
                cert_type: r.u8()?,
                certificate: r.rest().to_vec(),
            }),
            ParamType::Notification => ParamRepr::Notification(Notification {
                reserved: r.u16()?,
                msg_type: NotifyMessageType::from(r.u16()?),
                data: r.rest().to_vec(),
            }),
            ParamType::EchoRequestSigned => ParamRepr::EchoRequestSigned(contents.to_vec()),
            ParamType::EchoResponseSigned => ParamRepr::EchoResponseSigned(contents.to_vec()),
            ParamType::EchoRequestUnsigned => ParamRepr::EchoRequestUnsigned(contents.to_vec()),
            ParamType::EchoResponseUnsigned => ParamRepr::EchoResponseUnsigned(contents.to_vec()),
            ParamType::RegInfo => ParamRepr::RegInfo {
                min_lifetime: r.u8()?,
                max_lifetime: r.u8()?,
                types: r.rest().iter().map(|&t| RegType::from(t)).collect(),
            },
            ParamType::RegRequest => ParamRepr::RegRequest {
                lifetime: r.u8()?,
                types: r.rest().iter().map(|&t| RegType::from(t)).collect(),
            },
            ParamType::RegResponse => ParamRepr::RegResponse {
                lifetime: r.u8()?,
                types: r.rest().iter().map(|&t| RegType::from(t)).collect(),
            },
            ParamType::RegFailed => ParamRepr::RegFailed {
                lifetime: r.u8()?,
                failure_type: r.u8()?,
                types: r.rest().iter().map(|&t| RegType::from(t)).collect(),
            },
            ParamType::RegFrom => ParamRepr::RegFrom(r.transport_addr()?),
            ParamType::TransportFormatList => ParamRepr::TransportFormatList(r.u16_list()?),
            ParamType::EspTransform => {
                let reserved = r.u16()?;
                let suites = r
                    .u16_list()?
                    .into_iter()
                    .map(EspTransformId::from)
                    .collect();
                ParamRepr::EspTransform { reserved, suites }
            }
            ParamType::RelayedAddress => ParamRepr::RelayedAddress(r.transport_addr()?),
            ParamType::MappedAddress => ParamRepr::MappedAddress(r.transport_addr()?),
            ParamType::PeerPermission => {
                let peer = TransportAddr {
                    port: r.u16()?,
                    protocol: r.u8()?,
                    reserved: r.u8()?,
                    address: r.addr()?,
                };
                let (ospi, ispi) = (r.u32()?, r.u32()?);
                r.end()?;
                ParamRepr::PeerPermission(PeerPermission { peer, ospi, ispi })
            }
            ParamType::HipMac => ParamRepr::HipMac(non_empty(ty, contents)?),
            ParamType::HipMac2 => ParamRepr::HipMac2(non_empty(ty, contents)?),
            ParamType::HipSignature2 => ParamRepr::HipSignature2(parse_signature(&mut r)?),
            ParamType::HipSignature => ParamRepr::HipSignature(parse_signature(&mut r)?),
            ParamType::RelayFrom => ParamRepr::RelayFrom(r.transport_addr()?),
            ParamType::RelayTo => ParamRepr::RelayTo(r.transport_addr()?),
            ParamType::From => {
                let a = r.addr()?;
                r.end()?;
                ParamRepr::From(a)
            }
            ParamType::RvsHmac => ParamRepr::RvsHmac(non_empty(ty, contents)?),
            ParamType::ViaRvs => {
                if contents.is_empty() || contents.len() % 16 != 0 {
                    return Err(malformed(ty, "VIA_RVS length is not a multiple of 16"));
                }
                ParamRepr::ViaRvs(
                    contents
                        .chunks_exact(16)
                        .map(|c| {
                            let mut a = [0; 16];
                            a.copy_from_slice(c);
                            a
                        })
                        .collect(),
                )
            }
            ParamType::RelayHmac => ParamRepr::RelayHmac(non_empty(ty, contents)?),
            _ => ParamRepr::Unknown {
                ty,
                contents: contents.to_vec(),
            },
        };
        Ok(p)
    }

    /// The raw type number of this parameter.
    pub fn type_number(&self) -> u16 {
        let t = match self {
            ParamRepr::EspInfo(_) => ParamType::EspInfo,
            ParamRepr::R1CounterV1(_) => ParamType::R1CounterV1,
            ParamRepr::R1Counter(_) => ParamType::R1Counter,
            ParamRepr::LocatorSet(_) => ParamType::LocatorSet,
            ParamRepr::Puzzle(_) => ParamType::Puzzle,
            ParamRepr::Solution(_) => ParamType::Solution,
            ParamRepr::Seq(_) => ParamType::Seq,
            ParamRepr::Ack(_) => ParamType::Ack,
            ParamRepr::DhGroupList(_) => ParamType::DhGroupList,
            ParamRepr::DiffieHellman(_) => ParamType::DiffieHellman,
            ParamRepr::HipTransform(_) => ParamType::HipTransform,
            ParamRepr::HipCipher(_) => ParamType::HipCipher,
            ParamRepr::NatTraversalMode { .. } => ParamType::NatTraversalMode,
            ParamRepr::TransactionPacing(_) => ParamType::TransactionPacing,
            ParamRepr::Encrypted { .. } => ParamType::Encrypted,
            ParamRepr::HostId(_) => ParamType::HostId,
            ParamRepr::HitSuiteList(_) => ParamType::HitSuiteList,
            ParamRepr::Cert(_) => ParamType::Cert,
            ParamRepr::Notification(_) => ParamType::Notification,
            ParamRepr::EchoRequestSigned(_) => ParamType::EchoRequestSigned,
            ParamRepr::EchoResponseSigned(_) => ParamType::EchoResponseSigned,
            ParamRepr::EchoRequestUnsigned(_) => ParamType::EchoRequestUnsigned,
            ParamRepr::EchoResponseUnsigned(_) => ParamType::EchoResponseUnsigned,
            ParamRepr::RegInfo { .. } => ParamType::RegInfo,
            ParamRepr::RegRequest { .. } => ParamType::RegRequest,
            ParamRepr::RegResponse { .. } => ParamType::RegResponse,
            ParamRepr::RegFailed { .. } => ParamType::RegFailed,
            ParamRepr::RegFrom(_) => ParamType::RegFrom,
            ParamRepr::TransportFormatList(_) => ParamType::TransportFormatList,
            ParamRepr::EspTransform { .. } => ParamType::EspTransform,
            ParamRepr::RelayedAddress(_) => ParamType::RelayedAddress,
            ParamRepr::MappedAddress(_) => ParamType::MappedAddress,
            ParamRepr::PeerPermission(_) => ParamType::PeerPermission,
            ParamRepr::HipMac(_) => ParamType::HipMac,
            ParamRepr::HipMac2(_) => ParamType::HipMac2,
            ParamRepr::HipSignature2(_) => ParamType::HipSignature2,
            ParamRepr::HipSignature(_) => ParamType::HipSignature,
            ParamRepr::RelayFrom(_) => ParamType::RelayFrom,
            ParamRepr::RelayTo(_) => ParamType::RelayTo,
            ParamRepr::From(_) => ParamType::From,
            ParamRepr::RvsHmac(_) => ParamType::RvsHmac,
            ParamRepr::ViaRvs(_) => ParamType::ViaRvs,
            ParamRepr::RelayHmac(_) => ParamType::RelayHmac,
            ParamRepr::Unknown { ty, .. } => return *ty,
        };
        t.value()
    }

    /// True if the parameter's critical bit is set.
    pub fn is_critical(&self) -> bool {
        self.type_number() & 1 == 1
    }

    /// The contents as they go on the wire (no type, length or padding).
    pub fn contents(&self) -> Vec<u8> {
        let mut o = Vec::new();
        match self {
            ParamRepr::EspInfo(e) => {
                o.extend_from_slice(&e.reserved.to_be_bytes());
                o.extend_from_slice(&e.keymat_index.to_be_bytes());
                o.extend_from_slice(&e.old_spi.to_be_bytes());
                o.extend_from_slice(&e.new_spi.to_be_bytes());
            }
            ParamRepr::R1CounterV1(c) | ParamRepr::R1Counter(c) => {
                o.extend_from_slice(&[0; 4]);
                o.extend_from_slice(&c.to_be_bytes());
            }
            ParamRepr::LocatorSet(ls) => {
                for l in ls {
                    o.push(l.traffic_type);
                    o.push(l.locator_type.value());
                    o.push(l.length_field);
                    o.push(l.flags);
                    o.extend_from_slice(&l.lifetime.to_be_bytes());
                    o.extend_from_slice(&l.data);
                }
            }
            ParamRepr::Puzzle(p) => {
                o.push(p.k);
                o.push(p.lifetime);
                o.extend_from_slice(&p.opaque);
                o.extend_from_slice(&p.i);
            }
            ParamRepr::Solution(s) => {
                o.push(s.k);
                o.push(s.reserved);
                o.extend_from_slice(&s.opaque);
                o.extend_from_slice(&s.i);
                o.extend_from_slice(&s.j);
            }
            ParamRepr::Seq(v) | ParamRepr::TransactionPacing(v) => {
                o.extend_from_slice(&v.to_be_bytes())
            }
            ParamRepr::Ack(ids) => {
                for id in ids {
                    o.extend_from_slice(&id.to_be_bytes());
                }
            }
            ParamRepr::DhGroupList(g) => o.extend(g.iter().map(|g| g.value())),
            ParamRepr::DiffieHellman(dh) => {
                for v in &dh.values {
                    o.push(v.group.value());
                    o.extend_from_slice(&(v.public.len() as u16).to_be_bytes());
                    o.extend_from_slice(&v.public);
                }
                o.extend_from_slice(&dh.trailing);
            }
            ParamRepr::HipTransform(t) => put_u16_list(&mut o, t.iter().map(|t| t.value())),
            ParamRepr::HipCipher(c) => put_u16_list(&mut o, c.iter().map(|c| c.value())),
            ParamRepr::NatTraversalMode { reserved, modes } => {
                o.extend_from_slice(&reserved.to_be_bytes());
                put_u16_list(&mut o, modes.iter().map(|m| m.value()));
            }
            ParamRepr::Encrypted { reserved, data } => {
                o.extend_from_slice(&reserved.to_be_bytes());
                o.extend_from_slice(data);
            }
            ParamRepr::HostId(h) => emit_host_id(&mut o, h),
            ParamRepr::HitSuiteList(l) => o.extend_from_slice(l),
            ParamRepr::Cert(c) => {
                o.extend_from_slice(&[c.group, c.count, c.id, c.cert_type]);
                o.extend_from_slice(&c.certificate);
            }
            ParamRepr::Notification(n) => {
                o.extend_from_slice(&n.reserved.to_be_bytes());
                o.extend_from_slice(&n.msg_type.value().to_be_bytes());
                o.extend_from_slice(&n.data);
            }
            ParamRepr::EchoRequestSigned(d)
            | ParamRepr::EchoResponseSigned(d)
            | ParamRepr::EchoRequestUnsigned(d)
            | ParamRepr::EchoResponseUnsigned(d)
            | ParamRepr::HipMac(d)
            | ParamRepr::HipMac2(d)
            | ParamRepr::RvsHmac(d)
            | ParamRepr::RelayHmac(d) => o.extend_from_slice(d),
            ParamRepr::RegInfo {
                min_lifetime,
                max_lifetime,
                types,
            } => {
                o.push(*min_lifetime);
                o.push(*max_lifetime);
                o.extend(types.iter().map(|t| t.value()));
            }
            ParamRepr::RegRequest { lifetime, types }
            | ParamRepr::RegResponse { lifetime, types } => {
                o.push(*lifetime);
                o.extend(types.iter().map(|t| t.value()));
            }
            ParamRepr::RegFailed {
                lifetime,
                failure_type,
                types,
            } => {
                o.push(*lifetime);
                o.push(*failure_type);
                o.extend(types.iter().map(|t| t.value()));
            }
            ParamRepr::RegFrom(t)
            | ParamRepr::RelayedAddress(t)
            | ParamRepr::MappedAddress(t)
            | ParamRepr::RelayFrom(t)
            | ParamRepr::RelayTo(t) => put_transport_addr(&mut o, t),
            ParamRepr::PeerPermission(p) => {
                put_transport_addr(&mut o, &p.peer);
                o.extend_from_slice(&p.ospi.to_be_bytes());
                o.extend_from_slice(&p.ispi.to_be_bytes());
            }
            ParamRepr::TransportFormatList(l) => put_u16_list(&mut o, l.iter().copied()),
            ParamRepr::EspTransform { reserved, suites } => {
                o.extend_from_slice(&reserved.to_be_bytes());
                put_u16_list(&mut o, suites.iter().map(|s| s.value()));
            }
            ParamRepr::HipSignature2(s) | ParamRepr::HipSignature(s) => {
                match s.alg {
                    SigAlgField::OneOctet(a) => o.push(a),
                    SigAlgField::TwoOctets(a) => o.extend_from_slice(&a.to_be_bytes()),
                }
                o.extend_from_slice(&s.signature);
            }
            ParamRepr::From(a) => o.extend_from_slice(a),
            ParamRepr::ViaRvs(addrs) => {
                for a in addrs {
                    o.extend_from_slice(a);
                }
            }
            ParamRepr::Unknown { contents, .. } => o.extend_from_slice(contents),
        }
        o
    }

    /// On-the-wire length including type, length and padding.
    pub fn buffer_len(&self) -> usize {
        padded_len(self.contents().len())
    }

    /// Append the parameter (type, length, contents, zero padding) to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<()> {
        let c = self.contents();
        let len = u16::try_from(c.len()).map_err(|_| Error::TooLong)?;
        let start = out.len();
        out.extend_from_slice(&self.type_number().to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&c);
        out.resize(start + padded_len(c.len()), 0);
        Ok(())
    }

    /// The HIT suite IDs of a HIT_SUITE_LIST (upper 4 bits of each octet).
    pub fn hit_suites(list: &[u8]) -> Vec<HitSuiteId> {
        list.iter().map(|&b| HitSuiteId::from(b >> 4)).collect()
    }
}

fn non_empty(ty: u16, contents: &[u8]) -> Result<Vec<u8>> {
    if contents.is_empty() {
        return Err(malformed(ty, "empty contents"));
    }
    Ok(contents.to_vec())
}

/// LOCATOR / LOCATOR_SET entries. HIPL 1.0.8 writes Locator Length 4 for
/// type 1 locators (RFC 5206 says 5) while sending all 20 octets; such an
/// entry is read as 20 octets and its length field kept for re-emission.
fn parse_locators(r: &mut Rd<'_>) -> Result<Vec<Locator>> {
    let ty = r.ty;
    let mut out = Vec::new();
    if r.b.is_empty() {
        return Err(malformed(ty, "LOCATOR_SET without locators"));
    }
    while !r.b.is_empty() {
        let traffic_type = r.u8()?;
        let locator_type = LocatorType::from(r.u8()?);
        let length_field = r.u8()?;
        let flags = r.u8()?;
        let lifetime = r.u32()?;
        let mut len = usize::from(length_field) * 4;
        if locator_type == LocatorType::EspSpiIpv6 && length_field == 4 && r.b.len() >= 20 {
            len = 20;
        }
        let data = r.take(len)?.to_vec();
        out.push(Locator {
            traffic_type,
            locator_type,
            length_field,
            flags,
            lifetime,
            data,
        });
    }
    Ok(out)
}

/// DIFFIE_HELLMAN: one or two (v1) group/length/value triples.
fn parse_dh(r: &mut Rd<'_>) -> Result<DiffieHellman> {
    let ty = r.ty;
    let mut values = Vec::new();
    while r.b.len() >= 3 {
        let len = usize::from(u16::from_be_bytes([r.b[1], r.b[2]]));
        if len == 0 || r.b.len() < 3 + len {
            break;
        }
        let group = DhGroupId::from(r.u8()?);
        let _ = r.u16()?;
        values.push(DhValue {
            group,
            public: r.take(len)?.to_vec(),
        });
    }
    if values.is_empty() {
        return Err(malformed(ty, "DIFFIE_HELLMAN without a whole public value"));
    }
    Ok(DiffieHellman {
        values,
        trailing: r.rest().to_vec(),
    })
}

/// HOST_ID in either layout. The RFC 5201 DNSKEY flags have 0x02 in their
/// high octet (HIPL: 0x0202); RFC 7401 algorithm values are below 256, so the
/// octet after DI-type/DI-length tells the layouts apart.
fn parse_host_id(r: &mut Rd<'_>) -> Result<HostId> {
    let ty = r.ty;
    let hi_len = usize::from(r.u16()?);
    let di = r.u16()?;
    let di_type = DiType::from((di >> 12) as u8);
    let di_len = usize::from(di & 0x0fff);
    let first = *r.b.first().ok_or(malformed(ty, "HOST_ID without key"))?;
    let (layout, algorithm, hi) = if first != 0 {
        let rdata = r.take(hi_len)?;
        if rdata.len() < 4 {
            return Err(malformed(ty, "DNSKEY RDATA shorter than its header"));
        }
        (
            HostIdLayout::Rfc5201 {
                flags: u16::from_be_bytes([rdata[0], rdata[1]]),
                protocol: rdata[2],
            },
            HiAlgorithm::from(u16::from(rdata[3])),
            rdata[4..].to_vec(),
        )
    } else {
        let alg = HiAlgorithm::from(r.u16()?);
        (HostIdLayout::Rfc7401, alg, r.take(hi_len)?.to_vec())
    };
    if hi.is_empty() {
        return Err(malformed(ty, "HOST_ID with an empty Host Identity"));
    }
    let di = r.take(di_len)?.to_vec();
    r.end()?;
    Ok(HostId {
        layout,
        algorithm,
        hi,
        di_type,
        di,
    })
}

fn emit_host_id(o: &mut Vec<u8>, h: &HostId) {
    let hi_len = match h.layout {
        HostIdLayout::Rfc5201 { .. } => h.hi.len() + 4,
        HostIdLayout::Rfc7401 => h.hi.len(),
    };
    o.extend_from_slice(&(hi_len as u16).to_be_bytes());
    let di = (u16::from(h.di_type.value()) << 12) | (h.di.len() as u16 & 0x0fff);
    o.extend_from_slice(&di.to_be_bytes());
    match h.layout {
        HostIdLayout::Rfc5201 { flags, protocol } => {
            o.extend_from_slice(&flags.to_be_bytes());
            o.push(protocol);
            o.push(h.algorithm.value() as u8);
        }
        HostIdLayout::Rfc7401 => o.extend_from_slice(&h.algorithm.value().to_be_bytes()),
    }
    o.extend_from_slice(&h.hi);
    o.extend_from_slice(&h.di);
}

/// Signature parameters: a zero first octet means the 2-octet RFC 7401
/// algorithm field (no algorithm value is 0); otherwise the 1-octet RFC 5201 one.
fn parse_signature(r: &mut Rd<'_>) -> Result<Signature> {
    let ty = r.ty;
    let first = *r.b.first().ok_or(malformed(ty, "empty signature"))?;
    let alg = if first == 0 {
        SigAlgField::TwoOctets(r.u16()?)
    } else {
        SigAlgField::OneOctet(r.u8()?)
    };
    let signature = r.rest().to_vec();
    if signature.is_empty() {
        return Err(malformed(ty, "signature parameter without signature"));
    }
    Ok(Signature { alg, signature })
}
