//! Deletion vectors: the rows of one segment that a table version no longer shows.
//!
//! # Contract
//! - A segment is never modified. A version that deletes rows of it names, in its manifest, a
//!   small immutable file of its own (`del-<unique>.qdel`, docs/FORMAT.md "Deletion vectors"):
//!   one bit per row of the segment, set where the row is deleted, with the identity of the
//!   segment it belongs to and a CRC-32C over the whole file.
//! - [`DeletedRows::write`] writes the file under a temporary name, fsyncs it and renames it
//!   into place, as segments are written; until a manifest names it, it is a leftover that
//!   `vacuum` removes.
//! - [`DeletedRows::read`] trusts nothing: magic, version, length (checked before anything is
//!   allocated, against the row count the manifest gives), checksum, the segment identity, the
//!   stored count against the bits set, and zero bits past the last row. Every failure is a
//!   [`Corrupt`](crate::ErrorKind::Corrupt) error naming the file and byte.
//! - In memory, [`DeletedRows`] answers membership, counts over a range and the `k`-th visible
//!   row in O(1) to O(log n): what scans and `take` need to see a segment minus its deletions.

use std::ops::Range;
use std::path::Path;

use super::manifest::DeletionRef;
use super::names::{new_deletion_name, temp_name};
use super::segment::SegmentIdentity;
use super::table_dir::write_new_durable;
use crate::error::{Error, Result};

/// Magic bytes at the start of a deletion-vector file.
pub const DELETION_MAGIC: [u8; 8] = *b"QUIVDEL\0";
/// Version of the deletion-vector file format.
pub const DELETION_FORMAT_VERSION: u32 = 1;
/// Bytes before the bitmap.
const HEADER_LEN: usize = 48;

/// The deleted rows of one segment of `rows` rows (see the module contract).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedRows {
    /// Bit `r % 64` of word `r / 64` is set where row `r` is deleted; bits past `rows` are 0.
    words: Vec<u64>,
    rows: usize,
    deleted: usize,
    /// Visible (not deleted) rows before each word, for [`Self::visible_row`].
    visible_before: Vec<u64>,
}

impl DeletedRows {
    /// No row of a `rows`-row segment deleted.
    pub fn none(rows: usize) -> Self {
        let mut d = Self {
            words: vec![0; rows.div_ceil(64)],
            rows,
            deleted: 0,
            visible_before: Vec::new(),
        };
        d.index();
        d
    }

    /// The rows at positions `deleted` (any order, repeats allowed, each `< rows`) deleted.
    pub fn from_rows(rows: usize, deleted: impl IntoIterator<Item = usize>) -> Result<Self> {
        let mut words = vec![0u64; rows.div_ceil(64)];
        for r in deleted {
            if r >= rows {
                return Err(Error::invalid(format!(
                    "row {r} cannot be deleted: the segment has {rows} rows"
                )));
            }
            words[r / 64] |= 1 << (r % 64);
        }
        Ok(Self::from_words(words, rows))
    }

    fn from_words(words: Vec<u64>, rows: usize) -> Self {
        let deleted = words.iter().map(|w| w.count_ones() as usize).sum();
        let mut d = Self {
            words,
            rows,
            deleted,
            visible_before: Vec::new(),
        };
        d.index();
        d
    }

    fn index(&mut self) {
        let mut visible = 0u64;
        self.visible_before = self
            .words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let before = visible;
                let in_word = (self.rows - i * 64).min(64) as u64;
                visible += in_word - u64::from(w.count_ones());
                before
            })
            .collect();
    }

    /// Rows of the segment, deleted or not.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Rows deleted.
    pub fn deleted(&self) -> usize {
        self.deleted
    }

    /// Rows not deleted.
    pub fn visible(&self) -> usize {
        self.rows - self.deleted
    }

    /// True if row `row` is deleted (`row < rows`).
    pub fn is_deleted(&self, row: usize) -> bool {
        self.words[row / 64] >> (row % 64) & 1 == 1
    }

    /// Deleted rows among `range` (within `0..rows`).
    pub fn deleted_in(&self, range: Range<usize>) -> usize {
        if range.is_empty() || self.deleted == 0 {
            return 0;
        }
        let (first, last) = (range.start / 64, (range.end - 1) / 64);
        let mut n = 0;
        for w in first..=last {
            let mut word = self.words[w];
            if w == first {
                word &= u64::MAX << (range.start % 64);
            }
            if w == last && !range.end.is_multiple_of(64) {
                word &= u64::MAX >> (64 - range.end % 64);
            }
            n += word.count_ones() as usize;
        }
        n
    }

    /// The physical row of the `k`-th visible row (`k < visible()`), counting from 0.
    pub fn visible_row(&self, k: usize) -> usize {
        let k = k as u64;
        // The last word with fewer than k + 1 visible rows before it holds the row.
        let w = self.visible_before.partition_point(|&v| v <= k) - 1;
        let mut rank = k - self.visible_before[w];
        let mut kept = !self.words[w];
        loop {
            let bit = kept.trailing_zeros() as usize;
            if rank == 0 {
                return w * 64 + bit;
            }
            kept &= kept - 1;
            rank -= 1;
        }
    }

    /// The visible rows before physical row `row` (`row <= rows`).
    pub fn visible_before(&self, row: usize) -> usize {
        row - self.deleted_in(0..row)
    }

    /// These deletions plus `other`'s (of the same segment).
    pub fn union(&self, other: &DeletedRows) -> Result<Self> {
        if other.rows != self.rows {
            return Err(Error::invalid(format!(
                "deletions of a {}-row segment cannot be merged with those of a {}-row one",
                other.rows, self.rows
            )));
        }
        let words = self
            .words
            .iter()
            .zip(&other.words)
            .map(|(a, b)| a | b)
            .collect();
        Ok(Self::from_words(words, self.rows))
    }

    /// The deleted rows, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let bit = w.trailing_zeros() as usize;
                    w &= w - 1;
                    i * 64 + bit
                })
            })
        })
    }

    /// The file's bytes, for a segment of identity `segment`, checksum included.
    pub fn encode(&self, segment: SegmentIdentity) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEADER_LEN + self.rows.div_ceil(8) + 4);
        bytes.extend_from_slice(&DELETION_MAGIC);
        bytes.extend_from_slice(&DELETION_FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&(self.rows as u64).to_le_bytes());
        bytes.extend_from_slice(&segment.file_len.to_le_bytes());
        bytes.extend_from_slice(&segment.footer_crc32c.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&(self.deleted as u64).to_le_bytes());
        for w in &self.words {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        bytes.truncate(HEADER_LEN + self.rows.div_ceil(8));
        let crc = crc32c::crc32c(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Parses and checks a file's bytes against what the manifest says of it and of its
    /// segment (`rows` rows, identity `segment`). `path` names the file in errors.
    pub fn decode(
        bytes: &[u8],
        path: &Path,
        expected: &DeletionRef,
        rows: u64,
        segment: SegmentIdentity,
    ) -> Result<Self> {
        let fail = |offset: usize, detail: String| {
            Err(Error::corrupt_at(
                path,
                "deletion vector",
                offset as u64,
                detail,
            ))
        };
        let bitmap_len = rows.div_ceil(8);
        let want = (HEADER_LEN as u64)
            .checked_add(bitmap_len)
            .and_then(|n| n.checked_add(4));
        if want != Some(bytes.len() as u64) {
            return fail(
                0,
                format!(
                    "the file has {} bytes; a deletion vector of a {rows}-row segment has {}",
                    bytes.len(),
                    HEADER_LEN as u64 + bitmap_len + 4
                ),
            );
        }
        let rows = rows as usize; // fits: the file of that size is in memory
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let u32_at = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().expect("8 bytes"));
        if body[..8] != DELETION_MAGIC {
            return fail(0, format!("magic is {:02x?}", &body[..8]));
        }
        let stored = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
        let actual = crc32c::crc32c(body);
        if stored != actual {
            return fail(
                body.len(),
                format!("checksum mismatch: stored {stored:#010x}, computed {actual:#010x}"),
            );
        }
        if stored != expected.crc32c {
            return fail(
                body.len(),
                format!(
                    "checksum {stored:#010x} is not the {:#010x} the manifest records",
                    expected.crc32c
                ),
            );
        }
        let version = u32_at(8);
        if version != DELETION_FORMAT_VERSION {
            return fail(
                8,
                format!("format version {version} is not supported (this build reads {DELETION_FORMAT_VERSION})"),
            );
        }
        if u32_at(12) != 0 || u32_at(36) != 0 {
            return fail(12, "reserved bytes must be zero".into());
        }
        if u64_at(16) != rows as u64 {
            return fail(
                16,
                format!("covers {} rows, its segment has {rows}", u64_at(16)),
            );
        }
        let identity = SegmentIdentity {
            file_len: u64_at(24),
            footer_crc32c: u32_at(32),
        };
        if identity != segment {
            return fail(
                24,
                format!("belongs to a segment of {identity:?}, not the manifest's {segment:?}"),
            );
        }
        let mut words = vec![0u64; rows.div_ceil(64)];
        for (i, chunk) in body[HEADER_LEN..].chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            words[i] = u64::from_le_bytes(word);
        }
        if !rows.is_multiple_of(64) && words.last().is_some_and(|w| w >> (rows % 64) != 0) {
            return fail(
                HEADER_LEN + rows / 8,
                format!("bits past the segment's last row ({}) are set", rows - 1),
            );
        }
        let d = Self::from_words(words, rows);
        let recorded = u64_at(40);
        if recorded != d.deleted as u64 || recorded != expected.deleted {
            return fail(
                40,
                format!(
                    "records {recorded} deleted rows, the manifest {}, the bitmap holds {}",
                    expected.deleted, d.deleted
                ),
            );
        }
        Ok(d)
    }

    /// Reads and checks the deletion vector `expected` of a segment of `rows` rows and
    /// identity `segment` in table directory `dir`.
    pub fn read(
        dir: &Path,
        expected: &DeletionRef,
        rows: u64,
        segment: SegmentIdentity,
    ) -> Result<Self> {
        let path = dir.join(&expected.name);
        if expected.file_len != HEADER_LEN as u64 + rows.div_ceil(8) + 4 {
            return Err(Error::corrupt(
                &path,
                "manifest",
                format!(
                    "records a {}-byte deletion vector for a {rows}-row segment",
                    expected.file_len
                ),
            ));
        }
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, "read", e))?;
        Self::decode(&bytes, &path, expected, rows, segment)
    }

    /// Writes these deletions of the segment `segment` as a new file in `dir` (see the
    /// module contract) and returns what a manifest records of it.
    pub fn write(&self, dir: &Path, segment: SegmentIdentity) -> Result<DeletionRef> {
        let name = new_deletion_name();
        let tmp = dir.join(temp_name(&name));
        let bytes = self.encode(segment);
        write_new_durable(&tmp, &bytes, "write deletion vector")?;
        let path = dir.join(&name);
        if let Err(e) = std::fs::rename(&tmp, &path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io(&path, "rename into place", e));
        }
        let crc32c = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().expect("4 bytes"));
        Ok(DeletionRef {
            name,
            deleted: self.deleted as u64,
            file_len: bytes.len() as u64,
            crc32c,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEGMENT: SegmentIdentity = SegmentIdentity {
        file_len: 4096,
        footer_crc32c: 0x1234_5678,
    };

    fn reference(d: &DeletedRows, bytes: &[u8]) -> DeletionRef {
        DeletionRef {
            name: "del-x.qdel".into(),
            deleted: d.deleted() as u64,
            file_len: bytes.len() as u64,
            crc32c: u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap()),
        }
    }

    #[test]
    fn counts_ranks_and_selects_agree_with_a_plain_list() {
        let rows = 1000;
        let deleted: Vec<usize> = (0..rows).filter(|r| r % 7 == 0 || r % 64 == 63).collect();
        let d = DeletedRows::from_rows(rows, deleted.iter().copied()).unwrap();
        assert_eq!(d.deleted(), deleted.len());
        assert_eq!(d.iter().collect::<Vec<_>>(), deleted);
        let visible: Vec<usize> = (0..rows).filter(|r| !deleted.contains(r)).collect();
        for (k, &r) in visible.iter().enumerate() {
            assert_eq!(d.visible_row(k), r, "visible row {k}");
            assert_eq!(d.visible_before(r), k);
        }
        for (a, b) in [(0, 1000), (3, 3), (5, 64), (63, 65), (100, 999), (128, 192)] {
            let want = deleted.iter().filter(|&&r| r >= a && r < b).count();
            assert_eq!(d.deleted_in(a..b), want, "{a}..{b}");
        }
        assert!(d.is_deleted(0) && !d.is_deleted(1) && d.is_deleted(63));
    }

    #[test]
    fn union_keeps_every_deleted_row_once() {
        let a = DeletedRows::from_rows(10, [1, 2]).unwrap();
        let b = DeletedRows::from_rows(10, [2, 9]).unwrap();
        let u = a.union(&b).unwrap();
        assert_eq!(u.iter().collect::<Vec<_>>(), vec![1, 2, 9]);
        assert!(a.union(&DeletedRows::none(11)).is_err());
        assert!(DeletedRows::from_rows(10, [10]).is_err());
    }

    #[test]
    fn file_round_trips_and_every_bit_flip_is_refused() {
        let d = DeletedRows::from_rows(77, [0, 5, 76]).unwrap();
        let bytes = d.encode(SEGMENT);
        let r = reference(&d, &bytes);
        let path = Path::new("del-x.qdel");
        assert_eq!(
            DeletedRows::decode(&bytes, path, &r, 77, SEGMENT).unwrap(),
            d
        );
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(
                DeletedRows::decode(&b, path, &r, 77, SEGMENT).is_err(),
                "flip of bit {bit} went unnoticed"
            );
        }
    }

    #[test]
    fn a_vector_of_another_segment_or_length_is_refused_before_reading_bits() {
        let d = DeletedRows::from_rows(77, [3]).unwrap();
        let bytes = d.encode(SEGMENT);
        let r = reference(&d, &bytes);
        let path = Path::new("del-x.qdel");
        let other = SegmentIdentity {
            file_len: 4096,
            footer_crc32c: 1,
        };
        let err = DeletedRows::decode(&bytes, path, &r, 77, other).unwrap_err();
        assert!(err.to_string().contains("belongs to a segment"), "{err}");
        let err = DeletedRows::decode(&bytes, path, &r, u64::MAX, SEGMENT).unwrap_err();
        assert!(err.to_string().contains("bytes"), "{err}");
        let err = DeletedRows::decode(&bytes, path, &r, 78, SEGMENT).unwrap_err();
        assert!(err.is_corrupt(), "{err}");
    }

    #[test]
    fn written_files_read_back_and_checked_against_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let d = DeletedRows::from_rows(130, [64, 129]).unwrap();
        let r = d.write(dir.path(), SEGMENT).unwrap();
        assert!(r.name.ends_with(".qdel"));
        assert_eq!(DeletedRows::read(dir.path(), &r, 130, SEGMENT).unwrap(), d);
        let lying = DeletionRef {
            deleted: 3,
            ..r.clone()
        };
        assert!(DeletedRows::read(dir.path(), &lying, 130, SEGMENT).is_err());
    }
}
