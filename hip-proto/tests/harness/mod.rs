//! Two (or more) real [`Endpoint`]s exchanging real HIP packets over the
//! deterministic network of `netsim` (seeded loss, duplication, reordering).
#![allow(dead_code)]

use std::net::IpAddr;
use std::sync::OnceLock;

use hip_proto::association::{Duration, Instant, State};
use hip_proto::crypto::hi::{HostIdentity, KeySpec};
use hip_proto::endpoint::{Config, DropReason, Endpoint, Event, Incoming, LocalIdentity, Transmit};
use hip_proto::registry::Version;
use hip_proto::Hit;

use crate::netsim::{Link, Net, Rng};

/// Two distinct keys per algorithm (one per side), generated once per test
/// binary (RSA is slow).
pub fn keys(spec: KeySpec) -> [HostIdentity; 2] {
    static KEYS: OnceLock<Vec<(KeySpec, [HostIdentity; 2])>> = OnceLock::new();
    let all = KEYS.get_or_init(|| {
        [
            KeySpec::EcdsaP256,
            KeySpec::EcdsaP384,
            KeySpec::Ed25519,
            KeySpec::Rsa(2048),
        ]
        .into_iter()
        .enumerate()
        .map(|(n, s)| {
            let gen = |side: u64| {
                HostIdentity::generate(s, &mut rand_core_seeded(n as u64 * 2 + side))
                    .expect("keygen")
            };
            (s, [gen(0), gen(1)])
        })
        .collect()
    });
    all.iter().find(|(s, _)| *s == spec).expect("key").1.clone()
}

/// A deterministic CSPRNG stand-in for key generation in tests.
pub struct TestRng(Rng);

impl rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}
impl rand_core::CryptoRng for TestRng {}

pub fn rand_core_seeded(seed: u64) -> TestRng {
    TestRng(Rng::new(seed ^ 0x5eed))
}

/// A host: endpoint, its HIT and locator, the events it produced.
pub struct Host {
    pub ep: Endpoint,
    pub hit: Hit,
    pub loc: IpAddr,
    pub events: Vec<Event>,
    pub rng: Rng,
}

impl Host {
    pub fn new(cfg: Config, hi: HostIdentity, version: Version, loc: IpAddr, seed: u64) -> Host {
        let mut rng = Rng::new(seed);
        let mut ep = Endpoint::new(cfg, &mut |b: &mut [u8]| rng.fill(b)).expect("config");
        let id = LocalIdentity::new(hi, version).expect("identity");
        let hit = id.hit;
        ep.add_identity(id);
        Host {
            ep,
            hit,
            loc,
            events: Vec::new(),
            rng,
        }
    }

    pub fn random(&mut self) -> impl FnMut(&mut [u8]) + '_ {
        |b: &mut [u8]| self.rng.fill(b)
    }

    pub fn established(&self) -> Option<&Event> {
        self.events
            .iter()
            .rev()
            .find(|e| matches!(e, Event::Established { .. }))
    }
}

/// Packets on the wire: (transmit).
pub type Wire = Net<Transmit>;

pub fn locator(n: u8) -> IpAddr {
    format!("2001:db8::{n}").parse().unwrap()
}

/// Drains transmits and events of host `n` into the network.
pub fn flush(now: Instant, hosts: &mut [Host], n: usize, net: &mut Wire) {
    while let Some(t) = hosts[n].ep.poll_transmit() {
        let to = hosts.iter().position(|h| h.loc == t.dst);
        if let Some(to) = to {
            net.send(now, n, to, t);
        }
    }
    while let Some(e) = hosts[n].ep.poll_event() {
        hosts[n].events.push(e);
    }
}

/// Runs the network until `done` holds or `limit` of simulated time passes.
/// Established hosts feed `data_received` to their peer once, as ESP would.
pub fn run(
    hosts: &mut [Host],
    net: &mut Wire,
    start: Instant,
    limit: Duration,
    done: impl Fn(&[Host]) -> bool,
) -> Instant {
    let mut now = start;
    let end = start + limit;
    for n in 0..hosts.len() {
        flush(now, hosts, n, net);
    }
    let mut data_sent = vec![false; hosts.len()];
    for _ in 0..1_000_000 {
        if done(hosts) || now > end {
            break;
        }
        // ESP from an established initiator moves its responder out of R2-SENT.
        for n in 0..hosts.len() {
            if !data_sent[n] {
                if let Some(Event::Established {
                    peer_hit,
                    local_hit,
                    ..
                }) = hosts[n].established()
                {
                    let (p, l) = (*peer_hit, *local_hit);
                    if hosts[n].ep.state(l, p) == State::Established {
                        data_sent[n] = true;
                        if let Some(m) = hosts.iter().position(|h| h.hit == p) {
                            hosts[m].ep.data_received(now, p, l);
                        }
                    }
                }
            }
        }
        let next = std::iter::once(net.next_delivery())
            .chain(hosts.iter().map(|h| h.ep.poll_timeout()))
            .flatten()
            .min();
        let Some(next) = next else { break };
        // Nothing past the limit is processed: a caller's `limit` is a
        // deadline, not a hint.
        if next > end {
            break;
        }
        now = next.max(now);
        for d in net.deliver(now) {
            let t = d.payload;
            let h = &mut hosts[d.to];
            let mut rng = std::mem::replace(&mut h.rng, Rng::new(0));
            h.ep.handle(
                now,
                Incoming {
                    src: t.src,
                    dst: t.dst,
                    udp_port: t.udp_port,
                    bytes: &t.bytes,
                },
                &mut |b: &mut [u8]| rng.fill(b),
            );
            h.rng = rng;
            flush(now, hosts, d.to, net);
        }
        for n in 0..hosts.len() {
            let h = &mut hosts[n];
            if h.ep.poll_timeout().is_some_and(|t| t <= now) {
                let mut rng = std::mem::replace(&mut h.rng, Rng::new(0));
                h.ep.handle_timeout(now, &mut |b: &mut [u8]| rng.fill(b));
                h.rng = rng;
            }
            flush(now, hosts, n, net);
        }
    }
    now
}

/// Both hosts have an Established event for each other and the same ESP keys/SPIs.
pub fn assert_keys_match(a: &Host, b: &Host) {
    let (Some(Event::Established { esp: ea, .. }), Some(Event::Established { esp: eb, .. })) =
        (a.established(), b.established())
    else {
        panic!("not established: {:?} / {:?}", a.events, b.events);
    };
    assert_eq!(ea.suite, eb.suite);
    assert_eq!(ea.spi_out, eb.spi_in, "A's outbound SPI is B's inbound");
    assert_eq!(ea.spi_in, eb.spi_out);
    assert_eq!(ea.keys_out, eb.keys_in, "A->B keys");
    assert_eq!(ea.keys_in, eb.keys_out, "B->A keys");
    assert!(ea.spi_in > 255 && ea.spi_out > 255);
}

pub fn both_established(h: &[Host]) -> bool {
    h.len() >= 2
        && h[0].ep.state(h[0].hit, h[1].hit) == State::Established
        && h[1].ep.state(h[1].hit, h[0].hit) == State::Established
}

pub fn link_perfect() -> Link {
    Link::PERFECT
}

/// Hands one transmit to `h`; returns why it was dropped, if it was.
pub fn deliver(h: &mut Host, now: Instant, t: &Transmit) -> Result<(), DropReason> {
    let mut rng = std::mem::replace(&mut h.rng, Rng::new(0));
    let r = h.ep.handle_checked(
        now,
        Incoming {
            src: t.src,
            dst: t.dst,
            udp_port: t.udp_port,
            bytes: &t.bytes,
        },
        &mut |b: &mut [u8]| rng.fill(b),
    );
    h.rng = rng;
    r
}

/// What `h` has to send, its events recorded.
pub fn take(h: &mut Host) -> Vec<Transmit> {
    let mut v = Vec::new();
    while let Some(t) = h.ep.poll_transmit() {
        v.push(t);
    }
    while let Some(e) = h.ep.poll_event() {
        h.events.push(e);
    }
    v
}
