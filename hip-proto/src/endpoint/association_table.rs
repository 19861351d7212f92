//! The endpoint's associations (RFC 7401 section 4.4, one per HIT pair) and
//! the index of their next deadlines, so that finding the next timer and the
//! associations due costs O(log n) instead of a walk over every association
//! (a responder with 10,000 associations would otherwise walk them all after
//! every packet).
//!
//! The table hands out `&mut Association` only through [`AssocTable::get_mut`]
//! and [`AssocTable::insert`], which mark the pair *dirty*; a dirty pair's
//! deadline is recomputed at the next [`AssocTable::flush`], and
//! [`AssocTable::next_deadline`] counts dirty pairs directly until then. So
//! no change to an association can leave its timer unscheduled, whichever
//! handler made it.
use std::collections::{BTreeSet, HashMap};

use super::core::HitPair;
use crate::association::{Association, Instant};

/// Associations by HIT pair, with their deadlines indexed.
#[derive(Default)]
pub struct AssocTable {
    /// Each pair's association and what the indexes hold for it, in one
    /// map: one key and one spare slot per pair instead of three (issue 16:
    /// memory per association).
    map: HashMap<HitPair, Slot>,
    queue: BTreeSet<(Instant, HitPair)>,
    /// Pairs touched since the last flush (may repeat).
    dirty: Vec<HitPair>,
    /// Inbound SPIs in use (current and rekey), with how many associations
    /// hold each.
    spi_count: HashMap<u32, u32>,
}

/// One pair's entry of [`AssocTable`].
struct Slot {
    /// Boxed: an `Association` is over 1 KiB, and a map of them inline
    /// keeps that much per empty slot of its spare capacity too.
    assoc: Box<Association>,
    /// The deadline as scheduled in `queue`.
    scheduled: Option<Instant>,
    /// The inbound SPIs counted for it in `spi_count` (0: none).
    spis: [u32; 2],
}

/// The inbound SPIs an association holds (0: none).
fn spis(a: &Association) -> [u32; 2] {
    [a.spi_in, a.rekey.as_ref().map_or(0, |r| r.new_spi_in)]
}

/// Takes the SPIs `held` out of `count` (a pair's share of it).
fn unindex_spis(count: &mut HashMap<u32, u32>, held: &mut [u32; 2]) {
    for spi in std::mem::take(held) {
        if spi == 0 {
            continue;
        }
        if let Some(n) = count.get_mut(&spi) {
            *n -= 1;
            if *n == 0 {
                count.remove(&spi);
            }
        }
    }
}

impl AssocTable {
    /// The association of `pair`.
    pub fn get(&self, pair: &HitPair) -> Option<&Association> {
        self.map.get(pair).map(|s| &*s.assoc)
    }

    /// The association of `pair`, to change: its deadline is recomputed.
    pub fn get_mut(&mut self, pair: &HitPair) -> Option<&mut Association> {
        let s = self.map.get_mut(pair)?;
        self.dirty.push(*pair);
        Some(&mut *s.assoc)
    }

    /// Adds or replaces the association of `pair`.
    pub fn insert(&mut self, pair: HitPair, a: Association) -> Option<Association> {
        self.dirty.push(pair);
        match self.map.get_mut(&pair) {
            // The old one's index entries stay until the flush.
            Some(s) => Some(*std::mem::replace(&mut s.assoc, Box::new(a))),
            None => {
                self.map.insert(
                    pair,
                    Slot {
                        assoc: Box::new(a),
                        scheduled: None,
                        spis: [0; 2],
                    },
                );
                None
            }
        }
    }

    /// Removes the association of `pair`, its timer and its SPIs.
    pub fn remove(&mut self, pair: &HitPair) -> Option<Association> {
        let mut s = self.map.remove(pair)?;
        if let Some(t) = s.scheduled {
            self.queue.remove(&(t, *pair));
        }
        unindex_spis(&mut self.spi_count, &mut s.spis);
        Some(*s.assoc)
    }

    /// Does any association hold `spi` as inbound SPI (current or rekey)?
    pub fn spi_in_use(&self, spi: u32) -> bool {
        let used = self.spi_count.contains_key(&spi)
            || self
                .dirty
                .iter()
                .filter_map(|p| self.get(p))
                .any(|a| spis(a).contains(&spi));
        // The index must agree with a walk over every association.
        debug_assert_eq!(
            used,
            self.map.values().any(|s| spis(&s.assoc).contains(&spi))
                || self.spi_count.contains_key(&spi),
        );
        used
    }

    /// Is there an association for `pair`?
    pub fn contains_key(&self, pair: &HitPair) -> bool {
        self.map.contains_key(pair)
    }

    /// Every HIT pair.
    pub fn keys(&self) -> impl Iterator<Item = &HitPair> {
        self.map.keys()
    }

    /// Every pair with its association.
    pub fn iter(&self) -> impl Iterator<Item = (&HitPair, &Association)> {
        self.map.iter().map(|(p, s)| (p, &*s.assoc))
    }

    /// Number of associations.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Recomputes the deadlines of the pairs touched since the last flush.
    pub fn flush(&mut self, deadline: impl Fn(&Association) -> Option<Instant>) {
        for pair in std::mem::take(&mut self.dirty) {
            // Removed since it was touched: `remove` took its entries out.
            let Some(s) = self.map.get_mut(&pair) else {
                continue;
            };
            if let Some(t) = s.scheduled.take() {
                self.queue.remove(&(t, pair));
            }
            unindex_spis(&mut self.spi_count, &mut s.spis);
            s.spis = spis(&s.assoc);
            for spi in s.spis.into_iter().filter(|s| *s != 0) {
                *self.spi_count.entry(spi).or_insert(0) += 1;
            }
            s.scheduled = deadline(&s.assoc);
            if let Some(t) = s.scheduled {
                self.queue.insert((t, pair));
            }
        }
    }

    /// The earliest deadline of any association.
    pub fn next_deadline(
        &self,
        deadline: impl Fn(&Association) -> Option<Instant>,
    ) -> Option<Instant> {
        // A dirty pair's entry may be stale: its current deadline is below.
        let indexed = self
            .queue
            .iter()
            .find(|(_, p)| !self.dirty.contains(p))
            .map(|(t, _)| *t);
        let touched = self
            .dirty
            .iter()
            .filter_map(|p| self.get(p).and_then(&deadline))
            .min();
        let next = indexed.into_iter().chain(touched).min();
        #[cfg(debug_assertions)]
        {
            // The index must agree with a walk over every association
            // (a dirty pair may still be scheduled at its old, earlier time,
            // which only wakes the caller early).
            let walked = self.map.values().filter_map(|s| deadline(&s.assoc)).min();
            debug_assert!(
                walked.is_none_or(|w| next.is_some_and(|n| n <= w)),
                "timer index {next:?} later than the associations' {walked:?}"
            );
        }
        next
    }

    /// Flushes, then the pairs whose deadline is at or before `now`.
    pub fn due(
        &mut self,
        now: Instant,
        deadline: impl Fn(&Association) -> Option<Instant>,
    ) -> Vec<HitPair> {
        self.flush(deadline);
        self.queue
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, p)| *p)
            .collect()
    }
}
