//! hipd: the HIP daemon's plumbing (RFC 7401 host, RFC 7402 BEET ESP, RFC 5338 LSIs).
//!
//! Thin glue: the protocol engine ([`hip_engine`] over `hip_proto::endpoint`)
//! and the ESP SAs ([`esp_engine`] over `hip_esp`) sit behind
//! [`engine::ProtocolEngine`] and [`engine::EspEngine`].
pub mod addr_watch;
pub mod config;
pub mod control;
pub mod control_handler;
pub mod control_plane;
pub mod daemon;
pub mod dataplane;
pub mod engine;
pub mod esp_engine;
pub mod hip_engine;
pub mod hosts;
pub mod icmp;
pub mod identity_store;
pub mod inner_family;
pub mod key_file;
pub mod locator_rules;
pub mod netconf;
pub mod peer_db;
pub mod raw_socket;
pub mod stats;
pub mod tun;
