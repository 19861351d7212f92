//! Fuzzing entry points for the `fuzz/` crate.
//!
//! [`drive_state_machine`] interprets arbitrary bytes as a sequence of state-machine
//! inputs, clock advances and I2 SOLUTION checks, and checks the invariants that must
//! hold for any input: no panic, ESTABLISHED only after a valid R2 in I2-SENT or from
//! R2-SENT, and no forged SOLUTION accepted. [`drive_endpoint`] feeds arbitrary
//! packets to a real [`super::Endpoint`] (a responder, and an initiator waiting
//! for R1): no panic, no association established by forged packets.

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

/// Deterministic key material for the fuzz endpoints (not a CSPRNG).
struct FuzzRng(u64);

impl rand_core::RngCore for FuzzRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for c in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rand_core::CryptoRng for FuzzRng {}

/// Feeds `data`, split into packets by a 2-octet length prefix, to a responder
/// endpoint and to an initiator in I1-SENT (both HIPv2, ECDSA P-256 HIs; the
/// checksum is accepted as over UDP so the fuzzer reaches the parsers and
/// checks behind it). The responder offers the rendezvous and Control Relay
/// services to anyone (RFC 8003, 8004, 9028), so the registrar's,
/// rendezvous server's and relay's paths (REG_*, FROM, RVS_HMAC, RELAY_FROM,
/// RELAY_TO, RELAY_HMAC) see the packets too. Panics only if an invariant
/// breaks: no association is established and no per-peer state (nor a
/// registration) is created by arbitrary packets.
pub fn drive_endpoint(data: &[u8]) {
    use super::core::{Endpoint, Incoming};
    use super::event::Event;
    use super::identity::LocalIdentity;
    use crate::crypto::hi::{HostIdentity, KeySpec};
    use crate::registry::Version;
    use std::sync::OnceLock;
    static KEYS: OnceLock<[HostIdentity; 2]> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        let g = |s| HostIdentity::generate(KeySpec::EcdsaP256, &mut FuzzRng(s)).expect("keygen");
        [g(1), g(2)]
    });
    let mut rng = FuzzRng(7);
    let mut random = |b: &mut [u8]| rand_core::RngCore::fill_bytes(&mut rng, b);
    let registrar = super::registration::RegistrarConfig {
        services: vec![
            crate::wire::RegType::RendezvousServer,
            crate::wire::RegType::RelayUdpHip,
            crate::wire::RegType::RelayUdpEsp,
        ],
        allow: super::registration::RegistrationPolicy::Any,
        ..Default::default()
    };
    let mk = |k: &HostIdentity, registrar, random: &mut dyn super::random::RandomSource| {
        let cfg = Config {
            registrar,
            ..Config::default()
        };
        let mut ep = Endpoint::new(cfg, random).expect("config");
        let id = LocalIdentity::new(k.clone(), Version::V2).expect("identity");
        let hit = id.hit;
        ep.add_identity(id);
        (ep, hit)
    };
    let (mut resp, _) = mk(&keys[0], registrar, &mut random);
    let (mut init, hit_i) = mk(&keys[1], Default::default(), &mut random);
    let hit_r = crate::crypto::orchid::hit_v2(keys[0].public()).expect("hit");
    let (la, lb): (std::net::IpAddr, std::net::IpAddr) =
        ([192, 0, 2, 1].into(), [192, 0, 2, 2].into());
    let now = Instant(1_000_000_000);
    let _ = init.connect(now, hit_i, hit_r, la, lb, Some(10500));
    while init.poll_transmit().is_some() {}
    let mut rest = data;
    while rest.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let pkt = &rest[2..2 + n];
        rest = &rest[2 + n..];
        for (ep, src, dst) in [(&mut resp, la, lb), (&mut init, lb, la)] {
            ep.handle(
                now,
                Incoming {
                    src,
                    dst,
                    udp_port: Some(10500),
                    bytes: pkt,
                },
                &mut random,
            );
            while ep.poll_transmit().is_some() {}
            while let Some(e) = ep.poll_event() {
                assert!(
                    !matches!(e, Event::Established { .. }),
                    "arbitrary packets established an association"
                );
            }
        }
        assert_eq!(
            resp.state_count(),
            0,
            "responder state from arbitrary packets"
        );
        assert!(
            resp.registered_clients(now).is_empty(),
            "a registration from arbitrary packets"
        );
        assert!(
            resp.relay_forwards().is_empty(),
            "a Data Relay permission from arbitrary packets"
        );
        let _ = now + Duration::from_millis(1);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn endpoint_smoke() {
        super::drive_endpoint(&[]);
        super::drive_endpoint(&[0, 4, 1, 2, 3, 4, 0, 40, 59, 4, 1, 0x21]);
    }

    #[test]
    fn smoke() {
        super::drive_state_machine(&[]);
        super::drive_state_machine(&[
            1, 0x00, 0, 0x82, 0, 0x84, 0, 0xd0, 0, 0xa0, 255, 0xf0, 5, 1, 2, 3, 4,
        ]);
    }
}
