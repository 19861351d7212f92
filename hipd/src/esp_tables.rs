//! The SA tables of hipd's data plane (RFC 4301 section 4.4.2 SAD, for BEET
//! mode, RFC 7402 section 3.1): the control actor writes them, the packet
//! workers read them without a lock.
//!
//! The control side ([`BeetEsp`]) keeps the master copy and, after every
//! change, publishes an immutable [`SaSnapshot`] (copy on write of maps of
//! `Arc`s) through an [`ArcSwap`]; a worker loads the current snapshot with
//! one atomic operation. What a worker changes per packet lives in atomics
//! shared by the snapshots: the outbound sequence number and the inbound
//! replay window inside the `hip_esp` SAs, and the per-peer [`PeerLive`]
//! counters (traffic times, credit, rekey and first-packet signals).
use crate::engine::{EngineError, SaInstall};
use crate::esp_path::EspPath;
use crate::inner_family::InnerFamily;
use crate::sharded_map::ShardedMap;
use arc_swap::ArcSwap;
use hip_esp::{InboundSa, OutboundSa, Suite};
use hip_proto::Hit;
use rand_core::RngCore;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Counters of the data plane, shared by every worker.
#[derive(Debug, Default)]
pub struct EspCounters {
    pub sealed: AtomicU64,
    pub opened: AtomicU64,
    pub unknown_spi: AtomicU64,
    pub icv_failed: AtomicU64,
    pub replayed: AtomicU64,
    pub malformed: AtomicU64,
    pub no_sa: AtomicU64,
    /// Packets sent to an unverified locator within the credit.
    pub credit_sent: AtomicU64,
    /// Data Relay Server: ESP packets forwarded on a client's permission.
    pub relay_forwarded: AtomicU64,
    /// Data Relay Server: ESP with a permitted SPI from another source.
    pub relay_wrong_source: AtomicU64,
    /// Data Relay Server: ESP over a permission's rate.
    pub relay_rate_limited: AtomicU64,
}

impl EspCounters {
    /// Named counters, prefixed `esp_` (`hipconf daemon get stats`).
    pub fn named(&self) -> std::collections::BTreeMap<String, u64> {
        [
            ("esp_sealed", &self.sealed),
            ("esp_opened", &self.opened),
            ("esp_drop_unknown_spi", &self.unknown_spi),
            ("esp_drop_icv", &self.icv_failed),
            ("esp_drop_replay", &self.replayed),
            ("esp_drop_malformed", &self.malformed),
            ("esp_drop_no_sa", &self.no_sa),
            ("esp_sent_on_credit", &self.credit_sent),
            ("esp_relay_forwarded", &self.relay_forwarded),
            ("esp_relay_drop_wrong_source", &self.relay_wrong_source),
            ("esp_relay_drop_rate_limited", &self.relay_rate_limited),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.load(Ordering::Relaxed)))
        .collect()
    }
}

/// When to ask for a rekey (RFC 7402 section 6.9; hipd.conf `rekey_packets`,
/// `rekey_bytes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RekeyLimits {
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
}

/// Most credit a peer can accumulate (octets), RFC 8046 section 3.3.2.
pub(crate) const CREDIT_MAX: u64 = 1 << 20;
/// An unverified locator is abandoned after this long.
pub(crate) const UNVERIFIED_LIFETIME: Duration = Duration::from_secs(5);
/// After a rekey, the next one waits until the peer sends on our new inbound
/// SA (it has our final ACK) or this long has passed (a peer that sends
/// nothing): starting it earlier would retire the inbound SA the peer may
/// still be using when that ACK was lost or is late (RFC 7402 section 6.9;
/// the peer retransmits its UPDATE about every second until ACKed).
pub(crate) const REKEY_SETTLE: Duration = Duration::from_secs(3);

/// What the workers update per packet for one installed set of SAs.
#[derive(Debug, Default)]
pub struct PeerLive {
    /// Packets and payload octets sealed on the outbound SA.
    pub(crate) sent_packets: AtomicU64,
    pub(crate) sent_bytes: AtomicU64,
    /// Packets and payload octets opened on the inbound SAs.
    pub(crate) recv_packets: AtomicU64,
    pub(crate) recv_bytes: AtomicU64,
    /// Last ESP sent / received, in nanoseconds since the tables' origin
    /// (0: never).
    pub(crate) last_out: AtomicU64,
    pub(crate) last_in: AtomicU64,
    /// The current silence was reported to the control actor.
    pub(crate) silence_reported: AtomicBool,
    /// Credit-based authorization (RFC 8046 section 3.3.2): octets received
    /// from the peer that may be sent to its unverified locator.
    pub(crate) credit: AtomicU64,
    /// A rekey limit was reached and reported (once per set of SAs).
    pub(crate) rekey_reported: AtomicBool,
    /// Reported and not yet taken by [`BeetEsp::rekey_due`].
    pub(crate) rekey_pending: AtomicBool,
    /// The first packet on these SAs was reported.
    pub(crate) first_in_reported: AtomicBool,
    /// We are the Responder in R2-SENT and the peer has not yet shown (by
    /// its first ESP) that it processed our R2 (RFC 7401 section 4.4.2):
    /// the workers hand packets for it to the control actor, which holds
    /// them, instead of sealing them onto an SA the peer may not have yet.
    pub(crate) held: AtomicBool,
    /// The peer's use of the new inbound SA was reported.
    pub(crate) new_spi_reported: AtomicBool,
    /// A hash of the last UDP source reported as differing from the SAs'
    /// path ([`crate::esp_path::EspPath::udp_source_moved`]); 0: none.
    pub(crate) udp_source_reported: AtomicU64,
}

/// ESP traffic with one peer since its association was established (the
/// metrics endpoint's per-peer counters); rekeys do not reset it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub sent_packets: u64,
    pub sent_bytes: u64,
    pub recv_packets: u64,
    pub recv_bytes: u64,
}

impl Traffic {
    fn add(&mut self, l: &PeerLive) {
        self.sent_packets += l.sent_packets.load(Ordering::Relaxed);
        self.sent_bytes += l.sent_bytes.load(Ordering::Relaxed);
        self.recv_packets += l.recv_packets.load(Ordering::Relaxed);
        self.recv_bytes += l.recv_bytes.load(Ordering::Relaxed);
    }
}

/// An outbound SA and what the workers count for its set of SAs, in one
/// allocation: both live as long as that set, shared by every copy of its
/// [`OutEntry`].
pub struct OutSa {
    pub(crate) out: OutboundSa,
    pub(crate) live: PeerLive,
}

/// One peer's outbound SA and the addressing both directions need.
#[derive(Clone)]
pub struct OutEntry {
    pub(crate) local_hit: Hit,
    pub(crate) local_lsi: Ipv4Addr,
    pub(crate) peer_lsi: Ipv4Addr,
    pub(crate) sa: Arc<OutSa>,
    pub(crate) dst: IpAddr,
    pub(crate) udp_port: Option<u16>,
    /// The current inbound SPI, and the one before the last rekey while it
    /// is kept.
    pub(crate) spi_in: u32,
    pub(crate) old_spi_in: Option<u32>,
    /// When these SAs were installed (nanoseconds since the origin).
    pub(crate) installed: u64,
    /// The peer's announced, unverified locator and when it was announced.
    /// Boxed: rare, and inline it made every peer's entry 32 octets larger
    /// (144 instead of 112 allocated; issue 16).
    pub(crate) unverified: Option<Box<(IpAddr, u64)>>,
}

/// An inbound SA and the peer it belongs to.
pub struct InEntry {
    pub(crate) peer: Hit,
    pub(crate) sa: InboundSa,
}

/// One direction of a Data Relay permission (RFC 9028 section 4.12.1):
/// ESP with its SPI from `from` goes on to `to`, within a rate.
#[derive(Debug)]
pub struct RelayEntry {
    pub(crate) from: std::net::SocketAddr,
    pub(crate) to: std::net::SocketAddr,
    /// Start of the current rate window (nanoseconds since the origin).
    pub(crate) window: AtomicU64,
    /// Packets forwarded in the current window.
    pub(crate) in_window: AtomicU64,
}

/// What the workers see: immutable, replaced as a whole by the control actor.
#[derive(Clone, Default)]
pub struct SaSnapshot {
    /// Outbound, by peer HIT.
    pub(crate) out: ShardedMap<Hit, Arc<OutEntry>>,
    /// Inbound, by SPI (RFC 4301 section 4.4.2: the SPI alone selects the SA).
    pub(crate) inbound: ShardedMap<u32, Arc<InEntry>>,
    /// Peer LSIs with SAs, for classifying IPv4 packets read from the TUN.
    pub(crate) lsi: ShardedMap<Ipv4Addr, Hit>,
    /// Data Relay Server: ESP forwarded for clients, by SPI (the relay
    /// refuses permissions whose SPIs clash with each other or with ours).
    pub(crate) relay: ShardedMap<u32, Arc<RelayEntry>>,
}

impl SaSnapshot {
    /// The peer an LSI with SAs stands for.
    pub fn peer_by_lsi(&self, lsi: Ipv4Addr) -> Option<Hit> {
        self.lsi.get(&lsi).copied()
    }

    /// Is there an outbound SA to `peer`?
    pub fn has_sa(&self, peer: &Hit) -> bool {
        self.out.contains_key(peer)
    }

    /// May the workers seal packets for `peer` now: an outbound SA that is
    /// not held for the peer's first ESP ([`PeerLive::held`]).
    pub fn sendable(&self, peer: &Hit) -> bool {
        self.out
            .get(peer)
            .is_some_and(|e| !e.sa.live.held.load(Ordering::Relaxed))
    }
}

/// State the control actor and the workers share (all lock-free but the
/// inner-family cache, which only workers take).
pub(crate) struct Shared {
    pub(crate) snapshot: ArcSwap<SaSnapshot>,
    pub(crate) counters: EspCounters,
    pub(crate) families: Mutex<InnerFamily>,
    pub(crate) limits: RekeyLimits,
    pub(crate) origin: Instant,
    /// Data Relay Server: most packets forwarded per permission and
    /// direction in one rate window.
    pub(crate) relay_budget: AtomicU64,
    /// The rate window, nanoseconds ([`RELAY_WINDOW`]; longer in tests).
    pub(crate) relay_window: AtomicU64,
}

/// The Data Relay's rate window.
pub(crate) const RELAY_WINDOW: Duration = Duration::from_millis(100);

impl Shared {
    /// Nanoseconds since the origin (never 0, which means "never").
    pub(crate) fn now(&self) -> u64 {
        (self.origin.elapsed().as_nanos() as u64).max(1)
    }
}

/// The control side of the SA tables.
pub struct BeetEsp {
    master: SaSnapshot,
    shared: Arc<Shared>,
    /// Traffic on SAs a rekey replaced, per peer with SAs.
    carried: HashMap<Hit, Traffic>,
}

impl Default for BeetEsp {
    fn default() -> Self {
        Self::new(RekeyLimits::default())
    }
}

fn err(e: impl ToString) -> EngineError {
    EngineError::Protocol(e.to_string())
}

impl BeetEsp {
    /// Empty tables that ask for a rekey at `limits`.
    pub fn new(limits: RekeyLimits) -> Self {
        BeetEsp {
            master: SaSnapshot::default(),
            shared: Arc::new(Shared {
                snapshot: ArcSwap::from_pointee(SaSnapshot::default()),
                counters: EspCounters::default(),
                families: Mutex::new(InnerFamily::default()),
                limits,
                origin: Instant::now(),
                relay_budget: AtomicU64::new(u64::MAX),
                relay_window: AtomicU64::new(RELAY_WINDOW.as_nanos() as u64),
            }),
            carried: HashMap::new(),
        }
    }

    /// A handle for packet workers (cheap to clone, `Send + Sync`).
    pub fn path(&self) -> EspPath {
        EspPath::new(self.shared.clone())
    }

    /// Counters of the data plane.
    pub fn counters(&self) -> std::collections::BTreeMap<String, u64> {
        self.shared.counters.named()
    }

    fn publish(&self) {
        self.shared.snapshot.store(Arc::new(self.master.clone()));
    }

    /// Data Relay Server: replaces the ESP forwarding rules (RFC 9028
    /// section 4.12.1); a rule that stays keeps its rate window.
    pub fn set_relay_forwards(&mut self, rules: &[hip_proto::endpoint::RelayForward]) {
        let old = std::mem::take(&mut self.master.relay);
        for r in rules {
            let kept = old
                .get(&r.spi)
                .filter(|e| e.from == r.from && e.to == r.to)
                .cloned();
            let e = kept.unwrap_or_else(|| {
                Arc::new(RelayEntry {
                    from: r.from,
                    to: r.to,
                    window: AtomicU64::new(0),
                    in_window: AtomicU64::new(0),
                })
            });
            self.master.relay.insert(r.spi, e);
        }
        self.publish();
    }

    /// Data Relay Server: packets per second forwarded per permission and
    /// direction at most (hipd.conf `data_relay_rate`).
    pub fn set_relay_rate(&mut self, per_second: u64) {
        self.set_relay_budget(per_second, RELAY_WINDOW);
    }

    /// [`Self::set_relay_rate`] with another window: `per_second` packets
    /// per second, counted per `window`.
    pub(crate) fn set_relay_budget(&mut self, per_second: u64, window: Duration) {
        let per_window = per_second.saturating_mul(window.as_millis() as u64) / 1000;
        self.shared
            .relay_budget
            .store(per_window.max(1), Ordering::Relaxed);
        self.shared
            .relay_window
            .store(window.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Installs (or replaces, after a rekey) the SAs of an association.
    pub fn install(&mut self, sa: &SaInstall) -> Result<(), EngineError> {
        let suite = Suite::from_transform_id(sa.esp.suite.value()).map_err(err)?;
        let mut iv_key = [0u8; 16];
        rand_core::OsRng.fill_bytes(&mut iv_key);
        let out = OutboundSa::new(
            sa.esp.spi_out,
            suite,
            &sa.esp.keys_out.enc,
            &sa.esp.keys_out.auth,
            iv_key,
        )
        .map_err(err)?;
        let out = match sa.icv_len {
            Some(n) => out.with_icv_len(n),
            None => out,
        };
        let inb = InboundSa::new(
            sa.esp.spi_in,
            suite,
            &sa.esp.keys_in.enc,
            &sa.esp.keys_in.auth,
        )
        .map_err(err)?;
        let inb = match sa.icv_len {
            Some(n) => inb.with_icv_len(n),
            None => inb,
        };
        let (local_lsi, peer_lsi) = sa
            .lsis
            .unwrap_or((Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED));
        // A rekey keeps the previous inbound SA until the peer uses the new one
        // (RFC 7402 section 6.9); an older one still kept is dropped now.
        let mut old_spi_in = None;
        if let Some(o) = self.master.out.remove(&sa.peer) {
            self.carried.entry(sa.peer).or_default().add(&o.sa.live);
            if let Some(s) = o.old_spi_in {
                self.master.inbound.remove(&s);
            }
            if o.spi_in != sa.esp.spi_in {
                old_spi_in = Some(o.spi_in);
            }
            self.master.lsi.retain(|_, h| *h != sa.peer);
        }
        // Added ahead of the rekey already (and maybe in use): keep that one.
        if self
            .master
            .inbound
            .get(&sa.esp.spi_in)
            .is_none_or(|e| e.peer != sa.peer)
        {
            self.master.inbound.insert(
                sa.esp.spi_in,
                Arc::new(InEntry {
                    peer: sa.peer,
                    sa: inb,
                }),
            );
        }
        let now = self.shared.now();
        let live = PeerLive::default();
        live.last_in.store(now, Ordering::Relaxed);
        live.held.store(sa.awaiting_peer, Ordering::Relaxed);
        self.master.out.insert(
            sa.peer,
            Arc::new(OutEntry {
                local_hit: sa.local,
                local_lsi,
                peer_lsi,
                sa: Arc::new(OutSa { out, live }),
                dst: sa.locator,
                udp_port: sa.udp_port,
                spi_in: sa.esp.spi_in,
                old_spi_in,
                installed: now,
                unverified: None,
            }),
        );
        if sa.lsis.is_some() {
            self.master.lsi.insert(peer_lsi, sa.peer);
        }
        self.publish();
        Ok(())
    }

    /// Adds an inbound SA for `peer` ahead of a rekey (RFC 7402 section 6.9).
    pub fn add_inbound(
        &mut self,
        peer: &Hit,
        suite: hip_proto::registry::EspTransformId,
        spi: u32,
        keys: &hip_proto::endpoint::event::EspSaKeys,
        icv_len: Option<usize>,
    ) -> Result<(), EngineError> {
        if !self.master.out.contains_key(peer) {
            return Err(err(format!("no SAs with {peer}")));
        }
        let suite = Suite::from_transform_id(suite.value()).map_err(err)?;
        let inb = InboundSa::new(spi, suite, &keys.enc, &keys.auth).map_err(err)?;
        let inb = match icv_len {
            Some(n) => inb.with_icv_len(n),
            None => inb,
        };
        self.master.inbound.insert(
            spi,
            Arc::new(InEntry {
                peer: *peer,
                sa: inb,
            }),
        );
        self.publish();
        Ok(())
    }

    /// Removes the SAs of `peer`, every inbound one included.
    pub fn remove(&mut self, peer: &Hit) {
        self.master.out.remove(peer);
        self.carried.remove(peer);
        self.master.inbound.retain(|_, e| e.peer != *peer);
        self.master.lsi.retain(|_, h| h != peer);
        self.publish();
    }

    fn update(&mut self, peer: &Hit, f: impl FnOnce(&mut OutEntry)) {
        if let Some(e) = self.master.out.get_mut(peer) {
            f(Arc::make_mut(e));
            self.publish();
        }
    }

    /// Sends ESP for `peer` to an unverified locator within its credit.
    pub fn set_unverified(&mut self, peer: &Hit, locator: IpAddr) {
        let now = self.shared.now();
        self.update(peer, |e| e.unverified = Some(Box::new((locator, now))));
    }

    /// The unverified locator of `peer` did not answer: no more credit
    /// sending there.
    pub fn clear_unverified(&mut self, peer: &Hit) {
        self.update(peer, |e| e.unverified = None);
    }

    /// The peer processed our R2 (its first ESP came) or the hold ran out:
    /// the workers seal for it again ([`PeerLive::held`]).
    pub fn release(&self, peer: &Hit) {
        if let Some(e) = self.master.out.get(peer) {
            e.sa.live.held.store(false, Ordering::Relaxed);
        }
    }

    /// Are the workers holding back packets for `peer`?
    pub fn is_held(&self, peer: &Hit) -> bool {
        self.master
            .out
            .get(peer)
            .is_some_and(|e| e.sa.live.held.load(Ordering::Relaxed))
    }

    /// Sends ESP for `peer` to a new (verified) locator.
    pub fn set_locator(&mut self, peer: &Hit, locator: IpAddr) {
        let now = self.shared.now();
        self.update(peer, |e| {
            e.dst = locator;
            e.unverified = None;
            e.sa.live.last_in.store(now, Ordering::Relaxed);
            e.sa.live.silence_reported.store(false, Ordering::Relaxed);
        });
    }

    /// Sends ESP for `peer` over UDP to `locator`:`port` (its NAT mapping
    /// moved, RFC 5770).
    pub fn set_udp_path(&mut self, peer: &Hit, locator: IpAddr, port: u16) {
        let now = self.shared.now();
        self.update(peer, |e| {
            if e.udp_port.is_some() {
                e.dst = locator;
                e.udp_port = Some(port);
                e.unverified = None;
                e.sa.live.last_in.store(now, Ordering::Relaxed);
                e.sa.live.silence_reported.store(false, Ordering::Relaxed);
            }
        });
    }

    /// Associations over UDP whose ESP went out within `d`: (local HIT,
    /// peer HIT, when), for the NAT keepalive timers.
    pub fn udp_sent_within(&self, d: Duration) -> Vec<(Hit, Hit, Instant)> {
        let now = self.shared.now();
        let d = d.as_nanos() as u64;
        self.master
            .out
            .iter()
            .filter(|(_, e)| e.udp_port.is_some())
            .filter_map(|(peer, e)| {
                let o = e.sa.live.last_out.load(Ordering::Relaxed);
                (o != 0 && now.saturating_sub(o) < d).then(|| {
                    (
                        e.local_hit,
                        *peer,
                        self.shared.origin + Duration::from_nanos(o),
                    )
                })
            })
            .collect()
    }

    /// The current inbound SA of `peer` accepts, once, an authentic packet
    /// whose sequence number restarted behind its replay window.
    pub fn expect_sequence_restart(&mut self, peer: &Hit) {
        if let Some(e) = self.master.out.get(peer) {
            if let Some(i) = self.master.inbound.get(&e.spi_in) {
                i.sa.arm_sequence_restart();
            }
        }
    }

    /// The peer now sends on its new inbound SA `used`: retire the one
    /// before it. Nothing happens when `used` is no longer the current
    /// inbound SPI (a further rekey was installed since the notice).
    pub fn retire_old_inbound(&mut self, peer: &Hit, used: u32) {
        let Some(old) = self
            .master
            .out
            .get(peer)
            .filter(|e| e.spi_in == used)
            .and_then(|e| e.old_spi_in)
        else {
            return;
        };
        self.master.inbound.remove(&old);
        self.update(peer, |e| e.old_spi_in = None);
    }

    /// True once after the outbound SA to `peer` reached its packet or byte
    /// limit or nears sequence number exhaustion: time to rekey.
    pub fn rekey_due(&mut self, peer: &Hit) -> bool {
        self.master
            .out
            .get(peer)
            .is_some_and(|e| e.sa.live.rekey_pending.swap(false, Ordering::Relaxed))
    }

    /// Peers we keep sending ESP to without hearing back for `threshold`
    /// (each reported once per silence).
    pub fn silent_peers(&mut self, threshold: Duration) -> Vec<Hit> {
        let now = self.shared.now();
        let t = threshold.as_nanos() as u64;
        let mut out = Vec::new();
        for (h, e) in self.master.out.iter() {
            let l = &e.sa.live;
            let (o, i) = (
                l.last_out.load(Ordering::Relaxed),
                l.last_in.load(Ordering::Relaxed),
            );
            if o == 0 || i == 0 {
                continue;
            }
            // Sending recently, nothing heard for `threshold`.
            if now.saturating_sub(o) < t
                && now.saturating_sub(i) >= t
                && !l.silence_reported.swap(true, Ordering::Relaxed)
            {
                out.push(*h);
            }
        }
        out
    }

    /// Is there an outbound SA to `peer`?
    pub fn has_sa(&self, peer: &Hit) -> bool {
        self.master.has_sa(peer)
    }

    /// Peers with outbound SAs and inbound SAs in all (a rekey keeps two
    /// inbound SAs for a while).
    pub fn sa_counts(&self) -> (usize, usize) {
        (self.master.out.len(), self.master.inbound.len())
    }

    /// ESP traffic per peer with SAs, since its association was established.
    pub fn traffic(&self) -> Vec<(Hit, Traffic)> {
        self.master
            .out
            .iter()
            .map(|(h, e)| {
                let mut t = self.carried.get(h).copied().unwrap_or_default();
                t.add(&e.sa.live);
                (*h, t)
            })
            .collect()
    }

    /// Was ESP received from `peer` within `d`?
    pub fn heard_within(&self, peer: &Hit, d: Duration) -> bool {
        self.master.out.get(peer).is_some_and(|e| {
            let i = e.sa.live.last_in.load(Ordering::Relaxed);
            i != 0 && self.shared.now().saturating_sub(i) < d.as_nanos() as u64
        })
    }

    /// The path to `peer` was confirmed (a heartbeat's answer): silence is
    /// counted from now again.
    pub fn path_confirmed(&mut self, peer: &Hit) {
        if let Some(e) = self.master.out.get(peer) {
            e.sa.live
                .last_in
                .store(self.shared.now(), Ordering::Relaxed);
            e.sa.live.silence_reported.store(false, Ordering::Relaxed);
        }
    }
}
