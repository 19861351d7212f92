//! Daemon counters (exposed by `hipconf ... stats`, logged on shutdown).
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($name:ident),* $(,)?) => {
        /// Event counters.
        #[derive(Default, Debug)]
        pub struct Stats { $(pub $name: AtomicU64,)* }
        impl Stats {
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

/// Increments a counter.
pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}
