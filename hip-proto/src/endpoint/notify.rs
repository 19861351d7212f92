//! NOTIFY (RFC 7401 sections 5.3.6 and 6.13; RFC 5201 the same): sent when a
//! peer's proposal is unacceptable or a packet carries an unknown critical
//! parameter (section 5.2.1); received NOTIFYs are informational and change no
//! state. A NOTIFY is signed; it is verified when the peer's Host Identity is
//! known, and reported as unauthenticated otherwise.
//!
//! Deviation (section 5.3.6 lists HIP_SIGNATURE as part of NOTIFY): the
//! UNSUPPORTED_CRITICAL_PARAMETER_TYPE answer to a packet from a host we hold
//! no association with (an I1, typically) is sent unsigned. It answers an
//! unauthenticated packet that creates no state, so a signature per packet
//! would hand any sender a signing oracle; the answers are also rate-limited
//! ([`super::config::Config::unsolicited_notify`]).

use super::core::{Endpoint, HitPair, Incoming};
use super::counters::DropReason;
use super::event::Event;
use super::identity::scheme;
use super::protect;
use super::random::RandomSource;
use crate::association::Instant;
use crate::registry::PacketType;
use crate::wire::{HipRepr, Notification, NotifyMessageType, Packet, ParamRepr, ParamType};

impl Endpoint {
    /// Sends a NOTIFY from `pair.0` to `pair.1` at the packet's source.
    pub(super) fn send_notify(
        &mut self,
        pair: HitPair,
        inc: &Incoming<'_>,
        code: NotifyMessageType,
        data: &[u8],
        random: &mut dyn RandomSource,
    ) {
        let Some(idx) = self.identity_index(&pair.0) else {
            return;
        };
        let wire = self
            .incoming_profile(inc)
            .wire_version(self.identities[idx].version);
        let id = &self.identities[idx];
        let mut r = HipRepr::new(PacketType::Notify, wire, pair.0, pair.1);
        r.params.push(ParamRepr::Notification(Notification {
            reserved: 0,
            msg_type: code,
            data: data.to_vec(),
        }));
        let built = protect::append_signature(&mut r, id, false, random)
            .and_then(|()| protect::emit(&r, inc.dst, inc.src, inc.udp_port.is_some()));
        match built {
            Ok(b) => {
                self.counters.notify_sent += 1;
                self.transmit(inc.dst, inc.src, inc.udp_port, b);
            }
            Err(_) => self.counters.build_failed += 1,
        }
    }

    /// A packet with an unknown critical parameter of type `ty` is dropped
    /// (by the caller) and answered with NOTIFY UNSUPPORTED_CRITICAL_PARAMETER_TYPE
    /// whose Notification Data is the two-octet type (RFC 7401 sections 5.2.1
    /// and 5.2.19), within the endpoint-wide rate limit. No answer goes to a
    /// NOTIFY (two hosts must not answer each other forever), to a NULL
    /// sender HIT, or for a receiver HIT that is not ours (a NULL receiver
    /// HIT is ours in an I1, opportunistic mode). Signed only when an
    /// association with the sender exists (see the module documentation).
    pub(super) fn refuse_unknown_critical(
        &mut self,
        now: Instant,
        inc: &Incoming<'_>,
        pk: &Packet<&[u8]>,
        ty: u16,
        random: &mut dyn RandomSource,
    ) {
        let (sender, receiver) = (pk.sender_hit(), pk.receiver_hit());
        if pk.packet_type() == PacketType::Notify || sender.is_null() {
            return;
        }
        let rules = self.rules_version(pk);
        let idx = if receiver.is_null() && pk.packet_type() == PacketType::I1 {
            self.default_identity(rules)
        } else {
            self.identity_index(&receiver)
        };
        let Some(idx) = idx.filter(|&i| self.identities[i].version == rules) else {
            return;
        };
        if !self.notify_bucket.allow(now) {
            self.counters.notify_rate_limited += 1;
            return;
        }
        let pair = (self.identities[idx].hit, sender);
        let code = NotifyMessageType::UnsupportedCriticalParameterType;
        let data = ty.to_be_bytes();
        if self.assocs.contains_key(&pair) {
            self.send_notify(pair, inc, code, &data, random);
            return;
        }
        let mut r = HipRepr::new(PacketType::Notify, pk.version(), pair.0, pair.1);
        r.params.push(ParamRepr::Notification(Notification {
            reserved: 0,
            msg_type: code,
            data: data.to_vec(),
        }));
        match r.to_bytes() {
            Ok(b) => {
                self.counters.notify_sent += 1;
                self.transmit(inc.dst, inc.src, inc.udp_port, b);
            }
            Err(_) => self.counters.build_failed += 1,
        }
    }

    /// A NOTIFY whose signature would be checked (one from a peer of an
    /// association) takes a token of [`super::Config::notify_verify`] before
    /// it is parsed; without one it is dropped unparsed and counted. NOTIFYs
    /// outside an association are not verified and take none.
    pub(super) fn notify_budget(
        &mut self,
        now: Instant,
        pk: &Packet<&[u8]>,
    ) -> Result<(), DropReason> {
        if pk.packet_type() != PacketType::Notify {
            return Ok(());
        }
        let pair = (pk.receiver_hit(), pk.sender_hit());
        let verified = self.assocs.get(&pair).is_some_and(|a| a.peer_hi.is_some());
        if verified && !self.notify_verify_bucket.allow(now) {
            return Err(DropReason::NotifyVerifyRateLimited);
        }
        Ok(())
    }

    /// A received NOTIFY: reported as an event, no state change (section 6.13).
    pub(super) fn on_notify(
        &mut self,
        inc: &Incoming<'_>,
        repr: &HipRepr,
    ) -> Result<(), DropReason> {
        let pair = (repr.receiver_hit, repr.sender_hit);
        if self.identity_index(&pair.0).is_none() {
            return Err(DropReason::NotForUs);
        }
        let authenticated = match self
            .assocs
            .get(&pair)
            .and_then(|a| a.peer_hi.as_ref().map(|hi| (hi, a.version)))
        {
            Some((hi, v)) => {
                protect::check_signature(inc.bytes, repr, hi, scheme(v), false)?;
                true
            }
            None => false,
        };
        for p in repr.params_of(ParamType::Notification) {
            if let ParamRepr::Notification(n) = p {
                self.counters.notify_received += 1;
                self.event(Event::Notified {
                    peer_hit: pair.1,
                    code: n.msg_type,
                    data: n.data.clone(),
                    authenticated,
                });
            }
        }
        Ok(())
    }
}
