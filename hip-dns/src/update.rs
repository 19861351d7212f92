//! Publishing with DNS UPDATE (RFC 2136) signed with TSIG (RFC 8945), sans-IO.
//!
//! [`publish`] replaces a name's HIP, A and AAAA RRsets (each "delete an
//! RRset", RFC 2136 section 2.5.2, then "add to an RRset", section 2.5.1, in
//! one message, which the server applies in order and atomically, section
//! 3.4.2); [`withdraw`] deletes those three RRsets. The caller sends
//! [`SignedUpdate::bytes`] to the zone's primary and checks the answer with
//! [`SignedUpdate::check_response`], which verifies the server's TSIG.

use std::net::IpAddr;

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode, UpdateMessage};
use hickory_proto::rr::rdata::{A, AAAA, NULL};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

use crate::hip_rr::{HipRdata, HIP_RR_TYPE};
use crate::tsig::TsigKey;

/// Why an UPDATE could not be built or was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// The name is not in the zone.
    #[error("{name} is not in zone {zone}")]
    NotInZone {
        /// The name to update.
        name: String,
        /// The zone.
        zone: String,
    },
    /// The message could not be encoded or signed.
    #[error("cannot build the UPDATE: {0}")]
    Build(String),
    /// The answer's ID is not the UPDATE's.
    #[error("answer ID {got} is not the UPDATE's {want}")]
    IdMismatch {
        /// The UPDATE's ID.
        want: u16,
        /// The answer's ID.
        got: u16,
    },
    /// The TC bit is set: send again over TCP.
    #[error("the answer is truncated (retry over TCP)")]
    Truncated,
    /// Undecodable, or not an answer to an UPDATE.
    #[error("malformed UPDATE answer: {0}")]
    Malformed(String),
    /// NOTAUTH (RCODE 9): the server does not accept our key or signature
    /// (TSIG error 16 BADSIG, 17 BADKEY, 18 BADTIME; RFC 8945 section 5.2),
    /// or is not authoritative for the zone.
    #[error("the server refused the signature (NOTAUTH{})", tsig_error_text(*.tsig_error))]
    NotAuth {
        /// The TSIG error field of the answer, if it carried a TSIG.
        tsig_error: Option<u16>,
    },
    /// REFUSED (RCODE 5): the server's policy does not allow this update.
    #[error("the server refused the update (REFUSED)")]
    Refused,
    /// Another RCODE.
    #[error("the server answered {0}")]
    Rcode(ResponseCode),
    /// A NOERROR answer without a valid TSIG from the key (RFC 8945 section
    /// 5.3): the update may or may not have been applied.
    #[error("the answer's TSIG does not verify: {0}")]
    BadResponseSignature(String),
}

fn tsig_error_text(e: Option<u16>) -> String {
    match e {
        Some(16) => ", TSIG BADSIG: wrong secret".into(),
        Some(17) => ", TSIG BADKEY: key name or algorithm unknown to the server".into(),
        Some(18) => ", TSIG BADTIME: clocks differ by more than the fudge".into(),
        Some(0) | None => String::new(),
        Some(n) => format!(", TSIG error {n}"),
    }
}

/// A signed UPDATE ready to send, and what is needed to check its answer.
#[derive(Debug, Clone)]
pub struct SignedUpdate {
    /// The message ID.
    pub id: u16,
    /// The wire message (UDP payload; over TCP prefix the 2-octet length).
    pub bytes: Vec<u8>,
    request_mac: Vec<u8>,
    key: TsigKey,
    signed_at: u64,
}

fn check_zone(zone: &Name, name: &Name) -> Result<(), UpdateError> {
    if zone.zone_of(name) {
        Ok(())
    } else {
        Err(UpdateError::NotInZone {
            name: name.to_ascii(),
            zone: zone.to_ascii(),
        })
    }
}

fn hip_type() -> RecordType {
    RecordType::Unknown(HIP_RR_TYPE)
}

/// The UPDATE section records of "delete an RRset" (RFC 2136 section 2.5.2):
/// class ANY, TTL 0, empty RDATA.
fn delete_rrsets(name: &Name, m: &mut Message) {
    for t in [hip_type(), RecordType::A, RecordType::AAAA] {
        let mut r = Record::update0(name.clone(), 0, t).into_record_of_rdata();
        r.set_dns_class(DNSClass::ANY);
        m.add_update(r);
    }
}

fn new_update(zone: &Name, id: u16) -> Message {
    let mut z = Query::query(zone.clone(), RecordType::SOA);
    z.set_query_class(DNSClass::IN);
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Update)
        .add_zone(z);
    m
}

fn sign(mut m: Message, key: &TsigKey, now: u64) -> Result<SignedUpdate, UpdateError> {
    let signer = key.signer().map_err(UpdateError::Build)?;
    // TSIG time is 48 bits (RFC 8945 section 4.2); hickory takes u32 seconds.
    let t = u32::try_from(now).map_err(|_| UpdateError::Build("time beyond 2106".into()))?;
    m.finalize(&signer, t)
        .map_err(|e| UpdateError::Build(e.to_string()))?;
    let request_mac = m
        .signature()
        .iter()
        .find_map(|r| match r.data() {
            RData::DNSSEC(DNSSECRData::TSIG(t)) => Some(t.mac().to_vec()),
            _ => None,
        })
        .ok_or_else(|| UpdateError::Build("no TSIG after signing".into()))?;
    let bytes = m.to_vec().map_err(|e| UpdateError::Build(e.to_string()))?;
    Ok(SignedUpdate {
        id: m.id(),
        bytes,
        request_mac,
        key: key.clone(),
        signed_at: now,
    })
}

/// An UPDATE of `zone` that makes `name`'s HIP RRset exactly `hip` and its
/// A/AAAA RRsets exactly `addrs`, all with `ttl`; signed with `key` at `now`
/// (seconds since the Unix epoch). `id` must be random.
#[allow(clippy::too_many_arguments)]
pub fn publish(
    zone: &Name,
    name: &Name,
    hip: &HipRdata,
    addrs: &[IpAddr],
    ttl: u32,
    id: u16,
    key: &TsigKey,
    now: u64,
) -> Result<SignedUpdate, UpdateError> {
    check_zone(zone, name)?;
    let rdata = hip
        .emit()
        .map_err(|e| UpdateError::Build(format!("HIP RDATA: {e}")))?;
    let mut m = new_update(zone, id);
    delete_rrsets(name, &mut m);
    let hip_rr = Record::from_rdata(
        name.clone(),
        ttl,
        RData::Unknown {
            code: hip_type(),
            rdata: NULL::with(rdata),
        },
    );
    m.add_update(hip_rr);
    for a in addrs {
        let data = match a {
            IpAddr::V4(v4) => RData::A(A(*v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
        };
        m.add_update(Record::from_rdata(name.clone(), ttl, data));
    }
    sign(m, key, now)
}

/// An UPDATE of `zone` that deletes `name`'s HIP, A and AAAA RRsets (other
/// RRsets of the name are left alone); signed with `key` at `now`.
pub fn withdraw(
    zone: &Name,
    name: &Name,
    id: u16,
    key: &TsigKey,
    now: u64,
) -> Result<SignedUpdate, UpdateError> {
    check_zone(zone, name)?;
    let mut m = new_update(zone, id);
    delete_rrsets(name, &mut m);
    sign(m, key, now)
}

/// The error field of a TSIG RDATA (RFC 8945 section 4.2): after the
/// algorithm name, time (6), fudge (2), MAC size (2), MAC, original ID (2).
fn tsig_error(r: &Record) -> Option<u16> {
    let mut buf = Vec::new();
    let mut enc = BinEncoder::new(&mut buf);
    r.data().emit(&mut enc).ok()?;
    let mut pos = 0;
    loop {
        let l = *buf.get(pos)?;
        if l & 0xc0 == 0xc0 {
            pos += 2;
            break;
        }
        pos += 1 + usize::from(l);
        if l == 0 {
            break;
        }
    }
    pos += 8;
    let mac_len = usize::from(u16::from_be_bytes([*buf.get(pos)?, *buf.get(pos + 1)?]));
    pos += 2 + mac_len + 2;
    Some(u16::from_be_bytes([*buf.get(pos)?, *buf.get(pos + 1)?]))
}

impl SignedUpdate {
    /// Check the server's answer at `now`: `Ok` only for NOERROR with a TSIG
    /// that verifies with our key over our request's MAC (RFC 8945 section
    /// 5.3) and a time within the fudge. Never panics, whatever the bytes.
    pub fn check_response(&self, bytes: &[u8], now: u64) -> Result<(), UpdateError> {
        if bytes.len() < 12 {
            return Err(UpdateError::Malformed("shorter than a DNS header".into()));
        }
        let got = u16::from_be_bytes([bytes[0], bytes[1]]);
        if got != self.id {
            return Err(UpdateError::IdMismatch { want: self.id, got });
        }
        if bytes[2] & 0x80 == 0 {
            return Err(UpdateError::Malformed("not a response (QR=0)".into()));
        }
        if bytes[2] & 0x02 != 0 {
            return Err(UpdateError::Truncated);
        }
        let m = Message::from_vec(bytes).map_err(|e| UpdateError::Malformed(e.to_string()))?;
        if m.op_code() != OpCode::Update {
            return Err(UpdateError::Malformed("not an UPDATE answer".into()));
        }
        let tsig = m
            .signature()
            .iter()
            .find(|r| r.record_type() == RecordType::TSIG);
        match m.response_code() {
            ResponseCode::NoError => {}
            ResponseCode::NotAuth => {
                return Err(UpdateError::NotAuth {
                    tsig_error: tsig.and_then(tsig_error),
                })
            }
            ResponseCode::Refused => return Err(UpdateError::Refused),
            other => return Err(UpdateError::Rcode(other)),
        }
        if tsig.is_none() {
            return Err(UpdateError::BadResponseSignature(
                "the answer is unsigned".into(),
            ));
        }
        let signer = self
            .key
            .signer()
            .map_err(UpdateError::BadResponseSignature)?;
        let (_, range, _) = signer
            .verify_message_byte(Some(&self.request_mac), bytes, true)
            .map_err(|e| UpdateError::BadResponseSignature(e.to_string()))?;
        if !range.contains(&now) {
            return Err(UpdateError::BadResponseSignature(
                "signed outside the fudge window".into(),
            ));
        }
        // Our own signing time bounds the answer's from below.
        if now + u64::from(crate::tsig::FUDGE) < self.signed_at {
            return Err(UpdateError::BadResponseSignature("clock went back".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsig::TsigAlg;
    use hickory_proto::dnssec::tsig::TSigner;
    use proptest::prelude::*;

    fn key(secret: &[u8]) -> TsigKey {
        TsigKey {
            name: Name::from_ascii("host.grid.example.").unwrap(),
            algorithm: TsigAlg::HmacSha256,
            secret: secret.to_vec(),
        }
    }

    /// What a server does: verify the request's TSIG, answer signed.
    fn server_answer(req: &[u8], k: &TsigKey, rcode: ResponseCode, now: u32) -> Vec<u8> {
        let signer =
            TSigner::new(k.secret.clone(), k.algorithm.hickory(), k.name.clone(), 300).unwrap();
        let (mac, _, _) = signer.verify_message_byte(None, req, true).unwrap();
        let q = Message::from_vec(req).unwrap();
        let mut m = Message::new();
        m.set_id(q.id())
            .set_message_type(MessageType::Response)
            .set_op_code(OpCode::Update)
            .set_response_code(rcode)
            .add_queries(q.queries().to_vec());
        // The response MAC covers the request MAC (RFC 8945 section 5.3).
        let pre = hickory_proto::dnssec::rdata::tsig::TSIG::new(
            k.algorithm.hickory(),
            u64::from(now),
            300,
            Vec::new(),
            q.id(),
            0,
            Vec::new(),
        );
        let mut tbs = Vec::new();
        {
            let mut e = BinEncoder::new(&mut tbs);
            e.emit_u16(mac.len() as u16).unwrap();
            e.emit_vec(&mac).unwrap();
        }
        tbs.extend_from_slice(
            &hickory_proto::dnssec::rdata::tsig::message_tbs(None, &m, &pre, &k.name).unwrap(),
        );
        let sig = signer.sign(&tbs).unwrap();
        m.add_tsig(hickory_proto::dnssec::rdata::tsig::make_tsig_record(
            k.name.clone(),
            pre.set_mac(sig),
        ));
        m.to_vec().unwrap()
    }

    fn sample() -> (Name, Name, HipRdata) {
        let (_, r) = crate::lookup::tests::sample();
        (
            Name::from_ascii("grid.example.").unwrap(),
            Name::from_ascii("host.grid.example.").unwrap(),
            r,
        )
    }

    #[test]
    fn publish_has_deletes_then_adds_and_a_valid_tsig() {
        let (zone, name, r) = sample();
        let k = key(b"0123456789abcdef0123456789abcdef");
        let addrs: [IpAddr; 2] = ["192.0.2.7".parse().unwrap(), "2001:db8::7".parse().unwrap()];
        let now = 1_700_000_000;
        let u = publish(&zone, &name, &r, &addrs, 120, 0x4242, &k, now).unwrap();
        let m = Message::from_vec(&u.bytes).unwrap();
        assert_eq!(m.op_code(), OpCode::Update);
        assert_eq!(m.queries()[0].name(), &zone);
        assert_eq!(m.queries()[0].query_type(), RecordType::SOA);
        let ups = m.name_servers();
        assert_eq!(ups.len(), 6);
        for (r, t) in ups[..3]
            .iter()
            .zip([hip_type(), RecordType::A, RecordType::AAAA])
        {
            assert_eq!(
                (r.dns_class(), r.record_type(), r.ttl()),
                (DNSClass::ANY, t, 0)
            );
        }
        match ups[3].data() {
            RData::Unknown { rdata, .. } => {
                assert_eq!(HipRdata::parse(rdata.anything()).unwrap(), r)
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(ups[4].data(), &RData::A(A::new(192, 0, 2, 7)));
        assert_eq!(ups[5].ttl(), 120);
        // A server with the key accepts it, and we accept its signed answer.
        let ans = server_answer(&u.bytes, &k, ResponseCode::NoError, now as u32);
        assert_eq!(u.check_response(&ans, now), Ok(()));
        // ...but not far from the signing time, nor with another key.
        assert!(matches!(
            u.check_response(&ans, now + 1000),
            Err(UpdateError::BadResponseSignature(_))
        ));
        let other = key(b"another secret, another secret!!");
        let forged = server_answer(
            &publish(&zone, &name, &r, &addrs, 120, 0x4242, &other, now)
                .unwrap()
                .bytes,
            &other,
            ResponseCode::NoError,
            now as u32,
        );
        assert!(matches!(
            u.check_response(&forged, now),
            Err(UpdateError::BadResponseSignature(_))
        ));
        let refused = server_answer(&u.bytes, &k, ResponseCode::Refused, now as u32);
        assert_eq!(u.check_response(&refused, now), Err(UpdateError::Refused));
        let notauth = server_answer(&u.bytes, &k, ResponseCode::NotAuth, now as u32);
        assert_eq!(
            u.check_response(&notauth, now),
            Err(UpdateError::NotAuth {
                tsig_error: Some(0)
            })
        );
        let mut wrong_id = ans.clone();
        wrong_id[1] ^= 1;
        assert!(matches!(
            u.check_response(&wrong_id, now),
            Err(UpdateError::IdMismatch { .. })
        ));
    }

    #[test]
    fn withdraw_deletes_the_three_rrsets() {
        let (zone, name, _) = sample();
        let k = key(b"0123456789abcdef0123456789abcdef");
        let u = withdraw(&zone, &name, 1, &k, 1_700_000_000).unwrap();
        let m = Message::from_vec(&u.bytes).unwrap();
        let types: Vec<_> = m.name_servers().iter().map(|r| r.record_type()).collect();
        assert_eq!(types, [hip_type(), RecordType::A, RecordType::AAAA]);
        assert!(m
            .name_servers()
            .iter()
            .all(|r| r.dns_class() == DNSClass::ANY));
        let outside = Name::from_ascii("host.other.example.").unwrap();
        assert!(matches!(
            withdraw(&zone, &outside, 1, &k, 0),
            Err(UpdateError::NotInZone { .. })
        ));
    }

    proptest! {
        #[test]
        fn check_response_never_panics(b in proptest::collection::vec(any::<u8>(), 0..400)) {
            let (zone, name, _) = sample();
            let u = withdraw(&zone, &name, 7, &key(b"k"), 1_700_000_000).unwrap();
            let mut b = b;
            if b.len() >= 2 { b[0] = 0; b[1] = 7; }
            let _ = u.check_response(&b, 1_700_000_000);
        }
    }
}
