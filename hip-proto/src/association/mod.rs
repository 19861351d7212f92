//! HIP association state machine (to be written)
