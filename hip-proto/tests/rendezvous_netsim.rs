//! The Rendezvous Extension (RFC 8004) between three real endpoints in
//! virtual time: an RVS (host 0), a registered responder R (host 1) and an
//! initiator I (host 2) that knows only R's HIT and the RVS's address.

mod harness;
mod netsim;

use harness::*;
use hip_proto::association::{Duration, Instant, State};
use hip_proto::crypto::hi::{HostIdentity, KeySpec};
use hip_proto::endpoint::{
    Config, DropReason, Event, FailReason, Incoming, RateLimit, RegistrarConfig,
    RegistrationPolicy, RegistrationState, Transmit,
};
use hip_proto::registry::{PacketType, Version};
use hip_proto::wire::{checksum, HipRepr, ParamRepr, ParamType, RegType};
use hip_proto::Hit;
use netsim::Net;

const RVS: RegType = RegType::RendezvousServer;

fn t0() -> Instant {
    Instant(1_000_000_000)
}

fn v4(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

fn rvs_cfg() -> Config {
    Config {
        registrar: RegistrarConfig {
            services: vec![RVS],
            allow: RegistrationPolicy::Any,
            ..RegistrarConfig::default()
        },
        ..Config::default()
    }
}

fn third_key() -> HostIdentity {
    HostIdentity::generate(KeySpec::EcdsaP384, &mut rand_core_seeded(77)).unwrap()
}

/// RVS, R registered with it for 600 s, I; all IPv4 documentation addresses.
fn setup(cfg: Config) -> (Vec<Host>, Net<Transmit>, Instant) {
    let [kr, ki] = keys(KeySpec::EcdsaP256);
    let mut h = vec![
        Host::new(cfg, third_key(), Version::V2, v4("203.0.113.10"), 1),
        Host::new(Config::default(), kr, Version::V2, v4("198.51.100.20"), 2),
        Host::new(Config::default(), ki, Version::V2, v4("192.0.2.30"), 3),
    ];
    let (r, s) = (h[1].hit, h[0].hit);
    let (rl, sl) = (h[1].loc, h[0].loc);
    let mut rng = netsim::Rng::new(4);
    h[1].ep
        .register(t0(), r, s, rl, sl, &[RVS], 600, &mut |b: &mut [u8]| {
            rng.fill(b)
        })
        .unwrap();
    let mut net = Net::new(5, link_perfect());
    let now = run(&mut h, &mut net, t0(), Duration::from_secs(20), |h| {
        h[1].ep
            .registrations()
            .iter()
            .any(|r| r.state == RegistrationState::Registered)
    });
    assert_eq!(h[0].ep.registered_clients(now).len(), 1);
    (h, net, now)
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

/// I sends an I1 for `peer` to the RVS's address.
fn i1_to_rvs(h: &mut [Host], now: Instant, peer: Hit) -> Transmit {
    let (i, il, sl) = (h[2].hit, h[2].loc, h[0].loc);
    h[2].ep.connect(now, i, peer, il, sl, None).unwrap();
    let i1 = take(&mut h[2]).remove(0);
    assert_eq!(i1.dst, sl);
    i1
}

fn established(h: &Host, peer: Hit) -> bool {
    h.ep.state(h.hit, peer) == State::Established
}

#[test]
fn i1_is_relayed_and_the_exchange_continues_directly() {
    let (mut h, mut net, now) = setup(rvs_cfg());
    let (r, i) = (h[1].hit, h[2].hit);
    let rvs_states = h[0].ep.state_count();
    let rvs_received = h[0].ep.counters().received;
    let i1 = i1_to_rvs(&mut h, now, r);
    deliver(&mut h[0], now, &i1);
    // The RVS relays it to R, from its own address, with FROM and RVS_HMAC.
    let relayed = take(&mut h[0]);
    assert_eq!(relayed.len(), 1);
    let fwd = &relayed[0];
    assert_eq!((fwd.src, fwd.dst), (h[0].loc, h[1].loc));
    assert!(checksum::verify(&fwd.bytes, fwd.src, fwd.dst));
    let repr = HipRepr::parse_bytes(&fwd.bytes).unwrap();
    assert_eq!(repr.packet_type, PacketType::I1);
    assert!(matches!(
        repr.param(ParamType::From),
        Some(ParamRepr::From(_))
    ));
    assert!(repr.param(ParamType::RvsHmac).is_some());
    assert_eq!(
        h[0].ep.state_count(),
        rvs_states,
        "no state for relayed I1s"
    );
    // R answers I directly, with VIA_RVS naming the RVS.
    deliver(&mut h[1], now, fwd);
    let r1 = take(&mut h[1]).remove(0);
    assert_eq!((r1.src, r1.dst), (h[1].loc, h[2].loc));
    let r1_repr = HipRepr::parse_bytes(&r1.bytes).unwrap();
    let Some(ParamRepr::ViaRvs(via)) = r1_repr.param(ParamType::ViaRvs) else {
        panic!("no VIA_RVS");
    };
    assert_eq!(via.len(), 1);
    assert!(checksum::verify(&r1.bytes, r1.src, r1.dst));
    net.send(now, 1, 2, r1);
    let end = run(&mut h, &mut net, now, Duration::from_secs(20), |h| {
        established(&h[2], h[1].hit) && established(&h[1], h[2].hit)
    });
    assert!(established(&h[2], r) && established(&h[1], i));
    // I uses R's real address; the RVS saw only the one I1.
    let a = h[2]
        .ep
        .associations()
        .into_iter()
        .find(|a| a.peer_hit == r)
        .unwrap();
    assert_eq!(a.peer_locator, h[1].loc);
    assert!(h[2].events.iter().any(|e| matches!(
        e,
        Event::Established { peer_locator, .. } if *peer_locator == v4("198.51.100.20")
    )));
    assert_eq!(h[0].ep.counters().received, rvs_received + 1);
    assert_eq!(h[0].ep.counters().rvs_relayed, 1);
    assert_eq!(h[1].ep.counters().r1_via_rvs, 1);
    assert_eq!(h[2].ep.counters().r1_via_rvs_accepted, 1);
    let _ = end;
}

#[test]
fn a_tampered_from_or_missing_rvs_hmac_is_dropped_and_counted() {
    let (mut h, _net, now) = setup(rvs_cfg());
    let r = h[1].hit;
    let i1 = i1_to_rvs(&mut h, now, r);
    deliver(&mut h[0], now, &i1);
    let fwd = take(&mut h[0]).remove(0);
    // FROM rewritten to another address (checksum fixed, HMAC not).
    let mut repr = HipRepr::parse_bytes(&fwd.bytes).unwrap();
    for p in repr.params.iter_mut() {
        if let ParamRepr::From(a) = p {
            a[15] ^= 1;
        }
    }
    let forged = repr.to_bytes_with_checksum(fwd.src, fwd.dst).unwrap();
    deliver(
        &mut h[1],
        now,
        &Transmit {
            bytes: forged,
            ..fwd.clone()
        },
    );
    assert!(take(&mut h[1]).is_empty(), "no R1 for a forged FROM");
    assert_eq!(h[1].ep.counters().dropped(DropReason::BadRvsHmac), 1);
    // FROM without RVS_HMAC: MUST be dropped (RFC 8004 section 4.3.2).
    repr.params.retain(|p| !matches!(p, ParamRepr::RvsHmac(_)));
    let bare = repr.to_bytes_with_checksum(fwd.src, fwd.dst).unwrap();
    deliver(
        &mut h[1],
        now,
        &Transmit {
            bytes: bare,
            ..fwd.clone()
        },
    );
    assert!(take(&mut h[1]).is_empty());
    assert_eq!(h[1].ep.counters().dropped(DropReason::BadRvsHmac), 2);
    // The genuine one is answered.
    deliver(&mut h[1], now, &fwd);
    assert_eq!(take(&mut h[1]).len(), 1);
    assert_eq!(h[1].ep.state_count(), 1, "R keeps only its RVS association");
}

#[test]
fn i1_for_an_unregistered_hit_is_not_relayed_and_creates_no_state() {
    let (mut h, _net, now) = setup(rvs_cfg());
    let stranger = HostIdentity::generate(KeySpec::EcdsaP256, &mut rand_core_seeded(99)).unwrap();
    let stranger_hit = hip_proto::endpoint::LocalIdentity::new(stranger, Version::V2)
        .unwrap()
        .hit;
    let states = h[0].ep.state_count();
    let i1 = i1_to_rvs(&mut h, now, stranger_hit);
    deliver(&mut h[0], now, &i1);
    assert!(take(&mut h[0]).is_empty());
    assert_eq!(h[0].ep.counters().dropped(DropReason::NotRegistered), 1);
    assert_eq!(h[0].ep.counters().rvs_relayed, 0);
    assert_eq!(h[0].ep.state_count(), states);
    // A host that offers no rendezvous service calls it "not for us".
    let i1b = Transmit {
        dst: h[1].loc,
        ..i1.clone()
    };
    let mut fixed = i1b.bytes.clone();
    checksum::fill(&mut fixed, i1b.src, i1b.dst);
    deliver(
        &mut h[1],
        now,
        &Transmit {
            bytes: fixed,
            ..i1b
        },
    );
    assert_eq!(h[1].ep.counters().dropped(DropReason::NotForUs), 1);
}

#[test]
fn relaying_is_rate_limited() {
    let mut cfg = rvs_cfg();
    cfg.registrar.relay_rate = RateLimit {
        burst: 2,
        per_token: Duration::from_secs(60),
    };
    let (mut h, _net, now) = setup(cfg);
    let r = h[1].hit;
    let i1 = i1_to_rvs(&mut h, now, r);
    for _ in 0..5 {
        deliver(&mut h[0], now, &i1);
    }
    assert_eq!(take(&mut h[0]).len(), 2);
    let c = h[0].ep.counters();
    assert_eq!((c.rvs_relayed, c.relay_rate_limited), (2, 3));
}

#[test]
fn an_r1_from_elsewhere_without_via_rvs_does_not_move_the_exchange() {
    let (mut h, _net, now) = setup(rvs_cfg());
    let r = h[1].hit;
    let i1 = i1_to_rvs(&mut h, now, r);
    deliver(&mut h[0], now, &i1);
    let fwd = take(&mut h[0]).remove(0);
    deliver(&mut h[1], now, &fwd);
    let r1 = take(&mut h[1]).remove(0);
    // Strip VIA_RVS: the R1's signature still verifies (VIA_RVS is outside it).
    let mut repr = HipRepr::parse_bytes(&r1.bytes).unwrap();
    repr.params.retain(|p| !matches!(p, ParamRepr::ViaRvs(_)));
    let bytes = repr.to_bytes_with_checksum(r1.src, r1.dst).unwrap();
    deliver(&mut h[2], now, &Transmit { bytes, ..r1 });
    let i2 = take(&mut h[2]);
    assert_eq!(h[2].ep.counters().r1_via_rvs_accepted, 0);
    // The I2 goes to the address the I1 went to, not the R1's source.
    assert!(i2.iter().all(|t| t.dst == h[0].loc), "{i2:?}");
}

#[test]
fn double_jump_recovers_with_a_new_exchange_through_the_rvs() {
    let (mut h, mut net, now) = setup(rvs_cfg());
    let (r, i) = (h[1].hit, h[2].hit);
    // I reaches R through the RVS first.
    let i1 = i1_to_rvs(&mut h, now, r);
    net.send(now, 2, 0, i1);
    let now = run(&mut h, &mut net, now, Duration::from_secs(20), |h| {
        established(&h[2], h[1].hit) && established(&h[1], h[2].hit)
    });
    // Both move at once: each one's UPDATE goes to the other's old address.
    let (r_new, i_new) = (v4("198.51.100.21"), v4("192.0.2.31"));
    h[1].loc = r_new;
    h[2].loc = i_new;
    let mut rng = netsim::Rng::new(6);
    // R tells both the RVS and I; I tells R.
    assert_eq!(
        h[1].ep
            .update_locators(now, &[r_new], &mut |b: &mut [u8]| rng.fill(b)),
        2
    );
    assert_eq!(
        h[2].ep
            .update_locators(now, &[i_new], &mut |b: &mut [u8]| rng.fill(b)),
        1
    );
    let now = run(&mut h, &mut net, now, Duration::from_secs(300), |h| {
        h[2].ep.state(h[2].hit, h[1].hit) == State::Unassociated
            && h[1].ep.state(h[1].hit, h[2].hit) == State::Unassociated
    });
    // The direct association is gone on both sides (UPDATE timeout) ...
    for (n, peer) in [(1usize, i), (2, r)] {
        assert!(
            h[n].events.iter().any(|e| matches!(
                e,
                Event::Failed { peer_hit, reason: FailReason::UpdateTimeout } if *peer_hit == peer
            )),
            "host {n}: {:?}",
            h[n].events
        );
    }
    // ... while the RVS followed R to its new address and R re-registered.
    let clients = h[0].ep.registered_clients(now);
    assert_eq!(clients[0].client_locator, Some(r_new));
    // A new exchange through the RVS reaches R at its new address.
    let i1 = i1_to_rvs(&mut h, now, r);
    assert_eq!(i1.src, i_new);
    net.send(now, 2, 0, i1);
    run(&mut h, &mut net, now, Duration::from_secs(20), |h| {
        established(&h[2], h[1].hit) && established(&h[1], h[2].hit)
    });
    let a = h[2]
        .ep
        .associations()
        .into_iter()
        .find(|a| a.peer_hit == r)
        .unwrap();
    assert_eq!(a.peer_locator, r_new);
    assert_eq!(h[0].ep.counters().rvs_relayed, 2);
}
