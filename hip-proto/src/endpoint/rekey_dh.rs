//! A new Diffie-Hellman key in a rekeying UPDATE (RFC 7402 sections 6.8-6.10,
//! RFC 5202 likewise for v1): which DIFFIE_HELLMAN an UPDATE may carry, and the
//! Kij a new KEYMAT is drawn from.
//!
//! * Section 6.9 step 1: an UPDATE with DIFFIE_HELLMAN must carry KEYMAT index 0
//!   in its ESP_INFO; otherwise it is dropped. The value must be of the
//!   association's group (this implementation does not renegotiate the group).
//! * Section 6.10 step 1: with a new key on either side a new KEYMAT is generated;
//!   if only one side has a new key, the other side's existing key is used.
//!
//! Policy here: a host that receives a new key always answers with a new key of
//! its own (section 6.9.1 step 1 leaves that to policy), and with
//! [`Config::rekey_new_dh`](super::Config::rekey_new_dh) it brings a new key to
//! every rekey it starts or answers.

use zeroize::Zeroizing;

use super::counters::DropReason;
use crate::association::Association;
use crate::crypto::dh::{DhKeyPair, DhSecret};
use crate::wire::{DhValue, DiffieHellman, HipRepr, ParamRepr, ParamType};

/// The peer's new public value in a rekeying UPDATE, checked against section 6.9
/// step 1 and the association's group; `None` when the UPDATE carries no
/// DIFFIE_HELLMAN.
pub fn received(repr: &HipRepr, a: &Association) -> Result<Option<Vec<u8>>, DropReason> {
    let Some(ParamRepr::DiffieHellman(dh)) = repr.param(ParamType::DiffieHellman) else {
        return Ok(None);
    };
    let index_zero = matches!(
        repr.param(ParamType::EspInfo),
        Some(ParamRepr::EspInfo(e)) if e.keymat_index == 0
    );
    let group = a.peer_dh.as_ref().map(|v| v.group);
    match dh.values.as_slice() {
        [v] if index_zero && Some(v.group) == group => Ok(Some(v.public.clone())),
        _ => Err(DropReason::BadRekeyDh),
    }
}

/// DIFFIE_HELLMAN carrying our new public value.
pub fn param(ours: &DhKeyPair) -> ParamRepr {
    ParamRepr::DiffieHellman(DiffieHellman {
        values: vec![DhValue {
            group: ours.group(),
            public: ours.public_value().to_vec(),
        }],
        trailing: Vec::new(),
    })
}

/// Kij of a rekey (section 6.10 step 1): `None` when neither side brought a new
/// key (the KEYMAT continues); otherwise the new keys, each side's existing key
/// standing in for a side without one.
pub fn kij(
    ours_new: Option<&DhKeyPair>,
    ours_old: Option<&DhSecret>,
    peer_new: Option<&[u8]>,
    peer_old: Option<&[u8]>,
) -> Result<Option<Zeroizing<Vec<u8>>>, DropReason> {
    if ours_new.is_none() && peer_new.is_none() {
        return Ok(None);
    }
    let ours = ours_new
        .map(DhKeyPair::secret)
        .or(ours_old)
        .ok_or(DropReason::UnexpectedInState)?;
    let peer = peer_new.or(peer_old).ok_or(DropReason::UnexpectedInState)?;
    ours.agree(peer)
        .map(Some)
        .map_err(|_| DropReason::BadRekeyDh)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::dh::random_len;
    use crate::registry::DhGroupId;

    fn pair(seed: u8, group: DhGroupId) -> DhKeyPair {
        let len = random_len(group).expect("len");
        DhKeyPair::from_random(group, &vec![seed; len]).expect("pair")
    }

    /// Every combination of new and existing keys gives the same Kij on both
    /// sides, and the combination section 6.10 names.
    #[test]
    fn both_sides_agree_in_every_combination() {
        for group in [DhGroupId::NistP256, DhGroupId::Modp1536] {
            let (a_old, b_old) = (pair(1, group), pair(2, group));
            let (a_new, b_new) = (pair(3, group), pair(4, group));
            let cases = [(true, true), (true, false), (false, true)];
            for (a_has, b_has) in cases {
                let a_new_opt = a_has.then_some(&a_new);
                let b_new_opt = b_has.then_some(&b_new);
                let ka = kij(
                    a_new_opt,
                    Some(a_old.secret()),
                    b_new_opt.map(|k| k.public_value()),
                    Some(b_old.public_value()),
                )
                .expect("a")
                .expect("new kij");
                let kb = kij(
                    b_new_opt,
                    Some(b_old.secret()),
                    a_new_opt.map(|k| k.public_value()),
                    Some(a_old.public_value()),
                )
                .expect("b")
                .expect("new kij");
                assert_eq!(*ka, *kb, "{group:?} a_new={a_has} b_new={b_has}");
                let expect = a_new_opt
                    .unwrap_or(&a_old)
                    .agree(b_new_opt.unwrap_or(&b_old).public_value())
                    .expect("agree");
                assert_eq!(*ka, *expect);
                let base = a_old.agree(b_old.public_value()).expect("agree");
                assert_ne!(*ka, *base, "a new key gives a new Kij");
            }
            let none = kij(None, Some(a_old.secret()), None, Some(b_old.public_value()));
            assert_eq!(none, Ok(None), "no new key: KEYMAT continues");
        }
    }

    /// Section 6.9 step 1 and the association's group: which DIFFIE_HELLMAN an
    /// UPDATE may carry.
    #[test]
    fn received_value_is_checked() {
        use crate::association::{Driver, Instant};
        use crate::endpoint::{CompatProfile, Config};
        use crate::registry::{PacketType, Version};
        use crate::wire::EspInfo;
        use crate::Hit;
        let (l, p) = (Hit([1; 16]), Hit([2; 16]));
        let cfg = Config::default();
        let loc: std::net::IpAddr = "2001:db8::1".parse().expect("addr");
        let mut a = Association::new(
            Driver::new(l, p, &cfg, Instant(0)),
            Version::V2,
            CompatProfile::Strict,
            loc,
            loc,
        );
        let value = |group| DhValue {
            group,
            public: vec![4; 64],
        };
        let update = |index: Option<u16>, values: Vec<DhValue>| {
            let mut r = HipRepr::new(PacketType::Update, Version::V2, p, l);
            if let Some(keymat_index) = index {
                r.params.push(ParamRepr::EspInfo(EspInfo {
                    reserved: 0,
                    keymat_index,
                    old_spi: 1,
                    new_spi: 2,
                }));
            }
            if !values.is_empty() {
                r.params.push(ParamRepr::DiffieHellman(DiffieHellman {
                    values,
                    trailing: Vec::new(),
                }));
            }
            r
        };
        let p256 = || vec![value(DhGroupId::NistP256)];
        // Before a base exchange there is no group: any value is refused.
        assert_eq!(
            received(&update(Some(0), p256()), &a),
            Err(DropReason::BadRekeyDh)
        );
        a.peer_dh = Some(value(DhGroupId::NistP256));
        assert_eq!(received(&update(Some(0), vec![]), &a), Ok(None));
        assert_eq!(
            received(&update(Some(0), p256()), &a),
            Ok(Some(vec![4; 64]))
        );
        for bad in [
            update(Some(72), p256()),
            update(None, p256()),
            update(Some(0), vec![value(DhGroupId::NistP384)]),
            update(
                Some(0),
                vec![value(DhGroupId::NistP256), value(DhGroupId::NistP256)],
            ),
        ] {
            assert_eq!(received(&bad, &a), Err(DropReason::BadRekeyDh));
        }
    }

    #[test]
    fn invalid_peer_value_is_a_drop() {
        let a = pair(1, DhGroupId::NistP256);
        let bad = vec![0u8; 64];
        assert_eq!(
            kij(Some(&a), None, Some(&bad), None),
            Err(DropReason::BadRekeyDh)
        );
    }
}
