//! The Internet checksum (RFC 1071) with RFC 1624 style incremental helpers.
//!
//! Sums 32-bit big-endian words into a 64-bit accumulator and folds at the
//! end: since 2^32 ≡ 2^16 ≡ 1 (mod 0xffff) this equals the 16-bit one's
//! complement sum, with one addition per 4 octets.

/// Adds `data` (as big-endian 16-bit words, odd tail padded with zero) to the
/// unfolded accumulator `acc`. `data` must start at an even offset of the
/// checksummed region for the result to be meaningful.
#[inline]
pub fn add(mut acc: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    acc + u64::from(u32::from_be_bytes(tail))
}

/// Folds an accumulator into a 16-bit one's complement sum (not inverted).
#[inline]
pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The unfolded pseudo-header sum for TCP/UDP over IPv4 (RFC 793 section
/// 3.1, RFC 768) or IPv6 (RFC 8200 section 8.1): addresses, protocol and
/// transport length. `src` and `dst` are both 4 or both 16 octets.
#[inline]
pub fn pseudo_header(src: &[u8], dst: &[u8], proto: u8, len: u32) -> u64 {
    add(add(0, src), dst) + u64::from(proto) + u64::from(len)
}

/// The value to store in a checksum field: the inverted fold, with 0 sent as
/// 0xffff as Linux `skb_checksum_help` does (`CSUM_MANGLED_0`), which is the
/// same in one's complement and keeps UDP from reading it as "no checksum".
#[inline]
pub fn finish(acc: u64) -> u16 {
    match !fold(acc) {
        0 => 0xffff,
        c => c,
    }
}
