//! HIP in DNS against a real BIND 9 (RFC 8005): named-checkzone reads both
//! printed forms of the HIP RR; named in a namespace takes a TSIG-signed
//! UPDATE built by hip-dns, and dig and `hip_dns::client::resolve` read back
//! what was published. Root only (network namespaces); skips without named.

use std::net::{IpAddr, SocketAddr};
use std::process::Command;

use hip_dns::{client, HipRdata, LookupError, Name, TsigKey, UpdateError};
use hip_proto::crypto::hi::{HostIdentity, KeySpec};
use hip_proto::crypto::orchid;
use hipr_tests::{require_netns, Netns};

const SERVER: &str = "198.51.100.53";

fn have(prog: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

macro_rules! require_bind {
    () => {
        require_netns!();
        if let Some(p) = ["named", "named-checkzone", "dig", "tsig-keygen"]
            .into_iter()
            .find(|p| !have(p))
        {
            hipr_tests::skip(&format!(
                "BIND test: {p} is not installed (bind9, bind9-utils, bind9-dnsutils)"
            ));
            return;
        }
    };
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn zone_head() -> String {
    format!(
        "$TTL 300\n@ IN SOA ns.grid.example. admin.grid.example. 1 3600 600 86400 300\n\
         @ IN NS ns.grid.example.\nns IN A {SERVER}\n"
    )
}

fn identity_record(rvs: &[&str]) -> (HostIdentity, HipRdata) {
    let id = HostIdentity::generate(KeySpec::EcdsaP256, &mut rand_core::OsRng).unwrap();
    let hit = orchid::hit_v2(id.public()).unwrap();
    let r =
        HipRdata::for_identity(id.public(), hit, rvs.iter().map(|n| name(n)).collect()).unwrap();
    (id, r)
}

#[test]
fn named_checkzone_accepts_both_printed_forms() {
    require_bind!();
    let dir = tempfile::tempdir().unwrap();
    let (_, r) = identity_record(&["rvs.grid.example."]);
    let locs: [IpAddr; 2] = [
        "198.51.100.7".parse().unwrap(),
        "2001:db8::7".parse().unwrap(),
    ];
    let lines = hip_dns::zone_lines(&name("host.grid.example"), &r, &locs).unwrap();
    // The presentation line at one owner, the generic one at another, so
    // that each is checked on its own.
    let generic = lines[1].replacen("host.grid.example.", "generic.grid.example.", 1);
    let zone = format!(
        "{}{}\n{generic}\n{}\n{}\n",
        zone_head(),
        lines[0],
        lines[2],
        lines[3]
    );
    let f = dir.path().join("grid.example.zone");
    std::fs::write(&f, &zone).unwrap();
    let o = Command::new("named-checkzone")
        .args(["grid.example", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "named-checkzone refused:\n{zone}\n{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // BIND prints both back as the same HIP RR.
    let o = Command::new("named-checkzone")
        .args(["-D", "-o", "-", "grid.example", f.to_str().unwrap()])
        .output()
        .unwrap();
    let dump = String::from_utf8_lossy(&o.stdout);
    let hips: Vec<&str> = dump
        .lines()
        .filter(|l| l.split_whitespace().nth(3) == Some("HIP"))
        .collect();
    assert_eq!(hips.len(), 2, "{dump}");
    for l in hips {
        let rdata = l.split_once("HIP").unwrap().1;
        assert_eq!(HipRdata::from_presentation(rdata).unwrap(), r, "{l}");
    }
}

struct Named {
    ns: Netns,
    _bind: hipr_tests::bind::Named,
    key: TsigKey,
}

fn start_named() -> Named {
    let ns = Netns::new("dns");
    // The server's address on the namespace's loopback: client and server
    // share the namespace, nothing leaves it.
    ns.add_addr("lo", &format!("{SERVER}/32"));
    let bind =
        hipr_tests::bind::Named::start(&ns, SERVER, "grid.example", "", &["host.grid.example"]);
    let key = TsigKey::from_file(&bind.key_file("host.grid.example")).unwrap();
    Named {
        ns,
        _bind: bind,
        key,
    }
}

fn block_on<T: Send + 'static>(
    ns: &Netns,
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    ns.in_ns(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    })
}

fn server() -> SocketAddr {
    SocketAddr::new(SERVER.parse().unwrap(), 53)
}

#[test]
fn update_then_lookup_with_named() {
    require_bind!();
    let n = start_named();
    let zone = name("grid.example.");
    let host = name("host.grid.example.");
    let (id, r) = identity_record(&["rvs1.grid.example.", "rvs2.grid.example."]);
    let addrs: Vec<IpAddr> = vec![
        "198.51.100.7".parse().unwrap(),
        "2001:db8::7".parse().unwrap(),
    ];
    let upd = hip_dns::publish(
        &zone,
        &host,
        &r,
        &addrs,
        120,
        client::new_id(),
        &n.key,
        client::now(),
    )
    .unwrap();
    block_on(
        &n.ns,
        async move { client::send_update(server(), &upd).await },
    )
    .unwrap();

    // dig reads the RFC 8005 fields as published.
    let out = n.ns.exec_ok(&[
        "dig",
        "+short",
        &format!("@{SERVER}"),
        "host.grid.example",
        "HIP",
    ]);
    let got = HipRdata::from_presentation(out.trim()).unwrap();
    assert_eq!(got, r, "dig said {out:?}");

    // resolve gives the verified peer record.
    let h = host.clone();
    let peer = block_on(&n.ns, async move { client::resolve(server(), &h).await }).unwrap();
    assert_eq!(peer.hit, hip_proto::Hit(r.hit));
    assert_eq!(&peer.host_id, id.public());
    assert_eq!(peer.hit_version, hip_dns::OrchidVersion::V2);
    assert_eq!(peer.rvs, r.rendezvous_servers);
    let mut want = addrs.clone();
    let mut have = peer.addrs.clone();
    want.sort();
    have.sort();
    assert_eq!(have, want);
    assert_eq!(peer.ttl, 120);

    // Republishing replaces, not adds.
    let (id2, r2) = identity_record(&[]);
    let upd = hip_dns::publish(
        &zone,
        &host,
        &r2,
        &addrs[..1],
        60,
        client::new_id(),
        &n.key,
        client::now(),
    )
    .unwrap();
    block_on(
        &n.ns,
        async move { client::send_update(server(), &upd).await },
    )
    .unwrap();
    let h = host.clone();
    let peer = block_on(&n.ns, async move { client::resolve(server(), &h).await }).unwrap();
    assert_eq!(&peer.host_id, id2.public());
    assert!(peer.rvs.is_empty());
    assert_eq!(peer.addrs, addrs[..1].to_vec());
    let out = n.ns.exec_ok(&[
        "dig",
        "+short",
        &format!("@{SERVER}"),
        "host.grid.example",
        "HIP",
    ]);
    assert_eq!(out.trim().lines().count(), 1, "{out}");

    // A wrong secret under the right name: NOTAUTH, BADSIG.
    let mut bad = n.key.clone();
    bad.secret = b"not the secret, not the secret!!".to_vec();
    let upd = hip_dns::publish(
        &zone,
        &host,
        &r,
        &addrs,
        120,
        client::new_id(),
        &bad,
        client::now(),
    )
    .unwrap();
    let e = block_on(
        &n.ns,
        async move { client::send_update(server(), &upd).await },
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            client::SendUpdateError::Update(UpdateError::NotAuth {
                tsig_error: Some(16)
            })
        ),
        "{e}"
    );
    assert!(e.to_string().contains("NOTAUTH"), "{e}");
    // An unknown key name: NOTAUTH, BADKEY.
    let mut unknown = n.key.clone();
    unknown.name = name("other.grid.example.");
    let upd = hip_dns::withdraw(&zone, &host, client::new_id(), &unknown, client::now()).unwrap();
    let e = block_on(
        &n.ns,
        async move { client::send_update(server(), &upd).await },
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            client::SendUpdateError::Update(UpdateError::NotAuth {
                tsig_error: Some(17)
            })
        ),
        "{e}"
    );
    // Neither changed the zone.
    let h = host.clone();
    let peer = block_on(&n.ns, async move { client::resolve(server(), &h).await }).unwrap();
    assert_eq!(&peer.host_id, id2.public());

    // Withdrawing leaves no HIP RR: the name no longer exists.
    let upd = hip_dns::withdraw(&zone, &host, client::new_id(), &n.key, client::now()).unwrap();
    block_on(
        &n.ns,
        async move { client::send_update(server(), &upd).await },
    )
    .unwrap();
    let h = host.clone();
    let e = block_on(&n.ns, async move { client::resolve(server(), &h).await }).unwrap_err();
    assert!(
        matches!(e, client::ResolveError::Lookup(LookupError::NxDomain)),
        "{e}"
    );
}
