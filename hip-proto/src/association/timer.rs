//! Caller-supplied time and retransmission timers (RFC 7401 section 4.4.3,
//! RFC 5201 section 4.4.3: "the retransmission timer ... with exponential backoff",
//! I1_RETRIES_MAX / I2_RETRIES_MAX / UPDATE retries, all implementation-specific).
//!
//! The library never reads a clock: every method takes `now`.

use core::ops::{Add, Sub};
pub use core::time::Duration;

/// A monotonic instant supplied by the caller, in nanoseconds from an arbitrary origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(pub u64);

impl Instant {
    /// Nanoseconds since the caller's origin.
    pub fn as_nanos(self) -> u64 {
        self.0
    }
    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        let n = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(n))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

/// Retransmission policy for one kind of packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetransmitConfig {
    /// Wait after the first transmission.
    pub initial: Duration,
    /// Upper bound of the doubled interval.
    pub max_interval: Duration,
    /// Number of retransmissions after the first transmission
    /// (I1_RETRIES_MAX, I2_RETRIES_MAX, ...).
    pub max_retries: u32,
}

impl RetransmitConfig {
    /// Default for I1, I2, UPDATE and CLOSE: 1 s doubling to 16 s, 6 retries.
    pub const DEFAULT: RetransmitConfig = RetransmitConfig {
        initial: Duration::from_secs(1),
        max_interval: Duration::from_secs(16),
        max_retries: 6,
    };
}

impl RetransmitConfig {
    /// Default for I1 and I2 (RFC 7401 section 4.4.3: retransmitted on a
    /// timer until I1_RETRIES_MAX / I2_RETRIES_MAX; the RFC leaves the
    /// values to the implementation): 500 ms, doubling to 2 s, 20 retries
    /// (about 39 s in all). With 1 s the median exchange between two real
    /// hosts through a bridge losing 30 % of HIP packets was 3.1 s
    /// (tests/tests/hardening.rs); a spurious I1 costs the responder one
    /// precomputed R1 and is rate-limited there. A base exchange has four packets that must all
    /// arrive; under heavy loss the 16 s cap of [`RetransmitConfig::DEFAULT`]
    /// left exchanges idle for 15 s and more (and 6 retries let 2 % of them
    /// fail at 30 % loss), while the packets are small, few, and answered
    /// without state (I1) or idempotently (I2).
    pub const BASE_EXCHANGE: RetransmitConfig = RetransmitConfig {
        initial: Duration::from_millis(500),
        max_interval: Duration::from_secs(2),
        max_retries: 20,
    };

    /// A relay client's direct R2 copy, re-sent until the peer answers
    /// directly: 500 ms doubling to 4 s, 5 more copies (about 11.5 s, within
    /// the peer's first checks).
    pub const PUNCH: RetransmitConfig = RetransmitConfig {
        initial: Duration::from_millis(500),
        max_interval: Duration::from_secs(4),
        max_retries: 5,
    };

    /// Lower bound of an RTT-derived first timeout ([`Retransmit::start_after_rtt`]).
    pub const MIN_RTT_TIMEOUT: Duration = Duration::from_millis(200);
}

impl Default for RetransmitConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What a fired timer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetransmitOutcome {
    /// Not yet due (or not armed).
    NotDue,
    /// Send the packet again; the timer has been re-armed with a doubled interval.
    Resend,
    /// The retries are exhausted; the timer is disarmed.
    GiveUp,
}

/// A retransmission timer with exponential backoff and a retry limit.
///
/// Durations are kept as nanoseconds (`u64`, saturating; 584 years) rather
/// than [`Duration`]s: every association holds two of these timers, and
/// this halves them (issue 16: memory per association).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retransmit {
    /// [`RetransmitConfig::initial`].
    initial: u64,
    /// [`RetransmitConfig::max_interval`].
    max_interval: u64,
    /// [`RetransmitConfig::max_retries`].
    max_retries: u32,
    retries: u32,
    interval: u64,
    deadline: Option<Instant>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Retransmit {
    /// A disarmed timer that never fires (no interval, no retries): what an
    /// association that has no UPDATE timer of its own reads as.
    pub const DISARMED: Retransmit = Retransmit {
        initial: 0,
        max_interval: 0,
        max_retries: 0,
        retries: 0,
        interval: 0,
        deadline: None,
    };

    /// A disarmed timer.
    pub fn new(cfg: RetransmitConfig) -> Self {
        Retransmit {
            initial: nanos(cfg.initial),
            max_interval: nanos(cfg.max_interval),
            max_retries: cfg.max_retries,
            retries: 0,
            interval: nanos(cfg.initial),
            deadline: None,
        }
    }

    /// Arms the timer after the first transmission at `now`, resetting the count.
    pub fn start(&mut self, now: Instant) {
        self.retries = 0;
        self.interval = self.initial;
        self.deadline = Some(Instant(now.0.saturating_add(self.interval)));
    }

    /// Arms the timer like [`Retransmit::start`], but with a first timeout of
    /// four times a measured round trip (at least
    /// [`RetransmitConfig::MIN_RTT_TIMEOUT`], at most the configured initial
    /// one): the I2 after an R1 that answered a never-retransmitted I1, whose
    /// round trip is unambiguous (Karn's rule). The backoff then doubles from there.
    pub fn start_after_rtt(&mut self, now: Instant, rtt: Duration) {
        self.retries = 0;
        self.interval = nanos(rtt.saturating_mul(4))
            .max(nanos(RetransmitConfig::MIN_RTT_TIMEOUT))
            .min(self.initial);
        self.deadline = Some(Instant(now.0.saturating_add(self.interval)));
    }

    /// Disarms the timer (the expected answer arrived).
    pub fn stop(&mut self) {
        self.deadline = None;
    }

    /// The next deadline, if armed.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Retransmissions done so far.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// Handles the passage of time up to `now`.
    pub fn poll(&mut self, now: Instant) -> RetransmitOutcome {
        match self.deadline {
            Some(d) if now >= d => {
                if self.retries >= self.max_retries {
                    self.deadline = None;
                    return RetransmitOutcome::GiveUp;
                }
                self.retries += 1;
                self.interval = self.interval.saturating_mul(2).min(self.max_interval);
                self.deadline = Some(Instant(now.0.saturating_add(self.interval)));
                RetransmitOutcome::Resend
            }
            _ => RetransmitOutcome::NotDue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_gives_up() {
        let cfg = RetransmitConfig {
            initial: Duration::from_millis(100),
            max_interval: Duration::from_millis(300),
            max_retries: 3,
        };
        let mut t = Retransmit::new(cfg);
        assert_eq!(t.poll(Instant(u64::MAX)), RetransmitOutcome::NotDue);
        let t0 = Instant(1_000);
        t.start(t0);
        assert_eq!(t.deadline(), Some(t0 + Duration::from_millis(100)));
        assert_eq!(
            t.poll(t0 + Duration::from_millis(99)),
            RetransmitOutcome::NotDue
        );
        let mut now = t0 + Duration::from_millis(100);
        let mut gaps = Vec::new();
        while let RetransmitOutcome::Resend = t.poll(now) {
            let d = t.deadline().expect("armed");
            gaps.push(d - now);
            now = d;
        }
        assert_eq!(
            gaps,
            [200, 300, 300].map(Duration::from_millis).to_vec(),
            "doubling capped at max_interval"
        );
        assert_eq!(t.retries(), 3);
        assert_eq!(t.deadline(), None);
        assert_eq!(t.poll(now), RetransmitOutcome::NotDue);
    }

    #[test]
    fn stop_disarms_and_start_resets() {
        let mut t = Retransmit::new(RetransmitConfig::DEFAULT);
        t.start(Instant(0));
        assert_eq!(t.poll(Instant(2_000_000_000)), RetransmitOutcome::Resend);
        t.stop();
        assert_eq!(t.poll(Instant(u64::MAX)), RetransmitOutcome::NotDue);
        t.start(Instant(5));
        assert_eq!(t.retries(), 0);
    }

    #[test]
    fn instant_arithmetic_saturates() {
        assert_eq!(
            Instant(u64::MAX - 1) + Duration::from_secs(10),
            Instant(u64::MAX)
        );
        assert_eq!(Instant(5) - Instant(10), Duration::ZERO);
    }
}
