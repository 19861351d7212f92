//! A token bucket with time as an input, for replies to unauthenticated
//! packets (RFC 7401 section 5.4: error answers to packets that create no
//! state are rate-limited, so that one sender cannot get unbounded replies).
//!
//! The bucket is endpoint-wide, not per source: its memory is constant and a
//! forged source address cannot buy more tokens. The price is that a flood
//! also starves genuine peers of these (purely diagnostic) answers.

use crate::association::{Duration, Instant};

/// Rate and burst of a [`TokenBucket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Tokens available at once (and at the start).
    pub burst: u32,
    /// Time to earn one token back; zero disables the replies entirely.
    pub per_token: Duration,
}

impl RateLimit {
    /// Ten answers at once, then one every 100 ms (10 per second).
    pub const DEFAULT: RateLimit = RateLimit {
        burst: 10,
        per_token: Duration::from_millis(100),
    };

    /// R1s toward one address: 20 at once, then 10 per second. One base
    /// exchange needs one R1 (two or three when I1s are retransmitted, at 1
    /// and 2 s); the burst lets 20 hosts behind one NAT address start
    /// exchanges with us at the same moment and the rate lets 10 more a
    /// second follow, while a forged-source flood aimed at a victim gets it
    /// at most about 4.3 kB/s of R1s from us.
    pub const R1_PER_DESTINATION: RateLimit = RateLimit {
        burst: 20,
        per_token: Duration::from_millis(100),
    };

    /// R1s in all: 20,000 per second (about 69 Mbit/s of R1s; the
    /// precomputed-R1 path serves over a million per second per core, so the
    /// cap is the bandwidth we lend a flood, not our CPU), with a burst of
    /// 2,000 (100 ms of the rate).
    pub const R1_GLOBAL: RateLimit = RateLimit {
        burst: 2_000,
        per_token: Duration::from_micros(50),
    };

    /// Signature checks of NOTIFYs from peers: 2,000 at once, then 2,000 per
    /// second. NAT keepalives are NOTIFYs (RFC 9028 section 5.10): 10,000
    /// associations over UDP send about 670 a second at the 15 s interval;
    /// a flood of forged ones costs at most this many public-key operations.
    pub const NOTIFY_VERIFY: RateLimit = RateLimit {
        burst: 2_000,
        per_token: Duration::from_micros(500),
    };
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A token bucket; [`TokenBucket::allow`] costs a few integer operations and
/// never allocates.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    limit: RateLimit,
    tokens: u32,
    /// The instant the tokens were last counted up to (`None`: never used).
    last: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(limit: RateLimit) -> Self {
        TokenBucket {
            limit,
            tokens: limit.burst,
            last: None,
        }
    }

    /// Takes one token at `now` if there is one. Time going backwards earns
    /// nothing.
    pub fn allow(&mut self, now: Instant) -> bool {
        if self.limit.per_token.is_zero() {
            return false;
        }
        let last = *self.last.get_or_insert(now);
        let per = self.limit.per_token.as_nanos();
        let earned = (now - last).as_nanos() / per;
        if earned > 0 {
            let room = u128::from(self.limit.burst - self.tokens);
            if earned >= room {
                self.tokens = self.limit.burst;
                self.last = Some(now);
            } else {
                // Keep the fraction of a token already earned.
                self.tokens += earned as u32;
                self.last = Some(last + Duration::from_nanos((earned * per) as u64));
            }
        }
        if self.tokens > 0 {
            self.tokens -= 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn burst_then_steady_rate() {
        let mut b = TokenBucket::new(RateLimit {
            burst: 3,
            per_token: Duration::from_millis(100),
        });
        let t0 = Instant(5 * MS);
        assert_eq!((0..10).filter(|_| b.allow(t0)).count(), 3, "burst");
        assert!(!b.allow(Instant(t0.0 + 99 * MS)));
        assert!(b.allow(Instant(t0.0 + 100 * MS)));
        assert!(!b.allow(Instant(t0.0 + 150 * MS)));
        // The half token earned between 100 and 150 ms is kept.
        assert!(b.allow(Instant(t0.0 + 200 * MS)));
        // A long pause refills to the burst, no more.
        let later = Instant(t0.0 + 60_000 * MS);
        assert_eq!((0..10).filter(|_| b.allow(later)).count(), 3);
        // Over 10 simulated seconds at most burst + 100 answers.
        let mut n = 0;
        for ms in 0..10_000u64 {
            n += usize::from(b.allow(Instant(later.0 + ms * MS)));
        }
        assert!(n <= 100, "{n}");
        assert!(n >= 99, "{n}");
    }

    #[test]
    fn zero_rate_disables_and_time_going_back_earns_nothing() {
        let mut off = TokenBucket::new(RateLimit {
            burst: 5,
            per_token: Duration::ZERO,
        });
        assert!(!off.allow(Instant(0)));
        let mut b = TokenBucket::new(RateLimit {
            burst: 1,
            per_token: Duration::from_millis(10),
        });
        assert!(b.allow(Instant(100 * MS)));
        assert!(!b.allow(Instant(0)));
        assert!(!b.allow(Instant(105 * MS)));
        assert!(b.allow(Instant(110 * MS)));
    }
}
