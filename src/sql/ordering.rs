//! The order a Quiver scan's partitions are in, for DataFusion's `output_ordering`.
//!
//! # Contract
//! - [`output_ordering`] is `Some` only when it holds for every partition: every segment the
//!   scan reads records the same sort key (`sort_key.rs`), and wherever a partition runs from
//!   one segment into the next, the first key column's statistics prove the first segment's
//!   values come first (its maximum not above the next minimum, and no NULLs, which sort
//!   last, before the boundary).
//! - The ordering covers the longest prefix of the key whose columns are all in the
//!   projection — only the first column when some boundary ties on it (equal maximum and
//!   minimum say nothing of the next columns): ascending, NULLs last, as rows were written.

use std::cmp::Ordering;
use std::ops::Range;
use std::sync::Arc;

use arrow::compute::SortOptions;
use arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};

use super::scan_units::Unit;
use crate::arrow_bridge::stats::decode_bound;
use crate::arrow_bridge::SegmentReader;
use crate::Table;

/// The ordering of every partition of a scan (see the module contract).
pub(super) fn output_ordering(
    table: &Table,
    units: &[Unit],
    partitions: &[Range<usize>],
    projection: &[usize],
    projected_schema: &SchemaRef,
) -> Option<LexOrdering> {
    let segs = table.segments();
    let first = units.first()?;
    let key = segs[first.segment].sort_key()?;
    if units
        .iter()
        .any(|u| segs[u.segment].sort_key().as_ref() != Some(&key))
    {
        return None;
    }
    let schema = table.schema();
    let key_columns: Vec<usize> = key
        .iter()
        .map(|name| schema.index_of(name).ok())
        .collect::<Option<_>>()?;
    // Where a boundary ties on the first key column, only that column's order is proven.
    let mut whole_key = true;
    for range in partitions {
        let part = &units[range.clone()];
        for pair in part.windows(2) {
            let (a, b) = (pair[0].segment, pair[1].segment);
            if a != b {
                match boundary(&segs[a], &segs[b], key_columns[0])? {
                    Boundary::Before => {}
                    Boundary::Tie => whole_key = false,
                }
            }
        }
    }
    let key_columns = if whole_key {
        &key_columns[..]
    } else {
        &key_columns[..1]
    };
    let options = SortOptions {
        descending: false,
        nulls_first: false,
    };
    let exprs = key_columns.iter().map_while(|&c| {
        let at = projection.iter().position(|&p| p == c)?;
        let name = projected_schema.field(at).name();
        Some(PhysicalSortExpr::new(
            Arc::new(Column::new(name, at)),
            options,
        ))
    });
    LexOrdering::new(exprs)
}

/// How the values of a key column meet across a segment boundary.
enum Boundary {
    /// Every value of the first segment is below every value of the next.
    Before,
    /// The first segment's largest value is the next one's smallest.
    Tie,
}

/// How the values of column `c` in `a` meet those in `b`, by their statistics; `None` when
/// `a`'s do not all come first (or cannot be shown to).
fn boundary(a: &SegmentReader, b: &SegmentReader, c: usize) -> Option<Boundary> {
    let (sa, sb) = (a.stats(c), b.stats(c));
    if sa.null_count > 0 {
        return None;
    }
    let t = a.schema().field(c).data_type().clone();
    let bound = |bytes: &Option<Vec<u8>>| {
        let array = decode_bound(bytes.as_deref()?, &t)?;
        ScalarValue::try_from_array(&array, 0).ok()
    };
    match bound(&sa.max)?.partial_cmp(&bound(&sb.min)?)? {
        Ordering::Less => Some(Boundary::Before),
        Ordering::Equal => Some(Boundary::Tie),
        Ordering::Greater => None,
    }
}
