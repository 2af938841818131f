//! Distinct-value tables shared by every open of the same segment file in the process, so that
//! a query does not rebuild what an earlier query over the same immutable segment built.
//!
//! # Contract
//! - A table is keyed by the segment's path, file length and footer checksum, and the column:
//!   segment files are immutable and never reuse a name (`native/names.rs`), and a file that
//!   changed would have to keep both length and footer checksum to be confused with the one
//!   the table was built from — even then the table is self-consistent (it was built from a
//!   validated column), so nothing unsound follows.
//! - "No table" (too many distinct values, or not a string column) is remembered too.
//! - At most [`CACHE_BYTES`] of codes are kept; beyond, the least recently used tables go.
//!   This caches an index of stored data, never a query result.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::distinct::DistinctValues;

/// Most bytes of tables kept (one byte per row, plus the distinct values).
pub const CACHE_BYTES: usize = 256 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    path: PathBuf,
    len: u64,
    footer_crc32c: u32,
    column: usize,
}

struct Entry {
    table: Option<Arc<DistinctValues>>,
    bytes: usize,
    used: u64,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<Key, Entry>,
    bytes: usize,
    clock: u64,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The segment file a table belongs to.
pub struct SegmentKey<'a> {
    pub path: &'a Path,
    pub len: u64,
    pub footer_crc32c: u32,
}

/// The cached table of `column` of segment `segment`, or `build()`'s, which is then kept.
pub fn shared<E>(
    segment: SegmentKey<'_>,
    column: usize,
    build: impl FnOnce() -> Result<Option<Arc<DistinctValues>>, E>,
) -> Result<Option<Arc<DistinctValues>>, E> {
    let key = Key {
        path: segment.path.to_path_buf(),
        len: segment.len,
        footer_crc32c: segment.footer_crc32c,
        column,
    };
    {
        let mut c = cache().lock().unwrap_or_else(|p| p.into_inner());
        c.clock += 1;
        let now = c.clock;
        if let Some(e) = c.entries.get_mut(&key) {
            e.used = now;
            return Ok(e.table.clone());
        }
    }
    // Built outside the lock: other segments' tables build in parallel.
    let table = build()?;
    let bytes = table
        .as_ref()
        .map_or(0, |t| t.codes.len() + t.values.get_array_memory_size());
    let mut c = cache().lock().unwrap_or_else(|p| p.into_inner());
    c.clock += 1;
    let used = c.clock;
    if let Some(old) = c.entries.insert(
        key,
        Entry {
            table: table.clone(),
            bytes,
            used,
        },
    ) {
        c.bytes -= old.bytes;
    }
    c.bytes += bytes;
    while c.bytes > CACHE_BYTES {
        let Some(oldest) = c
            .entries
            .iter()
            .filter(|(_, e)| e.bytes > 0)
            .min_by_key(|(_, e)| e.used)
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        if let Some(e) = c.entries.remove(&oldest) {
            c.bytes -= e.bytes;
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::LargeStringArray;

    #[test]
    fn a_second_open_of_the_same_segment_reuses_the_table() {
        let path = Path::new("/nonexistent/seg-test-distinct-cache.qseg");
        let key = || SegmentKey {
            path,
            len: 10,
            footer_crc32c: 7,
        };
        let array = LargeStringArray::from(vec!["a", "b", "a"]);
        let built = || Ok::<_, ()>(DistinctValues::build(&array).map(Arc::new));
        let first = shared(key(), 0, built).unwrap().unwrap();
        let again = shared(key(), 0, || -> Result<_, ()> { panic!("rebuilt") })
            .unwrap()
            .unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        // Another column, or a different file, is another table.
        let other = SegmentKey {
            path,
            len: 11,
            footer_crc32c: 7,
        };
        assert!(shared(other, 0, || Ok::<_, ()>(None)).unwrap().is_none());
    }
}
