//! The segment footer: what a reader needs to find and trust every region of a segment.
//!
//! # Contract
//! - [`SegmentFooter::encode`] / [`SegmentFooter::decode`] are exact inverses (docs/FORMAT.md,
//!   "Footer").
//! - `decode` checks the grammar (tags, counts, lengths, UTF-8); [`SegmentFooter::check_layout`]
//!   checks that the regions agree with the row count and the column types and lie, aligned and
//!   disjoint, inside the region area of the file. Neither trusts anything it has not checked.

use super::codec::{DecodeError, DecodeResult, Decoder, Encoder};
use super::schema::{ColumnDef, Layout};
use super::{ALIGNMENT, HEADER_LEN};

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
    /// Statistics over the whole column (its `null_count` is the column's null count).
    pub stats: ColumnStats,
    /// Statistics per zone of `zone_rows` rows (the last zone may be shorter). Top-level
    /// columns only; empty for child columns.
    pub zones: Vec<ColumnStats>,
    /// Child columns, in the order of `def.children`.
    pub children: Vec<ColumnMeta>,
}

impl ColumnMeta {
    /// This column and every descendant, depth first.
    pub fn walk(&self) -> Vec<&ColumnMeta> {
        let mut out = vec![self];
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
    e.u8(mask);
    for r in regions.iter().flatten() {
        encode_region(e, r);
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
fn decode_body(
    d: &mut Decoder<'_>,
    def: &ColumnDef,
    rows: u64,
    zones: u64,
) -> DecodeResult<ColumnMeta> {
    let at = d.position();
    let mask = d.u8("region mask")?;
    if mask & 0xf0 != 0 {
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
    let stats = decode_stats(d)?;
    let zone_stats = decode_zones(d, zones)?;
    let mut children = Vec::with_capacity(def.children.len());
    for child in &def.children {
        let rows = d.u64("child row count")?;
        children.push(decode_body(d, child, rows, 0)?);
    }
    Ok(ColumnMeta {
        def: def.clone(),
        rows,
        regions,
        stats,
        zones: zone_stats,
        children,
    })
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

/// A layout problem: the column path, the region, what is wrong.
pub type LayoutError = (String, &'static str, String);

impl SegmentFooter {
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
        e.u32(self.metadata.len() as u32);
        for (k, v) in &self.metadata {
            e.str(k);
            e.str(v);
        }
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

    /// Parses footer bytes of format `version` (1: no overflow bag section; 2); checks the
    /// grammar only (see [`Self::check_layout`]).
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
            columns.push(decode_body(&mut d, &def, row_count, zones)?);
        }
        let n = d.count("metadata entry count", 8)?;
        let mut metadata = Vec::with_capacity(n);
        for _ in 0..n {
            metadata.push((
                d.str("metadata key")?.to_owned(),
                d.str("metadata value")?.to_owned(),
            ));
        }
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

    /// Checks that every column's regions match its layout and row count (recursively for
    /// child columns), and that every region is 64-byte aligned, inside
    /// `HEADER_LEN..region_end`, and disjoint from the others. Returns
    /// `(column path, region name, message)` for the first problem.
    pub fn check_layout(&self, region_end: u64) -> Result<(), LayoutError> {
        let mut all: Vec<(u64, u64, String, &'static str)> = Vec::new();
        for c in &self.columns {
            self.check_zones(&c.def, &c.stats, &c.zones)?;
            check_column(c, &c.def.name, &mut all)?;
        }
        if let Some(bag) = &self.bag {
            self.check_bag(bag, &mut all)?;
        }
        for (offset, len, path, name) in &all {
            if offset % ALIGNMENT != 0 {
                return Err((
                    path.clone(),
                    name,
                    format!("byte {offset} is not 64-byte aligned"),
                ));
            }
            let end = offset.saturating_add(*len);
            if *offset < HEADER_LEN || end > region_end {
                return Err((
                    path.clone(),
                    name,
                    format!(
                        "bytes {offset}..{end} lie outside the region area {HEADER_LEN}..{region_end}"
                    ),
                ));
            }
        }
        all.sort_unstable_by_key(|r| (r.0, r.1));
        for w in all.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            if a.0 + a.1 > b.0 {
                return Err((
                    b.2.clone(),
                    b.3,
                    format!(
                        "bytes {}..{} overlap region {} of column \"{}\"",
                        b.0,
                        b.0 + b.1,
                        a.3,
                        a.2
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl SegmentFooter {
    /// Zone count, zone null counts summing to the column's, nullability.
    fn check_zones(
        &self,
        def: &ColumnDef,
        stats: &ColumnStats,
        zones: &[ColumnStats],
    ) -> Result<(), LayoutError> {
        let fail = |msg: String| Err((def.name.clone(), "stats", msg));
        if zones.len() as u64 != zone_count(self.row_count, self.zone_rows) {
            return fail("wrong number of zones".into());
        }
        let zone_nulls: u64 = zones.iter().map(|z| z.null_count).sum();
        if zone_nulls != stats.null_count {
            return fail(format!(
                "zone null counts sum to {zone_nulls}, column null count is {}",
                stats.null_count
            ));
        }
        if stats.null_count > 0 && !def.nullable {
            return fail(format!(
                "non-nullable column has null count {}",
                stats.null_count
            ));
        }
        Ok(())
    }

    /// The bag's regions (offsets: `n + 1` entries; postings: 4 bytes per present value) and
    /// its keys: nullable leaf columns, at most
    /// `n` nulls, names unique and distinct from the dense columns'.
    fn check_bag(
        &self,
        bag: &BagMeta,
        all: &mut Vec<(u64, u64, String, &'static str)>,
    ) -> Result<(), LayoutError> {
        let want = self.row_count.saturating_add(1).saturating_mul(8);
        if bag.offsets.len != want {
            return Err((
                "overflow bag".into(),
                "bag offsets",
                format!("length {} but expected {want}", bag.offsets.len),
            ));
        }
        if self.row_count > u32::MAX as u64 {
            return Err((
                "overflow bag".into(),
                "bag postings",
                format!("{} rows do not fit u32 row numbers", self.row_count),
            ));
        }
        let present: u64 = bag
            .keys
            .iter()
            .map(|k| self.row_count.saturating_sub(k.stats.null_count))
            .fold(0, u64::saturating_add);
        if bag.postings.len != present.saturating_mul(4) {
            return Err((
                "overflow bag".into(),
                "bag postings",
                format!(
                    "length {} but the keys hold {present} values (4 bytes each)",
                    bag.postings.len
                ),
            ));
        }
        for (name, r) in bag.named() {
            all.push((r.offset, r.len, "overflow bag".into(), name));
        }
        let mut names: Vec<&str> = self.columns.iter().map(|c| c.def.name.as_str()).collect();
        for k in &bag.keys {
            self.check_zones(&k.def, &k.stats, &k.zones)?;
            let fail = |msg: &str| Err((k.def.name.clone(), "overflow key", msg.to_owned()));
            if !k.def.nullable {
                return fail("an overflow key must be nullable");
            }
            if k.def.column_type.is_nested() || !k.def.children.is_empty() {
                return fail("an overflow key cannot be a nested column");
            }
            if k.stats.null_count > self.row_count {
                return fail("more nulls than rows");
            }
            names.push(&k.def.name);
        }
        names.sort_unstable();
        if bag.keys.is_empty() {
            return Err((
                "overflow bag".into(),
                "overflow key",
                "a bag without keys".into(),
            ));
        }
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            if bag.keys.iter().any(|k| k.def.name == w[0]) {
                return Err((
                    w[0].to_owned(),
                    "overflow key",
                    "the name is used twice among the segment's columns and keys".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Checks one column (and its children) against its layout; collects its regions.
fn check_column(
    c: &ColumnMeta,
    path: &str,
    all: &mut Vec<(u64, u64, String, &'static str)>,
) -> Result<(), LayoutError> {
    let n = c.rows;
    let bitmap_len = n.div_ceil(8);
    let fail = |region: &'static str, msg: String| Err((path.to_owned(), region, msg));
    let r = &c.regions;
    let nulls = c.stats.null_count;
    if nulls > n {
        return fail("stats", format!("null count {nulls} exceeds row count {n}"));
    }
    let expect_len =
        |region: &'static str, got: Option<Region>, want: Option<u64>| match (got, want) {
            (None, None) => Ok(()),
            (Some(g), Some(w)) if g.len == w => Ok(()),
            (Some(g), Some(w)) => fail(region, format!("length {} but expected {w}", g.len)),
            (Some(_), None) => fail(region, "present but must be absent".to_string()),
            (None, Some(_)) => fail(region, "absent but must be present".to_string()),
        };
    let layout = c.def.column_type.layout();
    if layout == Layout::Null {
        if nulls != n {
            return fail(
                "stats",
                format!("null column has null count {nulls}, not {n}"),
            );
        }
        expect_len("data", r.data, None)?;
        expect_len("offsets", r.offsets, None)?;
        expect_len("nulls", r.nulls, None)?;
        expect_len("validity", r.validity, None)?;
        return Ok(());
    }
    let has_nulls = nulls > 0;
    expect_len("nulls", r.nulls, has_nulls.then_some(n))?;
    expect_len("validity", r.validity, has_nulls.then_some(bitmap_len))?;
    let offsets_with_prefix = |region: Option<Region>| {
        let off = region.map_or(0, |o| o.offset);
        if off < HEADER_LEN + 8 {
            return fail(
                "offsets",
                format!("starts at byte {off}, leaving no room for its zero prefix"),
            );
        }
        Ok(())
    };
    match layout {
        Layout::Null => unreachable!("handled above"),
        Layout::Bits => {
            expect_len("data", r.data, Some(bitmap_len))?;
            expect_len("offsets", r.offsets, None)?;
        }
        Layout::Fixed { width } => {
            let Some(want) = n.checked_mul(width as u64) else {
                return fail("data", format!("{n} rows of {width} bytes overflow u64"));
            };
            expect_len("data", r.data, Some(want))?;
            expect_len("offsets", r.offsets, None)?;
            for (what, v) in [("min", &c.stats.min), ("max", &c.stats.max)] {
                if let Some(v) = v {
                    if v.len() != width {
                        return fail(
                            "stats",
                            format!("{what} has {} bytes, values have {width}", v.len()),
                        );
                    }
                }
            }
        }
        Layout::Variable { .. } => {
            if r.data.is_none() {
                return fail("data", "absent but must be present".into());
            }
            expect_len("offsets", r.offsets, Some(n.saturating_mul(8)))?;
            offsets_with_prefix(r.offsets)?;
        }
        Layout::List => {
            expect_len("data", r.data, None)?;
            expect_len("offsets", r.offsets, Some(n.saturating_mul(8)))?;
            offsets_with_prefix(r.offsets)?;
        }
        Layout::FixedList { size } => {
            expect_len("data", r.data, None)?;
            expect_len("offsets", r.offsets, None)?;
            let want = n.checked_mul(size as u64);
            if c.children.first().map(|ch| ch.rows) != want {
                return fail("children", format!("the items must number {n} x {size}"));
            }
        }
        Layout::Struct => {
            expect_len("data", r.data, None)?;
            expect_len("offsets", r.offsets, None)?;
            if let Some(ch) = c.children.iter().find(|ch| ch.rows != n) {
                return fail(
                    "children",
                    format!(
                        "field \"{}\" has {} rows, the struct {n}",
                        ch.def.name, ch.rows
                    ),
                );
            }
        }
    }
    if !c.def.column_type.is_nested() && (!c.children.is_empty()) {
        return fail("children", "a leaf column has child columns".into());
    }
    for (name, region) in r.named() {
        all.push((region.offset, region.len, path.to_owned(), name));
    }
    for child in &c.children {
        if !child.zones.is_empty() {
            return fail("children", "child columns carry no zone statistics".into());
        }
        check_column(child, &format!("{path}.{}", child.def.name), all)?;
    }
    Ok(())
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
