//! Reloading configuration without dropping associations (`hipconf daemon
//! reload`, SIGHUP) and loading peers in bulk (`hipconf daemon load FILE`),
//! so configuration management can add one VM to a mesh with one change.
//!
//! A reload first checks the whole directory ([`crate::check_config`]); with
//! any problem nothing is applied. Then the access list (`allow`) and the
//! puzzle difficulty take effect at once; the hosts file's peers are added or
//! updated, and the peers an earlier load of the hosts file brought that are
//! no longer in it are removed (their associations stay until they close,
//! as with `del map`). Every other setting takes effect at the next start,
//! and the answer says so.
use crate::config::Config;
use crate::control::Response;
use crate::control_actor::Control;
use crate::control_handler::peer_lsi_changed;
use hip_proto::Hit;
use std::collections::BTreeSet;
use std::path::Path;

/// Adds or updates every line of a hosts-format file; returns the HITs.
/// All or nothing: the lines are tried on a copy of the peer database first.
fn apply_hosts(st: &mut Control, path: &Path) -> Result<BTreeSet<Hit>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let lines = crate::hosts::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    st.peers
        .clone()
        .load_hosts(&lines)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut hits = BTreeSet::new();
    for l in &lines {
        let old = st.peers.get(&l.hit).map(|p| p.lsi);
        let new = st
            .peers
            .upsert(l.hit, vec![l.locator], l.lsi, l.name.clone())
            .map_err(|e| format!("{}: hosts line {}: {e}", path.display(), l.line))?;
        peer_lsi_changed(st, old, Some(new));
        hits.insert(l.hit);
    }
    Ok(hits)
}

/// `hipconf daemon reload`.
pub fn reload(st: &mut Control) -> Response {
    let dir = st.config_dir.clone();
    let problems = crate::check_config::check(&dir);
    if !problems.is_empty() {
        return Response::Error {
            message: format!("nothing reloaded: {}", problems.join("; ")),
        };
    }
    let new = match Config::load(&dir) {
        Ok(c) => c,
        Err(e) => {
            return Response::Error {
                message: format!("nothing reloaded: {e}"),
            }
        }
    };
    let mut applied = st.config.clone();
    applied.allow = new.allow.clone();
    if new.puzzle_k != st.config.puzzle_k {
        if let Err(e) = st.engine.set_puzzle_difficulty(new.puzzle_k) {
            return Response::Error {
                message: format!("nothing reloaded: puzzle_k: {e}"),
            };
        }
        applied.puzzle_k = new.puzzle_k;
    }
    let restart_needed = applied != new;
    st.config = applied;
    let hosts = match apply_hosts(st, &dir.join("hosts")) {
        Ok(h) => h,
        Err(message) => return Response::Error { message },
    };
    let gone: Vec<Hit> = st.hosts_peers.difference(&hosts).copied().collect();
    for h in &gone {
        if let Some(p) = st.peers.remove(h) {
            peer_lsi_changed(st, Some(p.lsi), None);
            st.pending.take(h);
        }
    }
    let added = hosts.difference(&st.hosts_peers).count();
    st.hosts_peers = hosts;
    if let Err(e) = st.peers.save() {
        return Response::Error {
            message: e.to_string(),
        };
    }
    tracing::info!(
        added,
        removed = gone.len(),
        restart_needed,
        "configuration reloaded"
    );
    Response::Reloaded {
        peers_added: added,
        peers_removed: gone.len(),
        restart_needed,
    }
}

/// `hipconf daemon load FILE`: the peers of a hosts-format file, added or
/// updated (kept in peers.json; a later reload does not remove them).
pub fn load(st: &mut Control, path: &str) -> Response {
    let p = Path::new(path);
    if !p.is_absolute() {
        return Response::Error {
            message: format!("{path}: give an absolute path (hipd reads it)"),
        };
    }
    if !p.is_file() {
        return Response::Error {
            message: format!("{path}: no such file"),
        };
    }
    let before = st.peers.iter().count();
    let r = apply_hosts(st, p).and_then(|hits| {
        st.peers.save().map_err(|e| e.to_string())?;
        Ok(hits.len())
    });
    match r {
        Ok(n) => {
            let added = st.peers.iter().count() - before;
            tracing::info!(file = path, lines = n, added, "peers loaded");
            Response::Reloaded {
                peers_added: added,
                peers_removed: 0,
                restart_needed: false,
            }
        }
        Err(message) => Response::Error { message },
    }
}
