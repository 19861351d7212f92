//! UPDATE for rekeying (RFC 7401 sections 6.11-6.12, RFC 7402 section 6.9):
//! the initiator of the rekey sends ESP_INFO (old SPI, new SPI, KEYMAT index)
//! and SEQ; the peer answers with its own ESP_INFO, SEQ and an ACK; a final
//! ACK completes it. New ESP keys are drawn from KEYMAT at the index the
//! rekey initiator gave (section 6.9.2 "continuing KEYMAT"), new SAs are
//! announced with [`Event::Rekeyed`]. A retransmitted UPDATE is answered with
//! the same reply and processed once; older Update IDs are dropped.

use super::core::{Endpoint, HitPair, Incoming};
use super::counters::DropReason;
use super::event::Event;
use super::protect::BuildError;
use super::random::RandomSource;
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
    /// Building the UPDATE failed.
    #[error(transparent)]
    Build(#[from] BuildError),
}

impl Endpoint {
    /// Starts a rekey with `peer` (RFC 7402 section 6.9.1): new inbound SPI, new
    /// keys from the unused part of KEYMAT.
    pub fn rekey(
        &mut self,
        now: Instant,
        local: Hit,
        peer: Hit,
        random: &mut dyn RandomSource,
    ) -> Result<(), RekeyError> {
        let pair = (local, peer);
        let new_spi_in = self.fresh_spi(random);
        let a = self
            .assocs
            .get_mut(&pair)
            .ok_or(RekeyError::NotEstablished)?;
        if a.driver.state() != State::Established {
            return Err(RekeyError::NotEstablished);
        }
        if a.update_packet.is_some() {
            return Err(RekeyError::Busy);
        }
        let keys = a.keys.as_ref().ok_or(RekeyError::NotEstablished)?;
        let keymat_index =
            u16::try_from(keys.next_index).map_err(|_| RekeyError::KeymatExhausted)?;
        let seq = a.update.next_seq();
        let mut r = HipRepr::new(PacketType::Update, a.version, local, peer);
        r.params.push(ParamRepr::EspInfo(EspInfo {
            reserved: 0,
            keymat_index,
            old_spi: a.spi_in,
            new_spi: new_spi_in,
        }));
        r.params.push(ParamRepr::Seq(seq));
        a.rekey = Some(PendingRekey {
            new_spi_in,
            new_spi_out: None,
            keymat_index,
        });
        let ready = a.keys.as_ref().and_then(|k| {
            let (_, inn) = esp_keys_at(k, keymat_index).ok()?;
            Some(Event::InboundSaReady {
                peer_hit: peer,
                suite: k.esp.suite,
                spi: new_spi_in,
                keys: inn,
            })
        });
        let bytes = self.protect_and_emit(pair, &mut r, random)?;
        if let Some(e) = ready {
            self.event(e);
        }
        let a = self
            .assocs
            .get_mut(&pair)
            .ok_or(RekeyError::NotEstablished)?;
        a.update_packet = Some(bytes.clone());
        a.update_retx.start(now);
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
        random: &mut dyn RandomSource,
    ) -> Result<(), DropReason> {
        let pair: HitPair = (repr.receiver_hit, repr.sender_hit);
        let a = self.assocs.get(&pair).ok_or(DropReason::NotPeer)?;
        if !matches!(a.driver.state(), State::Established | State::R2Sent) {
            return Err(DropReason::UnexpectedInState);
        }
        self.verify_peer_packet(pair, inc.bytes, repr)?;
        let a = self.assocs.get_mut(&pair).ok_or(DropReason::NotPeer)?;
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
                if a.update.on_ack(*id, low_byte).is_ok() {
                    acked = true;
                    a.update_retx.stop();
                    a.update_packet = None;
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
        let Some(seq) = seq else {
            // ACK-only UPDATE: the third message of a peer-started rekey.
            if !acked {
                return Err(DropReason::Replay);
            }
            if let Some(r) = a.rekey.filter(|r| r.new_spi_out.is_some()) {
                self.finish_rekey(now, pair, r)?;
            }
            self.locator_verified(pair, repr);
            return Ok(());
        };
        match a.update.on_seq(seq) {
            SeqDisposition::Stale => return Err(DropReason::Replay),
            SeqDisposition::Retransmission => {
                self.counters.update_resent += 1;
                self.resend(pair, |a| a.update_reply.as_ref());
                return Ok(());
            }
            SeqDisposition::New => {}
        }
        let mut reply = HipRepr::new(PacketType::Update, a.version, pair.0, pair.1);
        let mut finished = None;
        let mut inbound_ready = None;
        if let Some(info) = esp_info.filter(|i| i.old_spi != i.new_spi) {
            match a.rekey {
                // The answer to our rekey: its ACK matched our SEQ.
                Some(mut r) if acked => {
                    r.new_spi_out = Some(info.new_spi);
                    finished = Some(r);
                }
                // The peer starts a rekey: answer with our ESP_INFO and SEQ.
                _ => {
                    let keymat_index = info.keymat_index;
                    let our_seq = a.update.next_seq();
                    let spi = a.spi_in;
                    let pending = PendingRekey {
                        new_spi_in: 0,
                        new_spi_out: Some(info.new_spi),
                        keymat_index,
                    };
                    a.rekey = Some(pending);
                    let new_spi_in = self.fresh_spi(random);
                    let a = self.assocs.get_mut(&pair).ok_or(DropReason::NotPeer)?;
                    a.rekey = Some(PendingRekey {
                        new_spi_in,
                        ..pending
                    });
                    reply.params.push(ParamRepr::EspInfo(EspInfo {
                        reserved: 0,
                        keymat_index,
                        old_spi: spi,
                        new_spi: new_spi_in,
                    }));
                    reply.params.push(ParamRepr::Seq(our_seq));
                    if let Some((k, suite)) = a
                        .keys
                        .as_ref()
                        .and_then(|k| Some((esp_keys_at(k, keymat_index).ok()?.1, k.esp.suite)))
                    {
                        inbound_ready = Some(Event::InboundSaReady {
                            peer_hit: pair.1,
                            suite,
                            spi: new_spi_in,
                            keys: k,
                        });
                    }
                }
            }
        }
        reply.insert_ordered(ParamRepr::Ack(vec![seq]));
        // Mobility (RFC 8046 section 3.2.1): verify an announced address, answer
        // a verification request, complete our own verification.
        let verify_at = self.verify_announced_locator(pair, repr, &mut reply, random);
        if let Some(ParamRepr::EchoRequestSigned(e)) = repr.param(ParamType::EchoRequestSigned) {
            reply.insert_ordered(ParamRepr::EchoResponseSigned(e.clone()));
        }
        self.locator_verified(pair, repr);
        let bytes = self
            .protect_and_emit_to(pair, &mut reply, verify_at, random)
            .map_err(|_| DropReason::Policy)?;
        let a = self.assocs.get_mut(&pair).ok_or(DropReason::NotPeer)?;
        a.update_reply = Some(bytes.clone());
        if reply.param(ParamType::Seq).is_some() {
            a.update_packet = Some(bytes.clone());
            a.update_dst = verify_at;
            a.update_retx.start(now);
        }
        let (s, d, u) = (
            a.local_locator,
            verify_at.unwrap_or(a.peer_locator),
            a.udp_port,
        );
        // The new inbound SA is announced before our reply leaves.
        if let Some(e) = inbound_ready {
            self.event(e);
        }
        self.transmit(s, d, u, bytes);
        if let Some(r) = finished {
            self.finish_rekey(now, pair, r)?;
        }
        Ok(())
    }

    /// Draws the new ESP keys and announces the new SAs.
    fn finish_rekey(
        &mut self,
        now: Instant,
        pair: HitPair,
        r: PendingRekey,
    ) -> Result<(), DropReason> {
        let a = self.assocs.get_mut(&pair).ok_or(DropReason::NotPeer)?;
        let spi_out = r.new_spi_out.ok_or(DropReason::UnexpectedInState)?;
        let keys = a.keys.as_mut().ok_or(DropReason::UnexpectedInState)?;
        let esp = rekey_from_keymat(keys, r.keymat_index, r.new_spi_in, spi_out)
            .map_err(|_| DropReason::Policy)?;
        keys.esp = esp.clone();
        a.spi_in = r.new_spi_in;
        a.spi_out = spi_out;
        a.rekey = None;
        a.keys_since = now;
        self.counters.rekeyed += 1;
        self.event(Event::Rekeyed {
            peer_hit: pair.1,
            local_hit: pair.0,
            esp,
        });
        Ok(())
    }
}
