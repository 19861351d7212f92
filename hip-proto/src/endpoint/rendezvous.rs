//! The HIP Rendezvous Extension (RFC 8004).
//!
//! * Rendezvous server (sections 3.3, 4.3.1, 4.3.2): an I1 whose Receiver's HIT
//!   is not ours but a client's with a live RENDEZVOUS registration is relayed
//!   to the client's current locator (its association's), from our address,
//!   with FROM (the initiator's address) and RVS_HMAC keyed with our outgoing
//!   HIP integrity key of the association with the client (section 4.2.1). The
//!   checksum was verified on receipt (section 3.3 SHOULD) and is recomputed
//!   for the new addresses. Relaying keeps no state and is rate-limited
//!   endpoint-wide ([`super::RegistrarConfig::relay_rate`]); an I1 for a HIT
//!   nobody registered is dropped ([`DropReason::NotRegistered`], section
//!   4.3.2). Opportunistic I1s are ours (section 4.3.2 SHOULD). Chains of
//!   servers (an I1 that already carries FROM) are not relayed further: one
//!   VIA_RVS address is the scope of the RFC (section 4.2.3).
//! * Rendezvous client as responder (sections 4.3.2, 4.3.3): an I1 with
//!   RVS_HMAC must verify with the incoming key of an association with a
//!   server we are registered at, else it is dropped ([`DropReason::BadRvsHmac`];
//!   FROM without a valid RVS_HMAC: MUST drop). An opportunistic I1 with FROM is
//!   dropped (SHOULD). The R1 goes straight to the FROM address, with VIA_RVS
//!   naming the server's address appended after the signature (VIA_RVS is
//!   outside HIP_SIGNATURE_2 coverage, "for debugging purposes").
//! * Initiator (section 4.3.4): the R1 is matched by HITs; when it comes from
//!   another address than the one the I1 went to, it is taken as the
//!   responder's real address only if VIA_RVS names the address the I1 went
//!   to, after the R1's signature verified. The exchange then continues
//!   directly with the responder (I2 to the R1's source).
//!
//! RFC 8004 relays I1 only (RFC 8046 names rendezvous servers for hosts that
//! cannot reach each other after a move but specifies no relayed UPDATE).
//! After a double jump (both hosts move at once) the UPDATEs of both
//! sides go to dead addresses and the association fails with
//! `FailReason::UpdateTimeout`; each mobile client re-registers its new
//! locator at its server (the LOCATOR_SET UPDATE moves the server's
//! association, [`Endpoint::register`] renewal confirms it), and a new base
//! exchange through the server's address reaches the peer's new locator.

use std::net::IpAddr;

use super::core::{Endpoint, HitPair, Incoming};
use super::counters::DropReason;
use super::registration::{ip_of, raw_of};
use crate::association::{Instant, State};
use crate::crypto::mac;
use crate::wire::{cover, HipRepr, ParamRepr, ParamType, RegType, MAX_PACKET_LEN};
use crate::Hit;

/// Where a relayed I1 came from: the initiator (FROM) and the server that
/// relayed it (the I1's source).
#[derive(Debug, Clone, Copy)]
pub(super) struct RelayedI1 {
    /// The initiator's address (FROM).
    pub from: IpAddr,
    /// The rendezvous server's address.
    pub rvs: IpAddr,
}

/// Appends one parameter to an emitted packet and fixes the header length
/// (the checksum is set by the caller afterwards).
pub(super) fn append_param(bytes: &mut Vec<u8>, p: &ParamRepr) -> Result<(), crate::wire::Error> {
    p.emit(bytes)?;
    let len = bytes.len();
    if len % 8 != 0 || !(48..=MAX_PACKET_LEN).contains(&len) {
        return Err(crate::wire::Error::TooLong);
    }
    bytes[1] = u8::try_from(len / 8 - 1).map_err(|_| crate::wire::Error::TooLong)?;
    Ok(())
}

impl Endpoint {
    /// Why an I1 for `receiver`, a HIT that is not ours, cannot be relayed,
    /// decided before it is parsed: we offer no rendezvous service
    /// (`NotForUs`), or `receiver` holds no live registration
    /// (`NotRegistered`, section 4.3.2). `None`: [`Self::relay_i1`] decides.
    pub(super) fn foreign_i1_drop(&self, now: Instant, receiver: &Hit) -> Option<DropReason> {
        if !self
            .cfg
            .registrar
            .services
            .contains(&RegType::RendezvousServer)
        {
            return Some(DropReason::NotForUs);
        }
        self.registrar
            .registered(receiver, RegType::RendezvousServer, now)
            .is_none()
            .then_some(DropReason::NotRegistered)
    }

    /// Rendezvous server: relays an I1 for a registered client (RFC 8004
    /// sections 3.3 and 4.3.2). Called for an I1 whose Receiver's HIT is not
    /// one of ours.
    pub(super) fn relay_i1(
        &mut self,
        now: Instant,
        inc: &Incoming<'_>,
        repr: &HipRepr,
    ) -> Result<(), DropReason> {
        let client = repr.receiver_hit;
        if let Some(reason) = self.foreign_i1_drop(now, &client) {
            return Err(reason);
        }
        let local = self
            .registrar
            .registered(&client, RegType::RendezvousServer, now)
            .ok_or(DropReason::NotRegistered)?;
        if repr.param(ParamType::From).is_some() {
            // Relayed already: chains are outside RFC 8004's scope.
            return Err(DropReason::Policy);
        }
        let pair: HitPair = (local, client);
        let a = self
            .assocs
            .get(&pair)
            .filter(|a| matches!(a.driver.state(), State::Established | State::R2Sent))
            .ok_or(DropReason::NotRegistered)?;
        let (Some(keys), Some(rhash)) = (&a.keys, a.rhash) else {
            return Err(DropReason::NotRegistered);
        };
        if !self.registrar.relay_allow(&self.cfg.registrar, now) {
            return Err(DropReason::RelayRateLimited);
        }
        let key = keys.hip_keys().0.integ.to_vec();
        let (dst, udp) = (a.peer_locator, a.udp_port);
        // From the address the I1 reached us at when it can reach the client
        // (the VIA_RVS the initiator checks is then the address it used).
        let src = if inc.dst.is_ipv4() == dst.is_ipv4() {
            inc.dst
        } else {
            a.local_locator
        };
        let mut out = repr.clone();
        out.params.push(ParamRepr::From(raw_of(inc.src)));
        let bytes = out.to_bytes().map_err(|_| DropReason::Malformed)?;
        let covered =
            cover::below(&bytes, ParamType::RvsHmac.value()).map_err(|_| DropReason::Malformed)?;
        out.params
            .push(ParamRepr::RvsHmac(mac::compute(rhash, &key, &covered)));
        let bytes = out.to_bytes().map_err(|_| DropReason::Malformed)?;
        self.counters.rvs_relayed += 1;
        self.transmit(src, dst, udp, bytes);
        Ok(())
    }

    /// Rendezvous client: checks FROM / RVS_HMAC of a received I1 (RFC 8004
    /// section 4.3.2). `None`: not relayed.
    pub(super) fn relayed_i1_origin(
        &self,
        inc: &Incoming<'_>,
        repr: &HipRepr,
    ) -> Result<Option<RelayedI1>, DropReason> {
        let from = repr.params.iter().rev().find_map(|p| match p {
            ParamRepr::From(a) => Some(ip_of(*a)),
            _ => None,
        });
        let tag = match repr.param(ParamType::RvsHmac) {
            Some(ParamRepr::RvsHmac(t)) => Some(t),
            _ => None,
        };
        if from.is_none() && tag.is_none() {
            return Ok(None);
        }
        if from.is_some() && repr.receiver_hit.is_null() {
            return Err(DropReason::Policy);
        }
        let Some(tag) = tag else {
            return Err(DropReason::BadRvsHmac);
        };
        let covered = cover::below(inc.bytes, ParamType::RvsHmac.value())
            .map_err(|_| DropReason::Malformed)?;
        let verified = self
            .granted_servers(repr.receiver_hit, RegType::RendezvousServer)
            .filter_map(|pair| self.assocs.get(&pair))
            .filter(|a| a.driver.state() == State::Established)
            .any(|a| match (&a.keys, a.rhash) {
                (Some(k), Some(rhash)) => {
                    let (ours, theirs) = k.hip_keys();
                    mac::verify(rhash, &theirs.integ, &covered, tag)
                        || (a.profile.server_hmac_either_key()
                            && mac::verify(rhash, &ours.integ, &covered, tag))
                }
                _ => false,
            });
        if !verified {
            return Err(DropReason::BadRvsHmac);
        }
        Ok(from.map(|from| RelayedI1 { from, rvs: inc.src }))
    }

    /// Initiator: an R1 from another address than the one our I1 went to is
    /// the responder answering an I1 relayed by a rendezvous server when its
    /// VIA_RVS names that address (RFC 8004 section 4.3.4): the association
    /// continues with the R1's source. Called after the R1's signature
    /// verified.
    pub(super) fn adopt_r1_source(&mut self, pair: HitPair, inc: &Incoming<'_>, repr: &HipRepr) {
        let Some(a) = self.assocs.get_mut(&pair) else {
            return;
        };
        if inc.src == a.peer_locator {
            return;
        }
        let Some(ParamRepr::ViaRvs(list)) = repr.param(ParamType::ViaRvs) else {
            return;
        };
        if !list.iter().any(|x| ip_of(*x) == a.peer_locator) {
            return;
        }
        a.peer_locator = inc.src;
        a.local_locator = inc.dst;
        a.udp_port = inc.udp_port;
        self.counters.r1_via_rvs_accepted += 1;
    }
}
