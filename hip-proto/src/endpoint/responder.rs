//! Responder side of the base exchange: I1 -> precomputed R1 (RFC 7401 section
//! 6.7), I2 -> R2 (section 6.9; RFC 5201 sections 6.7 and 6.9 for v1).
//!
//! The I2 checks run cheapest first and create no state until all passed
//! (section 4.1.1): puzzle (one hash plus the #I recomputation) and whether
//! the solution was spent already ([`super::spent_puzzles`]), then the DH and
//! KEYMAT, HIP_MAC, and only then the signature.

use super::core::{Endpoint, HitPair, Incoming};
use super::counters::DropReason;
use super::event::{Event, HipSuite};
use super::identity::{peer_public, scheme};
use super::negotiate::{self, NegotiationError};
use super::protect;
use super::r1_generation::{groups_for, rhash_for, R1Flavor};
use super::random::RandomSource;
use super::solution::{check_solution, SolutionView};
use super::spent_puzzles::{Spent, SpentPuzzles};
use crate::association::keys::{derive, KeyInput};
use crate::association::{Action, Input, Instant, State};
use crate::crypto::cipher;
use crate::crypto::orchid::verify_hit;
use crate::registry::{HipCipherId, HipTransformId, PacketType, Version};
use crate::wire::{EspInfo, HipRepr, HostId, Param, ParamRepr, ParamType};

impl Endpoint {
    /// I1: answer with a precomputed R1; no state is created (section 6.7).
    pub(super) fn on_i1(
        &mut self,
        now: Instant,
        inc: &Incoming<'_>,
        repr: &HipRepr,
        random: &mut dyn RandomSource,
    ) -> Result<(), DropReason> {
        // Not ours: a rendezvous client's, perhaps (RFC 8004 section 4.3.2).
        if !repr.receiver_hit.is_null() && self.identity_index(&repr.receiver_hit).is_none() {
            return self.relay_i1(now, inc, repr);
        }
        let idx = if repr.receiver_hit.is_null() {
            self.default_identity(repr.version)
        } else {
            self.identity_index(&repr.receiver_hit)
        }
        .ok_or(DropReason::NotForUs)?;
        if self.identities[idx].version != repr.version {
            return Err(DropReason::NotForUs);
        }
        // Relayed by our rendezvous server: RVS_HMAC checked, the R1 goes to
        // the initiator's address in FROM (RFC 8004 sections 4.3.2-4.3.3).
        let relayed = self.relayed_i1_origin(inc, repr)?;
        let r1_dst = relayed.map_or(inc.src, |r| r.from);
        // Before anything else is done for it (no allocation, no signing):
        // the R1 budget toward the I1's source address (r1_rate_limit).
        if !self.r1_limit.allow(now, r1_dst) {
            return Err(DropReason::R1RateLimited);
        }
        let pair: HitPair = (self.identities[idx].hit, repr.sender_hit);
        if let Some(a) = self.assocs.get_mut(&pair) {
            // Simultaneous opening and the other tables (section 4.4.2).
            if a.driver.apply(now, Input::I1).action != Action::SendR1 {
                return Err(DropReason::UnexpectedInState);
            }
        }
        let profile = self.incoming_profile(inc);
        let groups = groups_for(repr.version, profile, &self.cfg);
        let offered: Vec<_> = match repr.param(ParamType::DhGroupList) {
            Some(ParamRepr::DhGroupList(l)) => l.clone(),
            _ => Vec::new(),
        };
        // No common group: answer with our preferred one; the initiator's
        // downgrade check then fails cleanly with NO_DH_PROPOSAL_CHOSEN.
        let group = negotiate::responder_pick_dh(&offered, &groups)
            .ok()
            .or_else(|| groups.first().copied())
            .ok_or(DropReason::Policy)?;
        // A relayed I1's R1 goes to the initiator directly, over raw IP.
        let udp_port = if relayed.is_some() {
            None
        } else {
            inc.udp_port
        };
        let udp = udp_port.is_some();
        let mut bytes = self
            .r1
            .serve(
                &self.cfg,
                &self.identities[idx],
                group,
                R1Flavor::for_profile(profile),
                &repr.sender_hit,
                inc.dst,
                r1_dst,
                udp,
                random,
            )
            .map_err(|_| DropReason::Policy)?;
        self.counters.r1_sent += 1;
        match relayed {
            Some(r) => {
                let via = crate::wire::ParamRepr::ViaRvs(vec![super::registration::raw_of(r.rvs)]);
                super::rendezvous::append_param(&mut bytes, &via)
                    .map_err(|_| DropReason::Policy)?;
                self.counters.r1_via_rvs += 1;
                self.transmit(inc.dst, r1_dst, None, bytes);
            }
            None => self.transmit_checksummed(inc.dst, inc.src, udp_port, bytes),
        }
        Ok(())
    }

    /// I2: verify, create the association, answer with R2 (section 6.9).
    pub(super) fn on_i2(
        &mut self,
        now: Instant,
        inc: &Incoming<'_>,
        repr: &HipRepr,
        random: &mut dyn RandomSource,
    ) -> Result<(), DropReason> {
        let idx = self
            .identity_index(&repr.receiver_hit)
            .ok_or(DropReason::NotForUs)?;
        let version = repr.version;
        if self.identities[idx].version != version {
            return Err(DropReason::NotForUs);
        }
        let (hit_r, hit_i) = (repr.receiver_hit, repr.sender_hit);
        let pair: HitPair = (hit_r, hit_i);
        let profile = self.incoming_profile(inc);
        let Some(ParamRepr::Solution(sol)) = repr.param(ParamType::Solution) else {
            return Err(DropReason::Malformed);
        };
        if let Some(a) = self.assocs.get(&pair) {
            if a.created_by_i2(&sol.i, &sol.j) {
                // A retransmitted I2 (our R2 was lost, section 6.9 step 3):
                // the same R2 again, no new state, but only while the exchange
                // it belongs to is open and only to the peer's locator. A copy
                // from elsewhere, or after CLOSE, is a replay.
                let open = matches!(a.driver.state(), State::R2Sent | State::Established);
                let from_peer = (inc.src == a.peer_locator && inc.udp_port == a.udp_port)
                    || (a.upd().pending_locator.is_some_and(|(l, _)| l == inc.src)
                        && a.upd().pending_udp_port == Some(inc.udp_port));
                match a.r2.clone() {
                    Some(r2) if open && from_peer => {
                        self.counters.i2_resent += 1;
                        self.r2_direct(inc.dst, &r2);
                        self.transmit(inc.dst, inc.src, inc.udp_port, r2);
                        return Ok(());
                    }
                    _ => return Err(DropReason::I2Replayed),
                }
            }
            let s = crate::association::state::step(
                a.driver.state(),
                Input::I2 { ok: true },
                crate::association::HitOrder::of(&hit_r, &hit_i),
            );
            if s.action != Action::SendR2 {
                return Err(DropReason::UnexpectedInState);
            }
        }
        let rhash = rhash_for(version, &hit_r).ok_or(DropReason::Malformed)?;
        // 1. Puzzle: #I must come from a live secret, J must solve it (and
        // how it solves it may name the peer's implementation).
        let profile = check_solution(
            &self.r1.secrets,
            rhash,
            profile,
            &hit_i,
            &hit_r,
            &SolutionView {
                k: sol.k,
                opaque: &sol.opaque,
                i: &sol.i,
                j: &sol.j,
            },
        )?;
        let generation = u16::from_be_bytes(sol.opaque);
        // 2. Diffie-Hellman with the R1 template's key.
        let Some(ParamRepr::DiffieHellman(dh)) = repr.param(ParamType::DiffieHellman) else {
            return Err(DropReason::Malformed);
        };
        let value = dh.values.first().ok_or(DropReason::Malformed)?;
        // 1b. Each solution is good for one exchange (spent_puzzles).
        let spent =
            SpentPuzzles::fingerprint(generation, &hit_i, &hit_r, &sol.i, &sol.j, &value.public);
        self.spent.check(generation, &spent).map_err(|e| match e {
            Spent::Replayed => DropReason::I2Replayed,
            Spent::Full => DropReason::I2SpentSetFull,
        })?;
        let template = self
            .r1
            .template(
                generation,
                &hit_r,
                value.group,
                R1Flavor::for_profile(profile),
            )
            .ok_or(DropReason::BadPuzzle)?;
        let kij = template
            .dh
            .agree(&value.public)
            .map_err(|_| DropReason::Malformed)?;
        let host_id_raw = template.host_id_raw.clone();
        // Kept for a later rekey that brings only the peer's new DH key.
        let own_dh = template.dh.secret().clone();
        let peer_dh = value.clone();
        // 3. Negotiation against what our R1 offered.
        let hip = match self.i2_choices(repr) {
            Ok(c) => c,
            Err(e) => {
                self.send_notify(pair, inc, e.notify(), &[], random);
                return Err(DropReason::Negotiation);
            }
        };
        let (hip_suite, esp_suite) = hip;
        let Some(ParamRepr::EspInfo(esp_info)) = repr.param(ParamType::EspInfo) else {
            return Err(DropReason::Malformed);
        };
        let spi_in = self.fresh_spi(random);
        let mut keys = derive(
            &KeyInput {
                rhash,
                kij: &profile.shape_kij(value.group, &kij),
                i: &sol.i,
                j: &sol.j,
                hit_i,
                hit_r,
                local: hit_r,
                hip: hip_suite,
                esp: esp_suite,
                spi_in,
                spi_out: esp_info.new_spi,
            },
            version == Version::V1,
        )
        .map_err(|_| DropReason::Negotiation)?;
        // 4. HIP_MAC with the initiator's outgoing key.
        let (ours, theirs) = keys.hip_keys();
        let (mac_in, mac_out) = match profile.bex_mac_key_order() {
            super::compat::MacKeyOrder::Rfc => (theirs, ours),
            super::compat::MacKeyOrder::LesserHitFirst => (ours, theirs),
        };
        protect::check_mac(inc.bytes, rhash, &mac_in.integ)?;
        // 5. The initiator's Host Identity and its signature.
        let host_id = match repr.param(ParamType::HostId) {
            Some(ParamRepr::HostId(h)) => h.clone(),
            _ => decrypt_host_id(repr, hip_suite, &theirs.enc)?,
        };
        let peer_hi = peer_public(&host_id).map_err(|_| DropReason::Malformed)?;
        if !verify_hit(&hit_i, &peer_hi) {
            return Err(DropReason::HitMismatch);
        }
        protect::check_signature(inc.bytes, repr, &peer_hi, scheme(version), false)?;
        let mac_out = mac_out.integ.to_vec();

        // All checks passed: state for this peer starts here.
        let mut r2 = HipRepr::new(PacketType::R2, profile.wire_version(version), hit_r, hit_i);
        r2.params.push(ParamRepr::EspInfo(EspInfo {
            reserved: 0,
            keymat_index: keys.esp.keymat_index,
            old_spi: 0,
            new_spi: spi_in,
        }));
        // REG_REQUEST in I2 (RFC 8003 section 3.3): answered in R2, applied
        // once the I2 is accepted.
        let seen = inc
            .udp_port
            .map(|port| std::net::SocketAddr::new(inc.src, port));
        let registration = self.registrar_decide(now, hit_i, repr, seen, inc.dst);
        if let Some(d) = &registration {
            for p in &d.params {
                r2.insert_ordered(p.clone());
            }
        }
        let id = &self.identities[idx];
        let built = protect::append_mac_2(
            &mut r2,
            rhash,
            &mac_out,
            &host_id_raw,
            profile.mac_2_host_id_place(),
        )
        .and_then(|()| {
            protect::append_signature(&mut r2, id, profile.r2_uses_signature_2(), random)
        })
        .and_then(|()| protect::emit(&r2, inc.dst, inc.src, inc.udp_port.is_some()));
        let r2_bytes = built.map_err(|_| DropReason::Policy)?;
        if !self.spent.spend(generation, spent) {
            return Err(DropReason::I2Replayed);
        }
        if self.spent.crowded() {
            self.rotate_now(now, random);
        }
        // A new exchange starts a new association (sections 4.4.2 and 6.9:
        // in ESTABLISHED, CLOSING or CLOSED the peer lost its state): nothing
        // of the old one carries over, in particular not its UPDATE sequence
        // numbers (the restarted peer counts from 1 again, section 6.11), a
        // pending rekey or address check, or the peer's old locators.
        let old = self.assocs.remove(&pair);
        // The old association's path, when the peer's new I2 comes from
        // another address: traffic stays on the verified path until the peer
        // answers at the new one (RFC 8046 section 5.4; rfc-notes). Verified
        // means ESTABLISHED, or a replacement of it whose check is pending.
        let keep = old
            .filter(|o| {
                o.driver.state() == State::Established
                    || (o.driver.state() == State::R2Sent && o.upd().pending_udp_port.is_some())
            })
            .filter(|o| o.peer_locator != inc.src)
            .map(|o| (o.local_locator, o.peer_locator, o.udp_port));
        let mut a = self.new_association(now, pair, version, profile, inc.dst, inc.src);
        let step = a.driver.apply(now, Input::I2 { ok: true });
        debug_assert_eq!(step.action, Action::SendR2);
        a.version = version;
        a.initiator = false;
        (a.local_locator, a.peer_locator, a.udp_port) =
            keep.unwrap_or((inc.dst, inc.src, inc.udp_port));
        a.rhash = Some(rhash);
        a.peer_hi = Some(peer_hi);
        a.hip_suite = Some(hip_suite);
        a.esp_suite = Some(esp_suite);
        a.spi_in = spi_in;
        a.spi_out = esp_info.new_spi;
        a.r2 = Some(r2_bytes.clone());
        a.r2_until = now + crate::association::context::R2_KEPT_FOR;
        let esp = keys.hand_over_esp();
        let (local_locator, peer_locator, udp_port) = (a.local_locator, a.peer_locator, a.udp_port);
        a.keys = Some(keys);
        a.dh = Some(own_dh);
        a.peer_dh = Some(peer_dh);
        a.keys_since = now;
        self.assocs.insert(pair, a);
        // Through our relay: a copy straight to the Initiator as well.
        self.r2_direct(inc.dst, &r2_bytes);
        self.transmit(inc.dst, inc.src, inc.udp_port, r2_bytes);
        self.counters.established += 1;
        self.event(Event::Established {
            peer_hit: hit_i,
            local_hit: hit_r,
            version,
            hip: hip_suite,
            esp,
            local_locator,
            peer_locator,
            udp_port,
        });
        if let Some(d) = registration {
            self.registrar_commit(now, pair, d);
        }
        if keep.is_some() {
            self.verify_source(now, pair, inc.dst, (inc.src, inc.udp_port), true, random);
        }
        debug_assert_eq!(self.state(hit_r, hit_i), State::R2Sent);
        Ok(())
    }

    /// The HIP and ESP suites an I2 chose, checked against our offer.
    fn i2_choices(
        &self,
        repr: &HipRepr,
    ) -> Result<(HipSuite, crate::registry::EspTransformId), NegotiationError> {
        let hip = match repr.version {
            Version::V1 => {
                let chosen = match repr.param(ParamType::HipTransform) {
                    Some(ParamRepr::HipTransform(l)) => l.first().copied(),
                    _ => None,
                }
                .ok_or(NegotiationError::NoHipCipher)?;
                HipSuite::V1(negotiate::check_hip_cipher(
                    &self.cfg.hip_transforms,
                    chosen,
                )?)
            }
            _ => {
                let chosen = match repr.param(ParamType::HipCipher) {
                    Some(ParamRepr::HipCipher(l)) => l.first().copied(),
                    _ => None,
                }
                .ok_or(NegotiationError::NoHipCipher)?;
                if let Some(ParamRepr::TransportFormatList(l)) =
                    repr.param(ParamType::TransportFormatList)
                {
                    negotiate::pick_transport_format(l, &self.cfg.transport_formats)?;
                }
                HipSuite::V2(negotiate::check_hip_cipher(&self.cfg.hip_ciphers, chosen)?)
            }
        };
        let esp_list = match repr.param(ParamType::EspTransform) {
            Some(ParamRepr::EspTransform { suites, .. }) => suites.clone(),
            _ => Vec::new(),
        };
        let esp = negotiate::check_esp_transform(&self.cfg.esp_transforms, &esp_list)?;
        Ok((hip, esp))
    }
}

/// HOST_ID carried in ENCRYPTED (RFC 7401 section 5.2.18): IV then the
/// encrypted parameter, with the initiator's HIP encryption key.
fn decrypt_host_id(repr: &HipRepr, suite: HipSuite, key: &[u8]) -> Result<HostId, DropReason> {
    let Some(ParamRepr::Encrypted { data, .. }) = repr.param(ParamType::Encrypted) else {
        return Err(DropReason::Malformed);
    };
    let c = match suite {
        HipSuite::V2(c) => c,
        HipSuite::V1(HipTransformId::AesCbcHmacSha1) => HipCipherId::Aes128Cbc,
        HipSuite::V1(_) => HipCipherId::NullEncrypt,
    };
    let iv_len = cipher::iv_len(c).ok_or(DropReason::Malformed)?;
    if data.len() < iv_len {
        return Err(DropReason::Malformed);
    }
    let (iv, ct) = data.split_at(iv_len);
    let mut pt = ct.to_vec();
    cipher::decrypt(c, key, iv, &mut pt).map_err(|_| DropReason::Malformed)?;
    let p = Param::parse(&pt, 0).map_err(|_| DropReason::Malformed)?;
    match ParamRepr::parse(p.raw_type(), p.contents()) {
        Ok(ParamRepr::HostId(h)) => Ok(h),
        _ => Err(DropReason::Malformed),
    }
}
