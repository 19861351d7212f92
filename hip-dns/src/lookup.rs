//! Sans-IO lookup messages: the query for a name's HIP, A or AAAA RRset and
//! the checks and extraction of the answer (RFC 8005 sections 3 and 4).
//!
//! The caller sends [`query_message`]'s bytes (UDP, or TCP with the 2-octet
//! length prefix), feeds the answer to [`parse_response`] and merges the
//! answers with [`PeerRecord::from_hip_answer`] and [`PeerRecord::add_addrs`].
//! The crate's `client` feature does exactly that over tokio sockets.

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hip_proto::crypto::hi::HostIdPublic;
use hip_proto::hit::OrchidVersion;
use hip_proto::Hit;

use crate::hip_rr::{HipRdata, HIP_RR_TYPE};
use crate::verify::{verify_hit, VerifyError};

/// The EDNS(0) UDP payload size we advertise (the DNS flag day 2020 value);
/// a HIP RR with an RSA-3072 key fits.
pub const EDNS_PAYLOAD: u16 = 1232;

/// CNAMEs followed at most within one answer.
const MAX_CNAME_CHAIN: usize = 8;

/// The RR types a HIP lookup asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryType {
    /// HIP (type 55, RFC 8005).
    Hip,
    /// A (RFC 1035).
    A,
    /// AAAA (RFC 3596).
    Aaaa,
}

impl QueryType {
    /// The hickory record type.
    pub fn record_type(self) -> RecordType {
        match self {
            QueryType::Hip => RecordType::Unknown(HIP_RR_TYPE),
            QueryType::A => RecordType::A,
            QueryType::Aaaa => RecordType::AAAA,
        }
    }
}

/// Why a lookup answer gives no usable record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// RCODE 3: the name does not exist; do not query it again for other
    /// types (RFC 8005 section 3).
    #[error("the name does not exist (NXDOMAIN)")]
    NxDomain,
    /// RCODE 0 and no HIP RR: the name has no HIP information (RFC 8005
    /// section 3); the caller's policy decides on opportunistic HIP or plain IP.
    #[error("the name has no HIP record")]
    NoHipRecord,
    /// The TC bit is set: ask again over TCP (RFC 7766 section 5).
    #[error("the answer is truncated (retry over TCP)")]
    Truncated,
    /// The answer's ID is not the query's: a stray or spoofed answer.
    #[error("answer ID {got} is not the query's {want}")]
    IdMismatch {
        /// The query's ID.
        want: u16,
        /// The answer's ID.
        got: u16,
    },
    /// Undecodable message, not an answer, or an answer to another question.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// Every HIP RR's HIT or HI failed the check of RFC 8005 section 4.1 (the
    /// first failure is kept).
    #[error("HIP record does not verify: {0}")]
    HitMismatch(VerifyError),
    /// RCODE 2 (SERVFAIL).
    #[error("the server failed (SERVFAIL)")]
    ServFail,
    /// REFUSED, NOTIMP, FORMERR or another RCODE.
    #[error("the server answered {0}")]
    Rcode(ResponseCode),
}

/// The query for `name`'s `qtype` RRset, class IN, recursion desired, with
/// EDNS(0) (RFC 6891). `id` must be random (RFC 5452 section 9.2): the caller
/// supplies it.
pub fn query_message(id: u16, name: &Name, qtype: QueryType) -> Result<Vec<u8>, LookupError> {
    let mut name = name.clone();
    name.set_fqdn(true);
    let mut q = Query::query(name, qtype.record_type());
    q.set_query_class(DNSClass::IN);
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(q);
    m.extensions_mut()
        .get_or_insert_with(Edns::new)
        .set_max_payload(EDNS_PAYLOAD)
        .set_version(0);
    m.to_vec()
        .map_err(|e| LookupError::Malformed(format!("cannot encode the query: {e}")))
}

/// The RRs an answer gives for the asked name (after any CNAMEs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// HIP RRs with their TTL; an RR whose RDATA does not parse is kept as
    /// the error so that [`PeerRecord::from_hip_answer`] can report it.
    pub hip: Vec<(Result<HipRdata, String>, u32)>,
    /// A and AAAA RRs with their TTL.
    pub addrs: Vec<(IpAddr, u32)>,
    /// The smallest TTL of the CNAMEs followed (`u32::MAX` if none).
    pub cname_ttl: u32,
}

/// Check an answer to [`query_message`]`(id, name, qtype)` and extract its
/// RRs for `name`. Never panics, whatever the bytes.
pub fn parse_response(
    id: u16,
    name: &Name,
    qtype: QueryType,
    bytes: &[u8],
) -> Result<Answer, LookupError> {
    // The header first: a truncated answer may not decode past it.
    if bytes.len() < 12 {
        return Err(LookupError::Malformed("shorter than a DNS header".into()));
    }
    let got = u16::from_be_bytes([bytes[0], bytes[1]]);
    if got != id {
        return Err(LookupError::IdMismatch { want: id, got });
    }
    if bytes[2] & 0x80 == 0 {
        return Err(LookupError::Malformed("not a response (QR=0)".into()));
    }
    if bytes[2] & 0x02 != 0 {
        return Err(LookupError::Truncated);
    }
    let m = Message::from_vec(bytes).map_err(|e| LookupError::Malformed(e.to_string()))?;
    if m.op_code() != OpCode::Query {
        return Err(LookupError::Malformed("not a QUERY answer".into()));
    }
    let question_ok = matches!(m.queries(), [q] if q.name().eq_ignore_root(name)
        && q.query_type() == qtype.record_type()
        && q.query_class() == DNSClass::IN);
    if !question_ok {
        return Err(LookupError::Malformed("answer to another question".into()));
    }
    match m.response_code() {
        ResponseCode::NoError => {}
        ResponseCode::NXDomain => return Err(LookupError::NxDomain),
        ResponseCode::ServFail => return Err(LookupError::ServFail),
        other => return Err(LookupError::Rcode(other)),
    }
    Ok(extract(name, m.answers()))
}

fn extract(name: &Name, answers: &[Record]) -> Answer {
    let mut owner = name.clone();
    let mut out = Answer {
        cname_ttl: u32::MAX,
        ..Answer::default()
    };
    for _ in 0..MAX_CNAME_CHAIN {
        let cname = answers.iter().find_map(|r| match r.data() {
            RData::CNAME(c) if r.name().eq_ignore_root(&owner) => Some((c.0.clone(), r.ttl())),
            _ => None,
        });
        match cname {
            Some((target, ttl)) => {
                owner = target;
                out.cname_ttl = out.cname_ttl.min(ttl);
            }
            None => break,
        }
    }
    for r in answers
        .iter()
        .filter(|r| r.name().eq_ignore_root(&owner) && r.dns_class() == DNSClass::IN)
    {
        match r.data() {
            RData::A(a) => out.addrs.push((IpAddr::V4(a.0), r.ttl())),
            RData::AAAA(a) => out.addrs.push((IpAddr::V6(a.0), r.ttl())),
            RData::Unknown { code, rdata } if *code == RecordType::Unknown(HIP_RR_TYPE) => {
                out.hip.push((
                    HipRdata::parse(rdata.anything()).map_err(|e| e.to_string()),
                    r.ttl(),
                ))
            }
            // An empty RDATA decodes as Update0.
            RData::Update0(t) if *t == RecordType::Unknown(HIP_RR_TYPE) => {
                out.hip.push((Err("empty HIP RDATA".to_string()), r.ttl()))
            }
            _ => {}
        }
    }
    out
}

/// What a HIP lookup of a name found (RFC 8005 section 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRecord {
    /// The name looked up.
    pub name: Name,
    /// The HIT, checked to be the ORCHID of `host_id`.
    pub hit: Hit,
    /// The Host Identity (its HOST_ID "Host Identity" field is
    /// `host_id.to_hi_bytes()`).
    pub host_id: HostIdPublic,
    /// The ORCHID version of `hit` (v1: RFC 4843, v2: RFC 7343).
    pub hit_version: OrchidVersion,
    /// Rendezvous servers in order of preference (RFC 8005 section 5.6); they
    /// belong to this HI (section 4.2), and need their own A/AAAA lookups.
    pub rvs: Vec<Name>,
    /// The name's A and AAAA addresses.
    pub addrs: Vec<IpAddr>,
    /// The smallest TTL of the RRs used; the record MUST be dropped after it
    /// (RFC 8005 section 4.2).
    pub ttl: u32,
}

impl PeerRecord {
    /// The record from an answer to a HIP query: the first HIP RR whose HIT
    /// verifies (RFC 8005 leaves the choice among several open, section
    /// 4.2), with the RVS names of that same RR.
    pub fn from_hip_answer(name: &Name, answer: &Answer) -> Result<Self, LookupError> {
        let mut first_err = None;
        for (r, ttl) in &answer.hip {
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    first_err.get_or_insert(LookupError::Malformed(format!("HIP RDATA: {e}")));
                    continue;
                }
            };
            match verify_hit(r) {
                Ok((hit_version, host_id)) => {
                    let mut rec = PeerRecord {
                        name: name.clone(),
                        hit: Hit(r.hit),
                        host_id,
                        hit_version,
                        rvs: r.rendezvous_servers.clone(),
                        addrs: Vec::new(),
                        ttl: (*ttl).min(answer.cname_ttl),
                    };
                    rec.add_addrs(answer);
                    return Ok(rec);
                }
                Err(e) => {
                    first_err.get_or_insert(LookupError::HitMismatch(e));
                }
            }
        }
        Err(first_err.unwrap_or(LookupError::NoHipRecord))
    }

    /// Add the addresses of an A or AAAA answer for the same name; the TTL
    /// becomes the smallest of the RRs used.
    pub fn add_addrs(&mut self, answer: &Answer) {
        for (a, ttl) in &answer.addrs {
            if !self.addrs.contains(a) {
                self.addrs.push(*a);
            }
            self.ttl = self.ttl.min(*ttl);
        }
        if !answer.addrs.is_empty() {
            self.ttl = self.ttl.min(answer.cname_ttl);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, NULL};
    use hip_proto::crypto::hi::{HostIdentity, KeySpec};
    use hip_proto::crypto::orchid;
    use proptest::prelude::*;

    pub(crate) fn sample() -> (HostIdentity, HipRdata) {
        let id = HostIdentity::generate(KeySpec::Ed25519, &mut rand_core::OsRng).unwrap();
        let hit = orchid::hit_v2(id.public()).unwrap();
        let rvs = vec![Name::from_ascii("rvs.grid.example.").unwrap()];
        let r = HipRdata::for_identity(id.public(), hit, rvs).unwrap();
        (id, r)
    }

    fn hip_record(owner: &Name, r: &HipRdata, ttl: u32) -> Record {
        Record::from_rdata(
            owner.clone(),
            ttl,
            RData::Unknown {
                code: RecordType::Unknown(HIP_RR_TYPE),
                rdata: NULL::with(r.emit().unwrap()),
            },
        )
    }

    fn response(query: &[u8], rcode: ResponseCode, answers: Vec<Record>) -> Vec<u8> {
        let q = Message::from_vec(query).unwrap();
        let mut m = Message::new();
        m.set_id(q.id())
            .set_message_type(MessageType::Response)
            .set_op_code(OpCode::Query)
            .set_response_code(rcode)
            .add_queries(q.queries().to_vec())
            .add_answers(answers);
        m.to_vec().unwrap()
    }

    #[test]
    fn hip_answer_gives_a_verified_peer_record() {
        let (id, r) = sample();
        let name = Name::from_ascii("host.grid.example.").unwrap();
        let q = query_message(0x1234, &name, QueryType::Hip).unwrap();
        let resp = response(&q, ResponseCode::NoError, vec![hip_record(&name, &r, 300)]);
        let ans = parse_response(0x1234, &name, QueryType::Hip, &resp).unwrap();
        let mut peer = PeerRecord::from_hip_answer(&name, &ans).unwrap();
        assert_eq!(peer.hit, orchid::hit_v2(id.public()).unwrap());
        assert_eq!(&peer.host_id, id.public());
        assert_eq!(peer.hit_version, OrchidVersion::V2);
        assert_eq!(peer.rvs, r.rendezvous_servers);
        assert_eq!(peer.ttl, 300);

        let q6 = query_message(7, &name, QueryType::Aaaa).unwrap();
        let addr: std::net::Ipv6Addr = "2001:db8::7".parse().unwrap();
        let resp6 = response(
            &q6,
            ResponseCode::NoError,
            vec![Record::from_rdata(
                name.clone(),
                60,
                RData::AAAA(AAAA(addr)),
            )],
        );
        peer.add_addrs(&parse_response(7, &name, QueryType::Aaaa, &resp6).unwrap());
        assert_eq!(peer.addrs, vec![IpAddr::V6(addr)]);
        assert_eq!(peer.ttl, 60);
    }

    #[test]
    fn cnames_are_followed_and_count_in_the_ttl() {
        let (_, r) = sample();
        let name = Name::from_ascii("alias.grid.example.").unwrap();
        let target = Name::from_ascii("host.grid.example.").unwrap();
        let q = query_message(1, &name, QueryType::Hip).unwrap();
        let resp = response(
            &q,
            ResponseCode::NoError,
            vec![
                Record::from_rdata(name.clone(), 30, RData::CNAME(CNAME(target.clone()))),
                hip_record(&target, &r, 300),
            ],
        );
        let ans = parse_response(1, &name, QueryType::Hip, &resp).unwrap();
        assert_eq!(PeerRecord::from_hip_answer(&name, &ans).unwrap().ttl, 30);
    }

    #[test]
    fn typed_errors() {
        let (_, r) = sample();
        let name = Name::from_ascii("host.grid.example.").unwrap();
        let q = query_message(9, &name, QueryType::Hip).unwrap();
        let nx = response(&q, ResponseCode::NXDomain, vec![]);
        assert_eq!(
            parse_response(9, &name, QueryType::Hip, &nx),
            Err(LookupError::NxDomain)
        );
        assert_eq!(
            parse_response(10, &name, QueryType::Hip, &nx),
            Err(LookupError::IdMismatch { want: 10, got: 9 })
        );
        let sf = response(&q, ResponseCode::ServFail, vec![]);
        assert_eq!(
            parse_response(9, &name, QueryType::Hip, &sf),
            Err(LookupError::ServFail)
        );
        let refused = response(&q, ResponseCode::Refused, vec![]);
        assert_eq!(
            parse_response(9, &name, QueryType::Hip, &refused),
            Err(LookupError::Rcode(ResponseCode::Refused))
        );
        let mut tc = response(&q, ResponseCode::NoError, vec![]);
        tc[2] |= 0x02;
        assert_eq!(
            parse_response(9, &name, QueryType::Hip, &tc),
            Err(LookupError::Truncated)
        );
        // Asked for another name or type.
        let other = Name::from_ascii("other.grid.example.").unwrap();
        let ok = response(&q, ResponseCode::NoError, vec![]);
        assert!(matches!(
            parse_response(9, &other, QueryType::Hip, &ok),
            Err(LookupError::Malformed(_))
        ));
        assert!(matches!(
            parse_response(9, &name, QueryType::A, &ok),
            Err(LookupError::Malformed(_))
        ));
        // NODATA.
        let ans = parse_response(9, &name, QueryType::Hip, &ok).unwrap();
        assert_eq!(
            PeerRecord::from_hip_answer(&name, &ans),
            Err(LookupError::NoHipRecord)
        );
        // A record for another owner is not used.
        let stray = response(&q, ResponseCode::NoError, vec![hip_record(&other, &r, 5)]);
        let ans = parse_response(9, &name, QueryType::Hip, &stray).unwrap();
        assert_eq!(
            PeerRecord::from_hip_answer(&name, &ans),
            Err(LookupError::NoHipRecord)
        );
        // A HIT that is not the HI's.
        let mut bad = r.clone();
        bad.hit[15] ^= 0x40;
        let resp = response(&q, ResponseCode::NoError, vec![hip_record(&name, &bad, 5)]);
        let ans = parse_response(9, &name, QueryType::Hip, &resp).unwrap();
        assert!(matches!(
            PeerRecord::from_hip_answer(&name, &ans),
            Err(LookupError::HitMismatch(VerifyError::HitMismatch { .. }))
        ));
        // ...but a good RR after a bad one is used.
        let resp = response(
            &q,
            ResponseCode::NoError,
            vec![hip_record(&name, &bad, 5), hip_record(&name, &r, 7)],
        );
        let ans = parse_response(9, &name, QueryType::Hip, &resp).unwrap();
        assert_eq!(PeerRecord::from_hip_answer(&name, &ans).unwrap().ttl, 7);
        // A query is not an answer.
        assert!(matches!(
            parse_response(9, &name, QueryType::Hip, &q),
            Err(LookupError::Malformed(_))
        ));
        let a = response(
            &query_message(3, &name, QueryType::A).unwrap(),
            ResponseCode::NoError,
            vec![Record::from_rdata(
                name.clone(),
                5,
                RData::A(A::new(192, 0, 2, 1)),
            )],
        );
        let ans = parse_response(3, &name, QueryType::A, &a).unwrap();
        assert_eq!(ans.addrs, vec![("192.0.2.1".parse().unwrap(), 5)]);
    }

    proptest! {
        #[test]
        fn parse_response_never_panics(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            let name = Name::from_ascii("host.grid.example.").unwrap();
            let id = if b.len() >= 2 { u16::from_be_bytes([b[0], b[1]]) } else { 0 };
            if let Ok(ans) = parse_response(id, &name, QueryType::Hip, &b) {
                let _ = PeerRecord::from_hip_answer(&name, &ans);
            }
        }

        #[test]
        fn mutated_answers_never_panic(pos in 0usize..400, val in any::<u8>()) {
            let (_, r) = sample();
            let name = Name::from_ascii("host.grid.example.").unwrap();
            let q = query_message(9, &name, QueryType::Hip).unwrap();
            let mut resp = response(&q, ResponseCode::NoError, vec![hip_record(&name, &r, 5)]);
            let n = resp.len();
            resp[pos % n] = val;
            if let Ok(ans) = parse_response(9, &name, QueryType::Hip, &resp) {
                let _ = PeerRecord::from_hip_answer(&name, &ans);
            }
        }
    }
}
