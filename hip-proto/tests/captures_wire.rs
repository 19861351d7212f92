//! Every HIP packet in the reference captures (../shared/interop) parses,
//! has a good checksum, and re-emits byte for byte.

use std::path::{Path, PathBuf};

use hip_proto::pcap::{self, Transport};
use hip_proto::wire::{checksum, HipRepr, Packet, ParseOptions};

fn interop_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/interop");
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!("skipping: {} not found", d.display());
        None
    }
}

fn captures(dir: &Path) -> Vec<PathBuf> {
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

#[test]
fn every_captured_hip_packet_round_trips() {
    let Some(dir) = interop_dir() else { return };
    let files = captures(&dir);
    assert!(
        files.len() >= 15,
        "expected the interop captures, found {files:?}"
    );
    let mut total = 0;
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let cap = pcap::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        // The upstream cutehip capture has R1 parameters out of order.
        let opts = ParseOptions {
            allow_unordered: f.ends_with("upstream-hip.pcap"),
            hipl_private: f.to_string_lossy().contains("hipl-1.0.8"),
            ..Default::default()
        };
        for (n, rec) in cap.records.iter().enumerate() {
            let Some(c) = pcap::decode_frame(cap.link_type, rec.data) else {
                continue;
            };
            let (hip, over_udp) = match c.transport {
                Transport::Hip(h) => (h, false),
                Transport::HipOverUdp { hip, .. } => (hip, true),
                _ => continue,
            };
            let ctx = format!("{} frame {}", f.display(), n + 1);
            let pk = Packet::new_checked(hip).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let repr = HipRepr::parse(&pk, opts).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            if over_udp {
                // RFC 5770 section 5.1: the HIP checksum is zero over UDP.
                assert_eq!(pk.checksum(), 0, "{ctx}");
            } else {
                assert!(checksum::verify(hip, c.src, c.dst), "{ctx}: bad checksum");
            }
            let mut again = repr.to_bytes().unwrap();
            again[4..6].copy_from_slice(&hip[4..6]);
            assert_eq!(again, hip, "{ctx}: emit(parse(bytes)) != bytes");
            total += 1;
        }
    }
    assert!(total > 100, "only {total} HIP packets found");
    eprintln!("{total} HIP packets round-tripped");
}
