//! Registration (RFC 8003) and rendezvous (RFC 8004) between real hipd
//! processes: a router namespace joins three segments, a rendezvous server
//! (RVS) at 203.0.113.10, a responder R at 198.51.100.20 that registers with
//! it, and initiators on 192.0.2.0/24 that know only R's HIT and the RVS's
//! address. The I1 goes through the RVS; the rest of the base exchange and
//! all ESP go directly between the hosts. Root only; each test skips with one
//! line otherwise.
use hipr_tests::pair::{default_hi, ha_states, ping, registration, registrations, wait_until};
use hipr_tests::{data, require_netns, tail, try_tcp_transfer_timed, veth, Hipd, Netns};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

const RVS_IP: &str = "203.0.113.10";
const R_IP: &str = "198.51.100.20";
const R_IP_MOVED: &str = "198.51.100.21";
const I_IP: &str = "192.0.2.30";
const N_IP: &str = "192.0.2.31";

/// The router, the three hosts and their daemons. Fields drop in order:
/// daemons' namespaces first, the router last.
struct Site {
    rvs: Netns,
    r: Netns,
    i: Netns,
    h_rvs: Hipd,
    h_r: Hipd,
    h_i: Hipd,
    hit_rvs: String,
    hit_r: String,
    hit_i: String,
    rt: Netns,
}

/// A host on a segment: its end of a veth to the router, its address, a
/// default route via the router.
fn host(ns: &Netns, dev: &str, cidr: &str, gw: &str) {
    ns.add_addr(dev, cidr);
    ns.exec_ok(&["ip", "route", "add", "default", "via", gw]);
}

/// Builds the topology. R and I start first; the RVS's hipd.conf is
/// `rvs_conf(R's HIT, I's HIT)`, so a test can allow exactly one of them.
fn site(rvs_conf: impl Fn(&str, &str) -> String) -> Site {
    let rt = Netns::new("rt");
    let rvs = Netns::new("rvs");
    let r = Netns::new("r");
    let i = Netns::new("i");
    rt.exec_ok(&["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
    veth(&rt, "rt-rvs", &rvs, "v-rvs");
    veth(&rt, "rt-r", &r, "v-r");
    // I's segment is a bridge, so a second initiator can join it later.
    hipr_tests::bridge(&rt, "br-i");
    veth(&rt, "rt-i", &i, "v-i");
    rt.exec_ok(&["ip", "link", "set", "rt-i", "master", "br-i"]);
    rt.add_addr("rt-rvs", "203.0.113.1/24");
    rt.add_addr("rt-r", "198.51.100.1/24");
    rt.add_addr("br-i", "192.0.2.1/24");
    host(&rvs, "v-rvs", &format!("{RVS_IP}/24"), "203.0.113.1");
    host(&r, "v-r", &format!("{R_IP}/24"), "198.51.100.1");
    host(&i, "v-i", &format!("{I_IP}/24"), "192.0.2.1");
    // The segments are routed before any daemon starts.
    let o = i.exec(&["ping", "-c", "1", "-W", "2", RVS_IP]);
    assert!(o.status.success(), "I reaches the RVS through the router");
    let o = i.exec(&["ping", "-c", "1", "-W", "2", R_IP]);
    assert!(o.status.success(), "I reaches R through the router");
    let h_r = Hipd::start(&r, None, None);
    let h_i = Hipd::start(&i, None, None);
    let hit_r = default_hi(&r, &h_r);
    let hit_i = default_hi(&i, &h_i);
    let h_rvs = Hipd::start(&rvs, Some(&rvs_conf(&hit_r, &hit_i)), None);
    let hit_rvs = default_hi(&rvs, &h_rvs);
    Site {
        rvs,
        r,
        i,
        h_rvs,
        h_r,
        h_i,
        hit_rvs,
        hit_r,
        hit_i,
        rt,
    }
}

/// A new initiator host on I's segment (the bridge) with its own hipd.
fn second_initiator(s: &Site) -> (Netns, Hipd, String) {
    let n = Netns::new("n");
    veth(&s.rt, "rt-n", &n, "v-n");
    s.rt.exec_ok(&["ip", "link", "set", "rt-n", "master", "br-i"]);
    host(&n, "v-n", &format!("{N_IP}/24"), "192.0.2.1");
    let h = Hipd::start(&n, None, None);
    let hit = default_hi(&n, &h);
    (n, h, hit)
}

/// R asks the RVS for the rendezvous service and waits until it is granted.
fn register_r(s: &Site, lifetime: &str) -> serde_json::Value {
    s.h_r.hipconf_ok(
        &s.r,
        &[
            "daemon", "add", "server", "rvs", &s.hit_rvs, RVS_IP, lifetime,
        ],
    );
    let ok = wait_until(Duration::from_secs(15), || {
        registration(&s.r, &s.h_r, "client", &s.hit_rvs).is_some_and(|r| r["state"] == "registered")
    });
    assert!(
        ok,
        "R registered at the RVS: {:?}\nR log:\n{}\nRVS log:\n{}",
        registrations(&s.r, &s.h_r),
        tail(&s.h_r.log_text(), 40),
        tail(&s.h_rvs.log_text(), 40)
    );
    registration(&s.r, &s.h_r, "client", &s.hit_rvs).expect("registration")
}

/// Starts tcpdump on `dev` in `ns` writing to `path`; returns its pid.
fn capture(ns: &Netns, dev: &str, path: &std::path::Path) -> u32 {
    let mut td = ns.command("tcpdump");
    td.args(["-i", dev, "-n", "-U", "-s", "256", "-w"])
        .arg(path)
        .stderr(std::process::Stdio::null());
    let pid = ns.spawn(td);
    std::thread::sleep(Duration::from_millis(700));
    pid
}

/// (IPv4 source, destination, protocol, HIP packet type or empty) per packet.
fn packets(ns: &Netns, pcap: &std::path::Path) -> Vec<(String, String, String, String)> {
    let out = ns.exec_ok(&[
        "tshark",
        "-n",
        "-r",
        pcap.to_str().unwrap(),
        "-Y",
        "ip",
        "-T",
        "fields",
        "-E",
        "separator=,",
        "-e",
        "ip.src",
        "-e",
        "ip.dst",
        "-e",
        "ip.proto",
        "-e",
        "hip.packet_type",
    ]);
    out.lines()
        .map(|l| {
            let f: Vec<String> = l.split(',').map(str::to_string).collect();
            let g = |i: usize| f.get(i).cloned().unwrap_or_default();
            (g(0), g(1), g(2), g(3))
        })
        .collect()
}

/// Sends `len` bytes from `a` to `b` over TCP, asserts the SHA-256s match,
/// returns the time from the first packet to the first byte delivered.
/// On failure, the logs of the daemons `logs` name are shown.
fn transfer(
    a: &Netns,
    b: &Netns,
    port: u16,
    dst: std::net::IpAddr,
    len: usize,
    logs: &[(&str, &Hipd)],
) -> Duration {
    let listen: SocketAddr = if dst.is_ipv4() {
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))
    } else {
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))
    };
    let (sent, got, ttfb) = try_tcp_transfer_timed(
        a,
        b,
        listen,
        SocketAddr::from((dst, port)),
        data(len, port as u64),
    )
    .unwrap_or_else(|e| {
        let logs: Vec<String> = logs
            .iter()
            .map(|(n, h)| format!("---- {n} log:\n{}", tail(&h.log_text(), 60)))
            .collect();
        panic!("TCP to {dst}: {e}\n{}", logs.join("\n"))
    });
    assert_eq!(sent, got, "TCP to {dst}: SHA-256 differs");
    ttfb
}

#[test]
fn initiator_reaches_the_responder_through_its_rvs_and_data_flows_directly() {
    require_netns!();
    let s = site(|_, _| "services = rvs\nregistration_allow = any\n".into());
    let reg = register_r(&s, "600");
    assert_eq!(reg["service"], "rvs");
    assert_eq!(reg["peer_locator"], RVS_IP);
    let on_rvs = registration(&s.rvs, &s.h_rvs, "server", &s.hit_r).expect("client on the RVS");
    assert_eq!(on_rvs["peer_locator"], R_IP, "RVS: {on_rvs}");
    assert!(s.h_rvs.counter(&s.rvs, "hip_registrations_granted") >= 1);

    // I knows only R's HIT, at the RVS's address (HIPL's convention).
    s.h_i
        .hipconf_ok(&s.i, &["daemon", "add", "map", &s.hit_r, RVS_IP]);
    let lsi_r = s
        .h_i
        .hipconf_ok(&s.i, &["daemon", "hit-to-lsi", &s.hit_r])
        .trim()
        .to_string();
    let pcap = s.h_rvs.dir.path().join("rvs.pcap");
    let td = capture(&s.rvs, "v-rvs", &pcap);

    let hit_r: Ipv6Addr = s.hit_r.parse().unwrap();
    let logs = [("I", &s.h_i), ("R", &s.h_r), ("RVS", &s.h_rvs)];
    let t_hit = transfer(&s.i, &s.r, 5001, hit_r.into(), 20 << 20, &logs);
    println!(
        "rendezvous: TCP over R's HIT, first packet to first byte delivered {:.1} ms (base exchange through the RVS)",
        t_hit.as_secs_f64() * 1000.0
    );
    let lsi: Ipv4Addr = lsi_r.parse().expect("LSI");
    let t_lsi = transfer(&s.i, &s.r, 5002, lsi.into(), 20 << 20, &logs);
    println!(
        "rendezvous: TCP over R's LSI {lsi}, first packet to first byte delivered {:.1} ms (association in place)",
        t_lsi.as_secs_f64() * 1000.0
    );

    // I's association points at R's real address, not the RVS.
    let ha = ha_states(&s.i, &s.h_i);
    let to_r = ha
        .iter()
        .find(|a| a["peer_hit"] == s.hit_r.as_str())
        .unwrap_or_else(|| panic!("I has an association with R: {ha:?}"));
    assert_eq!(to_r["state"], "ESTABLISHED", "{to_r}");
    assert_eq!(to_r["locator"], R_IP, "peer locator on I: {to_r}");
    assert!(
        s.h_rvs.counter(&s.rvs, "hip_rvs_relayed") >= 1,
        "RVS relayed the I1"
    );
    assert!(s.h_i.counter(&s.i, "hip_r1_via_rvs_accepted") >= 1);
    // The RVS holds no association with I: it only relayed.
    assert!(
        !ha_states(&s.rvs, &s.h_rvs)
            .iter()
            .any(|a| a["peer_hit"] == s.hit_i.as_str()),
        "RVS: {:?}",
        ha_states(&s.rvs, &s.h_rvs)
    );

    std::thread::sleep(Duration::from_millis(300));
    s.rvs
        .signal_and_wait(td, libc::SIGTERM, Duration::from_secs(5));
    let pk = packets(&s.rvs, &pcap);
    let summary = pk
        .iter()
        .map(|p| format!("{} > {} proto {} hip {}", p.0, p.1, p.2, p.3))
        .collect::<Vec<_>>()
        .join("\n");
    println!(
        "rendezvous: RVS capture ({} IPv4 packets):\n{summary}",
        pk.len()
    );
    assert!(
        pk.iter()
            .any(|p| p.0 == I_IP && p.1 == RVS_IP && p.2 == "139" && p.3 == "1"),
        "the RVS saw I's I1:\n{summary}"
    );
    assert!(
        pk.iter()
            .any(|p| p.0 == RVS_IP && p.1 == R_IP && p.2 == "139" && p.3 == "1"),
        "the RVS relayed the I1 to R:\n{summary}"
    );
    assert!(
        !pk.iter().any(|p| p.2 == "50"),
        "no ESP at the RVS:\n{summary}"
    );
    assert!(
        pk.len() < 50,
        "40 MB went elsewhere, not through the RVS: {} packets",
        pk.len()
    );
}

#[test]
fn a_requester_not_allowed_is_refused_and_i1_toward_it_is_not_relayed() {
    require_netns!();
    // The RVS serves R only.
    let s = site(|hit_r, _| format!("services = rvs\nregistration_allow = {hit_r}\n"));
    register_r(&s, "600");
    // I asks too and is refused (RFC 8003 section 3.3: REG_FAILED).
    let refused_before = s.h_rvs.counter(&s.rvs, "hip_registrations_refused");
    s.h_i.hipconf_ok(
        &s.i,
        &["daemon", "add", "server", "rvs", &s.hit_rvs, RVS_IP, "600"],
    );
    let ok = wait_until(Duration::from_secs(15), || {
        registration(&s.i, &s.h_i, "client", &s.hit_rvs)
            .is_some_and(|r| r["state"].as_str().is_some_and(|t| t.starts_with("failed")))
    });
    let reg = registration(&s.i, &s.h_i, "client", &s.hit_rvs);
    assert!(
        ok,
        "I's registration failed: {reg:?}\nI log:\n{}",
        tail(&s.h_i.log_text(), 30)
    );
    println!(
        "rendezvous: refused requester's state: {}",
        reg.unwrap()["state"]
    );
    assert!(s.h_rvs.counter(&s.rvs, "hip_registrations_refused") > refused_before);
    assert!(s.h_i.counter(&s.i, "hip_registrations_failed") >= 1);
    assert!(
        registration(&s.rvs, &s.h_rvs, "server", &s.hit_i).is_none(),
        "no client entry for I on the RVS"
    );

    // R tries to reach I via the RVS: the I1 is dropped there, not relayed.
    let relayed = s.h_rvs.counter(&s.rvs, "hip_rvs_relayed");
    let dropped = s.h_rvs.counter(&s.rvs, "hip_drop_notregistered");
    s.h_r
        .hipconf_ok(&s.r, &["daemon", "add", "map", &s.hit_i, RVS_IP]);
    let i1_at_i = s.h_i.counter(&s.i, "hip_received");
    let rvs_ha_before = ha_states(&s.rvs, &s.h_rvs).len();
    let seqs = ping(&s.r, &s.hit_i);
    assert!(seqs.is_empty(), "I answered through the RVS: {seqs:?}");
    let d = s.h_rvs.wait_counter(
        &s.rvs,
        "hip_drop_notregistered",
        dropped + 1,
        Duration::from_secs(5),
    );
    assert!(d > dropped, "hip_drop_notregistered moved");
    assert_eq!(
        s.h_rvs.counter(&s.rvs, "hip_rvs_relayed"),
        relayed,
        "nothing relayed"
    );
    assert_eq!(
        s.h_i.counter(&s.i, "hip_received"),
        i1_at_i,
        "I received no HIP packet"
    );
    // The dropped I1s left no state on the RVS: the same associations (with
    // R and with I, from the registrations) and client list as before.
    assert_eq!(
        ha_states(&s.rvs, &s.h_rvs).len(),
        rvs_ha_before,
        "RVS associations after the dropped I1s: {:?}",
        ha_states(&s.rvs, &s.h_rvs)
    );
    assert_eq!(
        registrations(&s.rvs, &s.h_rvs).len(),
        1,
        "only R is a client"
    );
}

#[test]
fn a_short_registration_is_renewed_before_it_ends() {
    require_netns!();
    let s = site(|_, _| {
        "services = rvs\nregistration_allow = any\nregistration_max_lifetime = 20\n".into()
    });
    let t0 = Instant::now();
    let reg = register_r(&s, "600");
    let lifetime = reg["lifetime"].as_u64().expect("lifetime");
    assert!(
        (10..=20).contains(&lifetime),
        "lifetime clamped to the RVS's maximum: {reg}"
    );
    let granted = s.h_rvs.counter(&s.rvs, "hip_registrations_granted");
    // Past the first lifetime (plus a margin), still registered on both sides,
    // and the RVS granted a renewal.
    let until = t0 + Duration::from_secs(lifetime + 6);
    while Instant::now() < until {
        let r = registration(&s.r, &s.h_r, "client", &s.hit_rvs);
        assert!(
            r.as_ref().is_some_and(|r| r["state"] == "registered"),
            "R's registration at {:.1} s: {r:?}\nR log:\n{}",
            t0.elapsed().as_secs_f64(),
            tail(&s.h_r.log_text(), 30)
        );
        assert!(
            registration(&s.rvs, &s.h_rvs, "server", &s.hit_r).is_some(),
            "RVS lost R at {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let renewed = s.h_rvs.counter(&s.rvs, "hip_registrations_granted");
    assert!(
        renewed > granted,
        "renewal granted ({granted} -> {renewed})"
    );
    assert_eq!(s.h_rvs.counter(&s.rvs, "hip_registrations_expired"), 0);
    let c = registration(&s.rvs, &s.h_rvs, "server", &s.hit_r).unwrap();
    println!(
        "rendezvous: lifetime {lifetime} s granted, renewed {} time(s) in {:.1} s; RVS: {} s remaining",
        renewed - granted,
        t0.elapsed().as_secs_f64(),
        c["remaining"]
    );
}

#[test]
fn a_moved_responder_re_registers_and_a_new_initiator_reaches_it() {
    require_netns!();
    let s = site(|_, _| "services = rvs\nregistration_allow = any\n".into());
    register_r(&s, "600");
    // R's address changes (the new one first, then the old one goes; the
    // new one, a secondary in the same /24, must survive the primary's removal).
    s.r.exec_ok(&[
        "sysctl",
        "-q",
        "-w",
        "net.ipv4.conf.v-r.promote_secondaries=1",
    ]);
    s.r.add_addr("v-r", &format!("{R_IP_MOVED}/24"));
    s.r.exec_ok(&["ip", "addr", "del", &format!("{R_IP}/24"), "dev", "v-r"]);
    s.r.exec_ok(&["ip", "route", "replace", "default", "via", "198.51.100.1"]);
    let t = Instant::now();
    let ok = wait_until(Duration::from_secs(20), || {
        registration(&s.rvs, &s.h_rvs, "server", &s.hit_r)
            .is_some_and(|c| c["peer_locator"] == R_IP_MOVED)
    });
    assert!(
        ok,
        "RVS's client list shows R's new locator: {:?}\nR log:\n{}\nRVS log:\n{}",
        registrations(&s.rvs, &s.h_rvs),
        tail(&s.h_r.log_text(), 40),
        tail(&s.h_rvs.log_text(), 40)
    );
    println!(
        "rendezvous: RVS lists R at {R_IP_MOVED} {:.1} ms after the move",
        t.elapsed().as_secs_f64() * 1000.0
    );
    assert!(registration(&s.r, &s.h_r, "client", &s.hit_rvs)
        .is_some_and(|r| r["state"] == "registered"));
    // A new initiator that knows only the RVS.
    let (n, h_n, _) = second_initiator(&s);
    h_n.hipconf_ok(&n, &["daemon", "add", "map", &s.hit_r, RVS_IP]);
    let hit_r: Ipv6Addr = s.hit_r.parse().unwrap();
    let ttfb = transfer(
        &n,
        &s.r,
        5003,
        hit_r.into(),
        1 << 20,
        &[("N", &h_n), ("R", &s.h_r), ("RVS", &s.h_rvs)],
    );
    println!(
        "rendezvous: after the move, new initiator: first packet to first byte {:.1} ms",
        ttfb.as_secs_f64() * 1000.0
    );
    let ha = ha_states(&n, &h_n);
    assert!(
        ha.iter()
            .any(|a| a["peer_hit"] == s.hit_r.as_str() && a["locator"] == R_IP_MOVED),
        "new initiator uses R's new address: {ha:?}"
    );
}
