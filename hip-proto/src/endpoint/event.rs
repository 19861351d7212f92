//! What the endpoint hands to the caller: packets to transmit, events and the
//! negotiated ESP parameters (RFC 7401 section 6.9-6.10, RFC 7402 sections 5-7).

use std::net::IpAddr;

use crate::registry::{EspTransformId, HipCipherId, HipTransformId, Version};
use crate::Hit;

/// A locator (IP address) of a HIP host.
pub type Locator = IpAddr;

/// A packet to transmit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Source locator.
    pub src: Locator,
    /// Destination locator.
    pub dst: Locator,
    /// Peer UDP port when the packet goes over UDP (RFC 5770 section 5.1; our
    /// side uses port 10500), `None` for raw IP protocol 139.
    pub udp_port: Option<u16>,
    /// The HIP packet (IP payload, or UDP payload after the 4-octet zero marker).
    pub bytes: Vec<u8>,
}

/// Keys of one ESP SA (RFC 7402 section 7: encryption key then authentication key).
#[derive(Clone, PartialEq, Eq)]
pub struct EspSaKeys {
    /// Encryption key.
    pub enc: Vec<u8>,
    /// Integrity key.
    pub auth: Vec<u8>,
}

impl core::fmt::Debug for EspSaKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "EspSaKeys {{ enc: {} bytes, auth: {} bytes }}",
            self.enc.len(),
            self.auth.len()
        )
    }
}

impl Drop for EspSaKeys {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.enc.zeroize();
        self.auth.zeroize();
    }
}

/// Negotiated ESP parameters of an association.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspParams {
    /// ESP transform suite.
    pub suite: EspTransformId,
    /// SPI the peer puts on packets it sends to us.
    pub spi_in: u32,
    /// SPI we put on packets to the peer.
    pub spi_out: u32,
    /// Keys for inbound packets.
    pub keys_in: EspSaKeys,
    /// Keys for outbound packets.
    pub keys_out: EspSaKeys,
    /// KEYMAT index after drawing these keys (the next ESP_INFO KEYMAT index).
    pub keymat_index: u16,
}

/// The negotiated HIP suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HipSuite {
    /// v2: HIP_CIPHER.
    V2(HipCipherId),
    /// v1: HIP_TRANSFORM.
    V1(HipTransformId),
}

/// Why an association failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// I1 retries exhausted.
    I1Timeout,
    /// I2 retries exhausted.
    I2Timeout,
    /// UPDATE retries exhausted.
    UpdateTimeout,
    /// Negotiation failed locally.
    Negotiation(super::negotiate::NegotiationError),
    /// The peer sent a NOTIFY with this error type.
    PeerNotify(u16),
    /// The peer's R1 failed verification.
    InvalidR1,
}

/// Events for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The base exchange completed.
    Established {
        /// Peer HIT.
        peer_hit: Hit,
        /// Local HIT.
        local_hit: Hit,
        /// HIP version.
        version: Version,
        /// Negotiated HIP suite.
        hip: HipSuite,
        /// ESP parameters.
        esp: EspParams,
        /// Our locator for the association.
        local_locator: Locator,
        /// The peer's locator.
        peer_locator: Locator,
        /// Peer UDP port when HIP and ESP go over UDP.
        udp_port: Option<u16>,
    },
    /// A rekey is under way: the new inbound SA can be installed now, before
    /// the peer starts using it (RFC 7402 section 6.9).
    InboundSaReady {
        /// Peer HIT.
        peer_hit: Hit,
        /// ESP suite.
        suite: EspTransformId,
        /// The new inbound SPI.
        spi: u32,
        /// Its keys.
        keys: EspSaKeys,
    },
    /// New ESP SAs after an UPDATE rekey.
    Rekeyed {
        /// Peer HIT.
        peer_hit: Hit,
        /// Local HIT.
        local_hit: Hit,
        /// New ESP parameters.
        esp: EspParams,
    },
    /// The peer's preferred locator changed.
    LocatorChanged {
        /// Peer HIT.
        peer_hit: Hit,
        /// New locator.
        locator: Locator,
    },
    /// The peer answered a heartbeat ([`crate::endpoint::Endpoint::heartbeat`])
    /// at the locator in use: the path works even if no data comes back
    /// (RFC 8046 section 5.4: ECHO_RESPONSE_SIGNED verifies reachability).
    PathConfirmed {
        /// Peer HIT.
        peer_hit: Hit,
        /// The locator in use, now confirmed.
        locator: Locator,
    },
    /// The peer announced a new locator that is being verified; until then
    /// data may go there only within a credit (RFC 8046 section 3.3.2).
    LocatorUnverified {
        /// Peer HIT.
        peer_hit: Hit,
        /// The announced, not yet verified locator.
        locator: Locator,
    },
    /// A locator of the peer that was being verified never answered its
    /// ECHO_REQUEST_SIGNED (RFC 8046 section 5.4): it is not used; the
    /// association stays at its verified locator. After a base exchange
    /// through a relay this means no direct path was found (both NATs map
    /// per destination, or a firewall): ESP to the peer still goes to the
    /// relay, which does not forward it (no Data Relay).
    LocatorRejected {
        /// Peer HIT.
        peer_hit: Hit,
        /// The locator that did not answer.
        locator: Locator,
        /// The association's locator, where packets keep going.
        current: Locator,
    },
    /// Our locator for the association changed (we announced it with UPDATE).
    LocalLocatorChanged {
        /// Peer HIT.
        peer_hit: Hit,
        /// Our new locator.
        locator: Locator,
    },
    /// The association was closed (CLOSE/CLOSE_ACK or expiry).
    Closed {
        /// Peer HIT.
        peer_hit: Hit,
    },
    /// The peer's NAT mapping moved to another UDP port at the same address
    /// (RFC 5770 plain UDP; an authenticated packet came from there, see
    /// [`super::udp_mapping`]): send HIP and ESP to `locator`:`udp_port`.
    UdpPortChanged {
        /// Peer HIT.
        peer_hit: Hit,
        /// The peer's (verified) address.
        locator: IpAddr,
        /// Its UDP port now.
        udp_port: u16,
    },
    /// Data Relay Client (RFC 9028 section 4.12): ESP to the peer goes to
    /// our Data Relay at `relay` (which forwards it on the permission we
    /// asked for) until [`Event::UdpPortChanged`] names the peer's own
    /// transport address again.
    EspRelayed {
        /// Peer HIT.
        peer_hit: Hit,
        /// The relay's transport address.
        relay: std::net::SocketAddr,
    },
    /// Data Relay Server (RFC 9028 section 4.12.1): the ESP forwarding
    /// rules changed; read them again with
    /// [`crate::endpoint::Endpoint::relay_forwards`].
    RelayForwardsChanged,
    /// The peer sent a NOTIFY (RFC 7401 section 6.13: informational, no state change).
    Notified {
        /// Peer HIT.
        peer_hit: Hit,
        /// Notify Message Type.
        code: crate::wire::NotifyMessageType,
        /// Notification Data.
        data: Vec<u8>,
        /// The signature was verified with the peer's known Host Identity.
        authenticated: bool,
    },
    /// A registration changed, on the registrar or the requester side (RFC 8003).
    Registration(super::registration::RegistrationEvent),
    /// The association failed.
    Failed {
        /// Peer HIT.
        peer_hit: Hit,
        /// Why.
        reason: FailReason,
    },
}
