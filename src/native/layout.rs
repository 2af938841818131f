//! The segment footer's layout check: do the regions the footer describes agree with the row
//! count and the column types, and lie, aligned and disjoint, inside the region area?
//!
//! # Contract
//! - [`SegmentFooter::check_layout`] runs after `decode` (the grammar, `footer.rs`) and before
//!   any region is read. It trusts nothing it has not checked: every length is compared with
//!   what the type and row count require (with checked arithmetic), every row count is at most
//!   `i64::MAX`, every region is 64-byte aligned, inside `HEADER_LEN..region_end` and disjoint
//!   from the others. O(metadata).

use super::bitpack::packed_len;
use super::encoding::{Encoding, IntKind, MAX_CODE_WIDTH, ZSTD_CODEC};
use super::footer::{zone_count, BagMeta, ColumnMeta, ColumnStats, Region, SegmentFooter};
use super::schema::{ColumnDef, Layout};
use super::{ALIGNMENT, HEADER_LEN};

/// A layout problem: the column path, the region, what is wrong.
pub type LayoutError = (String, &'static str, String);

impl SegmentFooter {
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
    if n > i64::MAX as u64 {
        // Arrow offsets are `i64`: the read path builds list and string offsets without
        // re-checking them (`arrow_bridge/column_arrays.rs`), on the strength of this bound — which a
        // list child without data regions (`List<Null>`, `List<Struct<>>`) gets from nowhere else.
        return fail(
            "row count",
            format!("{n} rows exceed the largest Arrow offset (2^63 - 1)"),
        );
    }
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
    if let Some(encoding) = &c.encoding {
        return check_encoded(c, encoding, path, all);
    }
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
            check_bound_widths(c, width, path)?;
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

/// The min and max of a fixed-width column hold exactly one value's bytes.
fn check_bound_widths(c: &ColumnMeta, width: usize, path: &str) -> Result<(), LayoutError> {
    for (what, v) in [("min", &c.stats.min), ("max", &c.stats.max)] {
        if let Some(v) = v.as_ref().filter(|v| v.len() != width) {
            return Err((
                path.to_owned(),
                "stats",
                format!("{what} has {} bytes, values have {width}", v.len()),
            ));
        }
    }
    Ok(())
}

/// The regions of a packed or dictionary column: a `data` region of exactly the packed length
/// of its rows at `width` bits, and no `offsets`.
fn check_packed_data(c: &ColumnMeta, width: u8, path: &str) -> Result<(), LayoutError> {
    if c.regions.offsets.is_some() {
        return Err((
            path.to_owned(),
            "offsets",
            "present but must be absent".into(),
        ));
    }
    check_packed_run(c, width, path)
}

/// The `offsets` region of a column stored in blocks of `block_rows` rows (zstd blocks' ends,
/// delta anchors): one `u64` per block, after the 8 zero bytes every offsets region has.
fn check_block_offsets(
    c: &ColumnMeta,
    block_rows: u32,
    what: &str,
    path: &str,
) -> Result<(), LayoutError> {
    let blocks = c.rows.div_ceil(u64::from(block_rows.max(1)));
    match c.regions.offsets {
        Some(o) if o.len == blocks.saturating_mul(8) && o.offset >= HEADER_LEN + 8 => Ok(()),
        Some(o) => Err((
            path.to_owned(),
            "offsets",
            format!(
                "length {} at byte {} but expected {blocks} {what} after a zero prefix",
                o.len, o.offset
            ),
        )),
        None => Err((
            path.to_owned(),
            "offsets",
            format!("absent but must hold the {what}"),
        )),
    }
}

/// A `data` region of exactly the packed length of the column's rows at `width` bits.
fn check_packed_run(c: &ColumnMeta, width: u8, path: &str) -> Result<(), LayoutError> {
    let fail = |region: &'static str, msg: String| Err((path.to_owned(), region, msg));
    match (c.regions.data, packed_len(c.rows, width)) {
        (Some(r), Some(w)) if r.len == w => Ok(()),
        (Some(r), Some(w)) => fail("data", format!("length {} but expected {w}", r.len)),
        (None, _) => fail("data", "absent but must be present".into()),
        (Some(_), None) => fail(
            "data",
            format!("{} rows of {width} bits overflow u64", c.rows),
        ),
    }
}

/// Checks an encoded column (docs/FORMAT.md, "Encoded columns"), whose null regions
/// `check_column` has checked: a leaf of a type the encoding serves, a `data` region of
/// exactly the packed length and no offsets; a dictionary laid out as a raw column of the same
/// type without nulls. Collects its regions and its dictionary's.
fn check_encoded(
    c: &ColumnMeta,
    encoding: &Encoding,
    path: &str,
    all: &mut Vec<(u64, u64, String, &'static str)>,
) -> Result<(), LayoutError> {
    let fail = |region: &'static str, msg: String| Err((path.to_owned(), region, msg));
    let layout = c.def.column_type.layout();
    if !c.children.is_empty() || c.def.column_type.is_nested() {
        return fail("encoding", "a nested column cannot be encoded".into());
    }
    match encoding {
        Encoding::Blocks {
            codec, block_rows, ..
        } => {
            if !matches!(layout, Layout::Variable { .. }) {
                return fail(
                    "encoding",
                    "block compression holds variable-width values".into(),
                );
            }
            if *codec != ZSTD_CODEC || *block_rows == 0 {
                return fail(
                    "encoding",
                    format!("codec {codec} with {block_rows}-row blocks is not known"),
                );
            }
            if c.regions.data.is_none() {
                return fail("data", "block compression needs a data region".into());
            }
            check_block_offsets(c, *block_rows, "block ends", path)?;
        }
        Encoding::Delta {
            width, block_rows, ..
        } => {
            let Some(kind) = IntKind::of(&c.def.column_type) else {
                return fail(
                    "encoding",
                    "delta encoding needs an integer-like type".into(),
                );
            };
            if *width > 64 || *block_rows == 0 {
                return fail(
                    "encoding",
                    format!("{width}-bit deltas in {block_rows}-row blocks are not known"),
                );
            }
            check_bound_widths(c, kind.width, path)?;
            check_packed_run(c, *width, path)?;
            check_block_offsets(c, *block_rows, "block anchors", path)?;
        }
        Encoding::Packed { width, .. } => {
            let Some(kind) = IntKind::of(&c.def.column_type) else {
                return fail(
                    "encoding",
                    "frame-of-reference packing needs an integer-like type".into(),
                );
            };
            if *width > 64 {
                return fail("encoding", format!("bit width {width} is above 64"));
            }
            check_bound_widths(c, kind.width, path)?;
            check_packed_data(c, *width, path)?;
        }
        Encoding::Dictionary { width, values, .. } => {
            if !matches!(layout, Layout::Fixed { .. } | Layout::Variable { .. }) {
                return fail(
                    "encoding",
                    "dictionaries hold fixed-width or variable-width values".into(),
                );
            }
            if *width > MAX_CODE_WIDTH {
                return fail(
                    "encoding",
                    format!("code width {width} is above {MAX_CODE_WIDTH}"),
                );
            }
            if values.def != c.def || values.encoding.is_some() || values.stats.null_count != 0 {
                return fail(
                    "dictionary",
                    "the dictionary must be a raw column of the same type without nulls".into(),
                );
            }
            if values.rows == 0 && c.stats.null_count < c.rows {
                return fail(
                    "dictionary",
                    "an empty dictionary for a column with values".into(),
                );
            }
            if let Layout::Fixed { width } = layout {
                check_bound_widths(c, width, path)?;
            }
            check_packed_data(c, *width, path)?;
            check_column(values, &format!("{path} (dictionary)"), all)?;
        }
    }
    for (name, region) in c.regions.named() {
        all.push((region.offset, region.len, path.to_owned(), name));
    }
    Ok(())
}
