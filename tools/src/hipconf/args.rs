//! hipconf command-line syntax (HIPL's `hipconf [daemon] ACTION TYPE ARGS`),
//! mapped to hipd control requests.
use hipd::control::Request;
use std::path::PathBuf;

/// Parsed invocation.
#[derive(Debug, PartialEq, Eq)]
pub struct Invocation {
    pub socket: PathBuf,
    pub json: bool,
    pub request: Request,
    /// `get hi default --dns NAME [--rvs RVS-NAME...]`: print the zone-file
    /// lines publishing the default HI at NAME (RFC 8005).
    pub dns: Option<DnsOutput>,
}

const USAGE: &str = "usage: hipconf [--socket PATH] [--json] daemon add map HIT LOCATOR [LSI] | del map HIT | add server rvs|relay [SERVER-HIT] SERVER-IP LIFETIME | del server rvs|relay SERVER-HIT SERVER-IP | get ha all | get hi default [--dns NAME [--rvs RVS-NAME...]] | get hi all | get map all | new hi ALG [v1|v2] | rst all|HIT | set puzzle all K | nat none|plain-udp | hit-to-lsi HIT | lsi-to-hit LSI | stats | reload | load FILE | add name NAME | resolve NAME";

/// A registration service name (HIPL: rvs, relay, full-relay).
fn check_service(s: &str) -> Result<String, String> {
    match s {
        "rvs" | "relay" | "full-relay" => Ok(s.to_string()),
        _ => Err(format!("unknown service {s:?} (rvs, relay or full-relay)")),
    }
}

/// A registration lifetime in seconds (RFC 8003 section 4.1: at most 15384774).
fn check_lifetime(s: &str) -> Result<u32, String> {
    s.parse()
        .ok()
        .filter(|n| (1..=15_384_774).contains(n))
        .ok_or_else(|| format!("invalid lifetime {s:?} (1 to 15384774 seconds)"))
}
/// The owner name and rendezvous servers of `--dns` output.
#[derive(Debug, PartialEq, Eq)]
pub struct DnsOutput {
    pub name: String,
    pub rvs: Vec<String>,
}

fn check_dns_name(s: &str) -> Result<String, String> {
    hip_dns::Name::from_ascii(s)
        .map(|_| s.to_string())
        .map_err(|e| format!("invalid DNS name {s:?}: {e}"))
}

fn check_hit(s: &str) -> Result<String, String> {
    let a: std::net::Ipv6Addr = s.parse().map_err(|_| format!("invalid HIT {s:?}"))?;
    let o = a.octets();
    if o[0] != 0x20 || o[1] != 0x01 || o[2] != 0x00 || !matches!(o[3] & 0xf0, 0x10 | 0x20) {
        return Err(format!(
            "{s} is not a HIT (ORCHID prefix 2001:10::/28 or 2001:20::/28)"
        ));
    }
    Ok(s.to_string())
}

fn check_ip(s: &str) -> Result<String, String> {
    s.parse::<std::net::IpAddr>()
        .map(|_| s.to_string())
        .map_err(|_| format!("invalid locator {s:?}"))
}

fn check_lsi(s: &str) -> Result<String, String> {
    s.parse::<std::net::Ipv4Addr>()
        .map(|_| s.to_string())
        .map_err(|_| format!("invalid LSI {s:?}"))
}

/// Parses argv (without the program name).
pub fn parse(args: &[String]) -> Result<Invocation, String> {
    let mut socket = PathBuf::from(hipd::control::DEFAULT_SOCKET);
    let mut json = false;
    let mut rest: Vec<&str> = Vec::new();
    let mut dns_name: Option<String> = None;
    let mut rvs: Vec<String> = Vec::new();
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json = true,
            "--dns" => dns_name = Some(check_dns_name(it.next().ok_or("--dns needs a NAME")?)?),
            "--rvs" => {
                let before = rvs.len();
                while let Some(n) = it.next_if(|n| !n.starts_with('-')) {
                    rvs.push(check_dns_name(n)?);
                }
                if rvs.len() == before {
                    return Err("--rvs needs at least one RVS-NAME".into());
                }
            }
            "--socket" => socket = it.next().ok_or("--socket needs a PATH")?.into(),
            s if s.starts_with("--socket=") => socket = s["--socket=".len()..].into(),
            "-h" | "--help" => return Err(USAGE.into()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => rest.push(s),
        }
    }
    if rest.first() == Some(&"daemon") {
        rest.remove(0);
    }
    let request = match rest.as_slice() {
        ["add", "map", hit, loc] => Request::AddMap {
            hit: check_hit(hit)?,
            locator: check_ip(loc)?,
            lsi: None,
        },
        ["add", "map", hit, loc, lsi] => Request::AddMap {
            hit: check_hit(hit)?,
            locator: check_ip(loc)?,
            lsi: Some(check_lsi(lsi)?),
        },
        ["del", "map", hit] => Request::DelMap {
            hit: check_hit(hit)?,
        },
        ["get", "ha", "all"] => Request::GetHaAll,
        // HIPL: add server SERVICE [SERVER-HIT] SERVER-IP LIFETIME.
        ["add", "server", service, hit, ip, lifetime] => Request::AddServer {
            service: check_service(service)?,
            server_hit: Some(check_hit(hit)?),
            server_ip: check_ip(ip)?,
            lifetime: check_lifetime(lifetime)?,
        },
        ["add", "server", service, ip, lifetime] => Request::AddServer {
            service: check_service(service)?,
            server_hit: None,
            server_ip: check_ip(ip)?,
            lifetime: check_lifetime(lifetime)?,
        },
        ["del", "server", service, hit, ip] => Request::DelServer {
            service: check_service(service)?,
            server_hit: check_hit(hit)?,
            server_ip: check_ip(ip)?,
        },
        ["get", "hi", "default"] => Request::GetHiDefault,
        ["get", "hi", "all"] => Request::GetHiAll,
        ["get", "map", "all"] => Request::GetMapAll,
        ["new", "hi", alg] => Request::NewHi {
            algorithm: alg.to_string(),
            hit_version: 2,
        },
        ["new", "hi", alg, v] => Request::NewHi {
            algorithm: alg.to_string(),
            hit_version: match *v {
                "v1" | "1" => 1,
                "v2" | "2" => 2,
                _ => return Err(format!("invalid HIT version {v:?} (v1 or v2)")),
            },
        },
        ["rst", "all"] => Request::Rst { hit: None },
        ["rst", hit] => Request::Rst {
            hit: Some(check_hit(hit)?),
        },
        ["set", "puzzle", "all", k] => Request::SetPuzzle {
            k: k.parse()
                .ok()
                .filter(|k: &u8| *k <= 64)
                .ok_or_else(|| format!("invalid puzzle difficulty {k:?} (0..=64)"))?,
        },
        ["nat", mode] => match *mode {
            "none" | "plain-udp" | "native" => Request::SetNat {
                mode: mode.to_string(),
            },
            _ => return Err(format!("invalid NAT mode {mode:?} (none or plain-udp)")),
        },
        ["hit-to-lsi", hit] => Request::HitToLsi {
            hit: check_hit(hit)?,
        },
        ["lsi-to-hit", lsi] => Request::LsiToHit {
            lsi: check_lsi(lsi)?,
        },
        ["add", "name", name] => Request::AddName {
            name: hipd::config::check_dns_name(name)?,
        },
        ["resolve", name] => Request::ResolveName {
            name: hipd::config::check_dns_name(name)?,
        },
        ["stats"] => Request::Stats,
        ["reload"] => Request::Reload,
        ["load", file] => Request::LoadHosts {
            // hipd reads it, from its own working directory.
            path: std::path::absolute(file)
                .map_err(|e| format!("{file}: {e}"))?
                .display()
                .to_string(),
        },
        [] => return Err(USAGE.into()),
        other => {
            return Err(format!(
                "unknown command \"{}\" (see hipconf --help)",
                other.join(" ")
            ))
        }
    };
    let dns = match dns_name {
        Some(name) if request == Request::GetHiDefault => Some(DnsOutput { name, rvs }),
        Some(_) => return Err("--dns goes with \"get hi default\" only".into()),
        None if !rvs.is_empty() => return Err("--rvs needs --dns NAME".into()),
        None => None,
    };
    Ok(Invocation {
        socket,
        json,
        request,
        dns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Request, String> {
        let v: Vec<String> = s.split_whitespace().map(String::from).collect();
        parse(&v).map(|i| i.request)
    }

    #[test]
    fn dns_output_options() {
        let inv = |s: &str| {
            let v: Vec<String> = s.split_whitespace().map(String::from).collect();
            parse(&v)
        };
        let i = inv("daemon get hi default --dns host.grid.example --rvs rvs1.grid.example rvs2.grid.example")
            .unwrap();
        assert_eq!(
            i.dns,
            Some(DnsOutput {
                name: "host.grid.example".into(),
                rvs: vec!["rvs1.grid.example".into(), "rvs2.grid.example".into()],
            })
        );
        let i =
            inv("--dns h.grid.example --rvs r.grid.example --json daemon get hi default").unwrap();
        assert!(i.json);
        assert_eq!(i.dns.unwrap().rvs, vec!["r.grid.example".to_string()]);
        assert_eq!(inv("daemon get hi default").unwrap().dns, None);
        assert!(inv("daemon get hi all --dns h.grid.example")
            .unwrap_err()
            .contains("get hi default"));
        assert!(inv("daemon get hi default --rvs r.grid.example")
            .unwrap_err()
            .contains("--dns"));
        assert!(inv("daemon get hi default --dns")
            .unwrap_err()
            .contains("NAME"));
        assert!(inv("daemon get hi default --dns h.grid.example --rvs")
            .unwrap_err()
            .contains("RVS-NAME"));
        assert!(inv("daemon get hi default --dns bad..name")
            .unwrap_err()
            .contains("invalid DNS name"));
    }

    #[test]
    fn every_command() {
        assert_eq!(
            p("daemon add map 2001:20::1 192.0.2.1").unwrap(),
            Request::AddMap {
                hit: "2001:20::1".into(),
                locator: "192.0.2.1".into(),
                lsi: None
            }
        );
        assert_eq!(
            p("add map 2001:10::1 2001:db8::1 1.0.0.4").unwrap(),
            Request::AddMap {
                hit: "2001:10::1".into(),
                locator: "2001:db8::1".into(),
                lsi: Some("1.0.0.4".into())
            }
        );
        assert_eq!(
            p("daemon del map 2001:20::1").unwrap(),
            Request::DelMap {
                hit: "2001:20::1".into()
            }
        );
        assert_eq!(p("daemon get ha all").unwrap(), Request::GetHaAll);
        assert_eq!(p("daemon reload").unwrap(), Request::Reload);
        assert_eq!(
            p("daemon load /etc/hipr/grid-hosts").unwrap(),
            Request::LoadHosts {
                path: "/etc/hipr/grid-hosts".into()
            }
        );
        match p("daemon load relative/hosts").unwrap() {
            Request::LoadHosts { path } => {
                assert!(path.starts_with('/') && path.ends_with("relative/hosts"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            p("daemon add name B.grid.example.").unwrap(),
            Request::AddName {
                name: "b.grid.example".into()
            }
        );
        assert_eq!(
            p("daemon resolve c.grid.example").unwrap(),
            Request::ResolveName {
                name: "c.grid.example".into()
            }
        );
        assert_eq!(p("daemon get hi default").unwrap(), Request::GetHiDefault);
        assert_eq!(p("daemon get hi all").unwrap(), Request::GetHiAll);
        assert_eq!(
            p("daemon new hi rsa v1").unwrap(),
            Request::NewHi {
                algorithm: "rsa".into(),
                hit_version: 1
            }
        );
        assert_eq!(
            p("daemon new hi ecdsa").unwrap(),
            Request::NewHi {
                algorithm: "ecdsa".into(),
                hit_version: 2
            }
        );
        assert_eq!(p("daemon rst all").unwrap(), Request::Rst { hit: None });
        assert_eq!(
            p("daemon rst 2001:20::1").unwrap(),
            Request::Rst {
                hit: Some("2001:20::1".into())
            }
        );
        assert_eq!(
            p("daemon set puzzle all 12").unwrap(),
            Request::SetPuzzle { k: 12 }
        );
        assert_eq!(
            p("daemon nat plain-udp").unwrap(),
            Request::SetNat {
                mode: "plain-udp".into()
            }
        );
        assert!(p("daemon nat stun").is_err());
        assert_eq!(
            p("daemon hit-to-lsi 2001:20::1").unwrap(),
            Request::HitToLsi {
                hit: "2001:20::1".into()
            }
        );
        assert_eq!(
            p("daemon lsi-to-hit 1.0.0.2").unwrap(),
            Request::LsiToHit {
                lsi: "1.0.0.2".into()
            }
        );
        let i = parse(&[
            "--socket".into(),
            "/tmp/x".into(),
            "--json".into(),
            "get".into(),
            "hi".into(),
            "default".into(),
        ])
        .unwrap();
        assert!(i.json);
        assert_eq!(i.socket, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn bad_input_is_one_line() {
        for bad in [
            "daemon add map 2001:db8::1 192.0.2.1",
            "daemon add map 2001:20::1 nowhere",
            "daemon add map 2001:20::1 192.0.2.1 notlsi",
            "daemon add map 2001:20::1",
            "daemon del map",
            "daemon get ha",
            "daemon set puzzle all 99",
            "daemon set puzzle all x",
            "daemon new hi rsa v3",
            "daemon hit-to-lsi 1.0.0.1",
            "daemon lsi-to-hit 2001:20::1",
            "daemon frobnicate",
            "daemon load",
            "daemon reload now",
            "daemon resolve",
            "daemon resolve bad..name",
            "daemon add name -x",
            "--bogus get hi all",
            "",
        ] {
            let e = p(bad).unwrap_err();
            assert!(!e.contains('\n'), "{bad}: {e}");
        }
        assert!(parse(&["--socket".into()]).is_err());
    }

    #[test]
    fn add_and_del_server_in_hipl_syntax() {
        let p = |s: &str| {
            let v: Vec<String> = s.split_whitespace().map(String::from).collect();
            parse(&v).map(|i| i.request)
        };
        assert_eq!(
            p("daemon add server rvs 2001:20::1 203.0.113.10 600").unwrap(),
            Request::AddServer {
                service: "rvs".into(),
                server_hit: Some("2001:20::1".into()),
                server_ip: "203.0.113.10".into(),
                lifetime: 600,
            }
        );
        assert_eq!(
            p("daemon add server rvs 203.0.113.10 600").unwrap(),
            Request::AddServer {
                service: "rvs".into(),
                server_hit: None,
                server_ip: "203.0.113.10".into(),
                lifetime: 600,
            }
        );
        assert_eq!(
            p("daemon del server rvs 2001:20::1 203.0.113.10").unwrap(),
            Request::DelServer {
                service: "rvs".into(),
                server_hit: "2001:20::1".into(),
                server_ip: "203.0.113.10".into(),
            }
        );
        for bad in [
            "daemon add server dns 203.0.113.10 600",
            "daemon add server rvs 203.0.113.10 0",
            "daemon add server rvs nowhere 600",
            "daemon del server rvs 203.0.113.10",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }
}
