//! The hosts file (`hosts` in the configuration directory): one peer per line,
//! `HIT LOCATOR [LSI] [NAME]` (RFC 7401 section 3: HIT; RFC 5338: LSI), `#` comments.
//!
//! The locator is checked here with [`crate::locator_rules::check_locator`] (so
//! the error names the line); the rules that depend on this host (own HITs and
//! addresses, the LSI prefix) are applied when the lines are added to the peer
//! database ([`crate::peer_db::PeerDb::load_hosts`], which names the line too).
use crate::locator_rules::{self, PeerHitError};
use hip_proto::Hit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One parsed hosts line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLine {
    /// 1-based line number in the file.
    pub line: usize,
    pub hit: Hit,
    pub locator: IpAddr,
    pub lsi: Option<Ipv4Addr>,
    pub name: Option<String>,
}

/// A hosts file error, with its 1-based line number.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("hosts line {line}: {msg}")]
pub struct HostsError {
    pub line: usize,
    pub msg: String,
}

/// Parses a HIT: an IPv6 address inside an ORCHID prefix.
pub fn parse_hit(s: &str) -> Result<Hit, String> {
    let a: Ipv6Addr = s.parse().map_err(|_| format!("bad HIT {s:?}"))?;
    let h = Hit::from(a);
    if h.orchid_version().is_none() {
        return Err(PeerHitError::NotOrchid(h).to_string());
    }
    Ok(h)
}

/// Parses the whole file.
pub fn parse(text: &str) -> Result<Vec<HostLine>, HostsError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |msg: String| HostsError { line, msg };
        let l = raw.split('#').next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 2 || f.len() > 4 {
            return Err(err(format!(
                "expected HIT LOCATOR [LSI] [NAME], got {} fields",
                f.len()
            )));
        }
        let hit = parse_hit(f[0]).map_err(err)?;
        let locator: IpAddr = f[1]
            .parse()
            .map_err(|_| err(format!("bad locator {:?}", f[1])))?;
        let locator = locator_rules::check_locator(locator).map_err(|e| err(e.to_string()))?;
        let (mut lsi, mut name) = (None, None);
        for extra in &f[2..] {
            match extra.parse::<Ipv4Addr>() {
                Ok(a) if lsi.is_none() && name.is_none() => lsi = Some(a),
                _ if name.is_none()
                    && !extra.contains(|c: char| {
                        c.is_ascii_digit() && extra.chars().all(|c| c.is_ascii_digit() || c == '.')
                    }) =>
                {
                    name = Some((*extra).to_string())
                }
                _ => return Err(err(format!("unexpected field {extra:?}"))),
            }
        }
        out.push(HostLine {
            line,
            hit,
            locator,
            lsi,
            name,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines() {
        let v = parse("# peers\n2001:20::1 192.0.2.1 1.0.0.5 alice\n2001:10::2 2001:db8::2\n2001:20::3 2001:db8::3 bob\n").unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].lsi, Some(Ipv4Addr::new(1, 0, 0, 5)));
        assert_eq!(v[0].name.as_deref(), Some("alice"));
        assert_eq!(v[1].lsi, None);
        assert_eq!(v[2].name.as_deref(), Some("bob"));
    }

    #[test]
    fn bad_lines_name_the_line() {
        assert_eq!(parse("\n2001:db8::1 192.0.2.1\n").unwrap_err().line, 2);
        assert_eq!(parse("2001:20::1\n").unwrap_err().line, 1);
        assert_eq!(parse("2001:20::1 nothere\n").unwrap_err().line, 1);
        assert_eq!(
            parse("2001:20::1 192.0.2.1\n2001:20::1 192.0.2.1 1.0.0.1 n x\n")
                .unwrap_err()
                .line,
            2
        );
        assert_eq!(parse("2001:20::1 2001:20::5\n").unwrap_err().line, 1);
        assert_eq!(
            parse("2001:20::1 192.0.2.1 1.0.0.1 1.0.0.2\n")
                .unwrap_err()
                .line,
            1
        );
    }

    #[test]
    fn locators_follow_the_common_rules() {
        for bad in [
            "::",
            "0.0.0.0",
            "127.0.0.1",
            "::1",
            "224.0.0.1",
            "ff02::1",
            "255.255.255.255",
            "169.254.3.4",
            "fe80::1",
            "2001:10::9",
            "::ffff:127.0.0.1",
        ] {
            let e = parse(&format!("# c\n2001:20::1 {bad}\n")).unwrap_err();
            assert_eq!(e.line, 2, "{bad}");
            assert!(e.msg.contains(bad), "{bad}: {e}");
        }
        let v = parse("2001:20::1 ::ffff:198.51.100.4\n2001:20::2 203.0.113.9\n").unwrap();
        assert_eq!(v[0].locator, "198.51.100.4".parse::<IpAddr>().unwrap());
        assert_eq!((v[0].line, v[1].line), (1, 2));
    }
}
