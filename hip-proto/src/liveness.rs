//! When to fail over (RFC 8047 multihoming failover, with the reachability
//! check of RFC 8046 section 5.4): silence on the data path is
//! judged against what the peer was asked to send.
//!
//! The data plane reports a peer as silent when it sends ESP there and hears
//! nothing back for a while. That alone proves nothing: traffic may be
//! one-way (a UDP stream, a download's last ACKs) or the first packet after
//! a long idle period. So the first report only asks for a heartbeat (see
//! `Endpoint::heartbeat`: UPDATE with ECHO_REQUEST_SIGNED on the path in
//! use); only a heartbeat left unanswered for [`Liveness::wait`] makes the
//! peer due for a failover. A confirmation (the echo, or any inbound data)
//! clears it. Memory is bounded by [`MAX_TRACKED`]; time is an input.
use crate::association::{Duration, Instant};
use crate::Hit;
use std::collections::HashMap;

/// Peers with an outstanding heartbeat at most; more reports wait.
pub const MAX_TRACKED: usize = 65536;

/// What to do about a silent peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send a heartbeat on the path in use, then call [`Liveness::sent`].
    Heartbeat,
    /// A heartbeat is outstanding: wait for it.
    Wait,
}

/// Outstanding heartbeats.
#[derive(Debug, Clone)]
pub struct Liveness {
    wait: Duration,
    sent: HashMap<Hit, Instant>,
}

impl Liveness {
    /// Heartbeats are given `wait` to be answered.
    pub fn new(wait: Duration) -> Self {
        Liveness {
            wait,
            sent: HashMap::new(),
        }
    }

    /// How long a heartbeat is given.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// The data plane reports `peer` silent.
    pub fn silent(&self, peer: &Hit) -> Verdict {
        if self.sent.contains_key(peer) || self.sent.len() >= MAX_TRACKED {
            Verdict::Wait
        } else {
            Verdict::Heartbeat
        }
    }

    /// A heartbeat to `peer` went out at `now`.
    pub fn sent(&mut self, peer: Hit, now: Instant) {
        if self.sent.len() < MAX_TRACKED {
            self.sent.insert(peer, now);
        }
    }

    /// The path to `peer` works (the heartbeat's answer, inbound data), or
    /// its association is gone.
    pub fn confirmed(&mut self, peer: &Hit) {
        self.sent.remove(peer);
    }

    /// Peers whose heartbeat went unanswered for [`Self::wait`] at `now`:
    /// fail them over (each is returned once).
    pub fn due(&mut self, now: Instant) -> Vec<Hit> {
        let wait = self.wait;
        let due: Vec<Hit> = self
            .sent
            .iter()
            .filter(|(_, t)| now.saturating_duration_since(**t) >= wait)
            .map(|(h, _)| *h)
            .collect();
        for h in &due {
            self.sent.remove(h);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(n: u8) -> Hit {
        Hit([0x20, 1, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n])
    }

    #[test]
    fn silence_asks_for_a_heartbeat_first_and_fails_over_only_unanswered() {
        let mut l = Liveness::new(Duration::from_millis(1500));
        let t0 = Instant(1_000_000_000);
        assert_eq!(l.silent(&hit(1)), Verdict::Heartbeat);
        l.sent(hit(1), t0);
        assert_eq!(l.silent(&hit(1)), Verdict::Wait, "one heartbeat at a time");
        assert!(l.due(t0 + Duration::from_millis(1499)).is_empty());
        assert_eq!(l.due(t0 + Duration::from_millis(1500)), vec![hit(1)]);
        assert!(
            l.due(t0 + Duration::from_secs(9)).is_empty(),
            "reported once"
        );
        // Answered in time: never due.
        l.sent(hit(2), t0);
        l.confirmed(&hit(2));
        assert!(l.due(t0 + Duration::from_secs(9)).is_empty());
        assert_eq!(l.silent(&hit(2)), Verdict::Heartbeat);
    }
}
