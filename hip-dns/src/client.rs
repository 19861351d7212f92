//! A small tokio client over the sans-IO helpers: UDP first, TCP when the
//! answer is truncated (RFC 7766 section 5), bounded timeouts and retries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::rr::Name;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

use crate::lookup::{parse_response, query_message, Answer, LookupError, PeerRecord, QueryType};
use crate::update::{SignedUpdate, UpdateError};

/// How long one attempt waits for an answer.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// UDP attempts per query (the first and the retransmissions).
pub const UDP_ATTEMPTS: usize = 3;

/// Why [`resolve`] found no peer record.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The answer said why (NXDOMAIN, no HIP RR, a bad HIT, an RCODE...).
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// No answer in time after every retry.
    #[error("no answer from {0} in time")]
    Timeout(SocketAddr),
    /// A socket error.
    #[error("DNS I/O with {server}: {err}")]
    Io {
        /// The server.
        server: SocketAddr,
        /// The error.
        err: std::io::Error,
    },
}

/// Why [`send_update`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SendUpdateError {
    /// The server's answer (NOTAUTH, REFUSED, a bad signature...).
    #[error(transparent)]
    Update(#[from] UpdateError),
    /// No answer in time.
    #[error("no answer from {0} in time")]
    Timeout(SocketAddr),
    /// A socket error.
    #[error("DNS I/O with {server}: {err}")]
    Io {
        /// The server.
        server: SocketAddr,
        /// The error.
        err: std::io::Error,
    },
}

fn random_id() -> u16 {
    use rand_core::RngCore;
    // RFC 5452 section 9.2: an unpredictable ID.
    rand_core::OsRng.next_u32() as u16
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn unspecified(server: SocketAddr) -> SocketAddr {
    match server {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}

/// Outcome of one exchange: an answer, or nothing in time.
enum Exchange {
    Answer(Vec<u8>),
    TimedOut,
}

async fn udp_exchange(server: SocketAddr, msg: &[u8], id: u16) -> std::io::Result<Exchange> {
    let sock = UdpSocket::bind(unspecified(server)).await?;
    sock.connect(server).await?;
    let mut buf = vec![0u8; 65535];
    for _ in 0..UDP_ATTEMPTS {
        sock.send(msg).await?;
        let deadline = tokio::time::Instant::now() + ATTEMPT_TIMEOUT;
        // Skip stray datagrams with another ID until the attempt's deadline.
        loop {
            match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                Err(_) => break,
                Ok(r) => {
                    let n = r?;
                    if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                        return Ok(Exchange::Answer(buf[..n].to_vec()));
                    }
                }
            }
        }
    }
    Ok(Exchange::TimedOut)
}

async fn tcp_exchange(server: SocketAddr, msg: &[u8]) -> std::io::Result<Exchange> {
    let go = async {
        let mut s = TcpStream::connect(server).await?;
        let len = u16::try_from(msg.len()).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "message too long")
        })?;
        let mut out = len.to_be_bytes().to_vec();
        out.extend_from_slice(msg);
        s.write_all(&out).await?;
        let mut l = [0u8; 2];
        s.read_exact(&mut l).await?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(l))];
        s.read_exact(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    match timeout(ATTEMPT_TIMEOUT * 2, go).await {
        Ok(r) => r.map(Exchange::Answer),
        Err(_) => Ok(Exchange::TimedOut),
    }
}

async fn ask(server: SocketAddr, name: &Name, qtype: QueryType) -> Result<Answer, ResolveError> {
    let io = |err| ResolveError::Io { server, err };
    let id = random_id();
    let q = query_message(id, name, qtype)?;
    let a = match udp_exchange(server, &q, id).await.map_err(io)? {
        Exchange::Answer(a) => a,
        Exchange::TimedOut => return Err(ResolveError::Timeout(server)),
    };
    match parse_response(id, name, qtype, &a) {
        Err(LookupError::Truncated) => {
            // A new ID for the TCP query.
            let id = random_id();
            let q = query_message(id, name, qtype)?;
            match tcp_exchange(server, &q).await.map_err(io)? {
                Exchange::Answer(a) => Ok(parse_response(id, name, qtype, &a)?),
                Exchange::TimedOut => Err(ResolveError::Timeout(server)),
            }
        }
        r => Ok(r?),
    }
}

/// Look `name` up at `server`: its HIP RRset (verified, RFC 8005 section
/// 4.1), then its AAAA and A RRsets. A name without addresses still gives a
/// record (it may be reachable through its rendezvous servers only).
pub async fn resolve(server: SocketAddr, name: &Name) -> Result<PeerRecord, ResolveError> {
    let hip = ask(server, name, QueryType::Hip).await?;
    let mut peer = PeerRecord::from_hip_answer(name, &hip)?;
    for t in [QueryType::Aaaa, QueryType::A] {
        match ask(server, name, t).await {
            Ok(a) => peer.add_addrs(&a),
            // No addresses of that family: not an error for the peer record.
            Err(ResolveError::Lookup(LookupError::NxDomain)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(peer)
}

/// Send a signed UPDATE to the zone's primary `server` and check its answer
/// (TSIG included); TCP if the answer is truncated.
pub async fn send_update(server: SocketAddr, msg: &SignedUpdate) -> Result<(), SendUpdateError> {
    let io = |err| SendUpdateError::Io { server, err };
    let a = match udp_exchange(server, &msg.bytes, msg.id).await.map_err(io)? {
        Exchange::Answer(a) => a,
        Exchange::TimedOut => return Err(SendUpdateError::Timeout(server)),
    };
    match msg.check_response(&a, unix_now()) {
        Err(UpdateError::Truncated) => match tcp_exchange(server, &msg.bytes).await.map_err(io)? {
            Exchange::Answer(a) => Ok(msg.check_response(&a, unix_now())?),
            Exchange::TimedOut => Err(SendUpdateError::Timeout(server)),
        },
        r => Ok(r?),
    }
}

/// The current time for [`crate::update::publish`] and
/// [`crate::update::withdraw`] (seconds since the Unix epoch).
pub fn now() -> u64 {
    unix_now()
}

/// A random message ID for [`crate::lookup::query_message`] and the UPDATE
/// builders.
pub fn new_id() -> u16 {
    random_id()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
    use hickory_proto::rr::rdata::NULL;
    use hickory_proto::rr::{RData, Record, RecordType};

    /// A one-name server on loopback: answers HIP over UDP with TC set, and
    /// in full over TCP; AAAA/A with NODATA.
    async fn serve(hip: crate::HipRdata, name: Name) -> SocketAddr {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
        let answer = move |q: &[u8], tc: bool| {
            let q = Message::from_vec(q).unwrap();
            let mut m = Message::new();
            m.set_id(q.id())
                .set_message_type(MessageType::Response)
                .set_op_code(OpCode::Query)
                .set_response_code(ResponseCode::NoError)
                .add_queries(q.queries().to_vec());
            if q.queries()[0].query_type() == RecordType::Unknown(55) {
                if tc {
                    m.set_truncated(true);
                } else {
                    m.add_answer(Record::from_rdata(
                        name.clone(),
                        99,
                        RData::Unknown {
                            code: RecordType::Unknown(55),
                            rdata: NULL::with(hip.emit().unwrap()),
                        },
                    ));
                }
            }
            m.to_vec().unwrap()
        };
        let a2 = answer.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            // Bounded: this test sends at most 3 UDP queries.
            for _ in 0..3 {
                let (n, from) = udp.recv_from(&mut buf).await.unwrap();
                udp.send_to(&answer(&buf[..n], true), from).await.unwrap();
            }
        });
        tokio::spawn(async move {
            let (mut s, _) = tcp.accept().await.unwrap();
            let mut l = [0u8; 2];
            s.read_exact(&mut l).await.unwrap();
            let mut q = vec![0u8; usize::from(u16::from_be_bytes(l))];
            s.read_exact(&mut q).await.unwrap();
            let a = a2(&q, false);
            let mut out = (a.len() as u16).to_be_bytes().to_vec();
            out.extend_from_slice(&a);
            s.write_all(&out).await.unwrap();
        });
        addr
    }

    #[tokio::test]
    async fn truncated_udp_answer_is_retried_over_tcp() {
        let (id, r) = crate::lookup::tests::sample();
        let name = Name::from_ascii("host.grid.example.").unwrap();
        let server = serve(r.clone(), name.clone()).await;
        let peer = resolve(server, &name).await.unwrap();
        assert_eq!(&peer.host_id, id.public());
        assert_eq!(peer.ttl, 99);
        assert!(peer.addrs.is_empty());
    }
}
