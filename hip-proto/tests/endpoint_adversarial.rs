//! Hostile input against the endpoint (RFC 7401 sections 4.1.1, 6.1-6.15): each
//! attack is rejected with the right counter or NOTIFY, creates no state where
//! the RFC forbids it, and never panics.

mod harness;
mod netsim;

use harness::*;
use hip_proto::association::{Instant, State};
use hip_proto::crypto::hi::KeySpec;
use hip_proto::endpoint::negotiate::NegotiationError;
use hip_proto::endpoint::{Config, DropReason, Event, FailReason, Incoming, Transmit};
use hip_proto::registry::{DhGroupId, PacketType, Version};
use hip_proto::wire::{checksum, HipRepr, NotifyMessageType, Packet, ParamRepr, ParamType};
use hip_proto::Hit;
use proptest::prelude::*;

fn hosts(cfg_a: Config, cfg_b: Config) -> [Host; 2] {
    let [ka, kb] = keys(KeySpec::EcdsaP256);
    [
        Host::new(cfg_a, ka, Version::V2, locator(1), 1),
        Host::new(cfg_b, kb, Version::V2, locator(2), 2),
    ]
}

/// Hands a transmit to a host.
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

fn kind(t: &Transmit) -> PacketType {
    Packet::new_checked(&t.bytes[..]).unwrap().packet_type()
}

/// Runs I1 and R1; returns the I2 the initiator produced (not yet delivered).
fn up_to_i2(h: &mut [Host; 2], now: Instant) -> Transmit {
    let (a, b) = (h[0].hit, h[1].hit);
    h[0].ep
        .connect(now, a, b, locator(1), locator(2), None)
        .unwrap();
    let i1 = take(&mut h[0]).remove(0);
    deliver(&mut h[1], now, &i1);
    let r1 = take(&mut h[1]).remove(0);
    assert_eq!(kind(&r1), PacketType::R1);
    deliver(&mut h[0], now, &r1);
    let i2 = take(&mut h[0]).remove(0);
    assert_eq!(kind(&i2), PacketType::I2);
    i2
}

/// Full exchange; returns (I2, R2) as sent.
fn establish(h: &mut [Host; 2], now: Instant) -> (Transmit, Transmit) {
    let i2 = up_to_i2(h, now);
    deliver(&mut h[1], now, &i2);
    let r2 = take(&mut h[1]).remove(0);
    deliver(&mut h[0], now, &r2);
    take(&mut h[0]);
    assert_eq!(h[0].ep.state(h[0].hit, h[1].hit), State::Established);
    (i2, r2)
}

/// Flips one octet at `at` and repairs the checksum (so the check under test is reached).
fn tamper(t: &Transmit, at: usize) -> Transmit {
    let mut t = t.clone();
    t.bytes[at] ^= 0x55;
    checksum::fill(&mut t.bytes, t.src, t.dst);
    t
}

/// Offset of the contents of the first parameter of `ty`.
fn param_at(bytes: &[u8], ty: ParamType) -> usize {
    Packet::new_checked(bytes)
        .unwrap()
        .params()
        .map(Result::unwrap)
        .find(|p| p.param_type() == ty)
        .unwrap()
        .offset()
        + 4
}

#[test]
fn tampered_i2_mac_signature_or_puzzle_is_dropped_without_state() {
    let now = Instant(1_000_000_000);
    for (ty, reason) in [
        (ParamType::HipMac, DropReason::BadMac),
        (ParamType::HipSignature, DropReason::BadSignature),
        (ParamType::Solution, DropReason::BadPuzzle),
    ] {
        let mut h = hosts(Config::default(), Config::default());
        let i2 = up_to_i2(&mut h, now);
        // For SOLUTION, flip a byte of #I (after K, reserved and opaque): it is
        // then not derivable from the puzzle secret. (A flipped J still solves
        // K = 1 half of the time and then fails the HIP_MAC instead.)
        let at = param_at(&i2.bytes, ty) + if ty == ParamType::Solution { 4 + 3 } else { 5 };
        deliver(&mut h[1], now, &tamper(&i2, at));
        assert_eq!(h[1].ep.counters().dropped(reason), 1, "{ty:?}");
        assert_eq!(
            h[1].ep.state_count(),
            0,
            "{ty:?}: no state before a valid I2"
        );
        assert!(take(&mut h[1]).is_empty(), "{ty:?}: no answer");
        // The genuine I2 still works afterwards.
        deliver(&mut h[1], now, &i2);
        assert_eq!(h[1].ep.state(h[1].hit, h[0].hit), State::R2Sent);
    }
}

#[test]
fn replayed_i2_r2_and_update_are_not_reprocessed() {
    let now = Instant(1_000_000_000);
    let mut h = hosts(Config::default(), Config::default());
    let (i2, r2) = establish(&mut h, now);
    let (a, b) = (h[0].hit, h[1].hit);
    let est_b = h[1].ep.counters().established;
    // I2 again: the same R2 again (RFC 7401 section 6.9), no second association.
    deliver(&mut h[1], now, &i2);
    let again = take(&mut h[1]);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].bytes, r2.bytes, "the stored R2 is re-sent");
    assert_eq!(h[1].ep.counters().i2_resent, 1);
    assert_eq!(h[1].ep.counters().established, est_b);
    assert_eq!(h[1].ep.state_count(), 1);
    // R2 again at the initiator: replay.
    deliver(&mut h[0], now, &r2);
    assert_eq!(h[0].ep.counters().dropped(DropReason::Replay), 1);
    assert!(take(&mut h[0]).is_empty());
    // UPDATE: processed once; a replay gets the same reply and no new rekey.
    let mut r = netsim::Rng::new(5);
    h[0].ep
        .rekey(now, a, b, &mut |x: &mut [u8]| r.fill(x))
        .unwrap();
    let upd = take(&mut h[0]).remove(0);
    deliver(&mut h[1], now, &upd);
    let reply = take(&mut h[1]);
    assert_eq!(reply.len(), 1);
    deliver(&mut h[1], now, &upd);
    let reply2 = take(&mut h[1]);
    assert_eq!(reply2.len(), 1);
    assert_eq!(
        reply2[0].bytes, reply[0].bytes,
        "same reply, not a new rekey"
    );
    assert_eq!(h[1].ep.counters().update_resent, 1);
    // Finish the rekey, then replay the first UPDATE once more: stale SEQ.
    deliver(&mut h[0], now, &reply[0]);
    let ack = take(&mut h[0]);
    deliver(&mut h[1], now, &ack[0]);
    take(&mut h[1]);
    assert_eq!(h[1].ep.counters().rekeyed, 1);
    assert_eq!(h[0].ep.counters().rekeyed, 1);
    deliver(&mut h[1], now, &upd);
    assert_eq!(h[1].ep.counters().rekeyed, 1, "a replay never rekeys again");
}

/// The responder keeps its R2 for a retransmitted I2 only until the peer shows
/// it has it (its first ESP): an I2 copy after that is a replay, and the
/// association does not carry the R2 for the rest of its life.
#[test]
fn the_r2_is_kept_until_the_peer_sends_esp() {
    let now = Instant(1_000_000_000);
    let mut h = hosts(Config::default(), Config::default());
    let (i2, r2) = establish(&mut h, now);
    let (a, b) = (h[0].hit, h[1].hit);
    deliver(&mut h[1], now, &i2);
    assert_eq!(
        take(&mut h[1])[0].bytes,
        r2.bytes,
        "R2 re-sent before any ESP"
    );
    h[1].ep.data_received(now, b, a);
    assert_eq!(h[1].ep.state(b, a), State::Established);
    deliver(&mut h[1], now, &i2);
    assert!(take(&mut h[1]).is_empty(), "no R2 once the peer sent ESP");
    assert_eq!(h[1].ep.counters().dropped(DropReason::I2Replayed), 1);
    assert_eq!(h[1].ep.counters().i2_resent, 1);
    assert_eq!(
        h[1].ep.state(b, a),
        State::Established,
        "association untouched"
    );
}

/// Without any word from the peer the R2 is kept for a retransmitted I2 for
/// a minute (association::context::R2_KEPT_FOR), then dropped.
#[test]
fn the_r2_is_dropped_a_minute_after_an_idle_exchange() {
    let now = Instant(1_000_000_000);
    let mut h = hosts(Config::default(), Config::default());
    let (i2, r2) = establish(&mut h, now);
    let (a, b) = (h[0].hit, h[1].hit);
    let mut r = netsim::Rng::new(6);
    let at = |s| now + hip_proto::association::Duration::from_secs(s);
    h[1].ep
        .handle_timeout(at(30), &mut |x: &mut [u8]| r.fill(x));
    take(&mut h[1]);
    deliver(&mut h[1], at(30), &i2);
    assert_eq!(take(&mut h[1])[0].bytes, r2.bytes, "kept after 30 s");
    let due = h[1].ep.poll_timeout().expect("a deadline");
    assert!(due <= at(61), "the drop is scheduled");
    h[1].ep
        .handle_timeout(at(61), &mut |x: &mut [u8]| r.fill(x));
    take(&mut h[1]);
    deliver(&mut h[1], at(61), &i2);
    assert!(take(&mut h[1]).is_empty(), "dropped after a minute");
    assert_eq!(h[1].ep.counters().dropped(DropReason::I2Replayed), 1);
    assert_eq!(h[1].ep.state(b, a), State::Established);
}

#[test]
fn downgraded_dh_group_list_in_i1_is_detected_from_the_signed_r1() {
    let now = Instant(1_000_000_000);
    let cfg = Config {
        dh_groups: vec![DhGroupId::NistP256, DhGroupId::Modp2048],
        ..Config::default()
    };
    let mut h = hosts(cfg.clone(), cfg);
    let (a, b) = (h[0].hit, h[1].hit);
    h[0].ep
        .connect(now, a, b, locator(1), locator(2), None)
        .unwrap();
    let mut i1 = take(&mut h[0]).remove(0);
    // An attacker on the path strips the strong group from the unprotected I1.
    let mut repr = HipRepr::parse_bytes(&i1.bytes).unwrap();
    repr.params = vec![ParamRepr::DhGroupList(vec![DhGroupId::Modp2048])];
    i1.bytes = repr.to_bytes_with_checksum(i1.src, i1.dst).unwrap();
    deliver(&mut h[1], now, &i1);
    let r1 = take(&mut h[1]).remove(0);
    deliver(&mut h[0], now, &r1);
    let out = take(&mut h[0]);
    assert_eq!(out.len(), 1, "a NOTIFY, no I2");
    let n = HipRepr::parse_bytes(&out[0].bytes).unwrap();
    assert_eq!(n.packet_type, PacketType::Notify);
    let Some(ParamRepr::Notification(note)) = n.param(ParamType::Notification) else {
        panic!("no NOTIFICATION")
    };
    assert_eq!(note.msg_type, NotifyMessageType::InvalidDhChosen);
    assert_eq!(h[0].ep.state(a, b), State::EFailed);
    assert!(h[0].events.iter().any(|e| matches!(
        e,
        Event::Failed {
            reason: FailReason::Negotiation(NegotiationError::DhDowngrade { .. }),
            ..
        }
    )));
    // The responder reports the NOTIFY and keeps no state.
    deliver(&mut h[1], now, &out[0]);
    take(&mut h[1]);
    assert!(h[1].events.iter().any(|e| matches!(
        e,
        Event::Notified {
            code: NotifyMessageType::InvalidDhChosen,
            ..
        }
    )));
    assert_eq!(h[1].ep.state_count(), 0);
}

#[test]
fn nothing_acceptable_fails_cleanly_with_notify() {
    let now = Instant(1_000_000_000);
    let a_cfg = Config {
        esp_transforms: vec![hip_proto::registry::EspTransformId::AesGcm16],
        ..Config::default()
    };
    let b_cfg = Config {
        esp_transforms: vec![hip_proto::registry::EspTransformId::Aes128CbcHmacSha256],
        ..Config::default()
    };
    let mut h = hosts(a_cfg, b_cfg);
    let (a, b) = (h[0].hit, h[1].hit);
    h[0].ep
        .connect(now, a, b, locator(1), locator(2), None)
        .unwrap();
    let i1 = take(&mut h[0]).remove(0);
    deliver(&mut h[1], now, &i1);
    let r1 = take(&mut h[1]).remove(0);
    deliver(&mut h[0], now, &r1);
    let out = take(&mut h[0]);
    let n = HipRepr::parse_bytes(&out[0].bytes).unwrap();
    let Some(ParamRepr::Notification(note)) = n.param(ParamType::Notification) else {
        panic!("no NOTIFICATION")
    };
    assert_eq!(note.msg_type, NotifyMessageType::NoEspProposalChosen);
    assert_eq!(h[0].ep.state(a, b), State::EFailed);
}

#[test]
fn i1_flood_creates_no_state_and_signs_once() {
    let now = Instant(1_000_000_000);
    let mut h = hosts(Config::default(), Config::default());
    let b = h[1].hit;
    let mut rng = netsim::Rng::new(77);
    // One I1 a millisecond from 250 sources (20 each, within the default R1
    // budget per destination; 1,000 a second, within the endpoint-wide one).
    for n in 0..5_000u32 {
        let now = now + hip_proto::association::Duration::from_millis(u64::from(n));
        let mut hit = [0u8; 16];
        rng.fill(&mut hit);
        hit[..4].copy_from_slice(&[0x20, 0x01, 0x00, 0x22]);
        let mut i1 = HipRepr::new(PacketType::I1, Version::V2, Hit(hit), b);
        i1.params
            .push(ParamRepr::DhGroupList(vec![DhGroupId::NistP256]));
        let src = std::net::IpAddr::from([192, 0, 2, (n % 250) as u8 + 1]);
        let dst = locator(2);
        let t = Transmit {
            src,
            dst,
            udp_port: None,
            bytes: i1.to_bytes_with_checksum(src, dst).unwrap(),
        };
        deliver(&mut h[1], now, &t);
        let r1 = take(&mut h[1]);
        assert_eq!(r1.len(), 1);
    }
    let c = h[1].ep.counters();
    assert_eq!(c.r1_sent, 5_000);
    assert_eq!(c.r1_signed, 1, "R1 signed once per generation, not per I1");
    assert_eq!(h[1].ep.state_count(), 0, "no per-peer state from I1s");
}

#[test]
fn close_from_a_non_peer_or_with_a_forged_mac_is_dropped() {
    let now = Instant(1_000_000_000);
    let mut h = hosts(Config::default(), Config::default());
    establish(&mut h, now);
    let (a, b) = (h[0].hit, h[1].hit);
    // A genuine CLOSE from A, then made to look as if it came from a third HIT.
    let mut r = netsim::Rng::new(8);
    assert!(h[0].ep.close(now, a, b, &mut |x: &mut [u8]| r.fill(x)));
    let close = take(&mut h[0]).remove(0);
    let mut stranger = close.clone();
    stranger.bytes[8..24].copy_from_slice(&[0x20, 1, 0, 0x22, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]);
    checksum::fill(&mut stranger.bytes, stranger.src, stranger.dst);
    deliver(&mut h[1], now, &stranger);
    assert_eq!(h[1].ep.counters().dropped(DropReason::NotPeer), 1);
    // The peer's HIT with a broken MAC.
    let at = param_at(&close.bytes, ParamType::HipMac) + 3;
    deliver(&mut h[1], now, &tamper(&close, at));
    assert_eq!(h[1].ep.counters().dropped(DropReason::BadMac), 1);
    assert_eq!(h[1].ep.state(b, a), State::R2Sent, "still up (no ESP yet)");
    // The genuine CLOSE closes.
    deliver(&mut h[1], now, &close);
    assert_eq!(h[1].ep.state(b, a), State::Closed);
}

/// Packets of one complete exchange (I1, R1, I2, R2), as sent.
fn exchange_packets() -> Vec<Transmit> {
    let now = Instant(1_000_000_000);
    let mut h = hosts(Config::default(), Config::default());
    let (a, b) = (h[0].hit, h[1].hit);
    h[0].ep
        .connect(now, a, b, locator(1), locator(2), None)
        .unwrap();
    let mut all = Vec::new();
    let i1 = take(&mut h[0]).remove(0);
    deliver(&mut h[1], now, &i1);
    let r1 = take(&mut h[1]).remove(0);
    deliver(&mut h[0], now, &r1);
    let i2 = take(&mut h[0]).remove(0);
    deliver(&mut h[1], now, &i2);
    let r2 = take(&mut h[1]).remove(0);
    all.extend([i1, r1, i2, r2]);
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random bytes and mutated real packets never panic an endpoint and never
    /// establish an association (both a fresh responder and an initiator in
    /// I1-SENT are fed).
    #[test]
    fn mutated_and_random_packets_never_establish(
        which in 0usize..4,
        flips in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..4),
        junk in proptest::collection::vec(any::<u8>(), 0..600),
        fix_checksum in any::<bool>(),
    ) {
        static PKTS: std::sync::OnceLock<Vec<Transmit>> = std::sync::OnceLock::new();
        let pkts = PKTS.get_or_init(exchange_packets);
        let now = Instant(1_000_000_000);
        let mut h = hosts(Config::default(), Config::default());
        let (a, b) = (h[0].hit, h[1].hit);
        h[0].ep.connect(now, a, b, locator(1), locator(2), None).unwrap();
        take(&mut h[0]);
        let mut m = pkts[which].clone();
        for (at, x) in &flips {
            let i = at % m.bytes.len();
            m.bytes[i] ^= x;
        }
        prop_assume!(m.bytes != pkts[which].bytes);
        if fix_checksum {
            checksum::fill(&mut m.bytes, m.src, m.dst);
        }
        let r = Transmit { bytes: junk, ..m.clone() };
        for t in [&m, &r] {
            deliver(&mut h[1], now, t);
            deliver(&mut h[0], now, t);
            take(&mut h[0]);
            take(&mut h[1]);
        }
        for x in &h {
            let established = x.events.iter().any(|e| matches!(e, Event::Established { .. }));
            prop_assert!(!established, "a mutated packet established an association");
        }
        prop_assert!(h[1].ep.state_count() <= 1);
    }
}

/// An I1 from `hit` to `to` with `extra` after DH_GROUP_LIST, from `src`.
fn i1_with(hit: Hit, to: Hit, extra: Option<ParamRepr>, src: std::net::IpAddr) -> Transmit {
    let mut i1 = HipRepr::new(PacketType::I1, Version::V2, hit, to);
    i1.params
        .push(ParamRepr::DhGroupList(vec![DhGroupId::NistP256]));
    i1.params.extend(extra);
    let dst = locator(2);
    Transmit {
        src,
        dst,
        udp_port: None,
        bytes: i1.to_bytes_with_checksum(src, dst).unwrap(),
    }
}

#[test]
fn unknown_critical_parameter_is_refused_with_a_rate_limited_notify() {
    let now = Instant(1_000_000_000);
    let mut h = hosts(Config::default(), Config::default());
    let (a, b) = (h[0].hit, h[1].hit);
    let unknown = |ty: u16| {
        Some(ParamRepr::Unknown {
            ty,
            contents: vec![7; 5],
        })
    };
    // Critical (lowest bit set), unknown: dropped, answered with NOTIFY
    // UNSUPPORTED_CRITICAL_PARAMETER_TYPE carrying the type (RFC 7401 5.2.1, 5.2.19).
    deliver(&mut h[1], now, &i1_with(a, b, unknown(1001), locator(1)));
    let out = take(&mut h[1]);
    assert_eq!(out.len(), 1, "one answer, and no R1");
    assert_eq!(out[0].dst, locator(1));
    let n = HipRepr::parse_bytes(&out[0].bytes).unwrap();
    assert_eq!(n.packet_type, PacketType::Notify);
    assert_eq!((n.sender_hit, n.receiver_hit), (b, a));
    assert!(
        checksum::verify(&out[0].bytes, out[0].src, out[0].dst),
        "checksum for the path"
    );
    let Some(ParamRepr::Notification(note)) = n.param(ParamType::Notification) else {
        panic!("no NOTIFICATION")
    };
    assert_eq!(
        note.msg_type,
        NotifyMessageType::UnsupportedCriticalParameterType
    );
    assert_eq!(note.data, 1001u16.to_be_bytes());
    assert!(
        n.param(ParamType::HipSignature).is_none(),
        "no state, no signature"
    );
    let c = h[1].ep.counters();
    assert_eq!(c.dropped(DropReason::UnknownCriticalParam), 1);
    assert_eq!(c.notify_sent, 1);
    assert_eq!((c.r1_sent, h[1].ep.state_count()), (0, 0));
    // The initiator reports it (unauthenticated: no HI known yet).
    deliver(&mut h[0], now, &out[0]);
    take(&mut h[0]);
    assert!(h[0].events.iter().any(|e| matches!(
        e,
        Event::Notified {
            code: NotifyMessageType::UnsupportedCriticalParameterType,
            authenticated: false,
            ..
        }
    )));

    // Unknown but not critical: ignored, the I1 gets its R1.
    deliver(&mut h[1], now, &i1_with(a, b, unknown(1000), locator(1)));
    let out = take(&mut h[1]);
    assert_eq!(out.len(), 1);
    assert_eq!(kind(&out[0]), PacketType::R1);

    // One sender repeating the I1: the answers stop at the burst, then come
    // back at the configured rate; every packet is still counted as dropped.
    let burst = Config::default().unsolicited_notify.burst as usize;
    let bad = i1_with(a, b, unknown(1001), locator(1));
    let mut answers = 0;
    for _ in 0..1000 {
        deliver(&mut h[1], now, &bad);
        answers += take(&mut h[1]).len();
    }
    assert_eq!(answers, burst - 1, "the first NOTIFY used one token");
    let c = h[1].ep.counters();
    assert_eq!(c.dropped(DropReason::UnknownCriticalParam), 1001);
    assert_eq!(c.notify_rate_limited, 1000 - (burst as u64 - 1));
    let later = now + Config::default().unsolicited_notify.per_token;
    deliver(&mut h[1], later, &bad);
    assert_eq!(take(&mut h[1]).len(), 1, "one token earned back");
    // A NOTIFY with an unknown critical parameter is never answered.
    let mut notify = HipRepr::new(PacketType::Notify, Version::V2, a, b);
    notify.params.extend(unknown(1001));
    let t = Transmit {
        bytes: notify
            .to_bytes_with_checksum(locator(1), locator(2))
            .unwrap(),
        ..bad.clone()
    };
    deliver(
        &mut h[1],
        later + Config::default().unsolicited_notify.per_token * 20,
        &t,
    );
    assert!(take(&mut h[1]).is_empty());
}

/// Delivers `i1` to the responder at `at`; whether it answered with an R1.
fn r1_for(h: &mut Host, at: Instant, i1: &Transmit) -> bool {
    deliver(h, at, i1);
    let out = take(h);
    assert!(out.len() <= 1);
    out.first().is_some_and(|t| {
        assert_eq!((kind(t), t.dst), (PacketType::R1, i1.src));
        true
    })
}

/// RFC 7401 sections 4.1.1 and 5.4: R1s (about 430 octets for a 56-octet I1
/// with a forgeable source) toward one address are limited to the burst plus
/// the rate over the time of the flood; other addresses are served meanwhile
/// and the flooded one again once the flood stops.
#[test]
fn r1s_toward_one_address_are_rate_limited() {
    use hip_proto::association::Duration;
    let t0 = Instant(1_000_000_000);
    let mut h = hosts(Config::default(), Config::default());
    let (a, b) = (h[0].hit, h[1].hit);
    let limit = Config::default()
        .r1_per_destination
        .expect("a default limit");
    let victim = locator(9);
    let flood = i1_with(a, b, None, victim);
    let other = i1_with(a, b, None, locator(1));
    let (mut served, mut other_served) = (0u64, 0);
    // 10,000 I1s "from" the victim over 10 s of virtual time, and one from
    // another address every 500 ms.
    let (n, step) = (10_000u64, Duration::from_millis(1));
    for k in 0..n {
        let at = t0 + step * k as u32;
        served += u64::from(r1_for(&mut h[1], at, &flood));
        if k % 500 == 0 {
            assert!(r1_for(&mut h[1], at, &other), "another address at {k} ms");
            other_served += 1;
        }
    }
    let span = step * (n - 1) as u32;
    let most = u64::from(limit.burst) + (span.as_nanos() / limit.per_token.as_nanos()) as u64;
    assert!(served <= most, "{served} R1s, at most {most}");
    assert!(
        served + 2 >= most,
        "{served} R1s: the rate is served, {most}"
    );
    let c = h[1].ep.counters();
    assert_eq!(c.r1_sent, served + other_served);
    assert_eq!(c.r1_rate_limited, n - served);
    assert_eq!(c.dropped(DropReason::R1RateLimited), n - served);
    assert_eq!(h[1].ep.state_count(), 0);
    // The flood stops; a second later the address gets R1s again.
    let after = t0 + span + Duration::from_secs(1);
    assert!(
        r1_for(&mut h[1], after, &flood),
        "served again after the flood"
    );
}

/// The endpoint-wide cap bounds a flood spread over many source addresses,
/// each of which stays within its own budget.
#[test]
fn the_endpoint_wide_r1_cap_holds_with_many_sources() {
    use hip_proto::association::Duration;
    use hip_proto::endpoint::RateLimit;
    let t0 = Instant(1_000_000_000);
    let src =
        |k: u32| std::net::IpAddr::from([0x2001, 0xdb8, 1, 0, 0, 0, (k >> 16) as u16, k as u16]);
    for (global, n, step) in [
        // A small cap: 100 at once, then 1,000 a second, 20,000 I1s over 2 s.
        (
            RateLimit {
                burst: 100,
                per_token: Duration::from_millis(1),
            },
            20_000u32,
            Duration::from_micros(100),
        ),
        // The default: 12,000 I1s within 120 ms.
        (
            Config::default().r1_global.expect("a default cap"),
            12_000,
            Duration::from_micros(10),
        ),
    ] {
        let b_cfg = Config {
            r1_global: Some(global),
            ..Config::default()
        };
        let mut h = hosts(Config::default(), b_cfg);
        let (a, b) = (h[0].hit, h[1].hit);
        let mut served = 0u64;
        for k in 0..n {
            let i1 = i1_with(a, b, None, src(k));
            served += u64::from(r1_for(&mut h[1], t0 + step * k, &i1));
        }
        let span = step * (n - 1);
        let most = u64::from(global.burst) + (span.as_nanos() / global.per_token.as_nanos()) as u64;
        assert!(served <= most, "{served} R1s, at most {most}");
        assert!(
            served + 2 >= most,
            "{served} R1s, the cap is served: {most}"
        );
        let c = h[1].ep.counters();
        assert_eq!(c.r1_rate_limited, u64::from(n) - served);
        assert_eq!(h[1].ep.state_count(), 0);
    }
}

/// A copy of `t` as if sent from `src` (checksum repaired: an on-path
/// replayer can always do that).
fn from_addr(t: &Transmit, src: std::net::IpAddr) -> Transmit {
    let mut t = t.clone();
    t.src = src;
    checksum::fill(&mut t.bytes, t.src, t.dst);
    t
}

/// The responder's view of its association with the initiator.
fn peer_locator_at_b(h: &[Host; 2]) -> std::net::IpAddr {
    let info = h[1].ep.associations();
    assert_eq!(info.len(), 1);
    info[0].peer_locator
}

#[test]
fn replayed_i2_is_refused_and_counted_in_every_state() {
    let now = Instant(1_000_000_000);
    let attacker = locator(9);
    // Short lingers, so that CLOSED ends well within the puzzle's lifetime.
    let b_cfg = Config {
        ual: hip_proto::association::Duration::from_secs(10),
        msl: hip_proto::association::Duration::from_secs(5),
        ..Config::default()
    };
    let replayed = |h: &[Host; 2]| h[1].ep.counters().dropped(DropReason::I2Replayed);

    // R2-SENT: a copy from elsewhere gets no R2 and moves nothing.
    let mut h = hosts(Config::default(), b_cfg.clone());
    let (a, b) = (h[0].hit, h[1].hit);
    let (i2, _) = establish(&mut h, now);
    assert_eq!(h[1].ep.state(b, a), State::R2Sent);
    deliver(&mut h[1], now, &from_addr(&i2, attacker));
    assert!(take(&mut h[1]).is_empty(), "R2-SENT: no R2 to the replayer");
    assert_eq!(replayed(&h), 1);
    assert_eq!(h[1].ep.state(b, a), State::R2Sent);
    assert_eq!(peer_locator_at_b(&h), locator(1));

    // ESTABLISHED (by the R2-SENT timer: no ESP from the peer yet): the
    // same. From the peer's own locator it is a retransmission (its R2 was
    // lost): the stored R2 again (section 6.9).
    let mut r = netsim::Rng::new(4);
    let now = now + hip_proto::association::Duration::from_secs(3);
    h[1].ep.handle_timeout(now, &mut |x: &mut [u8]| r.fill(x));
    assert!(take(&mut h[1]).is_empty());
    assert_eq!(h[1].ep.state(b, a), State::Established);
    deliver(&mut h[1], now, &from_addr(&i2, attacker));
    assert!(
        take(&mut h[1]).is_empty(),
        "ESTABLISHED: no R2 to the replayer"
    );
    assert_eq!(replayed(&h), 2);
    assert_eq!(h[1].ep.state(b, a), State::Established);
    assert_eq!(peer_locator_at_b(&h), locator(1));
    deliver(&mut h[1], now, &i2);
    assert_eq!(take(&mut h[1]).len(), 1, "retransmission answered");
    assert_eq!(h[1].ep.counters().i2_resent, 1);

    // After CLOSE (CLOSED, then no state once the linger ends): refused from
    // anywhere, no R2, no new association.
    let mut r = netsim::Rng::new(3);
    assert!(h[0].ep.close(now, a, b, &mut |x: &mut [u8]| r.fill(x)));
    let close = take(&mut h[0]).remove(0);
    deliver(&mut h[1], now, &close);
    let ack = take(&mut h[1]).remove(0);
    deliver(&mut h[0], now, &ack);
    take(&mut h[0]);
    assert_eq!(h[1].ep.state(b, a), State::Closed);
    for src in [attacker, locator(1)] {
        deliver(&mut h[1], now, &from_addr(&i2, src));
        assert!(take(&mut h[1]).is_empty(), "CLOSED: no R2");
    }
    assert_eq!(replayed(&h), 4);
    assert_eq!(h[1].ep.state(b, a), State::Closed);
    let end = h[1].ep.poll_timeout().expect("CLOSED linger");
    assert!(end < now + hip_proto::association::Duration::from_secs(60));
    let mut r = netsim::Rng::new(4);
    h[1].ep.handle_timeout(end, &mut |x: &mut [u8]| r.fill(x));
    take(&mut h[1]);
    assert_eq!(h[1].ep.state_count(), 0);
    for src in [attacker, locator(1)] {
        deliver(&mut h[1], end, &from_addr(&i2, src));
        assert!(take(&mut h[1]).is_empty(), "no state: no R2");
        assert_eq!(h[1].ep.state_count(), 0, "no association from a replay");
    }
    assert_eq!(replayed(&h), 6);

    // No state after a reset (`hipconf rst`): the same.
    let mut h = hosts(Config::default(), Config::default());
    let (i2, _) = establish(&mut h, now);
    h[1].ep.reset(None);
    take(&mut h[1]);
    deliver(&mut h[1], now, &from_addr(&i2, attacker));
    assert!(take(&mut h[1]).is_empty());
    assert_eq!(h[1].ep.state_count(), 0);
    assert_eq!(replayed(&h), 1);
    assert_eq!(h[1].ep.counters().established, 1);
}

#[test]
fn a_fresh_exchange_after_close_or_reset_is_accepted_in_the_same_generation() {
    let now = Instant(1_000_000_000);
    let mut h = hosts(Config::default(), Config::default());
    let (a, b) = (h[0].hit, h[1].hit);
    let (first, _) = establish(&mut h, now);
    // CLOSE, then the same initiator runs the exchange again: the R1 comes from
    // the same generation (same #I), the new I2 has a new J and DH key.
    let mut r = netsim::Rng::new(3);
    assert!(h[0].ep.close(now, a, b, &mut |x: &mut [u8]| r.fill(x)));
    let close = take(&mut h[0]).remove(0);
    deliver(&mut h[1], now, &close);
    let ack = take(&mut h[1]).remove(0);
    deliver(&mut h[0], now, &ack);
    take(&mut h[0]);
    let (second, _) = establish(&mut h, now);
    assert_eq!(h[1].ep.state(b, a), State::R2Sent);
    let sol = |t: &Transmit| match HipRepr::parse_bytes(&t.bytes)
        .unwrap()
        .param(ParamType::Solution)
    {
        Some(ParamRepr::Solution(s)) => s.clone(),
        _ => panic!("no SOLUTION"),
    };
    assert_eq!(sol(&first).i, sol(&second).i, "same generation, same #I");
    // Both sides reset, a third run.
    h[0].ep.reset(None);
    h[1].ep.reset(None);
    take(&mut h[0]);
    take(&mut h[1]);
    establish(&mut h, now);
    assert_eq!(h[1].ep.counters().established, 3);
    assert_eq!(h[1].ep.counters().dropped_total(), 0);
}

/// A storm of genuine I2s within one R1 generation: the spent set rotates
/// early at three quarters full, so the I2s under way still fit in the old
/// generation's last quarter and new R1s start a fresh one; only I2s beyond
/// the old set's capacity are refused.
#[test]
fn a_crowded_spent_set_rotates_early_and_a_full_one_refuses() {
    let now = Instant(1_000_000_000);
    let b_cfg = Config {
        spent_puzzle_capacity: 4,
        ..Config::default()
    };
    let mut h = hosts(Config::default(), b_cfg);
    let (a, b) = (h[0].hit, h[1].hit);
    // Six I2s answering R1s of one generation, each a fresh run (new J and
    // DH key) of the same initiator.
    let mut i2s = Vec::new();
    for _ in 0..6 {
        i2s.push(up_to_i2(&mut h, now));
        h[0].ep.reset(None);
        take(&mut h[0]);
    }
    let generation = |t: &Transmit| match HipRepr::parse_bytes(&t.bytes)
        .unwrap()
        .param(ParamType::Solution)
    {
        Some(ParamRepr::Solution(s)) => s.opaque,
        _ => panic!("no SOLUTION"),
    };
    assert!(i2s.iter().all(|t| generation(t) == generation(&i2s[0])));
    // Three fill the set to 3/4 (rotation), the fourth still fits in the old
    // generation's set, the fifth and sixth do not.
    for (n, i2) in i2s.iter().enumerate() {
        deliver(&mut h[1], now, i2);
        let answer = take(&mut h[1]);
        assert_eq!(answer.len(), usize::from(n < 4), "I2 #{n}");
    }
    assert_eq!(h[1].ep.counters().dropped(DropReason::I2SpentSetFull), 2);
    assert_eq!(h[1].ep.state(b, a), State::R2Sent);
    // New R1s come from the fresh generation, before the rotation timer.
    let i2 = up_to_i2(&mut h, now);
    assert_ne!(generation(&i2), generation(&i2s[0]), "rotated early");
    deliver(&mut h[1], now, &i2);
    assert_eq!(take(&mut h[1]).len(), 1, "R2");
}

/// Established hosts; then A loses its state and runs the exchange again
/// from `moved`. Returns the R1-answering I2 (not delivered) and B's
/// outbound SPI before.
fn restart_a_at(moved: std::net::IpAddr, now: Instant) -> ([Host; 2], Transmit, u32) {
    let mut h = hosts(Config::default(), Config::default());
    let (a, b) = (h[0].hit, h[1].hit);
    establish(&mut h, now);
    h[1].ep.data_received(now, b, a);
    take(&mut h[1]);
    let spi_before = h[1].ep.associations()[0].spi_out;
    h[0].ep.reset(None);
    take(&mut h[0]);
    h[0].ep.connect(now, a, b, moved, locator(2), None).unwrap();
    let i1 = take(&mut h[0]).remove(0);
    deliver(&mut h[1], now, &i1);
    let r1 = take(&mut h[1]).remove(0);
    assert_eq!(r1.dst, moved);
    assert_eq!(
        h[1].ep.state(b, a),
        State::Established,
        "an I1 changes nothing"
    );
    deliver(&mut h[0], now, &r1);
    let i2 = take(&mut h[0]).remove(0);
    (h, i2, spi_before)
}

/// RFC 7401 section 4.4.2 / 6.9: a valid I2 in ESTABLISHED means the peer lost
/// its state; only the peer can send one (a fresh puzzle solution signed with
/// its Host Identity), but from any address, so it could point our traffic at
/// a third host. The new association is made at once (new SPIs, R2 to the
/// I2's source) but keeps the old, verified locator; the I2's source is
/// verified with ECHO_REQUEST_SIGNED (RFC 8046 section 5.4) and traffic moves
/// there only with the peer's answer (LocatorChanged).
#[test]
fn a_new_i2_in_established_from_another_locator_moves_traffic_only_after_verification() {
    let now = Instant(1_000_000_000);
    let moved = locator(3);
    let (mut h, i2, spi_before) = restart_a_at(moved, now);
    let (a, b) = (h[0].hit, h[1].hit);
    let events_before = h[1].events.len();
    deliver(&mut h[1], now, &i2);
    let out = take(&mut h[1]);
    let kinds: Vec<_> = out.iter().map(|t| (kind(t), t.dst)).collect();
    assert_eq!(
        kinds,
        [(PacketType::R2, moved), (PacketType::Update, moved)],
        "R2 and an address check to the I2's source"
    );
    let check = HipRepr::parse_bytes(&out[1].bytes).unwrap();
    assert!(check.param(ParamType::EchoRequestSigned).is_some());
    assert_eq!(h[1].ep.state(b, a), State::R2Sent);
    let info = h[1].ep.associations()[0].clone();
    assert_eq!(
        info.peer_locator,
        locator(1),
        "traffic stays on the verified locator"
    );
    assert_eq!(info.verifying, Some(moved));
    assert_ne!(info.spi_out, spi_before, "new SAs at once");
    let events: Vec<_> = h[1].events[events_before..].to_vec();
    assert!(
        matches!(
            &events[..],
            [
                Event::Established { peer_locator, esp, .. },
                Event::LocatorUnverified { locator: checked, .. },
            ] if *peer_locator == locator(1) && *checked == moved && esp.spi_out == info.spi_out
        ),
        "{events:?}"
    );
    // A copy of the I2 from yet another address changes nothing; the peer's
    // retransmission from the new address gets the R2 again.
    deliver(&mut h[1], now, &from_addr(&i2, locator(9)));
    assert!(take(&mut h[1]).is_empty());
    deliver(&mut h[1], now, &i2);
    let again = take(&mut h[1]);
    assert_eq!((again.len(), again[0].dst), (1, moved));
    assert_eq!(h[1].ep.counters().i2_resent, 1);
    assert_eq!(peer_locator_at_b(&h), locator(1));
    // The peer answers at the new address: now the traffic moves.
    deliver(&mut h[0], now, &out[0]);
    deliver(&mut h[0], now, &out[1]);
    let reply = take(&mut h[0]);
    assert_eq!(h[0].ep.state(a, b), State::Established);
    assert_keys_match(&h[0], &h[1]);
    assert_eq!(reply.len(), 1);
    deliver(&mut h[1], now, &reply[0]);
    take(&mut h[1]);
    assert_eq!(h[1].ep.state(b, a), State::Established);
    let info = &h[1].ep.associations()[0];
    assert_eq!((info.peer_locator, info.verifying), (moved, None));
    assert_eq!(
        h[1].events.last(),
        Some(&Event::LocatorChanged {
            peer_hit: a,
            locator: moved
        })
    );
    assert_eq!(h[1].ep.counters().locator_changes, 1);
}

/// The same with an I2 whose source is a third host that never answers: it
/// gets the R2 and a few address checks, and our traffic never goes there.
#[test]
fn a_new_i2_from_an_address_that_never_answers_never_gets_the_traffic() {
    let now = Instant(1_000_000_000);
    let victim = locator(7);
    let (mut h, i2, _) = restart_a_at(locator(3), now);
    let (a, b) = (h[0].hit, h[1].hit);
    deliver(&mut h[1], now, &from_addr(&i2, victim));
    let mut to_victim = take(&mut h[1]).len();
    let mut t = now;
    while let Some(next) = h[1].ep.poll_timeout() {
        if next > now + hip_proto::association::Duration::from_secs(120) {
            break;
        }
        t = next;
        let mut r = netsim::Rng::new(t.0);
        h[1].ep.handle_timeout(t, &mut |x: &mut [u8]| r.fill(x));
        for x in take(&mut h[1]) {
            assert_eq!(x.dst, victim, "nothing else is sent");
            to_victim += 1;
        }
    }
    assert!(to_victim <= 10, "{to_victim} packets to the victim");
    assert!(t > now, "the address check was retransmitted and given up");
    let info = &h[1].ep.associations()[0];
    assert_eq!((info.peer_locator, info.verifying), (locator(1), None));
    assert!(!h[1]
        .events
        .iter()
        .any(|e| matches!(e, Event::LocatorChanged { .. })));
    // Only the address is abandoned: no failure is reported (the caller
    // would drop the SAs), the association stays on its verified path.
    assert!(!h[1]
        .events
        .iter()
        .any(|e| matches!(e, Event::Failed { .. })));
    assert_eq!(h[1].ep.counters().locator_unverified_dropped, 1);
    assert_eq!(h[1].ep.state(b, a), State::Established);
}

/// RFC 7401 section 4.4.2 (I1 in ESTABLISHED: send R1, stay ESTABLISHED):
/// the R1 goes to the I1's source and the association is untouched.
#[test]
fn an_i1_from_the_peer_in_established_is_answered_with_an_r1() {
    let now = Instant(1_000_000_000);
    let mut h = hosts(Config::default(), Config::default());
    let (a, b) = (h[0].hit, h[1].hit);
    establish(&mut h, now);
    h[1].ep.data_received(now, b, a);
    take(&mut h[1]);
    assert_eq!(h[1].ep.state(b, a), State::Established);
    let before = h[1].ep.associations();
    let sent = h[1].ep.counters().r1_sent;
    assert!(r1_for(&mut h[1], now, &i1_with(a, b, None, locator(1))));
    assert_eq!(h[1].ep.counters().r1_sent, sent + 1);
    assert_eq!(h[1].ep.state(b, a), State::Established);
    assert_eq!(
        h[1].ep.associations(),
        before,
        "the association is untouched"
    );
    assert!(h[1]
        .events
        .iter()
        .all(|e| matches!(e, Event::Established { .. })));
}

/// One rekey started by the initiator, run to the end; returns the UPDATE.
fn rekey_by_a(h: &mut [Host; 2], now: Instant, seed: u64) -> Transmit {
    let (a, b) = (h[0].hit, h[1].hit);
    let mut r = netsim::Rng::new(seed);
    h[0].ep
        .rekey(now, a, b, &mut |x: &mut [u8]| r.fill(x))
        .unwrap();
    let upd = take(&mut h[0]).remove(0);
    let resent = h[1].ep.counters().update_resent;
    deliver(&mut h[1], now, &upd);
    assert_eq!(
        h[1].ep.counters().update_resent,
        resent,
        "a new Update ID, not a retransmission"
    );
    let reply = take(&mut h[1]).remove(0);
    deliver(&mut h[0], now, &reply);
    let ack = take(&mut h[0]).remove(0);
    deliver(&mut h[1], now, &ack);
    take(&mut h[1]);
    upd
}

/// RFC 7401 sections 4.4.2 and 6.9: a peer that lost its state (restarted)
/// and runs the base exchange again from the same address, while we are
/// ESTABLISHED, gets a new association at once: a new Established event with
/// new SPIs (the daemon installs the SAs from it), nothing to verify. The new
/// association starts fresh: the restarted peer's UPDATEs count from 1
/// again (section 6.11) and are processed, not taken for retransmissions.
#[test]
fn a_restarted_peer_at_the_same_address_recovers_with_a_fresh_base_exchange() {
    let now = Instant(1_000_000_000);
    let mut h = hosts(Config::default(), Config::default());
    let (a, b) = (h[0].hit, h[1].hit);
    establish(&mut h, now);
    h[1].ep.data_received(now, b, a);
    rekey_by_a(&mut h, now, 5);
    assert_eq!(h[1].ep.counters().rekeyed, 1);
    let old = h[1].ep.associations()[0].clone();
    let events_before = h[1].events.len();
    // A restarts: no state, same address, a new exchange.
    h[0].ep.reset(None);
    take(&mut h[0]);
    let (_, r2) = establish(&mut h, now);
    assert_eq!(r2.dst, locator(1));
    assert_eq!(h[1].ep.state(b, a), State::R2Sent);
    let new: Vec<&Event> = h[1].events[events_before..].iter().collect();
    assert_eq!(new.len(), 1, "one event: {new:?}");
    let Event::Established {
        esp, peer_locator, ..
    } = new[0]
    else {
        panic!("not Established: {new:?}")
    };
    assert_eq!(*peer_locator, locator(1));
    assert_ne!(
        (esp.spi_in, esp.spi_out),
        (old.spi_in, old.spi_out),
        "new SPIs"
    );
    assert_keys_match(&h[0], &h[1]);
    let info = &h[1].ep.associations()[0];
    assert_eq!((info.peer_locator, info.verifying), (locator(1), None));
    // The restarted peer's first rekey (its SEQ is 1 again) is a new one.
    h[1].ep.data_received(now, b, a);
    rekey_by_a(&mut h, now, 6);
    assert_eq!(h[1].ep.counters().rekeyed, 2);
    assert_eq!(h[0].ep.counters().rekeyed, 2);
}
