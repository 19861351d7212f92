//! Outbound data path: TUN packet -> classify destination (HIT, RFC 7401 3.1;
//! LSI, RFC 5338) -> ESP if an SA exists, else queue (bounded) and trigger a base
//! exchange, or ICMP unreachable for unknown destinations.
use hip_proto::Hit;
use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Packets kept per peer while its base exchange runs.
pub const QUEUE_PER_PEER: usize = 32;

/// Where an outbound TUN packet is going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    Hit(Hit),
    Lsi(Ipv4Addr),
    /// Not HIP traffic (e.g. link-local noise on the TUN) or malformed.
    Other,
}

/// Classifies an IP packet read from the TUN by its destination.
pub fn classify(pkt: &[u8], is_lsi: impl Fn(Ipv4Addr) -> bool) -> Dest {
    match pkt.first().map(|b| b >> 4) {
        Some(6) if pkt.len() >= 40 => {
            let mut d = [0u8; 16];
            d.copy_from_slice(&pkt[24..40]);
            let h = Hit::from(Ipv6Addr::from(d));
            if h.orchid_version().is_some() {
                Dest::Hit(h)
            } else {
                Dest::Other
            }
        }
        Some(4) if pkt.len() >= 20 => {
            let a = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
            if is_lsi(a) {
                Dest::Lsi(a)
            } else {
                Dest::Other
            }
        }
        _ => Dest::Other,
    }
}

/// Bounded per-peer queues of packets waiting for an association.
#[derive(Default)]
pub struct PendingQueues {
    q: HashMap<Hit, VecDeque<Vec<u8>>>,
}

impl PendingQueues {
    /// Queues `pkt`; returns false (oldest dropped) when the peer's queue was full.
    /// The first packet for a peer means "trigger a base exchange": see [`Self::is_first`].
    pub fn push(&mut self, peer: Hit, pkt: Vec<u8>) -> bool {
        let q = self.q.entry(peer).or_default();
        let mut kept = true;
        if q.len() >= QUEUE_PER_PEER {
            q.pop_front();
            kept = false;
        }
        q.push_back(pkt);
        kept
    }

    /// True when nothing is pending for `peer` (so a new packet starts a BEX).
    pub fn is_first(&self, peer: &Hit) -> bool {
        self.q.get(peer).is_none_or(|q| q.is_empty())
    }

    /// Takes everything queued for `peer` (in order) once its SAs exist.
    pub fn take(&mut self, peer: &Hit) -> Vec<Vec<u8>> {
        self.q.remove(peer).map(Vec::from).unwrap_or_default()
    }

    pub fn len(&self, peer: &Hit) -> usize {
        self.q.get(peer).map_or(0, VecDeque::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        let mut v6 = vec![0x60u8; 40];
        v6[24..40].copy_from_slice(&"2001:20::5".parse::<Ipv6Addr>().unwrap().octets());
        assert!(matches!(classify(&v6, |_| false), Dest::Hit(_)));
        v6[24..40].copy_from_slice(&"2001:db8::5".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(classify(&v6, |_| false), Dest::Other);
        let mut v4 = vec![0x45u8; 20];
        v4[16..20].copy_from_slice(&[1, 0, 0, 2]);
        assert_eq!(
            classify(&v4, |a| a.octets()[0] == 1),
            Dest::Lsi(Ipv4Addr::new(1, 0, 0, 2))
        );
        assert_eq!(classify(&v4, |_| false), Dest::Other);
        assert_eq!(classify(&[0x60; 10], |_| true), Dest::Other);
    }

    #[test]
    fn queue_is_bounded_and_ordered() {
        let h = Hit::from("2001:20::1".parse::<Ipv6Addr>().unwrap());
        let mut q = PendingQueues::default();
        assert!(q.is_first(&h));
        for i in 0..QUEUE_PER_PEER {
            assert!(q.push(h, vec![i as u8]));
        }
        assert!(!q.is_first(&h));
        assert!(!q.push(h, vec![0xff]));
        let all = q.take(&h);
        assert_eq!(all.len(), QUEUE_PER_PEER);
        assert_eq!(all[0], vec![1]);
        assert_eq!(all[QUEUE_PER_PEER - 1], vec![0xff]);
        assert!(q.is_first(&h));
    }
}
