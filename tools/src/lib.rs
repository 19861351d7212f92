//! Shared code of the hipr command-line tools.
//!
//! * [`inspect`]: decode and verify the HIP packets of a pcap (`hip-inspect`).
//! * [`load`]: many initiators against one hipd (`hip-load`).

pub mod inspect;
pub mod load;
