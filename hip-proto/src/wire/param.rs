//! TLV parameter framing (RFC 7401 section 5.2.1, RFC 5201 section 5.2.1).
//!
//! ```text
//! |             Type            |C|             Length            |
//! /                          Contents                             /
//! /                                               +-+-+-+-+-+-+-+-+
//! |                                               |    Padding    |
//! ```
//! Length counts the contents only; each parameter is padded to a multiple
//! of 8 octets: Total Length = 11 + Length - (Length + 3) % 8. The critical
//! bit C is the lowest-order bit of Type.

use super::types::ParamType;
use super::{Error, Result};

/// The on-the-wire size of a parameter with `contents_len` octets of
/// contents, including the 4-octet type/length and padding.
pub const fn padded_len(contents_len: usize) -> usize {
    11 + contents_len - (contents_len + 3) % 8
}

/// A view of one parameter inside a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Param<'a> {
    /// Parse one parameter at the start of `bytes`. `offset` is its position
    /// in the packet, kept for signature/MAC coverage computations.
    pub fn parse(bytes: &'a [u8], offset: usize) -> Result<Self> {
        if bytes.len() < 4 {
            return Err(Error::Truncated {
                need: 4,
                have: bytes.len(),
            });
        }
        let ty = u16::from_be_bytes([bytes[0], bytes[1]]);
        let len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        let total = padded_len(len);
        if total > bytes.len() {
            return Err(Error::ParamTruncated { ty });
        }
        Ok(Param {
            bytes: &bytes[..total],
            offset,
        })
    }

    /// The raw Type field (critical bit included).
    pub fn raw_type(&self) -> u16 {
        u16::from_be_bytes([self.bytes[0], self.bytes[1]])
    }

    /// The parameter type.
    pub fn param_type(&self) -> ParamType {
        ParamType::from(self.raw_type())
    }

    /// The critical bit: the lowest-order bit of the type.
    pub fn is_critical(&self) -> bool {
        self.raw_type() & 1 == 1
    }

    /// The Length field (contents only).
    pub fn contents_len(&self) -> usize {
        usize::from(u16::from_be_bytes([self.bytes[2], self.bytes[3]]))
    }

    /// The contents, without type, length and padding.
    pub fn contents(&self) -> &'a [u8] {
        &self.bytes[4..4 + self.contents_len()]
    }

    /// The padding octets (RFC 7401 says they are zero on send, ignored on receipt).
    pub fn padding(&self) -> &'a [u8] {
        &self.bytes[4 + self.contents_len()..]
    }

    /// The whole parameter including header and padding.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Offset of the parameter from the start of the HIP packet.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

/// Iterator over the parameters of a packet. Stops after the first error.
#[derive(Debug, Clone)]
pub struct ParamIter<'a> {
    rest: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> ParamIter<'a> {
    /// Iterate over `bytes`, which start at `offset` in the packet.
    pub fn new(bytes: &'a [u8], offset: usize) -> Self {
        ParamIter {
            rest: bytes,
            offset,
            failed: false,
        }
    }
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = Result<Param<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        match Param::parse(self.rest, self.offset) {
            Ok(p) => {
                let n = p.as_bytes().len();
                self.rest = &self.rest[n..];
                self.offset += n;
                Some(Ok(p))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_formula_matches_rfc() {
        assert_eq!(padded_len(0), 8);
        assert_eq!(padded_len(4), 8);
        assert_eq!(padded_len(5), 16);
        assert_eq!(padded_len(12), 16);
        assert_eq!(padded_len(20), 24);
        for len in 0..100 {
            let t = padded_len(len);
            assert_eq!(t % 8, 0);
            assert!(t >= len + 4 && t < len + 12);
        }
    }

    #[test]
    fn truncated_parameter_is_an_error() {
        let b = [0x01, 0x01, 0x00, 0x10, 1, 2, 3];
        let mut it = ParamIter::new(&b, 40);
        assert_eq!(
            it.next().unwrap().unwrap_err(),
            Error::ParamTruncated { ty: 0x0101 }
        );
        assert!(it.next().is_none());
    }
}
