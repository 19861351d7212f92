//! The HIP Control Relay Server and Control Relay Client (RFC 9028 sections
//! 4.1, 4.5 and 5.6-5.9; the "HIP relay server" of RFC 5770 sections 4.1 and
//! 4.12, registration type RELAY_UDP_HIP = 2).
//!
//! * Registration (RFC 9028 section 4.1): a client registers for
//!   [`RegType::RelayUdpHip`] over UDP ([`Endpoint::register_via`]); the
//!   grant carries REG_FROM, the client's transport address as the relay saw
//!   it (its server-reflexive address, [`super::registration`]). Who may
//!   register is the registrar's allow list, as for the RVS.
//! * Relaying to a client (RFC 9028 section 4.5, RFC 5770 section 4.12): a
//!   HIP control packet of any type whose Receiver's HIT is a client with a
//!   live relay registration (not one of ours) is forwarded over UDP to the
//!   client's current transport address (its association's, which follows
//!   NAT rebinding), from our address, with RELAY_FROM (the sender's
//!   transport address) and RELAY_HMAC appended. RELAY_HMAC is computed like
//!   RVS_HMAC (RFC 9028 section 5.8, RFC 8004 section 4.2.1): over the packet
//!   up to and including RELAY_FROM ([`cover::below`]), keyed with our
//!   outgoing HIP integrity key of the association with the client.
//!   Relaying is stateless, one packet out per packet in, within the
//!   endpoint-wide relay budget ([`super::RegistrarConfig::relay_rate`],
//!   shared with the RVS) and counted. A packet for a HIT nobody registered
//!   is dropped ([`DropReason::NotRegistered`]) after a hash look-up, before
//!   anything is parsed or allocated. A packet that already carries a
//!   parameter of RELAY_FROM's type or above (RELAY_TO, FROM, RVS_HMAC,
//!   VIA_RVS, RELAY_HMAC) is not relayed (chains of relays are out of scope;
//!   RELAY_FROM could not be placed in type order).
//! * Relaying from a client (RFC 9028 section 4.5): a packet from a
//!   registered client that ends with RELAY_TO and RELAY_HMAC (keyed with
//!   the client's outgoing integrity key, covering RELAY_TO) is forwarded to
//!   the transport address in RELAY_TO with both removed: what arrives is
//!   the packet the client signed. Only registered clients may use RELAY_TO
//!   (no open relay: [`DropReason::NotRegistered`] for anybody else,
//!   [`DropReason::BadRelayHmac`] for a tag that does not verify), one packet
//!   out per packet in, within the same budget.
//! * Control Relay Client (RFC 9028 section 4.5): a received packet with
//!   RELAY_FROM or RELAY_HMAC must carry both and the tag must verify with
//!   the incoming key of an association with a relay we are registered at;
//!   otherwise it is dropped ([`DropReason::BadRelayHmac`]). A verified
//!   packet is handled as coming from the RELAY_FROM transport address (the
//!   initiator's), and our answers to that address (R1, R2, and every later
//!   HIP packet of the association, [`crate::association::context::RelayRoute`])
//!   go to the relay with RELAY_TO naming it and RELAY_HMAC keyed with our
//!   outgoing key toward the relay (RFC 9028 section 4.5: the Responder
//!   answers with RELAY_TO the relayed packet's RELAY_FROM).
//! * Initiator: nothing relay-specific. It sends its I1 to the relay's
//!   address (as to an RVS: `connect(.., peer_locator = relay, udp)`); the
//!   R1, R2 and later packets come back from the relay's address, which stays
//!   the association's peer locator.
//!
//! Where ESP goes: the Control Relay Server relays HIP control packets only
//! (ESP relaying is the Data Relay Server, RELAY_UDP_ESP, RFC 9028 section
//! 4.12, not implemented). The Responder's association takes the
//! Initiator's transport address from RELAY_FROM as peer locator and UDP
//! port: its ESP goes there directly. Its R2 goes through the relay and,
//! when the Initiator came over UDP, also straight to that address
//! ([`Endpoint::r2_direct`]); the Initiator checks the R2's source with
//! ECHO_REQUEST_SIGNED and moves its association there
//! ([`Endpoint::check_r2_source`]), so its ESP goes directly too. Once an
//! authenticated packet of the peer arrives directly (not relayed) from the
//! peer's transport address, the Responder's HIP packets stop going through
//! the relay. A Responder whose NAT filters what the Initiator sends, or an
//! Initiator behind a NAT of its own, needs connectivity checks in both
//! directions (RFC 9028 section 4.6) or the Data Relay: not implemented.

use std::net::{IpAddr, SocketAddr};

use super::core::{Endpoint, Incoming};
use super::counters::DropReason;
use super::protect;
use super::registration::{ip_of, raw_of};
use super::rendezvous::append_param;
use crate::association::context::RelayRoute;
use crate::association::timer::{Retransmit, RetransmitConfig, RetransmitOutcome};
use crate::association::{Instant, State};
use crate::crypto::mac;
use crate::wire::{
    cover, HipRepr, Packet, ParamRepr, ParamType, RegType, TransportAddr, HEADER_LEN,
};
use crate::Hit;

/// The Protocol field of a transport address over UDP (RFC 9028 section 5.6).
const UDP: u8 = 17;

/// The TransportAddr form (REG_FROM, RELAY_FROM, RELAY_TO; RFC 9028 section
/// 5.6) of a UDP transport address.
pub(super) fn transport_addr(s: SocketAddr) -> TransportAddr {
    TransportAddr {
        port: s.port(),
        protocol: UDP,
        reserved: 0,
        address: raw_of(s.ip()),
    }
}

/// A UDP transport address from its TransportAddr form; `None` for port 0.
pub(super) fn socket_of(t: &TransportAddr) -> Option<SocketAddr> {
    (t.port != 0).then(|| SocketAddr::new(ip_of(t.address), t.port))
}

/// The relay parameters at the end of a packet, found without allocating.
#[derive(Debug, Default)]
struct Tail<'a> {
    /// Highest parameter type before RELAY_TO (or in all, without one).
    max_before: u16,
    /// RELAY_TO: its offset and contents.
    relay_to: Option<(usize, &'a [u8])>,
    /// RELAY_HMAC's contents, when it directly follows RELAY_TO and ends the
    /// packet.
    hmac_after_to: Option<&'a [u8]>,
    /// Parameters after RELAY_TO other than one final RELAY_HMAC.
    trailing: bool,
}

fn tail<'a>(pk: &'a Packet<&[u8]>) -> Result<Tail<'a>, DropReason> {
    let mut t = Tail::default();
    for p in pk.params() {
        let p = p.map_err(|_| DropReason::Malformed)?;
        let ty = p.raw_type();
        match (t.relay_to, t.hmac_after_to) {
            (None, _) if ty == ParamType::RelayTo.value() => {
                t.relay_to = Some((p.offset(), p.contents()));
            }
            (None, _) => t.max_before = t.max_before.max(ty),
            (Some(_), None) if ty == ParamType::RelayHmac.value() => {
                t.hmac_after_to = Some(p.contents());
            }
            (Some(_), _) => t.trailing = true,
        }
    }
    Ok(t)
}

/// Whether a client's RELAY_TO may name `dst`: a unicast address off this
/// host. Loopback, unspecified, multicast and the IPv4 broadcast address are
/// refused, so that a registered client cannot have the relay send to its
/// own host's services or to a group (no open relay, RFC 9028 section 4.5).
pub(super) fn forwardable(dst: IpAddr) -> bool {
    let broadcast = matches!(dst, IpAddr::V4(a) if a.is_broadcast());
    !(dst.is_unspecified() || dst.is_loopback() || dst.is_multicast() || broadcast)
}

/// `bytes` with its Header Length set for its length.
fn set_len(bytes: &mut [u8]) -> Result<(), DropReason> {
    let n = u8::try_from(bytes.len() / 8 - 1).map_err(|_| DropReason::Malformed)?;
    bytes[1] = n;
    Ok(())
}

impl Endpoint {
    /// Control Relay Server (RFC 9028 section 4.5): decides on a packet whose
    /// Receiver's HIT is not ours, from its fixed header and parameter
    /// headers only. `None`: not a relay matter (handled as before, e.g. an
    /// I1 for a rendezvous client).
    pub(super) fn relay_control(
        &mut self,
        now: Instant,
        inc: &Incoming<'_>,
        pk: &Packet<&[u8]>,
    ) -> Option<Result<(), DropReason>> {
        if !self.cfg.registrar.services.contains(&RegType::RelayUdpHip) {
            return None;
        }
        let (sender, receiver) = (pk.sender_hit(), pk.receiver_hit());
        if receiver.is_null() || self.identity_index(&receiver).is_some() {
            return None;
        }
        let t = match tail(pk) {
            Ok(t) => t,
            Err(e) => return Some(Err(e)),
        };
        if t.relay_to.is_some() {
            // Only a registered client may have us forward (no open relay).
            return Some(
                match self
                    .registrar
                    .registered(&sender, RegType::RelayUdpHip, now)
                {
                    Some(local) => self.relay_from_client(now, inc, (local, sender), &t),
                    None => Err(DropReason::NotRegistered),
                },
            );
        }
        if let Some(local) = self
            .registrar
            .registered(&receiver, RegType::RelayUdpHip, now)
        {
            return Some(self.relay_to_client(now, inc, (local, receiver), &t));
        }
        if self
            .registrar
            .registered(&receiver, RegType::RendezvousServer, now)
            .is_some()
        {
            return None;
        }
        Some(Err(DropReason::NotRegistered))
    }

    /// The established association with a relay client, its keys and UDP
    /// port.
    fn relay_client_assoc(
        &self,
        pair: (Hit, Hit),
    ) -> Result<&crate::association::Association, DropReason> {
        self.assocs
            .get(&pair)
            .filter(|a| matches!(a.driver.state(), State::Established | State::R2Sent))
            .filter(|a| a.keys.is_some() && a.rhash.is_some())
            .ok_or(DropReason::NotRegistered)
    }

    /// Forwards a packet to a registered client with RELAY_FROM and
    /// RELAY_HMAC (RFC 9028 section 4.5).
    fn relay_to_client(
        &mut self,
        now: Instant,
        inc: &Incoming<'_>,
        pair: (Hit, Hit),
        t: &Tail<'_>,
    ) -> Result<(), DropReason> {
        if t.relay_to.is_some() || t.max_before >= ParamType::RelayFrom.value() {
            return Err(DropReason::Policy);
        }
        let a = self.relay_client_assoc(pair)?;
        if a.keys.is_none() || a.rhash.is_none() || a.udp_port.is_none() {
            return Err(DropReason::NotRegistered);
        }
        // The budget before anything is copied: a packet over it costs no
        // allocation.
        if !self.registrar.relay_allow(&self.cfg.registrar, now) {
            return Err(DropReason::RelayRateLimited);
        }
        let a = self.relay_client_assoc(pair)?;
        let (Some(keys), Some(rhash), Some(udp)) = (&a.keys, a.rhash, a.udp_port) else {
            return Err(DropReason::NotRegistered);
        };
        let key = keys.hip_keys().0.integ.to_vec();
        let dst = a.peer_locator;
        let src = if inc.dst.is_ipv4() == dst.is_ipv4() {
            inc.dst
        } else {
            a.local_locator
        };
        // RELAY_FROM: the sender's transport address; port 0 when it came
        // over raw HIP (the client then answers with a RELAY_TO of port 0).
        let from = TransportAddr {
            port: inc.udp_port.unwrap_or(0),
            protocol: if inc.udp_port.is_some() { UDP } else { 0 },
            reserved: 0,
            address: raw_of(inc.src),
        };
        let mut bytes = inc.bytes.to_vec();
        append_param(&mut bytes, &ParamRepr::RelayFrom(from)).map_err(|_| DropReason::Policy)?;
        let covered = cover::below(&bytes, ParamType::RelayHmac.value())
            .map_err(|_| DropReason::Malformed)?;
        let tag = mac::compute(rhash, &key, &covered);
        append_param(&mut bytes, &ParamRepr::RelayHmac(tag)).map_err(|_| DropReason::Policy)?;
        self.counters.relay_to_client += 1;
        self.transmit(src, dst, Some(udp), bytes);
        Ok(())
    }

    /// Forwards a registered client's packet to its RELAY_TO, without
    /// RELAY_TO and RELAY_HMAC (RFC 9028 section 4.5).
    fn relay_from_client(
        &mut self,
        now: Instant,
        inc: &Incoming<'_>,
        pair: (Hit, Hit),
        t: &Tail<'_>,
    ) -> Result<(), DropReason> {
        let Some((to_off, to)) = t.relay_to else {
            return Err(DropReason::BadRelayHmac);
        };
        if t.trailing {
            return Err(DropReason::Policy);
        }
        let a = self.relay_client_assoc(pair)?;
        let (Some(keys), Some(rhash)) = (&a.keys, a.rhash) else {
            return Err(DropReason::NotRegistered);
        };
        match t.hmac_after_to {
            Some(tag) => {
                let covered = cover::below(inc.bytes, ParamType::RelayHmac.value())
                    .map_err(|_| DropReason::Malformed)?;
                let (ours, theirs) = keys.hip_keys();
                let ok = mac::verify(rhash, &theirs.integ, &covered, tag)
                    || (a.profile.server_hmac_either_key()
                        && mac::verify(rhash, &ours.integ, &covered, tag));
                if !ok {
                    return Err(DropReason::BadRelayHmac);
                }
            }
            // HIPL 1.0.8's R1 through its relay carries RELAY_TO without
            // RELAY_HMAC (RFC 5770 relay client): taken from such a client
            // only at its registered transport address.
            None if a.profile.relay_to_without_hmac()
                && inc.src == a.peer_locator
                && inc.udp_port == a.udp_port => {}
            None => return Err(DropReason::BadRelayHmac),
        }
        let Ok(ParamRepr::RelayTo(to)) = ParamRepr::parse(ParamType::RelayTo.value(), to) else {
            return Err(DropReason::Malformed);
        };
        let dst = ip_of(to.address);
        let udp = match (to.port, to.protocol) {
            (0, _) => None,
            (p, UDP) => Some(p),
            _ => return Err(DropReason::Policy),
        };
        // Never to ourselves or across families (we send from the address
        // the client reached).
        if dst.is_ipv4() != inc.dst.is_ipv4() || dst == inc.dst || !forwardable(dst) {
            return Err(DropReason::Policy);
        }
        if !self.registrar.relay_allow(&self.cfg.registrar, now) {
            return Err(DropReason::RelayRateLimited);
        }
        let mut bytes = inc.bytes[..to_off].to_vec();
        set_len(&mut bytes)?;
        self.counters.relay_from_client += 1;
        self.transmit(inc.dst, dst, udp, bytes);
        Ok(())
    }

    /// Control Relay Client: a packet with RELAY_FROM or RELAY_HMAC is
    /// checked from its bytes, before it is parsed (RFC 9028 section 4.5;
    /// dropping costs less than accepting: no allocation). It must carry
    /// both, have come over UDP, and its RELAY_HMAC must verify with the
    /// incoming key of an ESTABLISHED association with a relay we hold a
    /// granted registration at; otherwise [`DropReason::BadRelayHmac`].
    /// `Ok(None)`: not a relayed packet; `Ok(Some(pair))`: relayed by the
    /// relay of association `pair`.
    pub(super) fn relay_hmac_check(
        &self,
        inc: &Incoming<'_>,
        pk: &Packet<&[u8]>,
    ) -> Result<Option<(Hit, Hit)>, DropReason> {
        let (mut from, mut tag) = (false, false);
        for p in pk.params() {
            let ty = p.map_err(|_| DropReason::Malformed)?.raw_type();
            from |= ty == ParamType::RelayFrom.value();
            tag |= ty == ParamType::RelayHmac.value();
        }
        // Without RELAY_FROM the packet was not relayed to us: a RELAY_HMAC
        // (with the RELAY_TO a relay left in, as HIPL's does when it
        // forwards its client's packet) means nothing here; both lie
        // outside every signature and MAC.
        if !from {
            return Ok(None);
        }
        if !tag || inc.udp_port.is_none() {
            return Err(DropReason::BadRelayHmac);
        }
        let local = pk.receiver_hit();
        if local.is_null() {
            return Err(DropReason::Policy);
        }
        self.granted_servers(local, RegType::RelayUdpHip)
            .find(|pair| {
                self.assocs
                    .get(pair)
                    .filter(|a| a.driver.state() == State::Established)
                    .is_some_and(|a| match (&a.keys, a.rhash) {
                        (Some(k), Some(rhash)) => {
                            let (ours, theirs) = k.hip_keys();
                            let ok = |key: &[u8]| {
                                protect::check_relay_hmac(pk.as_bytes(), rhash, key).is_ok()
                            };
                            ok(&theirs.integ)
                                || (a.profile.server_hmac_either_key() && ok(&ours.integ))
                        }
                        _ => false,
                    })
            })
            .map(Some)
            .ok_or(DropReason::BadRelayHmac)
    }

    /// Control Relay Client: the route back through the relay of `relay_pair`
    /// ([`Self::relay_hmac_check`] verified the packet's RELAY_HMAC) to the
    /// transport address in its RELAY_FROM (RFC 9028 section 4.5).
    pub(super) fn relayed_origin(
        &self,
        inc: &Incoming<'_>,
        repr: &HipRepr,
        relay_pair: (Hit, Hit),
    ) -> Result<RelayRoute, DropReason> {
        let Some(ParamRepr::RelayFrom(from)) = repr.param(ParamType::RelayFrom) else {
            return Err(DropReason::BadRelayHmac);
        };
        let Some(relay_port) = inc.udp_port else {
            return Err(DropReason::BadRelayHmac);
        };
        let peer = ip_of(from.address);
        if peer.is_unspecified() || (from.port != 0 && from.protocol != UDP) {
            return Err(DropReason::Malformed);
        }
        Ok(RelayRoute {
            relay_pair,
            relay: (inc.src, relay_port),
            local: inc.dst,
            peer: (peer, from.port),
        })
    }

    /// Control Relay Client answering an I2 that came through our relay: the
    /// R2 goes back through the relay (RFC 9028 section 4.5) and, when the
    /// Initiator reached the relay over UDP, a copy of it goes straight from
    /// `src` to the Initiator's transport address (the relay's RELAY_FROM).
    ///
    /// Not in RFC 9028, which leaves the data path of a base exchange
    /// without connectivity checks to the Responder's R1 locator (section
    /// 4.7.2): the copy opens our NAT toward the Initiator, and an Initiator
    /// that sees the R2 from this transport address checks it with
    /// ECHO_REQUEST_SIGNED (RFC 8046 section 5.4) and moves there
    /// ([`Endpoint::check_r2_source`]), so that its ESP reaches us directly
    /// instead of the relay, which forwards control packets only. This is
    /// the peer-reflexive discovery of ICE (RFC 9028 section 4.6) for one
    /// candidate pair. One packet per puzzle-paid I2; a peer that does not
    /// expect it drops the second R2 as a replay.
    pub(super) fn r2_direct(&mut self, src: IpAddr, r2: &[u8]) {
        let Some(route) = self.relay_reply else {
            return;
        };
        if route.peer.1 == 0 || route.peer.0.is_ipv4() != src.is_ipv4() {
            return;
        }
        let mut bytes = r2.to_vec();
        // Over UDP the checksum is zero (RFC 5770 section 5.1).
        if let Some(c) = bytes.get_mut(4..6) {
            c.fill(0);
        }
        self.counters.r2_direct_sent += 1;
        self.transmit_direct(src, route.peer.0, Some(route.peer.1), bytes);
    }

    /// Control Relay Client: re-sends our R2 straight to the peer of `pair`
    /// when its punch timer is due ([`crate::association::context::RelayPath`]),
    /// while the peer has not answered directly and the R2 is still kept.
    pub(super) fn punch_if_due(&mut self, now: Instant, pair: (Hit, Hit)) {
        let Some(a) = self.assocs.get_mut(&pair) else {
            return;
        };
        let Some(p) = a.via_relay.as_deref_mut() else {
            return;
        };
        if p.punch.poll(now) != RetransmitOutcome::Resend {
            return;
        }
        let Some(mut bytes) = a.r2.clone() else {
            p.punch = Retransmit::new(RetransmitConfig::PUNCH);
            return;
        };
        let route = p.route;
        if let Some(c) = bytes.get_mut(4..6) {
            c.fill(0);
        }
        self.counters.r2_direct_sent += 1;
        self.transmit_direct(route.local, route.peer.0, Some(route.peer.1), bytes);
    }

    /// Control Relay Client: a packet of `pair` whose HIP_MAC verified came
    /// straight from the peer's transport address, not through the relay.
    /// The direct path works both ways (our R2 copy reached the peer, which
    /// answered from there), so our HIP packets to the peer stop going
    /// through the relay; NAT keepalives then keep our NAT's mapping toward
    /// the peer alive.
    pub(super) fn direct_from_peer(&mut self, pair: (Hit, Hit), inc: &Incoming<'_>) {
        if let Some(a) = self.assocs.get_mut(&pair) {
            if a.via_relay.is_some() && inc.src == a.peer_locator && inc.udp_port == a.udp_port {
                a.via_relay = None;
                self.esp_direct_again(pair);
            }
        }
    }

    /// Control Relay Client: a packet for `dst` that belongs to an exchange
    /// through our relay goes to the relay with RELAY_TO and RELAY_HMAC (RFC
    /// 9028 section 4.5). Returns the (src, dst, udp, bytes) to send, the
    /// arguments unchanged when the packet is not relayed.
    pub(super) fn through_relay(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        udp_port: Option<u16>,
        bytes: Vec<u8>,
        route: Option<RelayRoute>,
    ) -> (IpAddr, IpAddr, Option<u16>, Vec<u8>) {
        let Some(route) = route.filter(|r| r.peer.0 == dst) else {
            return (src, dst, udp_port, bytes);
        };
        let key = self.assocs.get(&route.relay_pair).and_then(|a| {
            let k = a.keys.as_ref()?;
            Some((a.rhash?, k.hip_keys().0.integ.to_vec()))
        });
        let Some((rhash, key)) = key else {
            // The relay association is gone: nothing to sign with.
            self.counters.build_failed += 1;
            return (src, dst, udp_port, bytes);
        };
        // Appended in place; on failure cut back to the packet as it was.
        let (len, hdr_len) = (bytes.len(), bytes.get(1).copied());
        let mut out = bytes;
        let to = TransportAddr {
            port: route.peer.1,
            protocol: if route.peer.1 == 0 { 0 } else { UDP },
            reserved: 0,
            address: raw_of(route.peer.0),
        };
        let built = (|| {
            append_param(&mut out, &ParamRepr::RelayTo(to)).ok()?;
            let covered = cover::below(&out, ParamType::RelayHmac.value()).ok()?;
            let tag = mac::compute(rhash, &key, &covered);
            append_param(&mut out, &ParamRepr::RelayHmac(tag)).ok()
        })();
        if built.is_none() || out.len() < HEADER_LEN {
            self.counters.build_failed += 1;
            out.truncate(len);
            if let (Some(b), Some(h)) = (out.get_mut(1), hdr_len) {
                *b = h;
            }
            return (src, dst, udp_port, out);
        }
        // Over UDP the checksum is zero (RFC 5770 section 5.1).
        out[4..6].fill(0);
        self.counters.relayed_sent += 1;
        (route.local, route.relay.0, Some(route.relay.1), out)
    }
}

#[cfg(test)]
mod tests {
    use super::forwardable;
    use std::net::IpAddr;

    #[test]
    fn relay_to_names_only_unicast_addresses_off_this_host() {
        for ok in ["203.0.113.7", "198.51.100.1", "2001:db8::7"] {
            assert!(forwardable(ok.parse::<IpAddr>().unwrap()), "{ok}");
        }
        for bad in [
            "127.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "ff02::1",
        ] {
            assert!(!forwardable(bad.parse::<IpAddr>().unwrap()), "{bad}");
        }
    }
}
