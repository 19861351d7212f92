//! This host's locators (RFC 8046 section 3.2, RFC 8047 section 3.1: the
//! addresses announced in LOCATOR_SET): read from rtnetlink (RTM_GETLINK and
//! RTM_GETADDR dumps) and chosen by a policy.
//!
//! By default only addresses on physical-looking interfaces are announced:
//! never the TUN of hipd itself, never another tunnel (TUN/TAP devices such as
//! OpenVPN's or wireguard-go's, kernel WireGuard, IP-in-IP, GRE, SIT, VTI,
//! XFRM, and anything whose link type is ARPHRD_NONE), whose inner addresses
//! would pull ESP into another VPN on a failover. `locator_interfaces =`
//! names the only interfaces to use instead; `locator_exclude =` removes more.
//! Addresses still in duplicate address detection (tentative), whose DAD
//! failed, or that are deprecated (RFC 4862 section 5.5.4) are never
//! announced; the address watcher sees their flags change and rescans.
//!
//! Never an address whose traffic is routed into another tunnel either: an
//! address on a physical interface that policy routing sends into a VPN
//! (`ip rule from ADDR lookup 100`, table 100 `default dev tun-vpn`) would
//! pull ESP into that VPN as surely as the VPN's own address. At each rescan
//! the kernel is asked, once per candidate (RTM_GETROUTE, as `ip route get
//! PROBE from ADDR`: a lookup, no packet is sent), which interface traffic
//! from the address to the rest of the network leaves by; the address is
//! dropped when that interface is hipd's own TUN or one the policy would not
//! take addresses from (by default: a tunnel). The probe destination is a
//! documentation address that is not one of the host's ([`PROBES_V4`],
//! [`PROBES_V6`]), so the answer is what the default routes (of the tables
//! the rules pick for that source) say: the set is announced to every peer
//! alike, to new ones in the base exchange and in DNS, so it is a property of
//! the host, not of one peer's address. A specific route that sends only
//! some destinations from an address into a tunnel is not seen.
//!
//! A lookup that tells nothing (no route, an unreachable, blackhole,
//! prohibit or local answer, an error) keeps the address: it does not say
//! the traffic enters a tunnel, and a host without a default route (peers on
//! the link or behind specific routes) must still announce its addresses. If
//! every candidate is routed into another tunnel (a full-tunnel VPN: all of
//! the host's traffic goes there, from whichever address), they are all
//! kept, as before the check: announcing nothing would strand the peers and
//! the DNS records, and no address is better than another.
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkInfo, LinkLayerType, LinkMessage};
use netlink_packet_route::route::{RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};

/// Which interfaces may contribute locators (hipd.conf).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocatorPolicy {
    /// `locator_interfaces`: when non-empty, only these (a trailing `*`
    /// matches any suffix).
    pub include: Vec<String>,
    /// `locator_exclude`: never these.
    pub exclude: Vec<String>,
}

/// Parses `eth0, ens*` (comma or space separated interface names).
pub fn parse_interface_list(v: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = v
        .split([',', ' ', '\t'])
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        return Err("expected one or more interface names".into());
    }
    for n in &names {
        let stem = n.strip_suffix('*').unwrap_or(n);
        if stem.len() > 15
            || !stem
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.@".contains(&b))
        {
            return Err(format!("bad interface name {n:?}"));
        }
    }
    Ok(names)
}

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(stem) => name.starts_with(stem),
        None => pattern == name,
    }
}

/// One interface as rtnetlink describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    /// A tunnel or other virtual point-to-point device (see the module docs).
    pub tunnel: bool,
}

/// One address as rtnetlink describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAddr {
    pub addr: IpAddr,
    pub ifindex: u32,
    /// Tentative, DAD failed or deprecated: not to be announced.
    pub unusable: bool,
}

/// The addresses `policy` lets this host announce, in kernel order, without
/// duplicates: on `links` other than `tun`, usable as locators by the common
/// rules ([`crate::addr_watch::usable`]).
pub fn select(
    links: &HashMap<u32, Link>,
    addrs: &[LocalAddr],
    policy: &LocatorPolicy,
    tun: &str,
    lsi_prefix: (Ipv4Addr, u8),
) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for a in addrs {
        let Some(l) = links.get(&a.ifindex) else {
            continue;
        };
        if !accepted(l, policy, tun)
            || a.unusable
            || !crate::addr_watch::usable(a.addr, lsi_prefix)
            || out.contains(&a.addr)
        {
            continue;
        }
        out.push(a.addr);
    }
    out
}

/// May `policy` take addresses from `l` (and send their traffic through it)?
fn accepted(l: &Link, policy: &LocatorPolicy, tun: &str) -> bool {
    let wanted = if policy.include.is_empty() {
        !l.tunnel
    } else {
        policy.include.iter().any(|p| matches(p, &l.name))
    };
    wanted && l.name != tun && !policy.exclude.iter().any(|p| matches(p, &l.name))
}

/// Where the kernel sends traffic from one address to the probe destination
/// (the answer to RTM_GETROUTE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Egress {
    /// A unicast route out of this interface (ifindex).
    Dev(u32),
    /// No answer that names an interface: no route, an unreachable,
    /// blackhole, prohibit or local route, or the lookup failed.
    Unknown,
}

/// The `candidates` (from [`select`]) whose traffic, by `egress`, does not
/// enter hipd's own TUN or an interface `policy` does not accept (by
/// default a tunnel: see the module docs). An address without an answer is
/// kept; when the other tunnels would take every candidate, all of them are
/// kept but those routed into hipd's own TUN. Also says whether that
/// fallback applied.
pub fn route_check(
    candidates: &[IpAddr],
    egress: impl Fn(IpAddr) -> Egress,
    links: &HashMap<u32, Link>,
    policy: &LocatorPolicy,
    tun: &str,
) -> (Vec<IpAddr>, bool) {
    let mut kept = Vec::new();
    let mut other_tunnel = Vec::new();
    for &a in candidates {
        match egress(a) {
            Egress::Dev(i) => match links.get(&i) {
                Some(l) if l.name == tun => {}
                Some(l) if !accepted(l, policy, tun) => other_tunnel.push(a),
                _ => kept.push(a),
            },
            Egress::Unknown => kept.push(a),
        }
    }
    if kept.is_empty() && !other_tunnel.is_empty() {
        return (other_tunnel, true);
    }
    (kept, false)
}

/// Probe destinations of the route check (RFC 5737): the first that is not
/// one of the host's own addresses is used. Only looked up, never sent to.
pub const PROBES_V4: [Ipv4Addr; 3] = [
    Ipv4Addr::new(203, 0, 113, 254),
    Ipv4Addr::new(198, 51, 100, 254),
    Ipv4Addr::new(192, 0, 2, 254),
];

/// IPv6 probe destinations of the route check (RFC 3849).
pub const PROBES_V6: [Ipv6Addr; 3] = [
    Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1),
    Ipv6Addr::new(0x2001, 0xdb8, 0xfffe, 0, 0, 0, 0, 1),
    Ipv6Addr::new(0x2001, 0xdb8, 0xfffd, 0, 0, 0, 0, 1),
];

/// The probe destination for sources of `a`'s family, none of `own`.
pub fn probe_for(a: IpAddr, own: &[IpAddr]) -> Option<IpAddr> {
    let all: Vec<IpAddr> = if a.is_ipv4() {
        PROBES_V4.iter().map(|&p| p.into()).collect()
    } else {
        PROBES_V6.iter().map(|&p| p.into()).collect()
    };
    all.into_iter().find(|p| !own.contains(p))
}

/// The route check's full-tunnel fallback was logged (once per episode).
static FULL_TUNNEL_LOGGED: AtomicBool = AtomicBool::new(false);

/// The host's locators under `policy`, read from the kernel now, with the
/// route check of the module docs (empty if rtnetlink cannot be read; the
/// error is logged at debug level).
pub fn current(policy: &LocatorPolicy, tun: &str, lsi_prefix: (Ipv4Addr, u8)) -> Vec<IpAddr> {
    match scan(policy, tun, lsi_prefix) {
        Ok(v) => v,
        Err(e) => {
            tracing::debug!("reading addresses over rtnetlink: {e}");
            Vec::new()
        }
    }
}

/// Every address of the host but hipd's own TUN's, whatever the policy and
/// the routes (never a peer's locator), read from the kernel now.
pub fn host_addresses(tun: &str, lsi_prefix: (Ipv4Addr, u8)) -> Vec<IpAddr> {
    let all = LocatorPolicy {
        include: vec!["*".into()],
        exclude: vec![],
    };
    match dump() {
        Ok((links, addrs)) => select(&links, &addrs, &all, tun, lsi_prefix),
        Err(e) => {
            tracing::debug!("reading addresses over rtnetlink: {e}");
            Vec::new()
        }
    }
}

fn scan(
    policy: &LocatorPolicy,
    tun: &str,
    lsi_prefix: (Ipv4Addr, u8),
) -> std::io::Result<Vec<IpAddr>> {
    let mut s = open()?;
    let (links, addrs) = dump_on(&mut s)?;
    let candidates = select(&links, &addrs, policy, tun, lsi_prefix);
    let own: Vec<IpAddr> = addrs.iter().map(|a| a.addr).collect();
    // One round trip per candidate, answered before the next is asked.
    let mut answers = Vec::with_capacity(candidates.len());
    for (seq, &a) in (3u32..).zip(&candidates) {
        let e = match probe_for(a, &own) {
            Some(dst) => route_get(&mut s, a, dst, seq).unwrap_or_else(|e| {
                tracing::debug!(%a, "route lookup: {e}");
                Egress::Unknown
            }),
            None => Egress::Unknown,
        };
        answers.push((a, e));
    }
    let egress = |a: IpAddr| {
        answers
            .iter()
            .find(|(x, _)| *x == a)
            .map_or(Egress::Unknown, |(_, e)| *e)
    };
    let (out, fallback) = route_check(&candidates, egress, &links, policy, tun);
    if fallback {
        if !FULL_TUNNEL_LOGGED.swap(true, Ordering::Relaxed) {
            tracing::info!(
                addrs = ?out,
                "all traffic of the host is routed into another tunnel: announcing its addresses anyway"
            );
        }
    } else {
        FULL_TUNNEL_LOGGED.store(false, Ordering::Relaxed);
    }
    for a in candidates.iter().filter(|a| !out.contains(a)) {
        tracing::debug!(%a, "not announced: its traffic is routed into a tunnel");
    }
    Ok(out)
}

/// Asks the kernel where traffic from `src` to `dst` goes (RTM_GETROUTE
/// without NLM_F_DUMP, as `ip route get DST from SRC`; nothing is sent).
/// A netlink error answer (no route, for one) is [`Egress::Unknown`].
fn route_get(
    s: &mut netlink_sys::Socket,
    src: IpAddr,
    dst: IpAddr,
    seq: u32,
) -> std::io::Result<Egress> {
    let mut m = RouteMessage::default();
    let (family, len) = if src.is_ipv4() {
        (AddressFamily::Inet, 32)
    } else {
        (AddressFamily::Inet6, 128)
    };
    m.header.address_family = family;
    m.header.destination_prefix_length = len;
    m.header.source_prefix_length = len;
    m.attributes.push(RouteAttribute::Destination(dst.into()));
    m.attributes.push(RouteAttribute::Source(src.into()));
    let mut p = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::from(RouteNetlinkMessage::GetRoute(m)),
    );
    p.header.flags = NLM_F_REQUEST;
    p.header.sequence_number = seq;
    p.finalize();
    let mut out = vec![0u8; p.buffer_len()];
    p.serialize(&mut out);
    s.send(&out, 0)?;
    let mut buf = vec![0u8; 65536];
    // The answer is one message; anything else (late parts of another
    // request) is skipped, a bounded number of times.
    for _ in 0..16 {
        buf.clear();
        let n = s.recv(&mut buf, 0)?;
        let mut off = 0;
        while off < n {
            let m: NetlinkMessage<RouteNetlinkMessage> = NetlinkMessage::deserialize(&buf[off..n])
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
            let len = m.header.length as usize;
            if m.header.sequence_number == seq {
                return Ok(match m.payload {
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(r)) => egress_of(&r),
                    _ => Egress::Unknown,
                });
            }
            if len == 0 {
                break;
            }
            off += len;
        }
    }
    Err(std::io::Error::other("no answer to RTM_GETROUTE"))
}

fn egress_of(r: &RouteMessage) -> Egress {
    if r.header.kind != RouteType::Unicast {
        return Egress::Unknown;
    }
    r.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Oif(i) => Some(Egress::Dev(*i)),
            _ => None,
        })
        .unwrap_or(Egress::Unknown)
}

fn is_tunnel(m: &LinkMessage) -> bool {
    use LinkLayerType as T;
    // ARPHRD_IPGRE and ARPHRD_IP6GRE (if_arp.h) have no variant of their own.
    const ARPHRD_IPGRE: u16 = 778;
    const ARPHRD_IP6GRE: u16 = 823;
    let t = m.header.link_layer_type;
    let by_type = matches!(t, T::None | T::Tunnel | T::Tunnel6 | T::Sit | T::Loopback)
        || matches!(u16::from(t), ARPHRD_IPGRE | ARPHRD_IP6GRE);
    let by_kind = m.attributes.iter().any(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().any(|i| {
            matches!(
                i,
                LinkInfo::Kind(
                    InfoKind::Tun
                        | InfoKind::Wireguard
                        | InfoKind::IpIp
                        | InfoKind::Ip6Tnl
                        | InfoKind::SitTun
                        | InfoKind::GreTun
                        | InfoKind::GreTun6
                        | InfoKind::Vti
                        | InfoKind::Vti6
                        | InfoKind::Xfrm
                )
            )
        }),
        _ => false,
    });
    by_type || by_kind
}

fn link_of(m: &LinkMessage) -> Link {
    let name = m
        .attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        })
        .unwrap_or_default();
    Link {
        name,
        tunnel: is_tunnel(m),
    }
}

fn addr_of(m: &AddressMessage) -> Option<LocalAddr> {
    let mut addr = None;
    let mut local = None;
    // IFA_FLAGS (32 bits) supersedes the 8-bit header field when present.
    let mut flags = AddressFlags::from_bits_retain(u32::from(m.header.flags.bits()));
    for a in &m.attributes {
        match a {
            AddressAttribute::Address(x) => addr = Some(*x),
            AddressAttribute::Local(x) => local = Some(*x),
            AddressAttribute::Flags(f) => flags = *f,
            _ => {}
        }
    }
    // IPv4: IFA_LOCAL is the interface's own address (IFA_ADDRESS is the
    // peer's on point-to-point links); IPv6 has only IFA_ADDRESS.
    let addr = local.or(addr)?;
    let unusable = flags
        .intersects(AddressFlags::Tentative | AddressFlags::Dadfailed | AddressFlags::Deprecated);
    Some(LocalAddr {
        addr,
        ifindex: m.header.index,
        unusable,
    })
}

/// Dumps links and addresses over a fresh rtnetlink socket.
pub fn dump() -> std::io::Result<(HashMap<u32, Link>, Vec<LocalAddr>)> {
    dump_on(&mut open()?)
}

fn open() -> std::io::Result<netlink_sys::Socket> {
    use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
    let mut s = Socket::new(NETLINK_ROUTE)?;
    s.bind_auto()?;
    s.connect(&SocketAddr::new(0, 0))?;
    Ok(s)
}

fn dump_on(s: &mut netlink_sys::Socket) -> std::io::Result<(HashMap<u32, Link>, Vec<LocalAddr>)> {
    let mut links = HashMap::new();
    let mut addrs = Vec::new();
    request(
        s,
        RouteNetlinkMessage::GetLink(LinkMessage::default()),
        1,
        |m| {
            if let RouteNetlinkMessage::NewLink(l) = m {
                links.insert(l.header.index, link_of(&l));
            }
        },
    )?;
    request(
        s,
        RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        2,
        |m| {
            if let RouteNetlinkMessage::NewAddress(a) = m {
                addrs.extend(addr_of(&a));
            }
        },
    )?;
    Ok((links, addrs))
}

/// Most messages one dump may return before it is cut short.
const DUMP_LIMIT: usize = 100_000;

fn request(
    s: &mut netlink_sys::Socket,
    msg: RouteNetlinkMessage,
    seq: u32,
    mut each: impl FnMut(RouteNetlinkMessage),
) -> std::io::Result<()> {
    let mut p = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(msg));
    p.header.flags = NLM_F_DUMP | NLM_F_REQUEST;
    p.header.sequence_number = seq;
    p.finalize();
    let mut out = vec![0u8; p.buffer_len()];
    p.serialize(&mut out);
    s.send(&out, 0)?;
    let mut buf = vec![0u8; 65536];
    let mut seen = 0;
    loop {
        buf.clear();
        let n = s.recv(&mut buf, 0)?;
        let mut off = 0;
        while off < n {
            let m: NetlinkMessage<RouteNetlinkMessage> = NetlinkMessage::deserialize(&buf[off..n])
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
            let len = m.header.length as usize;
            match m.payload {
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(e) => {
                    return Err(std::io::Error::other(format!("rtnetlink: {e:?}")))
                }
                NetlinkPayload::InnerMessage(inner) => each(inner),
                _ => {}
            }
            seen += 1;
            if len == 0 || seen > DUMP_LIMIT {
                return Err(std::io::Error::other("rtnetlink dump did not end"));
            }
            off += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LSI: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 19, 0, 0), 16);

    fn links() -> HashMap<u32, Link> {
        [
            (1, "lo", true),
            (2, "eth0", false),
            (3, "tun0", true),
            (4, "wg0", true),
            (5, "hip0", true),
            (6, "ens5", false),
        ]
        .into_iter()
        .map(|(i, n, t)| {
            (
                i,
                Link {
                    name: n.into(),
                    tunnel: t,
                },
            )
        })
        .collect()
    }

    fn a(s: &str, ifindex: u32, unusable: bool) -> LocalAddr {
        LocalAddr {
            addr: s.parse().unwrap(),
            ifindex,
            unusable,
        }
    }

    fn addrs() -> Vec<LocalAddr> {
        vec![
            a("127.0.0.1", 1, false),
            a("192.0.2.1", 2, false),
            a("2001:db8::1", 2, false),
            a("2001:db8::99", 2, true),
            a("198.51.100.7", 3, false),
            a("203.0.113.9", 4, false),
            a("2001:db8:5::1", 6, false),
            a("192.0.2.1", 6, false),
        ]
    }

    #[test]
    fn default_policy_takes_physical_interfaces_only() {
        let got = select(&links(), &addrs(), &LocatorPolicy::default(), "hip0", LSI);
        let want: Vec<IpAddr> = ["192.0.2.1", "2001:db8::1", "2001:db8:5::1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(got, want, "no tunnel, tentative, loopback or duplicate");
    }

    #[test]
    fn include_and_exclude_lists() {
        let p = LocatorPolicy {
            include: vec!["tun*".into(), "eth0".into()],
            exclude: vec![],
        };
        let got = select(&links(), &addrs(), &p, "hip0", LSI);
        assert!(
            got.contains(&"198.51.100.7".parse().unwrap()),
            "named: {got:?}"
        );
        assert!(!got.contains(&"2001:db8:5::1".parse().unwrap()));
        let p = LocatorPolicy {
            include: vec![],
            exclude: vec!["eth*".into()],
        };
        let got = select(&links(), &addrs(), &p, "hip0", LSI);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got
            .iter()
            .all(|x| *x != "2001:db8::1".parse::<IpAddr>().unwrap()));
        // Even when named, hipd's own TUN never contributes.
        let p = LocatorPolicy {
            include: vec!["hip0".into()],
            exclude: vec![],
        };
        let mut l = links();
        l.insert(
            7,
            Link {
                name: "hip0".into(),
                tunnel: false,
            },
        );
        assert!(select(&l, &[a("192.0.2.77", 7, false)], &p, "hip0", LSI).is_empty());
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Fabricated RTM_GETROUTE answers: `eth0` (2), `tun0` (3, another
    /// tunnel), `hip0` (5, hipd's own), `ens5` (6).
    fn answers(a: IpAddr) -> Egress {
        match a.to_string().as_str() {
            "192.0.2.1" | "2001:db8:5::1" => Egress::Dev(2),
            "198.51.100.9" | "2001:db8::9" => Egress::Dev(3),
            "203.0.113.5" => Egress::Dev(5),
            "203.0.113.6" => Egress::Dev(6),
            "203.0.113.7" => Egress::Dev(99),
            _ => Egress::Unknown,
        }
    }

    #[test]
    fn addresses_routed_into_a_tunnel_are_dropped() {
        let c: Vec<IpAddr> = [
            "192.0.2.1",
            "198.51.100.9",
            "2001:db8::9",
            "2001:db8:5::1",
            "203.0.113.5",
            "203.0.113.6",
        ]
        .iter()
        .map(|s| ip(s))
        .collect();
        let (got, fallback) = route_check(&c, answers, &links(), &LocatorPolicy::default(), "hip0");
        assert_eq!(
            got,
            vec![ip("192.0.2.1"), ip("2001:db8:5::1"), ip("203.0.113.6")],
            "out by another tunnel or hipd's own TUN: dropped"
        );
        assert!(!fallback);
    }

    #[test]
    fn lookups_that_tell_nothing_keep_the_address() {
        // No route / unreachable / error, and an interface the links dump
        // does not know (it appeared after the dump): kept.
        let c = vec![ip("192.0.2.77"), ip("2001:db8::77"), ip("203.0.113.7")];
        let (got, fallback) = route_check(&c, answers, &links(), &LocatorPolicy::default(), "hip0");
        assert_eq!(got, c);
        assert!(!fallback);
        // Nothing to check: nothing announced, no fallback.
        let (got, fallback) =
            route_check(&[], answers, &links(), &LocatorPolicy::default(), "hip0");
        assert!(got.is_empty() && !fallback);
    }

    #[test]
    fn a_full_tunnel_keeps_the_addresses_but_never_into_our_own_tun() {
        // Every candidate out by tun0 (a full-tunnel VPN): kept, flagged.
        let c = vec![ip("198.51.100.9"), ip("2001:db8::9")];
        let (got, fallback) = route_check(&c, answers, &links(), &LocatorPolicy::default(), "hip0");
        assert_eq!(got, c);
        assert!(fallback);
        // One routed into hipd's own TUN is never kept, not even then.
        let c = vec![ip("198.51.100.9"), ip("203.0.113.5")];
        let (got, fallback) = route_check(&c, answers, &links(), &LocatorPolicy::default(), "hip0");
        assert_eq!(got, vec![ip("198.51.100.9")]);
        assert!(fallback);
        let (got, _) = route_check(
            &[ip("203.0.113.5")],
            answers,
            &links(),
            &LocatorPolicy::default(),
            "hip0",
        );
        assert!(got.is_empty());
    }

    #[test]
    fn the_policy_decides_which_egress_interfaces_are_fine() {
        let c = vec![ip("192.0.2.1"), ip("198.51.100.9"), ip("203.0.113.6")];
        // Naming the tunnel accepts traffic through it.
        let p = LocatorPolicy {
            include: vec!["eth0".into(), "tun0".into(), "ens5".into()],
            exclude: vec![],
        };
        let (got, _) = route_check(&c, answers, &links(), &p, "hip0");
        assert_eq!(got, c);
        // Excluding an interface also refuses traffic routed out by it.
        let p = LocatorPolicy {
            include: vec![],
            exclude: vec!["ens*".into()],
        };
        let (got, _) = route_check(&c, answers, &links(), &p, "hip0");
        assert_eq!(got, vec![ip("192.0.2.1")]);
    }

    #[test]
    fn the_probe_is_never_an_own_address() {
        assert_eq!(probe_for(ip("192.0.2.1"), &[]), Some(PROBES_V4[0].into()));
        let own: Vec<IpAddr> = vec![PROBES_V4[0].into(), PROBES_V6[0].into()];
        assert_eq!(probe_for(ip("192.0.2.1"), &own), Some(PROBES_V4[1].into()));
        assert_eq!(
            probe_for(ip("2001:db8::1"), &own),
            Some(PROBES_V6[1].into())
        );
        let all: Vec<IpAddr> = PROBES_V4.iter().map(|&p| p.into()).collect();
        assert_eq!(probe_for(ip("192.0.2.1"), &all), None);
        assert!(PROBES_V4
            .iter()
            .all(|p| crate::addr_watch::usable((*p).into(), LSI)));
    }

    #[test]
    fn interface_lists_parse() {
        assert_eq!(
            parse_interface_list("eth0, ens*  wlan0").unwrap(),
            vec!["eth0", "ens*", "wlan0"]
        );
        assert!(parse_interface_list(" , ").is_err());
        assert!(parse_interface_list("eth0;rm").is_err());
        assert!(parse_interface_list("a-very-long-interface-name").is_err());
    }

    /// A real RTM_GETROUTE round trip: the answer for a loopback address is
    /// parsed (a local route: no interface to judge).
    #[test]
    fn route_get_reads_the_kernel_answer() {
        let mut s = open().expect("rtnetlink");
        let e = route_get(&mut s, ip("127.0.0.1"), ip("127.0.0.2"), 7);
        assert_eq!(e.ok(), Some(Egress::Unknown));
        // The socket still answers the next request in order.
        let (links, _) = dump_on(&mut s).expect("dump after a lookup");
        assert!(links.values().any(|l| l.name == "lo"));
    }

    /// The real kernel dump parses and finds at least the loopback device.
    #[test]
    fn dump_reads_the_kernel_tables() {
        let (links, _addrs) = dump().expect("rtnetlink dump");
        assert!(links.values().any(|l| l.name == "lo" && l.tunnel));
    }
}
