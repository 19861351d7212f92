//! The Registration Extension (RFC 8003) between real endpoints in virtual
//! time: REG_INFO in R1, REG_REQUEST in I2 and in UPDATE, lifetimes clamped
//! into the offer, expiry, renewal, refusal by policy and by type,
//! cancellation, re-registration after a move, and a bounded table under a
//! flood of requesters.

mod harness;
mod netsim;

use harness::*;
use hip_proto::association::{Duration, Instant, State};
use hip_proto::crypto::hi::{HostIdentity, KeySpec};
use hip_proto::endpoint::{
    Config, Event, Incoming, RegistrarConfig, RegistrationEvent, RegistrationPolicy,
    RegistrationState,
};
use hip_proto::registry::Version;
use hip_proto::wire::{HipRepr, ParamRepr, ParamType, RegFailureType, RegType};
use netsim::Net;

const RVS: RegType = RegType::RendezvousServer;

fn t0() -> Instant {
    Instant(1_000_000_000)
}

fn registrar_cfg(allow: RegistrationPolicy, min: u32, max: u32) -> Config {
    Config {
        registrar: RegistrarConfig {
            services: vec![RVS],
            min_lifetime: min,
            max_lifetime: max,
            allow,
            ..RegistrarConfig::default()
        },
        ..Config::default()
    }
}

/// Host 0 is the registrar, host 1 the requester.
fn pair(server_cfg: Config) -> Vec<Host> {
    let [ka, kb] = keys(KeySpec::EcdsaP256);
    vec![
        Host::new(server_cfg, ka, Version::V2, locator(1), 11),
        Host::new(Config::default(), kb, Version::V2, locator(2), 12),
    ]
}

fn identity(n: u64) -> HostIdentity {
    HostIdentity::generate(KeySpec::EcdsaP256, &mut rand_core_seeded(1000 + n)).unwrap()
}

fn register(h: &mut [Host], client: usize, now: Instant, types: &[RegType], secs: u32) {
    let (c, s) = (h[client].hit, h[0].hit);
    let (cl, sl) = (h[client].loc, h[0].loc);
    let mut rng = std::mem::replace(&mut h[client].rng, netsim::Rng::new(0));
    h[client]
        .ep
        .register(now, c, s, cl, sl, types, secs, &mut |b: &mut [u8]| {
            rng.fill(b)
        })
        .unwrap();
    h[client].rng = rng;
}

fn state_of(h: &Host, ty: RegType) -> Option<RegistrationState> {
    h.ep.registrations()
        .into_iter()
        .find(|r| r.reg_type == ty)
        .map(|r| r.state)
}

fn settled(h: &[Host]) -> bool {
    h[1..].iter().all(|c| {
        !c.ep.registrations().is_empty()
            && c.ep
                .registrations()
                .iter()
                .all(|r| !matches!(r.state, RegistrationState::Requested))
    })
}

#[test]
fn reg_info_in_r1_and_request_in_i2_are_granted() {
    let mut h = pair(registrar_cfg(RegistrationPolicy::Any, 10, 3600));
    register(&mut h, 1, t0(), &[RVS], 120);
    // The I1, then the R1 carries REG_INFO with the offer (RFC 8003 section 3.1).
    let i1 = h[1].ep.poll_transmit().unwrap();
    let mut rng = netsim::Rng::new(5);
    h[0].ep.handle(
        t0(),
        Incoming {
            src: i1.src,
            dst: i1.dst,
            udp_port: None,
            bytes: &i1.bytes,
        },
        &mut |b: &mut [u8]| rng.fill(b),
    );
    let r1 = h[0].ep.poll_transmit().unwrap();
    let repr = HipRepr::parse_bytes(&r1.bytes).unwrap();
    let Some(ParamRepr::RegInfo {
        min_lifetime,
        max_lifetime,
        types,
    }) = repr.param(ParamType::RegInfo)
    else {
        panic!("R1 without REG_INFO");
    };
    assert_eq!(types, &vec![RVS]);
    assert!(min_lifetime <= max_lifetime);
    let mut net = Net::new(1, link_perfect());
    net.send(t0(), 0, 1, r1);
    let end = run(&mut h, &mut net, t0(), Duration::from_secs(20), settled);
    assert_eq!(state_of(&h[1], RVS), Some(RegistrationState::Registered));
    let info = &h[1].ep.registrations()[0];
    let granted = info.granted_lifetime.unwrap();
    assert!(granted >= Duration::from_secs(120) && granted < Duration::from_secs(140));
    assert_eq!(info.server_hit, h[0].hit);
    let clients = h[0].ep.registered_clients(end);
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0].client_hit, h[1].hit);
    assert_eq!(clients[0].client_locator, Some(locator(2)));
    assert_eq!(h[0].ep.counters().registrations_granted, 1);
    assert!(h[1].events.iter().any(|e| matches!(
        e,
        Event::Registration(RegistrationEvent::Registered { reg_type: RVS, .. })
    )));
    // A registrar without services sends no REG_INFO.
    let mut plain = pair(Config::default());
    let (a, b) = (plain[1].hit, plain[0].hit);
    plain[1]
        .ep
        .connect(t0(), a, b, locator(2), locator(1), None)
        .unwrap();
    let i1 = plain[1].ep.poll_transmit().unwrap();
    plain[0].ep.handle(
        t0(),
        Incoming {
            src: i1.src,
            dst: i1.dst,
            udp_port: None,
            bytes: &i1.bytes,
        },
        &mut |b: &mut [u8]| rng.fill(b),
    );
    let r1 = plain[0].ep.poll_transmit().unwrap();
    assert!(HipRepr::parse_bytes(&r1.bytes)
        .unwrap()
        .param(ParamType::RegInfo)
        .is_none());
}

#[test]
fn granted_lifetime_is_clamped_into_the_offer() {
    for (asked, lo, hi) in [(1u32, 30u64, 40u64), (100_000, 50, 60)] {
        let mut h = pair(registrar_cfg(RegistrationPolicy::Any, 30, 60));
        register(&mut h, 1, t0(), &[RVS], asked);
        let mut net = Net::new(2, link_perfect());
        run(&mut h, &mut net, t0(), Duration::from_secs(20), settled);
        let g = h[1].ep.registrations()[0].granted_lifetime.unwrap();
        assert!(
            g >= Duration::from_secs(lo) && g <= Duration::from_secs(hi),
            "asked {asked}: granted {g:?}"
        );
    }
}

#[test]
fn registration_is_renewed_before_expiry() {
    let mut h = pair(registrar_cfg(RegistrationPolicy::Any, 10, 40));
    register(&mut h, 1, t0(), &[RVS], 40);
    let mut net = Net::new(3, link_perfect());
    let now = run(&mut h, &mut net, t0(), Duration::from_secs(20), settled);
    // Five lifetimes later it is still registered, renewed each time.
    let end = run(&mut h, &mut net, now, Duration::from_secs(200), |_| false);
    assert_eq!(state_of(&h[1], RVS), Some(RegistrationState::Registered));
    let c = h[0].ep.counters();
    assert!(c.registrations_granted >= 5, "{c:?}");
    assert_eq!(c.registrations_expired, 0);
    assert_eq!(h[0].ep.registered_clients(end).len(), 1);
}

#[test]
fn registration_expires_on_both_sides_when_the_client_goes_away() {
    let mut h = pair(registrar_cfg(RegistrationPolicy::Any, 10, 40));
    register(&mut h, 1, t0(), &[RVS], 40);
    let mut net = Net::new(4, link_perfect());
    let now = run(&mut h, &mut net, t0(), Duration::from_secs(20), settled);
    // The path between them breaks: packets go nowhere.
    h[0].loc = locator(99);
    let end = run(&mut h, &mut net, now, Duration::from_secs(120), |_| false);
    assert!(h[0].ep.registered_clients(end).is_empty());
    assert_eq!(h[0].ep.counters().registrations_expired, 1);
    assert!(h[0].events.iter().any(|e| matches!(
        e,
        Event::Registration(RegistrationEvent::ClientExpired { .. })
    )));
    assert!(h[1]
        .events
        .iter()
        .any(|e| matches!(e, Event::Registration(RegistrationEvent::Expired { .. }))));
    assert_ne!(state_of(&h[1], RVS), Some(RegistrationState::Registered));
}

#[test]
fn refusal_by_policy_and_by_unknown_type() {
    // Default policy: nobody.
    let mut h = pair(registrar_cfg(RegistrationPolicy::default(), 10, 60));
    register(&mut h, 1, t0(), &[RVS], 60);
    let mut net = Net::new(5, link_perfect());
    let end = run(&mut h, &mut net, t0(), Duration::from_secs(20), settled);
    assert_eq!(
        state_of(&h[1], RVS),
        Some(RegistrationState::Failed(
            RegFailureType::RequiresAdditionalCredentials
        ))
    );
    assert_eq!(h[0].ep.counters().registrations_refused, 1);
    assert_eq!(h[1].ep.counters().registrations_failed, 1);
    assert!(h[0].ep.registered_clients(end).is_empty());
    // The association itself is fine: registration is separate.
    assert_eq!(h[1].ep.state(h[1].hit, h[0].hit), State::Established);

    // Allowed, but one type is not offered: one granted, one refused.
    let mut h = pair(registrar_cfg(RegistrationPolicy::Any, 10, 60));
    register(&mut h, 1, t0(), &[RVS, RegType::RelayUdpHip], 60);
    let mut net = Net::new(6, link_perfect());
    run(&mut h, &mut net, t0(), Duration::from_secs(20), settled);
    assert_eq!(state_of(&h[1], RVS), Some(RegistrationState::Registered));
    assert_eq!(
        state_of(&h[1], RegType::RelayUdpHip),
        Some(RegistrationState::Failed(RegFailureType::TypeUnavailable))
    );
    // A HIT list policy admits exactly its HITs.
    let listed = h[1].hit;
    let mut h2 = pair(registrar_cfg(
        RegistrationPolicy::Hits([listed].into_iter().collect()),
        10,
        60,
    ));
    assert_eq!(h2[1].hit, listed);
    register(&mut h2, 1, t0(), &[RVS], 60);
    let mut net = Net::new(7, link_perfect());
    run(&mut h2, &mut net, t0(), Duration::from_secs(20), settled);
    assert_eq!(state_of(&h2[1], RVS), Some(RegistrationState::Registered));
}

#[test]
fn cancellation_with_lifetime_zero() {
    let mut h = pair(registrar_cfg(RegistrationPolicy::Any, 10, 600));
    register(&mut h, 1, t0(), &[RVS], 600);
    let mut net = Net::new(8, link_perfect());
    let now = run(&mut h, &mut net, t0(), Duration::from_secs(20), settled);
    assert_eq!(h[0].ep.registered_clients(now).len(), 1);
    let server = h[0].hit;
    let mut rng = netsim::Rng::new(9);
    assert_eq!(
        h[1].ep
            .unregister(now, server, &[], &mut |b: &mut [u8]| rng.fill(b)),
        1
    );
    // The cancellation travels in an UPDATE with REG_REQUEST lifetime 0.
    let u = h[1].ep.poll_transmit().unwrap();
    let Some(ParamRepr::RegRequest { lifetime, types }) = HipRepr::parse_bytes(&u.bytes)
        .unwrap()
        .param(ParamType::RegRequest)
        .cloned()
    else {
        panic!("no REG_REQUEST");
    };
    assert_eq!((lifetime, types), (0, vec![RVS]));
    net.send(now, 1, 0, u);
    let end = run(&mut h, &mut net, now, Duration::from_secs(20), |h| {
        h[1].ep.registrations().is_empty()
    });
    assert!(h[0].ep.registered_clients(end).is_empty());
    assert_eq!(h[0].ep.counters().registrations_cancelled, 1);
    assert!(h[1]
        .events
        .iter()
        .any(|e| matches!(e, Event::Registration(RegistrationEvent::Cancelled { .. }))));
    assert!(h[1].ep.registrations().is_empty());
}

#[test]
fn registration_over_an_established_association_goes_in_update() {
    let mut h = pair(registrar_cfg(RegistrationPolicy::Any, 10, 600));
    let (c, s) = (h[1].hit, h[0].hit);
    h[1].ep
        .connect(t0(), c, s, locator(2), locator(1), None)
        .unwrap();
    let mut net = Net::new(10, link_perfect());
    let now = run(&mut h, &mut net, t0(), Duration::from_secs(20), |h| {
        h[1].ep.state(h[1].hit, h[0].hit) == State::Established
    });
    let before = h[0].ep.counters().established;
    register(&mut h, 1, now, &[RVS], 300);
    let u = h[1].ep.poll_transmit().unwrap();
    let repr = HipRepr::parse_bytes(&u.bytes).unwrap();
    assert_eq!(repr.packet_type, hip_proto::registry::PacketType::Update);
    assert!(repr.param(ParamType::RegRequest).is_some());
    net.send(now, 1, 0, u);
    run(&mut h, &mut net, now, Duration::from_secs(20), settled);
    assert_eq!(state_of(&h[1], RVS), Some(RegistrationState::Registered));
    assert_eq!(
        h[0].ep.counters().established,
        before,
        "no new base exchange"
    );
}

#[test]
fn a_move_re_registers_from_the_new_locator() {
    let mut h = pair(registrar_cfg(RegistrationPolicy::Any, 10, 600));
    register(&mut h, 1, t0(), &[RVS], 600);
    let mut net = Net::new(11, link_perfect());
    let now = run(&mut h, &mut net, t0(), Duration::from_secs(20), settled);
    let granted = h[0].ep.counters().registrations_granted;
    let new = locator(22);
    h[1].loc = new;
    let mut rng = netsim::Rng::new(12);
    assert_eq!(
        h[1].ep
            .update_locators(now, &[new], &mut |b: &mut [u8]| rng.fill(b)),
        1
    );
    let end = run(&mut h, &mut net, now, Duration::from_secs(30), |h| {
        h[0].ep.counters().registrations_granted > granted
    });
    assert_eq!(h[0].ep.counters().registrations_granted, granted + 1);
    let clients = h[0].ep.registered_clients(end);
    assert_eq!(clients[0].client_locator, Some(new));
    assert_eq!(state_of(&h[1], RVS), Some(RegistrationState::Registered));
}

#[test]
fn a_flood_of_requesters_is_bounded_and_counted() {
    let mut cfg = registrar_cfg(RegistrationPolicy::Any, 10, 600);
    cfg.registrar.max_clients = 3;
    let [ka, _] = keys(KeySpec::EcdsaP256);
    let mut h = vec![Host::new(cfg, ka, Version::V2, locator(1), 20)];
    for n in 0..6u8 {
        h.push(Host::new(
            Config::default(),
            identity(u64::from(n)),
            Version::V2,
            locator(30 + n),
            21 + u64::from(n),
        ));
    }
    for n in 1..h.len() {
        register(&mut h, n, t0(), &[RVS], 600);
    }
    let mut net = Net::new(13, link_perfect());
    let end = run(&mut h, &mut net, t0(), Duration::from_secs(30), settled);
    assert_eq!(h[0].ep.registered_clients(end).len(), 3);
    let c = h[0].ep.counters();
    assert_eq!((c.registrations_granted, c.registrations_refused), (3, 3));
    let refused = h[1..]
        .iter()
        .filter(|c| {
            state_of(c, RVS)
                == Some(RegistrationState::Failed(
                    RegFailureType::InsufficientResources,
                ))
        })
        .count();
    assert_eq!(refused, 3);
}
