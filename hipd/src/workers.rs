//! The packet workers of hipd: TUN reader (seal and send), ESP readers (raw
//! IP 50 and UDP 10500: open and write to the TUN), and the HIP readers that
//! hand control packets to the control actor. Workers read the SA tables
//! lock-free ([`crate::esp_tables`]) and never wait for the control actor:
//! what they give it goes through a bounded channel that drops (counted)
//! when full.
use crate::control_actor::{offer, Ctl, CtlHandle};
use crate::control_plane;
use crate::dataplane::{classify, Dest};
use crate::engine::{EngineError, Transport};
use crate::esp_path::{EspPath, HEADROOM, TAILROOM};
use crate::esp_tables::SaSnapshot;
use crate::raw_socket::{Batch, RawSocket, BATCH};
use crate::stats::{inc, Stats};
use crate::tun::Tun;
use hip_proto::Hit;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// I/O handles the workers and the control actor share (every send is one
/// system call on a descriptor, safe from any thread).
pub struct Io {
    /// One TUN queue per packet worker (the first one also carries the
    /// packets hipd writes).
    pub tuns: Vec<Tun>,
    pub hip4: RawSocket,
    pub hip6: RawSocket,
    pub esp4: RawSocket,
    pub esp6: RawSocket,
    pub udp: Option<crate::udp_batch::UdpPort>,
    pub stats: Stats,
    /// Buffers for control packets on their way to the actor.
    pub pool: crate::packet_pool::PacketPool,
}

impl Io {
    /// The TUN queue for packets hipd writes (received data, ICMP errors).
    pub fn tun(&self) -> &Tun {
        &self.tuns[0]
    }
}

/// The UDP socket's form of `dst`:`port` (dual-stack: IPv4 v4-mapped).
fn udp_dst(dst: IpAddr, port: u16) -> std::net::SocketAddr {
    let dst = match dst {
        IpAddr::V4(a) => IpAddr::V6(a.to_ipv6_mapped()),
        v6 => v6,
    };
    (dst, port).into()
}

/// Sends a UDP 10500 datagram (RFC 5770 / RFC 3948 framing already applied).
pub fn send_udp(io: &Io, dst: IpAddr, port: u16, d: &[u8]) {
    if let Some(u) = &io.udp {
        if let Err(e) = u.sock.try_send_to(d, udp_dst(dst, port)) {
            inc(&io.stats.esp_tx_failed);
            crate::debug_limited!(%dst, "UDP send: {e}");
        }
    }
}

/// A HIP control packet over UDP 10500 from `src`, the locator it was built
/// for ([`crate::udp_batch::UdpPort::send_from`]).
pub fn send_udp_control(io: &Io, src: IpAddr, dst: IpAddr, port: u16, d: &[u8]) {
    if let Some(u) = &io.udp {
        if let Err(e) = u.send_from(Some(src), udp_dst(dst, port), d, None) {
            inc(&io.stats.esp_tx_failed);
            crate::debug_limited!(%src, %dst, "UDP send: {e}");
        }
    }
}

/// Counts what a [`crate::udp_batch::UdpTx`] sent and failed to send.
fn count_udp(io: &Io, (sent, failed): (u64, u64)) {
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    io.stats.esp_tx.fetch_add(sent, relaxed);
    io.stats.esp_tx_failed.fetch_add(failed, relaxed);
}

/// Seals the inner packet at `buf[inner]` for `peer`; ESP over UDP is sent
/// at once, or joins the run in `udp_tx` (UDP GSO). Returns the sealed
/// packet still to be sent over raw IP (None when sent or failed, counted)
/// and whether a rekey limit was reached.
fn seal_for(
    io: &Io,
    path: &EspPath,
    snap: &SaSnapshot,
    peer: &Hit,
    buf: &mut [u8],
    inner: std::ops::Range<usize>,
    udp_tx: Option<&mut crate::udp_batch::UdpTx>,
) -> (Option<crate::esp_path::SealedOut>, bool) {
    match path.seal(snap, peer, buf, inner) {
        Ok(s) => {
            let rekey = s.rekey_due;
            if let Some(port) = s.udp_port {
                match (udp_tx, &io.udp) {
                    (Some(tx), Some(u)) => {
                        count_udp(io, tx.push(u, udp_dst(s.dst, port), &buf[s.range]))
                    }
                    _ => {
                        send_udp(io, s.dst, port, &buf[s.range]);
                        inc(&io.stats.esp_tx);
                    }
                }
                return (None, rekey);
            }
            (Some(s), rekey)
        }
        Err(e) => {
            inc(&io.stats.esp_tx_failed);
            crate::trace_limited!(%peer, "ESP seal: {e}");
            (None, false)
        }
    }
}

/// Seals the inner packet at `buf[inner]` for `peer` and sends it, in place.
/// Returns true when a rekey limit was reached with it.
pub fn send_esp(
    io: &Io,
    path: &EspPath,
    snap: &SaSnapshot,
    peer: &Hit,
    buf: &mut [u8],
    inner: std::ops::Range<usize>,
) -> bool {
    let (raw, rekey) = seal_for(io, path, snap, peer, buf, inner, None);
    if let Some(s) = raw {
        let sock = if s.dst.is_ipv4() { &io.esp4 } else { &io.esp6 };
        match sock.send_to(&buf[s.range], s.dst) {
            Ok(_) => inc(&io.stats.esp_tx),
            Err(e) => {
                inc(&io.stats.esp_tx_failed);
                crate::trace_limited!(dst = %s.dst, "ESP send: {e}")
            }
        }
    }
    rekey
}

/// Sealed segments waiting to leave: raw ESP for one sendmmsg(2), ESP over
/// UDP for one GSO send.
struct TxBatch {
    raw: Batch,
    raw_dst: Option<IpAddr>,
    udp: crate::udp_batch::UdpTx,
}

/// Seals the segment at `buf[inner]` and adds it to the send batch `tx`
/// (sent by [`flush_tx`]). Returns true when a rekey limit was reached.
fn seal_to_batch(
    io: &Io,
    path: &EspPath,
    snap: &SaSnapshot,
    peer: &Hit,
    buf: &mut [u8],
    inner: std::ops::Range<usize>,
    tx: &mut TxBatch,
) -> bool {
    let (raw, rekey) = seal_for(io, path, snap, peer, buf, inner, Some(&mut tx.udp));
    if let Some(s) = raw {
        if tx.raw_dst != Some(s.dst) || tx.raw.n == BATCH {
            flush_raw(io, &mut tx.raw, &mut tx.raw_dst);
        }
        if !tx.raw.push(&buf[s.range]) {
            inc(&io.stats.esp_tx_failed);
        }
        tx.raw_dst = Some(s.dst);
    }
    rekey
}

/// Sends what the batch holds and empties it.
fn flush_tx(io: &Io, tx: &mut TxBatch) {
    flush_raw(io, &mut tx.raw, &mut tx.raw_dst);
    if let Some(u) = &io.udp {
        count_udp(io, tx.udp.flush(u));
    }
}

/// Sends the raw batch (one sendmmsg(2)) and empties it.
fn flush_raw(io: &Io, txb: &mut Batch, txdst: &mut Option<IpAddr>) {
    let Some(dst) = txdst.take() else {
        txb.n = 0;
        return;
    };
    if txb.n == 0 {
        return;
    }
    let sock = if dst.is_ipv4() { &io.esp4 } else { &io.esp6 };
    inc(&io.stats.esp_tx_batches);
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    match sock.send_many(txb, dst) {
        Ok(k) => {
            io.stats.esp_tx.fetch_add(k as u64, relaxed);
            io.stats
                .esp_tx_failed
                .fetch_add((txb.n - k) as u64, relaxed);
        }
        Err(e) => {
            io.stats.esp_tx_failed.fetch_add(txb.n as u64, relaxed);
            crate::trace_limited!(%dst, "ESP send: {e}");
        }
    }
    txb.n = 0;
}

fn in_prefix(a: Ipv4Addr, (p, len): (Ipv4Addr, u8)) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    };
    (u32::from(a) & mask) == (u32::from(p) & mask)
}

/// Reads TUN queue `queue`: packets to peers with SAs are sealed and sent
/// here, the rest go to the control actor. On a queue with offloads a read
/// is a virtio_net_hdr and a packet of up to 64 KB: a TCP or UDP
/// super-packet is cut into MTU-sized segments, each sealed and sent in the
/// same pass ([`crate::offload::segment()`]).
pub async fn tun_task(
    io: Arc<Io>,
    queue: usize,
    path: EspPath,
    ctl: CtlHandle,
    lsi_prefix: (Ipv4Addr, u8),
) {
    use crate::offload::vnet::VNET_HDR_LEN;
    let tun = &io.tuns[queue];
    let vnet = tun.offloads().vnet_hdr;
    // The packet (after the vnet header, if any) starts at HEADROOM.
    let lead = if vnet { VNET_HDR_LEN } else { 0 };
    let mut buf = vec![0u8; HEADROOM + 65536 + TAILROOM];
    // Segments of a super-packet, one at a time, with ESP room around them.
    let mut seg = if vnet {
        vec![0u8; HEADROOM + 65536 + TAILROOM]
    } else {
        Vec::new()
    };
    // Sealed segments waiting for one sendmmsg(2) or GSO send.
    let mut tx = TxBatch {
        raw: Batch::new(),
        raw_dst: None,
        udp: crate::udp_batch::UdpTx::new(),
    };
    loop {
        let n = match tun.recv(&mut buf[HEADROOM - lead..HEADROOM + 65536]).await {
            Ok(n) if n >= lead => n - lead,
            Ok(_) => {
                inc(&io.stats.tun_rx_unhandled);
                continue;
            }
            Err(e) => {
                tracing::error!("TUN read: {e}");
                return;
            }
        };
        inc(&io.stats.tun_rx);
        let snap = path.snapshot();
        let pkt = &buf[HEADROOM..HEADROOM + n];
        let peer = match classify(pkt, |a| in_prefix(a, lsi_prefix)) {
            // Held peers ([`crate::esp_tables::PeerLive::held`]) go to the
            // control actor like peers without SAs.
            Dest::Hit(h) => snap.sendable(&h).then_some(h),
            Dest::Lsi(a) => snap.peer_by_lsi(a).filter(|h| snap.sendable(h)),
            Dest::Other => {
                inc(&io.stats.tun_rx_unhandled);
                continue;
            }
        };
        let hdr = if vnet {
            match crate::offload::VnetHdr::parse(&buf[HEADROOM - lead..HEADROOM]) {
                Ok(h) => Some(h),
                Err(_) => {
                    inc(&io.stats.tun_rx_unhandled);
                    continue;
                }
            }
        } else {
            None
        };
        let mut rekey = false;
        match (peer, hdr) {
            (Some(peer), Some(h)) if h.is_gso() || h.needs_csum() => {
                let r = crate::offload::segment(
                    &h,
                    &buf[HEADROOM..HEADROOM + n],
                    &mut seg,
                    HEADROOM,
                    |b, r| {
                        inc(&io.stats.tun_segments);
                        rekey |= seal_to_batch(&io, &path, &snap, &peer, b, r, &mut tx);
                    },
                );
                flush_tx(&io, &mut tx);
                if r.is_err() {
                    inc(&io.stats.tun_rx_unhandled);
                }
            }
            (Some(peer), _) => {
                rekey = send_esp(&io, &path, &snap, &peer, &mut buf, HEADROOM..HEADROOM + n);
            }
            (None, Some(h)) if h.is_gso() || h.needs_csum() => {
                // No SAs yet: the control actor queues plain packets.
                let r = crate::offload::segment(
                    &h,
                    &buf[HEADROOM..HEADROOM + n],
                    &mut seg,
                    HEADROOM,
                    |b, r| {
                        offer(
                            &ctl,
                            Ctl::NoSa {
                                packet: b[r].to_vec(),
                            },
                            &io.stats.queue_dropped,
                        )
                    },
                );
                if r.is_err() {
                    inc(&io.stats.tun_rx_unhandled);
                }
            }
            (None, _) => offer(
                &ctl,
                Ctl::NoSa {
                    packet: pkt.to_vec(),
                },
                &io.stats.queue_dropped,
            ),
        }
        if rekey {
            if let Some(peer) = peer {
                let _ = ctl.signals.send(Ctl::RekeyDue { peer });
            }
        }
    }
}

/// At most one unknown-SPI report to the control actor per this long and
/// worker: a flood of forged ESP costs one channel message per interval.
const UNKNOWN_SPI_REPORT_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// Per-worker state of the ESP receive path.
pub struct EspRx {
    last_unknown_report: Option<std::time::Instant>,
}

impl EspRx {
    /// A receive path that has reported nothing yet.
    pub fn new() -> Self {
        EspRx {
            last_unknown_report: None,
        }
    }

    /// Reports ESP to an unknown SPI (a peer that still has SAs with us after
    /// we lost ours), at most once per [`UNKNOWN_SPI_REPORT_EVERY`].
    fn unknown_spi(&mut self, io: &Io, ctl: &CtlHandle, src: IpAddr, spi: u32) {
        let now = std::time::Instant::now();
        if self
            .last_unknown_report
            .is_some_and(|t| now.duration_since(t) < UNKNOWN_SPI_REPORT_EVERY)
        {
            return;
        }
        self.last_unknown_report = Some(now);
        offer(
            ctl,
            Ctl::UnknownSpi { src, spi },
            &io.stats.hip_rx_dropped_busy,
        );
    }
}

impl Default for EspRx {
    fn default() -> Self {
        Self::new()
    }
}

/// Opens the ESP packet at `buf[esp]` in place (with [`HEADROOM`] before it)
/// and writes the inner packet to the TUN.
/// With `gro`, the inner packet is held to be merged with the next ones of
/// its TCP flow and written by [`flush_gro`].
#[allow(clippy::too_many_arguments)]
fn on_esp(
    io: &Io,
    path: &EspPath,
    snap: &SaSnapshot,
    ctl: &CtlHandle,
    rx: &mut EspRx,
    gro: Option<&mut crate::offload::Coalescer>,
    src: IpAddr,
    udp_port: Option<u16>,
    buf: &mut [u8],
    esp: std::ops::Range<usize>,
) {
    inc(&io.stats.esp_rx);
    match path.open(snap, buf, esp) {
        Ok(o) => {
            // Over UDP: a new source of authenticated ESP is the engine's
            // to judge (NAT rebinding, RFC 5770), reported once.
            if let Some(port) = udp_port {
                if path.udp_source_moved(snap, &o.peer, src, port) {
                    let _ = ctl.signals.send(Ctl::Notice {
                        peer: o.peer,
                        notice: crate::esp_path::Notice::UdpSource { src, port },
                    });
                }
            }
            if let Some(notice) = o.notice {
                let _ = ctl.signals.send(Ctl::Notice {
                    peer: o.peer,
                    notice,
                });
            }
            let inner = &buf[o.range];
            let held = gro.is_some_and(|g| g.push_or_flush(inner, |f| write_tun(io, f)).is_ok());
            if !held {
                if let Err(e) = io.tun().send_packet(inner) {
                    crate::debug_limited!("TUN write: {e}");
                }
            }
        }
        Err(EngineError::UnknownSpi(spi)) => {
            inc(&io.stats.esp_rx_unhandled);
            rx.unknown_spi(io, ctl, src, spi);
        }
        Err(_) => inc(&io.stats.esp_rx_unhandled),
    }
}

/// Writes one frame (vnet header and packet) to the TUN.
fn write_tun(io: &Io, frame: &[u8]) {
    if let Err(e) = io.tun().send(frame) {
        crate::debug_limited!("TUN write: {e}");
    }
}

/// Writes what the coalescer holds.
fn flush_gro(io: &Io, gro: &mut Option<crate::offload::Coalescer>) {
    if let Some(g) = gro {
        g.flush(|f| {
            inc(&io.stats.tun_gro_writes);
            write_tun(io, f)
        });
    }
}

/// TCP flows the receive coalescer tracks at once.
const GRO_FLOWS: usize = 16;

/// A coalescer when the TUN takes super-packets (TSO offloads negotiated).
fn coalescer(io: &Io) -> Option<crate::offload::Coalescer> {
    io.tun()
        .offloads()
        .tso
        .then(|| crate::offload::Coalescer::new(GRO_FLOWS, 65535))
}

/// Reads ESP from a raw IP 50 socket, up to [`BATCH`] packets per
/// recvmmsg(2); consecutive TCP segments of one flow are merged (GRO) and
/// written to the TUN once per batch.
pub async fn esp_raw_task(io: Arc<Io>, path: EspPath, ctl: CtlHandle, v6: bool) {
    let mut b = Batch::new();
    let mut starts = [0usize; BATCH];
    let mut rx = EspRx::new();
    let mut gro = coalescer(&io);
    loop {
        let sock = if v6 { &io.esp6 } else { &io.esp4 };
        let n = match sock.recv_many(&mut b, &mut starts).await {
            Ok(n) => n,
            Err(e) => {
                crate::trace_limited!("ESP raw recv: {e}");
                continue;
            }
        };
        inc(&io.stats.esp_rx_batches);
        let snap = path.snapshot();
        for (i, start) in starts.iter().enumerate().take(n) {
            let (end, src) = (b.lens[i], b.srcs[i]);
            let slot = b.slot_mut(i);
            on_esp(
                &io,
                &path,
                &snap,
                &ctl,
                &mut rx,
                gro.as_mut(),
                src,
                None,
                slot,
                *start..end,
            );
        }
        flush_gro(&io, &mut gro);
    }
}

/// Hands a control packet to the actor after the cheap header check (a
/// malformed one costs no allocation).
fn offer_control(io: &Io, ctl: &CtlHandle, t: Transport, pkt: &[u8]) {
    if control_plane::sender_hit(pkt).is_err() {
        inc(&io.stats.hip_rx_malformed);
        return;
    }
    let Some(packet) = io.pool.copy_of(pkt) else {
        // Every buffer waits for the control actor: it is behind.
        inc(&io.stats.hip_rx_dropped_busy);
        return;
    };
    if let Err(e) = ctl.packets.try_send(Ctl::Control { t, packet }) {
        inc(&io.stats.hip_rx_dropped_busy);
        if let Ctl::Control { packet, .. } = e.into_inner() {
            io.pool.give_back(packet);
        }
    }
}

/// Reads HIP control packets from a raw IP 139 socket.
pub async fn hip_raw_task(io: Arc<Io>, ctl: CtlHandle, v6: bool) {
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
                let t = Transport {
                    src,
                    dst,
                    udp_port: None,
                };
                offer_control(&io, &ctl, t, &buf[range]);
            }
            Err(e) => {
                inc(&io.stats.hip_rx_malformed);
                crate::trace_limited!("HIP raw recv: {e}");
            }
        }
    }
}

/// Reads UDP 10500: HIP control packets (zero marker, RFC 5770 section 5.1)
/// and ESP (RFC 3948). Returns at once without the UDP socket: spawned
/// only when [`Io::udp`] is open.
pub async fn udp_task(io: Arc<Io>, path: EspPath, ctl: CtlHandle) {
    let Some(udp) = &io.udp else { return };
    let mut rxb = crate::udp_batch::UdpRx::new();
    // One datagram at a time, with room around it to open ESP in place.
    let mut buf = vec![0u8; HEADROOM + 65536 + TAILROOM];
    let mut rx = EspRx::new();
    let mut gro = coalescer(&io);
    // Data Relay Server: forwarded ESP leaves in runs (UDP GSO).
    let mut relayed = crate::udp_batch::UdpTx::new();
    loop {
        if let Err(e) = udp.recv(&mut rxb).await {
            crate::trace_limited!("UDP recv: {e}");
            continue;
        }
        inc(&io.stats.esp_rx_batches);
        let snap = path.snapshot();
        for (from, to, d) in rxb.datagrams() {
            inc(&io.stats.hip_rx_udp);
            let src = crate::raw_socket::unmap(from.ip());
            // The address the packet came to (IPV6_PKTINFO, v4-mapped for IPv4).
            let dst = to.map(crate::raw_socket::unmap);
            match control_plane::udp_demux(d) {
                Ok(Some(hip)) => {
                    let t = Transport {
                        src,
                        dst,
                        udp_port: Some(from.port()),
                    };
                    offer_control(&io, &ctl, t, hip);
                }
                Ok(None) => {
                    // Data Relay Server: ESP on a client's permission goes on
                    // (RFC 9028 section 4.12.1), one packet out per packet in.
                    if !snap.relay.is_empty() && d.len() >= 8 {
                        let spi = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
                        match path.relay_route(&snap, SocketAddr::new(src, from.port()), spi) {
                            Some(crate::esp_path::Relayed::To(to)) => {
                                let (_, failed) = relayed.push(udp, udp_dst(to.ip(), to.port()), d);
                                count_udp(&io, (0, failed));
                                continue;
                            }
                            Some(crate::esp_path::Relayed::Dropped) => continue,
                            None => {}
                        }
                    }
                    let n = d.len().min(65536);
                    buf[HEADROOM..HEADROOM + n].copy_from_slice(&d[..n]);
                    on_esp(
                        &io,
                        &path,
                        &snap,
                        &ctl,
                        &mut rx,
                        gro.as_mut(),
                        src,
                        Some(from.port()),
                        &mut buf,
                        HEADROOM..HEADROOM + n,
                    )
                }
                Err(_) => inc(&io.stats.hip_rx_malformed),
            }
        }
        let (_, failed) = relayed.flush(udp);
        count_udp(&io, (0, failed));
        flush_gro(&io, &mut gro);
    }
}
