//! CPU cost of the HIP base exchange (RFC 7401 section 4.1) per algorithm set,
//! initiator and responder measured separately, plus the responder's two DoS
//! rates: I1 answered from a precomputed R1, and I2 verification (puzzle, DH,
//! KEYMAT, HIP_MAC, signature, then R2).
//!
//! `cargo bench -p hip-proto --bench bex`; `bash bench/bex.sh` prints the table.

use std::net::IpAddr;
use std::time::{Duration, Instant as Clock};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hip_proto::association::Instant;
use hip_proto::crypto::hi::{HostIdentity, KeySpec};
use hip_proto::endpoint::{Config, Endpoint, Incoming, LocalIdentity, Transmit};
use hip_proto::registry::{DhGroupId, Version};
use hip_proto::Hit;
use rand_core::RngCore;

fn random(b: &mut [u8]) {
    rand_core::OsRng.fill_bytes(b)
}

struct Side {
    ep: Endpoint,
    hit: Hit,
    loc: IpAddr,
}

fn side(spec: KeySpec, version: Version, group: DhGroupId, n: u8) -> Side {
    // No R1 rate limits: the benchmark answers the same I1 a million times.
    let cfg = Config {
        dh_groups: vec![group],
        r1_per_destination: None,
        r1_global: None,
        ..Config::default()
    };
    let hi = HostIdentity::generate(spec, &mut rand_core::OsRng).expect("key");
    let id = LocalIdentity::new(hi, version).expect("identity");
    let hit = id.hit;
    let mut ep = Endpoint::new(cfg, &mut random).expect("config");
    ep.add_identity(id);
    Side {
        ep,
        hit,
        loc: format!("2001:db8::{n}").parse().unwrap(),
    }
}

fn feed(s: &mut Side, t: &Transmit) -> Vec<Transmit> {
    s.ep.handle(
        Instant(1),
        Incoming {
            src: t.src,
            dst: t.dst,
            udp_port: t.udp_port,
            bytes: &t.bytes,
        },
        &mut random,
    );
    let mut out = Vec::new();
    while let Some(t) = s.ep.poll_transmit() {
        out.push(t);
    }
    while s.ep.poll_event().is_some() {}
    out
}

/// One complete exchange; returns (initiator CPU, responder CPU).
fn exchange(a: &mut Side, b: &mut Side) -> (Duration, Duration) {
    let (mut ti, mut tr) = (Duration::ZERO, Duration::ZERO);
    let t = Clock::now();
    a.ep.connect(Instant(1), a.hit, b.hit, a.loc, b.loc, None)
        .expect("connect");
    let i1 = a.ep.poll_transmit().expect("I1");
    ti += t.elapsed();
    let t = Clock::now();
    let r1 = feed(b, &i1).remove(0);
    tr += t.elapsed();
    let t = Clock::now();
    let i2 = feed(a, &r1).remove(0);
    ti += t.elapsed();
    let t = Clock::now();
    let r2 = feed(b, &i2).remove(0);
    tr += t.elapsed();
    let t = Clock::now();
    feed(a, &r2);
    ti += t.elapsed();
    assert_eq!(a.ep.counters().established, b.ep.counters().established);
    a.ep.reset(None);
    b.ep.reset(None);
    while a.ep.poll_event().is_some() {}
    while b.ep.poll_event().is_some() {}
    (ti, tr)
}

const SETS: [(&str, KeySpec, Version, DhGroupId); 5] = [
    (
        "v2 ECDSA-P256 ECDH-P256",
        KeySpec::EcdsaP256,
        Version::V2,
        DhGroupId::NistP256,
    ),
    (
        "v2 ECDSA-P256 X25519",
        KeySpec::EcdsaP256,
        Version::V2,
        DhGroupId::Curve25519,
    ),
    (
        "v2 ECDSA-P384 ECDH-P384",
        KeySpec::EcdsaP384,
        Version::V2,
        DhGroupId::NistP384,
    ),
    (
        "v2 RSA-2048 MODP-2048",
        KeySpec::Rsa(2048),
        Version::V2,
        DhGroupId::Modp2048,
    ),
    (
        "v1 RSA-2048 MODP-1536",
        KeySpec::Rsa(2048),
        Version::V1,
        DhGroupId::Modp1536,
    ),
];

fn bex(c: &mut Criterion) {
    let mut g = c.benchmark_group("bex");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    for (name, spec, v, group) in SETS {
        let mut a = side(spec, v, group, 1);
        let mut b = side(spec, v, group, 2);
        exchange(&mut a, &mut b); // sign the R1 template outside the measurement
        g.bench_function(format!("{name}/initiator"), |bch| {
            bch.iter_custom(|n| (0..n).map(|_| exchange(&mut a, &mut b).0).sum())
        });
        g.bench_function(format!("{name}/responder"), |bch| {
            bch.iter_custom(|n| (0..n).map(|_| exchange(&mut a, &mut b).1).sum())
        });
    }
    g.finish();
}

fn responder_rates(c: &mut Criterion) {
    let mut g = c.benchmark_group("responder");
    g.throughput(Throughput::Elements(1));
    let mut a = side(KeySpec::EcdsaP256, Version::V2, DhGroupId::NistP256, 1);
    let mut b = side(KeySpec::EcdsaP256, Version::V2, DhGroupId::NistP256, 2);
    a.ep.connect(Instant(1), a.hit, b.hit, a.loc, b.loc, None)
        .expect("connect");
    let i1 = a.ep.poll_transmit().expect("I1");
    let r1 = feed(&mut b, &i1).remove(0);
    let i2 = feed(&mut a, &r1).remove(0);
    g.bench_function("I1 -> precomputed R1", |bch| {
        bch.iter(|| {
            b.ep.handle(
                Instant(1),
                Incoming {
                    src: i1.src,
                    dst: i1.dst,
                    udp_port: None,
                    bytes: &i1.bytes,
                },
                &mut random,
            );
            b.ep.poll_transmit().expect("R1")
        })
    });
    g.bench_function("I2 verification + R2", |bch| {
        bch.iter(|| {
            b.ep.reset(None);
            while b.ep.poll_event().is_some() {}
            b.ep.handle(
                Instant(1),
                Incoming {
                    src: i2.src,
                    dst: i2.dst,
                    udp_port: None,
                    bytes: &i2.bytes,
                },
                &mut random,
            );
            b.ep.poll_transmit().expect("R2")
        })
    });
    g.finish();
}

criterion_group!(benches, bex, responder_rates);
criterion_main!(benches);
