//! Key derivation of an association once Kij is known: HIP keys then ESP keys
//! from one KEYMAT (RFC 7401 section 6.5, RFC 7402 section 7; RFC 5201 / RFC 5202
//! section 6.5 / 7 for v1), with the SPIs of both directions.

use crate::crypto::cipher;
use crate::crypto::keymat::{
    DirectionalKeys, KeyPair, Keymat, KeymatExhausted, DEFAULT_KEYMAT_LEN,
};
use crate::crypto::rhash::Rhash;
use crate::endpoint::event::{EspParams, EspSaKeys, HipSuite};
use crate::registry::{EspTransformId, HipCipherId, HipTransformId};
use crate::Hit;
use zeroize::Zeroizing;

/// Errors of key derivation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The HIP cipher/transform has no known key length.
    #[error("unsupported HIP suite {0:?}")]
    HipSuite(HipSuite),
    /// The ESP suite has no known key length.
    #[error("unsupported ESP suite {0:?}")]
    EspSuite(EspTransformId),
    /// KEYMAT exhausted.
    #[error(transparent)]
    Keymat(#[from] KeymatExhausted),
    /// KEYMAT index does not fit ESP_INFO's 16-bit field.
    #[error("keymat index overflow")]
    Index,
}

/// ESP key lengths (encryption, authentication) of a suite (RFC 7402 section 5.1.2 and
/// the RFCs it cites: RFC 3602 / RFC 4868 / RFC 2404; AES-GCM-16 per RFC 4106 with its
/// 4-byte salt counted in the encryption key). The suites hip-esp implements.
pub fn esp_key_lens(suite: EspTransformId) -> Option<(usize, usize)> {
    match suite {
        EspTransformId::Aes128CbcHmacSha1 => Some((16, 20)),
        EspTransformId::NullHmacSha256 => Some((0, 32)),
        EspTransformId::Aes128CbcHmacSha256 => Some((16, 32)),
        EspTransformId::Aes256CbcHmacSha256 => Some((32, 32)),
        // AES-CCM (RFC 4309 section 7.1): 16-octet key and 3-octet salt.
        EspTransformId::AesCcm8 | EspTransformId::AesCcm16 => Some((19, 0)),
        // AES-GCM / GMAC (RFC 4106 section 8.1, RFC 4543 section 3.2): key and 4-octet salt.
        EspTransformId::AesGcm8 | EspTransformId::AesGcm16 | EspTransformId::AesGmac => {
            Some((20, 0))
        }
        // AES-CMAC-96 (RFC 4494): integrity only, 16-octet key.
        EspTransformId::AesCmac96 => Some((0, 16)),
        _ => None,
    }
}

/// HIP key lengths (encryption, HIP_MAC) of the negotiated HIP suite. v2: HIP_CIPHER key
/// and an RHASH-length MAC key (RFC 7401 section 6.5); v1: HIP_TRANSFORM (RFC 5201
/// section 5.2.8: AES-128 / NULL with HMAC-SHA-1).
pub fn hip_key_lens(suite: HipSuite, rhash: Rhash) -> Option<(usize, usize)> {
    match suite {
        HipSuite::V2(c) => Some((cipher::key_len(c)?, rhash.output_len())),
        HipSuite::V1(HipTransformId::AesCbcHmacSha1) => Some((16, 20)),
        HipSuite::V1(HipTransformId::NullHmacSha1) => Some((0, 20)),
        HipSuite::V1(_) => None,
    }
}

/// Inputs of the derivation, identical on both sides except `local`/`peer`/SPIs.
#[derive(Debug, Clone, Copy)]
pub struct KeyInput<'a> {
    /// RHASH of the exchange (SHA-1 for v1).
    pub rhash: Rhash,
    /// The DH shared secret.
    pub kij: &'a [u8],
    /// Puzzle #I.
    pub i: &'a [u8],
    /// Puzzle solution J.
    pub j: &'a [u8],
    /// Initiator HIT.
    pub hit_i: Hit,
    /// Responder HIT.
    pub hit_r: Hit,
    /// This host's HIT (one of the two above).
    pub local: Hit,
    /// Negotiated HIP suite.
    pub hip: HipSuite,
    /// Negotiated ESP suite.
    pub esp: EspTransformId,
    /// SPI we chose for inbound ESP (sent in our ESP_INFO).
    pub spi_in: u32,
    /// SPI the peer chose (from its ESP_INFO).
    pub spi_out: u32,
}

/// Keys of an association after the base exchange.
#[derive(Debug)]
pub struct AssociationKeys {
    /// HIP_MAC / HIP_CIPHER keys of both directions.
    pub hip: DirectionalKeys,
    /// This host is the Initiator of the base exchange: its HIT is
    /// `seed.hit_i` (the HITs are kept once, in the seed).
    local_is_initiator: bool,
    /// ESP suite, SPIs and KEYMAT index.
    pub esp: EspState,
    /// The ESP keys drawn with this KEYMAT until [`Self::hand_over_esp`]
    /// gives them to the SA store: (inbound, outbound).
    esp_keys: Option<Box<(EspSaKeys, EspSaKeys)>>,
    /// Kij the current KEYMAT is drawn from, kept for rekeying without a new
    /// DH (RFC 7402 section 6.9): the KEYMAT is recomputed from it and the
    /// seed on a rekey, which is rare, instead of holding its 1,024 octets in
    /// every association.
    pub kij: Zeroizing<Vec<u8>>,
    /// The KEYMAT index after the last keys drawn.
    pub next_index: usize,
    /// What a new KEYMAT is computed from when a rekey brings a new Kij.
    pub seed: KeymatSeed,
}

/// The ESP parameters an association keeps: those of [`EspParams`] without
/// the keys, which the SA store holds (a rekey draws new ones from KEYMAT,
/// RFC 7402 section 6.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspState {
    /// ESP transform suite.
    pub suite: EspTransformId,
    /// SPI the peer puts on packets it sends to us.
    pub spi_in: u32,
    /// SPI we put on packets to the peer.
    pub spi_out: u32,
    /// KEYMAT index after drawing the ESP keys (the next ESP_INFO KEYMAT index).
    pub keymat_index: u16,
}

impl From<&EspParams> for EspState {
    fn from(e: &EspParams) -> Self {
        EspState {
            suite: e.suite,
            spi_in: e.spi_in,
            spi_out: e.spi_out,
            keymat_index: e.keymat_index,
        }
    }
}

/// The inputs of KEYMAT other than Kij, kept from the base exchange: a rekey
/// with a new Diffie-Hellman key draws a fresh KEYMAT from the new Kij with the
/// same HITs, #I and J (RFC 7402 section 6.10 step 1, RFC 5202 section 6.10).
#[derive(Debug, Clone)]
pub struct KeymatSeed {
    /// RFC 5201 KEYMAT (v1) instead of RFC 7401 (v2).
    pub v1: bool,
    /// RHASH of the exchange.
    pub rhash: Rhash,
    /// Initiator HIT of the base exchange.
    pub hit_i: Hit,
    /// Responder HIT of the base exchange.
    pub hit_r: Hit,
    /// Puzzle #I then solution J of the base exchange, in one allocation
    /// ([`Self::i`], [`Self::j`]).
    ij: Box<[u8]>,
    /// The length of #I in `ij`.
    i_len: usize,
}

impl KeymatSeed {
    /// Puzzle #I of the base exchange.
    pub fn i(&self) -> &[u8] {
        &self.ij[..self.i_len]
    }

    /// Puzzle solution J of the base exchange.
    pub fn j(&self) -> &[u8] {
        &self.ij[self.i_len..]
    }

    /// KEYMAT for the Diffie-Hellman secret `kij`.
    pub fn keymat(&self, kij: &[u8]) -> Result<Keymat, KeyError> {
        if self.v1 {
            Ok(Keymat::v1(
                kij,
                &self.hit_i,
                &self.hit_r,
                self.i(),
                self.j(),
                DEFAULT_KEYMAT_LEN,
            ))
        } else {
            Keymat::v2(
                self.rhash,
                kij,
                &self.hit_i,
                &self.hit_r,
                self.i(),
                self.j(),
                DEFAULT_KEYMAT_LEN,
            )
            .ok_or(KeyError::Keymat(KeymatExhausted {
                index: 0,
                need: DEFAULT_KEYMAT_LEN,
                have: 0,
            }))
        }
    }
}

impl AssociationKeys {
    /// The ESP parameters with their keys for the SA store, leaving only the
    /// suite, SPIs and KEYMAT index here: a rekey draws new keys from KEYMAT
    /// (RFC 7402 section 6.9), so the engine keeps no copy of the ESP keys.
    /// Called again, it gives empty keys.
    pub fn hand_over_esp(&mut self) -> EspParams {
        let (keys_in, keys_out) = self.esp_keys.take().map_or_else(
            || {
                let none = || EspSaKeys {
                    enc: Vec::new(),
                    auth: Vec::new(),
                };
                (none(), none())
            },
            |k| *k,
        );
        EspParams {
            suite: self.esp.suite,
            spi_in: self.esp.spi_in,
            spi_out: self.esp.spi_out,
            keys_in,
            keys_out,
            keymat_index: self.esp.keymat_index,
        }
    }

    /// This host's HIT.
    pub fn local(&self) -> Hit {
        if self.local_is_initiator {
            self.seed.hit_i
        } else {
            self.seed.hit_r
        }
    }

    /// The peer's HIT.
    pub fn peer(&self) -> Hit {
        if self.local_is_initiator {
            self.seed.hit_r
        } else {
            self.seed.hit_i
        }
    }

    /// (outgoing, incoming) HIP keys of this host.
    pub fn hip_keys(&self) -> (&KeyPair, &KeyPair) {
        self.hip.for_local(&self.local(), &self.peer())
    }
}

fn sa(k: &KeyPair) -> EspSaKeys {
    EspSaKeys {
        enc: k.enc.to_vec(),
        auth: k.integ.to_vec(),
    }
}

/// Draws HIP keys at index 0 then ESP keys at the index that follows
/// (the keymat index both ESP_INFOs carry).
pub fn derive(input: &KeyInput<'_>, v1: bool) -> Result<AssociationKeys, KeyError> {
    let (hip_enc, hip_mac) =
        hip_key_lens(input.hip, input.rhash).ok_or(KeyError::HipSuite(input.hip))?;
    let (esp_enc, esp_auth) = esp_key_lens(input.esp).ok_or(KeyError::EspSuite(input.esp))?;
    let seed = KeymatSeed {
        v1,
        rhash: input.rhash,
        hit_i: input.hit_i,
        hit_r: input.hit_r,
        ij: [input.i, input.j].concat().into_boxed_slice(),
        i_len: input.i.len(),
    };
    let km = seed.keymat(input.kij)?;
    let (hip, index) = DirectionalKeys::draw(&km, 0, hip_enc, hip_mac)?;
    let peer = if input.local == input.hit_i {
        input.hit_r
    } else {
        input.hit_i
    };
    let (esp_keys, next_index) = DirectionalKeys::draw(&km, index, esp_enc, esp_auth)?;
    let (out, inn) = esp_keys.for_local(&input.local, &peer);
    let esp = EspState {
        suite: input.esp,
        spi_in: input.spi_in,
        spi_out: input.spi_out,
        keymat_index: u16::try_from(index).map_err(|_| KeyError::Index)?,
    };
    Ok(AssociationKeys {
        hip,
        local_is_initiator: input.local == input.hit_i,
        esp,
        esp_keys: Some(Box::new((sa(inn), sa(out)))),
        kij: Zeroizing::new(input.kij.to_vec()),
        next_index,
        seed,
    })
}

/// New ESP keys for a rekey (RFC 7402 section 6.10 step 3): drawn at `index` from
/// the KEYMAT of `fresh` (the new Kij) when the rekey brought a new Diffie-Hellman
/// key (index 0, step 2), else from the existing KEYMAT at the continuation index
/// of the ESP_INFOs. Only the four ESP keys are drawn; the HIP keys stay.
pub fn rekey_from_keymat(
    keys: &mut AssociationKeys,
    fresh: Option<Zeroizing<Vec<u8>>>,
    index: u16,
    spi_in: u32,
    spi_out: u32,
) -> Result<EspParams, KeyError> {
    let suite = keys.esp.suite;
    let (enc, auth) = esp_key_lens(suite).ok_or(KeyError::EspSuite(suite))?;
    let km = keys.seed.keymat(fresh.as_deref().unwrap_or(&keys.kij))?;
    let (e, next) = DirectionalKeys::draw(&km, usize::from(index), enc, auth)?;
    if let Some(kij) = fresh {
        keys.kij = kij;
    }
    keys.next_index = next;
    let (out, inn) = e.for_local(&keys.local(), &keys.peer());
    Ok(EspParams {
        suite,
        spi_in,
        spi_out,
        keys_in: sa(inn),
        keys_out: sa(out),
        keymat_index: u16::try_from(next).map_err(|_| KeyError::Index)?,
    })
}

/// The (outbound, inbound) ESP keys a rekey at KEYMAT `index` (of the KEYMAT of
/// the new Kij `fresh`, or of the existing KEYMAT) will give, without consuming KEYMAT: the receiving side
/// installs its new inbound SA before the peer switches (RFC 7402 section 6.9, no
/// loss in flight).
pub fn esp_keys_at(
    keys: &AssociationKeys,
    fresh: Option<&[u8]>,
    index: u16,
) -> Result<(EspSaKeys, EspSaKeys), KeyError> {
    let suite = keys.esp.suite;
    let (enc, auth) = esp_key_lens(suite).ok_or(KeyError::EspSuite(suite))?;
    let km = keys.seed.keymat(fresh.unwrap_or(&keys.kij))?;
    let (e, _) = DirectionalKeys::draw(&km, usize::from(index), enc, auth)?;
    let (out, inn) = e.for_local(&keys.local(), &keys.peer());
    Ok((sa(out), sa(inn)))
}

/// HIP cipher ids this build derives keys for.
pub const HIP_CIPHERS: [HipCipherId; 3] = [
    HipCipherId::NullEncrypt,
    HipCipherId::Aes128Cbc,
    HipCipherId::Aes256Cbc,
];
/// ESP suites this build derives keys for.
pub const ESP_SUITES: [EspTransformId; 10] = [
    EspTransformId::Aes128CbcHmacSha1,
    EspTransformId::NullHmacSha256,
    EspTransformId::Aes128CbcHmacSha256,
    EspTransformId::Aes256CbcHmacSha256,
    EspTransformId::AesCcm8,
    EspTransformId::AesCcm16,
    EspTransformId::AesGcm8,
    EspTransformId::AesGcm16,
    EspTransformId::AesCmac96,
    EspTransformId::AesGmac,
];

#[cfg(test)]
mod tests;
