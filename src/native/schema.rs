//! Column types and schemas as the on-disk format knows them. Knows nothing of Arrow.
//!
//! # Contract
//! - [`ColumnType`] names every type a segment can store; its [`Layout`] fixes which regions a
//!   column has and how long each is (docs/FORMAT.md, "Column types").
//! - The encoding (a one-byte tag, then parameters) is shared by segment footers and manifests;
//!   decoding validates every tag and parameter, so an unknown tag is an error, not a guess.

use super::codec::{DecodeError, DecodeResult, Decoder, Encoder};

/// Resolution of a time, timestamp or duration. Tag values are part of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// Seconds (tag 0).
    Second,
    /// Milliseconds (tag 1).
    Millisecond,
    /// Microseconds (tag 2).
    Microsecond,
    /// Nanoseconds (tag 3).
    Nanosecond,
}

/// Kind of calendar interval. Tag values are part of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntervalUnit {
    /// Months as one `i32` (tag 0).
    YearMonth,
    /// Days and milliseconds as two `i32` (tag 1).
    DayTime,
    /// Months, days (`i32` each) and nanoseconds (`i64`) (tag 2).
    MonthDayNano,
}

/// A storable column type. Mirrors the Arrow type a column was written from, so a reader can
/// hand back the same logical type (strings and binaries are read through their 64-bit-offset
/// Arrow forms; the original type is kept for export).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum ColumnType {
    Null,
    Boolean,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float16,
    Float32,
    Float64,
    Date32,
    Date64,
    Time32(TimeUnit),
    Time64(TimeUnit),
    /// Unit and optional IANA time zone name or offset.
    Timestamp(TimeUnit, Option<String>),
    Duration(TimeUnit),
    Interval(IntervalUnit),
    /// Precision and scale.
    Decimal32(u8, i8),
    Decimal64(u8, i8),
    Decimal128(u8, i8),
    Decimal256(u8, i8),
    /// Width of each value in bytes.
    FixedSizeBinary(u32),
    Utf8,
    LargeUtf8,
    Utf8View,
    Binary,
    LargeBinary,
    BinaryView,
    /// Variable-length lists (written with 32-bit offsets); one child column, the items.
    List,
    /// Variable-length lists (written with 64-bit offsets); one child column, the items.
    LargeList,
    /// Lists of exactly this many items; one child column, the items.
    FixedSizeList(u32),
    /// One child column per field.
    Struct,
    /// Key/value lists; one child column: a non-nullable struct of two children (key, value).
    /// The flag says whether keys are sorted.
    Map(bool),
    /// Dictionary-encoded values (key type, value type). Stored decoded, in the value type's
    /// layout; the dictionary type is kept for export.
    Dictionary(Box<ColumnType>, Box<ColumnType>),
}

/// How a column's values are laid out in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// No value regions: every row is null.
    Null,
    /// One bit per row in a `data` region of `ceil(n / 8)` bytes, Arrow bit order.
    Bits,
    /// `width` bytes per row in a `data` region of `n * width` bytes.
    Fixed {
        /// Bytes per value.
        width: usize,
    },
    /// A `data` byte region plus an `offsets` region of `n` `u64` cumulative end offsets.
    Variable {
        /// Whether the bytes must be valid UTF-8 (string types).
        utf8: bool,
    },
    /// An `offsets` region of `n` `u64` cumulative end offsets into the one child column.
    List,
    /// No value regions; the one child column has `n * size` rows.
    FixedList {
        /// Items per list.
        size: usize,
    },
    /// No value regions; every child column has `n` rows.
    Struct,
}

/// The one-byte type tags (docs/FORMAT.md, "Column types"): the one definition both
/// [`ColumnType::tag`] and [`ColumnType::decode`] use.
#[allow(missing_docs)]
pub mod type_tag {
    pub const NULL: u8 = 0;
    pub const BOOLEAN: u8 = 1;
    pub const INT8: u8 = 2;
    pub const INT16: u8 = 3;
    pub const INT32: u8 = 4;
    pub const INT64: u8 = 5;
    pub const UINT8: u8 = 6;
    pub const UINT16: u8 = 7;
    pub const UINT32: u8 = 8;
    pub const UINT64: u8 = 9;
    pub const FLOAT16: u8 = 10;
    pub const FLOAT32: u8 = 11;
    pub const FLOAT64: u8 = 12;
    pub const DATE32: u8 = 13;
    pub const DATE64: u8 = 14;
    pub const TIME32: u8 = 15;
    pub const TIME64: u8 = 16;
    pub const TIMESTAMP: u8 = 17;
    pub const DURATION: u8 = 18;
    pub const INTERVAL: u8 = 19;
    pub const DECIMAL32: u8 = 20;
    pub const DECIMAL64: u8 = 21;
    pub const DECIMAL128: u8 = 22;
    pub const DECIMAL256: u8 = 23;
    pub const FIXED_SIZE_BINARY: u8 = 24;
    pub const UTF8: u8 = 25;
    pub const LARGE_UTF8: u8 = 26;
    pub const UTF8_VIEW: u8 = 27;
    pub const BINARY: u8 = 28;
    pub const LARGE_BINARY: u8 = 29;
    pub const BINARY_VIEW: u8 = 30;
    pub const LIST: u8 = 31;
    pub const LARGE_LIST: u8 = 32;
    pub const FIXED_SIZE_LIST: u8 = 33;
    pub const STRUCT: u8 = 34;
    pub const MAP: u8 = 35;
    pub const DICTIONARY: u8 = 36;
}

impl ColumnType {
    /// The layout of this type's values.
    pub fn layout(&self) -> Layout {
        use ColumnType::*;
        let fixed = |width| Layout::Fixed { width };
        match self {
            Null => Layout::Null,
            Boolean => Layout::Bits,
            Int8 | UInt8 => fixed(1),
            Int16 | UInt16 | Float16 => fixed(2),
            Int32 | UInt32 | Float32 | Date32 | Time32(_) | Decimal32(..) => fixed(4),
            Int64 | UInt64 | Float64 | Date64 | Time64(_) | Timestamp(..) | Duration(_) => fixed(8),
            Decimal64(..) => fixed(8),
            Interval(IntervalUnit::YearMonth) => fixed(4),
            Interval(IntervalUnit::DayTime) => fixed(8),
            Interval(IntervalUnit::MonthDayNano) | Decimal128(..) => fixed(16),
            Decimal256(..) => fixed(32),
            FixedSizeBinary(w) => fixed(*w as usize),
            Utf8 | LargeUtf8 | Utf8View => Layout::Variable { utf8: true },
            Binary | LargeBinary | BinaryView => Layout::Variable { utf8: false },
            List | LargeList | Map(_) => Layout::List,
            FixedSizeList(size) => Layout::FixedList {
                size: *size as usize,
            },
            Struct => Layout::Struct,
            Dictionary(_, value) => value.layout(),
        }
    }

    /// How many child columns a column of this type has (`None`: any number, for structs).
    pub fn child_count(&self) -> Option<usize> {
        match self {
            ColumnType::List | ColumnType::LargeList | ColumnType::FixedSizeList(_) => Some(1),
            ColumnType::Map(_) => Some(1),
            ColumnType::Struct => None,
            _ => Some(0),
        }
    }

    /// True for list, struct and map types (whose values live in child columns).
    pub fn is_nested(&self) -> bool {
        self.child_count() != Some(0)
    }

    /// The one-byte tag that starts this type's encoding (docs/FORMAT.md, "Column types").
    pub fn tag(&self) -> u8 {
        use ColumnType::*;
        match self {
            Null => type_tag::NULL,
            Boolean => type_tag::BOOLEAN,
            Int8 => type_tag::INT8,
            Int16 => type_tag::INT16,
            Int32 => type_tag::INT32,
            Int64 => type_tag::INT64,
            UInt8 => type_tag::UINT8,
            UInt16 => type_tag::UINT16,
            UInt32 => type_tag::UINT32,
            UInt64 => type_tag::UINT64,
            Float16 => type_tag::FLOAT16,
            Float32 => type_tag::FLOAT32,
            Float64 => type_tag::FLOAT64,
            Date32 => type_tag::DATE32,
            Date64 => type_tag::DATE64,
            Time32(_) => type_tag::TIME32,
            Time64(_) => type_tag::TIME64,
            Timestamp(..) => type_tag::TIMESTAMP,
            Duration(_) => type_tag::DURATION,
            Interval(_) => type_tag::INTERVAL,
            Decimal32(..) => type_tag::DECIMAL32,
            Decimal64(..) => type_tag::DECIMAL64,
            Decimal128(..) => type_tag::DECIMAL128,
            Decimal256(..) => type_tag::DECIMAL256,
            FixedSizeBinary(_) => type_tag::FIXED_SIZE_BINARY,
            Utf8 => type_tag::UTF8,
            LargeUtf8 => type_tag::LARGE_UTF8,
            Utf8View => type_tag::UTF8_VIEW,
            Binary => type_tag::BINARY,
            LargeBinary => type_tag::LARGE_BINARY,
            BinaryView => type_tag::BINARY_VIEW,
            List => type_tag::LIST,
            LargeList => type_tag::LARGE_LIST,
            FixedSizeList(_) => type_tag::FIXED_SIZE_LIST,
            Struct => type_tag::STRUCT,
            Map(_) => type_tag::MAP,
            Dictionary(..) => type_tag::DICTIONARY,
        }
    }

    pub(crate) fn encode(&self, e: &mut Encoder) {
        use ColumnType::*;
        e.u8(self.tag());
        match self {
            Time32(u) | Time64(u) | Duration(u) => e.u8(*u as u8),
            Timestamp(u, tz) => {
                e.u8(*u as u8);
                e.opt_bytes(tz.as_deref().map(str::as_bytes));
            }
            Interval(u) => e.u8(*u as u8),
            Decimal32(p, s) | Decimal64(p, s) | Decimal128(p, s) | Decimal256(p, s) => {
                e.u8(*p);
                e.u8(*s as u8);
            }
            FixedSizeBinary(w) | FixedSizeList(w) => e.u32(*w),
            Map(sorted) => e.u8(*sorted as u8),
            Dictionary(key, value) => {
                key.encode(e);
                value.encode(e);
            }
            _ => {}
        }
    }

    pub(crate) fn decode(d: &mut Decoder<'_>) -> DecodeResult<Self> {
        use ColumnType::*;
        let at = d.position();
        let tag = d.u8("type tag")?;
        Ok(match tag {
            type_tag::NULL => Null,
            type_tag::BOOLEAN => Boolean,
            type_tag::INT8 => Int8,
            type_tag::INT16 => Int16,
            type_tag::INT32 => Int32,
            type_tag::INT64 => Int64,
            type_tag::UINT8 => UInt8,
            type_tag::UINT16 => UInt16,
            type_tag::UINT32 => UInt32,
            type_tag::UINT64 => UInt64,
            type_tag::FLOAT16 => Float16,
            type_tag::FLOAT32 => Float32,
            type_tag::FLOAT64 => Float64,
            type_tag::DATE32 => Date32,
            type_tag::DATE64 => Date64,
            type_tag::TIME32 => Time32(decode_time_unit(d)?),
            type_tag::TIME64 => Time64(decode_time_unit(d)?),
            type_tag::TIMESTAMP => {
                let unit = decode_time_unit(d)?;
                let tz = match d.opt_bytes("time zone")? {
                    None => None,
                    Some(b) => Some(
                        std::str::from_utf8(b)
                            .map_err(|_| d.error("time zone is not UTF-8"))?
                            .to_owned(),
                    ),
                };
                Timestamp(unit, tz)
            }
            type_tag::DURATION => Duration(decode_time_unit(d)?),
            type_tag::INTERVAL => {
                let at = d.position();
                Interval(match d.u8("interval unit")? {
                    0 => IntervalUnit::YearMonth,
                    1 => IntervalUnit::DayTime,
                    2 => IntervalUnit::MonthDayNano,
                    v => return Err(bad_tag(at, "interval unit", v)),
                })
            }
            type_tag::DECIMAL32..=type_tag::DECIMAL256 => {
                let p = d.u8("decimal precision")?;
                let s = d.u8("decimal scale")? as i8;
                match tag {
                    type_tag::DECIMAL32 => Decimal32(p, s),
                    type_tag::DECIMAL64 => Decimal64(p, s),
                    type_tag::DECIMAL128 => Decimal128(p, s),
                    _ => Decimal256(p, s),
                }
            }
            type_tag::FIXED_SIZE_BINARY => {
                let at = d.position();
                let w = d.u32("fixed size binary width")?;
                if w == 0 || w > i32::MAX as u32 {
                    return Err(DecodeError {
                        offset: at,
                        detail: format!("fixed size binary width {w} is out of range"),
                    });
                }
                FixedSizeBinary(w)
            }
            type_tag::UTF8 => Utf8,
            type_tag::LARGE_UTF8 => LargeUtf8,
            type_tag::UTF8_VIEW => Utf8View,
            type_tag::BINARY => Binary,
            type_tag::LARGE_BINARY => LargeBinary,
            type_tag::BINARY_VIEW => BinaryView,
            type_tag::LIST => List,
            type_tag::LARGE_LIST => LargeList,
            type_tag::FIXED_SIZE_LIST => {
                let at = d.position();
                let size = d.u32("fixed size list size")?;
                if size > i32::MAX as u32 {
                    return Err(DecodeError {
                        offset: at,
                        detail: format!("fixed size list size {size} is out of range"),
                    });
                }
                FixedSizeList(size)
            }
            type_tag::STRUCT => Struct,
            type_tag::MAP => Map(d.bool("map keys-sorted flag")?),
            type_tag::DICTIONARY => {
                let at = d.position();
                let key = ColumnType::decode(d)?;
                if !matches!(
                    key,
                    Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64
                ) {
                    return Err(DecodeError {
                        offset: at,
                        detail: format!("dictionary key type {key:?} is not an integer type"),
                    });
                }
                let at = d.position();
                // The value type's own decoding cannot recurse further: it must be a leaf.
                let value = ColumnType::decode_leaf(d)?;
                if value.is_nested() || matches!(value, Null) {
                    return Err(DecodeError {
                        offset: at,
                        detail: format!(
                            "dictionary value type {value:?} must be a non-null leaf type"
                        ),
                    });
                }
                Dictionary(Box::new(key), Box::new(value))
            }
            v => return Err(bad_tag(at, "column type tag", v)),
        })
    }

    /// Decodes a type that must not be a dictionary (bounding recursion).
    fn decode_leaf(d: &mut Decoder<'_>) -> DecodeResult<Self> {
        let at = d.position();
        if d.peek_u8() == Some(36) {
            return Err(DecodeError {
                offset: at,
                detail: "a dictionary's values cannot themselves be a dictionary".into(),
            });
        }
        Self::decode(d)
    }
}

fn decode_time_unit(d: &mut Decoder<'_>) -> DecodeResult<TimeUnit> {
    let at = d.position();
    Ok(match d.u8("time unit")? {
        0 => TimeUnit::Second,
        1 => TimeUnit::Millisecond,
        2 => TimeUnit::Microsecond,
        3 => TimeUnit::Nanosecond,
        v => return Err(bad_tag(at, "time unit", v)),
    })
}

fn bad_tag(offset: usize, what: &str, v: u8) -> DecodeError {
    DecodeError {
        offset,
        detail: format!("unknown {what} {v}"),
    }
}

/// One column of a table: name, type, nullability and key/value metadata (kept verbatim,
/// in order, so Arrow field metadata survives a round trip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    /// The column's name.
    pub name: String,
    /// Its storage type.
    pub column_type: ColumnType,
    /// Whether it may hold nulls.
    pub nullable: bool,
    /// Key/value metadata, sorted by key.
    pub metadata: Vec<(String, String)>,
    /// Child columns of nested types (list items, struct fields, map entries); empty otherwise.
    pub children: Vec<ColumnDef>,
}

/// Deepest nesting of child columns a schema may have.
pub const MAX_NESTING: usize = 64;

/// The most top-level columns a table may have. Writers refuse more (naming the input or the
/// table and the count), so the build path's per-column state stays bounded.
pub const MAX_COLUMNS: usize = 65_536;

/// What is wrong with a schema of `count` top-level columns, beyond [`MAX_COLUMNS`].
pub fn too_many_columns(count: usize) -> String {
    format!("{count} columns, more than the {MAX_COLUMNS} a Quiver table may have")
}

/// The columns of a table and the table-level key/value metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableSchema {
    /// Columns in order.
    pub columns: Vec<ColumnDef>,
    /// Key/value metadata, sorted by key.
    pub metadata: Vec<(String, String)>,
}

impl ColumnDef {
    /// A leaf column (no children).
    pub fn new(name: impl Into<String>, column_type: ColumnType, nullable: bool) -> Self {
        Self {
            name: name.into(),
            column_type,
            nullable,
            metadata: Vec::new(),
            children: Vec::new(),
        }
    }

    pub(crate) fn encode(&self, e: &mut Encoder) {
        e.str(&self.name);
        self.column_type.encode(e);
        e.u8(self.nullable as u8);
        e.pairs(&self.metadata);
        e.u32(self.children.len() as u32);
        for c in &self.children {
            c.encode(e);
        }
    }

    pub(crate) fn decode(d: &mut Decoder<'_>) -> DecodeResult<Self> {
        Self::decode_at_depth(d, 0)
    }

    fn decode_at_depth(d: &mut Decoder<'_>, depth: usize) -> DecodeResult<Self> {
        if depth > MAX_NESTING {
            return Err(d.error(format!("columns nest deeper than {MAX_NESTING} levels")));
        }
        let name = d.str("column name")?.to_owned();
        let column_type = ColumnType::decode(d)?;
        let nullable = d.bool("nullable flag")?;
        let metadata = d.pairs("metadata")?;
        let at = d.position();
        let n = d.count("child column count", 14)?;
        if column_type.child_count().is_some_and(|want| want != n) {
            return Err(DecodeError {
                offset: at,
                detail: format!("column \"{name}\" of type {column_type:?} has {n} child columns"),
            });
        }
        let mut children = Vec::with_capacity(n);
        for _ in 0..n {
            children.push(Self::decode_at_depth(d, depth + 1)?);
        }
        if let ColumnType::Map(_) = column_type {
            let entries = &children[0];
            if entries.column_type != ColumnType::Struct
                || entries.children.len() != 2
                || entries.nullable
            {
                return Err(DecodeError {
                    offset: at,
                    detail: format!(
                        "map column \"{name}\" needs a non-nullable struct of key and value"
                    ),
                });
            }
        }
        Ok(Self {
            name,
            column_type,
            nullable,
            metadata,
            children,
        })
    }

    /// This column and every descendant, depth first.
    pub fn walk(&self) -> Vec<&ColumnDef> {
        let mut out = vec![self];
        for c in &self.children {
            out.extend(c.walk());
        }
        out
    }
}

impl TableSchema {
    pub(crate) fn encode(&self, e: &mut Encoder) {
        e.u32(self.columns.len() as u32);
        for c in &self.columns {
            c.encode(e);
        }
        e.pairs(&self.metadata);
    }

    pub(crate) fn decode(d: &mut Decoder<'_>) -> DecodeResult<Self> {
        // A column takes at least 4 (name length) + 1 (tag) + 1 (nullable) + 4 (metadata count)
        // + 4 (child count).
        let n = d.count("column count", 14)?;
        let mut columns = Vec::with_capacity(n);
        for _ in 0..n {
            columns.push(ColumnDef::decode(d)?);
        }
        Ok(Self {
            columns,
            metadata: d.pairs("metadata")?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn every_type() -> Vec<ColumnType> {
        use ColumnType::*;
        let mut v = vec![
            Null,
            Boolean,
            Int8,
            Int16,
            Int32,
            Int64,
            UInt8,
            UInt16,
            UInt32,
            UInt64,
            Float16,
            Float32,
            Float64,
            Date32,
            Date64,
            Timestamp(TimeUnit::Nanosecond, Some("Europe/Oslo".into())),
            Timestamp(TimeUnit::Second, None),
            Interval(IntervalUnit::MonthDayNano),
            Decimal32(9, 2),
            Decimal64(18, -3),
            Decimal128(38, 10),
            Decimal256(76, 0),
            FixedSizeBinary(3),
            Utf8,
            LargeUtf8,
            Utf8View,
            Binary,
            LargeBinary,
            BinaryView,
        ];
        for u in [
            TimeUnit::Second,
            TimeUnit::Millisecond,
            TimeUnit::Microsecond,
            TimeUnit::Nanosecond,
        ] {
            v.extend([Time32(u), Time64(u), Duration(u)]);
        }
        v
    }

    #[test]
    fn every_type_round_trips_through_its_encoding() {
        for t in every_type() {
            let mut e = Encoder::new();
            t.encode(&mut e);
            let buf = e.finish();
            let mut d = Decoder::new(&buf);
            assert_eq!(ColumnType::decode(&mut d).unwrap(), t);
            d.finish("type").unwrap();
        }
    }

    #[test]
    fn unknown_type_tag_is_an_error() {
        let err = ColumnType::decode(&mut Decoder::new(&[200])).unwrap_err();
        assert!(err.detail.contains("unknown column type tag 200"), "{err}");
        let err = ColumnType::decode(&mut Decoder::new(&[24, 0, 0, 0, 0])).unwrap_err();
        assert!(err.detail.contains("width 0"), "{err}");
    }

    #[test]
    fn schema_with_metadata_round_trips() {
        let s = TableSchema {
            columns: vec![ColumnDef {
                name: "prix €".into(),
                column_type: ColumnType::Decimal128(12, 2),
                nullable: true,
                metadata: vec![("unit".into(), "EUR".into())],
                children: vec![],
            }],
            metadata: vec![("source".into(), "test".into())],
        };
        let mut e = Encoder::new();
        s.encode(&mut e);
        let buf = e.finish();
        let mut d = Decoder::new(&buf);
        assert_eq!(TableSchema::decode(&mut d).unwrap(), s);
    }
}
