//! NOTIFY (RFC 7401 sections 5.3.6 and 6.13; RFC 5201 the same): sent when a
//! peer's proposal is unacceptable; received NOTIFYs are informational and
//! change no state. A NOTIFY is signed; it is verified when the peer's Host
//! Identity is known, and reported as unauthenticated otherwise.

use super::core::{Endpoint, HitPair, Incoming};
use super::counters::DropReason;
use super::event::Event;
use super::identity::scheme;
use super::protect;
use super::random::RandomSource;
use crate::registry::PacketType;
use crate::wire::{HipRepr, Notification, NotifyMessageType, ParamRepr, ParamType};

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
        let id = &self.identities[idx];
        let mut r = HipRepr::new(PacketType::Notify, id.version, pair.0, pair.1);
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
