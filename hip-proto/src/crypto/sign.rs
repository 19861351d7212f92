//! HIP_SIGNATURE / HIP_SIGNATURE_2 algorithms (RFC 7401 section 5.2.14;
//! RFC 5201 section 5.2.11 for v1 and HIPL).
//!
//! | HI | `Rfc7401` | `Rfc5201` (HIPv1, and HIPL in both versions) |
//! |---|---|---|
//! | RSA | RSASSA-PSS, SHA-256, salt = 32 | RSASSA-PKCS1-v1_5, SHA-1 |
//! | ECDSA | SHA-384 (the ECDSA suite's RHASH), r \|\| s | SHA-1, r and s each left-padded to field size + 4 (72 octets for P-256) |
//! | DSA (verify only) | T \|\| r \|\| s over SHA-1 (RFC 2536) | same |
//! | Ed25519 | pure Ed25519 (RFC 9374) | pure Ed25519 |
//!
//! The message is the byte string from `wire::cover`.

use rand_core::CryptoRngCore;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer, Verifier};
use sha1::{Digest, Sha1};
use sha2::{Sha256, Sha384};

use super::hi::{HostIdPublic, HostIdentity, PrivateKey};

/// Which signature rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// RFC 7401 (HIPv2).
    Rfc7401,
    /// RFC 5201 (HIPv1) and HIPL 1.0.8's HIPv2 (SHA-1 everywhere).
    Rfc5201,
}

/// Why a signature could not be made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("signature does not verify")]
    BadSignature,
    #[error("signature has the wrong length ({0} octets)")]
    BadLength(usize),
    #[error("this key cannot sign or verify with this scheme: {0}")]
    Unsupported(&'static str),
    #[error("signing failed")]
    SigningFailed,
}

fn pad_halves(r: &[u8], s: &[u8], half: usize) -> Vec<u8> {
    let mut o = vec![0u8; 2 * half];
    o[half - r.len()..half].copy_from_slice(r);
    o[2 * half - s.len()..].copy_from_slice(s);
    o
}

/// Split a padded r || s into the curve's field-size halves.
fn unpad_halves(sig: &[u8], field: usize) -> Result<Vec<u8>, SignError> {
    if sig.len() % 2 != 0 || sig.len() < 2 * field {
        return Err(SignError::BadLength(sig.len()));
    }
    let half = sig.len() / 2;
    let (r, s) = sig.split_at(half);
    let extra = half - field;
    if r[..extra].iter().chain(&s[..extra]).any(|&b| b != 0) {
        return Err(SignError::BadSignature);
    }
    let mut o = r[extra..].to_vec();
    o.extend_from_slice(&s[extra..]);
    Ok(o)
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` of a fixed-length r || s.
fn der_signature(raw: &[u8]) -> Vec<u8> {
    fn int(out: &mut Vec<u8>, v: &[u8]) {
        let v = &v[v.iter().take_while(|&&b| b == 0).count().min(v.len() - 1)..];
        let pad = v[0] & 0x80 != 0;
        out.push(0x02);
        out.push((v.len() + usize::from(pad)) as u8);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut body = Vec::with_capacity(raw.len() + 8);
    int(&mut body, r);
    int(&mut body, s);
    let mut out = vec![0x30, body.len() as u8];
    out.extend_from_slice(&body);
    out
}

fn ring_ecdsa_verify(
    alg: &'static ring::signature::EcdsaVerificationAlgorithm,
    public_sec1: &[u8],
    msg: &[u8],
    raw: &[u8],
) -> Result<(), SignError> {
    ring::signature::UnparsedPublicKey::new(alg, public_sec1)
        .verify(msg, &der_signature(raw))
        .map_err(|_| SignError::BadSignature)
}

impl HostIdentity {
    /// Sign `msg`. `rng` is used only for RSASSA-PSS salts.
    pub fn sign(
        &self,
        msg: &[u8],
        scheme: SignatureScheme,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<Vec<u8>, SignError> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        match (self.private_key(), scheme) {
            (PrivateKey::Rsa(k), SignatureScheme::Rfc7401) => {
                let sk = rsa::pss::SigningKey::<Sha256>::new(k.clone());
                let sig = sk
                    .try_sign_with_rng(&mut &mut *rng, msg)
                    .map_err(|_| SignError::SigningFailed)?;
                Ok(sig.to_vec())
            }
            (PrivateKey::Rsa(k), SignatureScheme::Rfc5201) => {
                let sk = rsa::pkcs1v15::SigningKey::<Sha1>::new(k.clone());
                Ok(sk
                    .try_sign(msg)
                    .map_err(|_| SignError::SigningFailed)?
                    .to_vec())
            }
            (PrivateKey::EcdsaP256(k), SignatureScheme::Rfc7401) => {
                let sig: p256::ecdsa::Signature = k
                    .sign_prehash(&Sha384::digest(msg))
                    .map_err(|_| SignError::SigningFailed)?;
                Ok(sig.to_bytes().to_vec())
            }
            (PrivateKey::EcdsaP256(k), SignatureScheme::Rfc5201) => {
                let sig: p256::ecdsa::Signature = k
                    .sign_prehash(&Sha1::digest(msg))
                    .map_err(|_| SignError::SigningFailed)?;
                let b = sig.to_bytes();
                Ok(pad_halves(&b[..32], &b[32..], 36))
            }
            (PrivateKey::EcdsaP384(k), SignatureScheme::Rfc7401) => {
                let sig: p384::ecdsa::Signature = k
                    .sign_prehash(&Sha384::digest(msg))
                    .map_err(|_| SignError::SigningFailed)?;
                Ok(sig.to_bytes().to_vec())
            }
            (PrivateKey::EcdsaP384(_), SignatureScheme::Rfc5201) => Err(SignError::Unsupported(
                "ECDSA P-384 with a SHA-1 digest is shorter than half the field",
            )),
            (PrivateKey::Ed25519(k), _) => Ok(k.sign(msg).to_bytes().to_vec()),
        }
    }
}

impl HostIdPublic {
    /// Verify `sig` over `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8], scheme: SignatureScheme) -> Result<(), SignError> {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        let bad = |_| SignError::BadSignature;
        match (self, scheme) {
            (HostIdPublic::Rsa(k), SignatureScheme::Rfc7401) => {
                let s = rsa::pss::Signature::try_from(sig).map_err(bad)?;
                rsa::pss::VerifyingKey::<Sha256>::new(k.clone())
                    .verify(msg, &s)
                    .map_err(bad)
            }
            (HostIdPublic::Rsa(k), SignatureScheme::Rfc5201) => {
                let s = rsa::pkcs1v15::Signature::try_from(sig).map_err(bad)?;
                rsa::pkcs1v15::VerifyingKey::<Sha1>::new(k.clone())
                    .verify(msg, &s)
                    .map_err(bad)
            }
            // ring verifies these three to five times faster than the pure-Rust
            // curves (verification needs no randomness, so sans-IO is kept).
            (HostIdPublic::EcdsaP256(k), SignatureScheme::Rfc7401) => ring_ecdsa_verify(
                &ring::signature::ECDSA_P256_SHA384_ASN1,
                k.to_encoded_point(false).as_bytes(),
                msg,
                &unpad_halves(sig, 32)?,
            ),
            (HostIdPublic::EcdsaP256(k), SignatureScheme::Rfc5201) => {
                let s = p256::ecdsa::Signature::from_slice(&unpad_halves(sig, 32)?).map_err(bad)?;
                k.verify_prehash(&Sha1::digest(msg), &s).map_err(bad)
            }
            (HostIdPublic::EcdsaP384(k), SignatureScheme::Rfc7401) => ring_ecdsa_verify(
                &ring::signature::ECDSA_P384_SHA384_ASN1,
                k.to_encoded_point(false).as_bytes(),
                msg,
                &unpad_halves(sig, 48)?,
            ),
            (HostIdPublic::EcdsaP384(_), SignatureScheme::Rfc5201) => Err(SignError::Unsupported(
                "ECDSA P-384 with a SHA-1 digest is shorter than half the field",
            )),
            (HostIdPublic::Dsa { key, .. }, _) => {
                // RFC 2536: T (1 octet), R (20), S (20).
                if sig.len() != 41 {
                    return Err(SignError::BadLength(sig.len()));
                }
                let r = dsa::BigUint::from_bytes_be(&sig[1..21]);
                let s = dsa::BigUint::from_bytes_be(&sig[21..41]);
                let s = dsa::Signature::from_components(r, s).map_err(bad)?;
                key.verify_prehash(&Sha1::digest(msg), &s).map_err(bad)
            }
            (HostIdPublic::Ed25519(k), _) => {
                let s = ed25519_dalek::Signature::from_slice(sig).map_err(bad)?;
                k.verify_strict(msg, &s).map_err(bad)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hi::KeySpec;
    use rand_core::OsRng;

    #[test]
    fn sign_verify_every_algorithm_and_scheme() {
        let mut ids = vec![
            HostIdentity::generate(KeySpec::EcdsaP256, &mut OsRng).unwrap(),
            HostIdentity::generate(KeySpec::EcdsaP384, &mut OsRng).unwrap(),
            HostIdentity::generate(KeySpec::Ed25519, &mut OsRng).unwrap(),
        ];
        ids.push(HostIdentity::generate(KeySpec::Rsa(2048), &mut OsRng).unwrap());
        for id in &ids {
            for scheme in [SignatureScheme::Rfc7401, SignatureScheme::Rfc5201] {
                let sig = match id.sign(b"hip packet", scheme, &mut OsRng) {
                    Ok(s) => s,
                    Err(SignError::Unsupported(_)) => continue,
                    Err(e) => panic!("{e}"),
                };
                id.public().verify(b"hip packet", &sig, scheme).unwrap();
                assert!(id.public().verify(b"hip packeT", &sig, scheme).is_err());
                let mut bad = sig.clone();
                let n = bad.len();
                bad[n - 1] ^= 1;
                assert!(id.public().verify(b"hip packet", &bad, scheme).is_err());
                assert!(id
                    .public()
                    .verify(b"hip packet", &sig[..n - 1], scheme)
                    .is_err());
            }
        }
        // HIPL's ECDSA signature is 72 octets.
        let sig = ids[0]
            .sign(b"x", SignatureScheme::Rfc5201, &mut OsRng)
            .unwrap();
        assert_eq!(sig.len(), 72);
    }
}
