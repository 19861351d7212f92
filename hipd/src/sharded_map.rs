//! A hash map split into [`SHARDS`] copy-on-write shards, for the SA tables
//! the control actor publishes to the packet workers
//! ([`crate::esp_tables`]).
//!
//! Publishing a snapshot clones the map: with one `HashMap` that copies every
//! entry (10,000 associations: every base exchange copied 10,000 SAs' worth
//! of pointers). Here a clone copies [`SHARDS`] `Arc`s, and a change copies
//! only the one shard it touches when that shard is shared with a published
//! snapshot. A lookup costs one extra index.
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

/// Number of shards (a power of two).
pub const SHARDS: usize = 64;

/// Keys that pick their shard. The keys are random (SPIs, HITs: hash
/// outputs) or dense (LSIs), so their low bits spread well.
pub trait ShardKey: Eq + Hash + Clone {
    /// Any number; its low bits choose the shard.
    fn shard_bits(&self) -> usize;
}

impl ShardKey for u32 {
    fn shard_bits(&self) -> usize {
        *self as usize
    }
}

impl ShardKey for std::net::Ipv4Addr {
    fn shard_bits(&self) -> usize {
        u32::from(*self) as usize
    }
}

impl ShardKey for hip_proto::Hit {
    fn shard_bits(&self) -> usize {
        let o = std::net::Ipv6Addr::from(*self).octets();
        usize::from(o[15]) | usize::from(o[14]) << 8
    }
}

/// The map.
pub struct ShardedMap<K, V> {
    shards: Vec<Arc<HashMap<K, V>>>,
}

impl<K, V> Clone for ShardedMap<K, V> {
    fn clone(&self) -> Self {
        ShardedMap {
            shards: self.shards.clone(),
        }
    }
}

impl<K, V> Default for ShardedMap<K, V> {
    fn default() -> Self {
        ShardedMap {
            shards: (0..SHARDS).map(|_| Arc::new(HashMap::new())).collect(),
        }
    }
}

fn index<K: ShardKey>(k: &K) -> usize {
    k.shard_bits() & (SHARDS - 1)
}

impl<K: ShardKey, V: Clone> ShardedMap<K, V> {
    /// The value of `k`.
    pub fn get(&self, k: &K) -> Option<&V> {
        self.shards[index(k)].get(k)
    }

    /// Is `k` in the map?
    pub fn contains_key(&self, k: &K) -> bool {
        self.shards[index(k)].contains_key(k)
    }

    /// The value of `k`, to change (its shard is copied if shared).
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let s = &mut self.shards[index(k)];
        if !s.contains_key(k) {
            return None;
        }
        Arc::make_mut(s).get_mut(k)
    }

    /// Inserts; returns the previous value.
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        Arc::make_mut(&mut self.shards[index(&k)]).insert(k, v)
    }

    /// Removes; returns the value.
    pub fn remove(&mut self, k: &K) -> Option<V> {
        let s = &mut self.shards[index(k)];
        if !s.contains_key(k) {
            return None;
        }
        Arc::make_mut(s).remove(k)
    }

    /// Keeps the entries `keep` accepts; only shards that lose an entry are
    /// copied.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        for s in &mut self.shards {
            if s.iter().any(|(k, v)| !keep(k, v)) {
                Arc::make_mut(s).retain(|k, v| keep(k, v));
            }
        }
    }

    /// Every entry.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flat_map(|s| s.iter())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.len()).sum()
    }

    /// No entry?
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_map_and_a_clone_is_a_snapshot() {
        let mut m: ShardedMap<u32, u32> = ShardedMap::default();
        for i in 0..1000 {
            assert_eq!(m.insert(i, i * 2), None);
        }
        let snap = m.clone();
        assert_eq!(m.insert(5, 0), Some(10));
        assert_eq!(m.remove(&6), Some(12));
        assert_eq!(m.remove(&6), None);
        *m.get_mut(&7).unwrap() = 1;
        assert!(m.get_mut(&5000).is_none());
        m.retain(|k, _| k % 2 == 1 || *k == 0);
        assert_eq!(m.len(), 501);
        assert!(m.contains_key(&0) && !m.contains_key(&2) && !m.is_empty());
        // The snapshot saw none of it.
        assert_eq!(snap.len(), 1000);
        assert_eq!(snap.get(&5), Some(&10));
        assert_eq!(snap.get(&6), Some(&12));
        assert_eq!(snap.get(&7), Some(&14));
        assert_eq!(snap.iter().count(), 1000);
    }

    #[test]
    fn a_change_copies_only_its_shard() {
        let mut m: ShardedMap<u32, u32> = ShardedMap::default();
        for i in 0..(SHARDS as u32 * 4) {
            m.insert(i, i);
        }
        let snap = m.clone();
        m.insert(3, 9);
        let shared = (0..SHARDS)
            .filter(|i| Arc::ptr_eq(&m.shards[*i], &snap.shards[*i]))
            .count();
        assert_eq!(shared, SHARDS - 1);
        // A retain that removes nothing copies nothing.
        m.retain(|_, _| true);
        let shared = (0..SHARDS)
            .filter(|i| Arc::ptr_eq(&m.shards[*i], &snap.shards[*i]))
            .count();
        assert_eq!(shared, SHARDS - 1);
    }
}
