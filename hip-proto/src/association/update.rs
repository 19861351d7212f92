//! UPDATE sequence numbers and acknowledgements (RFC 7401 sections 5.2.16-5.2.17
//! and 6.11-6.12, RFC 5201 sections 6.11-6.12).

/// What to do with a received SEQ (RFC 7401 section 6.12.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqDisposition {
    /// A new Update ID: process the UPDATE and ACK it.
    New,
    /// The last processed Update ID again: the peer lost our ACK; ACK again,
    /// do not reprocess (replay of an already processed UPDATE).
    Retransmission,
    /// An older Update ID: drop (replay).
    Stale,
}

/// Errors of ACK processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SeqAckError {
    /// The ACK does not acknowledge the outstanding Update ID.
    #[error("ACK {0} does not match an outstanding UPDATE")]
    UnexpectedAck(u32),
}

/// Per-association UPDATE sequence state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpdateSeq {
    /// Last Update ID we sent (0: none yet; RFC 7401 section 6.11: starts at 0 and
    /// is incremented before each new UPDATE with SEQ).
    local: u32,
    /// The Update ID we wait an ACK for.
    outstanding: Option<u32>,
    /// Highest Update ID received from the peer.
    peer: Option<u32>,
}

impl UpdateSeq {
    /// Fresh state.
    pub const fn new() -> Self {
        UpdateSeq {
            local: 0,
            outstanding: None,
            peer: None,
        }
    }

    /// Allocates the Update ID for a new UPDATE carrying SEQ and marks it outstanding.
    /// Wraps around after 2^32 - 1 (RFC 7401 section 5.2.16).
    pub fn next_seq(&mut self) -> u32 {
        self.local = self.local.wrapping_add(1);
        self.outstanding = Some(self.local);
        self.local
    }

    /// The Update ID waiting for an ACK.
    pub fn outstanding(&self) -> Option<u32> {
        self.outstanding
    }

    /// Classifies a received Update ID and records it if new.
    pub fn on_seq(&mut self, id: u32) -> SeqDisposition {
        match self.peer {
            Some(last) if id == last => SeqDisposition::Retransmission,
            Some(last) if id < last => SeqDisposition::Stale,
            _ => {
                self.peer = Some(id);
                SeqDisposition::New
            }
        }
    }

    /// Processes one acknowledged Update ID. `low_byte_only` accepts an ACK that
    /// carries only the low byte of the ID (cutehip, see `endpoint::compat`).
    pub fn on_ack(&mut self, id: u32, low_byte_only: bool) -> Result<(), SeqAckError> {
        match self.outstanding {
            Some(o) if o == id || (low_byte_only && o & 0xff == id) => {
                self.outstanding = None;
                Ok(())
            }
            _ => Err(SeqAckError::UnexpectedAck(id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_replay_detection() {
        let mut s = UpdateSeq::new();
        assert_eq!(s.on_seq(5), SeqDisposition::New);
        assert_eq!(s.on_seq(5), SeqDisposition::Retransmission);
        assert_eq!(s.on_seq(4), SeqDisposition::Stale);
        assert_eq!(s.on_seq(6), SeqDisposition::New);
    }

    #[test]
    fn ack_matching() {
        let mut s = UpdateSeq::new();
        assert_eq!(s.on_ack(1, false), Err(SeqAckError::UnexpectedAck(1)));
        let id = s.next_seq();
        assert_eq!(id, 1);
        assert_eq!(s.on_ack(2, false), Err(SeqAckError::UnexpectedAck(2)));
        assert_eq!(s.on_ack(1, false), Ok(()));
        assert_eq!(
            s.on_ack(1, false),
            Err(SeqAckError::UnexpectedAck(1)),
            "replayed ACK"
        );
        for _ in 0..299 {
            s.next_seq();
        }
        assert_eq!(s.outstanding(), Some(300));
        assert!(s.on_ack(300 & 0xff, false).is_err());
        assert_eq!(s.on_ack(300 & 0xff, true), Ok(()));
    }
}
