use super::*;
use crate::crypto::dh::{random_len, supported_groups, DhKeyPair};

fn fill(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|n| seed.wrapping_mul(31).wrapping_add(n as u8).wrapping_mul(7) | 1)
        .collect()
}

/// Both sides of every (version x DH group x HIP suite x ESP suite) derive mirrored
/// ESP keys and SPIs from their own DH key pair and the peer's public value.
#[test]
fn both_sides_derive_mirrored_keys_for_every_combination() {
    let hit_i = Hit([0x20, 0x01, 0x00, 0x21, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 1]);
    let hit_r = Hit([0x20, 0x01, 0x00, 0x21, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 2]);
    let mut combos = 0;
    for &group in supported_groups() {
        let len = random_len(group).expect("supported group has a length");
        let a = DhKeyPair::from_random(group, &fill(1, len)).expect("key pair");
        let b = DhKeyPair::from_random(group, &fill(2, len)).expect("key pair");
        let kij_a = a.agree(b.public_value()).expect("agree");
        let kij_b = b.agree(a.public_value()).expect("agree");
        assert_eq!(kij_a, kij_b);
        for v1 in [false, true] {
            let suites: Vec<HipSuite> = if v1 {
                vec![
                    HipSuite::V1(HipTransformId::AesCbcHmacSha1),
                    HipSuite::V1(HipTransformId::NullHmacSha1),
                ]
            } else {
                HIP_CIPHERS.iter().map(|c| HipSuite::V2(*c)).collect()
            };
            let (rhash, ij_len) = if v1 {
                (Rhash::Sha1, 8)
            } else {
                (Rhash::Sha256, 32)
            };
            let (i, j) = (fill(3, ij_len), fill(4, ij_len));
            for hip in suites {
                for esp in ESP_SUITES {
                    let mk = |local, kij: &[u8], spi_in, spi_out| {
                        derive(
                            &KeyInput {
                                rhash,
                                kij,
                                i: &i,
                                j: &j,
                                hit_i,
                                hit_r,
                                local,
                                hip,
                                esp,
                                spi_in,
                                spi_out,
                            },
                            v1,
                        )
                        .expect("derive")
                    };
                    let mut ini = mk(hit_i, &kij_a, 0x1111, 0x2222);
                    let mut res = mk(hit_r, &kij_b, 0x2222, 0x1111);
                    assert_eq!((ini.local(), ini.peer()), (hit_i, hit_r));
                    assert_eq!((res.local(), res.peer()), (hit_r, hit_i));
                    let (ie, re) = (ini.hand_over_esp(), res.hand_over_esp());
                    assert_eq!(ie.keys_out, re.keys_in, "{group:?} {hip:?} {esp:?}");
                    assert_eq!(ie.keys_in, re.keys_out);
                    assert_ne!(ie.keys_in, ie.keys_out);
                    assert_eq!((ie.spi_out, ie.spi_in), (re.spi_in, re.spi_out));
                    assert_eq!(ie.keymat_index, re.keymat_index);
                    // Handed over: no copy stays.
                    assert!(ini.hand_over_esp().keys_in.enc.is_empty());
                    assert_eq!(ini.hip_keys().0, res.hip_keys().1);
                    combos += 1;
                }
            }
        }
    }
    assert_eq!(
        combos,
        supported_groups().len() * (3 + 2) * ESP_SUITES.len()
    );
}

#[test]
fn rekey_continues_the_keymat_and_matches_on_both_sides() {
    let (hit_i, hit_r) = (Hit([5; 16]), Hit([6; 16]));
    let kij = fill(9, 32);
    let (i, j) = (fill(1, 32), fill(2, 32));
    let hip = HipSuite::V2(HipCipherId::Aes128Cbc);
    let esp = EspTransformId::Aes128CbcHmacSha256;
    let input = |local| KeyInput {
        rhash: Rhash::Sha256,
        kij: &kij,
        i: &i,
        j: &j,
        hit_i,
        hit_r,
        local,
        hip,
        esp,
        spi_in: 1,
        spi_out: 2,
    };
    let mut a = derive(&input(hit_i), false).expect("derive");
    let mut b = derive(&input(hit_r), false).expect("derive");
    let next = a.next_index as u16;
    assert_eq!(next, a.esp.keymat_index + 2 * (16 + 32));
    let first = a.hand_over_esp();
    let ra = rekey_from_keymat(&mut a, None, next, 3, 4).expect("rekey");
    let rb = rekey_from_keymat(&mut b, None, next, 4, 3).expect("rekey");
    assert_eq!(ra.keys_out, rb.keys_in);
    assert_ne!(ra.keys_out, first.keys_out, "new keys");
}

/// RFC 7402 section 6.10: a rekey with a new Kij draws the four ESP keys from
/// index 0 of a fresh KEYMAT (same HITs, #I, J), in the order SA-gl enc, SA-gl
/// auth, SA-lg enc, SA-lg auth; the HIP keys are not redrawn.
#[test]
fn rekey_with_new_kij_draws_esp_keys_from_index_zero() {
    let kij = [7u8; 48];
    let new_kij = [9u8; 48];
    let (i, j) = ([3u8; 16], [4u8; 16]);
    let hit_i = Hit([0x20, 1, 0, 0x10, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 1]);
    let hit_r = Hit([0x20, 1, 0, 0x10, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 2]);
    for v1 in [false, true] {
        let input = |local| KeyInput {
            rhash: if v1 { Rhash::Sha1 } else { Rhash::Sha256 },
            kij: &kij,
            i: &i,
            j: &j,
            hit_i,
            hit_r,
            local,
            hip: if v1 {
                HipSuite::V1(HipTransformId::AesCbcHmacSha1)
            } else {
                HipSuite::V2(HipCipherId::Aes128Cbc)
            },
            esp: EspTransformId::Aes128CbcHmacSha1,
            spi_in: 1,
            spi_out: 2,
        };
        let mut a = derive(&input(hit_i), v1).expect("derive");
        let mut b = derive(&input(hit_r), v1).expect("derive");
        let hip_before = a.hip.clone();
        let fresh = || Some(Zeroizing::new(new_kij.to_vec()));
        let preview = esp_keys_at(&a, Some(&new_kij), 0).expect("preview");
        let ra = rekey_from_keymat(&mut a, fresh(), 0, 3, 4).expect("rekey");
        let rb = rekey_from_keymat(&mut b, fresh(), 0, 4, 3).expect("rekey");
        assert_eq!(&a.kij[..], &new_kij[..], "the new Kij is kept");
        assert_eq!(ra.keys_out, rb.keys_in);
        assert_eq!(ra.keys_in, rb.keys_out);
        assert_eq!(
            (preview.0, preview.1),
            (ra.keys_out.clone(), ra.keys_in.clone())
        );
        assert_eq!(a.hip, hip_before, "HIP keys are kept");
        assert_eq!(a.next_index, 2 * (16 + 20));
        // Independent computation: KEYMAT from the new Kij, drawn from 0.
        let km = if v1 {
            Keymat::v1(&new_kij, &hit_i, &hit_r, &i, &j, 128)
        } else {
            Keymat::v2(Rhash::Sha256, &new_kij, &hit_i, &hit_r, &i, &j, 128).expect("km")
        };
        // hit_i is the greater HIT: its outbound keys are SA-gl, the first two.
        assert_eq!(&ra.keys_out.enc[..], km.get(0, 16).expect("gl enc"));
        assert_eq!(&ra.keys_out.auth[..], km.get(16, 20).expect("gl auth"));
        assert_eq!(&ra.keys_in.enc[..], km.get(36, 16).expect("lg enc"));
        assert_eq!(&ra.keys_in.auth[..], km.get(52, 20).expect("lg auth"));
    }
}

#[test]
fn unsupported_suites_are_errors() {
    let kij = [1u8; 32];
    let h = Hit([1; 16]);
    let mut input = KeyInput {
        rhash: Rhash::Sha256,
        kij: &kij,
        i: &[0; 32],
        j: &[0; 32],
        hit_i: h,
        hit_r: Hit([2; 16]),
        local: h,
        hip: HipSuite::V2(HipCipherId::TripleDesCbc),
        esp: EspTransformId::Aes128CbcHmacSha1,
        spi_in: 1,
        spi_out: 2,
    };
    assert!(matches!(derive(&input, false), Err(KeyError::HipSuite(_))));
    input.hip = HipSuite::V2(HipCipherId::Aes128Cbc);
    input.esp = EspTransformId::Unknown(999);
    assert!(matches!(derive(&input, false), Err(KeyError::EspSuite(_))));
}
