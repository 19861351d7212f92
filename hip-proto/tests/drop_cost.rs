//! Dropping costs less than accepting (issue 15): the packets an attacker
//! can send without any state of ours (R1, R2, UPDATE, CLOSE, CLOSE_ACK for
//! associations that do not exist, packets for HITs that are not ours, a
//! NULL sender, an unknown type, a bad checksum, an I2 with a made-up puzzle
//! solution) are dropped, counted, with no heap allocation at all. Counted by a global allocator that counts
//! allocations of the thread that asks.

mod harness;
mod netsim;

use harness::*;
use hip_proto::association::{Instant, State};
use hip_proto::crypto::hi::KeySpec;
use hip_proto::endpoint::{Config, DropReason, Transmit};
use hip_proto::registry::{PacketType, Version};
use hip_proto::wire::{checksum, Packet, ParamType};
use hip_proto::Hit;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|c| c.set(c.get() + 1));
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|c| c.set(c.get() + 1));
        }
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get)
}

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
    // An accepted packet does allocate: the counter sees allocations.
    let n = allocations(|| {
        let _ = deliver(&mut b, now, &i1);
    });
    assert!(n > 0, "the I1 that is answered allocates ({n})");
}
