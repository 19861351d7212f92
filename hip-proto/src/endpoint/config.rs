//! Endpoint configuration: preference lists, puzzle difficulty, timers, profiles
//! (RFC 7401 sections 4.1.1, 4.4.3, 5.2.6-5.2.11; RFC 7402 section 5.1.2;
//! RFC 5201 section 5.2.8 for HIP_TRANSFORM).

use std::collections::HashMap;

use super::compat::CompatProfile;
use super::rate_limit::RateLimit;
use crate::association::{Duration, RetransmitConfig};
use crate::crypto::puzzle::MAX_K;
use crate::registry::{
    DhGroupId, EspTransformId, HipCipherId, HipTransformId, HitSuiteId, Version,
};
use crate::Hit;

/// TRANSPORT_FORMAT_LIST value for ESP (RFC 7402 section 5.1.3: the ESP_TRANSFORM
/// parameter type, 4095).
pub const TRANSPORT_FORMAT_ESP: u16 = 4095;

/// Errors in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A preference list that must not be empty is empty.
    #[error("empty preference list: {0}")]
    EmptyList(&'static str),
    /// Puzzle difficulty above what the RHASH can express.
    #[error("puzzle difficulty {0} out of range")]
    Difficulty(u8),
    /// The largest puzzle K we solve as initiator is above [`MAX_K`].
    #[error("max_solved_puzzle {0} above {MAX_K}")]
    MaxSolved(u8),
    /// The registrar offer is invalid.
    #[error("registrar: {0}")]
    Registrar(#[from] super::registration::RegistrarConfigError),
}

/// Endpoint configuration. All lists are in local preference order (first preferred).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Versions we answer and initiate with.
    pub versions: Vec<Version>,
    /// DH_GROUP_LIST (v2) and the groups accepted in v1.
    pub dh_groups: Vec<DhGroupId>,
    /// HIP_CIPHER (v2).
    pub hip_ciphers: Vec<HipCipherId>,
    /// HIP_TRANSFORM (v1).
    pub hip_transforms: Vec<HipTransformId>,
    /// ESP_TRANSFORM suites.
    pub esp_transforms: Vec<EspTransformId>,
    /// HIT_SUITE_LIST (v2).
    pub hit_suites: Vec<HitSuiteId>,
    /// TRANSPORT_FORMAT_LIST (v2).
    pub transport_formats: Vec<u16>,
    /// Puzzle difficulty K sent in R1 (adjustable at run time, RFC 7401 section 4.1.1).
    pub puzzle_difficulty: u8,
    /// Puzzle lifetime exponent (RFC 7401 section 5.2.4: 2^(value-32) seconds).
    pub puzzle_lifetime: u8,
    /// The largest K this host solves as initiator; an R1 asking more is refused
    /// (RFC 7401 section 6.8: the initiator may drop an R1 whose puzzle is too hard).
    pub max_solved_puzzle: u8,
    /// Interval after which the puzzle secret and R1 generation are rotated.
    pub r1_generation_interval: Duration,
    /// I1 retransmission.
    pub i1_retransmit: RetransmitConfig,
    /// I2 retransmission.
    pub i2_retransmit: RetransmitConfig,
    /// UPDATE retransmission.
    pub update_retransmit: RetransmitConfig,
    /// CLOSE retransmission (bounded by UAL + MSL in total, RFC 7401 section 4.4.2).
    pub close_retransmit: RetransmitConfig,
    /// Unused association lifetime (UAL).
    pub ual: Duration,
    /// Maximum segment lifetime (MSL).
    pub msl: Duration,
    /// Wait in E-FAILED before returning to UNASSOCIATED.
    pub failed_linger: Duration,
    /// Rekey (UPDATE with new SPIs and keys from KEYMAT) after the ESP keys
    /// have been in use this long (RFC 7402 section 6.9); `None`: only on demand.
    pub rekey_interval: Option<Duration>,
    /// Move to new SPIs and keys together with a locator change (RFC 8046
    /// section 3.2.2, mobile-initiated rekey); off: section 3.2.1, same SAs.
    pub rekey_on_locator_change: bool,
    /// Bring a new Diffie-Hellman key to every rekey this host starts or
    /// answers, so that new ESP keys come from a fresh Kij (forward secrecy,
    /// RFC 7402 sections 6.8-6.10); off: KEYMAT continues unless the peer
    /// sends a new key.
    pub rekey_new_dh: bool,
    /// Rate of the unsigned NOTIFYs answering packets that create no state
    /// (UNSUPPORTED_CRITICAL_PARAMETER_TYPE, RFC 7401 sections 5.2.1 and
    /// 5.4), endpoint-wide.
    pub unsolicited_notify: RateLimit,
    /// Signature checks of received NOTIFYs of an association, endpoint-wide
    /// (NOTIFY has no HIP_MAC, RFC 7401 section 5.3.6; beyond the budget a
    /// NOTIFY is dropped unparsed, [`super::DropReason::NotifyVerifyRateLimited`]).
    pub notify_verify: RateLimit,
    /// R1s toward one destination address (the I1's source): burst and rate,
    /// per address, in a fixed table of keyed-hash slots
    /// ([`super::r1_rate_limit`]; RFC 7401 sections 4.1.1 and 5.4: an I1 of
    /// 56 octets with a forged source gets an R1 of about 430). `None`: no
    /// per-destination limit. A `per_token` of zero sends no R1 at all.
    pub r1_per_destination: Option<RateLimit>,
    /// R1s in all, endpoint-wide, so that a flood from many (forged) sources
    /// is bounded too. `None`: no overall limit.
    pub r1_global: Option<RateLimit>,
    /// Accepted I2 puzzle solutions remembered per R1 generation, to refuse
    /// replays (RFC 7401 sections 4.1.1, 6.9); when a generation's set is
    /// full, its further I2s are refused until the next rotation.
    pub spent_puzzle_capacity: usize,
    /// Compatibility profile per peer HIT; absent peers are handled strictly.
    pub peer_profiles: HashMap<Hit, CompatProfile>,
    /// Services offered as a registrar (RFC 8003); none by default.
    pub registrar: super::registration::RegistrarConfig,
    /// NAT keepalive interval on associations over UDP (RFC 5770 section 4.7;
    /// RFC 9028 section 5.10 "Tr", 15 s by default): when nothing was sent to
    /// the peer for this long, a NOTIFY with NAT_KEEPALIVE goes out
    /// ([`super::nat_keepalive`]). `None`: no keepalives.
    pub nat_keepalive_interval: Option<Duration>,
}

/// The default NAT keepalive interval (RFC 5770 section 4.7 and RFC 9028
/// section 5.10: every 15 seconds when the control and data channels are idle).
pub const NAT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);

impl Default for Config {
    fn default() -> Self {
        Config {
            versions: vec![Version::V2, Version::V1],
            dh_groups: vec![
                DhGroupId::NistP256,
                DhGroupId::Curve25519,
                DhGroupId::NistP384,
                DhGroupId::Modp3072,
                DhGroupId::Modp2048,
                DhGroupId::Modp1536,
            ],
            hip_ciphers: vec![
                HipCipherId::Aes128Cbc,
                HipCipherId::Aes256Cbc,
                HipCipherId::NullEncrypt,
            ],
            hip_transforms: vec![HipTransformId::AesCbcHmacSha1, HipTransformId::NullHmacSha1],
            // AES-GCM first: the cheapest suite by far (docs/PERFORMANCE.md);
            // peers without it (HIPL offers 1, 2, 3; cutehip 9, 8, 7) pick the next.
            esp_transforms: vec![
                EspTransformId::AesGcm16,
                EspTransformId::Aes128CbcHmacSha256,
                EspTransformId::Aes256CbcHmacSha256,
                EspTransformId::Aes128CbcHmacSha1,
                EspTransformId::NullHmacSha256,
            ],
            hit_suites: vec![
                HitSuiteId::EcdsaSha384,
                HitSuiteId::RsaDsaSha256,
                HitSuiteId::EdDsaCshake128,
            ],
            transport_formats: vec![TRANSPORT_FORMAT_ESP],
            puzzle_difficulty: 1,
            puzzle_lifetime: 37,
            max_solved_puzzle: 24,
            r1_generation_interval: Duration::from_secs(60),
            i1_retransmit: RetransmitConfig::BASE_EXCHANGE,
            i2_retransmit: RetransmitConfig::BASE_EXCHANGE,
            update_retransmit: RetransmitConfig::DEFAULT,
            close_retransmit: RetransmitConfig::DEFAULT,
            ual: Duration::from_secs(15 * 60),
            msl: Duration::from_secs(2 * 60),
            failed_linger: Duration::from_secs(60),
            rekey_interval: None,
            rekey_on_locator_change: false,
            rekey_new_dh: false,
            unsolicited_notify: RateLimit::DEFAULT,
            notify_verify: RateLimit::NOTIFY_VERIFY,
            r1_per_destination: Some(RateLimit::R1_PER_DESTINATION),
            r1_global: Some(RateLimit::R1_GLOBAL),
            spent_puzzle_capacity: 8192,
            peer_profiles: HashMap::new(),
            registrar: super::registration::RegistrarConfig::default(),
            nat_keepalive_interval: Some(NAT_KEEPALIVE_INTERVAL),
        }
    }
}

impl Config {
    /// Checks the configuration; an endpoint is only built from a valid one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let lists: [(&'static str, bool); 5] = [
            ("versions", self.versions.is_empty()),
            ("dh_groups", self.dh_groups.is_empty()),
            ("esp_transforms", self.esp_transforms.is_empty()),
            ("transport_formats", self.transport_formats.is_empty()),
            ("hit_suites", self.hit_suites.is_empty()),
        ];
        if let Some((name, _)) = lists.iter().find(|(_, empty)| *empty) {
            return Err(ConfigError::EmptyList(name));
        }
        if self.versions.contains(&Version::V2) && self.hip_ciphers.is_empty() {
            return Err(ConfigError::EmptyList("hip_ciphers"));
        }
        if self.versions.contains(&Version::V1) && self.hip_transforms.is_empty() {
            return Err(ConfigError::EmptyList("hip_transforms"));
        }
        // The smallest RHASH (SHA-1, v1) has 160 bits; K is bounded by the field type
        // and by what a peer can solve: RFC 7401 section 4.1.1 leaves the choice to the
        // responder; K above MAX_K (40) could not be solved in useful time.
        if self.puzzle_difficulty > MAX_K {
            return Err(ConfigError::Difficulty(self.puzzle_difficulty));
        }
        if self.max_solved_puzzle > MAX_K {
            return Err(ConfigError::MaxSolved(self.max_solved_puzzle));
        }
        self.registrar.validate()?;
        Ok(())
    }

    /// The compatibility profile for a peer (strict when not configured).
    pub fn profile_for(&self, peer: &Hit) -> CompatProfile {
        self.peer_profiles.get(peer).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_strict() {
        let c = Config::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.profile_for(&Hit([7; 16])), CompatProfile::Strict);
    }

    #[test]
    fn invalid_configs_are_typed_errors() {
        let mut c = Config {
            dh_groups: vec![],
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::EmptyList("dh_groups")));
        c = Config {
            hip_ciphers: vec![],
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::EmptyList("hip_ciphers")));
        c.versions = vec![Version::V1];
        assert_eq!(c.validate(), Ok(()));
        c = Config {
            puzzle_difficulty: 65,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::Difficulty(65)));
        c = Config {
            max_solved_puzzle: 41,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::MaxSolved(41)));
    }

    #[test]
    fn peer_profile_lookup() {
        let mut c = Config::default();
        c.peer_profiles.insert(Hit([1; 16]), CompatProfile::Cutehip);
        assert_eq!(c.profile_for(&Hit([1; 16])), CompatProfile::Cutehip);
    }
}
