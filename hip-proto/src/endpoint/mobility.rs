//! Host mobility with UPDATE (RFC 8046 section 3.2.1, "Mobility with a Single
//! SA Pair (No Rekeying)"; RFC 5206 for v1 peers):
//!
//! 1. the mobile host sends UPDATE with LOCATOR_SET (its new address, preferred),
//!    ESP_INFO (old SPI = new SPI) and SEQ, from the new address;
//! 2. the peer answers, to the new address, with ESP_INFO, SEQ, ACK and
//!    ECHO_REQUEST_SIGNED (address verification, section 5.4);
//! 3. the mobile host answers ACK and ECHO_RESPONSE_SIGNED; the peer then
//!    moves the association to the verified address ([`Event::LocatorChanged`]).
//!
//! Not done here: credit-based authorization while verification is pending
//! (the peer keeps sending to the old address until verified), several
//! locators per peer (multihoming, RFC 8047) and rekeying on locator change.

use std::net::IpAddr;

use super::core::{Endpoint, HitPair};
use super::event::Event;
use super::random::RandomSource;
use crate::association::{Instant, State};
use crate::registry::PacketType;
use crate::wire::{EspInfo, HipRepr, Locator, ParamRepr, ParamType};

/// Lifetime announced for our locators (RFC 8046 section 4: seconds).
const LOCATOR_LIFETIME: u32 = 7200;

/// The address a peer announces: the preferred locator, else the first one.
pub fn announced_address(repr: &HipRepr) -> Option<IpAddr> {
    let Some(ParamRepr::LocatorSet(ls)) = repr.param(ParamType::LocatorSet) else {
        return None;
    };
    ls.iter()
        .find(|l| l.preferred())
        .or_else(|| ls.first())
        .and_then(Locator::address)
}

fn as_v6(a: IpAddr) -> std::net::Ipv6Addr {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

impl Endpoint {
    /// The host's usable addresses changed (or an association was just
    /// established). For every established association: if its local locator is
    /// gone it moves to another address of the peer's family (step 1); if the
    /// set of our addresses of that family differs from what the peer was last
    /// told, an UPDATE announces them all in LOCATOR_SET, the current one
    /// preferred (RFC 8047 multihoming: the peer keeps the others as failover
    /// candidates). Returns how many UPDATEs were sent.
    pub fn update_locators(
        &mut self,
        now: Instant,
        addrs: &[IpAddr],
        random: &mut dyn RandomSource,
    ) -> usize {
        self.clock = self.clock.max(now);
        let pairs: Vec<HitPair> = self.assocs.keys().copied().collect();
        self.update_locators_of(now, &pairs, addrs, random)
    }

    /// [`Endpoint::update_locators`] for the associations of `pairs` only
    /// (e.g. one that was just established: announcing to every other
    /// association would cost a walk over all of them per base exchange).
    pub fn update_locators_of(
        &mut self,
        now: Instant,
        pairs: &[HitPair],
        addrs: &[IpAddr],
        random: &mut dyn RandomSource,
    ) -> usize {
        self.clock = self.clock.max(now);
        let plans: Vec<(HitPair, Vec<IpAddr>)> = pairs
            .iter()
            .filter_map(|p| self.assocs.get(p).map(|a| (p, a)))
            .filter(|(_, a)| {
                matches!(a.driver.state(), State::Established | State::R2Sent) && a.rekey.is_none()
            })
            .filter_map(|(p, a)| {
                let fam: Vec<IpAddr> = addrs
                    .iter()
                    .copied()
                    .filter(|x| x.is_ipv4() == a.peer_locator.is_ipv4())
                    .collect();
                let preferred = if fam.contains(&a.local_locator) {
                    a.local_locator
                } else {
                    *fam.first()?
                };
                let mut set = vec![preferred];
                set.extend(fam.iter().copied().filter(|x| *x != preferred));
                let told = if a.upd().announced.is_empty() {
                    vec![a.local_locator]
                } else {
                    a.upd().announced.clone()
                };
                let same = told.len() == set.len()
                    && told[0] == set[0]
                    && set.iter().all(|x| told.contains(x));
                (!same).then_some((*p, set))
            })
            .collect();
        let mut sent = 0;
        for (pair, set) in plans {
            if self.announce_locators(now, pair, &set, random).is_ok() {
                sent += 1;
            } else {
                self.counters.build_failed += 1;
            }
        }
        sent
    }

    fn announce_locators(
        &mut self,
        now: Instant,
        pair: HitPair,
        set: &[IpAddr],
        random: &mut dyn RandomSource,
    ) -> Result<(), super::protect::BuildError> {
        let rekey = self.cfg.rekey_on_locator_change
            && self
                .assocs
                .get(&pair)
                .is_some_and(|a| a.local_locator != set[0]);
        let fresh = if rekey { self.fresh_spi(random) } else { 0 };
        let Some(a) = self.assocs.get_mut(&pair) else {
            return Ok(());
        };
        let new = set[0];
        let moved = new != a.local_locator;
        a.local_locator = new;
        a.upd_mut().announced = set.to_vec();
        let index = a
            .keys
            .as_ref()
            .map_or(0, |k| u16::try_from(k.next_index).unwrap_or(u16::MAX));
        let seq = a.upd_mut().update.next_seq();
        let mut r = HipRepr::new(PacketType::Update, a.wire_version(), pair.0, pair.1);
        // Mobile-initiated rekey (RFC 8046 section 3.2.2): a new SPI with the move.
        let new_spi = if rekey { fresh } else { a.spi_in };
        r.params.push(ParamRepr::EspInfo(EspInfo {
            reserved: 0,
            keymat_index: index,
            old_spi: a.spi_in,
            new_spi,
        }));
        let mut ready = None;
        if rekey {
            a.rekey = Some(Box::new(crate::association::PendingRekey {
                new_spi_in: new_spi,
                keymat_index: index,
                ..Default::default()
            }));
            ready = a.keys.as_ref().and_then(|k| {
                let (_, inn) = crate::association::keys::esp_keys_at(k, None, index).ok()?;
                Some(Event::InboundSaReady {
                    peer_hit: pair.1,
                    suite: k.esp.suite,
                    spi: new_spi,
                    keys: inn,
                })
            });
        }
        let spi = new_spi;
        r.insert_ordered(ParamRepr::LocatorSet(
            set.iter()
                .enumerate()
                .map(|(n, x)| Locator::esp_spi(spi, as_v6(*x), n == 0, LOCATOR_LIFETIME))
                .collect(),
        ));
        r.insert_ordered(ParamRepr::Seq(seq));
        let bytes = self.protect_and_emit(pair, &mut r, random)?;
        if let Some(e) = ready {
            self.event(e);
        }
        if let Some(a) = self.assocs.get_mut(&pair) {
            a.upd_mut().update_packet = Some(bytes.clone());
            a.upd_mut().update_dst = None;
            a.upd_mut().update_retx.start(now);
            let (s, d, u) = (a.local_locator, a.peer_locator, a.udp_port);
            self.transmit(s, d, u, bytes);
            if moved {
                self.event(Event::LocalLocatorChanged {
                    peer_hit: pair.1,
                    locator: new,
                });
            }
        }
        Ok(())
    }

    /// The path to `peer` stopped working (no inbound ESP while sending, as seen
    /// by the caller): probe the next candidate locator the peer announced with
    /// an UPDATE carrying ECHO_REQUEST_SIGNED, from the local address `local_for`
    /// gives for it, and announce that address (RFC 8047 failover). The
    /// association moves once the echo comes back ([`Event::LocatorChanged`]).
    /// Returns false when there is no candidate to try.
    pub fn failover(
        &mut self,
        now: Instant,
        peer: crate::Hit,
        local_for: &dyn Fn(IpAddr) -> Option<IpAddr>,
        random: &mut dyn RandomSource,
    ) -> bool {
        self.clock = self.clock.max(now);
        let Some((&pair, a)) = self
            .assocs
            .iter()
            .find(|((_, p), a)| *p == peer && a.driver.state() == State::Established)
        else {
            return false;
        };
        // Rotate through the candidates, skipping the current (dead) locator.
        let Some((cand, local)) = a
            .upd()
            .peer_candidates
            .iter()
            .filter(|c| **c != a.peer_locator)
            .find_map(|c| Some((*c, local_for(*c)?)))
        else {
            return false;
        };
        let first = a.upd().home.is_none();
        let (old_local, old_peer) = (a.local_locator, a.peer_locator);
        if !self.probe_locator(now, pair, cand, local, random) {
            return false;
        }
        if let Some(a) = self.assocs.get_mut(&pair) {
            if first {
                a.upd_mut().home = Some((old_local, old_peer));
            }
            // The old locator stays a candidate.
            a.upd_mut().peer_candidates.retain(|c| *c != cand);
            if !a.upd().peer_candidates.contains(&old_peer) {
                a.upd_mut().peer_candidates.push(old_peer);
            }
        }
        self.counters.failovers += 1;
        true
    }

    /// Asks `peer` to prove that the path in use still works: an UPDATE with
    /// SEQ and ECHO_REQUEST_SIGNED to its current locator from ours (RFC 8046
    /// section 5.4 reachability check, used as a heartbeat). The answer gives
    /// [`Event::PathConfirmed`]; no answer within the UPDATE retransmissions
    /// gives `Event::Failed` with `UpdateTimeout`. The caller sends one when
    /// it sends data but hears none back, and fails over only when the
    /// heartbeat goes unanswered, so one-way traffic or a first packet after
    /// a long idle period never moves the association. Returns false when
    /// there is no established association or an UPDATE is outstanding.
    pub fn heartbeat(
        &mut self,
        now: Instant,
        peer: crate::Hit,
        random: &mut dyn RandomSource,
    ) -> bool {
        self.clock = self.clock.max(now);
        let Some((&pair, a)) = self.assocs.iter().find(|((_, p), a)| {
            *p == peer
                && a.driver.state() == State::Established
                && a.upd().update_packet.is_none()
                && a.upd().pending_locator.is_none()
        }) else {
            return false;
        };
        let (dst, local) = (a.peer_locator, a.local_locator);
        let mut nonce = [0u8; 16];
        random.fill(&mut nonce);
        let Some(a) = self.assocs.get_mut(&pair) else {
            return false;
        };
        // No LOCATOR_SET: a heartbeat announces nothing, so the peer keeps
        // every locator of ours it knows (a LOCATOR_SET listing only the
        // current one would deprecate the others, RFC 8046 section 5.2).
        a.upd_mut().pending_locator = Some((dst, nonce));
        let seq = a.upd_mut().update.next_seq();
        let mut r = HipRepr::new(PacketType::Update, a.wire_version(), pair.0, pair.1);
        r.insert_ordered(ParamRepr::Seq(seq));
        r.insert_ordered(ParamRepr::EchoRequestSigned(nonce.to_vec()));
        let sent = self.send_update(now, pair, &mut r, local, dst, random);
        if !sent {
            if let Some(a) = self.assocs.get_mut(&pair) {
                a.upd_mut().pending_locator = None;
            }
        }
        sent
    }

    /// After a failover, try the original path again (RFC 8047: back to the
    /// preferred locators once they work): for every association away from
    /// its home path, with no UPDATE outstanding, whose home peer locator is
    /// reachable from the home local locator again (`local_for`), probe it.
    /// The caller runs this every few seconds. Returns how many probes went out.
    pub fn return_home(
        &mut self,
        now: Instant,
        local_for: &dyn Fn(IpAddr) -> Option<IpAddr>,
        random: &mut dyn RandomSource,
    ) -> usize {
        self.clock = self.clock.max(now);
        let tries: Vec<(HitPair, IpAddr, IpAddr)> = self
            .assocs
            .iter()
            .filter(|(_, a)| {
                a.driver.state() == State::Established
                    && a.upd().update_packet.is_none()
                    && a.upd().pending_locator.is_none()
            })
            .filter_map(|(p, a)| {
                let (l, r) = a.upd().home?;
                (a.peer_locator != r && local_for(r) == Some(l)).then_some((*p, r, l))
            })
            .collect();
        tries
            .into_iter()
            .filter(|(pair, r, l)| self.probe_locator(now, *pair, *r, *l, random))
            .count()
    }

    /// Sends UPDATE with SEQ, ECHO_REQUEST_SIGNED and LOCATOR_SET(`local`) from
    /// `local` to the peer's locator `cand`; moves when the echo returns.
    fn probe_locator(
        &mut self,
        now: Instant,
        pair: HitPair,
        cand: IpAddr,
        local: IpAddr,
        random: &mut dyn RandomSource,
    ) -> bool {
        let mut nonce = [0u8; 16];
        random.fill(&mut nonce);
        let a = match self.assocs.get_mut(&pair) {
            Some(a) => a,
            None => return false,
        };
        a.upd_mut().pending_locator = Some((cand, nonce));
        a.upd_mut().pending_udp_port = None;
        a.local_locator = local;
        a.upd_mut().announced = vec![local];
        let index = a
            .keys
            .as_ref()
            .map_or(0, |k| u16::try_from(k.next_index).unwrap_or(u16::MAX));
        let seq = a.upd_mut().update.next_seq();
        let spi = a.spi_in;
        let mut r = HipRepr::new(PacketType::Update, a.wire_version(), pair.0, pair.1);
        r.params.push(ParamRepr::EspInfo(EspInfo {
            reserved: 0,
            keymat_index: index,
            old_spi: spi,
            new_spi: spi,
        }));
        r.insert_ordered(ParamRepr::LocatorSet(vec![Locator::esp_spi(
            spi,
            as_v6(local),
            true,
            LOCATOR_LIFETIME,
        )]));
        r.insert_ordered(ParamRepr::Seq(seq));
        r.insert_ordered(ParamRepr::EchoRequestSigned(nonce.to_vec()));
        self.send_update(now, pair, &mut r, local, cand, random)
    }

    /// Signs `r`, sends it from `local` to `dst` and keeps it for
    /// retransmission until it is acknowledged. Same encapsulation as the
    /// association: a peer reached over UDP (RFC 5770) is sent to over UDP
    /// at its port. False (counted) when the packet cannot be built.
    fn send_update(
        &mut self,
        now: Instant,
        pair: HitPair,
        r: &mut HipRepr,
        local: IpAddr,
        dst: IpAddr,
        random: &mut dyn RandomSource,
    ) -> bool {
        match self.protect_and_emit_to(pair, r, Some(dst), random) {
            Ok(bytes) => {
                let mut udp = None;
                if let Some(a) = self.assocs.get_mut(&pair) {
                    a.upd_mut().update_packet = Some(bytes.clone());
                    a.upd_mut().update_dst = Some(dst);
                    a.upd_mut().update_retx.start(now);
                    udp = a.udp_port;
                }
                self.transmit(local, dst, udp, bytes);
                true
            }
            Err(_) => {
                self.counters.build_failed += 1;
                false
            }
        }
    }

    /// Verifies a transport address of the peer of `pair` (`dst`, its UDP
    /// port or None for raw HIP) before the association uses it (RFC 8046
    /// section 5.4): an UPDATE carrying SEQ and ECHO_REQUEST_SIGNED goes
    /// there from `local`; the peer's
    /// ECHO_RESPONSE_SIGNED moves the association
    /// ([`Event::LocatorChanged`] in [`Self::locator_verified`]). Used for
    /// the source of a new I2 that replaced an established association from
    /// another address than its verified one (RFC 7401 section 4.4.2), for
    /// the source of an R2 from another address than the one our I2 went to
    /// ([`Self::check_r2_source`]), and for a transport locator the R1
    /// offered ([`Self::check_offered_transport`]). With `credit`, data may
    /// go to `dst` within the credit meanwhile ([`Event::LocatorUnverified`],
    /// RFC 8046 section 3.3.2: the peer may have moved there); without, the
    /// path in use stays the only one (a candidate found through a relay:
    /// what is sent to it before the check passes is lost at a NAT).
    pub(super) fn verify_source(
        &mut self,
        now: Instant,
        pair: HitPair,
        local: IpAddr,
        (dst, udp_port): (IpAddr, Option<u16>),
        credit: bool,
        random: &mut dyn RandomSource,
    ) {
        let mut nonce = [0u8; 16];
        random.fill(&mut nonce);
        let Some(a) = self.assocs.get_mut(&pair) else {
            return;
        };
        a.upd_mut().pending_locator = Some((dst, nonce));
        a.upd_mut().pending_udp_port = Some(udp_port);
        let mut r = HipRepr::new(PacketType::Update, a.wire_version(), pair.0, pair.1);
        r.params.push(ParamRepr::Seq(a.upd_mut().update.next_seq()));
        r.insert_ordered(ParamRepr::EchoRequestSigned(nonce.to_vec()));
        let Ok(bytes) = self.protect_and_emit_to(pair, &mut r, Some(dst), random) else {
            self.counters.build_failed += 1;
            return;
        };
        if let Some(a) = self.assocs.get_mut(&pair) {
            a.upd_mut().update_packet = Some(bytes.clone());
            a.upd_mut().update_dst = Some(dst);
            a.upd_mut().update_retx.start(now);
        }
        if credit {
            self.event(Event::LocatorUnverified {
                peer_hit: pair.1,
                locator: dst,
            });
        }
        self.transmit(local, dst, udp_port, bytes);
    }

    /// Step 2 at the peer: a new address in LOCATOR_SET is verified with an
    /// ECHO_REQUEST_SIGNED sent to it (added to `reply`). Returns where the reply goes.
    pub(super) fn verify_announced_locator(
        &mut self,
        pair: HitPair,
        inc: &super::core::Incoming<'_>,
        repr: &HipRepr,
        reply: &mut HipRepr,
        random: &mut dyn RandomSource,
    ) -> Option<IpAddr> {
        // Over UDP from an address the peer does not list, a NAT translated
        // it: the peer is its NAT mapping, not what it lists
        // ([`super::udp_mapping`]).
        if self.over_udp(pair, inc) && !super::udp_mapping::lists(repr, inc.src) {
            return self.verify_udp_source(pair, inc, reply, random);
        }
        let announced = announced_address(repr)?;
        let a = self.assocs.get_mut(&pair)?;
        let fam = a.local_locator.is_ipv4();
        let listed: Vec<IpAddr> = match repr.param(ParamType::LocatorSet) {
            Some(ParamRepr::LocatorSet(ls)) => ls.iter().filter_map(Locator::address).collect(),
            _ => Vec::new(),
        };
        // RFC 8046 section 5.2 (RFC 5206 section 5.2 step 4): addresses the
        // set no longer lists are deprecated: no longer failover candidates,
        // and no longer a home path to return to.
        a.upd_mut().peer_candidates.retain(|c| listed.contains(c));
        a.peer_locator_withdrawn = !listed.contains(&a.peer_locator);
        if a.upd().home.is_some_and(|(_, r)| !listed.contains(&r)) {
            a.upd_mut().home = None;
        }
        for x in &listed {
            if *x != a.peer_locator && x.is_ipv4() == fam && !a.upd().peer_candidates.contains(x) {
                a.upd_mut().peer_candidates.push(*x);
            }
        }
        // The preferred locator; without one of our family (HIPL sets no P bit
        // and may list an IPv4 address first), the first listed of our family.
        let new = if announced.is_ipv4() == fam {
            announced
        } else {
            *listed.iter().find(|x| x.is_ipv4() == fam)?
        };
        // Nothing new to verify: a plain ACK does (RFC 8046). A peer that
        // expects every LOCATOR to be answered with an echo (HIPL 1.0.8 keeps
        // resending its UPDATE otherwise) gets its current locator verified.
        if new == a.peer_locator && !a.profile.echo_every_locator_set() {
            return None;
        }
        self.start_verification(pair, new, None, reply, random)
    }

    /// Starts verifying the peer's locator `new` (RFC 8046 section 5.4):
    /// ECHO_REQUEST_SIGNED with a fresh nonce (and ESP_INFO, SEQ when the
    /// reply lacks them) into `reply`; `udp_port` is the encapsulation to
    /// adopt with it (`Some(port)` for a new NAT mapping, RFC 5770).
    pub(super) fn start_verification(
        &mut self,
        pair: HitPair,
        new: IpAddr,
        udp_port: Option<Option<u16>>,
        reply: &mut HipRepr,
        random: &mut dyn RandomSource,
    ) -> Option<IpAddr> {
        let a = self.assocs.get_mut(&pair)?;
        let mut nonce = [0u8; 16];
        random.fill(&mut nonce);
        a.upd_mut().pending_locator = Some((new, nonce));
        a.upd_mut().pending_udp_port = udp_port;
        if reply.param(ParamType::EspInfo).is_none() {
            let index = a
                .keys
                .as_ref()
                .map_or(0, |k| u16::try_from(k.next_index).unwrap_or(u16::MAX));
            reply.insert_ordered(ParamRepr::EspInfo(EspInfo {
                reserved: 0,
                keymat_index: index,
                old_spi: a.spi_in,
                new_spi: a.spi_in,
            }));
        }
        if reply.param(ParamType::Seq).is_none() {
            reply.insert_ordered(ParamRepr::Seq(a.upd_mut().update.next_seq()));
        }
        reply.insert_ordered(ParamRepr::EchoRequestSigned(nonce.to_vec()));
        self.event(Event::LocatorUnverified {
            peer_hit: pair.1,
            locator: new,
        });
        Some(new)
    }

    /// Step 3 at the peer: an ECHO_RESPONSE_SIGNED that echoes our nonce moves
    /// the association to the verified address.
    pub(super) fn locator_verified(&mut self, pair: HitPair, repr: &HipRepr) {
        let Some(ParamRepr::EchoResponseSigned(echo)) = repr.param(ParamType::EchoResponseSigned)
        else {
            return;
        };
        let Some(a) = self.assocs.get_mut(&pair) else {
            return;
        };
        let Some((addr, nonce)) = a.upd().pending_locator else {
            return;
        };
        if subtle::ConstantTimeEq::ct_eq(&nonce[..], &echo[..]).into() {
            a.upd_mut().pending_locator = None;
            a.peer_transport_candidate = None;
            let old = std::mem::replace(&mut a.peer_locator, addr);
            a.upd_mut().update_dst = None;
            // The source of a replacing I2 brings its encapsulation along.
            let from_i2 = a.upd_mut().pending_udp_port.take();
            let old_port = a.udp_port;
            if let Some(port) = from_i2 {
                a.udp_port = port;
            }
            if let (Some(p), true) = (a.udp_port, a.udp_port != old_port) {
                self.event(Event::UdpPortChanged {
                    peer_hit: pair.1,
                    locator: addr,
                    udp_port: p,
                });
            }
            let Some(a) = self.assocs.get_mut(&pair) else {
                return;
            };
            if old == addr {
                // The locator in use, verified again: a heartbeat's answer
                // (or a `hipl` peer's echo).
                self.event(Event::PathConfirmed {
                    peer_hit: pair.1,
                    locator: addr,
                });
                return;
            }
            a.moved = true;
            // The previous locator stays a candidate (failover and back);
            // not the one a restarted peer used before it lost its state,
            // nor one the peer's LOCATOR_SET no longer lists (seen live with
            // OpenHIP: hipd probed the address it had moved away from).
            a.upd_mut().peer_candidates.retain(|c| *c != addr);
            let withdrawn = std::mem::take(&mut a.peer_locator_withdrawn);
            if from_i2.is_none() && !withdrawn && !a.upd().peer_candidates.contains(&old) {
                a.upd_mut().peer_candidates.push(old);
            }
            if a.upd().home == Some((a.local_locator, addr)) {
                a.upd_mut().home = None;
            }
            self.counters.locator_changes += 1;
            self.event(Event::LocatorChanged {
                peer_hit: pair.1,
                locator: addr,
            });
        }
    }
}
