//! A NAT testbed in network namespaces: an "internet" segment
//! 203.0.113.0/24 (a bridge in its own namespace, which also holds the ISP
//! router address 203.0.113.254 that every public host routes through, so
//! that a packet to a private address reaches the wire and the capture),
//! a public server 203.0.113.10, and two NAT routers 203.0.113.1 (site A)
//! and 203.0.113.2 (site B) masquerading a private site each, with nftables
//! in the kernel:
//!
//! * [`Sites::Separate`]: site A 192.0.2.0/25 (router .1, host .10), site B
//!   192.0.2.128/25 (router .129, host .140);
//! * [`Sites::Overlapping`]: both sites 192.0.2.0/25 (router .1, host .10
//!   on each side).
//!
//! Each router drops unsolicited packets to its own WAN address (no ICMP,
//! no conntrack entry), as home routers do.
//!
//! [`NatKind::Masquerade`] is `masquerade` (the kernel keeps the source port
//! when it is free: endpoint-independent in practice); [`NatKind::Symmetric`]
//! is `masquerade fully-random` (a random port for every new mapping, so a
//! new port after a conntrack flush and per destination).
//!
//! [`Capture`] records the internet segment (tcpdump on every port of the
//! bridge, so each packet appears twice) and
//! [`Captured::check_no_private`] fails when any packet there has a source or
//! destination in 192.0.2.0/24 (also inside ICMP errors). Helpers flush a
//! router's conntrack table (a NAT reboot or rebinding) and move a host from
//! one site to the other (its veth re-plugged into the other router, a new
//! private address). IPv6 (2001:db8:113::/64) exists on the internet segment
//! only: the server and the routers' public side; NAT is IPv4.
//!
//! Everything lives in [`Netns`]es, so it is removed on drop, also when a
//! test panics. `HIPR_NAT_DEBUG=1` prints tcpdump's own report and tshark's
//! output of each capture.
use crate::{veth, Netns};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The public server's address.
pub const SERVER: &str = "203.0.113.10";
/// The public server's IPv6 address.
pub const SERVER_V6: &str = "2001:db8:113::10";
/// The ISP router on the internet segment (default route of public hosts).
pub const ISP: &str = "203.0.113.254";

/// How the NAT routers translate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatKind {
    /// nftables `masquerade`: source port kept when free.
    Masquerade,
    /// nftables `masquerade fully-random`: a random source port per mapping
    /// (endpoint-dependent mapping, a new port after a flush).
    Symmetric,
}

/// The private address plans of the two sites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sites {
    /// Site A 192.0.2.0/25, site B 192.0.2.128/25.
    Separate,
    /// Both sites 192.0.2.0/25, a host 192.0.2.10 on each.
    Overlapping,
}

/// One of the two private sites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// Behind 203.0.113.1.
    A,
    /// Behind 203.0.113.2.
    B,
}

impl Site {
    /// The router's public address.
    pub fn public(self) -> &'static str {
        match self {
            Site::A => "203.0.113.1",
            Site::B => "203.0.113.2",
        }
    }
}

/// A host behind a NAT.
pub struct NatHost {
    /// Its namespace (interface `eth0`).
    pub ns: Netns,
    /// Its current private IPv4 address and site (it may move).
    plugged: Mutex<(String, Site)>,
}

impl NatHost {
    fn new(tag: &str, addr: &str, site: Site) -> Self {
        NatHost {
            ns: Netns::new(tag),
            plugged: Mutex::new((addr.to_string(), site)),
        }
    }

    /// Its current private IPv4 address.
    pub fn addr(&self) -> String {
        self.plugged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    /// The site it is plugged into now.
    pub fn site(&self) -> Site {
        self.plugged.lock().unwrap_or_else(|p| p.into_inner()).1
    }
}

/// The testbed (see the module documentation).
pub struct NatTestbed {
    /// The internet segment: bridge `br0`, 203.0.113.254.
    pub inet: Netns,
    /// The public server 203.0.113.10 (`eth0`).
    pub server: Netns,
    /// The NAT router of site A (`wan0` public, bridge `lan` private).
    pub nat_a: Netns,
    /// The NAT router of site B.
    pub nat_b: Netns,
    /// The host of site A.
    pub host_a: NatHost,
    /// The host of site B.
    pub host_b: NatHost,
    /// The NAT behaviour.
    pub kind: NatKind,
    /// The address plan.
    pub sites: Sites,
    plugs: AtomicU32,
}

/// Is `a` (an address, no prefix) inside 192.0.2.0/24, the private sites?
pub fn is_private(a: &str) -> bool {
    a.trim().starts_with("192.0.2.")
}

/// The router LAN address and prefix of `site` in plan `sites`.
fn lan_of(sites: Sites, site: Site) -> (&'static str, u8) {
    match (sites, site) {
        (Sites::Separate, Site::B) => ("192.0.2.129", 25),
        _ => ("192.0.2.1", 25),
    }
}

impl NatTestbed {
    /// Builds the segment, the server, both routers with `kind` NAT and a
    /// host on each site; waits (bounded) until both hosts reach the server.
    pub fn new(kind: NatKind, sites: Sites) -> Self {
        let inet = Netns::new("inet");
        crate::bridge(&inet, "br0");
        inet.add_addr("br0", &format!("{ISP}/24"));
        inet.add_addr("br0", "2001:db8:113::fe/64");
        let server = Netns::new("srv");
        veth(&server, "eth0", &inet, "p-srv");
        inet.exec_ok(&["ip", "link", "set", "p-srv", "master", "br0"]);
        server.add_addr("eth0", &format!("{SERVER}/24"));
        server.add_addr("eth0", &format!("{SERVER_V6}/64"));
        server.exec_ok(&["ip", "route", "add", "default", "via", ISP]);
        let nat_a = Self::router(&inet, "nata", "p-na", Site::A, sites, kind);
        let nat_b = Self::router(&inet, "natb", "p-nb", Site::B, sites, kind);
        let b_addr = match sites {
            Sites::Separate => "192.0.2.140",
            Sites::Overlapping => "192.0.2.10",
        };
        let tb = NatTestbed {
            inet,
            server,
            nat_a,
            nat_b,
            host_a: NatHost::new("ha", "192.0.2.10", Site::A),
            host_b: NatHost::new("hb", b_addr, Site::B),
            kind,
            sites,
            plugs: AtomicU32::new(0),
        };
        tb.plug(&tb.host_a, Site::A, "192.0.2.10");
        tb.plug(&tb.host_b, Site::B, b_addr);
        for h in [&tb.host_a.ns, &tb.host_b.ns] {
            wait_ping(h, SERVER);
        }
        tb
    }

    fn router(
        inet: &Netns,
        tag: &str,
        port: &str,
        site: Site,
        sites: Sites,
        kind: NatKind,
    ) -> Netns {
        let r = Netns::new(tag);
        veth(&r, "wan0", inet, port);
        inet.exec_ok(&["ip", "link", "set", port, "master", "br0"]);
        r.add_addr("wan0", &format!("{}/24", site.public()));
        let v6 = match site {
            Site::A => "2001:db8:113::1/64",
            Site::B => "2001:db8:113::2/64",
        };
        r.add_addr("wan0", v6);
        r.exec_ok(&["ip", "route", "add", "default", "via", ISP]);
        crate::bridge(&r, "lan");
        let (lan, len) = lan_of(sites, site);
        r.add_addr("lan", &format!("{lan}/{len}"));
        r.exec_ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        let nat = match kind {
            NatKind::Masquerade => "masquerade",
            NatKind::Symmetric => "masquerade fully-random",
        };
        // INVALID packets skip NAT in the kernel and would leave with their
        // private source: drop them as home routers do. Unsolicited packets
        // to the router's own WAN address are dropped too, as home routers
        // do: dropped before conntrack confirms them they leave no entry
        // behind (answered with ICMP port unreachable instead, they would
        // leave an UNREPLIED entry for 30 s, and the router would then map
        // a host's first packet toward that sender to another port: no
        // hole punching through this router).
        let rules = format!(
            "table ip nat {{\n\
               chain postrouting {{ type nat hook postrouting priority srcnat; policy accept;\n\
                 oifname \"wan0\" ip saddr 192.0.2.0/24 {nat}\n\
               }}\n\
               chain forward {{ type filter hook forward priority filter; policy accept;\n\
                 ct state invalid drop\n\
               }}\n\
               chain input {{ type filter hook input priority filter; policy accept;\n\
                 iifname \"wan0\" ct state new drop\n\
               }}\n\
             }}\n"
        );
        let mut c = r.command("nft");
        c.args(["-f", "-"]);
        run_stdin(c, &rules);
        r
    }

    /// One more public host on the internet segment at `addr` (in
    /// 203.0.113.0/24, default route via the ISP router), e.g. a peer that
    /// reaches a NATed host through the server's relay.
    pub fn public_host(&self, tag: &str, addr: &str) -> Netns {
        let ns = Netns::new(tag);
        let port = format!("p-{tag}");
        veth(&ns, "eth0", &self.inet, &port);
        self.inet
            .exec_ok(&["ip", "link", "set", &port, "master", "br0"]);
        ns.add_addr("eth0", &format!("{addr}/24"));
        ns.exec_ok(&["ip", "route", "add", "default", "via", ISP]);
        wait_ping(&ns, SERVER);
        ns
    }

    /// The router of `site`.
    pub fn nat(&self, site: Site) -> &Netns {
        match site {
            Site::A => &self.nat_a,
            Site::B => &self.nat_b,
        }
    }

    /// Plugs `h` into `site`'s LAN with `addr`.
    fn plug(&self, h: &NatHost, site: Site, addr: &str) {
        let port = format!("h{}", self.plugs.fetch_add(1, Ordering::Relaxed));
        let sites = self.sites;
        let (host, router) = (&h.ns, self.nat(site));
        veth(host, "eth0", router, &port);
        router.exec_ok(&["ip", "link", "set", &port, "master", "lan"]);
        let (gw, len) = lan_of(sites, site);
        host.add_addr("eth0", &format!("{addr}/{len}"));
        host.exec_ok(&["ip", "route", "add", "default", "via", gw]);
        *h.plugged.lock().unwrap_or_else(|p| p.into_inner()) = (addr.to_string(), site);
    }

    /// Moves host A to `site` (its veth unplugged, a new one into that
    /// router's LAN) with the private address `addr`; returns once it
    /// reaches the server again (bounded).
    pub fn move_host_a(&self, site: Site, addr: &str) {
        self.host_a.ns.exec_ok(&["ip", "link", "del", "eth0"]);
        self.plug(&self.host_a, site, addr);
        wait_ping(&self.host_a.ns, SERVER);
    }

    /// Empties `site`'s conntrack table (a NAT reboot: every mapping is
    /// gone; the next packet out gets a new one).
    pub fn flush_conntrack(&self, site: Site) {
        let o = self.nat(site).exec(&["conntrack", "-F"]);
        assert!(
            o.status.success(),
            "conntrack -F: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// `site`'s current conntrack entries (`conntrack -L`), one a line.
    pub fn conntrack(&self, site: Site) -> Vec<String> {
        let o = self.nat(site).exec(&["conntrack", "-L"]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Starts recording the internet segment (tcpdump on the bridge ports).
    pub fn capture(&self) -> Capture {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("internet.pcap");
        let mut c = self.inet.command("tcpdump");
        // On every bridge port: tcpdump on the bridge device itself sees only
        // what the bridge delivers locally, not what it forwards between
        // ports. Each packet is recorded twice (in one port, out another).
        // --immediate-mode: packets go to the file as they come (otherwise
        // they wait in the kernel ring for a block timeout, and those still
        // there at SIGINT are lost: "N received by filter, 0 captured").
        c.args([
            "-i",
            "any",
            "-n",
            "-U",
            "--immediate-mode",
            "-s",
            "256",
            "-w",
        ])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("tcpdump.err")).expect("log"));
        let pid = self.inet.spawn(c);
        // Ready once the file header is written (bounded), and a little more.
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::metadata(&file).map_or(0, |m| m.len()) < 24 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        Capture {
            pid,
            file,
            _dir: dir,
        }
    }

    /// Stops `c` and parses what it recorded.
    pub fn stop(&self, c: Capture) -> Captured {
        std::thread::sleep(Duration::from_millis(200));
        self.inet
            .signal_and_wait(c.pid, libc::SIGINT, Duration::from_secs(5));
        if std::env::var_os("HIPR_NAT_DEBUG").is_some() {
            eprintln!(
                "tcpdump: {}",
                std::fs::read_to_string(c._dir.path().join("tcpdump.err")).unwrap_or_default()
            );
        }
        Captured::read(&c.file)
    }
}

/// A running capture of the internet segment ([`NatTestbed::capture`]).
pub struct Capture {
    pid: u32,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

/// One recorded IP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Every IPv4/IPv6 source address in it (an ICMP error quotes a second header).
    pub srcs: Vec<String>,
    /// Every destination address in it.
    pub dsts: Vec<String>,
    /// IP protocol numbers (outer first).
    pub protos: Vec<u8>,
    /// UDP ports (source, destination) of the outer UDP header, if any.
    pub udp: Option<(u16, u16)>,
    /// Octets on the wire. One captured packet may be a run of UDP
    /// datagrams the sender passed down in one piece (UDP GSO): the
    /// kernel splits it only where a device needs that, not on veths or a
    /// bridge, so count octets, not packets, to tell how much data went.
    pub len: usize,
}

/// What a [`Capture`] recorded.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    /// The IP packets, in order.
    pub packets: Vec<Packet>,
}

impl Captured {
    /// Parses a pcap file with tshark.
    pub fn read(file: &std::path::Path) -> Self {
        let o = Command::new("tshark")
            .args(["-n", "-r"])
            .arg(file)
            .args([
                "-T",
                "fields",
                "-E",
                "separator=|",
                "-E",
                "occurrence=a",
                "-E",
                "aggregator=,",
                "-e",
                "ip.src",
                "-e",
                "ip.dst",
                "-e",
                "ipv6.src",
                "-e",
                "ipv6.dst",
                "-e",
                "ip.proto",
                "-e",
                "ipv6.nxt",
                "-e",
                "udp.srcport",
                "-e",
                "udp.dstport",
                "-e",
                "frame.len",
            ])
            .output()
            .expect("tshark");
        assert!(
            o.status.success(),
            "tshark: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        if std::env::var_os("HIPR_NAT_DEBUG").is_some() {
            eprintln!(
                "pcap {} bytes; tshark: {}",
                std::fs::metadata(file).map_or(0, |m| m.len()),
                String::from_utf8_lossy(&o.stdout)
            );
        }
        let list = |f: &str| -> Vec<String> {
            f.split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        };
        let packets = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('|').collect();
                if f.len() < 8 {
                    return None;
                }
                let mut srcs = list(f[0]);
                srcs.extend(list(f[2]));
                let mut dsts = list(f[1]);
                dsts.extend(list(f[3]));
                if srcs.is_empty() && dsts.is_empty() {
                    return None; // ARP and the like
                }
                let mut protos: Vec<u8> =
                    list(f[4]).iter().filter_map(|p| p.parse().ok()).collect();
                protos.extend(list(f[5]).iter().filter_map(|p| p.parse::<u8>().ok()));
                let port = |s: &str| list(s).first().and_then(|p| p.parse().ok());
                let udp = port(f[6]).zip(port(f[7]));
                let len = f.get(8).and_then(|l| l.trim().parse().ok()).unwrap_or(0);
                Some(Packet {
                    srcs,
                    dsts,
                    protos,
                    udp,
                    len,
                })
            })
            .collect();
        Captured { packets }
    }

    /// Fails (with the offending packets) when a packet on the internet
    /// segment has a source or destination in 192.0.2.0/24.
    pub fn check_no_private(&self) -> Result<(), String> {
        let bad: Vec<&Packet> = self
            .packets
            .iter()
            .filter(|p| p.srcs.iter().chain(&p.dsts).any(|a| is_private(a)))
            .collect();
        if bad.is_empty() {
            return Ok(());
        }
        Err(format!(
            "{} of {} packets on the internet segment carry a private address, e.g. {:?}",
            bad.len(),
            self.packets.len(),
            &bad[..bad.len().min(5)]
        ))
    }

    /// Packets to or from UDP port `port` (either side).
    pub fn udp_port(&self, port: u16) -> usize {
        self.packets
            .iter()
            .filter(|p| p.udp.is_some_and(|(s, d)| s == port || d == port))
            .count()
    }

    /// Packets whose outer protocol is `proto` (139 HIP, 50 ESP).
    /// UDP packets between `a` and `b` (outer addresses, either direction).
    pub fn udp_between(&self, a: &str, b: &str) -> usize {
        self.udp_packets_between(a, b).count()
    }

    /// Octets of UDP between `a` and `b` (either direction).
    pub fn udp_octets_between(&self, a: &str, b: &str) -> usize {
        self.udp_packets_between(a, b).map(|p| p.len).sum()
    }

    fn udp_packets_between<'a>(
        &'a self,
        a: &'a str,
        b: &'a str,
    ) -> impl Iterator<Item = &'a Packet> + 'a {
        self.packets.iter().filter(move |p| {
            let (s, d) = (
                p.srcs.first().map(String::as_str),
                p.dsts.first().map(String::as_str),
            );
            p.udp.is_some() && ((s, d) == (Some(a), Some(b)) || (s, d) == (Some(b), Some(a)))
        })
    }

    pub fn proto(&self, proto: u8) -> usize {
        self.packets
            .iter()
            .filter(|p| p.protos.first() == Some(&proto))
            .count()
    }
}

fn run_stdin(mut c: Command, input: &str) {
    use std::io::Write;
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let o = child.wait_with_output().expect("wait");
    assert!(
        o.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Pings `dst` from `ns` until it answers (at most 10 s).
pub fn wait_ping(ns: &Netns, dst: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if ns
            .exec(&["ping", "-c", "1", "-W", "1", dst])
            .status
            .success()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} cannot reach {dst}",
            ns.name()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
