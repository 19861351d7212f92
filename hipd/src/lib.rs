//! hipd: the HIP daemon (TUN device, HIT/LSI to locator mapping, base
//! exchange, userspace ESP). The daemon itself is issue 5; this crate holds
//! the pieces of it that exist so far.
//!
//! * [`identity_store`]: host identities on disk (PKCS#8 PEM, mode 0600).

pub mod identity_store;
