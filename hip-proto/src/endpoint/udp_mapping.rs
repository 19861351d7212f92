//! The transport address of a peer reached over UDP (RFC 5770 plain UDP
//! encapsulation, no ICE): a peer behind a NAT is known by the address and
//! port its packets arrive from, its NAT's mapping, not by the private
//! addresses it may list in LOCATOR_SET.
//!
//! * NAT rebinding (the mapping's port changed, the address did not): an
//!   authenticated packet of the association from the new port (a signed
//!   UPDATE or keepalive, or ESP the caller opened,
//!   [`Endpoint::esp_received_from`]) moves the association there at once
//!   ([`Event::UdpPortChanged`]). The address is the one already verified,
//!   so no return-routability check is needed.
//! * Behind a NAT: an UPDATE over UDP whose source address is not among the
//!   addresses its LOCATOR_SET lists (or that has none) was translated on
//!   the way. The listed addresses are the peer's private ones behind its
//!   NAT, unreachable without ICE (RFC 5770 section 4.8 base exchange
//!   without connectivity checks: the hosts use the addresses the packets
//!   came from): they are neither verified nor kept as failover candidates.
//!   When the source is a new address (the peer moved behind another NAT),
//!   the address check of RFC 8046 section 5.4 goes to that transport
//!   address (ECHO_REQUEST_SIGNED sent there, over UDP to the port it came
//!   from). An UPDATE over UDP that lists its own source address (no NAT
//!   on the way) is handled as in [`super::mobility`]. ESP from a new
//!   address moves nothing.

use std::net::IpAddr;

use super::core::{Endpoint, HitPair, Incoming};
use super::event::Event;
use super::random::RandomSource;
use crate::association::Instant;
use crate::wire::{CandidateKind, HipRepr, ParamRepr, ParamType};
use crate::Hit;

/// Does the LOCATOR_SET of `repr` list `addr`?
pub fn lists(repr: &HipRepr, addr: IpAddr) -> bool {
    let Some(ParamRepr::LocatorSet(ls)) = repr.param(ParamType::LocatorSet) else {
        return false;
    };
    ls.iter()
        .filter_map(crate::wire::Locator::address)
        .any(|a| a == addr)
}

/// The first UDP transport locator (type 2, RFC 9028 section 5.7) of the
/// LOCATOR_SET in `repr`, the preferred one first.
pub fn offered_transport(repr: &HipRepr) -> Option<std::net::SocketAddr> {
    let Some(ParamRepr::LocatorSet(ls)) = repr.param(ParamType::LocatorSet) else {
        return None;
    };
    ls.iter()
        .filter(|l| l.preferred())
        .chain(ls.iter())
        .filter_map(|l| l.transport_address())
        .find(|(_, kind)| *kind != CandidateKind::Relayed)
        .map(|(at, _)| at)
        .filter(|at| !at.ip().is_unspecified() && !at.ip().is_multicast() && !at.ip().is_loopback())
}

/// Does the R1 in `repr`, arriving from `from`, offer `from` as a relayed
/// candidate (RFC 9028 section 4.12: the Responder's Data Relay, which
/// forwards our ESP to it)? Then the path the R1 came on carries data.
pub fn relayed_at(repr: &HipRepr, from: std::net::SocketAddr) -> bool {
    let Some(ParamRepr::LocatorSet(ls)) = repr.param(ParamType::LocatorSet) else {
        return false;
    };
    ls.iter()
        .filter_map(|l| l.transport_address())
        .any(|c| c == (from, CandidateKind::Relayed))
}

/// Is an R2 of association `a` arriving as `inc` from a transport address
/// worth checking ([`Endpoint::check_r2_source`])? Over UDP on both sides,
/// from another address of the peer's family, before the association
/// first moved, and no check or UPDATE of ours open (but for the offered
/// address's check, which it replaces). Decided from the header: a duplicate R2 that is not is
/// dropped before its MAC is computed.
pub(super) fn r2_source_to_check(a: &crate::association::Association, inc: &Incoming<'_>) -> bool {
    let idle = a.upd().pending_locator.is_none() && a.upd().update_packet.is_none();
    // Not after the association moved: the relayed R2 that arrives after
    // the direct copy moved us to the Responder's mapping comes from the
    // relay, which would forward a check there and so pass it, taking the
    // association back to a path that carries no ESP.
    inc.udp_port.is_some()
        && a.udp_port.is_some()
        && inc.src != a.peer_locator
        && !a.moved
        && inc.src.is_ipv4() == a.peer_locator.is_ipv4()
        && (idle || offered_check_open(a).is_some_and(|c| c != (inc.src, inc.udp_port)))
}

/// The transport address of the open check of the R1's offered transport
/// locator ([`Endpoint::check_offered_transport`]), if that is the check
/// now open. An R2 copy from elsewhere replaces it: that address is known
/// to reach us (a NAT that maps per destination makes the offered,
/// relay-given address useless), and the copy may come only once more.
fn offered_check_open(a: &crate::association::Association) -> Option<(IpAddr, Option<u16>)> {
    let c = a.peer_transport_candidate.as_deref()?;
    let (l, _) = a.upd().pending_locator?;
    let at = (c.ip(), Some(c.port()));
    (l == at.0 && a.upd().pending_udp_port == Some(at.1)).then_some(at)
}

impl Endpoint {
    /// An authenticated packet of `pair` came over UDP from `src`:`port`: a
    /// new port at the verified address is adopted. True when it moved.
    pub(super) fn adopt_udp_port(&mut self, pair: HitPair, src: IpAddr, port: Option<u16>) -> bool {
        let Some(a) = self.assocs.get_mut(&pair) else {
            return false;
        };
        let (Some(cur), Some(new)) = (a.udp_port, port) else {
            return false;
        };
        if src != a.peer_locator || cur == new {
            return false;
        }
        a.udp_port = Some(new);
        self.counters.udp_port_changes += 1;
        self.event(Event::UdpPortChanged {
            peer_hit: pair.1,
            locator: src,
            udp_port: new,
        });
        true
    }

    /// ESP of the association `(local, peer)`, authenticated by the caller
    /// (ICV and replay window checked), arrived over UDP from `src`:`port`.
    /// A NAT rebinding at the peer's verified address is adopted
    /// ([`Event::UdpPortChanged`]); from any other address nothing changes
    /// (a moved peer is verified through its UPDATE). The caller reports a
    /// source once, not per packet. True when the association moved.
    pub fn esp_received_from(
        &mut self,
        now: Instant,
        local: Hit,
        peer: Hit,
        src: IpAddr,
        port: u16,
    ) -> bool {
        self.clock = self.clock.max(now);
        self.adopt_udp_port((local, peer), src, Some(port))
    }

    /// Initiator: the authenticated R2 of `pair` came over UDP from another
    /// transport address than the one our I2 went to. A Responder that
    /// answers through a Control Relay Server also sends its R2 straight
    /// from its NAT mapping ([`Endpoint::r2_direct`]); that address is
    /// checked (RFC 8046 section 5.4, [`Endpoint::verify_source`]) and the
    /// association moves there once the echo comes back, so that ESP goes
    /// directly and not to the relay. At most one check at a time. True
    /// when a check was started.
    pub(super) fn check_r2_source(
        &mut self,
        now: Instant,
        pair: HitPair,
        inc: &Incoming<'_>,
        random: &mut dyn RandomSource,
    ) -> bool {
        if !self
            .assocs
            .get(&pair)
            .is_some_and(|a| r2_source_to_check(a, inc))
        {
            return false;
        }
        self.counters.r2_source_checks += 1;
        if let Some(a) = self.assocs.get_mut(&pair) {
            // Replaces an open check of the offered address, if any.
            a.peer_transport_candidate = None;
            a.upd_mut().update_packet = None;
        }
        self.verify_source(now, pair, inc.dst, (inc.src, inc.udp_port), false, random);
        true
    }

    /// Initiator, after the R2: the UDP transport locator the Responder's
    /// R1 offered (its relay-given address, RFC 9028 section 4.7.2) is
    /// checked from `local` when it is not where the association already
    /// goes ([`Endpoint::verify_source`]); the association moves there once
    /// the echo comes back; the candidate stays recorded while its check is
    /// open ([`r2_source_to_check`]). Our check also opens our own NAT toward it,
    /// while the Responder's R2 copy ([`Endpoint::r2_direct`]) opened its
    /// NAT toward us: hole punching with one candidate pair. True when a
    /// check was started.
    pub(super) fn check_offered_transport(
        &mut self,
        now: Instant,
        pair: HitPair,
        local: IpAddr,
        random: &mut dyn RandomSource,
    ) -> bool {
        let Some(a) = self.assocs.get_mut(&pair) else {
            return false;
        };
        let Some(cand) = a.peer_transport_candidate.as_deref().copied() else {
            return false;
        };
        let here = (a.peer_locator, a.udp_port) == (cand.ip(), Some(cand.port()));
        let usable = a.udp_port.is_some()
            && cand.is_ipv4() == a.peer_locator.is_ipv4()
            && cand.is_ipv4() == local.is_ipv4()
            && a.upd().pending_locator.is_none()
            && a.upd().update_packet.is_none();
        if here || !usable {
            a.peer_transport_candidate = None;
            return false;
        }
        self.counters.offered_transport_checks += 1;
        self.verify_source(
            now,
            pair,
            local,
            (cand.ip(), Some(cand.port())),
            false,
            random,
        );
        true
    }

    /// Is the association of `pair` over UDP, and did `inc` come over UDP?
    pub(super) fn over_udp(&self, pair: HitPair, inc: &Incoming<'_>) -> bool {
        inc.udp_port.is_some() && self.assocs.get(&pair).is_some_and(|a| a.udp_port.is_some())
    }

    /// An authenticated UPDATE over UDP from another address than the
    /// peer's: verify that transport address (RFC 8046 section 5.4), adding
    /// ECHO_REQUEST_SIGNED (and ESP_INFO, SEQ) to `reply`. Returns where
    /// the reply goes, None when the source is the verified address.
    pub(super) fn verify_udp_source(
        &mut self,
        pair: HitPair,
        inc: &Incoming<'_>,
        reply: &mut HipRepr,
        random: &mut dyn RandomSource,
    ) -> Option<IpAddr> {
        let a = self.assocs.get(&pair)?;
        if inc.src == a.peer_locator || inc.src.is_ipv4() != a.peer_locator.is_ipv4() {
            return None;
        }
        self.start_verification(pair, inc.src, Some(inc.udp_port), reply, random)
    }
}
