//! Watching the host's addresses (rtnetlink, RTMGRP_IPV4_IFADDR and
//! RTMGRP_IPV6_IFADDR) so that a changed locator is announced to every peer
//! at once (RFC 8046 section 3.2.1; the mobile host's side).
//!
//! Any address notification (a new address, or DAD finishing on one) triggers
//! a rescan ([`crate::local_locators`]). So do changes of routes and policy
//! rules (RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_ROUTE, RTMGRP_IPV4_RULE,
//! RTNLGRP_IPV6_RULE): whether an address's traffic is routed into another
//! tunnel is decided by them. A lost notification (the socket's buffer
//! overflowed: ENOBUFS) counts as a change.
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;

const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;
const RTMGRP_IPV4_ROUTE: u32 = 0x40;
const RTMGRP_IPV4_RULE: u32 = 0x80;
const RTMGRP_IPV6_ROUTE: u32 = 0x400;
/// RTNLGRP_IPV6_RULE (19) has no RTMGRP_ constant: bit 19 - 1.
const RTMGRP_IPV6_RULE: u32 = 1 << (19 - 1);

/// The multicast groups the watcher joins.
pub const GROUPS: u32 = RTMGRP_IPV4_IFADDR
    | RTMGRP_IPV6_IFADDR
    | RTMGRP_IPV4_ROUTE
    | RTMGRP_IPV6_ROUTE
    | RTMGRP_IPV4_RULE
    | RTMGRP_IPV6_RULE;

/// A netlink socket subscribed to address, route and rule changes.
pub struct AddrWatch {
    fd: AsyncFd<OwnedFd>,
}

impl AddrWatch {
    /// Opens and binds the netlink socket.
    pub fn open() -> std::io::Result<Self> {
        // SAFETY: plain socket(2).
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fresh descriptor, owned from here on.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: zeroed sockaddr_nl is valid; we set family and groups.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as u16;
        sa.nl_groups = GROUPS;
        // SAFETY: sa is a valid sockaddr_nl of the given size.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the OwnedFd moves into the AsyncFd and is closed only when it drops.
        let fd = unsafe { AsyncFd::register(fd)? };
        Ok(AddrWatch { fd })
    }

    /// Waits for the next batch of notifications (their content is not
    /// needed: the caller rescans).
    pub async fn changed(&self) -> std::io::Result<()> {
        let mut buf = [0u8; 8192];
        loop {
            let mut g = self.fd.readable().await?;
            let mut got = false;
            loop {
                // SAFETY: buf is valid for its length.
                let n = unsafe {
                    libc::recv(
                        self.fd.get_ref().as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        0,
                    )
                };
                if n > 0 {
                    got = true;
                    continue;
                }
                if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOBUFS) {
                    // Notifications were lost: something changed.
                    got = true;
                    continue;
                }
                break;
            }
            g.clear_ready();
            if got {
                return Ok(());
            }
        }
    }
}

/// Is `a` usable as a HIP locator? The rules a peer's locator must pass
/// ([`crate::locator_rules::check_peer_locator`]), so that this host never
/// announces an address its peers would refuse: not unspecified, loopback,
/// multicast, broadcast, link-local, a HIT, inside the LSI prefix, or an
/// IPv4-mapped form of one of these.
pub fn usable(a: IpAddr, lsi_prefix: (std::net::Ipv4Addr, u8)) -> bool {
    crate::locator_rules::check_peer_locator(a, Some(lsi_prefix), &[]).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watcher_joins_the_kernel_groups() {
        assert_eq!(RTMGRP_IPV4_IFADDR, libc::RTMGRP_IPV4_IFADDR as u32);
        assert_eq!(RTMGRP_IPV6_IFADDR, libc::RTMGRP_IPV6_IFADDR as u32);
        assert_eq!(RTMGRP_IPV4_ROUTE, libc::RTMGRP_IPV4_ROUTE as u32);
        assert_eq!(RTMGRP_IPV6_ROUTE, libc::RTMGRP_IPV6_ROUTE as u32);
        assert_eq!(RTMGRP_IPV4_RULE, libc::RTMGRP_IPV4_RULE as u32);
        assert_eq!(RTMGRP_IPV6_RULE, 1 << (libc::RTNLGRP_IPV6_RULE - 1));
    }

    #[test]
    fn usable_locators() {
        let lsi = (std::net::Ipv4Addr::new(1, 0, 0, 0), 8);
        for (a, ok) in [
            ("192.0.2.1", true),
            ("2001:db8::1", true),
            ("127.0.0.1", false),
            ("1.0.0.2", false),
            ("169.254.1.1", false),
            ("fe80::1", false),
            ("::1", false),
            ("2001:20::1", false),
            ("2001:10::1", false),
            ("224.0.0.1", false),
            ("255.255.255.255", false),
            ("ff02::1", false),
            ("0.1.2.3", false),
            ("::ffff:127.0.0.1", false),
        ] {
            assert_eq!(usable(a.parse().unwrap(), lsi), ok, "{a}");
        }
    }
}
