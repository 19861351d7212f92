//! Known-answer tests: every HIT listed in the interop READMEs is recomputed
//! from the key files beside the captures (ORCHIDv1 for HIPL, ORCHIDv2 for
//! cutehip).

#[path = "../../tests/src/skip.rs"]
mod skip;

use std::path::{Path, PathBuf};

use hip_proto::crypto::hi::{dsa_public_from_private_pem, HostIdPublic, HostIdentity};
use hip_proto::crypto::orchid::{hit_v1, hit_v2, verify_hit};
use hip_proto::Hit;

fn interop_dir() -> Option<PathBuf> {
    let d = std::env::var_os("HIPR_INTEROP").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/interop"),
        PathBuf::from,
    );
    d.is_dir().then_some(d).or_else(|| {
        skip::skip("../shared/interop not found");
        None
    })
}

fn load_public(path: &Path) -> HostIdPublic {
    let pem = std::fs::read_to_string(path).unwrap();
    if pem.contains("DSA PRIVATE KEY") {
        return dsa_public_from_private_pem(&pem).unwrap();
    }
    HostIdentity::from_pem(&pem)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .public()
        .clone()
}

const HIPL: &[(&str, &str, &str, &str)] = &[
    (
        "v1-rsa",
        "rsa",
        "2001:1e:8112:34a6:8356:f214:cd73:7466",
        "2001:16:164e:bed0:7eb2:8ada:4247:4152",
    ),
    (
        "v1-ecdsa",
        "ecdsa",
        "2001:19:3992:5b53:149e:39a0:111d:e9a1",
        "2001:1d:9f11:6ad7:9675:a8a8:890a:5a39",
    ),
    (
        "v1-dsa",
        "dsa",
        "2001:1f:31e6:a6c4:ba29:f82:490e:da8a",
        "2001:14:6ee:c559:17a7:39c2:75db:f907",
    ),
    (
        "v2-rsa",
        "rsa",
        "2001:13:a5e3:d6d5:f0c7:ca65:3186:475f",
        "2001:1c:9706:b6b9:58fc:610f:d53b:963",
    ),
    (
        "v2-ecdsa",
        "ecdsa",
        "2001:1f:c7b4:f367:dbe9:d5c7:c216:321a",
        "2001:1d:48cc:b98a:f8d6:67b1:9189:abfa",
    ),
    (
        "v2-dsa",
        "dsa",
        "2001:1c:12c0:b9a9:576:e7dc:edd1:2e38",
        "2001:1c:b147:22b6:d2c:a1ee:4235:120",
    ),
    (
        "v1-rsa-ipv4",
        "rsa",
        "2001:19:a255:167b:1863:ae87:1c78:5347",
        "2001:10:6436:4e14:ad4e:4fb5:2572:7fc4",
    ),
    (
        "v1-rsa-ipv4-udp",
        "rsa",
        "2001:1e:3b30:cabb:48b7:26b:b5e2:807b",
        "2001:1e:fe7d:5259:2b58:67df:2397:65ba",
    ),
    (
        "v1-rsa-puzzle10",
        "rsa",
        "2001:15:a389:ed9c:3ed4:d5b3:2de3:a23b",
        "2001:17:f544:2ab9:35a3:d504:4489:7f3",
    ),
];

#[test]
fn hipl_hits_are_orchid_v1_of_the_key_files() {
    let Some(dir) = interop_dir() else { return };
    for (run, alg, hit_a, hit_b) in HIPL {
        for (host, hit) in [("hipla", hit_a), ("hiplb", hit_b)] {
            let key = dir.join(format!("hipl-1.0.8/{run}/{host}/hip_host_{alg}_key_pub"));
            let pk = load_public(&key);
            let expect: Hit = hit.parse().unwrap();
            assert_eq!(hit_v1(&pk), expect, "{run}/{host}");
            assert!(verify_hit(&expect, &pk));
            // The .pub file holds the same key.
            let pubfile = std::fs::read_to_string(key.with_extension("pub")).unwrap();
            if pubfile.contains("BEGIN PUBLIC KEY") {
                let p2 = HostIdPublic::from_public_pem(&pubfile).unwrap();
                assert_eq!(p2, pk, "{run}/{host} .pub differs");
            }
        }
    }
}

#[test]
fn cutehip_hits_are_orchid_v2_of_the_key_files() {
    let Some(dir) = interop_dir() else { return };
    for (name, hit) in [
        ("rsa-A", "2001:21:8b4d:3d04:b6a4:915f:c691:7394"),
        ("rsa-B", "2001:21:c15f:a966:16d2:464f:c776:198"),
        ("ecdsa-A", "2001:22:2582:bb7a:4e67:bfaa:46f4:4d08"),
        ("ecdsa-B", "2001:22:370a:9f39:c4cb:93a3:8347:6559"),
    ] {
        let expect: Hit = hit.parse().unwrap();
        let private = load_public(&dir.join(format!("cutehip/keys/{name}.private.pem")));
        let public = HostIdPublic::from_public_pem(
            &std::fs::read_to_string(dir.join(format!("cutehip/keys/{name}.public.pem"))).unwrap(),
        )
        .unwrap();
        assert_eq!(private, public, "{name}");
        assert_eq!(hit_v2(&public).unwrap(), expect, "{name}");
        assert!(verify_hit(&expect, &public));
    }
}
