//! HIT, puzzle and signature checks of one packet.

use std::collections::HashMap;

use hip_proto::crypto::hi::HostIdPublic;
use hip_proto::crypto::orchid::verify_hit;
use hip_proto::crypto::puzzle::{Puzzle, PuzzleInputOrder};
use hip_proto::crypto::rhash::Rhash;
use hip_proto::crypto::sign::SignatureScheme;
use hip_proto::hit::OrchidVersion;
use hip_proto::registry::{HitSuiteId, PacketType};
use hip_proto::wire::{cover, HipRepr, ParamRepr, ParamType};
use hip_proto::Hit;
use serde::Serialize;

/// Outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", content = "detail", rename_all = "snake_case")]
pub enum Check {
    NotApplicable,
    Ok(String),
    /// Could not be checked (e.g. no HOST_ID seen for the sender).
    Unverified(String),
    Failed(String),
}

impl Check {
    pub fn is_failure(&self) -> bool {
        matches!(self, Check::Failed(_))
    }
}

/// Which implementation's rules to apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// ORCHIDv1 HITs mean HIPL/v1 rules; otherwise RFC 7401, and cutehip's
    /// deviations are recognised and reported.
    #[default]
    Auto,
    /// RFC 7401 (v2) / RFC 5201 (v1) only.
    Rfc,
    /// HIPL 1.0.8: SHA-1 signatures and RFC 5201 rules in both versions.
    Hipl,
    /// cutehip: RFC 7401 with its puzzle order and R2 signature type.
    Cutehip,
}

pub(crate) struct Verifier<'a> {
    pub profile: Profile,
    pub packet: &'a [u8],
    pub repr: &'a HipRepr,
}

impl Verifier<'_> {
    fn v1_rules(&self) -> bool {
        match self.profile {
            Profile::Hipl => true,
            Profile::Cutehip => false,
            Profile::Rfc => self.repr.version.value() == 1,
            Profile::Auto => {
                self.repr.version.value() == 1
                    || self.repr.sender_hit.orchid_version() == Some(OrchidVersion::V1)
            }
        }
    }

    /// Recompute the sender's HIT from a HOST_ID in the packet and learn the key.
    pub fn hit_check(&self, keys: &mut HashMap<Hit, HostIdPublic>) -> Check {
        let Some(ParamRepr::HostId(h)) = self.repr.param(ParamType::HostId) else {
            return Check::NotApplicable;
        };
        let pk = match HostIdPublic::from_hi_bytes(h.algorithm, &h.hi) {
            Ok(pk) => pk,
            Err(e) => return Check::Failed(format!("HOST_ID key: {e}")),
        };
        let hit = self.repr.sender_hit;
        let ok = verify_hit(&hit, &pk);
        keys.insert(hit, pk);
        if ok {
            Check::Ok(format!("sender HIT is the ORCHID of its HOST_ID ({hit})"))
        } else {
            Check::Failed(format!("sender HIT {hit} does not match its HOST_ID"))
        }
    }

    /// Check a SOLUTION against the K and #I it carries.
    pub fn puzzle_check(&self) -> Check {
        let Some(ParamRepr::Solution(s)) = self.repr.param(ParamType::Solution) else {
            return Check::NotApplicable;
        };
        let hit_i = &self.repr.sender_hit;
        let hit_r = &self.repr.receiver_hit;
        let rhash = if self.v1_rules() {
            Rhash::Sha1
        } else {
            match hit_r
                .oga_id()
                .map(HitSuiteId::from)
                .and_then(Rhash::for_hit_suite)
            {
                Some(r) => r,
                None => {
                    return Check::Unverified("unknown RHASH for the responder's HIT suite".into())
                }
            }
        };
        let p = Puzzle {
            rhash,
            k: s.k,
            i: &s.i,
            hit_i,
            hit_r,
            order: PuzzleInputOrder::Rfc,
        };
        let other = Puzzle {
            order: PuzzleInputOrder::ResponderFirst,
            ..p
        };
        let (rfc_ok, swapped_ok) = (p.verify(&s.j), other.verify(&s.j));
        let openhip_ok = || {
            Puzzle {
                order: PuzzleInputOrder::OpenHipLittleEndian,
                ..p
            }
            .verify(&s.j)
        };
        match (self.profile, rfc_ok, swapped_ok) {
            (Profile::Cutehip, _, true) => Check::Ok(format!("K={} (cutehip order)", s.k)),
            (Profile::Cutehip, _, false) => Check::Failed(format!("K={} wrong solution", s.k)),
            (_, true, _) => Check::Ok(format!("K={} solution valid", s.k)),
            (Profile::Auto, false, true) => Check::Ok(format!(
                "K={} valid only with cutehip's order I|HIT-R|HIT-I|J (not RFC 7401)",
                s.k
            )),
            (Profile::Auto, false, false) if openhip_ok() => Check::Ok(format!(
                "K={} valid only with OpenHIP's bit test, the last 8 octets read \
                 little-endian (not RFC 5201)",
                s.k
            )),
            _ => Check::Failed(format!("K={} wrong solution", s.k)),
        }
    }

    /// Verify HIP_SIGNATURE / HIP_SIGNATURE_2 with the sender's key.
    pub fn signature_check(&self, keys: &HashMap<Hit, HostIdPublic>) -> Check {
        let (sig, ty) = match (
            self.repr.param(ParamType::HipSignature),
            self.repr.param(ParamType::HipSignature2),
        ) {
            (Some(ParamRepr::HipSignature(s)), _) => (s, ParamType::HipSignature),
            (_, Some(ParamRepr::HipSignature2(s))) => (s, ParamType::HipSignature2),
            _ => return Check::NotApplicable,
        };
        let Some(pk) = keys.get(&self.repr.sender_hit) else {
            return Check::Unverified("no HOST_ID seen for the sender".into());
        };
        let scheme = if self.v1_rules() {
            SignatureScheme::Rfc5201
        } else {
            SignatureScheme::Rfc7401
        };
        let is_r1 = self.repr.packet_type == PacketType::R1;
        let covered = match (ty, is_r1) {
            (ParamType::HipSignature2, true) => cover::hip_signature_2(self.packet),
            (ParamType::HipSignature2, false) => cover::below(self.packet, ty.value()),
            _ => cover::hip_signature(self.packet),
        };
        let covered = match covered {
            Ok(c) => c,
            Err(e) => return Check::Failed(format!("cannot compute covered bytes: {e}")),
        };
        let name = if ty == ParamType::HipSignature {
            "HIP_SIGNATURE"
        } else {
            "HIP_SIGNATURE_2"
        };
        match pk.verify(&covered, &sig.signature, scheme) {
            Ok(()) if ty == ParamType::HipSignature2 && !is_r1 => Check::Ok(format!(
                "{name} valid ({scheme:?}); HIP_SIGNATURE_2 outside R1 is a cutehip deviation"
            )),
            Ok(()) => Check::Ok(format!("{name} valid ({scheme:?})")),
            Err(e) => Check::Failed(format!("{name}: {e} ({scheme:?})")),
        }
    }
}
