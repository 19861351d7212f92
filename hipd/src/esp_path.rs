//! The ESP packet path of hipd's workers: BEET-mode sealing and opening
//! (RFC 7402 section 3.1, RFC 4303) against the current [`SaSnapshot`],
//! in place in the caller's buffer, with no lock and no allocation.
//!
//! Outbound, the inner IP header is dropped (an LSI packet rides the
//! HIT-addressed SA, its transport checksum converted to the HIT pseudo-header);
//! inbound, the inner header is rebuilt with the local view of the peer: its
//! HIT, or the LSI this host assigned to it ([`crate::inner_family`] decides
//! which).
use crate::engine::EngineError;
use crate::esp_tables::{SaSnapshot, Shared, CREDIT_MAX, REKEY_SETTLE, UNVERIFIED_LIFETIME};
use crate::inner_family::Family;
use hip_esp::beet::{self, Inner};
use hip_esp::TableError;
use hip_proto::Hit;
use std::net::{IpAddr, Ipv6Addr};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Headroom the daemon reserves before an inner packet (ESP header + IV) and
/// before an ESP packet (the rebuilt inner IPv6 header needs 40 octets).
pub const HEADROOM: usize = 64;
/// Tailroom after the packet (padding, trailer, ICV).
pub const TAILROOM: usize = 64;

/// A sealed packet and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedOut {
    /// The outer destination.
    pub dst: IpAddr,
    /// The peer's UDP port when ESP goes over UDP (RFC 3948 framing).
    pub udp_port: Option<u16>,
    /// The ESP packet in the buffer.
    pub range: Range<usize>,
    /// A rekey limit was reached with this packet: tell the control actor
    /// (reported once per set of SAs).
    pub rekey_due: bool,
}

/// An opened packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedIn {
    /// The peer it came from.
    pub peer: Hit,
    /// The rebuilt inner IP packet in the buffer.
    pub range: Range<usize>,
    /// What the control actor must hear about (each reported once).
    pub notice: Option<Notice>,
}

/// Events of the data plane that the protocol engine needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// First packet on newly installed SAs (R2-SENT becomes ESTABLISHED,
    /// RFC 7401 section 4.4.2).
    FirstPacket,
    /// The peer sends on the inbound SA `spi` announced in the last rekey:
    /// the previous one can be retired (RFC 7402 section 6.9). Carries the
    /// SPI so that a notice the actor handles late (after a further rekey)
    /// retires nothing the peer may still use.
    NewInboundSaUsed { spi: u32 },
    /// Authenticated ESP of an association over UDP came from another
    /// address or port than its SAs send to (a NAT rebinding, or a peer
    /// that moved; RFC 5770): reported once per new source.
    UdpSource { src: IpAddr, port: u16 },
}

/// What the Data Relay does with an ESP packet on a permitted SPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relayed {
    /// Send it on to this transport address.
    To(std::net::SocketAddr),
    /// Dropped (wrong source or over the rate), counted.
    Dropped,
}

/// A worker's handle on the SA tables.
#[derive(Clone)]
pub struct EspPath {
    shared: Arc<Shared>,
}

fn err(e: impl ToString) -> EngineError {
    EngineError::Protocol(e.to_string())
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl EspPath {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        EspPath { shared }
    }

    /// The current tables (one atomic load; hold it for a batch of packets).
    pub fn snapshot(&self) -> arc_swap::Guard<Arc<SaSnapshot>> {
        self.shared.snapshot.load()
    }

    /// Counts a packet for which no outbound SA exists.
    pub fn count_no_sa(&self) {
        bump(&self.shared.counters.no_sa);
    }

    /// Seals the inner IP packet at `buf[inner]` for `peer`.
    pub fn seal(
        &self,
        snap: &SaSnapshot,
        peer: &Hit,
        buf: &mut [u8],
        inner: Range<usize>,
    ) -> Result<SealedOut, EngineError> {
        let c = &self.shared.counters;
        let Some(p) = snap.out.get(peer) else {
            bump(&c.no_sa);
            return Err(err("no SA"));
        };
        let start = inner.start;
        let v4 = buf.get(start).is_some_and(|b| b >> 4 == 4);
        let (payload, nh) = beet::encapsulate(
            &mut buf[inner],
            (Ipv6Addr::from(p.local_hit), Ipv6Addr::from(*peer)),
        )
        .map_err(|e| {
            bump(&c.malformed);
            err(e)
        })?;
        let payload = start + payload.start..start + payload.end;
        if v4 {
            self.families()
                .note_outbound_v4(nh, &buf[payload.clone()], std::time::Instant::now());
        }
        let len = payload.len() as u64;
        let sealed = p.sa.out.seal(buf, payload, nh).map_err(err)?;
        let now = self.shared.now();
        let live = &p.sa.live;
        // While the peer's new locator is unverified, send there as long as the
        // credit lasts, else to the verified one (RFC 8046 section 3.3.2).
        let mut dst = p.dst;
        if let Some(&(u, since)) = p.unverified.as_deref() {
            let n = sealed.range.len() as u64;
            let fresh = now.saturating_sub(since) <= UNVERIFIED_LIFETIME.as_nanos() as u64;
            if fresh
                && live
                    .credit
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| c.checked_sub(n))
                    .is_ok()
            {
                dst = u;
                bump(&c.credit_sent);
            }
        }
        let packets = live.sent_packets.fetch_add(1, Ordering::Relaxed) + 1;
        let bytes = live.sent_bytes.fetch_add(len, Ordering::Relaxed) + len;
        live.last_out.store(now, Ordering::Relaxed);
        let limits = &self.shared.limits;
        let over = limits.packets.is_some_and(|n| packets >= n)
            || limits.bytes.is_some_and(|n| bytes >= n);
        let settled = p.old_spi_in.is_none()
            || now.saturating_sub(p.installed) >= REKEY_SETTLE.as_nanos() as u64;
        let rekey_due = (over || sealed.rekey_needed)
            && settled
            && !live.rekey_reported.swap(true, Ordering::Relaxed);
        if rekey_due {
            live.rekey_pending.store(true, Ordering::Relaxed);
        }
        bump(&c.sealed);
        Ok(SealedOut {
            dst,
            udp_port: p.udp_port,
            range: sealed.range,
            rekey_due,
        })
    }

    /// Authenticated ESP of `peer` arrived over UDP from `src`:`port`: true
    /// (once per new source) when its SAs go over UDP to another transport
    /// address, for a [`Notice::UdpSource`]. One comparison per packet; a
    /// hash only when the source differs.
    pub fn udp_source_moved(&self, snap: &SaSnapshot, peer: &Hit, src: IpAddr, port: u16) -> bool {
        let Some(p) = snap.out.get(peer) else {
            return false;
        };
        if p.udp_port.is_none() || (p.dst == src && p.udp_port == Some(port)) {
            return false;
        }
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (src, port).hash(&mut h);
        let key = h.finish() | 1;
        p.sa.live.udp_source_reported.swap(key, Ordering::Relaxed) != key
    }

    /// Data Relay Server (RFC 9028 section 4.12.1): where ESP with `spi`
    /// from `src` is forwarded, `None` when no permission names that SPI
    /// (the packet is then ours to open). A permitted SPI from another
    /// source, or over the permission's rate, is dropped and counted
    /// ([`Relayed::Dropped`]). No allocation, no lock.
    pub fn relay_route(
        &self,
        snap: &SaSnapshot,
        src: std::net::SocketAddr,
        spi: u32,
    ) -> Option<Relayed> {
        let e = snap.relay.get(&spi)?;
        let c = &self.shared.counters;
        if e.from != src {
            bump(&c.relay_wrong_source);
            return Some(Relayed::Dropped);
        }
        let now = self.shared.now();
        let w = self.shared.relay_window.load(Ordering::Relaxed);
        let start = e.window.load(Ordering::Relaxed);
        if now.saturating_sub(start) >= w
            && e.window
                .compare_exchange(start, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            e.in_window.store(0, Ordering::Relaxed);
        }
        let budget = self.shared.relay_budget.load(Ordering::Relaxed);
        if e.in_window.fetch_add(1, Ordering::Relaxed) >= budget {
            bump(&c.relay_rate_limited);
            return Some(Relayed::Dropped);
        }
        bump(&c.relay_forwarded);
        Some(Relayed::To(e.to))
    }

    /// Opens the ESP packet at `buf[esp]` (with [`HEADROOM`] before it).
    pub fn open(
        &self,
        snap: &SaSnapshot,
        buf: &mut [u8],
        esp: Range<usize>,
    ) -> Result<OpenedIn, EngineError> {
        let c = &self.shared.counters;
        let base = esp.start;
        let pkt = &mut buf[esp];
        let Some(spi) = pkt
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        else {
            bump(&c.malformed);
            return Err(err(TableError::Truncated));
        };
        let Some(e) = snap.inbound.get(&spi) else {
            bump(&c.unknown_spi);
            return Err(EngineError::UnknownSpi(spi));
        };
        let opened = match e.sa.open(pkt) {
            Ok(o) => o,
            Err(x) => {
                bump(match x {
                    hip_esp::OpenError::BadIcv => &c.icv_failed,
                    hip_esp::OpenError::Replay | hip_esp::OpenError::TooOld => &c.replayed,
                    _ => &c.malformed,
                });
                return Err(err(x));
            }
        };
        let peer = e.peer;
        let Some(p) = snap.out.get(&peer) else {
            bump(&c.unknown_spi);
            return Err(err("SA without peer"));
        };
        let payload = base + opened.payload.start..base + opened.payload.end;
        let live = &p.sa.live;
        live.last_in.store(self.shared.now(), Ordering::Relaxed);
        live.silence_reported.store(false, Ordering::Relaxed);
        let n = opened.payload.len() as u64;
        live.recv_packets.fetch_add(1, Ordering::Relaxed);
        live.recv_bytes.fetch_add(n, Ordering::Relaxed);
        let _ = live
            .credit
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                (c < CREDIT_MAX).then(|| (c + n).min(CREDIT_MAX))
            });
        let notice = if !live.first_in_reported.swap(true, Ordering::Relaxed) {
            Some(Notice::FirstPacket)
        } else if spi == p.spi_in
            && p.old_spi_in.is_some()
            && !live.new_spi_reported.swap(true, Ordering::Relaxed)
        {
            Some(Notice::NewInboundSaUsed { spi })
        } else {
            None
        };
        let fam = self.family(opened.next_header, &buf[payload.clone()]);
        let inner = match fam {
            Family::V6 => Inner::Hit {
                src: peer.into(),
                dst: p.local_hit.into(),
            },
            Family::V4 => Inner::Lsi {
                src: p.peer_lsi,
                dst: p.local_lsi,
                src_hit: peer.into(),
                dst_hit: p.local_hit.into(),
            },
        };
        let r = beet::decapsulate(buf, payload, opened.next_header, inner, 64).map_err(|e| {
            bump(&c.malformed);
            err(e)
        })?;
        bump(&c.opened);
        Ok(OpenedIn {
            peer,
            range: r,
            notice,
        })
    }

    fn families(&self) -> std::sync::MutexGuard<'_, crate::inner_family::InnerFamily> {
        self.shared
            .families
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The inner family of an inbound packet; a /proc/net lookup runs with
    /// the cache unlocked.
    fn family(&self, next_header: u8, l4: &[u8]) -> Family {
        let now = std::time::Instant::now();
        let miss = match self.families().cached(next_header, l4, now) {
            Ok(f) => return f,
            Err(m) => m,
        };
        let f = miss.resolve();
        self.families().remember(miss, f, now);
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SaInstall;
    use crate::esp_tables::{BeetEsp, RekeyLimits};
    use hip_proto::endpoint::event::EspSaKeys;
    use hip_proto::endpoint::EspParams;
    use hip_proto::registry::EspTransformId;
    use std::net::Ipv4Addr;

    /// Seals through a worker handle, as the daemon's TUN path does.
    fn seal(
        e: &BeetEsp,
        peer: &Hit,
        buf: &mut [u8],
        r: Range<usize>,
    ) -> Result<(IpAddr, Option<u16>, Range<usize>), EngineError> {
        let p = e.path();
        let s = p.seal(&p.snapshot(), peer, buf, r)?;
        Ok((s.dst, s.udp_port, s.range))
    }

    /// Opens through a worker handle and applies its notice, as the control
    /// actor does.
    fn open(
        e: &mut BeetEsp,
        buf: &mut [u8],
        r: Range<usize>,
    ) -> Result<(Hit, Range<usize>), EngineError> {
        let p = e.path();
        let o = p.open(&p.snapshot(), buf, r)?;
        if let Some(Notice::NewInboundSaUsed { spi }) = o.notice {
            e.retire_old_inbound(&o.peer, spi);
        }
        Ok((o.peer, o.range))
    }

    fn hit(n: u8) -> Hit {
        Hit([0x20, 1, 0, 0x22, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n])
    }

    fn keys(seed: u8) -> EspSaKeys {
        EspSaKeys {
            enc: (0..20).map(|i| i ^ seed).collect(),
            auth: Vec::new(),
        }
    }

    /// A and B with mirrored SAs (AES-GCM), LSIs 1.0.0.1 (own) / 1.0.0.2 (peer) on both.
    /// SAs from `local` to `peer` (HIT n, locator 192.0.2.n), AES-GCM with
    /// test keys `kin` / `kout`, no LSIs.
    fn sa(local: u8, peer: u8, spi_in: u32, spi_out: u32, kin: u8, kout: u8) -> SaInstall {
        SaInstall {
            peer: hit(peer),
            local: hit(local),
            locator: IpAddr::from([192, 0, 2, peer]),
            local_locator: IpAddr::from([192, 0, 2, local]),
            udp_port: None,
            icv_len: None,
            esp: EspParams {
                suite: EspTransformId::AesGcm16,
                spi_in,
                spi_out,
                keys_in: keys(kin),
                keys_out: keys(kout),
                keymat_index: 0,
            },
            lsis: None,
            awaiting_peer: false,
        }
    }

    fn pair() -> (BeetEsp, BeetEsp) {
        // Each side's own LSI 1.0.0.1, the other's 1.0.0.2.
        let with_lsis = |mut s: SaInstall| {
            s.lsis = Some((Ipv4Addr::new(1, 0, 0, 1), Ipv4Addr::new(1, 0, 0, 2)));
            s
        };
        let (mut a, mut b) = (BeetEsp::default(), BeetEsp::default());
        a.install(&with_lsis(sa(1, 2, 1000, 2000, 7, 9))).unwrap();
        b.install(&with_lsis(sa(2, 1, 2000, 1000, 9, 7))).unwrap();
        (a, b)
    }

    /// An ICMPv6 echo request from `src` to `dst` (HITs), in a buffer with room.
    fn icmp6(src: Hit, dst: Hit, body: &[u8]) -> (Vec<u8>, std::ops::Range<usize>) {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[58, 64]);
        p.extend_from_slice(&src.0);
        p.extend_from_slice(&dst.0);
        p.extend_from_slice(&[128, 0, 0, 0, 0, 1, 0, 1]);
        p.extend_from_slice(body);
        let mut buf = vec![0u8; HEADROOM + p.len() + TAILROOM];
        buf[HEADROOM..HEADROOM + p.len()].copy_from_slice(&p);
        let r = HEADROOM..HEADROOM + p.len();
        (buf, r)
    }

    /// Moves a sealed packet into a fresh buffer with headroom (as the daemon's receive does).
    fn wire(buf: &[u8], r: std::ops::Range<usize>) -> (Vec<u8>, std::ops::Range<usize>) {
        let n = r.len();
        let mut b = vec![0u8; HEADROOM + n + TAILROOM];
        b[HEADROOM..HEADROOM + n].copy_from_slice(&buf[r]);
        (b, HEADROOM..HEADROOM + n)
    }

    #[test]
    fn hit_packet_round_trips_with_the_receivers_view() {
        let (a, mut b) = pair();
        let (mut buf, r) = icmp6(hit(1), hit(2), b"hello");
        let inner = buf[r.clone()].to_vec();
        let (dst, udp, sealed) = seal(&a, &hit(2), &mut buf, r).unwrap();
        assert_eq!((dst, udp), (IpAddr::from([192, 0, 2, 2]), None));
        let (mut w, wr) = wire(&buf, sealed);
        let (peer, got) = open(&mut b, &mut w, wr).unwrap();
        assert_eq!(peer, hit(1));
        let got = &w[got];
        assert_eq!(&got[8..24], &hit(1).0, "source: the peer's HIT");
        assert_eq!(&got[24..40], &hit(2).0);
        assert_eq!(
            &got[40..],
            &inner[40..],
            "transport header and payload intact"
        );
    }

    #[test]
    fn lsi_icmp_arrives_as_ipv4_between_the_receivers_lsis() {
        let (a, mut b) = pair();
        // A pings its view of B (1.0.0.2) from its LSI (1.0.0.1).
        let mut p = vec![
            0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 2,
        ];
        p.extend_from_slice(&[8, 0, 0xf7, 0xfe, 0, 1, 0, 0]);
        let mut buf = vec![0u8; HEADROOM + p.len() + TAILROOM];
        buf[HEADROOM..HEADROOM + p.len()].copy_from_slice(&p);
        let (_, _, sealed) = seal(&a, &hit(2), &mut buf, HEADROOM..HEADROOM + p.len()).unwrap();
        let (mut w, wr) = wire(&buf, sealed);
        let (_, got) = open(&mut b, &mut w, wr).unwrap();
        let got = &w[got];
        assert_eq!(got[0] >> 4, 4, "IPv4 inner packet");
        assert_eq!(&got[12..16], &[1, 0, 0, 2], "from B's LSI for A");
        assert_eq!(&got[16..20], &[1, 0, 0, 1], "to B's own LSI");
        assert_eq!(&got[20..], &p[20..]);
    }

    #[test]
    fn unknown_spi_and_forged_icv_are_counted_drops() {
        let (a, mut b) = pair();
        let (mut buf, r) = icmp6(hit(1), hit(2), b"x");
        let (_, _, sealed) = seal(&a, &hit(2), &mut buf, r).unwrap();
        let (mut w, wr) = wire(&buf, sealed.clone());
        let last = wr.end - 1;
        w[last] ^= 1;
        assert!(open(&mut b, &mut w, wr).is_err());
        let (mut w, wr) = wire(&buf, sealed);
        w[HEADROOM] ^= 0xff; // SPI
        assert!(open(&mut b, &mut w, wr).is_err());
        let c = b.counters();
        assert_eq!(c["esp_drop_icv"], 1);
        assert_eq!(c["esp_drop_unknown_spi"], 1);
    }

    #[test]
    fn the_data_relay_forwards_a_permitted_spi_from_its_source_within_the_rate() {
        use hip_proto::endpoint::RelayForward;
        use std::net::SocketAddr;
        let mut e = BeetEsp::default();
        let (peer, client): (SocketAddr, SocketAddr) = (
            "203.0.113.2:4001".parse().unwrap(),
            "203.0.113.1:5001".parse().unwrap(),
        );
        e.set_relay_forwards(&[
            RelayForward {
                spi: 0x1111,
                from: peer,
                to: client,
                client: hit(1),
            },
            RelayForward {
                spi: 0x2222,
                from: client,
                to: peer,
                client: hit(1),
            },
        ]);
        // 3 per window; a window long enough that it cannot end mid-test.
        e.set_relay_budget(1, std::time::Duration::from_secs(3));
        let p = e.path();
        let snap = p.snapshot();
        assert_eq!(
            p.relay_route(&snap, peer, 0x1111),
            Some(Relayed::To(client))
        );
        assert_eq!(
            p.relay_route(&snap, client, 0x2222),
            Some(Relayed::To(peer))
        );
        // Not ours to forward: opened (or dropped) as our own ESP.
        assert_eq!(p.relay_route(&snap, peer, 0x3333), None);
        // The permitted SPI from anybody else (another port of the peer's
        // address too) is dropped.
        let other: SocketAddr = "203.0.113.2:4002".parse().unwrap();
        assert_eq!(p.relay_route(&snap, other, 0x1111), Some(Relayed::Dropped));
        assert_eq!(p.relay_route(&snap, peer, 0x2222), Some(Relayed::Dropped));
        // Over the rate: the fourth in the window is dropped.
        assert_eq!(
            p.relay_route(&snap, peer, 0x1111),
            Some(Relayed::To(client))
        );
        assert_eq!(
            p.relay_route(&snap, peer, 0x1111),
            Some(Relayed::To(client))
        );
        assert_eq!(p.relay_route(&snap, peer, 0x1111), Some(Relayed::Dropped));
        let c = e.counters();
        assert_eq!(c["esp_relay_forwarded"], 4);
        assert_eq!(c["esp_relay_drop_wrong_source"], 2);
        assert_eq!(c["esp_relay_drop_rate_limited"], 1);
        // A rule that stays keeps its window; a removed one forwards nothing.
        e.set_relay_forwards(&[RelayForward {
            spi: 0x1111,
            from: peer,
            to: client,
            client: hit(1),
        }]);
        let snap = p.snapshot();
        assert_eq!(p.relay_route(&snap, peer, 0x1111), Some(Relayed::Dropped));
        assert_eq!(p.relay_route(&snap, client, 0x2222), None);
    }

    #[test]
    fn a_responder_awaiting_its_peer_holds_packets_until_released() {
        let mut a = BeetEsp::default();
        let mut s = sa(1, 2, 1000, 2000, 7, 9);
        s.awaiting_peer = true;
        s.lsis = Some((Ipv4Addr::new(1, 0, 0, 1), Ipv4Addr::new(1, 0, 0, 2)));
        a.install(&s).unwrap();
        let snap = a.path().snapshot();
        // The SAs are there (the peer's first ESP will find them) but the
        // workers do not seal for the peer yet.
        assert!(snap.has_sa(&hit(2)));
        assert!(!snap.sendable(&hit(2)));
        assert!(a.is_held(&hit(2)));
        a.release(&hit(2));
        // Seen through the same snapshot: no republish is needed.
        assert!(snap.sendable(&hit(2)));
        assert!(!a.is_held(&hit(2)));
        // A rekey's installation is never held.
        let (b, _) = pair();
        assert!(b.path().snapshot().sendable(&hit(2)));
    }

    #[test]
    fn unverified_locator_gets_traffic_only_within_the_earned_credit() {
        let (mut a, b) = pair();
        let new: IpAddr = IpAddr::from([198, 51, 100, 2]);
        a.set_unverified(&hit(2), new);
        // No credit yet: still the verified locator.
        let (mut buf, r) = icmp6(hit(1), hit(2), &[0; 100]);
        let (dst, _, _) = seal(&a, &hit(2), &mut buf, r).unwrap();
        assert_eq!(dst, IpAddr::from([192, 0, 2, 2]));
        // B sends three 100-octet packets to A: A earns about 300 octets of credit.
        for _ in 0..3 {
            let (mut buf, r) = icmp6(hit(2), hit(1), &[0; 92]);
            let (_, _, s) = seal(&b, &hit(1), &mut buf, r).unwrap();
            let (mut w, wr) = wire(&buf, s);
            open(&mut a, &mut w, wr).unwrap();
        }
        let mut to_new = 0;
        for _ in 0..10 {
            let (mut buf, r) = icmp6(hit(1), hit(2), &[0; 100]);
            let (dst, _, _) = seal(&a, &hit(2), &mut buf, r).unwrap();
            to_new += usize::from(dst == new);
        }
        assert!(
            (1..=3).contains(&to_new),
            "{to_new} packets to the unverified locator"
        );
        // Once verified, everything goes there.
        a.set_locator(&hit(2), new);
        let (mut buf, r) = icmp6(hit(1), hit(2), &[0; 100]);
        assert_eq!(seal(&a, &hit(2), &mut buf, r).unwrap().0, new);
    }

    #[test]
    fn rekey_keeps_the_old_inbound_sa_until_the_new_one_is_used() {
        let (mut a, mut b) = pair();
        // B prepares a new inbound SA (3000) before A switches to it.
        b.add_inbound(&hit(1), EspTransformId::AesGcm16, 3000, &keys(11), None)
            .unwrap();
        // A packet still on the old SA opens.
        let (mut buf, r) = icmp6(hit(1), hit(2), b"old");
        let (_, _, s) = seal(&a, &hit(2), &mut buf, r).unwrap();
        let (mut w, wr) = wire(&buf, s);
        open(&mut b, &mut w, wr).unwrap();
        // A moves to the new SA; B installs the rekeyed SAs.
        let mut na = SaInstall {
            peer: hit(2),
            local: hit(1),
            locator: IpAddr::from([192, 0, 2, 2]),
            local_locator: IpAddr::from([192, 0, 2, 1]),
            udp_port: None,
            icv_len: None,
            esp: EspParams {
                suite: EspTransformId::AesGcm16,
                spi_in: 1000,
                spi_out: 3000,
                keys_in: keys(7),
                keys_out: keys(11),
                keymat_index: 0,
            },
            lsis: None,
            awaiting_peer: false,
        };
        a.install(&na).unwrap();
        na.peer = hit(1);
        na.local = hit(2);
        na.esp = EspParams {
            suite: EspTransformId::AesGcm16,
            spi_in: 3000,
            spi_out: 1000,
            keys_in: keys(11),
            keys_out: keys(7),
            keymat_index: 0,
        };
        b.install(&na).unwrap();
        let (mut buf, r) = icmp6(hit(1), hit(2), b"new");
        let (_, _, s) = seal(&a, &hit(2), &mut buf, r).unwrap();
        let (mut w, wr) = wire(&buf, s);
        assert_eq!(&w[HEADROOM..HEADROOM + 4], &3000u32.to_be_bytes());
        open(&mut b, &mut w, wr).unwrap();
        assert_eq!(b.counters()["esp_drop_unknown_spi"], 0);
        b.remove(&hit(1));
        assert!(!b.has_sa(&hit(1)));
    }

    /// Under load a rekey's final ACK can be late or lost while the next packet
    /// limit is already reached: the next rekey waits until the peer uses the
    /// new inbound SA, so the one it may still send on is never retired early
    /// (seen in CI: unknown-SPI drops and a stalled TCP transfer).
    #[test]
    fn next_rekey_waits_until_the_peer_uses_the_new_inbound_sa() {
        let limits = RekeyLimits {
            packets: Some(2),
            bytes: None,
        };
        let (mut a, mut b) = (BeetEsp::new(limits), BeetEsp::default());
        a.install(&sa(1, 2, 1000, 2000, 7, 9)).unwrap();
        b.install(&sa(2, 1, 2000, 1000, 9, 7)).unwrap();
        let send = |from: &mut BeetEsp, to: &mut BeetEsp, s: u8, d: u8| {
            let (mut buf, r) = icmp6(hit(s), hit(d), b"x");
            let (_, _, sr) = seal(from, &hit(d), &mut buf, r).unwrap();
            let (mut w, wr) = wire(&buf, sr);
            open(to, &mut w, wr)
        };
        for _ in 0..2 {
            send(&mut a, &mut b, 1, 2).unwrap();
        }
        assert!(a.rekey_due(&hit(2)), "first limit reached");
        // Rekeyed: A now receives on 1001; B has not switched yet (no ACK).
        a.install(&sa(1, 2, 1001, 2001, 17, 19)).unwrap();
        b.add_inbound(&hit(1), EspTransformId::AesGcm16, 2001, &keys(19), None)
            .unwrap();
        for _ in 0..4 {
            let (mut buf, r) = icmp6(hit(1), hit(2), b"x");
            let (_, _, sr) = seal(&a, &hit(2), &mut buf, r).unwrap();
            let (mut w, wr) = wire(&buf, sr);
            open(&mut b, &mut w, wr).unwrap();
        }
        assert!(
            !a.rekey_due(&hit(2)),
            "no second rekey while B still sends on the old inbound SA"
        );
        // B still on 1000: A opens it.
        send(&mut b, &mut a, 2, 1).unwrap();
        // B gets the ACK and moves to 1001; the next packet limit rekeys again.
        b.install(&sa(2, 1, 2001, 1001, 19, 17)).unwrap();
        send(&mut b, &mut a, 2, 1).unwrap();
        send(&mut a, &mut b, 1, 2).unwrap();
        assert!(a.rekey_due(&hit(2)));
        assert_eq!(a.counters()["esp_drop_unknown_spi"], 0);
    }

    /// A `hipl` peer re-creates its SA (same SPI, counter from 1) after a move:
    /// B drops it as a replay until told to expect the restart, then accepts it.
    #[test]
    fn expected_sequence_restart_is_accepted_once() {
        // AES-CBC / HMAC-SHA1, as HIPL uses.
        let sa = |local: u8, peer: u8, spi_in, spi_out, kin: u8, kout: u8| {
            let mut s = super::tests::sa(local, peer, spi_in, spi_out, kin, kout);
            s.esp.suite = EspTransformId::Aes128CbcHmacSha1;
            s.esp.keys_in = EspSaKeys {
                enc: vec![kin; 16],
                auth: vec![kin; 20],
            };
            s.esp.keys_out = EspSaKeys {
                enc: vec![kout; 16],
                auth: vec![kout; 20],
            };
            s
        };
        let (mut a, mut b) = (BeetEsp::default(), BeetEsp::default());
        a.install(&sa(1, 2, 1000, 2000, 7, 9)).unwrap();
        b.install(&sa(2, 1, 2000, 1000, 9, 7)).unwrap();
        let send = |a: &mut BeetEsp, b: &mut BeetEsp| {
            let (mut buf, r) = icmp6(hit(1), hit(2), b"hb");
            let (_, _, s) = seal(a, &hit(2), &mut buf, r).unwrap();
            let (mut w, wr) = wire(&buf, s);
            open(b, &mut w, wr).is_ok()
        };
        for _ in 0..80 {
            assert!(send(&mut a, &mut b));
        }
        // A re-creates its SAs as HIPL does after an UPDATE.
        let mut a = BeetEsp::default();
        a.install(&sa(1, 2, 1000, 2000, 7, 9)).unwrap();
        assert!(!send(&mut a, &mut b), "a counter reset is a replay");
        b.expect_sequence_restart(&hit(1));
        assert!(send(&mut a, &mut b), "the armed restart is accepted");
        assert!(send(&mut a, &mut b));
    }

    /// A "new inbound SA used" notice that the control actor handles only
    /// after a further rekey was installed must not retire the SA the peer
    /// may still be sending on (seen in CI: one unknown-SPI drop during
    /// rapid rekeys).
    #[test]
    fn a_late_notice_retires_nothing_after_a_further_rekey() {
        let mut a = BeetEsp::default();
        let mut b = BeetEsp::default();
        a.install(&sa(1, 2, 1000, 2001, 7, 19)).unwrap();
        b.install(&sa(2, 1, 2000, 1000, 9, 7)).unwrap();
        b.install(&sa(2, 1, 2001, 1000, 19, 7)).unwrap();
        // A packet on 2001: the worker reports it, the actor is busy.
        let (mut buf, r) = icmp6(hit(1), hit(2), b"k");
        let (_, _, s) = seal(&a, &hit(2), &mut buf, r).unwrap();
        let (mut w, wr) = wire(&buf, s);
        let p = b.path();
        let _first = p.open(&p.snapshot(), &mut w, wr).unwrap();
        let (mut buf, r) = icmp6(hit(1), hit(2), b"k2");
        let (_, _, s) = seal(&a, &hit(2), &mut buf, r).unwrap();
        let (mut w, wr) = wire(&buf, s);
        let o = p.open(&p.snapshot(), &mut w, wr).unwrap();
        assert_eq!(o.notice, Some(Notice::NewInboundSaUsed { spi: 2001 }));
        // The next rekey is installed before the notice is handled.
        b.install(&sa(2, 1, 2002, 1000, 29, 7)).unwrap();
        b.retire_old_inbound(&hit(1), 2001);
        // A still sends on 2001 until it hears of 2002: still accepted.
        let (mut buf, r) = icmp6(hit(1), hit(2), b"late");
        let (_, _, s) = seal(&a, &hit(2), &mut buf, r).unwrap();
        let (mut w, wr) = wire(&buf, s);
        assert!(open(&mut b, &mut w, wr).is_ok());
        assert_eq!(b.counters()["esp_drop_unknown_spi"], 0);
    }
}
