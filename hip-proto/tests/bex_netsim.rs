//! The association state machine and its timers driven over the deterministic
//! network (RFC 7401 section 4.4). Packets here are the packet *types* only: the
//! codecs and crypto are exercised by the engine tests; this checks that states,
//! retransmission and simultaneous opening converge under loss, duplication and
//! reordering.

mod netsim;

use hip_proto::association::{Action, Driver, Duration, Input, Instant, State};
use hip_proto::endpoint::Config;
use hip_proto::Hit;
use netsim::{Link, Net};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pkt {
    I1,
    R1,
    I2,
    R2,
    Data,
}

struct Node {
    drv: Driver,
    established_at: Option<Instant>,
}

fn input_for(p: Pkt) -> Input {
    match p {
        Pkt::I1 => Input::I1,
        Pkt::R1 => Input::R1 { ok: true },
        Pkt::I2 => Input::I2 { ok: true },
        Pkt::R2 => Input::R2 { ok: true },
        Pkt::Data => Input::UserDataReceived,
    }
}

fn packet_for(a: Action) -> Option<Pkt> {
    match a {
        Action::SendI1 => Some(Pkt::I1),
        Action::SendR1 => Some(Pkt::R1),
        Action::SendI2 => Some(Pkt::I2),
        Action::SendR2 => Some(Pkt::R2),
        _ => None,
    }
}

/// Runs until both sides are ESTABLISHED or a side fails; returns the end states.
fn run(seed: u64, link: Link, both_open: bool, cfg: &Config) -> (State, State, Net<Pkt>) {
    let hits = [
        Hit([0x20, 1, 0, 0x21, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        Hit([0x20, 1, 0, 0x21, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]),
    ];
    let t0 = Instant(1_000_000);
    let mut nodes = [0, 1].map(|n| Node {
        drv: Driver::new(hits[n], hits[1 - n], cfg, t0),
        established_at: None,
    });
    let mut net = Net::new(seed, link);
    let openers: &[usize] = if both_open { &[0, 1] } else { &[0] };
    for &n in openers {
        let s = nodes[n].drv.apply(t0, Input::UserDataToSend);
        if let Some(p) = packet_for(s.action) {
            net.send(t0, n, 1 - n, p);
        }
    }
    let mut now = t0;
    let deadline = t0 + Duration::from_secs(600);
    loop {
        let both = nodes.iter().all(|n| n.drv.state() == State::Established);
        let failed = nodes.iter().any(|n| n.drv.state() == State::EFailed);
        if both || failed || now > deadline {
            break;
        }
        let next = [
            net.next_delivery(),
            nodes[0].drv.poll_timeout(),
            nodes[1].drv.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { break };
        now = next.max(now);
        for d in net.deliver(now) {
            let node = &mut nodes[d.to];
            let s = node.drv.apply(now, input_for(d.payload));
            if let Some(p) = packet_for(s.action) {
                net.send(now, d.to, d.from, p);
            }
        }
        for (n, node) in nodes.iter_mut().enumerate() {
            if let Some(s) = node.drv.handle_timeout(now) {
                if let Some(p) = packet_for(s.action) {
                    net.send(now, n, 1 - n, p);
                }
            }
        }
        // Established initiators send data so the responder leaves R2-SENT.
        for (n, node) in nodes.iter_mut().enumerate() {
            if node.drv.state() == State::Established && node.established_at.is_none() {
                node.established_at = Some(now);
                net.send(now, n, 1 - n, Pkt::Data);
            }
        }
    }
    (nodes[0].drv.state(), nodes[1].drv.state(), net)
}

fn lossy(loss: f64) -> Link {
    Link {
        loss,
        duplicate: 0.1,
        reorder: 0.2,
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(30),
    }
}

#[test]
fn perfect_network_completes() {
    let (a, b, net) = run(1, Link::PERFECT, false, &Config::default());
    assert_eq!((a, b), (State::Established, State::Established));
    assert_eq!(
        net.sent, 6,
        "I1 R1 I2 R2, then one data packet from each side"
    );
}

#[test]
fn thirty_percent_loss_with_duplication_and_reordering_completes() {
    let mut cfg = Config::default();
    cfg.i1_retransmit.max_retries = 10;
    cfg.i2_retransmit.max_retries = 10;
    let mut lost = 0;
    for seed in 0..200 {
        let (a, b, net) = run(seed, lossy(0.3), false, &cfg);
        assert_eq!(
            (a, b),
            (State::Established, State::Established),
            "seed {seed}"
        );
        lost += net.lost;
    }
    assert!(lost > 100, "the loss was real: {lost}");
}

#[test]
fn simultaneous_opening_converges() {
    for seed in 0..100 {
        let (a, b, _) = run(seed, lossy(0.1), true, &Config::default());
        assert_eq!(
            (a, b),
            (State::Established, State::Established),
            "seed {seed}"
        );
    }
}

#[test]
fn total_loss_fails_cleanly() {
    let link = Link {
        loss: 1.0,
        ..Link::PERFECT
    };
    let (a, b, net) = run(3, link, false, &Config::default());
    assert_eq!(a, State::EFailed);
    assert_eq!(b, State::Unassociated);
    assert_eq!(
        net.sent,
        1 + u64::from(Config::default().i1_retransmit.max_retries)
    );
}

#[test]
fn netsim_is_deterministic() {
    let mut a: Net<u32> = Net::new(42, lossy(0.3));
    let mut b: Net<u32> = Net::new(42, lossy(0.3));
    for n in 0..1000 {
        a.send(Instant(n), 0, 1, n as u32);
        b.send(Instant(n), 0, 1, n as u32);
    }
    let da: Vec<_> = a
        .deliver(Instant(u64::MAX))
        .into_iter()
        .map(|d| (d.at, d.payload))
        .collect();
    let db: Vec<_> = b
        .deliver(Instant(u64::MAX))
        .into_iter()
        .map(|d| (d.at, d.payload))
        .collect();
    assert_eq!(da, db);
    assert!((250..350).contains(&a.lost), "about 30 % lost: {}", a.lost);
    assert!(a.duplicated > 0);
    assert!(da.windows(2).any(|w| w[0].1 > w[1].1), "some reordering");
}
