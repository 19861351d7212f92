//! IANA "Host Identity Protocol (HIP) Parameters" registries as enums.
//!
//! Every registry is an enum with an `Unknown(n)` arm, so a value we do not
//! know is carried through parse and emit unchanged (the rustls pattern).
//! Values: RFC 7401 section 5 and the IANA registry (updated 2023-03-15),
//! RFC 5201 for the HIPv1-only values, RFC 9374 for EdDSA.

/// Declares a registry enum over an integer type with an `Unknown` arm,
/// plus lossless conversions both ways.
macro_rules! registry {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $repr:ty {
            $( $(#[$vmeta:meta])* $variant:ident = $value:expr ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this implementation does not know; kept as received.
            Unknown($repr),
        }

        impl From<$repr> for $name {
            fn from(value: $repr) -> Self {
                match value {
                    $( $value => $name::$variant, )*
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for $repr {
            fn from(value: $name) -> $repr {
                match value {
                    $( $name::$variant => $value, )*
                    $name::Unknown(other) => other,
                }
            }
        }

        impl $name {
            /// The registry value.
            pub fn value(self) -> $repr {
                <$repr>::from(self)
            }

            /// Every named (known) value of the registry.
            pub const KNOWN: &'static [$name] = &[ $( $name::$variant, )* ];
        }
    };
}
#[allow(unused_imports)] // for registries declared in other modules (wire)
pub(crate) use registry;

registry! {
    /// HIP Version (RFC 7401 section 5.1).
    pub enum Version: u8 {
        /// HIPv1, RFC 5201.
        V1 = 1,
        /// HIPv2, RFC 7401.
        V2 = 2,
    }
}

registry! {
    /// Packet Types (RFC 7401 section 5.3, RFC 6537, RFC 6078).
    pub enum PacketType: u8 {
        I1 = 1,
        R1 = 2,
        I2 = 3,
        R2 = 4,
        Update = 16,
        Notify = 17,
        Close = 18,
        CloseAck = 19,
        Hdrr = 20,
        HipData = 32,
    }
}

registry! {
    /// Group IDs for DIFFIE_HELLMAN and DH_GROUP_LIST (RFC 7401 section 5.2.7,
    /// RFC 5201 section 5.2.6 for the HIPv1 meaning of 1-6, RFC 9374 for 12-13).
    pub enum DhGroupId: u8 {
        /// HIPv1: 384-bit group (deprecated in v2).
        Modp384 = 1,
        /// HIPv1: OAKLEY well known group 1, 768-bit (deprecated in v2).
        Oakley768 = 2,
        /// 1536-bit MODP group (RFC 3526).
        Modp1536 = 3,
        /// 3072-bit MODP group (RFC 3526).
        Modp3072 = 4,
        /// HIPv1: 6144-bit MODP group (deprecated in v2).
        Modp6144 = 5,
        /// HIPv1: 8192-bit MODP group (deprecated in v2).
        Modp8192 = 6,
        /// NIST P-256.
        NistP256 = 7,
        /// NIST P-384.
        NistP384 = 8,
        /// NIST P-521.
        NistP521 = 9,
        /// SECP160R1 (ECDSA_LOW).
        Secp160r1 = 10,
        /// 2048-bit MODP group (RFC 3526).
        Modp2048 = 11,
        /// Curve25519 (X25519, RFC 9374).
        Curve25519 = 12,
        /// Curve448 (X448, RFC 9374).
        Curve448 = 13,
    }
}

registry! {
    /// HIP Cipher IDs for HIP_CIPHER (RFC 7401 section 5.2.8).
    pub enum HipCipherId: u16 {
        NullEncrypt = 1,
        Aes128Cbc = 2,
        /// Reserved (was 3DES-CBC).
        TripleDesCbc = 3,
        Aes256Cbc = 4,
    }
}

registry! {
    /// HIPv1 HIP_TRANSFORM Suite IDs (RFC 5201 section 5.2.8).
    pub enum HipTransformId: u16 {
        AesCbcHmacSha1 = 1,
        TripleDesCbcHmacSha1 = 2,
        TripleDesCbcHmacMd5 = 3,
        BlowfishCbcHmacSha1 = 4,
        NullHmacSha1 = 5,
        NullHmacMd5 = 6,
    }
}

registry! {
    /// ESP Transform Suite IDs (RFC 7402 section 5.1.2, RFC 5202).
    pub enum EspTransformId: u16 {
        /// AES-128-CBC with HMAC-SHA1 (HMAC-SHA1-96), what HIPL uses.
        Aes128CbcHmacSha1 = 1,
        /// Deprecated: 3DES-CBC with HMAC-SHA1.
        TripleDesCbcHmacSha1 = 2,
        /// Deprecated: 3DES-CBC with HMAC-MD5.
        TripleDesCbcHmacMd5 = 3,
        /// Deprecated: BLOWFISH-CBC with HMAC-SHA1.
        BlowfishCbcHmacSha1 = 4,
        /// Deprecated: NULL with HMAC-SHA1.
        NullHmacSha1 = 5,
        /// Deprecated: NULL with HMAC-MD5.
        NullHmacMd5 = 6,
        /// NULL with HMAC-SHA-256 (HMAC-SHA-256-128).
        NullHmacSha256 = 7,
        /// AES-128-CBC with HMAC-SHA-256 (HMAC-SHA-256-128).
        Aes128CbcHmacSha256 = 8,
        /// AES-256-CBC with HMAC-SHA-256 (HMAC-SHA-256-128).
        Aes256CbcHmacSha256 = 9,
        /// AES-CCM with an 8-octet ICV.
        AesCcm8 = 10,
        /// AES-CCM with a 16-octet ICV.
        AesCcm16 = 11,
        /// AES-GCM with an 8-octet ICV.
        AesGcm8 = 12,
        /// AES-GCM with a 16-octet ICV.
        AesGcm16 = 13,
        /// AES-CMAC-96.
        AesCmac96 = 14,
        /// AES-GMAC.
        AesGmac = 15,
    }
}

registry! {
    /// HI Algorithm (RFC 7401 section 5.2.9, RFC 9374).
    pub enum HiAlgorithm: u16 {
        Dsa = 3,
        Rsa = 5,
        Ecdsa = 7,
        EcdsaLow = 9,
        EdDsa = 13,
    }
}

registry! {
    /// ECC curve field of an ECDSA Host Identity (RFC 7401 section 5.2.9).
    pub enum EcdsaCurve: u16 {
        NistP256 = 1,
        NistP384 = 2,
    }
}

registry! {
    /// EdDSA curve field of an EdDSA Host Identity (RFC 9374 section 3.1, Table 5).
    pub enum EdDsaCurve: u16 {
        Ed25519 = 1,
        Ed25519ph = 2,
        Ed448 = 3,
        Ed448ph = 4,
    }
}

registry! {
    /// HIT Suite IDs (RFC 7401 section 5.2.10, RFC 9374). The 4-bit value is
    /// also the ORCHID OGA ID (RFC 7343).
    pub enum HitSuiteId: u8 {
        /// RSA,DSA / SHA-256.
        RsaDsaSha256 = 1,
        /// ECDSA / SHA-384.
        EcdsaSha384 = 2,
        /// ECDSA_LOW / SHA-1.
        EcdsaLowSha1 = 3,
        /// EdDSA / cSHAKE128 (RFC 9374).
        EdDsaCshake128 = 5,
    }
}

registry! {
    /// DI-Types of HOST_ID (RFC 7401 section 5.2.9).
    pub enum DiType: u8 {
        None = 0,
        Fqdn = 1,
        Nai = 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_survive_a_round_trip() {
        for v in 0..=u8::MAX {
            assert_eq!(u8::from(DhGroupId::from(v)), v);
            assert_eq!(u8::from(PacketType::from(v)), v);
        }
        for v in [0u16, 6, 100, 4095, u16::MAX] {
            assert_eq!(u16::from(EspTransformId::from(v)), v);
        }
        assert_eq!(DhGroupId::from(7), DhGroupId::NistP256);
        assert_eq!(DhGroupId::from(200), DhGroupId::Unknown(200));
    }
}
