//! The endpoint's association table: one [`Driver`] per (local HIT, peer HIT), the
//! aggregated next deadline, and the events timers produce (RFC 7401 section 4.4.2:
//! E-FAILED after the retries, UNASSOCIATED after CLOSING/CLOSED).
//!
//! Entries are only created by an initiator's `connect` or by a responder after a
//! *valid* I2 (RFC 7401 section 4.1.1: no per-peer state before that), so
//! [`Associations::len`] is the state count the DoS tests assert on.

use std::collections::{HashMap, VecDeque};

use super::config::Config;
use super::event::{Event, FailReason};
use crate::association::{Action, Driver, Input, Instant, State};
use crate::Hit;

/// Key of an association.
pub type HitPair = (Hit, Hit);

/// Association table plus the event queue.
#[derive(Debug, Default)]
pub struct Associations {
    map: HashMap<HitPair, Driver>,
    events: VecDeque<Event>,
}

impl Associations {
    /// Empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of associations holding state.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no association holds state.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The driver of a HIT pair.
    pub fn get_mut(&mut self, local: Hit, peer: Hit) -> Option<&mut Driver> {
        self.map.get_mut(&(local, peer))
    }

    /// State of a HIT pair (UNASSOCIATED when absent).
    pub fn state(&self, local: Hit, peer: Hit) -> State {
        self.map
            .get(&(local, peer))
            .map_or(State::Unassociated, Driver::state)
    }

    /// Returns the driver of the pair, creating it in UNASSOCIATED if absent.
    pub fn entry(&mut self, cfg: &Config, now: Instant, local: Hit, peer: Hit) -> &mut Driver {
        self.map
            .entry((local, peer))
            .or_insert_with(|| Driver::new(local, peer, cfg, now))
    }

    /// Earliest deadline of all associations.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.map.values().filter_map(Driver::poll_timeout).min()
    }

    /// Runs due timers; returns the (pair, action) list the engine must perform
    /// (retransmissions, CLOSE). Emits `Failed` / `Closed` events and drops entries
    /// that went back to UNASSOCIATED.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<(HitPair, Action)> {
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for (pair, d) in self.map.iter_mut() {
            // Several timers may be due at once.
            for _ in 0..4 {
                let before = d.state();
                let Some(s) = d.handle_timeout(now) else {
                    break;
                };
                if s.next == State::EFailed && before != State::EFailed {
                    let reason = if before == State::I1Sent {
                        FailReason::I1Timeout
                    } else {
                        FailReason::I2Timeout
                    };
                    self.events.push_back(Event::Failed {
                        peer_hit: pair.1,
                        reason,
                    });
                }
                if s.action == Action::Discard && matches!(before, State::Closing | State::Closed) {
                    self.events.push_back(Event::Closed { peer_hit: pair.1 });
                }
                if s.next == State::Unassociated {
                    gone.push(*pair);
                    break;
                }
                if !matches!(s.action, Action::None | Action::Drop) {
                    out.push((*pair, s.action));
                }
            }
        }
        for p in gone {
            self.map.remove(&p);
        }
        out
    }

    /// Applies an already processed input to an existing association.
    pub fn apply(&mut self, now: Instant, local: Hit, peer: Hit, input: Input) -> Option<Action> {
        let d = self.map.get_mut(&(local, peer))?;
        let before = d.state();
        let s = d.apply(now, input);
        if s.action == Action::Discard && matches!(before, State::Closing | State::Closed) {
            self.events.push_back(Event::Closed { peer_hit: peer });
        }
        if s.next == State::Unassociated {
            self.map.remove(&(local, peer));
        }
        Some(s.action)
    }

    /// Queues an event.
    pub fn push_event(&mut self, e: Event) {
        self.events.push_back(e);
    }

    /// Next event for the caller.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_initiator_emits_event_and_frees_state_after_linger() {
        let cfg = Config::default();
        let mut t = Associations::new();
        let (l, p) = (Hit([1; 16]), Hit([2; 16]));
        let d = t.entry(&cfg, Instant(0), l, p);
        assert_eq!(
            d.apply(Instant(0), Input::UserDataToSend).action,
            Action::SendI1
        );
        let mut resends = 0;
        while let Some(when) = t.poll_timeout() {
            resends += t.handle_timeout(when).len();
            if t.state(l, p) == State::EFailed {
                break;
            }
        }
        assert_eq!(resends as u32, cfg.i1_retransmit.max_retries);
        assert_eq!(
            t.poll_event(),
            Some(Event::Failed {
                peer_hit: p,
                reason: FailReason::I1Timeout
            })
        );
        assert_eq!(t.len(), 1);
        let linger = t.poll_timeout().expect("linger");
        t.handle_timeout(linger);
        assert!(t.is_empty());
        assert_eq!(t.poll_timeout(), None);
    }

    #[test]
    fn close_ack_or_timeout_closes() {
        let cfg = Config::default();
        let mut t = Associations::new();
        let (l, p) = (Hit([1; 16]), Hit([2; 16]));
        t.entry(&cfg, Instant(0), l, p)
            .apply(Instant(0), Input::I2 { ok: true });
        assert_eq!(
            t.apply(Instant(1), l, p, Input::UserDataReceived),
            Some(Action::Accept)
        );
        assert_eq!(
            t.apply(Instant(2), l, p, Input::Close { ok: true }),
            Some(Action::SendCloseAck)
        );
        let when = t.poll_timeout().expect("closed linger");
        t.handle_timeout(when);
        assert_eq!(t.poll_event(), Some(Event::Closed { peer_hit: p }));
        assert!(t.is_empty());
        assert_eq!(
            t.apply(Instant(3), l, p, Input::I1),
            None,
            "unknown association"
        );
    }
}
