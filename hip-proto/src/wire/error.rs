//! Typed errors for HIP packet parsing and emission.

/// Why a HIP packet or parameter was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("buffer too short: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    #[error("HIP header length {header} does not match the {buffer}-byte packet")]
    BadLength { header: usize, buffer: usize },
    #[error("fixed header bits are wrong (RFC 7401 section 5.1)")]
    BadFixedBits,
    #[error("HIP version {0} is not supported")]
    UnsupportedVersion(u8),
    #[error("HIP checksum mismatch (got {got:#06x}, expected {expected:#06x})")]
    BadChecksum { got: u16, expected: u16 },
    #[error("parameter {ty} is out of order after parameter {prev} (RFC 7401 section 5.2.1)")]
    ParamOrder { prev: u16, ty: u16 },
    #[error("unknown critical parameter {0} (RFC 7401 section 5.2.1)")]
    UnknownCriticalParam(u16),
    #[error("parameter {ty} is truncated")]
    ParamTruncated { ty: u16 },
    #[error("parameter {ty} is malformed: {reason}")]
    Malformed { ty: u16, reason: &'static str },
    #[error("packet would exceed the maximum HIP packet length (2008 bytes of parameters)")]
    TooLong,
    #[error("parameter {0} not found")]
    MissingParam(u16),
}

/// Result alias for the wire module.
pub type Result<T> = core::result::Result<T, Error>;
