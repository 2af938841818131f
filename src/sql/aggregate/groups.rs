//! Group ids of the aggregate scan: each row's group among the distinct GROUP BY values seen so
//! far, from one-byte codes where the segment has them, hashed otherwise.
//!
//! # Contract
//! - Groups are interned in DataFusion's own `GroupValues` (so their values, NULLs and types
//!   are what DataFusion's hash aggregate would emit); [`Grouper::emit`] hands them back in
//!   group-id order.
//! - Coded: when every GROUP BY column of a segment has a distinct-value table
//!   (`arrow_bridge/distinct.rs`) and their combinations number at most [`MAX_COMBINATIONS`],
//!   every combination is interned once per segment and a row's group is a table lookup of its
//!   codes — no row's bytes are hashed. Combinations no row has are groups without rows:
//!   callers count rows per group and drop the empty ones.
//! - Hashed: otherwise the chunk's GROUP BY columns are read and interned; with a row mask,
//!   only the marked rows are interned (no group without rows arises) and unmarked rows get
//!   group 0.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{ArrayRef, UInt32Array};
use arrow::buffer::BooleanBuffer;
use arrow::compute::take;
use arrow::datatypes::SchemaRef;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::EmitTo;
use datafusion::physical_plan::aggregates::group_values::{new_group_values, GroupValues};
use datafusion::physical_plan::aggregates::order::GroupOrdering;

use super::super::external;
use super::super::row_filter::keep_rows;
use crate::arrow_bridge::{DistinctValues, SegmentReader};

/// Most code combinations interned per segment on the coded path.
pub(super) const MAX_COMBINATIONS: usize = 4096;

/// The coded path of one segment: group of every code combination.
struct Coded {
    tables: Vec<Arc<DistinctValues>>,
    strides: Vec<usize>,
    groups: Vec<u32>,
}

/// Assigns groups to rows (see the module contract).
pub(super) struct Grouper {
    /// `(table column, as view)` per GROUP BY column.
    columns: Vec<(usize, bool)>,
    values: Box<dyn GroupValues>,
    /// The segment the coded lookup belongs to, and the lookup when the segment is coded.
    coded: Option<(usize, Option<Coded>)>,
    interned: Vec<usize>,
}

impl Grouper {
    /// Groups of GROUP BY columns `columns`, typed as `schema` says.
    pub(super) fn new(schema: SchemaRef, columns: Vec<(usize, bool)>) -> Result<Self> {
        Ok(Self {
            values: new_group_values(schema, &GroupOrdering::None)?,
            columns,
            coded: None,
            interned: Vec::new(),
        })
    }

    /// Groups so far.
    pub(super) fn len(&self) -> usize {
        self.values.len()
    }

    /// Bytes held.
    pub(super) fn size(&self) -> usize {
        self.values.size()
    }

    /// The group of each row of `rows` of segment number `index` (`segment`), into `out`.
    pub(super) fn assign(
        &mut self,
        index: usize,
        segment: &SegmentReader,
        rows: Range<usize>,
        mask: Option<&BooleanBuffer>,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        if self.coded.as_ref().is_none_or(|(s, _)| *s != index) {
            let coded = self.coded_segment(segment)?;
            self.coded = Some((index, coded));
        }
        out.clear();
        if let Some((_, Some(coded))) = &self.coded {
            match coded.tables.as_slice() {
                [one] => out.extend(one.codes[rows].iter().map(|&c| coded.groups[c as usize])),
                tables => {
                    // Combinations are below MAX_COMBINATIONS: they fit the group ids' u32.
                    out.resize(rows.len(), 0);
                    for (table, &stride) in tables.iter().zip(&coded.strides) {
                        let codes = &table.codes[rows.clone()];
                        out.iter_mut()
                            .zip(codes)
                            .for_each(|(c, &code)| *c += u32::from(code) * stride as u32);
                    }
                    out.iter_mut().for_each(|g| *g = coded.groups[*g as usize]);
                }
            }
            return Ok(());
        }
        let arrays = segment
            .read_range(&self.columns, rows.clone())
            .map_err(external)?;
        if let Some(mask) = mask {
            self.intern(&keep_rows(&arrays, mask)?)?;
            out.resize(rows.len(), 0);
            for (i, &g) in mask.set_indices().zip(&self.interned) {
                out[i] = group_id(g)?;
            }
        } else {
            self.intern(&arrays)?;
            for &g in &self.interned {
                out.push(group_id(g)?);
            }
        }
        Ok(())
    }

    fn intern(&mut self, arrays: &[ArrayRef]) -> Result<()> {
        self.interned.clear();
        self.values.intern(arrays, &mut self.interned)
    }

    /// The coded lookup of `segment`, or `None` when some GROUP BY column has no table there
    /// or the combinations are too many.
    fn coded_segment(&mut self, segment: &SegmentReader) -> Result<Option<Coded>> {
        let mut tables = Vec::with_capacity(self.columns.len());
        for &(c, _) in &self.columns {
            match segment.distinct_values(c).map_err(external)? {
                Some(t) => tables.push(t),
                None => return Ok(None),
            }
        }
        let mut strides = Vec::with_capacity(tables.len());
        let mut combinations = 1usize;
        for t in &tables {
            strides.push(combinations);
            combinations = combinations.saturating_mul(t.values.len());
        }
        if combinations > MAX_COMBINATIONS {
            return Ok(None);
        }
        let arrays = tables
            .iter()
            .zip(&strides)
            .zip(&self.columns)
            .map(|((t, &stride), &(_, view))| {
                let values = if view { &t.view_values } else { &t.values };
                let n = values.len();
                let digits = UInt32Array::from_iter_values(
                    (0..combinations).map(|c| ((c / stride) % n) as u32),
                );
                take(values.as_ref(), &digits, None)
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        self.intern(&arrays)?;
        let groups = self
            .interned
            .iter()
            .map(|&g| group_id(g))
            .collect::<Result<_>>()?;
        Ok(Some(Coded {
            tables,
            strides,
            groups,
        }))
    }

    /// Every group's values, in group-id order.
    pub(super) fn emit(&mut self) -> Result<Vec<ArrayRef>> {
        self.values.emit(EmitTo::All)
    }
}

fn group_id(g: usize) -> Result<u32> {
    u32::try_from(g).map_err(|_| {
        DataFusionError::ResourcesExhausted(format!(
            "an aggregate scan partition reached {g} groups (at most {} are supported)",
            u32::MAX
        ))
    })
}
