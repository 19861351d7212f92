//! ESP transforms (RFC 7402 section 5.1.2 and the IANA "ESP Transform Suite
//! IDs"): which cipher, which integrity algorithm, key, IV and ICV sizes.

/// Why a suite cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SuiteError {
    #[error("ESP transform {0} is not supported")]
    Unsupported(u16),
    #[error("key material has the wrong length (need {need} octets, got {got})")]
    KeyLength { need: usize, got: usize },
}

/// A supported ESP transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suite {
    /// 1: AES-128-CBC with HMAC-SHA-1-96 (RFC 3602, RFC 2404). HIPL's choice.
    Aes128CbcHmacSha1,
    /// 7: NULL encryption with HMAC-SHA-256-128 (RFC 4868).
    NullHmacSha256,
    /// 8: AES-128-CBC with HMAC-SHA-256-128.
    Aes128CbcHmacSha256,
    /// 9: AES-256-CBC with HMAC-SHA-256-128.
    Aes256CbcHmacSha256,
    /// 10: AES-CCM with an 8-octet ICV (RFC 4309), 128-bit key + 3-octet salt.
    AesCcm8,
    /// 11: AES-CCM with a 16-octet ICV (RFC 4309).
    AesCcm16,
    /// 12: AES-GCM with an 8-octet ICV (RFC 4106), 128-bit key + 4-octet salt.
    AesGcm8,
    /// 13: AES-GCM with a 16-octet ICV (RFC 4106), 128-bit key + 4-octet salt.
    AesGcm16,
    /// 14: NULL encryption with AES-CMAC-96 (RFC 4494).
    AesCmac96,
    /// 15: AES-GMAC (RFC 4543): authentication only, 128-bit key + salt.
    AesGmac,
}

/// How the ICV is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    HmacSha1,
    HmacSha256,
    /// AES-CMAC (RFC 4494).
    Cmac,
    /// The AEAD's own tag.
    Aead,
}

impl Suite {
    /// The suite for an ESP transform ID. Deprecated transforms (2-6) are
    /// refused.
    pub fn from_transform_id(id: u16) -> Result<Suite, SuiteError> {
        Ok(match id {
            1 => Suite::Aes128CbcHmacSha1,
            7 => Suite::NullHmacSha256,
            8 => Suite::Aes128CbcHmacSha256,
            9 => Suite::Aes256CbcHmacSha256,
            10 => Suite::AesCcm8,
            11 => Suite::AesCcm16,
            12 => Suite::AesGcm8,
            13 => Suite::AesGcm16,
            14 => Suite::AesCmac96,
            15 => Suite::AesGmac,
            other => return Err(SuiteError::Unsupported(other)),
        })
    }

    /// The ESP transform ID.
    pub fn transform_id(self) -> u16 {
        match self {
            Suite::Aes128CbcHmacSha1 => 1,
            Suite::NullHmacSha256 => 7,
            Suite::Aes128CbcHmacSha256 => 8,
            Suite::Aes256CbcHmacSha256 => 9,
            Suite::AesCcm8 => 10,
            Suite::AesCcm16 => 11,
            Suite::AesGcm8 => 12,
            Suite::AesGcm16 => 13,
            Suite::AesCmac96 => 14,
            Suite::AesGmac => 15,
        }
    }

    /// Every supported suite.
    pub const ALL: [Suite; 10] = [
        Suite::Aes128CbcHmacSha1,
        Suite::NullHmacSha256,
        Suite::Aes128CbcHmacSha256,
        Suite::Aes256CbcHmacSha256,
        Suite::AesCcm8,
        Suite::AesCcm16,
        Suite::AesGcm8,
        Suite::AesGcm16,
        Suite::AesCmac96,
        Suite::AesGmac,
    ];

    /// Octets of encryption key material drawn from KEYMAT (RFC 7402
    /// section 7); for GCM/GMAC this includes the 4-octet salt (RFC 4106
    /// section 8.1), for CCM the 3-octet salt (RFC 4309 section 7.1).
    pub fn enc_key_len(self) -> usize {
        match self {
            Suite::NullHmacSha256 | Suite::AesCmac96 => 0,
            Suite::AesCcm8 | Suite::AesCcm16 => 19,
            Suite::AesGcm8 => 20,
            Suite::Aes128CbcHmacSha1 | Suite::Aes128CbcHmacSha256 => 16,
            Suite::Aes256CbcHmacSha256 => 32,
            Suite::AesGcm16 | Suite::AesGmac => 20,
        }
    }

    /// Octets of authentication key material (0 for AEADs).
    pub fn auth_key_len(self) -> usize {
        match self.integrity() {
            Integrity::HmacSha1 => 20,
            Integrity::HmacSha256 => 32,
            Integrity::Cmac => 16,
            Integrity::Aead => 0,
        }
    }

    /// The integrity algorithm.
    pub fn integrity(self) -> Integrity {
        match self {
            Suite::Aes128CbcHmacSha1 => Integrity::HmacSha1,
            Suite::NullHmacSha256 | Suite::Aes128CbcHmacSha256 | Suite::Aes256CbcHmacSha256 => {
                Integrity::HmacSha256
            }
            Suite::AesCmac96 => Integrity::Cmac,
            Suite::AesGcm16
            | Suite::AesGmac
            | Suite::AesCcm8
            | Suite::AesCcm16
            | Suite::AesGcm8 => Integrity::Aead,
        }
    }

    /// IV length on the wire.
    pub fn iv_len(self) -> usize {
        match self {
            Suite::NullHmacSha256 | Suite::AesCmac96 => 0,
            Suite::AesCcm8 | Suite::AesCcm16 | Suite::AesGcm8 => 8,
            Suite::Aes128CbcHmacSha1 | Suite::Aes128CbcHmacSha256 | Suite::Aes256CbcHmacSha256 => {
                16
            }
            Suite::AesGcm16 | Suite::AesGmac => 8,
        }
    }

    /// ICV length (RFC 2404: 12; RFC 4868: 16; RFC 4494: 12; the AEADs'
    /// 8 or 16).
    pub fn icv_len(self) -> usize {
        match self {
            Suite::AesCcm8 | Suite::AesGcm8 => 8,
            _ => match self.integrity() {
                Integrity::HmacSha1 | Integrity::Cmac => 12,
                Integrity::HmacSha256 | Integrity::Aead => 16,
            },
        }
    }

    /// The payload (plus padding, pad length and next header) is padded to
    /// a multiple of this (RFC 4303 section 2.4).
    pub fn block_len(self) -> usize {
        match self {
            Suite::Aes128CbcHmacSha1 | Suite::Aes128CbcHmacSha256 | Suite::Aes256CbcHmacSha256 => {
                16
            }
            _ => 4,
        }
    }

    /// True if the suite encrypts (GMAC and NULL do not).
    pub fn encrypts(self) -> bool {
        !matches!(
            self,
            Suite::NullHmacSha256 | Suite::AesGmac | Suite::AesCmac96
        )
    }

    /// Whether extended sequence numbers can be used: RFC 7402 section 3.3.1
    /// lets HIP use 64-bit sequence numbers with any suite; we enable them
    /// for the AEAD suites, where RFC 4106 defines the AAD layout.
    pub fn supports_esn(self) -> bool {
        self.integrity() == Integrity::Aead
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_deprecated_are_refused() {
        for s in Suite::ALL {
            assert_eq!(Suite::from_transform_id(s.transform_id()).unwrap(), s);
        }
        for id in [0, 2, 3, 4, 5, 6, 16, 99] {
            assert_eq!(
                Suite::from_transform_id(id),
                Err(SuiteError::Unsupported(id))
            );
        }
    }
}
