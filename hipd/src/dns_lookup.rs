//! Looking a peer up by name (RFC 8005 section 4): the HIP RR and the A and
//! AAAA RRsets are asked for in parallel (section 3: "the resolver SHOULD
//! query for the HIP RR and the A/AAAA RRs"), the HIT is checked to be the
//! ORCHID of the HI (section 4.1), the RVS names are resolved to addresses
//! (section 4.2), and the result is installed by the control actor
//! ([`Ctl::DnsPeer`]), where it follows the DNS TTL.
//!
//! All network I/O runs on the main runtime's tasks, never on the control
//! actor's thread. Bad answers (NXDOMAIN, truncated, malformed, a forged
//! HIT) are typed errors and counted ([`DnsStats`]), never a panic.
use crate::control_actor::{Ctl, CtlHandle};
use crate::stats::{inc, DnsStats};
use hickory_proto::rr::Name;
use hip_dns::{parse_response, query_message, Answer, LookupError, PeerRecord, QueryType};
use hip_proto::Hit;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::oneshot;

/// How long one UDP attempt waits for its answer.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(800);
/// UDP attempts per query.
pub const UDP_ATTEMPTS: usize = 3;
/// How long a TCP exchange may take (connect, write, read).
pub const TCP_TIMEOUT: Duration = Duration::from_secs(3);
/// RVS names resolved at most per peer.
const MAX_RVS: usize = 4;
/// Names remembered for "logged once per name" (cleared when full).
const LOGGED_NAMES: usize = 4096;
/// How long the control actor may take to install a peer.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a name gave no peer.
#[derive(Debug, thiserror::Error)]
pub enum LookupFailure {
    /// No resolver to ask.
    #[error(
        "no DNS server to ask: set dns_upstream in hipd.conf (or a nameserver in /etc/resolv.conf)"
    )]
    NoUpstream,
    /// Not a DNS name.
    #[error("bad name {0:?}")]
    BadName(String),
    /// No answer after every retry.
    #[error("no answer from {0} in time")]
    Timeout(SocketAddr),
    /// A socket error.
    #[error("DNS I/O with {0}: {1}")]
    Io(SocketAddr, String),
    /// What the answer said (NXDOMAIN, no HIP RR, a HIT that is not the
    /// HI's, SERVFAIL...).
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

/// A raw exchange's failure.
#[derive(Debug)]
pub enum ExchangeError {
    /// No answer in time.
    Timeout,
    /// A socket error.
    Io(std::io::Error),
}

fn unspecified(server: SocketAddr) -> SocketAddr {
    match server {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}

/// Sends `msg` over UDP to `server` (retransmitted [`UDP_ATTEMPTS`] times)
/// and returns the first datagram from it whose ID is `msg`'s (a connected
/// socket on a fresh port: RFC 5452 section 9.2 source port randomness).
pub async fn udp_exchange(server: SocketAddr, msg: &[u8]) -> Result<Vec<u8>, ExchangeError> {
    if msg.len() < 2 {
        return Err(ExchangeError::Io(std::io::ErrorKind::InvalidInput.into()));
    }
    let id = [msg[0], msg[1]];
    let sock = UdpSocket::bind(unspecified(server))
        .await
        .map_err(ExchangeError::Io)?;
    sock.connect(server).await.map_err(ExchangeError::Io)?;
    let mut buf = vec![0u8; 65535];
    for _ in 0..UDP_ATTEMPTS {
        sock.send(msg).await.map_err(ExchangeError::Io)?;
        let deadline = tokio::time::Instant::now() + ATTEMPT_TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                Err(_) => break,
                // ICMP port unreachable: the server is not there.
                Ok(Err(e)) => return Err(ExchangeError::Io(e)),
                Ok(Ok(n)) if n >= 12 && buf[..2] == id => return Ok(buf[..n].to_vec()),
                Ok(Ok(_)) => {}
            }
        }
    }
    Err(ExchangeError::Timeout)
}

/// One DNS message over TCP (RFC 7766: 2-octet length prefix), bounded by
/// [`TCP_TIMEOUT`].
pub async fn tcp_exchange(server: SocketAddr, msg: &[u8]) -> Result<Vec<u8>, ExchangeError> {
    let go = async {
        let len = u16::try_from(msg.len())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        let mut s = TcpStream::connect(server).await?;
        let mut out = Vec::with_capacity(msg.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(msg);
        s.write_all(&out).await?;
        let mut l = [0u8; 2];
        s.read_exact(&mut l).await?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(l))];
        s.read_exact(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    match tokio::time::timeout(TCP_TIMEOUT, go).await {
        Ok(r) => r.map_err(ExchangeError::Io),
        Err(_) => Err(ExchangeError::Timeout),
    }
}

/// The default upstream from resolv.conf text: the first `nameserver` that
/// is not the proxy's own address (resolv.conf may point at the proxy
/// itself; asking it would loop). With a proxy on an unspecified address,
/// loopback servers are skipped too. Port 53.
pub fn upstream_from_resolv_conf(text: &str, proxy: Option<SocketAddr>) -> Option<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some("nameserver")).then(|| f.next()).flatten()
        })
        // A zone index (fe80::1%eth0) is not supported: skipped.
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .find(|s| match proxy {
            Some(p) if p.ip().is_unspecified() => !(s.ip().is_loopback() && s.port() == p.port()),
            Some(p) => *s != p,
            None => true,
        })
}

/// [`upstream_from_resolv_conf`] of /etc/resolv.conf.
pub fn default_upstream(proxy: Option<SocketAddr>) -> Option<SocketAddr> {
    let t = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    upstream_from_resolv_conf(&t, proxy)
}

/// A name's peer record, verified, with its RVS addresses.
#[derive(Debug, Clone)]
pub struct Learned {
    /// The name (lower case, no final dot).
    pub name: String,
    /// The verified record (HIT, HI, RVS names, addresses, TTL).
    pub record: PeerRecord,
    /// The addresses of the RVS names (section 4.2), in their order.
    pub rvs_addrs: Vec<IpAddr>,
}

/// A peer the control actor knows by name (the hosts file fallback).
#[derive(Debug, Clone)]
pub struct KnownPeer {
    /// Its HIT.
    pub hit: Hit,
    /// Its LSI.
    pub lsi: Ipv4Addr,
    /// Its locators.
    pub locators: Vec<IpAddr>,
    /// Its RVS addresses.
    pub rvs: Vec<IpAddr>,
}

/// What the control actor installs for a name ([`Ctl::DnsPeer`]).
#[derive(Debug, Clone)]
pub struct DnsPeer {
    /// The name.
    pub name: String,
    /// The verified HIT.
    pub hit: Hit,
    /// The name's A/AAAA addresses.
    pub locators: Vec<IpAddr>,
    /// The RVS addresses.
    pub rvs: Vec<IpAddr>,
    /// Seconds the entry may live (RFC 8005 section 4.2).
    pub ttl: u32,
}

/// The lookup side of HIP in DNS, shared by `hipconf` requests and the proxy.
pub struct Resolver {
    /// The server asked.
    pub upstream: Option<SocketAddr>,
    /// The counters.
    pub stats: Arc<DnsStats>,
    ctl: CtlHandle,
    logged: Mutex<HashSet<String>>,
}

/// The name in canonical text form: lower case, no final dot.
pub fn canonical_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Resolver {
    /// A resolver asking `upstream`, installing through `ctl`.
    pub fn new(upstream: Option<SocketAddr>, stats: Arc<DnsStats>, ctl: CtlHandle) -> Self {
        Resolver {
            upstream,
            stats,
            ctl,
            logged: Mutex::new(HashSet::new()),
        }
    }

    /// One query of `qtype` for `name`: UDP, then TCP when the answer is
    /// truncated (RFC 7766 section 5).
    async fn ask(
        &self,
        server: SocketAddr,
        name: &Name,
        qtype: QueryType,
    ) -> Result<Answer, LookupFailure> {
        let id = random_id();
        let q = query_message(id, name, qtype)?;
        let a = udp_exchange(server, &q)
            .await
            .map_err(|e| exchange_failure(server, e))?;
        match parse_response(id, name, qtype, &a) {
            Err(LookupError::Truncated) => {
                inc(&self.stats.dns_lookup_truncated);
                let id = random_id();
                let q = query_message(id, name, qtype)?;
                let a = tcp_exchange(server, &q)
                    .await
                    .map_err(|e| exchange_failure(server, e))?;
                Ok(parse_response(id, name, qtype, &a)?)
            }
            r => Ok(r?),
        }
    }

    /// Looks `name` up: HIP, AAAA and A in parallel, the HIT verified, the
    /// RVS names resolved. Counts every outcome; a HIT that is not the HI's
    /// is logged once per name.
    pub async fn lookup(&self, name: &str) -> Result<Learned, LookupFailure> {
        inc(&self.stats.dns_lookups);
        let r = self.lookup_inner(name).await;
        if let Err(e) = &r {
            let c = match e {
                LookupFailure::Timeout(_) => &self.stats.dns_lookup_timeout,
                LookupFailure::Lookup(LookupError::NxDomain) => &self.stats.dns_lookup_nxdomain,
                LookupFailure::Lookup(LookupError::NoHipRecord) => &self.stats.dns_lookup_no_hip,
                LookupFailure::Lookup(LookupError::HitMismatch(_)) => {
                    self.log_mismatch_once(name, e);
                    &self.stats.dns_hit_mismatch
                }
                LookupFailure::Lookup(LookupError::Malformed(_))
                | LookupFailure::Lookup(LookupError::IdMismatch { .. }) => {
                    &self.stats.dns_lookup_malformed
                }
                _ => &self.stats.dns_lookup_failed,
            };
            inc(c);
        }
        r
    }

    async fn lookup_inner(&self, name: &str) -> Result<Learned, LookupFailure> {
        let server = self.upstream.ok_or(LookupFailure::NoUpstream)?;
        let text = canonical_name(name);
        let n = Name::from_ascii(format!("{text}."))
            .map_err(|_| LookupFailure::BadName(name.to_string()))?;
        if crate::config::check_dns_name(&text).is_err() {
            return Err(LookupFailure::BadName(name.to_string()));
        }
        let (hip, aaaa, a) = tokio::join!(
            self.ask(server, &n, QueryType::Hip),
            self.ask(server, &n, QueryType::Aaaa),
            self.ask(server, &n, QueryType::A),
        );
        let mut record = PeerRecord::from_hip_answer(&n, &hip?)?;
        for ans in [aaaa, a] {
            match ans {
                Ok(ans) => record.add_addrs(&ans),
                // A name with a HIP RR but no addresses of one family (or
                // none: RVS only) is still a peer.
                Err(e) => tracing::debug!(name = %text, "address lookup: {e}"),
            }
        }
        let rvs_addrs = self.rvs_addresses(server, &record.rvs).await;
        Ok(Learned {
            name: text,
            record,
            rvs_addrs,
        })
    }

    /// The A/AAAA addresses of the RVS names (RFC 8005 section 4.2), in
    /// their order of preference; names that do not resolve are skipped.
    async fn rvs_addresses(&self, server: SocketAddr, names: &[Name]) -> Vec<IpAddr> {
        let mut out = Vec::new();
        for rvs in names.iter().take(MAX_RVS) {
            let (aaaa, a) = tokio::join!(
                self.ask(server, rvs, QueryType::Aaaa),
                self.ask(server, rvs, QueryType::A),
            );
            for ans in [aaaa, a] {
                match ans {
                    Ok(ans) => {
                        for (addr, _) in ans.addrs {
                            if !out.contains(&addr) {
                                out.push(addr);
                            }
                        }
                    }
                    Err(e) => tracing::debug!(%rvs, "RVS address lookup: {e}"),
                }
            }
        }
        out
    }

    fn log_mismatch_once(&self, name: &str, e: &LookupFailure) {
        let key = canonical_name(name);
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        if logged.len() >= LOGGED_NAMES {
            logged.clear();
        }
        if logged.insert(key) {
            tracing::warn!(%name, "HIP RR dropped (RFC 8005 section 4.1): {e}; nothing installed for this name");
        }
    }

    /// Installs a looked-up peer (HIT, locators, name, RVS, TTL) through the
    /// control actor; returns its LSI once the mapping is in place.
    pub async fn install(&self, l: &Learned) -> Result<Ipv4Addr, String> {
        let peer = DnsPeer {
            name: l.name.clone(),
            hit: l.record.hit,
            locators: l.record.addrs.clone(),
            rvs: l.rvs_addrs.clone(),
            ttl: l.record.ttl,
        };
        let (reply, rx) = oneshot::channel();
        self.ctl
            .signals
            .send(Ctl::DnsPeer { peer, reply })
            .map_err(|_| "hipd is stopping".to_string())?;
        match tokio::time::timeout(INSTALL_TIMEOUT, rx).await {
            Ok(Ok(r)) => r,
            _ => Err("the control actor did not answer".into()),
        }
    }

    /// The peer the control actor knows under `name` (hosts file, `add
    /// map` with a name, or an earlier lookup), if any.
    pub async fn known(&self, name: &str) -> Option<KnownPeer> {
        let (reply, rx) = oneshot::channel();
        self.ctl
            .signals
            .send(Ctl::NameLookup {
                name: canonical_name(name),
                reply,
            })
            .ok()?;
        tokio::time::timeout(INSTALL_TIMEOUT, rx).await.ok()?.ok()?
    }
}

fn exchange_failure(server: SocketAddr, e: ExchangeError) -> LookupFailure {
    match e {
        ExchangeError::Timeout => LookupFailure::Timeout(server),
        ExchangeError::Io(e) => LookupFailure::Io(server, e.to_string()),
    }
}

/// A random message ID (RFC 5452 section 9.2).
pub fn random_id() -> u16 {
    use rand_core::RngCore;
    rand_core::OsRng.next_u32() as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_upstream_skips_the_proxy_itself() {
        let rc = "# generated\nsearch grid.example\nnameserver 127.0.0.153\nnameserver 198.51.100.53\nnameserver 2001:db8::53\n";
        let proxy: SocketAddr = "127.0.0.153:53".parse().unwrap();
        assert_eq!(
            upstream_from_resolv_conf(rc, Some(proxy)),
            Some("198.51.100.53:53".parse().unwrap())
        );
        assert_eq!(
            upstream_from_resolv_conf(rc, None),
            Some("127.0.0.153:53".parse().unwrap())
        );
        // A proxy on the wildcard address: loopback servers would be itself.
        let wild: SocketAddr = "0.0.0.0:53".parse().unwrap();
        assert_eq!(
            upstream_from_resolv_conf("nameserver 127.0.0.1\nnameserver 192.0.2.53", Some(wild)),
            Some("192.0.2.53:53".parse().unwrap())
        );
        assert_eq!(
            upstream_from_resolv_conf("nameserver 127.0.0.153\n", Some(proxy)),
            None
        );
        assert_eq!(upstream_from_resolv_conf("nameserver bogus\n", None), None);
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_timeout_and_short_messages_are_refused() {
        // A bound socket that never answers.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let server = silent.local_addr().unwrap();
        let q = query_message(
            7,
            &Name::from_ascii("b.grid.example.").unwrap(),
            QueryType::A,
        )
        .unwrap();
        let t = std::time::Instant::now();
        assert!(matches!(
            udp_exchange(server, &q).await,
            Err(ExchangeError::Timeout)
        ));
        assert!(t.elapsed() < ATTEMPT_TIMEOUT * (UDP_ATTEMPTS as u32 + 1));
        assert!(matches!(
            udp_exchange(server, &[1]).await,
            Err(ExchangeError::Io(_))
        ));
    }
}
