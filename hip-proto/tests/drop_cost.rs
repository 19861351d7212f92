//! Dropping costs less than accepting (issue 15): the packets an attacker
//! can send without any state of ours (R1, R2, UPDATE, CLOSE, CLOSE_ACK for
//! associations that do not exist, packets for HITs that are not ours, a
//! NULL sender, an unknown type, a bad checksum, an I2 with a made-up puzzle
//! solution) and the forged packets inside an association (an R2, UPDATE,
//! CLOSE or CLOSE_ACK whose HIP_MAC does not verify, one that comes in the
//! wrong state) are dropped, counted, with no heap allocation at all.
//! Counted by a global allocator that counts allocations of the thread that
//! asks.

mod alloc_count;
mod harness;
mod netsim;

use alloc_count::allocations;

use harness::*;
use hip_proto::association::{Instant, State};
use hip_proto::crypto::hi::KeySpec;
use hip_proto::endpoint::{Config, DropReason, Transmit};
use hip_proto::registry::{PacketType, Version};
use hip_proto::wire::{checksum, Packet, ParamType};
use hip_proto::Hit;

fn kind(t: &Transmit) -> PacketType {
    Packet::new_checked(&t.bytes[..]).unwrap().packet_type()
}

/// `t` readdressed to host `to` (locator and, unless `keep_receiver`, its
/// HIT), with a valid checksum.
fn aimed_at(t: &Transmit, to: &Host, receiver: Option<Hit>) -> Transmit {
    let mut m = t.clone();
    m.dst = to.loc;
    {
        let mut p = Packet::new_unchecked(&mut m.bytes[..]);
        p.set_receiver_hit(receiver.unwrap_or(to.hit));
    }
    checksum::fill(&mut m.bytes, m.src, m.dst);
    m
}

#[test]
fn packets_without_state_are_dropped_without_allocating() {
    let [ka, kb] = keys(KeySpec::EcdsaP256);
    let [kc, _] = keys(KeySpec::EcdsaP384);
    let cfg = Config::default();
    let mut a = Host::new(cfg.clone(), ka, Version::V2, locator(1), 1);
    // K = 10: a changed J solves the puzzle once in 1,024 tries.
    let cfg_b = Config {
        puzzle_difficulty: 10,
        ..cfg.clone()
    };
    let mut b = Host::new(cfg_b, kb, Version::V2, locator(2), 2);
    let mut c = Host::new(cfg, kc, Version::V2, locator(3), 3);
    let now = Instant(1_000_000_000);
    // A real exchange between A and B gives genuine R1, R2 and UPDATE.
    let (ha, hb) = (a.hit, b.hit);
    a.ep.connect(now, ha, hb, a.loc, b.loc, None).unwrap();
    let i1 = take(&mut a).remove(0);
    deliver(&mut b, now, &i1).unwrap();
    let r1 = take(&mut b).remove(0);
    assert_eq!(kind(&r1), PacketType::R1);
    deliver(&mut a, now, &r1).unwrap();
    let i2 = take(&mut a).remove(0);
    // An I2 whose J does not solve the puzzle (a flood of made-up
    // solutions): refused from the packet bytes.
    let mut bad_j = i2.clone();
    let j_end = {
        let pk = Packet::new_checked(&bad_j.bytes[..]).unwrap();
        let sol = pk
            .params()
            .map(Result::unwrap)
            .find(|p| p.param_type() == ParamType::Solution)
            .expect("SOLUTION");
        sol.offset() + 4 + sol.contents_len()
    };
    bad_j.bytes[j_end - 1] ^= 0x5a;
    checksum::fill(&mut bad_j.bytes, bad_j.src, bad_j.dst);
    assert_eq!(deliver(&mut b, now, &bad_j), Err(DropReason::BadPuzzle));
    let mut r = Ok(());
    let n = allocations(|| r = deliver(&mut b, now, &bad_j));
    assert_eq!(r, Err(DropReason::BadPuzzle));
    assert_eq!(n, 0, "an I2 with a wrong J: {n} allocations to drop it");
    deliver(&mut b, now, &i2).unwrap();
    let r2 = take(&mut b).remove(0);
    assert_eq!(kind(&r2), PacketType::R2);
    deliver(&mut a, now, &r2).unwrap();
    take(&mut a);
    assert_eq!(a.ep.state(ha, hb), State::Established);
    let close = a.ep.close(now, ha, hb, &mut |x: &mut [u8]| x.fill(7));
    assert!(close, "CLOSE sent");
    let close = take(&mut a)
        .into_iter()
        .find(|t| kind(t) == PacketType::Close)
        .expect("a CLOSE");

    let stranger = Hit([0x20, 0x01, 0x00, 0x22, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]);
    let mut unknown_type = aimed_at(&r2, &c, None);
    Packet::new_unchecked(&mut unknown_type.bytes[..]).set_packet_type(PacketType::Hdrr);
    checksum::fill(&mut unknown_type.bytes, unknown_type.src, unknown_type.dst);
    let mut null_sender = aimed_at(&r2, &c, None);
    Packet::new_unchecked(&mut null_sender.bytes[..]).set_sender_hit(Hit([0; 16]));
    checksum::fill(&mut null_sender.bytes, null_sender.src, null_sender.dst);
    let mut bad_sum = aimed_at(&r2, &c, None);
    let last = bad_sum.bytes.len() - 1;
    bad_sum.bytes[last] ^= 1;
    let cases = [
        (
            "R1 for a HIT not ours",
            aimed_at(&r1, &c, Some(stranger)),
            DropReason::NotForUs,
        ),
        (
            "R1 without I1",
            aimed_at(&r1, &c, None),
            DropReason::UnknownAssociation,
        ),
        (
            "R2 without I2",
            aimed_at(&r2, &c, None),
            DropReason::UnknownAssociation,
        ),
        (
            "CLOSE of no association",
            aimed_at(&close, &c, None),
            DropReason::NotPeer,
        ),
        (
            "I1 for a HIT not ours, no rendezvous service",
            aimed_at(&i1, &c, Some(stranger)),
            DropReason::NotForUs,
        ),
        ("unknown packet type", unknown_type, DropReason::Malformed),
        ("NULL sender HIT", null_sender, DropReason::Malformed),
        ("bad checksum", bad_sum, DropReason::BadChecksum),
    ];
    for (what, pkt, reason) in cases {
        // Warm up once (lazily built tables), then count.
        assert_eq!(deliver(&mut c, now, &pkt), Err(reason), "{what}");
        let mut r = Ok(());
        let n = allocations(|| r = deliver(&mut c, now, &pkt));
        assert_eq!(r, Err(reason), "{what}");
        assert_eq!(n, 0, "{what}: {n} allocations to drop it");
    }
    assert!(take(&mut c).is_empty(), "nothing answered");
    // A rendezvous server drops an I1 for a HIT nobody registered unparsed
    // (RFC 8004 section 4.3.2).
    let mut rvs_cfg = Config::default();
    rvs_cfg
        .registrar
        .services
        .push(hip_proto::wire::RegType::RendezvousServer);
    let [kd, _] = keys(KeySpec::EcdsaP256);
    let mut d = Host::new(rvs_cfg, kd, Version::V2, locator(4), 4);
    let for_stranger = aimed_at(&i1, &d, Some(stranger));
    assert_eq!(
        deliver(&mut d, now, &for_stranger),
        Err(DropReason::NotRegistered)
    );
    let mut r = Ok(());
    let n = allocations(|| r = deliver(&mut d, now, &for_stranger));
    assert_eq!(r, Err(DropReason::NotRegistered));
    assert_eq!(
        n, 0,
        "I1 for an unregistered HIT at an RVS: {n} allocations"
    );
    // An accepted packet does allocate: the counter sees allocations.
    let n = allocations(|| {
        let _ = deliver(&mut b, now, &i1);
    });
    assert!(n > 0, "the I1 that is answered allocates ({n})");
}

/// `t` with one octet of its `ty` parameter (HIP_MAC or HIP_MAC_2) changed,
/// and, when `as_type` is given, another packet type (which the MAC covers).
fn forged(t: &Transmit, ty: ParamType, as_type: Option<PacketType>) -> Transmit {
    let mut m = t.clone();
    let end = {
        let pk = Packet::new_checked(&m.bytes[..]).unwrap();
        let p = pk
            .params()
            .map(Result::unwrap)
            .find(|p| p.param_type() == ty)
            .unwrap_or_else(|| panic!("{ty:?} in {:?}", pk.packet_type()));
        p.offset() + 4 + p.contents_len()
    };
    m.bytes[end - 1] ^= 0x01;
    if let Some(ty) = as_type {
        Packet::new_unchecked(&mut m.bytes[..]).set_packet_type(ty);
    }
    checksum::fill(&mut m.bytes, m.src, m.dst);
    m
}

/// Delivers `pkt` twice (the first warms lazily built tables) and asserts
/// the second is dropped for `reason` with no allocation.
fn dropped_free(h: &mut Host, now: Instant, pkt: &Transmit, reason: DropReason, what: &str) {
    assert_eq!(deliver(h, now, pkt), Err(reason), "{what}");
    let mut r = Ok(());
    let n = allocations(|| r = deliver(h, now, pkt));
    assert_eq!(r, Err(reason), "{what}");
    assert_eq!(n, 0, "{what}: {n} allocations to drop it");
}

#[test]
fn forged_packets_inside_an_association_are_dropped_without_allocating() {
    let [ka, kb] = keys(KeySpec::EcdsaP256);
    let cfg = Config::default();
    let mut a = Host::new(cfg.clone(), ka, Version::V2, locator(1), 1);
    let mut b = Host::new(cfg, kb, Version::V2, locator(2), 2);
    let now = Instant(1_000_000_000);
    let (ha, hb) = (a.hit, b.hit);
    a.ep.connect(now, ha, hb, a.loc, b.loc, None).unwrap();
    deliver(&mut b, now, &take(&mut a).remove(0)).unwrap();
    deliver(&mut a, now, &take(&mut b).remove(0)).unwrap();
    let i2 = take(&mut a).remove(0);
    deliver(&mut b, now, &i2).unwrap();
    let r2 = take(&mut b).remove(0);
    assert_eq!(kind(&r2), PacketType::R2);
    // A is in I2-SENT: an R2 whose HIP_MAC_2 is wrong (RFC 7401 section
    // 6.10 step 3).
    assert_eq!(a.ep.state(ha, hb), State::I2Sent);
    let bad_r2 = forged(&r2, ParamType::HipMac2, None);
    dropped_free(
        &mut a,
        now,
        &bad_r2,
        DropReason::BadMac,
        "R2 with a bad HIP_MAC_2",
    );
    assert_eq!(
        a.ep.state(ha, hb),
        State::I2Sent,
        "the forged R2 changed nothing"
    );
    deliver(&mut a, now, &r2).unwrap();
    take(&mut a);
    assert_eq!(a.ep.state(ha, hb), State::Established);
    // The genuine R2 again: a replay, refused by state before its MAC.
    dropped_free(&mut a, now, &r2, DropReason::Replay, "replayed R2");
    // A closes: its CLOSE (HIP_MAC, section 6.14) forged as CLOSE, as
    // UPDATE (section 6.12), and a CLOSE_ACK outside CLOSING (section 6.15).
    assert!(a.ep.close(now, ha, hb, &mut |x: &mut [u8]| x.fill(7)));
    let close = take(&mut a)
        .into_iter()
        .find(|t| kind(t) == PacketType::Close)
        .expect("a CLOSE");
    let cases = [
        (
            "CLOSE with a bad HIP_MAC",
            forged(&close, ParamType::HipMac, None),
            DropReason::BadMac,
        ),
        (
            "UPDATE with a bad HIP_MAC",
            forged(&close, ParamType::HipMac, Some(PacketType::Update)),
            DropReason::BadMac,
        ),
        (
            "CLOSE_ACK outside CLOSING",
            forged(&close, ParamType::HipMac, Some(PacketType::CloseAck)),
            DropReason::Replay,
        ),
    ];
    // B has seen no ESP yet: R2-SENT, where CLOSE and UPDATE are processed.
    assert_eq!(b.ep.state(hb, ha), State::R2Sent);
    for (what, pkt, reason) in &cases {
        dropped_free(&mut b, now, pkt, *reason, what);
    }
    assert_eq!(b.ep.state(hb, ha), State::R2Sent, "B untouched");
    assert!(take(&mut b).is_empty(), "nothing answered");
    // B answers the genuine CLOSE; its CLOSE_ACK forged reaches A in CLOSING.
    deliver(&mut b, now, &close).unwrap();
    let ack = take(&mut b)
        .into_iter()
        .find(|t| kind(t) == PacketType::CloseAck)
        .expect("a CLOSE_ACK");
    let bad_ack = forged(&ack, ParamType::HipMac, None);
    dropped_free(
        &mut a,
        now,
        &bad_ack,
        DropReason::BadMac,
        "CLOSE_ACK with a bad HIP_MAC",
    );
    assert_eq!(
        a.ep.state(ha, hb),
        State::Closing,
        "the forged CLOSE_ACK changed nothing"
    );
    deliver(&mut a, now, &ack).unwrap();
    assert_eq!(
        a.ep.state(ha, hb),
        State::Unassociated,
        "the genuine one closes"
    );
}

#[test]
fn notify_signature_checks_are_budgeted_and_the_rest_dropped_unparsed() {
    use hip_proto::association::Duration;
    use hip_proto::endpoint::RateLimit;
    let [ka, kb] = keys(KeySpec::EcdsaP256);
    let cfg = Config::default();
    let cfg_b = Config {
        notify_verify: RateLimit {
            burst: 3,
            per_token: Duration::from_secs(1),
        },
        ..cfg.clone()
    };
    let mut a = Host::new(cfg, ka, Version::V2, locator(1), 1);
    let mut b = Host::new(cfg_b, kb, Version::V2, locator(2), 2);
    let now = Instant(1_000_000_000);
    let (ha, hb) = (a.hit, b.hit);
    a.ep.connect(now, ha, hb, a.loc, b.loc, None).unwrap();
    for _ in 0..2 {
        deliver(&mut b, now, &take(&mut a).remove(0)).unwrap();
        deliver(&mut a, now, &take(&mut b).remove(0)).unwrap();
    }
    assert!(a.ep.close(now, ha, hb, &mut |x: &mut [u8]| x.fill(7)));
    let close = take(&mut a)
        .into_iter()
        .find(|t| kind(t) == PacketType::Close)
        .expect("a CLOSE");
    // A signed packet of A's turned into a NOTIFY: the signature covers
    // the type, so it does not verify (a forgery that costs B a check).
    let mut notify = close.clone();
    Packet::new_unchecked(&mut notify.bytes[..]).set_packet_type(PacketType::Notify);
    checksum::fill(&mut notify.bytes, notify.src, notify.dst);
    for n in 0..3 {
        assert_eq!(
            deliver(&mut b, now, &notify),
            Err(DropReason::BadSignature),
            "check {n} is within the budget"
        );
    }
    let mut r = Ok(());
    let allocs = allocations(|| r = deliver(&mut b, now, &notify));
    assert_eq!(r, Err(DropReason::NotifyVerifyRateLimited));
    assert_eq!(
        allocs, 0,
        "{allocs} allocations to drop a NOTIFY over budget"
    );
    assert_eq!(
        b.ep.counters().dropped(DropReason::NotifyVerifyRateLimited),
        1
    );
    assert_eq!(b.ep.counters().dropped(DropReason::BadSignature), 3);
    // One token a second comes back.
    let later = now + Duration::from_secs(1);
    assert_eq!(
        deliver(&mut b, later, &notify),
        Err(DropReason::BadSignature)
    );
    assert_eq!(
        deliver(&mut b, later, &notify),
        Err(DropReason::NotifyVerifyRateLimited)
    );
}
