//! Fuzz the pcap reader, the frame decoder and hip-inspect's checks
//! (HOST_ID parsing, HIT, puzzle and signature verification) on arbitrary
//! capture files.
#![no_main]

use hip_tools::inspect::{inspect_pcap, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = inspect_pcap(data, &Options::default());
});
