//! Property tests against independent references, for random payload
//! sizes and keys: what `OutboundSa::seal` produces is checked with a
//! block-at-a-time AES-CBC written here plus ring's HMAC (CBC suites), or
//! ring's AES-GCM (GCM with an 8-octet ICV); and packets built by those
//! references open with `InboundSa::open`.

use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use hip_esp::{InboundSa, OpenError, OutboundSa, Suite};
use proptest::prelude::*;
use ring::{aead, hmac};

const SPI: u32 = 0x0102_0304;

/// Reference AES block cipher: one block at a time.
enum Aes {
    A128(Box<aes::Aes128>),
    A256(Box<aes::Aes256>),
}

impl Aes {
    fn new(key: &[u8]) -> Self {
        match key.len() {
            16 => Aes::A128(Box::new(aes::Aes128::new_from_slice(key).unwrap())),
            _ => Aes::A256(Box::new(aes::Aes256::new_from_slice(key).unwrap())),
        }
    }
    fn enc(&self, b: &mut [u8]) {
        let b = aes::Block::from_mut_slice(b);
        match self {
            Aes::A128(c) => c.encrypt_block(b),
            Aes::A256(c) => c.encrypt_block(b),
        }
    }
    fn dec(&self, b: &mut [u8]) {
        let b = aes::Block::from_mut_slice(b);
        match self {
            Aes::A128(c) => c.decrypt_block(b),
            Aes::A256(c) => c.decrypt_block(b),
        }
    }
    /// CBC (RFC 3602 section 2), straight from the definition.
    fn cbc_encrypt(&self, iv: &[u8], data: &mut [u8]) {
        let mut prev = iv.to_vec();
        for c in data.chunks_exact_mut(16) {
            for (x, p) in c.iter_mut().zip(&prev) {
                *x ^= p;
            }
            self.enc(c);
            prev = c.to_vec();
        }
    }
    fn cbc_decrypt(&self, iv: &[u8], data: &mut [u8]) {
        let mut prev = iv.to_vec();
        for c in data.chunks_exact_mut(16) {
            let ct = c.to_vec();
            self.dec(c);
            for (x, p) in c.iter_mut().zip(&prev) {
                *x ^= p;
            }
            prev = ct;
        }
    }
}

fn ring_mac(suite: Suite, key: &[u8], data: &[u8]) -> Vec<u8> {
    let alg = if suite == Suite::Aes128CbcHmacSha1 {
        hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY
    } else {
        hmac::HMAC_SHA256
    };
    hmac::sign(&hmac::Key::new(alg, key), data).as_ref()[..suite.icv_len()].to_vec()
}

/// Payload, padding 1, 2, 3, ..., pad length, next header (RFC 4303 2.4).
fn trailer(payload: &[u8], block: usize, nh: u8) -> Vec<u8> {
    let pad = (block - (payload.len() + 2) % block) % block;
    let mut v = payload.to_vec();
    v.extend((1..=pad).map(|i| i as u8));
    v.push(pad as u8);
    v.push(nh);
    v
}

fn seal(out: &OutboundSa, payload: &[u8]) -> Vec<u8> {
    let head = out.headroom();
    let mut buf = vec![0u8; head + payload.len() + out.tailroom()];
    buf[head..head + payload.len()].copy_from_slice(payload);
    let r = out
        .seal(&mut buf, head..head + payload.len(), 17)
        .unwrap()
        .range;
    buf[r].to_vec()
}

fn open_payload(inb: &InboundSa, mut pkt: Vec<u8>) -> Result<Vec<u8>, OpenError> {
    let o = inb.open(&mut pkt)?;
    assert_eq!(o.next_header, 17);
    Ok(pkt[o.payload].to_vec())
}

const CBC: [Suite; 4] = [
    Suite::Aes128CbcHmacSha1,
    Suite::Aes128CbcHmacSha256,
    Suite::Aes256CbcHmacSha256,
    Suite::NullHmacSha256,
];

fn cbc_case(suite: Suite, keys: &[u8], payload: &[u8], seq: u32) {
    let (enc, auth) = (
        &keys[..suite.enc_key_len()],
        &keys[32..32 + suite.auth_key_len()],
    );
    let out = OutboundSa::new(SPI, suite, enc, auth, [9; 16]).unwrap();
    let inb = InboundSa::new(SPI, suite, enc, auth).unwrap();
    let iv_len = suite.iv_len();
    let block = suite.block_len();

    // Sealed here, checked by the references.
    let pkt = seal(&out, payload);
    let icv_at = pkt.len() - suite.icv_len();
    assert_eq!(
        &pkt[icv_at..],
        &ring_mac(suite, auth, &pkt[..icv_at])[..],
        "{suite:?}: ICV"
    );
    let mut body = pkt[8 + iv_len..icv_at].to_vec();
    if suite.encrypts() {
        Aes::new(enc).cbc_decrypt(&pkt[8..8 + iv_len], &mut body);
    }
    assert_eq!(body, trailer(payload, block, 17), "{suite:?}: plaintext");
    assert_eq!(open_payload(&inb, pkt).unwrap(), payload);

    // Sealed by the references, opened here.
    let mut pkt = SPI.to_be_bytes().to_vec();
    pkt.extend(seq.to_be_bytes());
    let iv: Vec<u8> = (0..iv_len)
        .map(|i| (i as u8).wrapping_mul(seq as u8))
        .collect();
    pkt.extend(&iv);
    let mut body = trailer(payload, block, 17);
    if suite.encrypts() {
        Aes::new(enc).cbc_encrypt(&iv, &mut body);
    }
    pkt.extend(body);
    let icv = ring_mac(suite, auth, &pkt);
    pkt.extend(icv);
    let mut bad = pkt.clone();
    let n = bad.len();
    bad[(seq as usize) % n] ^= 0x40;
    assert!(open_payload(&inb, bad).is_err(), "{suite:?}: tampered");
    assert_eq!(open_payload(&inb, pkt).unwrap(), payload, "{suite:?}");
}

/// ring's AES-128-GCM over `plain` with the ESP nonce (salt | IV, RFC 4106
/// section 4) and the ESN AAD (SPI | seq high | seq low, section 5): the
/// ciphertext followed by the full 16-octet tag.
fn ring_gcm(enc: &[u8], iv: [u8; 8], seq: u64, plain: &[u8]) -> Vec<u8> {
    let key =
        aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &enc[..16]).unwrap());
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&enc[16..20]);
    nonce[4..].copy_from_slice(&iv);
    let mut aad = SPI.to_be_bytes().to_vec();
    aad.extend(((seq >> 32) as u32).to_be_bytes());
    aad.extend((seq as u32).to_be_bytes());
    let mut out = plain.to_vec();
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(nonce),
        aead::Aad::from(aad),
        &mut out,
    )
    .unwrap();
    out
}

fn gcm8_case(enc: &[u8], payload: &[u8], seq: u32, iv: [u8; 8]) {
    let suite = Suite::AesGcm8;
    let out = OutboundSa::new(SPI, suite, enc, &[], [9; 16]).unwrap();
    let inb = InboundSa::new(SPI, suite, enc, &[]).unwrap();
    let plain = trailer(payload, suite.block_len(), 17);

    // Sealed here (sequence number 1, IV = sequence number), checked by ring.
    let pkt = seal(&out, payload);
    let reference = ring_gcm(enc, 1u64.to_be_bytes(), 1, &plain);
    assert_eq!(&pkt[..8], [&SPI.to_be_bytes()[..], &[0, 0, 0, 1]].concat());
    assert_eq!(&pkt[8..16], 1u64.to_be_bytes());
    assert_eq!(
        &pkt[16..],
        &reference[..reference.len() - 8],
        "ciphertext | tag[..8]"
    );
    assert_eq!(open_payload(&inb, pkt).unwrap(), payload);

    // Sealed by ring with the tag cut to 8 octets, opened here.
    let mut pkt = SPI.to_be_bytes().to_vec();
    pkt.extend(seq.to_be_bytes());
    pkt.extend(iv);
    let ct = ring_gcm(enc, iv, u64::from(seq), &plain);
    pkt.extend(&ct[..ct.len() - 8]);
    // A forgery anywhere after the SPI is refused and leaves the packet as
    // it came.
    for at in [4 + seq as usize % (pkt.len() - 4), pkt.len() - 1] {
        let mut bad = pkt.clone();
        bad[at] ^= 0x01;
        let before = bad.clone();
        assert_eq!(inb.open(&mut bad), Err(OpenError::BadIcv), "flip at {at}");
        assert_eq!(bad, before, "a refused packet is left as it came");
    }
    assert_eq!(open_payload(&inb, pkt).unwrap(), payload);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn gcm8_is_ring_gcm_with_the_tag_cut_to_8_octets(
        enc in proptest::collection::vec(any::<u8>(), 20),
        payload in proptest::collection::vec(any::<u8>(), 0..3000),
        seq in 2u32..1000,
        iv in any::<[u8; 8]>(),
    ) {
        gcm8_case(&enc, &payload, seq, iv);
    }

    #[test]
    fn cbc_suites_match_block_at_a_time_cbc_and_ring_hmac(
        keys in proptest::collection::vec(any::<u8>(), 64),
        payload in proptest::collection::vec(any::<u8>(), 0..3000),
        seq in 2u32..1000,
    ) {
        for suite in CBC {
            cbc_case(suite, &keys, &payload, seq);
        }
    }
}
