//! Where each column of a table's schema is in one segment: a dense column, an overflow-bag
//! key, or absent — checked against the segment's footer.
//!
//! # Contract
//! - [`map_columns`] accepts a segment only if its dense columns appear in table order, every
//!   dense column and bag key is a table column whose type it can be read as (`widen.rs`), and
//!   every non-nullable table column is dense. Anything else is described in the `Err` string.

use std::collections::HashMap;

use super::types::read_field;
use super::widen::readable_as;
use crate::native::footer::SegmentFooter;
use crate::native::schema::TableSchema;

/// Where a table column's values are in one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// A dense column: index into the footer's columns.
    Dense(usize),
    /// The overflow bag: index into the footer's bag keys.
    Bag(usize),
    /// Not in the segment (written before the column was added): every row is null.
    Absent,
}

/// Where each table column is in a segment with `footer`, checked: dense columns appear in
/// table order, every dense column and bag key is a table column whose type it can be read
/// as, and non-nullable table columns are dense. Returns `(storage, needs cast)` per column.
pub(crate) fn map_columns(
    footer: &SegmentFooter,
    table: &TableSchema,
) -> std::result::Result<Vec<(Placement, bool)>, String> {
    let bag_keys = footer.bag.as_ref().map_or(&[][..], |b| &b.keys[..]);
    let by_name: HashMap<&str, usize> = bag_keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.def.name.as_str(), i))
        .collect();
    let mut next_dense = 0;
    let mut used_keys = 0;
    let mut out = Vec::with_capacity(table.columns.len());
    for t in &table.columns {
        let dense = footer
            .columns
            .get(next_dense)
            .filter(|c| c.def.name == t.name);
        let (storage, stored) = if let Some(c) = dense {
            next_dense += 1;
            (Placement::Dense(next_dense - 1), &c.def)
        } else if let Some(&k) = by_name.get(t.name.as_str()) {
            used_keys += 1;
            (Placement::Bag(k), &bag_keys[k].def)
        } else {
            if !t.nullable {
                return Err(format!("non-nullable column \"{}\" is missing", t.name));
            }
            out.push((Placement::Absent, false));
            continue;
        };
        if !readable_as(stored, t) {
            return Err(format!(
                "column \"{}\" is stored as {:?}, which cannot be read as the table's {:?}",
                t.name, stored.column_type, t.column_type
            ));
        }
        if !t.nullable && !matches!(storage, Placement::Dense(_)) {
            return Err(format!(
                "non-nullable column \"{}\" is in the overflow bag",
                t.name
            ));
        }
        let cast = read_field(stored).data_type() != read_field(t).data_type();
        out.push((storage, cast));
    }
    if let Some(c) = footer.columns.get(next_dense) {
        return Err(format!(
            "column \"{}\" is not in the table schema (or out of order)",
            c.def.name
        ));
    }
    if used_keys != bag_keys.len() {
        return Err("an overflow key is not a column of the table schema".into());
    }
    Ok(out)
}
