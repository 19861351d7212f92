//! hipd: the HIP daemon's plumbing (RFC 7401 host, RFC 7402 BEET ESP, RFC 5338 LSIs).
//!
//! Two planes: the control actor ([`control_actor`]) owns the protocol engine
//! ([`hip_engine`] over `hip_proto::endpoint`, behind
//! [`engine::ProtocolEngine`]), the peers and identities, and publishes the
//! SA tables ([`esp_tables`]); the packet workers ([`workers`], [`esp_path`]
//! over `hip_esp`) read those tables without a lock.
pub mod addr_watch;
pub mod check_config;
pub mod config;
pub mod control;
pub mod control_actor;
pub mod control_handler;
pub mod control_plane;
pub mod control_socket;
pub mod daemon;
pub mod dataplane;
pub mod dns_lookup;
pub mod dns_peers;
pub mod dns_proxy;
pub mod dns_publish;
pub mod engine;
pub mod esp_path;
pub mod esp_tables;
pub mod hip_engine;
pub mod hosts;
pub mod icmp;
pub mod identity_store;
pub mod inner_family;
pub mod key_file;
pub mod local_locators;
pub mod locator_rules;
pub mod log_limit;
pub mod metrics;
pub mod netconf;
pub mod offload;
pub mod packet_pool;
pub mod peer_db;
pub mod raw_socket;
pub mod reload;
pub mod sharded_map;
pub mod stats;
pub mod tun;
pub mod udp_batch;
pub mod workers;
