//! Local Host Identities (RFC 7401 section 3; ORCHIDv2 HITs RFC 7343, ORCHIDv1
//! RFC 4843 for HIPv1 peers), kept as PEM files (mode 0600) under `DIR/keys/`.
//! On first start an ECDSA P-256 identity (v2 HIT, the default) and an ECDSA
//! P-256 identity with an ORCHIDv1 HIT (for v1 peers) are generated.
//!
//! Every key file in `DIR/keys/` (`*.pem`, `*.key`) must load: a file with
//! another name than `hi_v1_*.pem` / `hi_v2_*.pem` (the name says which ORCHID
//! the HIT is computed with), a file that does not parse, or one that others
//! can read makes [`IdentityStore::open`] fail with
//! [`IdentityError::Unloaded`], which lists each such file and why. No
//! identity is generated then: a key the daemon could not use is never
//! silently replaced by a new HIT. When every key file loads, an ECDSA P-256
//! identity is generated only for a HIT version that has none (so a directory
//! given only a `hi_v1_*.pem` still gets its default v2 identity, as the
//! interop harnesses rely on). `*.tmp` files are `key_file::save`'s
//! unfinished writes and are ignored.
use hip_proto::crypto::hi::{HostIdentity, KeySpec};
use hip_proto::crypto::orchid;
use hip_proto::Hit;
use std::path::{Path, PathBuf};

/// Which ORCHID the HIT is computed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitVersion {
    V1,
    V2,
}

/// One loaded local identity.
pub struct LocalIdentity {
    pub identity: HostIdentity,
    pub hit: Hit,
    pub version: HitVersion,
    pub path: PathBuf,
}

/// Identity store errors.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{path}: {msg}")]
    Key { path: String, msg: String },
    #[error("unknown key algorithm {0:?} (expected ecdsa, ecdsa384, ed25519 or rsa)")]
    Algorithm(String),
    /// Key files in the keys directory that were not loaded, each with the reason.
    #[error("{dir}: key files not loaded (fix, rename or move them; no identity is generated while they are there): {}", .files.iter().map(|(p, why)| format!("{}: {why}", p.display())).collect::<Vec<_>>().join("; "))]
    Unloaded {
        dir: String,
        files: Vec<(PathBuf, String)>,
    },
}

/// All local identities; the first v2 one is the default.
pub struct IdentityStore {
    dir: PathBuf,
    pub identities: Vec<LocalIdentity>,
}

fn kerr(p: &Path, msg: impl ToString) -> IdentityError {
    IdentityError::Key {
        path: p.display().to_string(),
        msg: msg.to_string(),
    }
}

/// Parses an algorithm name as used by `hipconf new hi`.
pub fn key_spec(alg: &str) -> Result<KeySpec, IdentityError> {
    Ok(match alg {
        "ecdsa" | "ecdsa256" => KeySpec::EcdsaP256,
        "ecdsa384" => KeySpec::EcdsaP384,
        "ed25519" | "eddsa" => KeySpec::Ed25519,
        "rsa" => KeySpec::Rsa(2048),
        _ => return Err(IdentityError::Algorithm(alg.into())),
    })
}

fn hit_of(id: &HostIdentity, v: HitVersion) -> Result<Hit, String> {
    match v {
        HitVersion::V1 => Ok(orchid::hit_v1(id.public())),
        HitVersion::V2 => orchid::hit_v2(id.public()).map_err(|e| e.to_string()),
    }
}

/// Loads one key file, or says why not.
pub(crate) fn load_one(p: &Path) -> Result<(HostIdentity, Hit, HitVersion), String> {
    let fname = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let is_pem = p.extension().is_some_and(|x| x == "pem");
    let version = if is_pem && fname.starts_with("hi_v1_") {
        HitVersion::V1
    } else if is_pem && fname.starts_with("hi_v2_") {
        HitVersion::V2
    } else {
        return Err(
            "not named hi_v1_*.pem or hi_v2_*.pem, so the ORCHID version of its HIT is unknown"
                .into(),
        );
    };
    let identity = crate::key_file::load(p).map_err(|e| match e {
        // The path is already in front of the reason.
        crate::key_file::StoreError::Io { source, .. } => source.to_string(),
        crate::key_file::StoreError::Key { source, .. } => source.to_string(),
        crate::key_file::StoreError::InsecurePermissions { mode, .. } => {
            format!("permissions {mode:o} allow others to read the private key; expected 0600")
        }
    })?;
    let hit = hit_of(&identity, version)?;
    Ok((identity, hit, version))
}

impl IdentityStore {
    /// Loads `dir/keys/hi_v{1,2}_*.pem`; fails, naming each, when a key file
    /// there cannot be loaded; generates an ECDSA identity for each HIT
    /// version that has none (both on first start, with no key files).
    pub fn open(
        dir: &Path,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Result<Self, IdentityError> {
        let kdir = dir.join("keys");
        std::fs::create_dir_all(&kdir).map_err(|e| kerr(&kdir, e))?;
        let mut s = IdentityStore {
            dir: kdir.clone(),
            identities: Vec::new(),
        };
        let mut names = Vec::new();
        for e in std::fs::read_dir(&kdir).map_err(|e| kerr(&kdir, e))? {
            let p = e.map_err(|e| kerr(&kdir, e))?.path();
            let ext = p.extension().and_then(|x| x.to_str()).unwrap_or("");
            if ext.eq_ignore_ascii_case("pem") || ext.eq_ignore_ascii_case("key") {
                names.push(p);
            }
        }
        names.sort();
        let mut unloaded = Vec::new();
        for p in names {
            match load_one(&p) {
                Ok((identity, hit, version)) => s.identities.push(LocalIdentity {
                    identity,
                    hit,
                    version,
                    path: p,
                }),
                Err(why) => unloaded.push((p, why)),
            }
        }
        if !unloaded.is_empty() {
            return Err(IdentityError::Unloaded {
                dir: kdir.display().to_string(),
                files: unloaded,
            });
        }
        for v in [HitVersion::V2, HitVersion::V1] {
            if !s.identities.iter().any(|i| i.version == v) {
                let p = s
                    .generate(KeySpec::EcdsaP256, v, "ecdsa", rng)?
                    .path
                    .clone();
                tracing::info!(file = %p.display(), version = ?v, "no identity for this HIT version: generated one");
            }
        }
        Ok(s)
    }

    /// Generates, saves (0600) and loads a new identity.
    pub fn generate(
        &mut self,
        spec: KeySpec,
        version: HitVersion,
        alg: &str,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Result<&LocalIdentity, IdentityError> {
        let v = if version == HitVersion::V1 { 1 } else { 2 };
        let n = (0..)
            .map(|i| self.dir.join(format!("hi_v{v}_{alg}_{i}.pem")))
            .find(|p| !p.exists())
            .ok_or_else(|| kerr(&self.dir, "no free file name"))?;
        let identity = HostIdentity::generate(spec, rng).map_err(|e| kerr(&n, e))?;
        let hit = hit_of(&identity, version).map_err(|e| kerr(&n, e))?;
        crate::key_file::save(&identity, &n).map_err(|e| kerr(&n, e))?;
        self.identities.push(LocalIdentity {
            identity,
            hit,
            version,
            path: n,
        });
        Ok(&self.identities[self.identities.len() - 1])
    }

    /// The default identity (first ORCHIDv2 one).
    pub fn default_identity(&self) -> Option<&LocalIdentity> {
        self.identities.iter().find(|i| i.version == HitVersion::V2)
    }

    /// Finds the identity owning `hit`.
    pub fn by_hit(&self, hit: &Hit) -> Option<&LocalIdentity> {
        self.identities.iter().find(|i| i.hit == *hit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generates_once_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand_core::OsRng;
        let a = IdentityStore::open(dir.path(), &mut rng).unwrap();
        assert_eq!(a.identities.len(), 2);
        let d = a.default_identity().unwrap();
        assert_eq!(
            d.hit.orchid_version(),
            Some(hip_proto::hit::OrchidVersion::V2)
        );
        let mode = std::fs::metadata(&d.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = IdentityStore::open(dir.path(), &mut rng).unwrap();
        assert_eq!(b.identities.len(), 2);
        assert_eq!(b.default_identity().unwrap().hit, d.hit);
        assert!(key_spec("dsa").is_err());
    }

    fn keys_with(files: &[(&str, &str, u32)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let k = dir.path().join("keys");
        std::fs::create_dir_all(&k).unwrap();
        for (name, text, mode) in files {
            let p = k.join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
        dir
    }

    fn pem() -> String {
        HostIdentity::generate(KeySpec::EcdsaP256, &mut rand_core::OsRng)
            .unwrap()
            .to_pkcs8_pem()
            .unwrap()
    }

    fn pems_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir.join("keys"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_key_file_with_another_name_is_an_error_not_a_new_identity() {
        let key = pem();
        for name in ["mykey.pem", "hi_v2_ecdsa_0.key", "host.KEY", "hi_v3_x.pem"] {
            let dir = keys_with(&[(name, &key, 0o600)]);
            let e = IdentityStore::open(dir.path(), &mut rand_core::OsRng)
                .err()
                .unwrap_or_else(|| panic!("{name} was ignored"));
            let m = e.to_string();
            assert!(m.contains(name) && m.contains("hi_v2_*.pem"), "{m}");
            // Nothing generated beside it.
            assert_eq!(pems_in(dir.path()), vec![name.to_string()]);
        }
    }

    #[test]
    fn every_unloaded_file_is_named_with_its_reason() {
        let key = pem();
        let dir = keys_with(&[
            ("hi_v2_ok_0.pem", &key, 0o600),
            ("hi_v2_bad_0.pem", "not a key", 0o600),
            ("hi_v1_open_0.pem", &key, 0o644),
            ("other.pem", &key, 0o600),
            ("notes.txt", "ignored: not a key file", 0o644),
            ("hi_v2_ecdsa_1.tmp", "unfinished write", 0o600),
        ]);
        let e = IdentityStore::open(dir.path(), &mut rand_core::OsRng)
            .err()
            .expect("must fail");
        let IdentityError::Unloaded { files, .. } = &e else {
            panic!("{e}")
        };
        let names: Vec<String> = files
            .iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["hi_v1_open_0.pem", "hi_v2_bad_0.pem", "other.pem"]);
        assert!(
            files[0].1.contains("644") && files[0].1.contains("0600"),
            "{}",
            files[0].1
        );
        assert!(!files[1].1.is_empty());
        let m = e.to_string();
        assert!(
            m.contains("hi_v1_open_0.pem") && m.contains("other.pem"),
            "{m}"
        );
        assert_eq!(pems_in(dir.path()).len(), 6, "nothing generated");
    }

    #[test]
    fn a_given_version_is_kept_and_only_the_missing_one_generated() {
        let key = pem();
        let dir = keys_with(&[("hi_v1_given_0.pem", &key, 0o600)]);
        let s = IdentityStore::open(dir.path(), &mut rand_core::OsRng).unwrap();
        assert_eq!(s.identities.len(), 2);
        let v1: Vec<_> = s
            .identities
            .iter()
            .filter(|i| i.version == HitVersion::V1)
            .collect();
        assert_eq!(v1.len(), 1);
        assert!(v1[0].path.ends_with("hi_v1_given_0.pem"));
        assert!(s.default_identity().is_some());
    }
}
