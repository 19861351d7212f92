//! Helpers shared by the capture-based tests.
#![allow(dead_code)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use hip_proto::pcap::{self, Transport};

#[path = "../../../tests/src/skip.rs"]
mod skip;
pub use skip::skip;

/// $HIPR_INTEROP, else ../shared/interop, or None (with a message) when it is absent.
pub fn interop_dir() -> Option<PathBuf> {
    let d = std::env::var_os("HIPR_INTEROP").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/interop"),
        PathBuf::from,
    );
    if d.is_dir() {
        Some(d)
    } else {
        skip(&format!("{} not found", d.display()));
        None
    }
}

/// Every .pcap below `dir`, sorted.
pub fn captures(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "pcap") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A HIP packet found in a capture.
pub struct CapturedHip {
    pub frame: usize,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub over_udp: bool,
    pub bytes: Vec<u8>,
}

/// The HIP packets of a capture file.
pub fn hip_packets(path: &Path) -> Vec<CapturedHip> {
    let bytes = std::fs::read(path).unwrap();
    let cap = pcap::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for (n, rec) in cap.records.iter().enumerate() {
        let Some(c) = pcap::decode_frame(cap.link_type, rec.data) else {
            continue;
        };
        let (hip, over_udp) = match c.transport {
            Transport::Hip(h) => (h, false),
            Transport::HipOverUdp { hip, .. } => (hip, true),
            _ => continue,
        };
        out.push(CapturedHip {
            frame: n + 1,
            src: c.src,
            dst: c.dst,
            over_udp,
            bytes: hip.to_vec(),
        });
    }
    out
}
