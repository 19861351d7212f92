//! Shared helpers for hipconf and hip-inspect.
