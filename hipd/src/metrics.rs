//! The Prometheus metrics endpoint (hipd.conf `metrics_listen = ADDR:PORT`,
//! off unless set; meant for a loopback address): `GET /metrics` answers the
//! Prometheus text exposition format.
//!
//! Nothing is recorded twice: each scrape asks the control actor for a
//! [`Snapshot`] of the counters hipd keeps anyway (the same ones
//! `hipconf daemon stats` prints, under the same names with a `hipd_` prefix),
//! the associations by state and the per-peer ESP traffic, and encodes it with
//! a collector; the packet path does not touch a metrics registry. The one
//! metric kept here is the base-exchange latency histogram, observed by the
//! control actor once per completed exchange.
use crate::control_actor::Ctl;
use hip_proto::Hit;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a scrape waits for the control actor.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(2);

/// ESP traffic with one peer (since its association was established).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerTraffic {
    pub hit: Hit,
    pub lsi: Ipv4Addr,
    pub traffic: crate::esp_tables::Traffic,
}

/// What one scrape reports, taken by the control actor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every counter of `hipconf daemon stats`, by the same name.
    pub counters: BTreeMap<String, u64>,
    /// Associations by state (HIPL's state names).
    pub states: BTreeMap<String, u64>,
    /// Peers with outbound SAs.
    pub sa_peers: u64,
    /// Inbound SAs (a rekey keeps the previous one a while).
    pub inbound_sas: u64,
    pub peers: Vec<PeerTraffic>,
}

/// Base-exchange latency as the initiator sees it: the first packet for a
/// peer without SAs queued, to the SAs installed (seconds).
#[derive(Debug, Clone)]
pub struct BexLatency(Histogram);

impl Default for BexLatency {
    fn default() -> Self {
        // 1 ms .. about 33 s.
        BexLatency(Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 16),
        ))
    }
}

impl BexLatency {
    /// Records one completed exchange.
    pub fn observe(&self, d: Duration) {
        self.0.observe(d.as_secs_f64());
    }
}

#[derive(Debug)]
struct SnapshotCollector(Snapshot);

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    let m = e.encode_descriptor(name, help, None, c.metric_type())?;
    c.encode(m)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let g = ConstGauge::new(v as i64);
    let m = e.encode_descriptor(name, help, None, g.metric_type())?;
    g.encode(m)
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let s = &self.0;
        for (name, v) in &s.counters {
            counter(
                &mut e,
                &format!("hipd_{name}"),
                "hipd counter (as in hipconf daemon stats)",
                *v,
            )?;
        }
        {
            let mut m = e.encode_descriptor(
                "hipd_associations",
                "Host associations by state (RFC 7401 section 4.4)",
                None,
                MetricType::Gauge,
            )?;
            for (state, n) in &s.states {
                let labels = [("state", state.as_str())];
                ConstGauge::new(*n as i64).encode(m.encode_family(&labels)?)?;
            }
        }
        gauge(&mut e, "hipd_sa_peers", "Peers with ESP SAs", s.sa_peers)?;
        gauge(&mut e, "hipd_inbound_sas", "Inbound ESP SAs", s.inbound_sas)?;
        type Field = fn(&crate::esp_tables::Traffic) -> u64;
        let per_peer: [(&str, &str, Field); 4] = [
            (
                "hipd_peer_sent_packets",
                "ESP packets sent to the peer",
                |t| t.sent_packets,
            ),
            (
                "hipd_peer_sent_bytes",
                "Payload octets sent to the peer over ESP",
                |t| t.sent_bytes,
            ),
            (
                "hipd_peer_received_packets",
                "ESP packets received from the peer",
                |t| t.recv_packets,
            ),
            (
                "hipd_peer_received_bytes",
                "Payload octets received from the peer over ESP",
                |t| t.recv_bytes,
            ),
        ];
        for (name, help, field) in per_peer {
            let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
            for p in &s.peers {
                let (hit, lsi) = (p.hit.to_string(), p.lsi.to_string());
                let labels = [("hit", hit.as_str()), ("lsi", lsi.as_str())];
                ConstCounter::new(field(&p.traffic)).encode(m.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// Encodes a snapshot and the latency histogram (Prometheus text format).
pub fn render(snapshot: Snapshot, bex: &BexLatency) -> Result<String, std::fmt::Error> {
    let mut reg = Registry::default();
    reg.register(
        "hipd_base_exchange_seconds",
        "Initiator base exchanges: first packet queued to SAs installed",
        bex.0.clone(),
    );
    reg.register_collector(Box::new(SnapshotCollector(snapshot)));
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &reg)?;
    Ok(out)
}

/// The running endpoint; [`Endpoint::stop`] ends its thread.
pub struct Endpoint {
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Endpoint {
    /// Listens on `addr` and serves scrapes from a thread of its own.
    pub fn start(
        addr: SocketAddr,
        signals: mpsc::UnboundedSender<Ctl>,
        bex: BexLatency,
    ) -> Result<Self, String> {
        let server = Arc::new(
            tiny_http::Server::http(addr).map_err(|e| format!("metrics_listen {addr}: {e}"))?,
        );
        let s = server.clone();
        let thread = std::thread::Builder::new()
            .name("hipd-metrics".into())
            .spawn(move || {
                for req in s.incoming_requests() {
                    answer(req, &signals, &bex);
                }
            })
            .map_err(|e| format!("metrics thread: {e}"))?;
        Ok(Endpoint {
            server,
            thread: Some(thread),
        })
    }

    /// Stops listening and joins the thread.
    pub fn stop(mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn text(code: u16, body: &str) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    tiny_http::Response::from_string(body).with_status_code(code)
}

fn answer(req: tiny_http::Request, signals: &mpsc::UnboundedSender<Ctl>, bex: &BexLatency) {
    let path = req.url().split('?').next().unwrap_or("");
    let r = if path != "/metrics" {
        text(404, "only /metrics here\n")
    } else if !matches!(
        req.method(),
        tiny_http::Method::Get | tiny_http::Method::Head
    ) {
        text(405, "GET /metrics\n")
    } else {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let got = signals
            .send(Ctl::Metrics { reply: tx })
            .ok()
            .and_then(|()| rx.recv_timeout(SNAPSHOT_WAIT).ok());
        match got.map(|s| render(s, bex)) {
            Some(Ok(body)) => {
                let ct = tiny_http::Header::from_bytes(
                    &b"Content-Type"[..],
                    &b"text/plain; version=0.0.4; charset=utf-8"[..],
                );
                let r = text(200, &body);
                match ct {
                    Ok(h) => r.with_header(h),
                    Err(()) => r,
                }
            }
            Some(Err(_)) => text(500, "encoding failed\n"),
            None => text(503, "the control actor did not answer\n"),
        }
    };
    if let Err(e) = req.respond(r) {
        crate::debug_limited!("metrics response: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_counter_state_and_peer() {
        let hit: Hit = "2001:20::1".parse::<std::net::Ipv6Addr>().unwrap().into();
        let snap = Snapshot {
            counters: [("esp_sealed".to_string(), 7), ("hip_r1_sent".into(), 2)].into(),
            states: [("ESTABLISHED".to_string(), 3)].into(),
            sa_peers: 3,
            inbound_sas: 4,
            peers: vec![PeerTraffic {
                hit,
                lsi: Ipv4Addr::new(198, 19, 0, 2),
                traffic: crate::esp_tables::Traffic {
                    sent_packets: 10,
                    sent_bytes: 1000,
                    recv_packets: 11,
                    recv_bytes: 1100,
                },
            }],
        };
        let bex = BexLatency::default();
        bex.observe(Duration::from_millis(30));
        let t = render(snap, &bex).unwrap();
        for line in [
            "hipd_esp_sealed_total 7",
            "hipd_hip_r1_sent_total 2",
            "hipd_associations{state=\"ESTABLISHED\"} 3",
            "hipd_sa_peers 3",
            "hipd_inbound_sas 4",
            "hipd_peer_sent_bytes_total{hit=\"2001:20::1\",lsi=\"198.19.0.2\"} 1000",
            "hipd_peer_received_packets_total{hit=\"2001:20::1\",lsi=\"198.19.0.2\"} 11",
            "hipd_base_exchange_seconds_count 1",
            "hipd_base_exchange_seconds_bucket{le=\"0.032\"} 1",
            "hipd_base_exchange_seconds_bucket{le=\"0.016\"} 0",
        ] {
            assert!(t.lines().any(|l| l == line), "{line:?} missing in\n{t}");
        }
    }
}
