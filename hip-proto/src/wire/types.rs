//! IANA registries used inside HIP parameters (IANA "HIP Parameters").

use crate::registry::registry;

registry! {
    /// Parameter Types (RFC 7401 section 5.2, RFC 5201, RFC 5206, RFC 8046,
    /// RFC 8003, RFC 8004, RFC 5770, RFC 9028, RFC 6078, RFC 7086).
    pub enum ParamType: u16 {
        EspInfo = 65,
        /// R1_COUNTER of HIPv1 (RFC 5201).
        R1CounterV1 = 128,
        R1Counter = 129,
        /// LOCATOR (RFC 5206) in v1, LOCATOR_SET (RFC 8046) in v2.
        LocatorSet = 193,
        Puzzle = 257,
        Solution = 321,
        Seq = 385,
        Ack = 449,
        DhGroupList = 511,
        DiffieHellman = 513,
        /// HIP_TRANSFORM of HIPv1 (RFC 5201).
        HipTransform = 577,
        HipCipher = 579,
        NatTraversalMode = 608,
        TransactionPacing = 610,
        Encrypted = 641,
        HostId = 705,
        HitSuiteList = 715,
        Cert = 768,
        Notification = 832,
        EchoRequestSigned = 897,
        RegInfo = 930,
        RegRequest = 932,
        RegResponse = 934,
        RegFailed = 936,
        RegFrom = 950,
        EchoResponseSigned = 961,
        TransportFormatList = 2049,
        EspTransform = 4095,
        SeqData = 4481,
        AckData = 4545,
        PayloadMic = 4577,
        TransactionId = 4580,
        OverlayId = 4592,
        RouteDst = 4601,
        RelayedAddress = 4650,
        MappedAddress = 4660,
        PeerPermission = 4680,
        HipTransportMode = 7680,
        HipMac = 61505,
        HipMac2 = 61569,
        HipSignature2 = 61633,
        HipSignature = 61697,
        EchoRequestUnsigned = 63661,
        EchoResponseUnsigned = 63425,
        RelayFrom = 63998,
        RelayTo = 64002,
        OverlayTtl = 64011,
        RouteVia = 64017,
        From = 65498,
        RvsHmac = 65500,
        ViaRvs = 65502,
        RelayHmac = 65520,
    }
}

registry! {
    /// Notify Message Types (RFC 7401 section 5.2.19, RFC 5770, RFC 8046).
    pub enum NotifyMessageType: u16 {
        UnsupportedCriticalParameterType = 1,
        InvalidSyntax = 7,
        NoDhProposalChosen = 14,
        InvalidDhChosen = 15,
        NoHipProposalChosen = 16,
        InvalidHipCipherChosen = 17,
        NoEspProposalChosen = 18,
        InvalidEspTransformChosen = 19,
        UnsupportedHitSuite = 20,
        AuthenticationFailed = 24,
        ChecksumFailed = 26,
        HipMacFailed = 28,
        EncryptionFailed = 32,
        InvalidHit = 40,
        BlockedByPolicy = 42,
        ResponderBusyPleaseRetry = 44,
        LocatorTypeUnsupported = 46,
        InvalidCertificate = 50,
        ConnectivityChecksFailed = 61,
        MessageNotRelayed = 62,
        I2Acknowledgement = 16384,
        NatKeepalive = 16385,
    }
}

registry! {
    /// Locator Types (RFC 8046 section 5.1; RFC 5206 section 4; RFC 5770 type 2).
    pub enum LocatorType: u8 {
        /// An IPv6 address or an IPv4-in-IPv6 mapped address.
        Ipv6 = 0,
        /// ESP SPI followed by an IPv6 (or v4-mapped) address.
        EspSpiIpv6 = 1,
        /// Transport port, protocol, kind, priority, SPI and address (RFC 5770/9028).
        Transport = 2,
    }
}

registry! {
    /// The Kind of a transport locator's candidate (RFC 5770 section 5.7,
    /// RFC 9028 section 5.7; ICE candidate types).
    pub enum CandidateKind: u8 {
        /// An address of the host's own interface.
        Host = 0,
        /// The host's address as a server (a relay) saw it: its NAT's mapping.
        ServerReflexive = 1,
        /// Learned from a connectivity check's source.
        PeerReflexive = 2,
        /// An address of a Data Relay allocated to the host.
        Relayed = 3,
    }
}

registry! {
    /// Registration Types (RFC 8003 section 7, RFC 8004, RFC 5770, RFC 9028).
    pub enum RegType: u8 {
        RendezvousServer = 1,
        RelayUdpHip = 2,
        RelayUdpEsp = 3,
        CandidateDiscovery = 4,
    }
}

registry! {
    /// Registration Failure Types of REG_FAILED (RFC 8003 section 4.3.3).
    pub enum RegFailureType: u8 {
        /// 0: Registration requires additional credentials.
        RequiresAdditionalCredentials = 0,
        /// 1: Registration type unavailable.
        TypeUnavailable = 1,
        /// 2: Insufficient resources.
        InsufficientResources = 2,
        /// 3: Invalid certificate.
        InvalidCertificate = 3,
        /// 4: Bad certificate.
        BadCertificate = 4,
        /// 5: Unsupported certificate.
        UnsupportedCertificate = 5,
        /// 6: Certificate expired.
        CertificateExpired = 6,
        /// 7: Certificate other.
        CertificateOther = 7,
        /// 8: Unknown CA.
        UnknownCa = 8,
    }
}

registry! {
    /// HIP NAT Traversal Modes (RFC 5770 section 5.4, RFC 9028).
    pub enum NatTraversalMode: u16 {
        UdpEncapsulation = 1,
        IceStunUdp = 2,
        IceHipUdp = 3,
    }
}
