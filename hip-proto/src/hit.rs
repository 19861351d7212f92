//! Host Identity Tag (RFC 7401 section 3, ORCHIDv2 RFC 7343, ORCHIDv1 RFC 4843).
//!
//! A HIT is a 128-bit value in IPv6 address form. This type only holds and
//! classifies it; generation from a Host Identity is in `crypto::orchid`.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// A 128-bit Host Identity Tag.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hit(pub [u8; 16]);

/// The ORCHID generation a HIT belongs to, by its /28 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrchidVersion {
    /// ORCHIDv1, 2001:10::/28 (RFC 4843), used by HIPv1 and HIPL.
    V1,
    /// ORCHIDv2, 2001:20::/28 (RFC 7343), used by HIPv2.
    V2,
}

impl Hit {
    /// The all-zero HIT (opportunistic mode / unknown receiver).
    pub const NULL: Hit = Hit([0; 16]);
    /// ORCHIDv1 prefix 2001:10::/28.
    pub const ORCHID_V1_PREFIX: [u8; 4] = [0x20, 0x01, 0x00, 0x10];
    /// ORCHIDv2 prefix 2001:20::/28.
    pub const ORCHID_V2_PREFIX: [u8; 4] = [0x20, 0x01, 0x00, 0x20];

    /// The raw 16 bytes.
    pub fn octets(&self) -> [u8; 16] {
        self.0
    }

    /// Which ORCHID prefix the HIT is in, if any.
    pub fn orchid_version(&self) -> Option<OrchidVersion> {
        let first28 = |p: [u8; 4]| self.0[..3] == p[..3] && self.0[3] & 0xf0 == p[3];
        if first28(Self::ORCHID_V2_PREFIX) {
            Some(OrchidVersion::V2)
        } else if first28(Self::ORCHID_V1_PREFIX) {
            Some(OrchidVersion::V1)
        } else {
            None
        }
    }

    /// The 4-bit OGA ID of an ORCHIDv2 HIT (RFC 7343 section 2), which is the
    /// HIT Suite ID (RFC 7401 section 5.2.10).
    pub fn oga_id(&self) -> Option<u8> {
        match self.orchid_version() {
            Some(OrchidVersion::V2) => Some(self.0[3] & 0x0f),
            _ => None,
        }
    }

    /// True for the all-zero HIT.
    pub fn is_null(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl From<Ipv6Addr> for Hit {
    fn from(a: Ipv6Addr) -> Self {
        Hit(a.octets())
    }
}

impl From<Hit> for Ipv6Addr {
    fn from(h: Hit) -> Self {
        Ipv6Addr::from(h.0)
    }
}

impl fmt::Display for Hit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Ipv6Addr::from(self.0), f)
    }
}

impl fmt::Debug for Hit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hit({self})")
    }
}

impl FromStr for Hit {
    type Err = std::net::AddrParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ipv6Addr::from_str(s).map(Hit::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_orchid_prefixes() {
        let v2: Hit = "2001:21:8b4d:3d04:b6a4:915f:c691:7394".parse().unwrap();
        assert_eq!(v2.orchid_version(), Some(OrchidVersion::V2));
        assert_eq!(v2.oga_id(), Some(1));
        let v1: Hit = "2001:1e:8112:34a6:8356:f214:cd73:7466".parse().unwrap();
        assert_eq!(v1.orchid_version(), Some(OrchidVersion::V1));
        assert_eq!(v1.oga_id(), None);
        let other: Hit = "2001:db8::1".parse().unwrap();
        assert_eq!(other.orchid_version(), None);
    }
}
