//! Which inner IP family an inbound BEET packet is rebuilt as.
//!
//! On the wire, LSI (IPv4) traffic rides the HIT-addressed SA with the
//! transport protocol as next header (HIPL's convention, see
//! ../shared/interop/hipl-1.0.8/README.md), so the receiver must decide
//! (RFC 7402 section 3.1 leaves the inner header to the SA): ICMP is IPv4,
//! ICMPv6 is IPv6; for TCP/UDP the flows this host sent over LSIs are IPv4,
//! a new inbound flow is IPv4 when only an IPv4 socket listens on its port
//! (read from /proc/net), and IPv6 otherwise.
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Inner family of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

const ICMP: u8 = 1;
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMPV6: u8 = 58;
/// Flows are forgotten after this long without outbound traffic.
const FLOW_IDLE: Duration = Duration::from_secs(300);
/// Listener lookups are cached this long.
const LISTEN_TTL: Duration = Duration::from_secs(2);
/// Bound on remembered flows (oldest dropped first when full).
const MAX_FLOWS: usize = 65536;

/// (protocol, local port, remote port).
type FlowKey = (u8, u16, u16);

/// Remembered LSI flows plus a cache of listening ports.
#[derive(Default)]
pub struct InnerFamily {
    v4_flows: HashMap<FlowKey, Instant>,
    listen_cache: HashMap<(u8, u16), (Family, Instant)>,
}

/// Transport ports of a payload starting at the transport header.
fn ports(proto: u8, l4: &[u8]) -> Option<(u16, u16)> {
    if !matches!(proto, TCP | UDP) || l4.len() < 4 {
        return None;
    }
    Some((
        u16::from_be_bytes([l4[0], l4[1]]),
        u16::from_be_bytes([l4[2], l4[3]]),
    ))
}

impl InnerFamily {
    /// Records an outbound IPv4 (LSI) packet's flow.
    pub fn note_outbound_v4(&mut self, proto: u8, l4: &[u8], now: Instant) {
        if let Some((sport, dport)) = ports(proto, l4) {
            if self.v4_flows.len() >= MAX_FLOWS {
                self.v4_flows
                    .retain(|_, t| now.duration_since(*t) < FLOW_IDLE);
                if self.v4_flows.len() >= MAX_FLOWS {
                    self.v4_flows.clear();
                }
            }
            self.v4_flows.insert((proto, sport, dport), now);
        }
    }

    /// The family to rebuild an inbound packet with `next_header` and
    /// transport payload `l4` as (reads /proc/net on a cache miss).
    pub fn inbound(&mut self, next_header: u8, l4: &[u8], now: Instant) -> Family {
        match self.cached(next_header, l4, now) {
            Ok(f) => f,
            Err(miss) => {
                let f = miss.resolve();
                self.remember(miss, f, now);
                f
            }
        }
    }

    /// [`Self::inbound`] without any system call: the family, or the listener
    /// lookup to do (outside any lock) and hand to [`Self::remember`].
    pub fn cached(
        &mut self,
        next_header: u8,
        l4: &[u8],
        now: Instant,
    ) -> Result<Family, ListenerMiss> {
        match next_header {
            ICMP => return Ok(Family::V4),
            ICMPV6 => return Ok(Family::V6),
            _ => {}
        }
        let Some((sport, dport)) = ports(next_header, l4) else {
            return Ok(Family::V6);
        };
        if let Some(t) = self.v4_flows.get(&(next_header, dport, sport)) {
            if now.duration_since(*t) < FLOW_IDLE {
                return Ok(Family::V4);
            }
        }
        if let Some((f, t)) = self.listen_cache.get(&(next_header, dport)) {
            if now.duration_since(*t) < LISTEN_TTL {
                return Ok(*f);
            }
        }
        Err(ListenerMiss {
            proto: next_header,
            port: dport,
        })
    }

    /// Caches the result of a listener lookup.
    pub fn remember(&mut self, miss: ListenerMiss, f: Family, now: Instant) {
        if self.listen_cache.len() > 4096 {
            self.listen_cache.clear();
        }
        self.listen_cache.insert((miss.proto, miss.port), (f, now));
    }
}

/// A listener lookup that [`InnerFamily::cached`] could not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerMiss {
    proto: u8,
    port: u16,
}

impl ListenerMiss {
    /// Reads /proc/net for the listening family of the port.
    pub fn resolve(self) -> Family {
        listener_family(self.proto, self.port)
    }
}

/// IPv4 when only an IPv4 socket listens (TCP) / is bound (UDP) on `port`.
fn listener_family(proto: u8, port: u16) -> Family {
    let (v4, v6) = match proto {
        TCP => ("/proc/net/tcp", "/proc/net/tcp6"),
        _ => ("/proc/net/udp", "/proc/net/udp6"),
    };
    let has = |path: &str| {
        std::fs::read_to_string(path)
            .map(|t| proc_net_has_port(&t, port, proto == TCP))
            .unwrap_or(false)
    };
    if !has(v6) && has(v4) {
        Family::V4
    } else {
        Family::V6
    }
}

/// True if a /proc/net/{tcp,udp}[6] table has a local socket on `port`
/// (in LISTEN state, 0A, for TCP).
pub fn proc_net_has_port(table: &str, port: u16, tcp: bool) -> bool {
    table.lines().skip(1).any(|l| {
        let mut f = l.split_whitespace();
        let (Some(_), Some(local), Some(_), Some(st)) = (f.next(), f.next(), f.next(), f.next())
        else {
            return false;
        };
        let p = local
            .rsplit(':')
            .next()
            .and_then(|h| u16::from_str_radix(h, 16).ok());
        p == Some(port) && (!tcp || st == "0A")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_decides_by_protocol_and_flows_by_history() {
        let mut f = InnerFamily::default();
        let now = Instant::now();
        assert_eq!(f.inbound(ICMP, &[8, 0, 0, 0], now), Family::V4);
        assert_eq!(f.inbound(ICMPV6, &[128, 0, 0, 0], now), Family::V6);
        // We sent TCP 40000 -> 5001 over LSIs: replies 5001 -> 40000 are IPv4.
        f.note_outbound_v4(TCP, &[0x9c, 0x40, 0x13, 0x89], now);
        assert_eq!(f.inbound(TCP, &[0x13, 0x89, 0x9c, 0x40], now), Family::V4);
        assert_eq!(
            f.inbound(TCP, &[0x13, 0x89, 0x9c, 0x40], now + FLOW_IDLE * 2),
            f.inbound(TCP, &[0x13, 0x89, 0x9c, 0x41], now + FLOW_IDLE * 2),
            "expired flow falls back to the listener rule"
        );
    }

    #[test]
    fn proc_net_parsing() {
        let t = "  sl  local_address rem_address   st tx_queue\n   0: 00000000:1389 00000000:0000 0A 00000000:00000000\n   1: 0100007F:0035 00000000:0000 01 0\n";
        assert!(proc_net_has_port(t, 5001, true));
        assert!(!proc_net_has_port(t, 53, true), "not LISTEN");
        assert!(proc_net_has_port(t, 53, false));
        assert!(!proc_net_has_port(t, 80, false));
    }
}
