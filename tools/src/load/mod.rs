//! `hip-load`: many initiators in one process against one hipd, over real
//! raw IP (protocol 139) sockets, built on hip-proto's [`Endpoint`] (one
//! endpoint holding every initiator identity), so that measurements of a
//! responder with thousands of associations, or under a base-exchange storm,
//! need no thousands of namespaces.
//!
//! * [`establish`]: `count` base exchanges (RFC 7401 section 4.1), paced at
//!   `rate` per second with at most `inflight` outstanding, from identities
//!   generated here and source addresses spread over `sources` (hipd limits
//!   R1s per destination address). The associations are left in place when
//!   it ends (no CLOSE): the responder keeps them and their SAs.
//! * [`flood`]: I1s with random sender HITs at `rate` per second, which
//!   create no state anywhere (the responder answers from precomputed R1s,
//!   within its rate limits).
use hip_proto::association::Instant as ProtoInstant;
use hip_proto::crypto::hi::{HostIdentity, KeySpec};
use hip_proto::endpoint::{Config, Endpoint, Event, Incoming, LocalIdentity};
use hip_proto::registry::Version;
use hip_proto::Hit;
use hipd::raw_socket::{RawSocket, IPPROTO_HIP};
use rand_core::RngCore;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Where the load goes and where it comes from.
#[derive(Debug, Clone)]
pub struct Target {
    /// The responder's HIT.
    pub hit: Hit,
    /// The responder's address.
    pub addr: IpAddr,
    /// Source addresses to spread the initiators over (configured on this
    /// host).
    pub sources: Vec<IpAddr>,
}

/// What [`establish`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct EstablishReport {
    pub started: usize,
    pub established: usize,
    pub failed: usize,
    /// Started but neither established nor failed when the time ran out.
    pub unfinished: usize,
    pub seconds: f64,
    /// Base exchanges completed per second of wall time.
    pub per_second: f64,
    /// Latency from I1 to ESTABLISHED (seconds): median, 90th and 99th
    /// percentile, maximum.
    pub latency_p50: f64,
    pub latency_p90: f64,
    pub latency_p99: f64,
    pub latency_max: f64,
}

/// What [`flood`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FloodReport {
    pub sent: u64,
    pub send_errors: u64,
    pub seconds: f64,
    pub per_second: f64,
}

fn os_random(b: &mut [u8]) {
    rand_core::OsRng.fill_bytes(b)
}

fn proto_now(origin: Instant) -> ProtoInstant {
    ProtoInstant(origin.elapsed().as_nanos() as u64)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Generates `n` ECDSA P-256 identities with ORCHIDv2 HITs.
pub fn identities(n: usize) -> Result<Vec<LocalIdentity>, String> {
    (0..n)
        .map(|_| {
            let hi = HostIdentity::generate(KeySpec::EcdsaP256, &mut rand_core::OsRng)
                .map_err(|e| e.to_string())?;
            LocalIdentity::new(hi, Version::V2).map_err(|e| e.to_string())
        })
        .collect()
}

/// Sends what the endpoint has queued.
fn drain(ep: &mut Endpoint, sock: &RawSocket, send_errors: &mut u64) {
    while let Some(t) = ep.poll_transmit() {
        if t.udp_port.is_some() || sock.send_from(&t.bytes, t.src, t.dst).is_err() {
            *send_errors += 1;
        }
    }
}

/// Runs `count` base exchanges against `target`; gives up on those not done
/// within `timeout`.
pub async fn establish(
    target: &Target,
    count: usize,
    rate: f64,
    inflight: usize,
    timeout: Duration,
) -> Result<EstablishReport, String> {
    if target.sources.is_empty() {
        return Err("no source address".into());
    }
    let ids = identities(count)?;
    let hits: Vec<Hit> = ids.iter().map(|i| i.hit).collect();
    let mut random = os_random;
    let mut ep = Endpoint::new(Config::default(), &mut random).map_err(|e| e.to_string())?;
    for id in ids {
        ep.add_identity(id);
    }
    let sock = RawSocket::open(target.addr.is_ipv6(), IPPROTO_HIP)
        .map_err(|e| format!("raw socket: {e} (root needed)"))?;
    let origin = Instant::now();
    let deadline = origin + timeout;
    let gap = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let mut next_start = origin;
    let mut started_at = vec![None::<Instant>; count];
    let index: std::collections::HashMap<Hit, usize> =
        hits.iter().enumerate().map(|(i, h)| (*h, i)).collect();
    let (mut started, mut done, mut failed, mut send_errors) = (0usize, 0usize, 0usize, 0u64);
    let mut latencies = Vec::with_capacity(count);
    let mut buf = vec![0u8; 65536];
    while done + failed < count && Instant::now() < deadline {
        let now = Instant::now();
        while started < count && started - done - failed < inflight && next_start <= now {
            let src = target.sources[started % target.sources.len()];
            let local = hits[started];
            if ep
                .connect(proto_now(origin), local, target.hit, src, target.addr, None)
                .is_err()
            {
                failed += 1;
            } else {
                started_at[started] = Some(Instant::now());
            }
            started += 1;
            next_start += gap;
            if next_start < now {
                // Behind schedule (inflight bound): no burst to catch up.
                next_start = now;
            }
        }
        drain(&mut ep, &sock, &mut send_errors);
        while let Some(e) = ep.poll_event() {
            match e {
                Event::Established { local_hit, .. } => {
                    done += 1;
                    if let Some(t) = index.get(&local_hit).and_then(|i| started_at[*i]) {
                        latencies.push(t.elapsed().as_secs_f64());
                    }
                }
                Event::Failed { .. } => failed += 1,
                _ => {}
            }
        }
        let wake_proto = ep.poll_timeout();
        let mut wake = deadline.min(now + Duration::from_millis(50));
        if started < count {
            wake = wake.min(next_start);
        }
        if let Some(t) = wake_proto {
            wake = wake.min(origin + Duration::from_nanos(t.0));
        }
        tokio::select! {
            r = sock.recv(&mut buf) => {
                if let Ok((range, src, Some(dst))) = r {
                    let inc = Incoming { src, dst, udp_port: None, bytes: &buf[range] };
                    ep.handle(proto_now(origin), inc, &mut random);
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => {
                ep.handle_timeout(proto_now(origin), &mut random);
            }
        }
    }
    drain(&mut ep, &sock, &mut send_errors);
    let seconds = origin.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.total_cmp(b));
    Ok(EstablishReport {
        started,
        established: done,
        failed,
        unfinished: started.saturating_sub(done + failed),
        seconds,
        per_second: done as f64 / seconds.max(1e-9),
        latency_p50: percentile(&latencies, 0.5),
        latency_p90: percentile(&latencies, 0.9),
        latency_p99: percentile(&latencies, 0.99),
        latency_max: latencies.last().copied().unwrap_or(0.0),
    })
}

/// An I1 from `local` to `target` (built by an endpoint that is then
/// dropped): the template [`flood`] varies.
fn i1_template(target: &Target) -> Result<Vec<u8>, String> {
    let mut random = os_random;
    let mut ep = Endpoint::new(Config::default(), &mut random).map_err(|e| e.to_string())?;
    let id = identities(1)?.remove(0);
    let hit = id.hit;
    ep.add_identity(id);
    ep.connect(
        ProtoInstant(0),
        hit,
        target.hit,
        target.sources[0],
        target.addr,
        None,
    )
    .map_err(|e| e.to_string())?;
    ep.poll_transmit()
        .map(|t| t.bytes)
        .ok_or_else(|| "no I1 built".into())
}

/// Sends I1s with random ORCHIDv2 sender HITs at `rate` per second for
/// `duration`, round-robin over the source addresses.
pub fn flood(target: &Target, rate: f64, duration: Duration) -> Result<FloodReport, String> {
    if target.sources.is_empty() {
        return Err("no source address".into());
    }
    let template = i1_template(target)?;
    let sock = RawSocket::open(target.addr.is_ipv6(), IPPROTO_HIP)
        .map_err(|e| format!("raw socket: {e} (root needed)"))?;
    let start = Instant::now();
    let end = start + duration;
    let mut pkt = template.clone();
    let (mut sent, mut errors) = (0u64, 0u64);
    let mut rnd = [0u8; 12];
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        // Due so far at `rate`; sent in bursts of at most 64 per wake.
        let due = (now.duration_since(start).as_secs_f64() * rate) as u64;
        let burst = due.saturating_sub(sent).min(64);
        if burst == 0 {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        for _ in 0..burst {
            // Sender HIT 2001:2x:...: ORCHIDv2 prefix, random rest.
            os_random(&mut rnd);
            pkt[12..24].copy_from_slice(&rnd);
            pkt[11] = 0x20 | (pkt[11] & 0x0f);
            let src = target.sources[(sent as usize) % target.sources.len()];
            hip_proto::wire::checksum::fill(&mut pkt, src, target.addr);
            if sock.send_from(&pkt, src, target.addr).is_err() {
                errors += 1;
            }
            sent += 1;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(FloodReport {
        sent,
        send_errors: errors,
        seconds,
        per_second: sent as f64 / seconds.max(1e-9),
    })
}

/// `count` addresses from `base` upwards (the last octets counted up).
pub fn address_range(base: IpAddr, count: usize) -> Vec<IpAddr> {
    (0..count as u128)
        .map(|i| match base {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a).wrapping_add(i as u32)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a).wrapping_add(i)).into()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_count_up_from_the_base() {
        let v = address_range("2001:db8:1::fe".parse().unwrap(), 3);
        assert_eq!(
            v,
            ["2001:db8:1::fe", "2001:db8:1::ff", "2001:db8:1::100"]
                .map(|s| s.parse::<IpAddr>().unwrap())
        );
        let v = address_range("198.51.100.254".parse().unwrap(), 2);
        assert_eq!(v[1], "198.51.100.255".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn percentiles_of_sorted_samples() {
        let s = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&s, 0.5), 3.0);
        assert_eq!(percentile(&s, 1.0), 5.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn the_flood_template_is_an_i1_to_the_target() {
        let target = Target {
            hit: identities(1).unwrap()[0].hit,
            addr: "2001:db8::1".parse().unwrap(),
            sources: vec!["2001:db8::2".parse().unwrap()],
        };
        let t = i1_template(&target).unwrap();
        let p = hip_proto::wire::Packet::new_checked(&t[..]).unwrap();
        assert_eq!(p.packet_type(), hip_proto::registry::PacketType::I1);
        assert_eq!(p.receiver_hit(), target.hit);
    }
}
