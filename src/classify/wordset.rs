//! Packed words as keys: a fast hash ([`WordHasher`]) and a one-hash bit filter
//! ([`KeyFilter`]) for the stop-word index ([`super::lang`]) and the typo dictionary
//! ([`super::typo`]).

use std::hash::Hasher;

/// A small multiply-rotate hash (FxHash) for the stop-word index: SipHash was a tenth of
/// the classifier's time. The table holds only the fixed stop words, and at most
/// `MAX_WORDS` lookups are made per mail, so crafted collisions cannot cost much.
#[derive(Default, Clone, Copy)]
pub struct WordHasher(u64);

const HASH_K: u64 = 0x517c_c1b7_2722_0a95;

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(HASH_K);
        }
        for &b in chunks.remainder() {
            h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(HASH_K);
        }
        self.0 = h;
    }

    fn write_u128(&mut self, v: u128) {
        // The low and the high eight bytes (truncation intended).
        let (lo, hi) = (v as u64, (v >> 64) as u64);
        let h = (self.0.rotate_left(5) ^ lo).wrapping_mul(HASH_K);
        self.0 = (h.rotate_left(5) ^ hi).wrapping_mul(HASH_K);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A one-hash bit table over packed words (64 Ki bits, 8 KB): a word whose bit is clear is
/// certainly not in the set it was built from, so the hash table behind it is asked only
/// about the few words whose bit is set. A lookup is a multiply, a shift and a load, where
/// a hash-table probe costs several times that (measured: it was most of the stop-word
/// count's time and of the typo pass's).
#[derive(Debug, Clone)]
pub struct KeyFilter {
    bits: Vec<u64>,
}

impl Default for KeyFilter {
    fn default() -> Self {
        KeyFilter {
            bits: vec![0; KEY_FILTER_WORDS],
        }
    }
}

/// 64-bit words of a [`KeyFilter`] (65,536 bits).
const KEY_FILTER_WORDS: usize = 1024;

impl KeyFilter {
    fn slot(key: u128) -> usize {
        // The low and the high eight bytes (truncation intended), mixed, top 16 bits.
        let (lo, hi) = (key as u64, (key >> 64) as u64);
        ((lo ^ hi.rotate_left(29)).wrapping_mul(HASH_K) >> 48) as usize
    }

    /// Adds a packed word.
    pub fn insert(&mut self, key: u128) {
        let slot = Self::slot(key);
        if let Some(w) = self.bits.get_mut(slot / 64) {
            *w |= 1u64 << (slot % 64);
        }
    }

    /// Adds every key of `other`.
    pub fn union_with(&mut self, other: &KeyFilter) {
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            *a |= *b;
        }
    }

    /// `false` when `key` was certainly never inserted.
    pub fn may_contain(&self, key: u128) -> bool {
        let slot = Self::slot(key);
        self.bits
            .get(slot / 64)
            .is_some_and(|w| w & (1u64 << (slot % 64)) != 0)
    }
}
