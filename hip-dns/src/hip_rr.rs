//! The HIP resource record (RR type 55), RFC 8005.
//!
//! hickory-proto carries it as an opaque RDATA of type 55; this module is the
//! codec of that RDATA (RFC 8005 section 5), its presentation form (section 6)
//! and the generic form of unknown RR types (RFC 3597 section 5).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  HIT length   | PK algorithm  |          PK length            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~   HIT   ~   Public Key   ~   Rendezvous Servers (optional)    ~
//! ```

use std::fmt;

use data_encoding::{BASE64, HEXUPPER_PERMISSIVE};
use hickory_proto::rr::Name;

/// The RR type number of HIP (RFC 8005 section 9).
pub const HIP_RR_TYPE: u16 = 55;

/// Length of a HIT in octets; the only HIT length this crate accepts (HITs
/// are 128-bit ORCHIDs, RFC 7401 section 3).
pub const HIT_LEN: usize = 16;

/// The PK algorithm octet (RFC 8005 section 5.2): the IANA "IPSECKEY Resource
/// Record Parameters", "Algorithm Type Field" registry (RFC 4025, RFC 8005,
/// RFC 9373).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PkAlgorithm {
    /// 0: no public key is present (RFC 4025). Not valid in a HIP RR, whose
    /// Public Key field is required (RFC 8005 section 5).
    None,
    /// 1: a DSA key in the RFC 2536 section 2 format.
    Dsa,
    /// 2: an RSA key in the RFC 3110 section 2 format.
    Rsa,
    /// 3: an ECDSA key in the RFC 6605 section 4 format (X | Y, the curve
    /// given by the length).
    Ecdsa,
    /// 4: an EdDSA key in the RFC 8080 section 3 format (the raw public key,
    /// the curve given by the length).
    EdDsa,
    /// Any other (unassigned) value.
    Unknown(u8),
}

impl PkAlgorithm {
    /// The registry value.
    pub fn value(self) -> u8 {
        match self {
            PkAlgorithm::None => 0,
            PkAlgorithm::Dsa => 1,
            PkAlgorithm::Rsa => 2,
            PkAlgorithm::Ecdsa => 3,
            PkAlgorithm::EdDsa => 4,
            PkAlgorithm::Unknown(n) => n,
        }
    }
}

impl From<u8> for PkAlgorithm {
    fn from(v: u8) -> Self {
        match v {
            0 => PkAlgorithm::None,
            1 => PkAlgorithm::Dsa,
            2 => PkAlgorithm::Rsa,
            3 => PkAlgorithm::Ecdsa,
            4 => PkAlgorithm::EdDsa,
            n => PkAlgorithm::Unknown(n),
        }
    }
}

/// Why a HIP RDATA (wire or text) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HipRrError {
    /// Shorter than its fixed header or than its length fields say.
    #[error("HIP RDATA is truncated")]
    Truncated,
    /// A HIT that is not 128 bits long.
    #[error("HIT length {0} is not 16")]
    HitLength(usize),
    /// PK length zero: the Public Key field is required (RFC 8005 section 5).
    #[error("the public key is missing (PK length 0)")]
    NoPublicKey,
    /// A public key longer than the 16-bit PK length can say.
    #[error("public key of {0} octets does not fit the 16-bit PK length")]
    KeyTooLong(usize),
    /// A compression pointer in a rendezvous server name (RFC 8005 section
    /// 5.6: the names MUST NOT be compressed).
    #[error("rendezvous server name is compressed")]
    CompressedName,
    /// A bad wire-format name (reserved label type, over 255 octets).
    #[error("bad rendezvous server name")]
    BadName,
    /// The RDATA is longer than the 65535 octets RDLENGTH allows.
    #[error("HIP RDATA of {0} octets is too long")]
    TooLong(usize),
    /// A presentation form that could not be read; the text says which part.
    #[error("bad HIP presentation form: {0}")]
    Syntax(String),
}

/// The RDATA of one HIP RR (RFC 8005 section 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HipRdata {
    /// The PK algorithm (section 5.2).
    pub pk_algorithm: PkAlgorithm,
    /// The HIT, in network byte order (section 5.4).
    pub hit: [u8; HIT_LEN],
    /// The Public Key field (section 5.5), in the format `pk_algorithm`
    /// implies; see [`crate::verify`] for the mapping to a Host Identity.
    pub public_key: Vec<u8>,
    /// Rendezvous servers in order of preference (section 5.6).
    pub rendezvous_servers: Vec<Name>,
}

/// Parse one uncompressed wire-format name at the start of `b`; returns the
/// name and the octets it used.
fn parse_name(b: &[u8]) -> Result<(Name, usize), HipRrError> {
    let mut labels: Vec<&[u8]> = Vec::new();
    let mut pos = 0;
    loop {
        let len = *b.get(pos).ok_or(HipRrError::Truncated)?;
        match len & 0xc0 {
            0x00 => {}
            0xc0 => return Err(HipRrError::CompressedName),
            _ => return Err(HipRrError::BadName),
        }
        pos += 1;
        if len == 0 {
            break;
        }
        let end = pos + usize::from(len);
        labels.push(b.get(pos..end).ok_or(HipRrError::Truncated)?);
        pos = end;
        // RFC 1035 section 3.1: 255 octets at most, the root label included.
        if pos >= 255 {
            return Err(HipRrError::BadName);
        }
    }
    let mut name = Name::from_labels(labels).map_err(|_| HipRrError::BadName)?;
    name.set_fqdn(true);
    Ok((name, pos))
}

/// Append the uncompressed wire form of `name`, case kept.
fn emit_name(name: &Name, out: &mut Vec<u8>) {
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
}

impl HipRdata {
    /// Parse the RDATA of a HIP RR (RFC 8005 section 5): exactly `b`, no
    /// trailing octets outside a rendezvous server name.
    pub fn parse(b: &[u8]) -> Result<Self, HipRrError> {
        if b.len() < 4 {
            return Err(HipRrError::Truncated);
        }
        let hit_len = usize::from(b[0]);
        let pk_algorithm = PkAlgorithm::from(b[1]);
        let pk_len = usize::from(u16::from_be_bytes([b[2], b[3]]));
        if hit_len != HIT_LEN {
            return Err(HipRrError::HitLength(hit_len));
        }
        if pk_len == 0 {
            return Err(HipRrError::NoPublicKey);
        }
        let rest = &b[4..];
        if rest.len() < hit_len + pk_len {
            return Err(HipRrError::Truncated);
        }
        let mut hit = [0u8; HIT_LEN];
        hit.copy_from_slice(&rest[..HIT_LEN]);
        let public_key = rest[HIT_LEN..HIT_LEN + pk_len].to_vec();
        let mut names = &rest[HIT_LEN + pk_len..];
        let mut rendezvous_servers = Vec::new();
        while !names.is_empty() {
            let (name, used) = parse_name(names)?;
            rendezvous_servers.push(name);
            names = &names[used..];
        }
        Ok(HipRdata {
            pk_algorithm,
            hit,
            public_key,
            rendezvous_servers,
        })
    }

    /// The length of the wire form.
    pub fn wire_len(&self) -> usize {
        4 + HIT_LEN
            + self.public_key.len()
            + self
                .rendezvous_servers
                .iter()
                .map(|n| n.iter().map(|l| l.len() + 1).sum::<usize>() + 1)
                .sum::<usize>()
    }

    /// Encode the RDATA (RFC 8005 section 5); names are written uncompressed
    /// (section 5.6).
    pub fn emit(&self) -> Result<Vec<u8>, HipRrError> {
        if self.public_key.is_empty() {
            return Err(HipRrError::NoPublicKey);
        }
        let pk_len = u16::try_from(self.public_key.len())
            .map_err(|_| HipRrError::KeyTooLong(self.public_key.len()))?;
        let len = self.wire_len();
        if len > usize::from(u16::MAX) {
            return Err(HipRrError::TooLong(len));
        }
        let mut out = Vec::with_capacity(len);
        out.push(HIT_LEN as u8);
        out.push(self.pk_algorithm.value());
        out.extend_from_slice(&pk_len.to_be_bytes());
        out.extend_from_slice(&self.hit);
        out.extend_from_slice(&self.public_key);
        for n in &self.rendezvous_servers {
            emit_name(n, &mut out);
        }
        Ok(out)
    }

    /// The presentation form of the RDATA (RFC 8005 section 6), with the type
    /// mnemonic: `HIP ( alg HEX-HIT BASE64-KEY rvs... )`, on one line.
    pub fn to_presentation(&self) -> String {
        let mut s = format!(
            "HIP ( {} {} {}",
            self.pk_algorithm.value(),
            data_encoding::HEXUPPER.encode(&self.hit),
            BASE64.encode(&self.public_key)
        );
        for n in &self.rendezvous_servers {
            s.push(' ');
            s.push_str(&fqdn_text(n));
        }
        s.push_str(" )");
        s
    }

    /// Read the presentation form (RFC 8005 section 6): the RDATA fields,
    /// optionally after the `HIP` mnemonic and within parentheses, over one or
    /// more lines. Rendezvous server names are taken as absolute.
    pub fn from_presentation(text: &str) -> Result<Self, HipRrError> {
        let syntax = |m: &str| HipRrError::Syntax(m.to_string());
        let mut tokens = tokens(text);
        if tokens
            .first()
            .is_some_and(|t| t.eq_ignore_ascii_case("HIP"))
        {
            tokens.remove(0);
        }
        let mut it = tokens.into_iter();
        let alg = it.next().ok_or_else(|| syntax("missing PK algorithm"))?;
        let alg: u8 = alg
            .parse()
            .map_err(|_| syntax("PK algorithm is not an integer 0-255"))?;
        let hit = it.next().ok_or_else(|| syntax("missing HIT"))?;
        let hit = HEXUPPER_PERMISSIVE
            .decode(hit.as_bytes())
            .map_err(|_| syntax("HIT is not base16"))?;
        let hit: [u8; HIT_LEN] = hit
            .as_slice()
            .try_into()
            .map_err(|_| HipRrError::HitLength(hit.len()))?;
        let key = it.next().ok_or_else(|| syntax("missing public key"))?;
        let public_key = BASE64
            .decode(key.as_bytes())
            .map_err(|_| syntax("public key is not base64"))?;
        let mut rendezvous_servers = Vec::new();
        for t in it {
            let n = Name::parse(t, Some(&Name::root()))
                .map_err(|e| HipRrError::Syntax(format!("rendezvous server {t:?}: {e}")))?;
            rendezvous_servers.push(n);
        }
        let r = HipRdata {
            pk_algorithm: PkAlgorithm::from(alg),
            hit,
            public_key,
            rendezvous_servers,
        };
        // The same limits as the wire form.
        r.emit()?;
        Ok(r)
    }

    /// The generic form of the RR (RFC 3597 section 5), with its type:
    /// `TYPE55 \# <length> <HEX>`; any RFC 3597 server accepts it.
    pub fn to_generic(&self) -> Result<String, HipRrError> {
        let w = self.emit()?;
        Ok(format!(
            "TYPE{HIP_RR_TYPE} \\# {} {}",
            w.len(),
            data_encoding::HEXUPPER.encode(&w)
        ))
    }

    /// Read the generic form (RFC 3597 section 5): `\# <length> <hex>...`,
    /// optionally after `TYPE55` and within parentheses.
    pub fn from_generic(text: &str) -> Result<Self, HipRrError> {
        let syntax = |m: &str| HipRrError::Syntax(m.to_string());
        let mut tokens = tokens(text);
        if tokens
            .first()
            .is_some_and(|t| t.eq_ignore_ascii_case("TYPE55") || t.eq_ignore_ascii_case("HIP"))
        {
            tokens.remove(0);
        }
        let mut it = tokens.into_iter();
        if it.next() != Some("\\#") {
            return Err(syntax("missing \\#"));
        }
        let len: usize = it
            .next()
            .ok_or_else(|| syntax("missing RDATA length"))?
            .parse()
            .map_err(|_| syntax("RDATA length is not an integer"))?;
        let hex: String = it.collect();
        let data = HEXUPPER_PERMISSIVE
            .decode(hex.as_bytes())
            .map_err(|_| syntax("RDATA is not base16"))?;
        if data.len() != len {
            return Err(HipRrError::Syntax(format!(
                "RDATA length says {len} but {} octets follow",
                data.len()
            )));
        }
        HipRdata::parse(&data)
    }
}

impl fmt::Display for HipRdata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_presentation())
    }
}

/// A name as master-file text, always with the final dot.
pub(crate) fn fqdn_text(n: &Name) -> String {
    let mut n = n.clone();
    n.set_fqdn(true);
    n.to_ascii()
}

/// Whitespace-separated tokens, with the master-file grouping parentheses
/// (RFC 1035 section 5.1) dropped.
fn tokens(text: &str) -> Vec<&str> {
    text.split_whitespace()
        .flat_map(|t| t.split(['(', ')']))
        .filter(|t| !t.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 8005 section 7, the example with two rendezvous servers (the key
    /// wrapped in the RFC only to fit the page).
    const RFC_EXAMPLE: &str = "HIP ( 2 200100107B1A74DF365639CC39F1D578
        AwEAAbdxyhNuSutc5EMzxTs9LBPCIkOFH8cIvM4p9+LrV4e19WzK00+CI6zBCQTdtWsuxKbWIy87UOoJTwkUs7lBu+Upr1gsNrut79ryra+bSRGQb1slImA8YVJyuIDsj7kwzG7jnERNqnWxZ48AWkskmdHaVDP4BcelrTI3rMXdXF5D
        rvs1.example.com.
        rvs2.example.com. )";

    #[test]
    fn rfc8005_example_parses_and_round_trips() {
        let r = HipRdata::from_presentation(RFC_EXAMPLE).unwrap();
        assert_eq!(r.pk_algorithm, PkAlgorithm::Rsa);
        assert_eq!(
            data_encoding::HEXUPPER.encode(&r.hit),
            "200100107B1A74DF365639CC39F1D578"
        );
        // RFC 3110: exponent length 3, exponent 65537, then the modulus.
        assert_eq!(&r.public_key[..4], &[3, 1, 0, 1]);
        let names: Vec<String> = r.rendezvous_servers.iter().map(fqdn_text).collect();
        assert_eq!(names, ["rvs1.example.com.", "rvs2.example.com."]);
        let wire = r.emit().unwrap();
        assert_eq!(wire[0], 16);
        assert_eq!(wire[1], 2);
        assert_eq!(
            usize::from(u16::from_be_bytes([wire[2], wire[3]])),
            r.public_key.len()
        );
        // Names uncompressed at the end: "\x04rvs1\x07example\x03com\x00...".
        assert!(wire.ends_with(b"\x04rvs2\x07example\x03com\x00"));
        assert_eq!(HipRdata::parse(&wire).unwrap(), r);
        let again = HipRdata::from_presentation(&r.to_presentation()).unwrap();
        assert_eq!(again, r);
        let g = r.to_generic().unwrap();
        assert!(g.starts_with(&format!("TYPE55 \\# {} 10020084", wire.len())));
        assert_eq!(HipRdata::from_generic(&g).unwrap(), r);
    }

    #[test]
    fn rejects_bad_rdata() {
        let r = HipRdata::from_presentation(RFC_EXAMPLE).unwrap();
        let wire = r.emit().unwrap();
        for cut in 0..wire.len() {
            // Cutting inside the last name or before it must not pass
            // silently as a shorter record, except at a name boundary.
            let res = HipRdata::parse(&wire[..cut]);
            let boundary = cut == 4 + 16 + r.public_key.len() || cut == wire.len() - 18;
            assert_eq!(res.is_ok(), boundary, "cut at {cut}");
        }
        let mut bad = wire.clone();
        bad[0] = 20;
        assert_eq!(HipRdata::parse(&bad), Err(HipRrError::HitLength(20)));
        let mut comp = wire[..4 + 16 + r.public_key.len()].to_vec();
        comp.extend_from_slice(&[0xc0, 0x0c]);
        assert_eq!(HipRdata::parse(&comp), Err(HipRrError::CompressedName));
        let mut nokey = wire.clone();
        nokey[2] = 0;
        nokey[3] = 0;
        assert_eq!(HipRdata::parse(&nokey), Err(HipRrError::NoPublicKey));
        assert!(HipRdata::from_presentation("HIP ( 2 2001 AAAA )").is_err());
        assert!(
            HipRdata::from_presentation("HIP ( x 200100107B1A74DF365639CC39F1D578 AAAA )").is_err()
        );
        assert!(HipRdata::from_generic("TYPE55 \\# 3 0102").is_err());
    }

    fn name() -> impl Strategy<Value = Name> {
        proptest::collection::vec("[a-zA-Z0-9]([a-zA-Z0-9-]{0,18}[a-zA-Z0-9])?", 1..5).prop_map(
            |labels| {
                let mut n = Name::from_labels(labels.iter().map(|l| l.as_bytes())).unwrap();
                n.set_fqdn(true);
                n
            },
        )
    }

    fn rdata() -> impl Strategy<Value = HipRdata> {
        (
            any::<u8>(),
            any::<[u8; 16]>(),
            proptest::collection::vec(any::<u8>(), 1..600),
            proptest::collection::vec(name(), 0..4),
        )
            .prop_map(|(a, hit, public_key, rendezvous_servers)| HipRdata {
                pk_algorithm: PkAlgorithm::from(a),
                hit,
                public_key,
                rendezvous_servers,
            })
    }

    proptest! {
        #[test]
        fn wire_round_trip(r in rdata()) {
            let w = r.emit().unwrap();
            prop_assert_eq!(w.len(), r.wire_len());
            prop_assert_eq!(HipRdata::parse(&w).unwrap(), r);
        }

        #[test]
        fn text_round_trips(r in rdata()) {
            prop_assert_eq!(&HipRdata::from_presentation(&r.to_presentation()).unwrap(), &r);
            prop_assert_eq!(&HipRdata::from_generic(&r.to_generic().unwrap()).unwrap(), &r);
        }

        #[test]
        fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(r) = HipRdata::parse(&b) {
                // Whatever parses re-encodes to the same octets.
                prop_assert_eq!(r.emit().unwrap(), b);
            }
        }

        #[test]
        fn text_parse_never_panics(s in "\\PC{0,200}") {
            let _ = HipRdata::from_presentation(&s);
            let _ = HipRdata::from_generic(&s);
        }
    }
}
