//! Inbound HIP control packets (raw IP 139, or UDP 10500 with the 32-bit zero
//! marker of RFC 5770 section 5.1): cheap header checks and access control
//! before handing the packet to the protocol engine.
use hip_proto::Hit;

/// Why a control packet was dropped before the engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Precheck {
    #[error("truncated HIP header ({0} bytes)")]
    Truncated(usize),
    #[error("HIP header length field {0} does not match {1} bytes")]
    BadLength(usize, usize),
}

/// Reads the Sender's HIT of a HIP packet (RFC 7401 section 5.1: fixed header,
/// HIT at bytes 8..24, length in 8-octet units not counting the first 8).
/// Only the fixed header is checked here; full parsing is the engine's job.
pub fn sender_hit(pkt: &[u8]) -> Result<Hit, Precheck> {
    if pkt.len() < 40 {
        return Err(Precheck::Truncated(pkt.len()));
    }
    let len = (usize::from(pkt[1]) + 1) * 8;
    if len > pkt.len() {
        return Err(Precheck::BadLength(len, pkt.len()));
    }
    let mut h = [0u8; 16];
    h.copy_from_slice(&pkt[8..24]);
    Ok(Hit(h))
}

/// Splits a UDP 10500 datagram: `Ok(Some(hip))` for a control packet (zero
/// marker stripped), `Ok(None)` for ESP (non-zero SPI), Err if too short.
pub fn udp_demux(d: &[u8]) -> Result<Option<&[u8]>, Precheck> {
    if d.len() < 4 {
        return Err(Precheck::Truncated(d.len()));
    }
    Ok(if d[..4] == [0, 0, 0, 0] {
        Some(&d[4..])
    } else {
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prechecks() {
        let mut p = vec![0u8; 40];
        p[1] = 4;
        p[8] = 0x20;
        assert_eq!(sender_hit(&p).unwrap().0[0], 0x20);
        p[1] = 5;
        assert_eq!(sender_hit(&p), Err(Precheck::BadLength(48, 40)));
        assert!(sender_hit(&p[..39]).is_err());
        assert_eq!(udp_demux(&[0, 0, 0, 0, 9]).unwrap(), Some(&[9u8][..]));
        assert_eq!(udp_demux(&[0, 0, 0, 1, 9]).unwrap(), None);
        assert!(udp_demux(&[0]).is_err());
    }
}
