//! Fuzz the HIP state machine (RFC 7401 section 4.4): arbitrary sequences of
//! inputs, clock advances and SOLUTION checks must never panic, never reach
//! ESTABLISHED without a valid R2 (or from R2-SENT), and never accept a forged
//! SOLUTION. The invariants are asserted inside the entry function.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hip_proto::endpoint::fuzz::drive_state_machine(data);
});
