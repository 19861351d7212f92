//! Recovery and bounded costs between two hipd hosts in namespaces: a peer
//! that crashes and restarts is reached again in both directions and a TCP
//! connection survives it; floods and mistakes cost little. Root only; each
//! test skips with one line otherwise.
use hipr_tests::pair::{established_with, ha_states, pair, ping};
use hipr_tests::{data, require_netns, Netns};
use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// A paced TCP stream from `a` to `b` (HIT address `dst`): `chunks` writes of
/// 32 KiB every 5 ms. Returns (sent SHA-256, received SHA-256, the instants
/// the receiver read data at).
fn paced_stream(
    a: &Netns,
    b: &Netns,
    dst: SocketAddr,
    chunks: usize,
    during: impl FnOnce(),
) -> ([u8; 32], [u8; 32], Vec<Instant>) {
    use sha2::{Digest, Sha256};
    let listen: SocketAddr = (Ipv6Addr::UNSPECIFIED, dst.port()).into();
    let l = b
        .in_ns(move || std::net::TcpListener::bind(listen))
        .expect("bind");
    let server = b.spawn_in_ns(move || {
        let (mut s, _) = l.accept().expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(60))).ok();
        let mut h = Sha256::new();
        let mut reads = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    h.update(&buf[..n]);
                    reads.push(Instant::now());
                }
                Err(e) => panic!("server read: {e}"),
            }
        }
        (<[u8; 32]>::from(h.finalize()), reads)
    });
    let payload = data(chunks * 32 * 1024, 11);
    let sent = <[u8; 32]>::from(Sha256::digest(&payload));
    let client = a.spawn_in_ns(move || {
        let mut s =
            std::net::TcpStream::connect_timeout(&dst, Duration::from_secs(10)).expect("connect");
        s.set_write_timeout(Some(Duration::from_secs(60))).ok();
        for c in payload.chunks(32 * 1024) {
            s.write_all(c).expect("client write");
            std::thread::sleep(Duration::from_millis(5));
        }
        s.shutdown(std::net::Shutdown::Write).ok();
    });
    std::thread::sleep(Duration::from_millis(800));
    during();
    client.join().expect("client");
    let (got, reads) = server.join().expect("server");
    (sent, got, reads)
}

/// B crashes (SIGKILL: no CLOSE) and restarts with the same identity while
/// A still holds SAs with it and streams TCP to it: A's ESP to the old SPI
/// makes B re-run the base exchange, the stream resumes within 3 s of the
/// restart and arrives whole; afterwards both directions work.
#[test]
fn a_crashed_peer_is_reached_again_and_tcp_survives() {
    require_netns!();
    let mut p = pair(false, None, None);
    assert!(ping(&p.a, &p.hit_b).contains(&3), "associated first");
    let hit_b: Ipv6Addr = p.hit_b.parse().unwrap();
    let mut restarted = None;
    let (sent, got, reads) = {
        let (a, b) = (&p.a, &p.b);
        let hb = &mut p.hb;
        paced_stream(a, b, (hit_b, 5021).into(), 600, || {
            hb.crash_and_restart(b);
            restarted = Some(Instant::now());
        })
    };
    assert_eq!(sent, got, "SHA-256 across the restart");
    let restarted = restarted.expect("restarted");
    let resumed = reads
        .iter()
        .find(|t| **t > restarted)
        .expect("data after the restart");
    let stall = resumed.duration_since(restarted);
    println!(
        "peer restart: stream resumed {:.0} ms after the new hipd answered",
        stall.as_secs_f64() * 1000.0
    );
    assert!(
        stall < Duration::from_secs(3),
        "resumed only after {stall:?}; B log:\n{}",
        p.hb.log_text()
    );
    assert!(p.hb.counter(&p.b, "bex_recovery") >= 1);
    // Both directions, new exchanges in both.
    assert!(ping(&p.a, &p.hit_b).contains(&3));
    assert!(ping(&p.b, &p.lsi_a).contains(&3));
    assert!(established_with(&p.a, &p.ha, &p.hit_b));
    assert!(established_with(&p.b, &p.hb, &p.hit_a));
}

/// A crashes and restarts while B holds SAs; B then pings A first: the
/// first echo request on the old SA makes A re-run the base exchange, and
/// the later ones are answered.
#[test]
fn a_crashed_initiator_is_reached_again_by_the_peer() {
    require_netns!();
    let mut p = pair(false, None, None);
    assert!(ping(&p.a, &p.hit_b).contains(&3), "associated first");
    p.ha.crash_and_restart(&p.a);
    let t = Instant::now();
    let seqs = ping(&p.b, &p.hit_a);
    assert!(
        seqs.contains(&3),
        "B reaches the restarted A: {seqs:?}; A log:\n{}\nA ha: {:?}",
        p.ha.log_text(),
        ha_states(&p.a, &p.ha)
    );
    println!(
        "initiator restart: B's ping answered within {:.0} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    assert!(p.ha.counter(&p.a, "bex_recovery") >= 1);
}

/// Sends `n` I1s (random sender HITs, to `to_hit`) over raw IPv6 from `src`
/// to `dst` inside `ns`, one every `gap`.
fn i1_flood(ns: &Netns, src: Ipv6Addr, dst: Ipv6Addr, to_hit: Ipv6Addr, n: usize, gap: Duration) {
    use hip_proto::registry::{DhGroupId, PacketType, Version};
    use hip_proto::wire::{HipRepr, ParamRepr};
    ns.in_ns(move || {
        // SAFETY: plain socket(2); closed below.
        let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_RAW, 139) };
        assert!(fd >= 0, "raw socket");
        let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        sa.sin6_family = libc::AF_INET6 as u16;
        sa.sin6_addr.s6_addr = dst.octets();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..n {
            let mut hit = [0u8; 16];
            for b in hit.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            hit[..4].copy_from_slice(&[0x20, 0x01, 0x00, 0x22]);
            let mut i1 = HipRepr::new(
                PacketType::I1,
                Version::V2,
                hip_proto::Hit(hit),
                hip_proto::Hit(to_hit.octets()),
            );
            i1.params
                .push(ParamRepr::DhGroupList(vec![DhGroupId::NistP256]));
            let b = i1
                .to_bytes_with_checksum(src.into(), dst.into())
                .expect("I1");
            // SAFETY: b and sa are valid for the lengths given.
            unsafe {
                libc::sendto(
                    fd,
                    b.as_ptr().cast(),
                    b.len(),
                    0,
                    (&sa as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as u32,
                )
            };
            std::thread::sleep(gap);
        }
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
    });
}

/// Floods a fresh hipd logging at `level` with 20,000 I1s; returns
/// (seconds taken, I1s received, R1s sent, I1s rate-limited, log bytes).
fn i1_flood_against(level: &str) -> (f64, u64, u64, u64, u64) {
    let a = Netns::new("fa");
    let b = Netns::new("fb");
    hipr_tests::veth(&a, "veth-a", &b, "veth-b");
    a.add_addr("veth-a", "2001:db8::1/64");
    b.add_addr("veth-b", "2001:db8::2/64");
    let hb = hipr_tests::Hipd::start_logging_at(&b, None, level);
    let hit_b: Ipv6Addr = hipr_tests::pair::default_hi(&b, &hb).parse().unwrap();
    let before = std::fs::metadata(&hb.log).map(|m| m.len()).unwrap_or(0);
    let t = Instant::now();
    let n = 20_000;
    i1_flood(
        &a,
        "2001:db8::1".parse().unwrap(),
        "2001:db8::2".parse().unwrap(),
        hit_b,
        n,
        Duration::from_micros(50),
    );
    let secs = t.elapsed().as_secs_f64();
    let received = hb.wait_counter(
        &b,
        "hip_received",
        n as u64 * 9 / 10,
        Duration::from_secs(10),
    );
    let r1 = hb.counter(&b, "hip_r1_sent");
    let limited = hb.counter(&b, "hip_drop_r1ratelimited");
    let grown = std::fs::metadata(&hb.log).map(|m| m.len()).unwrap_or(0) - before;
    println!(
        "I1 flood at {level}: {n} sent in {secs:.1} s, {received} received, {r1} R1s, {limited} rate-limited, log +{grown} bytes"
    );
    // Default budget toward one address: 20 at once, then 10 per second.
    assert!(
        r1 as f64 <= 20.0 + 10.0 * (secs + 2.0),
        "{r1} R1s in {secs:.1} s"
    );
    assert!(limited >= received / 2, "{limited} of {received} counted");
    (secs, received, r1, limited, grown)
}

/// An I1 flood at hipd's default log level: R1s stay within the
/// per-destination budget, the rest is dropped and counted, and the log
/// grows by almost nothing (no line per packet); at debug level the
/// per-packet lines are rate-limited (at most 10 a second per kind).
#[test]
fn an_i1_flood_is_rate_limited_and_writes_almost_no_log() {
    require_netns!();
    let (_, _, _, limited, grown) = i1_flood_against("info");
    let per_thousand = grown as f64 * 1000.0 / limited.max(1) as f64;
    assert!(
        per_thousand < 100.0,
        "{per_thousand:.0} log bytes per 1,000 dropped packets at info"
    );
    let (secs, _, _, _, grown) = i1_flood_against("debug");
    // A handful of per-packet line kinds, 10 a second each, ~300 octets a line.
    let bound = 5.0 * 10.0 * 300.0 * (secs + 3.0);
    assert!(
        (grown as f64) < bound,
        "{grown} log bytes at debug in {secs:.1} s (bound {bound:.0})"
    );
}

/// Packets from local applications to HITs nobody knows get ICMP
/// unreachable, at most 10 at once and 10 a second (RFC 4443 2.4 (f)).
#[test]
fn icmp_unreachable_is_rate_limited() {
    require_netns!();
    let a = Netns::new("ia");
    let ha = hipr_tests::Hipd::start(&a, None, None);
    let t = Instant::now();
    a.in_ns(|| {
        let s = std::net::UdpSocket::bind("[::]:0").expect("bind");
        for i in 0..2_000u32 {
            let _ = s.send_to(&i.to_be_bytes(), "[2001:2f::99]:9");
        }
    });
    let secs = t.elapsed().as_secs_f64();
    let limited = ha.wait_counter(&a, "icmp_unreach_limited", 1_000, Duration::from_secs(3));
    let sent = ha.counter(&a, "icmp_unreach_sent");
    println!(
        "2000 packets to an unknown HIT in {secs:.2} s: {sent} ICMP errors, {limited} limited"
    );
    assert!(
        sent >= 1,
        "unreachable answered; tun_rx {}; log:\n{}",
        ha.counter(&a, "tun_rx"),
        ha.log_text()
    );
    assert!(
        sent as f64 <= 10.0 + 10.0 * (secs + 1.0),
        "{sent} ICMP errors"
    );
    // The TUN's queue drops part of the burst before hipd reads it.
    assert!(limited >= 500 && limited > 20 * sent, "{limited}");
}

/// Another tunnel on the host (a TUN device with its own address) is never
/// announced as a locator, and one-way traffic (A streams UDP to B, B sends
/// nothing back) never fails the association over: silence asks for a
/// heartbeat, B answers it, ESP stays on the path.
#[test]
fn one_way_traffic_and_another_tunnel_cause_no_failover() {
    require_netns!();
    let p = pair(false, None, None);
    // An OpenVPN-like tunnel on A, up, with addresses.
    p.a.exec_ok(&["ip", "tuntap", "add", "dev", "vpn7", "mode", "tun"]);
    p.a.exec_ok(&["ip", "link", "set", "vpn7", "up"]);
    p.a.add_addr("vpn7", "198.51.100.7/24");
    p.a.add_addr("vpn7", "2001:db8:77::7/64");
    // B is multihomed: A has a candidate to fail over to.
    p.b.add_addr("veth-b", "2001:db8::22/64");
    assert!(ping(&p.a, &p.hit_b).contains(&3), "associated");
    let hit_b: Ipv6Addr = p.hit_b.parse().unwrap();
    // A sink on B, so that B's kernel answers nothing (no port unreachable).
    let sink =
        p.b.in_ns(|| std::net::UdpSocket::bind("[::]:9"))
            .expect("sink");
    p.a.in_ns(move || {
        let s = std::net::UdpSocket::bind("[::]:0").expect("bind");
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            let _ = s.send_to(&[0u8; 512], (hit_b, 9));
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    drop(sink);
    let ha = ha_states(&p.b, &p.hb);
    let a_view = ha
        .iter()
        .find(|x| x["peer_hit"] == p.hit_a.as_str())
        .cloned()
        .unwrap_or_default();
    let text = a_view.to_string();
    assert!(
        !text.contains("198.51.100.7") && !text.contains("2001:db8:77::7"),
        "B was told about A's VPN addresses: {a_view}"
    );
    assert_eq!(p.ha.counter(&p.a, "hip_failovers"), 0, "no failover");
    assert!(
        p.ha.counter(&p.a, "heartbeats_sent") >= 1,
        "silence was checked"
    );
    assert!(ping(&p.a, &p.hit_b).contains(&3), "the path still works");
    let st = ha_states(&p.a, &p.ha);
    assert!(
        st.iter().any(|x| x["locator"] == "2001:db8::2"),
        "ESP still goes to B's address: {st:?}"
    );
}

/// An address added without `nodad` is announced only once duplicate
/// address detection has finished (RFC 4862 5.4: a tentative address is not
/// yet the host's).
#[test]
fn a_tentative_address_is_announced_only_after_dad() {
    require_netns!();
    let p = pair(false, None, None);
    assert!(ping(&p.a, &p.hit_b).contains(&3), "associated");
    // DAD on: one probe, answered by nobody within 3 s.
    p.a.exec_ok(&["sysctl", "-qw", "net.ipv6.conf.veth-a.accept_dad=1"]);
    p.a.exec_ok(&["sysctl", "-qw", "net.ipv6.conf.veth-a.dad_transmits=1"]);
    p.a.exec_ok(&[
        "sysctl",
        "-qw",
        "net.ipv6.neigh.veth-a.retrans_time_ms=3000",
    ]);
    p.a.exec_ok(&[
        "ip",
        "-6",
        "addr",
        "add",
        "2001:db8::31/64",
        "dev",
        "veth-a",
    ]);
    let candidates = |p: &hipr_tests::pair::Pair| {
        ha_states(&p.b, &p.hb)
            .iter()
            .find(|x| x["peer_hit"] == p.hit_a.as_str())
            .map(|x| x.to_string())
            .unwrap_or_default()
    };
    std::thread::sleep(Duration::from_millis(800));
    let flags = p.a.exec_ok(&["ip", "-6", "addr", "show", "dev", "veth-a"]);
    assert!(
        flags.contains("2001:db8::31/64 scope global tentative"),
        "still in DAD: {flags}"
    );
    let early = candidates(&p);
    assert!(
        !early.contains("2001:db8::31"),
        "announced while tentative: {early}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !candidates(&p).contains("2001:db8::31") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        candidates(&p).contains("2001:db8::31"),
        "announced after DAD: {}",
        candidates(&p)
    );
}

/// An address on the physical interface whose traffic policy routing sends
/// into another tunnel (`ip rule from ADDR lookup 100`, table 100 `default
/// dev tun-vpn`) is not announced (RFC 8046 3.2: a failover to it would pull
/// ESP into that VPN); the other addresses are. Deleting the rule makes it
/// announced after the rescan the rule change triggers.
#[test]
fn an_address_routed_into_another_tunnel_is_not_announced() {
    require_netns!();
    let a = Netns::new("ra");
    let b = Netns::new("rb");
    hipr_tests::veth(&a, "veth-a", &b, "veth-b");
    a.add_addr("veth-a", "192.0.2.1/24");
    a.add_addr("veth-a", "198.51.100.9/24");
    b.add_addr("veth-b", "192.0.2.2/24");
    a.exec_ok(&["ip", "tuntap", "add", "dev", "tun-vpn", "mode", "tun"]);
    a.exec_ok(&["ip", "link", "set", "tun-vpn", "up"]);
    a.exec_ok(&[
        "ip", "route", "add", "default", "dev", "tun-vpn", "table", "100",
    ]);
    a.exec_ok(&["ip", "rule", "add", "from", "198.51.100.9", "lookup", "100"]);
    let routed = a.exec_ok(&["ip", "route", "get", "203.0.113.1", "from", "198.51.100.9"]);
    assert!(routed.contains("dev tun-vpn"), "the rule applies: {routed}");
    let ha = hipr_tests::Hipd::start(&a, None, None);
    let announced = || {
        let out = ha.hipconf_ok(&a, &["daemon", "get", "hi", "default", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        v["locators"].to_string()
    };
    let first = announced();
    assert!(first.contains("192.0.2.1"), "the plain address: {first}");
    assert!(
        !first.contains("198.51.100.9"),
        "the address routed into tun-vpn was announced: {first}"
    );
    a.exec_ok(&["ip", "rule", "del", "from", "198.51.100.9", "lookup", "100"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !announced().contains("198.51.100.9") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = announced();
    assert!(
        after.contains("198.51.100.9") && after.contains("192.0.2.1"),
        "announced once the rule is gone: {after}"
    );
}

/// The base exchange through a bridge that loses 30 % of HIP packets,
/// duplicates 5 % and reorders 25 % (RFC 7401 4.4.3 retransmission):
/// median under 2 s over 15 fresh exchanges (both daemons restarted between
/// them), each within 30 s.
#[test]
fn base_exchange_under_loss_duplication_and_reordering_is_quick() {
    require_netns!();
    use hipr_tests::impair::{self, Impairment};
    let a = Netns::new("la");
    let m = Netns::new("lm");
    let b = Netns::new("lb");
    hipr_tests::veth(&a, "veth-a", &m, "m-a");
    hipr_tests::veth(&m, "m-b", &b, "veth-b");
    for d in ["m-a", "m-b"] {
        m.exec_ok(&["ip", "link", "set", d, "promisc", "on"]);
    }
    a.add_addr("veth-a", "2001:db8::1/64");
    b.add_addr("veth-b", "2001:db8::2/64");
    let bridge = impair::start(
        &m,
        "m-a",
        "m-b",
        Impairment {
            loss: 30,
            duplicate: 5,
            reorder: 25,
            seed: 0x5eed,
        },
    );
    let mut ha = hipr_tests::Hipd::start(&a, None, None);
    let mut hb = hipr_tests::Hipd::start(&b, None, None);
    let hit_a = hipr_tests::pair::default_hi(&a, &ha);
    let hit_b = hipr_tests::pair::default_hi(&b, &hb);
    ha.hipconf_ok(&a, &["daemon", "add", "map", &hit_b, "2001:db8::2"]);
    hb.hipconf_ok(&b, &["daemon", "add", "map", &hit_a, "2001:db8::1"]);
    let hb_addr: Ipv6Addr = hit_b.parse().unwrap();
    let mut times = Vec::new();
    for run in 0..15 {
        if run > 0 {
            // Fresh state on both sides for the next exchange.
            ha.crash_and_restart(&a);
            hb.crash_and_restart(&b);
        }
        let t = Instant::now();
        a.in_ns(move || {
            let s = std::net::UdpSocket::bind("[::]:0").expect("bind");
            let _ = s.send_to(b"go", (hb_addr, 9));
        });
        while !established_with(&a, &ha, &hit_b) {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "run {run}: no base exchange within 30 s; A log:\n{}",
                ha.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        if t.elapsed() > Duration::from_secs(5) {
            let nonzero = |ns: &Netns, h: &hipr_tests::Hipd| {
                let v: serde_json::Value =
                    serde_json::from_str(&h.hipconf_ok(ns, &["--json", "stats"])).unwrap();
                v["counters"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .filter(|(_, v)| v.as_u64() != Some(0))
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default()
            };
            eprintln!(
                "run {run} took {:?}\nA: {}\nB: {}",
                t.elapsed(),
                nonzero(&a, &ha),
                nonzero(&b, &hb)
            );
        }
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    let c = &bridge.counts;
    println!(
        "lossy base exchange: median {:.0} ms, max {:.0} ms over {} runs; bridge: {} HIP frames, {} lost, {} duplicated, {} reordered",
        median.as_secs_f64() * 1000.0,
        times.last().unwrap().as_secs_f64() * 1000.0,
        times.len(),
        c.hip.load(std::sync::atomic::Ordering::Relaxed),
        c.lost.load(std::sync::atomic::Ordering::Relaxed),
        c.duplicated.load(std::sync::atomic::Ordering::Relaxed),
        c.reordered.load(std::sync::atomic::Ordering::Relaxed),
    );
    assert!(
        c.lost.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the bridge impaired"
    );
    assert!(
        median < Duration::from_secs(2),
        "median {median:?}: {times:?}"
    );
}

/// CPU time (user + system) of process `pid` so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which may contain spaces) in parentheses.
    let rest = &s[s.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// At the open-file limit the control socket's acceptor backs off instead
/// of spinning on EMFILE, and answers again once descriptors are free.
#[test]
fn control_socket_backs_off_at_the_open_file_limit() {
    require_netns!();
    let a = Netns::new("ma");
    let ha = hipr_tests::Hipd::start(&a, None, None);
    let fds = std::fs::read_dir(format!("/proc/{}/fd", ha.pid))
        .map(|d| d.count())
        .unwrap_or(0);
    let limit = fds + 8;
    let st = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &ha.pid.to_string(),
            &format!("--nofile={limit}:{limit}"),
        ])
        .status()
        .expect("prlimit");
    assert!(st.success());
    // Connections that never send a request hold a descriptor each (for
    // the 10 s request timeout): far more than the limit allows.
    let conns: Vec<_> = (0..40)
        .filter_map(|_| std::os::unix::net::UnixStream::connect(&ha.socket).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let t0 = cpu_ticks(ha.pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(ha.pid) - t0;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    println!(
        "{} connections held, limit {limit}: {used} ticks of CPU in 2 s (hz {hz})",
        conns.len()
    );
    assert!(
        used * 10 < hz * 2,
        "the acceptor spins: {used} ticks in 2 s; log:\n{}",
        ha.log_text()
    );
    drop(conns);
    // Descriptors come back (the held ones time out or close): it answers.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ha
        .hipconf(&a, &["daemon", "get", "hi", "default"])
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "no answer after the flood");
        std::thread::sleep(Duration::from_millis(100));
    }
}
