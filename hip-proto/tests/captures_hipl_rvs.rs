//! HIPL 1.0.8 as rendezvous server (RFC 8004 / RFC 5204), from a live run of
//! `tests/tests/interop_hipl.rs` `hipl_rendezvous_and_relay` (2026-12-04):
//! hipd A (192.0.2.1) registers at HIPL (192.0.2.2), hipd B (192.0.2.3)
//! reaches A through it. The two keys below are from HIPL's debug log of
//! that run (`hip_write_hmac`: the key HIPL wrote the R2's HMAC2 with, and
//! the one it wrote the relayed I1's RVS_HMAC with). Kept as a fixture so
//! the two HIPL quirks the `hipl` profile handles stay checked without the
//! peer installed.
use hip_proto::crypto::mac;
use hip_proto::crypto::rhash::Rhash;
use hip_proto::endpoint::protect;
use hip_proto::registry::PacketType;
use hip_proto::wire::cover::{self, HostIdPlace};
use hip_proto::wire::{HipRepr, ParamRepr, ParamType};

mod common;

/// HIPL's HIP-gl/lg integrity key it wrote the R2's HMAC2 with.
const R2_KEY: &str = "b0b5dd12d44bb2fcbf09427b6419e2771fd448c0";
/// HIPL's integrity key it wrote the relayed I1's RVS_HMAC with (its
/// incoming key from A).
const RVS_KEY: &str = "4bd80aa1718ba06d72aeaf0c2f083c7622bc1e54";

fn packets() -> Vec<common::CapturedHip> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hipl-1.0.8-rvs.pcap");
    common::hip_packets(&path)
}

fn of_type(p: &[common::CapturedHip], t: PacketType) -> Vec<&common::CapturedHip> {
    p.iter()
        .filter(|c| HipRepr::parse_bytes(&c.bytes).is_ok_and(|r| r.packet_type == t))
        .collect()
}

/// HIPL appends HIP_MAC_2's HOST_ID after the R2's other parameters
/// (REG_RESPONSE 934 and REG_FROM 950 come after HOST_ID 705 in type
/// order): its R2 verifies with the HOST_ID there and not in type order.
#[test]
fn hipl_r2_hmac2_covers_the_host_id_after_reg_response_and_reg_from() {
    let p = packets();
    let r1 = of_type(&p, PacketType::R1)[0];
    assert_eq!(r1.src.to_string(), "192.0.2.2", "HIPL's R1 to A");
    let host_id = cover::raw_param(&r1.bytes, ParamType::HostId).unwrap();
    let r2 = of_type(&p, PacketType::R2)[0];
    let repr = HipRepr::parse_bytes(&r2.bytes).unwrap();
    assert!(repr.param(ParamType::RegResponse).is_some());
    assert!(repr.param(ParamType::RegFrom).is_some());
    let key = hex::decode(R2_KEY).unwrap();
    assert_eq!(
        protect::check_mac_2(
            &r2.bytes,
            Rhash::Sha1,
            &key,
            &host_id,
            HostIdPlace::AfterParameters
        ),
        Ok(())
    );
    assert!(protect::check_mac_2(
        &r2.bytes,
        Rhash::Sha1,
        &key,
        &host_id,
        HostIdPlace::TypeOrder
    )
    .is_err());
}

/// HIPL keys the RVS_HMAC of the I1 it relays with its incoming key from
/// the client (the client's outgoing one), over the packet below RVS_HMAC.
#[test]
fn hipl_rvs_hmac_is_keyed_with_the_clients_outgoing_key() {
    let p = packets();
    let relayed = of_type(&p, PacketType::I1)
        .into_iter()
        .find(|c| c.src.to_string() == "192.0.2.2")
        .expect("the I1 HIPL relayed to A");
    let repr = HipRepr::parse_bytes(&relayed.bytes).unwrap();
    let Some(ParamRepr::RvsHmac(tag)) = repr.param(ParamType::RvsHmac) else {
        panic!("RVS_HMAC");
    };
    assert!(repr.param(ParamType::From).is_some());
    let covered = cover::below(&relayed.bytes, ParamType::RvsHmac.value()).unwrap();
    assert!(mac::verify(
        Rhash::Sha1,
        &hex::decode(RVS_KEY).unwrap(),
        &covered,
        tag
    ));
    assert!(!mac::verify(
        Rhash::Sha1,
        &hex::decode(R2_KEY).unwrap(),
        &covered,
        tag
    ));
}
