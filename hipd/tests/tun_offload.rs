//! The offload code against the real kernel: in a fresh network namespace
//! (`unshare --net`, root only; skipped otherwise) a TUN with vnet headers
//! and TSO/USO gets a UDP_SEGMENT send and a TCP bulk write from a kernel
//! socket, which `segment` must split into valid packets carrying the bytes
//! sent, and a coalesced TCP super-packet written back must reach the
//! socket intact.
#[path = "../../tests/src/skip.rs"]
mod skip;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;

use hipd::offload::checksum;
use hipd::offload::vnet::{VnetHdr, GSO_UDP_L4, VNET_HDR_LEN};
use hipd::offload::{segment, Coalescer};
use hipd::tun::{Tun, TunOptions};

const IFACE: &str = "hipoff0";
const LOCAL: [u8; 4] = [10, 77, 0, 1];
const PEER: [u8; 4] = [10, 77, 0, 2];
const INNER_ENV: &str = "HIPR_OFFLOAD_NETNS";

#[test]
fn kernel_round_trip_in_a_netns() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip::skip("needs root for a network namespace");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args(["--net", "--"])
        .arg(exe)
        .args(["--exact", "inner_round_trip", "--ignored", "--nocapture"])
        .env(INNER_ENV, "1")
        .output()
        .expect("run unshare");
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "inner test failed");
    assert!(text.contains("1 passed"), "inner test did not run");
}

/// Runs only inside the namespace made by `kernel_round_trip_in_a_netns`.
#[tokio::test]
#[ignore = "run by kernel_round_trip_in_a_netns inside its own namespace"]
async fn inner_round_trip() {
    assert_eq!(
        std::env::var(INNER_ENV).as_deref(),
        Ok("1"),
        "only inside unshare --net"
    );
    let opts = TunOptions {
        multi_queue: false,
        vnet_hdr: true,
        offload: true,
    };
    let tun = Tun::open_with(IFACE, &opts).expect("open TUN");
    println!("offloads: {:?}", tun.offloads());
    assert!(tun.offloads().tso);
    for args in [
        &["link", "set", "lo", "up"][..],
        &["link", "set", IFACE, "up", "mtu", "1500"],
        &["addr", "add", "10.77.0.1/24", "dev", IFACE],
    ] {
        assert!(Command::new("ip").args(args).status().unwrap().success());
    }
    if tun.offloads().uso {
        udp_segment_offload(&tun).await;
    }
    tcp_both_ways(&tun).await;
}

/// Reads TUN frames until `want` accepts one (IPv6 chatter is skipped).
async fn read_until(tun: &Tun, want: impl Fn(&VnetHdr, &[u8]) -> bool) -> (VnetHdr, Vec<u8>) {
    let mut buf = vec![0u8; 70_000];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), tun.recv(&mut buf))
            .await
            .expect("TUN read timed out")
            .unwrap();
        let hdr = VnetHdr::parse(&buf[..n]).unwrap();
        let pkt = &buf[VNET_HDR_LEN..n];
        if pkt.first().map(|b| b >> 4) == Some(4) && want(&hdr, pkt) {
            return (hdr, pkt.to_vec());
        }
    }
}

/// Splits with `segment`, checks every packet, returns them.
fn split_checked(hdr: &VnetHdr, pkt: &[u8]) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 70_000];
    let mut segs = Vec::new();
    segment(hdr, pkt, &mut buf, 32, |b, r| segs.push(b[r].to_vec())).unwrap();
    for s in &segs {
        assert_eq!(usize::from(u16::from_be_bytes([s[2], s[3]])), s.len());
        assert_eq!(checksum::fold(checksum::add(0, &s[..20])), 0xffff);
        let ph = checksum::pseudo_header(&s[12..16], &s[16..20], s[9], (s.len() - 20) as u32);
        assert_eq!(checksum::fold(checksum::add(ph, &s[20..])), 0xffff);
    }
    segs
}

async fn udp_segment_offload(tun: &Tun) {
    let sock = UdpSocket::bind("10.77.0.1:0").unwrap();
    let size: libc::c_int = 1000;
    // SAFETY: UDP_SEGMENT (103) at SOL_UDP reads one int.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_UDP,
            103,
            (&size as *const libc::c_int).cast(),
            4,
        )
    };
    assert_eq!(rc, 0);
    let data: Vec<u8> = (0..4500u32).map(|i| (i * 7) as u8).collect();
    sock.send_to(&data, "10.77.0.2:9").unwrap();
    let (hdr, pkt) = read_until(tun, |_, p| p[9] == 17).await;
    println!("UDP read: {hdr:?}, {} octets", pkt.len());
    assert_eq!(hdr.gso_kind(), GSO_UDP_L4);
    let segs = split_checked(&hdr, &pkt);
    assert_eq!(segs.len(), 5);
    let joined: Vec<u8> = segs.iter().flat_map(|s| s[28..].to_vec()).collect();
    assert_eq!(joined, data);
}

/// A TCP packet from the peer (10.77.0.2:5000) with full checksums.
fn peer_tcp(dport: u16, seq: u32, ack: u32, flags: u8, opts: &[u8], data: &[u8]) -> Vec<u8> {
    let tcp_len = 20 + opts.len();
    let total = 20 + tcp_len + data.len();
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    p.extend_from_slice(&PEER);
    p.extend_from_slice(&LOCAL);
    let c = !checksum::fold(checksum::add(0, &p));
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&5000u16.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ack.to_be_bytes());
    p.extend_from_slice(&[((tcp_len / 4) as u8) << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
    p.extend_from_slice(opts);
    p.extend_from_slice(data);
    let ph = checksum::pseudo_header(&PEER, &LOCAL, 6, (total - 20) as u32);
    let c = checksum::finish(checksum::add(ph, &p[20..]));
    p[36..38].copy_from_slice(&c.to_be_bytes());
    p
}

/// Writes one IP packet behind an all-zero vnet header.
fn send_plain(tun: &Tun, pkt: &[u8]) {
    let mut frame = vec![0u8; VNET_HDR_LEN];
    frame.extend_from_slice(pkt);
    tun.send(&frame).unwrap();
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

async fn tcp_both_ways(tun: &Tun) {
    let peer: SocketAddr = "10.77.0.2:5000".parse().unwrap();
    let client = std::thread::spawn(move || {
        let mut s = TcpStream::connect_timeout(&peer, Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let out: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        s.write_all(&out).unwrap();
        let mut back = vec![0u8; 10_000];
        s.read_exact(&mut back).unwrap();
        back
    });
    let is_tcp = |_: &VnetHdr, p: &[u8]| p[9] == 6 && p.len() >= 40;
    let (_, syn) = read_until(tun, is_tcp).await;
    let dport = u16::from_be_bytes([syn[20], syn[21]]);
    let client_isn = be32(&syn, 24);
    let isn = 0x1000_0000u32;
    let mss = [2, 4, 0x05, 0xb4];
    send_plain(
        tun,
        &peer_tcp(dport, isn, client_isn.wrapping_add(1), 0x12, &mss, &[]),
    );
    let mut want = client_isn.wrapping_add(1);
    let mut stream = Vec::new();
    let mut super_packets = 0;
    while stream.len() < 20_000 {
        let (hdr, pkt) = read_until(tun, is_tcp).await;
        if hdr.is_gso() {
            super_packets += 1;
        }
        for s in split_checked(&hdr, &pkt) {
            let doff = usize::from(s[32] >> 4) * 4;
            let body = &s[20 + doff..];
            if !body.is_empty() && be32(&s, 24) == want {
                stream.extend_from_slice(body);
                want = want.wrapping_add(body.len() as u32);
            }
        }
        send_plain(
            tun,
            &peer_tcp(dport, isn.wrapping_add(1), want, 0x10, &[], &[]),
        );
    }
    println!("TCP read: 20000 octets, {super_packets} super-packets");
    let sent: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(stream, sent);

    let reply: Vec<u8> = (0..10_000u32).map(|i| (i * 13 % 256) as u8).collect();
    let mut gro = Coalescer::new(4, 65535);
    for (i, chunk) in reply.chunks(1000).enumerate() {
        let seq = isn.wrapping_add(1 + 1000 * i as u32);
        gro.push(&peer_tcp(dport, seq, want, 0x10, &[], chunk))
            .unwrap();
    }
    let mut frames = Vec::new();
    gro.flush(|f| frames.push(f.to_vec()));
    assert_eq!(frames.len(), 1, "ten segments merge into one");
    assert!(VnetHdr::parse(&frames[0]).unwrap().is_gso());
    tun.send(&frames[0])
        .expect("kernel takes the GRO super-packet");
    let back = tokio::task::spawn_blocking(move || client.join().unwrap())
        .await
        .unwrap();
    assert_eq!(back, reply);
}
