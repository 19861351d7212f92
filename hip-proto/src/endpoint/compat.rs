//! Per-peer compatibility profiles for the documented deviations of HIPL 1.0.8
//! and cutehip (../shared/interop/*/README.md). Strict RFC behaviour is the default;
//! a profile is only used when the configuration names it for a peer.

use crate::crypto::puzzle::PuzzleInputOrder;

/// Which peer implementation's deviations to accommodate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CompatProfile {
    /// RFC 7401 / RFC 5201 exactly.
    #[default]
    Strict,
    /// HIPL 1.0.8 (HIPv1).
    Hipl108,
    /// cutehip (Python HIPv2).
    Cutehip,
}

/// The order in which the two HIP_MAC key blocks are used in the base exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacKeyOrder {
    /// RFC 7401 section 6.5: the greater HIT's outgoing key is the first block.
    Rfc,
    /// cutehip in I2/R2: the lesser HIT's outgoing key is the first block.
    LesserHitFirst,
}

impl CompatProfile {
    /// Puzzle hash input order (cutehip README item 2).
    pub fn puzzle_input_order(self) -> PuzzleInputOrder {
        match self {
            CompatProfile::Cutehip => PuzzleInputOrder::ResponderFirst,
            _ => PuzzleInputOrder::Rfc,
        }
    }

    /// HIP_MAC key order for I2 and R2 (cutehip README item 3; UPDATE/CLOSE use the RFC order).
    pub fn bex_mac_key_order(self) -> MacKeyOrder {
        match self {
            CompatProfile::Cutehip => MacKeyOrder::LesserHitFirst,
            _ => MacKeyOrder::Rfc,
        }
    }

    /// Where HIP_MAC_2's HOST_ID goes in the covered bytes: HIPL 1.0.8
    /// appends it after the R2's other parameters, so an R2 with
    /// REG_RESPONSE or REG_FROM (types above HOST_ID's) is covered in
    /// another order than RFC 7401 section 6.4.1's (found in live interop
    /// with HIPL's rendezvous server; rfc-notes/interop.md).
    pub fn mac_2_host_id_place(self) -> crate::wire::cover::HostIdPlace {
        match self {
            CompatProfile::Hipl108 => crate::wire::cover::HostIdPlace::AfterParameters,
            _ => crate::wire::cover::HostIdPlace::TypeOrder,
        }
    }

    /// HIPL 1.0.8 as rendezvous server or relay keys RVS_HMAC and
    /// RELAY_HMAC with its incoming integrity key from the client (the
    /// client's outgoing one; `hip_relrec_alloc(.., &entry->hip_hmac_in)` in
    /// its `registration.c`), where we key them like HIP_MAC with the
    /// server's outgoing key: a client of such a server accepts a tag under
    /// either key of that association (both are known only to the two of
    /// them). Found in live interop; rfc-notes/interop.md.
    pub fn server_hmac_either_key(self) -> bool {
        self == CompatProfile::Hipl108
    }

    /// HIPL 1.0.8 as a relay client sends its R1 with RELAY_TO but no
    /// RELAY_HMAC (`hip_xmit_r1` in its `output.c`). Found in live interop;
    /// rfc-notes/interop.md.
    pub fn relay_to_without_hmac(self) -> bool {
        self == CompatProfile::Hipl108
    }

    /// R2 signed with HIP_SIGNATURE_2 instead of HIP_SIGNATURE (cutehip README item 4).
    pub fn r2_uses_signature_2(self) -> bool {
        self == CompatProfile::Cutehip
    }

    /// Accept LOCATOR entries with Locator Length 4 for type 1 (HIPL README, "LOCATOR
    /// details"; RFC 5206 expects 5).
    pub fn accept_short_type1_locator(self) -> bool {
        self == CompatProfile::Hipl108
    }

    /// Ignore the Locator Lifetime of all but the first LOCATOR entry (HIPL sends garbage).
    pub fn ignore_extra_locator_lifetimes(self) -> bool {
        self == CompatProfile::Hipl108
    }

    /// Answer every LOCATOR(_SET) UPDATE with SEQ + ECHO_REQUEST_SIGNED, even
    /// when it announces nothing new. HIPL 1.0.8 concludes a locator UPDATE
    /// only on that second packet (`hip_classify_update_type` in its update
    /// module); to a plain ACK it answers with an UPDATE holding only HMAC and
    /// signature and resends its own for about 10 s (seen live).
    pub fn echo_every_locator_set(self) -> bool {
        self == CompatProfile::Hipl108
    }

    /// ACK carries only the low byte of the Update ID (cutehip README item 12).
    pub fn ack_low_byte_only(self) -> bool {
        self == CompatProfile::Cutehip
    }

    /// Put R1_COUNTER in R1 (RFC 7401 section 5.2.3 recommends it). cutehip's I2
    /// builder fails with an exception when an R1 carries one (found in live
    /// interop; see rfc-notes/interop.md), so its R1s go without.
    pub fn r1_has_r1_counter(self) -> bool {
        self != CompatProfile::Cutehip
    }

    /// Feed Kij to the KDF as a minimal big-endian integer (leading zero bytes
    /// dropped; cutehip README item 9). HIPL 1.0.8 does the same for its
    /// (HIPv1, MODP) groups: its Kij is what OpenSSL's `DH_compute_key`
    /// returns, the secret without its leading zero octets
    /// (`hip_gen_dh_shared_key` in libcore/crypto.c). Once in 256 exchanges
    /// the secret starts with a zero octet; found live as an I2 whose
    /// HIP_MAC never verified (rfc-notes/interop.md).
    pub fn kij_strip_leading_zeros(self) -> bool {
        matches!(self, CompatProfile::Cutehip | CompatProfile::Hipl108)
    }

    /// The peer re-creates its SAs with the same SPI after a locator change
    /// (its own or ours) and restarts the ESP sequence numbers at 1, against
    /// RFC 4303 section 3.3.3. Seen live with HIPL 1.0.8 (it deletes and re-adds
    /// the SA pair on the second and third UPDATE packets).
    pub fn esp_sequence_restarts_on_move(self) -> bool {
        self == CompatProfile::Hipl108
    }

    /// Kij as this peer feeds it to the KDF.
    pub fn shape_kij(self, kij: &[u8]) -> &[u8] {
        if self.kij_strip_leading_zeros() {
            let z = kij.iter().take_while(|&&b| b == 0).count();
            &kij[z..]
        } else {
            kij
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_is_default_and_rfc() {
        let p = CompatProfile::default();
        assert_eq!(p, CompatProfile::Strict);
        assert_eq!(p.puzzle_input_order(), PuzzleInputOrder::Rfc);
        assert_eq!(p.bex_mac_key_order(), MacKeyOrder::Rfc);
        assert!(!p.r2_uses_signature_2());
        assert!(!p.accept_short_type1_locator());
        assert!(!p.ack_low_byte_only());
        assert!(!p.kij_strip_leading_zeros());
        assert!(!p.esp_sequence_restarts_on_move());
    }

    #[test]
    fn profiles_switch_only_their_deviations() {
        let c = CompatProfile::Cutehip;
        assert_eq!(c.puzzle_input_order(), PuzzleInputOrder::ResponderFirst);
        assert_eq!(c.bex_mac_key_order(), MacKeyOrder::LesserHitFirst);
        assert!(c.r2_uses_signature_2() && c.ack_low_byte_only());
        assert!(!c.accept_short_type1_locator());
        let h = CompatProfile::Hipl108;
        assert!(h.accept_short_type1_locator() && h.ignore_extra_locator_lifetimes());
        assert!(h.esp_sequence_restarts_on_move());
        assert!(!c.esp_sequence_restarts_on_move());
        assert_eq!(h.puzzle_input_order(), PuzzleInputOrder::Rfc);
        // OpenSSL's DH_compute_key drops the secret's leading zero octets.
        assert_eq!(h.shape_kij(&[0, 0, 7, 0]), &[7, 0]);
        assert_eq!(CompatProfile::Strict.shape_kij(&[0, 7]), &[0, 7]);
    }
}
