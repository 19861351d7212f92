//! HIP in DNS (RFC 8005) for hipr.
//!
//! * [`hip_rr`]: the HIP RR's RDATA (type 55) in wire, presentation and
//!   RFC 3597 generic form; hickory-proto carries it as opaque RDATA.
//! * [`lookup`]: sans-IO query messages and answer checks, giving a
//!   [`PeerRecord`].
//! * [`update`]: DNS UPDATE (RFC 2136) messages signed with TSIG
//!   (RFC 8945, keys from [`tsig`]), and the check of the server's answer.
//! * [`zone`]: master-file lines for publishing by hand.
//! * `client` (feature `client`): tokio `resolve` and `send_update`.
//! * [`verify`]: the Host Identity in a record and the HIT-is-ORCHID-of-HI
//!   check (RFC 8005 section 4.1).
//!
//! All DNS message work is hickory-proto's; this crate's core is sans-IO
//! (the optional `client` feature adds a small tokio client).

#[cfg(feature = "client")]
pub mod client;
pub mod hip_rr;
pub mod lookup;
pub mod tsig;
pub mod update;
pub mod verify;
pub mod zone;

pub use hickory_proto::rr::Name;
pub use hip_proto::hit::OrchidVersion;
pub use hip_rr::{HipRdata, HipRrError, PkAlgorithm, HIP_RR_TYPE};
pub use lookup::{parse_response, query_message, Answer, LookupError, PeerRecord, QueryType};
pub use tsig::{KeyFileError, TsigAlg, TsigKey};
pub use update::{publish, withdraw, SignedUpdate, UpdateError};
pub use verify::{verify_hit, VerifyError};
pub use zone::zone_lines;
