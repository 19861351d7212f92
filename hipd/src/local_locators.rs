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
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkInfo, LinkLayerType, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

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
        let wanted = if policy.include.is_empty() {
            !l.tunnel
        } else {
            policy.include.iter().any(|p| matches(p, &l.name))
        };
        if !wanted
            || l.name == tun
            || a.unusable
            || policy.exclude.iter().any(|p| matches(p, &l.name))
            || !crate::addr_watch::usable(a.addr, lsi_prefix)
            || out.contains(&a.addr)
        {
            continue;
        }
        out.push(a.addr);
    }
    out
}

/// The host's locators under `policy`, read from the kernel now (empty if
/// rtnetlink cannot be read; the error is logged at debug level).
pub fn current(policy: &LocatorPolicy, tun: &str, lsi_prefix: (Ipv4Addr, u8)) -> Vec<IpAddr> {
    match dump() {
        Ok((links, addrs)) => select(&links, &addrs, policy, tun, lsi_prefix),
        Err(e) => {
            tracing::debug!("reading addresses over rtnetlink: {e}");
            Vec::new()
        }
    }
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
    use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
    let mut s = Socket::new(NETLINK_ROUTE)?;
    s.bind_auto()?;
    s.connect(&SocketAddr::new(0, 0))?;
    let mut links = HashMap::new();
    let mut addrs = Vec::new();
    request(
        &mut s,
        RouteNetlinkMessage::GetLink(LinkMessage::default()),
        1,
        |m| {
            if let RouteNetlinkMessage::NewLink(l) = m {
                links.insert(l.header.index, link_of(&l));
            }
        },
    )?;
    request(
        &mut s,
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

    /// The real kernel dump parses and finds at least the loopback device.
    #[test]
    fn dump_reads_the_kernel_tables() {
        let (links, _addrs) = dump().expect("rtnetlink dump");
        assert!(links.values().any(|l| l.name == "lo" && l.tunnel));
    }
}
