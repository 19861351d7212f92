//! HIP association: the per-HIT-pair state machine (RFC 7401 section 4.4,
//! RFC 5201 section 4.4) and its retransmission timers (RFC 7401 section 4.4.3).
//!
//! * [`state`]: the eight association states and the transition table of
//!   RFC 7401 section 4.4.2 (v2) / RFC 5201 section 4.4.2 (v1) as a pure function.
//! * [`timer`]: caller-supplied time and retransmission with exponential backoff.
//! * [`update`]: UPDATE SEQ/ACK bookkeeping (RFC 7401 section 6.11-6.12).
//! * [`replay`]: R1_COUNTER and CLOSE nonce guards.
//! * [`keys`]: HIP and ESP keys from KEYMAT.
//! * [`driver`]: state plus timers of one association.
//! * [`context`]: locators, peer identity, keys, SPIs and retransmission buffers.

pub mod context;
pub mod driver;
pub mod keys;
pub mod replay;
pub mod state;
pub mod timer;
pub mod update;

pub use context::{Association, PendingRekey, UpdateState};
pub use driver::{Driver, Timers};
pub use state::{Action, HitOrder, Input, State, Step};
pub use timer::{Duration, Instant, Retransmit, RetransmitConfig, RetransmitOutcome};
pub use update::{SeqAckError, SeqDisposition, UpdateSeq};
