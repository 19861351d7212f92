//! What may be a peer's locator and what may be a peer's HIT: one set of rules
//! for every way a peer gets into the peer database (hosts file, `peers.json`,
//! `hipconf daemon add map`, and any later source such as DNS), all of which go
//! through [`crate::peer_db::PeerDb::upsert`].
//!
//! A locator is an address HIP and ESP packets are sent to (RFC 7401 section 3,
//! RFC 8046). Refused, with the reason in [`LocatorError`]:
//!
//! - unspecified: `::` and IPv4 "this network" 0.0.0.0/8 (RFC 6890: valid as a
//!   source only, never as a destination);
//! - loopback: 127.0.0.0/8, `::1` (the packets would come back to this host);
//! - multicast: 224.0.0.0/4, ff00::/8 (a base exchange is with one host);
//! - the IPv4 limited broadcast 255.255.255.255 (a subnet's directed broadcast
//!   address cannot be recognised without its netmask and is not checked);
//! - link-local: 169.254.0.0/16 and fe80::/10. An IPv6 link-local address is
//!   useless without a zone (interface) index, which no locator source carries;
//!   an IPv4 link-local address (RFC 3927) is picked at random per link and can
//!   change with each conflict, and hipd never announces such addresses as its
//!   own locators ([`crate::addr_watch::usable`]), so it does not accept them
//!   from peers either;
//! - a HIT (ORCHIDv1 2001:10::/28, ORCHIDv2 2001:20::/28): HITs are routed
//!   into the TUN device, not onto the network;
//! - an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) of any of the above; mapped
//!   addresses that pass are stored in their IPv4 form, so that the same
//!   locator is not kept twice.
//!
//! With what the peer database knows of this host, also refused: an address in
//! the LSI prefix (routed into the TUN as well) and, once the daemon has told
//! it its addresses, one of this host's own addresses.
//!
//! A peer's HIT must be an ORCHID and must not be one of this host's own HITs.
use hip_proto::Hit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address cannot be a peer's locator. Each variant carries the address
/// as it was given (before any IPv4-mapped form was unwrapped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocatorError {
    #[error("locator {0} is unspecified (:: or 0.0.0.0/8), not a destination")]
    Unspecified(IpAddr),
    #[error("locator {0} is a loopback address")]
    Loopback(IpAddr),
    #[error("locator {0} is a multicast address")]
    Multicast(IpAddr),
    #[error("locator {0} is the IPv4 limited broadcast address")]
    Broadcast(IpAddr),
    #[error("locator {0} is link-local (169.254.0.0/16 or fe80::/10), not usable as a locator")]
    LinkLocal(IpAddr),
    #[error("locator {0} is a HIT (2001:10::/28 or 2001:20::/28), not a routable address")]
    Hit(IpAddr),
    #[error("locator {addr} is inside the LSI prefix {}/{}", prefix.0, prefix.1)]
    InLsiPrefix {
        addr: IpAddr,
        prefix: (Ipv4Addr, u8),
    },
    #[error("locator {0} is one of this host's own addresses")]
    OwnAddress(IpAddr),
}

/// Why a HIT cannot be a peer's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerHitError {
    #[error("{0} is not an ORCHID HIT (2001:10::/28 or 2001:20::/28)")]
    NotOrchid(Hit),
    #[error("{0} is one of this host's own HITs, not a peer")]
    OwnHit(Hit),
}

/// `a` with an IPv4-mapped IPv6 address unwrapped to IPv4.
pub fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(a),
        v4 => v4,
    }
}

fn v4_prefix_contains(a: Ipv4Addr, (p, l): (Ipv4Addr, u8)) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(l)).unwrap_or(0);
    u32::from(a) & mask == u32::from(p) & mask
}

fn is_hit(a: Ipv6Addr) -> bool {
    Hit::from(a).orchid_version().is_some()
}

/// The rules that need nothing but the address. Returns the address to store
/// (IPv4-mapped forms unwrapped).
pub fn check_locator(given: IpAddr) -> Result<IpAddr, LocatorError> {
    let a = canonical(given);
    match a {
        IpAddr::V4(v4) => {
            if v4.octets()[0] == 0 {
                return Err(LocatorError::Unspecified(given));
            }
            if v4.is_loopback() {
                return Err(LocatorError::Loopback(given));
            }
            if v4.is_multicast() {
                return Err(LocatorError::Multicast(given));
            }
            if v4.is_broadcast() {
                return Err(LocatorError::Broadcast(given));
            }
            if v4.is_link_local() {
                return Err(LocatorError::LinkLocal(given));
            }
        }
        IpAddr::V6(v6) => {
            if v6.is_unspecified() {
                return Err(LocatorError::Unspecified(given));
            }
            if v6.is_loopback() {
                return Err(LocatorError::Loopback(given));
            }
            if v6.is_multicast() {
                return Err(LocatorError::Multicast(given));
            }
            if v6.segments()[0] & 0xffc0 == 0xfe80 {
                return Err(LocatorError::LinkLocal(given));
            }
            if is_hit(v6) {
                return Err(LocatorError::Hit(given));
            }
        }
    }
    Ok(a)
}

/// All locator rules: [`check_locator`], then not inside `lsi_prefix` (when
/// given) and not one of `own_addrs` (compared in canonical form; an empty
/// slice means "not known", and skips that rule). Returns the address to store.
pub fn check_peer_locator(
    given: IpAddr,
    lsi_prefix: Option<(Ipv4Addr, u8)>,
    own_addrs: &[IpAddr],
) -> Result<IpAddr, LocatorError> {
    let a = check_locator(given)?;
    if let (IpAddr::V4(v4), Some(prefix)) = (a, lsi_prefix) {
        if v4_prefix_contains(v4, prefix) {
            return Err(LocatorError::InLsiPrefix {
                addr: given,
                prefix,
            });
        }
    }
    if own_addrs.iter().any(|o| canonical(*o) == a) {
        return Err(LocatorError::OwnAddress(given));
    }
    Ok(a)
}

/// A peer's HIT: an ORCHID, and none of `own_hits`.
pub fn check_peer_hit(hit: Hit, own_hits: &[Hit]) -> Result<(), PeerHitError> {
    if hit.orchid_version().is_none() {
        return Err(PeerHitError::NotOrchid(hit));
    }
    if own_hits.contains(&hit) {
        return Err(PeerHitError::OwnHit(hit));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An address and the error it must give.
    type Case = (&'static str, fn(IpAddr) -> LocatorError);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn normal_addresses_pass_unchanged() {
        for a in [
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.254",
            "2001:db8::1",
            "2001:db8:ffff::2",
        ] {
            assert_eq!(check_locator(ip(a)), Ok(ip(a)), "{a}");
            assert_eq!(check_peer_locator(ip(a), None, &[]), Ok(ip(a)), "{a}");
        }
    }

    #[test]
    fn each_class_is_refused_with_its_reason() {
        use LocatorError as E;
        let cases: [Case; 16] = [
            ("0.0.0.0", E::Unspecified),
            ("0.1.2.3", E::Unspecified),
            ("::", E::Unspecified),
            ("127.0.0.1", E::Loopback),
            ("127.1.2.3", E::Loopback),
            ("::1", E::Loopback),
            ("224.0.0.1", E::Multicast),
            ("239.255.255.250", E::Multicast),
            ("ff02::1", E::Multicast),
            ("ff0e::2001:db8:1", E::Multicast),
            ("255.255.255.255", E::Broadcast),
            ("169.254.1.1", E::LinkLocal),
            ("fe80::1", E::LinkLocal),
            ("febf::1", E::LinkLocal),
            ("2001:10::1", E::Hit),
            ("2001:2f:1234::1", E::Hit),
        ];
        for (a, want) in cases {
            assert_eq!(check_locator(ip(a)), Err(want(ip(a))), "{a}");
        }
    }

    #[test]
    fn ipv4_mapped_forms_are_judged_as_ipv4() {
        use LocatorError as E;
        let cases: [Case; 6] = [
            ("::ffff:0.0.0.0", E::Unspecified),
            ("::ffff:127.0.0.1", E::Loopback),
            ("::ffff:224.0.0.5", E::Multicast),
            ("::ffff:255.255.255.255", E::Broadcast),
            ("::ffff:169.254.9.9", E::LinkLocal),
            ("::ffff:0.0.0.1", E::Unspecified),
        ];
        for (a, want) in cases {
            assert_eq!(check_locator(ip(a)), Err(want(ip(a))), "{a}");
        }
        // A good mapped address is stored as plain IPv4.
        assert_eq!(check_locator(ip("::ffff:192.0.2.9")), Ok(ip("192.0.2.9")));
    }

    #[test]
    fn lsi_prefix_and_own_addresses() {
        let lsi = Some((Ipv4Addr::new(198, 18, 0, 0), 15));
        let e = check_peer_locator(ip("198.19.0.5"), lsi, &[]).unwrap_err();
        assert!(matches!(e, LocatorError::InLsiPrefix { .. }));
        assert!(e.to_string().contains("198.18.0.0/15"), "{e}");
        assert!(matches!(
            check_peer_locator(ip("::ffff:198.18.0.1"), lsi, &[]),
            Err(LocatorError::InLsiPrefix { .. })
        ));
        assert_eq!(
            check_peer_locator(ip("198.20.0.1"), lsi, &[]),
            Ok(ip("198.20.0.1"))
        );
        let own = [ip("192.0.2.1"), ip("2001:db8::1")];
        for a in ["192.0.2.1", "::ffff:192.0.2.1", "2001:db8::1"] {
            assert_eq!(
                check_peer_locator(ip(a), lsi, &own),
                Err(LocatorError::OwnAddress(ip(a))),
                "{a}"
            );
        }
        assert_eq!(
            check_peer_locator(ip("192.0.2.2"), lsi, &own),
            Ok(ip("192.0.2.2"))
        );
    }

    #[test]
    fn peer_hits() {
        let h = |s: &str| Hit::from(s.parse::<Ipv6Addr>().unwrap());
        let own = [h("2001:20::1"), h("2001:10::1")];
        assert_eq!(check_peer_hit(h("2001:20::2"), &own), Ok(()));
        assert_eq!(check_peer_hit(h("2001:10::2"), &own), Ok(()));
        assert_eq!(
            check_peer_hit(h("2001:20::1"), &own),
            Err(PeerHitError::OwnHit(h("2001:20::1")))
        );
        assert_eq!(
            check_peer_hit(h("2001:10::1"), &own),
            Err(PeerHitError::OwnHit(h("2001:10::1")))
        );
        assert_eq!(
            check_peer_hit(h("2001:db8::1"), &own),
            Err(PeerHitError::NotOrchid(h("2001:db8::1")))
        );
        assert!(check_peer_hit(Hit::NULL, &[]).is_err());
    }
}
