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
    // Room for the largest datagram, not zeroed: `recv_buf` writes into the
    // spare capacity, so only the pages the answer fills are touched.
    let mut buf = Vec::with_capacity(65535);
    for _ in 0..UDP_ATTEMPTS {
        sock.send(msg).await.map_err(ExchangeError::Io)?;
        let deadline = tokio::time::Instant::now() + ATTEMPT_TIMEOUT;
        loop {
            buf.clear();
            match tokio::time::timeout_at(deadline, sock.recv_buf(&mut buf)).await {
                Err(_) => break,
                // ICMP port unreachable: the server is not there.
                Ok(Err(e)) => return Err(ExchangeError::Io(e)),
                Ok(Ok(n)) if n >= 12 && buf.len() == n && buf[..2] == id => return Ok(buf),
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
        let nothing = std::future::ready(None);
        tokio::pin!(nothing);
        let mut done = Some(None);
        self.counted(
            name,
            self.lookup_inner(name, None, nothing, &mut done).await,
        )
    }

    /// [`Self::lookup`] alongside `forward`, a query of type `shared` for
    /// the same name that the caller sends anyway (the DNS proxy forwarding
    /// its client's A or AAAA query): its answer serves as the lookup's
    /// answer of that type (or, when it is unusable, truncated or missing,
    /// the lookup asks itself), so that the upstream is asked two questions
    /// of its own, not three. Returns `forward`'s output with the lookup's;
    /// when the name has no (valid) HIP RR, as soon as both are in.
    pub async fn lookup_alongside<F>(
        &self,
        name: &str,
        shared: QueryType,
        forward: F,
    ) -> (Option<Vec<u8>>, Result<Learned, LookupFailure>)
    where
        F: std::future::Future<Output = Option<Vec<u8>>>,
    {
        tokio::pin!(forward);
        let mut forwarded = None;
        let r = self
            .lookup_inner(name, Some(shared), forward.as_mut(), &mut forwarded)
            .await;
        let r = self.counted(name, r);
        let f = match forwarded {
            Some(f) => f,
            None => forward.await,
        };
        (f, r)
    }

    /// Counts `r`'s outcome (a HIT mismatch also logged once per name).
    fn counted(
        &self,
        name: &str,
        r: Result<Learned, LookupFailure>,
    ) -> Result<Learned, LookupFailure> {
        inc(&self.stats.dns_lookups);
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

    /// The HIP query and the address queries (but `shared`, which
    /// `forward` asks) are sent at once; `forward` is driven along and its
    /// output left in `forwarded`. Without a (valid) HIP RR the lookup ends
    /// as soon as that answer is in, the address queries dropped; with one,
    /// the RVS names are resolved while the address answers come in.
    async fn lookup_inner<F>(
        &self,
        name: &str,
        shared: Option<QueryType>,
        mut forward: std::pin::Pin<&mut F>,
        forwarded: &mut Option<Option<Vec<u8>>>,
    ) -> Result<Learned, LookupFailure>
    where
        F: std::future::Future<Output = Option<Vec<u8>>>,
    {
        let server = self.upstream.ok_or(LookupFailure::NoUpstream)?;
        let text = canonical_name(name);
        let n = Name::from_ascii(format!("{text}."))
            .map_err(|_| LookupFailure::BadName(name.to_string()))?;
        if crate::config::check_dns_name(&text).is_err() {
            return Err(LookupFailure::BadName(name.to_string()));
        }
        let nr = &n;
        let own = |t: QueryType| async move {
            match shared == Some(t) {
                true => None,
                false => Some(self.ask(server, nr, t).await),
            }
        };
        let (hip, aaaa, a) = (
            self.ask(server, &n, QueryType::Hip),
            own(QueryType::Aaaa),
            own(QueryType::A),
        );
        tokio::pin!(hip, aaaa, a);
        let (mut aaaa_r, mut a_r) = (None, None);
        let hip = loop {
            tokio::select! {
                h = &mut hip => break h,
                r = &mut aaaa, if aaaa_r.is_none() => aaaa_r = Some(r),
                r = &mut a, if a_r.is_none() => a_r = Some(r),
                f = &mut forward, if forwarded.is_none() => *forwarded = Some(f),
            }
        };
        let mut record = PeerRecord::from_hip_answer(&n, &hip?)?;
        let (aaaa, a, (), rvs_addrs) = tokio::join!(
            async {
                match aaaa_r {
                    Some(r) => r,
                    None => aaaa.await,
                }
            },
            async {
                match a_r {
                    Some(r) => r,
                    None => a.await,
                }
            },
            async {
                if forwarded.is_none() {
                    *forwarded = Some(forward.as_mut().await);
                }
            },
            self.rvs_addresses(server, &record.rvs),
        );
        let mut from_forward = None;
        if let Some(t) = shared {
            let bytes = forwarded.as_ref().and_then(|f| f.as_deref());
            from_forward = Some(match bytes.map(|b| shared_answer(b, &n, t)) {
                Some(Ok(ans)) => Ok(ans),
                Some(Err(e))
                    if !matches!(e, LookupError::Truncated | LookupError::Malformed(_)) =>
                {
                    Err(LookupFailure::Lookup(e))
                }
                // No forwarded answer, or one we cannot use: ask.
                _ => self.ask(server, &n, t).await,
            });
        }
        for ans in [aaaa, a].into_iter().flatten().chain(from_forward) {
            match ans {
                Ok(ans) => record.add_addrs(&ans),
                // A name with a HIP RR but no addresses of one family (or
                // none: RVS only) is still a peer.
                Err(e) => tracing::debug!(name = %text, "address lookup: {e}"),
            }
        }
        Ok(Learned {
            name: text,
            record,
            rvs_addrs,
        })
    }

    /// The A/AAAA addresses of the RVS names (RFC 8005 section 4.2), in
    /// their order of preference; names that do not resolve are skipped.
    /// All names are asked at once.
    async fn rvs_addresses(&self, server: SocketAddr, names: &[Name]) -> Vec<IpAddr> {
        let one = |i: usize| async move {
            let Some(rvs) = names.get(i).filter(|_| i < MAX_RVS) else {
                return Vec::new();
            };
            let (aaaa, a) = tokio::join!(
                self.ask(server, rvs, QueryType::Aaaa),
                self.ask(server, rvs, QueryType::A),
            );
            let mut out = Vec::new();
            for ans in [aaaa, a] {
                match ans {
                    Ok(ans) => out.extend(ans.addrs.into_iter().map(|(addr, _)| addr)),
                    Err(e) => tracing::debug!(%rvs, "RVS address lookup: {e}"),
                }
            }
            out
        };
        const _: () = assert!(MAX_RVS == 4, "one future per RVS name below");
        let (r0, r1, r2, r3) = tokio::join!(one(0), one(1), one(2), one(3));
        let mut out = Vec::new();
        for addr in [r0, r1, r2, r3].into_iter().flatten() {
            if !out.contains(&addr) {
                out.push(addr);
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

/// The answer of type `t` for `n` in `bytes`, a response to a query the
/// caller did not build (its ID is taken as it is: the exchange matched it).
fn shared_answer(bytes: &[u8], n: &Name, t: QueryType) -> Result<Answer, LookupError> {
    let id = match bytes {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => return Err(LookupError::Malformed("shorter than a DNS header".into())),
    };
    parse_response(id, n, t, bytes)
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

    /// A server that answers A with one address and HIP with no records,
    /// never answers AAAA, and reports each question's type.
    fn no_hip_server() -> (
        SocketAddr,
        std::sync::mpsc::Receiver<hickory_proto::rr::RecordType>,
    ) {
        use hickory_proto::op::{Message, MessageType};
        use hickory_proto::rr::{rdata, RData, Record, RecordType};
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = s.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            // Bounded: 5 s, or until the test is gone.
            let end = std::time::Instant::now() + Duration::from_secs(5);
            while std::time::Instant::now() < end {
                let Ok((n, from)) = s.recv_from(&mut buf) else {
                    continue;
                };
                let q = Message::from_vec(&buf[..n]).unwrap();
                let t = q.queries()[0].query_type();
                if tx.send(t).is_err() {
                    return;
                }
                let mut m = q.clone();
                m.set_message_type(MessageType::Response);
                match t {
                    RecordType::AAAA => continue,
                    RecordType::A => {
                        let name = q.queries()[0].name().clone();
                        let a = rdata::A(Ipv4Addr::new(192, 0, 2, 7));
                        m.add_answer(Record::from_rdata(name, 60, RData::A(a)));
                    }
                    _ => {}
                }
                let _ = s.send_to(&m.to_vec().unwrap(), from);
            }
        });
        (addr, rx)
    }

    #[tokio::test]
    async fn a_name_without_hip_rr_shares_the_forwarded_query_and_does_not_wait_for_aaaa() {
        let (server, asked) = no_hip_server();
        let (packets, _p) = tokio::sync::mpsc::channel(1);
        let (signals, _s) = tokio::sync::mpsc::unbounded_channel();
        let r = Resolver::new(
            Some(server),
            Arc::new(DnsStats::default()),
            CtlHandle { packets, signals },
        );
        let n = Name::from_ascii("Plain.Grid.example.").unwrap();
        let q = query_message(0x4242, &n, QueryType::A).unwrap();
        let t = std::time::Instant::now();
        let (fwd, res) = r
            .lookup_alongside("plain.grid.example", QueryType::A, async {
                udp_exchange(server, &q).await.ok()
            })
            .await;
        // The AAAA question is never answered: waiting for it would take
        // the whole retransmission schedule.
        assert!(
            t.elapsed() < ATTEMPT_TIMEOUT,
            "waited for AAAA: {:?}",
            t.elapsed()
        );
        assert!(matches!(
            res,
            Err(LookupFailure::Lookup(LookupError::NoHipRecord))
        ));
        let fwd = fwd.expect("the forwarded answer");
        assert_eq!(&fwd[..2], &[0x42, 0x42]);
        assert_eq!(
            r.stats
                .dns_lookup_no_hip
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        let mut types: Vec<u16> = asked.try_iter().map(u16::from).collect();
        types.sort();
        // The forwarded A query serves as the lookup's: A (1) is asked
        // once, with AAAA (28) and HIP (55).
        assert_eq!(types, [1, 28, 55]);
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
