//! hip-inspect over every reference capture: every HIP packet decodes and
//! every signature verifies; tampering is detected and changes the exit code.

use std::path::{Path, PathBuf};
use std::process::Command;

use hip_tools::inspect::{inspect_pcap, Check, Options, Profile};

fn interop_dir() -> Option<PathBuf> {
    // HIPR_INTEROP overrides the default (useful from a worktree that is not
    // a sibling of shared/).
    let d = std::env::var_os("HIPR_INTEROP").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/interop"),
        PathBuf::from,
    );
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

/// Inspects `f`: every HIP packet decodes, no check fails, every packet but
/// an I1 has a verified signature. Returns the report and the signatures.
fn inspect_verified(f: &Path) -> (hip_tools::inspect::Report, usize) {
    let r = inspect_pcap(&std::fs::read(f).unwrap(), &Options::default()).unwrap();
    assert!(!r.hip.is_empty(), "{}", f.display());
    assert_eq!(r.failures(), 0, "{}: {:#?}", f.display(), r.hip);
    let mut sigs = 0;
    for p in &r.hip {
        assert!(p.error.is_none(), "{} #{}", f.display(), p.frame);
        if p.packet_type != "I1" {
            assert!(
                matches!(p.signature, Check::Ok(_)),
                "{} #{} {}: {:?}",
                f.display(),
                p.frame,
                p.packet_type,
                p.signature
            );
            sigs += 1;
        }
    }
    (r, sigs)
}

#[test]
fn every_capture_decodes_and_every_signature_verifies() {
    let Some(dir) = interop_dir() else { return };
    let mut sigs = 0;
    for f in captures(&dir) {
        let (r, n) = inspect_verified(&f);
        sigs += n;
        for p in &r.hip {
            if matches!(p.packet_type.as_str(), "R1" | "I2") {
                assert!(
                    matches!(p.hit_check, Check::Ok(_)),
                    "{} #{}",
                    f.display(),
                    p.frame
                );
            }
            if p.packet_type == "I2" {
                assert!(
                    matches!(p.puzzle, Check::Ok(_)),
                    "{} #{}",
                    f.display(),
                    p.frame
                );
            }
        }
    }
    assert!(sigs > 200, "only {sigs} signatures");
}

/// Live captures of peers talking to hipd, kept in the tree so that CI
/// checks them without the peers or ../shared: every HIP packet decodes,
/// every signature and HIT verifies, and HIPL's HIPv2 packets carry version
/// 2 (hip-proto/tests/fixtures; rfc-notes/interop.md).
#[test]
fn kept_live_captures_decode_and_every_signature_verifies() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hip-proto/tests/fixtures");
    let mut files = 0;
    for f in captures(&dir) {
        files += 1;
        inspect_verified(&f);
    }
    assert!(files >= 3, "only {files} kept captures");
    let v2 = dir.join("hipl-1.0.8-v2-with-hipd.pcap");
    let text = Command::new(env!("CARGO_BIN_EXE_hip-inspect"))
        .arg(&v2)
        .output()
        .expect("hip-inspect");
    assert!(text.status.success());
    let out = String::from_utf8_lossy(&text.stdout);
    for ty in ["I1", "R1", "I2", "R2", "Update", "Close", "CloseAck"] {
        assert!(
            out.contains(&format!("HIPv2 {ty} ")),
            "a version-2 {ty} missing from the kept HIPL v2 capture"
        );
    }
    assert!(
        !out.contains("HIPv1"),
        "a version-1 packet in HIPL's v2 exchange"
    );
}

#[test]
fn strict_rfc_profile_flags_cutehips_puzzle_order() {
    let Some(dir) = interop_dir() else { return };
    let f = dir.join("cutehip/cutehip-rsa.pcap");
    let opts = Options {
        profile: Profile::Rfc,
    };
    let r = inspect_pcap(&std::fs::read(f).unwrap(), &opts).unwrap();
    let i2 = r.hip.iter().find(|p| p.packet_type == "I2").unwrap();
    assert!(i2.puzzle.is_failure(), "{:?}", i2.puzzle);
}

#[test]
fn tampered_signature_is_reported_and_exit_code_is_1() {
    let Some(dir) = interop_dir() else { return };
    let src = dir.join("hipl-1.0.8/v2-ecdsa/capture.pcap");
    let mut bytes = std::fs::read(&src).unwrap();
    let good = inspect_pcap(&bytes, &Options::default()).unwrap();
    assert_eq!(good.failures(), 0);
    // Flip one bit inside the R2 signature (frame 4): the checksum and the
    // signature must both fail.
    let cap = hip_proto::pcap::parse(&bytes).unwrap();
    let rec = &cap.records[3];
    let off = rec.data.as_ptr() as usize - bytes.as_ptr() as usize;
    let at = off + rec.data.len() - 30;
    bytes[at] ^= 0x01;
    let bad = inspect_pcap(&bytes, &Options::default()).unwrap();
    assert!(bad.failures() >= 1);
    let r2 = bad.hip.iter().find(|p| p.frame == 4).unwrap();
    assert!(
        r2.checksum.is_failure() && r2.signature.is_failure(),
        "{r2:?}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.pcap");
    std::fs::write(&path, &bytes).unwrap();
    let bin = env!("CARGO_BIN_EXE_hip-inspect");
    let st = Command::new(bin).arg(&src).output().unwrap();
    assert_eq!(st.status.code(), Some(0));
    let st = Command::new(bin).arg(&path).output().unwrap();
    assert_eq!(st.status.code(), Some(1));
    let st = Command::new(bin).arg("--json").arg(&src).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert!(v[0]["report"]["hip"].as_array().unwrap().len() >= 9);
}

#[test]
fn garbage_input_is_a_clear_error_not_a_panic() {
    let bin = env!("CARGO_BIN_EXE_hip-inspect");
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("x.pcap");
    std::fs::write(&p, b"not a pcap at all, definitely").unwrap();
    let out = Command::new(bin).arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a pcap"));
    let out = Command::new(bin)
        .arg(tmp.path().join("missing.pcap"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Truncated records and random frames: no panic.
    for n in 0..64u8 {
        let mut w =
            hip_proto::pcap::Writer::new(Vec::new(), hip_proto::pcap::LinkType::RawIp).unwrap();
        let frame: Vec<u8> = (0..(n as usize * 7))
            .map(|i| (i as u8).wrapping_mul(n) ^ 0x60)
            .collect();
        w.write(0, &frame).unwrap();
        let _ = inspect_pcap(&w.into_inner(), &Options::default());
    }
}

#[test]
fn esp_keys_decrypt_every_hipl_esp_packet_and_wrong_keys_do_not() {
    use hip_tools::inspect::esp_keys::EspKeys;
    let Some(dir) = interop_dir() else { return };
    let mut runs = 0;
    for f in captures(&dir.join("hipl-1.0.8")) {
        let Some(base) = f.parent() else { continue };
        let Ok(text) = std::fs::read_to_string(base.join("esp_sa")) else {
            continue;
        };
        let bytes = std::fs::read(&f).unwrap();
        let esp_count = inspect_pcap(&bytes, &Options::default()).unwrap().esp.len();
        let mut keys = EspKeys::parse(&text).unwrap();
        let d = keys.decrypt_pcap(&bytes).unwrap();
        assert_eq!(d.len(), esp_count, "{}", f.display());
        assert!(esp_count > 0, "{}", f.display());
        for p in &d {
            assert!(
                p.error.is_none(),
                "{} #{}: {:?}",
                f.display(),
                p.frame,
                p.error
            );
            assert!(
                p.next_header == 58 || p.next_header == 1,
                "{} #{}",
                f.display(),
                p.frame
            );
        }
        // Flip one hex digit of every authentication key: nothing opens.
        let bad: String = text
            .lines()
            .map(|l| {
                let (head, key) = l.rsplit_once("\"0x").unwrap();
                let flipped = if key.starts_with('0') { "1" } else { "0" };
                format!("{head}\"0x{flipped}{}\n", &key[1..])
            })
            .collect();
        let mut keys = EspKeys::parse(&bad).unwrap();
        let d = keys.decrypt_pcap(&bytes).unwrap();
        assert!(d.iter().all(|p| p.error.is_some()), "{}", f.display());
        runs += 1;
    }
    assert!(runs >= 9, "only {runs} HIPL runs with esp_sa");
    assert!(EspKeys::parse("\"IPv6\",\"x\"").is_err());
}
