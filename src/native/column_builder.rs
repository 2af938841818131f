//! Accumulates one column of one segment in build buffers, then writes its regions.
//!
//! # Contract
//! - Values arrive in the column's [`Layout`]: raw little-endian fixed-width values, packed
//!   bits, variable-width values (bytes plus lengths), or list lengths whose items go to the
//!   child builder. Nulls arrive as an optional validity bitmap; null rows of variable-width
//!   and list columns must be appended as empty values.
//! - Nested columns (lists, structs, maps) own one builder per child column; the caller feeds
//!   the children (their rows follow from the parent's layout).
//! - The null array (1 byte per row) and validity bitmap are only materialised once the first
//!   null arrives; a column without nulls writes neither (docs/FORMAT.md, "Column regions").
//! - All buffers are [`MmapOrVec`]s: [`ColumnBuilder::spill`] moves them to scratch files when
//!   the writer's memory budget is spent.

use std::path::Path;

use super::blocks::BLOCK_ROWS;
use super::buffer::{BitBuilder, MmapBytes, MmapOrVec};
use super::column_encoder::{plan_fixed, plan_variable, DictionaryValues, Plan};
use super::delta;
use super::encoding::{Encoding, ZSTD_CODEC};
use super::encoding_choice::EncodingChoice;
use super::footer::{ColumnMeta, ColumnRegions, ColumnStats, Region};
use super::schema::{ColumnDef, Layout};
use super::segment_writer::SegmentWriter;
use crate::error::{Error, Result};

/// Builds one column's regions.
#[derive(Debug)]
pub struct ColumnBuilder {
    rows: usize,
    values: Values,
    nulls: NullBuilder,
    children: Vec<ColumnBuilder>,
}

/// A written column: its regions, null count and rows, and its written children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenColumn {
    /// Where its bytes went.
    pub regions: ColumnRegions,
    /// How `data` stores the rows, if not raw.
    pub encoding: Option<Encoding>,
    /// Null rows.
    pub null_count: u64,
    /// Rows.
    pub rows: u64,
    /// Child columns, in order.
    pub children: Vec<WrittenColumn>,
}

#[derive(Debug)]
enum Values {
    Null,
    Bits(BitBuilder),
    Fixed {
        width: usize,
        data: MmapBytes,
    },
    Variable {
        data: MmapBytes,
        ends: MmapOrVec<u64>,
    },
    /// List ends (cumulative item counts).
    List {
        ends: MmapOrVec<u64>,
    },
    /// Structs and fixed-size lists: everything is in the children.
    Children,
}

/// The null array and validity bitmap, materialised at the first null.
#[derive(Debug, Default)]
struct NullBuilder {
    null_count: usize,
    /// `(nulls, validity)`, both covering every row so far once present.
    arrays: Option<(MmapBytes, BitBuilder)>,
}

impl NullBuilder {
    /// Appends `len` rows whose validity is bits `offset..offset + len` of `bitmap`
    /// (all valid when `None`); `nulls_in_range` is the number of cleared bits there.
    fn append(
        &mut self,
        rows_before: usize,
        validity: Option<(&[u8], usize)>,
        len: usize,
        nulls_in_range: usize,
    ) -> Result<()> {
        match (validity, &mut self.arrays) {
            (None, None) => {}
            (Some(_), None) if nulls_in_range == 0 => {}
            (None, Some((nulls, bits))) => {
                nulls.extend_repeat(0, len)?;
                bits.push_repeat(true, len)?;
            }
            (Some((bitmap, offset)), arrays) => {
                let (nulls, bits) = arrays.get_or_insert_with(Default::default);
                if nulls.len() < rows_before {
                    let missing = rows_before - nulls.len();
                    nulls.extend_repeat(0, missing)?;
                    bits.push_repeat(true, missing)?;
                }
                bits.extend_from_bitmap(bitmap, offset, len)?;
                for i in offset..offset + len {
                    nulls.push(u8::from(bitmap[i / 8] >> (i % 8) & 1 == 0))?;
                }
            }
        }
        self.null_count += nulls_in_range;
        Ok(())
    }
}

impl ColumnBuilder {
    /// An empty builder for a column defined by `def` (and builders for its children).
    pub fn new(def: &ColumnDef) -> Self {
        let values = match def.column_type.layout() {
            Layout::Null => Values::Null,
            Layout::Bits => Values::Bits(BitBuilder::new()),
            Layout::Fixed { width } => Values::Fixed {
                width,
                data: MmapBytes::new(),
            },
            Layout::Variable { .. } => Values::Variable {
                data: MmapBytes::new(),
                ends: MmapOrVec::new(),
            },
            Layout::List => Values::List {
                ends: MmapOrVec::new(),
            },
            Layout::FixedList { .. } | Layout::Struct => Values::Children,
        };
        Self {
            rows: 0,
            values,
            nulls: NullBuilder::default(),
            children: def.children.iter().map(ColumnBuilder::new).collect(),
        }
    }

    /// The builder of child column `index`.
    pub fn child_mut(&mut self, index: usize) -> Result<&mut ColumnBuilder> {
        self.children
            .get_mut(index)
            .ok_or_else(|| Error::invalid(format!("the column has no child {index}")))
    }

    /// Appends list rows of these item counts (their items go to the child builder, in the
    /// same order). Null rows count 0 items.
    pub fn append_list_lengths(&mut self, lengths: impl IntoIterator<Item = u64>) -> Result<()> {
        let Values::List { ends } = &mut self.values else {
            return Err(Error::invalid("list lengths appended to a non-list column"));
        };
        let mut total = ends.as_slice().last().copied().unwrap_or(0);
        for len in lengths {
            total += len;
            ends.push(total)?;
        }
        Ok(())
    }

    /// Heap bytes held by this builder's buffers.
    pub fn heap_bytes(&self) -> usize {
        let values = match &self.values {
            Values::Null => 0,
            Values::Bits(b) => b.heap_bytes(),
            Values::Fixed { data, .. } => data.heap_bytes(),
            Values::Variable { data, ends } => data.heap_bytes() + ends.heap_bytes(),
            Values::List { ends } => ends.heap_bytes(),
            Values::Children => 0,
        };
        let nulls = self
            .nulls
            .arrays
            .as_ref()
            .map_or(0, |(n, b)| n.heap_bytes() + b.heap_bytes());
        values + nulls + self.children.iter().map(Self::heap_bytes).sum::<usize>()
    }

    /// Bytes buffered (on the heap or spilled): about what the column adds to the segment.
    pub fn buffered_bytes(&self) -> usize {
        let values = match &self.values {
            Values::Null => 0,
            Values::Bits(b) => b.as_bytes().len(),
            Values::Fixed { data, .. } => data.len(),
            Values::Variable { data, ends } => data.len() + ends.len() * 8,
            Values::List { ends } => ends.len() * 8,
            Values::Children => 0,
        };
        let nulls = self
            .nulls
            .arrays
            .as_ref()
            .map_or(0, |(n, b)| n.len() + b.as_bytes().len());
        values
            + nulls
            + self
                .children
                .iter()
                .map(Self::buffered_bytes)
                .sum::<usize>()
    }

    /// Buffers this builder holds (each needs its own scratch file when spilled).
    pub fn buffer_count(&self) -> usize {
        let values = match &self.values {
            Values::Null | Values::Children => 0,
            Values::Bits(_) | Values::Fixed { .. } | Values::List { .. } => 1,
            Values::Variable { .. } => 2,
        };
        let nulls = if self.nulls.arrays.is_some() { 2 } else { 0 };
        values + nulls + self.children.iter().map(Self::buffer_count).sum::<usize>()
    }

    /// Moves every buffer into scratch files in `dir`.
    pub fn spill(&mut self, dir: &Path) -> Result<()> {
        match &mut self.values {
            Values::Null => {}
            Values::Bits(b) => b.spill(dir)?,
            Values::Fixed { data, .. } => data.spill(dir)?,
            Values::Variable { data, ends } => {
                data.spill(dir)?;
                ends.spill(dir)?;
            }
            Values::List { ends } => ends.spill(dir)?,
            Values::Children => {}
        }
        if let Some((n, b)) = &mut self.nulls.arrays {
            n.spill(dir)?;
            b.spill(dir)?;
        }
        for c in &mut self.children {
            c.spill(dir)?;
        }
        Ok(())
    }

    /// Records the validity of `len` new rows (see `NullBuilder::append`).
    pub fn append_validity(
        &mut self,
        validity: Option<(&[u8], usize)>,
        len: usize,
        null_count: usize,
    ) -> Result<()> {
        self.nulls.append(self.rows, validity, len, null_count)?;
        self.rows += len;
        Ok(())
    }

    /// Appends fixed-width values: `bytes` holds whole little-endian values of this column's
    /// width, one per row of the last [`Self::append_validity`] call.
    pub fn append_fixed(&mut self, bytes: &[u8]) -> Result<()> {
        match &mut self.values {
            Values::Fixed { width, data } if bytes.len().is_multiple_of(*width) => {
                data.extend_from_bytes(bytes)
            }
            _ => Err(Error::invalid(format!(
                "{} bytes do not fit this column's layout",
                bytes.len()
            ))),
        }
    }

    /// Appends bits `offset..offset + len` of a packed boolean bitmap.
    pub fn append_bits(&mut self, bitmap: &[u8], offset: usize, len: usize) -> Result<()> {
        match &mut self.values {
            Values::Bits(b) => b.extend_from_bitmap(bitmap, offset, len),
            _ => Err(Error::invalid("bits appended to a non-boolean column")),
        }
    }

    /// Appends variable-width values stored back to back in `bytes`, with their end offsets
    /// relative to the start of `bytes` (non-decreasing, the last `<= bytes.len()`).
    pub fn append_variable(
        &mut self,
        bytes: &[u8],
        ends: impl IntoIterator<Item = u64>,
    ) -> Result<()> {
        let Values::Variable { data, ends: out } = &mut self.values else {
            return Err(Error::invalid("bytes appended to a non-variable column"));
        };
        let base = data.len() as u64;
        data.extend_from_bytes(bytes)?;
        for end in ends {
            out.push(base + end)?;
        }
        Ok(())
    }

    /// Writes the column's regions, then its children's, to `w`, consuming the builder.
    pub fn write(self, w: &mut SegmentWriter) -> Result<WrittenColumn> {
        self.write_as(w, None)
    }

    /// As [`Self::write`]; with `encode`, the column (of definition `def`) is stored in the
    /// encoded layout `choice` leads to (`column_encoder.rs`), if any.
    pub fn write_as(
        mut self,
        w: &mut SegmentWriter,
        encode: Option<(&ColumnDef, EncodingChoice)>,
    ) -> Result<WrittenColumn> {
        let null_count = self.nulls.null_count as u64;
        let nulls = if null_count > 0 && !matches!(self.values, Values::Null) {
            let Some((nulls, bits)) = &mut self.nulls.arrays else {
                unreachable!("the null arrays are materialised with the first null")
            };
            // Rows appended after the last null were not materialised: they are all valid.
            let missing = self.rows - nulls.len();
            nulls.extend_repeat(0, missing)?;
            bits.push_repeat(true, missing)?;
            Some((nulls, bits))
        } else {
            None
        };
        let null_bytes = nulls.as_ref().map(|(n, _)| n.as_bytes());
        let plan = match (encode, &self.values) {
            (Some((def, choice)), Values::Fixed { width, data }) => plan_fixed(
                data.as_bytes(),
                *width,
                &def.column_type,
                null_bytes,
                choice,
            ),
            (Some((_, choice)), Values::Variable { data, ends }) => {
                plan_variable(data.as_bytes(), ends.as_bytes(), null_bytes, choice)
            }
            _ => None,
        };
        let mut regions = ColumnRegions::default();
        let mut encoding = None;
        match (&self.values, plan) {
            (_, Some(plan)) => {
                let def = encode.expect("a plan is made only when encoding").0;
                let (data, offsets, planned) = write_plan(w, def, plan)?;
                regions.data = Some(data);
                regions.offsets = offsets;
                encoding = Some(planned);
            }
            (Values::Null | Values::Children, None) => {}
            (Values::Bits(b), None) => regions.data = Some(w.write_region(&[b.as_bytes()])?),
            (Values::Fixed { data, .. }, None) => {
                regions.data = Some(w.write_region(&[data.as_bytes()])?)
            }
            (Values::Variable { data, ends }, None) => {
                regions.data = Some(w.write_region(&[data.as_bytes()])?);
                regions.offsets = Some(w.write_offsets_region(&[ends.as_bytes()])?);
            }
            (Values::List { ends }, None) => {
                regions.offsets = Some(w.write_offsets_region(&[ends.as_bytes()])?);
            }
        }
        if let Some((nulls, bits)) = nulls {
            regions.nulls = Some(w.write_region(&[nulls.as_bytes()])?);
            regions.validity = Some(w.write_region(&[bits.as_bytes()])?);
        }
        let children = self
            .children
            .into_iter()
            .map(|c| c.write(w))
            .collect::<Result<Vec<_>>>()?;
        Ok(WrittenColumn {
            regions,
            encoding,
            null_count,
            rows: self.rows as u64,
            children,
        })
    }
}

/// Writes an encoded column's `data` region (and `offsets`: block ends, delta anchors) and,
/// for a dictionary, the dictionary's regions; returns those regions and the footer's encoding
/// record.
fn write_plan(
    w: &mut SegmentWriter,
    def: &ColumnDef,
    plan: Plan,
) -> Result<(Region, Option<Region>, Encoding)> {
    let (data, encoding) = match plan {
        Plan::Packed {
            reference,
            width,
            packed,
        } => (
            w.write_region(&[&packed])?,
            Encoding::Packed { reference, width },
        ),
        Plan::Delta(plan) => {
            let region = w.write_region(&[&plan.deltas])?;
            let offsets = w.write_offsets_region(&[&le_words(&plan.anchors)])?;
            let encoding = Encoding::Delta {
                reference: plan.reference,
                width: plan.width,
                block_rows: delta::BLOCK_ROWS,
            };
            return Ok((region, Some(offsets), encoding));
        }
        Plan::Blocks {
            data,
            block_ends,
            raw_data_len,
        } => {
            let region = w.write_region(&[&data])?;
            let offsets = w.write_offsets_region(&[&le_words(&block_ends)])?;
            let encoding = Encoding::Blocks {
                codec: ZSTD_CODEC,
                block_rows: BLOCK_ROWS,
                raw_data_len,
            };
            return Ok((region, Some(offsets), encoding));
        }
        Plan::Dictionary {
            width,
            packed,
            rows,
            raw_data_len,
            values,
        } => {
            let data = w.write_region(&[&packed])?;
            let mut regions = ColumnRegions::default();
            match values {
                DictionaryValues::Fixed(bytes) => regions.data = Some(w.write_region(&[&bytes])?),
                DictionaryValues::Variable { data, ends } => {
                    regions.data = Some(w.write_region(&[&data])?);
                    regions.offsets = Some(w.write_offsets_region(&[&le_words(&ends)])?);
                }
            }
            let values = ColumnMeta {
                def: def.clone(),
                rows,
                regions,
                encoding: None,
                stats: ColumnStats::default(),
                zones: Vec::new(),
                children: Vec::new(),
            };
            (
                data,
                Encoding::Dictionary {
                    width,
                    raw_data_len,
                    values: Box::new(values),
                },
            )
        }
    };
    Ok((data, None, encoding))
}

/// `words` as little-endian bytes (an offsets region's contents).
fn le_words(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|e| e.to_le_bytes()).collect()
}
