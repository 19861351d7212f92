//! The daemon's wiring: loads configuration, identities and peers, opens the
//! TUN and the sockets, starts the control actor on a thread of its own
//! ([`crate::control_actor`]) and the packet workers, the control socket
//! acceptor and the rtnetlink watcher on the async runtime
//! ([`crate::workers`]), and tears it all down on SIGTERM/SIGINT.
use crate::config::Config;
use crate::control_actor::{Control, Ctl, CtlHandle, PACKET_QUEUE};
use crate::engine::ProtocolEngine;
use crate::esp_tables::{BeetEsp, RekeyLimits};
use crate::hip_engine::HipEngine;
use crate::identity_store::IdentityStore;
use crate::peer_db::PeerDb;
use crate::raw_socket::{RawSocket, IPPROTO_ESP, IPPROTO_HIP};
use crate::stats::Stats;
use crate::tun::Tun;
use crate::workers::{self, Io};
use crate::{hosts, netconf};
use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Startup options.
pub struct Options {
    pub config_dir: PathBuf,
    pub socket: PathBuf,
}

/// Runs hipd until SIGTERM/SIGINT.
pub async fn run(opts: Options) -> Result<(), String> {
    std::fs::create_dir_all(&opts.config_dir)
        .map_err(|e| format!("{}: {e}", opts.config_dir.display()))?;
    // Taken first: a second hipd must not touch the first one's TUN or routes.
    let pending = crate::control_socket::bind(&opts.socket)?;
    let tmp = pending.tmp_path().to_path_buf();
    let r = run_bound(&opts, pending).await;
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_file(&opts.socket);
    r
}

async fn run_bound(opts: &Options, pending: crate::control_socket::Pending) -> Result<(), String> {
    let config = Config::load(&opts.config_dir).map_err(|e| e.to_string())?;
    let ids =
        IdentityStore::open(&opts.config_dir, &mut rand_core::OsRng).map_err(|e| e.to_string())?;
    let mut peers = PeerDb::open(&opts.config_dir.join("peers.json"), config.lsi_prefix)
        .map_err(|e| e.to_string())?;
    // Our own HITs and addresses are never a peer or a peer's locator.
    let own: Vec<_> = ids.identities.iter().map(|i| i.hit).collect();
    peers.set_own_hits(&own).map_err(|e| e.to_string())?;
    // Every address of the host, whatever the locator policy announces.
    peers.set_own_addrs(&crate::local_locators::host_addresses(
        &config.tun_name,
        config.lsi_prefix,
    ));
    let hosts_path = opts.config_dir.join("hosts");
    let mut hosts_peers = std::collections::BTreeSet::new();
    match std::fs::read_to_string(&hosts_path) {
        Ok(t) => {
            let lines = hosts::parse(&t).map_err(|e| format!("{}: {e}", hosts_path.display()))?;
            peers.load_hosts(&lines).map_err(|e| e.to_string())?;
            hosts_peers.extend(lines.iter().map(|l| l.hit));
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
    let mut esp = BeetEsp::new(RekeyLimits {
        packets: config.rekey_packets,
        bytes: config.rekey_bytes,
    });
    esp.set_relay_rate(config.data_relay_rate);

    let tuns = open_tun_queues(&config)?;
    let hits: Vec<Ipv6Addr> = ids
        .identities
        .iter()
        .map(|i| Ipv6Addr::from(i.hit))
        .collect();
    netconf::configure(&config.tun_name, &hits, local_lsi)?;
    tracing::info!(dev = %config.tun_name, hit = %default, lsi = %local_lsi, "TUN configured");

    let open =
        |v6, p| RawSocket::open(v6, p).map_err(|e| format!("raw socket (v6={v6}, proto {p}): {e}"));
    // UDP 10500 (RFC 5770 5.1): needed when we send over UDP (nat = plain-udp);
    // otherwise opened only to answer peers that reach us over UDP, and a
    // port in use is then no reason not to run.
    let port = crate::raw_socket::HIP_UDP_PORT;
    let udp = match crate::raw_socket::bind_udp(port).and_then(crate::udp_batch::UdpPort::new) {
        Ok(u) => Some(u),
        Err(e) if config.nat.udp() => {
            return Err(format!(
                "UDP port {port}: {e} (nat = plain-udp needs it; free the port or set nat = none)"
            ))
        }
        Err(e) => {
            tracing::info!("UDP port {port}: {e}; peers cannot reach this host over UDP");
            None
        }
    };
    let io = Arc::new(Io {
        tuns,
        hip4: open(false, IPPROTO_HIP)?,
        hip6: open(true, IPPROTO_HIP)?,
        esp4: open(false, IPPROTO_ESP)?,
        esp6: open(true, IPPROTO_ESP)?,
        udp,
        stats: Stats::default(),
        pool: crate::packet_pool::PacketPool::new(),
    });
    let tun_name = config.tun_name.clone();
    let lsi_prefix = config.lsi_prefix;
    let path = esp.path();
    let (ptx, prx) = mpsc::channel(PACKET_QUEUE);
    let (stx, srx) = mpsc::unbounded_channel();
    let ctl = CtlHandle {
        packets: ptx,
        signals: stx,
    };
    // HIP in DNS (RFC 8005): lookups, the proxy, publishing.
    let dns_stats = Arc::new(crate::stats::DnsStats::default());
    let upstream = config
        .dns
        .upstream
        .or_else(|| crate::dns_lookup::default_upstream(config.dns.proxy));
    let resolver = Arc::new(crate::dns_lookup::Resolver::new(
        upstream,
        dns_stats.clone(),
        ctl.clone(),
    ));
    let publisher = match &config.dns.update {
        Some(u) => {
            let id = ids.default_identity().ok_or("no default host identity")?;
            Some(Arc::new(crate::dns_publish::Publisher::new(
                u,
                id.identity.public(),
                id.hit,
                dns_stats.clone(),
            )?))
        }
        None => None,
    };
    let (locators_tx, locators_rx) = tokio::sync::watch::channel(crate::local_locators::current(
        &config.locators,
        &config.tun_name,
        config.lsi_prefix,
    ));
    let proxy = match config.dns.proxy {
        Some(addr) => {
            let up = upstream.ok_or(
                "dns_proxy: no upstream resolver (set dns_upstream, or a nameserver other than the proxy in /etc/resolv.conf)",
            )?;
            let udp = tokio::net::UdpSocket::bind(addr)
                .await
                .map_err(|e| format!("dns_proxy {addr} (UDP): {e}"))?;
            let tcp = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("dns_proxy {addr} (TCP): {e}"))?;
            tracing::info!(%addr, upstream = %up, "DNS proxy listening");
            Some((
                Arc::new(crate::dns_proxy::Proxy::new(resolver.clone(), up)),
                udp,
                tcp,
            ))
        }
        None => None,
    };
    let mut control = Control::new(config, peers, ids, local_lsi, engine, esp, io.clone());
    control.config_dir = opts.config_dir.clone();
    control.hosts_peers = hosts_peers;
    crate::control_handler::register_configured_servers(&mut control);
    control.dns.stats = dns_stats;
    control.dns.locators = Some(locators_tx);
    // Only assigned LSIs are routed into the TUN (RFC 5338): one /32 per
    // peer known now (peers.json and the hosts file), over one socket.
    let failed = control.netconf.add_peer_routes(
        control.peers.iter().map(|p| p.lsi),
        &io.stats.lsi_route_failed,
    );
    tracing::info!(
        routes = control.peers.iter().count() - failed,
        failed,
        "peer LSI routes added"
    );
    let metrics = match control.config.metrics_listen {
        Some(addr) => {
            if !addr.ip().is_loopback() {
                tracing::warn!(%addr, "metrics_listen is not a loopback address: anyone who reaches it reads the peers' HITs and traffic");
            }
            let m = crate::metrics::Endpoint::start(
                addr,
                ctl.signals.clone(),
                control.bex_latency.clone(),
            )?;
            tracing::info!(%addr, "metrics endpoint listening");
            Some(m)
        }
        None => None,
    };
    let actor = std::thread::Builder::new()
        .name("hipd-control".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
            {
                Ok(rt) => rt.block_on(control.run(prx, srx)),
                Err(e) => tracing::error!("control actor runtime: {e}"),
            }
        })
        .map_err(|e| format!("control actor thread: {e}"))?;
    tracing::info!(socket = %opts.socket.display(), "control socket listening");

    let mut tasks = tokio::task::JoinSet::new();
    for q in 0..io.tuns.len() {
        tasks.spawn(workers::tun_task(
            io.clone(),
            q,
            path.clone(),
            ctl.clone(),
            lsi_prefix,
        ));
    }
    tasks.spawn(workers::hip_raw_task(io.clone(), ctl.clone(), false));
    tasks.spawn(workers::hip_raw_task(io.clone(), ctl.clone(), true));
    tasks.spawn(workers::esp_raw_task(
        io.clone(),
        path.clone(),
        ctl.clone(),
        false,
    ));
    tasks.spawn(workers::esp_raw_task(
        io.clone(),
        path.clone(),
        ctl.clone(),
        true,
    ));
    // Without the UDP socket (port in use, nat = none) there is nothing to
    // read; a task that ended at once would read as a fatal task end below.
    if io.udp.is_some() {
        tasks.spawn(workers::udp_task(io.clone(), path.clone(), ctl.clone()));
    }
    // Visible only now that everything is in place (readiness).
    let listener = pending.publish()?;
    // systemd Type=notify: ready now (a no-op without NOTIFY_SOCKET).
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!("systemd readiness notification: {e}");
    }
    tasks.spawn(crate::control_socket::serve(
        listener,
        ctl.clone(),
        resolver.clone(),
    ));
    if let Some((p, udp, tcp)) = proxy {
        tasks.spawn(p.clone().serve_udp(udp));
        tasks.spawn(p.serve_tcp(tcp));
    }
    let publishing = publisher.clone().map(|p| tokio::spawn(p.run(locators_rx)));
    match crate::addr_watch::AddrWatch::open() {
        Ok(w) => {
            tasks.spawn(addr_task(w, ctl.clone()));
        }
        Err(e) => tracing::warn!("address changes will not be announced: rtnetlink: {e}"),
    }

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| e.to_string())?;
    tasks.spawn(reload_on_hangup(hup, ctl.clone()));
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
        r = tasks.join_next() => tracing::error!("a task ended unexpectedly: {r:?}"),
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    // Our records go first, while the network is still up (bounded).
    if let Some(t) = publishing {
        t.abort();
        let _ = t.await;
    }
    if let Some(p) = &publisher {
        p.withdraw_at_exit().await;
    }
    // Shutdown: CLOSE to peers (RFC 7401 section 5.3.8) and save the peers,
    // in the actor; then remove routes and device.
    let (done, finished) = oneshot::channel();
    if ctl.signals.send(Ctl::Shutdown { done }).is_ok() {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), finished).await;
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    if let Some(m) = metrics {
        let _ = tokio::task::spawn_blocking(move || m.stop()).await;
    }
    drop(ctl);
    let _ = tokio::task::spawn_blocking(move || actor.join()).await;
    tracing::info!(counters = ?io.stats.snapshot(), "stopping");
    // Routes go first, while the device still exists; closing the TUN then removes it.
    let r = netconf::teardown(&tun_name);
    drop(io);
    r
}

/// Opens `workers` queues of the TUN (IFF_MULTI_QUEUE), with vnet headers
/// and offloads when `offload = yes`; one plain queue when `workers = 1`
/// and offloads are off, as before.
fn open_tun_queues(config: &Config) -> Result<Vec<Tun>, String> {
    let name = &config.tun_name;
    let err = |e: std::io::Error| format!("TUN {name}: {e}");
    // Queues of a multi-queue TUN can be attached by anyone: never join a
    // device another process (another hipd) has open.
    let c = std::ffi::CString::new(name.as_str()).map_err(|_| format!("bad TUN name {name:?}"))?;
    // SAFETY: if_nametoindex reads a NUL-terminated name.
    if unsafe { libc::if_nametoindex(c.as_ptr()) } != 0 {
        return Err(format!(
            "TUN {name}: the interface exists already (another hipd running?); set tun = NAME or stop it"
        ));
    }
    if config.workers == 1 && !config.offload {
        return Ok(vec![Tun::open(name).map_err(err)?]);
    }
    let opts = crate::tun::TunOptions {
        multi_queue: true,
        vnet_hdr: config.offload,
        offload: config.offload,
    };
    let tuns = (0..config.workers)
        .map(|_| Tun::open_with(name, &opts).map_err(err))
        .collect::<Result<Vec<_>, _>>()?;
    let o = tuns[0].offloads();
    tracing::info!(
        queues = tuns.len(),
        tso = o.tso,
        uso = o.uso,
        "TUN queues open"
    );
    Ok(tuns)
}

/// Announces locator changes (RFC 8046): every rtnetlink address, route or
/// rule event tells the control actor to rescan the host's addresses. The
/// first event of a burst is acted on at once; what comes in the next
/// [`RESCAN_GAP`] is folded into one more rescan after it (route churn, e.g.
/// hipd's own peer routes or a routing daemon's, costs at most 10 rescans a
/// second).
async fn addr_task(w: crate::addr_watch::AddrWatch, ctl: CtlHandle) {
    loop {
        if let Err(e) = w.changed().await {
            tracing::warn!("rtnetlink: {e}");
            return;
        }
        let _ = ctl.signals.send(Ctl::AddressesChanged);
        tokio::time::sleep(RESCAN_GAP).await;
    }
}

/// The least time between two rescans the address watcher asks for.
const RESCAN_GAP: std::time::Duration = std::time::Duration::from_millis(100);

/// SIGHUP reloads the configuration as `hipconf daemon reload` does.
async fn reload_on_hangup(mut hup: tokio::signal::unix::Signal, ctl: CtlHandle) {
    while hup.recv().await.is_some() {
        let (reply, answer) = oneshot::channel();
        let req = crate::control::Request::Reload;
        if ctl.signals.send(Ctl::Request { req, reply }).is_err() {
            return;
        }
        if let Ok(crate::control::Response::Error { message }) = answer.await {
            tracing::warn!("SIGHUP: {message}");
        }
    }
}
