//! Namespace tests of hipd's plumbing (run as root; otherwise each skips with one line).
use hipr_tests::{require_netns, veth, Hipd, Netns};
use std::net::IpAddr;
use std::time::Duration;

/// Two namespaces on a veth pair with documentation addresses, hipd in each.
fn pair(conf_b: Option<&str>) -> (Netns, Netns, Hipd, Hipd) {
    let a = Netns::new("a");
    let b = Netns::new("b");
    veth(&a, "veth-a", &b, "veth-b");
    a.add_addr("veth-a", "192.0.2.1/24");
    b.add_addr("veth-b", "192.0.2.2/24");
    a.add_addr("veth-a", "2001:db8::1/64");
    b.add_addr("veth-b", "2001:db8::2/64");
    let ha = Hipd::start(&a, None, None);
    let hb = Hipd::start(&b, conf_b, None);
    (a, b, ha, hb)
}

fn default_hi(ns: &Netns, h: &Hipd) -> (String, String) {
    let out = h.hipconf_ok(ns, &["daemon", "get", "hi", "default", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let hit = v["hit"].as_str().expect("hit").to_string();
    let lsi = v["lsi"].as_str().expect("lsi").to_string();
    (hit, lsi)
}

/// A minimal HIP fixed header (RFC 7401 section 5.1): I1, v2, length 4 (40 bytes).
fn hip_i1(sender: &str, receiver: &str) -> Vec<u8> {
    let mut p = vec![59, 4, 1, 0x21, 0, 0, 0, 0];
    p.extend_from_slice(&sender.parse::<std::net::Ipv6Addr>().expect("hit").octets());
    p.extend_from_slice(
        &receiver
            .parse::<std::net::Ipv6Addr>()
            .expect("hit")
            .octets(),
    );
    p
}

/// Sends `payload` on a raw IP protocol 139 socket from inside `ns`.
fn send_raw_hip(ns: &Netns, dst: IpAddr, payload: Vec<u8>) {
    ns.in_ns(move || {
        let s = match dst {
            IpAddr::V4(a) => {
                raw_send(libc::AF_INET, &payload, |ss| {
                    // SAFETY: storage holds a sockaddr_in.
                    let s: &mut libc::sockaddr_in =
                        unsafe { &mut *(ss as *mut libc::sockaddr_storage).cast() };
                    s.sin_family = libc::AF_INET as _;
                    s.sin_addr.s_addr = u32::from(a).to_be();
                    std::mem::size_of::<libc::sockaddr_in>()
                })
            }
            IpAddr::V6(a) => raw_send(libc::AF_INET6, &payload, |ss| {
                // SAFETY: storage holds a sockaddr_in6.
                let s: &mut libc::sockaddr_in6 =
                    unsafe { &mut *(ss as *mut libc::sockaddr_storage).cast() };
                s.sin6_family = libc::AF_INET6 as _;
                s.sin6_addr.s6_addr = a.octets();
                std::mem::size_of::<libc::sockaddr_in6>()
            }),
        };
        assert_eq!(
            s,
            payload.len() as isize,
            "raw send: {}",
            std::io::Error::last_os_error()
        );
    });
}

fn raw_send(
    fam: i32,
    payload: &[u8],
    fill: impl FnOnce(&mut libc::sockaddr_storage) -> usize,
) -> isize {
    // SAFETY: plain socket/sendto/close with valid buffers.
    unsafe {
        let fd = libc::socket(fam, libc::SOCK_RAW, 139);
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        let mut ss: libc::sockaddr_storage = std::mem::zeroed();
        let len = fill(&mut ss);
        let n = libc::sendto(
            fd,
            payload.as_ptr().cast(),
            payload.len(),
            0,
            (&ss as *const libc::sockaddr_storage).cast(),
            len as _,
        );
        libc::close(fd);
        n
    }
}

#[test]
fn daemons_identity_tun_control_and_raw_hip() {
    require_netns!();
    let (a, b, ha, hb) = pair(None);
    let (hit_a, lsi_a) = default_hi(&a, &ha);
    let (hit_b, _lsi_b) = default_hi(&b, &hb);
    assert!(
        hit_a.starts_with("2001:2"),
        "ORCHIDv2 HIT expected, got {hit_a}"
    );
    assert_eq!(
        lsi_a, "198.19.0.1",
        "first LSI of the default prefix 198.19.0.0/16"
    );
    assert_ne!(hit_a, hit_b);

    // TUN hip0 with the HIT, the ORCHID routes and the LSI.
    let addrs = a.exec_ok(&["ip", "-6", "addr", "show", "dev", "hip0"]);
    assert!(addrs.contains(&format!("{hit_a}/128")), "{addrs}");
    let routes = a.exec_ok(&["ip", "-6", "route", "show", "dev", "hip0"]);
    assert!(
        routes.contains("2001:20::/28") && routes.contains("2001:10::/28"),
        "{routes}"
    );
    let v4 = a.exec_ok(&["ip", "-4", "addr", "show", "dev", "hip0"]);
    // Only the LSI itself (RFC 5338): the prefix is not routed into the TUN.
    assert!(v4.contains("198.19.0.1/32"), "{v4}");

    // Peer map through hipconf.
    ha.hipconf_ok(&a, &["daemon", "add", "map", &hit_b, "2001:db8::2"]);
    let lsi = ha
        .hipconf_ok(&a, &["daemon", "hit-to-lsi", &hit_b])
        .trim()
        .to_string();
    assert_eq!(lsi, "198.19.0.2");
    assert_eq!(
        ha.hipconf_ok(&a, &["daemon", "lsi-to-hit", &lsi]).trim(),
        hit_b
    );
    let map = ha.hipconf_ok(&a, &["--json", "daemon", "get", "map", "all"]);
    assert!(map.contains(&hit_b) && map.contains("2001:db8::2"), "{map}");
    let has = ha.hipconf_ok(&a, &["--json", "daemon", "get", "ha", "all"]);
    assert_eq!(
        has.trim(),
        "[]",
        "no association may exist before the protocol is plugged in"
    );
    ha.hipconf_ok(&a, &["daemon", "del", "map", &hit_b]);
    let o = ha.hipconf(&a, &["daemon", "hit-to-lsi", &hit_b]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    let o = ha.hipconf(&a, &["daemon", "del", "map", "2001:db8::9"]);
    assert!(!o.status.success());

    // Raw HIP (protocol 139) from A reaches hipd B over IPv4 and IPv6.
    let before4 = hb.counter(&b, "hip_rx_v4");
    send_raw_hip(&a, "192.0.2.2".parse().expect("ip"), hip_i1(&hit_a, &hit_b));
    assert!(
        hb.wait_counter(&b, "hip_rx_v4", before4 + 1, Duration::from_secs(5)) > before4,
        "{}",
        hb.log_text()
    );
    let before6 = hb.counter(&b, "hip_rx_v6");
    send_raw_hip(
        &a,
        "2001:db8::2".parse().expect("ip"),
        hip_i1(&hit_a, &hit_b),
    );
    assert!(
        hb.wait_counter(&b, "hip_rx_v6", before6 + 1, Duration::from_secs(5)) > before6,
        "{}",
        hb.log_text()
    );
    // HIP over UDP 10500 (RFC 5770: 32-bit zero marker, then the HIP packet).
    let mut d = vec![0u8; 4];
    d.extend_from_slice(&hip_i1(&hit_a, &hit_b));
    a.in_ns(move || {
        let s = std::net::UdpSocket::bind("192.0.2.1:0").expect("udp bind");
        s.send_to(&d, "192.0.2.2:10500").expect("udp send");
    });
    assert_eq!(
        hb.wait_counter(&b, "hip_rx_udp", 1, Duration::from_secs(5)),
        1,
        "{}",
        hb.log_text()
    );
    // The hand-made I1s carry a zero checksum: wrong over raw IP (RFC 7401
    // section 6.1, dropped and counted), correct over UDP (RFC 5770 section
    // 5.1), where the I1 is answered with a precomputed R1.
    assert!(hb.wait_counter(&b, "hip_drop_badchecksum", 2, Duration::from_secs(5)) >= 2);
    assert!(hb.wait_counter(&b, "hip_r1_sent", 1, Duration::from_secs(5)) >= 1);
    // Counted by the engine, not logged per packet (trace level only).
    assert!(hb.counter(&b, "hip_received") >= 3);

    // Unknown HIT -> ICMPv6 unreachable (the ORCHID prefixes are routed into
    // the TUN); an unassigned LSI is not routed into it at all.
    let o = a.exec(&["ping", "-6", "-n", "-c", "1", "-W", "2", "2001:20::77"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Destination unreachable"), "{out}");
    assert!(!routed_via(&a, "198.19.0.99", "hip0"));
    assert!(ha.counter(&a, "icmp_unreach_sent") >= 1);

    // A known peer: the packet is queued and a base exchange runs (B answers
    // without a mapping of its own: the responder needs none).
    ha.hipconf_ok(&a, &["daemon", "add", "map", &hit_b, "192.0.2.2"]);
    let _ = a.exec(&["ping", "-6", "-n", "-c", "1", "-W", "1", &hit_b]);
    assert!(ha.counter(&a, "queued") >= 1);
    assert!(ha.wait_counter(&a, "hip_established", 1, Duration::from_secs(10)) >= 1);
    assert_eq!(ha.counter(&a, "bex_trigger_unhandled"), 0);
}

#[test]
fn allow_list_refuses_other_hits_before_the_engine() {
    require_netns!();
    let (a, b, ha, hb) = pair(Some("allow = 2001:20::1234\n"));
    let (hit_a, _) = default_hi(&a, &ha);
    let (hit_b, _) = default_hi(&b, &hb);
    send_raw_hip(&a, "192.0.2.2".parse().expect("ip"), hip_i1(&hit_a, &hit_b));
    assert_eq!(
        hb.wait_counter(&b, "hip_rx_refused_acl", 1, Duration::from_secs(5)),
        1,
        "{}",
        hb.log_text()
    );
    assert_eq!(
        hb.counter(&b, "hip_rx_unhandled"),
        0,
        "refused packets must not reach the engine"
    );
}

#[test]
fn peers_from_hosts_file_and_persisted_map() {
    require_netns!();
    let ns = Netns::new("hosts");
    let h = Hipd::start(
        &ns,
        None,
        Some("2001:20::aa 192.0.2.10 198.19.0.42 alice\n"),
    );
    assert_eq!(
        h.hipconf_ok(&ns, &["daemon", "hit-to-lsi", "2001:20::aa"])
            .trim(),
        "198.19.0.42"
    );
    h.hipconf_ok(
        &ns,
        &[
            "daemon",
            "add",
            "map",
            "2001:20::bb",
            "2001:db8::b",
            "198.19.0.43",
        ],
    );
    let peers =
        std::fs::read_to_string(h.dir.path().join("config/peers.json")).expect("peers.json");
    assert!(
        peers.contains("2001:20::bb") && peers.contains("198.19.0.43"),
        "{peers}"
    );
}

#[test]
fn sigterm_removes_tun_and_routes() {
    require_netns!();
    let ns = Netns::new("term");
    let h = Hipd::start(&ns, None, None);
    assert!(ns.exec(&["ip", "link", "show", "hip0"]).status.success());
    let st = ns
        .signal_and_wait(h.pid, libc::SIGTERM, Duration::from_secs(10))
        .expect("hipd did not exit on SIGTERM");
    assert!(st.success(), "hipd exit {st:?}: {}", h.log_text());
    assert!(
        !ns.exec(&["ip", "link", "show", "hip0"]).status.success(),
        "hip0 still exists"
    );
    let routes = ns.exec_ok(&["ip", "-6", "route"]);
    assert!(
        !routes.contains("2001:20::/28") && !routes.contains("2001:10::/28"),
        "{routes}"
    );
    assert!(!h.socket.exists(), "control socket left behind");
}

#[test]
fn bad_hosts_file_stops_startup_with_line_number() {
    require_netns!();
    let ns = Netns::new("badhosts");
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("hosts"),
        "2001:20::1 192.0.2.1\nbogus line here\n",
    )
    .expect("hosts");
    let o = ns
        .command(hipr_tests::bin_dir().join("hipd"))
        .arg("--foreground")
        .arg("--config-dir")
        .arg(dir.path())
        .arg("--socket")
        .arg(dir.path().join("s"))
        .output()
        .expect("hipd");
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("hosts line 2"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Does `ip route get dst` in `ns` go out of `dev`? (A namespace without a
/// default route answers "Network is unreachable": not via `dev`.)
fn routed_via(ns: &Netns, dst: &str, dev: &str) -> bool {
    let o = ns.exec(&["ip", "route", "get", dst]);
    o.status.success()
        && String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .any(|w| w == ["dev", dev])
}

/// The IPv4 routes out of hip0 in `ns`, one per line.
fn hip0_routes(ns: &Netns) -> String {
    ns.exec_ok(&["ip", "-4", "route", "show", "dev", "hip0"])
}

/// RFC 5338 LSIs with HIPL's public 1.0.0.0/8 as the prefix: only the local
/// LSI (a /32 address) and each assigned peer LSI (a /32 route, from the
/// hosts file at startup, from `add map`, restored from peers.json on a
/// restart) go into the TUN; 1.1.1.1 does not, and `del map` takes the
/// peer's route away. (The old code added LSI/8 and routed the whole /8.)
#[test]
fn only_assigned_lsis_are_routed_into_the_tun() {
    require_netns!();
    let ns = Netns::new("lsir");
    let mut h = Hipd::start(
        &ns,
        Some("lsi_prefix = 1.0.0.0/8\n"),
        Some("2001:20::aa 192.0.2.10 1.0.0.42 alice\n"),
    );
    let (_, lsi) = default_hi(&ns, &h);
    let v4 = ns.exec_ok(&["ip", "-4", "addr", "show", "dev", "hip0"]);
    assert!(v4.contains(&format!("{lsi}/32")), "{v4}");
    assert!(!v4.contains("/8"), "{v4}");
    assert!(
        !routed_via(&ns, "1.1.1.1", "hip0"),
        "1.1.1.1 is no assigned LSI: {}",
        hip0_routes(&ns)
    );
    assert!(!hip0_routes(&ns).contains("1.0.0.0/8"));

    // The hosts-file peer got its route at startup.
    assert!(
        hip0_routes(&ns).contains("1.0.0.42"),
        "{}",
        hip0_routes(&ns)
    );
    assert!(routed_via(&ns, "1.0.0.42", "hip0"));

    // add map: the peer's LSI/32 appears, with our LSI as the source.
    let peer = "2001:20::bb";
    h.hipconf_ok(&ns, &["daemon", "add", "map", peer, "192.0.2.11"]);
    let peer_lsi = h
        .hipconf_ok(&ns, &["daemon", "hit-to-lsi", peer])
        .trim()
        .to_string();
    let routes = hip0_routes(&ns);
    assert!(
        routes
            .lines()
            .any(|l| l.split_whitespace().next() == Some(&peer_lsi)),
        "{peer_lsi} not in {routes}"
    );
    let get = ns.exec_ok(&["ip", "route", "get", &peer_lsi]);
    assert!(
        get.contains("dev hip0") && get.contains(&format!("src {lsi}")),
        "{get}"
    );
    // Adding again is idempotent.
    h.hipconf_ok(&ns, &["daemon", "add", "map", peer, "192.0.2.12"]);
    assert!(routed_via(&ns, &peer_lsi, "hip0"));

    // A new LSI for the same peer moves the route.
    h.hipconf_ok(
        &ns,
        &["daemon", "add", "map", peer, "192.0.2.12", "1.0.0.77"],
    );
    assert!(routed_via(&ns, "1.0.0.77", "hip0"));
    assert!(!routed_via(&ns, &peer_lsi, "hip0"), "{}", hip0_routes(&ns));

    // A restart restores the routes of the stored peers.
    h.restart(&ns);
    assert!(routed_via(&ns, "1.0.0.77", "hip0"), "{}", h.log_text());
    assert!(routed_via(&ns, "1.0.0.42", "hip0"));
    assert!(!routed_via(&ns, "1.1.1.1", "hip0"));

    // del map: the route goes.
    h.hipconf_ok(&ns, &["daemon", "del", "map", peer]);
    assert!(!routed_via(&ns, "1.0.0.77", "hip0"), "{}", hip0_routes(&ns));
    assert!(!hip0_routes(&ns).contains("1.0.0.77"));
    assert!(
        routed_via(&ns, "1.0.0.42", "hip0"),
        "other peers keep theirs"
    );
    assert_eq!(h.counter(&ns, "lsi_route_failed"), 0, "{}", h.log_text());
}
