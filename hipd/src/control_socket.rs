//! The control socket (`hipconf`): a Unix stream socket, one JSON request
//! line and one JSON response line per connection, owner-only.
//!
//! Bounded on every side: a request is at most [`MAX_REQUEST`] octets and
//! must arrive within [`REQUEST_TIMEOUT`]; an error never echoes the request;
//! when the process runs out of descriptors the acceptor backs off instead of
//! spinning; a path that is not a socket, or a socket a live hipd answers
//! on, is never taken over.
use crate::control::{Request, Response};
use crate::control_actor::{Ctl, CtlHandle};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::oneshot;

/// Largest request line accepted.
pub const MAX_REQUEST: u64 = 64 * 1024;
/// Time a client has to send its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Time the control actor has to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause after an accept error such as EMFILE.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A control socket bound beside its final path, not yet visible there.
#[derive(Debug)]
pub struct Pending {
    listener: tokio::net::UnixListener,
    tmp: std::path::PathBuf,
    path: std::path::PathBuf,
}

impl Pending {
    /// Moves the socket to its path (rename(2), atomic): from this moment
    /// `hipconf` (and a supervisor waiting for the path) reaches a daemon
    /// that is ready, with its TUN, routes and sockets in place.
    pub fn publish(self) -> Result<tokio::net::UnixListener, String> {
        std::fs::rename(&self.tmp, &self.path).map_err(|e| {
            let _ = std::fs::remove_file(&self.tmp);
            format!("{}: {e}", self.path.display())
        })?;
        Ok(self.listener)
    }

    /// Where the socket waits until [`Pending::publish`].
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }
}

/// Binds the control socket for `path`, owner-only, at a temporary name
/// beside it ([`Pending::publish`] moves it into place). Refuses a path that
/// exists and is not a socket, and a socket on which a daemon answers; a
/// stale socket (nobody listening) is replaced when published.
pub fn bind(path: &Path) -> Result<Pending, String> {
    let tmp = {
        let mut n = path.as_os_str().to_owned();
        n.push(format!(".{}", std::process::id()));
        std::path::PathBuf::from(n)
    };
    check(path)?;
    let listener = bind_at(path, &tmp)?;
    Ok(Pending {
        listener,
        tmp,
        path: path.to_path_buf(),
    })
}

/// Refuses a `path` that is not a socket or that a live daemon answers on.
fn check(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_socket() => {
            return Err(format!(
                "{}: exists and is not a socket; refusing to replace it",
                path.display()
            ))
        }
        Ok(_) => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(format!(
                    "{}: another hipd is running and answers on this socket",
                    path.display()
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    Ok(())
}

/// Binds at `tmp` (beside `path`), owner-only.
fn bind_at(path: &Path, tmp: &Path) -> Result<tokio::net::UnixListener, String> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let _ = std::fs::remove_file(tmp);
    let l = tokio::net::UnixListener::bind(tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    // The control socket changes identities and maps: owner (root) only.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    Ok(l)
}

/// Reads one request line of at most [`MAX_REQUEST`] octets.
async fn read_request<R: tokio::io::AsyncRead + Unpin>(r: R) -> Result<Request, Response> {
    let mut line = Vec::new();
    let mut lim = BufReader::new(r).take(MAX_REQUEST + 1);
    match tokio::time::timeout(REQUEST_TIMEOUT, lim.read_until(b'\n', &mut line)).await {
        Err(_) => return Err(error("request timed out")),
        Ok(Err(e)) => return Err(error(format!("reading request: {e}"))),
        Ok(Ok(_)) => {}
    }
    if line.len() as u64 > MAX_REQUEST {
        return Err(error(format!("request longer than {MAX_REQUEST} octets")));
    }
    serde_json::from_slice::<Request>(&line).map_err(|e| {
        // serde's message can quote the input: keep it short.
        let mut m = format!("bad request: {e}");
        if m.len() > 200 {
            let mut cut = 200;
            while !m.is_char_boundary(cut) {
                cut -= 1;
            }
            m.truncate(cut);
            m.push_str("...");
        }
        error(m)
    })
}

fn error(m: impl ToString) -> Response {
    Response::Error {
        message: m.to_string(),
    }
}

/// Accepts connections and hands each request to the control actor.
pub async fn serve(
    listener: tokio::net::UnixListener,
    ctl: CtlHandle,
    resolver: std::sync::Arc<crate::dns_lookup::Resolver>,
) {
    loop {
        let s = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // EMFILE / ENFILE and the like: the pending connection stays
                // queued, so retrying at once would spin.
                crate::debug_limited!("control socket accept: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let ctl = ctl.clone();
        let resolver = resolver.clone();
        tokio::spawn(async move {
            let (r, mut w) = s.into_split();
            let resp = match read_request(r).await {
                // DNS lookups run here, on the runtime, not on the actor.
                Ok(Request::ResolveName { name }) => by_name(&resolver, &ctl, &name, false).await,
                Ok(Request::AddName { name }) => by_name(&resolver, &ctl, &name, true).await,
                Ok(req) => {
                    let (reply, rx) = oneshot::channel();
                    if ctl.signals.send(Ctl::Request { req, reply }).is_err() {
                        error("daemon stopping")
                    } else {
                        match tokio::time::timeout(ANSWER_TIMEOUT, rx).await {
                            Ok(Ok(r)) => r,
                            _ => error("daemon did not answer"),
                        }
                    }
                }
                Err(r) => r,
            };
            let mut out = serde_json::to_string(&resp)
                .unwrap_or_else(|_| "{\"result\":\"error\",\"message\":\"encode\"}".into());
            out.push('\n');
            let _ = w.write_all(out.as_bytes()).await;
        });
    }
}

/// `resolve NAME` / `add name NAME`: DNS first (RFC 8005), then the peer
/// hipd knows under that name (hosts file) when DNS gives no HIP record.
async fn by_name(
    resolver: &crate::dns_lookup::Resolver,
    ctl: &CtlHandle,
    name: &str,
    install: bool,
) -> Response {
    use crate::control::NameInfo;
    let strs = |v: &[std::net::IpAddr]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let dns_err = match resolver.lookup(name).await {
        Ok(l) => {
            let lsi = if install {
                match resolver.install(&l).await {
                    Ok(lsi) => Some(lsi.to_string()),
                    Err(e) => return error(format!("{name}: installing the peer: {e}")),
                }
            } else {
                lsi_of(ctl, &l.record.hit.to_string()).await
            };
            return Response::Name {
                peer: Box::new(NameInfo {
                    name: l.name.clone(),
                    hit: l.record.hit.to_string(),
                    installed: lsi.is_some(),
                    lsi,
                    locators: strs(&l.record.addrs),
                    rvs: l.record.rvs.iter().map(|n| n.to_string()).collect(),
                    rvs_locators: strs(&l.rvs_addrs),
                    ttl: l.record.ttl,
                    source: "dns".into(),
                }),
            };
        }
        Err(e) => e,
    };
    // A forged HIP RR is not papered over by the hosts file.
    if matches!(
        dns_err,
        crate::dns_lookup::LookupFailure::Lookup(hip_dns::LookupError::HitMismatch(_))
    ) {
        return error(format!("{name}: {dns_err}"));
    }
    match resolver.known(name).await {
        Some(k) => {
            crate::stats::inc(&resolver.stats.dns_hosts_fallback);
            Response::Name {
                peer: Box::new(NameInfo {
                    name: crate::dns_lookup::canonical_name(name),
                    hit: k.hit.to_string(),
                    lsi: Some(k.lsi.to_string()),
                    locators: strs(&k.locators),
                    rvs: Vec::new(),
                    rvs_locators: strs(&k.rvs),
                    ttl: 0,
                    source: "hosts".into(),
                    installed: true,
                }),
            }
        }
        None => error(format!("{name}: {dns_err}; not in the hosts file either")),
    }
}

async fn lsi_of(ctl: &CtlHandle, hit: &str) -> Option<String> {
    let (reply, rx) = oneshot::channel();
    let req = Request::HitToLsi {
        hit: hit.to_string(),
    };
    ctl.signals.send(Ctl::Request { req, reply }).ok()?;
    match tokio::time::timeout(ANSWER_TIMEOUT, rx).await {
        Ok(Ok(Response::Lsi { lsi })) => Some(lsi),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn oversized_and_malformed_requests_are_refused_without_echo() {
        let big = vec![b'x'; MAX_REQUEST as usize + 10];
        let r = read_request(&big[..]).await.unwrap_err();
        let Response::Error { message } = r else {
            panic!("error expected")
        };
        assert!(message.contains("longer than"), "{message}");
        let field = "y".repeat(10_000);
        let req = format!("{{\"cmd\":\"{field}\"}}\n");
        let Response::Error { message } = read_request(req.as_bytes()).await.unwrap_err() else {
            panic!("error expected")
        };
        assert!(
            message.len() < 300,
            "not echoed whole: {} octets",
            message.len()
        );
    }

    #[test]
    fn refuses_a_regular_file_and_a_live_socket_and_replaces_a_stale_one() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _g = rt.enter();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"keep me").unwrap();
        let e = bind(&file).unwrap_err();
        assert!(e.contains("not a socket"), "{e}");
        assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
        let sock = dir.path().join("hipd.sock");
        let pending = bind(&sock).unwrap();
        assert!(!sock.exists(), "not visible before it is published");
        let live = pending.publish().unwrap();
        assert!(sock.exists());
        let e = bind(&sock).unwrap_err();
        assert!(e.contains("another hipd"), "{e}");
        drop(live);
        // Nobody listens any more: the stale socket is replaced.
        let _again = bind(&sock).unwrap().publish().unwrap();
    }
}
