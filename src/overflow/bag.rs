//! A segment's overflow bag, read key by key through its posting lists.
//!
//! # Contract
//! - [`Bag::open`] checks, in O(keys), the key dictionary (each hash the FNV-1a of its name,
//!   no two alike, each type one the bag holds); the footer's layout check already fixed the
//!   regions' lengths (`n + 1` offsets, 4 bytes of postings per value).
//! - Reads touch only the rows that hold a key: [`Bag::postings`] lists them, [`Bag::value`]
//!   decodes one row's blob (checked: its offsets, grammar, UTF-8) and returns the key's value, which must
//!   be there with the tag its type is stored with. Anything else is a `Corrupt` error naming
//!   the file, key and row; nothing panics, whatever the bytes. Values borrow from the mapping.
//! - [`Bag::verify`] checks everything else, in one pass over the bag: the offsets (from 0,
//!   non-decreasing, ending at the data length), every blob, every entry's
//!   key, no key twice in a row, and that each key's postings are exactly, in order, the rows
//!   whose blob holds a (non-null) value for it. Quiver writes no null-tagged entries (an
//!   absent key is null); it accepts them from other writers as nulls.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;

use bytes::Bytes;

use super::blob::{Entries, Tag, Value};
use super::keys::{key_hash, tag_for};
use crate::error::{Error, Result};
use crate::native::footer::BagKey;
use crate::native::segment::{u64_at, SegmentFile};

/// One key as the reader needs it.
#[derive(Debug)]
struct KeyInfo {
    name: String,
    hash: u64,
    tag: Tag,
    /// Its slice of the postings region, in entries.
    postings: Range<usize>,
}

/// A segment's overflow bag (see the module contract).
#[derive(Debug)]
pub struct Bag {
    path: PathBuf,
    /// The segment's mapping; the ranges below are regions of it.
    bytes: Bytes,
    offsets: Range<usize>,
    data: Range<usize>,
    postings: Range<usize>,
    keys: Vec<KeyInfo>,
    rows: usize,
}

/// The rows holding one key: ascending `u32`s in the mapping.
#[derive(Debug, Clone, Copy)]
pub struct Postings<'a>(&'a [u8]);

impl Postings<'_> {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.0.len() / 4
    }

    /// Row `i` (which must be `< len`).
    pub fn get(&self, i: usize) -> usize {
        let b: [u8; 4] = self.0[4 * i..4 * i + 4].try_into().expect("4 bytes");
        u32::from_le_bytes(b) as usize
    }

    /// The first index whose row is `>= row` (binary search; meaningful on sorted postings,
    /// harmless on corrupt ones).
    pub fn lower_bound(&self, row: usize) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.get(mid) < row {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// Checks the key dictionary of a footer: hashes match names, no two keys share one, every
/// type is one the bag holds. Returns hash -> key index. O(keys).
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

/// End offset `i` of an offsets region.
fn end_at(offsets: &[u8], i: usize) -> usize {
    u64_at(offsets, 8 * i) as usize
}

impl Bag {
    /// Opens the bag of `file` (see the module contract); `None` if the segment has none.
    pub fn open(file: &SegmentFile) -> Result<Option<Self>> {
        let Some(meta) = &file.footer().bag else {
            return Ok(None);
        };
        check_keys(&meta.keys).map_err(|detail| {
            Error::corrupt(file.path(), "footer, overflow key dictionary", detail)
        })?;
        let (offsets, data) = (file.region(meta.offsets), file.region(meta.data));
        let rows = file.row_count() as usize;
        let mut next = 0;
        let keys = meta
            .keys
            .iter()
            .map(|k| {
                let present = rows - k.stats.null_count as usize;
                next += present;
                KeyInfo {
                    name: k.def.name.clone(),
                    hash: k.hash,
                    tag: tag_for(&k.def.column_type).expect("check_keys refused bag-less types"),
                    postings: next - present..next,
                }
            })
            .collect();
        let base = file.bytes().as_ptr() as usize;
        let range = |s: &[u8]| {
            let start = s.as_ptr() as usize - base;
            start..start + s.len()
        };
        Ok(Some(Self {
            path: file.path().to_path_buf(),
            bytes: file.bytes().clone(),
            offsets: range(offsets),
            data: range(data),
            postings: range(file.region(meta.postings)),
            keys,
            rows,
        }))
    }

    /// The segment file's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The rows holding key `key` (an index into the footer's keys).
    pub fn postings(&self, key: usize) -> Postings<'_> {
        let r = &self.keys[key].postings;
        Postings(&self.bytes[self.postings.clone()][4 * r.start..4 * r.end])
    }

    fn corrupt(&self, key: usize, row: usize, detail: impl std::fmt::Display) -> Error {
        Error::corrupt(
            &self.path,
            format!("overflow key \"{}\", row {row}", self.keys[key].name),
            detail,
        )
    }

    /// The blob of `row`, or an error if `row` is out of range or its offsets are not a
    /// range of the data region.
    fn blob(&self, key: usize, row: usize) -> Result<&[u8]> {
        if row >= self.rows {
            return Err(self.corrupt(key, row, format!("a posting past the {} rows", self.rows)));
        }
        let offsets = &self.bytes[self.offsets.clone()];
        let (start, end) = (end_at(offsets, row), end_at(offsets, row + 1));
        self.bytes[self.data.clone()]
            .get(start..end)
            .ok_or_else(|| {
                self.corrupt(
                    key,
                    row,
                    format!("blob offsets {start}..{end} are not a range of the data region"),
                )
            })
    }

    /// The value of key `key` in `row`, which its postings say holds it.
    pub fn value(&self, key: usize, row: usize) -> Result<Value<'_>> {
        let k = &self.keys[key];
        let entries = Entries::new(self.blob(key, row)?).map_err(|e| self.corrupt(key, row, e))?;
        for entry in entries {
            let (hash, value) = entry.map_err(|e| self.corrupt(key, row, e))?;
            if hash != k.hash {
                continue;
            }
            return match value.tag() {
                t if t == k.tag => Ok(value),
                t => Err(self.corrupt(
                    key,
                    row,
                    format!(
                        "a value tagged {t:?}; the key's type is stored as {:?}",
                        k.tag
                    ),
                )),
            };
        }
        Err(self.corrupt(
            key,
            row,
            "the postings list the row but its blob lacks the key",
        ))
    }

    /// Full check of the bag (see the module contract) after `file`'s offsets check. O(bag
    /// bytes).
    pub fn verify(&self, file: &SegmentFile) -> Result<()> {
        file.check_bag_offsets()?;
        let index: HashMap<u64, usize> = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.hash, i))
            .collect();
        // Per key: the next posting expected, and the last row seen.
        let mut next = vec![0usize; self.keys.len()];
        let mut last_row = vec![usize::MAX; self.keys.len()];
        let offsets = &self.bytes[self.offsets.clone()];
        let data = &self.bytes[self.data.clone()];
        for row in 0..self.rows {
            let start = end_at(offsets, row);
            let fail = |detail: String| {
                Error::corrupt(&self.path, format!("overflow bag, row {row}"), detail)
            };
            let blob = &data[start..end_at(offsets, row + 1)];
            let at = |e: crate::native::codec::DecodeError| {
                fail(format!(
                    "byte {} of the data region: {}",
                    start + e.offset,
                    e.detail
                ))
            };
            for entry in Entries::new(blob).map_err(at)? {
                let (hash, value) = entry.map_err(at)?;
                let Some(&k) = index.get(&hash) else {
                    return Err(fail(format!("key {hash:#018x} is not in the dictionary")));
                };
                let name = &self.keys[k].name;
                if last_row[k] == row {
                    return Err(fail(format!("key \"{name}\" appears twice")));
                }
                last_row[k] = row;
                if value.tag() == Tag::Null {
                    continue; // present as null: not in the postings
                }
                if value.tag() != self.keys[k].tag {
                    return Err(fail(format!(
                        "key \"{name}\" holds a value tagged {:?}; its type is stored as {:?}",
                        value.tag(),
                        self.keys[k].tag
                    )));
                }
                let postings = self.postings(k);
                if next[k] >= postings.len() || postings.get(next[k]) != row {
                    return Err(fail(format!(
                        "key \"{name}\" is in the row but not next in its postings"
                    )));
                }
                next[k] += 1;
            }
        }
        for (k, key) in self.keys.iter().enumerate() {
            if next[k] != self.postings(k).len() {
                return Err(Error::corrupt(
                    &self.path,
                    format!("overflow key \"{}\"", key.name),
                    format!(
                        "{} rows hold a value, the postings and null count say {}",
                        next[k],
                        self.postings(k).len()
                    ),
                ));
            }
        }
        Ok(())
    }
}
