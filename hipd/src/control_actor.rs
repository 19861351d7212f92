//! The control plane of hipd: one actor that owns the protocol engine
//! (`hip_proto::endpoint`), the peer database, the identities, the packets
//! waiting for a base exchange and the master SA tables, and takes its work
//! from channels. It runs on a thread of its own, so a slow control request
//! (key generation, a file sync) never stalls a packet worker; the workers
//! read the SA tables it publishes without a lock ([`crate::esp_tables`]).
use crate::config::Config;
use crate::control::{Request, Response};
use crate::dataplane::{classify, Dest, PendingQueues};
use crate::engine::{Action, ProtocolEngine, SaInstall, Transport};
use crate::esp_path::{EspPath, Notice, HEADROOM, TAILROOM};
use crate::esp_tables::BeetEsp;
use crate::identity_store::IdentityStore;
use crate::peer_db::PeerDb;
use crate::stats::inc;
use crate::workers::{send_esp, send_udp_control, Io};
use crate::{control_plane, icmp};
use hip_proto::endpoint::r1_rate_limit::AddressLimiter;
use hip_proto::endpoint::rate_limit::RateLimit;
use hip_proto::liveness::{Liveness, Verdict};
use hip_proto::Hit;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Work for the control actor.
pub enum Ctl {
    /// A HIP control packet (raw IP 139 or UDP 10500, marker stripped).
    Control { t: Transport, packet: Vec<u8> },
    /// A packet read from the TUN for a destination without SAs.
    NoSa { packet: Vec<u8> },
    /// A worker saw the first packet on new SAs, or the peer's use of a new
    /// inbound SA.
    Notice { peer: Hit, notice: Notice },
    /// An outbound SA reached a rekey limit.
    RekeyDue { peer: Hit },
    /// ESP to an SPI without inbound SA arrived from `src` (reported at most
    /// every few tens of milliseconds per worker).
    UnknownSpi { src: IpAddr, spi: u32 },
    /// The host's addresses changed (rtnetlink).
    AddressesChanged,
    /// A `hipconf` request.
    Request {
        req: Request,
        reply: oneshot::Sender<Response>,
    },
    /// A metrics scrape ([`crate::metrics`]) waits for this snapshot.
    Metrics {
        reply: std::sync::mpsc::SyncSender<crate::metrics::Snapshot>,
    },
    /// Install a peer looked up in DNS ([`crate::dns_peers`]); the reply is
    /// its LSI once the mapping is in place.
    DnsPeer {
        peer: crate::dns_lookup::DnsPeer,
        reply: oneshot::Sender<Result<Ipv4Addr, String>>,
    },
    /// The peer known under a name (lower case, no final dot), if any.
    NameLookup {
        name: String,
        reply: oneshot::Sender<Option<crate::dns_lookup::KnownPeer>>,
    },
    /// Stop: CLOSE every association (RFC 7401 section 5.3.8), save the peers.
    Shutdown { done: oneshot::Sender<()> },
}

/// Capacity of the packet channel (HIP packets and packets without SAs);
/// beyond it workers drop and count.
pub const PACKET_QUEUE: usize = 4096;

/// The senders workers and tasks use.
#[derive(Clone)]
pub struct CtlHandle {
    /// Packets: bounded, a full queue drops.
    pub packets: mpsc::Sender<Ctl>,
    /// Signals and requests: rare (a few per association or request).
    pub signals: mpsc::UnboundedSender<Ctl>,
}

/// How long we send ESP to a peer without hearing back before trying another
/// of its locators (RFC 8047 failover).
const FAILOVER_SILENCE: Duration = Duration::from_millis(700);
/// How often a failed-over association tries its original path again.
const RETURN_HOME_EVERY: Duration = Duration::from_secs(2);
/// How long a heartbeat is given before the peer's other locators are tried.
const HEARTBEAT_WAIT: hip_proto::association::Duration =
    hip_proto::association::Duration::from_millis(1500);
/// How long a Responder's queued packets wait for the peer's first ESP
/// (an Initiator's: for the check of the Responder's NAT mapping) before
/// they are sent anyway (checked every [`SILENCE_TICK`]). Only
/// simultaneous base exchanges queue packets at a Responder, and there the
/// peer has packets of its own to send as soon as it has processed our R2,
/// which ends the wait; a busy peer (a mesh coming up: a dozen exchanges at
/// once) took over 100 ms to get there.
const HOLD_FOR_PEER: Duration = Duration::from_secs(1);
/// ICMP errors toward one address: 10 at once, then 10 per second.
const ICMP_PER_DESTINATION: RateLimit = RateLimit {
    burst: 10,
    per_token: hip_proto::association::Duration::from_millis(100),
};
/// ICMP errors in all: 100 at once, then 1,000 per second.
const ICMP_OVERALL: RateLimit = RateLimit {
    burst: 100,
    per_token: hip_proto::association::Duration::from_millis(1),
};
/// How long a previous inbound SA stays after the peer started using the
/// new one.
const RETIRE_GRACE: Duration = Duration::from_millis(300);
/// Retirements waiting at most (beyond, they happen at once).
const RETIRING_MAX: usize = 65536;
/// How often drops are summarized at info level.
const DROP_SUMMARY_EVERY: Duration = Duration::from_secs(60);
/// How often silence is checked.
const SILENCE_TICK: Duration = Duration::from_millis(100);
/// At most one recovery base exchange per peer this often (see
/// [`Control::on_unknown_spi`]).
const RECOVERY_EVERY: Duration = Duration::from_secs(1);
/// Peers remembered for [`RECOVERY_EVERY`]; the table is cleared when full.
const RECOVERY_TABLE: usize = 4096;

/// Why the actor's loop woke up.
enum Woke {
    Msg(Ctl),
    Closed,
    Timer,
}

/// The control actor's state.
pub struct Control {
    pub config: Config,
    pub peers: PeerDb,
    pub ids: IdentityStore,
    pub local_lsi: Ipv4Addr,
    pub engine: Box<dyn ProtocolEngine>,
    pub esp: BeetEsp,
    pub pending: PendingQueues,
    pub io: Arc<Io>,
    /// The TUN's addresses and peer LSI routes (RFC 5338).
    pub netconf: crate::netconf::Netconf,
    path: EspPath,
    /// When each peer last got a recovery base exchange.
    recoveries: HashMap<Hit, Instant>,
    /// Outstanding heartbeats.
    liveness: Liveness,
    /// Origin of the protocol library's time.
    origin: Instant,
    /// Budgets of the ICMP errors this host writes to its TUN.
    icmp_limit: AddressLimiter,
    /// Counters at the last drop summary.
    last_summary: std::collections::BTreeMap<String, u64>,
    /// Previous inbound SAs to retire: (peer, the new SPI it uses, when).
    retiring: Vec<(Hit, u32, Instant)>,
    /// Base exchanges this host started, by peer, and when (for
    /// [`Control::bex_latency`]); bounded like the pending queues.
    bex_started: HashMap<Hit, Instant>,
    /// Initiator base-exchange latency (metrics endpoint).
    pub bex_latency: crate::metrics::BexLatency,
    /// This host's locators as last read over rtnetlink (an rtnetlink dump
    /// per base exchange would cost a syscall round per new peer); cleared
    /// on every address change.
    locators_cache: Option<Vec<IpAddr>>,
    /// Peers whose queued packets wait until they have processed our R2
    /// (see [`SaInstall::awaiting_peer`]), with the latest time to send.
    held: HashMap<Hit, Instant>,
    /// The configuration directory (for `reload`).
    pub config_dir: std::path::PathBuf,
    /// The peers the hosts file brought at its last load (a reload removes
    /// those no longer in it).
    pub hosts_peers: std::collections::BTreeSet<Hit>,
    /// Peers learned from DNS and their expiry, the DNS counters, the
    /// publisher's locator channel (RFC 8005).
    pub dns: crate::dns_peers::DnsPeers,
}

impl Control {
    /// The actor over its state; `esp` is the master of the tables the
    /// workers read.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Config,
        peers: PeerDb,
        ids: IdentityStore,
        local_lsi: Ipv4Addr,
        engine: Box<dyn ProtocolEngine>,
        esp: BeetEsp,
        io: Arc<Io>,
    ) -> Self {
        let path = esp.path();
        let netconf = crate::netconf::Netconf::new(&config.tun_name, local_lsi);
        Control {
            netconf,
            config,
            peers,
            ids,
            local_lsi,
            engine,
            esp,
            pending: PendingQueues::default(),
            io,
            path,
            recoveries: HashMap::new(),
            liveness: Liveness::new(HEARTBEAT_WAIT),
            origin: Instant::now(),
            icmp_limit: AddressLimiter::with_limits(
                Some(ICMP_PER_DESTINATION),
                Some(ICMP_OVERALL),
                &mut |b: &mut [u8]| rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, b),
            ),
            last_summary: Default::default(),
            retiring: Vec::new(),
            bex_started: HashMap::new(),
            bex_latency: Default::default(),
            locators_cache: None,
            held: HashMap::new(),
            config_dir: std::path::PathBuf::new(),
            hosts_peers: Default::default(),
            dns: Default::default(),
        }
    }

    /// Runs until [`Ctl::Shutdown`] or until every sender is gone.
    pub async fn run(
        mut self,
        mut packets: mpsc::Receiver<Ctl>,
        mut signals: mpsc::UnboundedReceiver<Ctl>,
    ) {
        let mut next_silence = Instant::now() + SILENCE_TICK;
        let mut next_home = Instant::now() + RETURN_HOME_EVERY;
        let mut next_summary = Instant::now() + DROP_SUMMARY_EVERY;
        let mut next_expiry = Instant::now() + crate::dns_peers::EXPIRY_TICK;
        loop {
            let wake = self
                .engine
                .next_deadline()
                .map_or(next_silence, |d| d.min(next_silence));
            let woke = tokio::select! {
                biased;
                m = signals.recv() => m.map_or(Woke::Closed, Woke::Msg),
                m = packets.recv() => m.map_or(Woke::Closed, Woke::Msg),
                _ = tokio::time::sleep_until(wake.into()) => Woke::Timer,
            };
            match woke {
                Woke::Msg(Ctl::Shutdown { done }) => {
                    self.shutdown();
                    let _ = done.send(());
                    return;
                }
                Woke::Msg(m) => self.handle(m),
                Woke::Closed => {
                    self.shutdown();
                    return;
                }
                Woke::Timer => {}
            }
            let now = Instant::now();
            if self.engine.next_deadline().is_some_and(|d| d <= now) {
                let a = self.engine.poll(now);
                self.perform(a);
            }
            if now >= next_silence {
                next_silence = now + SILENCE_TICK;
                self.check_paths(now);
                self.retire_due(now);
            }
            if now >= next_expiry {
                next_expiry = now + crate::dns_peers::EXPIRY_TICK;
                self.expire_dns_peers(now);
            }
            if now >= next_summary {
                next_summary = now + DROP_SUMMARY_EVERY;
                self.summarize_drops();
            }
            if now >= next_home {
                next_home = now + RETURN_HOME_EVERY;
                let a = self.engine.return_home(now);
                self.perform(a);
            }
        }
    }

    /// Silence on the data path asks for a heartbeat; only an unanswered
    /// heartbeat fails over to another locator of the peer
    /// ([`hip_proto::liveness`], RFC 8047).
    /// Sends what waited for `peer`'s SAs.
    fn flush_pending(&mut self, peer: &Hit) {
        self.held.remove(peer);
        for pkt in self.pending.take(peer) {
            self.seal_and_send(peer, &pkt);
        }
        // After the queue: what the workers seal from now on follows it.
        self.esp.release(peer);
    }

    fn check_paths(&mut self, now: Instant) {
        let due: Vec<Hit> = self
            .held
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(h, _)| *h)
            .collect();
        for peer in due {
            self.flush_pending(&peer);
        }
        // ESP sent over UDP postpones the NAT keepalives (RFC 9028 section 5.10).
        for (local, peer, at) in self.esp.udp_sent_within(SILENCE_TICK * 2) {
            self.engine.data_sent(local, peer, at);
        }
        let t = self.proto_time(now);
        for peer in self.esp.silent_peers(FAILOVER_SILENCE) {
            if self.liveness.silent(&peer) != Verdict::Heartbeat {
                continue;
            }
            if let Some(a) = self.engine.heartbeat(peer, now) {
                tracing::debug!(%peer, "no ESP back from the peer: heartbeat on the path in use");
                inc(&self.io.stats.heartbeats_sent);
                self.liveness.sent(peer, t);
                self.perform(a);
            }
        }
        for peer in self.liveness.due(t) {
            if self.esp.heard_within(&peer, self.liveness_wait()) {
                continue;
            }
            let a = self.engine.failover(peer, now);
            self.perform(a);
        }
    }

    /// Retires the previous inbound SAs whose grace period ended.
    fn retire_due(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.retiring.len() {
            if self.retiring[i].2 <= now {
                let (peer, spi, _) = self.retiring.swap_remove(i);
                self.esp.retire_old_inbound(&peer, spi);
            } else {
                i += 1;
            }
        }
    }

    fn liveness_wait(&self) -> Duration {
        Duration::from_nanos(self.liveness.wait().as_nanos() as u64)
    }

    /// `now` as the protocol library's time.
    fn proto_time(&self, now: Instant) -> hip_proto::association::Instant {
        hip_proto::association::Instant(now.saturating_duration_since(self.origin).as_nanos() as u64)
    }

    /// Drops are counted per packet, logged per packet only at debug/trace;
    /// at info a line every [`DROP_SUMMARY_EVERY`] names the drop counters
    /// that moved since the last one (nothing when none did).
    fn summarize_drops(&mut self) {
        let mut now = self.io.stats.snapshot();
        now.extend(self.engine.counters());
        now.extend(self.esp.counters());
        let is_drop = |k: &str| {
            k.contains("drop")
                || k.contains("malformed")
                || k.contains("refused")
                || k.contains("limited")
                || k.contains("unhandled")
                || k.contains("failed")
        };
        let moved: Vec<String> = now
            .iter()
            .filter(|(k, _)| is_drop(k))
            .filter_map(|(k, v)| {
                let d = v.saturating_sub(self.last_summary.get(k).copied().unwrap_or(0));
                (d > 0).then(|| format!("{k}=+{d}"))
            })
            .collect();
        if !moved.is_empty() {
            tracing::info!(drops = %moved.join(" "), "packets dropped in the last minute");
        }
        self.last_summary = now;
    }

    fn shutdown(&mut self) {
        let actions = self.engine.close(None, Instant::now());
        self.perform(actions);
        if let Err(e) = self.peers.save() {
            tracing::warn!("saving peers: {e}");
        }
    }

    fn handle(&mut self, m: Ctl) {
        let now = Instant::now();
        match m {
            Ctl::Control { t, packet } => {
                self.on_control(t, &packet);
                self.io.pool.give_back(packet);
            }
            Ctl::NoSa { packet } => self.on_no_sa(packet),
            Ctl::Notice { peer, notice } => match notice {
                Notice::FirstPacket => {
                    self.engine.on_data_received(peer, now);
                    // The peer has its SAs: what waited for it goes now.
                    if self.held.contains_key(&peer) {
                        self.flush_pending(&peer);
                    }
                }
                Notice::UdpSource { src, port } => {
                    let a = self.engine.on_udp_source(peer, src, port, now);
                    self.perform(a);
                }
                Notice::NewInboundSaUsed { spi } => {
                    // Packets sealed just before the peer switched may still
                    // be on their way (several sender queues): the old SA
                    // goes a little later (RFC 7402 section 6.9 lets it stay).
                    if self.retiring.len() < RETIRING_MAX {
                        self.retiring.push((peer, spi, now + RETIRE_GRACE));
                    } else {
                        self.esp.retire_old_inbound(&peer, spi);
                    }
                }
            },
            Ctl::RekeyDue { peer } => {
                if self.esp.rekey_due(&peer) {
                    tracing::info!(%peer, "SA limit reached: rekeying");
                    let a = self.engine.rekey(peer, now);
                    self.perform(a);
                }
            }
            Ctl::UnknownSpi { src, spi } => self.on_unknown_spi(src, spi),
            Ctl::AddressesChanged => {
                self.locators_cache = None;
                let addrs = self.local_locators();
                tracing::debug!(?addrs, "addresses changed");
                self.peers.set_own_addrs(&addrs);
                self.publish_locators(&addrs);
                let a = self.engine.update_locators(&addrs, now);
                self.perform(a);
            }
            Ctl::Request { req, reply } => {
                let r = crate::control_handler::handle(self, req);
                let _ = reply.send(r);
            }
            Ctl::DnsPeer { peer, reply } => {
                let _ = reply.send(self.on_dns_peer(peer, now));
            }
            Ctl::NameLookup { name, reply } => {
                let _ = reply.send(self.on_name_lookup(&name));
            }
            Ctl::Metrics { reply } => {
                let _ = reply.try_send(self.metrics_snapshot());
            }
            Ctl::Shutdown { .. } => {}
        }
    }

    /// What a metrics scrape reports.
    fn metrics_snapshot(&self) -> crate::metrics::Snapshot {
        let mut counters = self.io.stats.snapshot();
        counters.extend(self.dns.stats.snapshot());
        counters.extend(self.engine.counters());
        counters.extend(self.esp.counters());
        let mut states = std::collections::BTreeMap::new();
        for a in self.engine.associations() {
            *states.entry(a.state.clone()).or_insert(0) += 1;
        }
        let (sa_peers, inbound_sas) = self.esp.sa_counts();
        let peers = self
            .esp
            .traffic()
            .into_iter()
            .map(|(hit, traffic)| crate::metrics::PeerTraffic {
                hit,
                lsi: self
                    .peers
                    .get(&hit)
                    .map_or(Ipv4Addr::UNSPECIFIED, |p| p.lsi),
                traffic,
            })
            .collect();
        crate::metrics::Snapshot {
            counters,
            states,
            sa_peers: sa_peers as u64,
            inbound_sas: inbound_sas as u64,
            peers,
        }
    }

    /// A base exchange with `peer` started now (as initiator).
    fn bex_started(&mut self, peer: Hit) {
        if self.bex_started.len() >= RECOVERY_TABLE {
            self.bex_started.clear();
        }
        self.bex_started.entry(peer).or_insert_with(Instant::now);
    }

    /// Access control + engine hand-off for one control packet.
    fn on_control(&mut self, t: Transport, pkt: &[u8]) {
        let stats = &self.io.stats;
        let Ok(sender) = control_plane::sender_hit(pkt) else {
            inc(&stats.hip_rx_malformed);
            return;
        };
        if !self.config.is_allowed(&sender) {
            inc(&stats.hip_rx_refused_acl);
            crate::debug_limited!(src = %t.src, %sender, "HIP packet refused: sender HIT not in allow list");
            return;
        }
        crate::trace_limited!(src = %t.src, %sender, len = pkt.len(), "HIP control packet received");
        let a = self.engine.on_control_packet(t, pkt, Instant::now());
        self.perform(a);
    }

    /// A TUN packet the workers had no SA for: seal it if the SAs exist by
    /// now, else queue it and start a base exchange, or answer ICMP
    /// unreachable for a destination that is no known peer.
    fn on_no_sa(&mut self, pkt: Vec<u8>) {
        let stats = &self.io.stats;
        let dest = classify(&pkt, |a| self.peers.is_lsi(a));
        let peer = match dest {
            Dest::Hit(h) => self.peers.get(&h).map(|p| p.hit),
            Dest::Lsi(a) => self.peers.by_lsi(a).map(|p| p.hit),
            Dest::Other => {
                inc(&stats.tun_rx_unhandled);
                return;
            }
        };
        let Some(peer) = peer else {
            let reply = match dest {
                Dest::Hit(h) => icmp::unreachable_v6(&pkt, h.into()),
                Dest::Lsi(a) => icmp::unreachable_v4(&pkt, a),
                Dest::Other => None,
            };
            if let Some(r) = reply {
                // RFC 4443 section 2.4 (f) / RFC 1812 4.3.2.8: ICMP errors
                // are rate-limited, per destination and overall.
                let to = icmp_destination(&r);
                let t = hip_proto::association::Instant(
                    Instant::now()
                        .saturating_duration_since(self.origin)
                        .as_nanos() as u64,
                );
                if !self.icmp_limit.allow(t, to) {
                    inc(&stats.icmp_unreach_limited);
                    return;
                }
                inc(&stats.icmp_unreach_sent);
                if let Err(e) = self.io.tun().send_packet(&r) {
                    crate::debug_limited!("TUN write ICMP: {e}");
                }
            }
            return;
        };
        if self.esp.has_sa(&peer) {
            if self.held.contains_key(&peer) {
                // Waits with the rest for the peer's first ESP.
                if self.pending.push(peer, pkt) {
                    inc(&stats.queued);
                } else {
                    inc(&stats.queue_dropped);
                }
            } else {
                self.seal_and_send(&peer, &pkt);
            }
            return;
        }
        let first = self.pending.is_first(&peer);
        if self.pending.push(peer, pkt) {
            inc(&stats.queued);
        } else {
            inc(&stats.queue_dropped);
        }
        if !first {
            return;
        }
        let Some(local) = self.ids.default_identity().map(|i| i.hit) else {
            return;
        };
        let locs = self
            .peers
            .get(&peer)
            .map(|p| p.locators.clone())
            .unwrap_or_default();
        tracing::info!(%peer, "first packet to peer: starting a base exchange");
        match self.engine.initiate(local, peer, &locs, Instant::now()) {
            Ok(a) => {
                self.bex_started(peer);
                self.perform(a)
            }
            Err(e) => {
                // No exchange will run: drop what was queued so the next packet retries.
                let dropped = self.pending.take(&peer).len() as u64;
                stats
                    .queue_dropped
                    .fetch_add(dropped, std::sync::atomic::Ordering::Relaxed);
                inc(&stats.bex_trigger_unhandled);
                tracing::warn!(%peer, "base exchange trigger: {e}");
            }
        }
    }

    /// ESP to an SPI we have no SA for, from a known peer's locator: the
    /// peer still holds SAs with us, so this host lost its state (a restart)
    /// or never had it. RFC 4303 section 3.4.2 has the packet discarded
    /// (done, counted by the worker); this host then starts a base exchange
    /// with that peer, which any host may do at any time (RFC 7401 section
    /// 4.4.2: the peer answers an I1 in ESTABLISHED with an R1 and replaces
    /// the old association when the I2 verifies). At most one per peer per
    /// [`RECOVERY_EVERY`]; nothing for unknown sources or peers we have SAs
    /// with (late packets of an old SA after a rekey).
    fn on_unknown_spi(&mut self, src: IpAddr, spi: u32) {
        let stats = &self.io.stats;
        let Some(peer) = self
            .peers
            .iter()
            .find(|p| p.locators.contains(&src))
            .map(|p| p.hit)
        else {
            return;
        };
        if self.esp.has_sa(&peer) {
            return;
        }
        let now = Instant::now();
        if self
            .recoveries
            .get(&peer)
            .is_some_and(|t| now.duration_since(*t) < RECOVERY_EVERY)
        {
            return;
        }
        if self.recoveries.len() >= RECOVERY_TABLE {
            self.recoveries.clear();
        }
        self.recoveries.insert(peer, now);
        let Some(local) = self.ids.default_identity().map(|i| i.hit) else {
            return;
        };
        // The locator it sends from first: that is where it expects us.
        let mut locs = vec![src];
        if let Some(p) = self.peers.get(&peer) {
            locs.extend(p.locators.iter().filter(|l| **l != src));
        }
        match self.engine.initiate(local, peer, &locs, now) {
            Ok(a) => {
                inc(&stats.bex_recovery);
                self.bex_started(peer);
                tracing::info!(%peer, %src, spi = format_args!("{spi:#x}"), "ESP for an unknown SPI from a known peer: re-running the base exchange");
                self.perform(a);
            }
            Err(e) => tracing::debug!(%peer, "recovery base exchange: {e}"),
        }
    }

    fn seal_and_send(&mut self, peer: &Hit, pkt: &[u8]) {
        let n = pkt.len().min(65536);
        let mut buf = vec![0u8; HEADROOM + n + TAILROOM];
        buf[HEADROOM..HEADROOM + n].copy_from_slice(&pkt[..n]);
        let snap = self.path.snapshot();
        if send_esp(
            &self.io,
            &self.path,
            &snap,
            peer,
            &mut buf,
            HEADROOM..HEADROOM + n,
        ) {
            drop(snap);
            if self.esp.rekey_due(peer) {
                let a = self.engine.rekey(*peer, Instant::now());
                self.perform(a);
            }
        }
    }

    /// Executes engine actions (sending, SA installation, queue flushing).
    pub fn perform(&mut self, actions: Vec<Action>) {
        let mut work: std::collections::VecDeque<Action> = actions.into();
        // Bounded: follow-up actions come only from Established (one announcement).
        let mut budget = 10_000;
        while let Some(a) = work.pop_front() {
            budget -= 1;
            if budget == 0 {
                tracing::error!("engine action loop cut short");
                return;
            }
            match a {
                Action::SendControl {
                    src,
                    dst,
                    udp_port: None,
                    packet,
                } => {
                    let s = if dst.is_ipv4() {
                        &self.io.hip4
                    } else {
                        &self.io.hip6
                    };
                    if let Err(e) = s.send_from(&packet, src, dst) {
                        crate::debug_limited!(%src, %dst, "HIP send: {e}");
                    }
                }
                Action::SendControl {
                    src,
                    dst,
                    udp_port: Some(port),
                    packet,
                } => {
                    let mut d = vec![0u8; 4];
                    d.extend_from_slice(&packet);
                    send_udp_control(&self.io, src, dst, port, &d);
                }
                Action::Established(sa) | Action::Rekeyed(sa) => {
                    if let Some(t) = self.bex_started.remove(&sa.peer) {
                        self.bex_latency.observe(t.elapsed());
                    }
                    self.learn_initiator(&sa);
                    let sa = self.with_lsis(sa);
                    if let Err(e) = self.esp.install(&sa) {
                        tracing::error!(peer = %sa.peer, "installing SAs: {e}");
                        continue;
                    }
                    tracing::info!(peer = %sa.peer, locator = %sa.locator, spi_in = sa.esp.spi_in, spi_out = sa.esp.spi_out, "SAs installed");
                    // Tell the peer about our other locators (RFC 8047 failover candidates).
                    let addrs = self.local_locators();
                    work.extend(self.engine.update_locators_of(
                        sa.local,
                        sa.peer,
                        &addrs,
                        Instant::now(),
                    ));
                    if sa.awaiting_peer {
                        // Sent now, our packets (queued or new) could reach
                        // the peer before it has processed our R2 (seen in
                        // the mesh test: the first ping of a Responder lost
                        // to an unknown SPI); they wait for its first ESP
                        // (or HOLD_FOR_PEER). The workers see the hold in
                        // the SA tables.
                        self.held.insert(sa.peer, Instant::now() + HOLD_FOR_PEER);
                    } else {
                        self.flush_pending(&sa.peer);
                    }
                }
                Action::InboundSa {
                    peer,
                    suite,
                    spi,
                    keys,
                    icv_len,
                } => {
                    if let Err(e) = self.esp.add_inbound(&peer, suite, spi, &keys, icv_len) {
                        tracing::warn!(%peer, "new inbound SA: {e}");
                    }
                }
                Action::LocatorUnverified { peer, locator } => {
                    self.esp.set_unverified(&peer, locator);
                }
                Action::LocatorRejected { peer } => self.esp.clear_unverified(&peer),
                Action::LocatorChanged { peer, locator } => {
                    self.esp.set_locator(&peer, locator);
                    // An Initiator's packets held while the Responder's
                    // mapping was checked go there now.
                    if self.held.contains_key(&peer) {
                        self.flush_pending(&peer);
                    }
                }
                Action::ExpectSequenceRestart { peer } => {
                    self.esp.expect_sequence_restart(&peer);
                }
                Action::PeerUdpPort {
                    peer,
                    locator,
                    udp_port,
                } => self.esp.set_udp_path(&peer, locator, udp_port),
                Action::RelayForwards(rules) => self.esp.set_relay_forwards(&rules),
                Action::PathConfirmed { peer } => {
                    self.liveness.confirmed(&peer);
                    self.esp.path_confirmed(&peer);
                }
                Action::Closed { peer } => {
                    self.held.remove(&peer);
                    self.bex_started.remove(&peer);
                    self.liveness.confirmed(&peer);
                    self.esp.remove(&peer);
                    if let Some(lsi) = self.peers.forget_learned(&peer) {
                        crate::control_handler::peer_lsi_changed(self, Some(lsi), None);
                    }
                    let dropped = self.pending.take(&peer).len();
                    tracing::info!(%peer, dropped, "association closed");
                }
            }
        }
    }

    /// The addresses this host announces now (RFC 8046 3.2; the policy of
    /// [`crate::local_locators`]).
    pub fn local_locators(&mut self) -> Vec<IpAddr> {
        if let Some(a) = &self.locators_cache {
            return a.clone();
        }
        let a = crate::local_locators::current(
            &self.config.locators,
            &self.config.tun_name,
            self.config.lsi_prefix,
        );
        self.locators_cache = Some(a.clone());
        a
    }

    /// The LSIs (ours, the peer's) the data plane rebuilds IPv4 packets with.
    fn with_lsis(&self, mut sa: SaInstall) -> SaInstall {
        sa.lsis = self.peers.get(&sa.peer).map(|p| (self.local_lsi, p.lsi));
        sa
    }
}

/// The destination of an ICMP error we built (its IP header's).
fn icmp_destination(p: &[u8]) -> IpAddr {
    match p.first().map(|b| b >> 4) {
        Some(6) if p.len() >= 40 => {
            let mut d = [0u8; 16];
            d.copy_from_slice(&p[24..40]);
            IpAddr::from(d)
        }
        _ if p.len() >= 20 => IpAddr::from([p[16], p[17], p[18], p[19]]),
        _ => IpAddr::from([0, 0, 0, 0]),
    }
}

/// Sends `m` on the packet channel; a full channel drops it (counted).
pub fn offer(h: &CtlHandle, m: Ctl, dropped: &std::sync::atomic::AtomicU64) {
    if h.packets.try_send(m).is_err() {
        inc(dropped);
    }
}
