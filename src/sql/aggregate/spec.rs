//! The aggregates the scan computes, and their partial states in exactly the form DataFusion's
//! partial `AggregateExec` outputs them.
//!
//! # Contract
//! - [`AggregateSpec::compile`] accepts `COUNT(*)`, `COUNT(x)`, `SUM`, `AVG`, `MIN` and `MAX`
//!   (not `DISTINCT`, no `ORDER BY` inside the call) over a [`Program`] (for `COUNT`, also a
//!   bare column of any type), and `SUM` / `AVG` of an integer program cast to `Float64`;
//!   anything else, or a state type other than the one below, is refused (`None`).
//! - States (one row per group): `COUNT` → `Int64` count; `SUM` → the sum in its result type
//!   (`Int64`, `UInt64`, `Decimal128(p, s)` or `Float64`; NULL for a group without values); `AVG` →
//!   `UInt64` count, then the sum as `SUM`'s (both NULL without values); `MIN` / `MAX` → the extreme in the argument's
//!   type (NULL without values). Integer sums are the wrapping sums DataFusion computes; a
//!   `Float64` sum is the exact integer sum converted once, which equals DataFusion's
//!   floating-point sum only when every partial sum is an integer below 2^53 — callers prove
//!   that before choosing this path ([`AggregateSpec::float_sum_exact`]).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, Float64Array, Int16Array, Int32Array, Int64Array,
    Int8Array, UInt16Array, UInt32Array, UInt64Array, UInt8Array,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, FieldRef, Schema};
use datafusion::common::{DataFusionError, Result};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::expressions::{CastExpr, Column, Literal};
use datafusion::physical_expr::PhysicalExpr;

use super::accumulate::{Accumulator, Needs};
use super::program::{Interval, Program, Slots};

/// Largest integer every smaller one of which a `Float64` holds exactly.
const FLOAT_EXACT: u128 = 1 << 53;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Function {
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

/// One aggregate of the scan (see the module contract).
#[derive(Debug, Clone)]
pub(super) struct AggregateSpec {
    pub(super) function: Function,
    /// The values aggregated (`None` for `COUNT`).
    pub(super) program: Option<Program>,
    /// Slots whose NULLs make the argument NULL (none for `COUNT(*)`).
    pub(super) null_slots: Vec<usize>,
    /// `SUM` / `AVG` of an integer program cast to `Float64`.
    pub(super) float: bool,
    /// The state fields of DataFusion's partial aggregate for it.
    pub(super) state: Vec<FieldRef>,
    /// As DataFusion displays it.
    pub(super) name: String,
}

impl AggregateSpec {
    /// The scan's form of `aggregate`, whose argument (over `input`) is `argument`.
    pub(super) fn compile(
        aggregate: &AggregateFunctionExpr,
        argument: &Arc<dyn PhysicalExpr>,
        input: &Schema,
        slots: &mut Slots,
    ) -> Option<Self> {
        if aggregate.is_distinct() || !aggregate.order_bys().is_empty() {
            return None;
        }
        let function = match aggregate.fun().name() {
            "count" => Function::Count,
            "sum" => Function::Sum,
            "avg" => Function::Avg,
            "min" => Function::Min,
            "max" => Function::Max,
            _ => return None,
        };
        let state = aggregate.state_fields().ok()?;
        let mut float = false;
        let (program, null_slots) = match function {
            Function::Count => {
                if let Some(l) = argument.downcast_ref::<Literal>() {
                    if l.value().is_null() {
                        return None;
                    }
                    (None, Vec::new())
                } else if let Some(c) = argument.downcast_ref::<Column>() {
                    (None, vec![slots.slot(c.index())])
                } else {
                    let p = Program::compile(argument, input, slots)?;
                    (None, p.leaves().to_vec())
                }
            }
            Function::Sum | Function::Avg => {
                let float_of_integer = argument.downcast_ref::<CastExpr>().and_then(|c| {
                    (*c.cast_type() == DataType::Float64)
                        .then(|| Program::compile(c.expr(), input, slots))
                        .flatten()
                        .filter(Program::is_integer)
                });
                let p = match float_of_integer {
                    Some(p) => {
                        float = true;
                        p
                    }
                    None => Program::compile(argument, input, slots)?,
                };
                let leaves = p.leaves().to_vec();
                (Some(p), leaves)
            }
            Function::Min | Function::Max => {
                let p = Program::compile(argument, input, slots)?;
                let leaves = p.leaves().to_vec();
                (Some(p), leaves)
            }
        };
        let spec = Self {
            function,
            program,
            null_slots,
            float,
            state,
            name: aggregate.name().to_string(),
        };
        spec.states_supported().then_some(spec)
    }

    /// Whether DataFusion's state fields are the ones this scan builds.
    fn states_supported(&self) -> bool {
        let types: Vec<&DataType> = self.state.iter().map(|f| f.data_type()).collect();
        let value = self.program.as_ref().map(|p| &p.data_type);
        let sum_type_ok = |t: &DataType| match (t, value) {
            (DataType::Float64, Some(_)) => self.float,
            (DataType::Int64 | DataType::UInt64, Some(v)) => !self.float && v == t,
            (DataType::Decimal128(_, s), Some(DataType::Decimal128(_, vs))) => {
                !self.float && s == vs
            }
            _ => false,
        };
        match (self.function, types.as_slice()) {
            (Function::Count, [DataType::Int64]) => true,
            (Function::Sum, [t]) => sum_type_ok(t),
            (Function::Avg, [DataType::UInt64, t]) => sum_type_ok(t),
            (Function::Min | Function::Max, [t]) => value == Some(*t),
            _ => false,
        }
    }

    /// Whether a `Float64` sum is exact: `rows` values, each within the program's result
    /// range given slot ranges `ranges`, sum to integers below 2^53 in any order.
    pub(super) fn float_sum_exact(&self, ranges: &[Option<Interval>], rows: u64) -> bool {
        if !self.float {
            return true;
        }
        let Some(range) = self.program.as_ref().and_then(|p| p.proves(ranges)) else {
            return false;
        };
        range
            .magnitude()
            .checked_mul(u128::from(rows))
            .is_some_and(|total| total < FLOAT_EXACT)
    }

    /// What identifies this aggregate's argument: aggregates with equal keys see the same
    /// values and NULLs, so one accumulator serves them all.
    pub(super) fn argument_key(&self) -> String {
        let program = self.program.as_ref().map(Program::describe);
        format!("{program:?}/{:?}/{}", self.null_slots, self.float)
    }

    /// Which states the accumulator keeps.
    pub(super) fn needs(&self) -> Needs {
        Needs {
            sum: matches!(self.function, Function::Sum | Function::Avg),
            min: self.function == Function::Min,
            max: self.function == Function::Max,
        }
    }

    /// The state columns of groups `keep` (all groups when `None`) of `acc`.
    pub(super) fn states(
        &self,
        acc: &Accumulator,
        keep: Option<&[usize]>,
    ) -> Result<Vec<ArrayRef>> {
        let pick = |v: &[i128]| -> Vec<i128> {
            match keep {
                Some(k) => k.iter().map(|&g| v[g]).collect(),
                None => v.to_vec(),
            }
        };
        let count: Vec<u64> = match keep {
            Some(k) => k.iter().map(|&g| acc.count[g]).collect(),
            None => acc.count.clone(),
        };
        let nulls = NullBuffer::from(count.iter().map(|&c| c > 0).collect::<Vec<bool>>());
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        let typed = |values: Vec<i128>, t: &DataType| typed_array(values, nulls.clone(), t);
        let mut out = Vec::with_capacity(self.state.len());
        match self.function {
            Function::Count => {
                out.push(Arc::new(Int64Array::from_iter_values(
                    count.iter().map(|&c| c as i64),
                )) as ArrayRef);
            }
            Function::Sum => out.push(typed(pick(&acc.sum), self.state[0].data_type())?),
            Function::Avg => {
                // NULL without values, as DataFusion's grouped AVG state (a non-NULL count
                // would mark the group as having values when merged).
                out.push(
                    Arc::new(UInt64Array::new(count.clone().into(), nulls.clone())) as ArrayRef,
                );
                out.push(typed(pick(&acc.sum), self.state[1].data_type())?);
            }
            Function::Min => out.push(typed(pick(&acc.min), self.state[0].data_type())?),
            Function::Max => out.push(typed(pick(&acc.max), self.state[0].data_type())?),
        }
        Ok(out)
    }
}

/// `values` as an array of `t` (integers truncated as DataFusion's wrapping sums are; NULL
/// slots of `nulls` hold whatever the accumulator held).
fn typed_array(values: Vec<i128>, nulls: Option<NullBuffer>, t: &DataType) -> Result<ArrayRef> {
    let zeroed: Vec<i128> = match &nulls {
        Some(n) => values
            .iter()
            .zip(n.iter())
            .map(|(&v, valid)| if valid { v } else { 0 })
            .collect(),
        None => values,
    };
    macro_rules! array {
        ($a:ty, $n:ty) => {
            Arc::new(<$a>::new(
                zeroed.iter().map(|&v| v as $n).collect::<Vec<$n>>().into(),
                nulls,
            )) as ArrayRef
        };
    }
    Ok(match t {
        DataType::Int8 => array!(Int8Array, i8),
        DataType::Int16 => array!(Int16Array, i16),
        DataType::Int32 => array!(Int32Array, i32),
        DataType::Int64 => array!(Int64Array, i64),
        DataType::UInt8 => array!(UInt8Array, u8),
        DataType::UInt16 => array!(UInt16Array, u16),
        DataType::UInt32 => array!(UInt32Array, u32),
        DataType::UInt64 => array!(UInt64Array, u64),
        DataType::Date32 => array!(Date32Array, i32),
        DataType::Float64 => array!(Float64Array, f64),
        DataType::Decimal128(p, s) => {
            Arc::new(Decimal128Array::new(zeroed.into(), nulls).with_precision_and_scale(*p, *s)?)
        }
        other => {
            return Err(DataFusionError::Internal(format!(
                "aggregate scan state of type {other}"
            )))
        }
    })
}
