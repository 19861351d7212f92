//! UPDATE for rekeying (RFC 7401 sections 6.11-6.12, RFC 7402 section 6.9):
//! the initiator of the rekey sends ESP_INFO (old SPI, new SPI, KEYMAT index)
//! and SEQ; the peer answers with its own ESP_INFO, SEQ and an ACK; a final
//! ACK completes it. New ESP keys are drawn from KEYMAT at the index the
//! rekey initiator gave (section 6.9.2 "continuing KEYMAT"), or, when either
//! side brought a new Diffie-Hellman key, from index 0 of a fresh KEYMAT
//! (section 6.10, [`super::rekey_dh`]); new SAs are announced with
//! [`Event::Rekeyed`]. A retransmitted UPDATE is answered with
//! the same reply and processed once; older Update IDs are dropped.

use super::core::{Endpoint, HitPair, Incoming};
use super::counters::DropReason;
use super::event::Event;
use super::mac_check::MacChecked;
use super::protect::BuildError;
use super::r1_generation::fresh_dh;
use super::random::RandomSource;
use super::rekey_dh;
use crate::association::keys::{esp_keys_at, rekey_from_keymat};
use crate::association::{Input, Instant, PendingRekey, SeqDisposition, State};
use crate::registry::PacketType;
use crate::wire::{EspInfo, HipRepr, ParamRepr, ParamType};
use crate::Hit;

/// Why a rekey could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RekeyError {
    /// No established association with that peer.
    #[error("no established association")]
    NotEstablished,
    /// An UPDATE is already outstanding.
    #[error("an UPDATE is already outstanding")]
    Busy,
    /// KEYMAT index beyond 16 bits.
    #[error("KEYMAT exhausted")]
    KeymatExhausted,
    /// No Diffie-Hellman group known for a rekey with a new key.
    #[error("no Diffie-Hellman group for a new key")]
    NoDhGroup,
    /// Building the UPDATE failed.
    #[error(transparent)]
    Build(#[from] BuildError),
}

impl Endpoint {
    /// Starts a rekey with `peer` (RFC 7402 section 6.8): new inbound SPI, new
    /// keys from the unused part of KEYMAT, or, with
    /// [`Config::rekey_new_dh`](super::Config::rekey_new_dh), a new
    /// Diffie-Hellman key and KEYMAT index 0.
    pub fn rekey(
        &mut self,
        now: Instant,
        local: Hit,
        peer: Hit,
        random: &mut dyn RandomSource,
    ) -> Result<(), RekeyError> {
        self.clock = self.clock.max(now);
        let pair = (local, peer);
        let new_spi_in = self.fresh_spi(random);
        let with_dh = self.cfg.rekey_new_dh;
        let a = self
            .assocs
            .get_mut(&pair)
            .ok_or(RekeyError::NotEstablished)?;
        if a.driver.state() != State::Established {
            return Err(RekeyError::NotEstablished);
        }
        if a.upd().update_packet.is_some() {
            return Err(RekeyError::Busy);
        }
        let keys = a.keys.as_ref().ok_or(RekeyError::NotEstablished)?;
        // Section 6.8 steps 1 and 5: a new key means KEYMAT index 0.
        let dh = if with_dh {
            let group = a.peer_dh.as_ref().ok_or(RekeyError::NoDhGroup)?.group;
            Some(fresh_dh(group, random).map_err(|_| RekeyError::NoDhGroup)?)
        } else {
            None
        };
        let keymat_index = match dh {
            Some(_) => 0,
            None => u16::try_from(keys.next_index).map_err(|_| RekeyError::KeymatExhausted)?,
        };
        let seq = a.upd_mut().update.next_seq();
        let mut r = HipRepr::new(PacketType::Update, a.wire_version(), local, peer);
        r.params.push(ParamRepr::EspInfo(EspInfo {
            reserved: 0,
            keymat_index,
            old_spi: a.spi_in,
            new_spi: new_spi_in,
        }));
        r.params.push(ParamRepr::Seq(seq));
        if let Some(dh) = &dh {
            r.insert_ordered(rekey_dh::param(dh));
        }
        // Without a new key the inbound keys are known now and installed
        // before the peer can use them; with one they wait for its answer.
        let ready = match dh {
            Some(_) => None,
            None => a.keys.as_ref().and_then(|k| {
                let (_, inn) = esp_keys_at(k, None, keymat_index).ok()?;
                Some(Event::InboundSaReady {
                    peer_hit: peer,
                    suite: k.esp.suite,
                    spi: new_spi_in,
                    keys: inn,
                })
            }),
        };
        a.rekey = Some(Box::new(PendingRekey {
            new_spi_in,
            keymat_index,
            dh,
            ..Default::default()
        }));
        let bytes = self.protect_and_emit(pair, &mut r, random)?;
        if let Some(e) = ready {
            self.event(e);
        }
        let a = self
            .assocs
            .get_mut(&pair)
            .ok_or(RekeyError::NotEstablished)?;
        a.upd_mut().update_packet = Some(bytes.clone());
        a.upd_mut().update_retx.start(now);
        let (s, d, u) = (a.local_locator, a.peer_locator, a.udp_port);
        self.transmit(s, d, u, bytes);
        Ok(())
    }

    /// UPDATE from the peer (RFC 7401 section 6.12).
    pub(super) fn on_update(
        &mut self,
        now: Instant,
        inc: &Incoming<'_>,
        repr: &HipRepr,
        _mac: MacChecked,
        random: &mut dyn RandomSource,
    ) -> Result<(), DropReason> {
        let pair: HitPair = (repr.receiver_hit, repr.sender_hit);
        let a = self.assocs.get(&pair).ok_or(DropReason::NotPeer)?;
        if !matches!(a.driver.state(), State::Established | State::R2Sent) {
            return Err(DropReason::UnexpectedInState);
        }
        self.verify_peer_signature(pair, inc.bytes, repr)?;
        // Registration answers to our REG_REQUEST (RFC 8003 section 3.3).
        self.requester_answer(now, pair, repr);
        let with_dh = self.cfg.rekey_new_dh;
        let a = self.assocs.get_mut(&pair).ok_or(DropReason::NotPeer)?;
        let peer_new_dh = rekey_dh::received(repr, a)?;
        // Answer from the address the peer reached us at (it may have failed
        // over to another of our locators, RFC 8047).
        if inc.dst.is_ipv4() == a.local_locator.is_ipv4() {
            a.local_locator = inc.dst;
        }
        let low_byte = a.profile.ack_low_byte_only();
        // ACK first (section 6.12.2): it may complete our outstanding UPDATE.
        let mut acked = false;
        if let Some(ParamRepr::Ack(ids)) = repr.param(ParamType::Ack) {
            for id in ids {
                if a.upd_mut().update.on_ack(*id, low_byte).is_ok() {
                    acked = true;
                    a.upd_mut().update_retx.stop();
                    a.upd_mut().update_packet = None;
                }
            }
        }
        let seq = match repr.param(ParamType::Seq) {
            Some(ParamRepr::Seq(s)) => Some(*s),
            _ => None,
        };
        let esp_info = match repr.param(ParamType::EspInfo) {
            Some(ParamRepr::EspInfo(e)) => Some(e.clone()),
            _ => None,
        };
        a.driver.apply(now, Input::Update { ok: true });
        a.peer_has_r2();
        let Some(seq) = seq else {
            // An address check without SEQ (profile `openhip`): echoed.
            if a.profile.echo_without_seq() && has_echo_request(repr) {
                self.echo_back(pair, inc, repr, random)?;
                if !acked {
                    return Ok(());
                }
            }
            // ACK-only UPDATE: the third message of a peer-started rekey.
            if !acked {
                return Err(DropReason::Replay);
            }
            // Authenticated and fresh: a NAT rebinding is adopted (RFC 5770).
            self.adopt_udp_port(pair, inc.src, inc.udp_port);
            let a = self.assocs.get_mut(&pair).ok_or(DropReason::NotPeer)?;
            if a.rekey.as_ref().is_some_and(|r| r.new_spi_out.is_some()) {
                if let Some(r) = a.rekey.take() {
                    self.finish_rekey(now, pair, *r)?;
                }
            }
            self.locator_verified(pair, repr);
            return Ok(());
        };
        let disposition = a.upd_mut().update.on_seq(seq);
        if !matches!(disposition, SeqDisposition::Stale) {
            self.adopt_udp_port(pair, inc.src, inc.udp_port);
        }
        let a = self.assocs.get_mut(&pair).ok_or(DropReason::NotPeer)?;
        match disposition {
            SeqDisposition::Stale => return Err(DropReason::Replay),
            SeqDisposition::Retransmission => {
                self.counters.update_resent += 1;
                self.resend(pair, |a| a.upd().update_reply.as_ref());
                return Ok(());
            }
            SeqDisposition::New => {}
        }
        let mut reply = HipRepr::new(PacketType::Update, a.wire_version(), pair.0, pair.1);
        let mut finished = None;
        let mut inbound_ready = None;
        if let Some(info) = esp_info.filter(|i| i.old_spi != i.new_spi) {
            let profile = a.profile;
            let peer_old = a.peer_dh.as_ref().map(|v| v.public.clone());
            // A rekey keeps the base exchange's group (RFC 7402 section 6.9.1).
            let dh_group = a
                .peer_dh
                .as_ref()
                .map_or(crate::registry::DhGroupId::Modp3072, |v| v.group);
            match a.rekey.take() {
                // The answer to our rekey: its ACK matched our SEQ.
                Some(mut r) if acked => {
                    r.new_spi_out = Some(info.new_spi);
                    let kij = rekey_dh::kij(
                        r.dh.as_ref(),
                        a.dh.as_ref(),
                        peer_new_dh.as_deref(),
                        peer_old.as_deref(),
                    )?;
                    match kij {
                        Some(kij) => {
                            let keys = a.keys.as_ref().ok_or(DropReason::UnexpectedInState)?;
                            let kij = profile.shape_kij(dh_group, &kij);
                            // Our inbound SA, announced early with continued
                            // KEYMAT or not at all, gets the fresh keys before
                            // the peer can use it (it switches on our ACK).
                            let inn = esp_keys_at(keys, Some(&kij), 0)
                                .map_err(|_| DropReason::Policy)?
                                .1;
                            inbound_ready = Some(Event::InboundSaReady {
                                peer_hit: pair.1,
                                suite: keys.esp.suite,
                                spi: r.new_spi_in,
                                keys: inn,
                            });
                            r.kij = Some(kij);
                            r.keymat_index = 0;
                        }
                        // Section 6.10 step 2: the greater of the two indexes.
                        None => r.keymat_index = r.keymat_index.max(info.keymat_index),
                    }
                    r.peer_dh = peer_new_dh;
                    finished = Some(r);
                }
                // The peer starts a rekey: answer with our ESP_INFO and SEQ
                // (section 6.9.1), with a new DH key if it sent one or policy asks.
                other => {
                    a.rekey = other;
                    let group = a.peer_dh.as_ref().map(|v| v.group);
                    let ours = match group {
                        Some(g) if peer_new_dh.is_some() || with_dh => {
                            Some(fresh_dh(g, random).map_err(|_| DropReason::BadRekeyDh)?)
                        }
                        _ => None,
                    };
                    let a = self.assocs.get_mut(&pair).ok_or(DropReason::NotPeer)?;
                    let kij = rekey_dh::kij(
                        ours.as_ref(),
                        a.dh.as_ref(),
                        peer_new_dh.as_deref(),
                        peer_old.as_deref(),
                    )?;
                    a.keys.as_ref().ok_or(DropReason::UnexpectedInState)?;
                    let (fresh_kij, keymat_index) = match kij {
                        Some(kij) => (Some(profile.shape_kij(dh_group, &kij)), 0),
                        None => (None, info.keymat_index),
                    };
                    let our_seq = a.upd_mut().update.next_seq();
                    let spi = a.spi_in;
                    let new_spi_in = self.fresh_spi(random);
                    let a = self.assocs.get_mut(&pair).ok_or(DropReason::NotPeer)?;
                    reply.params.push(ParamRepr::EspInfo(EspInfo {
                        reserved: 0,
                        keymat_index,
                        old_spi: spi,
                        new_spi: new_spi_in,
                    }));
                    reply.params.push(ParamRepr::Seq(our_seq));
                    if let Some(dh) = &ours {
                        reply.insert_ordered(rekey_dh::param(dh));
                    }
                    if let Some((k, suite)) = a.keys.as_ref().and_then(|k| {
                        let inn =
                            esp_keys_at(k, fresh_kij.as_deref().map(Vec::as_slice), keymat_index)
                                .ok()?
                                .1;
                        Some((inn, k.esp.suite))
                    }) {
                        inbound_ready = Some(Event::InboundSaReady {
                            peer_hit: pair.1,
                            suite,
                            spi: new_spi_in,
                            keys: k,
                        });
                    }
                    a.rekey = Some(Box::new(PendingRekey {
                        new_spi_in,
                        new_spi_out: Some(info.new_spi),
                        keymat_index,
                        dh: ours,
                        peer_dh: peer_new_dh,
                        kij: fresh_kij,
                    }));
                }
            }
        }
        reply.insert_ordered(ParamRepr::Ack(vec![seq]));
        // REG_REQUEST in UPDATE (RFC 8003 sections 3.2-3.3): REG_INFO and the
        // answer go in our reply, applied once it is built.
        let seen = inc
            .udp_port
            .map(|port| std::net::SocketAddr::new(inc.src, port));
        let registration = self.registrar_update_answer(now, pair, repr, seen, inc.dst);
        // PEER_PERMISSION from a Data Relay Client (RFC 9028 section 4.12.1).
        self.permit(now, pair, repr);
        if let Some((params, _)) = &registration {
            for p in params {
                reply.insert_ordered(p.clone());
            }
        }
        // Mobility (RFC 8046 section 3.2.1): verify an announced address, answer
        // a verification request, complete our own verification.
        let verify_at = self.verify_announced_locator(pair, inc, repr, &mut reply, random);
        if let Some(ParamRepr::EchoRequestSigned(e)) = repr.param(ParamType::EchoRequestSigned) {
            reply.insert_ordered(ParamRepr::EchoResponseSigned(e.clone()));
        }
        self.locator_verified(pair, repr);
        let mut bytes = self
            .protect_and_emit_to(pair, &mut reply, verify_at, random)
            .map_err(|_| DropReason::Policy)?;
        append_unsigned_echoes(&mut bytes, repr)?;
        let a = self.assocs.get_mut(&pair).ok_or(DropReason::NotPeer)?;
        a.upd_mut().update_reply = Some(bytes.clone());
        if reply.param(ParamType::Seq).is_some() {
            a.upd_mut().update_packet = Some(bytes.clone());
            a.upd_mut().update_dst = verify_at;
            a.upd_mut().update_retx.start(now);
        }
        // A transport address being verified is reached at its own port.
        let u = match (verify_at, a.upd().pending_udp_port) {
            (Some(_), Some(port)) => port,
            _ => a.udp_port,
        };
        let (s, d) = (a.local_locator, verify_at.unwrap_or(a.peer_locator));
        // The new inbound SA is announced before our reply leaves.
        if let Some(e) = inbound_ready {
            self.event(e);
        }
        self.transmit(s, d, u, bytes);
        if let Some((_, d)) = registration {
            self.registrar_commit(now, pair, d);
        }
        if let Some(r) = finished {
            self.finish_rekey(now, pair, *r)?;
        }
        Ok(())
    }

    /// Answers the echo requests of an UPDATE without SEQ with an UPDATE
    /// without SEQ from the address it reached us at
    /// ([`super::CompatProfile::echo_without_seq`]).
    fn echo_back(
        &mut self,
        pair: HitPair,
        inc: &Incoming<'_>,
        repr: &HipRepr,
        random: &mut dyn RandomSource,
    ) -> Result<(), DropReason> {
        let a = self.assocs.get(&pair).ok_or(DropReason::NotPeer)?;
        let mut r = HipRepr::new(PacketType::Update, a.wire_version(), pair.0, pair.1);
        if let Some(ParamRepr::EchoRequestSigned(e)) = repr.param(ParamType::EchoRequestSigned) {
            r.insert_ordered(ParamRepr::EchoResponseSigned(e.clone()));
        }
        let mut bytes = self
            .protect_and_emit_to(pair, &mut r, Some(inc.src), random)
            .map_err(|_| DropReason::Policy)?;
        append_unsigned_echoes(&mut bytes, repr)?;
        self.counters.update_echoed += 1;
        self.transmit(inc.dst, inc.src, inc.udp_port, bytes);
        Ok(())
    }

    /// Draws the new ESP keys and announces the new SAs (section 6.10 steps 3-4);
    /// new DH keys become the association's current ones.
    fn finish_rekey(
        &mut self,
        now: Instant,
        pair: HitPair,
        r: PendingRekey,
    ) -> Result<(), DropReason> {
        let a = self.assocs.get_mut(&pair).ok_or(DropReason::NotPeer)?;
        let spi_out = r.new_spi_out.ok_or(DropReason::UnexpectedInState)?;
        let keys = a.keys.as_mut().ok_or(DropReason::UnexpectedInState)?;
        let fresh = r.kij.is_some();
        let esp = rekey_from_keymat(keys, r.kij, r.keymat_index, r.new_spi_in, spi_out)
            .map_err(|_| DropReason::Policy)?;
        // The new keys go to the SA store; only the parameters stay.
        keys.esp = crate::association::keys::EspState::from(&esp);
        if let Some(dh) = r.dh {
            a.dh = Some(dh.into_secret());
        }
        if let (Some(public), Some(v)) = (r.peer_dh, a.peer_dh.as_mut()) {
            v.public = public;
        }
        a.spi_in = r.new_spi_in;
        a.spi_out = spi_out;
        a.rekey = None;
        a.keys_since = now;
        self.counters.rekeyed += 1;
        self.counters.rekeyed_new_dh += u64::from(fresh);
        self.event(Event::Rekeyed {
            peer_hit: pair.1,
            local_hit: pair.0,
            esp,
        });
        Ok(())
    }
}

/// Does `repr` ask for an echo (RFC 7401 sections 5.2.20-5.2.21)?
fn has_echo_request(repr: &HipRepr) -> bool {
    repr.params.iter().any(|p| {
        matches!(
            p,
            ParamRepr::EchoRequestSigned(_) | ParamRepr::EchoRequestUnsigned(_)
        )
    })
}

/// ECHO_RESPONSE_UNSIGNED for each ECHO_REQUEST_UNSIGNED of `repr`, after
/// the signature of our already protected answer `bytes` (RFC 7401 section
/// 5.2.21: the response carries the request's data unchanged; unsigned
/// parameters are outside HIP_MAC and HIP_SIGNATURE). OpenHIP 0.9 checks
/// our new address with one (`hip_send_update` in its
/// protocol/hip_output.c). The checksum is set when the packet is queued.
fn append_unsigned_echoes(bytes: &mut Vec<u8>, repr: &HipRepr) -> Result<(), DropReason> {
    for p in &repr.params {
        if let ParamRepr::EchoRequestUnsigned(d) = p {
            let echo = ParamRepr::EchoResponseUnsigned(d.clone());
            super::rendezvous::append_param(bytes, &echo).map_err(|_| DropReason::Policy)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hi::{HostIdentity, KeySpec};
    use crate::endpoint::protect;
    use crate::endpoint::{CompatProfile, Config, LocalIdentity};
    use crate::registry::Version;
    use std::net::IpAddr;

    fn rng(seed: u64) -> impl FnMut(&mut [u8]) {
        let mut x = seed | 1;
        move |b: &mut [u8]| {
            for o in b.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *o = x as u8;
            }
        }
    }

    /// Two established endpoints whose profile for each other is `profile`.
    fn pair(profile: CompatProfile) -> (Endpoint, Endpoint, HitPair, impl FnMut(&mut [u8])) {
        let mut r = rng(7);
        let id = |r: &mut dyn RandomSource| {
            let hi = HostIdentity::generate(KeySpec::EcdsaP256, &mut protect::CallerRng(r))
                .expect("key");
            LocalIdentity::new(hi, Version::V1).expect("identity")
        };
        let (ia, ib) = (id(&mut r), id(&mut r));
        let (ha, hb) = (ia.hit, ib.hit);
        let cfg = |peer| {
            let mut c = Config::default();
            c.peer_profiles.insert(peer, profile);
            c
        };
        let mut a = Endpoint::new(cfg(hb), &mut r).expect("a");
        let mut b = Endpoint::new(cfg(ha), &mut r).expect("b");
        a.add_identity(ia);
        b.add_identity(ib);
        let (la, lb): (IpAddr, IpAddr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let t = Instant(1_000_000_000);
        a.connect(t, ha, hb, la, lb, None).expect("connect");
        for _ in 0..4 {
            shuttle(&mut a, &mut b, t, &mut r);
            shuttle(&mut b, &mut a, t, &mut r);
        }
        assert_eq!(a.state(ha, hb), State::Established);
        b.data_received(t, hb, ha);
        (a, b, (ha, hb), r)
    }

    /// Hands `from`'s transmits to `to`; returns them.
    fn shuttle(
        from: &mut Endpoint,
        to: &mut Endpoint,
        t: Instant,
        r: &mut dyn RandomSource,
    ) -> Vec<crate::endpoint::Transmit> {
        let mut v = Vec::new();
        while let Some(x) = from.poll_transmit() {
            let _ = to.handle_checked(
                t,
                Incoming {
                    src: x.src,
                    dst: x.dst,
                    udp_port: x.udp_port,
                    bytes: &x.bytes,
                },
                r,
            );
            v.push(x);
        }
        while from.poll_event().is_some() {}
        v
    }

    /// A protected UPDATE from `a` with `params` and ECHO_REQUEST_UNSIGNED
    /// `nonce` after its signature, as OpenHIP sends its address checks.
    fn check_update(
        a: &Endpoint,
        pair: HitPair,
        params: Vec<ParamRepr>,
        nonce: &[u8],
        r: &mut dyn RandomSource,
    ) -> Vec<u8> {
        let mut u = HipRepr::new(PacketType::Update, Version::V1, pair.0, pair.1);
        for p in params {
            u.insert_ordered(p);
        }
        let mut bytes = a
            .protect_and_emit_to(pair, &mut u, None, r)
            .expect("protect");
        let req = ParamRepr::EchoRequestUnsigned(nonce.to_vec());
        crate::endpoint::rendezvous::append_param(&mut bytes, &req).expect("append");
        bytes
    }

    fn deliver(
        to: &mut Endpoint,
        bytes: &[u8],
        r: &mut dyn RandomSource,
    ) -> Result<(), DropReason> {
        let (s, d): (IpAddr, IpAddr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let mut b = bytes.to_vec();
        crate::wire::checksum::fill(&mut b, s, d);
        to.handle_checked(
            Instant(2_000_000_000),
            Incoming {
                src: s,
                dst: d,
                udp_port: None,
                bytes: &b,
            },
            r,
        )
    }

    fn unsigned_echoes(t: &crate::endpoint::Transmit) -> Vec<Vec<u8>> {
        HipRepr::parse_bytes(&t.bytes)
            .expect("parses")
            .params
            .into_iter()
            .filter_map(|p| match p {
                ParamRepr::EchoResponseUnsigned(d) => Some(d),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_unsigned_echo_request_in_an_update_with_seq_is_echoed() {
        let (a, mut b, pair, mut r) = pair(CompatProfile::Strict);
        let u = check_update(&a, pair, vec![ParamRepr::Seq(1)], b"nonce-1", &mut r);
        deliver(&mut b, &u, &mut r).expect("accepted");
        let out: Vec<_> = std::iter::from_fn(|| b.poll_transmit()).collect();
        assert_eq!(out.len(), 1);
        assert_eq!(unsigned_echoes(&out[0]), vec![b"nonce-1".to_vec()]);
    }

    #[test]
    fn an_echo_without_seq_is_answered_only_under_the_openhip_profile() {
        for (profile, answered) in [
            (CompatProfile::OpenHip, true),
            (CompatProfile::Strict, false),
        ] {
            let (a, mut b, pair, mut r) = pair(profile);
            let u = check_update(&a, pair, vec![], b"nonce-2", &mut r);
            let res = deliver(&mut b, &u, &mut r);
            let out: Vec<_> = std::iter::from_fn(|| b.poll_transmit()).collect();
            if answered {
                assert!(res.is_ok(), "{res:?}");
                assert_eq!(out.len(), 1);
                assert_eq!(unsigned_echoes(&out[0]), vec![b"nonce-2".to_vec()]);
                let rep = HipRepr::parse_bytes(&out[0].bytes).unwrap();
                assert!(
                    rep.param(ParamType::Seq).is_none(),
                    "the answer needs no ACK"
                );
                assert_eq!(b.counters().update_echoed, 1);
            } else {
                assert_eq!(res, Err(DropReason::Replay));
                assert!(out.is_empty());
            }
        }
    }
}
