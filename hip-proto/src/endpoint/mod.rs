//! HIP endpoint: local identities, R1 generation, policy (to be written)
