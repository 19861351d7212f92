//! Human output in HIPL 1.0.8's format (see /work/shared/interop/hipl-1.0.8/*/hipconf-get-*.txt).
use hipd::control::{HaInfo, HiInfo, NameInfo, RegistrationInfo};
use std::fmt::Write;

/// Writes an address like HIPL's `get ha`: IPv6 fully expanded, IPv4 as is.
pub fn expanded(s: &str) -> String {
    match s.parse::<std::net::Ipv6Addr>() {
        Ok(a) => a
            .segments()
            .iter()
            .map(|g| format!("{g:04x}"))
            .collect::<Vec<_>>()
            .join(":"),
        Err(_) => s.to_string(),
    }
}

pub fn hi_default(ids: &[HiInfo]) -> String {
    ids.iter()
        .map(|i| format!("Default HIT: {}\nDefault LSI: {}\n", i.hit, i.lsi))
        .collect()
}

/// The zone-file lines publishing `id` at `name` with rendezvous servers
/// `rvs` (RFC 8005 sections 6 and 7, RFC 3597 generic form, AAAA/A of the
/// locators hipd announces).
pub fn hi_zone_lines(id: &HiInfo, name: &str, rvs: &[String]) -> Result<Vec<String>, String> {
    use hip_proto::crypto::hi::HostIdPublic;
    use hip_proto::registry::HiAlgorithm;
    if id.host_id.is_empty() {
        return Err("hipd did not send the public key (an older hipd?)".into());
    }
    let key = (0..id.host_id.len())
        .step_by(2)
        .map(|i| {
            id.host_id
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or("hipd sent a bad public key")?;
    let hi = HostIdPublic::from_hi_bytes(HiAlgorithm::from(id.hi_algorithm), &key)
        .map_err(|e| format!("hipd's public key: {e}"))?;
    let hit: hip_proto::Hit = id
        .hit
        .parse()
        .map_err(|_| format!("bad HIT {:?}", id.hit))?;
    let dns_name =
        |s: &str| hip_dns::Name::from_ascii(s).map_err(|e| format!("invalid DNS name {s:?}: {e}"));
    let rvs = rvs
        .iter()
        .map(|r| dns_name(r))
        .collect::<Result<Vec<_>, _>>()?;
    let rdata = hip_dns::HipRdata::for_identity(&hi, hit, rvs).map_err(|e| e.to_string())?;
    let locators = id
        .locators
        .iter()
        .map(|l| {
            l.parse()
                .map_err(|_| format!("hipd sent a bad locator {l:?}"))
        })
        .collect::<Result<Vec<std::net::IpAddr>, _>>()?;
    hip_dns::zone_lines(&dns_name(name)?, &rdata, &locators).map_err(|e| e.to_string())
}

pub fn hi_all(ids: &[HiInfo]) -> String {
    let mut o = String::new();
    for i in ids {
        let _ = write!(o, "Public    {} {}", i.algorithm.to_uppercase(), i.hit);
        if !i.lsi.is_empty() {
            let _ = write!(o, "     LSI {}", i.lsi);
        }
        o.push('\n');
    }
    o
}

pub fn ha_all(has: &[HaInfo], regs: &[RegistrationInfo]) -> String {
    let mut o = String::new();
    for h in has {
        let _ = writeln!(o, "HA is {}", h.state);
        o.push_str(" Shotgun mode is off.\n Broadcast mode is off.\n");
        let _ = writeln!(o, " Local HIT: {}", expanded(&h.local_hit));
        let _ = writeln!(o, " Peer  HIT: {}", expanded(&h.peer_hit));
        let _ = writeln!(o, " Local LSI: {}", h.local_lsi);
        let _ = writeln!(o, " Peer  LSI: {}", h.peer_lsi);
        let _ = writeln!(o, " Local IP: {}", expanded(&h.local_locator));
        o.push_str(" Local NAT traversal UDP port: 0\n");
        let _ = writeln!(o, " Peer  IP: {}", expanded(&h.locator));
        let _ = writeln!(o, " Peer  NAT traversal UDP port: {}", h.peer_udp_port);
        let _ = writeln!(o, " Peer  hostname: {}", h.peer_hostname);
        // Beyond HIPL's layout: multihoming and address verification state.
        for c in &h.candidate_locators {
            let _ = writeln!(o, " Peer  candidate IP: {}", expanded(c));
        }
        if let Some(v) = &h.verifying_locator {
            let _ = writeln!(o, " Peer  IP being verified: {}", expanded(v));
        }
        if h.hip_version != 0 {
            let _ = writeln!(o, " HIP version: {}", h.hip_version);
        }
        if !h.profile.is_empty() && h.profile != "strict" {
            let how = if h.profile_detected {
                "chosen from the peer's packets"
            } else {
                "configured"
            };
            let _ = writeln!(o, " Peer  compatibility profile: {} ({how})", h.profile);
        }
    }
    // Registrations (RFC 8003), ours at servers and our clients'.
    for r in regs {
        let who = if r.role == "server" {
            "client"
        } else {
            "server"
        };
        let _ = writeln!(
            o,
            "Registration {} {}: {} {} {} lifetime {} s {}",
            r.role,
            r.service,
            who,
            expanded(&r.peer_hit),
            expanded(&r.peer_locator),
            r.lifetime,
            r.state
        );
        if let Some(a) = &r.reflexive_address {
            let _ = writeln!(o, " Reflexive address (REG_FROM): {a}");
        }
        if let Some(a) = &r.relayed_address {
            let _ = writeln!(o, " Relayed address (RELAYED_ADDRESS): {a}");
        }
    }
    o
}

/// `get ha all --json`: one object per association as before, each with the
/// registrations that involve its peer.
pub fn ha_json(has: &[HaInfo], regs: &[RegistrationInfo]) -> serde_json::Value {
    serde_json::Value::Array(
        has.iter()
            .map(|h| {
                let mut v = serde_json::to_value(h).unwrap_or_default();
                let mine: Vec<&RegistrationInfo> = regs
                    .iter()
                    .filter(|r| r.peer_hit == h.peer_hit && r.local_hit == h.local_hit)
                    .collect();
                if let Some(m) = v.as_object_mut() {
                    m.insert(
                        "registrations".into(),
                        serde_json::to_value(mine).unwrap_or_default(),
                    );
                }
                v
            })
            .collect(),
    )
}

/// `resolve NAME` / `add name NAME`: one `Key: value` line each.
pub fn name(p: &NameInfo) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "Name: {}", p.name);
    let _ = writeln!(o, "HIT: {}", p.hit);
    let _ = writeln!(
        o,
        "LSI: {}",
        p.lsi.as_deref().unwrap_or("none (not installed)")
    );
    let _ = writeln!(o, "Locators: {}", p.locators.join(", "));
    let mut rvs = p.rvs.join(", ");
    if !p.rvs_locators.is_empty() {
        let _ = write!(rvs, " ({})", p.rvs_locators.join(", "));
    }
    let _ = writeln!(o, "RVS: {}", rvs.trim());
    let _ = writeln!(o, "TTL: {}", p.ttl);
    let _ = writeln!(o, "Source: {}", p.source);
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_lines_of_the_default_hi() {
        use hip_proto::crypto::hi::{HostIdentity, KeySpec};
        let id = HostIdentity::generate(KeySpec::EcdsaP256, &mut rand_core::OsRng).unwrap();
        let hit = hip_proto::crypto::orchid::hit_v2(id.public()).unwrap();
        let info = HiInfo {
            hit: hit.to_string(),
            lsi: "1.0.0.1".into(),
            algorithm: "Ecdsa".into(),
            orchid: 2,
            default: true,
            hi_algorithm: id.public().algorithm().value(),
            host_id: hex::encode(id.public().to_hi_bytes()),
            locators: vec!["192.0.2.5".into(), "2001:db8::5".into()],
        };
        let lines =
            hi_zone_lines(&info, "host.grid.example", &["rvs.grid.example".into()]).unwrap();
        assert_eq!(lines.len(), 4);
        let rr = lines[0].strip_prefix("host.grid.example. IN ").unwrap();
        let r = hip_dns::HipRdata::from_presentation(rr).unwrap();
        assert_eq!(hip_dns::verify_hit(&r).unwrap().1, *id.public());
        assert!(lines[0].ends_with(" rvs.grid.example. )"));
        assert!(lines[1].starts_with("host.grid.example. IN TYPE55 \\# "));
        assert_eq!(lines[2], "host.grid.example. IN A 192.0.2.5");
        assert_eq!(lines[3], "host.grid.example. IN AAAA 2001:db8::5");
        let mut old = info.clone();
        old.host_id.clear();
        assert!(hi_zone_lines(&old, "host.grid.example", &[])
            .unwrap_err()
            .contains("older hipd"));
        let mut wrong = info;
        wrong.hit = "2001:20::1".into();
        assert!(hi_zone_lines(&wrong, "host.grid.example", &[]).is_err());
    }

    #[test]
    fn matches_hipl_layout() {
        let ids = [HiInfo {
            hit: "2001:19:3992:5b53:149e:39a0:111d:e9a1".into(),
            lsi: "1.0.0.1".into(),
            algorithm: "Ecdsa".into(),
            orchid: 1,
            default: true,
            hi_algorithm: 7,
            host_id: String::new(),
            locators: vec![],
        }];
        assert_eq!(
            hi_all(&ids),
            "Public    ECDSA 2001:19:3992:5b53:149e:39a0:111d:e9a1     LSI 1.0.0.1\n"
        );
        assert_eq!(
            hi_default(&ids),
            "Default HIT: 2001:19:3992:5b53:149e:39a0:111d:e9a1\nDefault LSI: 1.0.0.1\n"
        );
        assert_eq!(
            expanded("2001:db8::11"),
            "2001:0db8:0000:0000:0000:0000:0000:0011"
        );
        let ha = HaInfo {
            state: "ESTABLISHED".into(),
            local_hit: "2001:1f::1".into(),
            peer_hit: "2001:14::2".into(),
            local_lsi: "1.0.0.1".into(),
            peer_lsi: "1.0.0.2".into(),
            local_locator: "2001:db8::1".into(),
            locator: "2001:db8::2".into(),
            peer_udp_port: 0,
            peer_hostname: String::new(),
            candidate_locators: Vec::new(),
            verifying_locator: None,
            hip_version: 0,
            profile: String::new(),
            profile_detected: false,
        };
        let t = ha_all(&[ha], &[]);
        assert!(t.starts_with("HA is ESTABLISHED\n Shotgun mode is off.\n"));
        assert!(t.contains(" Peer  IP: 2001:0db8:0000:0000:0000:0000:0000:0002\n"));
        assert!(t.ends_with(" Peer  hostname: \n"));
    }
}
