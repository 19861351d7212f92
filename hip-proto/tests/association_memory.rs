//! Heap memory one established association costs a responder (issue 16:
//! 10,000 associations in well under 40 MiB of hipd's resident memory).
//! Counted by a global allocator (live bytes of this thread).

mod harness;
mod netsim;

use harness::*;
use hip_proto::association::{Instant, State};
use hip_proto::crypto::hi::{HostIdentity, KeySpec};
use hip_proto::endpoint::Config;
use hip_proto::registry::Version;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            LIVE.with(|c| c.set(c.get() + l.size() as i64));
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if COUNTING.with(Cell::get) {
            LIVE.with(|c| c.set(c.get() - l.size() as i64));
        }
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            LIVE.with(|c| c.set(c.get() + n as i64 - l.size() as i64));
        }
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn an_established_association_costs_the_responder_little_heap() {
    const N: usize = 200;
    let [kr, _] = keys(KeySpec::EcdsaP256);
    let cfg = Config::default();
    let mut r = Host::new(cfg.clone(), kr, Version::V2, locator(1), 1);
    let now = Instant(1_000_000_000);
    let mut initiators: Vec<Host> = (0..N)
        .map(|n| {
            let k =
                HostIdentity::generate(KeySpec::EcdsaP256, &mut rand_core_seeded(1000 + n as u64))
                    .unwrap();
            let loc: std::net::IpAddr = format!("2001:db8::1:{:x}", n + 2).parse().unwrap();
            Host::new(cfg.clone(), k, Version::V2, loc, 10 + n as u64)
        })
        .collect();
    // Only what the responder's calls allocate and free is counted.
    let on = |f: &mut dyn FnMut()| {
        COUNTING.with(|c| c.set(true));
        f();
        COUNTING.with(|c| c.set(false));
    };
    let established = |r: &mut Host, initiators: &mut [Host]| {
        for i in initiators.iter_mut() {
            let (a, b) = (i.hit, r.hit);
            i.ep.connect(now, a, b, i.loc, r.loc, None).unwrap();
            let i1 = take(i).remove(0);
            let mut r1 = None;
            on(&mut || {
                let _ = deliver(r, now, &i1);
                r1 = Some(take(r).remove(0));
            });
            let mut r1 = r1.unwrap();
            let _ = deliver(i, now, &r1);
            on(&mut || drop(std::mem::take(&mut r1.bytes)));
            let i2 = take(i).remove(0);
            let mut r2 = None;
            on(&mut || {
                let _ = deliver(r, now, &i2);
                r2 = Some(take(r).remove(0));
            });
            let mut r2 = r2.unwrap();
            let _ = deliver(i, now, &r2);
            take(i);
            // The initiator's first ESP reaches the responder.
            on(&mut || r.ep.data_received(now, b, a));
            assert_eq!(r.ep.state(b, a), State::Established);
            // The transmits the responder made are gone (sent).
            on(&mut || drop(std::mem::take(&mut r2.bytes)));
        }
    };
    // Warm up (tables that grow once), then count the next N.
    let (first, rest) = initiators.split_at_mut(N / 2);
    established(&mut r, first);
    LIVE.with(|c| c.set(0));
    established(&mut r, rest);
    let per = LIVE.with(Cell::get) / (N / 2) as i64;
    println!("responder heap per established association: {per} bytes");
    // 4,076 measured with the associations boxed in their table (4,583
    // inline, the map's spare slots each the size of an association);
    // 2,284 once the KEYMAT gave way to Kij, the timers were shared, the ESP
    // keys handed over and the I2's #I/J no longer copied (the R2 is still
    // held here: no ESP, within its minute); 1,873 once the three index
    // maps became one, the HIP keys and the retransmission timers were
    // held inline and smaller, the Ed25519 key boxed and the ESP keys and
    // duplicate HITs left out of the association's keys; 1,625 once the
    // UPDATE, mobility and multihoming state was boxed and made by the
    // first UPDATE (the association 1,160 -> 912 octets); 1,537 once the
    // association kept its DH private key without the public value. The
    // bound catches a regression, it is not the goal: hipd adds its SA
    // tables and peer entries (docs/PERFORMANCE.md).
    assert!(per < 1024 + 640, "{per} bytes per association");
}
