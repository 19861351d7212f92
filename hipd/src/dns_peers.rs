//! The control actor's side of HIP in DNS (RFC 8005 section 4.2): peers
//! learned from DNS are installed (HIT, locators, name, RVS addresses, an
//! LSI and its route) and dropped when their TTL runs out, unless an
//! association with SAs still uses them (then they stay while it lasts).
//! Peers from the hosts file or `add map` never expire. No network I/O here:
//! the lookups run on the main runtime ([`crate::dns_lookup`]).
use crate::control_actor::Control;
use crate::dns_lookup::{DnsPeer, KnownPeer};
use crate::stats::{inc, DnsStats};
use hip_proto::Hit;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The shortest life of a DNS-learned entry: a TTL of 0 must still let the
/// application's first packet find the mapping (RFC 8005 section 4.2
/// allows using the record for the transaction it was asked for).
pub const MIN_LIFETIME: Duration = Duration::from_secs(30);
/// The longest (a day, the usual TTL cap of resolvers).
pub const MAX_LIFETIME: Duration = Duration::from_secs(86400);
/// How often expiry is checked.
pub const EXPIRY_TICK: Duration = Duration::from_secs(1);

/// The DNS state the control actor owns.
#[derive(Default)]
pub struct DnsPeers {
    /// When each DNS-learned peer expires.
    expiry: HashMap<Hit, Instant>,
    /// The counters (shared with the DNS tasks).
    pub stats: Arc<DnsStats>,
    /// Tells the publisher ([`crate::dns_publish`]) our announced locators.
    pub locators: Option<tokio::sync::watch::Sender<Vec<IpAddr>>>,
}

/// The life of an entry with DNS TTL `ttl`.
pub fn lifetime(ttl: u32) -> Duration {
    Duration::from_secs(u64::from(ttl)).clamp(MIN_LIFETIME, MAX_LIFETIME)
}

impl Control {
    /// Installs a peer looked up in DNS; its LSI, once the mapping (and the
    /// LSI route) is in place.
    pub fn on_dns_peer(&mut self, p: DnsPeer, now: Instant) -> Result<Ipv4Addr, String> {
        let old = self.peers.get(&p.hit).map(|e| e.lsi);
        let (lsi, from_dns, refused) = self
            .peers
            .upsert_from_dns(p.hit, p.locators, p.rvs, p.name.clone())
            .map_err(|e| e.to_string())?;
        if !refused.is_empty() {
            tracing::debug!(name = %p.name, ?refused, "DNS addresses not usable as locators");
        }
        crate::control_handler::peer_lsi_changed(self, old, Some(lsi));
        if from_dns {
            self.dns.expiry.insert(p.hit, now + lifetime(p.ttl));
        } else {
            self.dns.expiry.remove(&p.hit);
            if let Err(e) = self.peers.save() {
                tracing::warn!("saving peers: {e}");
            }
        }
        inc(&self.dns.stats.dns_peers_installed);
        tracing::debug!(name = %p.name, hit = %p.hit, %lsi, ttl = p.ttl, "peer from DNS installed");
        Ok(lsi)
    }

    /// An unknown peer completed a base exchange with us: give it an LSI
    /// (and its route) so that IPv4 over LSIs works toward it too.
    pub fn learn_initiator(&mut self, sa: &crate::engine::SaInstall) {
        match self.peers.learn_initiator(sa.peer, sa.locator) {
            Ok(Some(lsi)) => {
                crate::control_handler::peer_lsi_changed(self, None, Some(lsi));
                tracing::debug!(peer = %sa.peer, %lsi, "unknown initiator: LSI assigned");
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(peer = %sa.peer, "unknown initiator: no LSI: {e}"),
        }
    }

    /// The peer known under `name` (lower case, no final dot).
    pub fn on_name_lookup(&self, name: &str) -> Option<KnownPeer> {
        self.peers.by_name(name).map(|p| KnownPeer {
            hit: p.hit,
            lsi: p.lsi,
            locators: p.locators.clone(),
            rvs: p.rvs.clone(),
        })
    }

    /// Drops the DNS-learned peers whose TTL ran out (RFC 8005 section 4.2)
    /// and that no association with SAs uses; those in use get another
    /// [`MIN_LIFETIME`].
    pub fn expire_dns_peers(&mut self, now: Instant) {
        let due: Vec<Hit> = self
            .dns
            .expiry
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(h, _)| *h)
            .collect();
        for hit in due {
            if self.esp.has_sa(&hit) {
                self.dns.expiry.insert(hit, now + MIN_LIFETIME);
                continue;
            }
            self.dns.expiry.remove(&hit);
            // Only if it is still a DNS entry (add map may have made it static).
            if !self.peers.get(&hit).is_some_and(|p| p.from_dns) {
                continue;
            }
            if let Some(gone) = self.peers.remove(&hit) {
                crate::control_handler::peer_lsi_changed(self, Some(gone.lsi), None);
                self.pending.take(&hit);
                inc(&self.dns.stats.dns_peers_expired);
                tracing::debug!(%hit, name = ?gone.name, "peer from DNS expired (TTL)");
            }
        }
    }

    /// Seconds until a DNS-learned peer expires (`None`: never).
    pub fn dns_expires_in(&self, hit: &Hit, now: Instant) -> Option<u64> {
        self.dns
            .expiry
            .get(hit)
            .map(|t| t.saturating_duration_since(now).as_secs())
    }

    /// Tells the publisher our announced locators, if they changed.
    pub fn publish_locators(&self, addrs: &[IpAddr]) {
        if let Some(tx) = &self.dns.locators {
            tx.send_if_modified(|cur| {
                if cur.as_slice() == addrs {
                    false
                } else {
                    *cur = addrs.to_vec();
                    true
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_follow_the_ttl_within_bounds() {
        assert_eq!(lifetime(0), MIN_LIFETIME);
        assert_eq!(lifetime(300), Duration::from_secs(300));
        assert_eq!(lifetime(u32::MAX), MAX_LIFETIME);
    }
}
