//! Property tests over the state machine driver (RFC 7401 section 4.4): random
//! input sequences never panic and never reach ESTABLISHED without a valid exchange;
//! random SOLUTIONs are never accepted.

use hip_proto::endpoint::fuzz::drive_state_machine;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn random_sequences_keep_invariants(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        drive_state_machine(&data);
    }
}
