//! Fuzz inbound ESP processing: SPI lookup, replay check, ICV verification,
//! decryption and trailer parsing must drop bad packets without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hip_esp::table::fuzz_open(data);
});
