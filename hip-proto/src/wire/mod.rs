//! HIP wire format: checked zero-copy views and typed representations.
//!
//! * [`Packet`]: the fixed HIP header (RFC 7401 section 5.1, RFC 5201 section 5.1).
//! * [`Param`] / [`ParamIter`]: the TLV parameter framing (RFC 7401 section 5.2.1).
//! * [`ParamRepr`]: every parameter as a typed value, unknown ones kept.
//! * [`HipRepr`]: a whole packet, with the ordering and critical-bit rules.
//! * [`checksum`]: the HIP checksum over the IPv4/IPv6 pseudo-header.
//! * [`cover`]: the exact bytes that HIP_MAC(_2) and HIP_SIGNATURE(_2) protect.

pub mod checksum;
pub mod cover;
mod error;
mod header;
mod param;
mod params;
mod repr;
pub mod types;

pub use error::{Error, Result};
pub use header::{Packet, HEADER_LEN, NO_NEXT_HEADER};
pub use param::{padded_len, Param, ParamIter};
pub use params::*;
pub use repr::{HipRepr, ParseOptions, HIPL_PRIVATE_PARAMS, MAX_PACKET_LEN};
pub use types::{
    CandidateKind, LocatorType, NatTraversalMode, NotifyMessageType, ParamType, RegFailureType,
    RegType,
};
