//! HIP in DNS (RFC 8005) for hipr.
//!
//! * [`hip_rr`]: the HIP RR's RDATA (type 55) in wire, presentation and
//!   RFC 3597 generic form; hickory-proto carries it as opaque RDATA.
//! * [`verify`]: the Host Identity in a record and the HIT-is-ORCHID-of-HI
//!   check (RFC 8005 section 4.1).
//!
//! All DNS message work is hickory-proto's; this crate's core is sans-IO
//! (the optional `client` feature adds a small tokio client).

pub mod hip_rr;
pub mod verify;

pub use hickory_proto::rr::Name;
pub use hip_proto::hit::OrchidVersion;
pub use hip_rr::{HipRdata, HipRrError, PkAlgorithm, HIP_RR_TYPE};
pub use verify::{verify_hit, VerifyError};
