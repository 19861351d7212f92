//! `hip-inspect`: decode every HIP packet of a capture, check checksums,
//! HITs, puzzle solutions and signatures against the HOST_IDs seen in the
//! exchange, and list ESP packets.

pub mod esp_keys;
mod summary;
mod verify;

use std::collections::HashMap;
use std::net::IpAddr;

use hip_proto::crypto::hi::HostIdPublic;
use hip_proto::pcap::{self, Transport};
use hip_proto::wire::{checksum, HipRepr, Packet, ParseOptions};
use hip_proto::Hit;
use serde::Serialize;

pub use summary::summarize;
pub use verify::{Check, Profile};

/// Options of one inspection run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub profile: Profile,
}

/// What was found in one HIP packet.
#[derive(Debug, Clone, Serialize)]
pub struct HipReport {
    pub frame: usize,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// "ip" (protocol 139) or "udp" (port 10500).
    pub encapsulation: &'static str,
    pub version: u8,
    pub packet_type: String,
    pub sender_hit: String,
    pub receiver_hit: String,
    pub checksum: Check,
    pub params: Vec<String>,
    pub hit_check: Check,
    pub puzzle: Check,
    pub signature: Check,
    /// Set when the packet could not be decoded.
    pub error: Option<String>,
}

/// An ESP packet.
#[derive(Debug, Clone, Serialize)]
pub struct EspReport {
    pub frame: usize,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub encapsulation: &'static str,
    pub spi: u32,
    pub seq: u32,
    pub len: usize,
}

/// The result of inspecting a capture.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub hip: Vec<HipReport>,
    pub esp: Vec<EspReport>,
}

impl Report {
    /// Packets that failed to decode or failed a check.
    pub fn failures(&self) -> usize {
        self.hip
            .iter()
            .filter(|r| {
                r.error.is_some()
                    || [&r.checksum, &r.hit_check, &r.puzzle, &r.signature]
                        .iter()
                        .any(|c| c.is_failure())
            })
            .count()
    }

    /// Signatures that verified.
    pub fn signatures_ok(&self) -> usize {
        self.hip
            .iter()
            .filter(|r| matches!(r.signature, Check::Ok(_)))
            .count()
    }
}

/// Inspect a whole pcap file.
pub fn inspect_pcap(bytes: &[u8], opts: &Options) -> Result<Report, String> {
    let cap = pcap::parse(bytes).map_err(|e| e.to_string())?;
    let mut keys: HashMap<Hit, HostIdPublic> = HashMap::new();
    let mut report = Report::default();
    for (n, rec) in cap.records.iter().enumerate() {
        let frame = n + 1;
        let Some(c) = pcap::decode_frame(cap.link_type, rec.data) else {
            continue;
        };
        match c.transport {
            Transport::Hip(hip) => {
                report
                    .hip
                    .push(inspect_hip(frame, c.src, c.dst, "ip", hip, opts, &mut keys));
            }
            Transport::HipOverUdp { hip, .. } => {
                report.hip.push(inspect_hip(
                    frame, c.src, c.dst, "udp", hip, opts, &mut keys,
                ));
            }
            Transport::Esp(esp) => report.esp.push(esp_report(frame, c.src, c.dst, "ip", esp)),
            Transport::EspOverUdp { esp, .. } => {
                report.esp.push(esp_report(frame, c.src, c.dst, "udp", esp))
            }
            Transport::Other => {}
        }
    }
    Ok(report)
}

fn esp_report(
    frame: usize,
    src: IpAddr,
    dst: IpAddr,
    encapsulation: &'static str,
    esp: &[u8],
) -> EspReport {
    let word = |o: usize| {
        esp.get(o..o + 4)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    EspReport {
        frame,
        src,
        dst,
        encapsulation,
        spi: word(0),
        seq: word(4),
        len: esp.len(),
    }
}

fn inspect_hip(
    frame: usize,
    src: IpAddr,
    dst: IpAddr,
    encapsulation: &'static str,
    hip: &[u8],
    opts: &Options,
    keys: &mut HashMap<Hit, HostIdPublic>,
) -> HipReport {
    let mut r = HipReport {
        frame,
        src,
        dst,
        encapsulation,
        version: 0,
        packet_type: String::new(),
        sender_hit: String::new(),
        receiver_hit: String::new(),
        checksum: Check::NotApplicable,
        params: Vec::new(),
        hit_check: Check::NotApplicable,
        puzzle: Check::NotApplicable,
        signature: Check::NotApplicable,
        error: None,
    };
    let pk = match Packet::new_checked(hip) {
        Ok(p) => p,
        Err(e) => {
            r.error = Some(e.to_string());
            return r;
        }
    };
    r.version = pk.version().value();
    r.packet_type = format!("{:?}", pk.packet_type());
    r.sender_hit = pk.sender_hit().to_string();
    r.receiver_hit = pk.receiver_hit().to_string();
    r.checksum = if encapsulation == "udp" {
        // RFC 5770 section 5.1: zero over UDP (the UDP checksum covers it).
        if pk.checksum() == 0 {
            Check::Ok("zero over UDP".into())
        } else if checksum::verify(hip, src, dst) {
            Check::Ok("good".into())
        } else {
            Check::Failed("non-zero and wrong over UDP".into())
        }
    } else if checksum::verify(hip, src, dst) {
        Check::Ok("good".into())
    } else {
        Check::Failed(format!(
            "bad (got {:#06x}, expected {:#06x})",
            pk.checksum(),
            checksum::compute(src, dst, hip)
        ))
    };
    let parse = ParseOptions {
        allow_unordered: true,
        allow_unknown_critical: true,
        hipl_private: true,
    };
    let repr = match HipRepr::parse(&pk, parse) {
        Ok(r) => r,
        Err(e) => {
            r.error = Some(e.to_string());
            return r;
        }
    };
    // Strict parse too: report ordering problems without failing decoding.
    if let Err(e) = HipRepr::parse(
        &pk,
        ParseOptions {
            hipl_private: true,
            ..Default::default()
        },
    ) {
        r.params.push(format!("note: not RFC-conformant: {e}"));
    }
    r.params.extend(repr.params.iter().map(summarize));
    let v = verify::Verifier {
        profile: opts.profile,
        packet: hip,
        repr: &repr,
    };
    r.hit_check = v.hit_check(keys);
    r.puzzle = v.puzzle_check();
    r.signature = v.signature_check(keys);
    r
}
