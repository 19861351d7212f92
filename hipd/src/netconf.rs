//! Addresses and routes on the TUN device, set over rtnetlink (no `ip(8)`
//! child process): the link up with MTU 1400, every local HIT as a /128, the
//! ORCHID prefixes 2001:20::/28 (RFC 7343) and 2001:10::/28 (RFC 4843), the
//! local LSI as a /32 (RFC 5338 section 3), and one /32 route per assigned
//! peer LSI ([`Netconf`]).
//!
//! Only assigned LSIs are routed into the TUN: RFC 5338 section 3 lets an LSI
//! prefix be any IPv4 range the host does not otherwise use, and HIPL's
//! 1.0.0.0/8 (a setting, `lsi_prefix = 1.0.0.0/8`) is public address space;
//! routing the whole prefix would pull traffic for, say, 1.1.1.1 into hipd.
//!
//! Requests carry NLM_F_REQUEST|NLM_F_ACK (with NLM_F_CREATE|NLM_F_REPLACE
//! when adding, as `ip ... replace` does) and the kernel's NLMSG_ERROR
//! acknowledgement is read back: code 0 is success, a negative errno a
//! failure, reported with the operation, the address and the device.
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// ORCHID prefixes routed into the TUN (RFC 7343 ORCHIDv2, RFC 4843 ORCHIDv1).
pub const ORCHID_PREFIXES: [(Ipv6Addr, u8); 2] = [
    (Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0), 28),
    (Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0), 28),
];

/// MTU of the TUN device: room for the ESP, UDP and outer IP headers below
/// a 1500-byte path.
pub const TUN_MTU: u32 = 1400;

/// How long an acknowledgement may take before the request counts as failed.
const ACK_TIMEOUT: Duration = Duration::from_secs(2);

/// Most messages read while waiting for one acknowledgement.
const ACK_READ_LIMIT: usize = 1000;

/// errno values an idempotent delete ignores: no such route.
const ESRCH: i32 = libc::ESRCH;
const ENOENT: i32 = libc::ENOENT;

/// The interface index of `dev`, or an error naming it.
pub fn ifindex(dev: &str) -> Result<u32, String> {
    let c = std::ffi::CString::new(dev).map_err(|_| format!("bad device name {dev:?}"))?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        Err(format!("device {dev}: {}", std::io::Error::last_os_error()))
    } else {
        Ok(i)
    }
}

/// RTM_SETLINK: `ifindex` up with `mtu` (`ip link set dev D mtu M up`).
pub fn link_up_message(ifindex: u32, mtu: u32) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = ifindex;
    m.header.flags = LinkFlags::Up;
    m.header.change_mask = LinkFlags::Up;
    m.attributes.push(LinkAttribute::Mtu(mtu));
    RouteNetlinkMessage::SetLink(m)
}

/// RTM_NEWADDR: `addr/prefix_len` on `ifindex`. IPv6 addresses get
/// IFA_F_NODAD (a HIT is unique by construction, RFC 7401 section 3, and
/// the TUN has no link to probe); IPv4 ones IFA_LOCAL and IFA_ADDRESS, as
/// `ip addr add` sends them.
pub fn address_message(ifindex: u32, addr: IpAddr, prefix_len: u8) -> RouteNetlinkMessage {
    let mut m = AddressMessage::default();
    m.header.index = ifindex;
    m.header.prefix_len = prefix_len;
    m.header.scope = AddressScope::Universe;
    match addr {
        IpAddr::V4(_) => {
            m.header.family = AddressFamily::Inet;
            m.attributes.push(AddressAttribute::Local(addr));
            m.attributes.push(AddressAttribute::Address(addr));
        }
        IpAddr::V6(_) => {
            m.header.family = AddressFamily::Inet6;
            m.header.flags = AddressHeaderFlags::Nodad;
            m.attributes.push(AddressAttribute::Address(addr));
            m.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
    }
    RouteNetlinkMessage::NewAddress(m)
}

/// RTM_NEWROUTE (`add`) or RTM_DELROUTE: `dst/prefix_len` out of `ifindex`
/// in the main table, scope link, with preferred source `src` when given.
/// A delete leaves protocol, scope and type open, as `ip route del` does,
/// so that it matches the route whoever added it.
pub fn route_message(
    add: bool,
    ifindex: u32,
    dst: IpAddr,
    prefix_len: u8,
    src: Option<IpAddr>,
) -> RouteNetlinkMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = match dst {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    m.header.destination_prefix_length = prefix_len;
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    if add {
        m.header.protocol = RouteProtocol::Static;
        m.header.scope = RouteScope::Link;
        m.header.kind = RouteType::Unicast;
    } else {
        m.header.protocol = RouteProtocol::Unspec;
        m.header.scope = RouteScope::NoWhere;
        m.header.kind = RouteType::Unspec;
    }
    m.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(dst)));
    if let Some(s) = src {
        m.attributes
            .push(RouteAttribute::PrefSource(RouteAddress::from(s)));
    }
    m.attributes.push(RouteAttribute::Oif(ifindex));
    if add {
        RouteNetlinkMessage::NewRoute(m)
    } else {
        RouteNetlinkMessage::DelRoute(m)
    }
}

/// The netlink flags for `msg`: every request is acknowledged; additions
/// create or replace (idempotent, as `ip addr replace` / `ip route replace`).
pub fn request_flags(msg: &RouteNetlinkMessage) -> u16 {
    match msg {
        RouteNetlinkMessage::NewAddress(_) | RouteNetlinkMessage::NewRoute(_) => {
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
        }
        _ => NLM_F_REQUEST | NLM_F_ACK,
    }
}

/// `msg` framed as one netlink message with sequence number `seq`.
pub fn frame(msg: RouteNetlinkMessage, seq: u32) -> Vec<u8> {
    let flags = request_flags(&msg);
    let mut p = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(msg));
    p.header.flags = flags;
    p.header.sequence_number = seq;
    p.finalize();
    let mut out = vec![0u8; p.buffer_len()];
    p.serialize(&mut out);
    out
}

/// One rtnetlink socket for acknowledged requests, reused across many.
pub struct Rtnl {
    sock: netlink_sys::Socket,
    seq: u32,
    /// A send or receive failed: the socket is to be replaced.
    broken: bool,
}

impl Rtnl {
    /// Opens and connects a NETLINK_ROUTE socket with a receive timeout.
    pub fn open() -> std::io::Result<Self> {
        use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
        use std::os::fd::AsRawFd;
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        let tv = libc::timeval {
            tv_sec: ACK_TIMEOUT.as_secs() as libc::time_t,
            tv_usec: 0,
        };
        // SAFETY: a valid socket descriptor and a timeval of the right size.
        let r = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Rtnl {
            sock,
            seq: 0,
            broken: false,
        })
    }

    /// Sends `msg` and waits for its acknowledgement: `Ok(0)` on success,
    /// `Ok(errno)` (positive) when the kernel refused, `Err` when the socket
    /// failed or no acknowledgement came.
    pub fn request(&mut self, msg: RouteNetlinkMessage) -> std::io::Result<i32> {
        let r = self.exchange(msg);
        self.broken |= r.is_err();
        r
    }

    /// Whether a request failed on the socket itself (not a kernel refusal).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    fn exchange(&mut self, msg: RouteNetlinkMessage) -> std::io::Result<i32> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        self.sock.send(&frame(msg, seq), 0)?;
        let mut buf = Vec::with_capacity(65536);
        for _ in 0..ACK_READ_LIMIT {
            buf.clear();
            let n = self.sock.recv(&mut buf, 0)?;
            let mut off = 0;
            while off < n {
                let m: NetlinkMessage<RouteNetlinkMessage> =
                    NetlinkMessage::deserialize(&buf[off..n]).map_err(|e| {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
                    })?;
                let len = m.header.length as usize;
                if m.header.sequence_number == seq {
                    if let NetlinkPayload::Error(e) = m.payload {
                        return Ok(e.raw_code().saturating_abs());
                    }
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
        Err(std::io::Error::other("no rtnetlink acknowledgement"))
    }

    /// [`Self::request`] with failures as one error string: `what` names the
    /// operation, address and device; `ignore` lists errno values that count
    /// as success.
    pub fn run(
        &mut self,
        msg: RouteNetlinkMessage,
        what: impl FnOnce() -> String,
        ignore: &[i32],
    ) -> Result<(), String> {
        match self.request(msg) {
            Ok(0) => Ok(()),
            Ok(e) if ignore.contains(&e) => Ok(()),
            Ok(e) => Err(format!(
                "{}: {}",
                what(),
                std::io::Error::from_raw_os_error(e)
            )),
            Err(e) => Err(format!("{}: rtnetlink: {e}", what())),
        }
    }
}

/// Brings `dev` up with MTU [`TUN_MTU`] and assigns the HITs (/128), the
/// ORCHID routes and the local LSI (/32; peer LSIs get routes of their own,
/// [`Netconf::add_peer_route`]), over one rtnetlink socket.
pub fn configure(dev: &str, hits: &[Ipv6Addr], lsi: Ipv4Addr) -> Result<(), String> {
    let idx = ifindex(dev)?;
    let mut nl = Rtnl::open().map_err(|e| format!("rtnetlink socket: {e}"))?;
    nl.run(
        link_up_message(idx, TUN_MTU),
        || format!("setting {dev} up with MTU {TUN_MTU}"),
        &[],
    )?;
    for h in hits {
        add_address(&mut nl, dev, idx, IpAddr::V6(*h), 128)?;
    }
    for (p, len) in ORCHID_PREFIXES {
        nl.run(
            route_message(true, idx, IpAddr::V6(p), len, None),
            || format!("adding route {p}/{len} dev {dev}"),
            &[],
        )?;
    }
    add_address(&mut nl, dev, idx, IpAddr::V4(lsi), 32)
}

fn add_address(nl: &mut Rtnl, dev: &str, idx: u32, a: IpAddr, len: u8) -> Result<(), String> {
    nl.run(
        address_message(idx, a, len),
        || format!("adding address {a}/{len} to {dev}"),
        &[],
    )
}

/// Removes the ORCHID routes (best effort; returns the first error). The
/// addresses and the LSI routes go with the device, which disappears when
/// its (non-persistent) TUN descriptor is closed by the caller.
pub fn teardown(dev: &str) -> Result<(), String> {
    let idx = ifindex(dev)?;
    let mut nl = Rtnl::open().map_err(|e| format!("rtnetlink socket: {e}"))?;
    let mut first = Ok(());
    for (p, len) in ORCHID_PREFIXES {
        if let Err(e) = nl.run(
            route_message(false, idx, IpAddr::V6(p), len, None),
            || format!("deleting route {p}/{len} dev {dev}"),
            &[ESRCH, ENOENT],
        ) {
            first = first.and(Err(e));
        }
    }
    first
}

/// The TUN's configuration while hipd runs, owned by the control actor: a
/// HIT added later (`hipconf daemon new hi`) and a /32 route for each peer
/// LSI (RFC 5338), added when the peer is and removed with it. One
/// rtnetlink socket, opened on first use, serves every request; route
/// changes are idempotent, and a failure is logged (one warning) and
/// counted, never fatal.
pub struct Netconf {
    dev: String,
    local_lsi: Ipv4Addr,
    nl: Option<Rtnl>,
    ifindex: Option<u32>,
}

impl Netconf {
    /// For device `dev`, whose address `local_lsi` is the LSI routes' source.
    pub fn new(dev: &str, local_lsi: Ipv4Addr) -> Self {
        Netconf {
            dev: dev.to_string(),
            local_lsi,
            nl: None,
            ifindex: None,
        }
    }

    /// The socket and the device's index, opened or looked up once.
    fn handle(&mut self) -> Result<(&mut Rtnl, u32), String> {
        let idx = match self.ifindex {
            Some(i) => i,
            None => {
                let i = ifindex(&self.dev)?;
                self.ifindex = Some(i);
                i
            }
        };
        if self.nl.is_none() {
            self.nl = Some(Rtnl::open().map_err(|e| format!("rtnetlink socket: {e}"))?);
        }
        match self.nl.as_mut() {
            Some(nl) => Ok((nl, idx)),
            None => Err("rtnetlink socket: not open".into()),
        }
    }

    /// A socket that failed is reopened (and the device looked up again)
    /// on the next request.
    fn forget_on_socket_error(&mut self) {
        if self.nl.as_ref().is_some_and(Rtnl::is_broken) {
            self.nl = None;
            self.ifindex = None;
        }
    }

    /// Adds `hit/128` (no DAD) to the device.
    pub fn add_hit(&mut self, hit: Ipv6Addr) -> Result<(), String> {
        let dev = self.dev.clone();
        let r = self
            .handle()
            .and_then(|(nl, idx)| add_address(nl, &dev, idx, IpAddr::V6(hit), 128));
        self.forget_on_socket_error();
        r
    }

    fn route(&mut self, add: bool, lsi: Ipv4Addr) -> Result<(), String> {
        let dev = self.dev.clone();
        let src = IpAddr::V4(self.local_lsi);
        let r = self.handle().and_then(|(nl, idx)| {
            if add {
                nl.run(
                    route_message(true, idx, IpAddr::V4(lsi), 32, Some(src)),
                    || format!("adding route {lsi}/32 dev {dev}"),
                    &[libc::EEXIST],
                )
            } else {
                nl.run(
                    route_message(false, idx, IpAddr::V4(lsi), 32, None),
                    || format!("deleting route {lsi}/32 dev {dev}"),
                    &[ESRCH, ENOENT],
                )
            }
        });
        self.forget_on_socket_error();
        r
    }

    /// Routes peer LSI `lsi` (/32) into the TUN; `false` (logged, counted in
    /// `failed`) when that failed. Adding an existing route succeeds.
    pub fn add_peer_route(&mut self, lsi: Ipv4Addr, failed: &AtomicU64) -> bool {
        report(self.route(true, lsi), failed)
    }

    /// Removes the route of peer LSI `lsi`; `false` (logged, counted in
    /// `failed`) when that failed. Removing a missing route succeeds.
    pub fn remove_peer_route(&mut self, lsi: Ipv4Addr, failed: &AtomicU64) -> bool {
        report(self.route(false, lsi), failed)
    }

    /// Routes every LSI of `lsis` over the one socket; returns how many
    /// failed (each logged and counted in `failed`).
    pub fn add_peer_routes(
        &mut self,
        lsis: impl IntoIterator<Item = Ipv4Addr>,
        failed: &AtomicU64,
    ) -> usize {
        lsis.into_iter()
            .filter(|l| !self.add_peer_route(*l, failed))
            .count()
    }
}

/// `true` for success; a failure is counted in `failed` and logged (one line).
fn report(r: Result<(), String>, failed: &AtomicU64) -> bool {
    match r {
        Ok(()) => true,
        Err(e) => {
            crate::stats::inc(failed);
            tracing::warn!("LSI route: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &[u8]) -> NetlinkMessage<RouteNetlinkMessage> {
        let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(b).expect("parses");
        assert_eq!(m.header.length as usize, b.len());
        m
    }

    fn inner(m: NetlinkMessage<RouteNetlinkMessage>) -> RouteNetlinkMessage {
        match m.payload {
            NetlinkPayload::InnerMessage(i) => i,
            p => panic!("not an inner message: {p:?}"),
        }
    }

    #[test]
    fn link_up_sets_the_up_flag_and_mtu_only() {
        let b = frame(link_up_message(7, 1400), 3);
        // struct nlmsghdr: type RTM_SETLINK (19), flags REQUEST|ACK.
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), 19);
        assert_eq!(u16::from_ne_bytes([b[6], b[7]]), NLM_F_REQUEST | NLM_F_ACK);
        let m = parse(&b);
        assert_eq!(m.header.sequence_number, 3);
        let RouteNetlinkMessage::SetLink(l) = inner(m) else {
            panic!("not SETLINK")
        };
        assert_eq!(l.header.index, 7);
        assert_eq!(l.header.flags, LinkFlags::Up);
        assert_eq!(l.header.change_mask, LinkFlags::Up);
        assert_eq!(l.attributes, vec![LinkAttribute::Mtu(1400)]);
    }

    #[test]
    fn hit_address_is_a_128_without_dad() {
        let hit: Ipv6Addr = "2001:20::1".parse().unwrap();
        let b = frame(address_message(5, IpAddr::V6(hit), 128), 1);
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), 20, "RTM_NEWADDR");
        assert_eq!(
            u16::from_ne_bytes([b[6], b[7]]),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
        );
        let RouteNetlinkMessage::NewAddress(a) = inner(parse(&b)) else {
            panic!("not NEWADDR")
        };
        assert_eq!(a.header.family, AddressFamily::Inet6);
        assert_eq!((a.header.prefix_len, a.header.index), (128, 5));
        assert!(a.header.flags.contains(AddressHeaderFlags::Nodad));
        assert!(a
            .attributes
            .contains(&AddressAttribute::Address(IpAddr::V6(hit))));
        assert!(a
            .attributes
            .contains(&AddressAttribute::Flags(AddressFlags::Nodad)));
    }

    #[test]
    fn lsi_address_is_a_32_with_local_and_address() {
        let lsi = IpAddr::V4(Ipv4Addr::new(198, 19, 0, 1));
        let RouteNetlinkMessage::NewAddress(a) =
            inner(parse(&frame(address_message(5, lsi, 32), 1)))
        else {
            panic!("not NEWADDR")
        };
        assert_eq!(a.header.family, AddressFamily::Inet);
        assert_eq!(
            a.header.prefix_len, 32,
            "only the LSI itself, not the prefix"
        );
        assert!(a.attributes.contains(&AddressAttribute::Local(lsi)));
        assert!(a.attributes.contains(&AddressAttribute::Address(lsi)));
    }

    #[test]
    fn lsi_route_add_is_a_replacing_link_scope_host_route() {
        let lsi = IpAddr::V4(Ipv4Addr::new(1, 0, 0, 2));
        let src = IpAddr::V4(Ipv4Addr::new(1, 0, 0, 1));
        let b = frame(route_message(true, 9, lsi, 32, Some(src)), 4);
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), 24, "RTM_NEWROUTE");
        assert_eq!(
            u16::from_ne_bytes([b[6], b[7]]),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
        );
        // struct rtmsg after the 16-byte nlmsghdr: family, dst_len, src_len,
        // tos, table, protocol, scope, type.
        assert_eq!(&b[16..24], &[2, 32, 0, 0, 254, 4, 253, 1]);
        let RouteNetlinkMessage::NewRoute(r) = inner(parse(&b)) else {
            panic!("not NEWROUTE")
        };
        assert!(r
            .attributes
            .contains(&RouteAttribute::Destination(RouteAddress::from(lsi))));
        assert!(r
            .attributes
            .contains(&RouteAttribute::PrefSource(RouteAddress::from(src))));
        assert!(r.attributes.contains(&RouteAttribute::Oif(9)));
    }

    #[test]
    fn route_delete_matches_any_protocol_scope_and_type() {
        let lsi = IpAddr::V4(Ipv4Addr::new(1, 0, 0, 2));
        let b = frame(route_message(false, 9, lsi, 32, None), 5);
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), 25, "RTM_DELROUTE");
        assert_eq!(u16::from_ne_bytes([b[6], b[7]]), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(&b[16..24], &[2, 32, 0, 0, 254, 0, 255, 0]);
    }

    #[test]
    fn orchid_routes_are_ipv6_28s() {
        for (p, len) in ORCHID_PREFIXES {
            let b = frame(route_message(true, 3, IpAddr::V6(p), len, None), 1);
            assert_eq!((b[16], b[17]), (libc::AF_INET6 as u8, 28));
        }
    }

    #[test]
    fn unknown_devices_and_bad_names_are_errors() {
        assert!(ifindex("no-such-dev0")
            .unwrap_err()
            .contains("no-such-dev0"));
        assert!(ifindex("a\0b").is_err());
        let mut n = Netconf::new("no-such-dev0", Ipv4Addr::new(198, 19, 0, 1));
        let failed = AtomicU64::new(0);
        assert!(!n.add_peer_route(Ipv4Addr::new(198, 19, 0, 2), &failed));
        assert_eq!(
            n.add_peer_routes([Ipv4Addr::new(198, 19, 0, 3)], &failed),
            1
        );
        assert_eq!(failed.load(std::sync::atomic::Ordering::Relaxed), 2);
        assert!(n.add_hit("2001:20::1".parse().unwrap()).is_err());
    }

    /// The kernel acknowledges over the socket: deleting a route that does
    /// not exist on the loopback device is refused with ESRCH, which the
    /// idempotent delete ignores.
    #[test]
    fn kernel_acknowledgements_are_read() {
        let Ok(mut nl) = Rtnl::open() else { return };
        let lo = ifindex("lo").expect("lo");
        let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254));
        let e = nl
            .request(route_message(false, lo, dst, 32, None))
            .expect("acknowledged");
        if e == libc::EPERM {
            return; // not root: the acknowledgement was still read
        }
        assert!(e == ESRCH || e == ENOENT, "errno {e}");
        nl.run(
            route_message(false, lo, dst, 32, None),
            String::new,
            &[ESRCH, ENOENT],
        )
        .expect("ignored");
        let err = nl
            .run(
                route_message(false, lo, dst, 32, None),
                || "deleting x".into(),
                &[],
            )
            .unwrap_err();
        assert!(err.starts_with("deleting x: "), "{err}");
    }
}
