//! Inbound SAs by SPI (O(1) lookup) and batch processing.

use std::collections::HashMap;
use std::ops::Range;

use crate::sa::{InboundSa, OpenError, Opened, OutboundSa, SealError, Sealed};

/// Drops that happen before an SA is found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    pub unknown_spi: u64,
    pub truncated: u64,
}

/// Why an inbound packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("no SA for SPI {0:#010x}")]
    UnknownSpi(u32),
    #[error("packet shorter than an ESP header")]
    Truncated,
    #[error(transparent)]
    Open(#[from] OpenError),
}

/// The inbound SAs of a host.
#[derive(Default)]
pub struct SaTable {
    sas: HashMap<u32, InboundSa>,
    truncated: std::sync::atomic::AtomicU64,
    unknown_spi: std::sync::atomic::AtomicU64,
}

impl SaTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Install (or replace) an inbound SA.
    pub fn insert(&mut self, sa: InboundSa) -> Option<InboundSa> {
        self.sas.insert(sa.spi(), sa)
    }

    /// Remove an SA.
    pub fn remove(&mut self, spi: u32) -> Option<InboundSa> {
        self.sas.remove(&spi)
    }

    pub fn get(&self, spi: u32) -> Option<&InboundSa> {
        self.sas.get(&spi)
    }

    pub fn get_mut(&mut self, spi: u32) -> Option<&mut InboundSa> {
        self.sas.get_mut(&spi)
    }

    pub fn len(&self) -> usize {
        self.sas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sas.is_empty()
    }

    pub fn stats(&self) -> TableStats {
        use std::sync::atomic::Ordering::Relaxed;
        TableStats {
            unknown_spi: self.unknown_spi.load(Relaxed),
            truncated: self.truncated.load(Relaxed),
        }
    }

    /// Find the SA by SPI and open the packet in place.
    pub fn open(&self, pkt: &mut [u8]) -> Result<(u32, Opened), TableError> {
        let Some(spi) = pkt
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        else {
            self.truncated
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(TableError::Truncated);
        };
        let Some(sa) = self.sas.get(&spi) else {
            self.unknown_spi
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(TableError::UnknownSpi(spi));
        };
        Ok((spi, sa.open(pkt)?))
    }

    /// Open a batch; `results[i]` receives the outcome for `pkts[i]`.
    pub fn open_batch(
        &self,
        pkts: &mut [&mut [u8]],
        results: &mut [Option<Result<(u32, Opened), TableError>>],
    ) {
        for (p, r) in pkts.iter_mut().zip(results.iter_mut()) {
            *r = Some(self.open(p));
        }
    }
}

/// One packet to seal in a batch.
pub struct SealJob<'a> {
    pub buf: &'a mut [u8],
    pub payload: Range<usize>,
    pub next_header: u8,
    pub result: Option<Result<Sealed, SealError>>,
}

impl OutboundSa {
    /// Seal many packets with one SA; each job's `result` is filled in.
    pub fn seal_batch(&self, jobs: &mut [SealJob<'_>]) {
        for j in jobs {
            j.result = Some(self.seal(j.buf, j.payload.clone(), j.next_header));
        }
    }
}

/// Fuzz entry: feed arbitrary bytes to a table holding one SA of every suite
/// (used by fuzz/fuzz_targets/esp_open.rs). Never panics.
pub fn fuzz_open(data: &[u8]) {
    use crate::suite::Suite;
    let mut t = SaTable::new();
    for (i, s) in Suite::ALL.into_iter().enumerate() {
        let enc = vec![i as u8; s.enc_key_len()];
        let auth = vec![i as u8; s.auth_key_len()];
        if let Ok(sa) = InboundSa::new(i as u32 + 1, s, &enc, &auth) {
            t.insert(sa);
        }
    }
    let mut buf = data.to_vec();
    if let Some(first) = buf.get_mut(3) {
        // Steer most inputs to an existing SPI.
        *first %= 8;
    }
    if let Some(b) = buf.get_mut(..3) {
        b.fill(0);
    }
    let _ = t.open(&mut buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::Suite;

    #[test]
    fn table_and_batches() {
        let out = OutboundSa::new(9, Suite::AesGcm16, &[1; 20], &[], [0; 16]).unwrap();
        let mut t = SaTable::new();
        t.insert(InboundSa::new(9, Suite::AesGcm16, &[1; 20], &[]).unwrap());
        let head = out.headroom();
        let tail = out.tailroom();
        let mut bufs: Vec<Vec<u8>> = (0..8).map(|i| vec![i as u8; head + 100 + tail]).collect();
        let mut jobs: Vec<SealJob> = bufs
            .iter_mut()
            .map(|b| SealJob {
                buf: &mut b[..],
                payload: head..head + 100,
                next_header: 17,
                result: None,
            })
            .collect();
        out.seal_batch(&mut jobs);
        let ranges: Vec<Range<usize>> = jobs
            .iter()
            .map(|j| j.result.clone().unwrap().unwrap().range)
            .collect();
        drop(jobs);
        let mut pkts: Vec<&mut [u8]> = bufs
            .iter_mut()
            .zip(&ranges)
            .map(|(b, r)| &mut b[r.clone()])
            .collect();
        let mut results = vec![None; pkts.len()];
        t.open_batch(&mut pkts, &mut results);
        assert!(results
            .iter()
            .all(|r| matches!(r, Some(Ok((9, o))) if o.next_header == 17)));
        assert_eq!(
            t.open(&mut [0, 0, 0, 7, 0, 0, 0, 1, 0, 0]),
            Err(TableError::UnknownSpi(7))
        );
        assert_eq!(t.open(&mut [1]), Err(TableError::Truncated));
        assert_eq!(
            t.stats(),
            TableStats {
                unknown_spi: 1,
                truncated: 1
            }
        );
        for n in 0..200 {
            let d: Vec<u8> = (0..n).map(|i| (i * 13 + n) as u8).collect();
            fuzz_open(&d);
        }
    }
}
