//! HIP association states and transitions (RFC 7401 section 4.4.2,
//! RFC 5201 section 4.4.2; the two tables agree on every transition the
//! engine uses, the v1 differences are noted on [`step`]).
//!
//! The transition function is pure: the engine first *processes* a packet
//! (checksum, puzzle, MAC, signature) and passes only the outcome (`ok`) in;
//! the function answers with the next state and the single action to take.

use core::cmp::Ordering;

/// Association state (RFC 7401 section 4.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// No state exists for the association.
    Unassociated,
    /// I1 sent, waiting for R1.
    I1Sent,
    /// I2 sent, waiting for R2.
    I2Sent,
    /// R2 sent, waiting for the peer's first data or UPDATE.
    R2Sent,
    /// The association is open.
    Established,
    /// CLOSE sent, waiting for CLOSE_ACK.
    Closing,
    /// CLOSE received and CLOSE_ACK sent.
    Closed,
    /// The base exchange failed.
    EFailed,
}

/// The order of the local HIT relative to the peer HIT (RFC 7401 section 6.5,
/// "HIT comparison": the HITs compared as 128-bit unsigned integers in network
/// byte order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitOrder {
    /// Local HIT is greater than the peer HIT.
    LocalGreater,
    /// Local HIT is smaller than the peer HIT.
    LocalSmaller,
}

impl HitOrder {
    /// Compares two HITs. Equal HITs (only possible with ourselves or an
    /// attacker) are treated as `LocalSmaller`, the side that yields.
    pub fn of(local: &crate::Hit, peer: &crate::Hit) -> Self {
        match local.0.cmp(&peer.0) {
            Ordering::Greater => HitOrder::LocalGreater,
            _ => HitOrder::LocalSmaller,
        }
    }
}

/// An input to the state machine. `ok` is the outcome of processing the
/// packet (RFC 7401 sections 6.6-6.15); `false` means processing failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Outbound data needs an association (RFC 7401 section 4.4.2, "User data to send").
    UserDataToSend,
    /// Received I1.
    I1,
    /// Received R1, processed.
    R1 { ok: bool },
    /// Received I2, processed.
    I2 { ok: bool },
    /// Received R2, processed.
    R2 { ok: bool },
    /// Received UPDATE, processed.
    Update { ok: bool },
    /// Received NOTIFY (informational, never changes state: RFC 7401 section 6.13).
    Notify,
    /// Received CLOSE, processed.
    Close { ok: bool },
    /// Received CLOSE_ACK, processed.
    CloseAck { ok: bool },
    /// Received ESP data on the association.
    UserDataReceived,
    /// The retransmission timer fired and still has retries left.
    Timeout,
    /// The retransmission timer fired and the retries are exhausted
    /// (I1_RETRIES_MAX / I2_RETRIES_MAX, or UAL + MSL in CLOSING).
    RetriesExhausted,
    /// No packet sent or received for UAL (unused association lifetime).
    UalExpired,
    /// The wait in CLOSED (UAL + 2 MSL) or E-FAILED (implementation-specific) ended.
    LingerExpired,
    /// R1 processing found nothing acceptable (no common DH group, cipher or ESP
    /// suite, or a DH downgrade): the initiator sends NOTIFY and gives up
    /// (RFC 7401 sections 6.8 and 6.13; the tables leave this case implicit).
    ExchangeFailed,
    /// The local user closes the association (RFC 7401 section 4.4.2: "Close
    /// association" sends CLOSE and moves to CLOSING).
    CloseRequested,
}

/// What the engine must do after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing to send.
    None,
    /// Drop the packet (count it as unexpected in this state).
    Drop,
    /// Send I1 (first or retransmitted).
    SendI1,
    /// Answer with a precomputed R1 (no state kept).
    SendR1,
    /// Send (or retransmit) I2.
    SendI2,
    /// Send R2, replacing any older association with this peer.
    SendR2,
    /// Accept the packet (R2, UPDATE, data) with no reply from the state machine.
    Accept,
    /// Send (or retransmit) CLOSE.
    SendClose,
    /// Send CLOSE_ACK.
    SendCloseAck,
    /// Discard all association state.
    Discard,
}

/// Result of one transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// State after the transition.
    pub next: State,
    /// Action to perform.
    pub action: Action,
}

const fn st(next: State, action: Action) -> Step {
    Step { next, action }
}

/// One transition of RFC 7401 section 4.4.2 (tables 2-9). `order` is used only for
/// simultaneous opening (I1 in I1-SENT, I2 in I2-SENT).
///
/// RFC 5201 (v1) has the same transitions; its CLOSED table says "send I1 and stay
/// at CLOSED" for new data, the v2 text is identical, and both go to I1-SENT in
/// practice once I1 retransmission starts, which this function models directly.
pub fn step(state: State, input: Input, order: HitOrder) -> Step {
    use Action as A;
    use Input as In;
    use State as S;
    match (state, input) {
        // Closing by the user: CLOSE from an open association, plain discard otherwise.
        (S::Established | S::R2Sent, In::CloseRequested) => st(S::Closing, A::SendClose),
        (S::I1Sent | S::I2Sent | S::Closed | S::EFailed, In::CloseRequested) => {
            st(S::Unassociated, A::Discard)
        }

        // Table 2: UNASSOCIATED.
        (S::Unassociated, In::UserDataToSend) => st(S::I1Sent, A::SendI1),
        (S::Unassociated, In::I1) => st(S::Unassociated, A::SendR1),
        (S::Unassociated, In::I2 { ok: true }) => st(S::R2Sent, A::SendR2),
        (S::Unassociated, _) => st(S::Unassociated, A::Drop),

        // Table 3: I1-SENT.
        (S::I1Sent, In::I1) => match order {
            // Simultaneous opening: the greater HIT answers as responder.
            HitOrder::LocalGreater => st(S::I1Sent, A::SendR1),
            HitOrder::LocalSmaller => st(S::I1Sent, A::Drop),
        },
        (S::I1Sent, In::I2 { ok: true }) => st(S::R2Sent, A::SendR2),
        (S::I1Sent, In::R1 { ok: true }) => st(S::I2Sent, A::SendI2),
        (S::I1Sent, In::Timeout) => st(S::I1Sent, A::SendI1),
        (S::I1Sent, In::RetriesExhausted | In::ExchangeFailed) => st(S::EFailed, A::None),
        (S::I1Sent, _) => st(S::I1Sent, A::Drop),

        // Table 4: I2-SENT.
        (S::I2Sent, In::I1) => st(S::I2Sent, A::SendR1),
        // A newer R1 (greater R1_COUNTER, checked by the engine) restarts I2.
        (S::I2Sent, In::R1 { ok: true }) => st(S::I2Sent, A::SendI2),
        (S::I2Sent, In::I2 { ok: true }) => match order {
            HitOrder::LocalGreater => st(S::I2Sent, A::Drop),
            HitOrder::LocalSmaller => st(S::R2Sent, A::SendR2),
        },
        (S::I2Sent, In::R2 { ok: true }) => st(S::Established, A::Accept),
        (S::I2Sent, In::Timeout) => st(S::I2Sent, A::SendI2),
        (S::I2Sent, In::RetriesExhausted | In::ExchangeFailed) => st(S::EFailed, A::None),
        (S::I2Sent, _) => st(S::I2Sent, A::Drop),

        // Table 5: R2-SENT.
        (S::R2Sent, In::I1) => st(S::R2Sent, A::SendR1),
        (S::R2Sent, In::I2 { ok: true }) => st(S::R2Sent, A::SendR2),
        (S::R2Sent, In::UserDataReceived | In::Update { ok: true }) => {
            st(S::Established, A::Accept)
        }
        // R2 timer expiry: move to ESTABLISHED.
        (S::R2Sent, In::Timeout | In::RetriesExhausted) => st(S::Established, A::None),
        (S::R2Sent, In::UalExpired) => st(S::Closing, A::SendClose),
        (S::R2Sent, In::Close { ok: true }) => st(S::Closed, A::SendCloseAck),
        (S::R2Sent, _) => st(S::R2Sent, A::Drop),

        // Table 6: ESTABLISHED.
        (S::Established, In::I1) => st(S::Established, A::SendR1),
        // I2 in ESTABLISHED: the peer lost its state; a valid I2 replaces the HA.
        (S::Established, In::I2 { ok: true }) => st(S::R2Sent, A::SendR2),
        (S::Established, In::UserDataReceived | In::Update { ok: true }) => {
            st(S::Established, A::Accept)
        }
        (S::Established, In::UalExpired) => st(S::Closing, A::SendClose),
        (S::Established, In::Close { ok: true }) => st(S::Closed, A::SendCloseAck),
        (S::Established, _) => st(S::Established, A::Drop),

        // Table 7: CLOSING.
        (S::Closing, In::UserDataToSend) => st(S::I1Sent, A::SendI1),
        (S::Closing, In::I1) => st(S::Closing, A::SendR1),
        (S::Closing, In::I2 { ok: true }) => st(S::R2Sent, A::SendR2),
        (S::Closing, In::Timeout) => st(S::Closing, A::SendClose),
        (S::Closing, In::RetriesExhausted) => st(S::Unassociated, A::Discard),
        (S::Closing, In::Close { ok: true }) => st(S::Closed, A::SendCloseAck),
        (S::Closing, In::CloseAck { ok: true }) => st(S::Unassociated, A::Discard),
        (S::Closing, _) => st(S::Closing, A::Drop),

        // Table 8: CLOSED.
        (S::Closed, In::UserDataToSend) => st(S::I1Sent, A::SendI1),
        (S::Closed, In::I1) => st(S::Closed, A::SendR1),
        (S::Closed, In::I2 { ok: true }) => st(S::R2Sent, A::SendR2),
        (S::Closed, In::R1 { ok: true }) => st(S::I2Sent, A::SendI2),
        (S::Closed, In::Close { ok: true }) => st(S::Closed, A::SendCloseAck),
        (S::Closed, In::CloseAck { ok: true }) => st(S::Unassociated, A::Discard),
        (S::Closed, In::LingerExpired) => st(S::Unassociated, A::Discard),
        (S::Closed, _) => st(S::Closed, A::Drop),

        // Table 9: E-FAILED.
        (S::EFailed, In::LingerExpired) => st(S::Unassociated, A::Discard),
        (S::EFailed, _) => st(S::EFailed, A::Drop),
    }
}

#[cfg(test)]
mod tests;
