//! Replay guards that need no codec: R1_COUNTER (RFC 7401 sections 5.2.3 and 6.8,
//! RFC 5201 section 5.2.3) and the CLOSE nonce echoed in CLOSE_ACK (RFC 7401
//! sections 5.3.7-5.3.8 and 6.14-6.15: ECHO_REQUEST_SIGNED / ECHO_RESPONSE_SIGNED).

use subtle::ConstantTimeEq;

use crate::endpoint::random::RandomSource;

/// What to do with an R1 given its R1_COUNTER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum R1Disposition {
    /// Process it (first R1, or a counter at least as large as the last one).
    Process,
    /// Drop it: an older R1 generation than one already processed (replay).
    Stale,
}

/// The initiator's memory of the largest R1_COUNTER seen from a responder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct R1CounterGuard {
    last: Option<u64>,
}

impl R1CounterGuard {
    /// Checks an R1's counter (`None` when the R1 carries no R1_COUNTER, which is
    /// processed; RFC 7401 section 6.8: "If the R1_COUNTER is smaller than ... drop").
    pub fn check(&mut self, counter: Option<u64>) -> R1Disposition {
        match (counter, self.last) {
            (Some(c), Some(last)) if c < last => R1Disposition::Stale,
            (Some(c), _) => {
                self.last = Some(c);
                R1Disposition::Process
            }
            (None, _) => R1Disposition::Process,
        }
    }
}

impl R1CounterGuard {
    /// True if `counter` is strictly newer than every R1_COUNTER seen: only such
    /// an R1 restarts an exchange in I2-SENT (RFC 7401 section 6.8: a duplicate
    /// of the R1 already answered must not make a second I2).
    pub fn is_newer(&self, counter: Option<u64>) -> bool {
        match (counter, self.last) {
            (Some(c), Some(last)) => c > last,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// The nonce we put in ECHO_REQUEST_SIGNED of our CLOSE; CLOSE_ACK must echo it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseNonce([u8; 16]);

impl CloseNonce {
    /// A fresh nonce from the caller's randomness.
    pub fn new(random: &mut dyn RandomSource) -> Self {
        let mut n = [0u8; 16];
        random.fill(&mut n);
        CloseNonce(n)
    }

    /// The bytes for ECHO_REQUEST_SIGNED.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// True if a CLOSE_ACK's ECHO_RESPONSE_SIGNED carries our nonce (constant time).
    pub fn matches(&self, echoed: &[u8]) -> bool {
        echoed.len() == self.0.len() && bool::from(self.0.ct_eq(echoed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r1_counter_rejects_older_generations() {
        let mut g = R1CounterGuard::default();
        assert_eq!(g.check(None), R1Disposition::Process);
        assert_eq!(g.check(Some(5)), R1Disposition::Process);
        assert_eq!(
            g.check(Some(5)),
            R1Disposition::Process,
            "same generation, new R1"
        );
        assert_eq!(g.check(Some(4)), R1Disposition::Stale);
        assert_eq!(g.check(Some(6)), R1Disposition::Process);
        assert_eq!(g.check(Some(5)), R1Disposition::Stale);
    }

    #[test]
    fn close_ack_must_echo_our_nonce() {
        let mut r = |b: &mut [u8]| b.iter_mut().enumerate().for_each(|(n, x)| *x = n as u8);
        let n = CloseNonce::new(&mut r);
        assert!(n.matches(n.bytes()));
        let mut other = n.bytes().to_vec();
        other[3] ^= 1;
        assert!(!n.matches(&other));
        assert!(!n.matches(&n.bytes()[..15]));
        assert!(!n.matches(&[]));
    }
}
