//! The seam between hipd's control actor and the HIP protocol engine (RFC
//! 7401 base exchange, UPDATE, CLOSE; implemented by [`crate::hip_engine`]
//! over `hip_proto::endpoint`), and the SA description both it and the ESP
//! tables ([`crate::esp_tables`]) use.
use crate::control::HaInfo;
use hip_proto::endpoint::EspParams;
use hip_proto::Hit;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;

/// Engine errors.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    /// The engine refused or failed.
    #[error("{0}")]
    Protocol(String),
    /// ESP arrived for an SPI no inbound SA has (RFC 4303 section 3.4.2:
    /// discarded; the caller may start a base exchange, see
    /// [`crate::control_actor::Ctl::UnknownSpi`]).
    #[error("no SA for SPI {0:#010x}")]
    UnknownSpi(u32),
}

/// How a HIP control packet arrived (RFC 7401 section 5.1 over raw IP 139,
/// or RFC 5770 section 5.1 over UDP with a zero marker, already stripped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transport {
    pub src: IpAddr,
    /// Our address the packet was sent to, when the socket tells it.
    pub dst: Option<IpAddr>,
    /// Peer UDP port when UDP-encapsulated.
    pub udp_port: Option<u16>,
}

/// The SAs of one association as the data plane installs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaInstall {
    pub peer: Hit,
    pub local: Hit,
    pub locator: IpAddr,
    pub local_locator: IpAddr,
    /// Peer UDP port when ESP goes over UDP (RFC 3948 framing).
    pub udp_port: Option<u16>,
    /// A longer ICV than the suite's (a peer's compatibility profile), if any.
    pub icv_len: Option<usize>,
    pub esp: EspParams,
    /// (our LSI, the LSI we assigned to the peer), filled by the daemon from
    /// the peer database; IPv4 inner packets are rebuilt with them.
    pub lsis: Option<(std::net::Ipv4Addr, std::net::Ipv4Addr)>,
    /// We are the Responder in R2-SENT (RFC 7401 section 4.4.2): the peer may
    /// not have processed our R2 yet, so ESP we send now can beat the R2 to
    /// its SA tables and be dropped there (simultaneous base exchanges, where
    /// the Responder has packets queued for the peer). Also an Initiator
    /// whose engine is checking the Responder's NAT mapping right after the
    /// exchange (through a Control Relay Server): ESP sent before the check
    /// answers goes to the relay and is lost. Either waits for the peer's
    /// first ESP, the checked locator, or a second.
    pub awaiting_peer: bool,
}

/// What the engine asks hipd to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a HIP control packet (raw 139, or UDP 10500 when `udp_port` is set).
    SendControl {
        /// The source locator the packet's checksum and LOCATOR_SET were made
        /// for; raw sends pin it (a multihomed host must not let the kernel
        /// pick another one).
        src: IpAddr,
        dst: IpAddr,
        udp_port: Option<u16>,
        packet: Vec<u8>,
    },
    /// An association reached ESTABLISHED (or R2-SENT): install the SAs, flush the queue.
    Established(SaInstall),
    /// New SAs after an UPDATE rekey: replace, keeping the old inbound SA a while.
    Rekeyed(SaInstall),
    /// A rekey is under way: install this new inbound SA now, before the peer
    /// switches to it (RFC 7402 section 6.9).
    InboundSa {
        peer: Hit,
        suite: hip_proto::registry::EspTransformId,
        spi: u32,
        keys: hip_proto::endpoint::event::EspSaKeys,
        icv_len: Option<usize>,
    },
    /// The peer announced a locator that is being verified: ESP may go there
    /// within the credit earned from its traffic (RFC 8046 section 3.3.2).
    LocatorUnverified { peer: Hit, locator: IpAddr },
    /// The locator being verified did not answer: stop sending there.
    LocatorRejected { peer: Hit },
    /// The peer's locator changed (verified, RFC 8046): send ESP there.
    LocatorChanged { peer: Hit, locator: IpAddr },
    /// A locator of this peer (profile `hipl`) changed: it re-creates its SA
    /// with the same SPI and restarts its ESP sequence numbers at 1, so the
    /// inbound SA accepts one authentic restart.
    ExpectSequenceRestart { peer: Hit },
    /// The peer answered a heartbeat on the path in use.
    PathConfirmed { peer: Hit },
    /// The peer's NAT mapping moved (RFC 5770 plain UDP): send its ESP to
    /// `locator`:`udp_port` from now on.
    PeerUdpPort {
        peer: Hit,
        locator: IpAddr,
        udp_port: u16,
    },
    /// An association was closed or failed: remove its SAs, drop its queue.
    Closed { peer: Hit },
    /// Data Relay Server (RFC 9028 section 4.12): the ESP the data plane
    /// forwards for our clients, replacing the earlier list.
    RelayForwards(Vec<hip_proto::endpoint::RelayForward>),
}

/// The HIP protocol engine as hipd drives it. Time comes in as `now`.
pub trait ProtocolEngine: Send {
    /// A received control packet (the whole HIP packet, from the fixed header on).
    fn on_control_packet(&mut self, t: Transport, packet: &[u8], now: Instant) -> Vec<Action>;
    /// An application sent to `peer`: start a base exchange (I1) to `locators`.
    fn initiate(
        &mut self,
        local: Hit,
        peer: Hit,
        locators: &[IpAddr],
        now: Instant,
    ) -> Result<Vec<Action>, EngineError>;
    /// ESP from `peer` was opened (moves R2-SENT to ESTABLISHED, refreshes UAL).
    fn on_data_received(&mut self, peer: Hit, now: Instant);
    /// Timers (retransmissions, lifetimes).
    fn poll(&mut self, now: Instant) -> Vec<Action>;
    /// Rekey the SAs with `peer` (a packet or byte limit was reached).
    fn rekey(&mut self, peer: Hit, now: Instant) -> Vec<Action>;
    /// The path to `peer` looks dead: probe another of its locators (RFC 8047).
    fn failover(&mut self, peer: Hit, now: Instant) -> Vec<Action>;
    /// Ask `peer` to confirm the path in use (UPDATE with ECHO_REQUEST_SIGNED,
    /// RFC 8046 section 5.4); None when no heartbeat can be sent now.
    fn heartbeat(&mut self, peer: Hit, now: Instant) -> Option<Vec<Action>>;
    /// After a failover, probe the original path again (called every few seconds).
    fn return_home(&mut self, now: Instant) -> Vec<Action>;
    /// The host's usable locators changed: announce new ones to the peers.
    fn update_locators(&mut self, addrs: &[IpAddr], now: Instant) -> Vec<Action>;
    /// [`ProtocolEngine::update_locators`] for one association (just
    /// established: its peer learns our failover candidates).
    fn update_locators_of(
        &mut self,
        local: Hit,
        peer: Hit,
        addrs: &[IpAddr],
        now: Instant,
    ) -> Vec<Action>;
    /// When `poll` must run next.
    fn next_deadline(&self) -> Option<Instant>;
    /// The NAT mode of new base exchanges (`hipconf daemon nat`).
    fn set_nat_mode(&mut self, mode: crate::config::NatMode);
    /// ESP was sent to `peer` (from `local`) over UDP at `at`: no NAT
    /// keepalive is needed before an interval after it.
    fn data_sent(&mut self, local: Hit, peer: Hit, at: Instant);
    /// Authenticated ESP from `peer` came over UDP from `src`:`port`, not
    /// the path its SAs use (reported once per new source): the engine
    /// decides whether the peer's NAT mapping moved.
    fn on_udp_source(&mut self, peer: Hit, src: IpAddr, port: u16, now: Instant) -> Vec<Action>;
    /// CLOSE all associations (shutdown, `hipconf rst all`) or one (`rst HIT`).
    fn close(&mut self, peer: Option<Hit>, now: Instant) -> Vec<Action>;
    /// A new local identity (`hipconf new hi`).
    fn add_identity(
        &mut self,
        id: &crate::identity_store::LocalIdentity,
    ) -> Result<(), EngineError>;
    /// `hipconf set puzzle all K`.
    fn set_puzzle_difficulty(&mut self, k: u8) -> Result<(), EngineError>;
    /// Current associations for `get ha`.
    fn associations(&self) -> Vec<HaInfo>;
    /// Named counters (drops by reason, exchanges), prefixed `hip_`.
    fn counters(&self) -> BTreeMap<String, u64>;
    /// Register with the server `server` at `server_ip` for `service` for
    /// `lifetime` seconds (RFC 8003 section 3.2; `hipconf daemon add server`).
    fn register(
        &mut self,
        server: Hit,
        server_ip: IpAddr,
        service: hip_proto::wire::RegType,
        lifetime: u32,
        now: Instant,
    ) -> Result<Vec<Action>, EngineError> {
        let _ = (server, server_ip, service, lifetime, now);
        Err(EngineError::Protocol("registration not supported".into()))
    }
    /// Cancel a registration (lifetime zero, RFC 8003 section 3.3); false
    /// when there was none.
    fn unregister(
        &mut self,
        server: Hit,
        service: hip_proto::wire::RegType,
        now: Instant,
    ) -> (bool, Vec<Action>) {
        let _ = (server, service, now);
        (false, Vec::new())
    }
    /// Registrations, both as requester and as registrar, for `get ha`.
    fn registrations(&self) -> Vec<crate::control::RegistrationInfo> {
        Vec::new()
    }
}
