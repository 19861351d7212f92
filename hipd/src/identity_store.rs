//! Local Host Identities (RFC 7401 section 3; ORCHIDv2 HITs RFC 7343, ORCHIDv1
//! RFC 4843 for HIPv1 peers), kept as PEM files (mode 0600) under `DIR/keys/`.
//! On first start an ECDSA P-256 identity (v2 HIT, the default) and an ECDSA
//! P-256 identity with an ORCHIDv1 HIT (for v1 peers) are generated.
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

impl IdentityStore {
    /// Loads `dir/keys/hi_v{1,2}_*.pem`, generating the defaults when none exist.
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
        let mut names: Vec<PathBuf> = std::fs::read_dir(&kdir)
            .map_err(|e| kerr(&kdir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pem"))
            .collect();
        names.sort();
        for p in names {
            let fname = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let version = if fname.starts_with("hi_v1_") {
                HitVersion::V1
            } else if fname.starts_with("hi_v2_") {
                HitVersion::V2
            } else {
                continue;
            };
            let identity = crate::key_file::load(&p).map_err(|e| kerr(&p, e))?;
            let hit = hit_of(&identity, version).map_err(|e| kerr(&p, e))?;
            s.identities.push(LocalIdentity {
                identity,
                hit,
                version,
                path: p,
            });
        }
        if !s.identities.iter().any(|i| i.version == HitVersion::V2) {
            s.generate(KeySpec::EcdsaP256, HitVersion::V2, "ecdsa", rng)?;
        }
        if !s.identities.iter().any(|i| i.version == HitVersion::V1) {
            s.generate(KeySpec::EcdsaP256, HitVersion::V1, "ecdsa", rng)?;
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
}
