//! Control socket requests (`hipconf`, HIPL command syntax): peer mappings,
//! associations, identities, puzzle difficulty, LSI/HIT lookups, counters.
use crate::control::{HiInfo, MapInfo, Request, Response};
use crate::control_actor::Control;
use crate::hosts;
use crate::identity_store::{key_spec, HitVersion};
use hip_proto::Hit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn err(m: impl ToString) -> Response {
    Response::Error {
        message: m.to_string(),
    }
}

fn parse_hit(s: &str) -> Result<Hit, Response> {
    hosts::parse_hit(s).map_err(err)
}

/// Keeps the TUN's peer LSI routes in step with the peer database (RFC
/// 5338: only assigned LSIs are routed into the TUN): after a peer's LSI
/// went from `old` to `new` (`None`: no peer), the old route goes and the
/// new one is added. Failures are logged and counted, never an error of the
/// request.
pub fn peer_lsi_changed(st: &mut Control, old: Option<Ipv4Addr>, new: Option<Ipv4Addr>) {
    let failed = &st.io.stats.lsi_route_failed;
    if let Some(o) = old.filter(|o| Some(*o) != new) {
        st.netconf.remove_peer_route(o, failed);
    }
    if let Some(n) = new {
        st.netconf.add_peer_route(n, failed);
    }
}

/// Registers at the `server =` lines of hipd.conf (RFC 8003 section 3.2);
/// a failure is logged, the daemon runs on.
pub fn register_configured_servers(st: &mut Control) {
    for s in st.config.servers.clone() {
        match st.engine.register(
            s.hit,
            s.ip,
            s.service,
            s.lifetime,
            std::time::Instant::now(),
        ) {
            Ok(actions) => st.perform(actions),
            Err(e) => tracing::warn!(server = %s.hit, ip = %s.ip, "registration not started: {e}"),
        }
    }
}

/// Handles one control request.
pub fn handle(st: &mut Control, req: Request) -> Response {
    match handle_inner(st, req) {
        Ok(r) | Err(r) => r,
    }
}

fn handle_inner(st: &mut Control, req: Request) -> Result<Response, Response> {
    Ok(match req {
        Request::AddMap { hit, locator, lsi } => {
            let h = parse_hit(&hit)?;
            let loc: IpAddr = locator
                .parse()
                .map_err(|_| err(format!("bad locator {locator:?}")))?;
            let lsi = lsi
                .map(|l| {
                    l.parse::<Ipv4Addr>()
                        .map_err(|_| err(format!("bad LSI {l:?}")))
                })
                .transpose()?;
            let old = st.peers.get(&h).map(|p| p.lsi);
            let new = st.peers.upsert(h, vec![loc], lsi, None).map_err(err)?;
            peer_lsi_changed(st, old, Some(new));
            st.peers.save().map_err(err)?;
            Response::Ok
        }
        Request::DelMap { hit } => {
            let h = parse_hit(&hit)?;
            let gone = st
                .peers
                .remove(&h)
                .ok_or_else(|| err(format!("no mapping for {h}")))?;
            peer_lsi_changed(st, Some(gone.lsi), None);
            st.pending.take(&h);
            st.peers.save().map_err(err)?;
            Response::Ok
        }
        Request::GetMapAll => {
            let now = std::time::Instant::now();
            Response::Map {
                peers: st
                    .peers
                    .iter()
                    .map(|p| MapInfo {
                        hit: p.hit.to_string(),
                        lsi: p.lsi.to_string(),
                        locators: p.locators.iter().map(|l| l.to_string()).collect(),
                        name: p.name.clone(),
                        rvs: p.rvs.iter().map(|l| l.to_string()).collect(),
                        from_dns: p.from_dns,
                        expires_in: st.dns_expires_in(&p.hit, now),
                    })
                    .collect(),
            }
        }
        // Answered on the runtime by control_socket (network I/O).
        Request::ResolveName { .. } | Request::AddName { .. } => {
            return Err(err("name lookups are answered by the control socket"))
        }
        Request::AddServer {
            service,
            server_hit,
            server_ip,
            lifetime,
        } => {
            let t = crate::hip_engine::parse_service(&service).map_err(err)?;
            // Opportunistic registration (no HIT) needs an I1 to a NULL HIT,
            // which the engine does not send (RFC 8004 section 5 also rules out
            // opportunistic rendezvous).
            let hit = server_hit.ok_or_else(|| {
                err("opportunistic registration is not supported: give the server HIT")
            })?;
            let h = parse_hit(&hit)?;
            let ip: IpAddr = server_ip
                .parse()
                .map_err(|_| err(format!("bad server address {server_ip:?}")))?;
            if lifetime == 0 || lifetime > 15_384_774 {
                return Err(err(format!(
                    "lifetime {lifetime}: expected 1 to 15384774 seconds"
                )));
            }
            let actions = st
                .engine
                .register(h, ip, t, lifetime, std::time::Instant::now())
                .map_err(err)?;
            st.perform(actions);
            Response::Ok
        }
        Request::DelServer {
            service,
            server_hit,
            server_ip,
        } => {
            let t = crate::hip_engine::parse_service(&service).map_err(err)?;
            let h = parse_hit(&server_hit)?;
            let _: IpAddr = server_ip
                .parse()
                .map_err(|_| err(format!("bad server address {server_ip:?}")))?;
            let (found, actions) = st.engine.unregister(h, t, std::time::Instant::now());
            st.perform(actions);
            if !found {
                return Err(err(format!("no {service} registration at {h}")));
            }
            Response::Ok
        }
        Request::GetHaAll => Response::Ha {
            registrations: st.engine.registrations(),
            associations: st
                .engine
                .associations()
                .into_iter()
                .map(|mut a| {
                    if let Some(p) = a.peer_hit.parse().ok().and_then(|h| st.peers.get(&h)) {
                        a.peer_lsi = p.lsi.to_string();
                        a.peer_hostname = p.name.clone().unwrap_or_default();
                    }
                    a.local_lsi = st.local_lsi.to_string();
                    a
                })
                .collect(),
        },
        Request::GetHiDefault | Request::GetHiAll => {
            let default = st.ids.default_identity().map(|i| i.hit);
            let only_default = matches!(req, Request::GetHiDefault);
            let locators: Vec<String> = st.local_locators().iter().map(|a| a.to_string()).collect();
            let identities: Vec<HiInfo> = st
                .ids
                .identities
                .iter()
                .filter(|i| !only_default || Some(i.hit) == default)
                .map(|i| HiInfo {
                    hit: i.hit.to_string(),
                    lsi: if Some(i.hit) == default {
                        st.local_lsi.to_string()
                    } else {
                        String::new()
                    },
                    algorithm: format!("{:?}", i.identity.public().algorithm()),
                    orchid: if i.version == HitVersion::V1 { 1 } else { 2 },
                    default: Some(i.hit) == default,
                    hi_algorithm: i.identity.public().algorithm().value(),
                    host_id: i
                        .identity
                        .public()
                        .to_hi_bytes()
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect(),
                    locators: locators.clone(),
                })
                .collect();
            Response::Hi { identities }
        }
        Request::NewHi {
            algorithm,
            hit_version,
        } => {
            let spec = key_spec(&algorithm).map_err(err)?;
            let v = match hit_version {
                1 => HitVersion::V1,
                2 => HitVersion::V2,
                n => return Err(err(format!("bad ORCHID version {n}"))),
            };
            let new = st
                .ids
                .generate(spec, v, &algorithm, &mut rand_core::OsRng)
                .map_err(err)?;
            let hit = new.hit;
            let added = st.ids.by_hit(&hit).map(|i| st.engine.add_identity(i));
            let own: Vec<Hit> = st.ids.identities.iter().map(|i| i.hit).collect();
            if let Err(e) = st.peers.set_own_hits(&own) {
                tracing::warn!("new identity: {e}");
            }
            if let Some(Err(e)) = added {
                tracing::warn!(%hit, "new identity not usable for HIP: {e}");
            }
            st.netconf.add_hit(Ipv6Addr::from(hit)).map_err(err)?;
            Response::Hi {
                identities: vec![HiInfo {
                    hit: hit.to_string(),
                    lsi: String::new(),
                    algorithm,
                    orchid: hit_version,
                    default: false,
                    hi_algorithm: 0,
                    host_id: String::new(),
                    locators: Vec::new(),
                }],
            }
        }
        // As in HIPL, `rst` closes: CLOSE with ECHO_REQUEST_SIGNED, the state
        // goes when CLOSE_ACK arrives or the CLOSE retransmissions end
        // (RFC 7401 section 5.3.7; HIPL 1.0.8 captures end with this pair).
        Request::Rst { hit } => {
            let h = hit.as_deref().map(parse_hit).transpose()?;
            let actions = st.engine.close(h, std::time::Instant::now());
            st.perform(actions);
            Response::Ok
        }
        Request::SetNat { mode } => {
            let m = crate::config::NatMode::parse(&mode).map_err(err)?;
            st.config.nat = m;
            st.engine.set_nat_mode(m);
            tracing::info!(mode = m.name(), "NAT mode of new base exchanges");
            Response::Ok
        }
        Request::SetPuzzle { k } => {
            st.config.puzzle_k = k;
            st.engine.set_puzzle_difficulty(k).map_err(err)?;
            Response::Ok
        }
        Request::HitToLsi { hit } => {
            let h = parse_hit(&hit)?;
            if st.ids.default_identity().is_some_and(|i| i.hit == h) {
                Response::Lsi {
                    lsi: st.local_lsi.to_string(),
                }
            } else {
                let p = st
                    .peers
                    .get(&h)
                    .ok_or_else(|| err(format!("no LSI for {h}")))?;
                Response::Lsi {
                    lsi: p.lsi.to_string(),
                }
            }
        }
        Request::LsiToHit { lsi } => {
            let a: Ipv4Addr = lsi.parse().map_err(|_| err(format!("bad LSI {lsi:?}")))?;
            if a == st.local_lsi {
                let h = st
                    .ids
                    .default_identity()
                    .ok_or_else(|| err("no default identity"))?
                    .hit;
                Response::Hit { hit: h.to_string() }
            } else {
                let p = st
                    .peers
                    .by_lsi(a)
                    .ok_or_else(|| err(format!("no HIT for {a}")))?;
                Response::Hit {
                    hit: p.hit.to_string(),
                }
            }
        }
        Request::Reload => crate::reload::reload(st),
        Request::LoadHosts { path } => crate::reload::load(st, &path),
        Request::Stats => {
            let mut counters = st.io.stats.snapshot();
            counters.extend(st.dns.stats.snapshot());
            counters.extend(st.engine.counters());
            counters.extend(st.esp.counters());
            Response::Stats { counters }
        }
    })
}
