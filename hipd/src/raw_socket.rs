//! Raw IP sockets for HIP (IP protocol 139, RFC 7401 section 5) and ESP (50,
//! RFC 4303) over IPv4 and IPv6 locators, and the UDP port 10500 (RFC 5770).
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;

/// IANA protocol number of HIP.
pub const IPPROTO_HIP: i32 = 139;
/// IANA protocol number of ESP.
pub const IPPROTO_ESP: i32 = 50;
/// HIP over UDP port (RFC 5770 section 5.1).
pub const HIP_UDP_PORT: u16 = 10500;

/// A non-blocking raw socket for one (family, protocol).
pub struct RawSocket {
    fd: AsyncFd<OwnedFd>,
    v6: bool,
}

impl RawSocket {
    /// Opens a raw socket (IP_HDRINCL off: the kernel writes the IP header).
    pub fn open(v6: bool, proto: i32) -> std::io::Result<Self> {
        let fam = if v6 { libc::AF_INET6 } else { libc::AF_INET };
        // SAFETY: plain socket(2).
        let raw = unsafe {
            libc::socket(
                fam,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                proto,
            )
        };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fresh owned descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        if v6 {
            // IPv6 raw sockets deliver no header: the destination comes with
            // IPV6_PKTINFO.
            recv_pktinfo6(fd.as_raw_fd())?;
        }
        set_receive_buffer(fd.as_raw_fd(), RECEIVE_BUFFER);
        // SAFETY: the OwnedFd is moved into the AsyncFd and closed only when it drops.
        let fd = unsafe { AsyncFd::register(fd)? };
        Ok(RawSocket { fd, v6 })
    }

    /// Receives one packet into `buf`; returns where the payload after the IP
    /// header is, the source, and the destination (IPv4 raw sockets deliver
    /// the IP header, which tells it; IPv6 ones the IPV6_PKTINFO message).
    pub async fn recv(
        &self,
        buf: &mut [u8],
    ) -> std::io::Result<(std::ops::Range<usize>, IpAddr, Option<IpAddr>)> {
        let (n, src, dst6) = loop {
            let mut g = self.fd.readable().await?;
            let r = g.try_io(|f| recv_with_pktinfo(f.as_raw_fd(), buf));
            match r {
                Ok(r) => break r?,
                Err(_) => continue,
            }
        };
        let src = src.ip();
        let pkt = &buf[..n];
        if self.v6 {
            return Ok((0..n, src, dst6.map(IpAddr::V6)));
        }
        let ihl = pkt.first().map(|b| usize::from(b & 0x0f) * 4).unwrap_or(0);
        if ihl < 20 || ihl > pkt.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "truncated IPv4 header",
            ));
        }
        let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
        Ok((ihl..n, src, Some(IpAddr::V4(dst))))
    }

    /// Sends `payload` to `dst` (the kernel adds the IP header).
    pub fn send_to(&self, payload: &[u8], dst: IpAddr) -> std::io::Result<usize> {
        let (ss, sl) = ip_sockaddr(dst);
        // SAFETY: ss/sl describe a valid sockaddr; payload valid for its length.
        let n = unsafe {
            libc::sendto(
                self.fd.get_ref().as_raw_fd(),
                payload.as_ptr().cast(),
                payload.len(),
                0,
                (&ss as *const libc::sockaddr_storage).cast(),
                sl,
            )
        };
        if n < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl RawSocket {
    /// Sends `payload` to `dst` from the local address `src` (IP_PKTINFO /
    /// IPV6_PKTINFO): the HIP checksum covers the source, so it must be the one
    /// the packet was built for. Falls back to [`RawSocket::send_to`] when the
    /// families differ.
    pub fn send_from(&self, payload: &[u8], src: IpAddr, dst: IpAddr) -> std::io::Result<usize> {
        if src.is_ipv4() != dst.is_ipv4() || src.is_unspecified() {
            return self.send_to(payload, dst);
        }
        let (ss, sl) = ip_sockaddr(dst);
        let mut iov = libc::iovec {
            iov_base: payload.as_ptr() as *mut libc::c_void,
            iov_len: payload.len(),
        };
        // Room for one cmsg carrying the larger of the two pktinfo structs.
        let mut cbuf = [0u64; 8];
        // SAFETY: zeroed msghdr is valid; every pointer set below outlives sendmsg.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&ss as *const libc::sockaddr_storage) as *mut libc::c_void;
        msg.msg_namelen = sl;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        let (level, ty, len) = match src {
            IpAddr::V4(_) => (
                libc::IPPROTO_IP,
                libc::IP_PKTINFO,
                std::mem::size_of::<libc::in_pktinfo>(),
            ),
            IpAddr::V6(_) => (
                libc::IPPROTO_IPV6,
                libc::IPV6_PKTINFO,
                std::mem::size_of::<libc::in6_pktinfo>(),
            ),
        };
        // SAFETY: CMSG_SPACE/CMSG_LEN are pure size computations.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(len as u32) } as _;
        // SAFETY: msg_control points at cbuf, large enough for one cmsg of `len`.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            if c.is_null() {
                return self.send_to(payload, dst);
            }
            (*c).cmsg_level = level;
            (*c).cmsg_type = ty;
            (*c).cmsg_len = libc::CMSG_LEN(len as u32) as _;
            let data = libc::CMSG_DATA(c);
            match src {
                IpAddr::V4(a) => {
                    let mut pi: libc::in_pktinfo = std::mem::zeroed();
                    pi.ipi_spec_dst.s_addr = u32::from(a).to_be();
                    std::ptr::write_unaligned(data.cast(), pi);
                }
                IpAddr::V6(a) => {
                    let mut pi: libc::in6_pktinfo = std::mem::zeroed();
                    pi.ipi6_addr.s6_addr = a.octets();
                    std::ptr::write_unaligned(data.cast(), pi);
                }
            }
        }
        // SAFETY: msg is fully initialised above.
        let n = unsafe { libc::sendmsg(self.fd.get_ref().as_raw_fd(), &msg, 0) };
        if n < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

/// Asks for the IPV6_PKTINFO control message (the packet's destination; for
/// IPv4 packets on a dual-stack socket, v4-mapped) with every received packet:
/// a host with several addresses checks the HIP checksum with, and answers
/// from, the address the packet came to.
pub fn recv_pktinfo6(fd: std::os::fd::RawFd) -> std::io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt with a c_int option value.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_RECVPKTINFO,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Receive buffer asked for on every HIP, ESP and UDP socket. The default
/// (net.core.rmem_default, about 208 KiB: some 270 small packets) overflows
/// within 3 ms at 100,000 packets per second, and a packet lost there is a
/// legitimate I1 or I2 as often as a flood's (`bench/flood_latency.sh`).
/// 4 MiB holds about 50 ms. It is kernel memory, used only while queued.
pub const RECEIVE_BUFFER: usize = 4 << 20;

/// Sets SO_RCVBUFFORCE (hipd runs with CAP_NET_ADMIN; beyond
/// net.core.rmem_max), else SO_RCVBUF (capped there). A failure leaves the
/// default and is logged once per socket at debug: it costs only headroom.
pub fn set_receive_buffer(fd: std::os::fd::RawFd, bytes: usize) {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: setsockopt with a c_int option value.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            return;
        }
    }
    tracing::debug!(
        "receive buffer of {bytes} octets refused: {}",
        std::io::Error::last_os_error()
    );
}

/// recvmsg(2) into `buf`: length, source (address and port; the port is
/// meaningless on raw sockets), and the IPv6 destination from an IPV6_PKTINFO
/// control message when there is one.
pub fn recv_with_pktinfo(
    fd: std::os::fd::RawFd,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr, Option<Ipv6Addr>)> {
    // SAFETY: zeroed sockaddr_storage / msghdr are valid; every pointer set
    // below outlives the recvmsg call; buf is valid for its length.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; 16];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut ss as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    // SAFETY: msg is fully initialised above.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut dst = None;
    // SAFETY: CMSG_* walk the control buffer the kernel filled, within
    // msg_controllen; the pktinfo payload is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_IPV6 && (*c).cmsg_type == libc::IPV6_PKTINFO {
                let pi: libc::in6_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                dst = Some(Ipv6Addr::from(pi.ipi6_addr.s6_addr));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, sockaddr_socket(&ss), dst))
}

fn sockaddr_socket(ss: &libc::sockaddr_storage) -> SocketAddr {
    if i32::from(ss.ss_family) == libc::AF_INET6 {
        // SAFETY: family says sockaddr_in6.
        let a: &libc::sockaddr_in6 = unsafe { &*(ss as *const libc::sockaddr_storage).cast() };
        SocketAddr::new(
            IpAddr::V6(Ipv6Addr::from(a.sin6_addr.s6_addr)),
            u16::from_be(a.sin6_port),
        )
    } else {
        // SAFETY: otherwise sockaddr_in (the sockets here are AF_INET or AF_INET6).
        let a: &libc::sockaddr_in = unsafe { &*(ss as *const libc::sockaddr_storage).cast() };
        SocketAddr::new(
            IpAddr::V4(Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr))),
            u16::from_be(a.sin_port),
        )
    }
}

fn ip_sockaddr(dst: IpAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: zeroed sockaddr_storage is valid.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match dst {
        IpAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            let s: &mut libc::sockaddr_in =
                unsafe { &mut *(&mut ss as *mut libc::sockaddr_storage).cast() };
            s.sin_family = libc::AF_INET as _;
            s.sin_addr.s_addr = u32::from(a).to_be();
            (ss, std::mem::size_of::<libc::sockaddr_in>() as _)
        }
        IpAddr::V6(a) => {
            // SAFETY: as above for sockaddr_in6.
            let s: &mut libc::sockaddr_in6 =
                unsafe { &mut *(&mut ss as *mut libc::sockaddr_storage).cast() };
            s.sin6_family = libc::AF_INET6 as _;
            s.sin6_addr.s6_addr = a.octets();
            (ss, std::mem::size_of::<libc::sockaddr_in6>() as _)
        }
    }
}

/// Binds the UDP port 10500 socket (dual-stack).
pub fn bind_udp(port: u16) -> std::io::Result<tokio::net::UdpSocket> {
    let s = std::net::UdpSocket::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)))?;
    s.set_nonblocking(true)?;
    recv_pktinfo6(s.as_raw_fd())?;
    set_receive_buffer(s.as_raw_fd(), RECEIVE_BUFFER);
    tokio::net::UdpSocket::from_std(s)
}

/// Normalises a v4-mapped IPv6 source (dual-stack UDP) to IPv4.
pub fn unmap(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(a),
        v4 => v4,
    }
}

/// Packets one batched system call moves at most.
pub const BATCH: usize = 64;
/// Room for one packet in a batch buffer (an ESP packet for a 1400-octet
/// TUN MTU, with room to spare; longer ones are cut and dropped).
pub const SLOT: usize = 4096;

/// Where a received packet starts in its slot: room before it for opening
/// in place (the rebuilt inner header), as `esp_path::HEADROOM`.
pub const RX_LEAD: usize = 64;
/// Room kept after a received packet.
const RX_TAIL: usize = 64;

/// Fixed buffers for [`RawSocket::recv_many`] and [`RawSocket::send_many`]:
/// [`BATCH`] slots of [`SLOT`] octets, allocated once.
pub struct Batch {
    /// The slots, back to back.
    pub buf: Vec<u8>,
    /// Octets in each slot.
    pub lens: [usize; BATCH],
    /// The source of each received packet.
    pub srcs: [IpAddr; BATCH],
    /// Slots in use.
    pub n: usize,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Batch {
            buf: vec![0u8; BATCH * SLOT],
            lens: [0; BATCH],
            srcs: [IpAddr::V4(Ipv4Addr::UNSPECIFIED); BATCH],
            n: 0,
        }
    }

    /// Slot `i`.
    pub fn slot_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.buf[i * SLOT..(i + 1) * SLOT]
    }

    /// Appends a copy of `pkt`; false when the batch is full or `pkt` does
    /// not fit a slot.
    pub fn push(&mut self, pkt: &[u8]) -> bool {
        if self.n == BATCH || pkt.len() > SLOT {
            return false;
        }
        let i = self.n;
        self.slot_mut(i)[..pkt.len()].copy_from_slice(pkt);
        self.lens[i] = pkt.len();
        self.n += 1;
        true
    }
}

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

impl RawSocket {
    /// Sends the `b.n` packets of `b` to `dst` with one sendmmsg(2) (more
    /// if the kernel takes fewer at a time); returns how many went out.
    pub fn send_many(&self, b: &Batch, dst: IpAddr) -> std::io::Result<usize> {
        let (ss, sl) = ip_sockaddr(dst);
        // SAFETY: zeroed iovec/mmsghdr arrays are valid; every pointer set
        // below points into `b.buf` or `ss`, which outlive the call.
        let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for i in 0..b.n {
            iov[i].iov_base = b.buf[i * SLOT..].as_ptr() as *mut libc::c_void;
            iov[i].iov_len = b.lens[i];
            msgs[i].msg_hdr.msg_name = (&ss as *const libc::sockaddr_storage) as *mut libc::c_void;
            msgs[i].msg_hdr.msg_namelen = sl;
            msgs[i].msg_hdr.msg_iov = &mut iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        let fd = self.fd.get_ref().as_raw_fd();
        let mut sent = 0;
        // Bounded: every round sends at least one packet or returns.
        while sent < b.n {
            // SAFETY: msgs[sent..b.n] are initialised above.
            let r =
                unsafe { libc::sendmmsg(fd, msgs[sent..].as_mut_ptr(), (b.n - sent) as u32, 0) };
            if r <= 0 {
                let e = std::io::Error::last_os_error();
                return if sent > 0 { Ok(sent) } else { Err(e) };
            }
            sent += r as usize;
        }
        Ok(sent)
    }

    /// Waits until packets can be read, then takes up to [`BATCH`] with one
    /// recvmmsg(2) into `b`, each at [`RX_LEAD`] in its slot. `starts[i]`
    /// gets where packet `i`'s payload starts in its slot (after the IPv4
    /// header that IPv4 raw sockets deliver) and `b.lens[i]` where it ends.
    pub async fn recv_many(
        &self,
        b: &mut Batch,
        starts: &mut [usize; BATCH],
    ) -> std::io::Result<usize> {
        loop {
            let mut g = self.fd.readable().await?;
            match g.try_io(|f| recv_mmsg(f.as_raw_fd(), b)) {
                Ok(Ok(n)) => {
                    for (i, start) in starts.iter_mut().enumerate().take(n) {
                        let end = b.lens[i];
                        *start = RX_LEAD;
                        if !self.v6 {
                            let s = &b.buf[i * SLOT + RX_LEAD..i * SLOT + end];
                            let ihl = s.first().map(|x| usize::from(x & 0x0f) * 4).unwrap_or(0);
                            // A malformed header leaves an empty packet (dropped as such).
                            *start = RX_LEAD
                                + if (20..=s.len()).contains(&ihl) {
                                    ihl
                                } else {
                                    s.len()
                                };
                        }
                    }
                    return Ok(n);
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

/// recvmmsg(2) without waiting into the slots of `b`.
fn recv_mmsg(fd: std::os::fd::RawFd, b: &mut Batch) -> std::io::Result<usize> {
    // SAFETY: zeroed arrays are valid; pointers point into `b.buf` and
    // `names`, which outlive the call.
    let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
    let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    let mut names: [libc::sockaddr_storage; BATCH] = unsafe { std::mem::zeroed() };
    for i in 0..BATCH {
        iov[i].iov_base = b.buf[i * SLOT + RX_LEAD..].as_mut_ptr().cast();
        iov[i].iov_len = SLOT - RX_LEAD - RX_TAIL;
        msgs[i].msg_hdr.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
        msgs[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as _;
        msgs[i].msg_hdr.msg_iov = &mut iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: msgs is initialised above.
    let r = unsafe {
        libc::recvmmsg(
            fd,
            msgs.as_mut_ptr(),
            BATCH as u32,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let n = r as usize;
    for i in 0..n {
        // A packet longer than its slot is cut: mark it empty (dropped).
        // `lens` is the end offset in the slot.
        let truncated = msgs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        b.lens[i] = RX_LEAD
            + if truncated {
                0
            } else {
                msgs[i].msg_len as usize
            };
        b.srcs[i] = sockaddr_socket(&names[i]).ip();
    }
    b.n = n;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IPv6 destination comes from IPV6_PKTINFO (needs CAP_NET_RAW; skips
    /// without it). Sent to the loopback address, so nothing leaves the host.
    #[test]
    fn ipv6_receive_reports_the_destination_address() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            // An unassigned protocol number (253, RFC 3692 experimentation):
            // no other socket of this host is disturbed.
            let s = match RawSocket::open(true, 253) {
                Ok(s) => s,
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                    eprintln!("skipping: raw sockets need CAP_NET_RAW");
                    return;
                }
                Err(e) => panic!("raw socket: {e}"),
            };
            let lo = IpAddr::V6(Ipv6Addr::LOCALHOST);
            s.send_to(b"pktinfo", lo).expect("send");
            let mut buf = [0u8; 64];
            let (r, src, dst) =
                tokio::time::timeout(std::time::Duration::from_secs(5), s.recv(&mut buf))
                    .await
                    .expect("a packet within 5 s")
                    .expect("recv");
            assert_eq!(&buf[r], b"pktinfo");
            assert_eq!(src, lo);
            assert_eq!(dst, Some(lo));
        });
    }

    /// The dual-stack UDP socket reports the destination of IPv6 and (v4-mapped)
    /// IPv4 packets, and the sender's port.
    #[test]
    fn udp_receive_reports_the_destination_of_both_families() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let s = bind_udp(0).expect("udp");
            let port = s.local_addr().expect("addr").port();
            for to in [
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                IpAddr::V4(Ipv4Addr::LOCALHOST),
            ] {
                let bind: SocketAddr = if to.is_ipv4() {
                    "127.0.0.1:0".parse().expect("addr")
                } else {
                    "[::1]:0".parse().expect("addr")
                };
                let tx = std::net::UdpSocket::bind(bind).expect("sender");
                tx.send_to(b"hip", (to, port)).expect("send");
                let mut buf = [0u8; 16];
                let fd = s.as_raw_fd();
                let (n, from, dst) = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    s.async_io(tokio::io::Interest::READABLE, || {
                        recv_with_pktinfo(fd, &mut buf)
                    }),
                )
                .await
                .expect("a datagram within 5 s")
                .expect("recv");
                assert_eq!(&buf[..n], b"hip");
                assert_eq!(unmap(from.ip()), to);
                assert_eq!(from.port(), tx.local_addr().expect("addr").port());
                assert_eq!(dst.map(|d| unmap(IpAddr::V6(d))), Some(to));
            }
        });
    }
}

#[cfg(test)]
mod receive_buffer_tests {
    use super::*;

    fn rcvbuf(fd: std::os::fd::RawFd) -> usize {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt into a c_int.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(r, 0);
        v as usize
    }

    #[test]
    fn sockets_get_the_large_receive_buffer_with_cap_net_admin() {
        let s = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let before = rcvbuf(s.as_raw_fd());
        set_receive_buffer(s.as_raw_fd(), RECEIVE_BUFFER);
        let after = rcvbuf(s.as_raw_fd());
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // The kernel reports twice what was set (its bookkeeping share).
            assert!(after >= RECEIVE_BUFFER, "{after} < {RECEIVE_BUFFER}");
        } else {
            assert!(after >= before, "never smaller: {before} -> {after}");
        }
    }
}
