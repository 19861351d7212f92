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
    /// The host's usable addresses changed. Every established association whose
    /// local locator is gone moves to an address of the same family as its
    /// peer's locator and announces it with UPDATE (step 1). Returns how many
    /// associations moved.
    pub fn update_locators(
        &mut self,
        now: Instant,
        addrs: &[IpAddr],
        random: &mut dyn RandomSource,
    ) -> usize {
        let moves: Vec<(HitPair, IpAddr)> = self
            .assocs
            .iter()
            .filter(|(_, a)| {
                matches!(a.driver.state(), State::Established | State::R2Sent)
                    && !addrs.contains(&a.local_locator)
            })
            .filter_map(|(p, a)| {
                let new = addrs
                    .iter()
                    .find(|x| x.is_ipv4() == a.peer_locator.is_ipv4())?;
                Some((*p, *new))
            })
            .collect();
        let mut moved = 0;
        for (pair, new) in moves {
            if self.announce_locator(now, pair, new, random).is_ok() {
                moved += 1;
            } else {
                self.counters.build_failed += 1;
            }
        }
        moved
    }

    fn announce_locator(
        &mut self,
        now: Instant,
        pair: HitPair,
        new: IpAddr,
        random: &mut dyn RandomSource,
    ) -> Result<(), super::protect::BuildError> {
        let Some(a) = self.assocs.get_mut(&pair) else {
            return Ok(());
        };
        a.local_locator = new;
        let index = a
            .keys
            .as_ref()
            .map_or(0, |k| u16::try_from(k.next_index).unwrap_or(u16::MAX));
        let seq = a.update.next_seq();
        let mut r = HipRepr::new(PacketType::Update, a.version, pair.0, pair.1);
        r.params.push(ParamRepr::EspInfo(EspInfo {
            reserved: 0,
            keymat_index: index,
            old_spi: a.spi_in,
            new_spi: a.spi_in,
        }));
        r.insert_ordered(ParamRepr::LocatorSet(vec![Locator::esp_spi(
            a.spi_in,
            as_v6(new),
            true,
            LOCATOR_LIFETIME,
        )]));
        r.insert_ordered(ParamRepr::Seq(seq));
        let bytes = self.protect_and_emit(pair, &mut r, random)?;
        if let Some(a) = self.assocs.get_mut(&pair) {
            a.update_packet = Some(bytes.clone());
            a.update_dst = None;
            a.update_retx.start(now);
            let (s, d, u) = (a.local_locator, a.peer_locator, a.udp_port);
            self.transmit(s, d, u, bytes);
            self.event(Event::LocalLocatorChanged {
                peer_hit: pair.1,
                locator: new,
            });
        }
        Ok(())
    }

    /// Step 2 at the peer: a new address in LOCATOR_SET is verified with an
    /// ECHO_REQUEST_SIGNED sent to it (added to `reply`). Returns where the reply goes.
    pub(super) fn verify_announced_locator(
        &mut self,
        pair: HitPair,
        repr: &HipRepr,
        reply: &mut HipRepr,
        random: &mut dyn RandomSource,
    ) -> Option<IpAddr> {
        let new = announced_address(repr)?;
        let a = self.assocs.get_mut(&pair)?;
        if new == a.peer_locator || new.is_ipv4() != a.local_locator.is_ipv4() {
            return None;
        }
        let mut nonce = [0u8; 16];
        random.fill(&mut nonce);
        a.pending_locator = Some((new, nonce));
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
            reply.insert_ordered(ParamRepr::Seq(a.update.next_seq()));
        }
        reply.insert_ordered(ParamRepr::EchoRequestSigned(nonce.to_vec()));
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
        let Some((addr, nonce)) = a.pending_locator else {
            return;
        };
        if subtle::ConstantTimeEq::ct_eq(&nonce[..], &echo[..]).into() {
            a.pending_locator = None;
            a.peer_locator = addr;
            a.update_dst = None;
            self.counters.locator_changes += 1;
            self.event(Event::LocatorChanged {
                peer_hit: pair.1,
                locator: addr,
            });
        }
    }
}
