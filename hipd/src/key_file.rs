//! Private key files: one PKCS#8 PEM file per host identity in the
//! configuration directory, created with mode 0600 (never world- or
//! group-readable, not even briefly: the file is created with that mode and
//! renamed into place).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hip_proto::crypto::hi::{HiError, HostIdentity};

/// Why an identity could not be stored or loaded.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Key { path: PathBuf, source: HiError },
    #[error("{path}: permissions {mode:o} allow others to read the private key; expected 0600")]
    InsecurePermissions { path: PathBuf, mode: u32 },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Write `id` to `path` as PKCS#8 PEM with mode 0600, atomically.
pub fn save(id: &HostIdentity, path: &Path) -> Result<(), StoreError> {
    let pem = id.to_pkcs8_pem().map_err(|source| StoreError::Key {
        path: path.to_path_buf(),
        source,
    })?;
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(pem.as_bytes()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

/// Load a private identity, refusing files that others can read.
pub fn load(path: &Path) -> Result<HostIdentity, StoreError> {
    let meta = fs::metadata(path).map_err(io(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(StoreError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let pem = fs::read_to_string(path).map_err(io(path))?;
    HostIdentity::from_pem(&pem).map_err(|source| StoreError::Key {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hip_proto::crypto::hi::KeySpec;

    #[test]
    fn saved_keys_are_0600_and_load_back() {
        let dir = tempfile::tempdir().unwrap();
        for (i, spec) in [KeySpec::EcdsaP256, KeySpec::EcdsaP384, KeySpec::Ed25519]
            .into_iter()
            .enumerate()
        {
            let id = HostIdentity::generate(spec, &mut rand_core::OsRng).unwrap();
            let p = dir.path().join(format!("hi{i}.pem"));
            save(&id, &p).unwrap();
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            assert_eq!(load(&p).unwrap().public(), id.public());
            // Overwriting keeps the mode and the new key.
            let id2 = HostIdentity::generate(spec, &mut rand_core::OsRng).unwrap();
            save(&id2, &p).unwrap();
            assert_eq!(load(&p).unwrap().public(), id2.public());
        }
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.pem");
        fs::write(&p, "not a key").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(load(&p), Err(StoreError::Key { .. })));
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        let e = load(&p).unwrap_err();
        assert!(matches!(
            e,
            StoreError::InsecurePermissions { mode: 0o644, .. }
        ));
        assert!(e.to_string().contains("0600"));
        assert!(matches!(
            load(&dir.path().join("missing")),
            Err(StoreError::Io { .. })
        ));
    }
}
