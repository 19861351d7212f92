//! Counters with named drop reasons (RFC 7401 section 4.1.1: the responder must
//! shed load cheaply and observably; section 6 lists the checks in order).

/// Why an inbound packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not a parsable HIP packet.
    Malformed,
    /// Checksum mismatch (RFC 7401 section 6.1).
    BadChecksum,
    /// HIP version not enabled.
    UnsupportedVersion,
    /// Receiver HIT is not one of ours (RFC 7401 section 6.1).
    NotForUs,
    /// No association exists for a packet that needs one (RFC 7401 section 6.1, 4.4.2 "ANY OTHER").
    UnknownAssociation,
    /// Packet type not acceptable in the current state (RFC 7401 section 4.4.2).
    UnexpectedInState,
    /// I2 puzzle solution wrong or its #I not derivable from a live secret (section 6.9, step 3-5).
    BadPuzzle,
    /// HIP_MAC / HIP_MAC_2 mismatch.
    BadMac,
    /// HIP_SIGNATURE / HIP_SIGNATURE_2 invalid.
    BadSignature,
    /// HIT does not match the HOST_ID (section 6.9 / 6.8).
    HitMismatch,
    /// Older R1_COUNTER, stale SEQ, replayed ACK, replayed R2 or CLOSE_ACK.
    Replay,
    /// Local policy rejected the peer.
    Policy,
    /// No acceptable proposal (a NOTIFY was sent).
    Negotiation,
    /// CLOSE/UPDATE from a host that is not the association's peer.
    NotPeer,
    /// UPDATE with DIFFIE_HELLMAN but a non-zero KEYMAT index, another group
    /// than the association's, or an invalid public value (RFC 7402 section 6.9).
    BadRekeyDh,
    /// A parameter with the critical bit set whose type we do not know (RFC
    /// 7401 section 5.2.1: the packet MUST be dropped); a NOTIFY
    /// UNSUPPORTED_CRITICAL_PARAMETER_TYPE was sent unless rate-limited.
    UnknownCriticalParam,
    /// An I2 whose puzzle solution was accepted before (RFC 7401 sections
    /// 4.1.1 and 6.9: a solution is good for one exchange), or a copy of the
    /// association's own I2 from another locator or after the association
    /// left R2-SENT / ESTABLISHED.
    I2Replayed,
    /// An I2 refused because its R1 generation's set of spent solutions is
    /// full (memory stays bounded; the next rotation starts a new set).
    I2SpentSetFull,
    /// An I1 not answered because the R1 budget toward its source address
    /// ([`crate::endpoint::Config::r1_per_destination`]) or the endpoint-wide
    /// one ([`crate::endpoint::Config::r1_global`]) is spent (RFC 7401
    /// sections 4.1.1 and 5.4).
    R1RateLimited,
    /// An I1 for a HIT that is not ours and has no live rendezvous
    /// registration here (RFC 8004 section 4.3.2: the RVS drops it).
    NotRegistered,
    /// A relayed I1 whose RVS_HMAC is missing or does not verify with any
    /// rendezvous server association (RFC 8004 section 4.3.2).
    BadRvsHmac,
    /// An I1 for a rendezvous client not relayed: the relay budget
    /// ([`crate::endpoint::RegistrarConfig::relay_rate`]) is spent.
    RelayRateLimited,
    /// A NOTIFY from a peer not verified because the endpoint-wide budget of
    /// NOTIFY signature checks ([`crate::endpoint::Config::notify_verify`])
    /// is spent: NOTIFY carries no HIP_MAC (RFC 7401 section 5.3.6), so
    /// each forged one would cost a public-key operation.
    NotifyVerifyRateLimited,
    /// A packet with RELAY_FROM or RELAY_TO whose RELAY_HMAC is missing or
    /// does not verify with the key of a relay association (RFC 9028
    /// sections 4.5 and 5.8, RFC 5770 section 4.12): at a Control Relay
    /// Client, a relayed packet not from our relay; at the relay, a RELAY_TO
    /// packet not from the registered client.
    BadRelayHmac,
}

/// Endpoint counters. Every dropped packet increments exactly one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Packets handed to the endpoint.
    pub received: u64,
    /// I1 answered with a precomputed R1.
    pub r1_sent: u64,
    /// Base exchanges completed.
    pub established: u64,
    /// Base exchanges failed.
    pub failed: u64,
    /// NOTIFY packets sent.
    pub notify_sent: u64,
    /// Signed R1 templates generated.
    pub r1_signed: u64,
    /// R2 re-sent for a retransmitted I2 (no new state).
    pub i2_resent: u64,
    /// UPDATE replies re-sent for a retransmitted UPDATE (processed once).
    pub update_resent: u64,
    /// UPDATEs without SEQ answered with their echo (profile `openhip`).
    pub update_echoed: u64,
    /// Rekeys completed.
    pub rekeyed: u64,
    /// Of those, rekeys whose keys came from a fresh KEYMAT (a new
    /// Diffie-Hellman key on either side, RFC 7402 section 6.10).
    pub rekeyed_new_dh: u64,
    /// Peer locators changed after verification (RFC 8046).
    pub locator_changes: u64,
    /// Addresses whose verification UPDATE was never answered (not adopted).
    pub locator_unverified_dropped: u64,
    /// Failover probes to another locator of a peer (RFC 8047).
    pub failovers: u64,
    /// NAT keepalives sent (RFC 9028 section 5.10).
    pub nat_keepalives_sent: u64,
    /// NAT keepalives received and verified.
    pub nat_keepalives_received: u64,
    /// A peer's UDP port adopted after a NAT rebinding ([`super::udp_mapping`]).
    pub udp_port_changes: u64,
    /// NOTIFY packets received.
    pub notify_received: u64,
    /// Own packets that could not be built (a broken local key).
    pub build_failed: u64,
    /// Unsigned NOTIFYs answering a packet that creates no state (e.g.
    /// UNSUPPORTED_CRITICAL_PARAMETER_TYPE) not sent because of the rate
    /// limit ([`crate::endpoint::Config::unsolicited_notify`]).
    pub notify_rate_limited: u64,
    /// Drops by reason.
    pub malformed: u64,
    /// See [`DropReason::BadChecksum`].
    pub bad_checksum: u64,
    /// See [`DropReason::UnsupportedVersion`].
    pub unsupported_version: u64,
    /// See [`DropReason::NotForUs`].
    pub not_for_us: u64,
    /// See [`DropReason::UnknownAssociation`].
    pub unknown_association: u64,
    /// See [`DropReason::UnexpectedInState`].
    pub unexpected_in_state: u64,
    /// See [`DropReason::BadPuzzle`].
    pub bad_puzzle: u64,
    /// See [`DropReason::BadMac`].
    pub bad_mac: u64,
    /// See [`DropReason::BadSignature`].
    pub bad_signature: u64,
    /// See [`DropReason::HitMismatch`].
    pub hit_mismatch: u64,
    /// See [`DropReason::Replay`].
    pub replay: u64,
    /// See [`DropReason::Policy`].
    pub policy: u64,
    /// See [`DropReason::Negotiation`].
    pub negotiation: u64,
    /// See [`DropReason::NotPeer`].
    pub not_peer: u64,
    /// See [`DropReason::BadRekeyDh`].
    pub bad_rekey_dh: u64,
    /// See [`DropReason::UnknownCriticalParam`].
    pub unknown_critical: u64,
    /// See [`DropReason::I2Replayed`].
    pub i2_replayed: u64,
    /// See [`DropReason::I2SpentSetFull`].
    pub i2_spent_set_full: u64,
    /// See [`DropReason::R1RateLimited`].
    pub r1_rate_limited: u64,
    /// See [`DropReason::NotRegistered`].
    pub not_registered: u64,
    /// See [`DropReason::BadRvsHmac`].
    pub bad_rvs_hmac: u64,
    /// See [`DropReason::RelayRateLimited`].
    pub relay_rate_limited: u64,
    /// See [`DropReason::NotifyVerifyRateLimited`].
    pub notify_verify_rate_limited: u64,
    /// See [`DropReason::BadRelayHmac`].
    pub bad_relay_hmac: u64,
    /// Registrar: services granted (or renewed) (RFC 8003 section 3.3).
    pub registrations_granted: u64,
    /// Registrar: services refused with REG_FAILED.
    pub registrations_refused: u64,
    /// Registrar: registrations that reached their lifetime.
    pub registrations_expired: u64,
    /// Registrar: registrations cancelled with lifetime zero.
    pub registrations_cancelled: u64,
    /// Requester: REG_FAILED received per service.
    pub registrations_failed: u64,
    /// Rendezvous server: I1s relayed to a client (RFC 8004 section 3.3).
    pub rvs_relayed: u64,
    /// Rendezvous client: R1s sent straight to the initiator with VIA_RVS.
    pub r1_via_rvs: u64,
    /// Initiator: R1s from the responder's own address accepted by VIA_RVS
    /// (RFC 8004 section 4.3.4).
    pub r1_via_rvs_accepted: u64,
    /// Control Relay Server: packets forwarded to a registered client with
    /// RELAY_FROM and RELAY_HMAC (RFC 9028 section 4.5).
    pub relay_to_client: u64,
    /// Control Relay Server: packets from a registered client forwarded to
    /// the transport address in their RELAY_TO (RFC 9028 section 4.5).
    pub relay_from_client: u64,
    /// Control Relay Client: relayed packets whose RELAY_HMAC verified.
    pub relayed_received: u64,
    /// Control Relay Client: packets sent through the relay with RELAY_TO.
    pub relayed_sent: u64,
    /// Control Relay Client: R2s also sent straight to the Initiator's
    /// transport address (its RELAY_FROM), opening our NAT toward it.
    pub r2_direct_sent: u64,
    /// Initiator: R2s that came from another transport address than the one
    /// the I2 went to (a Responder behind a relay), whose address was then
    /// checked with ECHO_REQUEST_SIGNED (RFC 8046 section 5.4).
    pub r2_source_checks: u64,
    /// Initiator: transport locators offered in R1 (a Responder's
    /// relay-given address) checked after the base exchange.
    pub offered_transport_checks: u64,
    /// Data Relay Server: PEER_PERMISSIONs installed (RFC 9028 section 4.12.1).
    pub relay_permissions: u64,
    /// Data Relay Server: PEER_PERMISSIONs refused (no RELAY_UDP_ESP
    /// registration, bad address, conflicting SPI, too many).
    pub relay_permissions_refused: u64,
    /// Data Relay Client: PEER_PERMISSIONs sent to our relay.
    pub relay_permissions_asked: u64,
}

impl Counters {
    /// Records one dropped packet.
    pub fn drop(&mut self, reason: DropReason) {
        *self.slot(reason) += 1;
    }

    /// The count for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        let mut c = *self;
        *c.slot(reason)
    }

    /// Total dropped packets.
    pub fn dropped_total(&self) -> u64 {
        ALL_REASONS.iter().map(|r| self.dropped(*r)).sum()
    }

    fn slot(&mut self, reason: DropReason) -> &mut u64 {
        match reason {
            DropReason::Malformed => &mut self.malformed,
            DropReason::BadChecksum => &mut self.bad_checksum,
            DropReason::UnsupportedVersion => &mut self.unsupported_version,
            DropReason::NotForUs => &mut self.not_for_us,
            DropReason::UnknownAssociation => &mut self.unknown_association,
            DropReason::UnexpectedInState => &mut self.unexpected_in_state,
            DropReason::BadPuzzle => &mut self.bad_puzzle,
            DropReason::BadMac => &mut self.bad_mac,
            DropReason::BadSignature => &mut self.bad_signature,
            DropReason::HitMismatch => &mut self.hit_mismatch,
            DropReason::Replay => &mut self.replay,
            DropReason::Policy => &mut self.policy,
            DropReason::Negotiation => &mut self.negotiation,
            DropReason::NotPeer => &mut self.not_peer,
            DropReason::BadRekeyDh => &mut self.bad_rekey_dh,
            DropReason::UnknownCriticalParam => &mut self.unknown_critical,
            DropReason::I2Replayed => &mut self.i2_replayed,
            DropReason::I2SpentSetFull => &mut self.i2_spent_set_full,
            DropReason::R1RateLimited => &mut self.r1_rate_limited,
            DropReason::NotRegistered => &mut self.not_registered,
            DropReason::BadRvsHmac => &mut self.bad_rvs_hmac,
            DropReason::RelayRateLimited => &mut self.relay_rate_limited,
            DropReason::NotifyVerifyRateLimited => &mut self.notify_verify_rate_limited,
            DropReason::BadRelayHmac => &mut self.bad_relay_hmac,
        }
    }
}

/// Every drop reason.
pub const ALL_REASONS: [DropReason; 24] = [
    DropReason::Malformed,
    DropReason::BadChecksum,
    DropReason::UnsupportedVersion,
    DropReason::NotForUs,
    DropReason::UnknownAssociation,
    DropReason::UnexpectedInState,
    DropReason::BadPuzzle,
    DropReason::BadMac,
    DropReason::BadSignature,
    DropReason::HitMismatch,
    DropReason::Replay,
    DropReason::Policy,
    DropReason::Negotiation,
    DropReason::NotPeer,
    DropReason::BadRekeyDh,
    DropReason::UnknownCriticalParam,
    DropReason::I2Replayed,
    DropReason::I2SpentSetFull,
    DropReason::R1RateLimited,
    DropReason::NotRegistered,
    DropReason::BadRvsHmac,
    DropReason::RelayRateLimited,
    DropReason::NotifyVerifyRateLimited,
    DropReason::BadRelayHmac,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_own_slot() {
        let mut c = Counters::default();
        for (n, r) in ALL_REASONS.iter().enumerate() {
            for _ in 0..=n {
                c.drop(*r);
            }
        }
        for (n, r) in ALL_REASONS.iter().enumerate() {
            assert_eq!(c.dropped(*r), n as u64 + 1, "{r:?}");
        }
        assert_eq!(
            c.dropped_total(),
            (1..=ALL_REASONS.len() as u64).sum::<u64>()
        );
    }
}
