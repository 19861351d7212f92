//! RHASH, the hash of a HIT suite, and the HMAC and HKDF built on it
//! (RFC 7401 section 5.2.10; RFC 5201 uses SHA-1 throughout).

use ring::{digest, hkdf, hmac};

use crate::registry::HitSuiteId;

/// A HIP hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rhash {
    /// SHA-1: HIPv1 (RFC 5201) and the ECDSA_LOW suite.
    Sha1,
    /// SHA-256: the RSA/DSA suite.
    Sha256,
    /// SHA-384: the ECDSA suite.
    Sha384,
}

impl Rhash {
    /// RHASH of a HIT suite (RFC 7401 section 5.2.10). The EdDSA suite's
    /// cSHAKE128 (RFC 9374) is not supported: `None`.
    pub fn for_hit_suite(suite: HitSuiteId) -> Option<Rhash> {
        match suite {
            HitSuiteId::RsaDsaSha256 => Some(Rhash::Sha256),
            HitSuiteId::EcdsaSha384 => Some(Rhash::Sha384),
            HitSuiteId::EcdsaLowSha1 => Some(Rhash::Sha1),
            _ => None,
        }
    }

    /// Output length in octets (RHASH_len / 8).
    pub fn output_len(self) -> usize {
        match self {
            Rhash::Sha1 => 20,
            Rhash::Sha256 => 32,
            Rhash::Sha384 => 48,
        }
    }

    fn digest_alg(self) -> &'static digest::Algorithm {
        match self {
            Rhash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Rhash::Sha256 => &digest::SHA256,
            Rhash::Sha384 => &digest::SHA384,
        }
    }

    fn hmac_alg(self) -> hmac::Algorithm {
        match self {
            Rhash::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Rhash::Sha256 => hmac::HMAC_SHA256,
            Rhash::Sha384 => hmac::HMAC_SHA384,
        }
    }

    /// A streaming hash context.
    pub fn context(self) -> digest::Context {
        digest::Context::new(self.digest_alg())
    }

    /// Hash the concatenation of `parts`.
    pub fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        let mut c = self.context();
        for p in parts {
            c.update(p);
        }
        c.finish().as_ref().to_vec()
    }

    /// HMAC with this hash over the concatenation of `parts` (RFC 2104).
    pub fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        self.hmac_tag(key, parts).as_ref().to_vec()
    }

    /// [`Rhash::hmac`] without allocating: the tag stays on the stack.
    pub fn hmac_tag(self, key: &[u8], parts: &[&[u8]]) -> hmac::Tag {
        let k = hmac::Key::new(self.hmac_alg(), key);
        let mut c = hmac::Context::with_key(&k);
        for p in parts {
            c.update(p);
        }
        c.sign()
    }

    /// Constant-time HMAC verification.
    pub fn hmac_verify(self, key: &[u8], data: &[u8], tag: &[u8]) -> bool {
        let k = hmac::Key::new(self.hmac_alg(), key);
        hmac::verify(&k, data, tag).is_ok()
    }

    /// HKDF (RFC 5869) extract-and-expand to `len` octets (at most 255 blocks).
    pub fn hkdf(self, salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Option<Vec<u8>> {
        struct Len(usize);
        impl hkdf::KeyType for Len {
            fn len(&self) -> usize {
                self.0
            }
        }
        let alg = match self {
            Rhash::Sha1 => hkdf::HKDF_SHA1_FOR_LEGACY_USE_ONLY,
            Rhash::Sha256 => hkdf::HKDF_SHA256,
            Rhash::Sha384 => hkdf::HKDF_SHA384,
        };
        let prk = hkdf::Salt::new(alg, salt).extract(ikm);
        let info = [info];
        let okm = prk.expand(&info, Len(len)).ok()?;
        let mut out = vec![0u8; len];
        okm.fill(&mut out).ok()?;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5869_test_case_1() {
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let okm = Rhash::Sha256.hkdf(&salt, &ikm, &info, 42).unwrap();
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn rfc4231_hmac_sha256_case_2() {
        let tag = Rhash::Sha256.hmac(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(&tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(Rhash::Sha256.hmac_verify(b"Jefe", b"what do ya want for nothing?", &tag));
        let mut bad = tag.clone();
        bad[31] ^= 1;
        assert!(!Rhash::Sha256.hmac_verify(b"Jefe", b"what do ya want for nothing?", &bad));
    }
}
