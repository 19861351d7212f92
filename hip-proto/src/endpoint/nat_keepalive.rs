//! NAT keepalives on associations over UDP (RFC 5770 section 4.7, RFC 9028
//! section 5.10): a host MUST refresh the UDP mapping of the NATs on the path
//! every 15 seconds (Tr) when the control and data channels are idle. The
//! keepalive is a NOTIFY whose NOTIFICATION has the type NAT_KEEPALIVE (16385)
//! and no data; it is omitted when other HIP or ESP traffic went to the peer
//! within the interval, and it is not answered.
//!
//! The policy: one timer per ESTABLISHED association that goes over UDP,
//! due [`super::Config::nat_keepalive_interval`] after the last packet sent to
//! the peer (HIP packets the endpoint sends; ESP as the caller reports it with
//! [`Endpoint::data_sent`]). The keepalive is signed like every NOTIFY (RFC
//! 7401 section 5.3.6), so the peer may take its source port as the
//! association's new NAT mapping ([`super::udp_mapping`]).

use super::core::{Endpoint, HitPair, Incoming};
use super::counters::DropReason;
use super::protect;
use super::random::RandomSource;
use crate::association::{Association, Instant, State};
use crate::registry::PacketType;
use crate::wire::{HipRepr, Notification, NotifyMessageType, ParamRepr, ParamType};
use crate::Hit;

/// Is `repr` a NAT keepalive (a NOTIFY whose only NOTIFICATION is NAT_KEEPALIVE)?
pub fn is_keepalive(repr: &HipRepr) -> bool {
    let mut n = repr.params_of(ParamType::Notification);
    matches!(
        (n.next(), n.next()),
        (
            Some(ParamRepr::Notification(Notification {
                msg_type: NotifyMessageType::NatKeepalive,
                ..
            })),
            None
        )
    )
}

impl Endpoint {
    /// When `a` needs a keepalive: over UDP, ESTABLISHED, and nothing sent
    /// for the interval.
    pub(super) fn keepalive_due(&self, a: &Association) -> Option<Instant> {
        keepalive_due(&self.cfg, a)
    }

    /// Sends the keepalive of `pair` when it is due.
    pub(super) fn keepalive_if_due(
        &mut self,
        now: Instant,
        pair: HitPair,
        random: &mut dyn RandomSource,
    ) {
        let Some(a) = self.assocs.get(&pair) else {
            return;
        };
        if self.keepalive_due(a).is_none_or(|t| t > now) {
            return;
        }
        let (src, dst, udp, version) = (
            a.local_locator,
            a.peer_locator,
            a.udp_port,
            a.wire_version(),
        );
        let built = self.identity_index(&pair.0).map(|i| {
            let mut r = HipRepr::new(PacketType::Notify, version, pair.0, pair.1);
            r.params.push(ParamRepr::Notification(Notification {
                reserved: 0,
                msg_type: NotifyMessageType::NatKeepalive,
                data: Vec::new(),
            }));
            protect::append_signature(&mut r, &self.identities[i], false, random)
                .and_then(|()| protect::emit(&r, src, dst, true))
        });
        match built {
            Some(Ok(b)) => {
                self.counters.nat_keepalives_sent += 1;
                self.transmit(src, dst, udp, b);
            }
            _ => {
                // Not again at once: the next try is one interval later.
                self.counters.build_failed += 1;
                if let Some(a) = self.assocs.get_mut(&pair) {
                    a.last_tx = now;
                }
            }
        }
    }

    /// The caller sent ESP to `peer` at `now` (RFC 9028 section 5.10: no
    /// keepalive is needed while other traffic goes to the peer).
    pub fn data_sent(&mut self, now: Instant, local: Hit, peer: Hit) {
        self.clock = self.clock.max(now);
        if let Some(a) = self.assocs.get_mut(&(local, peer)) {
            a.last_tx = a.last_tx.max(now);
        }
    }

    /// A keepalive from the peer: verified (it is signed), counted, and its
    /// source port taken as the peer's NAT mapping; nothing is answered and
    /// no event is raised. One that cannot be verified is dropped.
    pub(super) fn on_keepalive(
        &mut self,
        inc: &Incoming<'_>,
        repr: &HipRepr,
    ) -> Result<(), DropReason> {
        let pair = (repr.receiver_hit, repr.sender_hit);
        let a = self
            .assocs
            .get(&pair)
            .ok_or(DropReason::UnknownAssociation)?;
        let hi = a.peer_hi.as_ref().ok_or(DropReason::UnexpectedInState)?;
        let scheme = super::identity::scheme(a.version);
        protect::check_signature(inc.bytes, repr, hi, scheme, false)?;
        self.counters.nat_keepalives_received += 1;
        self.adopt_udp_port(pair, inc.src, inc.udp_port);
        Ok(())
    }
}

/// When the NAT keepalive of `a` is due: `nat_keepalive_interval` after the
/// last packet sent to the peer, on established associations over UDP.
pub(super) fn keepalive_due(cfg: &super::config::Config, a: &Association) -> Option<Instant> {
    let iv = cfg.nat_keepalive_interval?;
    (a.udp_port.is_some() && a.driver.state() == State::Established && a.keys.is_some())
        .then(|| a.last_tx.max(a.keys_since) + iv)
}
