//! OpenHIP 0.9, the `openhip` profile (rfc-notes/interop.md, "OpenHIP 0.9"),
//! against the bytes OpenHIP sent in a live run with hipd
//! (fixtures/openhip-0.9-with-hipd-puzzle.pcap: hipd with the throw-away key
//! fixtures/keys/rsa-A.private.pem, OpenHIP with a fresh RSA-1024 identity,
//! puzzle K = 10 on both sides, no profile yet, so each side refused the
//! other's I2), and between two endpoints.

mod common;
mod harness;
mod netsim;

use std::path::Path;

use harness::*;
use hip_proto::association::{Instant, State};
use hip_proto::crypto::hi::{HostIdentity, KeySpec};
use hip_proto::crypto::puzzle::{Puzzle, PuzzleInputOrder};
use hip_proto::crypto::rhash::Rhash;
use hip_proto::endpoint::{CompatProfile, Config, LocalIdentity, Transmit};
use hip_proto::registry::{PacketType, Version};
use hip_proto::wire::{HipRepr, Packet, ParamRepr, ParamType, ParseOptions};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn parse(bytes: &[u8]) -> HipRepr {
    HipRepr::parse(
        &Packet::new_checked(bytes).expect("header"),
        ParseOptions::default(),
    )
    .expect("parses")
}

/// (solution verifies under RFC 5201, under OpenHIP's bit test) for an I2.
fn solution_checks(i2: &HipRepr) -> (bool, bool) {
    let Some(ParamRepr::Solution(s)) = i2.param(ParamType::Solution) else {
        panic!("no SOLUTION");
    };
    assert_eq!(s.k, 10);
    let p = Puzzle {
        rhash: Rhash::Sha1,
        k: s.k,
        i: &s.i,
        hit_i: &i2.sender_hit,
        hit_r: &i2.receiver_hit,
        order: PuzzleInputOrder::Rfc,
    };
    let o = Puzzle {
        order: PuzzleInputOrder::OpenHipLittleEndian,
        ..p
    };
    (p.verify(&s.j), o.verify(&s.j))
}

fn hipd_identity() -> LocalIdentity {
    let pem = std::fs::read_to_string(fixture("keys/rsa-A.private.pem")).expect("key");
    LocalIdentity::new(HostIdentity::from_pem(&pem).expect("key"), Version::V1).expect("id")
}

#[test]
fn openhips_puzzle_solution_passes_only_its_own_bit_test() {
    let pkts = common::hip_packets(&fixture("openhip-0.9-with-hipd-puzzle.pcap"));
    let ours = hipd_identity().hit;
    let i2s: Vec<HipRepr> = pkts
        .iter()
        .map(|p| parse(&p.bytes))
        .filter(|r| r.packet_type == PacketType::I2)
        .collect();
    let (from_openhip, from_hipd): (Vec<_>, Vec<_>) =
        i2s.iter().partition(|r| r.receiver_hit == ours);
    assert!(!from_openhip.is_empty() && !from_hipd.is_empty());
    // OpenHIP's I2 solved hipd's K = 10 puzzle its way; a false pass of the
    // RFC test has probability 2^-10.
    for r in &from_openhip {
        assert_eq!(solution_checks(r), (false, true));
    }
    // hipd's RFC solution (what OpenHIP rejected, "Invalid solution").
    for r in &from_hipd {
        assert!(solution_checks(r).0);
    }
}

#[test]
fn with_the_profile_hipd_solves_openhips_r1_the_way_openhip_checks() {
    let pkts = common::hip_packets(&fixture("openhip-0.9-with-hipd-puzzle.pcap"));
    let id = hipd_identity();
    let ours = id.hit;
    let r1 = pkts
        .iter()
        .find(|p| {
            let r = parse(&p.bytes);
            r.packet_type == PacketType::R1 && r.receiver_hit == ours
        })
        .expect("OpenHIP's R1");
    let openhip = parse(&r1.bytes).sender_hit;
    let mut cfg = Config::default();
    cfg.peer_profiles.insert(openhip, CompatProfile::OpenHip);
    let mut h = Host::new(
        cfg,
        keys(KeySpec::EcdsaP256)[0].clone(),
        Version::V2,
        r1.dst,
        3,
    );
    h.ep.add_identity(id);
    let t0 = Instant(1_000_000_000);
    h.ep.connect(t0, ours, openhip, r1.dst, r1.src, None)
        .expect("connect");
    take(&mut h);
    deliver(
        &mut h,
        t0,
        &Transmit {
            src: r1.src,
            dst: r1.dst,
            udp_port: None,
            bytes: r1.bytes.clone(),
        },
    )
    .expect("OpenHIP's R1 (signature, transforms) accepted");
    let out = take(&mut h);
    let i2 = parse(&out[0].bytes);
    assert_eq!(i2.packet_type, PacketType::I2);
    assert!(solution_checks(&i2).1, "OpenHIP would refuse this solution");
    assert_eq!(h.ep.state(ours, openhip), State::I2Sent);
}

#[test]
fn two_endpoints_under_the_profile_complete_with_k_10() {
    let [ka, kb] = keys(KeySpec::Rsa(2048));
    let cfg = |peer| {
        let mut c = Config {
            puzzle_difficulty: 10,
            ..Config::default()
        };
        c.peer_profiles.insert(peer, CompatProfile::OpenHip);
        c
    };
    let hit_of = |k: &HostIdentity| LocalIdentity::new(k.clone(), Version::V1).unwrap().hit;
    let (ha, hb) = (hit_of(&ka), hit_of(&kb));
    let mut hosts = [
        Host::new(cfg(hb), ka, Version::V1, locator(1), 1),
        Host::new(cfg(ha), kb, Version::V1, locator(2), 2),
    ];
    let t0 = Instant(1_000_000_000);
    hosts[0]
        .ep
        .connect(t0, ha, hb, locator(1), locator(2), None)
        .expect("connect");
    let mut net = netsim::Net::new(5, netsim::Link::PERFECT);
    run(
        &mut hosts,
        &mut net,
        t0,
        hip_proto::association::Duration::from_secs(30),
        both_established,
    );
    assert!(both_established(&hosts));
    assert_keys_match(&hosts[0], &hosts[1]);
}

#[test]
fn an_unconfigured_responder_recognises_openhip_by_its_solution() {
    let [ka, kb] = keys(KeySpec::Rsa(2048));
    let hit_of = |k: &HostIdentity| LocalIdentity::new(k.clone(), Version::V1).unwrap().hit;
    let hb = hit_of(&kb);
    // A solves the OpenHIP way (as OpenHIP would); B knows nothing of it.
    let mut ca = Config {
        puzzle_difficulty: 10,
        ..Config::default()
    };
    ca.peer_profiles.insert(hb, CompatProfile::OpenHip);
    let cb = Config {
        puzzle_difficulty: 10,
        ..Config::default()
    };
    let ha = hit_of(&ka);
    let mut hosts = [
        Host::new(ca, ka, Version::V1, locator(1), 7),
        Host::new(cb, kb, Version::V1, locator(2), 8),
    ];
    let t0 = Instant(1_000_000_000);
    hosts[0]
        .ep
        .connect(t0, ha, hb, locator(1), locator(2), None)
        .expect("connect");
    let mut net = netsim::Net::new(9, netsim::Link::PERFECT);
    run(
        &mut hosts,
        &mut net,
        t0,
        hip_proto::association::Duration::from_secs(30),
        both_established,
    );
    assert!(both_established(&hosts));
    let info = hosts[1]
        .ep
        .associations()
        .into_iter()
        .next()
        .expect("assoc");
    assert_eq!(
        (info.profile, info.profile_detected),
        (CompatProfile::OpenHip, true)
    );
}
