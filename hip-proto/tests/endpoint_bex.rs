//! Real base exchanges between two [`Endpoint`]s over the deterministic network
//! (RFC 7401 sections 4.1, 6.6-6.10; RFC 5201 for v1): every combination of
//! version x HI algorithm x DH group x HIP cipher x ESP suite completes with
//! identical ESP keys and SPIs on both sides, also under 30 % loss.

mod harness;
mod netsim;

use harness::*;
use hip_proto::association::{Duration, Instant, State};
use hip_proto::crypto::hi::KeySpec;
use hip_proto::endpoint::{Config, Event};
use hip_proto::registry::{DhGroupId, EspTransformId, HipCipherId, HipTransformId, Version};
use netsim::{Link, Net};

fn cfg_with(
    versions: &[Version],
    dh: DhGroupId,
    cipher: HipCipherId,
    transform: HipTransformId,
    esp: EspTransformId,
) -> Config {
    Config {
        versions: versions.to_vec(),
        dh_groups: vec![dh],
        hip_ciphers: vec![cipher],
        hip_transforms: vec![transform],
        esp_transforms: vec![esp],
        ..Config::default()
    }
}

/// One exchange; returns the two hosts after it.
fn exchange(version: Version, spec: KeySpec, cfg: Config, link: Link, seed: u64) -> [Host; 2] {
    let [ka, kb] = keys(spec);
    let mut hosts = [
        Host::new(cfg.clone(), ka, version, locator(1), seed * 2 + 1),
        Host::new(cfg, kb, version, locator(2), seed * 2 + 2),
    ];
    let t0 = Instant(1_000_000_000);
    let (a, b) = (hosts[0].hit, hosts[1].hit);
    hosts[0]
        .ep
        .connect(t0, a, b, locator(1), locator(2), None)
        .expect("connect");
    let mut net = Net::new(seed, link);
    run(
        &mut hosts,
        &mut net,
        t0,
        Duration::from_secs(300),
        both_established,
    );
    hosts
}

const V2_SUITES: [EspTransformId; 10] = [
    EspTransformId::Aes128CbcHmacSha1,
    EspTransformId::NullHmacSha256,
    EspTransformId::Aes128CbcHmacSha256,
    EspTransformId::Aes256CbcHmacSha256,
    EspTransformId::AesCcm8,
    EspTransformId::AesCcm16,
    EspTransformId::AesGcm8,
    EspTransformId::AesGcm16,
    EspTransformId::AesCmac96,
    EspTransformId::AesGmac,
];

#[test]
fn v2_every_hi_dh_cipher_and_esp_suite() {
    // Ed25519 (HIT suite 5, RFC 9374) is refused by LocalIdentity::new: its
    // RHASH (cSHAKE128 / KMAC128) is not implemented; see identity_refusals.
    let his = [KeySpec::EcdsaP256, KeySpec::EcdsaP384, KeySpec::Rsa(2048)];
    let groups = [
        DhGroupId::NistP256,
        DhGroupId::NistP384,
        DhGroupId::Curve25519,
        DhGroupId::Modp1536,
        DhGroupId::Modp2048,
        DhGroupId::Modp3072,
    ];
    let ciphers = [
        HipCipherId::NullEncrypt,
        HipCipherId::Aes128Cbc,
        HipCipherId::Aes256Cbc,
    ];
    let mut n = 0u64;
    // HI x DH x cipher in full; the ESP suite only changes which KEYMAT octets
    // are drawn, so it cycles through all ten suites across the combinations
    // and is crossed in full with one HI/DH pair below.
    for hi in his {
        for dh in groups {
            for c in ciphers {
                let esp = V2_SUITES[(n as usize) % V2_SUITES.len()];
                let cfg = cfg_with(&[Version::V2], dh, c, HipTransformId::AesCbcHmacSha1, esp);
                let h = exchange(Version::V2, hi, cfg, Link::PERFECT, n);
                assert!(
                    both_established(&h),
                    "{hi:?} {dh:?} {c:?} {esp:?}: {:?} {:?} {:?}",
                    h[0].events,
                    h[0].ep.counters(),
                    h[1].ep.counters()
                );
                assert_keys_match(&h[0], &h[1]);
                n += 1;
            }
        }
    }
    for esp in V2_SUITES {
        for c in ciphers {
            let cfg = cfg_with(
                &[Version::V2],
                DhGroupId::NistP256,
                c,
                HipTransformId::AesCbcHmacSha1,
                esp,
            );
            let h = exchange(Version::V2, KeySpec::EcdsaP256, cfg, Link::PERFECT, n);
            assert!(both_established(&h), "{esp:?} {c:?}");
            assert_keys_match(&h[0], &h[1]);
            let Some(Event::Established { esp: e, .. }) = h[0].established() else {
                unreachable!()
            };
            assert_eq!(e.suite, esp);
            n += 1;
        }
    }
}

#[test]
fn v1_every_hi_group_transform_and_esp_suite() {
    // HIPv1 (RFC 5201): MODP groups 3 and 4, HIP_TRANSFORM 1 and 5, SHA-1
    // signatures; Ed25519 and P-384 have no RFC 5201 signature encoding.
    let mut n = 100;
    for hi in [KeySpec::EcdsaP256, KeySpec::Rsa(2048)] {
        for dh in [DhGroupId::Modp1536, DhGroupId::Modp3072] {
            for t in [HipTransformId::AesCbcHmacSha1, HipTransformId::NullHmacSha1] {
                for esp in [
                    EspTransformId::Aes128CbcHmacSha1,
                    EspTransformId::Aes128CbcHmacSha256,
                    EspTransformId::AesGcm16,
                ] {
                    let cfg = cfg_with(&[Version::V1], dh, HipCipherId::Aes128Cbc, t, esp);
                    let h = exchange(Version::V1, hi, cfg, Link::PERFECT, n);
                    assert!(
                        both_established(&h),
                        "{hi:?} {dh:?} {t:?} {esp:?}: {:?}",
                        h[0].events
                    );
                    assert_keys_match(&h[0], &h[1]);
                    assert!(h[0].hit.to_string().starts_with("2001:1"), "ORCHIDv1 HIT");
                    n += 1;
                }
            }
        }
    }
}

#[test]
fn thirty_percent_loss_duplication_and_reordering_still_completes() {
    let mut cfg = Config::default();
    cfg.i1_retransmit.max_retries = 12;
    cfg.i2_retransmit.max_retries = 12;
    let link = Link {
        loss: 0.3,
        duplicate: 0.1,
        reorder: 0.2,
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(30),
    };
    let mut lost = 0;
    for seed in 0..40 {
        let [ka, kb] = keys(KeySpec::EcdsaP256);
        let mut hosts = [
            Host::new(cfg.clone(), ka, Version::V2, locator(1), seed * 2 + 1),
            Host::new(cfg.clone(), kb, Version::V2, locator(2), seed * 2 + 2),
        ];
        let t0 = Instant(1_000_000_000);
        let (a, b) = (hosts[0].hit, hosts[1].hit);
        hosts[0]
            .ep
            .connect(t0, a, b, locator(1), locator(2), None)
            .unwrap();
        let mut net = Net::new(seed, link);
        run(
            &mut hosts,
            &mut net,
            t0,
            Duration::from_secs(600),
            both_established,
        );
        assert!(
            both_established(&hosts),
            "seed {seed}: {:?}",
            hosts[0].events
        );
        assert_keys_match(&hosts[0], &hosts[1]);
        lost += net.lost;
    }
    assert!(lost > 20, "the loss was real: {lost}");
}

#[test]
fn simultaneous_opening_converges_to_one_association() {
    for seed in 0..20 {
        let cfg = Config::default();
        let [ka, kb] = keys(KeySpec::EcdsaP256);
        let mut hosts = [
            Host::new(cfg.clone(), ka, Version::V2, locator(1), seed * 2 + 1),
            Host::new(cfg, kb, Version::V2, locator(2), seed * 2 + 2),
        ];
        let t0 = Instant(1_000_000_000);
        let (a, b) = (hosts[0].hit, hosts[1].hit);
        hosts[0]
            .ep
            .connect(t0, a, b, locator(1), locator(2), None)
            .unwrap();
        hosts[1]
            .ep
            .connect(t0, b, a, locator(2), locator(1), None)
            .unwrap();
        let link = Link {
            loss: 0.1,
            duplicate: 0.1,
            reorder: 0.2,
            delay: Duration::from_millis(10),
            jitter: Duration::from_millis(10),
        };
        let mut net = Net::new(seed, link);
        run(
            &mut hosts,
            &mut net,
            t0,
            Duration::from_secs(600),
            both_established,
        );
        assert!(both_established(&hosts), "seed {seed}");
        // Both sides use the keys of the same (last) exchange.
        let ea = hosts[0].established().unwrap();
        let eb = hosts[1].established().unwrap();
        let (Event::Established { esp: x, .. }, Event::Established { esp: y, .. }) = (ea, eb)
        else {
            unreachable!()
        };
        assert_eq!(x.spi_out, y.spi_in, "seed {seed}");
        assert_eq!(x.keys_out, y.keys_in, "seed {seed}");
    }
}

#[test]
fn close_tears_down_both_sides() {
    let cfg = Config::default();
    let mut h = exchange(Version::V2, KeySpec::EcdsaP256, cfg, Link::PERFECT, 7);
    let (a, b) = (h[0].hit, h[1].hit);
    let t = Instant(2_000_000_000);
    let mut r = netsim::Rng::new(9);
    assert!(h[0].ep.close(t, a, b, &mut |x: &mut [u8]| r.fill(x)));
    let mut net = Net::new(1, Link::PERFECT);
    run(&mut h, &mut net, t, Duration::from_secs(10), |h| {
        h[0].ep.state(h[0].hit, h[1].hit) == State::Unassociated
    });
    assert_eq!(h[0].ep.state(a, b), State::Unassociated);
    assert_eq!(h[1].ep.state(b, a), State::Closed);
    assert!(h[0]
        .events
        .iter()
        .any(|e| matches!(e, Event::Closed { .. })));
    assert!(h[1]
        .events
        .iter()
        .any(|e| matches!(e, Event::Closed { .. })));
}

#[test]
fn rekey_by_update_gives_new_matching_sas() {
    let cfg = Config::default();
    let mut h = exchange(Version::V2, KeySpec::EcdsaP256, cfg, Link::PERFECT, 11);
    let (a, b) = (h[0].hit, h[1].hit);
    let t = Instant(3_000_000_000);
    let mut r = netsim::Rng::new(3);
    h[0].ep
        .rekey(t, a, b, &mut |x: &mut [u8]| r.fill(x))
        .unwrap();
    let mut net = Net::new(2, Link::PERFECT);
    run(&mut h, &mut net, t, Duration::from_secs(10), |h| {
        h.iter()
            .all(|x| x.events.iter().any(|e| matches!(e, Event::Rekeyed { .. })))
    });
    let rk = |x: &Host| {
        x.events
            .iter()
            .find_map(|e| match e {
                Event::Rekeyed { esp, .. } => Some(esp.clone()),
                _ => None,
            })
            .expect("rekeyed")
    };
    let (ra, rb) = (rk(&h[0]), rk(&h[1]));
    let Some(Event::Established { esp: old, .. }) = h[0].established() else {
        unreachable!()
    };
    assert_ne!(ra.spi_in, old.spi_in);
    assert_ne!(ra.keys_out, old.keys_out, "new keys from further KEYMAT");
    assert_eq!(ra.spi_out, rb.spi_in);
    assert_eq!(ra.spi_in, rb.spi_out);
    assert_eq!(ra.keys_out, rb.keys_in);
    assert_eq!(ra.keys_in, rb.keys_out);
}

#[test]
fn identity_refusals() {
    use hip_proto::endpoint::identity::IdentityError;
    use hip_proto::endpoint::LocalIdentity;
    let [ed, _] = keys(KeySpec::Ed25519);
    assert_eq!(
        LocalIdentity::new(ed.clone(), Version::V2).err(),
        Some(IdentityError::NoRhash)
    );
    assert_eq!(
        LocalIdentity::new(ed, Version::V1).err(),
        Some(IdentityError::NoV1Signature)
    );
    let [p384, _] = keys(KeySpec::EcdsaP384);
    assert_eq!(
        LocalIdentity::new(p384, Version::V1).err(),
        Some(IdentityError::NoV1Signature)
    );
}

#[test]
fn compatibility_profiles_applied_on_both_sides_still_agree() {
    // Two of our endpoints that each treat the other with the same profile
    // (cutehip: puzzle input order, BEX MAC key order, HIP_SIGNATURE_2 in R2,
    // Kij without leading zeros; HIPL 1.0.8: its private parameters accepted)
    // complete the exchange: the profile switches both directions consistently.
    use hip_proto::endpoint::CompatProfile;
    for profile in [CompatProfile::Cutehip, CompatProfile::Hipl108] {
        let [ka, kb] = keys(KeySpec::EcdsaP256);
        let cfg = Config {
            dh_groups: vec![DhGroupId::Modp2048],
            ..Config::default()
        };
        let mut hosts = [
            Host::new(cfg.clone(), ka, Version::V2, locator(1), 31),
            Host::new(cfg, kb, Version::V2, locator(2), 32),
        ];
        let (a, b) = (hosts[0].hit, hosts[1].hit);
        hosts[0].ep.set_peer_profile(b, profile);
        hosts[1].ep.set_peer_profile(a, profile);
        let t0 = Instant(1_000_000_000);
        hosts[0]
            .ep
            .connect(t0, a, b, locator(1), locator(2), None)
            .unwrap();
        let mut net = Net::new(5, Link::PERFECT);
        run(
            &mut hosts,
            &mut net,
            t0,
            Duration::from_secs(60),
            both_established,
        );
        assert!(
            both_established(&hosts),
            "{profile:?}: {:?}",
            hosts[0].events
        );
        assert_keys_match(&hosts[0], &hosts[1]);
    }
}

#[test]
fn periodic_rekeying_by_time_keeps_both_sides_in_step() {
    let cfg = Config {
        rekey_interval: Some(Duration::from_secs(60)),
        ..Config::default()
    };
    let mut h = exchange(Version::V2, KeySpec::EcdsaP256, cfg, Link::PERFECT, 21);
    let t = Instant(2_000_000_000);
    let mut net = Net::new(3, Link::PERFECT);
    // 200 s of simulated time: the responder (whose timer fires first or not)
    // and the initiator rekey about every 60 s; both must agree every time.
    run(&mut h, &mut net, t, Duration::from_secs(200), |_| false);
    let rekeys = |x: &Host| -> Vec<hip_proto::endpoint::EspParams> {
        x.events
            .iter()
            .filter_map(|e| match e {
                Event::Rekeyed { esp, .. } => Some(esp.clone()),
                _ => None,
            })
            .collect()
    };
    let (ra, rb) = (rekeys(&h[0]), rekeys(&h[1]));
    assert!(ra.len() >= 3, "{} rekeys", ra.len());
    assert_eq!(ra.len(), rb.len());
    let (la, lb) = (ra.last().unwrap(), rb.last().unwrap());
    assert_eq!(la.spi_out, lb.spi_in);
    assert_eq!(la.keys_out, lb.keys_in);
    assert_eq!(la.keys_in, lb.keys_out);
}

/// Completion times (initiator and responder ESTABLISHED) of `n` seeded
/// exchanges over `link`, in virtual time, sorted.
fn completion_times(cfg: &Config, link: Link, n: u64) -> Vec<Duration> {
    let mut times = Vec::new();
    for seed in 0..n {
        let [ka, kb] = keys(KeySpec::EcdsaP256);
        let mut hosts = [
            Host::new(cfg.clone(), ka, Version::V2, locator(1), seed * 2 + 1),
            Host::new(cfg.clone(), kb, Version::V2, locator(2), seed * 2 + 2),
        ];
        let t0 = Instant(1_000_000_000);
        let (a, b) = (hosts[0].hit, hosts[1].hit);
        hosts[0]
            .ep
            .connect(t0, a, b, locator(1), locator(2), None)
            .unwrap();
        let mut net = Net::new(1000 + seed, link);
        // Done when the initiator has R2: from then on it sends ESP, which
        // also moves the responder to ESTABLISHED (`run` feeds it at once).
        let initiator_up = |h: &[Host]| h[0].ep.state(h[0].hit, h[1].hit) == State::Established;
        let end = run(
            &mut hosts,
            &mut net,
            t0,
            Duration::from_secs(600),
            initiator_up,
        );
        run(
            &mut hosts,
            &mut net,
            end,
            Duration::from_secs(600),
            both_established,
        );
        if !both_established(&hosts) {
            times.push(Duration::MAX);
            continue;
        }
        assert_keys_match(&hosts[0], &hosts[1]);
        times.push(end - t0);
    }
    times.sort();
    times
}

/// RFC 7401 section 4.4.3: I1 and I2 are retransmitted on a timer until
/// I1_RETRIES_MAX / I2_RETRIES_MAX. Under 30 % loss, 5 % duplication and 25 %
/// reordering (20 ms path), 200 seeded exchanges in virtual time: all
/// complete, median under 2 s, 90 % under 10 s, all under 25 s. With the old
/// defaults (1 s doubling to 16 s, 6 retries, no RTT sample) 4 of them failed
/// and the median was 2.1 s.
#[test]
fn base_exchange_under_loss_completes_in_bounded_time() {
    let link = Link {
        loss: 0.3,
        duplicate: 0.05,
        reorder: 0.25,
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(10),
    };
    let times = completion_times(&Config::default(), link, 200);
    let failed = times.iter().filter(|d| **d == Duration::MAX).count();
    assert_eq!(failed, 0, "exchanges that never completed");
    let median = times[times.len() / 2];
    let p90 = times[times.len() * 9 / 10];
    let worst = *times.last().unwrap();
    assert!(median < Duration::from_secs(2), "median {median:?}");
    assert!(p90 < Duration::from_secs(10), "p90 {p90:?}");
    assert!(worst < Duration::from_secs(25), "worst {worst:?}");
}

/// A simultaneous opening on a clean link converges without waiting for a
/// retransmission timer, whatever the offset between the two connects (RFC
/// 7401 section 4.4.2: in I1-SENT the host with the larger HIT answers the
/// I1 with an R1 and the other drops it; in I2-SENT the same rule picks one
/// Responder). The mesh test (issue 16) saw both ends end up as Responder.
#[test]
fn simultaneous_opening_on_a_clean_link_needs_no_retransmission() {
    let [ka, kb] = keys(KeySpec::EcdsaP256);
    for offset_ms in 0..30u64 {
        for (first, second) in [(0usize, 1usize), (1, 0)] {
            let cfg = Config::default();
            let mut hosts = [
                Host::new(
                    cfg.clone(),
                    ka.clone(),
                    Version::V2,
                    locator(1),
                    offset_ms * 2 + 1,
                ),
                Host::new(cfg, kb.clone(), Version::V2, locator(2), offset_ms * 2 + 2),
            ];
            let t0 = Instant(1_000_000_000);
            let t1 = t0 + Duration::from_millis(offset_ms);
            let (a, b) = (hosts[first].hit, hosts[second].hit);
            let (la, lb) = (hosts[first].loc, hosts[second].loc);
            hosts[first].ep.connect(t0, a, b, la, lb, None).unwrap();
            let link = Link {
                delay: Duration::from_millis(10),
                ..Link::PERFECT
            };
            let mut net = Net::new(offset_ms, link);
            for n in 0..2 {
                flush(t0, &mut hosts, n, &mut net);
            }
            // The second host starts its own exchange `offset_ms` later,
            // before or after the first's I1 reached it.
            let now = run(
                &mut hosts,
                &mut net,
                t0,
                Duration::from_millis(offset_ms),
                |_| false,
            );
            let now = now.max(t1);
            hosts[second].ep.connect(now, b, a, lb, la, None).unwrap();
            flush(now, &mut hosts, second, &mut net);
            let end = run(
                &mut hosts,
                &mut net,
                now,
                Duration::from_secs(10),
                both_established,
            );
            assert!(
                both_established(&hosts),
                "offset {offset_ms} ms, first {first}: {:?}\n{:?}\n{:?}",
                hosts
                    .iter()
                    .map(|h| h.ep.state(h.hit, if h.hit == a { b } else { a }))
                    .collect::<Vec<_>>(),
                hosts[0].ep.counters(),
                hosts[1].ep.counters()
            );
            let took = end.0 - t0.0;
            assert!(
                took < 400_000_000,
                "offset {offset_ms} ms, first {first}: {} ms to converge\n{:?}\n{:?}",
                took / 1_000_000,
                hosts[0].ep.counters(),
                hosts[1].ep.counters()
            );
            assert_keys_match(&hosts[0], &hosts[1]);
        }
    }
}
