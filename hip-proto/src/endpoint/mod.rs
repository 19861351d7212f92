//! HIP endpoint: local host identities, R1 generation, puzzle difficulty and
//! policy (RFC 7401 sections 4.1.1, 4.4, 6; RFC 5201 for v1).
//!
//! * [`core`]: the [`Endpoint`]: `handle`, `connect`, `poll_transmit`, `poll_timeout`, events.
//! * [`initiator`] / [`responder`]: the base exchange (I1, R1, I2, R2).
//! * [`r1_generation`]: precomputed, signed R1 templates.
//! * [`close`], [`update`], [`notify`]: CLOSE/CLOSE_ACK, UPDATE rekeying, NOTIFY.
//! * [`rekey_dh`]: a new Diffie-Hellman key in a rekeying UPDATE (RFC 7402 section 6.10).
//! * [`mobility`]: LOCATOR_SET announcement and address verification (RFC 8046).
//! * [`registration`]: registrar and requester of the Registration Extension (RFC 8003).
//! * [`rendezvous`]: I1 relaying, FROM / RVS_HMAC / VIA_RVS (RFC 8004).
//! * [`relay`]: the Control Relay Server and Client, RELAY_FROM / RELAY_TO / RELAY_HMAC (RFC 9028, RFC 5770).
//! * [`data_relay`]: the Data Relay Server and Client, PEER_PERMISSION (RFC 9028 section 4.12).
//! * [`nat_keepalive`]: NAT keepalives on associations over UDP (RFC 5770, RFC 9028 section 5.10).
//! * [`udp_mapping`]: a peer over UDP is known by its NAT mapping (rebinding, moves).
//! * [`identity`]: local Host Identities per HIP version.
//! * [`protect`]: HIP_MAC / signature / checksum building and checking.
//! * `mac_check`: HIP_MAC of R2, UPDATE, CLOSE, CLOSE_ACK checked before parsing.
//! * [`config`]: configuration, preference lists, retransmission limits.
//! * [`compat`]: per-peer compatibility profiles (HIPL 1.0.8, cutehip).
//! * [`negotiate`]: selection from preference lists and DH_GROUP_LIST downgrade check.
//! * [`puzzle_secret`]: stateless puzzle #I from a rotating secret (RFC 7401 section 4.1.1).
//! * [`counters`]: named drop reasons and counters.
//! * [`event`]: events, transmits, ESP parameters handed to the caller.
//! * [`random`]: the caller-supplied randomness source.
//! * [`rate_limit`]: the token bucket for replies to packets that create no state.
//! * [`r1_rate_limit`]: R1s per destination address and in all (amplification).
//! * [`solution`]: stateless I2 SOLUTION check.
//! * [`spent_puzzles`]: I2 replay protection, each puzzle solution accepted once.
//! * [`fuzz`]: entry points for the fuzz crate.

mod association_table;
pub mod close;
pub mod compat;
pub mod config;
pub mod core;
pub mod counters;
pub mod data_relay;
pub mod event;
pub mod fuzz;
pub mod identity;
pub mod initiator;
mod mac_check;
pub mod mobility;
pub mod nat_keepalive;
pub mod negotiate;
pub mod notify;
pub mod protect;
pub mod puzzle_secret;
pub mod r1_generation;
pub mod r1_rate_limit;
pub mod random;
pub mod rate_limit;
pub mod registration;
pub mod rekey_dh;
pub mod relay;
pub mod rendezvous;
pub mod responder;
pub mod solution;
pub mod spent_puzzles;
pub mod udp_mapping;
pub mod update;

pub use compat::CompatProfile;
pub use config::Config;
pub use core::{AssociationInfo, ConnectError, Endpoint, HitPair, Incoming};
pub use counters::{Counters, DropReason};
pub use data_relay::{RelayForward, MAX_PERMISSIONS};
pub use event::{EspParams, Event, FailReason, Locator, Transmit};
pub use identity::{IdentityError, LocalIdentity};
pub use negotiate::NegotiationError;
pub use puzzle_secret::PuzzleSecrets;
pub use random::RandomSource;
pub use rate_limit::RateLimit;
pub use registration::{
    ClientRegistrationInfo, RegisterError, RegistrarConfig, RegistrarConfigError,
    RegistrationEvent, RegistrationInfo, RegistrationPolicy, RegistrationState,
};
pub use update::RekeyError;
