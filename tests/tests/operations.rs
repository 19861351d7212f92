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

/// The peers in `get map all --json`, by HIT.
fn mapped(ns: &Netns, h: &hipr_tests::Hipd) -> BTreeMap<String, serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_str(&h.hipconf_ok(ns, &["daemon", "get", "map", "all", "--json"]))
            .expect("map json");
    v.as_array()
        .expect("peers")
        .iter()
        .map(|p| (p["hit"].as_str().unwrap().to_string(), p.clone()))
        .collect()
}

/// Mesh bring-up from configuration management: the hosts file is reloaded
/// (`hipconf daemon reload`, SIGHUP) and peers are loaded in bulk (`load
/// FILE`) while an association stays up; a bad file changes nothing and
/// says why; `hipd --check-config` lists each problem.
#[test]
fn reload_and_bulk_load_keep_associations() {
    require_netns!();
    let p = pair(false, None, None);
    assert!(ping(&p.a, &p.hit_b).contains(&3), "associated");
    let cfg = p.ha.dir.path().join("config");
    let (x, y, z) = ("2001:20::aa:1", "2001:20::aa:2", "2001:20::aa:3");

    // Two peers from the hosts file, B among them.
    std::fs::write(
        cfg.join("hosts"),
        format!("{} 2001:db8::2 b.grid.example\n{x} 2001:db8::77\n", p.hit_b),
    )
    .unwrap();
    let out = p.ha.hipconf_ok(&p.a, &["daemon", "reload"]);
    assert!(out.contains("peers added: 2, removed: 0"), "{out}");
    assert!(!out.contains("restart"), "{out}");
    let m = mapped(&p.a, &p.ha);
    assert_eq!(m[&p.hit_b]["name"], "b.grid.example");
    assert!(m.contains_key(x));
    assert!(
        hipr_tests::pair::established_with(&p.a, &p.ha, &p.hit_b),
        "the association stayed"
    );

    // X leaves the file; a setting that needs a restart is reported as such.
    std::fs::write(cfg.join("hosts"), format!("{} 2001:db8::2\n", p.hit_b)).unwrap();
    std::fs::write(cfg.join("hipd.conf"), "puzzle_k = 4\nworkers = 1\n").unwrap();
    let out = p.ha.hipconf_ok(&p.a, &["daemon", "reload"]);
    assert!(out.contains("removed: 1"), "{out}");
    assert!(out.contains("take effect when hipd restarts"), "{out}");
    assert!(!mapped(&p.a, &p.ha).contains_key(x));

    // A bad line: nothing applied, the line named.
    std::fs::write(
        cfg.join("hosts"),
        format!("{} 2001:db8::2\n{y} 2001:db8::78\n{z} 127.0.0.1\n", p.hit_b),
    )
    .unwrap();
    let o = p.ha.hipconf(&p.a, &["daemon", "reload"]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("nothing reloaded") && e.contains("line 3"),
        "{e}"
    );
    assert!(!mapped(&p.a, &p.ha).contains_key(y), "nothing applied");
    let c = p.a.exec(&[
        hipr_tests::bin_dir().join("hipd").to_str().unwrap(),
        "--check-config",
        "--config-dir",
        cfg.to_str().unwrap(),
    ]);
    assert!(!c.status.success());
    let lines = String::from_utf8_lossy(&c.stdout);
    assert_eq!(lines.lines().count(), 1, "{lines}");
    assert!(lines.contains("hosts line 3"), "{lines}");

    // SIGHUP reloads the same way once the file is right.
    std::fs::write(
        cfg.join("hosts"),
        format!("{} 2001:db8::2\n{y} 2001:db8::78\n", p.hit_b),
    )
    .unwrap();
    // SAFETY: a signal to our own child.
    assert_eq!(unsafe { libc::kill(p.ha.pid as i32, libc::SIGHUP) }, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !mapped(&p.a, &p.ha).contains_key(y) {
        assert!(std::time::Instant::now() < deadline, "SIGHUP reload");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Bulk load from another file; the peers persist and get LSIs.
    let bulk = p.ha.dir.path().join("grid-hosts");
    std::fs::write(&bulk, format!("{z} 2001:db8::79 c.grid.example\n")).unwrap();
    let out =
        p.ha.hipconf_ok(&p.a, &["daemon", "load", bulk.to_str().unwrap()]);
    assert!(out.contains("peers added: 1"), "{out}");
    let m = mapped(&p.a, &p.ha);
    assert_eq!(m[z]["name"], "c.grid.example");
    assert!(m[z]["lsi"].as_str().unwrap().starts_with("198.19."));
    let o =
        p.ha.hipconf(&p.a, &["daemon", "load", "/nonexistent/hosts"]);
    assert!(!o.status.success());
    assert!(ping(&p.a, &p.hit_b).contains(&3), "still up after all that");
}

/// systemd `Type=notify` readiness: hipd sends READY=1 to `NOTIFY_SOCKET`
/// once its control socket answers, and STOPPING=1 on SIGTERM.
#[test]
fn readiness_is_notified_once_the_control_socket_is_up() {
    require_netns!();
    let ns = Netns::new("notify");
    let dir = tempfile::tempdir().unwrap();
    let notify = dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let cfg = dir.path().join("config");
    std::fs::create_dir(&cfg).unwrap();
    let control = dir.path().join("hipd.sock");
    let mut cmd = ns.command(hipr_tests::bin_dir().join("hipd"));
    cmd.args(["--foreground", "--config-dir"])
        .arg(&cfg)
        .arg("--socket")
        .arg(&control)
        .env("NOTIFY_SOCKET", &notify)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let pid = ns.spawn(cmd);
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).expect("READY=1 within 20 s");
    let msg = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg:?}");
    // Ready means usable: the control socket answers at once.
    let o = ns
        .command(hipr_tests::bin_dir().join("hipconf"))
        .arg("--socket")
        .arg(&control)
        .args(["daemon", "get", "hi", "default"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    ns.signal_and_wait(pid, libc::SIGTERM, Duration::from_secs(10))
        .expect("hipd stops");
    let n = sock.recv(&mut buf).expect("STOPPING=1");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1"));
}

/// A hipd with `nat = none` runs on when UDP 10500 is taken (another HIP
/// daemon, another hipd in the namespace): it then only cannot answer peers
/// over UDP. It used to stop at once ("a task ended unexpectedly": the UDP
/// reader had nothing to read and returned).
#[test]
fn a_taken_udp_port_does_not_stop_a_hipd_without_nat() {
    require_netns!();
    let ns = Netns::new("udpbusy");
    // Dual-stack (bindv6only = 0, Linux's default): IPv4 10500 is taken too.
    let _taken = ns.in_ns(|| std::net::UdpSocket::bind("[::]:10500").expect("bind [::]:10500"));
    let h = hipr_tests::Hipd::start(&ns, Some("nat = none\n"), None);
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: kill with signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(h.pid as libc::pid_t, 0) } == 0;
    assert!(alive, "hipd stopped; log:\n{}", h.log_text());
    h.hipconf_ok(&ns, &["daemon", "get", "hi", "default"]);
    assert!(
        !h.log_text().contains("a task ended unexpectedly"),
        "{}",
        h.log_text()
    );
}
