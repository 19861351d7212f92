//! The DNS proxy (`dns_proxy = ADDR:PORT`; HIPL shipped it as
//! `hipdnsproxy`): unmodified applications reach HIP peers by name.
//!
//! An A or AAAA query is forwarded to the upstream as it is, and in
//! parallel the name's HIP RR (and addresses) are looked up
//! ([`crate::dns_lookup`], RFC 8005 section 3; the forwarded query's answer
//! serves as the lookup's answer of its type, and a name without a HIP RR
//! is answered as soon as the forwarded answer and the HIP one are in). When the name has a HIP RR
//! whose HIT is the ORCHID of its HI (section 4.1), the peer is installed by
//! the control actor first (HIT, locators, LSI and its route), and only then
//! is the query answered: AAAA with the peer's HIT, A with its LSI (RFC 5338,
//! so IPv4-only applications get the LSI). A name without a HIP RR gets the
//! upstream's answer unchanged, byte for byte (ID included). A name whose
//! HIP RR does not verify gets SERVFAIL: answering its plain addresses would
//! let a forged record downgrade the peer to unprotected IP.
//!
//! Answers are remembered ([`AnswerCache`]): a HIP name's HIT and LSI for
//! the record's TTL (the installed peer lives at least that long), and that
//! a name has no HIP RR (or does not exist) for at most [`NEGATIVE_TTL`]
//! (RFC 2308 negative caching, with a fixed bound instead of the SOA
//! minimum); within that, an A/AAAA query costs one forwarded query, or
//! none.
//!
//! Every other query (other types, several questions, other opcodes) is
//! forwarded unchanged; undecodable queries get FORMERR, answers are never
//! answered. Outstanding queries are bounded ([`MAX_OUTSTANDING`]), every
//! exchange has a timeout, and every outcome is counted ([`DnsStats`]).
use crate::dns_lookup::{tcp_exchange, udp_exchange, ExchangeError, LookupFailure, Resolver};
use crate::stats::{inc, DnsStats};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use hip_dns::{LookupError, QueryType};
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;

/// Queries being answered at most (UDP and TCP together); beyond, a UDP
/// query is dropped (the client retries) and counted.
pub const MAX_OUTSTANDING: usize = 512;
/// TCP connections at most.
pub const MAX_TCP: usize = 64;
/// How long one query may take in all.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(6);
/// How long an idle TCP connection stays open (RFC 7766 section 6.2.3).
pub const TCP_IDLE: Duration = Duration::from_secs(10);
/// The TTL of a synthesized answer at most: the mapping it names is kept at
/// least this long ([`crate::dns_peers::MIN_LIFETIME`]).
pub const MAX_ANSWER_TTL: u32 = 300;

/// How long "this name has no HIP RR" is remembered at most.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(30);
/// Names remembered at most (the cache is emptied when full).
pub const CACHE_MAX: usize = 4096;

/// What the proxy remembers of a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cached {
    /// A verified HIP RR: the installed peer's HIT and LSI.
    Hip {
        hit: hip_proto::Hit,
        lsi: std::net::Ipv4Addr,
    },
    /// No HIP RR (or no such name): pass through.
    NoHip,
}

/// Recent answers by name, each until its expiry.
#[derive(Default)]
pub struct AnswerCache {
    map: std::sync::Mutex<std::collections::HashMap<String, (Instant, Cached)>>,
}

impl AnswerCache {
    /// The entry of `name` and the seconds it has left.
    pub fn get(&self, name: &str, now: Instant) -> Option<(Cached, u32)> {
        let m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let (until, c) = m.get(name)?;
        if now >= *until {
            return None;
        }
        Some((*c, until.duration_since(now).as_secs() as u32))
    }

    /// Remembers `c` for `name` for `ttl`.
    pub fn put(&self, name: &str, c: Cached, ttl: Duration, now: Instant) {
        if ttl.is_zero() {
            return;
        }
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= CACHE_MAX {
            m.clear();
        }
        m.insert(name.to_string(), (now + ttl, c));
    }
}

/// The proxy's shared state.
pub struct Proxy {
    /// Lookups and installs.
    pub resolver: Arc<Resolver>,
    /// Where queries are forwarded.
    pub upstream: SocketAddr,
    /// The counters.
    pub stats: Arc<DnsStats>,
    outstanding: Arc<Semaphore>,
    tcp_conns: Arc<Semaphore>,
    cache: AnswerCache,
}

/// What to do with a query.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// An A or AAAA query for one name: the HIP path.
    Address(RecordType),
    /// Forward unchanged.
    Forward,
    /// Not a query we answer (a response, or undecodable without an ID).
    Drop,
}

fn classify(bytes: &[u8]) -> Result<(Kind, Option<Message>), ()> {
    if bytes.len() < 12 {
        return Ok((Kind::Drop, None));
    }
    if bytes[2] & 0x80 != 0 {
        // QR=1: never answer an answer (no loops between proxies).
        return Ok((Kind::Drop, None));
    }
    let m = Message::from_vec(bytes).map_err(|_| ())?;
    let kind = match m.queries() {
        [q] if m.op_code() == OpCode::Query
            && q.query_class() == DNSClass::IN
            && matches!(q.query_type(), RecordType::A | RecordType::AAAA) =>
        {
            Kind::Address(q.query_type())
        }
        _ => Kind::Forward,
    };
    Ok((kind, Some(m)))
}

/// A header-only error answer to undecodable `bytes` (RFC 1035 section
/// 4.1.1: ID, opcode and RD copied, QR set, no sections).
fn header_error(bytes: &[u8], rcode: u8) -> Vec<u8> {
    let mut h = vec![0u8; 12];
    h[0] = bytes[0];
    h[1] = bytes[1];
    h[2] = 0x80 | (bytes[2] & 0x79);
    h[3] = 0x80 | (rcode & 0x0f);
    h
}

/// An answer to `q` with `rcode` and `answers`, the question copied, EDNS(0)
/// when the query had it.
fn reply(q: &Message, rcode: ResponseCode, answers: Vec<Record>) -> Option<Vec<u8>> {
    let mut m = Message::new();
    m.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_op_code(q.op_code())
        .set_recursion_desired(q.recursion_desired())
        .set_recursion_available(true)
        .set_checking_disabled(q.checking_disabled())
        .set_response_code(rcode)
        .add_queries(q.queries().to_vec())
        .add_answers(answers);
    if q.extensions().is_some() {
        m.extensions_mut()
            .get_or_insert_with(Edns::new)
            .set_max_payload(hip_dns::lookup::EDNS_PAYLOAD)
            .set_version(0);
    }
    m.to_vec().ok()
}

impl Proxy {
    /// A proxy forwarding to `upstream`.
    pub fn new(resolver: Arc<Resolver>, upstream: SocketAddr) -> Self {
        let stats = resolver.stats.clone();
        Proxy {
            resolver,
            upstream,
            stats,
            outstanding: Arc::new(Semaphore::new(MAX_OUTSTANDING)),
            tcp_conns: Arc::new(Semaphore::new(MAX_TCP)),
            cache: AnswerCache::default(),
        }
    }

    async fn forward(&self, bytes: &[u8], tcp: bool) -> Option<Vec<u8>> {
        let r = if tcp {
            tcp_exchange(self.upstream, bytes).await
        } else {
            udp_exchange(self.upstream, bytes).await
        };
        match r {
            Ok(a) => Some(a),
            Err(e) => {
                inc(&self.stats.dns_proxy_upstream_failed);
                match e {
                    ExchangeError::Timeout => {
                        crate::debug_limited!(upstream = %self.upstream, "DNS proxy: no answer from the upstream")
                    }
                    ExchangeError::Io(e) => {
                        crate::debug_limited!(upstream = %self.upstream, "DNS proxy: upstream: {e}")
                    }
                }
                None
            }
        }
    }

    /// The answer to one query (`None`: send nothing).
    pub async fn answer(&self, bytes: &[u8], tcp: bool) -> Option<Vec<u8>> {
        inc(&self.stats.dns_proxy_queries);
        let (kind, q) = match classify(bytes) {
            Ok(k) => k,
            Err(()) => {
                inc(&self.stats.dns_proxy_formerr);
                return Some(header_error(bytes, 1));
            }
        };
        let (rtype, q) = match (kind, q) {
            (Kind::Drop, _) => {
                inc(&self.stats.dns_proxy_formerr);
                return None;
            }
            (Kind::Address(t), Some(q)) => (t, q),
            _ => {
                inc(&self.stats.dns_proxy_passthrough);
                return match self.forward(bytes, tcp).await {
                    Some(a) => Some(a),
                    None => self.servfail(bytes),
                };
            }
        };
        let done = tokio::time::timeout(QUERY_TIMEOUT, self.address_query(bytes, &q, rtype, tcp));
        match done.await {
            Ok(a) => a,
            Err(_) => {
                inc(&self.stats.dns_proxy_upstream_failed);
                self.servfail(bytes)
            }
        }
    }

    fn servfail(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        inc(&self.stats.dns_proxy_servfail);
        match Message::from_vec(bytes) {
            Ok(q) => reply(&q, ResponseCode::ServFail, Vec::new()),
            Err(_) => Some(header_error(bytes, 2)),
        }
    }

    /// An A/AAAA query: the HIP lookup alongside the forwarded query.
    async fn address_query(
        &self,
        bytes: &[u8],
        q: &Message,
        rtype: RecordType,
        tcp: bool,
    ) -> Option<Vec<u8>> {
        let qname = q.queries()[0].name().clone();
        let name = qname.to_ascii();
        let key = crate::dns_lookup::canonical_name(&name);
        let now = Instant::now();
        match self.cache.get(&key, now) {
            Some((Cached::Hip { hit, lsi }, left)) => {
                inc(&self.stats.dns_proxy_cached);
                return self.synthesized(q, qname, rtype, hit, lsi, left, bytes);
            }
            Some((Cached::NoHip, _)) => {
                inc(&self.stats.dns_proxy_cached);
                inc(&self.stats.dns_proxy_passthrough);
                return match self.forward(bytes, tcp).await {
                    Some(a) => Some(a),
                    None => self.servfail(bytes),
                };
            }
            None => {}
        }
        // The forwarded query's answer is the lookup's A (or AAAA) answer.
        let shared = match rtype {
            RecordType::AAAA => QueryType::Aaaa,
            _ => QueryType::A,
        };
        let (forwarded, looked_up) = self
            .resolver
            .lookup_alongside(&name, shared, self.forward(bytes, tcp))
            .await;
        let (hit, lsi, ttl) = match looked_up {
            Ok(l) => match self.resolver.install(&l).await {
                Ok(lsi) => {
                    let ttl = Duration::from_secs(u64::from(l.record.ttl));
                    self.cache.put(
                        &key,
                        Cached::Hip {
                            hit: l.record.hit,
                            lsi,
                        },
                        ttl,
                        now,
                    );
                    (l.record.hit, lsi, l.record.ttl)
                }
                Err(e) => {
                    crate::debug_limited!(%name, "DNS proxy: peer not installed: {e}");
                    inc(&self.stats.dns_proxy_passthrough);
                    return forwarded.or_else(|| self.servfail(bytes));
                }
            },
            Err(LookupFailure::Lookup(LookupError::HitMismatch(_))) => {
                return self.servfail(bytes);
            }
            Err(e) => {
                let authoritative_no = matches!(e, LookupFailure::Lookup(LookupError::NoHipRecord));
                if matches!(
                    e,
                    LookupFailure::Lookup(LookupError::NoHipRecord | LookupError::NxDomain)
                ) {
                    self.cache.put(&key, Cached::NoHip, NEGATIVE_TTL, now);
                }
                // NXDOMAIN, an unreachable or failing upstream: a peer the
                // hosts file names still gets its HIT and LSI.
                let known = if authoritative_no {
                    None
                } else {
                    self.resolver.known(&name).await
                };
                match known {
                    Some(k) => {
                        inc(&self.stats.dns_hosts_fallback);
                        (k.hit, k.lsi, 0)
                    }
                    None => {
                        inc(&self.stats.dns_proxy_passthrough);
                        return forwarded.or_else(|| self.servfail(bytes));
                    }
                }
            }
        };
        self.synthesized(q, qname, rtype, hit, lsi, ttl, bytes)
    }

    /// AAAA with the HIT or A with the LSI.
    #[allow(clippy::too_many_arguments)]
    fn synthesized(
        &self,
        q: &Message,
        qname: hickory_proto::rr::Name,
        rtype: RecordType,
        hit: hip_proto::Hit,
        lsi: std::net::Ipv4Addr,
        ttl: u32,
        bytes: &[u8],
    ) -> Option<Vec<u8>> {
        let rdata = match rtype {
            RecordType::AAAA => RData::AAAA(AAAA(Ipv6Addr::from(hit))),
            _ => RData::A(A(lsi)),
        };
        let rec = Record::from_rdata(qname, ttl.min(MAX_ANSWER_TTL), rdata);
        inc(&self.stats.dns_proxy_hip_answers);
        reply(q, ResponseCode::NoError, vec![rec]).or_else(|| self.servfail(bytes))
    }

    /// Serves UDP queries on `sock` until the task is aborted.
    pub async fn serve_udp(self: Arc<Self>, sock: UdpSocket) {
        let sock = Arc::new(sock);
        let mut buf = vec![0u8; 65535];
        loop {
            let (n, from) = match sock.recv_from(&mut buf).await {
                Ok(x) => x,
                Err(e) => {
                    crate::debug_limited!("DNS proxy recv: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let Ok(permit) = self.outstanding.clone().try_acquire_owned() else {
                inc(&self.stats.dns_proxy_busy);
                continue;
            };
            let query = buf[..n].to_vec();
            let (me, sock) = (self.clone(), sock.clone());
            tokio::spawn(async move {
                if let Some(a) = me.answer(&query, false).await {
                    if let Err(e) = sock.send_to(&a, from).await {
                        crate::debug_limited!(%from, "DNS proxy send: {e}");
                    }
                }
                drop(permit);
            });
        }
    }

    /// Serves TCP connections (RFC 7766) on `l` until the task is aborted.
    pub async fn serve_tcp(self: Arc<Self>, l: TcpListener) {
        loop {
            let (s, _) = match l.accept().await {
                Ok(x) => x,
                Err(e) => {
                    crate::debug_limited!("DNS proxy accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(conn) = self.tcp_conns.clone().try_acquire_owned() else {
                inc(&self.stats.dns_proxy_busy);
                continue;
            };
            inc(&self.stats.dns_proxy_tcp);
            let me = self.clone();
            tokio::spawn(async move {
                let _ = me.tcp_connection(s).await;
                drop(conn);
            });
        }
    }

    async fn tcp_connection(&self, mut s: tokio::net::TcpStream) -> std::io::Result<()> {
        // Queries on one connection are answered in order.
        loop {
            let mut l = [0u8; 2];
            match tokio::time::timeout(TCP_IDLE, s.read_exact(&mut l)).await {
                Ok(Ok(_)) => {}
                _ => return Ok(()),
            }
            let mut q = vec![0u8; usize::from(u16::from_be_bytes(l))];
            match tokio::time::timeout(TCP_IDLE, s.read_exact(&mut q)).await {
                Ok(Ok(_)) => {}
                _ => return Ok(()),
            }
            let Ok(_permit) = self.outstanding.clone().try_acquire_owned() else {
                inc(&self.stats.dns_proxy_busy);
                return Ok(());
            };
            let Some(a) = self.answer(&q, true).await else {
                continue;
            };
            let Ok(len) = u16::try_from(a.len()) else {
                continue;
            };
            let mut out = Vec::with_capacity(a.len() + 2);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&a);
            s.write_all(&out).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::Name;
    use hip_dns::{query_message, QueryType};

    #[test]
    fn the_answer_cache_keeps_entries_until_their_expiry() {
        let c = AnswerCache::default();
        let t = Instant::now();
        let hip = Cached::Hip {
            hit: "2001:20::1".parse::<Ipv6Addr>().unwrap().into(),
            lsi: std::net::Ipv4Addr::new(198, 19, 0, 2),
        };
        c.put("b.grid.example", hip, Duration::from_secs(60), t);
        c.put("plain.example", Cached::NoHip, NEGATIVE_TTL, t);
        c.put("zero.example", Cached::NoHip, Duration::ZERO, t);
        assert_eq!(
            c.get("b.grid.example", t + Duration::from_secs(10)),
            Some((hip, 50))
        );
        assert_eq!(c.get("plain.example", t).map(|x| x.0), Some(Cached::NoHip));
        assert_eq!(c.get("plain.example", t + NEGATIVE_TTL), None, "expired");
        assert_eq!(c.get("zero.example", t), None);
        assert_eq!(c.get("other.example", t), None);
        for i in 0..CACHE_MAX + 1 {
            c.put(&format!("n{i}.example"), Cached::NoHip, NEGATIVE_TTL, t);
        }
        assert!(c.map.lock().unwrap().len() <= CACHE_MAX, "bounded");
    }

    #[test]
    fn queries_are_classified() {
        let n = Name::from_ascii("b.grid.example.").unwrap();
        let a = query_message(1, &n, QueryType::A).unwrap();
        assert_eq!(classify(&a).unwrap().0, Kind::Address(RecordType::A));
        let aaaa = query_message(1, &n, QueryType::Aaaa).unwrap();
        assert_eq!(classify(&aaaa).unwrap().0, Kind::Address(RecordType::AAAA));
        let hip = query_message(1, &n, QueryType::Hip).unwrap();
        assert_eq!(classify(&hip).unwrap().0, Kind::Forward);
        let mut answer = a.clone();
        answer[2] |= 0x80;
        assert_eq!(classify(&answer).unwrap().0, Kind::Drop);
        assert_eq!(classify(&a[..5]).unwrap().0, Kind::Drop);
        // A header claiming one question that is not there.
        let mut bad = a[..12].to_vec();
        bad[5] = 1;
        assert!(classify(&bad).is_err());
        let fe = header_error(&bad, 1);
        assert_eq!(&fe[..2], &bad[..2]);
        assert_eq!(fe[2] & 0x80, 0x80);
        assert_eq!(fe[3] & 0x0f, 1);
    }

    #[test]
    fn a_synthesized_answer_keeps_the_id_question_and_edns() {
        let n = Name::from_ascii("B.Grid.example.").unwrap();
        let q = Message::from_vec(&query_message(0x4242, &n, QueryType::Aaaa).unwrap()).unwrap();
        let hit: Ipv6Addr = "2001:20::1".parse().unwrap();
        let rec = Record::from_rdata(n.clone(), 60, RData::AAAA(AAAA(hit)));
        let a = Message::from_vec(&reply(&q, ResponseCode::NoError, vec![rec]).unwrap()).unwrap();
        assert_eq!(a.id(), 0x4242);
        assert_eq!(a.message_type(), MessageType::Response);
        assert_eq!(a.queries(), q.queries());
        assert!(a.extensions().is_some());
        assert_eq!(a.answers()[0].data(), &RData::AAAA(AAAA(hit)));
    }
}
