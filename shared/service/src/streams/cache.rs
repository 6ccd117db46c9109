//! The in-process cache of hot entity states, bounded by bytes (a forest's state is a few
//! hundred KB, a rolling window's a few KB, so a count of entries would bound nothing).
//! An entry carries the version it was read or written at; [`super::Streams`] writes
//! with that version, so a state changed elsewhere since is caught at write time.

use lru::LruCache;

use super::entity::EntityState;
use super::store::StateKey;

/// In memory, a state takes about this many times its encoded size (a forest measured
/// 1.9 times just decoded, more once its vectors grew; the rest is allocator slack).
const MEMORY_PER_ENCODED_BYTE: usize = 3;

#[derive(Debug)]
struct Entry {
    version: u64,
    state: EntityState,
    bytes: usize,
}

/// Hot states, least recently used evicted first.
#[derive(Debug)]
pub(crate) struct StateCache {
    entries: LruCache<StateKey, Entry>,
    bytes: usize,
    limit: usize,
}

impl StateCache {
    /// A cache of at most `limit` bytes (0: keeps nothing).
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            entries: LruCache::unbounded(),
            bytes: 0,
            limit,
        }
    }

    /// Takes the state of `key` out (a writer owns it until it puts it back).
    pub(crate) fn take(&mut self, key: &StateKey) -> Option<(u64, EntityState)> {
        let entry = self.entries.pop(key)?;
        self.bytes -= entry.bytes;
        Some((entry.version, entry.state))
    }

    /// Keeps `state` at `version`, `encoded` bytes when stored; evicts the least recently
    /// used states beyond the limit.
    pub(crate) fn put(&mut self, key: StateKey, version: u64, state: EntityState, encoded: usize) {
        self.take(&key);
        let bytes = encoded * MEMORY_PER_ENCODED_BYTE;
        if bytes > self.limit {
            return;
        }
        self.bytes += bytes;
        self.entries.put(
            key,
            Entry {
                version,
                state,
                bytes,
            },
        );
        while self.bytes > self.limit {
            match self.entries.pop_lru() {
                Some((_, entry)) => self.bytes -= entry.bytes,
                None => break,
            }
        }
    }

    /// Drops every state of a stream.
    pub(crate) fn forget_stream(&mut self, tenant: &str, stream: &str) {
        let gone: Vec<StateKey> = self
            .entries
            .iter()
            .filter(|(k, _)| k.tenant == tenant && k.stream == stream)
            .map(|(k, _)| k.clone())
            .collect();
        for key in gone {
            self.take(&key);
        }
    }

    /// Bytes held (estimated).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streams::spec::StreamSpec;

    fn key(entity: &str) -> StateKey {
        StateKey {
            tenant: "t".into(),
            stream: "s".into(),
            entity: entity.into(),
        }
    }

    #[test]
    fn evicts_the_least_recent_beyond_its_bytes() {
        let spec = StreamSpec::for_tests(None, &["value"]);
        let state = |e: &str| EntityState::new(&spec, e).unwrap();
        let mut cache = StateCache::new(1500);
        cache.put(key("a"), 1, state("a"), 200);
        cache.put(key("b"), 1, state("b"), 200);
        assert_eq!(cache.bytes(), 1200);
        cache.put(key("c"), 3, state("c"), 200);
        assert!(cache.take(&key("a")).is_none(), "a was the least recent");
        assert_eq!(cache.take(&key("c")).map(|(v, _)| v), Some(3));
        cache.put(key("huge"), 1, state("huge"), 10_000);
        assert!(cache.take(&key("huge")).is_none(), "over the limit alone");
        cache.forget_stream("t", "s");
        assert_eq!(cache.bytes(), 0);
    }
}
