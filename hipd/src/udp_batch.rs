//! Batched I/O on hipd's UDP 10500 socket (HIP with the zero marker and
//! ESP in UDP, RFC 5770 section 5.1 / RFC 3948), through quinn-udp: one
//! recvmmsg(2) takes several messages, each of which may hold a run of
//! equal-sized datagrams the kernel merged (UDP GRO); a run of sealed ESP
//! packets to one peer leaves with one sendmsg(2) (UDP GSO). The framing
//! stays ours; quinn-udp only moves datagrams, and falls back to one
//! datagram per call where the kernel lacks GRO or GSO.
use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};
use std::io::IoSliceMut;
use std::net::{IpAddr, SocketAddr};

/// Messages per recvmmsg(2).
const RX_MSGS: usize = 4;
/// One message's buffer: the longest GRO run the kernel builds (64
/// datagrams, at most 64 KiB of payload in all) with room to spare.
const RX_BUF: usize = 96 * 1024;

/// The UDP socket and quinn-udp's state for it (which offloads work).
pub struct UdpPort {
    pub sock: tokio::net::UdpSocket,
    state: UdpSocketState,
}

impl UdpPort {
    /// Sets the socket up for batched I/O (GRO, packet info). quinn-udp
    /// also forbids fragmentation (IP_PMTUDISC_PROBE, IPV6_DONTFRAG), which
    /// suits QUIC but not HIP: an I2 with a large Host Identity may exceed
    /// the path MTU and must still leave, fragmented, as before. The
    /// kernel's defaults are put back.
    pub fn new(sock: tokio::net::UdpSocket) -> std::io::Result<Self> {
        let state = UdpSocketState::new(UdpSockRef::from(&sock))?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&sock);
        for (level, name, value) in [
            (
                libc::IPPROTO_IP,
                libc::IP_MTU_DISCOVER,
                libc::IP_PMTUDISC_WANT,
            ),
            (
                libc::IPPROTO_IPV6,
                libc::IPV6_MTU_DISCOVER,
                libc::IPV6_PMTUDISC_WANT,
            ),
            (libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG, 0),
        ] {
            // SAFETY: an int option on a socket this function owns.
            let r = unsafe {
                libc::setsockopt(
                    fd,
                    level,
                    name,
                    (&value as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if r != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(UdpPort { sock, state })
    }

    /// Most datagrams the kernel takes in one GSO send (1 without GSO).
    pub fn max_gso_segments(&self) -> usize {
        self.state.max_gso_segments()
    }

    /// Sends `contents` to `dst`: one datagram, or with `segment` a run of
    /// datagrams of that size (the last may be shorter) in one call.
    pub fn send(
        &self,
        dst: SocketAddr,
        contents: &[u8],
        segment: Option<usize>,
    ) -> std::io::Result<()> {
        self.send_from(None, dst, contents, segment)
    }

    /// [`UdpPort::send`] from the local address `src` (IP_PKTINFO /
    /// IPV6_PKTINFO), not the one the kernel would pick: a HIP control
    /// packet answers from the address it was built for (a peer checking
    /// our new locator matches the answer's source, RFC 8046 section 5.4;
    /// seen with OpenHIP over UDP, which failed every check answered from
    /// our primary address). `src` of the other family than `dst` is
    /// ignored.
    pub fn send_from(
        &self,
        src: Option<IpAddr>,
        dst: SocketAddr,
        contents: &[u8],
        segment: Option<usize>,
    ) -> std::io::Result<()> {
        let dst_v4 = match dst.ip() {
            IpAddr::V4(_) => true,
            IpAddr::V6(a) => a.to_ipv4_mapped().is_some(),
        };
        let src_ip = src.filter(|s| !s.is_unspecified() && s.is_ipv4() == dst_v4);
        let t = Transmit {
            destination: dst,
            ecn: None,
            contents,
            segment_size: segment.filter(|s| *s < contents.len()),
            src_ip,
        };
        self.state.try_send(UdpSockRef::from(&self.sock), &t)
    }

    /// Waits for datagrams and takes what one recvmmsg(2) gives into `rx`.
    pub async fn recv(&self, rx: &mut UdpRx) -> std::io::Result<usize> {
        let n = self
            .sock
            .async_io(tokio::io::Interest::READABLE, || {
                let mut it = rx.bufs.iter_mut();
                let mut iovs: [IoSliceMut<'_>; RX_MSGS] = std::array::from_fn(|_| {
                    IoSliceMut::new(it.next().map_or(&mut [][..], |b| &mut b[..]))
                });
                self.state
                    .recv(UdpSockRef::from(&self.sock), &mut iovs, &mut rx.meta)
            })
            .await?;
        rx.n = n;
        Ok(n)
    }
}

/// Receive buffers for [`UdpPort::recv`], allocated once.
pub struct UdpRx {
    bufs: Vec<Vec<u8>>,
    meta: [RecvMeta; RX_MSGS],
    n: usize,
}

impl Default for UdpRx {
    fn default() -> Self {
        Self::new()
    }
}

impl UdpRx {
    /// Buffers for [`RX_MSGS`] messages (pages are touched only as data
    /// arrives).
    pub fn new() -> Self {
        UdpRx {
            bufs: (0..RX_MSGS).map(|_| vec![0u8; RX_BUF]).collect(),
            meta: [RecvMeta::default(); RX_MSGS],
            n: 0,
        }
    }

    /// The datagrams of the last receive, in order: (source, the address
    /// it came to, payload).
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, Option<IpAddr>, &[u8])> + '_ {
        self.meta[..self.n]
            .iter()
            .zip(&self.bufs)
            .flat_map(|(m, b)| {
                let stride = if m.stride == 0 {
                    m.len.max(1)
                } else {
                    m.stride
                };
                b[..m.len.min(b.len())]
                    .chunks(stride)
                    .map(move |d| (m.addr, m.dst_ip, d))
            })
    }
}

/// Sealed ESP packets waiting to leave together: a run to one transport
/// address, all of one size but the last ([`UdpPort::send`] with GSO).
pub struct UdpTx {
    buf: Vec<u8>,
    dst: Option<SocketAddr>,
    segment: usize,
    count: usize,
    /// The last packet was shorter than the others: the run is closed.
    closed: bool,
}

impl Default for UdpTx {
    fn default() -> Self {
        Self::new()
    }
}

/// Most octets in one GSO send (the kernel's limit for one UDP datagram).
const TX_MAX: usize = 65000;

impl UdpTx {
    /// An empty run (its buffer allocated once).
    pub fn new() -> Self {
        UdpTx {
            buf: Vec::with_capacity(TX_MAX),
            dst: None,
            segment: 0,
            count: 0,
            closed: false,
        }
    }

    /// Adds `pkt` for `dst`; first sends what is waiting when `pkt` cannot
    /// join it (another destination, a longer packet, a full run).
    /// Returns (sent, failed) packet counts of what went out.
    pub fn push(&mut self, port: &UdpPort, dst: SocketAddr, pkt: &[u8]) -> (u64, u64) {
        let fits = self.dst == Some(dst)
            && !self.closed
            && pkt.len() <= self.segment
            && self.buf.len() + pkt.len() <= TX_MAX
            && self.count < port.max_gso_segments();
        let done = if fits { (0, 0) } else { self.flush(port) };
        if self.count == 0 {
            self.dst = Some(dst);
            self.segment = pkt.len();
        }
        self.closed |= pkt.len() < self.segment;
        self.buf.extend_from_slice(pkt);
        self.count += 1;
        done
    }

    /// Sends what is waiting: one call (GSO), or one per packet when the
    /// kernel refused the run. Returns (sent, failed).
    pub fn flush(&mut self, port: &UdpPort) -> (u64, u64) {
        let Some(dst) = self.dst.take() else {
            return (0, 0);
        };
        let (n, seg) = (self.count as u64, self.segment);
        let mut out = (0, 0);
        if port.send(dst, &self.buf, Some(seg)).is_ok() {
            out = (n, 0);
        } else {
            // GSO refused (quinn-udp turns it off on EIO): one by one.
            for p in self.buf.chunks(seg.max(1)) {
                match port.send(dst, p, None) {
                    Ok(()) => out.0 += 1,
                    Err(_) => out.1 += 1,
                }
            }
        }
        self.buf.clear();
        self.count = 0;
        self.closed = false;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn port() -> UdpPort {
        UdpPort::new(crate::raw_socket::bind_udp(0).expect("udp")).expect("state")
    }

    /// A datagram sent from a given local address leaves from it, over
    /// v4-mapped IPv4 (127.0.0.2 is local like every 127/8 address).
    #[test]
    fn a_datagram_from_a_given_address_leaves_from_it() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (a, b) = (port(), port());
            let bp = b.sock.local_addr().expect("addr").port();
            let dst = SocketAddr::new(IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()), bp);
            let mut buf = [0u8; 64];
            for src in [Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)] {
                a.send_from(Some(IpAddr::V4(src)), dst, b"hello", None)
                    .expect("send");
                let (n, from) = tokio::time::timeout(
                    std::time::Duration::from_secs(2),
                    b.sock.recv_from(&mut buf),
                )
                .await
                .expect("in time")
                .expect("recv");
                assert_eq!(&buf[..n], b"hello");
                let from = match from.ip() {
                    IpAddr::V6(x) => x.to_ipv4_mapped().map(IpAddr::V4),
                    v4 => Some(v4),
                };
                assert_eq!(from, Some(IpAddr::V4(src)));
            }
        });
    }

    /// A run of equal-sized ESP packets and a shorter last one leave in
    /// one GSO send (or one by one where the kernel has no GSO) and arrive
    /// as the same datagrams, in order, whether or not the kernel merged
    /// them (GRO), with their source and destination, over IPv6 and
    /// v4-mapped IPv4; another destination or a longer packet starts a
    /// new run.
    #[test]
    fn runs_sent_with_gso_arrive_as_the_same_datagrams() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (a, b) = (port(), port());
            let bp = b.sock.local_addr().expect("addr").port();
            for to in [
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
            ] {
                let dst = SocketAddr::new(to, bp);
                let mut want: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 1000]).collect();
                want.push(vec![0xee; 300]);
                let mut tx = UdpTx::new();
                let mut sent = 0;
                for p in &want {
                    sent += tx.push(&a, dst, p).0;
                }
                sent += tx.flush(&a).0;
                assert_eq!(sent, 11);
                // A longer packet after a shorter one closes the run.
                let (s1, _) = tx.push(&a, dst, &[1u8; 200]);
                let (s2, _) = tx.push(&a, dst, &[2u8; 400]);
                let (s3, _) = tx.flush(&a);
                assert_eq!((s1, s2, s3), (0, 1, 1));
                want.push(vec![1u8; 200]);
                want.push(vec![2u8; 400]);
                let mut rx = UdpRx::new();
                let mut got = Vec::new();
                for _ in 0..20 {
                    if got.len() >= want.len() {
                        break;
                    }
                    tokio::time::timeout(std::time::Duration::from_secs(5), b.recv(&mut rx))
                        .await
                        .expect("datagrams in time")
                        .expect("recv");
                    for (from, at, d) in rx.datagrams() {
                        assert_eq!(from.port(), a.sock.local_addr().unwrap().port());
                        assert_eq!(at, Some(to), "IPV6_PKTINFO");
                        got.push(d.to_vec());
                    }
                }
                assert_eq!(got, want);
            }
        });
    }
}
