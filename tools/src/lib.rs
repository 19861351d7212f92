//! Shared code of the hipr command-line tools.
//!
//! * [`inspect`]: decode and verify the HIP packets of a pcap (`hip-inspect`).

pub mod inspect;
