//! HIP endpoint: local host identities, R1 generation, puzzle difficulty and
//! policy (RFC 7401 sections 4.1.1, 4.4, 6; RFC 5201 for v1).
//!
//! * [`config`]: configuration, preference lists, retransmission limits.
//! * [`compat`]: per-peer compatibility profiles (HIPL 1.0.8, cutehip).
//! * [`negotiate`]: selection from preference lists and DH_GROUP_LIST downgrade check.
//! * [`puzzle_secret`]: stateless puzzle #I from a rotating secret (RFC 7401 section 4.1.1).
//! * [`counters`]: named drop reasons and counters.
//! * [`event`]: events, transmits, ESP parameters handed to the caller.
//! * [`random`]: the caller-supplied randomness source.
//! * [`solution`]: stateless I2 SOLUTION check.
//! * [`table`]: association table, timers and events.
//! * [`fuzz`]: entry points for the fuzz crate.

pub mod compat;
pub mod config;
pub mod counters;
pub mod event;
pub mod fuzz;
pub mod negotiate;
pub mod puzzle_secret;
pub mod random;
pub mod solution;
pub mod table;

pub use compat::CompatProfile;
pub use config::Config;
pub use counters::{Counters, DropReason};
pub use event::{EspParams, Event, FailReason, Locator, Transmit};
pub use negotiate::NegotiationError;
pub use puzzle_secret::PuzzleSecrets;
pub use random::RandomSource;
