//! The daemon: wires TUN, raw sockets, control socket, peer DB, identities and
//! the engines together. Tasks: one TUN reader, one reader per raw socket
//! (v4/v6 x HIP/ESP), one UDP 10500 reader, the control socket acceptor
//! (requests handled in [`crate::control_handler`]), a timer (retransmissions,
//! failover probes), the rtnetlink address watcher and the signal waiter; they
//! share [`State`] behind a mutex (no await while held).
use crate::config::Config;
use crate::control::{Request, Response};
use crate::dataplane::{classify, Dest, PendingQueues};
use crate::engine::{Action, EspEngine, ProtocolEngine, SaInstall, Transport};
use crate::esp_engine::{BeetEsp, HEADROOM, TAILROOM};
use crate::hip_engine::HipEngine;
use crate::identity_store::IdentityStore;
use crate::peer_db::PeerDb;
use crate::raw_socket::{RawSocket, IPPROTO_ESP, IPPROTO_HIP};
use crate::stats::{inc, Stats};
use crate::tun::Tun;
use crate::{control_plane, hosts, icmp, netconf};
use hip_proto::Hit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Startup options.
pub struct Options {
    pub config_dir: PathBuf,
    pub socket: PathBuf,
}

/// Shared daemon state.
pub struct State {
    pub config: Config,
    pub peers: PeerDb,
    pub ids: IdentityStore,
    pub local_lsi: Ipv4Addr,
    pub engine: Box<dyn ProtocolEngine>,
    pub esp: Box<dyn EspEngine>,
    pub pending: PendingQueues,
}

/// I/O handles the tasks share.
pub struct Io {
    pub tun: Tun,
    pub hip4: RawSocket,
    pub hip6: RawSocket,
    pub esp4: RawSocket,
    pub esp6: RawSocket,
    pub udp: Option<tokio::net::UdpSocket>,
    pub stats: Stats,
}

pub(crate) type Shared = Arc<Mutex<State>>;

pub(crate) fn lock(s: &Shared) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs hipd until SIGTERM/SIGINT.
pub async fn run(opts: Options) -> Result<(), String> {
    std::fs::create_dir_all(&opts.config_dir)
        .map_err(|e| format!("{}: {e}", opts.config_dir.display()))?;
    let config = Config::load(&opts.config_dir).map_err(|e| e.to_string())?;
    let ids =
        IdentityStore::open(&opts.config_dir, &mut rand_core::OsRng).map_err(|e| e.to_string())?;
    let mut peers = PeerDb::open(&opts.config_dir.join("peers.json"), config.lsi_prefix)
        .map_err(|e| e.to_string())?;
    let hosts_path = opts.config_dir.join("hosts");
    match std::fs::read_to_string(&hosts_path) {
        Ok(t) => {
            let lines = hosts::parse(&t).map_err(|e| format!("{}: {e}", hosts_path.display()))?;
            peers.load_hosts(&lines).map_err(|e| e.to_string())?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", hosts_path.display())),
    }
    let default = ids
        .default_identity()
        .ok_or("no default host identity")?
        .hit;
    let local_lsi = peers.reserve_local(default).map_err(|e| e.to_string())?;
    peers.save().map_err(|e| e.to_string())?;
    let engine: Box<dyn ProtocolEngine> = Box::new(HipEngine::new(&ids.identities, &config)?);
    let esp: Box<dyn EspEngine> = Box::new(BeetEsp::new(crate::esp_engine::RekeyLimits {
        packets: config.rekey_packets,
        bytes: config.rekey_bytes,
    }));

    let tun = Tun::open(&config.tun_name).map_err(|e| format!("TUN {}: {e}", config.tun_name))?;
    let hits: Vec<Ipv6Addr> = ids
        .identities
        .iter()
        .map(|i| Ipv6Addr::from(i.hit))
        .collect();
    netconf::configure(&config.tun_name, &hits, local_lsi, config.lsi_prefix.1)?;
    tracing::info!(dev = %config.tun_name, hit = %default, lsi = %local_lsi, "TUN configured");

    let open =
        |v6, p| RawSocket::open(v6, p).map_err(|e| format!("raw socket (v6={v6}, proto {p}): {e}"));
    let udp = match crate::raw_socket::bind_udp(crate::raw_socket::HIP_UDP_PORT) {
        Ok(u) => Some(u),
        Err(e) => {
            tracing::warn!(
                "UDP port {} unavailable: {e}",
                crate::raw_socket::HIP_UDP_PORT
            );
            None
        }
    };
    let io = Arc::new(Io {
        tun,
        hip4: open(false, IPPROTO_HIP)?,
        hip6: open(true, IPPROTO_HIP)?,
        esp4: open(false, IPPROTO_ESP)?,
        esp6: open(true, IPPROTO_ESP)?,
        udp,
        stats: Stats::default(),
    });
    let tun_name = config.tun_name.clone();
    let state: Shared = Arc::new(Mutex::new(State {
        config,
        peers,
        ids,
        local_lsi,
        engine,
        esp,
        pending: PendingQueues::default(),
    }));

    let _ = std::fs::remove_file(&opts.socket);
    if let Some(d) = opts.socket.parent() {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let listener = tokio::net::UnixListener::bind(&opts.socket)
        .map_err(|e| format!("{}: {e}", opts.socket.display()))?;
    // The control socket changes identities and maps: owner (root) only.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&opts.socket, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{}: {e}", opts.socket.display()))?;
    }
    tracing::info!(socket = %opts.socket.display(), "control socket listening");

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(tun_task(io.clone(), state.clone()));
    tasks.spawn(hip_raw_task(io.clone(), state.clone(), false));
    tasks.spawn(hip_raw_task(io.clone(), state.clone(), true));
    tasks.spawn(esp_raw_task(io.clone(), state.clone(), false));
    tasks.spawn(esp_raw_task(io.clone(), state.clone(), true));
    tasks.spawn(udp_task(io.clone(), state.clone()));
    tasks.spawn(control_task(listener, io.clone(), state.clone()));
    tasks.spawn(timer_task(io.clone(), state.clone()));
    match crate::addr_watch::AddrWatch::open() {
        Ok(w) => {
            tasks.spawn(addr_task(w, io.clone(), state.clone()));
        }
        Err(e) => tracing::warn!("address changes will not be announced: rtnetlink: {e}"),
    }

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
        r = tasks.join_next() => tracing::error!("a task ended unexpectedly: {r:?}"),
    }
    // Shutdown: CLOSE to peers (RFC 7401 section 5.3.8), then remove routes and device.
    let actions = lock(&state).engine.close(None, Instant::now());
    perform(&io, &state, actions);
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    if let Err(e) = lock(&state).peers.save() {
        tracing::warn!("saving peers: {e}");
    }
    let _ = std::fs::remove_file(&opts.socket);
    tracing::info!(counters = ?io.stats.snapshot(), "stopping");
    // Routes go first, while the device still exists; closing the TUN then removes it.
    let r = netconf::teardown(&tun_name);
    drop(io);
    r
}

/// How long we send ESP to a peer without hearing back before trying another
/// of its locators (RFC 8047 failover).
const FAILOVER_SILENCE: std::time::Duration = std::time::Duration::from_millis(700);
/// How often a failed-over association tries its original path again.
const RETURN_HOME_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Executes engine actions (sending, SA installation, queue flushing).
pub(crate) fn perform(io: &Io, state: &Shared, actions: Vec<Action>) {
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
                let s = if dst.is_ipv4() { &io.hip4 } else { &io.hip6 };
                if let Err(e) = s.send_from(&packet, src, dst) {
                    tracing::warn!(%src, %dst, "HIP send: {e}");
                }
            }
            Action::SendControl {
                dst,
                udp_port: Some(port),
                packet,
                ..
            } => {
                let mut d = vec![0u8; 4];
                d.extend_from_slice(&packet);
                send_udp(io, dst, port, &d);
            }
            Action::Established(sa) | Action::Rekeyed(sa) => {
                let mut st = lock(state);
                let sa = with_lsis(&st, sa);
                if let Err(e) = st.esp.install(&sa) {
                    tracing::error!(peer = %sa.peer, "installing SAs: {e}");
                    continue;
                }
                tracing::info!(peer = %sa.peer, locator = %sa.locator, spi_in = sa.esp.spi_in, spi_out = sa.esp.spi_out, "SAs installed");
                // Tell the peer about our other locators (RFC 8047 failover candidates).
                let addrs = crate::addr_watch::locators(&st.config.tun_name, st.config.lsi_prefix);
                work.extend(st.engine.update_locators(&addrs, Instant::now()));
                let mut buf = vec![0u8; HEADROOM + 65536 + TAILROOM];
                for pkt in st.pending.take(&sa.peer) {
                    let n = pkt.len().min(65536);
                    buf[HEADROOM..HEADROOM + n].copy_from_slice(&pkt[..n]);
                    send_esp(io, &mut st, &sa.peer, &mut buf, HEADROOM..HEADROOM + n);
                }
            }
            Action::InboundSa {
                peer,
                suite,
                spi,
                keys,
                icv_len,
            } => {
                if let Err(e) = lock(state)
                    .esp
                    .add_inbound(&peer, suite, spi, &keys, icv_len)
                {
                    tracing::warn!(%peer, "new inbound SA: {e}");
                }
            }
            Action::LocatorUnverified { peer, locator } => {
                lock(state).esp.set_unverified(&peer, locator);
            }
            Action::LocatorChanged { peer, locator } => {
                lock(state).esp.set_locator(&peer, locator);
            }
            Action::ExpectSequenceRestart { peer } => {
                lock(state).esp.expect_sequence_restart(&peer);
            }
            Action::Closed { peer } => {
                let mut st = lock(state);
                st.esp.remove(&peer);
                let dropped = st.pending.take(&peer).len();
                tracing::info!(%peer, dropped, "association closed");
            }
        }
    }
}

/// The LSIs (ours, the peer's) the data plane rebuilds IPv4 packets with.
fn with_lsis(st: &State, mut sa: SaInstall) -> SaInstall {
    sa.lsis = st.peers.get(&sa.peer).map(|p| (st.local_lsi, p.lsi));
    sa
}

fn send_udp(io: &Io, dst: IpAddr, port: u16, d: &[u8]) {
    if let Some(u) = &io.udp {
        let dst = match dst {
            IpAddr::V4(a) => IpAddr::V6(a.to_ipv6_mapped()),
            v6 => v6,
        };
        if let Err(e) = u.try_send_to(d, (dst, port).into()) {
            tracing::warn!(%dst, "UDP send: {e}");
        }
    }
}

/// Seals the inner packet at `buf[inner]` and sends it, in place.
fn send_esp(io: &Io, st: &mut State, peer: &Hit, buf: &mut [u8], inner: std::ops::Range<usize>) {
    match st.esp.seal(peer, buf, inner) {
        Ok((dst, None, r)) => {
            let s = if dst.is_ipv4() { &io.esp4 } else { &io.esp6 };
            match s.send_to(&buf[r], dst) {
                Ok(_) => inc(&io.stats.esp_tx),
                Err(e) => {
                    inc(&io.stats.esp_tx_failed);
                    tracing::debug!(%dst, "ESP send: {e}")
                }
            }
        }
        Ok((dst, Some(port), r)) => {
            send_udp(io, dst, port, &buf[r]);
            inc(&io.stats.esp_tx);
        }
        Err(e) => {
            inc(&io.stats.esp_tx_failed);
            tracing::debug!(%peer, "ESP seal: {e}")
        }
    }
}

async fn tun_task(io: Arc<Io>, state: Shared) {
    let mut buf = vec![0u8; HEADROOM + 65536 + TAILROOM];
    loop {
        let n = match io.tun.recv(&mut buf[HEADROOM..HEADROOM + 65536]).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!("TUN read: {e}");
                return;
            }
        };
        inc(&io.stats.tun_rx);
        let pkt = &buf[HEADROOM..HEADROOM + n];
        let actions = {
            let mut st = lock(&state);
            let dest = classify(pkt, |a| st.peers.is_lsi(a));
            let peer = match dest {
                Dest::Hit(h) => st.peers.get(&h).map(|p| p.hit),
                Dest::Lsi(a) => st.peers.by_lsi(a).map(|p| p.hit),
                Dest::Other => {
                    inc(&io.stats.tun_rx_unhandled);
                    continue;
                }
            };
            let Some(peer) = peer else {
                let reply = match dest {
                    Dest::Hit(h) => icmp::unreachable_v6(pkt, h.into()),
                    Dest::Lsi(a) => icmp::unreachable_v4(pkt, a),
                    Dest::Other => None,
                };
                if let Some(r) = reply {
                    inc(&io.stats.icmp_unreach_sent);
                    if let Err(e) = io.tun.send(&r) {
                        tracing::warn!("TUN write ICMP: {e}");
                    }
                }
                continue;
            };
            if st.esp.has_sa(&peer) {
                send_esp(&io, &mut st, &peer, &mut buf, HEADROOM..HEADROOM + n);
                if !st.esp.rekey_due(&peer) {
                    continue;
                }
                tracing::info!(%peer, "SA limit reached: rekeying");
                st.engine.rekey(peer, Instant::now())
            } else {
                let first = st.pending.is_first(&peer);
                if st.pending.push(peer, pkt.to_vec()) {
                    inc(&io.stats.queued);
                } else {
                    inc(&io.stats.queue_dropped);
                }
                if !first {
                    continue;
                }
                let local = match st.ids.default_identity() {
                    Some(i) => i.hit,
                    None => continue,
                };
                let locs = st
                    .peers
                    .get(&peer)
                    .map(|p| p.locators.clone())
                    .unwrap_or_default();
                tracing::info!(%peer, "first packet to peer: starting a base exchange");
                match st.engine.initiate(local, peer, &locs, Instant::now()) {
                    Ok(a) => a,
                    Err(e) => {
                        // No exchange will run: drop what was queued so the next packet retries.
                        let dropped = st.pending.take(&peer).len() as u64;
                        io.stats
                            .queue_dropped
                            .fetch_add(dropped, std::sync::atomic::Ordering::Relaxed);
                        inc(&io.stats.bex_trigger_unhandled);
                        tracing::warn!(%peer, "base exchange trigger: {e}");
                        continue;
                    }
                }
            }
        };
        perform(&io, &state, actions);
    }
}

/// Access control + engine hand-off for one control packet.
fn on_control(io: &Io, state: &Shared, t: Transport, pkt: &[u8]) {
    let sender = match control_plane::sender_hit(pkt) {
        Ok(h) => h,
        Err(e) => {
            inc(&io.stats.hip_rx_malformed);
            tracing::debug!(src = %t.src, "HIP dropped: {e}");
            return;
        }
    };
    let actions = {
        let mut st = lock(state);
        if !st.config.is_allowed(&sender) {
            inc(&io.stats.hip_rx_refused_acl);
            tracing::warn!(src = %t.src, %sender, "HIP packet refused: sender HIT not in allow list");
            return;
        }
        tracing::info!(src = %t.src, %sender, len = pkt.len(), "HIP control packet received");
        st.engine.on_control_packet(t, pkt, Instant::now())
    };
    perform(io, state, actions);
}

async fn hip_raw_task(io: Arc<Io>, state: Shared, v6: bool) {
    let mut buf = vec![0u8; 65536];
    loop {
        let sock = if v6 { &io.hip6 } else { &io.hip4 };
        match sock.recv(&mut buf).await {
            Ok((range, src, dst)) => {
                inc(if v6 {
                    &io.stats.hip_rx_v6
                } else {
                    &io.stats.hip_rx_v4
                });
                on_control(
                    &io,
                    &state,
                    Transport {
                        src,
                        dst,
                        udp_port: None,
                    },
                    &buf[range],
                );
            }
            Err(e) => {
                inc(&io.stats.hip_rx_malformed);
                tracing::debug!("HIP raw recv: {e}");
            }
        }
    }
}

/// Opens the ESP packet at `buf[esp]` in place (with [`HEADROOM`] before it)
/// and writes the inner packet to the TUN.
fn on_esp(io: &Io, state: &Shared, src: IpAddr, buf: &mut [u8], esp: std::ops::Range<usize>) {
    inc(&io.stats.esp_rx);
    let mut st = lock(state);
    match st.esp.open(src, buf, esp) {
        Ok((peer, inner)) => {
            st.engine.on_data_received(peer, Instant::now());
            drop(st);
            if let Err(e) = io.tun.send(&buf[inner]) {
                tracing::warn!("TUN write: {e}");
            }
        }
        Err(e) => {
            inc(&io.stats.esp_rx_unhandled);
            tracing::debug!(%src, "ESP not processed: {e}");
        }
    }
}

async fn esp_raw_task(io: Arc<Io>, state: Shared, v6: bool) {
    let mut buf = vec![0u8; HEADROOM + 65536 + TAILROOM];
    loop {
        let sock = if v6 { &io.esp6 } else { &io.esp4 };
        match sock.recv(&mut buf[HEADROOM..HEADROOM + 65536]).await {
            Ok((r, src, _)) => {
                let r = HEADROOM + r.start..HEADROOM + r.end;
                on_esp(&io, &state, src, &mut buf, r);
            }
            Err(e) => tracing::debug!("ESP raw recv: {e}"),
        }
    }
}

async fn udp_task(io: Arc<Io>, state: Shared) {
    let Some(udp) = &io.udp else { return };
    let mut buf = vec![0u8; HEADROOM + 65536 + TAILROOM];
    let fd = std::os::fd::AsRawFd::as_raw_fd(udp);
    loop {
        let got = udp
            .async_io(tokio::io::Interest::READABLE, || {
                crate::raw_socket::recv_with_pktinfo(fd, &mut buf[HEADROOM..HEADROOM + 65536])
            })
            .await;
        let (n, from, to) = match got {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!("UDP recv: {e}");
                continue;
            }
        };
        inc(&io.stats.hip_rx_udp);
        let src = crate::raw_socket::unmap(from.ip());
        // The address the packet came to (IPV6_PKTINFO, v4-mapped for IPv4).
        let dst = to.map(|d| crate::raw_socket::unmap(IpAddr::V6(d)));
        match control_plane::udp_demux(&buf[HEADROOM..HEADROOM + n]) {
            Ok(Some(hip)) => {
                let hip = hip.to_vec();
                on_control(
                    &io,
                    &state,
                    Transport {
                        src,
                        dst,
                        udp_port: Some(from.port()),
                    },
                    &hip,
                );
            }
            Ok(None) => on_esp(&io, &state, src, &mut buf, HEADROOM..HEADROOM + n),
            Err(_) => inc(&io.stats.hip_rx_malformed),
        }
    }
}

async fn timer_task(io: Arc<Io>, state: Shared) {
    // Wake at the engine's next deadline, at least every 100 ms (new
    // deadlines set by packet handling are picked up then).
    let mut next_home_probe = Instant::now() + RETURN_HOME_EVERY;
    loop {
        let now = Instant::now();
        let until = lock(&state)
            .engine
            .next_deadline()
            .unwrap_or(now + std::time::Duration::from_millis(100))
            .min(now + std::time::Duration::from_millis(100));
        tokio::time::sleep_until(until.into()).await;
        let mut a = lock(&state).engine.poll(Instant::now());
        // A path that stopped answering: probe another locator of the peer.
        let silent = lock(&state).esp.silent_peers(FAILOVER_SILENCE);
        for peer in silent {
            a.extend(lock(&state).engine.failover(peer, Instant::now()));
        }
        if Instant::now() >= next_home_probe {
            next_home_probe = Instant::now() + RETURN_HOME_EVERY;
            a.extend(lock(&state).engine.return_home(Instant::now()));
        }
        perform(&io, &state, a);
    }
}

/// Announces locator changes (RFC 8046): on every rtnetlink address event,
/// rescan the host's addresses and let the engine update its peers.
async fn addr_task(w: crate::addr_watch::AddrWatch, io: Arc<Io>, state: Shared) {
    loop {
        if let Err(e) = w.changed().await {
            tracing::warn!("rtnetlink: {e}");
            return;
        }
        let (tun, lsi) = {
            let st = lock(&state);
            (st.config.tun_name.clone(), st.config.lsi_prefix)
        };
        let addrs = crate::addr_watch::locators(&tun, lsi);
        tracing::debug!(?addrs, "addresses changed");
        let a = lock(&state).engine.update_locators(&addrs, Instant::now());
        perform(&io, &state, a);
    }
}

async fn control_task(listener: tokio::net::UnixListener, io: Arc<Io>, state: Shared) {
    loop {
        let Ok((s, _)) = listener.accept().await else {
            continue;
        };
        let (io, state) = (io.clone(), state.clone());
        tokio::spawn(async move {
            let (r, mut w) = s.into_split();
            let mut line = String::new();
            let read = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                BufReader::new(r).read_line(&mut line),
            )
            .await;
            let resp = match read {
                Ok(Ok(_)) => match serde_json::from_str::<Request>(line.trim_end()) {
                    Ok(req) => crate::control_handler::handle(&io, &state, req),
                    Err(e) => Response::Error {
                        message: format!("bad request: {e}"),
                    },
                },
                _ => return,
            };
            let mut out = serde_json::to_string(&resp)
                .unwrap_or_else(|_| "{\"result\":\"error\",\"message\":\"encode\"}".into());
            out.push('\n');
            let _ = w.write_all(out.as_bytes()).await;
        });
    }
}
