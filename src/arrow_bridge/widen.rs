//! When one column may hold values written with another type, and what type the two widen to.
//!
//! # Contract
//! - [`same_storage`]: the types are stored alike (string widths and views interchangeable,
//!   binary likewise, dictionaries as their values, lists of either offset width; recursively).
//!   Such a batch column is written as is.
//! - [`widen`]: the type a column takes when values of two types meet (schema merging appends,
//!   docs/FORMAT.md "Schema evolution"):
//!   1. the same storage: the first (the table's) type;
//!   2. `Null` and `T`: `T`;
//!   3. two integer types: the wider one if both are signed or both unsigned; otherwise
//!      `Int64`, or `Float64` when one of them is `UInt64`;
//!   4. integers and floats: `Float64` (two float types: the wider);
//!   5. a string type and any other non-nested, non-binary type: the string type (numbers,
//!      booleans, dates, times and decimals as Arrow's `cast` formats them);
//!   6. anything else: no common type (an error naming the column when writing).
//! - Values of a narrower type are read as the wider one with Arrow's `cast`, which every pair
//!   allowed by `widen` supports without failing.

use crate::native::schema::{ColumnDef, ColumnType};

/// The storage family of a type (see [`same_storage`]).
fn family(t: &ColumnType) -> ColumnType {
    use ColumnType::*;
    match t {
        Utf8 | LargeUtf8 | Utf8View => Utf8,
        Binary | LargeBinary | BinaryView => Binary,
        List | LargeList => List,
        Dictionary(_, value) => family(value),
        other => other.clone(),
    }
}

/// Whether a column of `a` can be written into a column of `b` without conversion.
pub fn same_storage(a: &ColumnDef, b: &ColumnDef) -> bool {
    family(&a.column_type) == family(&b.column_type)
        && a.children.len() == b.children.len()
        && a.children
            .iter()
            .zip(&b.children)
            .all(|(x, y)| same_storage(x, y))
}

/// Integer width in bits and signedness.
fn integer(t: &ColumnType) -> Option<(u8, bool)> {
    use ColumnType::*;
    Some(match t {
        Int8 => (8, true),
        Int16 => (16, true),
        Int32 => (32, true),
        Int64 => (64, true),
        UInt8 => (8, false),
        UInt16 => (16, false),
        UInt32 => (32, false),
        UInt64 => (64, false),
        _ => return None,
    })
}

fn float_bits(t: &ColumnType) -> Option<u8> {
    match t {
        ColumnType::Float16 => Some(16),
        ColumnType::Float32 => Some(32),
        ColumnType::Float64 => Some(64),
        _ => None,
    }
}

fn is_string(t: &ColumnType) -> bool {
    family(t) == ColumnType::Utf8
}

/// The type values of `table` and `batch` widen to (see the module contract), or `None`.
pub fn widen(table: &ColumnType, batch: &ColumnType) -> Option<ColumnType> {
    use ColumnType::*;
    let (ft, fb) = (family(table), family(batch));
    if ft == fb {
        return Some(table.clone());
    }
    if ft == Null {
        return Some(batch.clone());
    }
    if fb == Null {
        return Some(table.clone());
    }
    if let (Some((wa, sa)), Some((wb, sb))) = (integer(&ft), integer(&fb)) {
        return Some(if sa == sb {
            if wa >= wb {
                ft
            } else {
                fb
            }
        } else if wa == 64 && !sa || wb == 64 && !sb {
            Float64
        } else {
            Int64
        });
    }
    let numeric = |t: &ColumnType| integer(t).is_some() || float_bits(t).is_some();
    if numeric(&ft) && numeric(&fb) {
        return Some(match (float_bits(&ft), float_bits(&fb)) {
            (Some(a), Some(b)) if a >= b => ft,
            (Some(_), Some(_)) => fb,
            _ => Float64,
        });
    }
    let stringable = |t: &ColumnType| !t.is_nested() && family(t) != Binary;
    if is_string(&ft) && stringable(&fb) {
        return Some(table.clone());
    }
    if is_string(&fb) && stringable(&ft) {
        return Some(batch.clone());
    }
    None
}

/// Whether a column stored as `stored` may be read as the table's `table` (it widens to it).
pub fn readable_as(stored: &ColumnDef, table: &ColumnDef) -> bool {
    same_storage(stored, table)
        || (stored.children.is_empty()
            && table.children.is_empty()
            && widen(&table.column_type, &stored.column_type)
                .is_some_and(|w| family(&w) == family(&table.column_type)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ColumnType::*;

    #[test]
    fn widening_follows_the_documented_rules() {
        let cases = [
            (Int64, Int64, Some(Int64)),
            (Utf8, LargeUtf8, Some(Utf8)),
            (Null, Boolean, Some(Boolean)),
            (Int32, Null, Some(Int32)),
            (Int8, Int32, Some(Int32)),
            (UInt16, UInt8, Some(UInt16)),
            (Int32, UInt32, Some(Int64)),
            (UInt64, Int8, Some(Float64)),
            (Int64, Float64, Some(Float64)),
            (Float32, Float16, Some(Float32)),
            (Float16, Int8, Some(Float64)),
            (Int64, Utf8, Some(Utf8)),
            (Utf8View, Boolean, Some(Utf8View)),
            (Date32, LargeUtf8, Some(LargeUtf8)),
            (Binary, Utf8, None),
            (Boolean, Int64, None),
            (
                Date32,
                Timestamp(crate::native::schema::TimeUnit::Second, None),
                None,
            ),
            (Struct, Utf8, None),
        ];
        for (a, b, want) in cases {
            assert_eq!(widen(&a, &b), want, "{a:?} + {b:?}");
        }
    }

    #[test]
    fn a_narrower_column_reads_as_the_wider_but_not_the_reverse() {
        let def = |t| ColumnDef::new("x", t, true);
        assert!(readable_as(&def(Int32), &def(Float64)));
        assert!(readable_as(&def(Int64), &def(Utf8)));
        assert!(!readable_as(&def(Float64), &def(Int64)));
        assert!(!readable_as(&def(Utf8), &def(Int64)));
    }
}
