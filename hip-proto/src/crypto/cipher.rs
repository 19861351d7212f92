//! HIP_CIPHER for the ENCRYPTED parameter (RFC 7401 sections 5.2.8 and
//! 5.2.18): NULL-ENCRYPT, AES-128-CBC and AES-256-CBC (RFC 3602). The
//! ENCRYPTED parameter carries the IV followed by the ciphertext; the
//! plaintext (whole parameters) is padded by the caller to the block size.

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};

use crate::registry::HipCipherId;

/// Why encryption or decryption failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error("HIP cipher {0:?} is not supported")]
    Unsupported(HipCipherId),
    #[error("wrong key or IV length")]
    BadKeyOrIv,
    #[error("data is not a whole number of cipher blocks")]
    NotBlockAligned,
}

/// Key length of a HIP cipher in octets.
pub fn key_len(c: HipCipherId) -> Option<usize> {
    match c {
        HipCipherId::NullEncrypt => Some(0),
        HipCipherId::Aes128Cbc => Some(16),
        HipCipherId::Aes256Cbc => Some(32),
        _ => None,
    }
}

/// IV length (the block size) of a HIP cipher.
pub fn iv_len(c: HipCipherId) -> Option<usize> {
    match c {
        HipCipherId::NullEncrypt => Some(0),
        HipCipherId::Aes128Cbc | HipCipherId::Aes256Cbc => Some(16),
        _ => None,
    }
}

/// Encrypt `data` in place.
pub fn encrypt(c: HipCipherId, key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), CipherError> {
    let n = data.len();
    match c {
        HipCipherId::NullEncrypt => Ok(()),
        HipCipherId::Aes128Cbc => cbc::Encryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map_err(|_| CipherError::BadKeyOrIv)?
            .encrypt_padded_mut::<NoPadding>(data, n)
            .map(|_| ())
            .map_err(|_| CipherError::NotBlockAligned),
        HipCipherId::Aes256Cbc => cbc::Encryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(|_| CipherError::BadKeyOrIv)?
            .encrypt_padded_mut::<NoPadding>(data, n)
            .map(|_| ())
            .map_err(|_| CipherError::NotBlockAligned),
        other => Err(CipherError::Unsupported(other)),
    }
}

/// Decrypt `data` in place.
pub fn decrypt(c: HipCipherId, key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), CipherError> {
    match c {
        HipCipherId::NullEncrypt => Ok(()),
        HipCipherId::Aes128Cbc => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map_err(|_| CipherError::BadKeyOrIv)?
            .decrypt_padded_mut::<NoPadding>(data)
            .map(|_| ())
            .map_err(|_| CipherError::NotBlockAligned),
        HipCipherId::Aes256Cbc => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(|_| CipherError::BadKeyOrIv)?
            .decrypt_padded_mut::<NoPadding>(data)
            .map(|_| ())
            .map_err(|_| CipherError::NotBlockAligned),
        other => Err(CipherError::Unsupported(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3602_case_2() {
        let key = hex::decode("c286696d887c9aa0611bbb3e2025a45a").unwrap();
        let iv = hex::decode("562e17996d093d28ddb3ba695a2e6f58").unwrap();
        let pt = hex::decode("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
            .unwrap();
        let ct = "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1";
        let mut d = pt.clone();
        encrypt(HipCipherId::Aes128Cbc, &key, &iv, &mut d).unwrap();
        assert_eq!(hex::encode(&d), ct);
        decrypt(HipCipherId::Aes128Cbc, &key, &iv, &mut d).unwrap();
        assert_eq!(d, pt);
        assert_eq!(
            encrypt(HipCipherId::Aes128Cbc, &key, &iv, &mut [0; 15]),
            Err(CipherError::NotBlockAligned)
        );
        assert_eq!(
            decrypt(HipCipherId::Aes256Cbc, &key, &iv, &mut [0; 16]),
            Err(CipherError::BadKeyOrIv)
        );
        assert!(matches!(
            encrypt(HipCipherId::TripleDesCbc, &key, &iv, &mut [0; 16]),
            Err(CipherError::Unsupported(_))
        ));
    }
}
