//! Seams where the protocol engine (`hip_proto::endpoint`, RFC 7401 base
//! exchange, UPDATE, CLOSE) and the ESP SAs (`hip_esp`, RFC 7402 BEET) plug in.
//!
//! Until they are wired, [`Unplugged`] answers every call with
//! [`EngineError::NotImplemented`]; hipd logs and counts those, it never fakes
//! an association.
use crate::control::HaInfo;
use hip_proto::Hit;
use std::net::IpAddr;
use std::time::Instant;

/// Engine errors.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    /// The engine for this operation is not wired into hipd yet.
    #[error("not implemented yet: {0}")]
    NotImplemented(&'static str),
    /// The engine refused or failed.
    #[error("{0}")]
    Protocol(String),
}

/// How a HIP control packet arrived (RFC 7401 section 5.1 over raw IP 139,
/// or RFC 5770 section 5.1 over UDP with a zero marker, already stripped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transport {
    pub src: IpAddr,
    pub dst: Option<IpAddr>,
    /// Peer UDP port when UDP-encapsulated.
    pub udp_port: Option<u16>,
}

/// What the engine asks hipd to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a HIP control packet (raw 139, or UDP 10500 when `udp_port` is set).
    SendControl {
        dst: IpAddr,
        udp_port: Option<u16>,
        packet: Vec<u8>,
    },
    /// An association reached ESTABLISHED: install the SAs, flush the queue.
    Established { peer: Hit, locator: IpAddr },
    /// An association was closed or failed: drop its queue.
    Closed { peer: Hit },
}

/// The HIP protocol engine as hipd drives it. Time comes in as `now`; the
/// engine keeps no sockets (sans-IO).
pub trait ProtocolEngine: Send {
    /// A received control packet (the whole HIP packet, from the fixed header on).
    fn on_control_packet(
        &mut self,
        t: Transport,
        packet: &[u8],
        now: Instant,
    ) -> Result<Vec<Action>, EngineError>;
    /// An application sent to `peer`: start a base exchange (I1) to `locators`.
    fn initiate(
        &mut self,
        local: Hit,
        peer: Hit,
        locators: &[IpAddr],
        now: Instant,
    ) -> Result<Vec<Action>, EngineError>;
    /// Timers (retransmissions, lifetimes).
    fn poll(&mut self, now: Instant) -> Result<Vec<Action>, EngineError>;
    /// CLOSE all associations (shutdown) or one.
    fn close(&mut self, peer: Option<Hit>, now: Instant) -> Result<Vec<Action>, EngineError>;
    /// `hipconf rst`: drop association state without CLOSE.
    fn reset(&mut self, peer: Option<Hit>) -> Result<(), EngineError>;
    /// `hipconf set puzzle all K`.
    fn set_puzzle_difficulty(&mut self, k: u8) -> Result<(), EngineError>;
    /// Current associations for `get ha`.
    fn associations(&self) -> Vec<HaInfo>;
}

/// The ESP data plane (BEET mode, RFC 7402 / RFC 7401 section 6.9).
pub trait EspEngine: Send {
    /// Is there an outbound SA to `peer`?
    fn has_sa(&self, peer: &Hit) -> bool;
    /// Encrypts an inner IP packet for `peer`; returns the outer destination and ESP payload.
    fn seal(&mut self, peer: &Hit, inner: &[u8]) -> Result<(IpAddr, Vec<u8>), EngineError>;
    /// Decrypts an ESP payload (after the outer IP header); returns the inner IP packet.
    fn open(&mut self, src: IpAddr, esp: &[u8]) -> Result<Vec<u8>, EngineError>;
}

/// Placeholder for both seams until hip_proto/hip_esp are wired; every call fails.
#[derive(Debug, Default)]
pub struct Unplugged;

impl ProtocolEngine for Unplugged {
    fn on_control_packet(
        &mut self,
        _: Transport,
        _: &[u8],
        _: Instant,
    ) -> Result<Vec<Action>, EngineError> {
        Err(EngineError::NotImplemented(
            "HIP control packet processing (hip_proto::endpoint)",
        ))
    }
    fn initiate(
        &mut self,
        _: Hit,
        _: Hit,
        _: &[IpAddr],
        _: Instant,
    ) -> Result<Vec<Action>, EngineError> {
        Err(EngineError::NotImplemented(
            "base exchange initiation (hip_proto::endpoint)",
        ))
    }
    fn poll(&mut self, _: Instant) -> Result<Vec<Action>, EngineError> {
        Ok(Vec::new())
    }
    fn close(&mut self, _: Option<Hit>, _: Instant) -> Result<Vec<Action>, EngineError> {
        Err(EngineError::NotImplemented("CLOSE (hip_proto::endpoint)"))
    }
    fn reset(&mut self, _: Option<Hit>) -> Result<(), EngineError> {
        Err(EngineError::NotImplemented(
            "association reset (hip_proto::endpoint)",
        ))
    }
    fn set_puzzle_difficulty(&mut self, _: u8) -> Result<(), EngineError> {
        Err(EngineError::NotImplemented(
            "puzzle difficulty (hip_proto::endpoint)",
        ))
    }
    fn associations(&self) -> Vec<HaInfo> {
        Vec::new()
    }
}

impl EspEngine for Unplugged {
    fn has_sa(&self, _: &Hit) -> bool {
        false
    }
    fn seal(&mut self, _: &Hit, _: &[u8]) -> Result<(IpAddr, Vec<u8>), EngineError> {
        Err(EngineError::NotImplemented("ESP output (hip_esp)"))
    }
    fn open(&mut self, _: IpAddr, _: &[u8]) -> Result<Vec<u8>, EngineError> {
        Err(EngineError::NotImplemented("ESP input (hip_esp)"))
    }
}
