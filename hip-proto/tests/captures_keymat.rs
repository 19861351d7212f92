//! Known-answer tests from the key material recorded beside the captures:
//! * cutehip: from the logged Kij, recompute KEYMAT (RFC 7401 section 6.5)
//!   and compare with analysis/*.verify.txt, then verify every HIP_MAC and
//!   HIP_MAC_2 in the capture with the derived keys;
//! * HIPL: with the HIP-gl/HIP-lg integrity keys from hipd's debug log,
//!   verify every HIP_MAC and HIP_MAC_2 (RFC 5201 coverage rules);
//! * every puzzle solution (HIPL K = 0 and K = 10, cutehip K = 16).

mod common;

use std::io::Read;

use common::{hip_packets, interop_dir, CapturedHip};
use hip_proto::crypto::keymat::{DirectionalKeys, Keymat};
use hip_proto::crypto::mac;
use hip_proto::crypto::puzzle::{Puzzle, PuzzleInputOrder};
use hip_proto::crypto::rhash::Rhash;
use hip_proto::registry::{HitSuiteId, PacketType};
use hip_proto::wire::{cover, HipRepr, Packet, ParamRepr, ParamType, ParseOptions};
use hip_proto::Hit;

fn parse(p: &CapturedHip) -> HipRepr {
    let opts = ParseOptions {
        hipl_private: true,
        ..Default::default()
    };
    HipRepr::parse(&Packet::new_checked(&p.bytes[..]).unwrap(), opts).unwrap()
}

fn hex_after(text: &str, marker: &str) -> Vec<u8> {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not found"))
        + marker.len();
    let h: String = text[at..]
        .trim_start_matches([' ', '='])
        .trim_start_matches("0x")
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    hex::decode(h).unwrap()
}

/// The hex value after `name` on the line that starts with `line`.
fn field(text: &str, line: &str, name: &str) -> Vec<u8> {
    let l = text
        .lines()
        .find(|l| l.starts_with(line))
        .unwrap_or_else(|| panic!("no line {line}"));
    hex_after(l, name)
}

/// Check every HIP_MAC / HIP_MAC_2 with `key_for(sender, packet_type)`.
fn check_macs(
    pkts: &[CapturedHip],
    rhash: Rhash,
    key_for: impl Fn(&Hit, PacketType, ParamType) -> Vec<u8>,
) -> usize {
    let mut r1_host_id: std::collections::HashMap<Hit, Vec<u8>> = Default::default();
    let mut checked = 0;
    for p in pkts {
        let r = parse(p);
        if r.packet_type == PacketType::R1 {
            r1_host_id.insert(
                r.sender_hit,
                cover::raw_param(&p.bytes, ParamType::HostId).unwrap(),
            );
        }
        for (ty, tag) in r.params.iter().filter_map(|q| match q {
            ParamRepr::HipMac(t) => Some((ParamType::HipMac, t)),
            ParamRepr::HipMac2(t) => Some((ParamType::HipMac2, t)),
            _ => None,
        }) {
            let covered = if ty == ParamType::HipMac {
                cover::hip_mac(&p.bytes).unwrap()
            } else {
                cover::hip_mac_2(&p.bytes, &r1_host_id[&r.sender_hit]).unwrap()
            };
            let key = key_for(&r.sender_hit, r.packet_type, ty);
            assert!(
                mac::verify(rhash, &key, &covered, tag),
                "frame {} {:?} {:?} key {} tag {}",
                p.frame,
                r.packet_type,
                ty,
                hex::encode(&key),
                hex::encode(tag),
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn cutehip_keymat_and_macs() {
    let Some(dir) = interop_dir() else { return };
    for name in ["cutehip-rsa", "cutehip-ecdsa", "cutehip-rsa-binit"] {
        let verify =
            std::fs::read_to_string(dir.join(format!("cutehip/analysis/{name}.verify.txt")))
                .unwrap();
        let kij = hex_after(&verify, "Kij (IKM, 32 bytes as cutehip encodes it) =");
        let pkts = hip_packets(&dir.join(format!("cutehip/{name}.pcap")));
        let i2 = pkts
            .iter()
            .map(parse)
            .find(|r| r.packet_type == PacketType::I2)
            .unwrap();
        let Some(ParamRepr::Solution(sol)) = i2.param(ParamType::Solution) else {
            panic!("I2 without SOLUTION")
        };
        let (hit_i, hit_r) = (i2.sender_hit, i2.receiver_hit);
        let rhash = Rhash::for_hit_suite(HitSuiteId::from(hit_r.oga_id().unwrap())).unwrap();
        let km = Keymat::v2(rhash, &kij, &hit_i, &hit_r, &sol.i, &sol.j, 512).unwrap();
        // HIP_CIPHER 4 (AES-256, 32 octets), HMAC key = RHASH length.
        let (hip, next) = DirectionalKeys::draw(&km, 0, 32, rhash.output_len()).unwrap();
        assert_eq!(
            *hip.gl.enc,
            field(&verify, "KEYMAT HIP block 0", "enc key"),
            "{name}"
        );
        assert_eq!(
            *hip.gl.integ,
            field(&verify, "KEYMAT HIP block 0", "HMAC key"),
            "{name}"
        );
        assert_eq!(
            *hip.lg.enc,
            field(&verify, "KEYMAT HIP block 1", "enc key"),
            "{name}"
        );
        assert_eq!(
            *hip.lg.integ,
            field(&verify, "KEYMAT HIP block 1", "HMAC key"),
            "{name}"
        );
        let Some(ParamRepr::EspInfo(esp)) = i2.param(ParamType::EspInfo) else {
            panic!("I2 without ESP_INFO")
        };
        assert_eq!(
            usize::from(esp.keymat_index),
            next,
            "{name}: ESP keys start after the HIP keys"
        );
        // ESP suite 9: AES-256-CBC (32) with HMAC-SHA-256 (32).
        let (esp_keys, _) = DirectionalKeys::draw(&km, next, 32, 32).unwrap();
        assert_eq!(
            *esp_keys.gl.enc,
            field(&verify, "KEYMAT ESP block 0", "enc key"),
            "{name}"
        );
        assert_eq!(
            *esp_keys.gl.integ,
            field(&verify, "KEYMAT ESP block 0", "auth key"),
            "{name}"
        );
        assert_eq!(
            *esp_keys.lg.enc,
            field(&verify, "KEYMAT ESP block 1", "enc key"),
            "{name}"
        );
        assert_eq!(
            *esp_keys.lg.integ,
            field(&verify, "KEYMAT ESP block 1", "auth key"),
            "{name}"
        );
        // cutehip's BEX MACs use the reversed block (lesser HIT sends with
        // block 0); UPDATE, CLOSE and CLOSE_ACK follow RFC 7401.
        let checked = check_macs(&pkts, rhash, |sender, t, _| {
            let greater = sender.0 > if *sender == hit_i { hit_r.0 } else { hit_i.0 };
            let rfc_block = if greater { &hip.gl } else { &hip.lg };
            let other = if greater { &hip.lg } else { &hip.gl };
            let k = if matches!(t, PacketType::I2 | PacketType::R2) {
                other
            } else {
                rfc_block
            };
            k.integ.to_vec()
        });
        assert!(checked >= 7, "{name}: only {checked} MACs");
    }
}

#[test]
fn hipl_macs_with_logged_keys() {
    let Some(dir) = interop_dir() else { return };
    for run in [
        "v1-rsa",
        "v1-ecdsa",
        "v1-dsa",
        "v2-rsa",
        "v2-ecdsa",
        "v2-dsa",
        "v1-rsa-ipv4",
        "v1-rsa-ipv4-udp",
        "v1-rsa-puzzle10",
    ] {
        let mut log = String::new();
        let gz = std::fs::File::open(dir.join(format!("hipl-1.0.8/{run}/hipla/hipd-debug.log.gz")))
            .unwrap();
        // The log is gzip-compressed; decompress with the system's gzip.
        let out = std::process::Command::new("gzip")
            .arg("-dc")
            .stdin(gz)
            .output()
            .expect("gzip is needed to read the HIPL logs");
        out.stdout.as_slice().read_to_string(&mut log).unwrap();
        let gl = hex_after(&log, "HIP-gl integrity (HMAC) key:");
        let lg = hex_after(&log, "HIP-lg integrity (HMAC) key:");
        let pkts = hip_packets(&dir.join(format!("hipl-1.0.8/{run}/capture.pcap")));
        // hipla is the initiator: the sender of I2.
        let i2 = pkts
            .iter()
            .map(parse)
            .find(|r| r.packet_type == PacketType::I2)
            .unwrap();
        let a = i2.sender_hit;
        // hipd logs its own outgoing integrity key as "HIP-gl" whether its
        // HIT is the greater or the lesser one (in v1-rsa hipla's HIT is the
        // greater, in v1-ecdsa the lesser, and both MAC their I2 with it).
        let checked = check_macs(&pkts, Rhash::Sha1, |sender, _, _| {
            if *sender == a {
                gl.clone()
            } else {
                lg.clone()
            }
        });
        assert!(checked >= 4, "{run}: only {checked} MACs");
        eprintln!("{run}: {checked} MACs ok");
    }
}

#[test]
fn every_captured_puzzle_solution_verifies() {
    let Some(dir) = interop_dir() else { return };
    let mut seen = 0;
    for f in common::captures(&dir) {
        let hipl = f.to_string_lossy().contains("hipl-1.0.8");
        for p in hip_packets(&f) {
            let r = parse_lenient(&p);
            let Some(ParamRepr::Solution(s)) = r.param(ParamType::Solution) else {
                continue;
            };
            let (rhash, order) = if hipl {
                (Rhash::Sha1, PuzzleInputOrder::Rfc)
            } else {
                let suite = HitSuiteId::from(r.receiver_hit.oga_id().unwrap());
                (
                    Rhash::for_hit_suite(suite).unwrap(),
                    PuzzleInputOrder::ResponderFirst,
                )
            };
            let puzzle = Puzzle {
                rhash,
                k: s.k,
                i: &s.i,
                hit_i: &r.sender_hit,
                hit_r: &r.receiver_hit,
                order,
            };
            assert!(puzzle.verify(&s.j), "{} frame {}", f.display(), p.frame);
            if s.k >= 10 {
                // With K >= 10 the other input order fails (p = 2^-K of a false pass).
                let other = Puzzle {
                    order: match order {
                        PuzzleInputOrder::Rfc => PuzzleInputOrder::ResponderFirst,
                        _ => PuzzleInputOrder::Rfc,
                    },
                    ..puzzle
                };
                assert!(!other.verify(&s.j), "{} frame {}", f.display(), p.frame);
            }
            seen += 1;
        }
    }
    assert!(seen >= 25, "only {seen} solutions");
}

fn parse_lenient(p: &CapturedHip) -> HipRepr {
    let opts = ParseOptions {
        hipl_private: true,
        allow_unordered: true,
        ..Default::default()
    };
    HipRepr::parse(&Packet::new_checked(&p.bytes[..]).unwrap(), opts).unwrap()
}
