//! Rate limits on R1s (RFC 7401 section 4.1.1: the responder must not become
//! a tool for a denial-of-service attack; section 5.4 asks the same of every
//! answer to a packet that creates no state).
//!
//! An I1 is 56 octets with no proof of its source address and each R1 is
//! about 430 (a 7.7x amplification toward any address an attacker puts in
//! the I1's source). Two limits apply before any work on an I1:
//!
//! * per destination: a fixed table of [`R1_DESTINATION_SLOTS`] rate
//!   limiters indexed by a keyed hash (SipHash-2-4) of the address the R1
//!   would go to. The key comes from the endpoint's random input when it is
//!   built, so an attacker cannot choose addresses that share a slot with a
//!   victim's (two addresses that happen to share a slot share a budget).
//!   The table is allocated once; looking up and charging a slot allocates
//!   nothing and the memory is the same however many sources send. Each
//!   slot is one 8-octet theoretical arrival time (the generic cell rate
//!   algorithm, equivalent to a token bucket of the same burst and rate),
//!   zero when unused, so the table is allocated zeroed and costs resident
//!   memory only for the pages that sources touch. The size matters: an
//!   address whose slot a flooding address shares is refused with it. With
//!   4,096 slots a flood from 1,024 addresses held 22 % of the
//!   legitimate initiators' I1s for the whole flood (`bench/flood_latency.sh`:
//!   p90 of their exchanges 5.5 s instead of 3 ms); with 65,536 slots it is
//!   1.6 %.
//! * endpoint-wide: one bucket for all R1s, so that a flood spread over many
//!   (spoofed) sources is bounded too.
//!
//! A token is taken from the destination's bucket only when the endpoint-wide
//! bucket has one too, so R1s refused by the overall cap do not use up the
//! budget of the destinations they would have gone to.

use std::net::IpAddr;

use super::config::Config;
use super::random::RandomSource;
use super::rate_limit::{RateLimit, TokenBucket};
use crate::association::Instant;

/// Number of per-destination buckets (a power of two).
pub const R1_DESTINATION_SLOTS: usize = 65_536;

/// Per-address and overall budgets: the R1s of one endpoint, and any other
/// answer to unauthenticated input that must not be sent at an attacker's
/// rate (hipd uses one for its ICMP errors, RFC 4443 section 2.4 (f)).
#[derive(Debug)]
pub struct AddressLimiter {
    /// SipHash key.
    key: (u64, u64),
    /// Per-destination limit and its slots' theoretical arrival times in
    /// nanoseconds (`None`: no per-destination limit).
    slots: Option<(RateLimit, Box<[u64]>)>,
    /// Endpoint-wide bucket (`None`: no overall limit).
    global: Option<TokenBucket>,
}

/// The R1 budgets of one endpoint.
pub type R1Limiter = AddressLimiter;

impl AddressLimiter {
    /// The R1 limits of `cfg`, with a fresh hash key from `random`.
    pub fn new(cfg: &Config, random: &mut dyn RandomSource) -> Self {
        Self::with_limits(cfg.r1_per_destination, cfg.r1_global, random)
    }

    /// `per_address` for each address (hashed into [`R1_DESTINATION_SLOTS`]
    /// buckets) and `overall` for all together; `None` lifts a limit.
    pub fn with_limits(
        per_address: Option<RateLimit>,
        overall: Option<RateLimit>,
        random: &mut dyn RandomSource,
    ) -> Self {
        let mut k = [0u8; 16];
        random.fill(&mut k);
        let (k0, k1) = k.split_at(8);
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        AddressLimiter {
            key: (word(k0), word(k1)),
            slots: per_address.map(|l| (l, vec![0u64; R1_DESTINATION_SLOTS].into_boxed_slice())),
            global: overall.map(TokenBucket::new),
        }
    }

    /// The slot of `dst` in the per-destination table.
    pub fn slot(&self, dst: IpAddr) -> usize {
        let mut b = [0u8; 17];
        let n = match dst {
            IpAddr::V4(a) => {
                b[0] = 4;
                b[1..5].copy_from_slice(&a.octets());
                5
            }
            IpAddr::V6(a) => {
                b[0] = 6;
                b[1..17].copy_from_slice(&a.octets());
                17
            }
        };
        (siphash24(self.key, &b[..n]) as usize) & (R1_DESTINATION_SLOTS - 1)
    }

    /// Whether an R1 may go to `dst` at `now`; charges the budgets if so.
    pub fn allow(&mut self, now: Instant, dst: IpAddr) -> bool {
        let slot = self.slot(dst);
        let dest = self
            .slots
            .as_mut()
            .and_then(|(l, s)| s.get_mut(slot).map(|tat| (*l, tat)));
        let next = match &dest {
            Some((limit, tat)) => match gcra(**tat, now, *limit) {
                Some(next) => Some(next),
                None => return false,
            },
            None => None,
        };
        if let Some(g) = self.global.as_mut() {
            if !g.allow(now) {
                return false;
            }
        }
        if let (Some((_, tat)), Some(next)) = (dest, next) {
            *tat = next;
        }
        true
    }
}

/// The generic cell rate algorithm (ITU-T I.371) for one slot: with
/// theoretical arrival time `tat` (nanoseconds; zero: never used), whether a
/// packet at `now` conforms to `limit` (at most `burst` at once, then one
/// per `per_token`), and if so the slot's next arrival time.
fn gcra(tat: u64, now: Instant, limit: RateLimit) -> Option<u64> {
    let t = u64::try_from(limit.per_token.as_nanos()).unwrap_or(u64::MAX);
    if t == 0 || limit.burst == 0 {
        return None;
    }
    let tau = t.saturating_mul(u64::from(limit.burst - 1));
    let tat = tat.max(now.0);
    (tat - now.0 <= tau).then(|| tat.saturating_add(t))
}

/// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF").
pub fn siphash24(key: (u64, u64), data: &[u8]) -> u64 {
    let mut v = [
        key.0 ^ 0x736f_6d65_7073_6575,
        key.1 ^ 0x646f_7261_6e64_6f6d,
        key.0 ^ 0x6c79_6765_6e65_7261,
        key.1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let m = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    let mut last = [0u8; 8];
    let rest = chunks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    let m = u64::from_le_bytes(last) | ((data.len() as u64 & 0xff) << 56);
    v[3] ^= m;
    round(&mut v);
    round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::association::Duration;
    use crate::endpoint::RateLimit;

    #[test]
    fn siphash_reference_vectors() {
        // The paper's appendix: key 00..0f; message 00..0e.
        let key = (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
        let msg: Vec<u8> = (0u8..15).collect();
        assert_eq!(siphash24(key, &msg), 0xa129_ca61_49be_45e5);
        assert_eq!(siphash24(key, &[]), 0x726f_db47_dd0e_0e31);
    }

    fn limiter(seed: u8, cfg: &Config) -> R1Limiter {
        R1Limiter::new(cfg, &mut |b: &mut [u8]| b.fill(seed))
    }

    #[test]
    fn slots_depend_on_the_key() {
        let cfg = Config::default();
        let (a, b) = (limiter(1, &cfg), limiter(2, &cfg));
        let addrs: Vec<IpAddr> = (0..64u8).map(|n| IpAddr::from([192, 0, 2, n])).collect();
        let differ = addrs.iter().filter(|x| a.slot(**x) != b.slot(**x)).count();
        assert!(differ > 56, "{differ} of 64 addresses moved with the key");
    }

    #[test]
    fn a_refused_global_token_leaves_the_destination_budget_alone() {
        let cfg = Config {
            r1_per_destination: Some(RateLimit {
                burst: 2,
                per_token: Duration::from_secs(100),
            }),
            r1_global: Some(RateLimit {
                burst: 1,
                per_token: Duration::from_secs(10),
            }),
            ..Config::default()
        };
        let mut l = limiter(3, &cfg);
        let (x, y) = (IpAddr::from([192, 0, 2, 1]), IpAddr::from([192, 0, 2, 2]));
        let t = Instant(1);
        assert!(l.allow(t, y), "takes the only global token");
        assert!(!l.allow(t, x), "global empty");
        assert!(!l.allow(t, x), "global empty");
        // Ten seconds later: one global token; x still has both of its own
        // (its bucket earns nothing back for 100 s).
        let t = Instant(1 + 10_000_000_000);
        assert!(l.allow(t, x));
        let t = Instant(1 + 20_000_000_000);
        assert!(l.allow(t, x), "x's second token was never spent");
        // No limits at all: always allowed.
        let mut open = limiter(
            4,
            &Config {
                r1_per_destination: None,
                r1_global: None,
                ..Config::default()
            },
        );
        assert!((0..10_000).all(|_| open.allow(Instant(5), x)));
    }

    #[test]
    fn a_slot_admits_what_a_token_bucket_admits() {
        let limit = RateLimit {
            burst: 5,
            per_token: Duration::from_millis(100),
        };
        let mut bucket = TokenBucket::new(limit);
        let mut tat = 0u64;
        // Arrivals 0-199 ms apart (a fixed pseudo-random walk) over about
        // 100 s: every decision is the same.
        let (mut now, mut x) = (1_000_000_000u64, 12345u64);
        for n in 0..1000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            now += (x >> 33) % 200_000_000;
            let by_bucket = bucket.allow(Instant(now));
            let by_slot = match gcra(tat, Instant(now), limit) {
                Some(next) => {
                    tat = next;
                    true
                }
                None => false,
            };
            assert_eq!(by_slot, by_bucket, "arrival {n} at {now} ns");
        }
    }

    #[test]
    fn a_flood_from_a_thousand_addresses_leaves_other_addresses_served() {
        let cfg = Config {
            r1_global: None,
            ..Config::default()
        };
        let mut l = limiter(9, &cfg);
        let t = Instant(1_000_000_000);
        // 1,024 flooding addresses spend their budgets (and their slots').
        for n in 0..1024u32 {
            let a = IpAddr::from([0x2001, 0xdb8, 2, 0, 0, 0, 0, n as u16]);
            for _ in 0..100 {
                l.allow(t, a);
            }
        }
        // 4,096 other addresses ask once each.
        let served = (0..4096u32)
            .filter(|n| l.allow(t, IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 1, *n as u16])))
            .count();
        // Expected about 4096 x (1 - 1024 / 65536) = 4032; with 4,096 slots
        // it was about 3,200.
        assert!(served >= 3970, "{served} of 4096 served");
    }
}
