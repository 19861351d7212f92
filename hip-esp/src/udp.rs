//! ESP and HIP over UDP (RFC 3948 framing as RFC 5770 section 5.1 and
//! RFC 9028 use it on port 10500): a HIP control packet follows a 32-bit
//! zero marker; anything else with a non-zero first word is ESP (an SPI is
//! never zero); a single 0xFF octet is a NAT keepalive (RFC 3948 section 2.3).

/// The port RFC 5770 and RFC 9028 assign.
pub const HIP_UDP_PORT: u16 = 10500;
/// Non-ESP marker before HIP control packets.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// What a UDP payload on port 10500 carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpPayload<'a> {
    /// A HIP control packet (marker removed).
    Hip(&'a [u8]),
    /// An ESP packet from the SPI on.
    Esp(&'a [u8]),
    /// A NAT keepalive.
    Keepalive,
    /// Too short to be either.
    Malformed,
}

/// Classify a UDP payload.
pub fn classify(payload: &[u8]) -> UdpPayload<'_> {
    match payload {
        [0xff] => UdpPayload::Keepalive,
        [0, 0, 0, 0, hip @ ..] if hip.len() >= 40 => UdpPayload::Hip(hip),
        [0, 0, 0, 0, ..] => UdpPayload::Malformed,
        esp if esp.len() >= 8 => UdpPayload::Esp(esp),
        _ => UdpPayload::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_tells_hip_from_esp() {
        let mut hip = vec![0u8; 44];
        hip[4] = 59;
        assert_eq!(classify(&hip), UdpPayload::Hip(&hip[4..]));
        assert_eq!(classify(&[0, 0, 0, 0, 1]), UdpPayload::Malformed);
        let esp = [0, 0, 0, 1, 0, 0, 0, 1, 9];
        assert_eq!(classify(&esp), UdpPayload::Esp(&esp));
        assert_eq!(classify(&[0xff]), UdpPayload::Keepalive);
        assert_eq!(classify(&[1, 2]), UdpPayload::Malformed);
        assert_eq!(classify(&[]), UdpPayload::Malformed);
    }
}
