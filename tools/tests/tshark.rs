//! Packets emitted by hip-proto, written to a pcap and dissected by
//! Debian's tshark: no "Malformed", every HIP checksum good. Skips (with a
//! message) when tshark is not installed; CI installs it.

use std::net::IpAddr;
use std::process::Command;

use hip_proto::crypto::dh::DhKeyPair;
use hip_proto::crypto::hi::{HostIdentity, KeySpec};
use hip_proto::crypto::orchid::{hit_v1, hit_v2};
use hip_proto::crypto::sign::SignatureScheme;
use hip_proto::pcap::{LinkType, Writer};
use hip_proto::registry::*;
use hip_proto::wire::*;
use hip_proto::Hit;

fn ip_frame(src: IpAddr, dst: IpAddr, hip: &[u8]) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 139, 0, 0];
            h[2..4].copy_from_slice(&((20 + hip.len()) as u16).to_be_bytes());
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            let c = checksum::internet_checksum(0, &h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            h.extend_from_slice(hip);
            h
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = vec![0x60, 0, 0, 0, 0, 0, 139, 64];
            h[4..6].copy_from_slice(&(hip.len() as u16).to_be_bytes());
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            h.extend_from_slice(hip);
            h
        }
        _ => unreachable!("same family"),
    }
}

fn host_id(id: &HostIdentity, v1_layout: bool) -> ParamRepr {
    let pk = id.public();
    ParamRepr::HostId(HostId {
        layout: if v1_layout {
            HostIdLayout::Rfc5201 {
                flags: 0x0202,
                protocol: 0xff,
            }
        } else {
            HostIdLayout::Rfc7401
        },
        algorithm: pk.algorithm(),
        hi: pk.to_hi_bytes(),
        di_type: DiType::Fqdn,
        di: b"host.example.org".to_vec(),
    })
}

/// Build one of each packet type of a base exchange and beyond, signed.
fn packets(version: Version) -> Vec<HipRepr> {
    let mut rng = rand_core::OsRng;
    let v1 = version == Version::V1;
    let id_i = HostIdentity::generate(KeySpec::Rsa(2048), &mut rng).unwrap();
    let id_r = HostIdentity::generate(KeySpec::Rsa(2048), &mut rng).unwrap();
    let (hit_i, hit_r): (Hit, Hit) = if v1 {
        (hit_v1(id_i.public()), hit_v1(id_r.public()))
    } else {
        (
            hit_v2(id_i.public()).unwrap(),
            hit_v2(id_r.public()).unwrap(),
        )
    };
    let dh = DhKeyPair::from_random(DhGroupId::Modp1536, &[7u8; 64]).unwrap();
    let dhv = ParamRepr::DiffieHellman(DiffieHellman {
        values: vec![DhValue {
            group: DhGroupId::Modp1536,
            public: dh.public_value().to_vec(),
        }],
        trailing: vec![],
    });
    let ilen = if v1 { 8 } else { 32 };
    let esp_t = ParamRepr::EspTransform {
        reserved: 0,
        suites: vec![EspTransformId::Aes128CbcHmacSha1],
    };
    let sig = |b: u16| {
        if v1 {
            SigAlgField::OneOctet(b as u8)
        } else {
            SigAlgField::TwoOctets(b)
        }
    };
    let mut out = Vec::new();
    let mut i1 = HipRepr::new(PacketType::I1, version, hit_i, hit_r);
    if !v1 {
        i1.params
            .push(ParamRepr::DhGroupList(vec![DhGroupId::Modp1536]));
    }
    out.push(i1);
    let mut r1 = HipRepr::new(PacketType::R1, version, hit_r, hit_i);
    r1.params.push(ParamRepr::Puzzle(Puzzle {
        k: 10,
        lifetime: 37,
        opaque: [1, 2],
        i: vec![3; ilen],
    }));
    if !v1 {
        r1.params
            .push(ParamRepr::DhGroupList(vec![DhGroupId::Modp1536]));
    }
    r1.params.push(dhv.clone());
    r1.params.push(if v1 {
        ParamRepr::HipTransform(vec![HipTransformId::AesCbcHmacSha1])
    } else {
        ParamRepr::HipCipher(vec![HipCipherId::Aes128Cbc])
    });
    r1.params.push(host_id(&id_r, v1));
    if !v1 {
        r1.params.push(ParamRepr::HitSuiteList(vec![0x10]));
        r1.params.push(ParamRepr::TransportFormatList(vec![4095]));
    }
    r1.params.push(esp_t.clone());
    out.push(r1);
    let mut i2 = HipRepr::new(PacketType::I2, version, hit_i, hit_r);
    i2.params.push(ParamRepr::EspInfo(EspInfo {
        reserved: 0,
        keymat_index: 72,
        old_spi: 0,
        new_spi: 0x1234_5678,
    }));
    i2.params.push(ParamRepr::Solution(Solution {
        k: 10,
        reserved: 0,
        opaque: [1, 2],
        i: vec![3; ilen],
        j: vec![4; ilen],
    }));
    i2.params.push(dhv);
    i2.params.push(host_id(&id_i, v1));
    i2.params.push(esp_t);
    i2.params.push(ParamRepr::HipMac(vec![0xaa; 20]));
    out.push(i2);
    let mut r2 = HipRepr::new(PacketType::R2, version, hit_r, hit_i);
    r2.params.push(ParamRepr::EspInfo(EspInfo {
        reserved: 0,
        keymat_index: 72,
        old_spi: 0,
        new_spi: 0x8765_4321,
    }));
    r2.params.push(ParamRepr::HipMac2(vec![0xbb; 20]));
    out.push(r2);
    let mut up = HipRepr::new(PacketType::Update, version, hit_i, hit_r);
    up.params.push(ParamRepr::LocatorSet(vec![Locator::esp_spi(
        0x1234_5678,
        "2001:db8::11".parse().unwrap(),
        true,
        120,
    )]));
    up.params.push(ParamRepr::Seq(1));
    up.params.push(ParamRepr::HipMac(vec![0xcc; 20]));
    out.push(up);
    let mut ack = HipRepr::new(PacketType::Update, version, hit_r, hit_i);
    ack.params.push(ParamRepr::Ack(vec![1]));
    ack.params.push(ParamRepr::EchoRequestSigned(vec![9; 4]));
    ack.params.push(ParamRepr::HipMac(vec![0xcc; 20]));
    out.push(ack);
    let mut notify = HipRepr::new(PacketType::Notify, version, hit_r, hit_i);
    notify.params.push(ParamRepr::Notification(Notification {
        reserved: 0,
        msg_type: NotifyMessageType::NoDhProposalChosen,
        data: vec![],
    }));
    out.push(notify);
    let mut close = HipRepr::new(PacketType::Close, version, hit_i, hit_r);
    close
        .params
        .push(ParamRepr::EchoRequestSigned(vec![1, 2, 3, 4]));
    close.params.push(ParamRepr::HipMac(vec![0xdd; 20]));
    out.push(close);
    let mut close_ack = HipRepr::new(PacketType::CloseAck, version, hit_r, hit_i);
    close_ack
        .params
        .push(ParamRepr::EchoResponseSigned(vec![1, 2, 3, 4]));
    close_ack.params.push(ParamRepr::HipMac(vec![0xdd; 20]));
    out.push(close_ack);
    // Sign every packet but I1 with the sender's key, as a peer would.
    let scheme = if v1 {
        SignatureScheme::Rfc5201
    } else {
        SignatureScheme::Rfc7401
    };
    for p in out.iter_mut().skip(1) {
        let key = if p.sender_hit == hit_i { &id_i } else { &id_r };
        let unsigned = p.to_bytes().unwrap();
        let (ty, covered) = if p.packet_type == PacketType::R1 {
            (
                ParamType::HipSignature2,
                cover::hip_signature_2(&unsigned).unwrap(),
            )
        } else {
            (
                ParamType::HipSignature,
                cover::hip_signature(&unsigned).unwrap(),
            )
        };
        let s = key.sign(&covered, scheme, &mut rng).unwrap();
        let sp = Signature {
            alg: sig(HiAlgorithm::Rsa.value()),
            signature: s,
        };
        p.params.push(if ty == ParamType::HipSignature2 {
            ParamRepr::HipSignature2(sp)
        } else {
            ParamRepr::HipSignature(sp)
        });
    }
    out
}

#[test]
fn tshark_dissects_emitted_packets_without_malformed() {
    if Command::new("tshark").arg("-v").output().is_err() {
        eprintln!("skipping: tshark is not installed (CI installs it)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("emitted.pcap");
    let mut w = Writer::new(std::fs::File::create(&path).unwrap(), LinkType::RawIp).unwrap();
    let mut n = 0;
    let pairs: [(IpAddr, IpAddr); 2] = [
        ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()),
        (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        ),
    ];
    for version in [Version::V1, Version::V2] {
        for p in packets(version) {
            for (a, b) in pairs {
                let (src, dst) = if n % 2 == 0 { (a, b) } else { (b, a) };
                let hip = p.to_bytes_with_checksum(src, dst).unwrap();
                // What we emit we can parse back.
                assert_eq!(HipRepr::parse_bytes(&hip).unwrap(), p);
                w.write(n * 1000, &ip_frame(src, dst, &hip)).unwrap();
                n += 1;
            }
        }
    }
    drop(w);
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&path)
        .arg("-V")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hip_frames = text.matches("Host Identity Protocol").count();
    assert_eq!(
        hip_frames as u64, n,
        "tshark did not see every packet as HIP"
    );
    assert!(
        !text.contains("Malformed"),
        "tshark reports malformed packets:\n{text}"
    );
    let good = text
        .lines()
        .filter(|l| l.trim_start().starts_with("Checksum: 0x") && l.contains("[correct]"))
        .count();
    assert!(
        good as u64 >= n,
        "not every HIP checksum is [correct]:\n{text}"
    );
    assert!(!text.contains("[incorrect"), "bad checksum:\n{text}");
    eprintln!("tshark dissected {hip_frames} HIP packets");
}
