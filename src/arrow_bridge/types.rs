//! Arrow types and schemas <-> the format's [`ColumnType`] and [`TableSchema`].
//!
//! # Contract
//! - [`column_def`] accepts every Arrow type with a storage layout (docs/FORMAT.md, "Column
//!   types") and refuses every other with [`ErrorKind::Unsupported`] naming the column.
//! - [`read_field`] is the field scans return: the stored type itself, except that strings
//!   (`Utf8`, `LargeUtf8`, `Utf8View`) read as `LargeUtf8`, binaries as `LargeBinary` and lists
//!   as `LargeList` — whose 64-bit offsets are the segment's offsets regions, zero-copy — and
//!   dictionaries as their value type (they are stored decoded). [`source_field`] is the field
//!   the column was written with, for export.

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
        DataType::List(_) => C::List,
        DataType::LargeList(_) => C::LargeList,
        DataType::FixedSizeList(_, n) if *n >= 0 => C::FixedSizeList(*n as u32),
        DataType::Struct(_) => C::Struct,
        DataType::Map(entries, sorted) => match entries.data_type() {
            DataType::Struct(f) if f.len() == 2 && !entries.is_nullable() => C::Map(*sorted),
            _ => {
                return Err(unsupported(
                    column,
                    data_type,
                    "map entries must be a non-nullable struct of key and value",
                ))
            }
        },
        DataType::Dictionary(key, value) => {
            let key = column_type(column, key)?;
            let value = column_type(column, value)?;
            if value.is_nested() || matches!(value, C::Null | C::Dictionary(..)) {
                return Err(unsupported(
                    column,
                    data_type,
                    "dictionary values must be a non-null leaf type",
                ));
            }
            C::Dictionary(Box::new(key), Box::new(value))
        }
        other => {
            let reason = match other {
                DataType::FixedSizeBinary(_) => "zero-width fixed-size binary has no layout",
                DataType::ListView(_) | DataType::LargeListView(_) => {
                    "list views have no storage layout; cast to List or LargeList"
                }
                DataType::RunEndEncoded(..) => {
                    "run-end encoded arrays have no storage layout; cast to the value type"
                }
                _ => "this type has no storage layout",
            };
            return Err(unsupported(column, other, reason));
        }
    })
}

fn unsupported(column: &str, data_type: &DataType, reason: &str) -> crate::Error {
    ErrorKind::Unsupported {
        column: column.to_owned(),
        data_type: data_type.to_string(),
        reason: reason.to_owned(),
    }
    .into()
}

/// The Arrow type of a leaf (non-nested) column type, as written.
fn leaf_type(t: &ColumnType) -> DataType {
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
        C::Dictionary(key, value) => {
            DataType::Dictionary(Box::new(leaf_type(key)), Box::new(leaf_type(value)))
        }
        // Nested types need their children: see `data_type`.
        C::List | C::LargeList | C::FixedSizeList(_) | C::Struct | C::Map(_) => DataType::Null,
    }
}

/// The Arrow type of `def` as written (`read == false`) or as scans return it (`read == true`).
fn data_type(def: &ColumnDef, read: bool) -> DataType {
    use ColumnType as C;
    let child = |i: usize| Arc::new(field(&def.children[i], read));
    match (&def.column_type, read) {
        (C::Utf8 | C::LargeUtf8 | C::Utf8View, true) => DataType::LargeUtf8,
        (C::Binary | C::LargeBinary | C::BinaryView, true) => DataType::LargeBinary,
        (C::Dictionary(_, value), true) => {
            data_type(&ColumnDef::new("", (**value).clone(), true), true)
        }
        (C::List, false) => DataType::List(child(0)),
        (C::List | C::LargeList, _) => DataType::LargeList(child(0)),
        (C::FixedSizeList(n), _) => DataType::FixedSizeList(child(0), *n as i32),
        (C::Struct, _) => DataType::Struct(def.children.iter().map(|c| field(c, read)).collect()),
        (C::Map(sorted), _) => DataType::Map(child(0), *sorted),
        (other, _) => leaf_type(other),
    }
}

fn field(def: &ColumnDef, read: bool) -> Field {
    Field::new(&def.name, data_type(def, read), def.nullable)
        .with_metadata(def.metadata.iter().cloned().collect())
}

/// The Arrow field a column was written with.
pub fn source_field(def: &ColumnDef) -> Field {
    field(def, false)
}

/// The Arrow field scans return for a column (see the module contract).
pub fn read_field(def: &ColumnDef) -> Field {
    field(def, true)
}

fn sorted_metadata(m: &HashMap<String, String>) -> Vec<(String, String)> {
    let mut v: Vec<_> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    v.sort();
    v
}

/// The column definition for an Arrow field (and its children, for nested types).
pub fn column_def(field: &Field) -> Result<ColumnDef> {
    column_def_at(field, field.name(), 0)
}

fn column_def_at(field: &Field, path: &str, depth: usize) -> Result<ColumnDef> {
    if depth > crate::native::schema::MAX_NESTING {
        return Err(unsupported(
            path,
            field.data_type(),
            "nested deeper than Quiver stores",
        ));
    }
    let children: Vec<&Field> = match field.data_type() {
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => {
            vec![f.as_ref()]
        }
        DataType::Struct(fields) => fields.iter().map(|f| f.as_ref()).collect(),
        _ => Vec::new(),
    };
    Ok(ColumnDef {
        name: field.name().clone(),
        column_type: column_type(path, field.data_type())?,
        nullable: field.is_nullable(),
        metadata: sorted_metadata(field.metadata()),
        children: children
            .into_iter()
            .map(|c| column_def_at(c, &format!("{path}.{}", c.name()), depth + 1))
            .collect::<Result<_>>()?,
    })
}

/// The table schema for an Arrow schema.
pub fn table_schema(schema: &Schema) -> Result<TableSchema> {
    let count = schema.fields().len();
    if count > crate::native::schema::MAX_COLUMNS {
        return Err(crate::Error::invalid(format!(
            "the schema has {}",
            crate::native::schema::too_many_columns(count)
        )));
    }
    Ok(TableSchema {
        columns: schema
            .fields()
            .iter()
            .map(|f| column_def(f))
            .collect::<Result<_>>()?,
        metadata: sorted_metadata(&schema.metadata),
    })
}

fn arrow_schema(schema: &TableSchema, read: bool) -> SchemaRef {
    let fields: Vec<Field> = schema.columns.iter().map(|c| field(c, read)).collect();
    Arc::new(Schema::new_with_metadata(
        fields,
        schema.metadata.iter().cloned().collect(),
    ))
}

/// The Arrow schema scans return.
pub fn read_schema(schema: &TableSchema) -> SchemaRef {
    arrow_schema(schema, true)
}

/// `schema` with `LargeUtf8` columns as `Utf8View` and `LargeBinary` as `BinaryView` (see
/// [`crate::arrow_bridge::views::to_view`]).
#[cfg(feature = "sql")]
pub fn view_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_data_type(view_type(f.data_type())))
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata.clone()))
}

/// The view form of a `LargeUtf8` / `LargeBinary` type (others unchanged).
pub fn view_type(t: &DataType) -> DataType {
    match t {
        DataType::LargeUtf8 => DataType::Utf8View,
        DataType::LargeBinary => DataType::BinaryView,
        other => other.clone(),
    }
}

/// The Arrow schema the table was written with.
pub fn source_schema(schema: &TableSchema) -> SchemaRef {
    arrow_schema(schema, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested() -> Field {
        let item = Arc::new(Field::new("item", DataType::Utf8View, true));
        let entries = Field::new(
            "entries",
            DataType::Struct(
                vec![
                    Field::new("key", DataType::Utf8, false),
                    Field::new("value", DataType::Int32, true),
                ]
                .into(),
            ),
            false,
        );
        Field::new(
            "s",
            DataType::Struct(
                vec![
                    Field::new("l", DataType::List(item), true),
                    Field::new("m", DataType::Map(Arc::new(entries), false), true),
                    Field::new(
                        "f",
                        DataType::FixedSizeList(
                            Arc::new(Field::new("x", DataType::Float64, false)),
                            3,
                        ),
                        false,
                    ),
                    Field::new(
                        "d",
                        DataType::Dictionary(Box::new(DataType::Int16), Box::new(DataType::Utf8)),
                        true,
                    ),
                ]
                .into(),
            ),
            true,
        )
    }

    #[test]
    fn every_storable_arrow_type_maps_back_to_itself() {
        for t in crate::native::schema::tests::every_type() {
            let def = ColumnDef::new("c", t.clone(), true);
            let f = source_field(&def);
            assert_eq!(column_def(&f).unwrap(), def, "{}", f.data_type());
        }
        let f = nested();
        assert_eq!(source_field(&column_def(&f).unwrap()), f);
    }

    #[test]
    fn strings_binaries_and_lists_read_with_64_bit_offsets_and_dictionaries_decoded() {
        let read = read_field(&column_def(&nested()).unwrap());
        let DataType::Struct(fields) = read.data_type() else {
            panic!()
        };
        assert!(
            matches!(fields[0].data_type(), DataType::LargeList(f) if f.data_type() == &DataType::LargeUtf8)
        );
        assert_eq!(fields[3].data_type(), &DataType::LargeUtf8);
        let key = ColumnDef::new("k", ColumnType::Binary, true);
        assert_eq!(read_field(&key).data_type(), &DataType::LargeBinary);
    }

    #[test]
    fn unstorable_type_is_refused_with_the_column_name() {
        let dt = DataType::ListView(Arc::new(Field::new("item", DataType::Int32, true)));
        let err = column_type("tags", &dt).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("column \"tags\" has type ListView("),
            "{msg}"
        );
        assert!(msg.contains("cast to List or LargeList"), "{msg}");
    }
}
