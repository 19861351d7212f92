//! Per-peer compatibility profiles for the documented deviations of HIPL 1.0.8
//! and cutehip (../shared/interop/*/README.md). Strict RFC behaviour is the default;
//! a profile is used when the configuration names it for a peer, or when a
//! packet can only come from that peer ([`CompatProfile::detect`]).

use crate::crypto::puzzle::PuzzleInputOrder;
use crate::hit::OrchidVersion;
use crate::registry::{DhGroupId, Version};
use crate::Hit;

/// Which peer implementation's deviations to accommodate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CompatProfile {
    /// RFC 7401 / RFC 5201 exactly.
    #[default]
    Strict,
    /// HIPL 1.0.8 (HIPv1).
    Hipl108,
    /// HIPL 1.0.8 with `default-hip-version 2`: RFC 5201 rules with version
    /// 2 in the header, DH_GROUP_LIST in I1 and R1 and its ECDH groups
    /// (rfc-notes/interop.md, "How far HIPL's v2 is from RFC 7401"). Every
    /// quirk of [`CompatProfile::Hipl108`] applies too.
    HiplV2,
    /// cutehip (Python HIPv2).
    Cutehip,
    /// OpenHIP 0.9 (C, HIPv1; `rektide/openhip`): its puzzle test, DH
    /// secret padding and unsigned address checks (rfc-notes/interop.md,
    /// "OpenHIP 0.9").
    OpenHip,
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
    /// The profile's name in hipd.conf (`profile = HIT NAME`).
    pub fn name(self) -> &'static str {
        match self {
            CompatProfile::Strict => "strict",
            CompatProfile::Hipl108 => "hipl",
            CompatProfile::HiplV2 => "hipl-v2",
            CompatProfile::Cutehip => "cutehip",
            CompatProfile::OpenHip => "openhip",
        }
    }

    /// The profile named `name` (the names of [`CompatProfile::name`] and
    /// a few aliases), `None` for an unknown name.
    pub fn from_name(name: &str) -> Option<CompatProfile> {
        Some(match name {
            "strict" | "rfc" => CompatProfile::Strict,
            "hipl" | "hipl-1.0.8" | "hipl-v1" => CompatProfile::Hipl108,
            "hipl-v2" | "hipl-1.0.8-v2" => CompatProfile::HiplV2,
            "cutehip" => CompatProfile::Cutehip,
            "openhip" | "openhip-0.9" => CompatProfile::OpenHip,
            _ => return None,
        })
    }

    /// HIPL 1.0.8 in either of its versions.
    pub fn is_hipl(self) -> bool {
        matches!(self, CompatProfile::Hipl108 | CompatProfile::HiplV2)
    }

    /// The profile a packet with header version `wire` from `sender` is
    /// handled under, when `configured` is the peer's configured (or its
    /// association's) profile. A HIPv2 packet from an ORCHIDv1 HIT can only
    /// be HIPL's v2 mode: RFC 7401 HITs are ORCHIDv2 (section 3; RFC 7343),
    /// and under strict rules such a packet matches no identity of its
    /// version. So it selects [`CompatProfile::HiplV2`] without
    /// configuration. A `hipl` peer follows the version it sends. Anything
    /// else keeps the configured profile.
    pub fn detect(configured: CompatProfile, wire: Version, sender: &Hit) -> CompatProfile {
        let v1_hit = sender.orchid_version() == Some(OrchidVersion::V1);
        match (configured, wire) {
            (CompatProfile::Strict | CompatProfile::Hipl108, Version::V2) if v1_hit => {
                CompatProfile::HiplV2
            }
            (CompatProfile::HiplV2, Version::V1) => CompatProfile::Hipl108,
            (p, _) => p,
        }
    }

    /// The rules (RFC 5201 for v1, RFC 7401 for v2) a packet with header
    /// version `wire` is handled under: HIPL's v2 is RFC 5201 with a 2 in
    /// the header.
    pub fn rules_version(self, wire: Version) -> Version {
        match (self, wire) {
            (CompatProfile::HiplV2, Version::V2) => Version::V1,
            (_, v) => v,
        }
    }

    /// The header version of what we send under `rules` (the inverse of
    /// [`CompatProfile::rules_version`]).
    pub fn wire_version(self, rules: Version) -> Version {
        match (self, rules) {
            (CompatProfile::HiplV2, Version::V1) => Version::V2,
            (_, v) => v,
        }
    }

    /// RFC 5201 rules with RFC 7401's DH group negotiation: DH_GROUP_LIST
    /// in I1 and R1, one DH value in R1 chosen from the I1's list, the
    /// Initiator's downgrade check (RFC 7401 sections 5.2.6 and 6.8), and
    /// the ECDH groups. HIPL's v2 (`hip_send_i1_v2`, `hip_create_r1_v2`,
    /// `check_dh_downgrade_v2` in its output.c and input.c).
    pub fn v1_with_group_list(self) -> bool {
        self == CompatProfile::HiplV2
    }

    /// Puzzle hash input order (cutehip README item 2).
    pub fn puzzle_input_order(self) -> PuzzleInputOrder {
        match self {
            CompatProfile::Cutehip => PuzzleInputOrder::ResponderFirst,
            CompatProfile::OpenHip => PuzzleInputOrder::OpenHipLittleEndian,
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
            CompatProfile::Hipl108 | CompatProfile::HiplV2 => {
                crate::wire::cover::HostIdPlace::AfterParameters
            }
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
        self.is_hipl()
    }

    /// HIPL 1.0.8 as a relay client sends its R1 with RELAY_TO but no
    /// RELAY_HMAC (`hip_xmit_r1` in its `output.c`). Found in live interop;
    /// rfc-notes/interop.md.
    pub fn relay_to_without_hmac(self) -> bool {
        self.is_hipl()
    }

    /// R2 signed with HIP_SIGNATURE_2 instead of HIP_SIGNATURE (cutehip README item 4).
    pub fn r2_uses_signature_2(self) -> bool {
        self == CompatProfile::Cutehip
    }

    /// Accept LOCATOR entries with Locator Length 4 for type 1 (HIPL README, "LOCATOR
    /// details"; RFC 5206 expects 5).
    pub fn accept_short_type1_locator(self) -> bool {
        self.is_hipl()
    }

    /// Ignore the Locator Lifetime of all but the first LOCATOR entry (HIPL sends garbage).
    pub fn ignore_extra_locator_lifetimes(self) -> bool {
        self.is_hipl()
    }

    /// Answer every LOCATOR(_SET) UPDATE with SEQ + ECHO_REQUEST_SIGNED, even
    /// when it announces nothing new. HIPL 1.0.8 concludes a locator UPDATE
    /// only on that second packet (`hip_classify_update_type` in its update
    /// module); to a plain ACK it answers with an UPDATE holding only HMAC and
    /// signature and resends its own for about 10 s (seen live).
    pub fn echo_every_locator_set(self) -> bool {
        self.is_hipl()
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

    /// Feed Kij of `group` to the KDF as a minimal big-endian integer
    /// (leading zero bytes dropped; cutehip README item 9, every group).
    /// HIPL 1.0.8 does the same for the MODP groups: its Kij is what
    /// OpenSSL's `DH_compute_key` returns, the secret without its leading
    /// zero octets (`hip_gen_dh_shared_key` in libcore/crypto.c). Once in
    /// 256 exchanges the secret starts with a zero octet; found live as an
    /// I2 whose HIP_MAC never verified (rfc-notes/interop.md). Its ECDH
    /// secret is OpenSSL 1.0.1's `ECDH_compute_key`, the x coordinate padded
    /// to the field size (`ecdh_compute_key` in crypto/ecdh/ech_ossl.c), as
    /// RFC 7401 has it: nothing stripped.
    pub fn kij_strip_leading_zeros(self, group: DhGroupId) -> bool {
        let ecdh = matches!(
            group,
            DhGroupId::NistP256 | DhGroupId::NistP384 | DhGroupId::NistP521
        );
        self == CompatProfile::Cutehip || (self.is_hipl() && !ecdh)
    }

    /// The peer re-creates its SAs with the same SPI after a locator change
    /// (its own or ours) and restarts the ESP sequence numbers at 1, against
    /// RFC 4303 section 3.3.3. Seen live with HIPL 1.0.8 (it deletes and re-adds
    /// the SA pair on the second and third UPDATE packets).
    pub fn esp_sequence_restarts_on_move(self) -> bool {
        self.is_hipl()
    }

    /// Kij of `group` as this peer feeds it to the KDF. OpenHIP 0.9
    /// writes OpenSSL's `DH_compute_key` output (leading zero octets
    /// dropped) at the start of a buffer of the group's size and hashes the
    /// whole buffer (`hip_parse_R1` and `hip_parse_I2` in its
    /// protocol/hip_input.c, `compute_keymat` in hip_keymat.c): the zeros
    /// move to the end.
    pub fn shape_kij(self, group: DhGroupId, kij: &[u8]) -> zeroize::Zeroizing<Vec<u8>> {
        let z = kij.iter().take_while(|&&b| b == 0).count();
        let mut out = zeroize::Zeroizing::new(Vec::with_capacity(kij.len()));
        if self == CompatProfile::OpenHip {
            out.extend_from_slice(&kij[z..]);
            out.resize(kij.len(), 0);
        } else if self.kij_strip_leading_zeros(group) {
            out.extend_from_slice(&kij[z..]);
        } else {
            out.extend_from_slice(kij);
        }
        out
    }

    /// Answer an UPDATE that carries an echo request but no SEQ with an
    /// UPDATE carrying the echo response. OpenHIP 0.9's second address
    /// check is such a packet (ACK and ECHO_REQUEST; it adds SEQ only when
    /// a rekey of its own is pending, `hip_send_update` in
    /// protocol/hip_output.c), and it waits for the echo.
    pub fn echo_without_seq(self) -> bool {
        self == CompatProfile::OpenHip
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
        assert!(!p.kij_strip_leading_zeros(DhGroupId::Modp3072));
        assert_eq!(p.wire_version(Version::V1), Version::V1);
        assert_eq!(p.rules_version(Version::V2), Version::V2);
        assert!(!p.v1_with_group_list());
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
        let modp = DhGroupId::Modp1536;
        assert_eq!(&h.shape_kij(modp, &[0, 0, 7, 0])[..], &[7, 0]);
        assert_eq!(&CompatProfile::Strict.shape_kij(modp, &[0, 7])[..], &[0, 7]);
        // OpenSSL's ECDH_compute_key pads the x coordinate to the field size.
        let v2 = CompatProfile::HiplV2;
        assert_eq!(&v2.shape_kij(DhGroupId::NistP384, &[0, 7])[..], &[0, 7]);
        assert_eq!(&v2.shape_kij(modp, &[0, 7])[..], &[7]);
        assert_eq!(&c.shape_kij(DhGroupId::NistP384, &[0, 7])[..], &[7]);
        // OpenHIP: the shortened secret first, its zeros at the end.
        let o = CompatProfile::OpenHip;
        assert_eq!(&o.shape_kij(modp, &[0, 0, 7, 9])[..], &[7, 9, 0, 0]);
        assert_eq!(&o.shape_kij(modp, &[5, 0, 7])[..], &[5, 0, 7]);
        assert_eq!(
            o.puzzle_input_order(),
            PuzzleInputOrder::OpenHipLittleEndian
        );
        assert!(o.echo_without_seq() && !h.echo_without_seq());
    }

    #[test]
    fn names_round_trip() {
        for p in [
            CompatProfile::Strict,
            CompatProfile::Hipl108,
            CompatProfile::HiplV2,
            CompatProfile::Cutehip,
            CompatProfile::OpenHip,
        ] {
            assert_eq!(CompatProfile::from_name(p.name()), Some(p));
        }
        assert_eq!(CompatProfile::from_name("hip4inter.net"), None);
    }

    #[test]
    fn hipl_v2_is_rfc_5201_with_a_2_in_the_header() {
        let v2 = CompatProfile::HiplV2;
        assert!(v2.is_hipl() && v2.v1_with_group_list());
        assert_eq!(v2.rules_version(Version::V2), Version::V1);
        assert_eq!(v2.wire_version(Version::V1), Version::V2);
        // Every HIPL quirk holds in its v2 mode too.
        assert!(v2.accept_short_type1_locator() && v2.esp_sequence_restarts_on_move());
        assert!(v2.server_hmac_either_key() && v2.echo_every_locator_set());
        assert!(!CompatProfile::Hipl108.v1_with_group_list());
    }

    #[test]
    fn an_orchid_v1_hit_in_a_v2_packet_selects_hipl_v2() {
        let v1_hit: Hit = "2001:13:a5e3:d6d5:f0c7:ca65:3186:475f".parse().unwrap();
        let v2_hit: Hit = "2001:20:1234:5678:9abc:def0:1234:5678".parse().unwrap();
        let d = CompatProfile::detect;
        assert_eq!(
            d(CompatProfile::Strict, Version::V2, &v1_hit),
            CompatProfile::HiplV2
        );
        assert_eq!(
            d(CompatProfile::Hipl108, Version::V2, &v1_hit),
            CompatProfile::HiplV2
        );
        assert_eq!(
            d(CompatProfile::HiplV2, Version::V1, &v1_hit),
            CompatProfile::Hipl108
        );
        // RFC 7401 packets and v1 packets keep what was configured.
        assert_eq!(
            d(CompatProfile::Strict, Version::V2, &v2_hit),
            CompatProfile::Strict
        );
        assert_eq!(
            d(CompatProfile::Strict, Version::V1, &v1_hit),
            CompatProfile::Strict
        );
        assert_eq!(
            d(CompatProfile::Cutehip, Version::V2, &v1_hit),
            CompatProfile::Cutehip
        );
        assert_eq!(
            d(CompatProfile::HiplV2, Version::V2, &v1_hit),
            CompatProfile::HiplV2
        );
    }
}
