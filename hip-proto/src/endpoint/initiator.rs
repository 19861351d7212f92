//! Initiator side of the base exchange: I1 (RFC 7401 section 6.6), R1 -> I2
//! (section 6.8), R2 (section 6.10); RFC 5201 sections 6.6-6.10 for v1.

use std::net::IpAddr;

use super::compat::CompatProfile;
use super::core::{inc_wire_version, ConnectError, Endpoint, HitPair, Incoming};
use super::counters::DropReason;
use super::event::{Event, FailReason, HipSuite};
use super::identity::{peer_public, scheme};
use super::mac_check::MacChecked;
use super::negotiate::{self, NegotiationError};
use super::protect;
use super::r1_generation::{fresh_dh, groups_for, rhash_for};
use super::random::RandomSource;
use crate::association::keys::{derive, KeyInput};
use crate::association::replay::R1Disposition;
use crate::association::{Action, Input, Instant, State};
use crate::crypto::orchid::verify_hit;
use crate::crypto::puzzle::Puzzle;
use crate::hit::OrchidVersion;
use crate::registry::{HitSuiteId, PacketType, Version};
use crate::wire::{cover, EspInfo, HipRepr, ParamRepr, ParamType, Solution};
use crate::Hit;

/// What an R1 led the initiator to choose.
struct R1Choices {
    group: crate::registry::DhGroupId,
    peer_dh: Vec<u8>,
    hip: HipSuite,
    esp: crate::registry::EspTransformId,
    transport: Option<u16>,
}

impl Endpoint {
    /// Starts a base exchange from `local` to `peer` at `peer_locator` (RFC 7401
    /// section 6.6). Packets to send come out of [`Endpoint::poll_transmit`].
    /// Starting again while an exchange runs or the association is up is a no-op.
    #[allow(clippy::too_many_arguments)]
    pub fn connect(
        &mut self,
        now: Instant,
        local: Hit,
        peer: Hit,
        local_locator: IpAddr,
        peer_locator: IpAddr,
        udp_port: Option<u16>,
    ) -> Result<(), ConnectError> {
        self.clock = self.clock.max(now);
        let idx = self
            .identity_index(&local)
            .ok_or(ConnectError::UnknownLocalHit(local))?;
        let version = self.identities[idx].version;
        if !self.cfg.versions.contains(&version) {
            return Err(ConnectError::VersionDisabled(version));
        }
        let want = match version {
            Version::V1 => OrchidVersion::V1,
            _ => OrchidVersion::V2,
        };
        if peer.orchid_version() != Some(want) {
            return Err(ConnectError::PeerHitVersion(peer));
        }
        let pair: HitPair = (local, peer);
        let mut a = match self.assocs.remove(&pair) {
            Some(a) => a,
            None => {
                let profile = self.cfg.profile_for(&peer);
                self.new_association(now, pair, version, profile, local_locator, peer_locator)
            }
        };
        if !matches!(
            a.driver.state(),
            State::Unassociated | State::Closing | State::Closed
        ) {
            self.assocs.insert(pair, a);
            return Ok(());
        }
        let mut i1 = HipRepr::new(PacketType::I1, a.wire_version(), local, peer);
        if version != Version::V1 || a.profile.v1_with_group_list() {
            i1.params.push(ParamRepr::DhGroupList(groups_for(
                version, a.profile, &self.cfg,
            )));
        }
        let bytes = match protect::emit(&i1, local_locator, peer_locator, udp_port.is_some()) {
            Ok(b) => b,
            Err(e) => {
                self.assocs.insert(pair, a);
                return Err(ConnectError::Build(e.to_string()));
            }
        };
        a.initiator = true;
        a.local_locator = local_locator;
        a.peer_locator = peer_locator;
        a.udp_port = udp_port;
        a.last_sent = Some(bytes.clone());
        let step = a.driver.apply(now, Input::UserDataToSend);
        debug_assert_eq!(step.action, Action::SendI1);
        self.assocs.insert(pair, a);
        self.transmit(local_locator, peer_locator, udp_port, bytes);
        Ok(())
    }

    /// R1: verify it, solve the puzzle, derive the keys, send I2 (section 6.8).
    pub(super) fn on_r1(
        &mut self,
        now: Instant,
        inc: &Incoming<'_>,
        repr: &HipRepr,
        random: &mut dyn RandomSource,
    ) -> Result<(), DropReason> {
        let pair: HitPair = (repr.receiver_hit, repr.sender_hit);
        let idx = self.identity_index(&pair.0).ok_or(DropReason::NotForUs)?;
        let version = repr.version;
        let a = self
            .assocs
            .get_mut(&pair)
            .ok_or(DropReason::UnknownAssociation)?;
        if a.version != version {
            return Err(DropReason::UnsupportedVersion);
        }
        let state = a.driver.state();
        if !matches!(
            state,
            State::I1Sent | State::I2Sent | State::Closing | State::Closed
        ) || (state != State::I1Sent && !a.initiator)
        {
            return Err(DropReason::UnexpectedInState);
        }
        let counter = repr.params.iter().find_map(|p| match p {
            ParamRepr::R1Counter(c) | ParamRepr::R1CounterV1(c) => Some(*c),
            _ => None,
        });
        // In I2-SENT only a newer R1 restarts the I2 (section 6.8 step 2).
        if state == State::I2Sent && !a.r1_guard.is_newer(counter) {
            return Err(DropReason::Replay);
        }
        let mut guard = a.r1_guard;
        if guard.check(counter) == R1Disposition::Stale {
            return Err(DropReason::Replay);
        }
        let profile = CompatProfile::detect(a.profile, inc_wire_version(inc), &pair.1);
        // The responder's identity and the R1 signature.
        let Some(ParamRepr::HostId(host_id)) = repr.param(ParamType::HostId) else {
            return Err(DropReason::Malformed);
        };
        let peer_hi = peer_public(host_id).map_err(|_| DropReason::Malformed)?;
        if !verify_hit(&pair.1, &peer_hi) {
            return Err(DropReason::HitMismatch);
        }
        protect::check_r1_signature(inc.bytes, repr, &peer_hi, scheme(version))?;
        // Answering an I1 relayed by a rendezvous server (RFC 8004 section 4.3.4).
        self.adopt_r1_source(pair, inc, repr);
        let choices = match self.r1_choices(repr, idx, profile) {
            Ok(c) => c,
            Err(e) => {
                self.send_notify(pair, inc, e.notify(), &[], random);
                if let Some(a) = self.assocs.get_mut(&pair) {
                    a.driver.apply(now, Input::ExchangeFailed);
                }
                self.counters.failed += 1;
                self.event(Event::Failed {
                    peer_hit: pair.1,
                    reason: FailReason::Negotiation(e),
                });
                return Err(DropReason::Negotiation);
            }
        };
        let Some(ParamRepr::Puzzle(puzzle)) = repr.param(ParamType::Puzzle) else {
            return Err(DropReason::Malformed);
        };
        if puzzle.k > self.cfg.max_solved_puzzle {
            return Err(DropReason::Policy);
        }
        let rhash = rhash_for(version, &pair.1).ok_or(DropReason::Malformed)?;
        let mut start = vec![0u8; puzzle.i.len()];
        random.fill(&mut start);
        let j = Puzzle {
            rhash,
            k: puzzle.k,
            i: &puzzle.i,
            hit_i: &pair.0,
            hit_r: &pair.1,
            order: profile.puzzle_input_order(),
        }
        .solve(&start, 1u64 << (u32::from(puzzle.k) + 8).min(48))
        .ok_or(DropReason::Policy)?;
        let dh = fresh_dh(choices.group, random).map_err(|_| DropReason::Malformed)?;
        let kij = dh
            .agree(&choices.peer_dh)
            .map_err(|_| DropReason::Malformed)?;
        let spi_in = self.fresh_spi(random);
        let keys = derive(
            &KeyInput {
                rhash,
                kij: &profile.shape_kij(choices.group, &kij),
                i: &puzzle.i,
                j: &j,
                hit_i: pair.0,
                hit_r: pair.1,
                local: pair.0,
                hip: choices.hip,
                esp: choices.esp,
                spi_in,
                spi_out: 0,
            },
            version == Version::V1,
        )
        .map_err(|_| DropReason::Negotiation)?;

        // I2 (section 5.3.3; RFC 7402 section 5.2 for ESP_INFO / ESP_TRANSFORM).
        let mut i2 = HipRepr::new(
            PacketType::I2,
            profile.wire_version(version),
            pair.0,
            pair.1,
        );
        i2.params.push(ParamRepr::EspInfo(EspInfo {
            reserved: 0,
            keymat_index: keys.esp.keymat_index,
            old_spi: 0,
            new_spi: spi_in,
        }));
        if let Some(c) = counter {
            i2.params.push(if version == Version::V1 {
                ParamRepr::R1CounterV1(c)
            } else {
                ParamRepr::R1Counter(c)
            });
        }
        i2.params.push(ParamRepr::Solution(Solution {
            k: puzzle.k,
            reserved: 0,
            opaque: puzzle.opaque,
            i: puzzle.i.clone(),
            j: j.clone(),
        }));
        i2.params
            .push(ParamRepr::DiffieHellman(crate::wire::DiffieHellman {
                values: vec![crate::wire::DhValue {
                    group: choices.group,
                    public: dh.public_value().to_vec(),
                }],
                trailing: Vec::new(),
            }));
        match choices.hip {
            HipSuite::V1(t) => i2.params.push(ParamRepr::HipTransform(vec![t])),
            HipSuite::V2(c) => i2.params.push(ParamRepr::HipCipher(vec![c])),
        }
        // REG_REQUEST to a registrar that offered REG_INFO (RFC 8003 section 3.2).
        if let Some(p) = self.requester_i2_param(pair, repr) {
            i2.insert_ordered(p);
        }
        let id = &self.identities[idx];
        i2.insert_ordered(id.host_id_param());
        if let Some(ParamRepr::EchoRequestSigned(e)) = repr.param(ParamType::EchoRequestSigned) {
            i2.insert_ordered(ParamRepr::EchoResponseSigned(e.clone()));
        }
        if let Some(t) = choices.transport {
            i2.insert_ordered(ParamRepr::TransportFormatList(vec![t]));
        }
        i2.insert_ordered(ParamRepr::EspTransform {
            reserved: 0,
            suites: vec![choices.esp],
        });
        let (ours, theirs) = keys.hip_keys();
        let mac_key = match profile.bex_mac_key_order() {
            super::compat::MacKeyOrder::Rfc => ours,
            super::compat::MacKeyOrder::LesserHitFirst => theirs,
        };
        let a = self
            .assocs
            .get(&pair)
            .ok_or(DropReason::UnknownAssociation)?;
        let (src, dst, udp_port) = (a.local_locator, a.peer_locator, a.udp_port);
        let bytes = protect::append_mac(&mut i2, rhash, &mac_key.integ)
            .and_then(|()| protect::append_signature(&mut i2, id, false, random))
            .and_then(|()| protect::emit(&i2, src, dst, udp_port.is_some()))
            .map_err(|_| DropReason::Policy)?;
        let host_id_raw =
            cover::raw_param(inc.bytes, ParamType::HostId).map_err(|_| DropReason::Malformed)?;
        let a = self
            .assocs
            .get_mut(&pair)
            .ok_or(DropReason::UnknownAssociation)?;
        a.r1_guard = guard;
        a.profile = profile;
        a.rhash = Some(rhash);
        a.peer_hi = Some(peer_hi);
        a.peer_host_id_raw = host_id_raw;
        a.peer_transport_candidate = super::udp_mapping::offered_transport(repr).map(Box::new);
        a.relay_carries_esp = inc.udp_port.is_some_and(|p| {
            super::udp_mapping::relayed_at(repr, std::net::SocketAddr::new(inc.src, p))
        });
        a.hip_suite = Some(choices.hip);
        a.esp_suite = Some(choices.esp);
        a.spi_in = spi_in;
        a.keys = Some(keys);
        a.peer_dh = Some(crate::wire::DhValue {
            group: choices.group,
            public: choices.peer_dh.clone(),
        });
        a.dh = Some(dh.into_secret());
        a.last_sent = Some(bytes.clone());
        a.initiator = true;
        let step = a.driver.apply(now, Input::R1 { ok: true });
        if step.action != Action::SendI2 {
            return Err(DropReason::UnexpectedInState);
        }
        self.transmit(src, dst, udp_port, bytes);
        Ok(())
    }

    /// The negotiation an R1 asks for (sections 6.8, 5.2.6-5.2.11).
    fn r1_choices(
        &self,
        repr: &HipRepr,
        idx: usize,
        profile: CompatProfile,
    ) -> Result<R1Choices, NegotiationError> {
        let version = repr.version;
        let ours = groups_for(version, profile, &self.cfg);
        let Some(ParamRepr::DiffieHellman(dh)) = repr.param(ParamType::DiffieHellman) else {
            return Err(NegotiationError::NoDhGroup);
        };
        // v1 R1s may carry two values (HIPL sends groups 3 and 1): take the one we like best.
        let value = ours
            .iter()
            .find_map(|g| dh.values.iter().find(|v| v.group == *g))
            .ok_or(NegotiationError::NoDhGroup)?;
        if version != Version::V1 || profile.v1_with_group_list() {
            let list = match repr.param(ParamType::DhGroupList) {
                Some(ParamRepr::DhGroupList(l)) => l.clone(),
                _ => return Err(NegotiationError::NoDhGroup),
            };
            negotiate::initiator_check_dh(&ours, &list, value.group)?;
        }
        if version != Version::V1 {
            if let Some(ParamRepr::HitSuiteList(l)) = repr.param(ParamType::HitSuiteList) {
                let our_suite = self.identities[idx]
                    .hit
                    .oga_id()
                    .map(HitSuiteId::from)
                    .ok_or(NegotiationError::UnsupportedHitSuite)?;
                negotiate::check_hit_suite(&ParamRepr::hit_suites(l), our_suite)?;
            }
        }
        let hip = match version {
            Version::V1 => {
                let offer = match repr.param(ParamType::HipTransform) {
                    Some(ParamRepr::HipTransform(l)) => l.clone(),
                    _ => Vec::new(),
                };
                HipSuite::V1(negotiate::pick_hip_cipher(
                    &offer,
                    &self.cfg.hip_transforms,
                )?)
            }
            _ => {
                let offer = match repr.param(ParamType::HipCipher) {
                    Some(ParamRepr::HipCipher(l)) => l.clone(),
                    _ => Vec::new(),
                };
                HipSuite::V2(negotiate::pick_hip_cipher(&offer, &self.cfg.hip_ciphers)?)
            }
        };
        let esp_offer = match repr.param(ParamType::EspTransform) {
            Some(ParamRepr::EspTransform { suites, .. }) => suites.clone(),
            _ => Vec::new(),
        };
        let esp = negotiate::pick_esp_transform(&esp_offer, &self.cfg.esp_transforms)?;
        let transport = match (version, repr.param(ParamType::TransportFormatList)) {
            (Version::V1, _) => None,
            (_, Some(ParamRepr::TransportFormatList(l))) => Some(negotiate::pick_transport_format(
                l,
                &self.cfg.transport_formats,
            )?),
            (_, _) => None,
        };
        Ok(R1Choices {
            group: value.group,
            peer_dh: value.public.clone(),
            hip,
            esp,
            transport,
        })
    }

    /// R2: HIP_MAC_2 verified before parsing (`mac_check`); verify the
    /// signature, learn the outbound SPI (section 6.10).
    pub(super) fn on_r2(
        &mut self,
        now: Instant,
        inc: &Incoming<'_>,
        repr: &HipRepr,
        _mac: MacChecked,
        random: &mut dyn RandomSource,
    ) -> Result<(), DropReason> {
        let bytes = inc.bytes;
        let pair: HitPair = (repr.receiver_hit, repr.sender_hit);
        let a = self
            .assocs
            .get_mut(&pair)
            .ok_or(DropReason::UnknownAssociation)?;
        match a.driver.state() {
            State::I2Sent => {}
            State::Established | State::R2Sent => return Err(DropReason::Replay),
            _ => return Err(DropReason::UnexpectedInState),
        }
        let (Some(keys), Some(peer_hi), Some(hip)) = (&mut a.keys, &a.peer_hi, a.hip_suite) else {
            return Err(DropReason::UnexpectedInState);
        };
        protect::check_signature(
            bytes,
            repr,
            peer_hi,
            scheme(a.version),
            a.profile.r2_uses_signature_2(),
        )?;
        let Some(ParamRepr::EspInfo(info)) = repr.param(ParamType::EspInfo) else {
            return Err(DropReason::Malformed);
        };
        keys.esp.spi_out = info.new_spi;
        a.keys_since = now;
        let esp = keys.hand_over_esp();
        a.spi_out = info.new_spi;
        a.last_sent = None;
        // Only HIP_MAC_2 of this R2 needed the HOST_ID as sent in R1.
        a.peer_host_id_raw = Vec::new();
        a.driver.apply(now, Input::R2 { ok: true });
        let ev = Event::Established {
            peer_hit: pair.1,
            local_hit: pair.0,
            version: a.version,
            hip,
            esp,
            local_locator: a.local_locator,
            peer_locator: a.peer_locator,
            udp_port: a.udp_port,
        };
        self.counters.established += 1;
        self.event(ev);
        // REG_RESPONSE / REG_FAILED in R2; requests not sent in I2 follow in UPDATE.
        self.requester_answer(now, pair, repr);
        self.requester_established(now, pair);
        if !self.check_r2_source(now, pair, inc, random)
            && !self.check_offered_transport(now, pair, inc.dst, random)
        {
            if let Some(a) = self.assocs.get_mut(&pair) {
                a.peer_transport_candidate = None;
            }
        }
        Ok(())
    }

    /// A second R2 of an ESTABLISHED association from a transport address
    /// worth checking: the Responder's copy that came after the one through
    /// its relay ([`super::udp_mapping::r2_source_to_check`], which let it
    /// past `mac_check` unverified). HIP_MAC_2 needs the Responder's
    /// HOST_ID as sent in R1, freed at the first R2, so its HIP_SIGNATURE
    /// is checked instead, within the endpoint-wide signature budget
    /// ([`super::Config::notify_verify`], shared with NOTIFY); then its
    /// source is checked ([`Self::check_r2_source`]). Over the budget, or
    /// when the signature fails, it is the replay it looks like.
    pub(super) fn on_r2_copy(
        &mut self,
        now: Instant,
        inc: &Incoming<'_>,
        repr: &HipRepr,
        random: &mut dyn RandomSource,
    ) -> Result<(), DropReason> {
        let pair: HitPair = (repr.receiver_hit, repr.sender_hit);
        let a = self
            .assocs
            .get(&pair)
            .ok_or(DropReason::UnknownAssociation)?;
        if a.driver.state() != State::Established || !super::udp_mapping::r2_source_to_check(a, inc)
        {
            return Err(DropReason::Replay);
        }
        let Some(peer_hi) = &a.peer_hi else {
            return Err(DropReason::Replay);
        };
        let (version, sig2) = (a.version, a.profile.r2_uses_signature_2());
        if !self.notify_verify_bucket.allow(now) {
            return Err(DropReason::Replay);
        }
        protect::check_signature(inc.bytes, repr, peer_hi, scheme(version), sig2)?;
        if self.check_r2_source(now, pair, inc, random) {
            Ok(())
        } else {
            Err(DropReason::Replay)
        }
    }
}
