//! What an operator runs hipd with: the Prometheus metrics endpoint
//! (`metrics_listen`). Root only; each test skips with one line otherwise.
use hipr_tests::pair::{pair, ping};
use hipr_tests::{data, require_netns, tcp_transfer, Netns};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

const METRICS: &str = "127.0.0.1:9450";

/// One HTTP/1.0 request to the metrics endpoint from inside `ns`:
/// (status code, body).
fn http_get(ns: &Netns, method: &'static str, path: &'static str) -> (u16, String) {
    ns.in_ns(move || {
        let addr: SocketAddr = METRICS.parse().unwrap();
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .expect("connect to the metrics endpoint");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        write!(s, "{method} {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).expect("read answer");
        let code = r
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = r.split_once("\r\n\r\n").map_or("", |x| x.1).to_string();
        (code, body)
    })
}

/// `name value` lines of a Prometheus text answer (labels kept in the name).
fn samples(body: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn stats(ns: &Netns, h: &hipr_tests::Hipd) -> BTreeMap<String, u64> {
    let v: serde_json::Value =
        serde_json::from_str(&h.hipconf_ok(ns, &["--json", "stats"])).expect("stats json");
    v["counters"]
        .as_object()
        .expect("counters")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("u64")))
        .collect()
}

/// After a base exchange and a 4 MB transfer, a scrape reports every counter
/// of `hipconf daemon stats` (between a stats read just before and one just
/// after), one established association, the SAs, the peer's traffic and one
/// base-exchange latency sample; other paths and methods are refused.
#[test]
fn metrics_endpoint_reports_the_daemon_counters() {
    require_netns!();
    let conf = format!("metrics_listen = {METRICS}\n");
    let p = pair(false, Some(&conf), None);
    assert!(ping(&p.a, &p.hit_b).contains(&3), "associated");
    let hit_b: Ipv6Addr = p.hit_b.parse().unwrap();
    let payload = data(4 << 20, 5);
    let (sent, got) = tcp_transfer(
        &p.a,
        &p.b,
        (Ipv6Addr::UNSPECIFIED, 5090).into(),
        (hit_b, 5090).into(),
        payload,
    );
    assert_eq!(sent, got);

    let before = stats(&p.a, &p.ha);
    let (code, body) = http_get(&p.a, "GET", "/metrics");
    let after = stats(&p.a, &p.ha);
    assert_eq!(code, 200, "{body}");
    let m = samples(&body);
    for (name, lo) in &before {
        let key = format!("hipd_{name}_total");
        let v = *m
            .get(&key)
            .unwrap_or_else(|| panic!("{key} missing from the scrape"));
        let hi = after[name];
        assert!(
            (*lo as f64) <= v && v <= hi as f64,
            "{key} = {v}, stats said {lo} before and {hi} after"
        );
    }
    assert!(before["esp_sealed"] > 1000, "the transfer went over ESP");
    assert_eq!(
        m.get("hipd_associations{state=\"ESTABLISHED\"}"),
        Some(&1.0)
    );
    assert_eq!(m.get("hipd_sa_peers"), Some(&1.0));
    let lsi = &p.lsi_b;
    let peer = format!("{{hit=\"{}\",lsi=\"{lsi}\"}}", p.hit_b);
    let sent_bytes = m[&format!("hipd_peer_sent_bytes_total{peer}")];
    assert!(sent_bytes >= (4 << 20) as f64, "peer bytes {sent_bytes}");
    assert!(m[&format!("hipd_peer_received_packets_total{peer}")] > 0.0);
    assert_eq!(m.get("hipd_base_exchange_seconds_count"), Some(&1.0));
    let bex = m["hipd_base_exchange_seconds_sum"];
    assert!(bex > 0.0 && bex < 10.0, "latency {bex} s");
    println!("base exchange as seen by the metrics endpoint: {bex:.3} s");

    assert_eq!(http_get(&p.a, "GET", "/").0, 404);
    assert_eq!(http_get(&p.a, "POST", "/metrics").0, 405);
    // The daemon without `metrics_listen` listens on nothing.
    let refused = p.b.in_ns(|| {
        std::net::TcpStream::connect_timeout(&METRICS.parse().unwrap(), Duration::from_secs(2))
            .is_err()
    });
    assert!(refused, "B has no metrics endpoint");
}
