//! An open segment seen through its table's schema: zero-copy Arrow arrays of its dense
//! columns, decoded arrays of its overflow keys, and the caches that keep both cheap.
//!
//! # Contract
//! - [`SegmentReader::column`] returns the whole column of the segment as one Arrow array
//!   whose values, offsets and validity buffers are slices of the segment's read-only mapping
//!   (`column_arrays.rs`): nothing is copied or decoded. Slicing it (`Array::slice`) is O(1)
//!   and zero-copy too.
//! - A column's contents are checked the first time it is used — offsets and UTF-8 for
//!   variable-width columns, the validity bitmap's null count for all — once per open segment;
//!   the array is then cached. Arrays of columns that are never asked for are never built, so a
//!   query that reads two columns never touches the pages of the others.
//! - A dense column stored encoded (format v3: dictionary codes, packed integers, zstd blocks)
//!   is decoded on first use into the same array the raw layout gives (`encoded_arrays.rs`) and
//!   kept in the process-wide cache of decoded columns, within its byte budget
//!   ([`crate::set_decoded_cache_bytes`], `segment_cache.rs`): not zero-copy, but every slice
//!   of it is. The view form of a dictionary column is built from the dictionary directly
//!   (views over the dictionary's bytes, no value copied). Encoded columns are decoded a zone
//!   at a time ([`SegmentReader::read_range`] of rows inside one zone decodes only that zone),
//!   so zones a scan skips are never decoded; [`SegmentReader::compare_packed`] answers
//!   comparisons on packed columns without decoding at all.
//! - A table column may be a dense column of the segment (zero-copy as above), an overflow-bag
//!   key (decoded for the rows asked, never cached), absent (all null: written before the
//!   column existed), or stored as a narrower type (cast once to the table's type and cached:
//!   not zero-copy). See `placement.rs`.

use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use arrow::array::{new_null_array, ArrayRef};
use arrow::datatypes::{DataType, SchemaRef};

use super::bag_decode::{self as bag, Rows};
use super::column_arrays::ColumnArrays;
use super::distinct::DistinctValues;
use super::owned_slices::owned_slice;
use super::placement::{map_columns, Placement};
use super::segment_cache::{
    decoded_columns, distinct_tables, first_use, DecodedColumn, SegmentKey, Slot,
};
use super::types::{read_schema, view_type};
use super::views::{to_view, to_view_in_blocks, BlockViews};
use crate::error::{Error, Result};
use crate::native::encoding::Encoding;
use crate::native::footer::{zone_count, zone_range, ColumnStats, SegmentFooter};
use crate::native::packed_predicate::Comparison;
use crate::native::schema::TableSchema;
use crate::native::segment::SegmentFile;
use crate::overflow::bag::check_keys;
use crate::overflow::Bag;

/// [`SegmentReader::read_rows_as`] gathers a string column row by row, without building it,
/// when it reads fewer than one row in this many.
pub const GATHER_FRACTION: usize = 64;

/// Which rows of an encoded column a decoded-cache entry holds.
#[derive(Debug, Clone, Copy)]
enum Part {
    /// The whole column of the segment.
    Whole,
    /// The rows of one zone.
    Zone(usize),
}

impl Part {
    /// This part of table column `index`, in form `views` or not, as a cache slot (the
    /// dictionary of a column has [`dictionary_slot`]).
    fn slot(self, index: usize, views: bool) -> Slot {
        let form = usize::from(views);
        match self {
            Part::Whole => (index, form),
            Part::Zone(z) => (index, 3 + 2 * z + form),
        }
    }
}

/// The cache slot of the dictionary of dictionary-encoded table column `index`.
fn dictionary_slot(index: usize) -> Slot {
    (index, 2)
}

/// Statistics of a column that the footer cannot lend as they are: absent columns (all
/// null) and columns stored as a narrower type (bounds dropped).
#[derive(Debug)]
struct OwnedStats {
    stats: ColumnStats,
    zones: Vec<ColumnStats>,
}

/// An open segment, seen through its table's schema: hands out zero-copy Arrow arrays of
/// dense columns and decoded arrays of overflow keys.
#[derive(Debug)]
pub struct SegmentReader {
    file: SegmentFile,
    /// The table's read schema.
    schema: SchemaRef,
    /// Per table column: where it is, and whether it is stored as another (narrower) type.
    placements: Vec<(Placement, bool)>,
    owned_stats: Vec<Option<OwnedStats>>,
    columns: Vec<OnceLock<ArrayRef>>,
    /// View forms (`Utf8View` / `BinaryView`) of string and binary columns, one data block
    /// per zone, built on demand.
    view_columns: Vec<OnceLock<BlockViews>>,
    /// Distinct-value tables of low-cardinality string and binary columns, built on demand
    /// (`None` inside: the column has too many distinct values).
    distinct: Vec<OnceLock<Option<Arc<DistinctValues>>>>,
    /// The overflow bag, opened (keys and offsets checked) on first use.
    bag: OnceLock<Bag>,
    /// This segment as the process-wide caches know it (`segment_cache.rs`).
    key: SegmentKey,
}

/// What a read answers from a zone's encoded form (`SegmentReader::answer_encoded`).
#[derive(Hash)]
enum ZoneUse {
    /// A comparison with a literal (a hash of its bytes) on packed values.
    Compare(Comparison, u64),
    /// A gather of a few rows.
    Gather,
}

impl SegmentReader {
    /// Wraps an open, layout-checked segment of a table with schema `table`; fails if the
    /// segment's columns do not fit that schema (see `map_columns`).
    pub fn new(file: SegmentFile, table: &TableSchema) -> Result<Self> {
        let footer = file.footer();
        let placements = map_columns(footer, table).map_err(|detail| {
            Error::corrupt(file.path(), "footer", format!("{detail} (table schema)"))
        })?;
        if let Some(bag) = &footer.bag {
            check_keys(&bag.keys).map_err(|detail| {
                Error::corrupt(file.path(), "footer, overflow key dictionary", detail)
            })?;
        }
        let zone_rows = |z: usize| {
            let rows = zone_range(footer.row_count, footer.zone_rows, z as u64);
            rows.end - rows.start
        };
        let owned_stats = placements
            .iter()
            .map(|&(s, cast)| {
                let nulls = |null_count| ColumnStats {
                    null_count,
                    ..Default::default()
                };
                match s {
                    Placement::Absent => Some(OwnedStats {
                        stats: nulls(footer.row_count),
                        zones: (0..zone_count(footer.row_count, footer.zone_rows) as usize)
                            .map(|z| nulls(zone_rows(z)))
                            .collect(),
                    }),
                    _ if cast => {
                        let (stats, zones) = Self::footer_stats(footer, s);
                        Some(OwnedStats {
                            stats: nulls(stats.null_count),
                            zones: zones.iter().map(|z| nulls(z.null_count)).collect(),
                        })
                    }
                    _ => None,
                }
            })
            .collect();
        let columns = placements.iter().map(|_| OnceLock::new()).collect();
        let view_columns = placements.iter().map(|_| OnceLock::new()).collect();
        let distinct = placements.iter().map(|_| OnceLock::new()).collect();
        let key = SegmentKey::of(file.path(), file.file_len(), file.footer_crc32c());
        Ok(Self {
            key,
            file,
            schema: read_schema(table),
            placements,
            owned_stats,
            columns,
            view_columns,
            distinct,
            bag: OnceLock::new(),
        })
    }

    fn footer_stats(footer: &SegmentFooter, s: Placement) -> (&ColumnStats, &[ColumnStats]) {
        match s {
            Placement::Dense(i) => (&footer.columns[i].stats, &footer.columns[i].zones),
            Placement::Bag(k) => {
                let key = &footer.bag.as_ref().expect("a bag key implies a bag").keys[k];
                (&key.stats, &key.zones)
            }
            Placement::Absent => unreachable!("absent columns have owned statistics"),
        }
    }

    /// The underlying segment file (the on-disk format's view, for tools and tests).
    #[doc(hidden)]
    pub fn file(&self) -> &SegmentFile {
        &self.file
    }

    /// Rows in the segment.
    pub fn num_rows(&self) -> usize {
        self.file.row_count() as usize
    }

    /// The segment file's path.
    pub fn path(&self) -> &std::path::Path {
        self.file.path()
    }

    /// Size of the segment file in bytes.
    pub fn file_len(&self) -> u64 {
        self.file.file_len()
    }

    /// Keys in the segment's overflow bag (0 without a bag).
    pub fn bag_key_count(&self) -> usize {
        self.file.footer().bag.as_ref().map_or(0, |b| b.keys.len())
    }

    /// Zones (runs of rows with their own statistics) in the segment.
    pub fn zone_count(&self) -> usize {
        let footer = self.file.footer();
        zone_count(footer.row_count, footer.zone_rows) as usize
    }

    /// The segment rows of zone `zone`.
    pub fn zone_range(&self, zone: usize) -> std::ops::Range<usize> {
        let footer = self.file.footer();
        let r = zone_range(footer.row_count, footer.zone_rows, zone as u64);
        r.start as usize..r.end as usize
    }

    /// Rows in each zone, in order.
    pub fn zone_lengths(&self) -> Vec<u64> {
        (0..self.zone_count())
            .map(|z| self.zone_range(z).len() as u64)
            .collect()
    }

    /// The Arrow schema of the arrays (the table's read schema).
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// The columns this segment's rows are sorted by (ascending, NULLs last), if its footer
    /// records a sort key.
    pub fn sort_key(&self) -> Option<Vec<String>> {
        crate::native::sort_key_pairs::names_in(&self.file.footer().metadata)
    }

    /// How dense table column `index` is stored in this segment: `(encoding, bytes in the
    /// file, bytes the raw layout takes)`, the encoding as `raw`, `packed 12-bit`, `dict 7
    /// values`; `None` for columns not dense here.
    pub fn column_storage(&self, index: usize) -> Option<(String, u64, u64)> {
        let Placement::Dense(i) = self.placements.get(index)?.0 else {
            return None;
        };
        let meta = &self.file.footer().columns[i];
        let encoding = meta
            .encoding
            .as_ref()
            .map_or("raw".into(), |e| e.describe());
        Some((encoding, meta.stored_bytes(), meta.raw_bytes()))
    }

    /// Where table column `index` is stored in this segment.
    pub fn placement(&self, index: usize) -> Placement {
        self.placements[index].0
    }

    /// Null count and bounds of table column `index` over the segment (bounds unknown for
    /// columns stored as a narrower type).
    pub fn stats(&self, index: usize) -> &ColumnStats {
        match &self.owned_stats[index] {
            Some(o) => &o.stats,
            None => Self::footer_stats(self.file.footer(), self.placements[index].0).0,
        }
    }

    /// As [`Self::stats`], for zone `zone`.
    pub fn zone_stats(&self, index: usize, zone: usize) -> &ColumnStats {
        match &self.owned_stats[index] {
            Some(o) => &o.zones[zone],
            None => &Self::footer_stats(self.file.footer(), self.placements[index].0).1[zone],
        }
    }

    /// This segment as the process-wide caches know it (`segment_cache.rs`).
    fn segment_key(&self) -> SegmentKey {
        self.key
    }

    /// The encoded footer column behind table column `index`, if it is one (stored dense,
    /// encoded, in the table's own type).
    fn encoded_meta(&self, index: usize) -> Option<&crate::native::footer::ColumnMeta> {
        match self.placements[index] {
            (Placement::Dense(i), false) => {
                let meta = &self.file.footer().columns[i];
                meta.encoding.is_some().then_some(meta)
            }
            _ => None,
        }
    }

    /// Whether table column `index` is stored encoded in this segment (format v3: decoded
    /// when read, not zero-copy).
    pub fn is_encoded(&self, index: usize) -> bool {
        index < self.placements.len() && self.encoded_meta(index).is_some()
    }

    /// Part `part` of encoded column `index` (see [`Self::encoded_meta`]) in form `views` or
    /// not, through the process-wide cache of decoded columns (`segment_cache.rs`): decoded
    /// from only that part's rows. The view form is built from the decoded rows (or, for a
    /// dictionary column, from the dictionary) without keeping the array form too.
    fn decoded(&self, index: usize, part: Part, views: bool) -> Result<DecodedColumn> {
        let meta = self
            .encoded_meta(index)
            .expect("called for encoded columns");
        let encoding = meta.encoding.as_ref().expect("an encoded column");
        let rows = match part {
            Part::Whole => 0..self.num_rows(),
            Part::Zone(z) => self.zone_range(z),
        };
        decoded_columns().get_or_build(
            self.segment_key(),
            part.slot(index, views),
            || {
                let arrays = ColumnArrays { file: &self.file };
                let dictionary = self.dictionary(index)?;
                if views {
                    if let Some(v) =
                        arrays.dictionary_views(meta, rows.clone(), dictionary.as_ref())?
                    {
                        return Ok(DecodedColumn::Views(v));
                    }
                }
                let array = arrays.build_encoded(meta, encoding, rows, dictionary.as_ref())?;
                Ok(if views {
                    DecodedColumn::Views(self.zone_views(&array))
                } else {
                    DecodedColumn::Array(array)
                })
            },
            DecodedColumn::bytes,
        )
    }

    /// The dictionary of encoded column `index`, built once (checked) and kept in the cache of
    /// decoded columns; `None` unless it is dictionary-encoded.
    fn dictionary(&self, index: usize) -> Result<Option<ArrayRef>> {
        let meta = self
            .encoded_meta(index)
            .expect("called for encoded columns");
        if !matches!(meta.encoding, Some(Encoding::Dictionary { .. })) {
            return Ok(None);
        }
        let built = decoded_columns().get_or_build(
            self.segment_key(),
            dictionary_slot(index),
            || {
                let arrays = ColumnArrays { file: &self.file };
                let values = arrays
                    .dictionary_values(meta)?
                    .expect("a dictionary column");
                Ok::<_, Error>(DecodedColumn::Array(values))
            },
            DecodedColumn::bytes,
        )?;
        match built {
            DecodedColumn::Array(values) => Ok(Some(values)),
            DecodedColumn::Views(_) => unreachable!("the dictionary slot holds an array"),
        }
    }

    /// Encoded column `index` in form `views` or not, as one array over rows `range`: a slice
    /// of the whole decoded column if that is cached, else of the decoded zone holding the
    /// range, decoding only that zone (a range across zones: the slices of each, concatenated).
    fn decoded_rows(&self, index: usize, views: bool, range: Range<usize>) -> Result<ArrayRef> {
        let whole = Part::Whole.slot(index, views);
        let zone_rows = self.file.footer().zone_rows.max(1) as usize;
        if range.is_empty() || decoded_columns().contains(self.segment_key(), whole) {
            return self.decoded_slice(index, Part::Whole, views, range);
        }
        let zones = range.start / zone_rows..(range.end - 1) / zone_rows + 1;
        let pieces = zones
            .map(|z| {
                let rows = self.zone_range(z);
                let piece = range.start.max(rows.start)..range.end.min(rows.end);
                self.decoded_slice(index, Part::Zone(z), views, piece)
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        if let [one] = &pieces[..] {
            return Ok(Arc::clone(one));
        }
        let pieces: Vec<&dyn arrow::array::Array> = pieces.iter().map(|a| a.as_ref()).collect();
        Ok(arrow::compute::concat(&pieces)?)
    }

    /// Rows `range` (inside `part`) of part `part` of encoded column `index`, in form `views`
    /// or not (see [`Self::decoded`]).
    fn decoded_slice(
        &self,
        index: usize,
        part: Part,
        views: bool,
        range: Range<usize>,
    ) -> Result<ArrayRef> {
        let first = match part {
            Part::Whole => 0,
            Part::Zone(z) => self.zone_range(z).start,
        };
        let local = range.start - first..range.end - first;
        Ok(match self.decoded(index, part, views)? {
            DecodedColumn::Array(a) => owned_slice(&a, local.start, local.len()),
            DecodedColumn::Views(v) => v.rows(local),
        })
    }

    /// The zone whose rows hold all of `range`, if one does (an empty range: none).
    fn zone_holding(&self, range: Range<usize>) -> Option<usize> {
        let zone_rows = self.file.footer().zone_rows.max(1) as usize;
        let z = range.start / zone_rows;
        (z < self.zone_count() && !range.is_empty() && range.end <= self.zone_range(z).end)
            .then_some(z)
    }

    /// Whether encoded column `index` is in the decoded-column cache, whole in either form or
    /// the zone of `rows` (all in one zone) in either form.
    fn is_decoded(&self, index: usize, rows: Option<usize>) -> bool {
        let cache = decoded_columns();
        let parts = std::iter::once(Part::Whole).chain(rows.map(Part::Zone));
        parts
            .flat_map(|p| [p.slot(index, false), p.slot(index, true)])
            .any(|slot| cache.contains(self.segment_key(), slot))
    }

    /// Whether `use_` of zone `zone` of encoded column `index` (not decoded there) is to be
    /// answered from the encoded form, decoding nothing: the first time this use reaches the
    /// zone, and always when the decoded-column cache keeps nothing. The next time (a query
    /// run again) the caller decodes the zone instead, which the cache then keeps, so repeated
    /// queries read decoded values as fast as the raw layout's.
    fn answer_encoded(&self, index: usize, zone: usize, use_: ZoneUse) -> bool {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (zone, use_).hash(&mut h);
        first_use(self.segment_key(), (index, h.finish() as usize))
            || decoded_columns().budget() == 0
    }

    /// Which of rows `rows` of table column `index` (or of offsets `at` into them) satisfy
    /// `column OP literal`, answered on its packed values without decoding them
    /// (`ColumnArrays::compare_packed`); NULL rows are false. `None` when the column is not
    /// packed in this segment, or is already decoded there (comparing decoded values is
    /// faster), or the zone of `rows` was compared this way before and the decoded-column
    /// cache may keep it (the caller then reads, so decodes and caches, the zone: a query run
    /// again compares at the raw layout's speed), or the comparison cannot be answered that
    /// way.
    pub fn compare_packed(
        &self,
        index: usize,
        comparison: (Comparison, &dyn arrow::array::Array),
        rows: Range<usize>,
        at: Option<&[u32]>,
    ) -> Result<Option<arrow::buffer::BooleanBuffer>> {
        self.check_index(index)?;
        let Some(meta) = self.encoded_meta(index) else {
            return Ok(None);
        };
        let zone = self.zone_holding(rows.clone());
        if self.is_decoded(index, zone) {
            return Ok(None);
        }
        if let Some(z) = zone {
            // One mark per zone and comparison: the conjuncts of one query (`a >= x AND a < y`)
            // are each a first time.
            let literal = comparison.1.to_data();
            let mut h = std::collections::hash_map::DefaultHasher::new();
            literal.offset().hash(&mut h);
            literal
                .buffers()
                .iter()
                .for_each(|b| b.as_slice().hash(&mut h));
            if !self.answer_encoded(index, z, ZoneUse::Compare(comparison.0, h.finish())) {
                return Ok(None);
            }
        }
        ColumnArrays { file: &self.file }.compare_packed(meta, comparison, rows, at)
    }

    /// The address range of the mapping, for callers that prove buffers point into it.
    pub fn mapping_range(&self) -> std::ops::Range<usize> {
        let bytes = self.file.bytes();
        let start = bytes.as_ptr() as usize;
        start..start + bytes.len()
    }

    fn check_index(&self, index: usize) -> Result<()> {
        if index >= self.placements.len() {
            return Err(Error::invalid(format!(
                "column index {index} out of range: the table has {} columns",
                self.placements.len()
            )));
        }
        Ok(())
    }

    /// The overflow bag (opened on first use).
    fn bag(&self) -> Result<&Bag> {
        if let Some(bag) = self.bag.get() {
            return Ok(bag);
        }
        let bag = Bag::open(&self.file)?.ok_or_else(|| {
            Error::corrupt(self.file.path(), "footer", "an overflow key without a bag")
        })?;
        Ok(self.bag.get_or_init(|| bag))
    }

    /// Checks the whole overflow bag, if there is one (part of [`crate::Table::verify`]).
    pub fn verify_bag(&self) -> Result<()> {
        if self.file.footer().bag.is_some() {
            self.bag()?.verify(&self.file)?;
        }
        Ok(())
    }

    /// Decodes overflow keys `keys` (footer key indices) at `rows`, cast to the table types of
    /// table columns `columns`.
    fn decode_bag(
        &self,
        columns: &[usize],
        keys: &[usize],
        rows: Rows<'_>,
    ) -> Result<Vec<ArrayRef>> {
        let meta = &self
            .file
            .footer()
            .bag
            .as_ref()
            .expect("a bag key implies a bag")
            .keys;
        let arrays = bag::decode(self.bag()?, meta, keys, rows)?;
        arrays
            .into_iter()
            .zip(columns)
            .map(|(a, &c)| self.conform(c, a))
            .collect()
    }

    /// `array` (of column `index` as stored) in the table's read type.
    fn conform(&self, index: usize, array: ArrayRef) -> Result<ArrayRef> {
        if !self.placements[index].1 {
            return Ok(array);
        }
        Ok(arrow::compute::cast(
            &array,
            self.schema.field(index).data_type(),
        )?)
    }

    /// Table column `index` over the whole segment: a zero-copy array for a dense column (see
    /// the module contract), decoded for an overflow key, all nulls if absent.
    pub fn column(&self, index: usize) -> Result<ArrayRef> {
        self.check_index(index)?;
        match self.placements[index].0 {
            Placement::Dense(_) if self.encoded_meta(index).is_some() => {
                match self.decoded(index, Part::Whole, false)? {
                    DecodedColumn::Array(a) => Ok(a),
                    DecodedColumn::Views(_) => unreachable!("slot of the array form"),
                }
            }
            Placement::Dense(i) => {
                let cell = &self.columns[index];
                if let Some(array) = cell.get() {
                    return Ok(Arc::clone(array));
                }
                let arrays = ColumnArrays { file: &self.file };
                let array = arrays.build(&self.file.footer().columns[i])?;
                let array = self.conform(index, array)?;
                Ok(Arc::clone(cell.get_or_init(|| array)))
            }
            Placement::Bag(k) => Ok(self
                .decode_bag(&[index], &[k], Rows::Range(0, self.num_rows()))?
                .remove(0)),
            Placement::Absent => Ok(new_null_array(
                self.schema.field(index).data_type(),
                self.num_rows(),
            )),
        }
    }

    /// Column `index` with strings as `Utf8View` and binaries as `BinaryView`: the values
    /// stay in the mapping; the views (16 bytes per row) are built on first use and cached for
    /// the life of the segment. Other columns are returned as by [`Self::column`].
    pub fn column_view(&self, index: usize) -> Result<ArrayRef> {
        self.check_index(index)?;
        Ok(match self.dense_views(index)? {
            Some(views) => views.array,
            None => self.view_of_other(index)?,
        })
    }

    /// The cached view form of dense string or binary column `index` (one data block per
    /// zone; for a dictionary-encoded column, views over its dictionary); `None` for other
    /// columns.
    fn dense_views(&self, index: usize) -> Result<Option<BlockViews>> {
        if !matches!(self.placements[index].0, Placement::Dense(_)) {
            return Ok(None);
        }
        if self.encoded_meta(index).is_some() {
            let t = self.schema.field(index).data_type();
            if !matches!(t, DataType::LargeUtf8 | DataType::LargeBinary) {
                return Ok(None);
            }
            return match self.decoded(index, Part::Whole, true)? {
                DecodedColumn::Views(v) => Ok(Some(v)),
                DecodedColumn::Array(_) => unreachable!("slot of the view form"),
            };
        }
        if let Some(v) = self.view_columns[index].get() {
            return Ok(Some(v.clone()));
        }
        let array = self.column(index)?;
        if !matches!(
            array.data_type(),
            DataType::LargeUtf8 | DataType::LargeBinary
        ) {
            return Ok(None);
        }
        let v = self.zone_views(&array);
        Ok(Some(self.view_columns[index].get_or_init(|| v).clone()))
    }

    /// `array` (a whole string or binary column of this segment) as views, one data block per
    /// zone.
    fn zone_views(&self, array: &ArrayRef) -> BlockViews {
        let zone_rows = self.file.footer().zone_rows.clamp(1, usize::MAX as u64) as usize;
        to_view_in_blocks(array, zone_rows)
    }

    /// [`Self::column_view`] of a column without a cached view form.
    fn view_of_other(&self, index: usize) -> Result<ArrayRef> {
        Ok(to_view(&self.column(index)?))
    }

    /// The distinct-value table of dense string or binary column `index` (`distinct.rs`),
    /// built on first use and cached, across opens of the same file (`segment_cache.rs`); `None`
    /// for other columns and for columns with more than
    /// [`MAX_DISTINCT`](super::distinct::MAX_DISTINCT) distinct values in this segment.
    pub fn distinct_values(&self, index: usize) -> Result<Option<Arc<DistinctValues>>> {
        self.check_index(index)?;
        if !matches!(self.placements[index].0, Placement::Dense(_)) {
            return Ok(None);
        }
        let cell = &self.distinct[index];
        if let Some(d) = cell.get() {
            return Ok(d.clone());
        }
        let built = distinct_tables().get_or_build(
            self.segment_key(),
            (index, 0),
            || {
                if let Some(meta) = self.encoded_meta(index) {
                    let arrays = ColumnArrays { file: &self.file };
                    let dictionary = self.dictionary(index)?;
                    let distinct = arrays.dictionary_distinct(meta, dictionary.as_ref())?;
                    return Ok(distinct.map(Arc::new));
                }
                let column = self.column(index)?;
                Ok::<_, crate::Error>(DistinctValues::build(column.as_ref()).map(Arc::new))
            },
            |t| {
                t.as_ref()
                    .map_or(0, |t| t.codes.len() + t.values.get_array_memory_size())
            },
        )?;
        Ok(cell.get_or_init(|| built).clone())
    }

    /// [`Self::column_view`] if `view`, else [`Self::column`].
    fn column_as(&self, index: usize, view: bool) -> Result<ArrayRef> {
        if view {
            self.column_view(index)
        } else {
            self.column(index)
        }
    }

    /// Rows `range` of table columns `columns`, each `(index, as view)`: slices of dense
    /// columns (zero-copy; the buffers of fixed-width, boolean and view arrays own only these
    /// rows' bytes, `owned_slices.rs`, so memory accounting charges the rows, not the
    /// column), overflow keys decoded for just these rows in one pass over their blobs, nulls
    /// for absent columns.
    pub fn read_range(
        &self,
        columns: &[(usize, bool)],
        range: std::ops::Range<usize>,
    ) -> Result<Vec<ArrayRef>> {
        let len = range.len();
        self.read_with(
            columns,
            |c, view| {
                if self.encoded_meta(c).is_some() {
                    return self.decoded_rows(c, self.views_of(c, view), range.clone());
                }
                if view {
                    if let Some(views) = self.dense_views(c)? {
                        return Ok(views.rows(range.clone()));
                    }
                }
                Ok(owned_slice(&self.column_as(c, view)?, range.start, len))
            },
            |cols, keys| self.decode_bag(cols, keys, Rows::Range(range.start, range.end)),
            len,
        )
    }

    /// Table columns `columns` at segment rows `rows` (any order, repeats allowed), gathered
    /// into new arrays.
    pub fn read_rows(&self, columns: &[usize], rows: &[usize]) -> Result<Vec<ArrayRef>> {
        let columns: Vec<(usize, bool)> = columns.iter().map(|&c| (c, false)).collect();
        self.read_rows_as(&columns, rows)
    }

    /// As [`Self::read_rows`], each column `(index, as view)` as in [`Self::read_range`]. A
    /// string or binary column not yet built, or an encoded column not yet decoded, is
    /// gathered for just these rows when they are few (under one in [`GATHER_FRACTION`] of
    /// the segment), reading and checking only their pages (and blocks) instead of building
    /// and validating the whole column.
    pub fn read_rows_as(&self, columns: &[(usize, bool)], rows: &[usize]) -> Result<Vec<ArrayRef>> {
        let indices = arrow::array::UInt64Array::from_iter_values(rows.iter().map(|&r| r as u64));
        let few = rows.len() * GATHER_FRACTION < self.num_rows();
        let span = match (rows.iter().min(), rows.iter().max()) {
            (Some(&lo), Some(&hi)) => self.zone_holding(lo..hi + 1),
            _ => None,
        };
        self.read_with(
            columns,
            |c, view| {
                if let (Placement::Dense(i), false) = self.placements[c] {
                    let meta = &self.file.footer().columns[i];
                    let arrays = ColumnArrays { file: &self.file };
                    let gathered = match meta.encoding {
                        None if few && self.columns[c].get().is_none() => {
                            arrays.gather_variable(meta, rows)?
                        }
                        Some(_)
                            if few
                                && !self.is_decoded(c, span)
                                && span
                                    .is_none_or(|z| self.answer_encoded(c, z, ZoneUse::Gather)) =>
                        {
                            arrays.gather_encoded(meta, rows, self.dictionary(c)?.as_ref())?
                        }
                        Some(_) => {
                            // Taken from the decoded zone holding the rows (or the whole column).
                            let range = span.map_or(0..self.num_rows(), |z| self.zone_range(z));
                            let part =
                                self.decoded_rows(c, self.views_of(c, view), range.clone())?;
                            let local = arrow::array::UInt64Array::from_iter_values(
                                rows.iter().map(|&r| (r - range.start) as u64),
                            );
                            return Ok(arrow::compute::take(part.as_ref(), &local, None)?);
                        }
                        _ => None,
                    };
                    if let Some(a) = gathered {
                        return Ok(if view { to_view(&a) } else { a });
                    }
                }
                Ok(arrow::compute::take(
                    self.column_as(c, view)?.as_ref(),
                    &indices,
                    None,
                )?)
            },
            |cols, keys| self.decode_bag(cols, keys, Rows::List(rows)),
            rows.len(),
        )
    }

    /// Whether encoded column `index`, asked for in view form or not (`view`), is decoded in
    /// the view form: only string and binary columns have one.
    fn views_of(&self, index: usize, view: bool) -> bool {
        view && matches!(
            self.schema.field(index).data_type(),
            DataType::LargeUtf8 | DataType::LargeBinary
        )
    }

    /// Reads `columns`, each `(index, as view)`: dense ones with `dense(column, as view)`, all
    /// overflow keys at once with `bag(columns, keys)`, absent ones as `len` nulls.
    fn read_with(
        &self,
        columns: &[(usize, bool)],
        dense: impl Fn(usize, bool) -> Result<ArrayRef>,
        bag: impl FnOnce(&[usize], &[usize]) -> Result<Vec<ArrayRef>>,
        len: usize,
    ) -> Result<Vec<ArrayRef>> {
        let mut out: Vec<Option<ArrayRef>> = vec![None; columns.len()];
        let (mut bag_columns, mut bag_keys, mut bag_slots) = (Vec::new(), Vec::new(), Vec::new());
        for (slot, &(c, view)) in columns.iter().enumerate() {
            self.check_index(c)?;
            match self.placements[c].0 {
                Placement::Dense(_) => out[slot] = Some(dense(c, view)?),
                Placement::Bag(k) => {
                    bag_columns.push(c);
                    bag_keys.push(k);
                    bag_slots.push(slot);
                }
                Placement::Absent => {
                    let t = self.schema.field(c).data_type();
                    let t = if view { view_type(t) } else { t.clone() };
                    out[slot] = Some(new_null_array(&t, len));
                }
            }
        }
        if !bag_keys.is_empty() {
            for (slot, array) in bag_slots.into_iter().zip(bag(&bag_columns, &bag_keys)?) {
                out[slot] = Some(if columns[slot].1 {
                    to_view(&array)
                } else {
                    array
                });
            }
        }
        Ok(out
            .into_iter()
            .map(|a| a.expect("every slot filled"))
            .collect())
    }
}
