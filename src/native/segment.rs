//! An open, validated, read-only segment file. Knows nothing of Arrow.
//!
//! # Contract
//! - [`SegmentFile::open`] maps the file read-only and checks, in O(metadata): the size against
//!   what the manifest recorded, header magic/version/reserved bytes, the trailer, the footer
//!   checksum and grammar, and the region layout (every region inside the file, 64-byte aligned,
//!   disjoint, of the length its type and the row count require; the zero prefix before every
//!   offsets region).
//! - After `open`, [`SegmentFile::region`] slices always lie inside the mapping, which is never
//!   written. Region *contents* are checked lazily: [`SegmentFile::check_contents`] (offsets,
//!   UTF-8, null count; for encoded columns, every value's range or code, via
//!   [`SegmentFile::check_encoded`], which also returns the decoded rows) once per column on
//!   first use, and
//!   [`SegmentFile::verify`] (every checksum and every byte between regions) on demand.

use std::fs::File;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use memmap2::Mmap;

use super::blocks;
use super::delta::DeltaColumn;
use super::encoding::{unpack_codes_rows, unpack_fixed_rows, Encoding, IntKind, RowError};
use super::footer::{ColumnMeta, Region, SegmentFooter};
use super::schema::Layout;
use super::{ALIGNMENT, FORMAT_VERSION, HEADER_LEN, SEGMENT_MAGIC, TRAILER_LEN, TRAILER_MAGIC};
use crate::error::{Error, Result};

/// What the manifest says a segment file must be: checked on open so a replaced or truncated
/// file is caught before it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentIdentity {
    /// Size of the file in bytes.
    pub file_len: u64,
    /// CRC-32C of its footer.
    pub footer_crc32c: u32,
}

/// An open segment: the read-only mapping and its validated footer.
#[derive(Debug)]
pub struct SegmentFile {
    path: PathBuf,
    /// The whole file, mapped read-only (or read into memory for an empty mapping).
    bytes: Bytes,
    footer: SegmentFooter,
    footer_offset: u64,
    footer_crc32c: u32,
}

/// The rows of an encoded column's `data` region, decoded and checked.
#[derive(Debug)]
pub enum Decoded {
    /// A packed or delta column's values in the raw fixed-width layout.
    Fixed(Vec<u8>),
    /// A dictionary column's codes, each below the dictionary's size.
    Codes(Vec<u32>),
    /// A block-compressed column's values back to back and their cumulative end offsets
    /// (UTF-8 at every row for string types).
    Variable(Vec<u8>, Vec<u64>),
}

/// The little-endian `u64` at byte `at` of `b` (which must hold it).
pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

impl SegmentFile {
    /// Maps and validates the segment at `path` (see the module contract). With `expect`, the
    /// file's size and footer checksum must match the manifest's record of it.
    pub fn open(path: &Path, expect: Option<SegmentIdentity>) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        let metadata = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
        if !metadata.is_file() {
            // A FIFO, device or directory has no fixed contents to map.
            return Err(Error::corrupt(
                path,
                "file type",
                "a segment must be a regular file",
            ));
        }
        let len = metadata.len();
        if let Some(expect) = expect {
            if len != expect.file_len {
                return Err(Error::corrupt(
                    path,
                    "file size",
                    format!(
                        "the file has {len} bytes but the manifest recorded {}",
                        expect.file_len
                    ),
                ));
            }
        }
        if len < HEADER_LEN + TRAILER_LEN {
            return Err(Error::corrupt(
                path,
                "file size",
                format!(
                    "{len} bytes is too short for a segment (at least {})",
                    HEADER_LEN + TRAILER_LEN
                ),
            ));
        }
        // SAFETY:
        // - the file is a regular file (checked above), opened read-only and mapped with `Mmap`,
        //   never `MmapMut`, so this process never writes through the mapping;
        // - Quiver never writes to, truncates or renames over a published segment (temp name,
        //   fsync, no-replace rename: `segment_writer.rs`), and changes by other programs are
        //   excluded by docs/FORMAT.md "Assumptions". That holds whether or not the caller
        //   passed the manifest's identity: the size check above is an integrity check, not
        //   what makes the mapping sound;
        // - every later access is bounds-checked against the mapping's length (`from_bytes`).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, "map", e))?;
        Self::from_bytes(path, Bytes::from_owner(map), expect)
    }

    /// Validates a segment image already in memory (used by `open` and by fuzzing).
    pub fn from_bytes(path: &Path, bytes: Bytes, expect: Option<SegmentIdentity>) -> Result<Self> {
        let corrupt =
            |at: &str, offset: u64, detail: String| Error::corrupt_at(path, at, offset, detail);
        let len = bytes.len() as u64;
        if len < HEADER_LEN + TRAILER_LEN {
            return Err(Error::corrupt(
                path,
                "file size",
                format!("{len} bytes is too short for a segment"),
            ));
        }
        let b = &bytes[..];
        if b[0..8] != SEGMENT_MAGIC {
            return Err(corrupt(
                "header",
                0,
                format!(
                    "magic is {:02x?}, expected {:02x?}",
                    &b[0..8],
                    SEGMENT_MAGIC
                ),
            ));
        }
        let version = u32_at(b, 8);
        if !(1..=FORMAT_VERSION).contains(&version) {
            return Err(corrupt(
                "header",
                8,
                format!(
                    "format version {version} is not supported (this build reads 1 to {FORMAT_VERSION})"
                ),
            ));
        }
        if let Some(i) = b[12..HEADER_LEN as usize].iter().position(|&x| x != 0) {
            return Err(corrupt(
                "header",
                12 + i as u64,
                "reserved header bytes must be zero".into(),
            ));
        }
        let t = (len - TRAILER_LEN) as usize;
        if b[t + 24..t + 32] != TRAILER_MAGIC {
            return Err(corrupt(
                "trailer",
                t as u64 + 24,
                "trailer magic is wrong: the file is truncated or not a segment".into(),
            ));
        }
        let footer_offset = u64_at(b, t);
        let footer_len = u64_at(b, t + 8);
        let footer_crc32c = u32_at(b, t + 16);
        if u32_at(b, t + 20) != 0 {
            return Err(corrupt(
                "trailer",
                t as u64 + 20,
                "reserved trailer bytes must be zero".into(),
            ));
        }
        if footer_offset < HEADER_LEN || footer_offset.checked_add(footer_len) != Some(t as u64) {
            return Err(corrupt(
                "trailer",
                t as u64,
                format!(
                    "footer at byte {footer_offset} with length {footer_len} does not end at the trailer (byte {t})"
                ),
            ));
        }
        let footer_bytes = &b[footer_offset as usize..t];
        let actual = crc32c::crc32c(footer_bytes);
        if actual != footer_crc32c {
            return Err(corrupt(
                "footer",
                footer_offset,
                format!("checksum mismatch: stored {footer_crc32c:#010x}, computed {actual:#010x}"),
            ));
        }
        if let Some(expect) = expect {
            if expect.footer_crc32c != footer_crc32c {
                return Err(Error::corrupt(
                    path,
                    "footer",
                    format!(
                        "footer checksum {footer_crc32c:#010x} differs from the manifest's {:#010x}: the file was replaced",
                        expect.footer_crc32c
                    ),
                ));
            }
        }
        let footer = SegmentFooter::decode(footer_bytes, version)
            .map_err(|e| corrupt("footer", footer_offset + e.offset as u64, e.detail))?;
        if version == FORMAT_VERSION && footer.format_version() != FORMAT_VERSION {
            // Writers use version 3 only for segments with an encoded column, so that a flip
            // of the version field is caught too.
            return Err(corrupt(
                "header",
                8,
                format!("format version {version}, but no column is encoded"),
            ));
        }
        footer
            .check_layout(footer_offset)
            .map_err(|(column, region, msg)| {
                Error::corrupt(path, format!("column \"{column}\", region {region}"), msg)
            })?;
        let seg = Self {
            path: path.to_path_buf(),
            bytes,
            footer,
            footer_offset,
            footer_crc32c,
        };
        for c in seg.footer.columns.iter().flat_map(|c| c.walk()) {
            if let Some(off) = c.regions.offsets {
                let prefix = &seg.bytes[off.offset as usize - 8..off.offset as usize];
                if prefix != [0u8; 8] {
                    return Err(corrupt(
                        &format!("column \"{}\", region offsets", c.def.name),
                        off.offset - 8,
                        "the 8 bytes before an offsets region must be zero".into(),
                    ));
                }
            }
        }
        Ok(seg)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The decoded footer.
    pub fn footer(&self) -> &SegmentFooter {
        &self.footer
    }

    /// Rows in the segment.
    pub fn row_count(&self) -> u64 {
        self.footer.row_count
    }

    /// CRC-32C of the footer, as the manifest records it.
    pub fn footer_crc32c(&self) -> u32 {
        self.footer_crc32c
    }

    /// The whole file's bytes (the mapping). Cloning is a reference-count increment.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The bytes of a region of this segment's footer. In bounds by the `open` checks.
    pub fn region(&self, r: Region) -> &[u8] {
        &self.bytes[r.offset as usize..r.end() as usize]
    }

    fn corrupt_at(&self, col: &ColumnMeta, region: &str, byte: u64, detail: String) -> Error {
        self.corrupt_in(
            &format!("column \"{}\"", col.def.name),
            region,
            byte,
            detail,
        )
    }

    /// An error at byte `byte` of `region` of `place` (a column, or the overflow bag).
    pub fn corrupt_in(&self, place: &str, region: &str, byte: u64, detail: String) -> Error {
        Error::corrupt_at(
            &self.path,
            format!("{place}, region {region}"),
            byte,
            detail,
        )
    }

    /// Checks an offsets region: non-decreasing ends, the last equal to `limit` (the data
    /// length, or the child's row count for lists). Returns the ends' region bytes.
    fn check_offsets(
        &self,
        col: &ColumnMeta,
        offsets: Region,
        limit: u64,
        what: &str,
    ) -> Result<&[u8]> {
        let place = format!("column \"{}\"", col.def.name);
        self.check_ends(&place, "offsets", offsets, limit, what)
    }

    /// The ends in `offsets` are non-decreasing from 0 and the last is `limit`.
    fn check_ends(
        &self,
        place: &str,
        region_name: &str,
        offsets: Region,
        limit: u64,
        what: &str,
    ) -> Result<&[u8]> {
        let bytes = self.region(offsets);
        let mut prev = 0u64;
        for i in 0..bytes.len() / 8 {
            let end = u64_at(bytes, 8 * i);
            if end < prev {
                return Err(self.corrupt_in(
                    place,
                    region_name,
                    offsets.offset + 8 * i as u64,
                    format!("row {i} ends at {end}, before the previous end {prev}"),
                ));
            }
            prev = end;
        }
        if prev != limit {
            return Err(self.corrupt_in(
                place,
                region_name,
                offsets.end().saturating_sub(8),
                format!("last offset {prev} differs from the {what} {limit}"),
            ));
        }
        Ok(bytes)
    }

    /// Checks the overflow bag's offsets region (if the segment has a bag): `n + 1` ends,
    /// the first 0, non-decreasing, the last the data length. Returns the offsets' bytes and
    /// the data's. The blobs themselves are checked by `crate::overflow`.
    pub fn check_bag_offsets(&self) -> Result<Option<(&[u8], &[u8])>> {
        let Some(bag) = &self.footer.bag else {
            return Ok(None);
        };
        let offsets = self.region(bag.offsets);
        if u64_at(offsets, 0) != 0 {
            return Err(self.corrupt_in(
                "overflow bag",
                "bag offsets",
                bag.offsets.offset,
                "the first offset must be 0".into(),
            ));
        }
        self.check_ends(
            "overflow bag",
            "bag offsets",
            bag.offsets,
            bag.data.len,
            "data length",
        )?;
        Ok(Some((offsets, self.region(bag.data))))
    }

    /// Checks the contents of one column (not its children): the offsets of variable-width and
    /// list columns (non-decreasing, the last equal to the data length or the child's row
    /// count), UTF-8 for string types with every value boundary on a character boundary, and
    /// that the validity bitmap's cleared bits number the recorded null count. O(rows +
    /// bytes); callers cache the outcome per open segment.
    pub fn check_contents(&self, col: &ColumnMeta) -> Result<()> {
        self.check_validity(col)?;
        self.check_values(col)
    }

    /// [`Self::check_contents`] without the validity check (for callers that made it).
    pub fn check_values(&self, col: &ColumnMeta) -> Result<()> {
        if let Some(encoding) = &col.encoding {
            return self.check_encoded(col, encoding).map(drop);
        }
        match col.def.column_type.layout() {
            Layout::List => {
                let (Some(off), Some(child)) = (col.regions.offsets, col.children.first()) else {
                    unreachable!("check_layout guarantees offsets and one child for lists")
                };
                self.check_offsets(col, off, child.rows, "item count")?;
            }
            Layout::Variable { utf8 } => {
                let (Some(data_r), Some(off_r)) = (col.regions.data, col.regions.offsets) else {
                    unreachable!("check_layout guarantees data and offsets for variable columns")
                };
                let offsets = self.check_offsets(col, off_r, data_r.len, "data length")?;
                let data = self.region(data_r);
                if utf8 {
                    if let Err(e) = std::str::from_utf8(data) {
                        return Err(self.corrupt_at(
                            col,
                            "data",
                            data_r.offset + e.valid_up_to() as u64,
                            "invalid UTF-8".into(),
                        ));
                    }
                    for i in 0..offsets.len() / 8 {
                        let end = u64_at(offsets, 8 * i) as usize;
                        // `end <= data.len()` was checked above; a boundary inside a
                        // multi-byte character would split it between two rows.
                        if end < data.len() && (data[end] & 0xc0) == 0x80 {
                            return Err(self.corrupt_at(
                                col,
                                "offsets",
                                off_r.offset + 8 * i as u64,
                                format!("row {i} ends at byte {end}, inside a UTF-8 character"),
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks that `col`'s validity bitmap (if any) marks exactly the recorded null count null.
    pub fn check_validity(&self, col: &ColumnMeta) -> Result<()> {
        if let Some(v) = col.regions.validity {
            let n = col.rows;
            let valid = count_set_bits(self.region(v), n as usize);
            if n - valid != col.stats.null_count {
                return Err(self.corrupt_at(
                    col,
                    "validity",
                    v.offset,
                    format!(
                        "bitmap marks {} rows null, the footer records {}",
                        n - valid,
                        col.stats.null_count
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Delta-encoded column `col` over its regions in this file (`delta.rs`); `None` for other
    /// columns.
    pub fn delta_column<'a>(&'a self, col: &ColumnMeta) -> Option<DeltaColumn<'a>> {
        let Some(Encoding::Delta {
            reference,
            width,
            block_rows,
        }) = col.encoding
        else {
            return None;
        };
        let region = |r: Option<Region>, what: &str| {
            self.region(r.unwrap_or_else(|| {
                panic!("check_layout guarantees a {what} region for delta columns")
            }))
        };
        Some(DeltaColumn {
            deltas: region(col.regions.data, "data"),
            anchors: region(col.regions.offsets, "offsets"),
            reference,
            width,
            block_rows,
            kind: IntKind::of(&col.def.column_type)
                .expect("check_layout guarantees an integer-like type for delta columns"),
            rows: col.rows as usize,
        })
    }

    /// Decodes the `data` region of encoded column `col` with every check (values in their
    /// type's range, codes inside the dictionary): the raw fixed-width bytes of a packed or
    /// delta column, or the codes of a dictionary column (whose dictionary is checked on its
    /// own).
    pub fn check_encoded(&self, col: &ColumnMeta, encoding: &Encoding) -> Result<Decoded> {
        self.check_encoded_rows(col, encoding, 0..col.rows as usize)
    }

    /// Rows `rows` of encoded column `col`, decoded and checked as by [`Self::check_encoded`]
    /// but reading only what they need (their packed values or codes, the deltas from their
    /// block's start, the blocks holding them); the whole-column checks (the blocks' total value bytes, the last block's end) are
    /// made only when `rows` is the whole column. An error names the row in the column.
    pub fn check_encoded_rows(
        &self,
        col: &ColumnMeta,
        encoding: &Encoding,
        rows: std::ops::Range<usize>,
    ) -> Result<Decoded> {
        let data = col
            .regions
            .data
            .expect("check_layout guarantees a data region for encoded columns");
        let bytes = self.region(data);
        let n = col.rows as usize;
        let decoded = match encoding {
            Encoding::Packed { reference, width } => {
                let kind = IntKind::of(&col.def.column_type)
                    .expect("check_layout guarantees an integer-like type for packed columns");
                unpack_fixed_rows(bytes, *reference, *width, kind, n, rows).map(Decoded::Fixed)
            }
            Encoding::Delta { .. } => self
                .delta_column(col)
                .expect("a delta column")
                .rows(rows)
                .map(Decoded::Fixed),
            Encoding::Dictionary { width, values, .. } => {
                unpack_codes_rows(bytes, *width, n, values.rows, rows).map(Decoded::Codes)
            }
            Encoding::Blocks {
                block_rows,
                raw_data_len,
                ..
            } => {
                let ends = self.region(col.regions.offsets.expect(
                    "check_layout guarantees an offsets region for block-compressed columns",
                ));
                let decoded = if rows == (0..n) {
                    blocks::decompress(bytes, ends, *block_rows, n, *raw_data_len)
                } else {
                    blocks::decompress_rows(bytes, ends, *block_rows, n, rows.clone())
                };
                decoded.and_then(|(values, ends)| {
                    if matches!(
                        col.def.column_type.layout(),
                        Layout::Variable { utf8: true }
                    ) {
                        check_utf8_rows(&values, &ends).map_err(|(r, d)| (r + rows.start, d))?;
                    }
                    Ok(Decoded::Variable(values, ends))
                })
            }
        };
        decoded.map_err(|(row, detail)| {
            self.corrupt_at(col, "data", data.offset, format!("row {row}: {detail}"))
        })
    }

    fn check_checksum(&self, place: &str, name: &str, r: Region) -> Result<()> {
        let actual = crc32c::crc32c(self.region(r));
        if actual != r.crc32c {
            return Err(self.corrupt_in(
                place,
                name,
                r.offset,
                format!(
                    "checksum mismatch: stored {:#010x}, computed {actual:#010x}",
                    r.crc32c
                ),
            ));
        }
        Ok(())
    }

    /// Full verification: every region's checksum, the contents checks above and the
    /// byte-for-byte agreement of the null array and the validity bitmap for every column and
    /// child column, and that every byte between regions (padding) is zero — so any single
    /// flipped bit anywhere in the file is reported.
    pub fn verify(&self) -> Result<()> {
        let mut spans: Vec<(u64, u64)> = Vec::new();
        for col in self.footer.columns.iter().flat_map(|c| c.walk()) {
            let place = format!("column \"{}\"", col.def.name);
            for (name, r) in col.regions.named() {
                self.check_checksum(&place, name, r)?;
                spans.push((r.offset, r.end()));
            }
            self.check_contents(col)?;
            if let (Some(nr), Some(vr)) = (col.regions.nulls, col.regions.validity) {
                let nulls = self.region(nr);
                let validity = self.region(vr);
                for (row, &b) in nulls.iter().enumerate() {
                    let valid = validity[row / 8] >> (row % 8) & 1 == 1;
                    if (b == 0) != valid {
                        return Err(self.corrupt_at(
                            col,
                            "nulls",
                            nr.offset + row as u64,
                            format!("row {row}: null byte {b} disagrees with the validity bit"),
                        ));
                    }
                }
            }
        }
        if let Some(bag) = &self.footer.bag {
            for (name, r) in bag.named() {
                self.check_checksum("overflow bag", name, r)?;
                spans.push((r.offset, r.end()));
            }
            self.check_bag_offsets()?;
        }
        spans.sort_unstable();
        let mut pos = HEADER_LEN;
        for (start, end) in spans
            .into_iter()
            .chain([(self.footer_offset, self.footer_offset)])
        {
            if let Some(i) = self.bytes[pos as usize..start as usize]
                .iter()
                .position(|&x| x != 0)
            {
                return Err(Error::corrupt_at(
                    &self.path,
                    "padding",
                    pos + i as u64,
                    "bytes between regions must be zero",
                ));
            }
            pos = pos.max(end);
        }
        Ok(())
    }
}

/// Every row of `values` (cut at the cumulative `ends`) is valid UTF-8.
fn check_utf8_rows(values: &[u8], ends: &[u64]) -> std::result::Result<(), RowError> {
    let mut start = 0usize;
    for (row, &end) in ends.iter().enumerate() {
        let end = end as usize;
        std::str::from_utf8(&values[start..end]).map_err(|e| {
            (
                row,
                format!("invalid UTF-8 at byte {} of the value", e.valid_up_to()),
            )
        })?;
        start = end;
    }
    Ok(())
}

/// Set bits among the first `n` bits of `bitmap` (Arrow bit order).
pub fn count_set_bits(bitmap: &[u8], n: usize) -> u64 {
    let whole = n / 8;
    let mut count: u64 = bitmap[..whole].iter().map(|b| b.count_ones() as u64).sum();
    if !n.is_multiple_of(8) {
        count += (bitmap[whole] & ((1u8 << (n % 8)) - 1)).count_ones() as u64;
    }
    count
}

/// Rounds `pos` up to the region alignment.
pub(crate) fn align_up(pos: u64) -> u64 {
    pos.div_ceil(ALIGNMENT) * ALIGNMENT
}
