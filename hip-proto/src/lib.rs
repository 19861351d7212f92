//! HIP protocol library: wire codecs, crypto suite, sans-IO association state machine.
//!
//! * [`wire`]: checked zero-copy views and typed representations of HIP packets
//!   and parameters (RFC 7401 section 5, RFC 5201 section 5 and the extension RFCs).
//! * [`crypto`]: Host Identities, ORCHID HITs, Diffie-Hellman, KEYMAT, HIP_MAC,
//!   signatures, HIP_CIPHER and the puzzle (RFC 7401 sections 3, 4.1.2, 5.2, 6).
//! * [`registry`]: IANA HIP registries as enums that keep unknown values.
//! * [`liveness`]: when data-path silence warrants a heartbeat, and when a failover.
#![forbid(unsafe_code)]

pub mod association;
pub mod crypto;
pub mod endpoint;
pub mod hit;
pub mod liveness;
pub mod lsi;
pub mod pcap;
pub mod registry;
pub mod wire;

pub use hit::Hit;
