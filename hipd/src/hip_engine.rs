//! The HIP protocol engine of hipd: `hip_proto::endpoint::Endpoint` (RFC 7401
//! base exchange, UPDATE, CLOSE, NOTIFY; RFC 5201 for v1 peers) driven with
//! the system clock and the OS random generator, its transmits and events
//! turned into [`Action`]s.
use crate::control::HaInfo;
use crate::engine::{Action, EngineError, ProtocolEngine, SaInstall, Transport};
use crate::identity_store::{HitVersion, LocalIdentity as StoredIdentity};
use hip_proto::association::{self, State};
use hip_proto::endpoint::{
    Config, Endpoint, Event, Incoming, LocalIdentity, RegistrarConfig, RegistrationEvent,
    RegistrationPolicy, RegistrationState,
};
use hip_proto::hit::OrchidVersion;
use hip_proto::registry::Version;
use hip_proto::wire::{RegFailureType, RegType};
use hip_proto::Hit;
use rand_core::RngCore;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Instant;

/// The endpoint plus the clock origin that maps `Instant` to protocol time.
pub struct HipEngine {
    ep: Endpoint,
    origin: Instant,
    /// NAT mode of new exchanges: over UDP port 10500 (RFC 5770) with
    /// `plain-udp`, raw IP 139 otherwise.
    nat: crate::config::NatMode,
    /// Profiles chosen from a peer's packets (`CompatProfile::detect`),
    /// per peer HIT while it has an association.
    detected: std::collections::HashMap<Hit, hip_proto::endpoint::CompatProfile>,
}

fn os_random(b: &mut [u8]) {
    rand_core::OsRng.fill_bytes(b)
}

/// The source address the kernel would use towards `dst` (a UDP "connect",
/// which sends nothing).
pub fn local_locator_for(dst: IpAddr) -> Option<IpAddr> {
    let bind: SocketAddr = match dst {
        IpAddr::V4(_) => "0.0.0.0:0".parse().ok()?,
        IpAddr::V6(_) => "[::]:0".parse().ok()?,
    };
    let s = UdpSocket::bind(bind).ok()?;
    s.connect(SocketAddr::new(dst, 9)).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}

/// cutehip sends and expects the full HMAC output as ESP ICV (32 octets for
/// HMAC-SHA-256; ../shared/interop/cutehip/README.md item 10).
fn full_icv(p: &hip_proto::endpoint::CompatProfile) -> Option<usize> {
    (*p == hip_proto::endpoint::CompatProfile::Cutehip).then_some(32)
}

/// HIPL's names for the association states (`hipconf daemon get ha all`).
pub fn state_name(s: State) -> &'static str {
    match s {
        State::Unassociated => "UNASSOCIATED",
        State::I1Sent => "I1-SENT",
        State::I2Sent => "I2-SENT",
        State::R2Sent => "R2-SENT",
        State::Established => "ESTABLISHED",
        State::Closing => "CLOSING",
        State::Closed => "CLOSED",
        State::EFailed => "E-FAILED",
    }
}

/// The hipconf / hipd.conf name of a registration type (HIPL's names).
pub fn service_name(t: RegType) -> String {
    match t {
        RegType::RendezvousServer => "rvs".into(),
        RegType::RelayUdpHip => "relay".into(),
        RegType::RelayUdpEsp => "full-relay".into(),
        RegType::CandidateDiscovery => "candidate-discovery".into(),
        RegType::Unknown(n) => n.to_string(),
    }
}

/// A registration type by its hipconf / hipd.conf name.
pub fn parse_service(s: &str) -> Result<RegType, String> {
    match s {
        "rvs" | "rendezvous" => Ok(RegType::RendezvousServer),
        "relay" => Ok(RegType::RelayUdpHip),
        "full-relay" => Ok(RegType::RelayUdpEsp),
        _ => Err(format!("unknown service {s:?} (rvs, relay or full-relay)")),
    }
}

/// The registrar offer from hipd.conf (RFC 8003): the rendezvous service
/// (RFC 8004), the Control Relay Server (RFC 9028 section 4.1) and the Data
/// Relay Server (`full-relay`, RFC 9028 section 4.12).
pub fn registrar_config(conf: &crate::config::Config) -> RegistrarConfig {
    let offered = |t: &RegType| {
        matches!(
            t,
            RegType::RendezvousServer | RegType::RelayUdpHip | RegType::RelayUdpEsp
        )
    };
    let services: Vec<RegType> = conf.services.iter().copied().filter(offered).collect();
    if let Some(t) = conf.services.iter().find(|t| !offered(t)) {
        tracing::warn!(
            service = %service_name(*t),
            "services: only rvs, relay and full-relay are implemented; requests for this one are answered \"registration type unavailable\""
        );
    }
    RegistrarConfig {
        services,
        min_lifetime: conf.registration_min_lifetime,
        max_lifetime: conf.registration_max_lifetime,
        allow: match &conf.registration_allow {
            None => RegistrationPolicy::Any,
            Some(hits) => RegistrationPolicy::Hits(hits.iter().copied().collect()),
        },
        ..RegistrarConfig::default()
    }
}

fn reg_state_name(s: RegistrationState) -> String {
    match s {
        RegistrationState::Requested => "requested".into(),
        RegistrationState::Registered => "registered".into(),
        RegistrationState::Failed(f) => format!("failed ({})", failure_name(f)),
        RegistrationState::Expired => "expired".into(),
        RegistrationState::Cancelling => "cancelling".into(),
    }
}

/// RFC 8003 section 4.3.3 failure types, for people.
pub fn failure_name(f: RegFailureType) -> String {
    match f {
        RegFailureType::RequiresAdditionalCredentials => {
            "registration requires additional credentials".into()
        }
        RegFailureType::TypeUnavailable => "registration type unavailable".into(),
        RegFailureType::InsufficientResources => "insufficient resources".into(),
        other => format!("failure type {}", other.value()),
    }
}

impl HipEngine {
    /// An engine with the daemon's identities and puzzle difficulty.
    pub fn new(ids: &[StoredIdentity], conf: &crate::config::Config) -> Result<Self, String> {
        let cfg = Config {
            registrar: registrar_config(conf),
            puzzle_difficulty: conf.puzzle_k,
            peer_profiles: conf.profiles.iter().copied().collect(),
            rekey_interval: conf.rekey_interval.map(association::Duration::from_secs),
            rekey_on_locator_change: conf.rekey_on_move,
            rekey_new_dh: conf.rekey_dh,
            nat_keepalive_interval: Some(association::Duration::from_secs(
                conf.nat_keepalive_interval,
            )),
            esp_transforms: conf
                .esp_transforms
                .clone()
                .unwrap_or_else(|| Config::default().esp_transforms),
            ..Config::default()
        };
        let nat = conf.nat;
        let mut ep = Endpoint::new(cfg, &mut os_random).map_err(|e| e.to_string())?;
        for id in ids {
            match to_endpoint_identity(id) {
                Ok(l) => ep.add_identity(l),
                Err(e) => tracing::warn!(hit = %id.hit, "identity not usable for HIP: {e}"),
            }
        }
        Ok(HipEngine {
            ep,
            origin: Instant::now(),
            nat,
            detected: Default::default(),
        })
    }

    fn t(&self, now: Instant) -> association::Instant {
        association::Instant(now.saturating_duration_since(self.origin).as_nanos() as u64)
    }

    fn drain(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        while let Some(t) = self.ep.poll_transmit() {
            out.push(Action::SendControl {
                src: t.src,
                dst: t.dst,
                udp_port: t.udp_port,
                packet: t.bytes,
            });
        }
        while let Some(e) = self.ep.poll_event() {
            match e {
                Event::Established {
                    peer_hit,
                    local_hit,
                    esp,
                    local_locator,
                    peer_locator,
                    udp_port,
                    version,
                    ..
                } => {
                    tracing::info!(peer = %peer_hit, ?version, suite = ?esp.suite, "HIP association established");
                    let profile = self.ep.peer_profile(local_hit, peer_hit);
                    if profile != self.ep.config().profile_for(&peer_hit) {
                        tracing::info!(peer = %peer_hit, profile = profile.name(), "compatibility profile chosen from the peer's packets (not configured)");
                        self.detected.insert(peer_hit, profile);
                    } else {
                        self.detected.remove(&peer_hit);
                    }
                    // A Responder in R2-SENT, or an Initiator checking the
                    // Responder's NAT mapping (through a relay): what it
                    // sends now would be lost, it waits.
                    let awaiting_peer = self.ep.state(local_hit, peer_hit) == State::R2Sent
                        || self.ep.path_check_pending(local_hit, peer_hit);
                    out.push(Action::Established(SaInstall {
                        peer: peer_hit,
                        local: local_hit,
                        locator: peer_locator,
                        local_locator,
                        udp_port,
                        icv_len: full_icv(&self.profile(peer_hit)),
                        esp,
                        lsis: None,
                        awaiting_peer,
                    }))
                }
                Event::Rekeyed {
                    peer_hit,
                    local_hit,
                    esp,
                } => {
                    let a = self
                        .ep
                        .associations()
                        .into_iter()
                        .find(|a| a.peer_hit == peer_hit && a.local_hit == local_hit);
                    if let Some(a) = a {
                        // ESP through the Data Relay stays there.
                        let relay = self.ep.esp_relay(local_hit, peer_hit);
                        out.push(Action::Rekeyed(SaInstall {
                            peer: peer_hit,
                            local: local_hit,
                            locator: relay.map_or(a.peer_locator, |r| r.ip()),
                            local_locator: a.local_locator,
                            udp_port: relay.map_or(a.udp_port, |r| Some(r.port())),
                            icv_len: full_icv(&self.profile(peer_hit)),
                            esp,
                            lsis: None,
                            awaiting_peer: false,
                        }));
                    }
                }
                Event::InboundSaReady {
                    peer_hit,
                    suite,
                    spi,
                    keys,
                } => out.push(Action::InboundSa {
                    peer: peer_hit,
                    suite,
                    spi,
                    keys,
                    icv_len: full_icv(&self.profile(peer_hit)),
                }),
                Event::PathConfirmed { peer_hit, .. } => {
                    out.push(Action::PathConfirmed { peer: peer_hit })
                }
                Event::LocatorChanged { peer_hit, locator } => {
                    tracing::info!(peer = %peer_hit, %locator, "peer locator changed (verified)");
                    out.push(Action::LocatorChanged {
                        peer: peer_hit,
                        locator,
                    });
                    self.sequence_restart(peer_hit, &mut out);
                }
                Event::LocatorUnverified { peer_hit, locator } => {
                    out.push(Action::LocatorUnverified {
                        peer: peer_hit,
                        locator,
                    });
                    self.sequence_restart(peer_hit, &mut out);
                }
                Event::LocatorRejected {
                    peer_hit,
                    locator,
                    current,
                } => {
                    // Once per failed check, not per packet.
                    tracing::warn!(peer = %peer_hit, %locator, %current, "the peer's locator did not answer its check; ESP keeps going to the current locator (after a base exchange through a relay: no direct path, and the relay does not forward ESP)");
                    out.push(Action::LocatorRejected { peer: peer_hit });
                }
                Event::LocalLocatorChanged { peer_hit, locator } => {
                    tracing::info!(peer = %peer_hit, %locator, "our locator changed: UPDATE sent");
                    self.sequence_restart(peer_hit, &mut out);
                }
                Event::UdpPortChanged {
                    peer_hit,
                    locator,
                    udp_port,
                } => {
                    tracing::info!(peer = %peer_hit, %locator, udp_port, "peer's NAT mapping moved");
                    out.push(Action::PeerUdpPort {
                        peer: peer_hit,
                        locator,
                        udp_port,
                    })
                }
                Event::Closed { peer_hit } => {
                    self.detected.remove(&peer_hit);
                    out.push(Action::Closed { peer: peer_hit })
                }
                Event::Failed { peer_hit, reason } => {
                    tracing::warn!(peer = %peer_hit, ?reason, "HIP association failed; its SAs are removed, the next packet starts a new base exchange");
                    out.push(Action::Closed { peer: peer_hit })
                }
                Event::Notified {
                    peer_hit,
                    code,
                    authenticated,
                    ..
                } => tracing::warn!(peer = %peer_hit, ?code, authenticated, "NOTIFY received"),
                Event::Registration(e) => log_registration(&e),
                Event::EspRelayed { peer_hit, relay } => {
                    tracing::info!(peer = %peer_hit, %relay, "ESP to the peer goes through the Data Relay (RFC 9028 section 4.12) until the peer is heard directly");
                    out.push(Action::PeerUdpPort {
                        peer: peer_hit,
                        locator: relay.ip(),
                        udp_port: relay.port(),
                    })
                }
                Event::RelayForwardsChanged => {
                    out.push(Action::RelayForwards(self.ep.relay_forwards()))
                }
            }
        }
        inbound_sas_first(&mut out);
        out
    }

    /// The compatibility profile toward `peer`: the one chosen from its
    /// packets, else the configured one.
    fn profile(&self, peer: Hit) -> hip_proto::endpoint::CompatProfile {
        self.detected
            .get(&peer)
            .copied()
            .unwrap_or_else(|| self.ep.config().profile_for(&peer))
    }

    /// After a locator change a `hipl` peer restarts its ESP counter on the
    /// same SPI (`CompatProfile::esp_sequence_restarts_on_move`).
    fn sequence_restart(&self, peer: Hit, out: &mut Vec<Action>) {
        if self.profile(peer).esp_sequence_restarts_on_move() {
            out.push(Action::ExpectSequenceRestart { peer });
        }
    }

    /// The local HIT to use towards `peer`: `preferred` if its ORCHID version
    /// matches the peer's, else the first identity that does.
    fn local_for(&self, preferred: Hit, peer: &Hit) -> Option<Hit> {
        let want = match peer.orchid_version()? {
            OrchidVersion::V1 => Version::V1,
            OrchidVersion::V2 => Version::V2,
        };
        let ids = self.ep.identities();
        ids.iter()
            .find(|i| i.hit == preferred && i.version == want)
            .or_else(|| ids.iter().find(|i| i.version == want))
            .map(|i| i.hit)
    }

    /// The endpoint's counters (for `hipconf daemon get stats`).
    pub fn counters(&self) -> hip_proto::endpoint::Counters {
        self.ep.counters()
    }
}

/// One log line per registration change (rare: one per request or lifetime).
fn log_registration(e: &RegistrationEvent) {
    match e {
        RegistrationEvent::Registered {
            server,
            reg_type,
            lifetime,
        } => {
            tracing::info!(%server, service = %service_name(*reg_type), lifetime_s = lifetime.as_secs(), "registered")
        }
        RegistrationEvent::Failed {
            server,
            reg_type,
            failure,
        } => {
            tracing::warn!(%server, service = %service_name(*reg_type), failure = %failure_name(*failure), "registration refused")
        }
        RegistrationEvent::Expired { server, reg_type } => {
            tracing::warn!(%server, service = %service_name(*reg_type), "registration expired")
        }
        RegistrationEvent::Cancelled { server, reg_type } => {
            tracing::info!(%server, service = %service_name(*reg_type), "registration cancelled")
        }
        RegistrationEvent::ClientRegistered {
            client,
            reg_type,
            lifetime,
        } => {
            tracing::info!(%client, service = %service_name(*reg_type), lifetime_s = lifetime.as_secs(), "client registered")
        }
        RegistrationEvent::ClientRefused {
            client,
            reg_type,
            failure,
        } => {
            tracing::info!(%client, service = %service_name(*reg_type), failure = %failure_name(*failure), "client registration refused")
        }
        RegistrationEvent::ClientExpired { client, reg_type } => {
            tracing::info!(%client, service = %service_name(*reg_type), "client registration expired")
        }
        RegistrationEvent::ClientCancelled { client, reg_type } => {
            tracing::info!(%client, service = %service_name(*reg_type), "client registration cancelled")
        }
    }
}

/// A new inbound SA must be in place before the packet that announces it
/// leaves (RFC 7402 section 6.9: the peer may send on it as soon as it has our
/// UPDATE), so SA additions go ahead of the transmits; the rest keeps its
/// order. Seen in CI under load: the peer's first packets on the new SPI were
/// dropped as unknown and a TCP transfer stalled. Likewise a responder's SAs
/// are installed before its R2 leaves (RFC 7401 section 6.11: the initiator
/// sends data as soon as it has the R2): seen between namespaces, the
/// initiator's first ESP packet (a TCP SYN) arrived before the responder's
/// SAs and was dropped, costing the first connection a 1 s SYN retransmit.
fn inbound_sas_first(actions: &mut [Action]) {
    actions.sort_by_key(|a| match a {
        Action::InboundSa { .. } => 0,
        Action::Established(_) => 1,
        _ => 2,
    });
}

/// An identity of the store as the endpoint uses it (ORCHID version = HIP version).
pub fn to_endpoint_identity(
    id: &StoredIdentity,
) -> Result<LocalIdentity, hip_proto::endpoint::IdentityError> {
    let v = match id.version {
        HitVersion::V1 => Version::V1,
        HitVersion::V2 => Version::V2,
    };
    LocalIdentity::new(id.identity.clone(), v)
}

impl ProtocolEngine for HipEngine {
    fn on_control_packet(&mut self, t: Transport, packet: &[u8], now: Instant) -> Vec<Action> {
        let Some(dst) = t.dst.or_else(|| local_locator_for(t.src)) else {
            return Vec::new();
        };
        let now = self.t(now);
        if let Err(reason) = self.ep.handle_checked(
            now,
            Incoming {
                src: t.src,
                dst,
                udp_port: t.udp_port,
                bytes: packet,
            },
            &mut os_random,
        ) {
            // Octet 2: the 7-bit Packet Type (RFC 7401 section 5.1).
            let kind = packet.get(2).map(|b| b & 0x7f);
            crate::debug_limited!(src = %t.src, packet_type = ?kind, ?reason, "HIP packet dropped");
        }
        self.drain()
    }

    fn initiate(
        &mut self,
        local: Hit,
        peer: Hit,
        locators: &[IpAddr],
        now: Instant,
    ) -> Result<Vec<Action>, EngineError> {
        let dst = *locators
            .first()
            .ok_or_else(|| EngineError::Protocol(format!("no locator known for {peer}")))?;
        let src = local_locator_for(dst)
            .ok_or_else(|| EngineError::Protocol(format!("no route to {dst}")))?;
        let local = self.local_for(local, &peer).ok_or_else(|| {
            EngineError::Protocol(format!("no local identity of {peer}'s ORCHID version"))
        })?;
        let now = self.t(now);
        self.ep
            .connect(
                now,
                local,
                peer,
                src,
                dst,
                self.nat.udp().then_some(crate::raw_socket::HIP_UDP_PORT),
            )
            .map_err(|e| EngineError::Protocol(e.to_string()))?;
        Ok(self.drain())
    }

    fn set_nat_mode(&mut self, mode: crate::config::NatMode) {
        self.nat = mode;
    }

    fn data_sent(&mut self, local: Hit, peer: Hit, at: Instant) {
        let at = self.t(at);
        self.ep.data_sent(at, local, peer);
    }

    fn on_udp_source(&mut self, peer: Hit, src: IpAddr, port: u16, now: Instant) -> Vec<Action> {
        let now = self.t(now);
        let locals: Vec<Hit> = self
            .ep
            .associations()
            .into_iter()
            .filter(|a| a.peer_hit == peer)
            .map(|a| a.local_hit)
            .collect();
        for local in locals {
            self.ep.esp_received_from(now, local, peer, src, port);
        }
        self.drain()
    }

    fn on_data_received(&mut self, peer: Hit, now: Instant) {
        let now = self.t(now);
        let pairs: Vec<Hit> = self
            .ep
            .associations()
            .into_iter()
            .filter(|a| a.peer_hit == peer && a.state == State::R2Sent)
            .map(|a| a.local_hit)
            .collect();
        for local in pairs {
            self.ep.data_received(now, local, peer);
        }
    }

    fn poll(&mut self, now: Instant) -> Vec<Action> {
        let now = self.t(now);
        if self.ep.poll_timeout().is_some_and(|t| t <= now) {
            self.ep.handle_timeout(now, &mut os_random);
        }
        self.drain()
    }

    fn rekey(&mut self, peer: Hit, now: Instant) -> Vec<Action> {
        let now = self.t(now);
        for a in self.ep.associations() {
            if a.peer_hit == peer && a.state == State::Established {
                if let Err(e) = self.ep.rekey(now, a.local_hit, peer, &mut os_random) {
                    tracing::debug!(%peer, "rekey not started: {e}");
                }
            }
        }
        self.drain()
    }

    fn failover(&mut self, peer: Hit, now: Instant) -> Vec<Action> {
        let now = self.t(now);
        if self
            .ep
            .failover(now, peer, &local_locator_for, &mut os_random)
        {
            tracing::warn!(%peer, "no ESP from the peer: probing another of its locators");
        }
        self.drain()
    }

    fn heartbeat(&mut self, peer: Hit, now: Instant) -> Option<Vec<Action>> {
        let now = self.t(now);
        self.ep
            .heartbeat(now, peer, &mut os_random)
            .then(|| self.drain())
    }

    fn return_home(&mut self, now: Instant) -> Vec<Action> {
        let now = self.t(now);
        if self.ep.return_home(now, &local_locator_for, &mut os_random) > 0 {
            tracing::info!("probing the original path again");
        }
        self.drain()
    }

    fn update_locators(&mut self, addrs: &[IpAddr], now: Instant) -> Vec<Action> {
        let now = self.t(now);
        let sent = self.ep.update_locators(now, addrs, &mut os_random);
        let mut out = self.drain();
        // A `hipl` peer re-creates its SAs when it processes our locator
        // UPDATE, whichever of our addresses carried it.
        if sent > 0 {
            for a in self.ep.associations() {
                self.sequence_restart(a.peer_hit, &mut out);
            }
        }
        out
    }

    fn update_locators_of(
        &mut self,
        local: Hit,
        peer: Hit,
        addrs: &[IpAddr],
        now: Instant,
    ) -> Vec<Action> {
        let now = self.t(now);
        let sent = self
            .ep
            .update_locators_of(now, &[(local, peer)], addrs, &mut os_random);
        let mut out = self.drain();
        if sent > 0 {
            self.sequence_restart(peer, &mut out);
        }
        out
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.ep
            .poll_timeout()
            .map(|t| self.origin + std::time::Duration::from_nanos(t.as_nanos()))
    }

    fn close(&mut self, peer: Option<Hit>, now: Instant) -> Vec<Action> {
        let now = self.t(now);
        match peer {
            None => self.ep.close_all(now, &mut os_random),
            Some(p) => {
                for a in self.ep.associations() {
                    if a.peer_hit == p {
                        self.ep.close(now, a.local_hit, p, &mut os_random);
                    }
                }
            }
        }
        self.drain()
    }

    fn add_identity(&mut self, id: &StoredIdentity) -> Result<(), EngineError> {
        let l = to_endpoint_identity(id).map_err(|e| EngineError::Protocol(e.to_string()))?;
        self.ep.add_identity(l);
        Ok(())
    }

    fn set_puzzle_difficulty(&mut self, k: u8) -> Result<(), EngineError> {
        self.ep
            .set_puzzle_difficulty(k)
            .map_err(|e| EngineError::Protocol(e.to_string()))
    }

    fn counters(&self) -> std::collections::BTreeMap<String, u64> {
        let c = self.ep.counters();
        let mut m: std::collections::BTreeMap<String, u64> = [
            ("hip_received", c.received),
            ("hip_r1_sent", c.r1_sent),
            ("hip_r1_signed", c.r1_signed),
            ("hip_established", c.established),
            ("hip_failed", c.failed),
            ("hip_notify_sent", c.notify_sent),
            ("hip_notify_received", c.notify_received),
            ("hip_i2_resent", c.i2_resent),
            ("hip_rekeyed", c.rekeyed),
            ("hip_rekeyed_new_dh", c.rekeyed_new_dh),
            ("hip_update_resent", c.update_resent),
            ("hip_update_echoed", c.update_echoed),
            ("hip_locator_changes", c.locator_changes),
            ("hip_failovers", c.failovers),
            ("hip_nat_keepalives_sent", c.nat_keepalives_sent),
            ("hip_nat_keepalives_received", c.nat_keepalives_received),
            ("hip_udp_port_changes", c.udp_port_changes),
            (
                "hip_locator_unverified_dropped",
                c.locator_unverified_dropped,
            ),
            ("hip_notify_rate_limited", c.notify_rate_limited),
            ("hip_registrations_granted", c.registrations_granted),
            ("hip_registrations_refused", c.registrations_refused),
            ("hip_registrations_expired", c.registrations_expired),
            ("hip_registrations_cancelled", c.registrations_cancelled),
            ("hip_registrations_failed", c.registrations_failed),
            ("hip_rvs_relayed", c.rvs_relayed),
            ("hip_r1_via_rvs", c.r1_via_rvs),
            ("hip_r1_via_rvs_accepted", c.r1_via_rvs_accepted),
            ("hip_relay_to_client", c.relay_to_client),
            ("hip_relay_from_client", c.relay_from_client),
            ("hip_relayed_received", c.relayed_received),
            ("hip_relayed_sent", c.relayed_sent),
            ("hip_r2_direct_sent", c.r2_direct_sent),
            ("hip_r2_source_checks", c.r2_source_checks),
            ("hip_offered_transport_checks", c.offered_transport_checks),
            ("hip_relay_permissions", c.relay_permissions),
            ("hip_relay_permissions_refused", c.relay_permissions_refused),
            ("hip_relay_permissions_asked", c.relay_permissions_asked),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for r in hip_proto::endpoint::counters::ALL_REASONS {
            m.insert(format!("hip_drop_{r:?}").to_lowercase(), c.dropped(r));
        }
        m
    }

    fn register(
        &mut self,
        server: Hit,
        server_ip: IpAddr,
        service: RegType,
        lifetime: u32,
        now: Instant,
    ) -> Result<Vec<Action>, EngineError> {
        let src = local_locator_for(server_ip)
            .ok_or_else(|| EngineError::Protocol(format!("no route to {server_ip}")))?;
        let default = self
            .ep
            .identities()
            .first()
            .map(|i| i.hit)
            .ok_or_else(|| EngineError::Protocol("no local identity".into()))?;
        let local = self.local_for(default, &server).ok_or_else(|| {
            EngineError::Protocol(format!("no local identity of {server}'s ORCHID version"))
        })?;
        let now = self.t(now);
        // A Control Relay Client registers over UDP (RFC 9028 section 4.1):
        // the relay forwards to the mapping it sees; so does a host in a NAT
        // mode, for any service (raw HIP crosses a NAT for one host only).
        let udp = (service == RegType::RelayUdpHip || self.nat.udp())
            .then_some(crate::raw_socket::HIP_UDP_PORT);
        self.ep
            .register_via(
                now,
                local,
                server,
                src,
                (server_ip, udp),
                &[service],
                lifetime,
                &mut os_random,
            )
            .map_err(|e| EngineError::Protocol(e.to_string()))?;
        Ok(self.drain())
    }

    fn unregister(&mut self, server: Hit, service: RegType, now: Instant) -> (bool, Vec<Action>) {
        let now = self.t(now);
        let n = self.ep.unregister(now, server, &[service], &mut os_random);
        (n > 0, self.drain())
    }

    fn registrations(&self) -> Vec<crate::control::RegistrationInfo> {
        let now = self.t(Instant::now());
        let mut v: Vec<_> = self
            .ep
            .registrations()
            .into_iter()
            .map(|r| crate::control::RegistrationInfo {
                role: "client".into(),
                local_hit: r.local_hit.to_string(),
                peer_hit: r.server_hit.to_string(),
                peer_locator: r.server_locator.to_string(),
                service: service_name(r.reg_type),
                lifetime: r.granted_lifetime.map_or(0, |d| d.as_secs()),
                remaining: None,
                state: reg_state_name(r.state),
                reflexive_address: r.reflexive_address.map(|a| a.to_string()),
                relayed_address: r.relayed_address.map(|a| a.to_string()),
            })
            .collect();
        v.extend(self.ep.registered_clients(now).into_iter().map(|c| {
            crate::control::RegistrationInfo {
                role: "server".into(),
                local_hit: c.local_hit.to_string(),
                peer_hit: c.client_hit.to_string(),
                peer_locator: c.client_locator.map(|l| l.to_string()).unwrap_or_default(),
                service: service_name(c.reg_type),
                lifetime: c.lifetime.as_secs(),
                remaining: Some(c.remaining.as_secs()),
                state: "registered".into(),
                reflexive_address: None,
                relayed_address: None,
            }
        }));
        v
    }

    fn associations(&self) -> Vec<HaInfo> {
        self.ep
            .associations()
            .into_iter()
            .map(|a| HaInfo {
                state: state_name(a.state).to_string(),
                local_hit: a.local_hit.to_string(),
                peer_hit: a.peer_hit.to_string(),
                local_lsi: String::new(),
                peer_lsi: String::new(),
                local_locator: a.local_locator.to_string(),
                locator: a.peer_locator.to_string(),
                peer_udp_port: a.udp_port.unwrap_or(0),
                peer_hostname: String::new(),
                candidate_locators: a.peer_candidates.iter().map(|l| l.to_string()).collect(),
                verifying_locator: a.verifying.map(|l| l.to_string()),
                hip_version: a.wire_version.value(),
                profile: a.profile.name().to_string(),
                profile_detected: a.profile_detected,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hip_proto::endpoint::event::EspSaKeys;
    use hip_proto::registry::EspTransformId;

    #[test]
    fn inbound_sas_go_before_the_packets_that_announce_them() {
        let peer = Hit([0x20, 0x01, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let send = |n: u8| Action::SendControl {
            src: IpAddr::from([192, 0, 2, 1]),
            dst: IpAddr::from([192, 0, 2, 2]),
            udp_port: None,
            packet: vec![n],
        };
        let inbound = Action::InboundSa {
            peer,
            suite: EspTransformId::AesGcm16,
            spi: 0x1234,
            keys: EspSaKeys {
                enc: vec![0; 20],
                auth: Vec::new(),
            },
            icv_len: None,
        };
        let mut v = vec![send(1), send(2), inbound, Action::Closed { peer }];
        inbound_sas_first(&mut v);
        assert!(matches!(v[0], Action::InboundSa { spi: 0x1234, .. }));
        assert!(matches!(&v[1], Action::SendControl { packet, .. } if packet == &vec![1]));
        assert!(matches!(&v[2], Action::SendControl { packet, .. } if packet == &vec![2]));
        assert!(matches!(v[3], Action::Closed { .. }));
    }

    #[test]
    fn a_responders_sas_go_before_its_r2() {
        let peer = Hit([0x20, 0x01, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let keys = || hip_proto::endpoint::event::EspSaKeys {
            enc: vec![0; 20],
            auth: Vec::new(),
        };
        let sa = SaInstall {
            peer,
            local: peer,
            locator: IpAddr::from([192, 0, 2, 2]),
            local_locator: IpAddr::from([192, 0, 2, 1]),
            udp_port: None,
            icv_len: None,
            esp: hip_proto::endpoint::EspParams {
                suite: EspTransformId::AesGcm16,
                spi_in: 1,
                spi_out: 2,
                keys_in: keys(),
                keys_out: keys(),
                keymat_index: 0,
            },
            lsis: None,
            awaiting_peer: false,
        };
        let r2 = Action::SendControl {
            src: IpAddr::from([192, 0, 2, 1]),
            dst: IpAddr::from([192, 0, 2, 2]),
            udp_port: None,
            packet: vec![2],
        };
        let mut v = vec![r2, Action::Established(sa)];
        inbound_sas_first(&mut v);
        assert!(matches!(v[0], Action::Established(_)), "{v:?}");
        assert!(matches!(v[1], Action::SendControl { .. }));
    }
}
