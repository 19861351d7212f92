//! A userspace impairing bridge (this kernel has no `sch_netem`): two
//! interfaces of a middle namespace joined by AF_PACKET sockets; Ethernet
//! frames carrying HIP (IP protocol 139) are lost, duplicated or reordered
//! with seeded randomness, everything else (neighbour discovery, ESP) is
//! forwarded unchanged. Stopped and joined on drop; every loop is bounded by
//! a receive timeout and a stop flag.
use crate::Netns;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Percentages of HIP frames lost, duplicated and held back behind the next
/// frame.
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    pub loss: u32,
    pub duplicate: u32,
    pub reorder: u32,
    pub seed: u64,
}

/// What the bridge did.
#[derive(Debug, Default)]
pub struct BridgeCounts {
    pub forwarded: AtomicU64,
    pub hip: AtomicU64,
    pub lost: AtomicU64,
    pub duplicated: AtomicU64,
    pub reordered: AtomicU64,
}

/// A running bridge.
pub struct Bridge {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub counts: Arc<BridgeCounts>,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An AF_PACKET socket bound to `dev`, with a 20 ms receive timeout.
fn packet_socket(dev: &str) -> (i32, i32) {
    let name = std::ffi::CString::new(dev).expect("name");
    // SAFETY: plain calls with valid arguments; the descriptor is closed by the caller.
    unsafe {
        let idx = libc::if_nametoindex(name.as_ptr()) as i32;
        assert!(idx > 0, "no interface {dev}");
        let fd = libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW,
            (libc::ETH_P_ALL as u16).to_be() as i32,
        );
        assert!(fd >= 0, "AF_PACKET socket");
        let mut sa: libc::sockaddr_ll = std::mem::zeroed();
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sa.sll_ifindex = idx;
        let r = libc::bind(
            fd,
            (&sa as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        );
        assert_eq!(r, 0, "bind {dev}");
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 20_000,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        );
        (fd, idx)
    }
}

/// Does this Ethernet frame carry HIP (IPv6 next header or IPv4 protocol 139)?
fn is_hip(f: &[u8]) -> bool {
    match f.get(12..14) {
        Some([0x86, 0xdd]) => f.get(14 + 6) == Some(&139),
        Some([0x08, 0x00]) => f.get(14 + 9) == Some(&139),
        _ => false,
    }
}

/// Starts bridging `left` and `right` (interfaces of `ns`) with `imp`.
pub fn start(ns: &Netns, left: &str, right: &str, imp: Impairment) -> Bridge {
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(BridgeCounts::default());
    let (l, r) = (left.to_string(), right.to_string());
    let (st, c) = (stop.clone(), counts.clone());
    let thread = ns.spawn_in_ns(move || run(&l, &r, imp, &st, &c));
    Bridge {
        stop,
        thread: Some(thread),
        counts,
    }
}

fn run(left: &str, right: &str, imp: Impairment, stop: &AtomicBool, c: &BridgeCounts) {
    let socks = [packet_socket(left), packet_socket(right)];
    let mut rng = imp.seed | 1;
    let mut roll = |pct: u32| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % 100) < u64::from(pct)
    };
    // A frame held back per direction, sent after the next one.
    let mut held: [Option<Vec<u8>>; 2] = [None, None];
    let mut buf = vec![0u8; 65536];
    let send = |fd: i32, f: &[u8]| {
        // SAFETY: f is valid for its length; fd is bound to its interface.
        unsafe { libc::send(fd, f.as_ptr().cast(), f.len(), 0) };
    };
    while !stop.load(Ordering::Relaxed) {
        for side in 0..2 {
            let (fd, _) = socks[side];
            let (out, _) = socks[1 - side];
            // SAFETY: buf and sa are valid for the lengths given.
            let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut sl = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            let n = unsafe {
                libc::recvfrom(
                    fd,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&mut sa as *mut libc::sockaddr_ll).cast(),
                    &mut sl,
                )
            };
            if n <= 0 {
                continue;
            }
            // Our own transmissions on this interface come back as OUTGOING.
            if sa.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            let f = &buf[..n as usize];
            c.forwarded.fetch_add(1, Ordering::Relaxed);
            if !is_hip(f) {
                send(out, f);
                continue;
            }
            c.hip.fetch_add(1, Ordering::Relaxed);
            if roll(imp.loss) {
                c.lost.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if roll(imp.reorder) && held[side].is_none() {
                c.reordered.fetch_add(1, Ordering::Relaxed);
                held[side] = Some(f.to_vec());
                continue;
            }
            send(out, f);
            if roll(imp.duplicate) {
                c.duplicated.fetch_add(1, Ordering::Relaxed);
                send(out, f);
            }
            if let Some(h) = held[side].take() {
                send(out, &h);
            }
        }
        // Nothing arrived on either side: wait a little (bounded).
        let mut pfd = [
            libc::pollfd {
                fd: socks[0].0,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: socks[1].0,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: pfd is a valid array of two pollfds.
        unsafe { libc::poll(pfd.as_mut_ptr(), 2, 20) };
        // A frame held back with nothing behind it goes out after a while.
        for side in 0..2 {
            if pfd[side].revents == 0 {
                if let Some(h) = held[side].take() {
                    send(socks[1 - side].0, &h);
                }
            }
        }
    }
    for (fd, _) in socks {
        // SAFETY: our descriptors.
        unsafe { libc::close(fd) };
    }
}
