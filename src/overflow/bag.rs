//! A segment's overflow bag, validated once, then read row by row without allocating.
//!
//! # Contract
//! - [`Bag::open`] checks everything a reader relies on, in one pass over the bag (O(bag
//!   bytes)): the key dictionary (each hash is the FNV-1a of its name, no two alike), the
//!   offsets (`n + 1`, from 0, non-decreasing, ending at the data length), and every blob
//!   (grammar, UTF-8, known keys, each key at most once per row, each value with the tag its
//!   key's type is stored with, or the null tag) and that each key's present values number
//!   what the footer's null count implies. Any fault is a `Corrupt` error naming the file, the
//!   row and the byte.
//! - After that, [`Bag::row`] decodes a row with no checks that can fail and no allocation:
//!   strings are `&str` borrowed from the mapping.

use std::collections::HashMap;

use bytes::Bytes;

use super::blob::{Entries, Tag, Value};
use super::keys::{key_hash, tag_for};
use crate::error::{Error, Result};
use crate::native::footer::BagKey;
use crate::native::segment::SegmentFile;

/// A validated overflow bag (see the module contract).
#[derive(Debug)]
pub struct Bag {
    /// The segment's mapping; `offsets` and `data` are ranges of it.
    bytes: Bytes,
    offsets: std::ops::Range<usize>,
    data: std::ops::Range<usize>,
    /// Key hash -> index in the footer's key list.
    index: HashMap<u64, usize>,
    rows: usize,
}

/// Checks the key dictionary of a footer: hashes match names, no two keys share one. Returns
/// hash -> key index. O(keys).
pub fn check_keys(keys: &[BagKey]) -> std::result::Result<HashMap<u64, usize>, String> {
    let mut index = HashMap::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let want = key_hash(&k.def.name);
        if k.hash != want {
            return Err(format!(
                "key \"{}\" is recorded with hash {:#018x}, its FNV-1a is {want:#018x}",
                k.def.name, k.hash
            ));
        }
        if tag_for(&k.def.column_type).is_none() {
            return Err(format!(
                "key \"{}\" has a type the overflow bag cannot hold",
                k.def.name
            ));
        }
        if index.insert(k.hash, i).is_some() {
            return Err(format!("key \"{}\" appears twice", k.def.name));
        }
    }
    Ok(index)
}

impl Bag {
    /// Validates the bag of `file`; `None` if the segment has none.
    pub fn open(file: &SegmentFile) -> Result<Option<Self>> {
        let Some(meta) = &file.footer().bag else {
            return Ok(None);
        };
        let Some((offsets, data)) = file.check_bag_offsets()? else {
            return Ok(None);
        };
        let index = check_keys(&meta.keys).map_err(|detail| {
            Error::corrupt(file.path(), "footer, overflow key dictionary", detail)
        })?;
        let rows = file.row_count() as usize;
        let tags: Vec<Tag> = meta
            .keys
            .iter()
            .map(|k| tag_for(&k.def.column_type).expect("check_keys refused bag-less types"))
            .collect();
        let mut present = vec![0u64; meta.keys.len()];
        let mut last_row = vec![usize::MAX; meta.keys.len()];
        let end_at = |i: usize| {
            let b: [u8; 8] = offsets[8 * i..8 * i + 8].try_into().expect("8 bytes");
            u64::from_le_bytes(b) as usize
        };
        for row in 0..rows {
            let (start, end) = (end_at(row), end_at(row + 1));
            let fail = |at: usize, detail: String| {
                file.corrupt_in(
                    "overflow bag",
                    "bag data",
                    meta.data.offset + at as u64,
                    format!("row {row}: {detail}"),
                )
            };
            let blob = &data[start..end];
            let entries = Entries::new(blob).map_err(|e| fail(start + e.offset, e.detail))?;
            for entry in entries {
                let (key, value) = entry.map_err(|e| fail(start + e.offset, e.detail))?;
                let Some(&k) = index.get(&key) else {
                    return Err(fail(
                        start,
                        format!("key {key:#018x} is not in the dictionary"),
                    ));
                };
                let name = &meta.keys[k].def.name;
                if last_row[k] == row {
                    return Err(fail(start, format!("key \"{name}\" appears twice")));
                }
                last_row[k] = row;
                match value.tag() {
                    Tag::Null => {}
                    t if t == tags[k] => present[k] += 1,
                    t => {
                        return Err(fail(
                            start,
                            format!(
                            "key \"{name}\" holds a value tagged {t:?}; its type is stored as {:?}",
                            tags[k]
                        ),
                        ))
                    }
                }
            }
        }
        for (k, key) in meta.keys.iter().enumerate() {
            let want = file.row_count() - key.stats.null_count;
            if present[k] != want {
                return Err(Error::corrupt(
                    file.path(),
                    format!("overflow key \"{}\"", key.def.name),
                    format!(
                        "{} rows hold a value, the footer's null count implies {want}",
                        present[k]
                    ),
                ));
            }
        }
        let base = file.bytes().as_ptr() as usize;
        let range = |s: &[u8]| {
            let start = s.as_ptr() as usize - base;
            start..start + s.len()
        };
        Ok(Some(Self {
            bytes: file.bytes().clone(),
            offsets: range(offsets),
            data: range(data),
            index,
            rows,
        }))
    }

    /// Rows in the segment.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The footer key index of the key with `hash`.
    pub fn key_index(&self, hash: u64) -> Option<usize> {
        self.index.get(&hash).copied()
    }

    /// The blob of `row` (which must be `< rows`).
    fn blob(&self, row: usize) -> &[u8] {
        let offsets = &self.bytes[self.offsets.clone()];
        let end_at = |i: usize| {
            let b: [u8; 8] = offsets[8 * i..8 * i + 8].try_into().expect("8 bytes");
            u64::from_le_bytes(b) as usize
        };
        &self.bytes[self.data.clone()][end_at(row)..end_at(row + 1)]
    }

    /// The entries of `row` as (footer key index, value); null-tagged entries are skipped.
    /// Panics if `row >= rows`.
    pub fn row(&self, row: usize) -> impl Iterator<Item = (usize, Value<'_>)> + '_ {
        assert!(row < self.rows, "row {row} of a {}-row bag", self.rows);
        Entries::validated(self.blob(row))
            .map_while(|e| e.ok())
            .filter(|(_, v)| v.tag() != Tag::Null)
            .filter_map(|(key, v)| Some((*self.index.get(&key)?, v)))
    }
}
