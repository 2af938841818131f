//! Process-wide caches of what is derived from immutable segment files, shared by every open of
//! the same file and bounded in bytes (least recently used entries go first): distinct-value
//! tables of low-cardinality string columns, and the decoded arrays of encoded columns.
//!
//! # Contract
//! - An entry is keyed by the segment's [`SegmentKey`] and a slot (a column, and which form or
//!   part of it). A `SegmentKey` is a number standing for the file's path, length and footer
//!   checksum, given out once per distinct triple for the life of the process (so lookups hash
//!   two small integers, not a path): segment files are immutable and never reuse a name
//!   (`native/names.rs`), and a file that changed would have to keep both length and footer
//!   checksum to be confused with the one the entry was built from — even then the entry is
//!   self-consistent (it was built from validated data), so nothing unsound follows. The
//!   numbering keeps one small record per distinct segment file opened, never dropped.
//! - Builds run outside the lock, so different segments build in parallel; two threads may
//!   build the same entry at once, and the later insert wins (both results are equal).
//! - When the entries' bytes exceed the budget, the least recently used go. Evicting only
//!   drops the cache's reference: arrays handed out stay valid. This caches derived forms of
//!   stored data, never a query result.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arrow::array::{Array, ArrayRef};

use super::distinct::DistinctValues;
use super::views::BlockViews;

/// Most bytes of distinct-value tables kept (one byte per row, plus the distinct values).
pub const DISTINCT_CACHE_BYTES: usize = 256 << 20;

/// Default budget of decoded encoded columns ([`set_decoded_cache_bytes`]): 4 GiB, which holds
/// every column the 22 TPC-H queries read at scale factor 1 (1,074 MiB decoded, measured:
/// BENCHMARKS.md, "Encoded columns") almost four times over.
pub const DEFAULT_DECODED_CACHE_BYTES: usize = 4 << 30;

/// Which entry of a segment: a table column and which derived form or part of it (the user of
/// the cache numbers them).
pub type Slot = (usize, usize);

/// The segment file an entry belongs to (module contract): equal for every open of the same
/// file, different for different files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SegmentKey(u64);

impl SegmentKey {
    /// The key of the segment file at `path` of `len` bytes whose footer checksum is
    /// `footer_crc32c`. Takes a process-wide lock: call it once per open, not per lookup.
    pub fn of(path: &Path, len: u64, footer_crc32c: u32) -> Self {
        type Numbers = HashMap<(PathBuf, u64, u32), u64>;
        static NUMBERS: OnceLock<Mutex<Numbers>> = OnceLock::new();
        let mut numbers = NUMBERS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let next = numbers.len() as u64;
        Self(
            *numbers
                .entry((path.to_path_buf(), len, footer_crc32c))
                .or_insert(next),
        )
    }
}

type Key = (SegmentKey, Slot);

struct Entry<V> {
    value: V,
    bytes: usize,
    used: u64,
}

struct Entries<V> {
    // foldhash: the keys are small integers of our own, not untrusted input.
    map: HashMap<Key, Entry<V>, foldhash::fast::RandomState>,
    bytes: usize,
    clock: u64,
}

/// One bounded cache of values of type `V` (module contract).
pub struct SegmentCache<V> {
    entries: Mutex<Entries<V>>,
    budget: AtomicUsize,
}

impl<V: Clone> SegmentCache<V> {
    fn new(budget: usize) -> Self {
        Self {
            entries: Mutex::new(Entries {
                map: HashMap::default(),
                bytes: 0,
                clock: 0,
            }),
            budget: AtomicUsize::new(budget),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<V>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached value of `slot` of `segment`, or `build()`'s, which is then kept (charged
    /// `bytes(value)`) if it fits the budget.
    pub fn get_or_build<E>(
        &self,
        segment: SegmentKey,
        slot: Slot,
        build: impl FnOnce() -> Result<V, E>,
        bytes: impl Fn(&V) -> usize,
    ) -> Result<V, E> {
        let key = (segment, slot);
        if let Some(value) = self.lock().touch(&key) {
            return Ok(value);
        }
        let value = build()?;
        let size = bytes(&value);
        let budget = self.budget.load(Ordering::Relaxed);
        if size > budget {
            return Ok(value);
        }
        let mut c = self.lock();
        c.clock += 1;
        let used = c.clock;
        let entry = Entry {
            value: value.clone(),
            bytes: size,
            used,
        };
        if let Some(old) = c.map.insert(key, entry) {
            c.bytes -= old.bytes;
        }
        c.bytes += size;
        c.evict_to(budget);
        Ok(value)
    }

    /// Whether `slot` of `segment` is cached (without marking it used).
    pub fn contains(&self, segment: SegmentKey, slot: Slot) -> bool {
        self.lock().map.contains_key(&(segment, slot))
    }

    /// The budget in bytes.
    pub fn budget(&self) -> usize {
        self.budget.load(Ordering::Relaxed)
    }

    /// Sets the budget, evicting at once what no longer fits.
    pub fn set_budget(&self, bytes: usize) {
        self.budget.store(bytes, Ordering::Relaxed);
        self.lock().evict_to(bytes);
    }

    /// Bytes the entries are charged now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Drops every entry.
    pub fn clear(&self) {
        let mut c = self.lock();
        c.map.clear();
        c.bytes = 0;
    }
}

impl<V: Clone> Entries<V> {
    /// The value under `key`, if any, marked as used now.
    fn touch(&mut self, key: &Key) -> Option<V> {
        self.clock += 1;
        let now = self.clock;
        self.map.get_mut(key).map(|e| {
            e.used = now;
            e.value.clone()
        })
    }
}

impl<V> Entries<V> {
    fn evict_to(&mut self, budget: usize) {
        while self.bytes > budget {
            let Some(oldest) = self
                .map
                .iter()
                .filter(|(_, e)| e.bytes > 0)
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| *k)
            else {
                break;
            };
            if let Some(e) = self.map.remove(&oldest) {
                self.bytes -= e.bytes;
            }
        }
    }
}

/// A decoded encoded column in the form a reader asked for.
#[derive(Debug, Clone)]
pub enum DecodedColumn {
    /// As the raw layout reads (`SegmentReader::column`).
    Array(ArrayRef),
    /// The view form of a string or binary column (`SegmentReader::column_view`).
    Views(BlockViews),
}

impl DecodedColumn {
    /// Heap bytes held.
    pub fn bytes(&self) -> usize {
        match self {
            DecodedColumn::Array(a) => a.get_array_memory_size(),
            DecodedColumn::Views(v) => v.array.get_array_memory_size(),
        }
    }
}

/// The distinct-value tables (`None` inside: too many distinct values, remembered too).
pub fn distinct_tables() -> &'static SegmentCache<Option<Arc<DistinctValues>>> {
    static CACHE: OnceLock<SegmentCache<Option<Arc<DistinctValues>>>> = OnceLock::new();
    CACHE.get_or_init(|| SegmentCache::new(DISTINCT_CACHE_BYTES))
}

/// Bytes a marker of [`used_zones`] is charged (about what its key takes).
const ZONE_USE_MARKER_BYTES: usize = 64;

/// Most bytes of [`used_zones`] markers kept: about 260,000 zone uses.
pub const ZONE_USE_CACHE_BYTES: usize = 16 << 20;

/// Zones of encoded columns that a read has answered once from their encoded form, without
/// decoding them (a comparison on packed values, a gather of a few rows; a slot is a column
/// and a hash of the zone and the use, `SegmentReader::answer_encoded`): the same use a second
/// time decodes the zone instead, into [`decoded_columns`], so that queries run again read
/// decoded (and cached) values.
pub fn used_zones() -> &'static SegmentCache<()> {
    static CACHE: OnceLock<SegmentCache<()>> = OnceLock::new();
    CACHE.get_or_init(|| SegmentCache::new(ZONE_USE_CACHE_BYTES))
}

/// Marks `slot` of `segment` in [`used_zones`]; whether it was not marked before.
pub fn first_use(segment: SegmentKey, slot: Slot) -> bool {
    let cache = used_zones();
    let first = !cache.contains(segment, slot);
    // Marks it (or, if marked, touches it as used now).
    let marked = cache.get_or_build(segment, slot, || Ok::<_, ()>(()), |_| ZONE_USE_MARKER_BYTES);
    debug_assert!(marked.is_ok());
    first
}

/// The decoded encoded columns.
pub fn decoded_columns() -> &'static SegmentCache<DecodedColumn> {
    static CACHE: OnceLock<SegmentCache<DecodedColumn>> = OnceLock::new();
    CACHE.get_or_init(|| SegmentCache::new(DEFAULT_DECODED_CACHE_BYTES))
}

/// Sets the process-wide budget for decoded columns of encoded (format v3) segments, in bytes
/// (default [`DEFAULT_DECODED_CACHE_BYTES`]). Columns beyond it are decoded again when next
/// read; `0` keeps none, and also forgets which zones were read before ([`used_zones`]), so
/// reads from then on behave as in a new process. Raw columns are never decoded and never
/// counted.
pub fn set_decoded_cache_bytes(bytes: usize) {
    decoded_columns().set_budget(bytes);
    if bytes == 0 {
        used_zones().clear();
    }
}

/// Bytes of decoded columns the cache holds now.
pub fn decoded_cache_bytes() -> usize {
    decoded_columns().bytes()
}

/// The budget [`set_decoded_cache_bytes`] set last (or the default).
pub fn decoded_cache_budget() -> usize {
    decoded_columns().budget()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::LargeStringArray;

    fn key(len: u64) -> SegmentKey {
        SegmentKey::of(
            Path::new("/nonexistent/seg-test-segment-cache.qseg"),
            len,
            7,
        )
    }

    #[test]
    fn a_second_open_of_the_same_segment_reuses_the_entry() {
        let cache = SegmentCache::new(1 << 20);
        let array = LargeStringArray::from(vec!["a", "b", "a"]);
        let built = || Ok::<_, ()>(DistinctValues::build(&array).map(Arc::new));
        let size = |v: &Option<Arc<DistinctValues>>| v.as_ref().map_or(0, |t| t.codes.len());
        let first = cache
            .get_or_build(key(10), (0, 0), built, size)
            .unwrap()
            .unwrap();
        let again = cache
            .get_or_build(
                key(10),
                (0, 0),
                || -> Result<_, ()> { panic!("rebuilt") },
                size,
            )
            .unwrap()
            .unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        // Another slot, or a different file, is another entry.
        let other = cache.get_or_build(key(11), (0, 0), || Ok::<_, ()>(None), size);
        assert!(other.unwrap().is_none());
    }

    #[test]
    fn the_least_recently_used_entries_go_past_the_budget() {
        let cache: SegmentCache<usize> = SegmentCache::new(100);
        let put = |len: u64, size: usize| {
            cache
                .get_or_build(key(len), (0, 0), || Ok::<_, ()>(size), |v| *v)
                .unwrap()
        };
        put(1, 40);
        put(2, 40);
        put(1, 0); // touches entry 1: entry 2 is now the oldest
        put(3, 40);
        assert_eq!(cache.bytes(), 80);
        let rebuilt = std::cell::Cell::new(false);
        let probe = |len: u64| {
            rebuilt.set(false);
            cache
                .get_or_build(
                    key(len),
                    (0, 0),
                    || {
                        rebuilt.set(true);
                        Ok::<_, ()>(40)
                    },
                    |v| *v,
                )
                .unwrap();
            rebuilt.get()
        };
        assert!(!probe(1), "entry 1 was used last and stays");
        assert!(probe(2), "entry 2 was evicted");
        // Larger than the whole budget: handed out, not kept.
        assert_eq!(put(9, 500), 500);
        assert!(cache.bytes() <= 100);
        cache.set_budget(0);
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn a_zero_decoded_budget_forgets_which_zones_were_used() {
        let segment = key(12_345);
        assert!(first_use(segment, (3, 9)), "never used before");
        assert!(!first_use(segment, (3, 9)), "used once already");
        let budget = decoded_cache_budget();
        set_decoded_cache_bytes(0);
        set_decoded_cache_bytes(budget);
        assert!(first_use(segment, (3, 9)), "as in a new process");
    }
}
