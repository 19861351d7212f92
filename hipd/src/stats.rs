//! Daemon counters (exposed by `hipconf ... stats`, logged on shutdown).
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($(#[$doc:meta])* $ty:ident; $($name:ident),* $(,)?) => {
        $(#[$doc])*
        #[derive(Default, Debug)]
        pub struct $ty { $(pub $name: AtomicU64,)* }
        impl $ty {
            /// Snapshot by name.
            pub fn snapshot(&self) -> BTreeMap<String, u64> {
                let mut m = BTreeMap::new();
                $(m.insert(stringify!($name).to_string(), self.$name.load(Ordering::Relaxed));)*
                m
            }
        }
    };
}

counters!(
    /// Event counters.
    Stats;
    hip_rx_v4,
    hip_rx_v6,
    hip_rx_udp,
    hip_rx_malformed,
    hip_rx_refused_acl,
    hip_rx_dropped_busy,
    hip_rx_unhandled,
    esp_rx,
    esp_tx,
    esp_tx_batches,
    esp_rx_batches,
    tun_gro_writes,
    esp_tx_failed,
    esp_rx_unhandled,
    tun_rx,
    tun_segments,
    tun_rx_unhandled,
    icmp_unreach_sent,
    icmp_unreach_limited,
    queued,
    queue_dropped,
    bex_trigger_unhandled,
    bex_recovery,
    heartbeats_sent,
    lsi_route_failed,
);

counters!(
    /// HIP in DNS counters (RFC 8005): lookups (hipconf and the proxy), the
    /// DNS proxy, publishing; shared by the DNS tasks and the control actor.
    DnsStats;
    dns_lookups,
    dns_lookup_failed,
    dns_lookup_timeout,
    dns_lookup_nxdomain,
    dns_lookup_no_hip,
    dns_lookup_malformed,
    dns_lookup_truncated,
    dns_hit_mismatch,
    dns_hosts_fallback,
    dns_peers_installed,
    dns_peers_expired,
    // The DNS proxy.
    dns_proxy_queries,
    dns_proxy_hip_answers,
    dns_proxy_passthrough,
    dns_proxy_cached,
    dns_proxy_upstream_failed,
    dns_proxy_formerr,
    dns_proxy_servfail,
    dns_proxy_busy,
    dns_proxy_tcp,
    // Publishing (DNS UPDATE, RFC 2136).
    dns_updates_sent,
    dns_updates_failed,
    dns_withdrawn,
);

/// Increments a counter.
pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}
