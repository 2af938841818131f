//! A table version's manifest: its schema and the segment files that hold its rows.
//!
//! # Contract
//! - [`Manifest::encode`] / [`Manifest::decode`] are exact inverses (docs/FORMAT.md,
//!   "Manifest"); the encoding ends with a CRC-32C of everything before it.
//! - `decode` trusts nothing: magic, format version, checksum, grammar, and that every segment
//!   and deletion-vector name is a plain file name inside the table directory (no separators,
//!   no leading dot).
//! - A manifest is written in the oldest format version that can hold it: 2 unless some
//!   segment has a deletion vector (version 3), so tables without deletions stay readable by
//!   builds that predate them.

use super::codec::{DecodeError, DecodeResult, Decoder, Encoder};
use super::schema::TableSchema;
use super::segment::SegmentIdentity;

/// Newest manifest format this build reads and writes: 3 added deletion vectors.
pub const MANIFEST_FORMAT_VERSION: u32 = 3;

/// Magic bytes at the start of a manifest file.
pub const MANIFEST_MAGIC: [u8; 8] = *b"QUIVMAN\0";

/// One segment of a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentEntry {
    /// File name inside the table directory.
    pub name: String,
    /// Rows in the segment.
    pub row_count: u64,
    /// Size and footer checksum, checked when the segment is opened.
    pub identity: SegmentIdentity,
    /// The rows of the segment this version no longer shows (format version 3), if any.
    pub deletions: Option<DeletionRef>,
}

impl SegmentEntry {
    /// Rows this version shows: the segment's rows less its deleted ones.
    pub fn visible_rows(&self) -> u64 {
        self.row_count
            .saturating_sub(self.deletions.as_ref().map_or(0, |d| d.deleted))
    }
}

/// A segment's deletion vector, as a manifest names it (`deletion.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionRef {
    /// File name inside the table directory.
    pub name: String,
    /// Rows it deletes.
    pub deleted: u64,
    /// Size of the file in bytes.
    pub file_len: u64,
    /// The CRC-32C the file ends with.
    pub crc32c: u32,
}

/// The decoded manifest of one table version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// This version's number (≥ 1).
    pub version: u64,
    /// The version it was built on, if any.
    pub parent: Option<u64>,
    /// Commit time, microseconds since the Unix epoch.
    pub created_micros: i64,
    /// The table's schema at this version.
    pub schema: TableSchema,
    /// The segments, in row order.
    pub segments: Vec<SegmentEntry>,
    /// Table settings carried from version to version (format version 2), sorted by key:
    /// e.g. [`BAG_THRESHOLD_PROPERTY`].
    pub properties: Vec<(String, String)>,
}

/// The table property holding the overflow-bag fill-rate threshold (a decimal fraction).
pub const BAG_THRESHOLD_PROPERTY: &str = "quiver.bag_threshold";

/// The table property holding the automatic-compaction trigger: the number of small segments
/// at which a committing writer compacts them (a decimal integer; `0` disables it).
pub const AUTO_OPTIMIZE_PROPERTY: &str = "quiver.auto_optimize_after";
/// Property holding the table's column encodings (`encoding_choice.rs` text form), which
/// writes that do not name their own follow.
pub const ENCODING_PROPERTY: &str = "quiver.encoding";

/// Reads a file name (`what`, for errors) that must name a file directly inside the table
/// directory.
fn plain_name(d: &mut Decoder, what: &'static str) -> DecodeResult<String> {
    let at = d.position();
    let name = d.str(what)?.to_owned();
    if !is_plain_file_name(&name) {
        return Err(DecodeError {
            offset: at,
            detail: format!("{what} {name:?} is not a plain file name"),
        });
    }
    Ok(name)
}

/// Checks that a segment name from a manifest names a file directly inside the table directory.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name.len() <= 255
}

impl Manifest {
    /// Rows this version shows (segment rows less deleted ones).
    pub fn row_count(&self) -> u64 {
        self.segments.iter().map(SegmentEntry::visible_rows).sum()
    }

    /// The manifest's bytes, checksum included.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        for b in MANIFEST_MAGIC {
            e.u8(b);
        }
        let format = if self.segments.iter().any(|s| s.deletions.is_some()) {
            3
        } else {
            2
        };
        e.u32(format);
        e.u32(0);
        e.u64(self.version);
        e.u64(self.parent.unwrap_or(0));
        e.i64(self.created_micros);
        self.schema.encode(&mut e);
        e.u32(self.segments.len() as u32);
        for s in &self.segments {
            e.str(&s.name);
            e.u64(s.row_count);
            e.u64(s.identity.file_len);
            e.u32(s.identity.footer_crc32c);
            if format >= 3 {
                match &s.deletions {
                    None => e.u8(0),
                    Some(d) => {
                        e.u8(1);
                        e.str(&d.name);
                        e.u64(d.deleted);
                        e.u64(d.file_len);
                        e.u32(d.crc32c);
                    }
                }
            }
        }
        e.pairs(&self.properties);
        let mut bytes = e.finish();
        let crc = crc32c::crc32c(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Parses and checks manifest bytes.
    pub fn decode(bytes: &[u8]) -> DecodeResult<Self> {
        let fail = |offset: usize, detail: String| Err(DecodeError { offset, detail });
        if bytes.len() < 24 {
            return fail(
                0,
                format!("{} bytes is too short for a manifest", bytes.len()),
            );
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if body[..8] != MANIFEST_MAGIC {
            return fail(
                0,
                format!(
                    "magic is {:02x?}, expected {MANIFEST_MAGIC:02x?}",
                    &body[..8]
                ),
            );
        }
        let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let actual = crc32c::crc32c(body);
        if stored != actual {
            return fail(
                body.len(),
                format!("checksum mismatch: stored {stored:#010x}, computed {actual:#010x}"),
            );
        }
        let mut d = Decoder::new(body);
        d.u64("magic")?;
        let format = d.u32("format version")?;
        if !(1..=MANIFEST_FORMAT_VERSION).contains(&format) {
            return fail(
                8,
                format!(
                    "format version {format} is not supported (this build reads 1 to {MANIFEST_FORMAT_VERSION})"
                ),
            );
        }
        if d.u32("reserved")? != 0 {
            return fail(12, "reserved bytes must be zero".into());
        }
        let version = d.u64("version")?;
        let parent = match d.u64("parent version")? {
            0 => None,
            p => Some(p),
        };
        let created_micros = d.i64("creation time")?;
        let schema = TableSchema::decode(&mut d)?;
        // An entry takes at least 4 (name length) + 8 + 8 + 4 bytes.
        let n = d.count("segment count", 24)?;
        let mut segments = Vec::with_capacity(n);
        for _ in 0..n {
            let name = plain_name(&mut d, "segment name")?;
            let row_count = d.u64("segment row count")?;
            let identity = SegmentIdentity {
                file_len: d.u64("segment file length")?,
                footer_crc32c: d.u32("segment footer checksum")?,
            };
            let deletions = if format >= 3 && d.bool("deletion vector flag")? {
                let at = d.position();
                let name = plain_name(&mut d, "deletion vector name")?;
                let deleted = d.u64("deleted row count")?;
                if deleted > row_count {
                    return fail(
                        at,
                        format!("{deleted} rows deleted of a {row_count}-row segment"),
                    );
                }
                Some(DeletionRef {
                    name,
                    deleted,
                    file_len: d.u64("deletion vector length")?,
                    crc32c: d.u32("deletion vector checksum")?,
                })
            } else {
                None
            };
            segments.push(SegmentEntry {
                name,
                row_count,
                identity,
                deletions,
            });
        }
        let properties = if format >= 2 {
            d.pairs("property")?
        } else {
            Vec::new()
        };
        d.finish("manifest")?;
        Ok(Self {
            version,
            parent,
            created_micros,
            schema,
            segments,
            properties,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::schema::{ColumnDef, ColumnType};

    fn manifest() -> Manifest {
        Manifest {
            version: 3,
            parent: Some(2),
            created_micros: 1_700_000_000_000_000,
            schema: TableSchema {
                columns: vec![ColumnDef {
                    name: "x".into(),
                    column_type: ColumnType::Int64,
                    nullable: false,
                    metadata: vec![],
                    children: vec![],
                }],
                metadata: vec![],
            },
            segments: vec![SegmentEntry {
                name: "seg-1.qseg".into(),
                row_count: 10,
                identity: SegmentIdentity {
                    file_len: 4096,
                    footer_crc32c: 0xdead_beef,
                },
                deletions: None,
            }],
            properties: vec![(BAG_THRESHOLD_PROPERTY.into(), "0.05".into())],
        }
    }

    #[test]
    fn manifest_round_trips() {
        let m = manifest();
        assert_eq!(Manifest::decode(&m.encode()).unwrap(), m);
        assert_eq!(m.row_count(), 10);
    }

    #[test]
    fn a_version_1_manifest_without_properties_still_reads() {
        let mut m = manifest();
        m.properties.clear();
        let mut bytes = m.encode();
        bytes.truncate(bytes.len() - 8); // drop the property count and the checksum
        bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
        let crc = crc32c::crc32c(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(Manifest::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn every_single_bit_flip_in_a_manifest_is_detected() {
        let bytes = manifest().encode();
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(
                Manifest::decode(&b).is_err(),
                "flip of bit {bit} went unnoticed"
            );
        }
    }

    fn with_deletions() -> Manifest {
        let mut m = manifest();
        m.segments[0].deletions = Some(DeletionRef {
            name: "del-1.qdel".into(),
            deleted: 4,
            file_len: 54,
            crc32c: 0x0bad_cafe,
        });
        m
    }

    #[test]
    fn deletion_vectors_round_trip_in_format_3_and_only_then() {
        let m = with_deletions();
        let bytes = m.encode();
        assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 3);
        assert_eq!(Manifest::decode(&bytes).unwrap(), m);
        assert_eq!(m.row_count(), 6);
        let plain = manifest().encode();
        assert_eq!(u32::from_le_bytes(plain[8..12].try_into().unwrap()), 2);
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(
                Manifest::decode(&b).is_err(),
                "flip of bit {bit} went unnoticed"
            );
        }
    }

    #[test]
    fn a_deletion_vector_deleting_more_rows_than_its_segment_has_is_refused() {
        let mut m = with_deletions();
        m.segments[0].deletions.as_mut().unwrap().deleted = 11;
        let err = Manifest::decode(&m.encode()).unwrap_err();
        assert!(err.detail.contains("11 rows deleted of a 10-row"), "{err}");
        let mut m = with_deletions();
        m.segments[0].deletions.as_mut().unwrap().name = "../x.qdel".into();
        let err = Manifest::decode(&m.encode()).unwrap_err();
        assert!(err.detail.contains("not a plain file name"), "{err}");
    }

    #[test]
    fn segment_name_escaping_the_table_directory_is_refused() {
        let mut m = manifest();
        m.segments[0].name = "../../etc/passwd".into();
        let err = Manifest::decode(&m.encode()).unwrap_err();
        assert!(err.detail.contains("not a plain file name"), "{err}");
    }
}
