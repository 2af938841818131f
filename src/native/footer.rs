//! The segment footer: what a reader needs to find and trust every region of a segment.
//!
//! # Contract
//! - [`SegmentFooter::encode`] / [`SegmentFooter::decode`] are exact inverses (docs/FORMAT.md,
//!   "Footer").
//! - `decode` checks the grammar (tags, counts, lengths, UTF-8) and trusts nothing it has not
//!   checked; the regions' agreement with the row count and the column types is checked by
//!   [`SegmentFooter::check_layout`] (`layout.rs`).

use super::codec::{DecodeError, DecodeResult, Decoder, Encoder};
use super::encoding::{Encoding, BLOCKS_TAG, DELTA_TAG, DICTIONARY_TAG, PACKED_TAG};
use super::schema::ColumnDef;

/// One region of a segment file: where it is and its CRC-32C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Byte offset from the start of the file; a multiple of 64.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// CRC-32C (Castagnoli) of the region's bytes.
    pub crc32c: u32,
}

impl Region {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.len)
    }
}

/// The regions of one column. Which are present is fixed by the column's layout and null count
/// (docs/FORMAT.md, "Column regions").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnRegions {
    /// Values: fixed-width values, packed bits, or variable-width bytes.
    pub data: Option<Region>,
    /// `n` little-endian `u64` cumulative end offsets (variable-width columns only).
    pub offsets: Option<Region>,
    /// One byte per row, 0 = present, non-zero = null (only when the column has nulls).
    pub nulls: Option<Region>,
    /// Arrow validity bitmap, 1 = present (only when the column has nulls).
    pub validity: Option<Region>,
}

impl ColumnRegions {
    /// The present regions with their names, in encoding order.
    pub fn named(&self) -> impl Iterator<Item = (&'static str, Region)> + '_ {
        [
            ("data", self.data),
            ("offsets", self.offsets),
            ("nulls", self.nulls),
            ("validity", self.validity),
        ]
        .into_iter()
        .filter_map(|(name, r)| r.map(|r| (name, r)))
    }
}

/// Null count and optional min/max of a column over some rows. Min and max are encoded as the
/// value's little-endian bytes (fixed-width types), its bytes (strings and binaries), or one
/// byte 0/1 (booleans); absent when unknown (all null, or a type without a stored order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnStats {
    /// Null rows.
    pub null_count: u64,
    /// Smallest non-null value.
    pub min: Option<Vec<u8>>,
    /// Largest non-null value.
    pub max: Option<Vec<u8>>,
}

/// Everything the footer records about one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMeta {
    /// Name, type, nullability, metadata (and the definitions of its children).
    pub def: ColumnDef,
    /// Rows in this column: the segment's row count for a top-level column; for a child
    /// column, what its parent's layout implies (list items, struct fields, ...).
    pub rows: u64,
    /// Where its bytes are.
    pub regions: ColumnRegions,
    /// How `data` stores the rows (format version 3); `None`: the raw layout.
    pub encoding: Option<Encoding>,
    /// Statistics over the whole column (its `null_count` is the column's null count).
    pub stats: ColumnStats,
    /// Statistics per zone of `zone_rows` rows (the last zone may be shorter). Top-level
    /// columns only; empty for child columns.
    pub zones: Vec<ColumnStats>,
    /// Child columns, in the order of `def.children`.
    pub children: Vec<ColumnMeta>,
}

impl ColumnMeta {
    /// Bytes this column's regions take in the file (its dictionary's and children's
    /// included).
    pub fn stored_bytes(&self) -> u64 {
        self.walk()
            .iter()
            .flat_map(|c| c.regions.named())
            .map(|(_, r)| r.len)
            .sum()
    }

    /// Bytes the column would take in the raw layout: [`Self::stored_bytes`] for a raw column;
    /// for an encoded one, its null regions plus the raw `data` (and, for variable-width
    /// values, `offsets`) it stands for.
    pub fn raw_bytes(&self) -> u64 {
        let nulls =
            self.regions.nulls.map_or(0, |r| r.len) + self.regions.validity.map_or(0, |r| r.len);
        let offsets = match self.def.column_type.layout() {
            super::schema::Layout::Variable { .. } => self.rows.saturating_mul(8),
            _ => 0,
        };
        match &self.encoding {
            None => self.stored_bytes(),
            Some(Encoding::Packed { .. } | Encoding::Delta { .. }) => {
                let width = match self.def.column_type.layout() {
                    super::schema::Layout::Fixed { width } => width as u64,
                    _ => 0,
                };
                nulls + self.rows.saturating_mul(width)
            }
            Some(
                Encoding::Dictionary { raw_data_len, .. } | Encoding::Blocks { raw_data_len, .. },
            ) => nulls + raw_data_len + offsets,
        }
    }

    /// This column, its dictionary (if dictionary-encoded) and every descendant, depth first:
    /// every column entry that owns regions.
    pub fn walk(&self) -> Vec<&ColumnMeta> {
        let mut out = vec![self];
        if let Some(Encoding::Dictionary { values, .. }) = &self.encoding {
            out.push(values);
        }
        for c in &self.children {
            out.extend(c.walk());
        }
        out
    }
}

/// One key of a segment's overflow bag: its hash, its definition (the per-key type record: name,
/// type, metadata; always nullable, never nested) and its statistics, as for a dense column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BagKey {
    /// FNV-1a 64 of `def.name`: the key written in each entry.
    pub hash: u64,
    /// Name, type and metadata of the column the key holds.
    pub def: ColumnDef,
    /// Statistics over the segment; `null_count` is the rows without an entry for the key.
    pub stats: ColumnStats,
    /// Statistics per zone, as for a dense column.
    pub zones: Vec<ColumnStats>,
}

/// A segment's overflow bag (format version 2): per-row blobs of sparse properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BagMeta {
    /// `n + 1` little-endian `u64` offsets into `data`, the first 0.
    pub offsets: Region,
    /// The blobs, back to back.
    pub data: Region,
    /// Per key, in key order: the rows holding it, ascending little-endian `u32`s (key `k`'s
    /// list has `rows - null_count` entries and follows the lists of keys `0..k`).
    pub postings: Region,
    /// The key dictionary with each key's type record and statistics.
    pub keys: Vec<BagKey>,
}

impl BagMeta {
    /// The bag's regions with their names.
    pub fn named(&self) -> [(&'static str, Region); 3] {
        [
            ("bag offsets", self.offsets),
            ("bag data", self.data),
            ("bag postings", self.postings),
        ]
    }
}

/// The decoded footer of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFooter {
    /// Rows in the segment.
    pub row_count: u64,
    /// Rows per statistics zone (at least 1).
    pub zone_rows: u64,
    /// The columns, in table order.
    pub columns: Vec<ColumnMeta>,
    /// Table-level key/value metadata, sorted by key.
    pub metadata: Vec<(String, String)>,
    /// The overflow bag, if any column of the segment lives in it.
    pub bag: Option<BagMeta>,
}

const REGION_BITS: [u8; 4] = [1, 2, 4, 8];
/// Region-mask bit saying an encoding follows the regions (format version 3).
const ENCODED_BIT: u8 = 0x10;

fn encode_region(e: &mut Encoder, r: &Region) {
    e.u64(r.offset);
    e.u64(r.len);
    e.u32(r.crc32c);
}

fn decode_region(d: &mut Decoder<'_>) -> DecodeResult<Region> {
    Ok(Region {
        offset: d.u64("region offset")?,
        len: d.u64("region length")?,
        crc32c: d.u32("region checksum")?,
    })
}

fn encode_stats(e: &mut Encoder, s: &ColumnStats) {
    e.u64(s.null_count);
    e.opt_bytes(s.min.as_deref());
    e.opt_bytes(s.max.as_deref());
}

fn decode_stats(d: &mut Decoder<'_>) -> DecodeResult<ColumnStats> {
    Ok(ColumnStats {
        null_count: d.u64("null count")?,
        min: d.opt_bytes("min")?.map(<[u8]>::to_vec),
        max: d.opt_bytes("max")?.map(<[u8]>::to_vec),
    })
}

/// Number of zones a segment of `rows` rows has with zones of `zone_rows` rows.
pub fn zone_count(rows: u64, zone_rows: u64) -> u64 {
    rows.div_ceil(zone_rows.max(1))
}

/// The rows of zone `zone` of a segment of `rows` rows with zones of `zone_rows` rows: every
/// zone holds `zone_rows` rows but the last, which holds the rest. The one definition of a zone.
pub fn zone_range(rows: u64, zone_rows: u64, zone: u64) -> std::ops::Range<u64> {
    let start = zone.saturating_mul(zone_rows).min(rows);
    start..start.saturating_add(zone_rows).min(rows)
}

fn encode_body(e: &mut Encoder, c: &ColumnMeta) {
    let regions = [
        c.regions.data,
        c.regions.offsets,
        c.regions.nulls,
        c.regions.validity,
    ];
    let mask = regions
        .iter()
        .zip(REGION_BITS)
        .filter(|(r, _)| r.is_some())
        .fold(0u8, |m, (_, bit)| m | bit);
    e.u8(mask | if c.encoding.is_some() { ENCODED_BIT } else { 0 });
    for r in regions.iter().flatten() {
        encode_region(e, r);
    }
    match &c.encoding {
        None => {}
        Some(Encoding::Packed { reference, width }) => {
            e.u8(PACKED_TAG);
            e.i128(*reference);
            e.u8(*width);
        }
        Some(Encoding::Delta {
            reference,
            width,
            block_rows,
        }) => {
            e.u8(DELTA_TAG);
            e.i128(*reference);
            e.u8(*width);
            e.u32(*block_rows);
        }
        Some(Encoding::Dictionary {
            width,
            raw_data_len,
            values,
        }) => {
            e.u8(DICTIONARY_TAG);
            e.u8(*width);
            e.u64(*raw_data_len);
            e.u64(values.rows);
            encode_body(e, values);
        }
        Some(Encoding::Blocks {
            codec,
            block_rows,
            raw_data_len,
        }) => {
            e.u8(BLOCKS_TAG);
            e.u8(*codec);
            e.u32(*block_rows);
            e.u64(*raw_data_len);
        }
    }
    encode_stats(e, &c.stats);
    for z in &c.zones {
        encode_stats(e, z);
    }
    for child in &c.children {
        e.u64(child.rows);
        encode_body(e, child);
    }
}

/// Decodes a column body for `def` with `rows` rows and `zones` zone statistics; child bodies
/// follow recursively (bounded by the depth of `def`, itself bounded when it was decoded).
/// `encodings`: whether the body may carry an encoding (format version 3, top-level columns
/// only: child columns and dictionaries are raw, which also bounds the recursion through
/// dictionaries to one level).
fn decode_body(
    d: &mut Decoder<'_>,
    def: &ColumnDef,
    rows: u64,
    zones: u64,
    encodings: bool,
) -> DecodeResult<ColumnMeta> {
    let at = d.position();
    let mask = d.u8("region mask")?;
    let known = if encodings { 0x1f } else { 0x0f };
    if mask & !known != 0 {
        return Err(DecodeError {
            offset: at,
            detail: format!("region mask {mask:#04x} has unknown bits set"),
        });
    }
    let mut take = |bit: u8| -> DecodeResult<Option<Region>> {
        if mask & bit != 0 {
            decode_region(d).map(Some)
        } else {
            Ok(None)
        }
    };
    let regions = ColumnRegions {
        data: take(REGION_BITS[0])?,
        offsets: take(REGION_BITS[1])?,
        nulls: take(REGION_BITS[2])?,
        validity: take(REGION_BITS[3])?,
    };
    let encoding = if mask & ENCODED_BIT != 0 {
        Some(decode_encoding(d, def)?)
    } else {
        None
    };
    let stats = decode_stats(d)?;
    let zone_stats = decode_zones(d, zones)?;
    let mut children = Vec::with_capacity(def.children.len());
    for child in &def.children {
        let rows = d.u64("child row count")?;
        children.push(decode_body(d, child, rows, 0, false)?);
    }
    Ok(ColumnMeta {
        def: def.clone(),
        rows,
        regions,
        encoding,
        stats,
        zones: zone_stats,
        children,
    })
}

/// Decodes an encoding record (after an encoded column's regions) of a column of `def`.
fn decode_encoding(d: &mut Decoder<'_>, def: &ColumnDef) -> DecodeResult<Encoding> {
    let at = d.position();
    match d.u8("encoding tag")? {
        PACKED_TAG => Ok(Encoding::Packed {
            reference: d.i128("frame of reference")?,
            width: d.u8("bit width")?,
        }),
        DELTA_TAG => Ok(Encoding::Delta {
            reference: d.i128("delta reference")?,
            width: d.u8("delta width")?,
            block_rows: d.u32("delta block rows")?,
        }),
        DICTIONARY_TAG => {
            let width = d.u8("code width")?;
            let raw_data_len = d.u64("raw data length")?;
            let rows = d.u64("dictionary size")?;
            let values = decode_body(d, def, rows, 0, false)?;
            Ok(Encoding::Dictionary {
                width,
                raw_data_len,
                values: Box::new(values),
            })
        }
        BLOCKS_TAG => Ok(Encoding::Blocks {
            codec: d.u8("block codec")?,
            block_rows: d.u32("block rows")?,
            raw_data_len: d.u64("raw data length")?,
        }),
        tag => Err(DecodeError {
            offset: at,
            detail: format!("unknown encoding tag {tag}"),
        }),
    }
}

fn decode_zones(d: &mut Decoder<'_>, zones: u64) -> DecodeResult<Vec<ColumnStats>> {
    // Every zone's stats take at least 10 bytes: check before allocating.
    if zones.saturating_mul(10) > d.remaining() as u64 {
        return Err(d.error(format!(
            "{zones} zones of statistics cannot fit in the {} bytes left",
            d.remaining()
        )));
    }
    (0..zones).map(|_| decode_stats(d)).collect()
}

fn decode_bag(d: &mut Decoder<'_>, zones: u64) -> DecodeResult<BagMeta> {
    let offsets = decode_region(d)?;
    let data = decode_region(d)?;
    let postings = decode_region(d)?;
    // Each key needs its hash, a definition (14 bytes) and its stats.
    let n = d.count("overflow key count", 8 + 14 + 10)?;
    let mut keys = Vec::with_capacity(n);
    for _ in 0..n {
        let hash = d.u64("key hash")?;
        let def = ColumnDef::decode(d)?;
        let stats = decode_stats(d)?;
        let zones = decode_zones(d, zones)?;
        keys.push(BagKey {
            hash,
            def,
            stats,
            zones,
        });
    }
    Ok(BagMeta {
        offsets,
        data,
        postings,
        keys,
    })
}

impl SegmentFooter {
    /// The segment format version this footer needs: 3 if a column is encoded, else 2.
    pub fn format_version(&self) -> u32 {
        if self.columns.iter().any(|c| c.encoding.is_some()) {
            super::FORMAT_VERSION
        } else {
            super::RAW_FORMAT_VERSION
        }
    }

    /// The footer's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u64(self.row_count);
        e.u64(self.zone_rows);
        e.u32(self.columns.len() as u32);
        for c in &self.columns {
            c.def.encode(&mut e);
            encode_body(&mut e, c);
        }
        e.pairs(&self.metadata);
        match &self.bag {
            None => e.u8(0),
            Some(bag) => {
                e.u8(1);
                encode_region(&mut e, &bag.offsets);
                encode_region(&mut e, &bag.data);
                encode_region(&mut e, &bag.postings);
                e.u32(bag.keys.len() as u32);
                for k in &bag.keys {
                    e.u64(k.hash);
                    k.def.encode(&mut e);
                    encode_stats(&mut e, &k.stats);
                    for z in &k.zones {
                        encode_stats(&mut e, z);
                    }
                }
            }
        }
        e.finish()
    }

    /// Parses footer bytes of format `version` (1: no overflow bag section; 2; 3: columns may
    /// be encoded); checks the grammar only (see [`Self::check_layout`]).
    pub fn decode(bytes: &[u8], version: u32) -> DecodeResult<Self> {
        let mut d = Decoder::new(bytes);
        let row_count = d.u64("row count")?;
        let at = d.position();
        let zone_rows = d.u64("zone rows")?;
        if zone_rows == 0 {
            return Err(DecodeError {
                offset: at,
                detail: "zone rows must be at least 1".into(),
            });
        }
        let zones = zone_count(row_count, zone_rows);
        // Each column needs at least its definition (14 bytes), a region mask and its stats.
        let ncols = d.count("column count", 14 + 11)?;
        let mut columns = Vec::with_capacity(ncols);
        for _ in 0..ncols {
            let def = ColumnDef::decode(&mut d)?;
            columns.push(decode_body(&mut d, &def, row_count, zones, version >= 3)?);
        }
        let metadata = d.pairs("metadata")?;
        let bag = if version >= 2 && d.bool("overflow bag flag")? {
            Some(decode_bag(&mut d, zones)?)
        } else {
            None
        };
        d.finish("footer")?;
        Ok(Self {
            row_count,
            zone_rows,
            columns,
            metadata,
            bag,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::schema::ColumnType;

    fn footer() -> SegmentFooter {
        let region = |offset, len| {
            Some(Region {
                offset,
                len,
                crc32c: 7,
            })
        };
        SegmentFooter {
            row_count: 10,
            zone_rows: 4,
            columns: vec![
                ColumnMeta {
                    def: ColumnDef {
                        name: "a".into(),
                        column_type: ColumnType::Int32,
                        nullable: true,
                        metadata: vec![],
                        children: vec![],
                    },
                    rows: 10,
                    regions: ColumnRegions {
                        data: region(64, 40),
                        offsets: None,
                        nulls: region(128, 10),
                        validity: region(192, 2),
                    },
                    encoding: None,
                    stats: ColumnStats {
                        null_count: 2,
                        min: Some(vec![1, 0, 0, 0]),
                        max: Some(vec![9, 0, 0, 0]),
                    },
                    zones: vec![
                        ColumnStats {
                            null_count: 2,
                            min: None,
                            max: None,
                        },
                        ColumnStats::default(),
                        ColumnStats::default(),
                    ],
                    children: vec![],
                },
                ColumnMeta {
                    def: ColumnDef {
                        name: "s".into(),
                        column_type: ColumnType::Utf8,
                        nullable: false,
                        metadata: vec![("k".into(), "v".into())],
                        children: vec![],
                    },
                    rows: 10,
                    regions: ColumnRegions {
                        data: region(256, 5),
                        offsets: region(384, 80),
                        nulls: None,
                        validity: None,
                    },
                    encoding: None,
                    stats: ColumnStats::default(),
                    zones: vec![ColumnStats::default(); 3],
                    children: vec![],
                },
            ],
            metadata: vec![("m".into(), "1".into())],
            bag: None,
        }
    }

    #[test]
    fn footer_round_trips_and_passes_layout_check() {
        let f = footer();
        let bytes = f.encode();
        assert_eq!(SegmentFooter::decode(&bytes, 2).unwrap(), f);
        f.check_layout(1024).unwrap();
    }

    #[test]
    fn region_past_the_region_area_is_reported_with_column_and_region() {
        let f = footer();
        let (col, region, msg) = f.check_layout(400).unwrap_err();
        assert_eq!((col.as_str(), region), ("s", "offsets"));
        assert!(msg.contains("outside the region area"), "{msg}");
    }

    #[test]
    fn misaligned_and_overlapping_regions_are_reported() {
        let mut f = footer();
        f.columns[0].regions.data.as_mut().unwrap().offset = 65;
        assert!(f
            .check_layout(1024)
            .unwrap_err()
            .2
            .contains("not 64-byte aligned"));
        let mut f = footer();
        f.columns[1].regions.data.as_mut().unwrap().offset = 192;
        assert!(f.check_layout(1024).unwrap_err().2.contains("overlap"));
    }

    #[test]
    fn wrong_region_length_for_row_count_is_reported() {
        let mut f = footer();
        f.columns[0].regions.data.as_mut().unwrap().len = 44;
        let (col, region, msg) = f.check_layout(1024).unwrap_err();
        assert_eq!((col.as_str(), region), ("a", "data"));
        assert_eq!(msg, "length 44 but expected 40");
    }

    #[test]
    fn truncated_footer_bytes_are_a_decode_error() {
        let bytes = footer().encode();
        for cut in [0, 7, 20, bytes.len() - 1] {
            assert!(
                SegmentFooter::decode(&bytes[..cut], 2).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn encodings_are_refused_outside_version_3_top_level_columns() {
        let mut f = footer();
        f.columns[0].encoding = Some(Encoding::Packed {
            reference: 1,
            width: 4,
        });
        let bytes = f.encode();
        assert!(SegmentFooter::decode(&bytes, 3).is_ok());
        let mut delta = f.clone();
        delta.columns[0].encoding = Some(Encoding::Delta {
            reference: -9,
            width: 3,
            block_rows: 1024,
        });
        let decoded = SegmentFooter::decode(&delta.encode(), 3).unwrap();
        assert_eq!(decoded.columns[0].encoding, delta.columns[0].encoding);
        let err = SegmentFooter::decode(&bytes, 2).unwrap_err();
        assert!(err.detail.contains("unknown bits"), "{err}");
        // A child column's body with the encoded bit: refused even in version 3.
        let child = ColumnMeta {
            def: ColumnDef::new("item", ColumnType::Int32, true),
            rows: 0,
            regions: ColumnRegions::default(),
            encoding: Some(Encoding::Packed {
                reference: 0,
                width: 0,
            }),
            stats: ColumnStats::default(),
            zones: Vec::new(),
            children: Vec::new(),
        };
        let mut f = footer();
        f.columns[0].def = ColumnDef {
            column_type: ColumnType::List,
            children: vec![child.def.clone()],
            ..f.columns[0].def.clone()
        };
        f.columns[0].children = vec![child];
        let err = SegmentFooter::decode(&f.encode(), 3).unwrap_err();
        assert!(err.detail.contains("unknown bits"), "{err}");
    }

    #[test]
    fn absurd_zone_count_is_refused_before_allocating() {
        let mut f = footer();
        f.row_count = u64::MAX;
        f.zone_rows = 1;
        let bytes = f.encode();
        let err = SegmentFooter::decode(&bytes, 2).unwrap_err();
        assert!(
            err.detail.contains("zones of statistics cannot fit"),
            "{err}"
        );
    }
}
