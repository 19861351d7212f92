//! The hipd control protocol (hipconf <-> hipd): one JSON [`Request`] line per
//! connection over a Unix stream socket, answered by one JSON [`Response`] line.
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

/// Default control socket path.
pub const DEFAULT_SOCKET: &str = "/run/hipd/hipd.sock";

/// A hipconf command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// `add map HIT LOCATOR [LSI]`
    AddMap {
        hit: String,
        locator: String,
        lsi: Option<String>,
    },
    /// `del map HIT`
    DelMap { hit: String },
    /// `get ha all`
    GetHaAll,
    /// `get hi default`
    GetHiDefault,
    /// `get hi all`
    GetHiAll,
    /// `get map all` (the peer database)
    GetMapAll,
    /// `new hi ALG [v1|v2]`
    NewHi { algorithm: String, hit_version: u8 },
    /// `rst all` or `rst HIT` (None = all)
    Rst { hit: Option<String> },
    /// `set puzzle all K`
    SetPuzzle { k: u8 },
    /// `hit-to-lsi HIT`
    HitToLsi { hit: String },
    /// `lsi-to-hit LSI`
    LsiToHit { lsi: String },
    /// Daemon counters.
    Stats,
    /// `daemon nat none|plain-udp` (HIPL's names): the NAT mode of new base
    /// exchanges; `native` is refused (not implemented yet).
    SetNat { mode: String },
    /// `reload`: hipd.conf's allow list and puzzle difficulty, and the hosts
    /// file, applied without dropping associations (also on SIGHUP).
    Reload,
    /// `load FILE`: add or update the peers of a hosts-format file (an
    /// absolute path hipd reads).
    LoadHosts { path: String },
    /// `resolve NAME`: look a peer up in DNS (RFC 8005; the hosts file when
    /// DNS gives nothing) without installing it.
    ResolveName { name: String },
    /// `add name NAME`: look a peer up as `resolve` does and install it
    /// (HIT, locators, name, LSI; it follows the DNS TTL).
    AddName { name: String },
    /// `add server SERVICE [SERVER-HIT] SERVER-IP LIFETIME` (HIPL syntax):
    /// register with a registrar (RFC 8003 section 3.2).
    AddServer {
        service: String,
        server_hit: Option<String>,
        server_ip: String,
        lifetime: u32,
    },
    /// `del server SERVICE SERVER-HIT SERVER-IP`: cancel (lifetime zero).
    DelServer {
        service: String,
        server_hit: String,
        server_ip: String,
    },
}

/// One registration (RFC 8003), as requester (`role` "client": `peer_hit` is
/// the server) or as registrar (`role` "server": `peer_hit` is the client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationInfo {
    pub role: String,
    pub local_hit: String,
    pub peer_hit: String,
    pub peer_locator: String,
    /// `rvs`, `relay-udp-hip`, `full-relay`, `candidate-discovery` or a number.
    pub service: String,
    /// Granted lifetime in seconds (0 while not granted).
    pub lifetime: u64,
    /// Registrar: seconds left.
    #[serde(default)]
    pub remaining: Option<u64>,
    /// `requested`, `registered`, `failed (REASON)`, `expired`, `cancelling`.
    pub state: String,
    /// Client of a relay: our transport address as the relay saw it
    /// (REG_FROM, RFC 9028 section 4.1), `ADDRESS:PORT`.
    #[serde(default)]
    pub reflexive_address: Option<String>,
    /// Client of a Data Relay: where the relay takes our ESP
    /// (RELAYED_ADDRESS, RFC 9028 section 4.1), `ADDRESS:PORT`.
    #[serde(default)]
    pub relayed_address: Option<String>,
}

/// One local identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HiInfo {
    pub hit: String,
    pub lsi: String,
    pub algorithm: String,
    pub orchid: u8,
    pub default: bool,
    /// The HI algorithm (RFC 7401 section 5.2.9 value) of `host_id`; 0 when
    /// not given.
    #[serde(default)]
    pub hi_algorithm: u16,
    /// The HOST_ID "Host Identity" field (the public key, RFC 7401 section
    /// 5.2.9), hex; for publishing the HI in DNS (RFC 8005).
    #[serde(default)]
    pub host_id: String,
    /// The locators hipd announces now (filled for `get hi default|all`).
    #[serde(default)]
    pub locators: Vec<String>,
}

/// One host association (RFC 7401 section 4.4 state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaInfo {
    pub state: String,
    pub local_hit: String,
    pub peer_hit: String,
    pub local_lsi: String,
    pub peer_lsi: String,
    pub local_locator: String,
    pub locator: String,
    pub peer_udp_port: u16,
    pub peer_hostname: String,
    /// Other locators the peer announced (RFC 8047 failover candidates).
    #[serde(default)]
    pub candidate_locators: Vec<String>,
    /// A peer locator being verified (RFC 8046 section 5.4), if any.
    #[serde(default)]
    pub verifying_locator: Option<String>,
    /// The HIP version in the association's packet headers.
    #[serde(default)]
    pub hip_version: u8,
    /// The compatibility profile (hipd.conf `profile` names).
    #[serde(default)]
    pub profile: String,
    /// The profile was chosen from the peer's packets, not configured.
    #[serde(default)]
    pub profile_detected: bool,
}

/// One peer database entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapInfo {
    pub hit: String,
    pub lsi: String,
    pub locators: Vec<String>,
    pub name: Option<String>,
    /// The peer's rendezvous servers' addresses (RFC 8005 section 4.2).
    #[serde(default)]
    pub rvs: Vec<String>,
    /// Learned from DNS (it follows the TTL).
    #[serde(default)]
    pub from_dns: bool,
    /// Seconds until a DNS-learned entry expires.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// A peer found by name (`resolve NAME`, `add name NAME`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameInfo {
    /// The name looked up.
    pub name: String,
    /// The HIT (verified to be the ORCHID of the HI of the HIP RR).
    pub hit: String,
    /// The LSI, when hipd has the peer (installed or known before).
    pub lsi: Option<String>,
    /// The name's A/AAAA addresses.
    pub locators: Vec<String>,
    /// The RVS names of the HIP RR.
    pub rvs: Vec<String>,
    /// The addresses of the RVS names.
    pub rvs_locators: Vec<String>,
    /// The TTL of the answer (seconds; 0 when from the hosts file).
    pub ttl: u32,
    /// Where the answer came from: `dns` or `hosts`.
    pub source: String,
    /// Whether hipd has the peer in its database now.
    pub installed: bool,
}

/// A daemon answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Ok,
    Error {
        message: String,
    },
    Hi {
        identities: Vec<HiInfo>,
    },
    Ha {
        associations: Vec<HaInfo>,
        /// Registrations (absent in answers of older daemons).
        #[serde(default)]
        registrations: Vec<RegistrationInfo>,
    },
    Map {
        peers: Vec<MapInfo>,
    },
    Lsi {
        lsi: String,
    },
    Hit {
        hit: String,
    },
    Stats {
        counters: std::collections::BTreeMap<String, u64>,
    },
    /// A peer found by name.
    Name {
        peer: Box<NameInfo>,
    },
    /// A reload or a bulk load was applied.
    Reloaded {
        peers_added: usize,
        peers_removed: usize,
        /// Settings changed that take effect only at the next start.
        restart_needed: bool,
    },
}

/// Client-side errors.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to hipd at {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("control socket I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad answer from hipd: {0}")]
    Decode(String),
}

/// Sends one request and waits (at most 30 s) for the answer (blocking; for hipconf).
pub fn call(socket: &Path, req: &Request) -> Result<Response, ClientError> {
    let mut s = std::os::unix::net::UnixStream::connect(socket)
        .map_err(|e| ClientError::Connect(socket.display().to_string(), e))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let mut line = serde_json::to_string(req).map_err(|e| ClientError::Decode(e.to_string()))?;
    line.push('\n');
    s.write_all(line.as_bytes())?;
    let mut answer = String::new();
    BufReader::new(s).read_line(&mut answer)?;
    serde_json::from_str(answer.trim_end()).map_err(|e| ClientError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let reqs = [
            Request::AddMap {
                hit: "2001:20::1".into(),
                locator: "192.0.2.1".into(),
                lsi: Some("1.0.0.3".into()),
            },
            Request::GetHaAll,
            Request::Rst { hit: None },
            Request::SetPuzzle { k: 5 },
            Request::SetNat {
                mode: "plain-udp".into(),
            },
        ];
        for r in reqs {
            let t = serde_json::to_string(&r).unwrap();
            assert!(!t.contains('\n'));
            assert_eq!(serde_json::from_str::<Request>(&t).unwrap(), r);
        }
        let resp = Response::Hi {
            identities: vec![HiInfo {
                hit: "2001:20::1".into(),
                lsi: "1.0.0.1".into(),
                algorithm: "ECDSA".into(),
                orchid: 2,
                default: true,
                hi_algorithm: 7,
                host_id: "000104".into(),
                locators: vec!["192.0.2.1".into()],
            }],
        };
        let t = serde_json::to_string(&resp).unwrap();
        assert_eq!(serde_json::from_str::<Response>(&t).unwrap(), resp);
        assert!(serde_json::from_str::<Request>("{\"cmd\":\"nope\"}").is_err());
        // An answer from a hipd without the RFC 8005 fields still reads.
        let old: HiInfo = serde_json::from_str(
            "{\"hit\":\"2001:20::1\",\"lsi\":\"\",\"algorithm\":\"Rsa\",\"orchid\":2,\"default\":true}",
        )
        .unwrap();
        assert!(old.host_id.is_empty() && old.locators.is_empty());
    }

    #[test]
    fn round_trip_over_socket() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        let l = std::os::unix::net::UnixListener::bind(&p).unwrap();
        let t = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&s).read_line(&mut line).unwrap();
            let req: Request = serde_json::from_str(line.trim()).unwrap();
            let resp = match req {
                Request::HitToLsi { hit } => Response::Lsi {
                    lsi: format!("lsi-of-{hit}"),
                },
                _ => Response::Error {
                    message: "unexpected".into(),
                },
            };
            (&s).write_all(format!("{}\n", serde_json::to_string(&resp).unwrap()).as_bytes())
                .unwrap();
        });
        let r = call(&p, &Request::HitToLsi { hit: "x".into() }).unwrap();
        assert_eq!(
            r,
            Response::Lsi {
                lsi: "lsi-of-x".into()
            }
        );
        t.join().unwrap();
    }
}
