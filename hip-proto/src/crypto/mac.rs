//! HIP_MAC and HIP_MAC_2 (RFC 7401 sections 5.2.12, 5.2.13 and 6.4.1;
//! RFC 5201: HMAC-SHA-1). The HMAC uses the RHASH of the Responder's HIT
//! suite; the covered bytes come from `wire::cover`. Verification is in
//! constant time.

use super::rhash::Rhash;

/// Compute a HIP_MAC / HIP_MAC_2 value.
pub fn compute(rhash: Rhash, key: &[u8], covered: &[u8]) -> Vec<u8> {
    rhash.hmac(key, &[covered])
}

/// Verify a received HIP_MAC / HIP_MAC_2 value in constant time.
pub fn verify(rhash: Rhash, key: &[u8], covered: &[u8], tag: &[u8]) -> bool {
    tag.len() == rhash.output_len() && rhash.hmac_verify(key, covered, tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2202_hmac_sha1_case_1() {
        let tag = compute(Rhash::Sha1, &[0x0b; 20], b"Hi There");
        assert_eq!(
            hex::encode(&tag),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
        assert!(verify(Rhash::Sha1, &[0x0b; 20], b"Hi There", &tag));
        assert!(!verify(Rhash::Sha1, &[0x0b; 20], b"Hi There", &tag[..19]));
        assert!(!verify(Rhash::Sha1, &[0x0c; 20], b"Hi There", &tag));
    }
}
