//! HIP wire format (to be written)
