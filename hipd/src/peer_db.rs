//! Peer database: HIT <-> LSI <-> locators (RFC 7401 section 3, RFC 5338 LSIs),
//! filled from the hosts file and hipconf, persisted atomically (temp + rename)
//! as `peers.json` in the configuration directory.
use crate::hosts::HostLine;
use hip_proto::lsi::LsiAllocator;
use hip_proto::Hit;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// One known peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub hit: Hit,
    pub lsi: Ipv4Addr,
    pub locators: Vec<IpAddr>,
    pub name: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct StoredPeer {
    hit: Ipv6Addr,
    lsi: Ipv4Addr,
    locators: Vec<IpAddr>,
    name: Option<String>,
}

/// Peer database errors.
#[derive(Debug, thiserror::Error)]
pub enum PeerDbError {
    #[error("no free LSI in the prefix")]
    LsiExhausted,
    #[error("LSI {0} is already used by another peer")]
    LsiInUse(Ipv4Addr),
    #[error("LSI {0} is outside the LSI prefix")]
    LsiOutsidePrefix(Ipv4Addr),
    #[error("peer database {path}: {msg}")]
    Store { path: String, msg: String },
    #[error("bad LSI prefix: {0}")]
    Prefix(String),
}

/// The peer database.
pub struct PeerDb {
    peers: BTreeMap<Hit, Peer>,
    lsis: LsiAllocator,
    prefix: (Ipv4Addr, u8),
    path: Option<PathBuf>,
}

fn in_prefix(a: Ipv4Addr, (p, l): (Ipv4Addr, u8)) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(l)).unwrap_or(0);
    u32::from(a) & mask == u32::from(p) & mask
}

impl PeerDb {
    /// An empty, non-persistent database over an LSI prefix.
    pub fn new(prefix: (Ipv4Addr, u8)) -> Result<Self, PeerDbError> {
        let lsis = LsiAllocator::new(prefix.0, prefix.1)
            .map_err(|e| PeerDbError::Prefix(e.to_string()))?;
        Ok(PeerDb {
            peers: BTreeMap::new(),
            lsis,
            prefix,
            path: None,
        })
    }

    /// Opens (or creates) the database persisted at `path`.
    pub fn open(path: &Path, prefix: (Ipv4Addr, u8)) -> Result<Self, PeerDbError> {
        let mut db = Self::new(prefix)?;
        let serr = |msg: String| PeerDbError::Store {
            path: path.display().to_string(),
            msg,
        };
        match std::fs::read_to_string(path) {
            Ok(t) => {
                let stored: Vec<StoredPeer> =
                    serde_json::from_str(&t).map_err(|e| serr(e.to_string()))?;
                for s in stored {
                    db.upsert(Hit::from(s.hit), s.locators, Some(s.lsi), s.name)?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(serr(e.to_string())),
        }
        db.path = Some(path.to_path_buf());
        Ok(db)
    }

    /// Adds or updates a peer; returns its LSI. Locators are merged (new first).
    pub fn upsert(
        &mut self,
        hit: Hit,
        locators: Vec<IpAddr>,
        lsi: Option<Ipv4Addr>,
        name: Option<String>,
    ) -> Result<Ipv4Addr, PeerDbError> {
        let lsi = match (lsi, self.lsis.lsi_of(&hit)) {
            (Some(want), Some(have)) if want == have => have,
            (Some(want), _) => {
                if !in_prefix(want, self.prefix) {
                    return Err(PeerDbError::LsiOutsidePrefix(want));
                }
                if self.lsis.hit_of(want).is_some_and(|h| h != hit) {
                    return Err(PeerDbError::LsiInUse(want));
                }
                self.lsis.release(&hit);
                if self.lsis.assign(hit, want).is_err() {
                    return Err(PeerDbError::LsiInUse(want));
                }
                want
            }
            (None, Some(have)) => have,
            (None, None) => self
                .lsis
                .allocate(hit)
                .map_err(|_| PeerDbError::LsiExhausted)?,
        };
        let e = self.peers.entry(hit).or_insert_with(|| Peer {
            hit,
            lsi,
            locators: Vec::new(),
            name: None,
        });
        e.lsi = lsi;
        for l in locators.into_iter().rev() {
            e.locators.retain(|x| *x != l);
            e.locators.insert(0, l);
        }
        if name.is_some() {
            e.name = name;
        }
        Ok(lsi)
    }

    /// Adds every hosts-file line.
    pub fn load_hosts(&mut self, lines: &[HostLine]) -> Result<(), PeerDbError> {
        for l in lines {
            self.upsert(l.hit, vec![l.locator], l.lsi, l.name.clone())?;
        }
        Ok(())
    }

    /// Reserves an LSI for a local HIT (not stored as a peer).
    pub fn reserve_local(&mut self, hit: Hit) -> Result<Ipv4Addr, PeerDbError> {
        if let Some(l) = self.lsis.lsi_of(&hit) {
            return Ok(l);
        }
        self.lsis
            .allocate(hit)
            .map_err(|_| PeerDbError::LsiExhausted)
    }

    /// Removes a peer; returns it.
    pub fn remove(&mut self, hit: &Hit) -> Option<Peer> {
        self.lsis.release(hit);
        self.peers.remove(hit)
    }

    pub fn get(&self, hit: &Hit) -> Option<&Peer> {
        self.peers.get(hit)
    }

    pub fn by_lsi(&self, lsi: Ipv4Addr) -> Option<&Peer> {
        self.lsis.hit_of(lsi).and_then(|h| self.peers.get(&h))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Peer> {
        self.peers.values()
    }

    /// Is `a` inside the LSI prefix?
    pub fn is_lsi(&self, a: Ipv4Addr) -> bool {
        in_prefix(a, self.prefix)
    }

    /// Writes the database atomically (temp file + fsync + rename). No-op when not persistent.
    pub fn save(&self) -> Result<(), PeerDbError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let serr = |msg: String| PeerDbError::Store {
            path: path.display().to_string(),
            msg,
        };
        let stored: Vec<StoredPeer> = self
            .peers
            .values()
            .map(|p| StoredPeer {
                hit: p.hit.into(),
                lsi: p.lsi,
                locators: p.locators.clone(),
                name: p.name.clone(),
            })
            .collect();
        let text = serde_json::to_string_pretty(&stored).map_err(|e| serr(e.to_string()))?;
        let tmp = path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp).map_err(|e| serr(e.to_string()))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| serr(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| serr(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(s: &str) -> Hit {
        Hit::from(s.parse::<Ipv6Addr>().unwrap())
    }

    #[test]
    fn persists_across_reload() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("peers.json");
        let pre = (Ipv4Addr::new(1, 0, 0, 0), 8);
        {
            let mut db = PeerDb::open(&p, pre).unwrap();
            let l1 = db
                .upsert(
                    hit("2001:20::1"),
                    vec!["192.0.2.1".parse().unwrap()],
                    None,
                    Some("a".into()),
                )
                .unwrap();
            assert!(db.is_lsi(l1));
            db.upsert(
                hit("2001:20::2"),
                vec!["2001:db8::2".parse().unwrap()],
                Some(Ipv4Addr::new(1, 0, 0, 9)),
                None,
            )
            .unwrap();
            db.upsert(hit("2001:20::3"), vec![], None, None).unwrap();
            db.remove(&hit("2001:20::3"));
            db.save().unwrap();
        }
        let db = PeerDb::open(&p, pre).unwrap();
        assert_eq!(db.iter().count(), 2);
        assert_eq!(
            db.by_lsi(Ipv4Addr::new(1, 0, 0, 9)).unwrap().hit,
            hit("2001:20::2")
        );
        assert_eq!(
            db.get(&hit("2001:20::1")).unwrap().name.as_deref(),
            Some("a")
        );
        assert!(!dir.path().join("peers.json.tmp").exists());
    }

    #[test]
    fn lsi_conflicts_are_errors() {
        let mut db = PeerDb::new((Ipv4Addr::new(1, 0, 0, 0), 8)).unwrap();
        db.upsert(
            hit("2001:20::1"),
            vec![],
            Some(Ipv4Addr::new(1, 0, 0, 7)),
            None,
        )
        .unwrap();
        assert!(matches!(
            db.upsert(
                hit("2001:20::2"),
                vec![],
                Some(Ipv4Addr::new(1, 0, 0, 7)),
                None
            ),
            Err(PeerDbError::LsiInUse(_))
        ));
        assert!(matches!(
            db.upsert(
                hit("2001:20::2"),
                vec![],
                Some(Ipv4Addr::new(10, 0, 0, 7)),
                None
            ),
            Err(PeerDbError::LsiOutsidePrefix(_))
        ));
    }

    #[test]
    fn corrupt_store_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("peers.json");
        std::fs::write(&p, "{not json").unwrap();
        assert!(PeerDb::open(&p, (Ipv4Addr::new(1, 0, 0, 0), 8)).is_err());
    }
}
