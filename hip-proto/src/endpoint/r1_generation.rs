//! R1 generation (RFC 7401 section 4.1.1, "the Responder ... can precompute R1
//! packets"; section 5.3.2; RFC 5201 section 5.3.2 for v1).
//!
//! One R1 template per (local HIT, DH group) and generation, signed once with
//! HIP_SIGNATURE_2, whose coverage zeroes the Receiver's HIT and PUZZLE's Opaque
//! and #I (section 5.2.15). Serving an I1 copies the template and patches those
//! three fields: #I is derived from a rotating secret ([`PuzzleSecrets`]) and the
//! generation travels in Opaque and R1_COUNTER, so the responder keeps no state
//! per initiator. The template's DH key pair is kept for the generation, to
//! compute Kij when a valid I2 arrives. The current and the previous generation
//! are live, as for the puzzle secrets.

use std::collections::HashMap;

use super::compat::CompatProfile;
use super::config::{Config, TRANSPORT_FORMAT_ESP};
use super::identity::LocalIdentity;
use super::protect::{BuildError, CallerRng};
use super::puzzle_secret::{PuzzleSecretError, PuzzleSecrets};
use super::random::RandomSource;
use crate::crypto::dh::{self, DhKeyPair};
use crate::crypto::rhash::Rhash;
use crate::registry::{DhGroupId, PacketType, Version};
use crate::wire::{checksum, cover, DhValue, DiffieHellman, HipRepr, ParamRepr, ParamType, Puzzle};
use crate::Hit;

/// ICE priority of a server-reflexive candidate (RFC 8445 section 5.1.2.1:
/// type preference 100, local preference 65535, component 1).
const SERVER_REFLEXIVE_PRIORITY: u32 = (100 << 24) | (65535 << 8) | 255;

/// ICE priority of a relayed candidate (RFC 8445 section 5.1.2.1: type
/// preference 0, local preference 65535, component 1).
const RELAYED_PRIORITY: u32 = (65535 << 8) | 255;

/// A transport address offered in our R1 and what kind of candidate it is.
pub type Candidate = (std::net::SocketAddr, crate::wire::CandidateKind);

/// Lifetime of the transport locators in R1, seconds.
const CANDIDATE_LIFETIME: u32 = 120;

/// A signed R1 ready to be patched for one initiator.
pub struct R1Template {
    bytes: Vec<u8>,
    /// The generation (puzzle secret) this R1 belongs to.
    generation: u16,
    /// Offset of PUZZLE's contents (K, Lifetime, Opaque, #I).
    puzzle_at: usize,
    i_len: usize,
    /// The responder's DH key pair offered in this R1.
    pub dh: DhKeyPair,
    /// The HOST_ID parameter exactly as in this R1 (for HIP_MAC_2 in R2).
    pub host_id_raw: Vec<u8>,
    /// The RHASH of the exchange (the responder's HIT suite; SHA-1 in v1).
    pub rhash: Rhash,
    /// The puzzle difficulty signed into this R1.
    pub k: u8,
}

impl std::fmt::Debug for R1Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("R1Template")
            .field("len", &self.bytes.len())
            .field("group", &self.dh.group())
            .field("k", &self.k)
            .finish_non_exhaustive()
    }
}

/// The RHASH for an exchange whose responder has HIT `hit_r` (RFC 7401 section 6.3:
/// the responder's HIT suite; RFC 5201: SHA-1).
pub fn rhash_for(version: Version, hit_r: &Hit) -> Option<Rhash> {
    match version {
        Version::V1 => Some(Rhash::Sha1),
        _ => Rhash::for_hit_suite(crate::registry::HitSuiteId::from(hit_r.oga_id()?)),
    }
}

/// Length of #I: 8 octets in v1 (RFC 5201 section 5.2.4), RHASH_len / 8 in v2.
pub fn i_len(version: Version, rhash: Rhash) -> usize {
    match version {
        Version::V1 => 8,
        _ => rhash.output_len(),
    }
}

/// The DH groups offered under a version's rules to a peer with `profile`:
/// v1 knows only the MODP groups of RFC 5201; HIPL's v2 mode (v1 rules with
/// a DH_GROUP_LIST) the three groups of its own list, NIST P-384 and the
/// 3072- and 1536-bit MODP groups (`HIP_DH_GROUP_LIST` in its
/// libcore/crypto.c; its I2 check refuses any other group).
pub fn groups_for(version: Version, profile: CompatProfile, cfg: &Config) -> Vec<DhGroupId> {
    cfg.dh_groups
        .iter()
        .copied()
        .filter(|g| match version {
            Version::V1 if profile.v1_with_group_list() => matches!(
                g,
                DhGroupId::NistP384 | DhGroupId::Modp3072 | DhGroupId::Modp1536
            ),
            Version::V1 => matches!(g, DhGroupId::Modp1536 | DhGroupId::Modp3072),
            _ => true,
        })
        .collect()
}

/// What besides the local HIT and the DH group tells R1 templates apart:
/// whether R1_COUNTER is sent ([`CompatProfile::r1_has_r1_counter`]) and
/// whether the R1 is HIPL's v2 one (version 2 header, DH_GROUP_LIST).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct R1Flavor {
    /// R1_COUNTER is included.
    pub counter: bool,
    /// Version 2 in the header over v1 rules, with DH_GROUP_LIST
    /// ([`CompatProfile::v1_with_group_list`]).
    pub hipl_v2: bool,
}

impl R1Flavor {
    /// The R1 a peer with `profile` gets.
    pub fn for_profile(profile: CompatProfile) -> Self {
        R1Flavor {
            counter: profile.r1_has_r1_counter(),
            hipl_v2: profile.v1_with_group_list(),
        }
    }

    fn profile(self) -> CompatProfile {
        if self.hipl_v2 {
            CompatProfile::HiplV2
        } else {
            CompatProfile::Strict
        }
    }
}

/// Why an R1 could not be served.
#[derive(Debug, thiserror::Error)]
pub enum R1Error {
    /// The identity's HIT suite has no RHASH.
    #[error("no RHASH for the local HIT suite")]
    NoRhash,
    /// DH key generation failed.
    #[error("DH: {0}")]
    Dh(#[from] dh::DhError),
    /// Encoding or signing failed.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The puzzle secret failed.
    #[error(transparent)]
    Puzzle(#[from] PuzzleSecretError),
}

/// Templates are kept per local HIT, DH group and [`R1Flavor`].
type TemplateKey = (Hit, DhGroupId, R1Flavor);

/// The precomputed R1s and the puzzle secrets they use.
#[derive(Debug)]
pub struct R1Factory {
    /// Puzzle secrets; the generation is theirs.
    pub secrets: PuzzleSecrets,
    current: HashMap<TemplateKey, R1Template>,
    previous: HashMap<TemplateKey, R1Template>,
    /// Templates signed so far.
    pub signed: u64,
    /// Per local HIT: our server-reflexive transport addresses (REG_FROM of
    /// our relay registrations), offered in R1 as transport locators.
    candidates: HashMap<Hit, Vec<Candidate>>,
}

impl R1Factory {
    /// Fresh secrets and no templates.
    pub fn new(random: &mut dyn RandomSource) -> Self {
        R1Factory {
            secrets: PuzzleSecrets::new(random),
            current: HashMap::new(),
            previous: HashMap::new(),
            signed: 0,
            candidates: HashMap::new(),
        }
    }

    /// Does any identity offer candidates?
    pub fn has_candidates(&self) -> bool {
        !self.candidates.is_empty()
    }

    /// Sets the server-reflexive transport addresses `hit`'s R1s offer in
    /// LOCATOR_SET (RFC 9028 section 4.7.2: a Responder registered at a
    /// Control Relay Server lists where it can be reached over UDP). A
    /// change drops the current templates, so the next R1 is signed with it.
    pub fn set_candidates(&mut self, hit: Hit, addrs: Vec<Candidate>) {
        let now = self.candidates.get(&hit).map_or(&[][..], Vec::as_slice);
        if now == addrs.as_slice() {
            return;
        }
        if addrs.is_empty() {
            self.candidates.remove(&hit);
        } else {
            self.candidates.insert(hit, addrs);
        }
        self.invalidate();
    }

    /// Starts a new generation: new puzzle secret, the current templates become
    /// the previous ones, new templates are signed on demand.
    pub fn rotate(&mut self, random: &mut dyn RandomSource) {
        self.secrets.rotate(random);
        self.previous = std::mem::take(&mut self.current);
    }

    /// Drops the current templates (after a difficulty or preference change);
    /// exchanges in flight on them stay valid through `previous`.
    pub fn invalidate(&mut self) {
        let cur = std::mem::take(&mut self.current);
        // Keep old DH keys reachable: a current-generation I2 may still arrive.
        for (k, v) in cur {
            self.previous.entry(k).or_insert(v);
        }
    }

    /// The template of a generation, to process an I2 (`None` when expired).
    pub fn template(
        &self,
        generation: u16,
        hit: &Hit,
        group: DhGroupId,
        flavor: R1Flavor,
    ) -> Option<&R1Template> {
        let key = (*hit, group, flavor);
        [self.current.get(&key), self.previous.get(&key)]
            .into_iter()
            .flatten()
            .find(|t| t.generation == generation)
    }

    /// Serves an R1 to `initiator` from `id` with `group`, signing a template first
    /// if this generation has none.
    #[allow(clippy::too_many_arguments)]
    pub fn serve(
        &mut self,
        cfg: &Config,
        id: &LocalIdentity,
        group: DhGroupId,
        flavor: R1Flavor,
        initiator: &Hit,
        src: std::net::IpAddr,
        dst: std::net::IpAddr,
        udp: bool,
        random: &mut dyn RandomSource,
    ) -> Result<Vec<u8>, R1Error> {
        let generation = self.secrets.generation();
        let key = (id.hit, group, flavor);
        if !self.current.contains_key(&key) {
            let cands = self.candidates.get(&id.hit).map_or(&[][..], Vec::as_slice);
            let t = build_template(cfg, id, group, generation, flavor, cands, random)?;
            self.signed += 1;
            self.current.insert(key, t);
        }
        let t = &self.current[&key];
        let i = self
            .secrets
            .compute(generation, t.k, initiator, &id.hit, t.i_len)?;
        let mut out = t.bytes.clone();
        out[24..40].copy_from_slice(&initiator.0);
        out[t.puzzle_at + 2..t.puzzle_at + 4].copy_from_slice(&generation.to_be_bytes());
        out[t.puzzle_at + 4..t.puzzle_at + 4 + t.i_len].copy_from_slice(&i);
        if !udp {
            checksum::fill(&mut out, src, dst);
        }
        Ok(out)
    }
}

/// Builds and signs one R1 (RFC 7401 section 5.3.2 parameter list; RFC 5201
/// section 5.3.2 for v1).
fn build_template(
    cfg: &Config,
    id: &LocalIdentity,
    group: DhGroupId,
    generation: u16,
    flavor: R1Flavor,
    candidates: &[Candidate],
    random: &mut dyn RandomSource,
) -> Result<R1Template, R1Error> {
    let rhash = rhash_for(id.version, &id.hit).ok_or(R1Error::NoRhash)?;
    let mut seed = vec![0u8; dh::random_len(group).unwrap_or(32)];
    let dh = loop_dh(group, &mut seed, random)?;
    let v1 = id.version == Version::V1;
    let k = cfg.puzzle_difficulty;
    let i_len = i_len(id.version, rhash);
    let profile = flavor.profile();
    let wire = profile.wire_version(id.version);
    let mut r = HipRepr::new(PacketType::R1, wire, id.hit, Hit([0; 16]));
    let counter = u64::from(generation);
    if flavor.counter {
        r.params.push(if v1 {
            ParamRepr::R1CounterV1(counter)
        } else {
            ParamRepr::R1Counter(counter)
        });
    }
    r.params.push(ParamRepr::Puzzle(Puzzle {
        k,
        lifetime: cfg.puzzle_lifetime,
        opaque: [0; 2],
        i: vec![0; i_len],
    }));
    if !v1 || flavor.hipl_v2 {
        r.params
            .push(ParamRepr::DhGroupList(groups_for(id.version, profile, cfg)));
    }
    r.params.push(ParamRepr::DiffieHellman(DiffieHellman {
        values: vec![DhValue {
            group,
            public: dh.public_value().to_vec(),
        }],
        trailing: Vec::new(),
    }));
    if v1 {
        r.params
            .push(ParamRepr::HipTransform(cfg.hip_transforms.clone()));
    } else {
        r.params.push(ParamRepr::HipCipher(cfg.hip_ciphers.clone()));
    }
    r.params.push(id.host_id_param());
    if !v1 {
        r.params.push(ParamRepr::HitSuiteList(
            cfg.hit_suites.iter().map(|s| s.value() << 4).collect(),
        ));
        r.params.push(ParamRepr::TransportFormatList(
            if cfg.transport_formats.is_empty() {
                vec![TRANSPORT_FORMAT_ESP]
            } else {
                cfg.transport_formats.clone()
            },
        ));
    }
    r.params.push(ParamRepr::EspTransform {
        reserved: 0,
        suites: cfg.esp_transforms.clone(),
    });
    // REG_INFO when we are a registrar (RFC 8003 section 3.1), signed with the rest.
    if let Some(info) = cfg.registrar.reg_info() {
        r.insert_ordered(info);
    }
    // Our relay-given transport addresses: server-reflexive, and relayed
    // where a Data Relay forwards our ESP (RFC 9028 sections 4.7.2, 4.12;
    // transport locators, section 5.7). The SPI is not allocated before the
    // I2: zero.
    if !candidates.is_empty() && !v1 {
        r.insert_ordered(ParamRepr::LocatorSet(
            candidates
                .iter()
                .enumerate()
                .map(|(n, (at, kind))| {
                    let priority = match kind {
                        crate::wire::CandidateKind::Relayed => RELAYED_PRIORITY,
                        _ => SERVER_REFLEXIVE_PRIORITY,
                    };
                    crate::wire::Locator::transport(
                        *at,
                        *kind,
                        priority,
                        0,
                        n == 0,
                        CANDIDATE_LIFETIME,
                    )
                })
                .collect(),
        ));
    }
    // HIP_SIGNATURE_2 over the template (zeroed fields are zero already).
    let bytes = r.to_bytes().map_err(BuildError::from)?;
    let covered = cover::hip_signature_2(&bytes).map_err(BuildError::from)?;
    let sig = id
        .hi
        .sign(&covered, id.scheme(), &mut CallerRng(random))
        .map_err(BuildError::from)?;
    r.insert_ordered(ParamRepr::HipSignature2(crate::wire::Signature {
        alg: id.sig_alg(),
        signature: sig,
    }));
    let bytes = r.to_bytes().map_err(BuildError::from)?;
    let host_id_raw = cover::raw_param(&bytes, ParamType::HostId).map_err(BuildError::from)?;
    let puzzle_at = param_contents_offset(&bytes, ParamType::Puzzle.value())
        .ok_or(BuildError::Wire(crate::wire::Error::MissingParam(257)))?;
    Ok(R1Template {
        bytes,
        generation,
        puzzle_at,
        i_len,
        dh,
        host_id_raw,
        rhash,
        k,
    })
}

/// A DH key pair from fresh randomness (retrying the rare invalid scalar).
fn loop_dh(
    group: DhGroupId,
    seed: &mut [u8],
    random: &mut dyn RandomSource,
) -> Result<DhKeyPair, dh::DhError> {
    let mut last = dh::DhError::BadRandom;
    for _ in 0..4 {
        random.fill(seed);
        match DhKeyPair::from_random(group, seed) {
            Ok(k) => return Ok(k),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Offset of the contents of the first parameter of type `ty`.
fn param_contents_offset(bytes: &[u8], ty: u16) -> Option<usize> {
    let pk = crate::wire::Packet::new_checked(bytes).ok()?;
    pk.params()
        .filter_map(Result::ok)
        .find(|p| p.raw_type() == ty)
        .map(|p| p.offset() + 4)
}

/// Fresh DH key pair for an initiator (RFC 7401 section 6.8).
pub fn fresh_dh(group: DhGroupId, random: &mut dyn RandomSource) -> Result<DhKeyPair, dh::DhError> {
    let mut seed = vec![0u8; dh::random_len(group).ok_or(dh::DhError::UnsupportedGroup(group))?];
    loop_dh(group, &mut seed, random)
}
