//! BEET-mode ESP (RFC 7402, RFC 4303) in userspace.
//!
//! * [`suite`]: the ESP transforms of the HIP registry and their parameters.
//! * [`replay`]: the anti-replay sliding window (RFC 4303 section 3.4.3,
//!   bitmap per RFC 6479) with extended sequence numbers (Appendix A).
//! * [`sa`]: security associations that seal and open ESP packets in place
//!   in the caller's buffer, allocating nothing per packet.
#![forbid(unsafe_code)]

pub mod beet;
pub mod replay;
pub mod sa;
pub mod suite;
pub mod table;
pub mod udp;

pub use sa::{InboundSa, OpenError, OutboundSa, SaStats, SealError, Sealed};
pub use suite::{Suite, SuiteError};
pub use table::{SaTable, SealJob, TableError, TableStats};
