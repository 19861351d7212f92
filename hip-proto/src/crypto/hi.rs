//! Host Identities: public keys as carried in HOST_ID, private keys as
//! stored on disk (RFC 7401 sections 3 and 5.2.9; RFC 5201 section 5.2.8;
//! RFC 9374 for EdDSA).
//!
//! Encodings of the "Host Identity" field:
//! * RSA: RFC 3110 (exponent length, exponent, modulus).
//! * DSA: RFC 2536 (T, Q, P, G, Y); verify only, for HIPL peers.
//! * ECDSA: 2-octet curve (1 = P-256, 2 = P-384), then the uncompressed
//!   point 0x04 | X | Y.
//! * EdDSA: 2-octet curve (1 = Ed25519), then the 32-octet public key.

use rand_core::CryptoRngCore;
use rsa::traits::PublicKeyParts;

use crate::registry::{EcdsaCurve, EdDsaCurve, HiAlgorithm, HitSuiteId};

/// Why a key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HiError {
    #[error("Host Identity is truncated or has bad lengths")]
    Malformed,
    #[error("HI algorithm {0:?} is not supported")]
    UnsupportedAlgorithm(HiAlgorithm),
    #[error("curve {0} is not supported")]
    UnsupportedCurve(u16),
    #[error("the public key is invalid (not on the curve, or out of range)")]
    InvalidKey,
    #[error("RSA key of {0} bits is too short (new keys need 2048, peers at least 1024)")]
    WeakKey(usize),
    #[error("no usable private key in the PEM data: {0}")]
    Pem(String),
    #[error("key generation failed: {0}")]
    Generate(String),
}

/// A peer's (or our own) public Host Identity.
#[derive(Debug, Clone)]
pub enum HostIdPublic {
    Rsa(rsa::RsaPublicKey),
    /// DSA (RFC 2536 encoding kept for re-emission).
    Dsa {
        key: Box<dsa::VerifyingKey>,
        encoded: Vec<u8>,
    },
    EcdsaP256(p256::ecdsa::VerifyingKey),
    EcdsaP384(p384::ecdsa::VerifyingKey),
    /// Boxed: the decompressed point makes it 192 octets, which every
    /// association (`Association::peer_hi`) would carry whatever its peer's
    /// algorithm (issue 16: memory per association).
    Ed25519(Box<ed25519_dalek::VerifyingKey>),
}

impl PartialEq for HostIdPublic {
    fn eq(&self, other: &Self) -> bool {
        self.algorithm() == other.algorithm() && self.to_hi_bytes() == other.to_hi_bytes()
    }
}

impl Eq for HostIdPublic {}

/// Smallest RSA modulus accepted from a peer (HIPL's default is 1024).
pub const MIN_PEER_RSA_BITS: usize = 1024;
/// Smallest RSA modulus for a key we generate.
pub const MIN_NEW_RSA_BITS: usize = 2048;

fn trim_leading_zeros(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&x| x == 0).count();
    &b[n..]
}

impl HostIdPublic {
    /// The HI algorithm (RFC 7401 section 5.2.9).
    pub fn algorithm(&self) -> HiAlgorithm {
        match self {
            HostIdPublic::Rsa(_) => HiAlgorithm::Rsa,
            HostIdPublic::Dsa { .. } => HiAlgorithm::Dsa,
            HostIdPublic::EcdsaP256(_) | HostIdPublic::EcdsaP384(_) => HiAlgorithm::Ecdsa,
            HostIdPublic::Ed25519(_) => HiAlgorithm::EdDsa,
        }
    }

    /// The HIT suite this key belongs to (RFC 7401 section 5.2.10, RFC 9374).
    pub fn hit_suite(&self) -> HitSuiteId {
        match self {
            HostIdPublic::Rsa(_) | HostIdPublic::Dsa { .. } => HitSuiteId::RsaDsaSha256,
            HostIdPublic::EcdsaP256(_) | HostIdPublic::EcdsaP384(_) => HitSuiteId::EcdsaSha384,
            HostIdPublic::Ed25519(_) => HitSuiteId::EdDsaCshake128,
        }
    }

    /// Key size in bits (modulus, prime or curve size).
    pub fn key_bits(&self) -> usize {
        match self {
            HostIdPublic::Rsa(k) => k.n().bits(),
            HostIdPublic::Dsa { key, .. } => key.components().p().bits(),
            HostIdPublic::EcdsaP256(_) => 256,
            HostIdPublic::EcdsaP384(_) => 384,
            HostIdPublic::Ed25519(_) => 255,
        }
    }

    /// Parse the "Host Identity" field of HOST_ID (the key bytes without the
    /// algorithm field or DNSKEY header).
    pub fn from_hi_bytes(alg: HiAlgorithm, b: &[u8]) -> Result<Self, HiError> {
        match alg {
            HiAlgorithm::Rsa => {
                let (&first, rest) = b.split_first().ok_or(HiError::Malformed)?;
                let (e_len, rest) = if first == 0 {
                    let l = rest.get(..2).ok_or(HiError::Malformed)?;
                    (usize::from(u16::from_be_bytes([l[0], l[1]])), &rest[2..])
                } else {
                    (usize::from(first), rest)
                };
                if e_len == 0 || rest.len() <= e_len {
                    return Err(HiError::Malformed);
                }
                let (e, n) = rest.split_at(e_len);
                let n = rsa::BigUint::from_bytes_be(n);
                if n.bits() < MIN_PEER_RSA_BITS {
                    return Err(HiError::WeakKey(n.bits()));
                }
                let k = rsa::RsaPublicKey::new(n, rsa::BigUint::from_bytes_be(e))
                    .map_err(|_| HiError::InvalidKey)?;
                Ok(HostIdPublic::Rsa(k))
            }
            HiAlgorithm::Dsa => {
                let (&t, rest) = b.split_first().ok_or(HiError::Malformed)?;
                if t > 8 {
                    return Err(HiError::Malformed);
                }
                let l = 64 + usize::from(t) * 8;
                if rest.len() != 20 + 3 * l {
                    return Err(HiError::Malformed);
                }
                let big = dsa::BigUint::from_bytes_be;
                let q = big(&rest[..20]);
                let p = big(&rest[20..20 + l]);
                let g = big(&rest[20 + l..20 + 2 * l]);
                let y = big(&rest[20 + 2 * l..]);
                let c =
                    dsa::Components::from_components(p, q, g).map_err(|_| HiError::InvalidKey)?;
                let key =
                    dsa::VerifyingKey::from_components(c, y).map_err(|_| HiError::InvalidKey)?;
                Ok(HostIdPublic::Dsa {
                    key: Box::new(key),
                    encoded: b.to_vec(),
                })
            }
            HiAlgorithm::Ecdsa => {
                let curve = b.get(..2).ok_or(HiError::Malformed)?;
                let curve = u16::from_be_bytes([curve[0], curve[1]]);
                let point = &b[2..];
                match EcdsaCurve::from(curve) {
                    EcdsaCurve::NistP256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                        .map(HostIdPublic::EcdsaP256)
                        .map_err(|_| HiError::InvalidKey),
                    EcdsaCurve::NistP384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
                        .map(HostIdPublic::EcdsaP384)
                        .map_err(|_| HiError::InvalidKey),
                    EcdsaCurve::Unknown(c) => Err(HiError::UnsupportedCurve(c)),
                }
            }
            HiAlgorithm::EdDsa => {
                let curve = b.get(..2).ok_or(HiError::Malformed)?;
                let curve = u16::from_be_bytes([curve[0], curve[1]]);
                match EdDsaCurve::from(curve) {
                    EdDsaCurve::Ed25519 => {
                        let k: [u8; 32] = b[2..].try_into().map_err(|_| HiError::Malformed)?;
                        ed25519_dalek::VerifyingKey::from_bytes(&k)
                            .map(|k| HostIdPublic::Ed25519(Box::new(k)))
                            .map_err(|_| HiError::InvalidKey)
                    }
                    other => Err(HiError::UnsupportedCurve(other.value())),
                }
            }
            other => Err(HiError::UnsupportedAlgorithm(other)),
        }
    }

    /// Encode the "Host Identity" field.
    pub fn to_hi_bytes(&self) -> Vec<u8> {
        match self {
            HostIdPublic::Rsa(k) => {
                let e = k.e().to_bytes_be();
                let e = trim_leading_zeros(&e);
                let mut o = Vec::new();
                if e.len() <= 255 {
                    o.push(e.len() as u8);
                } else {
                    o.push(0);
                    o.extend_from_slice(&(e.len() as u16).to_be_bytes());
                }
                o.extend_from_slice(e);
                o.extend_from_slice(&k.n().to_bytes_be());
                o
            }
            HostIdPublic::Dsa { encoded, .. } => encoded.clone(),
            HostIdPublic::EcdsaP256(k) => {
                let mut o = EcdsaCurve::NistP256.value().to_be_bytes().to_vec();
                o.extend_from_slice(k.to_encoded_point(false).as_bytes());
                o
            }
            HostIdPublic::EcdsaP384(k) => {
                let mut o = EcdsaCurve::NistP384.value().to_be_bytes().to_vec();
                o.extend_from_slice(k.to_encoded_point(false).as_bytes());
                o
            }
            HostIdPublic::Ed25519(k) => {
                let mut o = EdDsaCurve::Ed25519.value().to_be_bytes().to_vec();
                o.extend_from_slice(k.as_bytes());
                o
            }
        }
    }

    /// The RFC 5201 DNSKEY RDATA form (flags 0x0202, protocol 0xFF,
    /// algorithm, key), as HIPL sends it.
    pub fn to_dnskey_rdata(&self) -> Vec<u8> {
        let mut o = vec![0x02, 0x02, 0xff, self.algorithm().value() as u8];
        o.extend_from_slice(&self.to_hi_bytes());
        o
    }

    /// Parse an RFC 5201 DNSKEY RDATA.
    pub fn from_dnskey_rdata(b: &[u8]) -> Result<Self, HiError> {
        if b.len() < 5 {
            return Err(HiError::Malformed);
        }
        HostIdPublic::from_hi_bytes(HiAlgorithm::from(u16::from(b[3])), &b[4..])
    }

    /// Parse a SubjectPublicKeyInfo PEM ("PUBLIC KEY"); HIPL's ECDSA public
    /// files carry an "EC PARAMETERS" block first, which is skipped.
    pub fn from_public_pem(pem: &str) -> Result<Self, HiError> {
        use p256::pkcs8::DecodePublicKey;
        let block =
            pem_block(pem, "PUBLIC KEY").ok_or(HiError::Pem("no PUBLIC KEY block".into()))?;
        if let Ok(k) = rsa::RsaPublicKey::from_public_key_pem(&block) {
            return Ok(HostIdPublic::Rsa(k));
        }
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_pem(&block) {
            return Ok(HostIdPublic::EcdsaP256(k));
        }
        if let Ok(k) = p384::ecdsa::VerifyingKey::from_public_key_pem(&block) {
            return Ok(HostIdPublic::EcdsaP384(k));
        }
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_pem(&block) {
            return Ok(HostIdPublic::Ed25519(Box::new(k)));
        }
        if let Ok(k) = dsa::VerifyingKey::from_public_key_pem(&block) {
            return dsa_public(&k);
        }
        Err(HiError::Pem("unsupported public key type".into()))
    }
}

/// RFC 2536 encoding of a DSA public key.
fn dsa_public(k: &dsa::VerifyingKey) -> Result<HostIdPublic, HiError> {
    let c = k.components();
    let p = c.p().to_bytes_be();
    let l = p.len();
    if !(64..=128).contains(&l) || (l - 64) % 8 != 0 {
        return Err(HiError::InvalidKey);
    }
    let pad = |v: Vec<u8>, n: usize| -> Result<Vec<u8>, HiError> {
        if v.len() > n {
            return Err(HiError::InvalidKey);
        }
        let mut o = vec![0; n - v.len()];
        o.extend_from_slice(&v);
        Ok(o)
    };
    let mut enc = vec![((l - 64) / 8) as u8];
    enc.extend(pad(c.q().to_bytes_be(), 20)?);
    enc.extend(pad(p, l)?);
    enc.extend(pad(c.g().to_bytes_be(), l)?);
    enc.extend(pad(k.y().to_bytes_be(), l)?);
    Ok(HostIdPublic::Dsa {
        key: Box::new(k.clone()),
        encoded: enc,
    })
}

/// Extract one PEM block by label (including its BEGIN/END lines).
fn pem_block(pem: &str, label: &str) -> Option<String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let s = pem.find(&begin)?;
    let e = pem[s..].find(&end)? + s + end.len();
    Some(format!("{}\n", &pem[s..e]))
}

/// Which key to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    /// RSA with this modulus size (at least 2048).
    Rsa(usize),
    EcdsaP256,
    EcdsaP384,
    Ed25519,
}

/// A private Host Identity: the key we sign with.
#[derive(Clone)]
pub struct HostIdentity {
    key: PrivateKey,
    public: HostIdPublic,
}

#[derive(Clone)]
pub(crate) enum PrivateKey {
    Rsa(rsa::RsaPrivateKey),
    EcdsaP256(p256::ecdsa::SigningKey),
    EcdsaP384(p384::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl std::fmt::Debug for HostIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostIdentity")
            .field("algorithm", &self.public.algorithm())
            .field("bits", &self.public.key_bits())
            .finish_non_exhaustive()
    }
}

impl HostIdentity {
    fn from_key(key: PrivateKey) -> Self {
        let public = match &key {
            PrivateKey::Rsa(k) => HostIdPublic::Rsa(k.to_public_key()),
            PrivateKey::EcdsaP256(k) => HostIdPublic::EcdsaP256(*k.verifying_key()),
            PrivateKey::EcdsaP384(k) => HostIdPublic::EcdsaP384(*k.verifying_key()),
            PrivateKey::Ed25519(k) => HostIdPublic::Ed25519(Box::new(k.verifying_key())),
        };
        HostIdentity { key, public }
    }

    /// Generate a new identity.
    pub fn generate(spec: KeySpec, rng: &mut impl CryptoRngCore) -> Result<Self, HiError> {
        let key = match spec {
            KeySpec::Rsa(bits) => {
                if bits < MIN_NEW_RSA_BITS {
                    return Err(HiError::WeakKey(bits));
                }
                PrivateKey::Rsa(
                    rsa::RsaPrivateKey::new(rng, bits)
                        .map_err(|e| HiError::Generate(e.to_string()))?,
                )
            }
            KeySpec::EcdsaP256 => PrivateKey::EcdsaP256(p256::ecdsa::SigningKey::random(rng)),
            KeySpec::EcdsaP384 => PrivateKey::EcdsaP384(p384::ecdsa::SigningKey::random(rng)),
            KeySpec::Ed25519 => PrivateKey::Ed25519(ed25519_dalek::SigningKey::generate(rng)),
        };
        Ok(HostIdentity::from_key(key))
    }

    /// The public Host Identity.
    pub fn public(&self) -> &HostIdPublic {
        &self.public
    }

    pub(crate) fn private_key(&self) -> &PrivateKey {
        &self.key
    }

    /// Load a private key from PEM: PKCS#8 ("PRIVATE KEY"), PKCS#1
    /// ("RSA PRIVATE KEY") or SEC1 ("EC PRIVATE KEY", with or without a
    /// preceding "EC PARAMETERS" block as HIPL writes it). RSA keys under
    /// 1024 bits are refused.
    pub fn from_pem(pem: &str) -> Result<Self, HiError> {
        use p256::pkcs8::DecodePrivateKey;
        let key = if let Some(b) = pem_block(pem, "PRIVATE KEY") {
            if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_pem(&b) {
                PrivateKey::Rsa(k)
            } else if let Ok(k) = p256::SecretKey::from_pkcs8_pem(&b) {
                PrivateKey::EcdsaP256(k.into())
            } else if let Ok(k) = p384::SecretKey::from_pkcs8_pem(&b) {
                PrivateKey::EcdsaP384(k.into())
            } else if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(&b) {
                PrivateKey::Ed25519(k)
            } else {
                return Err(HiError::Pem("unsupported PKCS#8 key".into()));
            }
        } else if let Some(b) = pem_block(pem, "RSA PRIVATE KEY") {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            PrivateKey::Rsa(
                rsa::RsaPrivateKey::from_pkcs1_pem(&b).map_err(|e| HiError::Pem(e.to_string()))?,
            )
        } else if let Some(b) = pem_block(pem, "EC PRIVATE KEY") {
            if let Ok(k) = p256::SecretKey::from_sec1_pem(&b) {
                PrivateKey::EcdsaP256(k.into())
            } else if let Ok(k) = p384::SecretKey::from_sec1_pem(&b) {
                PrivateKey::EcdsaP384(k.into())
            } else {
                return Err(HiError::Pem("unsupported EC curve".into()));
            }
        } else if pem.contains("-----BEGIN DSA PRIVATE KEY-----") {
            return Err(HiError::Pem(
                "DSA identities are supported for verification only".into(),
            ));
        } else {
            return Err(HiError::Pem("no private key block found".into()));
        };
        if let PrivateKey::Rsa(k) = &key {
            if k.n().bits() < MIN_PEER_RSA_BITS {
                return Err(HiError::WeakKey(k.n().bits()));
            }
        }
        Ok(HostIdentity::from_key(key))
    }

    /// Encode as PKCS#8 PEM (the format hipd stores, mode 0600).
    pub fn to_pkcs8_pem(&self) -> Result<String, HiError> {
        use p256::pkcs8::{EncodePrivateKey, LineEnding};
        let r = match &self.key {
            PrivateKey::Rsa(k) => k.to_pkcs8_pem(LineEnding::LF),
            PrivateKey::EcdsaP256(k) => p256::SecretKey::from(k).to_pkcs8_pem(LineEnding::LF),
            PrivateKey::EcdsaP384(k) => p384::SecretKey::from(k).to_pkcs8_pem(LineEnding::LF),
            PrivateKey::Ed25519(k) => k.to_pkcs8_pem(LineEnding::LF),
        };
        r.map(|z| z.to_string())
            .map_err(|e| HiError::Pem(e.to_string()))
    }
}

/// Public key of a PEM private key file that we can only verify with
/// (OpenSSL "DSA PRIVATE KEY": SEQUENCE { 0, p, q, g, y, x }).
pub fn dsa_public_from_private_pem(pem: &str) -> Result<HostIdPublic, HiError> {
    let b = pem_block(pem, "DSA PRIVATE KEY").ok_or(HiError::Pem("no DSA PRIVATE KEY".into()))?;
    let body: String = b.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64_decode(&body).ok_or(HiError::Pem("bad base64".into()))?;
    let ints = der_integers(&der).ok_or(HiError::Pem("bad DER".into()))?;
    if ints.len() != 6 {
        return Err(HiError::Pem("DSA key is not 6 integers".into()));
    }
    let big = |i: usize| dsa::BigUint::from_bytes_be(&ints[i]);
    let c = dsa::Components::from_components(big(1), big(2), big(3))
        .map_err(|_| HiError::InvalidKey)?;
    let k = dsa::VerifyingKey::from_components(c, big(4)).map_err(|_| HiError::InvalidKey)?;
    dsa_public(&k)
}

/// The INTEGERs of a DER SEQUENCE (a minimal reader for one key format).
fn der_integers(der: &[u8]) -> Option<Vec<Vec<u8>>> {
    fn len(b: &[u8], i: &mut usize) -> Option<usize> {
        let first = *b.get(*i)?;
        *i += 1;
        if first < 0x80 {
            return Some(usize::from(first));
        }
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut v = 0usize;
        for _ in 0..n {
            v = (v << 8) | usize::from(*b.get(*i)?);
            *i += 1;
        }
        Some(v)
    }
    let mut i = 0;
    if *der.get(i)? != 0x30 {
        return None;
    }
    i += 1;
    let total = len(der, &mut i)?;
    let end = i.checked_add(total)?;
    if end > der.len() {
        return None;
    }
    let mut out = Vec::new();
    while i < end {
        if der[i] != 0x02 {
            return None;
        }
        i += 1;
        let l = len(der, &mut i)?;
        out.push(der.get(i..i.checked_add(l)?)?.to_vec());
        i += l;
    }
    Some(out)
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = (acc << 6) | val(c)?;
        }
        acc <<= 6 * (4 - chunk.len() as u32);
        let bytes = acc.to_be_bytes();
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&bytes[1..1 + n]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    #[test]
    fn hi_encodings_round_trip() {
        for spec in [KeySpec::EcdsaP256, KeySpec::EcdsaP384, KeySpec::Ed25519] {
            let id = HostIdentity::generate(spec, &mut OsRng).unwrap();
            let b = id.public().to_hi_bytes();
            let back = HostIdPublic::from_hi_bytes(id.public().algorithm(), &b).unwrap();
            assert_eq!(&back, id.public());
            let pem = id.to_pkcs8_pem().unwrap();
            let again = HostIdentity::from_pem(&pem).unwrap();
            assert_eq!(again.public(), id.public());
            let rd = id.public().to_dnskey_rdata();
            assert_eq!(&HostIdPublic::from_dnskey_rdata(&rd).unwrap(), id.public());
        }
    }

    #[test]
    fn bad_keys_are_typed_errors() {
        assert_eq!(
            HostIdPublic::from_hi_bytes(HiAlgorithm::Rsa, &[]),
            Err(HiError::Malformed)
        );
        assert_eq!(
            HostIdPublic::from_hi_bytes(HiAlgorithm::Rsa, &[0, 0, 0, 1]),
            Err(HiError::Malformed)
        );
        assert_eq!(
            HostIdPublic::from_hi_bytes(HiAlgorithm::Rsa, &[200, 1, 2]),
            Err(HiError::Malformed)
        );
        let mut small = vec![3, 1, 0, 1];
        small.extend_from_slice(&[0xc5; 64]);
        assert_eq!(
            HostIdPublic::from_hi_bytes(HiAlgorithm::Rsa, &small),
            Err(HiError::WeakKey(512))
        );
        let mut off_curve = vec![0, 1, 4];
        off_curve.extend_from_slice(&[1; 64]);
        assert_eq!(
            HostIdPublic::from_hi_bytes(HiAlgorithm::Ecdsa, &off_curve),
            Err(HiError::InvalidKey)
        );
        assert_eq!(
            HostIdPublic::from_hi_bytes(HiAlgorithm::Ecdsa, &[0, 9, 4, 1]),
            Err(HiError::UnsupportedCurve(9))
        );
        assert_eq!(
            HostIdPublic::from_hi_bytes(HiAlgorithm::Dsa, &[9]),
            Err(HiError::Malformed)
        );
        assert!(HostIdentity::from_pem("garbage").is_err());
        assert!(HostIdentity::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        )
        .is_err());
        assert!(matches!(
            HostIdentity::generate(KeySpec::Rsa(1024), &mut OsRng),
            Err(HiError::WeakKey(1024))
        ));
    }

    #[test]
    fn base64_and_der_helpers() {
        assert_eq!(base64_decode("TWFu").unwrap(), b"Man");
        assert_eq!(base64_decode("TWE=").unwrap(), b"Ma");
        assert!(base64_decode("T").is_none());
        assert_eq!(
            der_integers(&[0x30, 6, 2, 1, 5, 2, 1, 7]).unwrap(),
            vec![vec![5], vec![7]]
        );
        assert!(der_integers(&[0x30, 9, 2, 1, 5]).is_none());
    }
}
