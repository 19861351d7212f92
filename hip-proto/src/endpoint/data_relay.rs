//! The HIP Data Relay Server and Data Relay Client (RFC 9028 sections 4.1,
//! 4.12 and 5.13; registration type RELAY_UDP_ESP = 3): ESP between two
//! hosts that cannot reach each other directly (both behind NATs that map
//! per destination) goes through the relay.
//!
//! * Registration (RFC 9028 section 4.1): a client registers for
//!   [`RegType::RelayUdpEsp`] over UDP, like the Control Relay
//!   ([`super::relay`]). The grant carries RELAYED_ADDRESS: the transport
//!   address at which the relay takes ESP for the client. Here it is the
//!   relay's own UDP 10500 address the registration came to; ESP is told
//!   apart by SPI (RFC 9028 section 4.12.3), so one address serves every
//!   client, and each end keeps using the one NAT mapping it already has
//!   toward the relay (the relay-bound mapping of a host behind a symmetric
//!   NAT is the only one the relay can reach).
//! * Permissions (RFC 9028 section 4.12.1): nothing is forwarded until the
//!   client asks for it with an UPDATE carrying PEER_PERMISSION: the peer's
//!   transport address and the two SPIs. The relay then forwards ESP with
//!   the client's inbound SPI arriving from the peer's transport address to
//!   the client's registered transport address, and ESP with the client's
//!   outbound SPI arriving from the client to the peer, from the relay's
//!   address (one packet out per packet in). A permission is refused when
//!   the client holds no RELAY_UDP_ESP registration, the address is not a
//!   forwardable unicast UDP address, an SPI is zero or in use by another
//!   permission or by one of the relay's own associations (conflicting
//!   SPIs, section 4.12.3), or the client has [`MAX_PERMISSIONS`]; a new
//!   permission for the same peer address replaces the old one (a rekey
//!   brings new SPIs). Permissions end with the registration or the
//!   client's association. The forwarding itself is the caller's data
//!   plane: [`Endpoint::relay_forwards`] lists what to match, and
//!   [`Event::RelayForwardsChanged`] says when the list changed.
//! * Data Relay Client: a Responder reached through the Control Relay
//!   whose relay also granted RELAY_UDP_ESP asks for a permission for the
//!   Initiator (its RELAY_FROM transport address, the SPIs of the new
//!   association) and sends its ESP to the relay
//!   ([`Event::EspRelayed`]); the Initiator's ESP goes to the relay already
//!   (the R1 came from there). A rekey asks again with the new SPIs. Once an
//!   authenticated packet of the peer arrives directly, ESP goes directly
//!   too ([`Event::UdpPortChanged`] back to the peer's address).
//!
//! Section numbers are from our reading of RFC 9028 (the stored corpora
//! hold only its front page); see `rfc-notes/rfc5770-9028.md`.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::core::{Endpoint, HitPair};
use super::event::Event;
use super::random::RandomSource;
use super::relay::{forwardable, socket_of, transport_addr};
use crate::association::{Instant, State};
use crate::wire::{HipRepr, ParamRepr, PeerPermission, RegType};
use crate::Hit;

/// Most permissions one client holds at once (bounded state per client).
pub const MAX_PERMISSIONS: usize = 64;

/// How long a client waits before asking again while the UPDATE slot of
/// its association with the relay is taken.
const PERMISSION_RETRY: std::time::Duration = std::time::Duration::from_millis(200);

/// One permission a client holds at the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Permission {
    peer: SocketAddr,
    ospi: u32,
    ispi: u32,
}

/// One direction of a permission, as the data plane matches it: ESP with
/// `spi` from `from` is sent on to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RelayForward {
    /// The SPI in the ESP header.
    pub spi: u32,
    /// The transport address the packet must come from.
    pub from: SocketAddr,
    /// Where it goes.
    pub to: SocketAddr,
    /// The client whose permission this is.
    pub client: Hit,
}

/// Data Relay Server state: permissions by client.
#[derive(Debug, Default)]
pub(super) struct DataRelayServer {
    by_client: HashMap<Hit, Vec<Permission>>,
    /// Every permission's SPIs, rebuilt when the permissions change
    /// ([`Self::reindex`]): every new SPI of ours is looked up here.
    spis: std::collections::HashSet<u32>,
}

impl DataRelayServer {
    /// Whether `spi` is one of a permission's SPIs (a new SPI of our own
    /// must not be: the data plane would not know whose packet it is). A
    /// hash look-up.
    pub(super) fn spi_taken(&self, spi: u32) -> bool {
        self.spis.contains(&spi)
    }

    /// Rebuilds the SPI index after the permissions changed.
    fn reindex(&mut self) {
        self.spis = self
            .by_client
            .values()
            .flatten()
            .flat_map(|p| [p.ispi, p.ospi])
            .collect();
    }
}

/// Data Relay Client state.
#[derive(Debug, Default)]
pub(super) struct DataRelayClient {
    /// Associations whose ESP goes through a relay: peer pair -> relay pair.
    relayed: HashMap<HitPair, HitPair>,
    /// Permissions still to ask for: peer pair -> when.
    pending: HashMap<HitPair, Instant>,
}

/// Why the relay refused a PEER_PERMISSION (counted, not answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NotRegistered,
    BadAddress,
    SpiConflict,
    Full,
}

impl DataRelayClient {
    /// Forgets the relayed associations with `peer` (closed).
    pub(super) fn forget_peer(&mut self, peer: &Hit) {
        self.relayed.retain(|p, _| p.1 != *peer);
        self.pending.retain(|p, _| p.1 != *peer);
    }
}

impl Endpoint {
    // ----- server (RFC 9028 section 4.12.1) -----

    /// Data Relay Server: the PEER_PERMISSION parameters of an authenticated,
    /// new UPDATE from `pair.1` (RFC 9028 section 4.12.1). Each one is
    /// installed or refused and counted; the UPDATE is acknowledged either
    /// way.
    pub(super) fn permit(&mut self, now: Instant, pair: HitPair, repr: &HipRepr) {
        let asked: Vec<PeerPermission> = repr
            .params
            .iter()
            .filter_map(|p| match p {
                ParamRepr::PeerPermission(pp) => Some(pp.clone()),
                _ => None,
            })
            .collect();
        if asked.is_empty() {
            return;
        }
        let mut changed = false;
        for pp in asked {
            match self.check_permission(now, pair, &pp) {
                Ok(p) => {
                    // The permission it replaces (a rekey's old SPIs) stays
                    // while packets on the old SAs are still under way; an
                    // older one goes.
                    let list = self.data_relay.by_client.entry(pair.1).or_default();
                    let last_old = list.iter().rposition(|q| q.peer == p.peer);
                    let mut i = 0;
                    list.retain(|q| {
                        let keep = q.peer != p.peer || Some(i) == last_old;
                        i += 1;
                        keep
                    });
                    list.push(p);
                    self.counters.relay_permissions += 1;
                    changed = true;
                }
                Err(_) => self.counters.relay_permissions_refused += 1,
            }
        }
        if changed {
            self.data_relay.reindex();
            self.event(Event::RelayForwardsChanged);
        }
    }

    fn check_permission(
        &self,
        now: Instant,
        pair: HitPair,
        pp: &PeerPermission,
    ) -> Result<Permission, Refusal> {
        if self
            .registrar
            .registered(&pair.1, RegType::RelayUdpEsp, now)
            != Some(pair.0)
        {
            return Err(Refusal::NotRegistered);
        }
        let peer = socket_of(&pp.peer)
            .filter(|_| pp.peer.protocol == 17)
            .filter(|s| forwardable(s.ip()))
            .ok_or(Refusal::BadAddress)?;
        let a = self.assocs.get(&pair).ok_or(Refusal::NotRegistered)?;
        if a.udp_port.is_none() || peer.is_ipv4() != a.peer_locator.is_ipv4() {
            return Err(Refusal::BadAddress);
        }
        let theirs = self.data_relay.by_client.get(&pair.1);
        let replaced = theirs.and_then(|l| l.iter().find(|q| q.peer == peer));
        // The client's own permissions for this peer are replaced, so their
        // SPIs do not clash.
        let clash = |spi: u32| {
            spi == 0
                || self.assocs.spi_in_use(spi)
                || self
                    .data_relay
                    .by_client
                    .iter()
                    .flat_map(|(c, l)| l.iter().map(move |q| (c, q)))
                    .filter(|(c, q)| !(**c == pair.1 && q.peer == peer))
                    .any(|(_, q)| q.ispi == spi || q.ospi == spi)
        };
        if pp.ispi == pp.ospi || clash(pp.ispi) || clash(pp.ospi) {
            return Err(Refusal::SpiConflict);
        }
        if replaced.is_none() && theirs.is_some_and(|l| l.len() >= MAX_PERMISSIONS) {
            return Err(Refusal::Full);
        }
        Ok(Permission {
            peer,
            ospi: pp.ospi,
            ispi: pp.ispi,
        })
    }

    /// Data Relay Server: what the data plane forwards now, two entries per
    /// permission, for clients with a live registration and association.
    /// The client's transport address is its association's, so it follows
    /// the client's NAT rebinding ([`Event::RelayForwardsChanged`] is
    /// raised when it changes).
    pub fn relay_forwards(&self) -> Vec<RelayForward> {
        let now = self.clock;
        let mut v = Vec::new();
        for (client, list) in &self.data_relay.by_client {
            let Some(local) = self.registrar.registered(client, RegType::RelayUdpEsp, now) else {
                continue;
            };
            let Some(a) = self.assocs.get(&(local, *client)) else {
                continue;
            };
            let Some(port) = a.udp_port else { continue };
            let at = SocketAddr::new(a.peer_locator, port);
            for p in list {
                v.push(RelayForward {
                    spi: p.ispi,
                    from: p.peer,
                    to: at,
                    client: *client,
                });
                v.push(RelayForward {
                    spi: p.ospi,
                    from: at,
                    to: p.peer,
                    client: *client,
                });
            }
        }
        v.sort_by_key(|f| (f.spi, f.from));
        v
    }

    /// Data Relay Server: drops the permissions of clients whose
    /// RELAY_UDP_ESP registration or association ended.
    pub(super) fn expire_permissions(&mut self, now: Instant) {
        if self.data_relay.by_client.is_empty() {
            return;
        }
        let before = self.data_relay.by_client.len();
        let live: Vec<Hit> = self
            .data_relay
            .by_client
            .keys()
            .filter(|c| {
                self.registrar
                    .registered(c, RegType::RelayUdpEsp, now)
                    .is_some_and(|l| self.assocs.get(&(l, **c)).is_some())
            })
            .copied()
            .collect();
        self.data_relay.by_client.retain(|c, _| live.contains(c));
        if self.data_relay.by_client.len() != before {
            self.data_relay.reindex();
            self.event(Event::RelayForwardsChanged);
        }
    }

    /// Data Relay Server: a client's transport address may have changed.
    pub(super) fn client_moved(&mut self, peer: &Hit) {
        if self.data_relay.by_client.contains_key(peer) {
            self.event(Event::RelayForwardsChanged);
        }
    }

    // ----- client -----

    /// Data Relay Client: the association `pair` now runs through the
    /// Control Relay `relay_pair` (we are its Responder behind the relay).
    /// With a RELAY_UDP_ESP grant there, ESP goes through the relay too: a
    /// permission is asked for and the caller told where ESP goes.
    pub(super) fn relay_esp_through(&mut self, now: Instant, pair: HitPair, relay_pair: HitPair) {
        let granted = self
            .granted_servers(pair.0, RegType::RelayUdpEsp)
            .any(|p| p == relay_pair);
        let relay = self
            .assocs
            .get(&relay_pair)
            .and_then(|a| Some(SocketAddr::new(a.peer_locator, a.udp_port?)));
        let (true, Some(relay)) = (granted, relay) else {
            return;
        };
        if self.data_relay_client.relayed.insert(pair, relay_pair) == Some(relay_pair) {
            return;
        }
        self.data_relay_client.pending.insert(pair, now);
        self.event(Event::EspRelayed {
            peer_hit: pair.1,
            relay,
        });
    }

    /// Data Relay Client: where our ESP to `peer` goes while it goes through
    /// a Data Relay (the relay's transport address), `None` when direct.
    pub fn esp_relay(&self, local: Hit, peer: Hit) -> Option<SocketAddr> {
        let relay_pair = self.data_relay_client.relayed.get(&(local, peer))?;
        let a = self.assocs.get(relay_pair)?;
        Some(SocketAddr::new(a.peer_locator, a.udp_port?))
    }

    /// Data Relay Client: the peer of `pair` reached us directly: our ESP
    /// goes straight to it again.
    pub(super) fn esp_direct_again(&mut self, pair: HitPair) {
        if self.data_relay_client.relayed.remove(&pair).is_none() {
            return;
        }
        self.data_relay_client.pending.remove(&pair);
        if let Some(a) = self.assocs.get(&pair) {
            if let Some(port) = a.udp_port {
                let locator = a.peer_locator;
                self.event(Event::UdpPortChanged {
                    peer_hit: pair.1,
                    locator,
                    udp_port: port,
                });
            }
        }
    }

    /// Data Relay Client: new SPIs (a rekey) need a new permission.
    pub(super) fn relayed_rekeyed(&mut self, now: Instant, pair: HitPair) {
        if self.data_relay_client.relayed.contains_key(&pair) {
            self.data_relay_client.pending.insert(pair, now);
        }
    }

    /// Data Relay Client: when the next permission is due.
    pub(super) fn permission_deadline(&self) -> Option<Instant> {
        self.data_relay_client.pending.values().min().copied()
    }

    /// Data Relay Client: sends the permissions that are due, each in an
    /// UPDATE with SEQ to its relay (retransmitted until acknowledged), or
    /// later when that association has an UPDATE outstanding.
    pub(super) fn permission_timers(&mut self, now: Instant, random: &mut dyn RandomSource) {
        let due: Vec<HitPair> = self
            .data_relay_client
            .pending
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(p, _)| *p)
            .collect();
        for pair in due {
            let Some(&relay_pair) = self.data_relay_client.relayed.get(&pair) else {
                self.data_relay_client.pending.remove(&pair);
                continue;
            };
            let ask = self.assocs.get(&pair).and_then(|a| {
                let route = a.via_relay.as_ref()?.route;
                (route.peer.1 != 0).then_some(PeerPermission {
                    peer: transport_addr(SocketAddr::new(route.peer.0, route.peer.1)),
                    ospi: a.spi_out,
                    ispi: a.spi_in,
                })
            });
            let Some(ask) = ask else {
                // No longer relayed (or gone): nothing to ask for.
                self.data_relay_client.pending.remove(&pair);
                continue;
            };
            let free = self.assocs.get(&relay_pair).is_some_and(|r| {
                matches!(r.driver.state(), State::Established) && r.upd().update_packet.is_none()
            });
            if !free {
                self.data_relay_client
                    .pending
                    .insert(pair, now + PERMISSION_RETRY);
                continue;
            }
            self.data_relay_client.pending.remove(&pair);
            self.counters.relay_permissions_asked += 1;
            self.send_seq_update(
                now,
                relay_pair,
                vec![ParamRepr::PeerPermission(ask)],
                random,
            );
        }
    }
}
