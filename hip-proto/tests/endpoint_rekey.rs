//! Rekeying by UPDATE with and without a new Diffie-Hellman key (RFC 7402
//! sections 6.8-6.10; RFC 5202 for v1), packet by packet between two real
//! endpoints: which UPDATE carries DIFFIE_HELLMAN, the KEYMAT index in ESP_INFO,
//! and that both sides end with mirrored SPIs and keys drawn from the right
//! KEYMAT.

mod harness;
mod netsim;

use harness::*;
use hip_proto::association::{Duration, Instant, State};
use hip_proto::crypto::hi::KeySpec;
use hip_proto::endpoint::{Config, DropReason, EspParams, Event, Incoming};
use hip_proto::registry::{DhGroupId, EspTransformId, HipTransformId, PacketType, Version};
use hip_proto::wire::{HipRepr, ParamRepr, ParamType};
use netsim::{Link, Net};

/// Two established hosts; host 0 initiated the base exchange.
fn pair(version: Version, group: DhGroupId, dh_policy: [bool; 2], seed: u64) -> [Host; 2] {
    let cfg = |on| Config {
        versions: vec![version],
        dh_groups: vec![group],
        hip_transforms: vec![HipTransformId::AesCbcHmacSha1],
        esp_transforms: vec![EspTransformId::Aes128CbcHmacSha1],
        rekey_new_dh: on,
        ..Config::default()
    };
    let spec = match version {
        Version::V1 => KeySpec::Rsa(2048),
        _ => KeySpec::EcdsaP256,
    };
    let [ka, kb] = keys(spec);
    let mut h = [
        Host::new(cfg(dh_policy[0]), ka, version, locator(1), seed),
        Host::new(cfg(dh_policy[1]), kb, version, locator(2), seed + 1),
    ];
    let t0 = Instant(1_000_000_000);
    let (a, b) = (h[0].hit, h[1].hit);
    h[0].ep
        .connect(t0, a, b, locator(1), locator(2), None)
        .expect("connect");
    let mut net = Net::new(seed, Link::PERFECT);
    run(
        &mut h,
        &mut net,
        t0,
        Duration::from_secs(60),
        both_established,
    );
    assert!(both_established(&h));
    h
}

/// Delivers everything `from` has queued to `to`; returns what was delivered.
fn deliver(h: &mut [Host; 2], from: usize, now: Instant) -> Vec<HipRepr> {
    let to = 1 - from;
    let mut seen = Vec::new();
    while let Some(t) = h[from].ep.poll_transmit() {
        seen.push(HipRepr::parse_bytes(&t.bytes).expect("our own packet parses"));
        let host = &mut h[to];
        let mut rng = std::mem::replace(&mut host.rng, netsim::Rng::new(0));
        host.ep.handle(
            now,
            Incoming {
                src: t.src,
                dst: t.dst,
                udp_port: t.udp_port,
                bytes: &t.bytes,
            },
            &mut |b: &mut [u8]| rng.fill(b),
        );
        host.rng = rng;
    }
    while let Some(e) = h[to].ep.poll_event() {
        h[to].events.push(e);
    }
    while let Some(e) = h[from].ep.poll_event() {
        h[from].events.push(e);
    }
    seen
}

/// (carries DIFFIE_HELLMAN, ESP_INFO KEYMAT index) of the one UPDATE in `p`.
fn update_shape(p: &[HipRepr]) -> (bool, Option<u16>) {
    let [u] = p else {
        panic!("expected one packet, got {}", p.len())
    };
    assert_eq!(u.packet_type, PacketType::Update);
    let index = match u.param(ParamType::EspInfo) {
        Some(ParamRepr::EspInfo(e)) => Some(e.keymat_index),
        _ => None,
    };
    (u.param(ParamType::DiffieHellman).is_some(), index)
}

fn rekeyed(h: &Host) -> Vec<EspParams> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Event::Rekeyed { esp, .. } => Some(esp.clone()),
            _ => None,
        })
        .collect()
}

fn inbound_ready(h: &Host) -> Vec<(u32, Vec<u8>)> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Event::InboundSaReady { spi, keys, .. } => Some((*spi, keys.enc.clone())),
            _ => None,
        })
        .collect()
}

/// AES-128-CBC + HMAC-SHA-1: 16 + 20 octets per direction.
const ESP_KEYS: u16 = 2 * (16 + 20);

/// Runs one rekey started by `starter` through its three UPDATEs and returns the
/// (DIFFIE_HELLMAN present, KEYMAT index) of each of the first two.
fn one_rekey(h: &mut [Host; 2], starter: usize, t: Instant) -> [(bool, Option<u16>); 2] {
    let (me, peer) = (h[starter].hit, h[1 - starter].hit);
    let mut rng = netsim::Rng::new(t.0);
    h[starter]
        .ep
        .rekey(t, me, peer, &mut |b: &mut [u8]| rng.fill(b))
        .expect("rekey starts");
    let first = update_shape(&deliver(h, starter, t));
    let second = update_shape(&deliver(h, 1 - starter, t));
    let third = deliver(h, starter, t);
    assert_eq!(third.len(), 1, "the final ACK");
    assert!(third[0].param(ParamType::EspInfo).is_none());
    [first, second]
}

fn assert_mirrored(h: &[Host; 2], n: usize) -> (EspParams, EspParams) {
    let (ra, rb) = (rekeyed(&h[0]), rekeyed(&h[1]));
    assert_eq!((ra.len(), rb.len()), (n, n), "rekeys completed");
    let (ra, rb) = (ra[n - 1].clone(), rb[n - 1].clone());
    assert_eq!(ra.spi_out, rb.spi_in);
    assert_eq!(ra.spi_in, rb.spi_out);
    assert_eq!(ra.keys_out, rb.keys_in);
    assert_eq!(ra.keys_in, rb.keys_out);
    assert_eq!(h[0].ep.state(h[0].hit, h[1].hit), State::Established);
    assert_eq!(h[1].ep.state(h[1].hit, h[0].hit), State::Established);
    // Each side's inbound SA was announced before the peer could send on it,
    // and the last announcement for the new SPI has the final keys (hipd keeps
    // an inbound SA added ahead of the rekey).
    for (x, r) in [(&h[0], &ra), (&h[1], &rb)] {
        let last = inbound_ready(x)
            .into_iter()
            .rev()
            .find(|(spi, _)| *spi == r.spi_in);
        assert_eq!(
            last,
            Some((r.spi_in, r.keys_in.enc.clone())),
            "early inbound SA"
        );
    }
    (ra, rb)
}

/// RFC 7402 section 6.8-6.10 with a new key on both sides: both UPDATEs carry
/// DIFFIE_HELLMAN and KEYMAT index 0; the new ESP keys are the first four keys
/// of a fresh KEYMAT (the Rekeyed ESP_INFO index after them is 2 x 36), differ
/// from the keys a continued KEYMAT would give, and a later rekey without a new
/// key continues in the fresh KEYMAT.
#[test]
fn new_dh_on_both_sides_draws_a_fresh_keymat() {
    for (version, group) in [
        (Version::V2, DhGroupId::NistP256),
        (Version::V2, DhGroupId::Curve25519),
        (Version::V1, DhGroupId::Modp1536),
    ] {
        let mut h = pair(version, group, [true, false], 40);
        let Some(Event::Established { esp: bex, .. }) = h[0].established().cloned() else {
            unreachable!()
        };
        let t = Instant(5_000_000_000);
        let shapes = one_rekey(&mut h, 0, t);
        assert_eq!(
            shapes,
            [(true, Some(0)), (true, Some(0))],
            "{version:?} {group:?}"
        );
        let (ra, _) = assert_mirrored(&h, 1);
        assert_eq!(
            ra.keymat_index, ESP_KEYS,
            "keys from index 0 of a new KEYMAT"
        );
        assert_ne!(ra.keys_out, bex.keys_out);
        // The continuation keys of the old KEYMAT (next index after the BEX's
        // ESP keys) would have been announced in InboundSaReady by a no-DH
        // rekey; a DH rekey announces the responder's inbound from the new KEYMAT.
        let ready = inbound_ready(&h[1]);
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].0, ra.spi_out);
        assert_eq!(
            ready[0].1, ra.keys_out.enc,
            "responder's early inbound SA = final keys"
        );

        // Host 1 (policy off) starts a plain rekey at the continuation index of
        // the fresh KEYMAT; host 0's policy answers with a new key, so a fresh
        // KEYMAT again, with host 1's current key standing in for its side.
        let shapes = one_rekey(&mut h, 1, Instant(6_000_000_000));
        assert_eq!(shapes, [(false, Some(ESP_KEYS)), (true, Some(0))]);
        let (ra2, _) = assert_mirrored(&h, 2);
        assert_eq!(ra2.keymat_index, ESP_KEYS);
        assert_ne!(ra2.keys_out, ra.keys_out);
        assert_eq!(h[0].ep.counters().dropped_total(), 0);
        assert_eq!(h[1].ep.counters().dropped_total(), 0);
        assert!(h.iter().all(|x| x.ep.counters().rekeyed_new_dh == 2));
    }
}

/// Only the answering side brings a new key, for each role of the base exchange
/// (the BEX responder's "existing key" is its R1 template key): both derive the
/// same fresh KEYMAT from (new key, existing key).
#[test]
fn only_one_new_key_uses_the_existing_key_of_the_other_side() {
    for starter in [0, 1] {
        let mut policy = [false, false];
        policy[1 - starter] = true;
        let mut h = pair(
            Version::V2,
            DhGroupId::NistP384,
            policy,
            50 + starter as u64,
        );
        let shapes = one_rekey(&mut h, starter, Instant(5_000_000_000));
        assert!(!shapes[0].0, "starter sends no new key");
        assert_eq!(shapes[1], (true, Some(0)), "answer brings one");
        let (ra, _) = assert_mirrored(&h, 1);
        assert_eq!(ra.keymat_index, ESP_KEYS);
        // The starter announced its inbound SA before the answer (continued
        // KEYMAT); the answer moved both to a fresh KEYMAT, so the final SAs
        // (Rekeyed, installed over the early one) are what counts.
        assert!(h.iter().all(|x| x.ep.counters().dropped_total() == 0));
    }
}

/// Neither side brings a new key: KEYMAT continues at the index both ESP_INFOs
/// carry (section 6.10 step 2), and the peer's early inbound SA has the final keys.
#[test]
fn without_new_keys_keymat_continues() {
    let mut h = pair(Version::V2, DhGroupId::NistP256, [false, false], 60);
    let Some(Event::Established { esp: bex, .. }) = h[0].established().cloned() else {
        unreachable!()
    };
    let next = bex.keymat_index + ESP_KEYS;
    let shapes = one_rekey(&mut h, 0, Instant(5_000_000_000));
    assert_eq!(shapes, [(false, Some(next)), (false, Some(next))]);
    let (ra, _) = assert_mirrored(&h, 1);
    assert_eq!(ra.keymat_index, next + ESP_KEYS);
    assert!(h.iter().all(|x| x.ep.counters().rekeyed_new_dh == 0));
    let early_a = inbound_ready(&h[0]);
    assert_eq!(early_a.len(), 1);
    assert_eq!(early_a[0], (ra.spi_in, ra.keys_in.enc.clone()));
}

/// A lost answer is retransmitted and the rekey with new keys still completes
/// once (the retransmitted UPDATE is answered with the same reply, whose DH
/// value is the one the keys were drawn with).
#[test]
fn new_dh_rekey_survives_loss() {
    let mut h = pair(Version::V2, DhGroupId::NistP256, [true, true], 70);
    let t = Instant(5_000_000_000);
    let (a, b) = (h[0].hit, h[1].hit);
    let mut rng = netsim::Rng::new(1);
    h[0].ep
        .rekey(t, a, b, &mut |x: &mut [u8]| rng.fill(x))
        .expect("rekey");
    let mut net = Net::new(
        7,
        Link {
            loss: 0.3,
            ..Link::PERFECT
        },
    );
    run(&mut h, &mut net, t, Duration::from_secs(120), |h| {
        h.iter().all(|x| !rekeyed(x).is_empty())
    });
    let (ra, rb) = (rekeyed(&h[0]), rekeyed(&h[1]));
    assert_eq!((ra.len(), rb.len()), (1, 1));
    assert_eq!(ra[0].keys_out, rb[0].keys_in);
    assert_eq!(ra[0].keys_in, rb[0].keys_out);
    assert_eq!(ra[0].keymat_index, ESP_KEYS);
    assert!(h
        .iter()
        .all(|x| x.ep.counters().dropped(DropReason::BadRekeyDh) == 0));
}
