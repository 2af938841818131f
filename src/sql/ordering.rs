//! The order a Quiver scan's partitions are in, for DataFusion's `output_ordering`.
//!
//! # Contract
//! - [`output_ordering`] is `Some` only when it holds for every partition: every segment the
//!   scan reads records the same sort key (`sort_key.rs`), and wherever a partition runs from
//!   one segment into the next, the first key column's statistics prove the first segment's
//!   values come before the next one's (its maximum below the next minimum — or not above it
//!   for a one-column key — and no NULLs, which sort last, before the boundary).
//! - The ordering covers the longest prefix of the key whose columns are all in the
//!   projection: ascending, NULLs last, as the rows were written.

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
    for range in partitions {
        let part = &units[range.clone()];
        for pair in part.windows(2) {
            let (a, b) = (pair[0].segment, pair[1].segment);
            if a != b && !precedes(&segs[a], &segs[b], key_columns[0], key.len() == 1) {
                return None;
            }
        }
    }
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

/// Whether every value of column `c` in `a` sorts before every value in `b` (or equal to
/// them, when `ties_ok`), by their statistics.
fn precedes(a: &SegmentReader, b: &SegmentReader, c: usize, ties_ok: bool) -> bool {
    let (sa, sb) = (a.stats(c), b.stats(c));
    if sa.null_count > 0 {
        return false;
    }
    let t = a.schema().field(c).data_type().clone();
    let bound = |bytes: &Option<Vec<u8>>| {
        let array = decode_bound(bytes.as_deref()?, &t)?;
        ScalarValue::try_from_array(&array, 0).ok()
    };
    let (Some(max_a), Some(min_b)) = (bound(&sa.max), bound(&sb.min)) else {
        return false;
    };
    match max_a.partial_cmp(&min_b) {
        Some(Ordering::Less) => true,
        Some(Ordering::Equal) => ties_ok,
        _ => false,
    }
}
