//! The sans-IO HIP endpoint (RFC 7401 sections 4 and 6; RFC 5201 for v1), in
//! the shape of `quinn-proto`: the caller feeds received packets
//! ([`Endpoint::handle`]), the time ([`Endpoint::handle_timeout`]) and random
//! bytes, and drains packets to send ([`Endpoint::poll_transmit`]), the next
//! deadline ([`Endpoint::poll_timeout`]) and events ([`Endpoint::poll_event`]).
//!
//! The packet handlers live beside this file: [`super::initiator`] (I1, R1 -> I2,
//! R2), [`super::responder`] (I1 -> R1, I2 -> R2), [`super::close`],
//! [`super::update`] and [`super::notify`].

use std::collections::VecDeque;
use std::net::IpAddr;

use super::compat::CompatProfile;
use super::config::{Config, ConfigError};
use super::counters::{Counters, DropReason};
use super::event::{Event, FailReason, Locator, Transmit};
use super::identity::LocalIdentity;
use super::mac_check::MacChecked;
use super::protect;
use super::r1_generation::R1Factory;
use super::r1_rate_limit::R1Limiter;
use super::random::RandomSource;
use super::rate_limit::TokenBucket;
use super::spent_puzzles::SpentPuzzles;
use crate::association::{Action, Association, Driver, Input, Instant, RetransmitOutcome, State};
use crate::registry::{PacketType, Version};
use crate::wire::{Error as WireError, HipRepr, Packet, ParseOptions};
use crate::Hit;

/// (local HIT, peer HIT).
pub type HitPair = (Hit, Hit);

/// The header version of a packet a handler was given (`dispatch` checked
/// its header already).
pub(super) fn inc_wire_version(inc: &Incoming<'_>) -> Version {
    Packet::new_checked(inc.bytes).map_or(Version::V1, |pk| pk.version())
}

/// Why [`Endpoint::parse`] refused a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ParseFailure {
    /// Any syntax error.
    Malformed,
    /// A parameter of this type has the critical bit set and is unknown to us.
    UnknownCritical(u16),
}

/// A received HIP packet and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// Source locator (the peer).
    pub src: IpAddr,
    /// Destination locator (ours).
    pub dst: IpAddr,
    /// Peer UDP port when it came over UDP (RFC 5770), zero marker stripped.
    pub udp_port: Option<u16>,
    /// The HIP packet.
    pub bytes: &'a [u8],
}

/// Why [`Endpoint::connect`] could not start an exchange.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The local HIT is not one of our identities.
    #[error("no local identity with HIT {0}")]
    UnknownLocalHit(Hit),
    /// The identity's HIP version is not enabled.
    #[error("HIP version {0:?} is not enabled")]
    VersionDisabled(Version),
    /// The peer HIT is not an ORCHID of the identity's version.
    #[error("peer HIT {0} is not an ORCHID of the local identity's HIP version")]
    PeerHitVersion(Hit),
    /// Building I1 failed.
    #[error("building I1: {0}")]
    Build(String),
}

/// A summary of one association for `hipconf daemon get ha`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssociationInfo {
    /// Local HIT.
    pub local_hit: Hit,
    /// Peer HIT.
    pub peer_hit: Hit,
    /// State.
    pub state: State,
    /// HIP version.
    pub version: Version,
    /// Our locator.
    pub local_locator: Locator,
    /// The peer's locator.
    pub peer_locator: Locator,
    /// Inbound SPI.
    pub spi_in: u32,
    /// Outbound SPI.
    pub spi_out: u32,
    /// Peer UDP port when HIP and ESP go over UDP.
    pub udp_port: Option<u16>,
    /// Other locators the peer announced (failover candidates, RFC 8047).
    pub peer_candidates: Vec<Locator>,
    /// A peer locator being verified (RFC 8046 section 5.4).
    pub verifying: Option<Locator>,
    /// The compatibility profile the association runs under.
    pub profile: CompatProfile,
    /// The profile was chosen from the peer's packets
    /// ([`CompatProfile::detect`]), not from the configuration.
    pub profile_detected: bool,
    /// The version in the header of its packets (HIPL's v2 sends 2 over
    /// RFC 5201 rules, whose version `version` is).
    pub wire_version: Version,
}

/// A HIP endpoint: local identities, R1 generation, associations.
pub struct Endpoint {
    pub(super) cfg: Config,
    /// The timer settings of `cfg`, shared by every association.
    timers: std::sync::Arc<crate::association::Timers>,
    pub(super) identities: Vec<LocalIdentity>,
    /// Index into `identities` by HIT (a load tool holds thousands).
    identity_by_hit: std::collections::HashMap<Hit, usize>,
    pub(super) r1: R1Factory,
    next_rotation: Option<Instant>,
    pub(super) assocs: super::association_table::AssocTable,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    pub(super) counters: Counters,
    /// Budget of unsigned NOTIFYs to packets that create no state.
    pub(super) notify_bucket: TokenBucket,
    /// Budget of signature checks of NOTIFYs from peers.
    pub(super) notify_verify_bucket: TokenBucket,
    /// Puzzle solutions of accepted I2s, per live R1 generation.
    pub(super) spent: SpentPuzzles,
    /// R1 budgets per destination address and in all.
    pub(super) r1_limit: R1Limiter,
    /// Registrar state (RFC 8003; [`super::registration`]).
    pub(super) registrar: super::registration::Registrar,
    /// Requester state (RFC 8003; [`super::registration`]).
    pub(super) requester: super::registration::Requester,
    /// The latest `now` the caller gave (stamps what is sent, for the NAT
    /// keepalive timers of [`super::nat_keepalive`]).
    pub(super) clock: Instant,
    /// While a packet relayed by our Control Relay Server is handled: the
    /// way back through the relay for the answers to its sender
    /// ([`super::relay`], RFC 9028 section 4.5).
    pub(super) relay_reply: Option<crate::association::context::RelayRoute>,
    /// Data Relay Server permissions ([`super::data_relay`], RFC 9028 section 4.12).
    pub(super) data_relay: super::data_relay::DataRelayServer,
    /// Data Relay Client state ([`super::data_relay`]).
    pub(super) data_relay_client: super::data_relay::DataRelayClient,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("identities", &self.identities.len())
            .field("associations", &self.assocs.len())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint with no identities yet.
    pub fn new(cfg: Config, random: &mut dyn RandomSource) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let r1 = R1Factory::new(random);
        let r1_limit = R1Limiter::new(&cfg, random);
        Ok(Endpoint {
            r1_limit,
            notify_bucket: TokenBucket::new(cfg.unsolicited_notify),
            notify_verify_bucket: TokenBucket::new(cfg.notify_verify),
            spent: SpentPuzzles::new(r1.secrets.generation(), cfg.spent_puzzle_capacity),
            timers: crate::association::Timers::new(&cfg),
            cfg,
            identities: Vec::new(),
            identity_by_hit: Default::default(),
            r1,
            next_rotation: None,
            assocs: Default::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
            registrar: Default::default(),
            requester: Default::default(),
            clock: Instant(0),
            relay_reply: None,
            data_relay: Default::default(),
            data_relay_client: Default::default(),
        })
    }

    /// Adds a local identity; the first one of each version is that version's
    /// default (used for I1s to a NULL HIT, RFC 7401 section 5.3.1).
    pub fn add_identity(&mut self, id: LocalIdentity) {
        if !self.identity_by_hit.contains_key(&id.hit) {
            self.identity_by_hit.insert(id.hit, self.identities.len());
            self.identities.push(id);
        }
    }

    /// The local identities.
    pub fn identities(&self) -> &[LocalIdentity] {
        &self.identities
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Changes the puzzle difficulty of future R1s (RFC 7401 section 4.1.1); R1s
    /// already sent stay answerable.
    pub fn set_puzzle_difficulty(&mut self, k: u8) -> Result<(), ConfigError> {
        let mut c = self.cfg.clone();
        c.puzzle_difficulty = k;
        c.validate()?;
        self.cfg = c;
        self.r1.invalidate();
        Ok(())
    }

    /// Sets the compatibility profile of a peer.
    pub fn set_peer_profile(&mut self, peer: Hit, profile: CompatProfile) {
        self.cfg.peer_profiles.insert(peer, profile);
    }

    /// Counters (drops by reason, R1s served and signed, exchanges).
    pub fn counters(&self) -> Counters {
        let mut c = self.counters;
        c.r1_signed = self.r1.signed;
        c
    }

    /// Number of associations holding state (the DoS tests assert on it).
    pub fn state_count(&self) -> usize {
        self.assocs.len()
    }

    /// State of an association (UNASSOCIATED when none).
    pub fn state(&self, local: Hit, peer: Hit) -> State {
        self.assocs
            .get(&(local, peer))
            .map_or(State::Unassociated, |a| a.driver.state())
    }

    /// Is a transport address of the peer being checked (RFC 8046 section
    /// 5.4), e.g. the Responder's NAT mapping right after a base exchange
    /// through a relay? Data sent meanwhile goes to the old locator; a
    /// caller may hold it until [`Event::LocatorChanged`] (a hash look-up).
    /// False when that locator is a Data Relay that forwards our ESP (the
    /// Responder's R1 offered it as a relayed candidate): nothing is lost.
    pub fn path_check_pending(&self, local: Hit, peer: Hit) -> bool {
        self.assocs
            .get(&(local, peer))
            .is_some_and(|a| a.upd().pending_locator.is_some() && !a.relay_carries_esp)
    }

    /// The compatibility profile toward `peer`: its association's (which
    /// may have been chosen from the peer's packets), else the configured one.
    pub fn peer_profile(&self, local: Hit, peer: Hit) -> CompatProfile {
        self.assocs
            .get(&(local, peer))
            .map_or_else(|| self.cfg.profile_for(&peer), |a| a.profile)
    }

    /// All associations.
    pub fn associations(&self) -> Vec<AssociationInfo> {
        let mut v: Vec<_> = self
            .assocs
            .iter()
            .map(|(&(l, p), a)| AssociationInfo {
                local_hit: l,
                peer_hit: p,
                state: a.driver.state(),
                version: a.version,
                local_locator: a.local_locator,
                peer_locator: a.peer_locator,
                spi_in: a.spi_in,
                spi_out: a.spi_out,
                udp_port: a.udp_port,
                peer_candidates: a.upd().peer_candidates.clone(),
                verifying: a.upd().pending_locator.map(|(l, _)| l),
                profile: a.profile,
                profile_detected: a.profile != self.cfg.profile_for(&p),
                wire_version: a.wire_version(),
            })
            .collect();
        v.sort_by_key(|i| (i.local_hit, i.peer_hit));
        v
    }

    /// The next packet to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Endpoint::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let cfg = &self.cfg;
        self.assocs
            .next_deadline(|a| association_deadline(cfg, a))
            .into_iter()
            .chain(self.next_rotation)
            .chain(self.registration_deadline())
            .chain(self.permission_deadline())
            .min()
    }

    /// When an established association's keys reach `rekey_interval`.
    fn rekey_due(&self, a: &Association) -> Option<Instant> {
        rekey_due(&self.cfg, a)
    }

    /// Queues `bytes` for (src, dst) with the checksum set for exactly this
    /// path: computed over the pseudo-header for raw IP, zero over UDP (RFC
    /// 7401 section 5.1.1, RFC 5770 section 5.1). Stored packets (retransmits,
    /// repeated replies) may leave from another locator or encapsulation than
    /// the one they were first built for, after a move.
    pub(super) fn transmit(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        udp_port: Option<u16>,
        mut bytes: Vec<u8>,
    ) {
        if udp_port.is_some() {
            if let Some(c) = bytes.get_mut(4..6) {
                c.fill(0);
            }
        } else {
            crate::wire::checksum::fill(&mut bytes, src, dst);
        }
        self.transmit_checksummed(src, dst, udp_port, bytes);
    }

    /// Queues `bytes` whose checksum was just set for this (src, dst,
    /// encapsulation) (the precomputed-R1 path, which fills it per I1).
    pub(super) fn transmit_checksummed(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        udp_port: Option<u16>,
        bytes: Vec<u8>,
    ) {
        // Stamp the association the packet belongs to (sender and receiver
        // HIT at octets 8-40, RFC 7401 section 5.1): a NAT keepalive is due
        // an interval after the last packet sent.
        let hit = |r: std::ops::Range<usize>| {
            bytes
                .get(r)
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .map(Hit)
        };
        let mut route = self.relay_reply.filter(|r| r.peer.0 == dst);
        if let (Some(s), Some(r)) = (hit(8..24), hit(24..40)) {
            let clock = self.clock;
            if let Some(a) = self.assocs.get_mut(&(s, r)) {
                a.last_tx = a.last_tx.max(clock);
                route = route.or(a.via_relay.as_deref().map(|p| p.route));
            }
        }
        // An exchange through our Control Relay Server: back through it
        // with RELAY_TO (RFC 9028 section 4.5).
        let (src, dst, udp_port, bytes) = self.through_relay(src, dst, udp_port, bytes, route);
        self.transmits.push_back(Transmit {
            src,
            dst,
            udp_port,
            bytes,
        });
    }

    /// Queues `bytes` (checksum already set) as they are, never through a
    /// relay ([`Self::transmit_checksummed`] routes an association's
    /// packets through its Control Relay Server).
    pub(super) fn transmit_direct(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        udp_port: Option<u16>,
        bytes: Vec<u8>,
    ) {
        self.transmits.push_back(Transmit {
            src,
            dst,
            udp_port,
            bytes,
        });
    }

    pub(super) fn event(&mut self, e: Event) {
        // What the Data Relay follows (RFC 9028 section 4.12): a client's
        // new transport address, new SPIs, an association that ended.
        let follow = match &e {
            Event::UdpPortChanged { peer_hit, .. } | Event::LocatorChanged { peer_hit, .. } => {
                Some((*peer_hit, None))
            }
            Event::Rekeyed {
                peer_hit,
                local_hit,
                ..
            } => Some((*peer_hit, Some(*local_hit))),
            Event::Closed { peer_hit } => Some((*peer_hit, None)),
            _ => None,
        };
        let closed = matches!(e, Event::Closed { .. });
        self.events.push_back(e);
        match follow {
            Some((peer, Some(local))) => self.relayed_rekeyed(self.clock, (local, peer)),
            Some((peer, None)) => {
                if closed {
                    self.data_relay_client.forget_peer(&peer);
                }
                self.client_moved(&peer);
            }
            None => {}
        }
    }

    /// Re-sends a packet kept by an association (retransmission).
    pub(super) fn resend(&mut self, pair: HitPair, which: fn(&Association) -> Option<&Vec<u8>>) {
        let Some(a) = self.assocs.get(&pair) else {
            return;
        };
        if let Some(b) = which(a) {
            let (s, d, u, b) = (a.local_locator, a.peer_locator, a.udp_port, b.clone());
            self.transmit(s, d, u, b);
        }
    }

    /// The index of the identity with `hit`.
    pub(super) fn identity_index(&self, hit: &Hit) -> Option<usize> {
        self.identity_by_hit.get(hit).copied()
    }

    /// The default identity of a version.
    pub(super) fn default_identity(&self, version: Version) -> Option<usize> {
        self.identities.iter().position(|i| i.version == version)
    }

    /// A fresh inbound SPI: random, above the reserved 1-255 (RFC 4303 section
    /// 2.1), unique among our associations.
    pub(super) fn fresh_spi(&self, random: &mut dyn RandomSource) -> u32 {
        loop {
            let mut b = [0u8; 4];
            random.fill(&mut b);
            let spi = u32::from_be_bytes(b);
            if spi > 255 && !self.assocs.spi_in_use(spi) && !self.data_relay.spi_taken(spi) {
                return spi;
            }
        }
    }

    /// A new association entry for `pair`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new_association(
        &self,
        now: Instant,
        pair: HitPair,
        version: Version,
        profile: CompatProfile,
        local_locator: IpAddr,
        peer_locator: IpAddr,
    ) -> Association {
        Association::new(
            Driver::with_timers(pair.0, pair.1, self.timers.clone(), now),
            version,
            profile,
            local_locator,
            peer_locator,
        )
    }

    /// The compatibility profile a received packet is handled under: its
    /// association's, else the configured one for the sender, as
    /// [`CompatProfile::detect`] adjusts it for what the header says.
    pub(super) fn profile_of(&self, pk: &Packet<&[u8]>) -> CompatProfile {
        let sender = pk.sender_hit();
        let base = self
            .assocs
            .get(&(pk.receiver_hit(), sender))
            .map_or_else(|| self.cfg.profile_for(&sender), |a| a.profile);
        CompatProfile::detect(base, pk.version(), &sender)
    }

    /// [`Self::profile_of`] for a packet a handler was given (checked by
    /// `dispatch` already).
    pub(super) fn incoming_profile(&self, inc: &Incoming<'_>) -> CompatProfile {
        Packet::new_checked(inc.bytes).map_or(CompatProfile::Strict, |pk| self.profile_of(&pk))
    }

    /// The version whose rules a received packet follows (RFC 5201 for 1,
    /// RFC 7401 for 2): its header's, except HIPL's v2
    /// ([`CompatProfile::rules_version`]).
    pub(super) fn rules_version(&self, pk: &Packet<&[u8]>) -> Version {
        self.profile_of(pk).rules_version(pk.version())
    }

    /// Parses a received packet with the options the sender's profile
    /// allows. An unknown critical parameter is its own error, carrying the
    /// type. The result's `version` is the version of the rules it follows
    /// ([`Self::rules_version`]), which is what every handler works with.
    pub(super) fn parse(&self, pk: &Packet<&[u8]>) -> Result<HipRepr, ParseFailure> {
        let profile = self.profile_of(pk);
        let opts = ParseOptions {
            allow_unordered: profile == CompatProfile::Cutehip,
            allow_unknown_critical: false,
            hipl_private: profile.is_hipl(),
        };
        let mut repr = HipRepr::parse(pk, opts).map_err(|e| match e {
            WireError::UnknownCriticalParam(ty) => ParseFailure::UnknownCritical(ty),
            _ => ParseFailure::Malformed,
        })?;
        repr.version = profile.rules_version(repr.version);
        Ok(repr)
    }

    /// Handles one received HIP packet. Every dropped packet is counted under
    /// one [`DropReason`]; nothing here panics on any input.
    pub fn handle(&mut self, now: Instant, incoming: Incoming<'_>, random: &mut dyn RandomSource) {
        let _ = self.handle_checked(now, incoming, random);
    }

    /// [`Endpoint::handle`] that also returns why the packet was dropped (it
    /// is counted either way), for a caller that logs drops.
    pub fn handle_checked(
        &mut self,
        now: Instant,
        incoming: Incoming<'_>,
        random: &mut dyn RandomSource,
    ) -> Result<(), DropReason> {
        self.counters.received += 1;
        let cfg = &self.cfg;
        self.assocs.flush(|a| association_deadline(cfg, a));
        self.clock = self.clock.max(now);
        self.rotate_if_due(now, random);
        let r = self.dispatch(now, &incoming, random);
        let cfg = &self.cfg;
        self.assocs.flush(|a| association_deadline(cfg, a));
        if let Err(reason) = r {
            self.counters.drop(reason);
        }
        r
    }

    fn dispatch(
        &mut self,
        now: Instant,
        inc: &Incoming<'_>,
        random: &mut dyn RandomSource,
    ) -> Result<(), DropReason> {
        let pk = Packet::new_checked(inc.bytes).map_err(|_| DropReason::Malformed)?;
        if !matches!(pk.version(), Version::V1 | Version::V2)
            || !self.cfg.versions.contains(&self.rules_version(&pk))
        {
            return Err(DropReason::UnsupportedVersion);
        }
        protect::check_checksum(inc.bytes, inc.src, inc.dst, inc.udp_port.is_some())?;
        // Control Relay Server: packets for registered clients, and from
        // them with RELAY_TO, are forwarded before anything is parsed
        // (RFC 9028 section 4.5; [`super::relay`]).
        if let Some(r) = self.relay_control(now, inc, &pk) {
            return r;
        }
        if let Some(reason) = self.header_drop(now, &pk) {
            return Err(reason);
        }
        let mac = self.mac_check(&pk, inc)?;
        self.notify_budget(now, &pk)?;
        // Control Relay Client: RELAY_HMAC checked before parsing.
        let relay_pair = self.relay_hmac_check(inc, &pk)?;
        let repr = match self.parse(&pk) {
            Ok(r) => r,
            Err(ParseFailure::Malformed) => return Err(DropReason::Malformed),
            Err(ParseFailure::UnknownCritical(ty)) => {
                self.refuse_unknown_critical(now, inc, &pk, ty, random);
                return Err(DropReason::UnknownCriticalParam);
            }
        };
        if repr.sender_hit.is_null() {
            return Err(DropReason::Malformed);
        }
        // Control Relay Client: relayed by our relay (RELAY_FROM and a valid
        // RELAY_HMAC): handled as from the RELAY_FROM transport address, and
        // answered through the relay (RFC 9028 section 4.5).
        let route = match relay_pair {
            Some(pair) => Some(self.relayed_origin(inc, &repr, pair)?),
            None => None,
        };
        let relayed;
        let inc = match route {
            Some(r) => {
                self.counters.relayed_received += 1;
                relayed = Incoming {
                    src: r.peer.0,
                    dst: inc.dst,
                    udp_port: (r.peer.1 != 0).then_some(r.peer.1),
                    bytes: inc.bytes,
                };
                &relayed
            }
            None => inc,
        };
        if route.is_none() && mac.is_some() {
            self.direct_from_peer((repr.receiver_hit, repr.sender_hit), inc);
        }
        self.relay_reply = route;
        let result = self.dispatch_parsed(now, inc, &repr, mac, random);
        self.relay_reply = None;
        if let (Some(r), Ok(())) = (route, &result) {
            let pair = (repr.receiver_hit, repr.sender_hit);
            if let Some(a) = self.assocs.get_mut(&pair) {
                if a.peer_locator == r.peer.0 && a.via_relay.as_deref().map(|p| p.route) != Some(r)
                {
                    // Our R2 copy to the peer (Self::r2_direct) is re-sent
                    // until the peer answers directly.
                    let mut punch = crate::association::timer::Retransmit::new(
                        crate::association::timer::RetransmitConfig::PUNCH,
                    );
                    if a.driver.state() == State::R2Sent && r.peer.1 != 0 && a.r2.is_some() {
                        punch.start(now);
                    }
                    a.via_relay = Some(Box::new(crate::association::context::RelayPath {
                        route: r,
                        punch,
                    }));
                }
            }
            let relayed = self.assocs.get(&pair).is_some_and(|a| {
                matches!(a.driver.state(), State::R2Sent | State::Established)
                    && a.via_relay.is_some()
            });
            if relayed {
                self.relay_esp_through(now, pair, r.relay_pair);
            }
        }
        result
    }

    fn dispatch_parsed(
        &mut self,
        now: Instant,
        inc: &Incoming<'_>,
        repr: &HipRepr,
        mac: Option<MacChecked>,
        random: &mut dyn RandomSource,
    ) -> Result<(), DropReason> {
        let mac = || mac.ok_or(DropReason::BadMac);
        match repr.packet_type {
            PacketType::I1 => self.on_i1(now, inc, repr, random),
            PacketType::R1 => self.on_r1(now, inc, repr, random),
            PacketType::I2 => self.on_i2(now, inc, repr, random),
            PacketType::R2 => match mac() {
                Ok(m) => self.on_r2(now, inc, repr, m, random),
                Err(_) => self.on_r2_copy(now, inc, repr, random),
            },
            PacketType::Update => self.on_update(now, inc, repr, mac()?, random),
            PacketType::Notify if super::nat_keepalive::is_keepalive(repr) => {
                self.on_keepalive(inc, repr)
            }
            PacketType::Notify => self.on_notify(inc, repr),
            PacketType::Close => self.on_close(now, inc, repr, mac()?, random),
            PacketType::CloseAck => self.on_close_ack(now, inc, repr, mac()?),
            _ => Err(DropReason::Malformed),
        }
    }

    /// Drops decided by the fixed header alone (RFC 7401 section 5.1),
    /// before anything is parsed or allocated, so that a flood of packets
    /// for associations that do not exist costs less than a real one: a
    /// NULL sender HIT (section 5.1), an unknown packet type, and the
    /// packets that only make sense inside an association (R1, R2, UPDATE,
    /// CLOSE, CLOSE_ACK; sections 6.8, 6.11-6.15) when there is none, an
    /// I2 whose puzzle solution is wrong, and an I1 for a HIT that is
    /// neither ours nor a live rendezvous client's (RFC 8004 section 4.3.2;
    /// the relay's clients were served before this). The reasons are those
    /// the handlers give after parsing. NOTIFY may come outside an
    /// association.
    fn header_drop(&self, now: Instant, pk: &Packet<&[u8]>) -> Option<DropReason> {
        if pk.sender_hit().is_null() {
            return Some(DropReason::Malformed);
        }
        let pair = (pk.receiver_hit(), pk.sender_hit());
        match pk.packet_type() {
            PacketType::R1 if self.identity_index(&pair.0).is_none() => Some(DropReason::NotForUs),
            PacketType::R1 | PacketType::R2 if !self.assocs.contains_key(&pair) => {
                Some(DropReason::UnknownAssociation)
            }
            PacketType::Update | PacketType::Close | PacketType::CloseAck
                if !self.assocs.contains_key(&pair) =>
            {
                Some(DropReason::NotPeer)
            }
            // An I2 that would start an association: its puzzle first,
            // read in place (section 6.9 steps 3-4; a retransmitted I2 of an
            // existing one is for the handler).
            PacketType::I2 if !self.assocs.contains_key(&pair) => self.i2_puzzle_drop(pk, &pair),
            PacketType::I1 if !pair.0.is_null() && self.identity_index(&pair.0).is_none() => {
                self.foreign_i1_drop(now, &pair.0)
            }
            PacketType::I1
            | PacketType::R1
            | PacketType::I2
            | PacketType::R2
            | PacketType::Update
            | PacketType::Notify
            | PacketType::Close
            | PacketType::CloseAck => None,
            _ => Some(DropReason::Malformed),
        }
    }

    /// The SOLUTION of an I2 checked from the packet bytes (RFC 7401
    /// section 5.2.5: K, reserved, opaque, #I, J of equal length), with no
    /// allocation: a flood of I2s with made-up solutions is refused here.
    /// `None` leaves the packet to the handler (which checks everything
    /// again, and reports a missing or malformed SOLUTION itself).
    fn i2_puzzle_drop(&self, pk: &Packet<&[u8]>, pair: &HitPair) -> Option<DropReason> {
        let idx = self.identity_index(&pair.0)?;
        let version = self.rules_version(pk);
        if self.identities[idx].version != version {
            return Some(DropReason::NotForUs);
        }
        let sol = pk
            .params()
            .map_while(Result::ok)
            .find(|p| p.param_type() == crate::wire::ParamType::Solution)?;
        let c = sol.contents();
        let rest = c.get(4..)?;
        if rest.is_empty() || rest.len() % 2 != 0 {
            return None;
        }
        let (i, j) = rest.split_at(rest.len() / 2);
        let rhash = super::r1_generation::rhash_for(version, &pair.0)?;
        let profile = self.profile_of(pk);
        super::solution::check_solution(
            &self.r1.secrets,
            rhash,
            profile,
            &pair.1,
            &pair.0,
            &super::solution::SolutionView {
                k: c[0],
                opaque: &c[2..4],
                i,
                j,
            },
        )
        .err()
    }

    /// ESP arrived on an association (R2-SENT moves to ESTABLISHED, RFC 7401
    /// section 4.4.2 table 5; it also refreshes the UAL).
    pub fn data_received(&mut self, now: Instant, local: Hit, peer: Hit) {
        if let Some(a) = self.assocs.get_mut(&(local, peer)) {
            a.driver.apply(now, Input::UserDataReceived);
            a.peer_has_r2();
        }
    }

    /// Drops association state without CLOSE (`hipconf rst`): all, or one peer.
    pub fn reset(&mut self, peer: Option<Hit>) {
        let gone: Vec<HitPair> = self
            .assocs
            .keys()
            .filter(|(_, p)| peer.is_none_or(|x| x == *p))
            .copied()
            .collect();
        for pair in gone {
            self.assocs.remove(&pair);
            self.event(Event::Closed { peer_hit: pair.1 });
        }
    }

    fn rotate_if_due(&mut self, now: Instant, random: &mut dyn RandomSource) {
        match self.next_rotation {
            None => self.next_rotation = Some(now + self.cfg.r1_generation_interval),
            Some(t) if now >= t => self.rotate_now(now, random),
            Some(_) => {}
        }
    }

    /// A new R1 generation (puzzle secret and spent set) from `now` on.
    pub(super) fn rotate_now(&mut self, now: Instant, random: &mut dyn RandomSource) {
        self.r1.rotate(random);
        self.spent.rotate(self.r1.secrets.generation());
        self.next_rotation = Some(now + self.cfg.r1_generation_interval);
    }

    /// Runs the timers due at `now`: retransmissions, UAL, lingers, UPDATE
    /// retransmission and the R1 generation rotation.
    pub fn handle_timeout(&mut self, now: Instant, random: &mut dyn RandomSource) {
        self.clock = self.clock.max(now);
        self.rotate_if_due(now, random);
        let cfg = &self.cfg;
        let pairs = self.assocs.due(now, |a| association_deadline(cfg, a));
        for pair in pairs {
            if let Some(a) = self.assocs.get_mut(&pair) {
                if a.r2.is_some() && now >= a.r2_until {
                    a.r2 = None;
                }
            }
            self.association_timers(now, pair, random);
            self.punch_if_due(now, pair);
            let due = self
                .assocs
                .get(&pair)
                .and_then(|a| self.rekey_due(a))
                .is_some_and(|t| t <= now);
            if due && self.rekey(now, pair.0, pair.1, random).is_err() {
                self.counters.build_failed += 1;
            }
            self.keepalive_if_due(now, pair, random);
        }
        self.registration_timers(now, random);
        self.expire_permissions(now);
        self.permission_timers(now, random);
        let cfg = &self.cfg;
        self.assocs.flush(|a| association_deadline(cfg, a));
    }

    fn association_timers(&mut self, now: Instant, pair: HitPair, random: &mut dyn RandomSource) {
        // Several timers may be due at once; each iteration handles one.
        for _ in 0..4 {
            let Some(a) = self.assocs.get_mut(&pair) else {
                return;
            };
            let before = a.driver.state();
            let Some(step) = a.driver.handle_timeout(now) else {
                break;
            };
            match step.action {
                Action::SendI1 | Action::SendI2 => self.resend(pair, |a| a.last_sent.as_ref()),
                Action::SendClose if before == State::Closing => {
                    self.resend(pair, |a| a.last_sent.as_ref())
                }
                // UAL expired in ESTABLISHED / R2-SENT: a new CLOSE.
                Action::SendClose if self.send_close(pair, random).is_err() => {
                    self.counters.build_failed += 1;
                }
                _ => {}
            }
            if step.next == State::EFailed && before != State::EFailed {
                self.counters.failed += 1;
                let reason = if before == State::I1Sent {
                    FailReason::I1Timeout
                } else {
                    FailReason::I2Timeout
                };
                self.event(Event::Failed {
                    peer_hit: pair.1,
                    reason,
                });
            }
            if step.next == State::Unassociated {
                self.assocs.remove(&pair);
                if before == State::Closing {
                    self.event(Event::Closed { peer_hit: pair.1 });
                }
                return;
            }
        }
        let Some(a) = self.assocs.get_mut(&pair) else {
            return;
        };
        // Without UPDATE state there is no UPDATE timer (none is made here).
        let poll = match a.upd.as_deref_mut() {
            Some(u) => u.update_retx.poll(now),
            None => RetransmitOutcome::NotDue,
        };
        match poll {
            RetransmitOutcome::NotDue => {}
            RetransmitOutcome::Resend => {
                if let Some(b) = a.upd().update_packet.clone() {
                    let dst = a.upd().update_dst.unwrap_or(a.peer_locator);
                    // An address check of a replacing I2's source goes with
                    // that I2's encapsulation.
                    let u = match (a.upd().update_dst, a.upd().pending_udp_port) {
                        (Some(_), Some(port)) => port,
                        _ => a.udp_port,
                    };
                    let s = a.local_locator;
                    self.transmit(s, dst, u, b);
                }
            }
            RetransmitOutcome::GiveUp => {
                let to_current = a.upd().update_dst.is_none_or(|d| d == a.peer_locator);
                if to_current {
                    // No retransmission of an UPDATE on the path in use was
                    // answered: the peer lost its state or the path is gone.
                    // The association fails cleanly (the caller removes the
                    // SAs on this event) instead of staying ESTABLISHED
                    // without working SAs; the next packet to the peer starts
                    // a new base exchange.
                    self.assocs.remove(&pair);
                    self.event(Event::Failed {
                        peer_hit: pair.1,
                        reason: FailReason::UpdateTimeout,
                    });
                } else {
                    // An address being verified never answered: it is not
                    // adopted; the association keeps its verified locator.
                    let rejected = a
                        .upd()
                        .pending_locator
                        .map(|(l, _)| Event::LocatorRejected {
                            peer_hit: pair.1,
                            locator: l,
                            current: a.peer_locator,
                        });
                    let u = a.upd_mut();
                    u.update_packet = None;
                    u.update_dst = None;
                    u.pending_locator = None;
                    u.pending_udp_port = None;
                    a.peer_transport_candidate = None;
                    a.rekey = None;
                    a.keys_since = now;
                    self.counters.locator_unverified_dropped += 1;
                    if let Some(e) = rejected {
                        self.event(e);
                    }
                }
            }
        }
    }
}

/// When an established association's keys reach `rekey_interval`.
fn rekey_due(cfg: &Config, a: &Association) -> Option<Instant> {
    let iv = cfg.rekey_interval?;
    (a.driver.state() == State::Established && a.upd().update_packet.is_none() && a.keys.is_some())
        .then(|| a.keys_since + iv)
}

/// The next time anything of association `a` is due: its state machine's
/// timers (retransmission, UAL, lingers), its UPDATE retransmission and its
/// rekey and its NAT keepalive.
fn association_deadline(cfg: &Config, a: &Association) -> Option<Instant> {
    [
        a.driver.poll_timeout(),
        a.upd().update_retx.deadline(),
        a.r2.as_ref().map(|_| a.r2_until),
        rekey_due(cfg, a),
        super::nat_keepalive::keepalive_due(cfg, a),
        a.via_relay.as_ref().and_then(|p| p.punch.deadline()),
    ]
    .into_iter()
    .flatten()
    .min()
}
