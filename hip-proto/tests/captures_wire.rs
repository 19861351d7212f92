//! Every HIP packet in the reference captures (../shared/interop) parses,
//! has a good checksum, and re-emits byte for byte.

mod common;

use common::{captures, hip_packets, interop_dir};
use hip_proto::wire::{checksum, HipRepr, Packet, ParseOptions};

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
        // The upstream cutehip capture has R1 parameters out of order.
        let opts = ParseOptions {
            allow_unordered: f.ends_with("upstream-hip.pcap"),
            hipl_private: f.to_string_lossy().contains("hipl-1.0.8"),
            ..Default::default()
        };
        for p in hip_packets(&f) {
            let (hip, over_udp, n) = (&p.bytes[..], p.over_udp, p.frame - 1);
            let ctx = format!("{} frame {}", f.display(), n + 1);
            let pk = Packet::new_checked(hip).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let repr = HipRepr::parse(&pk, opts).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            if over_udp {
                // RFC 5770 section 5.1: the HIP checksum is zero over UDP.
                assert_eq!(pk.checksum(), 0, "{ctx}");
            } else {
                assert!(checksum::verify(hip, p.src, p.dst), "{ctx}: bad checksum");
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
