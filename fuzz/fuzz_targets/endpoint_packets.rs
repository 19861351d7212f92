//! Fuzz a real HIP endpoint with arbitrary packets (RFC 7401 sections 5-6): a
//! responder and an initiator in I1-SENT receive every packet; nothing may
//! panic, establish an association or leave per-peer state at the responder.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hip_proto::endpoint::fuzz::drive_endpoint(data);
});
