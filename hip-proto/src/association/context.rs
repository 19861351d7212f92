//! Everything one association keeps besides its state and timers
//! ([`super::Driver`]): locators, the peer's Host Identity, the keys drawn from
//! KEYMAT, SPIs, the packets kept for retransmission and the replay guards
//! (RFC 7401 sections 4.4, 6.8-6.15; RFC 7402 section 6).

use std::net::IpAddr;

use super::driver::Driver;
use super::keys::AssociationKeys;
use super::replay::{CloseNonce, R1CounterGuard};
use super::timer::Retransmit;
use super::update::UpdateSeq;
use crate::crypto::dh::{DhKeyPair, DhSecret};
use crate::crypto::hi::HostIdPublic;
use crate::crypto::rhash::Rhash;
use crate::endpoint::compat::CompatProfile;
use crate::endpoint::event::HipSuite;
use crate::registry::{EspTransformId, Version};
use crate::wire::DhValue;
use zeroize::Zeroizing;

/// A rekey in progress (RFC 7402 sections 6.8-6.10 / RFC 7401 section 6.11).
#[derive(Debug, Default)]
pub struct PendingRekey {
    /// Our new inbound SPI.
    pub new_spi_in: u32,
    /// The peer's new inbound SPI, once its ESP_INFO arrived.
    pub new_spi_out: Option<u32>,
    /// KEYMAT index where the new ESP keys start (0 with a new KEYMAT).
    pub keymat_index: u16,
    /// Our new Diffie-Hellman key pair, when this rekey brings one (section 6.8 step 1).
    pub dh: Option<DhKeyPair>,
    /// The peer's new public value, when its UPDATE carried DIFFIE_HELLMAN.
    pub peer_dh: Option<Vec<u8>>,
    /// The new Kij a fresh KEYMAT is drawn from, once both sides' keys are
    /// known (section 6.10 step 1); `None`: the existing KEYMAT continues.
    pub kij: Option<Zeroizing<Vec<u8>>>,
}

/// How long a Responder keeps its R2 for a retransmitted I2 when the peer
/// sends nothing after it. The RFC leaves I2_RETRIES_MAX and the interval to
/// the implementation (RFC 7401 section 4.4.3); our own initiator gives up
/// after about 39 s ([`super::RetransmitConfig::BASE_EXCHANGE`]), so a minute
/// covers it with room. Without this, every idle association would carry its
/// R2 (about 350 octets) for life.
pub const R2_KEPT_FOR: super::timer::Duration = super::timer::Duration::from_secs(60);

/// An association's UPDATE, mobility and multihoming state (RFC 7401
/// sections 6.11-6.12, RFC 8046, RFC 8047). Boxed in [`Association::upd`]
/// and made when first needed: most associations never send or receive an
/// UPDATE, and inline these fields were about 250 octets of each (issue 16:
/// memory per association).
#[derive(Debug, Clone)]
pub struct UpdateState {
    /// UPDATE SEQ/ACK state.
    pub update: UpdateSeq,
    /// UPDATE retransmission and the UPDATE it re-sends.
    pub update_retx: Retransmit,
    /// The outstanding UPDATE.
    pub update_packet: Option<Vec<u8>>,
    /// Our last reply to a peer UPDATE, re-sent when the peer retransmits it.
    pub update_reply: Option<Vec<u8>>,
    /// Where the outstanding UPDATE goes when it is not the peer's current
    /// locator (the address being verified, RFC 8046 section 5.4).
    pub update_dst: Option<IpAddr>,
    /// A peer locator announced in LOCATOR_SET and the nonce of the
    /// ECHO_REQUEST_SIGNED that verifies it (RFC 8046 section 3.2.1).
    pub pending_locator: Option<(IpAddr, [u8; 16])>,
    /// Set when `pending_locator` is the source of a new I2 that replaced an
    /// established association (RFC 7401 section 4.4.2, RFC 8046 section
    /// 5.4): the UDP port (or raw IP) it is reached with, adopted with it.
    pub pending_udp_port: Option<Option<u16>>,
    /// Other locators the peer announced (RFC 8047 multihoming), unverified
    /// until used; failover candidates.
    pub peer_candidates: Vec<IpAddr>,
    /// (our locator, the peer's) before the first failover: the path to
    /// return to once it works again (RFC 8047 "and back").
    pub home: Option<(IpAddr, IpAddr)>,
    /// The locators we last announced to the peer (preferred first).
    pub announced: Vec<IpAddr>,
}

impl UpdateState {
    /// The state of an association that has had no UPDATE: what
    /// [`Association::upd`] reads as while it is `None`.
    pub const IDLE: UpdateState = UpdateState::new(Retransmit::DISARMED);

    /// No UPDATE yet; `update_retx` disarmed, with the endpoint's settings.
    pub const fn new(update_retx: Retransmit) -> Self {
        UpdateState {
            update: UpdateSeq::new(),
            update_retx,
            update_packet: None,
            update_reply: None,
            update_dst: None,
            pending_locator: None,
            pending_udp_port: None,
            peer_candidates: Vec::new(),
            home: None,
            announced: Vec::new(),
        }
    }
}

static IDLE_UPDATE_STATE: UpdateState = UpdateState::IDLE;

/// One association's protocol context.
#[derive(Debug)]
pub struct Association {
    /// State and timers.
    pub driver: Driver,
    /// HIP version of the exchange.
    pub version: Version,
    /// Compatibility profile for this peer.
    pub profile: CompatProfile,
    /// We started the base exchange.
    pub initiator: bool,
    /// The association has moved off the locator of its base exchange
    /// (a verified locator change): an R2 arriving now is a late copy,
    /// never a path to check.
    pub moved: bool,
    /// The peer's last LOCATOR_SET left out the locator in use: once the
    /// new one is verified, the old one is not kept as a failover candidate
    /// (RFC 8046 section 5.2: addresses no longer listed are deprecated).
    pub peer_locator_withdrawn: bool,
    /// Initiator: the R1 came from a Data Relay that forwards our ESP (the
    /// Responder offered it as a relayed candidate, RFC 9028 section 4.12),
    /// so data may flow while a direct path is checked.
    pub relay_carries_esp: bool,
    /// Our locator.
    pub local_locator: IpAddr,
    /// The peer's current locator.
    pub peer_locator: IpAddr,
    /// Peer UDP port when control and ESP go over UDP.
    pub udp_port: Option<u16>,
    /// RHASH of the exchange (known after R1 / I2).
    pub rhash: Option<Rhash>,
    /// The peer's Host Identity (after R1 / I2).
    pub peer_hi: Option<HostIdPublic>,
    /// The peer's HOST_ID parameter as in its R1 (HIP_MAC_2 of R2).
    pub peer_host_id_raw: Vec<u8>,
    /// Initiator: a UDP transport locator the Responder's R1 offered (its
    /// relay-given, server-reflexive address, RFC 9028 section 4.7.2),
    /// checked after the base exchange. Boxed: rare.
    pub peer_transport_candidate: Option<Box<std::net::SocketAddr>>,
    /// Our current Diffie-Hellman private key: the one of the base exchange,
    /// then of the last rekey that brought a new one. Used when a rekey
    /// brings only the peer's new key (RFC 7402 section 6.10 step 1).
    pub dh: Option<DhSecret>,
    /// The peer's current public DH value and the negotiated group, likewise.
    pub peer_dh: Option<DhValue>,
    /// HIP and ESP keys.
    pub keys: Option<AssociationKeys>,
    /// Negotiated HIP suite.
    pub hip_suite: Option<HipSuite>,
    /// Negotiated ESP suite.
    pub esp_suite: Option<EspTransformId>,
    /// SPI the peer sends to.
    pub spi_in: u32,
    /// SPI we send to.
    pub spi_out: u32,
    /// The last I1 / I2 / CLOSE sent, for retransmission.
    pub last_sent: Option<Vec<u8>>,
    /// Responder: the R2 answering the I2 that created this association
    /// (its #I and J are those of `keys.seed`), re-sent for a retransmitted
    /// I2 until the peer shows it has it ([`Association::peer_has_r2`]) or
    /// until `r2_until`.
    pub r2: Option<Vec<u8>>,
    /// When `r2` is dropped without word from the peer ([`R2_KEPT_FOR`]).
    pub r2_until: super::timer::Instant,
    /// Largest R1_COUNTER seen.
    pub r1_guard: R1CounterGuard,
    /// Nonce of our CLOSE.
    pub close_nonce: Option<CloseNonce>,
    /// Rekey in progress (boxed: rare, and 150 octets in every association).
    pub rekey: Option<Box<PendingRekey>>,
    /// UPDATE, mobility and multihoming state ([`UpdateState`]), made by
    /// the first UPDATE sent or received ([`Association::upd_mut`]); `None`
    /// is the state of an association that has had none.
    pub upd: Option<Box<UpdateState>>,
    /// When the current ESP keys were drawn (for periodic rekeying).
    pub keys_since: super::timer::Instant,
    /// When anything was last sent to the peer: a HIP packet, or ESP as the
    /// caller reports it (NAT keepalives, RFC 9028 section 5.10).
    pub last_tx: super::timer::Instant,
    /// Control Relay Client: the exchange with this peer came through our
    /// Control Relay Server, and our HIP packets to it go back the same way
    /// with RELAY_TO (RFC 9028 section 4.5; boxed: rare).
    pub via_relay: Option<Box<RelayPath>>,
}

/// A Control Relay Client's association reached through its relay: the
/// route back, and the timer that re-sends our R2 straight to the peer's
/// transport address until the peer answers directly (each copy opens our
/// NAT toward the peer again; one lost copy would otherwise leave the peer
/// no way through it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayPath {
    /// How our packets reach the peer through the relay.
    pub route: RelayRoute,
    /// Re-sending of the direct R2 copy ([`super::timer::RetransmitConfig`]
    /// `PUNCH`); disarmed when not needed.
    pub punch: super::timer::Retransmit,
}

/// How a Control Relay Client reaches a peer through its relay (RFC 9028
/// section 4.5): the relay's association and transport address, and the
/// peer's transport address for RELAY_TO (the RELAY_FROM the relay reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayRoute {
    /// Our HIT at the relay and the relay's HIT (the association whose
    /// outgoing integrity key signs RELAY_HMAC).
    pub relay_pair: (crate::Hit, crate::Hit),
    /// The relay's address and UDP port.
    pub relay: (IpAddr, u16),
    /// The address our packets to the relay leave from.
    pub local: IpAddr,
    /// The peer's transport address (port 0: raw HIP at the relay's side).
    pub peer: (IpAddr, u16),
}

impl Association {
    /// The version in the header of what we send on this association: its
    /// rules' version, except HIPL's v2 ([`CompatProfile::wire_version`]).
    pub fn wire_version(&self) -> Version {
        self.profile.wire_version(self.version)
    }

    /// The peer sent ESP or an authenticated UPDATE, which it can only do
    /// once it has processed our R2 (RFC 7401 section 4.4.2): the R2 kept
    /// for a retransmitted I2 is no longer needed.
    pub fn peer_has_r2(&mut self) {
        self.r2 = None;
    }

    /// The UPDATE, mobility and multihoming state, to read
    /// ([`UpdateState::IDLE`] while the association has had no UPDATE).
    pub fn upd(&self) -> &UpdateState {
        self.upd.as_deref().unwrap_or(&IDLE_UPDATE_STATE)
    }

    /// The UPDATE, mobility and multihoming state, to change: made now if
    /// the association has had none, with the endpoint's UPDATE timer.
    pub fn upd_mut(&mut self) -> &mut UpdateState {
        let timer = self.driver.update_timer();
        self.upd
            .get_or_insert_with(|| Box::new(UpdateState::new(timer)))
    }

    /// Responder: is this the I2 (by #I and J, RFC 7401 section 6.9 step 3)
    /// that created this association?
    pub fn created_by_i2(&self, i: &[u8], j: &[u8]) -> bool {
        !self.initiator
            && self
                .keys
                .as_ref()
                .is_some_and(|k| k.seed.i() == i && k.seed.j() == j)
    }

    /// A new association with no keys yet.
    pub fn new(
        driver: Driver,
        version: Version,
        profile: CompatProfile,
        local_locator: IpAddr,
        peer_locator: IpAddr,
    ) -> Self {
        Association {
            driver,
            version,
            profile,
            initiator: false,
            local_locator,
            peer_locator,
            udp_port: None,
            rhash: None,
            peer_hi: None,
            peer_host_id_raw: Vec::new(),
            dh: None,
            peer_dh: None,
            keys: None,
            hip_suite: None,
            esp_suite: None,
            spi_in: 0,
            spi_out: 0,
            last_sent: None,
            r2: None,
            r2_until: super::timer::Instant(0),
            r1_guard: R1CounterGuard::default(),
            close_nonce: None,
            rekey: None,
            upd: None,
            keys_since: super::timer::Instant(0),
            last_tx: super::timer::Instant(0),
            via_relay: None,
            peer_transport_candidate: None,
            moved: false,
            peer_locator_withdrawn: false,
            relay_carries_esp: false,
        }
    }
}
