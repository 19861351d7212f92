//! `hipd.conf`: daemon configuration, one `key = value` per line, `#` comments.
//!
//! Keys: `tun` (device name, default `hip0`), `lsi_prefix` (RFC 5338 section 3,
//! default [`DEFAULT_LSI_PREFIX`] `198.19.0.0/16`; `1.0.0.0/8` for HIPL's
//! numbering), `allow` (a peer HIT; repeatable: access control
//! list, RFC 7401 section 6.4 "the Responder may refuse"), `nat`
//! (`none`, `plain-udp` or `native`: HIPL's NAT mode names, see [`NatMode`]),
//! `esp_transforms` (ESP suites offered and accepted, in preference order:
//! names such as `aes-gcm-16`, `aes-128-cbc-hmac-sha1` or IANA numbers),
//! `nat_keepalive_interval` (seconds, RFC 5770 section 4.7 / RFC 9028
//! section 5.10, default 15), `udp_encap` (`yes`/`no`: the older spelling of
//! `nat = plain-udp` / `nat = none`, kept as an alias), `puzzle_k` (RFC 7401
//! section 4.1.2 difficulty),
//! `metrics_listen` (Prometheus endpoint, e.g. `127.0.0.1:9450`). Registration (RFC 8003 / RFC 8004):
//! `services = rvs, relay, full-relay` (offer the rendezvous service, RFC
//! 8004, the Control Relay Server, RFC 9028 section 4.1, and the Data Relay
//! Server, section 4.12; `data_relay_rate`: ESP packets per second forwarded
//! per permission and direction, default 200000),
//! `registration_allow = any | HIT HIT ...` (default: nobody may register),
//! `registration_min_lifetime` / `registration_max_lifetime` (seconds, default
//! 10 / 3600), `server = rvs HIT IP LIFETIME` (register there at startup,
//! repeatable), and HIP in DNS (RFC 8005): `dns_upstream`, `dns_proxy`,
//! `dns_update_zone`, `dns_update_server`, `dns_update_name`, `dns_update_key`,
//! `dns_update_rvs`, `dns_update_ttl` ([`DnsConfig`]).
use hip_proto::Hit;
use std::net::Ipv4Addr;
use std::path::Path;

/// The default LSI prefix, 198.19.0.0/16: the upper half of 198.18.0.0/15,
/// the block RFC 6890 lists for benchmarking (RFC 2544), not globally
/// reachable, so no public service can be hidden behind the routes hipd puts
/// into the TUN device. HIPL's 1.0.0.0/8 was unallocated when HIPL chose it
/// but is APNIC's today (1.1.1.1 and 1.0.0.1 are public DNS resolvers), and
/// 100.64.0.0/10 (RFC 6598 shared address space) is used by carrier-grade
/// NATs, cloud providers and overlay VPNs. The lower half 198.18.0.0/16 is
/// left alone: it is the half benchmarking setups and local "fake IP" DNS
/// proxies pick first. 65534 LSIs. Set `lsi_prefix = 1.0.0.0/8` to number
/// LSIs as HIPL does. See rfc-notes/rfc5338.md.
pub const DEFAULT_LSI_PREFIX: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 19, 0, 0), 16);

/// How new base exchanges traverse NATs (`nat = ...` in hipd.conf, `hipconf
/// daemon nat ...` at run time; HIPL's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NatMode {
    /// HIP over raw IP protocol 139, ESP over IP protocol 50.
    #[default]
    None,
    /// RFC 5770 UDP encapsulation without ICE: HIP (with the 32-bit zero
    /// marker) and ESP over UDP port 10500, NAT keepalives, the peer known
    /// by its NAT mapping.
    PlainUdp,
}

impl NatMode {
    /// Parses a mode name. `native` (RFC 9028 ICE-based native NAT
    /// traversal) is refused: not implemented yet.
    pub fn parse(v: &str) -> Result<Self, String> {
        match v {
            "none" => Ok(NatMode::None),
            "plain-udp" => Ok(NatMode::PlainUdp),
            "native" => Err(
                "nat = native (RFC 9028 native NAT traversal with ICE) is not implemented yet; use plain-udp (RFC 5770 UDP encapsulation) or none".into(),
            ),
            _ => Err(format!("nat: expected none, plain-udp or native, got {v:?}")),
        }
    }

    /// HIPL's name of the mode.
    pub fn name(self) -> &'static str {
        match self {
            NatMode::None => "none",
            NatMode::PlainUdp => "plain-udp",
        }
    }

    /// Do new base exchanges start over UDP?
    pub fn udp(self) -> bool {
        self == NatMode::PlainUdp
    }
}

/// Errors from parsing `hipd.conf`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A line could not be understood.
    #[error("hipd.conf line {line}: {msg}")]
    Line { line: usize, msg: String },
    /// The file could not be read.
    #[error("cannot read {0}")]
    Io(String),
    /// A line of the file at `path` could not be understood.
    #[error("{path}:{line}: {msg}")]
    InFile {
        path: String,
        line: usize,
        msg: String,
    },
}

/// Parsed daemon configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// TUN device name.
    pub tun_name: String,
    /// LSI prefix and length.
    pub lsi_prefix: (Ipv4Addr, u8),
    /// When non-empty, only these peer HITs may run a base exchange with us.
    pub allow: Vec<Hit>,
    /// NAT traversal mode of new base exchanges (`nat`; `udp_encap = yes`
    /// is `plain-udp`).
    pub nat: NatMode,
    /// NAT keepalive interval in seconds (RFC 9028 section 5.10 Tr).
    pub nat_keepalive_interval: u64,
    /// ESP transforms offered and accepted, in preference order
    /// (`esp_transforms = 13, 8, 1` or names, RFC 7402 section 5.1.2;
    /// `None`: the library's default order).
    pub esp_transforms: Option<Vec<hip_proto::registry::EspTransformId>>,
    /// Data Relay Server: most ESP packets per second forwarded per
    /// permission and direction (`data_relay_rate`, RFC 9028 section 4.12).
    pub data_relay_rate: u64,
    /// Puzzle difficulty K for I1s we answer.
    pub puzzle_k: u8,
    /// Compatibility profiles per peer HIT (`profile = HIT strict|hipl|hipl-v2|cutehip|openhip`):
    /// the known deviations of HIPL 1.0.8 and cutehip accepted and mirrored for
    /// that peer only; every other peer is handled strictly by the RFCs.
    pub profiles: Vec<(Hit, hip_proto::endpoint::CompatProfile)>,
    /// New SPIs and keys with every locator change (RFC 8046 section 3.2.2).
    pub rekey_on_move: bool,
    /// A new Diffie-Hellman key with every rekey (RFC 7402 section 6.10).
    pub rekey_dh: bool,
    /// Rekey after the ESP keys have been in use this many seconds.
    pub rekey_interval: Option<u64>,
    /// Rekey after this many packets sent on one outbound SA.
    pub rekey_packets: Option<u64>,
    /// Rekey after this many payload bytes sent on one outbound SA.
    pub rekey_bytes: Option<u64>,
    /// Packet workers, each with its own TUN queue (`workers = N`;
    /// IFF_MULTI_QUEUE). Default: one per CPU.
    pub workers: usize,
    /// TUN offloads (`offload = yes|no`): the kernel hands over TCP and UDP
    /// super-packets of up to 64 KB, segmented and sealed here in one pass.
    pub offload: bool,
    /// Which interfaces' addresses are announced as locators
    /// (`locator_interfaces`, `locator_exclude`).
    pub locators: crate::local_locators::LocatorPolicy,
    /// The Prometheus metrics endpoint (`metrics_listen = ADDR:PORT`, off
    /// unless set; [`crate::metrics`]).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// HIP in DNS (RFC 8005): lookups, the DNS proxy and publishing.
    pub dns: DnsConfig,
    /// Services offered as a registrar (`services = rvs, relay, full-relay`,
    /// RFC 8003 / RFC 8004 / RFC 9028 sections 4.1 and 4.12).
    pub services: Vec<hip_proto::wire::RegType>,
    /// Who may register (`registration_allow = any | HIT HIT ...`): `None` is
    /// anyone; the default, an empty list, is nobody (a registrar relays
    /// packets toward its clients, so it serves only whom it was told to).
    pub registration_allow: Option<Vec<Hit>>,
    /// Smallest granted lifetime, seconds (`registration_min_lifetime`).
    pub registration_min_lifetime: u32,
    /// Largest granted lifetime, seconds (`registration_max_lifetime`).
    pub registration_max_lifetime: u32,
    /// Registrations to make at startup (`server = rvs HIT IP LIFETIME`, repeatable).
    pub servers: Vec<ServerEntry>,
}

/// A `server = SERVICE HIT IP LIFETIME` line: register there at startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEntry {
    /// The service.
    pub service: hip_proto::wire::RegType,
    /// The server's HIT.
    pub hit: Hit,
    /// The server's address.
    pub ip: std::net::IpAddr,
    /// Requested lifetime, seconds.
    pub lifetime: u32,
}

/// Parses an ORCHID HIT.
fn parse_orchid(v: &str) -> Result<Hit, String> {
    let ip: std::net::Ipv6Addr = v.parse().map_err(|_| format!("bad HIT {v:?}"))?;
    let hit = Hit::from(ip);
    if hit.orchid_version().is_none() {
        return Err(format!("{v} is not an ORCHID HIT"));
    }
    Ok(hit)
}

/// A lifetime in seconds, 1 to 15384774 (RFC 8003 section 4.1's largest).
fn parse_lifetime(v: &str) -> Result<u32, String> {
    v.parse()
        .ok()
        .filter(|n| (1..=15_384_774).contains(n))
        .ok_or_else(|| format!("expected a lifetime of 1 to 15384774 seconds, got {v:?}"))
}

/// The DNS settings (RFC 8005 lookups, the proxy, DNS UPDATE publishing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsConfig {
    /// `dns_upstream = IP[:PORT]`: the resolver lookups and the proxy ask.
    /// Default: the first `nameserver` of /etc/resolv.conf that is not the
    /// proxy's own address ([`crate::dns_lookup::default_upstream`]).
    pub upstream: Option<std::net::SocketAddr>,
    /// `dns_proxy = ADDR:PORT`: the DNS proxy's UDP and TCP address (off
    /// unless set).
    pub proxy: Option<std::net::SocketAddr>,
    /// Publishing with DNS UPDATE (all four `dns_update_*` keys, or none).
    pub update: Option<DnsUpdateConfig>,
}

/// `dns_update_zone`, `dns_update_server`, `dns_update_name`,
/// `dns_update_key` (and the optional `dns_update_rvs`, `dns_update_ttl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsUpdateConfig {
    /// The zone (its primary applies the UPDATE, RFC 2136 section 4).
    pub zone: String,
    /// The primary server.
    pub server: std::net::SocketAddr,
    /// The name this host publishes under (inside `zone`).
    pub name: String,
    /// The TSIG key in BIND's key-file format (RFC 8945).
    pub key: std::path::PathBuf,
    /// Rendezvous servers put into the HIP RR (RFC 8005 section 5.6).
    pub rvs: Vec<String>,
    /// The TTL of the published RRs.
    pub ttl: u32,
}

/// The error of a `dns_update_*` group that lacks a key (a whole-file
/// problem: one line alone always lacks the others).
pub const PARTIAL_UPDATE: &str =
    "publishing needs all of dns_update_zone, dns_update_server, dns_update_name and dns_update_key";

/// The default TTL of published RRs: short, since locators move.
pub const DEFAULT_DNS_TTL: u32 = 60;

/// `IP` or `IP:PORT` (`[v6]:PORT`), port 53 when absent.
pub fn parse_dns_server(v: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(a) = v.parse::<std::net::SocketAddr>() {
        if a.port() == 0 {
            return Err(format!("port 0 in {v:?}"));
        }
        return Ok(a);
    }
    v.parse::<std::net::IpAddr>()
        .map(|ip| std::net::SocketAddr::new(ip, 53))
        .map_err(|_| format!("expected IP or IP:PORT, got {v:?}"))
}

/// A DNS name (letters, digits, `-`, `_`, dots; at most 253 octets).
pub fn check_dns_name(v: &str) -> Result<String, String> {
    let t = v.trim_end_matches('.');
    let ok = !t.is_empty()
        && t.len() <= 253
        && t.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(t.to_ascii_lowercase())
    } else {
        Err(format!("bad DNS name {v:?}"))
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tun_name: "hip0".into(),
            lsi_prefix: DEFAULT_LSI_PREFIX,
            allow: Vec::new(),
            nat: NatMode::None,
            nat_keepalive_interval: 15,
            data_relay_rate: 200_000,
            esp_transforms: None,
            puzzle_k: 10,
            profiles: Vec::new(),
            rekey_on_move: false,
            rekey_dh: false,
            rekey_interval: None,
            rekey_packets: None,
            rekey_bytes: None,
            locators: Default::default(),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get().min(16)),
            offload: true,
            metrics_listen: None,
            services: Vec::new(),
            registration_allow: Some(Vec::new()),
            registration_min_lifetime: 10,
            registration_max_lifetime: 3600,
            servers: Vec::new(),
            dns: DnsConfig::default(),
        }
    }
}

/// Parses `a.b.c.d/len`.
pub fn parse_v4_prefix(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (a, l) = s.split_once('/').ok_or("expected ADDRESS/LENGTH")?;
    let a: Ipv4Addr = a.parse().map_err(|_| format!("bad IPv4 address {a:?}"))?;
    let l: u8 = l.parse().map_err(|_| format!("bad prefix length {l:?}"))?;
    if !(1..=30).contains(&l) {
        return Err(format!("prefix length {l} out of 1..=30"));
    }
    Ok((a, l))
}

/// ESP transform names hipconf and hipd.conf accept, with their IANA
/// numbers (RFC 7402 section 5.1.2; the suites hip-esp implements).
const ESP_TRANSFORM_NAMES: [(&str, u16); 10] = [
    ("aes-128-cbc-hmac-sha1", 1),
    ("null-hmac-sha256", 7),
    ("aes-128-cbc-hmac-sha256", 8),
    ("aes-256-cbc-hmac-sha256", 9),
    ("aes-ccm-8", 10),
    ("aes-ccm-16", 11),
    ("aes-gcm-8", 12),
    ("aes-gcm-16", 13),
    ("aes-cmac-96", 14),
    ("aes-gmac", 15),
];

/// `esp_transforms`: names or numbers, comma or space separated, each a
/// suite the data plane implements, no repeats.
fn parse_esp_transforms(v: &str) -> Result<Vec<hip_proto::registry::EspTransformId>, String> {
    let mut out = Vec::new();
    for w in v
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        let id = ESP_TRANSFORM_NAMES
            .iter()
            .find(|(n, _)| *n == w)
            .map(|(_, id)| *id)
            .or_else(|| w.parse::<u16>().ok())
            .filter(|id| hip_esp::Suite::from_transform_id(*id).is_ok())
            .ok_or_else(|| {
                format!(
                    "esp_transforms: {w:?} is not a supported ESP transform (one of {})",
                    ESP_TRANSFORM_NAMES
                        .iter()
                        .map(|(n, id)| format!("{n} = {id}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        let id = hip_proto::registry::EspTransformId::from(id);
        if out.contains(&id) {
            return Err(format!("esp_transforms: {w:?} is listed twice"));
        }
        out.push(id);
    }
    if out.is_empty() {
        return Err("esp_transforms: expected at least one transform".into());
    }
    Ok(out)
}

/// A boolean setting.
fn yes_no(v: &str) -> Result<bool, String> {
    match v {
        "yes" | "true" | "on" => Ok(true),
        "no" | "false" | "off" => Ok(false),
        _ => Err(format!("expected yes or no, got {v:?}")),
    }
}

impl Config {
    /// Parses the text of `hipd.conf`.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let mut c = Config::default();
        // The dns_update_* keys: (zone, server, name, key), the first line.
        let mut upd: (Option<String>, Option<std::net::SocketAddr>, Option<String>) =
            (None, None, None);
        let mut upd_key: Option<std::path::PathBuf> = None;
        let mut upd_rvs = Vec::new();
        let mut upd_ttl = DEFAULT_DNS_TTL;
        let mut upd_line = 0;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |msg: String| ConfigError::Line { line, msg };
            let l = raw.split('#').next().unwrap_or("").trim();
            if l.is_empty() {
                continue;
            }
            let (k, v) = l
                .split_once('=')
                .ok_or_else(|| err("expected KEY = VALUE".into()))?;
            let (k, v) = (k.trim(), v.trim());
            match k {
                "tun" => {
                    if v.is_empty()
                        || v.len() > 15
                        || !v
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    {
                        return Err(err(format!("bad interface name {v:?}")));
                    }
                    c.tun_name = v.into();
                }
                "lsi_prefix" => c.lsi_prefix = parse_v4_prefix(v).map_err(err)?,
                "allow" => {
                    let ip: std::net::Ipv6Addr =
                        v.parse().map_err(|_| err(format!("bad HIT {v:?}")))?;
                    let hit = Hit::from(ip);
                    if hit.orchid_version().is_none() {
                        return Err(err(format!("{v} is not an ORCHID HIT")));
                    }
                    c.allow.push(hit);
                }
                // The older key: yes = plain-udp, no = none.
                "udp_encap" => {
                    c.nat = if yes_no(v).map_err(&err)? {
                        NatMode::PlainUdp
                    } else {
                        NatMode::None
                    }
                }
                "nat" => c.nat = NatMode::parse(v).map_err(&err)?,
                "nat_keepalive_interval" => {
                    c.nat_keepalive_interval = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=3600).contains(n))
                        .ok_or_else(|| {
                            err(format!(
                                "nat_keepalive_interval: expected 1 to 3600 seconds, got {v:?}"
                            ))
                        })?
                }
                "esp_transforms" => c.esp_transforms = Some(parse_esp_transforms(v).map_err(&err)?),
                "data_relay_rate" => {
                    c.data_relay_rate = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=10_000_000).contains(n))
                        .ok_or_else(|| {
                            err(format!(
                            "data_relay_rate: expected 1 to 10000000 packets per second, got {v:?}"
                        ))
                        })?
                }
                "metrics_listen" => {
                    let a: std::net::SocketAddr = v.parse().map_err(|_| {
                        err(format!("metrics_listen: expected ADDRESS:PORT, got {v:?}"))
                    })?;
                    if a.port() == 0 {
                        return Err(err("metrics_listen: port 0".into()));
                    }
                    c.metrics_listen = Some(a);
                }
                "offload" => c.offload = yes_no(v).map_err(&err)?,
                "dns_upstream" | "dns_update_server" => {
                    let a = parse_dns_server(v).map_err(|m| err(format!("{k}: {m}")))?;
                    if k == "dns_upstream" {
                        c.dns.upstream = Some(a);
                    } else {
                        upd.1 = Some(a);
                    }
                }
                "dns_proxy" => {
                    let a: std::net::SocketAddr = v
                        .parse()
                        .map_err(|_| err(format!("dns_proxy: expected ADDRESS:PORT, got {v:?}")))?;
                    if a.port() == 0 {
                        return Err(err("dns_proxy: port 0".into()));
                    }
                    c.dns.proxy = Some(a);
                }
                "dns_update_zone" | "dns_update_name" | "dns_update_rvs" => {
                    let n = check_dns_name(v).map_err(|m| err(format!("{k}: {m}")))?;
                    match k {
                        "dns_update_zone" => upd.0 = Some(n),
                        "dns_update_name" => upd.2 = Some(n),
                        _ => upd_rvs.push(n),
                    }
                }
                "dns_update_key" => {
                    if v.is_empty() {
                        return Err(err("dns_update_key: expected a key file".into()));
                    }
                    upd_key = Some(v.into());
                }
                "dns_update_ttl" => {
                    upd_ttl = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=86400).contains(n))
                        .ok_or_else(|| {
                            err(format!("dns_update_ttl: expected 1 to 86400, got {v:?}"))
                        })?
                }
                "workers" => {
                    c.workers = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=64).contains(n))
                        .ok_or_else(|| err(format!("workers: expected 1 to 64, got {v:?}")))?
                }
                "locator_interfaces" | "locator_exclude" => {
                    let names = crate::local_locators::parse_interface_list(v).map_err(err)?;
                    if k == "locator_interfaces" {
                        c.locators.include.extend(names);
                    } else {
                        c.locators.exclude.extend(names);
                    }
                }
                "rekey_on_move" => c.rekey_on_move = yes_no(v).map_err(&err)?,
                "rekey_dh" => c.rekey_dh = yes_no(v).map_err(&err)?,
                "puzzle_k" => {
                    c.puzzle_k = v
                        .parse()
                        .map_err(|_| err(format!("bad puzzle difficulty {v:?}")))?
                }
                "rekey_interval" | "rekey_packets" | "rekey_bytes" => {
                    let n: u64 = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        err(format!("{k}: expected a positive number, got {v:?}"))
                    })?;
                    match k {
                        "rekey_interval" => c.rekey_interval = Some(n),
                        "rekey_packets" => c.rekey_packets = Some(n),
                        _ => c.rekey_bytes = Some(n),
                    }
                }
                "profile" => {
                    use hip_proto::endpoint::CompatProfile;
                    let (h, name) = v
                        .split_once(char::is_whitespace)
                        .ok_or_else(|| err("expected profile = HIT NAME".into()))?;
                    let ip: std::net::Ipv6Addr =
                        h.parse().map_err(|_| err(format!("bad HIT {h:?}")))?;
                    let p = CompatProfile::from_name(name.trim()).ok_or_else(|| {
                        err(format!(
                            "unknown profile {:?} (strict, hipl, hipl-v2, cutehip or openhip)",
                            name.trim()
                        ))
                    })?;
                    c.profiles.push((Hit::from(ip), p));
                }
                "services" => {
                    // `rvs relay` or `rvs, relay` (the and HIPL's spelling).
                    for s in v
                        .split(|c: char| c == ',' || c.is_whitespace())
                        .filter(|s| !s.is_empty())
                    {
                        let t = crate::hip_engine::parse_service(s).map_err(&err)?;
                        if !c.services.contains(&t) {
                            c.services.push(t);
                        }
                    }
                }
                "registration_allow" => {
                    if v == "any" {
                        c.registration_allow = None;
                    } else {
                        let hits = v
                            .split_whitespace()
                            .map(parse_orchid)
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(&err)?;
                        if let Some(l) = c.registration_allow.as_mut() {
                            l.extend(hits);
                        }
                    }
                }
                "registration_min_lifetime" => {
                    c.registration_min_lifetime = parse_lifetime(v).map_err(&err)?
                }
                "registration_max_lifetime" => {
                    c.registration_max_lifetime = parse_lifetime(v).map_err(&err)?
                }
                "server" => {
                    let f: Vec<&str> = v.split_whitespace().collect();
                    let [service, hit, ip, lifetime] = f[..] else {
                        return Err(err(
                            "expected server = SERVICE SERVER-HIT SERVER-IP LIFETIME".into(),
                        ));
                    };
                    c.servers.push(ServerEntry {
                        service: crate::hip_engine::parse_service(service).map_err(&err)?,
                        hit: parse_orchid(hit).map_err(&err)?,
                        ip: ip
                            .parse()
                            .map_err(|_| err(format!("bad server address {ip:?}")))?,
                        lifetime: parse_lifetime(lifetime).map_err(&err)?,
                    });
                }
                _ => return Err(err(format!("unknown key {k:?}"))),
            }
            if k.starts_with("dns_update_") && upd_line == 0 {
                upd_line = line;
            }
        }
        match (upd, upd_key) {
            ((None, None, None), None) if upd_line == 0 => {}
            ((Some(zone), Some(server), Some(name)), Some(key)) => {
                let (z, n) = (format!(".{zone}"), format!(".{name}"));
                if !n.ends_with(&z) {
                    return Err(ConfigError::Line {
                        line: upd_line,
                        msg: format!("dns_update_name {name} is not inside dns_update_zone {zone}"),
                    });
                }
                c.dns.update = Some(DnsUpdateConfig {
                    zone,
                    server,
                    name,
                    key,
                    rvs: upd_rvs,
                    ttl: upd_ttl,
                });
            }
            _ => {
                return Err(ConfigError::Line {
                    line: upd_line,
                    msg: PARTIAL_UPDATE.into(),
                })
            }
        }
        if c.registration_min_lifetime > c.registration_max_lifetime {
            return Err(ConfigError::Line {
                line: 0,
                msg: format!(
                    "registration_min_lifetime {} above registration_max_lifetime {}",
                    c.registration_min_lifetime, c.registration_max_lifetime
                ),
            });
        }
        Ok(c)
    }

    /// Loads `dir/hipd.conf`, or the defaults when it does not exist.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        let p = dir.join("hipd.conf");
        match std::fs::read_to_string(&p) {
            Ok(t) => Self::parse(&t).map_err(|e| match e {
                ConfigError::Line { line, msg } => ConfigError::InFile {
                    path: p.display().to_string(),
                    line,
                    msg,
                },
                other => other,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(ConfigError::Io(format!("{}: {e}", p.display()))),
        }
    }

    /// Access control (checked before any expensive work): is `peer` allowed?
    pub fn is_allowed(&self, peer: &Hit) -> bool {
        self.allow.is_empty() || self.allow.contains(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_keys() {
        let c = Config::parse(
            "# comment\ntun = hipx\nlsi_prefix = 10.0.0.0/8\nallow = 2001:20::1\nudp_encap = yes\npuzzle_k = 3\n",
        )
        .unwrap();
        assert_eq!(c.tun_name, "hipx");
        assert_eq!(c.lsi_prefix, (Ipv4Addr::new(10, 0, 0, 0), 8));
        assert_eq!(c.allow.len(), 1);
        assert_eq!(c.nat, NatMode::PlainUdp);
        assert_eq!(c.puzzle_k, 3);
        assert!(!c.is_allowed(&Hit::from(
            "2001:20::2".parse::<std::net::Ipv6Addr>().unwrap()
        )));
    }

    #[test]
    fn default_lsi_prefix_is_not_public_space_and_hipl_s_is_a_setting() {
        let d = Config::default().lsi_prefix;
        assert_eq!(d, (Ipv4Addr::new(198, 19, 0, 0), 16));
        assert_eq!(Config::parse("").unwrap().lsi_prefix, d);
        // Inside 198.18.0.0/15 (RFC 6890: benchmarking, not globally reachable),
        // and away from the public resolvers HIPL's default routes into the TUN.
        let mask = u32::MAX << (32 - u32::from(d.1));
        assert_eq!(
            u32::from(d.0) >> 17,
            u32::from(Ipv4Addr::new(198, 18, 0, 0)) >> 17
        );
        for public in [Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(1, 0, 0, 1)] {
            assert_ne!(u32::from(public) & mask, u32::from(d.0) & mask);
        }
        // The allocator accepts it.
        assert!(hip_proto::lsi::LsiAllocator::new(d.0, d.1).is_ok());
        assert_eq!(
            Config::parse("lsi_prefix = 1.0.0.0/8").unwrap().lsi_prefix,
            (Ipv4Addr::new(1, 0, 0, 0), 8)
        );
    }

    #[test]
    fn esp_transforms_take_names_or_numbers_of_implemented_suites_only() {
        use hip_proto::registry::EspTransformId as T;
        let c = Config::parse("esp_transforms = aes-gcm-16, 8 aes-128-cbc-hmac-sha1\n").unwrap();
        assert_eq!(
            c.esp_transforms,
            Some(vec![
                T::AesGcm16,
                T::Aes128CbcHmacSha256,
                T::Aes128CbcHmacSha1
            ])
        );
        assert_eq!(Config::default().esp_transforms, None);
        for bad in [
            "esp_transforms = 2",
            "esp_transforms = 3des",
            "esp_transforms = 13, aes-gcm-16",
            "esp_transforms = ,",
        ] {
            let e = Config::parse(bad).unwrap_err().to_string();
            assert!(e.contains("esp_transforms"), "{bad}: {e}");
        }
    }

    #[test]
    fn errors_carry_line_numbers() {
        let e = Config::parse("tun = a\n\nbogus = 1\n").unwrap_err();
        assert_eq!(
            e,
            ConfigError::Line {
                line: 3,
                msg: "unknown key \"bogus\"".into()
            }
        );
        assert!(matches!(
            Config::parse("allow = ::1").unwrap_err(),
            ConfigError::Line { line: 1, .. }
        ));
        assert!(Config::parse("lsi_prefix = 1.0.0.0/33").is_err());
        assert!(Config::parse("udp_encap = maybe").is_err());
        assert!(Config::parse("rekey_dh = 1").is_err());
        let c = Config::parse("rekey_dh = yes\nrekey_on_move = on").unwrap();
        assert!(c.rekey_dh && c.rekey_on_move);
        assert!(Config::parse("novalue").is_err());
        assert!(Config::parse("profile = 2001:20::1 ipsec").is_err());
        assert!(Config::parse("rekey_packets = 0").is_err());
        let c = Config::parse("rekey_packets = 1000\nrekey_interval = 3600").unwrap();
        assert_eq!(
            (c.rekey_packets, c.rekey_interval),
            (Some(1000), Some(3600))
        );
        let c = Config::parse("profile = 2001:20::1 cutehip").unwrap();
        assert_eq!(c.profiles[0].1, hip_proto::endpoint::CompatProfile::Cutehip);
        let c =
            Config::parse("profile = 2001:10::1 hipl-v2\nprofile = 2001:10::2 openhip").unwrap();
        assert_eq!(
            (c.profiles[0].1, c.profiles[1].1),
            (
                hip_proto::endpoint::CompatProfile::HiplV2,
                hip_proto::endpoint::CompatProfile::OpenHip
            )
        );
        let e = Config::parse("profile = 2001:10::1 openhip-2")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("openhip-2") && e.contains("hipl-v2, cutehip or openhip"),
            "{e}"
        );
    }

    #[test]
    fn nat_modes_parse_udp_encap_is_an_alias_and_native_is_refused() {
        let c = Config::parse("nat = plain-udp\nnat_keepalive_interval = 20\n").unwrap();
        assert_eq!((c.nat, c.nat_keepalive_interval), (NatMode::PlainUdp, 20));
        assert_eq!(Config::default().nat, NatMode::None);
        assert_eq!(Config::default().nat_keepalive_interval, 15);
        assert_eq!(Config::parse("nat = none").unwrap().nat, NatMode::None);
        assert_eq!(
            Config::parse("udp_encap = yes").unwrap().nat,
            NatMode::PlainUdp
        );
        assert_eq!(Config::parse("udp_encap = no").unwrap().nat, NatMode::None);
        let e = Config::parse("nat = native").unwrap_err().to_string();
        assert!(e.contains("not implemented yet"), "{e}");
        for bad in [
            "nat = ice",
            "nat = ",
            "nat_keepalive_interval = 0",
            "nat_keepalive_interval = 3601",
            "nat_keepalive_interval = soon",
        ] {
            assert!(Config::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(NatMode::parse("plain-udp").unwrap().name(), "plain-udp");
    }

    #[test]
    fn a_bad_line_is_reported_with_the_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("hipd.conf"),
            "tun = hip0\nudp_encap = maybe\n",
        )
        .unwrap();
        let e = Config::load(d.path()).unwrap_err().to_string();
        let want = format!("{}:2: ", d.path().join("hipd.conf").display());
        assert!(e.starts_with(&want), "{e}");
    }

    #[test]
    fn data_plane_and_locator_settings_parse_and_bad_values_are_errors() {
        let c = Config::parse("workers = 4\noffload = no\nlocator_interfaces = eth0, ens*\nlocator_exclude = docker0\n").unwrap();
        assert_eq!((c.workers, c.offload), (4, false));
        assert_eq!(c.locators.include, vec!["eth0", "ens*"]);
        assert_eq!(c.locators.exclude, vec!["docker0"]);
        for bad in [
            "workers = 0",
            "workers = 65",
            "workers = many",
            "offload = maybe",
            "locator_interfaces = ",
            "locator_exclude = eth0;rm",
        ] {
            let e = Config::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("hipd.conf line 1: "), "{bad}: {e}");
        }
    }

    #[test]
    fn dns_settings_parse_and_bad_values_name_the_line() {
        let c = Config::parse(
            "dns_upstream = 198.51.100.53\ndns_proxy = 127.0.0.153:53\n\
             dns_update_zone = grid.example\ndns_update_server = [2001:db8::53]:5353\n\
             dns_update_name = a.grid.example.\ndns_update_key = /etc/hipr/a.key\n\
             dns_update_rvs = rvs.grid.example\ndns_update_ttl = 30\n",
        )
        .unwrap();
        assert_eq!(c.dns.upstream, Some("198.51.100.53:53".parse().unwrap()));
        assert_eq!(c.dns.proxy, Some("127.0.0.153:53".parse().unwrap()));
        let u = c.dns.update.unwrap();
        assert_eq!(u.zone, "grid.example");
        assert_eq!(u.name, "a.grid.example");
        assert_eq!(u.server, "[2001:db8::53]:5353".parse().unwrap());
        assert_eq!(u.rvs, vec!["rvs.grid.example"]);
        assert_eq!(u.ttl, 30);
        assert_eq!(Config::parse("").unwrap().dns, DnsConfig::default());
        for (bad, line) in [
            ("dns_upstream = resolver", 1),
            ("dns_upstream = 198.51.100.53:0", 1),
            ("dns_proxy = 127.0.0.153", 1),
            ("tun = hip0\ndns_update_zone = grid..example", 2),
            ("dns_update_ttl = 0", 1),
            // Publishing needs all four; the error names the first line.
            (
                "tun = hip0\ndns_update_zone = grid.example\ndns_update_name = a.grid.example",
                2,
            ),
            (
                "dns_update_zone = grid.example\ndns_update_server = 198.51.100.53\n\
                 dns_update_name = a.other.example\ndns_update_key = k",
                1,
            ),
        ] {
            match Config::parse(bad) {
                Err(ConfigError::Line { line: l, msg }) => {
                    assert_eq!(l, line, "{bad}: {msg}");
                    assert!(msg.contains("dns_"), "{bad}: {msg}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    /// The keys `Config::parse` matches, read from its own source.
    fn parsed_keys() -> Vec<String> {
        let src = include_str!("config.rs");
        let body = src
            .split("pub fn parse(text: &str)")
            .nth(1)
            .and_then(|b| b.split("pub fn load(").next())
            .expect("parse body");
        body.lines()
            .map(str::trim)
            .filter(|l| l.starts_with('"') && l.contains("=>") && !l.contains("CompatProfile"))
            .flat_map(|l| {
                l.split("=>")
                    .next()
                    .unwrap_or("")
                    .split('|')
                    .map(|k| k.trim().trim_matches('"').to_string())
            })
            .filter(|k| k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
            .collect()
    }

    /// The shipped /etc/hipr/hipd.conf names every setting, and each of its
    /// commented examples is valid once uncommented.
    #[test]
    fn shipped_config_documents_every_key() {
        let shipped = include_str!("../../packaging/hipd.conf");
        let keys = parsed_keys();
        assert!(keys.len() >= 15, "{keys:?}");
        for k in &keys {
            assert!(
                shipped.lines().any(|l| l.starts_with(&format!("#{k} = "))),
                "packaging/hipd.conf does not show {k}"
            );
        }
        assert!(Config::parse(shipped).is_ok(), "as shipped: all defaults");
        let examples = shipped.lines().filter(|l| {
            l.starts_with('#') && l.as_bytes().get(1).is_some_and(u8::is_ascii_lowercase)
        });
        // The dns_update_* keys go together ("all four, or none").
        let mut publish = String::new();
        for l in examples {
            let example = &l[1..];
            if example.starts_with("dns_update_") {
                publish.push_str(example);
                publish.push('\n');
                continue;
            }
            if let Err(e) = Config::parse(example) {
                panic!("shipped example {example:?}: {e}");
            }
        }
        match Config::parse(&publish) {
            Ok(c) => assert!(c.dns.update.is_some(), "{publish}"),
            Err(e) => panic!("shipped dns_update_* examples {publish:?}: {e}"),
        }
    }

    #[test]
    fn registration_keys_parse_with_a_safe_default_and_bad_values_are_errors() {
        let d = Config::default();
        assert!(d.services.is_empty());
        assert_eq!(d.registration_allow, Some(Vec::new()), "nobody by default");
        let hit = "2001:20::1";
        let c = Config::parse(&format!(
            "services = rvs, relay\nregistration_allow = {hit}\nregistration_min_lifetime = 20\n\
             registration_max_lifetime = 600\nserver = rvs {hit} 203.0.113.10 300\n"
        ))
        .unwrap();
        use hip_proto::wire::RegType;
        assert_eq!(
            c.services,
            vec![RegType::RendezvousServer, RegType::RelayUdpHip]
        );
        assert_eq!(c.registration_allow.as_ref().map(|v| v.len()), Some(1));
        assert_eq!(
            (c.registration_min_lifetime, c.registration_max_lifetime),
            (20, 600)
        );
        assert_eq!(c.servers.len(), 1);
        assert_eq!(c.servers[0].lifetime, 300);
        let any = Config::parse("registration_allow = any\n").unwrap();
        assert_eq!(any.registration_allow, None);
        for bad in [
            "services = dns",
            "registration_allow = 192.0.2.1",
            "registration_max_lifetime = 0",
            "server = rvs 2001:20::1 203.0.113.10",
            "server = rvs 2001:20::1 nowhere 300",
            "registration_min_lifetime = 100\nregistration_max_lifetime = 50",
        ] {
            assert!(Config::parse(bad).is_err(), "{bad}");
        }
    }
}
