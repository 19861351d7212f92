//! HIP_MAC and HIP_MAC_2 of packets inside an association, checked from the
//! packet bytes before anything is parsed (issue 15: dropping costs less
//! than accepting). A forged or corrupted R2, UPDATE, CLOSE or CLOSE_ACK for
//! an existing association is refused here with no heap allocation; the
//! state checks its handler would make first come first here too, so the
//! drop reasons stay those of RFC 7401 sections 6.10 (R2 only in I2-SENT),
//! 6.12 (UPDATE in ESTABLISHED or R2-SENT), 6.14 and 6.15 (CLOSE_ACK only in
//! CLOSING).
//!
//! Each handler takes the [`MacChecked`] proof that only [`Endpoint::mac_check`]
//! makes, so no handler can run on a packet whose MAC was not verified.

use super::compat::MacKeyOrder;
use super::core::{Endpoint, HitPair, Incoming};
use super::counters::DropReason;
use super::protect;
use crate::association::State;
use crate::registry::PacketType;
use crate::wire::Packet;

/// Proof that the packet's HIP_MAC (HIP_MAC_2 for R2) verified with the
/// association's incoming integrity key. Made only by [`Endpoint::mac_check`].
#[derive(Debug, Clone, Copy)]
pub(super) struct MacChecked(());

impl Endpoint {
    /// Checks the MAC of an R2, UPDATE, CLOSE or CLOSE_ACK (`Ok(None)` for the
    /// other packet types, which carry none or are checked by their handler).
    /// The association exists ([`Endpoint::header_drop`] ran first).
    /// A second R2 in ESTABLISHED from a transport address worth checking
    /// (the relayed Responder's copy, [`super::udp_mapping::r2_source_to_check`])
    /// passes without a proof: its HIP_MAC_2 cannot be checked any more, and
    /// its handler verifies the signature instead.
    pub(super) fn mac_check(
        &self,
        pk: &Packet<&[u8]>,
        inc: &Incoming<'_>,
    ) -> Result<Option<MacChecked>, DropReason> {
        let ty = pk.packet_type();
        if !matches!(
            ty,
            PacketType::R2 | PacketType::Update | PacketType::Close | PacketType::CloseAck
        ) {
            return Ok(None);
        }
        let pair: HitPair = (pk.receiver_hit(), pk.sender_hit());
        let a = self.assocs.get(&pair).ok_or(DropReason::NotPeer)?;
        let state = a.driver.state();
        match ty {
            PacketType::R2
                if state == State::Established
                    && super::udp_mapping::r2_source_to_check(a, inc) =>
            {
                return Ok(None)
            }
            PacketType::R2 if matches!(state, State::Established | State::R2Sent) => {
                return Err(DropReason::Replay)
            }
            PacketType::R2 if state != State::I2Sent => return Err(DropReason::UnexpectedInState),
            PacketType::Update if !matches!(state, State::Established | State::R2Sent) => {
                return Err(DropReason::UnexpectedInState)
            }
            PacketType::CloseAck if state != State::Closing => return Err(DropReason::Replay),
            _ => {}
        }
        let (Some(keys), Some(rhash)) = (&a.keys, a.rhash) else {
            return Err(DropReason::UnexpectedInState);
        };
        let (ours, theirs) = keys.hip_keys();
        let bytes = pk.as_bytes();
        if ty == PacketType::R2 {
            // Section 6.10 step 3; HIPL keys the base exchange MACs by HIT order.
            let key = match a.profile.bex_mac_key_order() {
                MacKeyOrder::Rfc => theirs,
                MacKeyOrder::LesserHitFirst => ours,
            };
            protect::check_mac_2(
                bytes,
                rhash,
                &key.integ,
                &a.peer_host_id_raw,
                a.profile.mac_2_host_id_place(),
            )?;
        } else {
            protect::check_mac(bytes, rhash, &theirs.integ)?;
        }
        Ok(Some(MacChecked(())))
    }
}
