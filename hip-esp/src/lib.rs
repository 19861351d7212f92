//! BEET-mode ESP in userspace (RFC 7402, RFC 4303).
