//! End to end: two hosts in namespaces joined by veth, a hipd in each; unmodified
//! programs (ping, ping6, TCP and UDP sockets) talk over LSIs and HITs; every
//! packet between the hosts is HIP or ESP (RFC 7401, RFC 7402 BEET mode).
//! Root only; each test skips with one line otherwise.
use hipr_tests::pair::{default_hi, established_with, ha_states, pair, ping};
use hipr_tests::{data, require_netns, tcp_transfer, veth, Hipd, Netns};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

#[test]
fn ping_lsi_and_hit_tcp_udp_and_only_hip_esp_on_the_wire() {
    require_netns!();
    let p = pair(false, None, None);
    // Capture everything on A's veth while traffic runs.
    let pcap = p.ha.dir.path().join("veth.pcap");
    let mut td = p.a.command("tcpdump");
    td.args(["-i", "veth-a", "-n", "-U", "-s", "0", "-w"])
        .arg(&pcap)
        .stderr(std::process::Stdio::null());
    let td_pid = p.a.spawn(td);
    std::thread::sleep(Duration::from_millis(700));

    let seqs = ping(&p.a, &p.lsi_b);
    assert!(
        seqs.contains(&2) && seqs.contains(&3),
        "ping LSI {}: replies {seqs:?}\nA log:\n{}",
        p.lsi_b,
        p.ha.log_text()
    );
    let seqs = ping(&p.a, &p.hit_b);
    assert!(seqs.len() == 3, "ping6 HIT after association: {seqs:?}");
    let seqs = ping(&p.b, &p.lsi_a);
    assert!(seqs.len() == 3, "ping LSI from B: {seqs:?}");
    let seqs = ping(&p.b, &p.hit_a);
    assert!(seqs.len() == 3, "ping6 HIT from B: {seqs:?}");
    assert!(
        established_with(&p.a, &p.ha, &p.hit_b),
        "A: {:?}",
        ha_states(&p.a, &p.ha)
    );
    assert!(
        established_with(&p.b, &p.hb, &p.hit_a),
        "B: {:?}",
        ha_states(&p.b, &p.hb)
    );

    // 20 MB over TCP, LSI (IPv4 listener) and HIT (IPv6 listener).
    let mb20 = data(20 << 20, 1);
    let lsi_b: std::net::Ipv4Addr = p.lsi_b.parse().unwrap();
    let (s, r) = tcp_transfer(
        &p.a,
        &p.b,
        "0.0.0.0:5001".parse().unwrap(),
        SocketAddr::from((lsi_b, 5001)),
        mb20.clone(),
    );
    assert_eq!(s, r, "TCP over LSI: SHA-256 differs");
    let hit_b: std::net::Ipv6Addr = p.hit_b.parse().unwrap();
    let (s, r) = tcp_transfer(
        &p.a,
        &p.b,
        "[::]:5002".parse().unwrap(),
        SocketAddr::from((hit_b, 5002)),
        mb20,
    );
    assert_eq!(s, r, "TCP over HIT: SHA-256 differs");

    // UDP over HIT and LSI: datagrams with a marker that must never be seen in clear.
    let marker = b"hipr-cleartext-marker-7f3a".to_vec();
    for (bind, dst) in [
        ("[::]:5003", SocketAddr::from((hit_b, 5003))),
        ("0.0.0.0:5004", SocketAddr::from((lsi_b, 5004))),
    ] {
        let bind: SocketAddr = bind.parse().unwrap();
        let rx = p.b.in_ns(move || UdpSocket::bind(bind).expect("udp bind"));
        rx.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let m = marker.clone();
        p.a.in_ns(move || {
            let any: SocketAddr = if dst.is_ipv4() {
                "0.0.0.0:0".parse().unwrap()
            } else {
                "[::]:0".parse().unwrap()
            };
            let tx = UdpSocket::bind(any).expect("udp");
            for _ in 0..5 {
                tx.send_to(&m, dst).expect("udp send");
            }
        });
        let mut buf = [0u8; 256];
        let (n, _) = rx.recv_from(&mut buf).expect("UDP datagram arrives");
        assert_eq!(&buf[..n], &marker[..]);
    }

    std::thread::sleep(Duration::from_millis(500));
    p.a.signal_and_wait(td_pid, libc::SIGTERM, Duration::from_secs(5));
    let cap = std::fs::read(&pcap).expect("pcap");
    assert!(cap.len() > 20 << 20, "capture holds the transfers");
    assert!(
        !cap.windows(marker.len()).any(|w| w == marker),
        "cleartext marker seen on the wire"
    );
    let other = p.a.exec(&[
        "tcpdump",
        "-n",
        "-r",
        pcap.to_str().unwrap(),
        "not (ip6 proto 139 or ip6 proto 50 or ip proto 139 or ip proto 50 or icmp6 or arp or ip6 multicast)",
    ]);
    let lines = String::from_utf8_lossy(&other.stdout);
    assert!(
        lines.trim().is_empty(),
        "non-HIP/ESP packets between the hosts:\n{}",
        lines.lines().take(10).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn ipv4_locators_and_restart_reassociates() {
    require_netns!();
    let mut p = pair(true, None, None);
    let seqs = ping(&p.a, &p.hit_b);
    assert!(seqs.contains(&3), "ping6 HIT over IPv4 locators: {seqs:?}");
    let ha = ha_states(&p.a, &p.ha);
    assert!(
        ha.iter().any(|x| x["locator"] == "192.0.2.2"),
        "IPv4 locator in use: {ha:?}"
    );
    // B restarts (sends CLOSE on the way down); traffic re-associates.
    p.hb.restart(&p.b);
    let deadline = Instant::now() + Duration::from_secs(10);
    while established_with(&p.a, &p.ha, &p.hit_b) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !established_with(&p.a, &p.ha, &p.hit_b),
        "A saw B's CLOSE: {:?}",
        ha_states(&p.a, &p.ha)
    );
    let seqs = ping(&p.a, &p.lsi_b);
    assert!(seqs.contains(&3), "after restart: {seqs:?}");
    assert!(established_with(&p.b, &p.hb, &p.hit_a));
}

#[test]
fn udp_encapsulation_on_port_10500() {
    require_netns!();
    let p = pair(true, Some("udp_encap = yes\n"), None);
    let pcap = p.ha.dir.path().join("udp.pcap");
    let mut td = p.a.command("tcpdump");
    td.args(["-i", "veth-a", "-n", "-U", "-w"])
        .arg(&pcap)
        .stderr(std::process::Stdio::null());
    let td_pid = p.a.spawn(td);
    std::thread::sleep(Duration::from_millis(700));
    let seqs = ping(&p.a, &p.lsi_b);
    assert!(
        seqs.contains(&3),
        "ping over UDP-encapsulated HIP/ESP: {seqs:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    p.a.signal_and_wait(td_pid, libc::SIGTERM, Duration::from_secs(5));
    let udp = p.a.exec(&[
        "tcpdump",
        "-n",
        "-r",
        pcap.to_str().unwrap(),
        "udp port 10500",
    ]);
    let raw = p.a.exec(&[
        "tcpdump",
        "-n",
        "-r",
        pcap.to_str().unwrap(),
        "ip proto 139 or ip proto 50",
    ]);
    let n_udp = String::from_utf8_lossy(&udp.stdout).lines().count();
    let n_raw = String::from_utf8_lossy(&raw.stdout).lines().count();
    // At least the base exchange and a few ESP packets (the capture may start
    // a little late on a loaded machine, so not all ten).
    assert!(n_udp >= 6, "HIP and ESP over UDP 10500: {n_udp} packets");
    assert_eq!(n_raw, 0, "no raw HIP/ESP when UDP encapsulation is on");
}

#[test]
fn hit_not_on_allow_list_is_refused() {
    require_netns!();
    // B allows only a HIT that is not A's.
    let p = pair(
        false,
        None,
        Some("allow = 2001:20::1234:5678:9abc:def0:1\n"),
    );
    let seqs = ping(&p.a, &p.lsi_b);
    assert!(seqs.is_empty(), "refused peer got replies: {seqs:?}");
    assert!(p.hb.counter(&p.b, "hip_rx_refused_acl") >= 1);
    assert!(!established_with(&p.b, &p.hb, &p.hit_a));
    assert_eq!(
        p.hb.counter(&p.b, "hip_r1_sent"),
        0,
        "no work before the ACL"
    );
}

/// Replaces `old` by `new` on `dev` (new address first, then the old one goes).
fn move_addr(ns: &Netns, dev: &str, old: &str, new: &str) {
    ns.add_addr(dev, new);
    ns.exec_ok(&["ip", "addr", "del", old, "dev", dev]);
}

/// A long TCP transfer while one host's locator is replaced (RFC 8046 mobility):
/// the transfer completes with the same SHA-256; the time from the address
/// change to the first ESP packet the peer sends to the new address is printed.
fn transfer_across_move(over_lsi: bool, a_moves: bool) {
    transfer_across_move_with(over_lsi, a_moves, None)
}

fn transfer_across_move_with(over_lsi: bool, a_moves: bool, conf: Option<&str>) {
    let p = pair(false, conf, conf);
    // Associate first.
    assert!(ping(&p.a, &p.lsi_b).contains(&3));
    let (mover, mover_dev, old, new, new_ip, other) = if a_moves {
        (
            &p.a,
            "veth-a",
            "2001:db8::1/64",
            "2001:db8::11/64",
            "2001:db8::11",
            &p.b,
        )
    } else {
        (
            &p.b,
            "veth-b",
            "2001:db8::2/64",
            "2001:db8::12/64",
            "2001:db8::12",
            &p.a,
        )
    };
    // Watch, on the other host, for its first ESP packet to the new address.
    let mut td = other.command("tcpdump");
    let dev_other = if a_moves { "veth-b" } else { "veth-a" };
    td.args(["-i", dev_other, "-n", "-tt", "-l", "-c", "1"])
        .arg(format!("ip6 dst {new_ip} and ip6 proto 50"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let td = td.spawn().expect("tcpdump");
    std::thread::sleep(Duration::from_millis(500));
    let payload = data(60 << 20, 7);
    let (listen, dst): (SocketAddr, SocketAddr) = if over_lsi {
        let lsi_b: std::net::Ipv4Addr = p.lsi_b.parse().unwrap();
        (
            "0.0.0.0:5011".parse().unwrap(),
            SocketAddr::from((lsi_b, 5011)),
        )
    } else {
        let hit_b: std::net::Ipv6Addr = p.hit_b.parse().unwrap();
        (
            "[::]:5012".parse().unwrap(),
            SocketAddr::from((hit_b, 5012)),
        )
    };
    let moved_at = std::thread::scope(|s| {
        let t = s.spawn(|| tcp_transfer(&p.a, &p.b, listen, dst, payload));
        std::thread::sleep(Duration::from_millis(400));
        let at = std::time::SystemTime::now();
        move_addr(mover, mover_dev, old, new);
        let (sent, got) = t.join().expect("transfer");
        assert_eq!(sent, got, "SHA-256 after the move");
        at
    });
    let out = td.wait_with_output().expect("tcpdump");
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    let first: f64 = line
        .split_whitespace()
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no ESP to the new address seen: {line:?}"));
    let moved = moved_at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    println!(
        "locator change ({} moves, TCP over {}): first ESP to the new address {:.1} ms after the address change",
        if a_moves { "A" } else { "B" },
        if over_lsi { "LSI" } else { "HIT" },
        (first - moved) * 1000.0
    );
    if first - moved > 0.5 {
        // Slow: show what the daemons logged about the move.
        for (n, h) in [("A", &p.ha), ("B", &p.hb)] {
            let log = h.log_text();
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| {
                    l.contains("locator")
                        || l.contains("UPDATE")
                        || l.contains("addresses")
                        || l.contains("HIP control packet")
                        || l.contains("WARN")
                })
                .collect();
            eprintln!(
                "---- {n} ({} lines):\n{}",
                lines.len(),
                lines[lines.len().saturating_sub(25)..].join("\n")
            );
        }
    }
    let ha = if a_moves {
        ha_states(&p.b, &p.hb)
    } else {
        ha_states(&p.a, &p.ha)
    };
    assert!(
        ha.iter().any(|x| x["locator"] == new_ip),
        "peer uses the new locator: {ha:?}"
    );
}

#[test]
fn tcp_over_hit_survives_a_locator_change_of_a() {
    require_netns!();
    transfer_across_move(false, true);
}

#[test]
fn tcp_over_lsi_survives_a_locator_change_of_b() {
    require_netns!();
    transfer_across_move(true, false);
}

#[test]
fn rekeying_by_packet_limit_during_a_transfer_loses_nothing() {
    require_netns!();
    // A asks for new SAs every 3000 packets (RFC 7402 section 6.9 UPDATE rekey)
    // without a new Diffie-Hellman key; B answers each with one (rekey_dh), so
    // every rekey draws a fresh KEYMAT from B's new key and A's existing one
    // (section 6.10), and A's inbound SA announced ahead gets the fresh keys.
    let p = pair(
        false,
        Some("rekey_packets = 3000\n"),
        Some("rekey_dh = yes\n"),
    );
    assert!(ping(&p.a, &p.lsi_b).contains(&3));
    let hit_b: std::net::Ipv6Addr = p.hit_b.parse().unwrap();
    let (s, r) = tcp_transfer(
        &p.a,
        &p.b,
        "[::]:5021".parse().unwrap(),
        SocketAddr::from((hit_b, 5021)),
        data(120 << 20, 9),
    );
    assert_eq!(s, r, "SHA-256 across rekeys");
    // Each host's two counters from one snapshot: a rekey may complete
    // between two separate queries (seen once: (11, 11) against (10, 11)).
    let [ra, da] = p.ha.counters(&p.a, ["hip_rekeyed", "hip_rekeyed_new_dh"]);
    let [rb, db] = p.hb.counters(&p.b, ["hip_rekeyed", "hip_rekeyed_new_dh"]);
    assert!(ra >= 2 && rb >= 2, "rekeys: A {ra}, B {rb}");
    assert_eq!((da, db), (ra, rb), "every rekey with a new DH key");
    let (ua, ub) = (
        p.ha.counter(&p.a, "esp_drop_unknown_spi"),
        p.hb.counter(&p.b, "esp_drop_unknown_spi"),
    );
    let unknown = ua + ub;
    println!(
        "rekeys: {ra}; ESP packets dropped for an unknown SPI during rekeys: {unknown} (at A {ua}, at B {ub})"
    );
    if unknown > 0 {
        println!("A log:\n{}", p.ha.log_text());
        println!("B log:\n{}", p.hb.log_text());
    }
    assert_eq!(unknown, 0, "no packet in flight is lost to a rekey");
}

#[test]
fn dual_homed_hosts_fail_over_when_a_link_goes_down() {
    require_netns!();
    // Two veth pairs: 192.0.2.0/24 (used first) and 198.51.100.0/24.
    let a = Netns::new("ma");
    let b = Netns::new("mb");
    veth(&a, "veth-a", &b, "veth-b");
    veth(&a, "veth-a2", &b, "veth-b2");
    a.add_addr("veth-a", "192.0.2.1/24");
    b.add_addr("veth-b", "192.0.2.2/24");
    a.add_addr("veth-a2", "198.51.100.1/24");
    b.add_addr("veth-b2", "198.51.100.2/24");
    let ha = Hipd::start(&a, None, None);
    let hb = Hipd::start(&b, None, None);
    let hit_a = default_hi(&a, &ha);
    let hit_b = default_hi(&b, &hb);
    ha.hipconf_ok(&a, &["daemon", "add", "map", &hit_b, "192.0.2.2"]);
    hb.hipconf_ok(&b, &["daemon", "add", "map", &hit_a, "192.0.2.1"]);
    assert!(ping(&a, &hit_b).contains(&3));
    std::thread::sleep(Duration::from_millis(500));
    // Each side knows the other's second locator as a candidate.
    let cand = |ns: &Netns, h: &Hipd, loc: &str| {
        ha_states(ns, h).iter().any(|x| {
            x["candidate_locators"]
                .as_array()
                .is_some_and(|c| c.iter().any(|v| v == loc))
        })
    };
    assert!(cand(&a, &ha, "198.51.100.2"), "A: {:?}", ha_states(&a, &ha));
    assert!(cand(&b, &hb, "198.51.100.1"), "B: {:?}", ha_states(&b, &hb));
    // First ESP on the second path, seen on A's second link.
    let mut td = a.command("tcpdump");
    td.args(["-i", "veth-a2", "-n", "-tt", "-l", "-c", "1", "ip proto 50"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let td = td.spawn().expect("tcpdump");
    std::thread::sleep(Duration::from_millis(500));
    let hb_hit: std::net::Ipv6Addr = hit_b.parse().unwrap();
    let down_at = std::thread::scope(|s| {
        let t = s.spawn(|| {
            tcp_transfer(
                &a,
                &b,
                "[::]:5031".parse().unwrap(),
                SocketAddr::from((hb_hit, 5031)),
                data(40 << 20, 11),
            )
        });
        std::thread::sleep(Duration::from_millis(400));
        let at = std::time::SystemTime::now();
        a.exec_ok(&["ip", "link", "set", "veth-a", "down"]);
        let (sent, got) = t.join().expect("transfer");
        assert_eq!(sent, got, "SHA-256 across the failover");
        at
    });
    let out = td.wait_with_output().expect("tcpdump");
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    let first: f64 = line
        .split_whitespace()
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no ESP on the second path: {line:?}"));
    let down = down_at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    println!(
        "failover: first ESP on the second path {:.0} ms after the first link went down",
        (first - down) * 1000.0
    );
    assert!(ha.counter(&a, "hip_failovers") + hb.counter(&b, "hip_failovers") >= 1);
    assert!(ha.counter(&a, "hip_locator_changes") >= 1);
    let on_second =
        |ns: &Netns, h: &Hipd, loc: &str| ha_states(ns, h).iter().any(|x| x["locator"] == loc);
    assert!(
        on_second(&a, &ha, "198.51.100.2"),
        "A: {:?}",
        ha_states(&a, &ha)
    );
    assert!(
        on_second(&b, &hb, "198.51.100.1"),
        "B: {:?}",
        ha_states(&b, &hb)
    );
    // The first link comes back: both return to the original path.
    a.exec_ok(&["ip", "link", "set", "veth-a", "up"]);
    let back_at = Instant::now();
    let deadline = back_at + Duration::from_secs(20);
    while !(on_second(&a, &ha, "192.0.2.2") && on_second(&b, &hb, "192.0.2.1"))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        on_second(&a, &ha, "192.0.2.2") && on_second(&b, &hb, "192.0.2.1"),
        "back on the first path: A {:?} B {:?}",
        ha_states(&a, &ha),
        ha_states(&b, &hb)
    );
    println!(
        "back on the first path {:.1} s after the link came up",
        back_at.elapsed().as_secs_f64()
    );
    assert!(ping(&a, &hit_b).len() == 3, "traffic flows after returning");
}

#[test]
fn tcp_over_lsi_survives_a_locator_change_of_a() {
    require_netns!();
    transfer_across_move(true, true);
}

#[test]
fn tcp_over_hit_survives_a_locator_change_of_b() {
    require_netns!();
    transfer_across_move(false, false);
}

#[test]
fn tcp_survives_a_move_with_mobile_initiated_rekey() {
    require_netns!();
    // RFC 8046 section 3.2.2: new SAs together with the new locator.
    transfer_across_move_with(false, true, Some("rekey_on_move = yes\n"));
}

/// TCP over the HIT and the LSI with TUN offloads on (the default: the kernel
/// hands hipd 64 KB super-packets, cut into MTU-sized ESP packets here) and
/// with them off on one queue (`offload = no`, `workers = 1`, as on kernels
/// without IFF_VNET_HDR offloads); 64 MB each way, SHA-256 equal.
#[test]
fn tcp_with_tun_offloads_on_and_off() {
    require_netns!();
    for conf in [None, Some("offload = no\nworkers = 1\n")] {
        let p = pair(false, conf, conf);
        assert!(ping(&p.a, &p.lsi_b).contains(&3), "{conf:?}");
        let hit_b: std::net::Ipv6Addr = p.hit_b.parse().unwrap();
        let lsi_b: std::net::Ipv4Addr = p.lsi_b.parse().unwrap();
        let payload = data(64 << 20, 3);
        let (s, r) = tcp_transfer(
            &p.a,
            &p.b,
            "[::]:5031".parse().unwrap(),
            SocketAddr::from((hit_b, 5031)),
            payload.clone(),
        );
        assert_eq!(s, r, "HIT, {conf:?}");
        let (s, r) = tcp_transfer(
            &p.a,
            &p.b,
            "0.0.0.0:5032".parse().unwrap(),
            SocketAddr::from((lsi_b, 5032)),
            payload,
        );
        assert_eq!(s, r, "LSI, {conf:?}");
        let segs = p.ha.counter(&p.a, "tun_segments");
        let tun_rx = p.ha.counter(&p.a, "tun_rx");
        println!("{conf:?}: {tun_rx} TUN reads, {segs} segments sealed from super-packets");
        if conf.is_none() {
            assert!(
                segs > tun_rx,
                "super-packets were cut: {segs} segments from {tun_rx} reads"
            );
        } else {
            assert_eq!(segs, 0, "no offloads");
        }
        assert_eq!(p.ha.counter(&p.a, "esp_drop_malformed"), 0);
        assert_eq!(p.hb.counter(&p.b, "esp_drop_icv"), 0);
    }
}
