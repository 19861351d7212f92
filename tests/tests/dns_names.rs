//! Names (RFC 8005) end to end: a BIND 9 server for `grid.example` and hosts
//! A, B, C on one LAN, each hipd publishing itself with TSIG-signed DNS
//! UPDATE. On A, unmodified programs (socat, getent) use hipd's DNS proxy as
//! their resolver (`/etc/netns/<ns>/resolv.conf`, which `ip netns exec`
//! mounts over /etc/resolv.conf) and reach B and C by name: over the HIT
//! (AAAA), over the LSI (A, an IPv4-only client) and with UDP, the data
//! checked by SHA-256. No `hipconf add map` anywhere. Then B moves and a
//! fresh host reaches it by name at its new address; a forged HIP RR is
//! refused; a name without a HIP RR passes through the proxy byte for byte.
//! Root only; skips in one line without root or BIND.
use hip_proto::crypto::hi::{HostIdentity, KeySpec};
use hip_proto::crypto::orchid;
use hipr_tests::bind::{bind_missing, Named, NetnsResolvConf};
use hipr_tests::{data, require_netns, veth, Hipd, Netns};
use sha2::{Digest, Sha256};
use std::process::Stdio;
use std::time::{Duration, Instant};

const SERVER: &str = "198.51.100.53";
const PROXY: &str = "127.0.0.153";

fn host(lan: &Netns, tag: &str, addr: &str) -> Netns {
    let h = Netns::new(tag);
    let port = format!("to-{tag}");
    veth(&h, "eth0", lan, &port);
    lan.exec_ok(&["ip", "link", "set", &port, "master", "br0"]);
    h.add_addr("eth0", &format!("{addr}/24"));
    h
}

fn conf(name: Option<&str>, named: &Named, proxy: bool, upstream: bool) -> String {
    let mut c = String::from("workers = 1\n");
    if upstream {
        c.push_str(&format!("dns_upstream = {SERVER}\n"));
    }
    if proxy {
        c.push_str(&format!("dns_proxy = {PROXY}:53\n"));
    }
    if let Some(n) = name {
        c.push_str(&format!(
            "dns_update_zone = grid.example\ndns_update_server = {SERVER}\n\
             dns_update_name = {n}\ndns_update_key = {}\n",
            named.key_file(n).display()
        ));
    }
    c
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn sha(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// `socat -u FILE <connect>` in `client` to `socat -u <listen> CREATE:` in
/// `server`; the SHA-256 of what arrived. Every process bounded by timeout.
fn socat_tcp(
    client: &Netns,
    server: &Netns,
    listen: &str,
    connect: &str,
    payload: &[u8],
) -> Result<[u8; 32], String> {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    let dst = dir.path().join("out");
    std::fs::write(&src, payload).unwrap();
    let port = listen
        .split(':')
        .nth(1)
        .and_then(|p| p.split(',').next())
        .unwrap()
        .to_string();
    let mut srv = server.command("timeout");
    srv.args(["40", "socat", "-u", listen])
        .arg(format!("CREATE:{}", dst.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let pid = server.spawn(srv);
    wait_for("the socat listener", Duration::from_secs(5), || {
        String::from_utf8_lossy(&server.exec(&["ss", "-Hltn"]).stdout)
            .contains(&format!(":{port} "))
    });
    let o = client.exec(&[
        "timeout",
        "30",
        "socat",
        "-u",
        &format!("FILE:{}", src.display()),
        connect,
    ]);
    if !o.status.success() {
        let _ = server.signal_and_wait(pid, libc::SIGTERM, Duration::from_secs(5));
        return Err(format!(
            "socat {connect}: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    server
        .signal_and_wait(pid, 0, Duration::from_secs(10))
        .ok_or("the socat listener did not finish")?;
    Ok(sha(&std::fs::read(&dst).map_err(|e| e.to_string())?))
}

/// One UDP exchange: `socat - UDP6:<name>:PORT` (an unmodified client
/// resolving through the proxy) against an echo socket in `server`.
fn socat_udp_echo(client: &Netns, server: &Netns, connect: &str, payload: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let sock = server.in_ns(|| std::net::UdpSocket::bind("[::]:7003").expect("udp bind"));
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let echo = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                let _ = sock.send_to(&buf[..n], from);
            }
        }
    });
    // UDP may lose a datagram: an application would ask again (3 tries).
    let mut got = Vec::new();
    for _ in 0..3 {
        let mut c = client.command("timeout");
        c.args(["20", "socat", "-t", "5", "-T", "5", "-", connect])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child.stdin.take().unwrap().write_all(payload).unwrap();
        let o = child.wait_with_output().unwrap();
        if !o.stdout.is_empty() {
            got = o.stdout;
            break;
        }
        eprintln!(
            "socat {connect}: no echo ({})",
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = echo.join();
    got
}

fn map_all(ns: &Netns, h: &Hipd) -> String {
    h.hipconf_ok(ns, &["daemon", "get", "map", "all"])
}

fn default_hit(ns: &Netns, h: &Hipd) -> String {
    hipr_tests::pair::default_hi(ns, h)
}

#[test]
fn names_through_the_proxy_publishing_moves_forgeries_and_passthrough() {
    require_netns!();
    if let Some(why) = bind_missing() {
        hipr_tests::skip(&format!("DNS names test: {why}"));
        return;
    }
    let lan = Netns::new("lan");
    hipr_tests::bridge(&lan, "br0");
    lan.add_addr("br0", &format!("{SERVER}/24"));
    let named = Named::start(
        &lan,
        SERVER,
        "grid.example",
        "plain IN A 198.51.100.77\n",
        &["a.grid.example", "b.grid.example", "c.grid.example"],
    );
    let a = host(&lan, "a", "198.51.100.1");
    let b = host(&lan, "b", "198.51.100.2");
    let c = host(&lan, "c", "198.51.100.3");

    // A's resolv.conf names the proxy first: hipd's default upstream must
    // skip it (no loop) and take the next server.
    let rc_a = NetnsResolvConf::write(&a, &format!("nameserver {PROXY}\nnameserver {SERVER}\n"));
    let ha = Hipd::start(
        &a,
        Some(&conf(Some("a.grid.example"), &named, true, false)),
        None,
    );
    let hb = Hipd::start(
        &b,
        Some(&conf(Some("b.grid.example"), &named, false, true)),
        None,
    );
    let hc = Hipd::start(
        &c,
        Some(&conf(Some("c.grid.example"), &named, false, true)),
        None,
    );
    // From now on A's programs ask the proxy only.
    rc_a.rewrite(&format!(
        "nameserver {PROXY}\noptions timeout:3 attempts:2\n"
    ));
    let (hit_b, hit_c) = (default_hit(&b, &hb), default_hit(&c, &hc));
    for (n, addr) in [
        ("a.grid.example", "198.51.100.1"),
        ("b.grid.example", "198.51.100.2"),
        ("c.grid.example", "198.51.100.3"),
    ] {
        wait_for(&format!("{n} published"), Duration::from_secs(20), || {
            named.dig(&lan, &[n, "A"]).trim() == addr
                && !named.dig(&lan, &[n, "TYPE55"]).trim().is_empty()
        });
    }
    assert!(named
        .dig(&lan, &["b.grid.example", "TYPE55"])
        .contains(&hex_hit(&hit_b)));

    // getent (glibc, through the proxy): the HIT for AAAA, the LSI for A.
    let v6 = a.exec_ok(&["getent", "ahostsv6", "b.grid.example"]);
    assert!(
        v6.contains(&hit_b),
        "AAAA through the proxy: {v6}\n{}",
        ha.log_text()
    );
    let v4 = a.exec_ok(&["getent", "ahostsv4", "b.grid.example"]);
    let lsi_b = v4.split_whitespace().next().unwrap_or("").to_string();
    assert!(
        lsi_b.starts_with("198.19."),
        "A through the proxy is the LSI: {v4}"
    );
    assert!(map_all(&a, &ha).contains(&hit_b));

    // TCP over the HIT, TCP over the LSI with an IPv4-only client, UDP.
    let payload = data(2 << 20, 7);
    let got = socat_tcp(
        &a,
        &b,
        "TCP6-LISTEN:7001,reuseaddr",
        "TCP6:b.grid.example:7001",
        &payload,
    )
    .unwrap_or_else(|e| panic!("{e}\nA log:\n{}", ha.log_text()));
    assert_eq!(got, sha(&payload), "TCP over the HIT");
    let got = socat_tcp(
        &a,
        &b,
        "TCP4-LISTEN:7002,reuseaddr",
        "TCP4:b.grid.example:7002",
        &payload,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, sha(&payload), "TCP over the LSI");
    let small = data(1000, 9);
    let echoed = socat_udp_echo(&a, &c, "UDP6:c.grid.example:7003", &small);
    assert_eq!(sha(&echoed), sha(&small), "UDP echo over C's HIT");
    let map = map_all(&a, &ha);
    assert!(map.contains(&hit_b) && map.contains(&hit_c), "{map}");
    assert!(ha.counter(&a, "dns_proxy_hip_answers") >= 4);
    assert_eq!(ha.counter(&a, "dns_hit_mismatch"), 0);

    // B moves: its record follows, and a fresh host reaches it there.
    // The new address must survive the old (primary) one's removal.
    b.exec_ok(&["sysctl", "-qw", "net.ipv4.conf.eth0.promote_secondaries=1"]);
    b.add_addr("eth0", "198.51.100.12/24");
    b.exec_ok(&["ip", "addr", "del", "198.51.100.2/24", "dev", "eth0"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while named.dig(&lan, &["b.grid.example", "A"]).trim() != "198.51.100.12" {
        assert!(
            Instant::now() < deadline,
            "B's new address not in DNS; B's log:\n{}",
            hb.log_text()
                .lines()
                .filter(|l| l.contains("DNS") || l.contains("address"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let cp = host(&lan, "cp", "198.51.100.4");
    let rc_cp = NetnsResolvConf::write(&cp, &format!("nameserver {PROXY}\n"));
    let hcp = Hipd::start(&cp, Some(&conf(None, &named, true, true)), None);
    let r = hcp.hipconf_ok(&cp, &["daemon", "resolve", "b.grid.example"]);
    assert!(
        r.contains(&format!("HIT: {hit_b}")) && r.contains("Locators: 198.51.100.12"),
        "{r}"
    );
    let got = socat_tcp(
        &cp,
        &b,
        "TCP6-LISTEN:7004,reuseaddr",
        "TCP6:b.grid.example:7004",
        &payload,
    )
    .unwrap_or_else(|e| panic!("{e}\nC' log:\n{}", hcp.log_text()));
    assert_eq!(got, sha(&payload), "C' to B at its new address");
    assert!(map_all(&cp, &hcp).contains("198.51.100.12"));
    drop(rc_cp);

    // A HIP RR whose HIT is not its HI's: refused, counted, nothing installed.
    let id = HostIdentity::generate(KeySpec::EcdsaP256, &mut rand_core::OsRng).unwrap();
    let hit = orchid::hit_v2(id.public()).unwrap();
    let mut forged = hip_dns::HipRdata::for_identity(id.public(), hit, vec![]).unwrap();
    forged.hit[15] ^= 0x01;
    let forged_hit = std::net::Ipv6Addr::from(forged.hit).to_string();
    let o = named.nsupdate(
        &lan,
        "a.grid.example",
        &format!(
            "update add bad.grid.example 60 IN {}\nupdate add bad.grid.example 60 IN A 198.51.100.12",
            forged.to_generic().unwrap()
        ),
    );
    assert!(
        o.status.success(),
        "nsupdate: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    wait_for("the forged record served", Duration::from_secs(10), || {
        !named
            .dig(&lan, &["bad.grid.example", "TYPE55"])
            .trim()
            .is_empty()
    });
    let before = ha.counter(&a, "dns_hit_mismatch");
    let refused = socat_tcp(
        &a,
        &b,
        "TCP4-LISTEN:7005,reuseaddr",
        "TCP4:bad.grid.example:7005",
        &small,
    );
    assert!(
        refused.is_err(),
        "a forged HIP RR must not connect: {refused:?}"
    );
    assert!(
        ha.counter(&a, "dns_hit_mismatch") > before,
        "the forged record was not seen as one ({refused:?}); A's neighbours:\n{}\nA's counters:\n{}\nA's log:\n{}\nnamed's log:\n{}",
        a.exec_ok(&["ip", "neigh", "show"]),
        ha.hipconf_ok(&a, &["stats"]),
        ha.log_text(),
        named.log()
    );
    assert!(!map_all(&a, &ha).contains(&forged_hit));
    let e = ha.hipconf(&a, &["daemon", "add", "name", "bad.grid.example"]);
    assert!(!e.status.success());
    assert!(!map_all(&a, &ha).contains(&forged_hit));
    assert_eq!(
        ha.log_text().matches("HIP RR dropped").count(),
        1,
        "logged once per name"
    );

    // A name with only an A record: the proxy's answer is the server's, byte
    // for byte (same query, same ID).
    let q = hip_dns::query_message(
        0x5a5a,
        &hip_dns::Name::from_ascii("plain.grid.example.").unwrap(),
        hip_dns::QueryType::A,
    )
    .unwrap();
    let ask = |to: &str| {
        let q = q.clone();
        let to: std::net::SocketAddr = format!("{to}:53").parse().unwrap();
        a.in_ns(move || {
            let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.send_to(&q, to).unwrap();
            let mut buf = [0u8; 4096];
            let (n, _) = s.recv_from(&mut buf).expect("an answer");
            buf[..n].to_vec()
        })
    };
    let via_proxy = ask(PROXY);
    let direct = ask(SERVER);
    assert_eq!(via_proxy, direct, "pass-through is byte for byte");
    assert!(ha.counter(&a, "dns_proxy_passthrough") >= 1);

    // C stops: its records are withdrawn.
    assert!(c
        .signal_and_wait(hc.pid, libc::SIGTERM, Duration::from_secs(10))
        .is_some());
    assert!(named.dig(&lan, &["c.grid.example", "A"]).trim().is_empty());
    assert!(named
        .dig(&lan, &["c.grid.example", "TYPE55"])
        .trim()
        .is_empty());
    drop(rc_a);
    drop((ha, hb, hcp, named));
}

/// The HIT as dig prints it inside a HIP RR (upper-case hex).
fn hex_hit(hit: &str) -> String {
    let a: std::net::Ipv6Addr = hit.parse().unwrap();
    a.octets().iter().map(|b| format!("{b:02X}")).collect()
}
