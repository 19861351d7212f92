//! CLOSE and CLOSE_ACK (RFC 7401 sections 5.3.7-5.3.8 and 6.14-6.15; RFC 5201
//! the same): CLOSE carries ECHO_REQUEST_SIGNED with a fresh nonce that
//! CLOSE_ACK must echo, both are protected by HIP_MAC and HIP_SIGNATURE.

use super::core::{Endpoint, HitPair, Incoming};
use super::counters::DropReason;
use super::event::Event;
use super::identity::scheme;
use super::mac_check::MacChecked;
use super::protect::{self, BuildError};
use super::random::RandomSource;
use crate::association::replay::CloseNonce;
use crate::association::{Action, Input, Instant, State};
use crate::registry::PacketType;
use crate::wire::{HipRepr, ParamRepr, ParamType};
use crate::Hit;

impl Endpoint {
    /// Closes the association of `local` with `peer`: CLOSE when it is open,
    /// plain removal while an exchange is still running. False when none exists.
    pub fn close(
        &mut self,
        now: Instant,
        local: Hit,
        peer: Hit,
        random: &mut dyn RandomSource,
    ) -> bool {
        self.clock = self.clock.max(now);
        let pair = (local, peer);
        let Some(a) = self.assocs.get_mut(&pair) else {
            return false;
        };
        let step = a.driver.apply(now, Input::CloseRequested);
        match step.action {
            Action::SendClose if self.send_close(pair, random).is_err() => {
                self.counters.build_failed += 1;
            }
            Action::Discard => {
                self.assocs.remove(&pair);
                self.event(Event::Closed { peer_hit: peer });
            }
            _ => {}
        }
        true
    }

    /// Closes every association (daemon shutdown).
    pub fn close_all(&mut self, now: Instant, random: &mut dyn RandomSource) {
        let pairs: Vec<HitPair> = self.assocs.keys().copied().collect();
        for (l, p) in pairs {
            self.close(now, l, p, random);
        }
    }

    /// Builds and sends a CLOSE; the association must be in CLOSING.
    pub(super) fn send_close(
        &mut self,
        pair: HitPair,
        random: &mut dyn RandomSource,
    ) -> Result<(), BuildError> {
        let nonce = CloseNonce::new(random);
        let mut r = HipRepr::new(PacketType::Close, self.version_of(pair), pair.0, pair.1);
        r.params
            .push(ParamRepr::EchoRequestSigned(nonce.bytes().to_vec()));
        let bytes = self.protect_and_emit(pair, &mut r, random)?;
        if let Some(a) = self.assocs.get_mut(&pair) {
            a.close_nonce = Some(nonce);
            a.last_sent = Some(bytes.clone());
            let (s, d, u) = (a.local_locator, a.peer_locator, a.udp_port);
            self.transmit(s, d, u, bytes);
        }
        Ok(())
    }

    /// CLOSE: verify, answer CLOSE_ACK, move to CLOSED (section 6.14).
    pub(super) fn on_close(
        &mut self,
        now: Instant,
        inc: &Incoming<'_>,
        repr: &HipRepr,
        _mac: MacChecked,
        random: &mut dyn RandomSource,
    ) -> Result<(), DropReason> {
        let pair = (repr.receiver_hit, repr.sender_hit);
        if !self.assocs.contains_key(&pair) {
            return Err(DropReason::NotPeer);
        }
        self.verify_peer_signature(pair, inc.bytes, repr)?;
        let Some(ParamRepr::EchoRequestSigned(echo)) = repr.param(ParamType::EchoRequestSigned)
        else {
            return Err(DropReason::Malformed);
        };
        let a = self.assocs.get_mut(&pair).ok_or(DropReason::NotPeer)?;
        let before = a.driver.state();
        let step = a.driver.apply(now, Input::Close { ok: true });
        if step.action != Action::SendCloseAck {
            return Err(DropReason::UnexpectedInState);
        }
        let mut ack = HipRepr::new(PacketType::CloseAck, a.wire_version(), pair.0, pair.1);
        ack.params.push(ParamRepr::EchoResponseSigned(echo.clone()));
        let bytes = self
            .protect_and_emit(pair, &mut ack, random)
            .map_err(|_| DropReason::Policy)?;
        if let Some(a) = self.assocs.get(&pair) {
            let (s, d, u) = (a.local_locator, a.peer_locator, a.udp_port);
            self.transmit(s, d, u, bytes);
        }
        if before != State::Closed {
            self.event(Event::Closed { peer_hit: pair.1 });
        }
        Ok(())
    }

    /// CLOSE_ACK: verify, check the echoed nonce, discard the association (section 6.15).
    pub(super) fn on_close_ack(
        &mut self,
        now: Instant,
        inc: &Incoming<'_>,
        repr: &HipRepr,
        _mac: MacChecked,
    ) -> Result<(), DropReason> {
        let pair = (repr.receiver_hit, repr.sender_hit);
        let a = self.assocs.get(&pair).ok_or(DropReason::NotPeer)?;
        if a.driver.state() != State::Closing {
            return Err(DropReason::Replay);
        }
        self.verify_peer_signature(pair, inc.bytes, repr)?;
        let a = self.assocs.get_mut(&pair).ok_or(DropReason::NotPeer)?;
        let echoed = match repr.param(ParamType::EchoResponseSigned) {
            Some(ParamRepr::EchoResponseSigned(e)) => e,
            _ => return Err(DropReason::Malformed),
        };
        if !a.close_nonce.as_ref().is_some_and(|n| n.matches(echoed)) {
            return Err(DropReason::Replay);
        }
        a.driver.apply(now, Input::CloseAck { ok: true });
        self.assocs.remove(&pair);
        self.event(Event::Closed { peer_hit: pair.1 });
        Ok(())
    }

    /// The header version of an association's packets (v2 when unknown).
    pub(super) fn version_of(&self, pair: HitPair) -> crate::registry::Version {
        self.assocs
            .get(&pair)
            .map_or(crate::registry::Version::V2, |a| a.wire_version())
    }

    /// Appends HIP_MAC (our outgoing key) and HIP_SIGNATURE to a packet of an
    /// established association and emits it for its locators.
    pub(super) fn protect_and_emit(
        &self,
        pair: HitPair,
        r: &mut HipRepr,
        random: &mut dyn RandomSource,
    ) -> Result<Vec<u8>, BuildError> {
        self.protect_and_emit_to(pair, r, None, random)
    }

    /// As [`Self::protect_and_emit`], to `dst` instead of the peer's locator.
    pub(super) fn protect_and_emit_to(
        &self,
        pair: HitPair,
        r: &mut HipRepr,
        dst: Option<std::net::IpAddr>,
        random: &mut dyn RandomSource,
    ) -> Result<Vec<u8>, BuildError> {
        let a = self
            .assocs
            .get(&pair)
            .ok_or(BuildError::Wire(crate::wire::Error::MissingParam(0)))?;
        let idx = self
            .identity_index(&pair.0)
            .ok_or(BuildError::Wire(crate::wire::Error::MissingParam(0)))?;
        if let (Some(keys), Some(rhash)) = (&a.keys, a.rhash) {
            protect::append_mac(r, rhash, &keys.hip_keys().0.integ)?;
        }
        protect::append_signature(r, &self.identities[idx], false, random)?;
        protect::emit(
            r,
            a.local_locator,
            dst.unwrap_or(a.peer_locator),
            a.udp_port.is_some(),
        )
    }

    /// Verifies HIP_SIGNATURE of a packet from an association's peer (its
    /// HIP_MAC was verified before parsing, [`MacChecked`]).
    pub(super) fn verify_peer_signature(
        &self,
        pair: HitPair,
        bytes: &[u8],
        repr: &HipRepr,
    ) -> Result<(), DropReason> {
        let a = self.assocs.get(&pair).ok_or(DropReason::NotPeer)?;
        let Some(peer_hi) = &a.peer_hi else {
            return Err(DropReason::UnexpectedInState);
        };
        protect::check_signature(bytes, repr, peer_hi, scheme(a.version), false)
    }
}
