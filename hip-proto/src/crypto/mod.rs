//! The HIP cryptographic suite (RFC 7401 sections 3, 4.1.2, 5.2, 6.5; RFC 5201 for v1).

pub mod cipher;
pub mod dh;
pub mod hi;
pub mod keymat;
pub mod mac;
pub mod orchid;
pub mod puzzle;
pub mod rhash;
pub mod sign;
