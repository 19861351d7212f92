//! Peer database: HIT <-> LSI <-> locators (RFC 7401 section 3, RFC 5338 LSIs),
//! filled from the hosts file and hipconf, persisted atomically (temp + rename)
//! as `peers.json` in the configuration directory.
//!
//! Every peer goes through [`PeerDb::upsert`], which applies the rules of
//! [`crate::locator_rules`] to the HIT and to each locator. The daemon tells the
//! database what it knows about this host with [`PeerDb::set_own_hits`] (before
//! the hosts file is loaded) and [`PeerDb::set_own_addrs`] (at start and on
//! every address change).
use crate::hosts::HostLine;
use crate::locator_rules::{self, LocatorError, PeerHitError};
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
    /// The addresses of the peer's rendezvous servers (RFC 8005 section 4.2:
    /// from the RVS names of its HIP RR; RFC 8004).
    pub rvs: Vec<IpAddr>,
    /// Learned, not configured: from DNS ([`PeerDb::upsert_from_dns`], the
    /// entry follows the DNS TTL) or from a base exchange a peer we did not
    /// know started ([`PeerDb::learn_initiator`]). Such an entry is not
    /// saved; any other way of adding the peer (hosts file, `add map`,
    /// `peers.json`) makes it permanent.
    pub from_dns: bool,
    /// Known only from a base exchange the peer started
    /// ([`PeerDb::learn_initiator`]): removed with its association
    /// ([`PeerDb::forget_learned`]). Any other way of adding the peer (DNS
    /// included) clears it. A flag here rather than a set beside the map:
    /// one set entry per learned peer was about 30 octets (issue 16).
    pub learned: bool,
}

#[derive(Serialize, Deserialize)]
struct StoredPeer {
    hit: Ipv6Addr,
    lsi: Ipv4Addr,
    locators: Vec<IpAddr>,
    name: Option<String>,
    #[serde(default)]
    rvs: Vec<IpAddr>,
}

/// Peer database errors.
#[derive(Debug, thiserror::Error)]
pub enum PeerDbError {
    #[error("no free LSI in the prefix")]
    LsiExhausted,
    #[error("LSI {0} is already used by another peer")]
    LsiInUse(Ipv4Addr),
    #[error("LSI {0} is outside the LSI prefix, or is its network or broadcast address")]
    LsiOutsidePrefix(Ipv4Addr),
    #[error("peer database {path}: {msg}")]
    Store { path: String, msg: String },
    #[error("bad LSI prefix: {0}")]
    Prefix(String),
    #[error("{0}")]
    Locator(#[from] LocatorError),
    #[error("peer HIT {0}")]
    PeerHit(#[from] PeerHitError),
    /// An entry of `peers.json` that the rules refuse.
    #[error("peer database {path}: entry {entry} (HIT {hit}): {source}")]
    Entry {
        path: String,
        /// 1-based position in the file's list.
        entry: usize,
        hit: Ipv6Addr,
        source: Box<PeerDbError>,
    },
    /// A hosts-file line that the rules refuse.
    #[error("hosts line {line}: {source}")]
    HostsLine {
        line: usize,
        source: Box<PeerDbError>,
    },
    /// A HIT given to [`PeerDb::set_own_hits`] or [`PeerDb::reserve_local`] is
    /// already stored as a peer (e.g. in a `peers.json` written by an older hipd).
    #[error("{hit} is one of this host's own HITs but is stored as a peer{}; remove that entry", .path.as_deref().map(|p| format!(" in {p}")).unwrap_or_default())]
    OwnHitStored { hit: Hit, path: Option<String> },
}

/// The peer database.
#[derive(Clone)]
pub struct PeerDb {
    peers: BTreeMap<Hit, Peer>,
    lsis: LsiAllocator,
    prefix: (Ipv4Addr, u8),
    path: Option<PathBuf>,
    own_hits: Vec<Hit>,
    own_addrs: Vec<IpAddr>,
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
            own_hits: Vec::new(),
            own_addrs: Vec::new(),
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
                for (i, s) in stored.into_iter().enumerate() {
                    db.upsert(Hit::from(s.hit), s.locators, Some(s.lsi), s.name)
                        .map_err(|e| PeerDbError::Entry {
                            path: path.display().to_string(),
                            entry: i + 1,
                            hit: s.hit,
                            source: Box::new(e),
                        })?;
                    if let Some(p) = db.peers.get_mut(&Hit::from(s.hit)) {
                        p.rvs = s.rvs;
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(serr(e.to_string())),
        }
        db.path = Some(path.to_path_buf());
        Ok(db)
    }

    /// Records this host's HITs (every local identity's, v1 and v2): from now
    /// on none of them is accepted as a peer by [`Self::upsert`]. The daemon
    /// calls this once its identities are loaded, before [`Self::load_hosts`]
    /// and again whenever an identity is added (`hipconf daemon new hi`); it
    /// replaces the previous list.
    ///
    /// Fails with [`PeerDbError::OwnHitStored`] when one of them is already
    /// stored as a peer (loaded from `peers.json` before this call); the list is
    /// recorded all the same.
    pub fn set_own_hits(&mut self, hits: &[Hit]) -> Result<(), PeerDbError> {
        self.own_hits = hits.to_vec();
        match hits.iter().find(|h| self.peers.contains_key(h)) {
            Some(h) => Err(PeerDbError::OwnHitStored {
                hit: *h,
                path: self.path.as_ref().map(|p| p.display().to_string()),
            }),
            None => Ok(()),
        }
    }

    /// Records this host's own addresses (e.g. `local_locators::current`): from
    /// now on none of them is accepted as a peer's locator by [`Self::upsert`].
    /// Replaces the previous list; call it at start and on every address
    /// change. Until it is called (or with an empty list) this rule is not
    /// applied. Locators already stored are not re-checked: an address this
    /// host has just taken over stays with the peer that had it.
    pub fn set_own_addrs(&mut self, addrs: &[IpAddr]) {
        self.own_addrs = addrs.iter().map(|a| locator_rules::canonical(*a)).collect();
    }

    /// Adds or updates a peer; returns its LSI. Locators are merged (new first).
    ///
    /// The HIT and every locator must pass [`crate::locator_rules`]: an ORCHID
    /// HIT that is not one of ours ([`Self::set_own_hits`]), and locators that
    /// are not unspecified, loopback, multicast, broadcast, link-local, a HIT,
    /// inside the LSI prefix or one of our addresses ([`Self::set_own_addrs`]).
    /// IPv4-mapped locators are stored as IPv4. Nothing changes on an error.
    pub fn upsert(
        &mut self,
        hit: Hit,
        locators: Vec<IpAddr>,
        lsi: Option<Ipv4Addr>,
        name: Option<String>,
    ) -> Result<Ipv4Addr, PeerDbError> {
        locator_rules::check_peer_hit(hit, &self.own_hits)?;
        let locators = locators
            .into_iter()
            .map(|l| locator_rules::check_peer_locator(l, Some(self.prefix), &self.own_addrs))
            .collect::<Result<Vec<_>, _>>()?;
        let lsi = match (lsi, self.lsis.lsi_of(&hit)) {
            (Some(want), Some(have)) if want == have => have,
            (Some(want), _) => {
                // Checked before anything changes: the allocator refuses the
                // prefix's network and broadcast addresses too.
                if !self.lsis.contains(want) {
                    return Err(PeerDbError::LsiOutsidePrefix(want));
                }
                if self.lsis.hit_of(want).is_some_and(|h| h != hit) {
                    return Err(PeerDbError::LsiInUse(want));
                }
                // Releases the HIT's previous LSI itself.
                self.lsis
                    .assign(hit, want)
                    .map_err(|_| PeerDbError::LsiInUse(want))?;
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
            rvs: Vec::new(),
            from_dns: false,
            learned: false,
        });
        e.lsi = lsi;
        e.learned = false;
        e.from_dns = false;
        for l in locators.into_iter().rev() {
            e.locators.retain(|x| *x != l);
            e.locators.insert(0, l);
        }
        if name.is_some() {
            e.name = name;
        }
        Ok(lsi)
    }

    /// Adds or refreshes a peer learned from DNS (RFC 8005 section 4): its
    /// locators and RVS addresses become exactly the given ones (those the
    /// rules of [`Self::upsert`] refuse are left out and returned), its
    /// name is set. A peer already known another way stays permanent (its
    /// locators are merged, as [`Self::upsert`] does); a new one is marked
    /// [`Peer::from_dns`]. Returns the LSI, whether the entry is from DNS,
    /// and the refused locators.
    pub fn upsert_from_dns(
        &mut self,
        hit: Hit,
        locators: Vec<IpAddr>,
        rvs: Vec<IpAddr>,
        name: String,
    ) -> Result<(Ipv4Addr, bool, Vec<IpAddr>), PeerDbError> {
        let (ok, refused): (Vec<IpAddr>, Vec<IpAddr>) =
            locators.into_iter().partition(|l| self.usable_locator(*l));
        let rvs: Vec<IpAddr> = rvs
            .into_iter()
            .filter(|l| self.usable_locator(*l))
            .collect();
        let known_static = self.peers.get(&hit).is_some_and(|p| !p.from_dns);
        if !known_static {
            if let Some(p) = self.peers.get_mut(&hit) {
                p.locators.clear();
            }
        }
        let lsi = self.upsert(hit, ok, None, Some(name))?;
        let e = self.peers.get_mut(&hit).expect("just upserted");
        e.rvs = rvs;
        e.from_dns = !known_static;
        Ok((lsi, e.from_dns, refused))
    }

    /// A peer we did not know completed a base exchange with us (we were the
    /// Responder): it gets an entry (not saved) and an LSI, so that IPv4
    /// over LSIs works both ways (RFC 5338 section 3). Returns its LSI, or
    /// `None` when it is known already.
    pub fn learn_initiator(
        &mut self,
        hit: Hit,
        locator: IpAddr,
    ) -> Result<Option<Ipv4Addr>, PeerDbError> {
        if self.peers.contains_key(&hit) {
            return Ok(None);
        }
        let locs = if self.usable_locator(locator) {
            vec![locator]
        } else {
            Vec::new()
        };
        let lsi = self.upsert(hit, locs, None, None)?;
        if let Some(e) = self.peers.get_mut(&hit) {
            e.from_dns = true;
            e.learned = true;
        }
        Ok(Some(lsi))
    }

    /// Would [`Self::upsert`] accept `l` as a peer locator?
    pub fn usable_locator(&self, l: IpAddr) -> bool {
        locator_rules::check_peer_locator(l, Some(self.prefix), &self.own_addrs).is_ok()
    }

    /// The peer whose name is `name` (case-insensitive, a final dot ignored).
    pub fn by_name(&self, name: &str) -> Option<&Peer> {
        let want = name.trim_end_matches('.');
        self.peers.values().find(|p| {
            p.name
                .as_deref()
                .is_some_and(|n| n.trim_end_matches('.').eq_ignore_ascii_case(want))
        })
    }

    /// Adds every hosts-file line.
    pub fn load_hosts(&mut self, lines: &[HostLine]) -> Result<(), PeerDbError> {
        for l in lines {
            self.upsert(l.hit, vec![l.locator], l.lsi, l.name.clone())
                .map_err(|e| PeerDbError::HostsLine {
                    line: l.line,
                    source: Box::new(e),
                })?;
        }
        Ok(())
    }

    /// Reserves an LSI for a local HIT (not stored as a peer) and counts the
    /// HIT as one of ours (see [`Self::set_own_hits`]). Fails when the HIT is
    /// stored as a peer (its LSI would be the peer's).
    pub fn reserve_local(&mut self, hit: Hit) -> Result<Ipv4Addr, PeerDbError> {
        if self.peers.contains_key(&hit) {
            return Err(PeerDbError::OwnHitStored {
                hit,
                path: self.path.as_ref().map(|p| p.display().to_string()),
            });
        }
        if !self.own_hits.contains(&hit) {
            self.own_hits.push(hit);
        }
        if let Some(l) = self.lsis.lsi_of(&hit) {
            return Ok(l);
        }
        self.lsis
            .allocate(hit)
            .map_err(|_| PeerDbError::LsiExhausted)
    }

    /// Removes `hit` if it is a peer known only from a base exchange it
    /// started ([`Self::learn_initiator`]), when its association is gone;
    /// returns the LSI it had.
    pub fn forget_learned(&mut self, hit: &Hit) -> Option<Ipv4Addr> {
        if !self.peers.get(hit).is_some_and(|p| p.learned) {
            return None;
        }
        self.remove(hit).map(|p| p.lsi)
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
        // Peers from DNS follow the TTL: not kept across a restart.
        let stored: Vec<StoredPeer> = self
            .peers
            .values()
            .filter(|p| !p.from_dns)
            .map(|p| StoredPeer {
                hit: p.hit.into(),
                lsi: p.lsi,
                locators: p.locators.clone(),
                name: p.name.clone(),
                rvs: p.rvs.clone(),
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
    fn an_unknown_initiator_gets_an_lsi_is_not_saved_and_goes_with_its_association() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("peers.json");
        let pre = (Ipv4Addr::new(198, 19, 0, 0), 16);
        let mut db = PeerDb::open(&p, pre).unwrap();
        let from: IpAddr = "192.0.2.7".parse().unwrap();
        let l = db
            .learn_initiator(hit("2001:20::7"), from)
            .unwrap()
            .unwrap();
        assert!(db.is_lsi(l));
        assert_eq!(db.by_lsi(l).map(|p| p.hit), Some(hit("2001:20::7")));
        assert_eq!(db.get(&hit("2001:20::7")).unwrap().locators, vec![from]);
        assert_eq!(
            db.learn_initiator(hit("2001:20::7"), from).unwrap(),
            None,
            "known already: kept"
        );
        db.save().unwrap();
        assert!(PeerDb::open(&p, pre)
            .unwrap()
            .get(&hit("2001:20::7"))
            .is_none());
        // Mapped later: an ordinary, saved peer with the same LSI, which its
        // association's end leaves alone.
        let m = db
            .upsert(hit("2001:20::7"), vec![from], None, None)
            .unwrap();
        assert_eq!(m, l);
        db.save().unwrap();
        let again = PeerDb::open(&p, pre).unwrap();
        assert_eq!(again.get(&hit("2001:20::7")).map(|p| p.lsi), Some(l));
        assert_eq!(db.forget_learned(&hit("2001:20::7")), None, "configured");
        // One that stays unknown goes with its association, LSI and all.
        let l8 = db
            .learn_initiator(hit("2001:20::8"), "192.0.2.8".parse().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(db.forget_learned(&hit("2001:20::8")), Some(l8));
        assert!(db.get(&hit("2001:20::8")).is_none() && db.by_lsi(l8).is_none());
        // An unusable source address is not kept as a locator.
        let l9 = db
            .learn_initiator(hit("2001:20::9"), "127.0.0.1".parse().unwrap())
            .unwrap()
            .unwrap();
        assert!(db.get(&hit("2001:20::9")).unwrap().locators.is_empty());
        assert!(db.is_lsi(l9));
    }

    #[test]
    fn dns_peers_replace_their_locators_are_not_saved_and_static_peers_stay() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("peers.json");
        let pre = (Ipv4Addr::new(198, 19, 0, 0), 16);
        let mut db = PeerDb::open(&p, pre).unwrap();
        let (lsi, dns, refused) = db
            .upsert_from_dns(
                hit("2001:20::1"),
                vec![ip("198.51.100.2"), ip("127.0.0.1")],
                vec![ip("198.51.100.9")],
                "b.grid.example".into(),
            )
            .unwrap();
        assert!(dns && db.is_lsi(lsi));
        assert_eq!(refused, vec![ip("127.0.0.1")]);
        // The new answer replaces the old locators (the host moved).
        db.upsert_from_dns(
            hit("2001:20::1"),
            vec![ip("198.51.100.3")],
            vec![],
            "b.grid.example".into(),
        )
        .unwrap();
        let e = db.by_name("B.grid.example.").unwrap();
        assert_eq!(
            (e.locators.clone(), e.rvs.clone(), e.lsi),
            (vec![ip("198.51.100.3")], vec![], lsi)
        );
        // A static peer stays static and keeps its locators.
        db.upsert(hit("2001:20::2"), vec![ip("192.0.2.2")], None, None)
            .unwrap();
        let (_, dns, _) = db
            .upsert_from_dns(hit("2001:20::2"), vec![ip("192.0.2.3")], vec![], "c".into())
            .unwrap();
        assert!(!dns);
        assert_eq!(
            db.get(&hit("2001:20::2")).unwrap().locators,
            vec![ip("192.0.2.3"), ip("192.0.2.2")]
        );
        db.save().unwrap();
        let db = PeerDb::open(&p, pre).unwrap();
        assert!(
            db.get(&hit("2001:20::1")).is_none(),
            "DNS peers are not saved"
        );
        assert!(db.get(&hit("2001:20::2")).is_some());
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

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn bad_locators_are_refused_and_change_nothing() {
        let mut db = PeerDb::new((Ipv4Addr::new(198, 18, 0, 0), 15)).unwrap();
        db.upsert(hit("2001:20::1"), vec![ip("192.0.2.1")], None, None)
            .unwrap();
        for bad in [
            "::",
            "0.0.0.0",
            "127.0.0.1",
            "::1",
            "224.0.0.9",
            "ff02::1",
            "255.255.255.255",
            "169.254.0.1",
            "fe80::2",
            "2001:20::99",
            "2001:10::99",
            "::ffff:127.0.0.1",
            "198.18.0.7",
        ] {
            let e = db
                .upsert(
                    hit("2001:20::1"),
                    vec![ip("192.0.2.5"), ip(bad)],
                    None,
                    None,
                )
                .unwrap_err();
            assert!(matches!(e, PeerDbError::Locator(_)), "{bad}: {e}");
            assert!(e.to_string().contains(bad), "{bad}: {e}");
            let e = db
                .upsert(hit("2001:20::2"), vec![ip(bad)], None, None)
                .unwrap_err();
            assert!(matches!(e, PeerDbError::Locator(_)), "{bad}: {e}");
        }
        assert_eq!(
            db.get(&hit("2001:20::1")).unwrap().locators,
            vec![ip("192.0.2.1")]
        );
        assert!(db.get(&hit("2001:20::2")).is_none());
        assert_eq!(db.iter().count(), 1);
        // Mapped forms are stored as IPv4 and merged with the plain one.
        db.upsert(hit("2001:20::1"), vec![ip("::ffff:192.0.2.1")], None, None)
            .unwrap();
        assert_eq!(
            db.get(&hit("2001:20::1")).unwrap().locators,
            vec![ip("192.0.2.1")]
        );
        // A non-ORCHID HIT is refused here too (peers.json has no other check).
        assert!(matches!(
            db.upsert(hit("2001:db8::1"), vec![ip("192.0.2.1")], None, None),
            Err(PeerDbError::PeerHit(PeerHitError::NotOrchid(_)))
        ));
    }

    #[test]
    fn own_hits_and_addresses_are_not_peers() {
        let mut db = PeerDb::new((Ipv4Addr::new(198, 18, 0, 0), 15)).unwrap();
        let (v2, v1) = (hit("2001:20::a"), hit("2001:10::a"));
        db.set_own_hits(&[v2, v1]).unwrap();
        for own in [v2, v1] {
            let e = db
                .upsert(own, vec![ip("192.0.2.1")], None, None)
                .unwrap_err();
            assert!(
                matches!(e, PeerDbError::PeerHit(PeerHitError::OwnHit(h)) if h == own),
                "{e}"
            );
        }
        // Own addresses apply once they are known, and are replaced on each call.
        db.upsert(hit("2001:20::1"), vec![ip("2001:db8::1")], None, None)
            .unwrap();
        db.set_own_addrs(&[ip("2001:db8::1"), ip("::ffff:198.51.100.1")]);
        for a in ["2001:db8::1", "198.51.100.1"] {
            assert!(matches!(
                db.upsert(hit("2001:20::2"), vec![ip(a)], None, None),
                Err(PeerDbError::Locator(LocatorError::OwnAddress(_)))
            ));
        }
        db.set_own_addrs(&[ip("198.51.100.1")]);
        db.upsert(hit("2001:20::2"), vec![ip("2001:db8::1")], None, None)
            .unwrap();
        // The reserved local HIT counts as ours even without set_own_hits.
        let mut db = PeerDb::new((Ipv4Addr::new(198, 18, 0, 0), 15)).unwrap();
        db.reserve_local(v2).unwrap();
        assert!(db.upsert(v2, vec![ip("192.0.2.1")], None, None).is_err());
        // A stored peer that turns out to be ours is reported, not kept silently.
        let mut db = PeerDb::new((Ipv4Addr::new(198, 18, 0, 0), 15)).unwrap();
        db.upsert(v2, vec![ip("192.0.2.1")], None, None).unwrap();
        assert!(matches!(
            db.set_own_hits(&[v2]),
            Err(PeerDbError::OwnHitStored { hit, .. }) if hit == v2
        ));
        assert!(matches!(
            db.reserve_local(v2),
            Err(PeerDbError::OwnHitStored { .. })
        ));
    }

    #[test]
    fn bad_stored_entry_names_file_and_entry() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("peers.json");
        std::fs::write(
            &p,
            r#"[{"hit":"2001:20::1","lsi":"198.18.0.2","locators":["192.0.2.1"],"name":null},
               {"hit":"2001:20::2","lsi":"198.18.0.3","locators":["127.0.0.1"],"name":"x"}]"#,
        )
        .unwrap();
        let e = PeerDb::open(&p, (Ipv4Addr::new(198, 18, 0, 0), 15))
            .err()
            .expect("must fail");
        assert!(
            matches!(&e, PeerDbError::Entry { entry: 2, hit, .. } if *hit == "2001:20::2".parse::<Ipv6Addr>().unwrap()),
            "{e}"
        );
        let m = e.to_string();
        assert!(
            m.contains(&p.display().to_string()) && m.contains("entry 2"),
            "{m}"
        );
        assert!(m.contains("127.0.0.1") && m.contains("loopback"), "{m}");
        // An entry with our own HIT is found by set_own_hits after loading.
        std::fs::write(
            &p,
            r#"[{"hit":"2001:20::1","lsi":"198.18.0.2","locators":["192.0.2.1"],"name":null}]"#,
        )
        .unwrap();
        let mut db = PeerDb::open(&p, (Ipv4Addr::new(198, 18, 0, 0), 15)).unwrap();
        let m = db
            .set_own_hits(&[hit("2001:20::1")])
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("2001:20::1") && m.contains(&p.display().to_string()),
            "{m}"
        );
    }

    #[test]
    fn hosts_lines_are_checked_against_this_host() {
        let mut db = PeerDb::new((Ipv4Addr::new(198, 18, 0, 0), 15)).unwrap();
        db.set_own_hits(&[hit("2001:20::a")]).unwrap();
        let lines =
            crate::hosts::parse("2001:20::1 192.0.2.1\n# ours:\n2001:20::a 192.0.2.2\n").unwrap();
        let e = db.load_hosts(&lines).unwrap_err();
        assert!(matches!(e, PeerDbError::HostsLine { line: 3, .. }), "{e}");
        assert!(e.to_string().contains("own HITs"), "{e}");
        let lines = crate::hosts::parse("2001:20::3 198.19.255.1\n").unwrap();
        let e = db.load_hosts(&lines).unwrap_err();
        assert!(
            e.to_string().contains("hosts line 1") && e.to_string().contains("LSI prefix"),
            "{e}"
        );
    }

    #[test]
    fn an_lsi_that_cannot_be_assigned_leaves_the_peer_as_it_was() {
        let mut db = PeerDb::new((Ipv4Addr::new(198, 19, 0, 0), 16)).unwrap();
        let kept = Ipv4Addr::new(198, 19, 0, 7);
        db.upsert(hit("2001:20::1"), vec![], Some(kept), None)
            .unwrap();
        for bad in [
            Ipv4Addr::new(198, 19, 0, 0),
            Ipv4Addr::new(198, 19, 255, 255),
        ] {
            let e = db
                .upsert(hit("2001:20::1"), vec![], Some(bad), None)
                .unwrap_err();
            assert!(
                matches!(e, PeerDbError::LsiOutsidePrefix(a) if a == bad),
                "{e}"
            );
            assert_eq!(db.by_lsi(kept).map(|p| p.hit), Some(hit("2001:20::1")));
        }
        // The kept LSI is still taken: no other peer is given it.
        for i in 2..10u16 {
            let h = Hit::from(Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, i));
            assert_ne!(db.upsert(h, vec![], None, None).unwrap(), kept);
        }
    }

    #[test]
    fn corrupt_store_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("peers.json");
        std::fs::write(&p, "{not json").unwrap();
        assert!(PeerDb::open(&p, (Ipv4Addr::new(1, 0, 0, 0), 8)).is_err());
    }
}
