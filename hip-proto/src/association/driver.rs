//! Per-association driver: the state of [`super::state`] plus the timers that
//! belong to it (RFC 7401 section 4.4.2-4.4.3): I1/I2/CLOSE retransmission, the
//! R2-SENT wait, UAL expiry, the CLOSED (UAL + 2 MSL) and E-FAILED lingers.
//!
//! Packet processing is the engine's job; it passes the outcome as an [`Input`] to
//! [`Driver::apply`] and performs the returned [`Action`]. Time only comes in as
//! arguments (`now`), never from a clock.

use super::state::{step, Action, HitOrder, Input, State, Step};
use super::timer::{Duration, Instant, Retransmit, RetransmitOutcome};
use crate::endpoint::config::Config;
use crate::Hit;
use std::sync::Arc;

/// Timer settings of an endpoint's associations, copied once from its
/// [`Config`] and shared by every [`Driver`] (in each association they were
/// a quarter of its size).
#[derive(Debug)]
pub struct Timers {
    i1: Retransmit,
    i2: Retransmit,
    close: Retransmit,
    /// UPDATE retransmission (RFC 7401 section 6.11), for the
    /// associations that make their UPDATE state.
    update: Retransmit,
    ual: Duration,
    msl: Duration,
    failed_linger: Duration,
    r2_wait: Duration,
}

impl Timers {
    /// The timer settings of `cfg`.
    pub fn new(cfg: &Config) -> Arc<Self> {
        Arc::new(Timers {
            i1: Retransmit::new(cfg.i1_retransmit),
            i2: Retransmit::new(cfg.i2_retransmit),
            close: Retransmit::new(cfg.close_retransmit),
            update: Retransmit::new(cfg.update_retransmit),
            ual: cfg.ual,
            msl: cfg.msl,
            failed_linger: cfg.failed_linger,
            r2_wait: (cfg.i2_retransmit.initial * 2).max(Duration::from_secs(1)),
        })
    }
}

/// State and timers of one association.
#[derive(Debug, Clone)]
pub struct Driver {
    /// Local HIT.
    pub local_hit: Hit,
    /// Peer HIT.
    pub peer_hit: Hit,
    order: HitOrder,
    state: State,
    retransmit: Retransmit,
    life: Arc<Timers>,
    last_activity: Instant,
    closing_since: Option<Instant>,
    linger_until: Option<Instant>,
    r2_wait_until: Option<Instant>,
    /// When the first I1 left (cleared once the I1 is retransmitted).
    i1_sent_at: Option<Instant>,
}

impl Driver {
    /// A new association in UNASSOCIATED.
    pub fn new(local_hit: Hit, peer_hit: Hit, cfg: &Config, now: Instant) -> Self {
        Self::with_timers(local_hit, peer_hit, Timers::new(cfg), now)
    }

    /// A new association in UNASSOCIATED with shared timer settings.
    pub fn with_timers(local_hit: Hit, peer_hit: Hit, timers: Arc<Timers>, now: Instant) -> Self {
        Driver {
            local_hit,
            peer_hit,
            order: HitOrder::of(&local_hit, &peer_hit),
            state: State::Unassociated,
            retransmit: timers.i1,
            life: timers,
            last_activity: now,
            closing_since: None,
            linger_until: None,
            r2_wait_until: None,
            i1_sent_at: None,
        }
    }

    /// A disarmed UPDATE retransmission timer with the endpoint's settings.
    pub fn update_timer(&self) -> Retransmit {
        self.life.update
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Applies one input at `now` and re-arms the timers of the new state.
    pub fn apply(&mut self, now: Instant, input: Input) -> Step {
        let prev = self.state;
        let s = step(prev, input, self.order);
        if s.action != Action::Drop {
            self.last_activity = now;
        }
        self.state = s.next;
        match (s.action, input) {
            // First transmissions start the timer; timer-driven resends were re-armed in poll.
            (Action::SendI1, Input::Timeout)
            | (Action::SendI2, Input::Timeout)
            | (Action::SendClose, Input::Timeout) => {}
            (Action::SendI1, _) => {
                self.retransmit = self.life.i1;
                self.retransmit.start(now);
                self.i1_sent_at = Some(now);
            }
            (Action::SendI2, _) => {
                // An R1 answering the only I1 measures the round trip; the I2
                // timer starts from it instead of the blind initial value.
                let rtt = match (prev, self.retransmit.retries()) {
                    (State::I1Sent, 0) => self.i1_sent_at.map(|t| now - t),
                    _ => None,
                };
                self.i1_sent_at = None;
                self.retransmit = self.life.i2;
                match rtt {
                    Some(rtt) => self.retransmit.start_after_rtt(now, rtt),
                    None => self.retransmit.start(now),
                }
            }
            (Action::SendClose, _) => {
                self.retransmit = self.life.close;
                self.retransmit.start(now);
                self.closing_since = Some(now);
            }
            _ => {}
        }
        if prev != s.next {
            self.on_enter(now, s.next);
        }
        s
    }

    fn on_enter(&mut self, now: Instant, state: State) {
        self.linger_until = None;
        self.r2_wait_until = None;
        match state {
            State::Established | State::Closed | State::EFailed | State::Unassociated => {
                self.retransmit.stop();
            }
            State::R2Sent => {
                self.retransmit.stop();
                // Without data or UPDATE, move to ESTABLISHED after the I2 retransmission
                // window (the peer would have re-sent I2 had R2 been lost).
                self.r2_wait_until = Some(now + self.life.r2_wait);
            }
            _ => {}
        }
        match state {
            State::Closed => self.linger_until = Some(now + self.life.ual + self.life.msl * 2),
            State::EFailed => self.linger_until = Some(now + self.life.failed_linger),
            State::Closing => {}
            _ => self.closing_since = None,
        }
    }

    /// The next instant [`Driver::handle_timeout`] must be called at.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ual = match self.state {
            State::Established | State::R2Sent => Some(self.last_activity + self.life.ual),
            _ => None,
        };
        [
            self.retransmit.deadline(),
            self.linger_until,
            self.r2_wait_until,
            ual,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Handles expired timers at `now`; returns the transition made, if any.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Step> {
        if let Some(t) = self.linger_until {
            if now >= t {
                return Some(self.apply(now, Input::LingerExpired));
            }
        }
        if let Some(t) = self.r2_wait_until {
            if now >= t && self.state == State::R2Sent {
                return Some(self.apply(now, Input::Timeout));
            }
        }
        if matches!(self.state, State::Established | State::R2Sent)
            && now >= self.last_activity + self.life.ual
        {
            return Some(self.apply(now, Input::UalExpired));
        }
        match self.retransmit.poll(now) {
            RetransmitOutcome::NotDue => None,
            RetransmitOutcome::Resend => {
                // CLOSING gives up once UAL + MSL have passed since the first CLOSE.
                if self.state == State::Closing
                    && self
                        .closing_since
                        .is_some_and(|t| now >= t + self.life.ual + self.life.msl)
                {
                    self.retransmit.stop();
                    return Some(self.apply(now, Input::RetriesExhausted));
                }
                Some(self.apply(now, Input::Timeout))
            }
            RetransmitOutcome::GiveUp => Some(self.apply(now, Input::RetriesExhausted)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::default()
    }

    #[test]
    fn i1_retransmits_then_fails_then_lingers_back() {
        let c = cfg();
        let mut d = Driver::new(Hit([1; 16]), Hit([2; 16]), &c, Instant(0));
        assert_eq!(d.poll_timeout(), None);
        assert_eq!(
            d.apply(Instant(0), Input::UserDataToSend).action,
            Action::SendI1
        );
        let mut resends = 0;
        let mut now;
        loop {
            now = d.poll_timeout().expect("armed");
            let s = d.handle_timeout(now).expect("due");
            if s.action == Action::SendI1 {
                resends += 1;
            } else {
                break;
            }
        }
        assert_eq!(resends, c.i1_retransmit.max_retries);
        assert_eq!(d.state(), State::EFailed);
        let back = d.poll_timeout().expect("linger");
        assert_eq!(back, now + c.failed_linger);
        assert_eq!(
            d.handle_timeout(back).map(|s| s.next),
            Some(State::Unassociated)
        );
    }

    #[test]
    fn r1_switches_to_i2_timer_and_r2_stops_it() {
        let c = cfg();
        let mut d = Driver::new(Hit([1; 16]), Hit([2; 16]), &c, Instant(0));
        d.apply(Instant(0), Input::UserDataToSend);
        let t = Instant(500_000_000);
        assert_eq!(d.apply(t, Input::R1 { ok: true }).action, Action::SendI2);
        // R1 500 ms after the only I1: 4 x RTT is above the initial timeout.
        assert_eq!(d.poll_timeout(), Some(t + c.i2_retransmit.initial));
        d.apply(t, Input::R2 { ok: true });
        assert_eq!(d.state(), State::Established);
        assert_eq!(d.poll_timeout(), Some(t + c.ual), "only UAL left");
        let s = d.handle_timeout(t + c.ual).expect("ual");
        assert_eq!(
            s,
            Step {
                next: State::Closing,
                action: Action::SendClose
            }
        );
        // CLOSE is retransmitted until CLOSE_ACK.
        let r = d.poll_timeout().expect("close timer");
        assert_eq!(
            d.handle_timeout(r).map(|s| s.action),
            Some(Action::SendClose)
        );
        assert_eq!(
            d.apply(r, Input::CloseAck { ok: true }).next,
            State::Unassociated
        );
    }

    #[test]
    fn i2_timer_starts_from_the_i1_round_trip_only_when_unambiguous() {
        let c = cfg();
        let ms = |n: u64| Instant(n * 1_000_000);
        // R1 40 ms after the only I1: I2 timeout 4 x 40 ms, raised to 200 ms.
        let mut d = Driver::new(Hit([1; 16]), Hit([2; 16]), &c, ms(0));
        d.apply(ms(0), Input::UserDataToSend);
        d.apply(ms(40), Input::R1 { ok: true });
        assert_eq!(d.poll_timeout(), Some(ms(240)));
        // 100 ms: 400 ms.
        let mut d = Driver::new(Hit([1; 16]), Hit([2; 16]), &c, ms(0));
        d.apply(ms(0), Input::UserDataToSend);
        d.apply(ms(100), Input::R1 { ok: true });
        assert_eq!(d.poll_timeout(), Some(ms(500)));
        // 150 ms: 600 ms, capped at the configured initial timeout.
        let mut d = Driver::new(Hit([1; 16]), Hit([2; 16]), &c, ms(0));
        d.apply(ms(0), Input::UserDataToSend);
        d.apply(ms(150), Input::R1 { ok: true });
        assert_eq!(d.poll_timeout(), Some(ms(150) + c.i2_retransmit.initial));
        // After an I1 retransmission the round trip is ambiguous (Karn): the
        // configured initial timeout.
        let mut d = Driver::new(Hit([1; 16]), Hit([2; 16]), &c, ms(0));
        d.apply(ms(0), Input::UserDataToSend);
        let t = d.poll_timeout().expect("I1 timer");
        assert_eq!(d.handle_timeout(t).map(|s| s.action), Some(Action::SendI1));
        let r1_at = t + Duration::from_millis(30);
        d.apply(r1_at, Input::R1 { ok: true });
        assert_eq!(d.poll_timeout(), Some(r1_at + c.i2_retransmit.initial));
    }

    #[test]
    fn responder_r2_sent_moves_on_by_data_or_timer() {
        let c = cfg();
        let mut d = Driver::new(Hit([2; 16]), Hit([1; 16]), &c, Instant(0));
        assert_eq!(
            d.apply(Instant(0), Input::I2 { ok: true }).action,
            Action::SendR2
        );
        let t = d.poll_timeout().expect("r2 wait");
        assert!(t > Instant(0) && t < Instant(0) + c.ual);
        assert_eq!(
            d.handle_timeout(t).map(|s| s.next),
            Some(State::Established)
        );
        let mut e = Driver::new(Hit([2; 16]), Hit([1; 16]), &c, Instant(0));
        e.apply(Instant(0), Input::I2 { ok: true });
        assert_eq!(
            e.apply(Instant(1), Input::UserDataReceived).next,
            State::Established
        );
    }

    #[test]
    fn closed_lingers_ual_plus_two_msl() {
        let c = cfg();
        let mut d = Driver::new(Hit([2; 16]), Hit([1; 16]), &c, Instant(0));
        d.apply(Instant(0), Input::I2 { ok: true });
        d.apply(Instant(0), Input::UserDataReceived);
        assert_eq!(
            d.apply(Instant(0), Input::Close { ok: true }).action,
            Action::SendCloseAck
        );
        assert_eq!(d.poll_timeout(), Some(Instant(0) + c.ual + c.msl * 2));
    }
}
