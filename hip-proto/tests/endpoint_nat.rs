//! RFC 5770 plain UDP behind NATs, in virtual time: NAT keepalives (RFC 5770
//! section 4.7, RFC 9028 section 5.10: a NOTIFY NAT_KEEPALIVE after 15 s
//! without anything sent), NAT rebinding (a new source port on an
//! authenticated packet is adopted), and a peer that moved behind another
//! NAT (its UPDATE's source transport address is verified, the private
//! addresses it lists are not used).

mod harness;
mod netsim;

use harness::*;
use hip_proto::association::{Duration, Instant};
use hip_proto::crypto::hi::KeySpec;
use hip_proto::endpoint::{Config, DropReason, Event, Incoming, Transmit};
use hip_proto::registry::{PacketType, Version};
use hip_proto::wire::{HipRepr, NotifyMessageType, ParamRepr, ParamType};
use netsim::{Link, Net};

const NAT_PORT: u16 = 10500;

/// Two hosts with an association over UDP, all packets of the exchange
/// drained; returns them and the time the exchange ended.
fn established_udp(udp: Option<u16>) -> ([Host; 2], Instant) {
    let [ka, kb] = keys(KeySpec::EcdsaP256);
    let mut h = [
        Host::new(Config::default(), ka, Version::V2, locator(1), 51),
        Host::new(Config::default(), kb, Version::V2, locator(2), 52),
    ];
    let t0 = Instant(1_000_000_000);
    let (a, b) = (h[0].hit, h[1].hit);
    h[0].ep
        .connect(t0, a, b, locator(1), locator(2), udp)
        .unwrap();
    let mut net = Net::new(1, Link::PERFECT);
    let end = run(
        &mut h,
        &mut net,
        t0,
        Duration::from_secs(30),
        both_established,
    );
    assert!(both_established(&h));
    for x in h.iter_mut() {
        take(x);
    }
    (h, end)
}

fn deliver(h: &mut Host, now: Instant, t: &Transmit) -> Result<(), DropReason> {
    let mut rng = std::mem::replace(&mut h.rng, netsim::Rng::new(0));
    let r = h.ep.handle_checked(
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
    r
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

fn timeout(h: &mut Host, now: Instant) -> Vec<Transmit> {
    let mut rng = std::mem::replace(&mut h.rng, netsim::Rng::new(0));
    h.ep.handle_timeout(now, &mut |b: &mut [u8]| rng.fill(b));
    h.rng = rng;
    take(h)
}

fn is_keepalive(t: &Transmit) -> bool {
    let r = HipRepr::parse_bytes(&t.bytes).unwrap();
    r.packet_type == PacketType::Notify
        && matches!(
            r.param(ParamType::Notification),
            Some(ParamRepr::Notification(n)) if n.msg_type == NotifyMessageType::NatKeepalive && n.data.is_empty()
        )
        && r.param(ParamType::HipSignature).is_some()
}

fn assoc(h: &Host, peer: hip_proto::Hit) -> hip_proto::endpoint::AssociationInfo {
    h.ep.associations()
        .into_iter()
        .find(|a| a.peer_hit == peer)
        .unwrap()
}

fn secs(t: Instant, s: f64) -> Instant {
    t + Duration::from_secs_f64(s)
}

#[test]
fn an_idle_udp_association_sends_a_signed_keepalive_every_15_seconds() {
    let (mut h, t) = established_udp(Some(NAT_PORT));
    // The timer is armed: 15 s after the last packet sent, at most 15 s from now.
    let due = h[0].ep.poll_timeout().unwrap();
    assert!(due <= secs(t, 15.0), "{due:?} vs {t:?}");
    assert!(timeout(&mut h[0], Instant(due.0 - 1_000_000)).is_empty());
    let sent = timeout(&mut h[0], due);
    assert_eq!(sent.len(), 1, "one keepalive");
    let k = &sent[0];
    assert!(is_keepalive(k));
    assert_eq!(
        (k.src, k.dst, k.udp_port),
        (locator(1), locator(2), Some(NAT_PORT))
    );
    assert_eq!(h[0].ep.counters().nat_keepalives_sent, 1);
    // The next one an interval later, not before.
    assert_eq!(h[0].ep.poll_timeout(), Some(secs(due, 15.0)));
    assert!(timeout(&mut h[0], secs(due, 14.9)).is_empty());
    assert_eq!(timeout(&mut h[0], secs(due, 15.0)).len(), 1);
    // The peer verifies it, answers nothing and raises no event.
    let before = h[1].events.len();
    deliver(&mut h[1], due, k).unwrap();
    assert!(take(&mut h[1]).is_empty(), "keepalives are not answered");
    assert_eq!(h[1].events.len(), before);
    assert_eq!(h[1].ep.counters().nat_keepalives_received, 1);
    assert_eq!(h[1].ep.counters().notify_received, 0);
}

#[test]
fn esp_sent_to_the_peer_postpones_the_keepalive() {
    let (mut h, t) = established_udp(Some(NAT_PORT));
    let (a, b) = (h[0].hit, h[1].hit);
    for s in [5.0, 10.0, 20.0] {
        h[0].ep.data_sent(secs(t, s), a, b);
    }
    assert!(timeout(&mut h[0], secs(t, 16.0)).is_empty());
    assert!(timeout(&mut h[0], secs(t, 34.9)).is_empty());
    let due = h[0].ep.poll_timeout().unwrap();
    assert!(due <= secs(t, 35.0) && due > secs(t, 34.9), "{due:?}");
    assert!(is_keepalive(&timeout(&mut h[0], secs(t, 35.0))[0]));
}

#[test]
fn raw_ip_associations_and_a_disabled_interval_send_no_keepalives() {
    let (mut h, t) = established_udp(None);
    for s in [16.0, 31.0, 120.0] {
        assert!(timeout(&mut h[0], secs(t, s)).is_empty(), "raw IP at {s}");
    }
    let [ka, kb] = keys(KeySpec::EcdsaP256);
    let cfg = Config {
        nat_keepalive_interval: None,
        ..Config::default()
    };
    let mut h = [
        Host::new(cfg.clone(), ka, Version::V2, locator(1), 53),
        Host::new(cfg, kb, Version::V2, locator(2), 54),
    ];
    let t0 = Instant(1_000_000_000);
    let (a, b) = (h[0].hit, h[1].hit);
    h[0].ep
        .connect(t0, a, b, locator(1), locator(2), Some(NAT_PORT))
        .unwrap();
    let mut net = Net::new(1, Link::PERFECT);
    let t = run(
        &mut h,
        &mut net,
        t0,
        Duration::from_secs(30),
        both_established,
    );
    take(&mut h[0]);
    assert!(timeout(&mut h[0], secs(t, 60.0)).is_empty());
    assert_eq!(h[0].ep.counters().nat_keepalives_sent, 0);
}

#[test]
fn a_keepalive_from_a_new_port_is_a_nat_rebinding_and_a_forged_one_is_not() {
    let (mut h, t) = established_udp(Some(NAT_PORT));
    let a = h[0].hit;
    let mut k = timeout(&mut h[0], secs(t, 15.1)).remove(0);
    // The NAT lost its state: the same host now appears from port 40000.
    k.udp_port = Some(40000);
    deliver(&mut h[1], secs(t, 15.1), &k).unwrap();
    assert_eq!(assoc(&h[1], a).udp_port, Some(40000));
    assert!(take(&mut h[1]).is_empty());
    assert!(h[1].events.iter().any(|e| matches!(
        e,
        Event::UdpPortChanged { peer_hit, udp_port: 40000, locator: l } if *peer_hit == a && *l == locator(1)
    )));
    assert_eq!(h[1].ep.counters().udp_port_changes, 1);
    // A tampered keepalive from yet another port: dropped, nothing moves.
    let mut bad = k.clone();
    bad.udp_port = Some(40001);
    // The NOTIFICATION's reserved field (octets 44-45), covered by the signature.
    assert_eq!(u16::from_be_bytes([bad.bytes[40], bad.bytes[41]]), 832);
    bad.bytes[44] ^= 1;
    assert_eq!(
        deliver(&mut h[1], secs(t, 16.0), &bad),
        Err(DropReason::BadSignature)
    );
    assert_eq!(assoc(&h[1], a).udp_port, Some(40000));
    // The next packet from the peer's side goes to the new port.
    let ka = timeout(&mut h[1], secs(t, 31.0));
    assert_eq!(ka[0].udp_port, Some(40000));
}

#[test]
fn esp_from_a_new_port_moves_the_association_esp_from_a_new_address_does_not() {
    let (mut h, t) = established_udp(Some(NAT_PORT));
    let (a, b) = (h[0].hit, h[1].hit);
    assert!(h[1].ep.esp_received_from(t, b, a, locator(1), 40002));
    assert_eq!(assoc(&h[1], a).udp_port, Some(40002));
    // Same port again: nothing to do.
    assert!(!h[1].ep.esp_received_from(t, b, a, locator(1), 40002));
    // From another address: only an UPDATE's address check moves it.
    assert!(!h[1].ep.esp_received_from(t, b, a, locator(7), 40003));
    let now = assoc(&h[1], a);
    assert_eq!((now.peer_locator, now.udp_port), (locator(1), Some(40002)));
}

#[test]
fn a_natted_peer_that_moved_is_verified_at_its_mapping_never_at_its_private_address() {
    let (mut h, t) = established_udp(Some(NAT_PORT));
    let a = h[0].hit;
    let t = secs(t, 2.0);
    // Host 0 moves to the private address ::9 behind another NAT, whose
    // public address is ::7 and which maps it to port 50000.
    let mut r = netsim::Rng::new(9);
    assert_eq!(
        h[0].ep
            .update_locators(t, &[locator(9)], &mut |x: &mut [u8]| r.fill(x)),
        1
    );
    let mut u1 = take(&mut h[0]).remove(0);
    assert_eq!((u1.src, u1.udp_port), (locator(9), Some(NAT_PORT)));
    u1.src = locator(7);
    u1.udp_port = Some(50000);
    deliver(&mut h[1], t, &u1).unwrap();
    let out = take(&mut h[1]);
    assert_eq!(out.len(), 1);
    let u2 = &out[0];
    assert_eq!(
        (u2.dst, u2.udp_port),
        (locator(7), Some(50000)),
        "to the mapping"
    );
    assert!(HipRepr::parse_bytes(&u2.bytes)
        .unwrap()
        .param(ParamType::EchoRequestSigned)
        .is_some());
    assert!(!assoc(&h[1], a).peer_candidates.contains(&locator(9)));
    // Host 0 (behind the NAT) answers; the NAT delivers it from ::7:50000.
    let mut u2_in = u2.clone();
    u2_in.dst = locator(9);
    u2_in.udp_port = Some(NAT_PORT);
    deliver(&mut h[0], t, &u2_in).unwrap();
    let mut u3 = take(&mut h[0]).remove(0);
    assert_eq!(u3.dst, locator(2));
    u3.src = locator(7);
    u3.udp_port = Some(50000);
    deliver(&mut h[1], t, &u3).unwrap();
    let after = take(&mut h[1]);
    let now = assoc(&h[1], a);
    assert_eq!((now.peer_locator, now.udp_port), (locator(7), Some(50000)));
    assert!(!now.peer_candidates.contains(&locator(9)));
    assert!(h[1].events.iter().any(|e| matches!(
        e,
        Event::LocatorChanged { locator: l, .. } if *l == locator(7)
    )));
    assert!(h[1].events.iter().any(|e| matches!(
        e,
        Event::UdpPortChanged {
            udp_port: 50000,
            ..
        }
    )));
    // Nothing of host 1's ever went to the private address.
    for x in after.iter().chain(timeout(&mut h[1], secs(t, 40.0)).iter()) {
        assert_ne!(x.dst, locator(9));
    }
}

#[test]
fn an_update_from_a_new_port_at_the_same_address_is_adopted_at_once() {
    let (mut h, t) = established_udp(Some(NAT_PORT));
    let (a, b) = (h[0].hit, h[1].hit);
    let mut r = netsim::Rng::new(11);
    assert!(h[0].ep.heartbeat(t, b, &mut |x: &mut [u8]| r.fill(x)));
    let mut u = take(&mut h[0]).remove(0);
    u.udp_port = Some(40010);
    deliver(&mut h[1], t, &u).unwrap();
    let reply = take(&mut h[1]);
    assert_eq!(
        reply[0].udp_port,
        Some(40010),
        "the reply goes to the new mapping"
    );
    assert_eq!(reply[0].dst, locator(1));
    assert_eq!(assoc(&h[1], a).udp_port, Some(40010));
}
