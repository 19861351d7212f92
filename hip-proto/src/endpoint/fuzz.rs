//! Fuzzing entry points for the `fuzz/` crate.
//!
//! [`drive_state_machine`] interprets arbitrary bytes as a sequence of state-machine
//! inputs, clock advances and I2 SOLUTION checks, and checks the invariants that must
//! hold for any input: no panic, ESTABLISHED only after a valid R2 in I2-SENT or from
//! R2-SENT, and no forged SOLUTION accepted. A packet-level entry point
//! (arbitrary HIP packets into an endpoint) needs the `wire` codecs and is not here yet.

use super::compat::CompatProfile;
use super::config::Config;
use super::puzzle_secret::PuzzleSecrets;
use super::solution::{check_solution, SolutionView};
use crate::association::{Driver, Duration, Input, Instant, State};
use crate::crypto::rhash::Rhash;
use crate::Hit;

fn input_of(b: u8) -> Input {
    let ok = b & 0x80 != 0;
    match b & 0x0f {
        0 => Input::UserDataToSend,
        1 => Input::I1,
        2 => Input::R1 { ok },
        3 => Input::I2 { ok },
        4 => Input::R2 { ok },
        5 => Input::Update { ok },
        6 => Input::Notify,
        7 => Input::Close { ok },
        8 => Input::CloseAck { ok },
        9 => Input::UserDataReceived,
        _ => Input::Notify,
    }
}

/// Drives one [`Driver`] with `data`; panics only if an invariant is broken.
pub fn drive_state_machine(data: &[u8]) {
    let cfg = Config::default();
    let (a, b) = (
        Hit([0x20, 1, 0, 0x21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        Hit([0x20, 1, 0, 0x21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]),
    );
    let (local, peer) = if data.first().is_some_and(|x| x & 1 == 1) {
        (a, b)
    } else {
        (b, a)
    };
    let mut now = Instant(0);
    let mut d = Driver::new(local, peer, &cfg, now);
    let mut r = |buf: &mut [u8]| buf.fill(0x42);
    let secrets = PuzzleSecrets::new(&mut r);
    let mut chunks = data.get(1..).unwrap_or(&[]).chunks(2);
    while let Some(c) = chunks.next() {
        let (op, arg) = (c[0], c.get(1).copied().unwrap_or(0));
        match op >> 4 {
            0..=9 => {
                let before = d.state();
                let valid_path = matches!(
                    (before, input_of(op)),
                    (State::I2Sent, Input::R2 { ok: true })
                ) || before == State::R2Sent
                    || before == State::Established;
                d.apply(now, input_of(op));
                assert!(
                    d.state() != State::Established || valid_path,
                    "ESTABLISHED without a valid exchange"
                );
            }
            10..=12 => {
                now = now + Duration::from_millis(u64::from(arg) * 100);
                let _ = d.handle_timeout(now);
            }
            13 => {
                if let Some(t) = d.poll_timeout() {
                    now = now.max(t);
                    let _ = d.handle_timeout(now);
                }
            }
            _ => {
                // An attacker-built SOLUTION from the remaining bytes must not pass
                // with K >= 1 unless it carries our #I.
                let rest: Vec<u8> = chunks.by_ref().flatten().copied().collect();
                let (i, j) = rest.split_at(rest.len() / 2);
                let k = arg.max(1) % 33;
                let sol = SolutionView {
                    k: k.max(1),
                    opaque: &[0, 0],
                    i,
                    j: &j[..j.len().min(i.len())],
                };
                let ours = secrets
                    .compute(0, sol.k, &peer, &local, i.len().clamp(1, 48))
                    .ok();
                let accepted = check_solution(
                    &secrets,
                    Rhash::Sha256,
                    CompatProfile::Strict,
                    &peer,
                    &local,
                    &sol,
                )
                .is_ok();
                assert!(
                    !accepted || ours.as_deref() == Some(i),
                    "forged #I accepted"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn smoke() {
        super::drive_state_machine(&[]);
        super::drive_state_machine(&[
            1, 0x00, 0, 0x82, 0, 0x84, 0, 0xd0, 0, 0xa0, 255, 0xf0, 5, 1, 2, 3, 4,
        ]);
    }
}
