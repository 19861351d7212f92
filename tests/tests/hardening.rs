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
