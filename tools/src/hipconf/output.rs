//! Human output in HIPL 1.0.8's format (see /work/shared/interop/hipl-1.0.8/*/hipconf-get-*.txt).
use hipd::control::{HaInfo, HiInfo, RegistrationInfo};
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
        let t = ha_all(&[ha], &[]);
        assert!(t.starts_with("HA is ESTABLISHED\n Shotgun mode is off.\n"));
        assert!(t.contains(" Peer  IP: 2001:0db8:0000:0000:0000:0000:0000:0002\n"));
        assert!(t.ends_with(" Peer  hostname: \n"));
    }
}
