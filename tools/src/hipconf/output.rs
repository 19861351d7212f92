//! Human output in HIPL 1.0.8's format (see /work/shared/interop/hipl-1.0.8/*/hipconf-get-*.txt).
use hipd::control::{HaInfo, HiInfo, NameInfo};
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

pub fn ha_all(has: &[HaInfo]) -> String {
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
    }
    o
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
    fn matches_hipl_layout() {
        let ids = [HiInfo {
            hit: "2001:19:3992:5b53:149e:39a0:111d:e9a1".into(),
            lsi: "1.0.0.1".into(),
            algorithm: "Ecdsa".into(),
            orchid: 1,
            default: true,
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
        };
        let t = ha_all(&[ha]);
        assert!(t.starts_with("HA is ESTABLISHED\n Shotgun mode is off.\n"));
        assert!(t.contains(" Peer  IP: 2001:0db8:0000:0000:0000:0000:0000:0002\n"));
        assert!(t.ends_with(" Peer  hostname: \n"));
    }
}
