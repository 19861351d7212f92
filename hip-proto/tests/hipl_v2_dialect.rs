//! HIPL 1.0.8's HIPv2 mode, the `hipl-v2` profile (rfc-notes/interop.md,
//! "How far HIPL's v2 is from RFC 7401"): RFC 5201 rules with version 2 in
//! every header, DH_GROUP_LIST in I1 and R1 with the Initiator's downgrade
//! check (RFC 7401 sections 5.2.6 and 6.8), HIPL's groups (NIST P-384 first),
//! ORCHIDv1 HITs. Between two endpoints packet by packet, one configured
//! with the profile and one that picks it from the packets; and against the
//! bytes HIPL sent in a recorded HIPv2 exchange (fixtures/hipl-1.0.8-v2-ecdsa,
//! from ../shared/interop/hipl-1.0.8/v2-ecdsa, with both hosts' test keys).

mod common;
mod harness;
mod netsim;

use std::net::IpAddr;
use std::path::Path;

use harness::*;
use hip_proto::association::{Instant, State};
use hip_proto::crypto::hi::{HostIdentity, KeySpec};
use hip_proto::endpoint::{CompatProfile, Config, LocalIdentity, Transmit};
use hip_proto::registry::{DhGroupId, PacketType, Version};
use hip_proto::wire::{HipRepr, Packet, ParamRepr, ParamType, ParseOptions};
use hip_proto::Hit;

fn parse(t: &Transmit) -> HipRepr {
    let opts = ParseOptions {
        hipl_private: true,
        ..Default::default()
    };
    HipRepr::parse(&Packet::new_checked(&t.bytes[..]).expect("header"), opts).expect("parses")
}

fn header_version(bytes: &[u8]) -> Version {
    Packet::new_checked(bytes).expect("header").version()
}

fn group_list(r: &HipRepr) -> Option<Vec<DhGroupId>> {
    match r.param(ParamType::DhGroupList) {
        Some(ParamRepr::DhGroupList(l)) => Some(l.clone()),
        _ => None,
    }
}

fn dh_groups(r: &HipRepr) -> Vec<DhGroupId> {
    match r.param(ParamType::DiffieHellman) {
        Some(ParamRepr::DiffieHellman(d)) => d.values.iter().map(|v| v.group).collect(),
        _ => Vec::new(),
    }
}

/// Hands every packet `from` has queued to `to`; returns them, parsed.
fn pass(from: &mut Host, to: &mut Host, now: Instant) -> Vec<(Version, HipRepr)> {
    let mut seen = Vec::new();
    for t in take(from) {
        seen.push((header_version(&t.bytes), parse(&t)));
        deliver(to, now, &t).unwrap_or_else(|e| panic!("{:?} dropped: {e:?}", parse(&t)));
    }
    seen
}

/// A's configuration names the profile for B; B has none and must pick it
/// from A's packets.
fn pair() -> (Host, Host) {
    let [ka, kb] = keys(KeySpec::EcdsaP256);
    let b = Host::new(Config::default(), kb, Version::V1, locator(2), 2);
    let mut cfg = Config::default();
    cfg.peer_profiles.insert(b.hit, CompatProfile::HiplV2);
    let a = Host::new(cfg, ka, Version::V1, locator(1), 1);
    (a, b)
}

#[test]
fn a_hipl_v2_exchange_is_rfc_5201_under_version_2_headers() {
    let (mut a, mut b) = pair();
    let t0 = Instant(1_000_000_000);
    a.ep.connect(t0, a.hit, b.hit, locator(1), locator(2), None)
        .expect("connect");
    let i1 = pass(&mut a, &mut b, t0);
    assert_eq!(i1.len(), 1);
    let (v, r) = &i1[0];
    assert_eq!((r.packet_type, *v), (PacketType::I1, Version::V2));
    // Our default groups, less those HIPL's I2 check refuses.
    assert_eq!(
        group_list(r),
        Some(vec![
            DhGroupId::NistP384,
            DhGroupId::Modp3072,
            DhGroupId::Modp1536
        ])
    );
    let r1 = pass(&mut b, &mut a, t0);
    let (v, r) = &r1[0];
    assert_eq!((r.packet_type, *v), (PacketType::R1, Version::V2));
    assert!(group_list(r).is_some(), "R1 carries DH_GROUP_LIST");
    assert_eq!(dh_groups(r), vec![DhGroupId::NistP384]);
    // RFC 5201's R1: HIP_TRANSFORM, not HIP_CIPHER, HIT_SUITE_LIST or
    // TRANSPORT_FORMAT_LIST; #I of 8 octets.
    assert!(r.param(ParamType::HipTransform).is_some());
    for p in [
        ParamType::HipCipher,
        ParamType::HitSuiteList,
        ParamType::TransportFormatList,
    ] {
        assert!(r.param(p).is_none(), "{p:?} in a HIPL v2 R1");
    }
    match r.param(ParamType::Puzzle) {
        Some(ParamRepr::Puzzle(p)) => assert_eq!(p.i.len(), 8),
        other => panic!("no PUZZLE: {other:?}"),
    }
    let i2 = pass(&mut a, &mut b, t0);
    let (v, r) = &i2[0];
    assert_eq!((r.packet_type, *v), (PacketType::I2, Version::V2));
    assert_eq!(dh_groups(r), vec![DhGroupId::NistP384]);
    let r2 = pass(&mut b, &mut a, t0);
    let (v, r) = &r2[0];
    assert_eq!((r.packet_type, *v), (PacketType::R2, Version::V2));
    assert_eq!(a.ep.state(a.hit, b.hit), State::Established);
    assert!(take(&mut a).is_empty(), "nothing more after R2");
    assert_keys_match(&a, &b);
    let info = |h: &Host| h.ep.associations().into_iter().next().expect("association");
    let (ia, ib) = (info(&a), info(&b));
    assert_eq!((ia.version, ia.wire_version), (Version::V1, Version::V2));
    assert_eq!(
        (ia.profile, ia.profile_detected),
        (CompatProfile::HiplV2, false)
    );
    assert_eq!((ib.version, ib.wire_version), (Version::V1, Version::V2));
    assert_eq!(
        (ib.profile, ib.profile_detected),
        (CompatProfile::HiplV2, true)
    );

    // A rekey started by the side that detected the profile, then CLOSE from
    // it: every packet keeps version 2, and the other side accepts each.
    let t1 = Instant(2_000_000_000);
    b.ep.data_received(t1, b.hit, a.hit);
    let hb = b.hit;
    let ha = a.hit;
    let mut rng = rand_core_seeded(7);
    b.ep.rekey(t1, hb, ha, &mut |x: &mut [u8]| {
        rand_core::RngCore::fill_bytes(&mut rng, x)
    })
    .expect("rekey");
    let mut versions = Vec::new();
    for _ in 0..4 {
        versions.extend(
            pass(&mut b, &mut a, t1)
                .into_iter()
                .map(|(v, r)| (v, r.packet_type)),
        );
        versions.extend(
            pass(&mut a, &mut b, t1)
                .into_iter()
                .map(|(v, r)| (v, r.packet_type)),
        );
    }
    assert!(versions.len() >= 3, "UPDATE, UPDATE, ACK: {versions:?}");
    assert!(versions
        .iter()
        .all(|&(v, t)| v == Version::V2 && t == PacketType::Update));
    assert!(b
        .events
        .iter()
        .any(|e| matches!(e, hip_proto::endpoint::Event::Rekeyed { .. })));
    assert!(b.ep.close(t1, hb, ha, &mut |x: &mut [u8]| {
        rand_core::RngCore::fill_bytes(&mut rng, x)
    }));
    let close = pass(&mut b, &mut a, t1);
    let ack = pass(&mut a, &mut b, t1);
    assert_eq!(close[0].0, Version::V2);
    assert_eq!(close[0].1.packet_type, PacketType::Close);
    assert_eq!(ack[0].0, Version::V2);
    assert_eq!(ack[0].1.packet_type, PacketType::CloseAck);
    assert!(b.ep.associations().is_empty());
}

#[test]
fn without_the_profile_a_v1_exchange_stays_v1_and_strict_v2_is_untouched() {
    // The same ORCHIDv1 identities with no profile: plain RFC 5201.
    let [ka, kb] = keys(KeySpec::EcdsaP256);
    let mut b = Host::new(Config::default(), kb, Version::V1, locator(2), 2);
    let mut a = Host::new(Config::default(), ka, Version::V1, locator(1), 1);
    let t0 = Instant(1_000_000_000);
    a.ep.connect(t0, a.hit, b.hit, locator(1), locator(2), None)
        .expect("connect");
    let i1 = pass(&mut a, &mut b, t0);
    assert_eq!(i1[0].0, Version::V1);
    assert_eq!(group_list(&i1[0].1), None);
    let r1 = pass(&mut b, &mut a, t0);
    assert_eq!(r1[0].0, Version::V1);
    assert_eq!(group_list(&r1[0].1), None);
    pass(&mut a, &mut b, t0);
    pass(&mut b, &mut a, t0);
    take(&mut a);
    assert_keys_match(&a, &b);
    let ib = b.ep.associations().into_iter().next().expect("association");
    assert_eq!(
        (ib.profile, ib.profile_detected),
        (CompatProfile::Strict, false)
    );
    // An RFC 7401 exchange (ORCHIDv2 HITs) is not taken for HIPL's.
    let [ka, kb] = keys(KeySpec::EcdsaP256);
    let mut b = Host::new(Config::default(), kb, Version::V2, locator(2), 4);
    let mut a = Host::new(Config::default(), ka, Version::V2, locator(1), 3);
    a.ep.connect(t0, a.hit, b.hit, locator(1), locator(2), None)
        .expect("connect");
    for _ in 0..2 {
        pass(&mut a, &mut b, t0);
        pass(&mut b, &mut a, t0);
    }
    take(&mut a);
    assert_keys_match(&a, &b);
    let ib = b.ep.associations().into_iter().next().expect("association");
    assert_eq!(
        (ib.profile, ib.wire_version, ib.version),
        (CompatProfile::Strict, Version::V2, Version::V2)
    );
}

#[test]
fn a_downgraded_group_in_a_hipl_v2_r1_is_refused() {
    // B offers only MODP-1536: its R1 lists [1536] and uses it, which is
    // consistent, so the exchange goes on; but an R1 whose signed list
    // holds P-384 while its DIFFIE_HELLMAN is 1536 is the downgrade RFC 7401
    // section 6.8 refuses. Built by giving B two configured groups and an
    // I1 whose list the "attacker" cut to [1536].
    let (mut a, mut b) = pair();
    let t0 = Instant(1_000_000_000);
    a.ep.connect(t0, a.hit, b.hit, locator(1), locator(2), None)
        .expect("connect");
    let i1 = take(&mut a);
    let mut tampered = parse(&i1[0]);
    for p in tampered.params.iter_mut() {
        if let ParamRepr::DhGroupList(l) = p {
            *l = vec![DhGroupId::Modp1536];
        }
    }
    let bytes =
        hip_proto::endpoint::protect::emit(&tampered, i1[0].src, i1[0].dst, false).expect("emit");
    deliver(
        &mut b,
        t0,
        &Transmit {
            src: i1[0].src,
            dst: i1[0].dst,
            udp_port: None,
            bytes,
        },
    )
    .expect("I1 accepted");
    let r1 = take(&mut b);
    let r = parse(&r1[0]);
    assert_eq!(dh_groups(&r), vec![DhGroupId::Modp1536]);
    assert!(deliver(&mut a, t0, &r1[0]).is_err(), "downgrade accepted");
    assert_eq!(a.ep.counters().negotiation, 1);
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hipl-1.0.8-v2-ecdsa")
        .join(name)
}

fn hipl_identity(host: &str) -> LocalIdentity {
    let pem = std::fs::read_to_string(fixture(&format!("{host}.pem"))).expect("key");
    LocalIdentity::new(HostIdentity::from_pem(&pem).expect("HIPL key"), Version::V1)
        .expect("identity")
}

fn endpoint_with(id: LocalIdentity, seed: u64) -> Host {
    let mut h = Host::new(
        Config::default(),
        keys(KeySpec::EcdsaP256)[0].clone(),
        Version::V2,
        locator(9),
        seed,
    );
    h.hit = id.hit;
    h.ep.add_identity(id);
    h
}

#[test]
fn hipls_own_v2_i1_and_r1_are_answered() {
    let pkts = common::hip_packets(&fixture("capture.pcap"));
    let ty = |n: usize| {
        Packet::new_checked(&pkts[n].bytes[..])
            .unwrap()
            .packet_type()
    };
    assert_eq!((ty(0), ty(1)), (PacketType::I1, PacketType::R1));
    let hipla = hipl_identity("hipla");
    let hiplb = hipl_identity("hiplb");
    let want_a: Hit = "2001:1f:c7b4:f367:dbe9:d5c7:c216:321a".parse().unwrap();
    let want_b: Hit = "2001:1d:48cc:b98a:f8d6:67b1:9189:abfa".parse().unwrap();
    assert_eq!((hipla.hit, hiplb.hit), (want_a, want_b));
    let t0 = Instant(1_000_000_000);
    let incoming = |n: usize| Transmit {
        src: pkts[n].src,
        dst: pkts[n].dst,
        udp_port: None,
        bytes: pkts[n].bytes.clone(),
    };

    // As HIPL's responder, unconfigured: HIPL's I1 (version 2, list [8, 4, 3])
    // gets a version-2 R1 in P-384 with DH_GROUP_LIST.
    let mut r = endpoint_with(hiplb, 11);
    deliver(&mut r, t0, &incoming(0)).expect("HIPL's v2 I1");
    let out = take(&mut r);
    assert_eq!(out.len(), 1);
    let r1 = parse(&out[0]);
    assert_eq!(
        (r1.packet_type, header_version(&out[0].bytes)),
        (PacketType::R1, Version::V2)
    );
    assert_eq!(dh_groups(&r1), vec![DhGroupId::NistP384]);
    assert!(group_list(&r1).is_some());
    assert_eq!(r1.receiver_hit, want_a);

    // As HIPL's initiator with the profile: HIPL's R1 (signature, downgrade
    // check against its signed list) leads to a version-2 I2 in P-384.
    let mut cfg = Config::default();
    cfg.peer_profiles.insert(want_b, CompatProfile::HiplV2);
    let mut i = Host::new(
        cfg,
        keys(KeySpec::EcdsaP256)[1].clone(),
        Version::V2,
        locator(8),
        12,
    );
    i.ep.add_identity(hipla);
    let (src, dst): (IpAddr, IpAddr) = (pkts[0].src, pkts[0].dst);
    i.ep.connect(t0, want_a, want_b, src, dst, None)
        .expect("connect");
    take(&mut i);
    deliver(&mut i, t0, &incoming(1)).expect("HIPL's v2 R1");
    let out = take(&mut i);
    let i2 = parse(&out[0]);
    assert_eq!(
        (i2.packet_type, header_version(&out[0].bytes)),
        (PacketType::I2, Version::V2)
    );
    assert_eq!(dh_groups(&i2), vec![DhGroupId::NistP384]);
    assert_eq!(i.ep.state(want_a, want_b), State::I2Sent);
}
