//! Deterministic in-memory network for sans-IO tests: seeded loss, duplication,
//! reordering and delay. No clocks, no sockets: time is `Instant` nanoseconds
//! advanced by the test.
#![allow(dead_code)]

use hip_proto::association::{Duration, Instant};

/// SplitMix64: small, seedable, good enough for test scheduling.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Link impairments.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a delivered datagram is delivered twice.
    pub duplicate: f64,
    /// Probability a datagram gets an extra delay (reordering).
    pub reorder: f64,
    /// Base one-way delay.
    pub delay: Duration,
    /// Maximum extra random delay.
    pub jitter: Duration,
}

impl Link {
    pub const PERFECT: Link = Link {
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        delay: Duration::from_millis(10),
        jitter: Duration::ZERO,
    };
}

/// A datagram in flight to node `to`.
#[derive(Debug, Clone)]
pub struct Datagram<T> {
    pub at: Instant,
    pub seq: u64,
    pub from: usize,
    pub to: usize,
    pub payload: T,
}

/// The network.
#[derive(Debug)]
pub struct Net<T> {
    pub rng: Rng,
    pub link: Link,
    in_flight: Vec<Datagram<T>>,
    seq: u64,
    pub sent: u64,
    pub lost: u64,
    pub duplicated: u64,
}

impl<T: Clone> Net<T> {
    pub fn new(seed: u64, link: Link) -> Self {
        Net {
            rng: Rng::new(seed),
            link,
            in_flight: Vec::new(),
            seq: 0,
            sent: 0,
            lost: 0,
            duplicated: 0,
        }
    }

    fn delay(&mut self) -> Duration {
        let mut d = self.link.delay;
        if !self.link.jitter.is_zero() {
            d += self.link.jitter.mul_f64(self.rng.unit());
        }
        if self.rng.unit() < self.link.reorder {
            d += self.link.delay * 3;
        }
        d
    }

    /// Sends a datagram at `now`.
    pub fn send(&mut self, now: Instant, from: usize, to: usize, payload: T) {
        self.sent += 1;
        if self.rng.unit() < self.link.loss {
            self.lost += 1;
            return;
        }
        let copies = if self.rng.unit() < self.link.duplicate {
            self.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let at = now + self.delay();
            self.seq += 1;
            self.in_flight.push(Datagram {
                at,
                seq: self.seq,
                from,
                to,
                payload: payload.clone(),
            });
        }
    }

    /// Earliest delivery time.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.iter().map(|d| d.at).min()
    }

    /// Removes and returns every datagram due at or before `now`, in delivery order.
    pub fn deliver(&mut self, now: Instant) -> Vec<Datagram<T>> {
        let (mut due, rest): (Vec<_>, Vec<_>) = self.in_flight.drain(..).partition(|d| d.at <= now);
        self.in_flight = rest;
        due.sort_by_key(|d| (d.at, d.seq));
        due
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}
