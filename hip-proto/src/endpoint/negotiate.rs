//! Negotiation from preference lists (RFC 7401 sections 5.2.6-5.2.11 and 6.7-6.9,
//! RFC 7402 section 5.1.2, RFC 5201 section 5.2.8), and the NOTIFY each failure earns.

use crate::registry::{DhGroupId, HitSuiteId};

/// NOTIFY Message Types (RFC 7401 section 5.2.19) that negotiation failures earn.
pub use crate::wire::NotifyMessageType as NotifyCode;

/// Why negotiation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    /// No DH group in common.
    #[error("no acceptable DH group")]
    NoDhGroup,
    /// R1's DIFFIE_HELLMAN group is not the initiator's most preferred group among
    /// the responder's signed DH_GROUP_LIST: the unprotected I1 list was tampered with.
    #[error("DH group downgrade: responder used {used:?}, expected {expected:?}")]
    DhDowngrade {
        /// Group in R1's DIFFIE_HELLMAN.
        used: DhGroupId,
        /// The initiator's most preferred group in the responder's list.
        expected: DhGroupId,
    },
    /// No HIP_CIPHER / HIP_TRANSFORM in common.
    #[error("no acceptable HIP cipher or transform")]
    NoHipCipher,
    /// The peer chose a HIP cipher/transform that was not offered.
    #[error("HIP cipher or transform chosen that was not offered")]
    InvalidHipCipher,
    /// No ESP_TRANSFORM suite in common.
    #[error("no acceptable ESP transform")]
    NoEspTransform,
    /// The peer chose an ESP suite that was not offered.
    #[error("ESP transform chosen that was not offered")]
    InvalidEspTransform,
    /// The HIT suite is not accepted.
    #[error("HIT suite not supported")]
    UnsupportedHitSuite,
    /// No TRANSPORT_FORMAT in common.
    #[error("no acceptable transport format")]
    NoTransportFormat,
}

impl NegotiationError {
    /// The NOTIFY to send to the peer. RFC 7401 names no code for a missing transport
    /// format; ESP is the only format, so NO_ESP_PROPOSAL_CHOSEN is used.
    pub fn notify(self) -> NotifyCode {
        match self {
            NegotiationError::NoDhGroup => NotifyCode::NoDhProposalChosen,
            NegotiationError::DhDowngrade { .. } => NotifyCode::InvalidDhChosen,
            NegotiationError::NoHipCipher => NotifyCode::NoHipProposalChosen,
            NegotiationError::InvalidHipCipher => NotifyCode::InvalidHipCipherChosen,
            NegotiationError::NoEspTransform | NegotiationError::NoTransportFormat => {
                NotifyCode::NoEspProposalChosen
            }
            NegotiationError::InvalidEspTransform => NotifyCode::InvalidEspTransformChosen,
            NegotiationError::UnsupportedHitSuite => NotifyCode::UnsupportedHitSuite,
        }
    }
}

/// First entry of `ordered` (the list whose order rules) that is also in `other`.
fn first_common<T: Copy + PartialEq>(ordered: &[T], other: &[T]) -> Option<T> {
    ordered.iter().copied().find(|x| other.contains(x))
}

/// Responder, on I1: the first group of the initiator's DH_GROUP_LIST that we support
/// (RFC 7401 section 5.2.6). An I1 without the list (v1) gets our first group.
pub fn responder_pick_dh(
    initiator_list: &[DhGroupId],
    local: &[DhGroupId],
) -> Result<DhGroupId, NegotiationError> {
    if initiator_list.is_empty() {
        return local.first().copied().ok_or(NegotiationError::NoDhGroup);
    }
    first_common(initiator_list, local).ok_or(NegotiationError::NoDhGroup)
}

/// Initiator, on R1: downgrade protection (RFC 7401 sections 4.1.3 and 6.8). The group
/// the responder used must be the initiator's most preferred group among those in the
/// responder's (signed) DH_GROUP_LIST.
pub fn initiator_check_dh(
    own: &[DhGroupId],
    responder_list: &[DhGroupId],
    used: DhGroupId,
) -> Result<(), NegotiationError> {
    let expected = first_common(own, responder_list).ok_or(NegotiationError::NoDhGroup)?;
    if used != expected {
        return Err(NegotiationError::DhDowngrade { used, expected });
    }
    Ok(())
}

/// Initiator, on R1: the first HIP_CIPHER (v2) / HIP_TRANSFORM (v1) of the responder's
/// list that we support (RFC 7401 section 5.2.8, RFC 5201 section 5.2.8).
pub fn pick_hip_cipher<T: Copy + PartialEq>(
    responder_offer: &[T],
    local: &[T],
) -> Result<T, NegotiationError> {
    first_common(responder_offer, local).ok_or(NegotiationError::NoHipCipher)
}

/// Initiator, on R1: the first ESP suite of the responder's list we support
/// (RFC 7402 section 5.1.2).
pub fn pick_esp_transform<T: Copy + PartialEq>(
    responder_offer: &[T],
    local: &[T],
) -> Result<T, NegotiationError> {
    first_common(responder_offer, local).ok_or(NegotiationError::NoEspTransform)
}

/// Responder, on I2: the chosen HIP cipher must be one we offered in R1.
pub fn check_hip_cipher<T: Copy + PartialEq>(
    offered: &[T],
    chosen: T,
) -> Result<T, NegotiationError> {
    if offered.contains(&chosen) {
        Ok(chosen)
    } else {
        Err(NegotiationError::InvalidHipCipher)
    }
}

/// Responder, on I2: the ESP suite is the first of the I2's list that we offered
/// (RFC 7402 section 5.1.2: the initiator lists one or more; we take its first we support).
pub fn check_esp_transform<T: Copy + PartialEq>(
    offered: &[T],
    i2_list: &[T],
) -> Result<T, NegotiationError> {
    first_common(i2_list, offered).ok_or(NegotiationError::InvalidEspTransform)
}

/// Responder, on I2: the first TRANSPORT_FORMAT of the initiator's I2 list that we
/// support (RFC 7401 section 5.2.11).
pub fn pick_transport_format(i2_list: &[u16], local: &[u16]) -> Result<u16, NegotiationError> {
    first_common(i2_list, local).ok_or(NegotiationError::NoTransportFormat)
}

/// A HIT suite is acceptable if it is in the accepting side's list
/// (RFC 7401 section 5.2.10: the initiator checks its HIT suite against R1's
/// HIT_SUITE_LIST; the responder checks the initiator HIT's OGA ID).
pub fn check_hit_suite(list: &[HitSuiteId], suite: HitSuiteId) -> Result<(), NegotiationError> {
    if list.contains(&suite) {
        Ok(())
    } else {
        Err(NegotiationError::UnsupportedHitSuite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{EspTransformId as E, HipCipherId as C};
    use DhGroupId as G;

    #[test]
    fn responder_takes_initiators_first_supported_group() {
        let local = [G::Modp3072, G::NistP256];
        assert_eq!(
            responder_pick_dh(&[G::Curve25519, G::NistP256, G::Modp3072], &local),
            Ok(G::NistP256)
        );
        assert_eq!(responder_pick_dh(&[], &local), Ok(G::Modp3072));
        assert_eq!(
            responder_pick_dh(&[G::NistP384], &local),
            Err(NegotiationError::NoDhGroup)
        );
        assert_eq!(NegotiationError::NoDhGroup.notify().value(), 14);
    }

    #[test]
    fn dh_downgrade_is_detected() {
        let own = [G::NistP384, G::NistP256, G::Modp1536];
        let responder = [G::Modp1536, G::NistP256, G::NistP384];
        assert_eq!(initiator_check_dh(&own, &responder, G::NistP384), Ok(()));
        // An attacker stripped P-384 and P-256 from the I1 list: the responder used MODP-1536.
        let e = initiator_check_dh(&own, &responder, G::Modp1536).unwrap_err();
        assert_eq!(
            e,
            NegotiationError::DhDowngrade {
                used: G::Modp1536,
                expected: G::NistP384
            }
        );
        assert_eq!(e.notify(), NotifyCode::InvalidDhChosen);
        assert_eq!(
            initiator_check_dh(&own, &[G::Modp3072], G::Modp3072),
            Err(NegotiationError::NoDhGroup)
        );
    }

    #[test]
    fn ciphers_and_suites_follow_responder_order() {
        assert_eq!(
            pick_hip_cipher(&[C::Aes256Cbc, C::Aes128Cbc], &[C::Aes128Cbc, C::Aes256Cbc]),
            Ok(C::Aes256Cbc)
        );
        assert_eq!(
            pick_hip_cipher(&[C::NullEncrypt], &[C::Aes128Cbc]),
            Err(NegotiationError::NoHipCipher)
        );
        assert_eq!(
            pick_esp_transform(
                &[E::Aes256CbcHmacSha256, E::Aes128CbcHmacSha1],
                &[E::Aes128CbcHmacSha1]
            ),
            Ok(E::Aes128CbcHmacSha1)
        );
        assert_eq!(
            pick_esp_transform(&[E::AesGcm16], &[E::Aes128CbcHmacSha1])
                .unwrap_err()
                .notify()
                .value(),
            18
        );
    }

    #[test]
    fn responder_rejects_choices_it_did_not_offer() {
        assert_eq!(
            check_hip_cipher(&[C::Aes128Cbc], C::NullEncrypt)
                .unwrap_err()
                .notify()
                .value(),
            17
        );
        assert_eq!(
            check_hip_cipher(&[C::Aes128Cbc], C::Aes128Cbc),
            Ok(C::Aes128Cbc)
        );
        assert_eq!(
            check_esp_transform(&[E::Aes128CbcHmacSha256], &[E::NullHmacSha256])
                .unwrap_err()
                .notify()
                .value(),
            19
        );
        assert_eq!(pick_transport_format(&[4095], &[4095]), Ok(4095));
        assert!(pick_transport_format(&[1], &[4095]).is_err());
        assert_eq!(
            check_hit_suite(&[HitSuiteId::RsaDsaSha256], HitSuiteId::EcdsaSha384)
                .unwrap_err()
                .notify()
                .value(),
            20
        );
    }
}
