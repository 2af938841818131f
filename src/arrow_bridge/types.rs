//! Arrow types and schemas <-> the format's [`ColumnType`] and [`TableSchema`].
//!
//! # Contract
//! - [`column_def`] accepts every Arrow type with a storage layout (docs/FORMAT.md, "Column
//!   types") and refuses every other with [`ErrorKind::Unsupported`] naming the column.
//! - [`read_type`] is the type scans return: the stored type itself, except that strings
//!   (`Utf8`, `LargeUtf8`, `Utf8View`) read as `LargeUtf8` and binaries as `LargeBinary`, whose
//!   64-bit offsets are the segment's offsets region, zero-copy. [`source_type`] is the type the
//!   column was written with, for export.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{
    DataType, Field, IntervalUnit as ArrowIntervalUnit, Schema, SchemaRef,
    TimeUnit as ArrowTimeUnit,
};

use crate::error::{ErrorKind, Result};
use crate::native::schema::{ColumnDef, ColumnType, IntervalUnit, TableSchema, TimeUnit};

fn time_unit(u: &ArrowTimeUnit) -> TimeUnit {
    match u {
        ArrowTimeUnit::Second => TimeUnit::Second,
        ArrowTimeUnit::Millisecond => TimeUnit::Millisecond,
        ArrowTimeUnit::Microsecond => TimeUnit::Microsecond,
        ArrowTimeUnit::Nanosecond => TimeUnit::Nanosecond,
    }
}

fn arrow_time_unit(u: TimeUnit) -> ArrowTimeUnit {
    match u {
        TimeUnit::Second => ArrowTimeUnit::Second,
        TimeUnit::Millisecond => ArrowTimeUnit::Millisecond,
        TimeUnit::Microsecond => ArrowTimeUnit::Microsecond,
        TimeUnit::Nanosecond => ArrowTimeUnit::Nanosecond,
    }
}

/// The storage type for an Arrow type, or `Unsupported` naming `column`.
pub fn column_type(column: &str, data_type: &DataType) -> Result<ColumnType> {
    use ColumnType as C;
    Ok(match data_type {
        DataType::Null => C::Null,
        DataType::Boolean => C::Boolean,
        DataType::Int8 => C::Int8,
        DataType::Int16 => C::Int16,
        DataType::Int32 => C::Int32,
        DataType::Int64 => C::Int64,
        DataType::UInt8 => C::UInt8,
        DataType::UInt16 => C::UInt16,
        DataType::UInt32 => C::UInt32,
        DataType::UInt64 => C::UInt64,
        DataType::Float16 => C::Float16,
        DataType::Float32 => C::Float32,
        DataType::Float64 => C::Float64,
        DataType::Date32 => C::Date32,
        DataType::Date64 => C::Date64,
        DataType::Time32(u) => C::Time32(time_unit(u)),
        DataType::Time64(u) => C::Time64(time_unit(u)),
        DataType::Timestamp(u, tz) => C::Timestamp(time_unit(u), tz.as_deref().map(str::to_owned)),
        DataType::Duration(u) => C::Duration(time_unit(u)),
        DataType::Interval(u) => C::Interval(match u {
            ArrowIntervalUnit::YearMonth => IntervalUnit::YearMonth,
            ArrowIntervalUnit::DayTime => IntervalUnit::DayTime,
            ArrowIntervalUnit::MonthDayNano => IntervalUnit::MonthDayNano,
        }),
        DataType::Decimal32(p, s) => C::Decimal32(*p, *s),
        DataType::Decimal64(p, s) => C::Decimal64(*p, *s),
        DataType::Decimal128(p, s) => C::Decimal128(*p, *s),
        DataType::Decimal256(p, s) => C::Decimal256(*p, *s),
        DataType::FixedSizeBinary(w) if *w > 0 => C::FixedSizeBinary(*w as u32),
        DataType::Utf8 => C::Utf8,
        DataType::LargeUtf8 => C::LargeUtf8,
        DataType::Utf8View => C::Utf8View,
        DataType::Binary => C::Binary,
        DataType::LargeBinary => C::LargeBinary,
        DataType::BinaryView => C::BinaryView,
        other => {
            let reason = match other {
                DataType::FixedSizeBinary(_) => "zero-width fixed-size binary has no layout",
                DataType::List(_)
                | DataType::LargeList(_)
                | DataType::ListView(_)
                | DataType::LargeListView(_)
                | DataType::FixedSizeList(..)
                | DataType::Struct(_)
                | DataType::Map(..)
                | DataType::Dictionary(..) => {
                    "nested and dictionary layouts are specified in docs/FORMAT.md but not yet \
                     implemented; flatten or cast the column"
                }
                _ => "this type has no storage layout",
            };
            return Err(ErrorKind::Unsupported {
                column: column.to_owned(),
                data_type: other.to_string(),
                reason: reason.to_owned(),
            }
            .into());
        }
    })
}

/// The Arrow type a column was written with.
pub fn source_type(t: &ColumnType) -> DataType {
    use ColumnType as C;
    match t {
        C::Null => DataType::Null,
        C::Boolean => DataType::Boolean,
        C::Int8 => DataType::Int8,
        C::Int16 => DataType::Int16,
        C::Int32 => DataType::Int32,
        C::Int64 => DataType::Int64,
        C::UInt8 => DataType::UInt8,
        C::UInt16 => DataType::UInt16,
        C::UInt32 => DataType::UInt32,
        C::UInt64 => DataType::UInt64,
        C::Float16 => DataType::Float16,
        C::Float32 => DataType::Float32,
        C::Float64 => DataType::Float64,
        C::Date32 => DataType::Date32,
        C::Date64 => DataType::Date64,
        C::Time32(u) => DataType::Time32(arrow_time_unit(*u)),
        C::Time64(u) => DataType::Time64(arrow_time_unit(*u)),
        C::Timestamp(u, tz) => {
            DataType::Timestamp(arrow_time_unit(*u), tz.as_deref().map(Arc::from))
        }
        C::Duration(u) => DataType::Duration(arrow_time_unit(*u)),
        C::Interval(u) => DataType::Interval(match u {
            IntervalUnit::YearMonth => ArrowIntervalUnit::YearMonth,
            IntervalUnit::DayTime => ArrowIntervalUnit::DayTime,
            IntervalUnit::MonthDayNano => ArrowIntervalUnit::MonthDayNano,
        }),
        C::Decimal32(p, s) => DataType::Decimal32(*p, *s),
        C::Decimal64(p, s) => DataType::Decimal64(*p, *s),
        C::Decimal128(p, s) => DataType::Decimal128(*p, *s),
        C::Decimal256(p, s) => DataType::Decimal256(*p, *s),
        C::FixedSizeBinary(w) => DataType::FixedSizeBinary(*w as i32),
        C::Utf8 => DataType::Utf8,
        C::LargeUtf8 => DataType::LargeUtf8,
        C::Utf8View => DataType::Utf8View,
        C::Binary => DataType::Binary,
        C::LargeBinary => DataType::LargeBinary,
        C::BinaryView => DataType::BinaryView,
    }
}

/// The Arrow type scans return for a stored column (see the module contract).
pub fn read_type(t: &ColumnType) -> DataType {
    match t {
        ColumnType::Utf8 | ColumnType::LargeUtf8 | ColumnType::Utf8View => DataType::LargeUtf8,
        ColumnType::Binary | ColumnType::LargeBinary | ColumnType::BinaryView => {
            DataType::LargeBinary
        }
        other => source_type(other),
    }
}

fn sorted_metadata(m: &HashMap<String, String>) -> Vec<(String, String)> {
    let mut v: Vec<_> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    v.sort();
    v
}

/// The column definition for an Arrow field.
pub fn column_def(field: &Field) -> Result<ColumnDef> {
    Ok(ColumnDef {
        name: field.name().clone(),
        column_type: column_type(field.name(), field.data_type())?,
        nullable: field.is_nullable(),
        metadata: sorted_metadata(field.metadata()),
    })
}

/// The table schema for an Arrow schema.
pub fn table_schema(schema: &Schema) -> Result<TableSchema> {
    Ok(TableSchema {
        columns: schema
            .fields()
            .iter()
            .map(|f| column_def(f))
            .collect::<Result<_>>()?,
        metadata: sorted_metadata(&schema.metadata),
    })
}

fn arrow_schema(schema: &TableSchema, type_of: fn(&ColumnType) -> DataType) -> SchemaRef {
    let fields: Vec<Field> = schema
        .columns
        .iter()
        .map(|c| {
            Field::new(&c.name, type_of(&c.column_type), c.nullable)
                .with_metadata(c.metadata.iter().cloned().collect())
        })
        .collect();
    Arc::new(Schema::new_with_metadata(
        fields,
        schema.metadata.iter().cloned().collect(),
    ))
}

/// The Arrow schema scans return.
pub fn read_schema(schema: &TableSchema) -> SchemaRef {
    arrow_schema(schema, read_type)
}

/// `schema` with `LargeUtf8` columns as `Utf8View` and `LargeBinary` as `BinaryView` (see
/// [`crate::arrow_bridge::read::to_view`]).
pub fn view_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let t = match f.data_type() {
                DataType::LargeUtf8 => DataType::Utf8View,
                DataType::LargeBinary => DataType::BinaryView,
                other => other.clone(),
            };
            f.as_ref().clone().with_data_type(t)
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata.clone()))
}

/// The Arrow schema the table was written with.
pub fn source_schema(schema: &TableSchema) -> SchemaRef {
    arrow_schema(schema, source_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_storable_arrow_type_maps_back_to_itself() {
        for t in crate::native::schema::tests::every_type() {
            let dt = source_type(&t);
            assert_eq!(column_type("c", &dt).unwrap(), t, "{dt}");
        }
    }

    #[test]
    fn strings_and_binaries_read_with_64_bit_offsets() {
        assert_eq!(read_type(&ColumnType::Utf8View), DataType::LargeUtf8);
        assert_eq!(read_type(&ColumnType::Binary), DataType::LargeBinary);
        assert_eq!(read_type(&ColumnType::Int32), DataType::Int32);
    }

    #[test]
    fn nested_type_is_refused_with_the_column_name() {
        let dt = DataType::List(Arc::new(Field::new("item", DataType::Int32, true)));
        let err = column_type("tags", &dt).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("column \"tags\" has type List("), "{msg}");
        assert!(msg.contains("not yet implemented"), "{msg}");
    }
}
