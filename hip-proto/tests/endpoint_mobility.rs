//! Mobility with UPDATE (RFC 8046 section 3.2.1): the three-packet exchange
//! with address verification, a forged LOCATOR_SET, an address that does not
//! answer (no switch, bounded packets to it) and replayed UPDATEs.

mod harness;
mod netsim;

use harness::*;
use hip_proto::association::{Duration, Instant, State};
use hip_proto::crypto::hi::KeySpec;
use hip_proto::endpoint::{CompatProfile, Config, DropReason, Event, Incoming, Transmit};
use hip_proto::registry::Version;
use hip_proto::wire::{checksum, HipRepr, Packet, ParamType};
use netsim::{Link, Net};

fn established() -> [Host; 2] {
    established_over(None)
}

/// Two hosts with an established association, over UDP to `udp_port` if given.
fn established_over(udp_port: Option<u16>) -> [Host; 2] {
    established_with(udp_port, Version::V2, None)
}

/// Two hosts with an established association of `version`, each with
/// `profile` for the other when given.
fn established_with(
    udp_port: Option<u16>,
    version: Version,
    profile: Option<CompatProfile>,
) -> [Host; 2] {
    let [ka, kb] = keys(KeySpec::EcdsaP256);
    let mut h = [
        Host::new(Config::default(), ka, version, locator(1), 41),
        Host::new(Config::default(), kb, version, locator(2), 42),
    ];
    if let Some(p) = profile {
        let (a, b) = (h[0].hit, h[1].hit);
        h[0].ep.set_peer_profile(b, p);
        h[1].ep.set_peer_profile(a, p);
    }
    let t0 = Instant(1_000_000_000);
    let (a, b) = (h[0].hit, h[1].hit);
    h[0].ep
        .connect(t0, a, b, locator(1), locator(2), udp_port)
        .unwrap();
    let mut net = Net::new(1, Link::PERFECT);
    run(
        &mut h,
        &mut net,
        t0,
        Duration::from_secs(30),
        both_established,
    );
    assert!(both_established(&h));
    h
}

fn deliver(h: &mut Host, now: Instant, t: &Transmit) {
    let mut rng = std::mem::replace(&mut h.rng, netsim::Rng::new(0));
    h.ep.handle(
        now,
        Incoming {
            src: t.src,
            dst: t.dst,
            udp_port: t.udp_port,
            bytes: &t.bytes,
        },
        &mut |b: &mut [u8]| rng.fill(b),
    );
    h.rng = rng;
}

fn take(h: &mut Host) -> Vec<Transmit> {
    let mut v = Vec::new();
    while let Some(t) = h.ep.poll_transmit() {
        v.push(t);
    }
    while let Some(e) = h.ep.poll_event() {
        h.events.push(e);
    }
    v
}

/// Host `h` announces `locs` (the first preferred): exactly one UPDATE.
fn announce(h: &mut Host, t: Instant, locs: &[std::net::IpAddr], seed: u64) -> Transmit {
    let mut r = netsim::Rng::new(seed);
    assert_eq!(
        h.ep.update_locators(t, locs, &mut |x: &mut [u8]| r.fill(x)),
        1
    );
    take(h).remove(0)
}

/// Step 3: host 0 answers the verification `u2` with ACK + ECHO_RESPONSE_SIGNED
/// and host 1 takes it.
fn echo_back(h: &mut [Host; 2], t: Instant, u2: &Transmit) {
    deliver(&mut h[0], t, u2);
    let u3 = take(&mut h[0]).remove(0);
    assert!(HipRepr::parse_bytes(&u3.bytes)
        .unwrap()
        .param(ParamType::EchoResponseSigned)
        .is_some());
    deliver(&mut h[1], t, &u3);
    take(&mut h[1]);
}

fn peer_locator(h: &Host, peer: hip_proto::Hit) -> std::net::IpAddr {
    h.ep.associations()
        .into_iter()
        .find(|a| a.peer_hit == peer)
        .unwrap()
        .peer_locator
}

#[test]
fn locator_change_is_announced_verified_and_adopted() {
    let mut h = established();
    let (a, b) = (h[0].hit, h[1].hit);
    let t = Instant(5_000_000_000);
    let new = locator(11);
    let mut r = netsim::Rng::new(3);
    assert_eq!(
        h[0].ep
            .update_locators(t, &[new], &mut |x: &mut [u8]| r.fill(x)),
        1
    );
    // 1: UPDATE with LOCATOR_SET, ESP_INFO, SEQ, from the new address.
    let u1 = take(&mut h[0]).remove(0);
    assert_eq!(u1.src, new);
    let r1 = HipRepr::parse_bytes(&u1.bytes).unwrap();
    assert!(r1.param(ParamType::LocatorSet).is_some() && r1.param(ParamType::Seq).is_some());
    deliver(&mut h[1], t, &u1);
    // 2: to the new address, ECHO_REQUEST_SIGNED + SEQ + ACK; B has not switched yet.
    let u2 = take(&mut h[1]).remove(0);
    assert_eq!(u2.dst, new, "verification goes to the announced address");
    let r2 = HipRepr::parse_bytes(&u2.bytes).unwrap();
    assert!(r2.param(ParamType::EchoRequestSigned).is_some());
    assert!(r2.param(ParamType::Ack).is_some());
    assert_eq!(
        peer_locator(&h[1], a),
        locator(1),
        "not before verification"
    );
    // 3: ACK + ECHO_RESPONSE_SIGNED; now B uses the new locator.
    echo_back(&mut h, t, &u2);
    assert_eq!(peer_locator(&h[1], a), new);
    assert!(h[1]
        .events
        .iter()
        .any(|e| matches!(e, Event::LocatorChanged { locator, .. } if *locator == new)));
    assert_eq!(h[1].ep.counters().locator_changes, 1);
    assert_eq!(h[0].ep.state(a, b), State::Established);
    // Replaying the first UPDATE: the stored reply again, no second verification.
    deliver(&mut h[1], t, &u1);
    let again = take(&mut h[1]);
    assert_eq!(again.len(), 1);
    assert_eq!(h[1].ep.counters().update_resent, 1);
    assert_eq!(h[1].ep.counters().locator_changes, 1);
}

#[test]
fn forged_locator_set_is_dropped() {
    let mut h = established();
    let a = h[0].hit;
    let t = Instant(5_000_000_000);
    let mut r = netsim::Rng::new(4);
    h[0].ep
        .update_locators(t, &[locator(11)], &mut |x: &mut [u8]| r.fill(x));
    let mut u1 = take(&mut h[0]).remove(0);
    // An attacker rewrites the announced address (last octet of the locator).
    let at = Packet::new_checked(&u1.bytes[..])
        .unwrap()
        .params()
        .map(Result::unwrap)
        .find(|p| p.param_type() == ParamType::LocatorSet)
        .unwrap()
        .offset()
        + 4
        + 8
        + 4
        + 15;
    u1.bytes[at] ^= 0x42;
    checksum::fill(&mut u1.bytes, u1.src, u1.dst);
    deliver(&mut h[1], t, &u1);
    assert_eq!(h[1].ep.counters().dropped(DropReason::BadMac), 1);
    assert!(
        take(&mut h[1]).is_empty(),
        "nothing is sent to a forged address"
    );
    assert_eq!(peer_locator(&h[1], a), locator(1));
}

#[test]
fn an_address_that_does_not_answer_is_never_adopted_and_gets_few_packets() {
    let mut h = established();
    let a = h[0].hit;
    let mut t = Instant(5_000_000_000);
    let u1 = announce(&mut h[0], t, &[locator(11)], 5);
    deliver(&mut h[1], t, &u1);
    // Nothing sent to the new address ever arrives: count what B sends there.
    let mut to_new = take(&mut h[1])
        .iter()
        .filter(|x| x.dst == locator(11))
        .count();
    for _ in 0..100 {
        let Some(next) = h[1].ep.poll_timeout() else {
            break;
        };
        t = next.max(t);
        let mut rng = std::mem::replace(&mut h[1].rng, netsim::Rng::new(0));
        h[1].ep.handle_timeout(t, &mut |b: &mut [u8]| rng.fill(b));
        h[1].rng = rng;
        to_new += take(&mut h[1])
            .iter()
            .filter(|x| x.dst == locator(11))
            .count();
        if t > Instant(5_000_000_000) + Duration::from_secs(300) {
            break;
        }
    }
    let limit = 1 + Config::default().update_retransmit.max_retries as usize;
    assert!(
        to_new <= limit,
        "{to_new} packets to an unverified address (limit {limit})"
    );
    assert_ne!(peer_locator(&h[1], a), locator(11));
    assert_eq!(h[1].ep.counters().locator_changes, 0);
}

#[test]
fn multihomed_peer_fails_over_to_an_announced_locator_and_both_sides_move() {
    let mut h = established();
    let (a, b) = (h[0].hit, h[1].hit);
    let t = Instant(5_000_000_000);
    // A announces a second locator; its current one stays preferred.
    let u1 = announce(&mut h[0], t, &[locator(1), locator(21)], 6);
    let r1 = HipRepr::parse_bytes(&u1.bytes).unwrap();
    let Some(hip_proto::wire::ParamRepr::LocatorSet(ls)) = r1.param(ParamType::LocatorSet) else {
        panic!("no LOCATOR_SET")
    };
    assert_eq!(ls.len(), 2);
    assert!(ls[0].preferred() && !ls[1].preferred());
    deliver(&mut h[1], t, &u1);
    let ack = take(&mut h[1]);
    assert_eq!(ack.len(), 1, "a plain ACK: nothing to verify");
    assert_eq!(peer_locator(&h[1], a), locator(1));
    deliver(&mut h[0], t, &ack[0]);
    take(&mut h[0]);
    // The first path dies; B probes A's other locator from its own second address.
    let mut r = netsim::Rng::new(7);
    assert!(h[1]
        .ep
        .failover(t, a, &|_| Some(locator(22)), &mut |x: &mut [u8]| r.fill(x)));
    let probe = take(&mut h[1]).remove(0);
    assert_eq!((probe.src, probe.dst), (locator(22), locator(21)));
    deliver(&mut h[0], t, &probe);
    let reply = take(&mut h[0]).remove(0);
    assert_eq!(reply.dst, locator(22), "A verifies B's new locator");
    assert_eq!(reply.src, locator(21), "from where B reached it");
    deliver(&mut h[1], t, &reply);
    assert_eq!(
        peer_locator(&h[1], a),
        locator(21),
        "B moved after A's echo"
    );
    let last = take(&mut h[1]).remove(0);
    deliver(&mut h[0], t, &last);
    take(&mut h[0]);
    assert_eq!(
        peer_locator(&h[0], b),
        locator(22),
        "A moved after B's echo"
    );
    assert_eq!(h[1].ep.counters().failovers, 1);
    // The first path works again: B returns home, A follows after verifying.
    let mut r = netsim::Rng::new(9);
    let home = |x: std::net::IpAddr| (x == locator(1)).then(|| locator(2));
    assert_eq!(
        h[1].ep.return_home(t, &home, &mut |x: &mut [u8]| r.fill(x)),
        1
    );
    let probe = take(&mut h[1]).remove(0);
    assert_eq!((probe.src, probe.dst), (locator(2), locator(1)));
    deliver(&mut h[0], t, &probe);
    let reply = take(&mut h[0]).remove(0);
    deliver(&mut h[1], t, &reply);
    let last = take(&mut h[1]).remove(0);
    deliver(&mut h[0], t, &last);
    take(&mut h[0]);
    assert_eq!(peer_locator(&h[1], a), locator(1), "B back home");
    assert_eq!(peer_locator(&h[0], b), locator(2), "A back home");
    let mut r = netsim::Rng::new(10);
    assert_eq!(
        h[1].ep.return_home(t, &home, &mut |x: &mut [u8]| r.fill(x)),
        0,
        "home: nothing more to probe"
    );
    // Without another candidate there is nothing to probe... except the old path.
    let mut r = netsim::Rng::new(8);
    assert!(h[1]
        .ep
        .failover(t, a, &|_| None, &mut |x: &mut [u8]| r.fill(x))
        .eq(&false));
}

#[test]
fn mobile_initiated_rekey_moves_and_rekeys_in_one_exchange() {
    // RFC 8046 section 3.2.2: LOCATOR_SET and a new SPI in the same UPDATE.
    let cfg = Config {
        rekey_on_locator_change: true,
        ..Config::default()
    };
    let [ka, kb] = keys(KeySpec::EcdsaP256);
    let mut h = [
        Host::new(cfg.clone(), ka, Version::V2, locator(1), 51),
        Host::new(cfg, kb, Version::V2, locator(2), 52),
    ];
    let t0 = Instant(1_000_000_000);
    let (a, b) = (h[0].hit, h[1].hit);
    h[0].ep
        .connect(t0, a, b, locator(1), locator(2), None)
        .unwrap();
    let mut net = Net::new(1, Link::PERFECT);
    run(
        &mut h,
        &mut net,
        t0,
        Duration::from_secs(30),
        both_established,
    );
    let old_spi = h[0].ep.associations()[0].spi_in;
    let t = Instant(5_000_000_000);
    let u1 = announce(&mut h[0], t, &[locator(11)], 12);
    let r1 = HipRepr::parse_bytes(&u1.bytes).unwrap();
    let Some(hip_proto::wire::ParamRepr::EspInfo(info)) = r1.param(ParamType::EspInfo) else {
        panic!("no ESP_INFO")
    };
    assert_ne!(info.old_spi, info.new_spi, "a new SPI with the move");
    deliver(&mut h[1], t, &u1);
    let u2 = take(&mut h[1]).remove(0);
    assert_eq!(u2.dst, locator(11));
    deliver(&mut h[0], t, &u2);
    let u3 = take(&mut h[0]).remove(0);
    deliver(&mut h[1], t, &u3);
    take(&mut h[1]);
    assert_eq!(peer_locator(&h[1], a), locator(11), "moved");
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
    assert_ne!(ra.spi_in, old_spi);
    assert_eq!(ra.spi_out, rb.spi_in);
    assert_eq!(ra.keys_out, rb.keys_in);
    assert_eq!(ra.keys_in, rb.keys_out);
    // Both sides announced the new inbound SA before it could be used.
    for x in &h {
        assert!(x
            .events
            .iter()
            .any(|e| matches!(e, Event::InboundSaReady { .. })));
    }
}

/// A reply kept for a repeated UPDATE (RFC 7401 section 6.12) and sent again
/// after this host moved leaves from the new locator, so its checksum must be
/// the one for the new source (seen live with HIPL 1.0.8, which sends the same
/// UPDATE to the old and the new address).
#[test]
fn a_stored_reply_sent_again_after_a_move_has_the_checksum_of_its_new_source() {
    let mut h = established();
    let t = Instant(5_000_000_000);
    // B announces a second address (its current one stays preferred): A ACKs.
    let u = announce(&mut h[1], t, &[locator(2), locator(12)], 12);
    deliver(&mut h[0], t, &u);
    let ack = take(&mut h[0]).remove(0);
    assert_eq!(ack.src, locator(1));
    assert!(checksum::verify(&ack.bytes, ack.src, ack.dst));
    // A moves, then B's UPDATE arrives again at A's new address: the stored
    // ACK goes out from there with the checksum for it.
    let mut r = netsim::Rng::new(13);
    assert_eq!(
        h[0].ep
            .update_locators(t, &[locator(11)], &mut |x: &mut [u8]| r.fill(x)),
        1
    );
    let moved = take(&mut h[0]);
    assert_eq!(moved[0].src, locator(11));
    // B's UPDATE again, now to A's new address (HIPL sends it to both).
    let mut dup = u.clone();
    dup.dst = locator(11);
    checksum::fill(&mut dup.bytes, dup.src, dup.dst);
    deliver(&mut h[0], t, &dup);
    let again = take(&mut h[0]);
    let resent = again
        .iter()
        .find(|x| {
            HipRepr::parse_bytes(&x.bytes)
                .unwrap()
                .param(ParamType::Ack)
                .is_some()
        })
        .expect("the stored ACK again");
    assert_eq!(resent.src, locator(11));
    assert!(
        checksum::verify(&resent.bytes, resent.src, resent.dst),
        "checksum for the locators it leaves with"
    );
    // And B accepts it.
    deliver(&mut h[1], t, resent);
    assert_eq!(h[1].ep.counters().bad_checksum, 0);
}

/// Over UDP (RFC 5770) a failover probe goes over UDP too, with a zero HIP
/// checksum: a peer in UDP mode (HIPL's `nat plain-udp`) listens there.
#[test]
fn failover_probe_of_a_udp_association_goes_over_udp() {
    let mut h = established_over(Some(10500));
    let a = h[0].hit;
    let t = Instant(5_000_000_000);
    let u1 = announce(&mut h[0], t, &[locator(1), locator(21)], 14);
    assert_eq!(u1.udp_port, Some(10500));
    deliver(&mut h[1], t, &u1);
    let ack = take(&mut h[1]).remove(0);
    deliver(&mut h[0], t, &ack);
    take(&mut h[0]);
    let mut r = netsim::Rng::new(15);
    assert!(h[1]
        .ep
        .failover(t, a, &|_| Some(locator(22)), &mut |x: &mut [u8]| r.fill(x)));
    let probe = take(&mut h[1]).remove(0);
    assert_eq!((probe.src, probe.dst), (locator(22), locator(21)));
    assert_eq!(probe.udp_port, Some(10500), "same encapsulation");
    assert_eq!(Packet::new_checked(&probe.bytes[..]).unwrap().checksum(), 0);
    deliver(&mut h[0], t, &probe);
    let reply = take(&mut h[0]).remove(0);
    assert_eq!(reply.udp_port, Some(10500));
    assert_eq!(reply.dst, locator(22));
}

/// A LOCATOR_SET replaces the peer's set (RFC 8046 section 5.2): an address
/// it no longer lists is no longer a failover candidate.
#[test]
fn addresses_a_new_locator_set_leaves_out_are_no_longer_candidates() {
    let mut h = established();
    let a = h[0].hit;
    let t = Instant(5_000_000_000);
    let u1 = announce(&mut h[0], t, &[locator(1), locator(21)], 16);
    deliver(&mut h[1], t, &u1);
    let ack = take(&mut h[1]).remove(0);
    deliver(&mut h[0], t, &ack);
    take(&mut h[0]);
    let cands = |h: &Host| {
        h.ep.associations()
            .into_iter()
            .find(|x| x.peer_hit == a)
            .unwrap()
            .peer_candidates
    };
    assert_eq!(cands(&h[1]), vec![locator(21)]);
    // A drops its second address and says so.
    let u2 = announce(&mut h[0], t, &[locator(1)], 17);
    deliver(&mut h[1], t, &u2);
    take(&mut h[1]);
    assert!(cands(&h[1]).is_empty(), "{:?}", cands(&h[1]));
    let mut r = netsim::Rng::new(18);
    assert!(
        !h[1]
            .ep
            .failover(t, a, &|_| Some(locator(2)), &mut |x: &mut [u8]| r.fill(x)),
        "nothing left to fail over to"
    );
}

/// HIPL 1.0.8 concludes a locator UPDATE only when it is answered with SEQ,
/// ACK and ECHO_REQUEST_SIGNED (it resends its UPDATE for about 10 s after a
/// plain ACK, seen live): with the `hipl` profile a LOCATOR_SET that announces
/// nothing new gets the locator in use verified; the association stays where
/// it is and the exchange ends with the echo.
#[test]
fn hipl_profile_answers_every_locator_set_with_an_echo() {
    let mut h = established_with(None, Version::V1, Some(CompatProfile::Hipl108));
    let (a, b) = (h[0].hit, h[1].hit);
    let t = Instant(5_000_000_000);
    let u1 = announce(&mut h[0], t, &[locator(1), locator(21)], 19);
    deliver(&mut h[1], t, &u1);
    let u2 = take(&mut h[1]).remove(0);
    let r2 = HipRepr::parse_bytes(&u2.bytes).unwrap();
    assert_eq!(u2.dst, locator(1), "to the locator in use");
    for p in [
        ParamType::EspInfo,
        ParamType::Seq,
        ParamType::Ack,
        ParamType::EchoRequestSigned,
    ] {
        assert!(r2.param(p).is_some(), "{p:?} in the second packet");
    }
    echo_back(&mut h, t, &u2);
    assert_eq!(peer_locator(&h[1], a), locator(1));
    assert!(!h[1]
        .events
        .iter()
        .any(|e| matches!(e, Event::LocatorChanged { .. })));
    let cands = h[1]
        .ep
        .associations()
        .into_iter()
        .find(|x| x.peer_hit == a)
        .unwrap()
        .peer_candidates;
    assert_eq!(
        cands,
        vec![locator(21)],
        "the locator in use is no candidate"
    );
    // Nothing left to resend on either side.
    let later = Instant(t.0 + 30_000_000_000);
    let mut r = netsim::Rng::new(20);
    h[1].ep.handle_timeout(later, &mut |x: &mut [u8]| r.fill(x));
    h[0].ep.handle_timeout(later, &mut |x: &mut [u8]| r.fill(x));
    assert!(take(&mut h[1]).is_empty() && take(&mut h[0]).is_empty());
    assert_eq!(h[0].ep.state(a, b), State::Established);
    // Without the profile a plain ACK answers the same announcement.
    let mut s = established();
    let mut r = netsim::Rng::new(21);
    s[0].ep
        .update_locators(t, &[locator(1), locator(21)], &mut |x: &mut [u8]| r.fill(x));
    let v1 = take(&mut s[0]).remove(0);
    deliver(&mut s[1], t, &v1);
    let v2 = HipRepr::parse_bytes(&take(&mut s[1]).remove(0).bytes).unwrap();
    assert!(v2.param(ParamType::EchoRequestSigned).is_none());
}

/// A heartbeat the peer answers confirms the path (and moves nothing); one
/// it never answers ends, after the UPDATE retransmissions, with the
/// association removed and `Failed { UpdateTimeout }`: never ESTABLISHED
/// without a peer that answers.
#[test]
fn heartbeat_confirms_the_path_or_fails_the_association_cleanly() {
    let mut h = established();
    let (a, b) = (h[0].hit, h[1].hit);
    let t = Instant(5_000_000_000);
    let mut rng = netsim::Rng::new(5);
    assert!(h[0].ep.heartbeat(t, b, &mut |x: &mut [u8]| rng.fill(x)));
    let hb = take(&mut h[0]);
    assert_eq!(hb.len(), 1, "one UPDATE");
    assert_eq!(hb[0].dst, locator(2), "on the path in use");
    let r = HipRepr::parse_bytes(&hb[0].bytes).unwrap();
    assert!(
        r.param(ParamType::LocatorSet).is_none(),
        "a heartbeat announces nothing (a one-address LOCATOR_SET deprecates the others)"
    );
    assert!(r.param(ParamType::EchoRequestSigned).is_some());
    deliver(&mut h[1], t, &hb[0]);
    for reply in take(&mut h[1]) {
        deliver(&mut h[0], t, &reply);
    }
    take(&mut h[0]);
    assert!(h[0]
        .events
        .iter()
        .any(|e| matches!(e, Event::PathConfirmed { peer_hit, .. } if *peer_hit == b)));
    assert_eq!(peer_locator(&h[0], b), locator(2));
    assert_eq!(h[0].ep.counters().locator_changes, 0);
    // Now B is gone: nothing answers the next heartbeat.
    let mut t = t + Duration::from_secs(1);
    assert!(h[0].ep.heartbeat(t, b, &mut |x: &mut [u8]| rng.fill(x)));
    take(&mut h[0]);
    for _ in 0..200 {
        let Some(next) = h[0].ep.poll_timeout() else {
            break;
        };
        if h[0].ep.state(a, b) != State::Established {
            break;
        }
        t = next.max(t);
        h[0].ep.handle_timeout(t, &mut |x: &mut [u8]| rng.fill(x));
        take(&mut h[0]);
    }
    assert!(h[0].events.iter().any(|e| matches!(
        e,
        Event::Failed {
            reason: hip_proto::endpoint::FailReason::UpdateTimeout,
            ..
        }
    )));
    assert_ne!(
        h[0].ep.state(a, b),
        State::Established,
        "no zombie association"
    );
    assert!(h[0].ep.associations().is_empty());
}

/// A peer that moves and no longer lists its old address (OpenHIP 0.9, seen
/// live: hipd then probed the old address when the path went quiet): once
/// the new locator is verified, the old one is no failover candidate (RFC
/// 8046 section 5.2). A locator left by failover, which the peer still
/// lists, stays one (failover "and back", RFC 8047).
#[test]
fn a_locator_the_peer_moved_away_from_is_no_candidate() {
    let mut h = established();
    let a = h[0].hit;
    let t = Instant(5_000_000_000);
    let u1 = announce(&mut h[0], t, &[locator(11)], 22);
    deliver(&mut h[1], t, &u1);
    let u2 = take(&mut h[1]).remove(0);
    assert_eq!(u2.dst, locator(11));
    echo_back(&mut h, t, &u2);
    assert_eq!(peer_locator(&h[1], a), locator(11));
    let cands = h[1]
        .ep
        .associations()
        .into_iter()
        .find(|x| x.peer_hit == a)
        .unwrap()
        .peer_candidates;
    assert!(cands.is_empty(), "withdrawn {:?} kept", cands);
}
