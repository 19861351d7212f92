//! The HIP Registration Extension (RFC 8003): the registrar (server) side and
//! the requester (client) side, generic over the registration type.
//!
//! * Registrar (RFC 8003 sections 3.1, 3.3): offers [`RegistrarConfig::services`]
//!   in REG_INFO of every R1 (the R1 is precomputed, so the offer is the same
//!   for every initiator; the per-requester decision is taken at REG_REQUEST
//!   time) and in the answer to an UPDATE carrying REG_REQUEST. A REG_REQUEST in
//!   I2 or UPDATE is authorized against [`RegistrationPolicy`] (the requester is
//!   authenticated by the base exchange: its HIT is bound to its signed Host
//!   Identity) and answered with REG_RESPONSE (lifetime clamped into the
//!   offered [min, max], section 3.3) and REG_FAILED per failure type (section
//!   4.3.3). A lifetime of zero cancels (section 3.3). Registrations expire at
//!   their lifetime in the caller's time. The table is bounded
//!   ([`RegistrarConfig::max_clients`]); requests beyond it are refused with
//!   "insufficient resources" and counted.
//! * Requester (RFC 8003 section 3.2): [`Endpoint::register`] sends REG_REQUEST
//!   in the I2 of a new base exchange when the R1 carried REG_INFO, else in an
//!   UPDATE once ESTABLISHED; records the answer per type; renews at
//!   [`RENEW_FRACTION`] of the granted lifetime; re-registers after its local
//!   locator for the server changed (RFC 8004 section 3: the RVS must know the
//!   client's current address); [`Endpoint::unregister`] cancels with lifetime 0.
//!
//! [`RegType::RendezvousServer`] (RFC 8004 section 4.1) and
//! [`RegType::RelayUdpHip`] (the Control Relay Server of RFC 9028 section 4.1,
//! RFC 5770's HIP relay, [`super::relay`]) can be offered; the data relay
//! (RELAY_UDP_ESP, type 3, RFC 9028 section 4.12) and the legacy candidate-gathering
//! types are refused by [`RegistrarConfig::validate`]. A relay registration
//! is granted only over UDP (the relay forwards to the client's NAT mapping),
//! and its grant carries REG_FROM: the client's transport address as the
//! registrar saw it, its server-reflexive address (RFC 9028 section 4.1 and
//! 5.6), which the client records ([`RegistrationInfo::reflexive_address`]).

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};

use super::core::{Endpoint, HitPair};
use super::event::Event;
use super::random::RandomSource;
use crate::association::{Duration, Instant, State};
use crate::registry::PacketType;
use crate::wire::{HipRepr, ParamRepr, ParamType, RegFailureType, RegType};
use crate::Hit;

/// Renewal point of a granted registration, in 1/100 of its lifetime (RFC 8003
/// section 3.2 leaves it to the requester; renewing well before expiry leaves
/// room for UPDATE retransmissions).
pub const RENEW_FRACTION: u32 = 85;

/// How long a requester waits for an answer before asking again.
pub const REQUEST_RETRY: Duration = Duration::from_secs(10);

/// Most registrations a requester keeps (one per server and type).
pub const MAX_REQUESTS: usize = 64;

/// The registration lifetime in seconds for an encoded value (RFC 8003 section
/// 4.1: seconds = 2^((value - 64) / 8)); zero means zero (cancellation).
pub fn lifetime_duration(value: u8) -> Duration {
    if value == 0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(2f64.powf((f64::from(value) - 64.0) / 8.0))
}

/// The smallest encoded lifetime of at least `secs` seconds (RFC 8003 section
/// 4.1); 0 for 0, 255 (about 178 days) at most.
pub fn lifetime_value_at_least(secs: u32) -> u8 {
    if secs == 0 {
        return 0;
    }
    (1..=255u8)
        .find(|v| lifetime_duration(*v).as_secs_f64() >= f64::from(secs) - 1e-9)
        .unwrap_or(255)
}

/// The largest encoded lifetime of at most `secs` seconds (at least 1).
pub fn lifetime_value_at_most(secs: u32) -> u8 {
    (1..=255u8)
        .rev()
        .find(|v| lifetime_duration(*v).as_secs_f64() <= f64::from(secs) + 1e-9)
        .unwrap_or(1)
}

/// Who may register (RFC 8003 section 3.3: "based on local policies"; section
/// 6: a registrar authorizes the authenticated Host Identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationPolicy {
    /// Every authenticated HIT.
    Any,
    /// Only these HITs; empty (the default) refuses everybody.
    Hits(BTreeSet<Hit>),
}

impl Default for RegistrationPolicy {
    fn default() -> Self {
        RegistrationPolicy::Hits(BTreeSet::new())
    }
}

impl RegistrationPolicy {
    /// Whether `hit` may register.
    pub fn allows(&self, hit: &Hit) -> bool {
        match self {
            RegistrationPolicy::Any => true,
            RegistrationPolicy::Hits(s) => s.contains(hit),
        }
    }
}

/// What a registrar offers and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Offered registration types; empty: no registrar, no REG_INFO.
    pub services: Vec<RegType>,
    /// Smallest lifetime granted, seconds (RFC 8003 section 5: at least 10 s
    /// must be supported).
    pub min_lifetime: u32,
    /// Largest lifetime granted, seconds (RFC 8003 section 5: at least 120 s
    /// should be supported).
    pub max_lifetime: u32,
    /// Who may register.
    pub allow: RegistrationPolicy,
    /// Most clients registered at once (bounded state under a flood of
    /// requesters that all completed a base exchange).
    pub max_clients: usize,
    /// Budget of I1s relayed to rendezvous clients, endpoint-wide (RFC 8004
    /// section 5: relaying must not become an amplifier).
    pub relay_rate: super::rate_limit::RateLimit,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            services: Vec::new(),
            min_lifetime: 10,
            max_lifetime: 3600,
            allow: RegistrationPolicy::default(),
            max_clients: 1024,
            relay_rate: super::rate_limit::RateLimit {
                burst: 100,
                per_token: Duration::from_millis(10),
            },
        }
    }
}

/// Why a registrar configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrarConfigError {
    /// A type whose service is not implemented (only RENDEZVOUS,
    /// RELAY_UDP_HIP and RELAY_UDP_ESP are).
    #[error(
        "registration type {0:?} is not implemented (only rendezvous, the control relay and the data relay are)"
    )]
    Unimplemented(RegType),
    /// min_lifetime above max_lifetime, or max_lifetime zero.
    #[error("registration lifetimes: min {0} s must be at most max {1} s, max at least 1 s")]
    Lifetimes(u32, u32),
    /// max_clients zero while services are offered.
    #[error("max_clients must be at least 1")]
    NoClients,
}

impl RegistrarConfig {
    /// Checks the offer: only implemented services, a sane lifetime range.
    pub fn validate(&self) -> Result<(), RegistrarConfigError> {
        if let Some(t) = self.services.iter().find(|t| {
            !matches!(
                t,
                RegType::RendezvousServer | RegType::RelayUdpHip | RegType::RelayUdpEsp
            )
        }) {
            return Err(RegistrarConfigError::Unimplemented(*t));
        }
        if self.max_lifetime == 0 || self.min_lifetime > self.max_lifetime {
            return Err(RegistrarConfigError::Lifetimes(
                self.min_lifetime,
                self.max_lifetime,
            ));
        }
        if !self.services.is_empty() && self.max_clients == 0 {
            return Err(RegistrarConfigError::NoClients);
        }
        Ok(())
    }

    /// The encoded (min, max) lifetimes offered in REG_INFO.
    pub fn lifetime_values(&self) -> (u8, u8) {
        let max = lifetime_value_at_most(self.max_lifetime);
        let min = lifetime_value_at_least(self.min_lifetime).min(max);
        (min, max)
    }

    /// REG_INFO for this offer (RFC 8003 section 4.2), `None` without services.
    pub fn reg_info(&self) -> Option<ParamRepr> {
        if self.services.is_empty() {
            return None;
        }
        let (min_lifetime, max_lifetime) = self.lifetime_values();
        Some(ParamRepr::RegInfo {
            min_lifetime,
            max_lifetime,
            types: self.services.clone(),
        })
    }
}

/// Registration events, both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationEvent {
    /// Registrar: a client was granted (or renewed) a service.
    ClientRegistered {
        /// The client's HIT.
        client: Hit,
        /// The service.
        reg_type: RegType,
        /// Granted lifetime.
        lifetime: Duration,
    },
    /// Registrar: a request was refused.
    ClientRefused {
        /// The client's HIT.
        client: Hit,
        /// The service.
        reg_type: RegType,
        /// REG_FAILED failure type sent.
        failure: RegFailureType,
    },
    /// Registrar: a client's registration reached its lifetime.
    ClientExpired {
        /// The client's HIT.
        client: Hit,
        /// The service.
        reg_type: RegType,
    },
    /// Registrar: a client cancelled (lifetime zero).
    ClientCancelled {
        /// The client's HIT.
        client: Hit,
        /// The service.
        reg_type: RegType,
    },
    /// Requester: the server granted the service.
    Registered {
        /// The server's HIT.
        server: Hit,
        /// The service.
        reg_type: RegType,
        /// Granted lifetime.
        lifetime: Duration,
    },
    /// Requester: the server refused (REG_FAILED).
    Failed {
        /// The server's HIT.
        server: Hit,
        /// The service.
        reg_type: RegType,
        /// Failure type received.
        failure: RegFailureType,
    },
    /// Requester: a granted registration reached its lifetime unrenewed.
    Expired {
        /// The server's HIT.
        server: Hit,
        /// The service.
        reg_type: RegType,
    },
    /// Requester: the server confirmed a cancellation.
    Cancelled {
        /// The server's HIT.
        server: Hit,
        /// The service.
        reg_type: RegType,
    },
}

/// State of one requested registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationState {
    /// Asked for, no answer yet.
    Requested,
    /// Granted and within its lifetime.
    Registered,
    /// Refused with this failure type (not retried).
    Failed(RegFailureType),
    /// Granted once, lifetime passed unrenewed (renewal is still tried).
    Expired,
    /// Cancellation sent, not yet confirmed.
    Cancelling,
}

/// One registration as the requester sees it, for `hipconf daemon get ha`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationInfo {
    /// Our HIT.
    pub local_hit: Hit,
    /// The server's HIT.
    pub server_hit: Hit,
    /// The server's locator (its association's, once one exists).
    pub server_locator: IpAddr,
    /// The service.
    pub reg_type: RegType,
    /// Lifetime asked for.
    pub requested_lifetime: Duration,
    /// Lifetime granted, when registered.
    pub granted_lifetime: Option<Duration>,
    /// State.
    pub state: RegistrationState,
    /// Our transport address as the server saw it (REG_FROM in its grant,
    /// RFC 9028 section 4.1): the server-reflexive address, for a relay
    /// registration over UDP.
    pub reflexive_address: Option<SocketAddr>,
    /// Where the Data Relay takes our ESP (RELAYED_ADDRESS in a
    /// RELAY_UDP_ESP grant, RFC 9028 section 4.1).
    pub relayed_address: Option<SocketAddr>,
}

/// One registration as the registrar sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRegistrationInfo {
    /// Our HIT the client registered with.
    pub local_hit: Hit,
    /// The client's HIT.
    pub client_hit: Hit,
    /// The client's current locator (its association's).
    pub client_locator: Option<IpAddr>,
    /// The service.
    pub reg_type: RegType,
    /// Lifetime granted.
    pub lifetime: Duration,
    /// Time left.
    pub remaining: Duration,
}

/// Why [`Endpoint::register`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// No types given.
    #[error("no registration type given")]
    NoTypes,
    /// Too many registrations kept.
    #[error("too many registrations (at most {MAX_REQUESTS})")]
    TooMany,
    /// Starting the base exchange with the server failed.
    #[error(transparent)]
    Connect(#[from] super::core::ConnectError),
}

/// A registration granted to a client.
#[derive(Debug, Clone)]
struct Granted {
    lifetime: u8,
    expires: Instant,
}

/// Registrar state: clients by HIT (bounded).
#[derive(Debug, Default)]
pub(super) struct Registrar {
    clients: HashMap<Hit, (Hit, HashMap<RegType, Granted>)>,
    relay: Option<super::rate_limit::TokenBucket>,
}

/// A registrar's decision on one REG_REQUEST, applied once the packet that
/// carried it is accepted.
#[derive(Debug, Default)]
pub(super) struct RegDecision {
    /// REG_RESPONSE / REG_FAILED for the answer.
    pub params: Vec<ParamRepr>,
    grants: Vec<(RegType, u8)>,
    cancels: Vec<RegType>,
    refusals: Vec<(RegType, RegFailureType)>,
}

/// One requested registration (requester side).
#[derive(Debug, Clone)]
struct Request {
    local: Hit,
    server: Hit,
    server_locator: IpAddr,
    local_locator: IpAddr,
    reg_type: RegType,
    lifetime: u8,
    state: RegistrationState,
    granted: Option<u8>,
    expires: Option<Instant>,
    /// When to send REG_REQUEST (again): first request, retry, renewal.
    due: Option<Instant>,
    /// Our locator when the registration was granted.
    registered_from: Option<IpAddr>,
    /// The last request went in an I2 (answered in R2).
    in_i2: bool,
    /// UDP port of the server when the base exchange toward it goes over
    /// UDP (a relay registration must, RFC 9028 section 4.1).
    udp_port: Option<u16>,
    /// REG_FROM of the last grant (RFC 9028 section 4.1).
    reflexive: Option<SocketAddr>,
    /// RELAYED_ADDRESS of the last RELAY_UDP_ESP grant.
    relayed: Option<SocketAddr>,
}

/// Requester state.
#[derive(Debug, Default)]
pub(super) struct Requester {
    requests: Vec<Request>,
}

impl Registrar {
    /// The relay budget (created with the configuration's rate).
    pub(super) fn relay_allow(&mut self, cfg: &RegistrarConfig, now: Instant) -> bool {
        self.relay
            .get_or_insert_with(|| super::rate_limit::TokenBucket::new(cfg.relay_rate))
            .allow(now)
    }

    /// Whether `client` holds a live registration for `ty`, and with which
    /// local HIT. A hash look-up: no allocation.
    pub(super) fn registered(&self, client: &Hit, ty: RegType, now: Instant) -> Option<Hit> {
        let (local, m) = self.clients.get(client)?;
        m.get(&ty).filter(|g| g.expires > now).map(|_| *local)
    }
}

fn v6(a: IpAddr) -> std::net::Ipv6Addr {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// The IP address in a FROM / VIA_RVS field (IPv4-mapped becomes IPv4).
pub(super) fn ip_of(raw: [u8; 16]) -> IpAddr {
    let a = std::net::Ipv6Addr::from(raw);
    match a.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(a),
    }
}

/// The 16-octet form of an address in FROM / VIA_RVS (RFC 8004 section 4.2.2).
pub(super) fn raw_of(a: IpAddr) -> [u8; 16] {
    v6(a).octets()
}

impl Endpoint {
    // ----- registrar (RFC 8003 sections 3.3, 4) -----

    /// Changes what this host offers as a registrar; future R1s carry the new
    /// REG_INFO. Existing registrations stay until they expire.
    pub fn set_registrar(&mut self, cfg: RegistrarConfig) -> Result<(), RegistrarConfigError> {
        cfg.validate()?;
        self.cfg.registrar = cfg;
        self.registrar.relay = None;
        self.r1.invalidate();
        Ok(())
    }

    /// Registrar: the decision on the REG_REQUEST in `repr` from `client`, if any
    /// (RFC 8003 section 3.3). Nothing changes until [`Self::registrar_commit`].
    /// `client_at`: the client's transport address when the request came over UDP
    /// (a relay registration needs one and its grant carries it in REG_FROM,
    /// RFC 9028 section 4.1).
    pub(super) fn registrar_decide(
        &self,
        now: Instant,
        client: Hit,
        repr: &HipRepr,
        client_at: Option<SocketAddr>,
        ours: IpAddr,
    ) -> Option<RegDecision> {
        // Only the first REG_REQUEST counts.
        let Some(ParamRepr::RegRequest { lifetime, types }) = repr.param(ParamType::RegRequest)
        else {
            return None;
        };
        let rc = &self.cfg.registrar;
        let mut d = RegDecision::default();
        let mut seen = BTreeSet::new();
        let types: Vec<RegType> = types.iter().copied().filter(|t| seen.insert(*t)).collect();
        if *lifetime == 0 {
            // Cancellation (section 3.3): confirmed with a zero lifetime.
            d.cancels = types.clone();
            d.params.push(ParamRepr::RegResponse { lifetime: 0, types });
            return Some(d);
        }
        let (min, max) = rc.lifetime_values();
        let granted_lifetime = (*lifetime).clamp(min, max);
        let known = self.registrar.clients.contains_key(&client);
        let full = !known && self.registrar.clients.len() >= rc.max_clients;
        let _ = now;
        for t in types {
            let failure = if !rc.services.contains(&t) {
                Some(RegFailureType::TypeUnavailable)
            } else if !rc.allow.allows(&client) {
                Some(RegFailureType::RequiresAdditionalCredentials)
            } else if full {
                Some(RegFailureType::InsufficientResources)
            } else if matches!(t, RegType::RelayUdpHip | RegType::RelayUdpEsp)
                && client_at.is_none()
            {
                // Over raw HIP there is no mapping to relay to (RFC 9028
                // section 4.1: relay clients register over UDP).
                Some(RegFailureType::TypeUnavailable)
            } else {
                None
            };
            match failure {
                Some(f) => d.refusals.push((t, f)),
                None => d.grants.push((t, granted_lifetime)),
            }
        }
        if !d.grants.is_empty() {
            d.params.push(ParamRepr::RegResponse {
                lifetime: granted_lifetime,
                types: d.grants.iter().map(|g| g.0).collect(),
            });
        }
        // REG_FROM with the client's server-reflexive transport address when
        // the relay service is granted (RFC 9028 section 4.1, figure 2:
        // R2(REG_RES(RELAY_UDP_HIP), REG_FROM); section 5.6 format).
        let relay_granted = d
            .grants
            .iter()
            .any(|g| matches!(g.0, RegType::RelayUdpHip | RegType::RelayUdpEsp));
        if let Some(at) = client_at.filter(|_| relay_granted) {
            d.params
                .push(ParamRepr::RegFrom(super::relay::transport_addr(at)));
        }
        // RELAYED_ADDRESS with the Data Relay's address for the client's
        // ESP (RFC 9028 section 4.1): our UDP address the request came to,
        // ESP told apart by SPI ([`super::data_relay`]).
        if d.grants.iter().any(|g| g.0 == RegType::RelayUdpEsp) {
            let at = SocketAddr::new(ours, crate::pcap::HIP_UDP_PORT);
            d.params
                .push(ParamRepr::RelayedAddress(super::relay::transport_addr(at)));
        }
        // One REG_FAILED per failure type (section 4.3.3).
        let mut by_failure: Vec<(RegFailureType, Vec<RegType>)> = Vec::new();
        for (t, f) in &d.refusals {
            match by_failure.iter_mut().find(|(g, _)| g == f) {
                Some((_, v)) => v.push(*t),
                None => by_failure.push((*f, vec![*t])),
            }
        }
        for (f, ts) in by_failure {
            d.params.push(ParamRepr::RegFailed {
                lifetime: *lifetime,
                failure_type: f.value(),
                types: ts,
            });
        }
        Some(d)
    }

    /// Registrar: applies a decision once its packet was accepted.
    pub(super) fn registrar_commit(&mut self, now: Instant, pair: HitPair, d: RegDecision) {
        let (local, client) = pair;
        for t in d.cancels {
            let gone = self
                .registrar
                .clients
                .get_mut(&client)
                .and_then(|(_, m)| m.remove(&t))
                .is_some();
            if gone {
                self.counters.registrations_cancelled += 1;
                self.event(Event::Registration(RegistrationEvent::ClientCancelled {
                    client,
                    reg_type: t,
                }));
            }
        }
        for (t, f) in d.refusals {
            self.counters.registrations_refused += 1;
            self.event(Event::Registration(RegistrationEvent::ClientRefused {
                client,
                reg_type: t,
                failure: f,
            }));
        }
        for (t, lifetime) in d.grants {
            let dur = lifetime_duration(lifetime);
            let entry = self
                .registrar
                .clients
                .entry(client)
                .or_insert_with(|| (local, HashMap::new()));
            entry.0 = local;
            entry.1.insert(
                t,
                Granted {
                    lifetime,
                    expires: now + dur,
                },
            );
            self.counters.registrations_granted += 1;
            self.event(Event::Registration(RegistrationEvent::ClientRegistered {
                client,
                reg_type: t,
                lifetime: dur,
            }));
        }
        self.registrar.clients.retain(|_, (_, m)| !m.is_empty());
    }

    /// Registrar: the registrations held, sorted by client.
    pub fn registered_clients(&self, now: Instant) -> Vec<ClientRegistrationInfo> {
        let mut v: Vec<_> = self
            .registrar
            .clients
            .iter()
            .flat_map(|(c, (l, m))| {
                m.iter().map(move |(t, g)| ClientRegistrationInfo {
                    local_hit: *l,
                    client_hit: *c,
                    client_locator: self.assocs.get(&(*l, *c)).map(|a| a.peer_locator),
                    reg_type: *t,
                    lifetime: lifetime_duration(g.lifetime),
                    remaining: g.expires.saturating_duration_since(now),
                })
            })
            .collect();
        v.sort_by_key(|i| (i.client_hit, i.reg_type));
        v
    }

    // ----- requester (RFC 8003 section 3.2) -----

    /// Asks `server` at `server_locator` for `types` for `lifetime_secs` (RFC 8003
    /// section 3.2). With no association to the server a base exchange starts
    /// and REG_REQUEST goes in its I2 (when the R1 offers REG_INFO) or in an
    /// UPDATE once ESTABLISHED; with one, in an UPDATE now (or as soon as no
    /// other UPDATE is outstanding). Asking again replaces the earlier request
    /// for the same server and type. Results: [`Event::Registration`] and
    /// [`Endpoint::registrations`].
    #[allow(clippy::too_many_arguments)]
    pub fn register(
        &mut self,
        now: Instant,
        local: Hit,
        server: Hit,
        local_locator: IpAddr,
        server_locator: IpAddr,
        types: &[RegType],
        lifetime_secs: u32,
        random: &mut dyn RandomSource,
    ) -> Result<(), RegisterError> {
        self.register_via(
            now,
            local,
            server,
            local_locator,
            (server_locator, None),
            types,
            lifetime_secs,
            random,
        )
    }

    /// [`Self::register`] with the encapsulation of a new base exchange
    /// toward the server: `server.1` is the server's UDP port (RFC 5770 UDP
    /// encapsulation), `None` for raw HIP. A registration for
    /// [`RegType::RelayUdpHip`] must go over UDP (RFC 9028 section 4.1: the
    /// relay learns the client's NAT mapping from it and reports it in
    /// REG_FROM).
    #[allow(clippy::too_many_arguments)]
    pub fn register_via(
        &mut self,
        now: Instant,
        local: Hit,
        server: Hit,
        local_locator: IpAddr,
        server_at: (IpAddr, Option<u16>),
        types: &[RegType],
        lifetime_secs: u32,
        random: &mut dyn RandomSource,
    ) -> Result<(), RegisterError> {
        let (server_locator, udp_port) = server_at;
        if types.is_empty() {
            return Err(RegisterError::NoTypes);
        }
        let lifetime = lifetime_value_at_least(lifetime_secs.max(1));
        let fresh = types
            .iter()
            .filter(|t| {
                !self
                    .requester
                    .requests
                    .iter()
                    .any(|r| r.server == server && r.reg_type == **t)
            })
            .count();
        if self.requester.requests.len() + fresh > MAX_REQUESTS {
            return Err(RegisterError::TooMany);
        }
        self.identity_index(&local)
            .ok_or(super::core::ConnectError::UnknownLocalHit(local))?;
        for t in types {
            let r = Request {
                local,
                server,
                server_locator,
                local_locator,
                reg_type: *t,
                lifetime,
                state: RegistrationState::Requested,
                granted: None,
                expires: None,
                due: Some(now),
                registered_from: None,
                in_i2: false,
                udp_port,
                reflexive: None,
                relayed: None,
            };
            match self
                .requester
                .requests
                .iter_mut()
                .find(|x| x.server == server && x.reg_type == *t)
            {
                Some(x) => *x = r,
                None => self.requester.requests.push(r),
            }
        }
        self.requester_run(now, random)
    }

    /// Cancels the registrations of `types` (all when empty) at `server` with a
    /// REG_REQUEST of lifetime zero (RFC 8003 section 3.3). Without an
    /// established association the registrations are simply forgotten (the
    /// server lets them expire). Returns how many were cancelled.
    pub fn unregister(
        &mut self,
        now: Instant,
        server: Hit,
        types: &[RegType],
        random: &mut dyn RandomSource,
    ) -> usize {
        let mut n = 0;
        let established: Vec<Hit> = self
            .assocs
            .iter()
            .filter(|((_, p), a)| *p == server && a.driver.state() == State::Established)
            .map(|((l, _), _)| *l)
            .collect();
        self.requester.requests.retain_mut(|r| {
            if r.server != server || !(types.is_empty() || types.contains(&r.reg_type)) {
                return true;
            }
            n += 1;
            if established.contains(&r.local) {
                r.state = RegistrationState::Cancelling;
                r.due = Some(now);
                true
            } else {
                false
            }
        });
        self.refresh_relay_candidates();
        let _ = self.requester_run(now, random);
        n
    }

    /// Requester: the servers `local` holds a granted registration of type
    /// `ty` with, as association pairs (no allocation: for checks made
    /// before a packet is parsed).
    pub(super) fn granted_servers(
        &self,
        local: Hit,
        ty: RegType,
    ) -> impl Iterator<Item = HitPair> + '_ {
        self.requester
            .requests
            .iter()
            .filter(move |r| {
                r.local == local && r.reg_type == ty && r.state == RegistrationState::Registered
            })
            .map(|r| (r.local, r.server))
    }

    /// Requester: the registrations asked for, sorted by server and type.
    pub fn registrations(&self) -> Vec<RegistrationInfo> {
        let mut v: Vec<_> = self
            .requester
            .requests
            .iter()
            .map(|r| RegistrationInfo {
                local_hit: r.local,
                server_hit: r.server,
                server_locator: self
                    .assocs
                    .get(&(r.local, r.server))
                    .map_or(r.server_locator, |a| a.peer_locator),
                reg_type: r.reg_type,
                requested_lifetime: lifetime_duration(r.lifetime),
                granted_lifetime: r.granted.map(lifetime_duration),
                state: r.state,
                reflexive_address: r.reflexive,
                relayed_address: r.relayed,
            })
            .collect();
        v.sort_by_key(|i| (i.server_hit, i.reg_type));
        v
    }

    /// Requester: the REG_REQUEST to put in the I2 to `server` (RFC 8003
    /// section 3.2), when its R1 offered REG_INFO and requests are due.
    pub(super) fn requester_i2_param(&mut self, pair: HitPair, r1: &HipRepr) -> Option<ParamRepr> {
        r1.param(ParamType::RegInfo)?;
        let due: Vec<&mut Request> = self
            .requester
            .requests
            .iter_mut()
            .filter(|r| {
                r.local == pair.0
                    && r.server == pair.1
                    && r.state != RegistrationState::Cancelling
                    && !matches!(r.state, RegistrationState::Failed(_))
            })
            .collect();
        let lifetime = due.iter().map(|r| r.lifetime).max()?;
        let mut types = Vec::new();
        for r in due {
            r.in_i2 = true;
            types.push(r.reg_type);
        }
        Some(ParamRepr::RegRequest { lifetime, types })
    }

    /// Requester: REG_RESPONSE / REG_FAILED from `pair.1` in an authenticated
    /// R2 or UPDATE (RFC 8003 sections 3.3, 4.3).
    pub(super) fn requester_answer(&mut self, now: Instant, pair: HitPair, repr: &HipRepr) {
        let local_locator = self.assocs.get(&pair).map(|a| a.local_locator);
        // REG_FROM: our server-reflexive address for the relay registration
        // granted in the same packet (RFC 9028 section 4.1).
        let reflexive = match repr.param(ParamType::RegFrom) {
            Some(ParamRepr::RegFrom(t)) => super::relay::socket_of(t),
            _ => None,
        };
        let relayed = match repr.param(ParamType::RelayedAddress) {
            Some(ParamRepr::RelayedAddress(t)) => super::relay::socket_of(t),
            _ => None,
        };
        let mut events = Vec::new();
        for p in &repr.params {
            match p {
                ParamRepr::RegResponse { lifetime, types } => {
                    for t in types {
                        let Some(i) = self
                            .requester
                            .requests
                            .iter()
                            .position(|r| r.server == pair.1 && r.reg_type == *t)
                        else {
                            continue;
                        };
                        if *lifetime == 0 {
                            if self.requester.requests[i].state == RegistrationState::Cancelling {
                                self.requester.requests.remove(i);
                                events.push(RegistrationEvent::Cancelled {
                                    server: pair.1,
                                    reg_type: *t,
                                });
                            }
                            continue;
                        }
                        let r = &mut self.requester.requests[i];
                        if r.state == RegistrationState::Cancelling {
                            continue;
                        }
                        let dur = lifetime_duration(*lifetime);
                        r.state = RegistrationState::Registered;
                        r.granted = Some(*lifetime);
                        r.expires = Some(now + dur);
                        r.due = Some(now + dur * RENEW_FRACTION / 100);
                        r.registered_from = local_locator;
                        r.in_i2 = false;
                        if matches!(r.reg_type, RegType::RelayUdpHip | RegType::RelayUdpEsp) {
                            r.reflexive = reflexive;
                        }
                        if r.reg_type == RegType::RelayUdpEsp {
                            r.relayed = relayed;
                        }
                        events.push(RegistrationEvent::Registered {
                            server: pair.1,
                            reg_type: *t,
                            lifetime: dur,
                        });
                    }
                }
                ParamRepr::RegFailed {
                    failure_type,
                    types,
                    ..
                } => {
                    let failure = RegFailureType::from(*failure_type);
                    for t in types {
                        if let Some(r) = self
                            .requester
                            .requests
                            .iter_mut()
                            .find(|r| r.server == pair.1 && r.reg_type == *t)
                        {
                            r.state = RegistrationState::Failed(failure);
                            r.granted = None;
                            r.expires = None;
                            r.due = None;
                            r.in_i2 = false;
                            events.push(RegistrationEvent::Failed {
                                server: pair.1,
                                reg_type: *t,
                                failure,
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        for e in events {
            if matches!(e, RegistrationEvent::Failed { .. }) {
                self.counters.registrations_failed += 1;
            }
            self.event(Event::Registration(e));
        }
        self.refresh_relay_candidates();
    }

    /// Offers the reflexive addresses of our granted relay registrations in
    /// our R1s ([`super::r1_generation::R1Factory::set_candidates`]), per
    /// local HIT; called whenever a registration changes.
    fn refresh_relay_candidates(&mut self) {
        if self.requester.requests.is_empty() && !self.r1.has_candidates() {
            return;
        }
        use crate::wire::CandidateKind;
        let mut by_hit: Vec<(Hit, Vec<super::r1_generation::Candidate>)> = Vec::new();
        for r in &self.requester.requests {
            let slot = match by_hit.iter_mut().find(|(h, _)| *h == r.local) {
                Some(s) => s,
                None => {
                    by_hit.push((r.local, Vec::new()));
                    by_hit.last_mut().expect("just pushed")
                }
            };
            if r.state != RegistrationState::Registered {
                continue;
            }
            let offered = match r.reg_type {
                RegType::RelayUdpHip => r.reflexive.map(|a| (a, CandidateKind::ServerReflexive)),
                RegType::RelayUdpEsp => r.relayed.map(|a| (a, CandidateKind::Relayed)),
                _ => None,
            };
            if let Some(c) = offered.filter(|c| !slot.1.contains(c)) {
                slot.1.push(c);
            }
        }
        for (_, v) in by_hit.iter_mut() {
            // The server-reflexive candidate first: it is the preferred one.
            v.sort_by_key(|(_, k)| *k == CandidateKind::Relayed);
        }
        for id in self.identities.iter().map(|i| i.hit).collect::<Vec<_>>() {
            let addrs = by_hit
                .iter()
                .find(|(h, _)| *h == id)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            self.r1.set_candidates(id, addrs);
        }
    }

    /// The next registration deadline (expiry, renewal, retry) of either side.
    pub(super) fn registration_deadline(&self) -> Option<Instant> {
        let server = self
            .registrar
            .clients
            .values()
            .flat_map(|(_, m)| m.values().map(|g| g.expires));
        let client = self
            .requester
            .requests
            .iter()
            .flat_map(|r| {
                [
                    r.due,
                    r.expires
                        .filter(|_| r.state == RegistrationState::Registered),
                ]
            })
            .flatten();
        // A registration made from a locator we no longer use is overdue.
        let moved = self
            .requester
            .requests
            .iter()
            .any(|r| self.moved_since_registration(r))
            .then_some(Instant(0));
        server.chain(client).chain(moved).min()
    }

    /// Whether `r` was granted from another local locator than the one its
    /// association uses now.
    fn moved_since_registration(&self, r: &Request) -> bool {
        r.state == RegistrationState::Registered
            && r.registered_from.is_some()
            && self
                .assocs
                .get(&(r.local, r.server))
                .is_some_and(|a| Some(a.local_locator) != r.registered_from)
    }

    /// Runs the registration timers due at `now`: expiry on both sides,
    /// renewals, retries and re-registration after a move.
    pub(super) fn registration_timers(&mut self, now: Instant, random: &mut dyn RandomSource) {
        let mut expired = Vec::new();
        for (c, (_, m)) in self.registrar.clients.iter_mut() {
            m.retain(|t, g| {
                let live = g.expires > now;
                if !live {
                    expired.push((*c, *t));
                }
                live
            });
        }
        self.registrar.clients.retain(|_, (_, m)| !m.is_empty());
        for (client, reg_type) in expired {
            self.counters.registrations_expired += 1;
            self.event(Event::Registration(RegistrationEvent::ClientExpired {
                client,
                reg_type,
            }));
        }
        let mut lapsed = Vec::new();
        for r in self.requester.requests.iter_mut() {
            if r.state == RegistrationState::Registered && r.expires.is_some_and(|e| e <= now) {
                r.state = RegistrationState::Expired;
                r.granted = None;
                r.due = Some(r.due.map_or(now, |d| d.min(now)));
                lapsed.push((r.server, r.reg_type));
            }
        }
        let any_lapsed = !lapsed.is_empty();
        for (server, reg_type) in lapsed {
            self.event(Event::Registration(RegistrationEvent::Expired {
                server,
                reg_type,
            }));
        }
        if any_lapsed {
            self.refresh_relay_candidates();
        }
        let _ = self.requester_run(now, random);
    }

    /// Sends what is due: REG_REQUEST in UPDATE over an established
    /// association, or a base exchange toward the server.
    fn requester_run(
        &mut self,
        now: Instant,
        random: &mut dyn RandomSource,
    ) -> Result<(), RegisterError> {
        // A registration made from another local locator than the one in use
        // is renewed now (RFC 8004 section 3: the RVS relays to the address it
        // knows; the LOCATOR_SET UPDATE moves the association, this refreshes
        // the registration from the new address).
        let moved: Vec<bool> = self
            .requester
            .requests
            .iter()
            .map(|r| self.moved_since_registration(r))
            .collect();
        for (r, m) in self.requester.requests.iter_mut().zip(moved) {
            if m {
                r.registered_from = None;
                r.due = Some(now);
            }
        }
        let mut servers: Vec<HitPair> = self
            .requester
            .requests
            .iter()
            .filter(|r| r.due.is_some_and(|d| d <= now))
            .map(|r| (r.local, r.server))
            .collect();
        servers.sort();
        servers.dedup();
        let mut result = Ok(());
        for pair in servers {
            if let Err(e) = self.request_from(now, pair, random) {
                result = Err(e);
            }
        }
        result
    }

    /// One server's due requests.
    fn request_from(
        &mut self,
        now: Instant,
        pair: HitPair,
        random: &mut dyn RandomSource,
    ) -> Result<(), RegisterError> {
        let state = self.assocs.get(&pair).map(|a| a.driver.state());
        let busy = self
            .assocs
            .get(&pair)
            .is_some_and(|a| a.upd().update_packet.is_some() || a.rekey.is_some());
        let due = |r: &Request| {
            r.local == pair.0 && r.server == pair.1 && r.due.is_some_and(|d| d <= now)
        };
        match state {
            Some(State::Established) if busy => {
                // Another UPDATE is outstanding: ask again shortly.
                for r in self.requester.requests.iter_mut().filter(|r| due(r)) {
                    r.due = Some(now + Duration::from_millis(500));
                }
                Ok(())
            }
            Some(State::Established) => {
                let (cancel, ask): (Vec<&Request>, Vec<&Request>) = self
                    .requester
                    .requests
                    .iter()
                    .filter(|r| due(r) && !matches!(r.state, RegistrationState::Failed(_)))
                    .partition(|r| r.state == RegistrationState::Cancelling);
                let mut params = Vec::new();
                if !cancel.is_empty() {
                    params.push(ParamRepr::RegRequest {
                        lifetime: 0,
                        types: cancel.iter().map(|r| r.reg_type).collect(),
                    });
                }
                if let Some(lifetime) = ask.iter().map(|r| r.lifetime).max() {
                    params.push(ParamRepr::RegRequest {
                        lifetime,
                        types: ask.iter().map(|r| r.reg_type).collect(),
                    });
                }
                for r in self.requester.requests.iter_mut().filter(|r| due(r)) {
                    r.due = Some(now + REQUEST_RETRY);
                }
                // Only one REG_REQUEST per packet counts at the registrar:
                // a cancellation goes first, the rest at the retry.
                if let Some(p) = params.into_iter().next() {
                    self.send_seq_update(now, pair, vec![p], random);
                }
                Ok(())
            }
            Some(s) if !matches!(s, State::Unassociated | State::Closing | State::Closed) => {
                // A base exchange is under way: its I2 or the UPDATE after it
                // carries the request.
                for r in self.requester.requests.iter_mut().filter(|r| due(r)) {
                    r.due = Some(now + REQUEST_RETRY);
                }
                Ok(())
            }
            _ => {
                let Some(r) = self.requester.requests.iter().find(|r| due(r)) else {
                    return Ok(());
                };
                let (ll, sl, udp) = (r.local_locator, r.server_locator, r.udp_port);
                for r in self.requester.requests.iter_mut().filter(|r| due(r)) {
                    r.due = Some(now + REQUEST_RETRY);
                    if r.state == RegistrationState::Cancelling {
                        r.due = None;
                    }
                }
                self.requester
                    .requests
                    .retain(|r| !(r.server == pair.1 && r.state == RegistrationState::Cancelling));
                self.connect(now, pair.0, pair.1, ll, sl, udp)?;
                Ok(())
            }
        }
    }

    /// Requester: the base exchange with a server completed; requests that did
    /// not travel in its I2 (the R1 had no REG_INFO) are due now and go in an
    /// UPDATE at the next [`Endpoint::handle_timeout`].
    pub(super) fn requester_established(&mut self, now: Instant, pair: HitPair) {
        for r in self.requester.requests.iter_mut() {
            if r.local == pair.0
                && r.server == pair.1
                && r.state == RegistrationState::Requested
                && !r.in_i2
            {
                r.due = Some(now);
            }
        }
    }

    /// Sends an UPDATE with SEQ and `params` (REG_REQUEST, PEER_PERMISSION)
    /// to a server, retransmitted until acknowledged (RFC 8003 section 3.2,
    /// RFC 7401 section 6.11).
    pub(super) fn send_seq_update(
        &mut self,
        now: Instant,
        pair: HitPair,
        params: Vec<ParamRepr>,
        random: &mut dyn RandomSource,
    ) {
        let Some(a) = self.assocs.get_mut(&pair) else {
            return;
        };
        let seq = a.upd_mut().update.next_seq();
        let mut r = HipRepr::new(PacketType::Update, a.wire_version(), pair.0, pair.1);
        for p in params {
            r.insert_ordered(p);
        }
        r.insert_ordered(ParamRepr::Seq(seq));
        match self.protect_and_emit(pair, &mut r, random) {
            Ok(bytes) => {
                if let Some(a) = self.assocs.get_mut(&pair) {
                    a.upd_mut().update_packet = Some(bytes.clone());
                    a.upd_mut().update_dst = None;
                    a.upd_mut().update_retx.start(now);
                    let (s, d, u) = (a.local_locator, a.peer_locator, a.udp_port);
                    self.transmit(s, d, u, bytes);
                }
            }
            Err(_) => self.counters.build_failed += 1,
        }
    }

    /// Registrar: parameters for our answer to an UPDATE from `pair.1` that
    /// carries REG_REQUEST: REG_INFO (our current offer, RFC 8003 section 3.1)
    /// and the decision. The decision is committed by the caller.
    pub(super) fn registrar_update_answer(
        &self,
        now: Instant,
        pair: HitPair,
        repr: &HipRepr,
        seen: Option<SocketAddr>,
        ours: IpAddr,
    ) -> Option<(Vec<ParamRepr>, RegDecision)> {
        let mut d = self.registrar_decide(now, pair.1, repr, seen, ours)?;
        let mut params = std::mem::take(&mut d.params);
        if let Some(info) = self.cfg.registrar.reg_info() {
            params.insert(0, info);
        }
        Some((params, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetime_encoding_follows_rfc8003_section_4_1() {
        assert_eq!(lifetime_duration(0), Duration::ZERO);
        assert_eq!(lifetime_duration(64), Duration::from_secs(1));
        assert_eq!(lifetime_duration(72), Duration::from_secs(2));
        assert_eq!(lifetime_duration(64 + 8 * 10), Duration::from_secs(1024));
        // 255: 2^(191/8) s, about 15384774 s.
        let max = lifetime_duration(255).as_secs();
        assert!((15_384_000..15_385_000).contains(&max), "{max}");
        assert_eq!(lifetime_value_at_least(1), 64);
        assert_eq!(lifetime_value_at_least(1024), 144);
        assert!(lifetime_duration(lifetime_value_at_least(120)).as_secs() >= 120);
        assert!(lifetime_duration(lifetime_value_at_least(120) - 1).as_secs() < 120);
        assert!(lifetime_duration(lifetime_value_at_most(3600)).as_secs() <= 3600);
        assert!(lifetime_duration(lifetime_value_at_most(3600) + 1).as_secs() > 3600);
        assert_eq!(lifetime_value_at_least(u32::MAX), 255);
    }

    #[test]
    fn registrar_config_refuses_unimplemented_services_and_bad_lifetimes() {
        let mut c = RegistrarConfig {
            services: vec![RegType::RendezvousServer],
            ..RegistrarConfig::default()
        };
        assert_eq!(c.validate(), Ok(()));
        c.services.push(RegType::RelayUdpHip);
        assert_eq!(c.validate(), Ok(()));
        c.services.push(RegType::RelayUdpEsp);
        assert_eq!(c.validate(), Ok(()));
        c.services.push(RegType::CandidateDiscovery);
        assert_eq!(
            c.validate(),
            Err(RegistrarConfigError::Unimplemented(
                RegType::CandidateDiscovery
            ))
        );
        c.services.truncate(1);
        c.min_lifetime = 100;
        c.max_lifetime = 10;
        assert!(c.validate().is_err());
        assert!(RegistrarConfig::default().reg_info().is_none());
    }

    #[test]
    fn default_policy_allows_nobody() {
        assert!(!RegistrationPolicy::default().allows(&Hit([1; 16])));
        assert!(RegistrationPolicy::Any.allows(&Hit([1; 16])));
    }
}
