//! Integer programs: the arithmetic of an aggregate's argument, compiled from DataFusion's
//! physical expression and evaluated over 64-bit integers where statistics prove that this
//! gives exactly DataFusion's values.
//!
//! # Contract
//! - [`Program::compile`] accepts an expression whose every node is a column or a non-null
//!   literal of an integer (`Int8`–`Int64`, `UInt8`–`UInt64`), `Date32` or `Decimal128` type,
//!   `+`, `-` or `*` of two integer or two decimal nodes (result scale as Arrow computes it:
//!   the larger scale for `+`/`-`, the sum of scales for `*`), or a cast to an integer type or
//!   to a decimal of no smaller scale; anything else is refused (`None`). Values are unscaled
//!   integers at the node's scale.
//! - Each node carries the range its DataFusion type holds without wrapping or error (an
//!   `Int32` wraps at 32 bits, a cast to `Decimal128(p, s)` fails beyond `p` digits, a decimal
//!   result is kept within its precision), intersected with `i64`. [`Program::proves`] takes
//!   the range of every input column (zone or segment statistics) and answers whether interval
//!   arithmetic keeps every node inside its range: then the 64-bit result equals DataFusion's,
//!   whatever DataFusion's overflow rule (wrapping or checked).
//! - Where that is not proven, [`Program::evaluate_wide`] evaluates DataFusion's own physical
//!   expression (its values, its errors) and hands back 128-bit values.
//! - A row's result is NULL exactly when one of the program's input columns is NULL there.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Int16Type, Int32Type, Int64Type, Int8Type, Schema,
    SchemaRef, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, CastExpr, Column, Literal};
use datafusion::physical_expr::PhysicalExpr;

/// A closed interval of unscaled values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Interval {
    pub(super) lo: i128,
    pub(super) hi: i128,
}

const I64: Interval = Interval {
    lo: i64::MIN as i128,
    hi: i64::MAX as i128,
};

impl Interval {
    pub(super) fn new(lo: i128, hi: i128) -> Self {
        Self { lo, hi }
    }

    fn contains(self, other: Interval) -> bool {
        self.lo <= other.lo && other.hi <= self.hi
    }

    fn intersect(self, other: Interval) -> Interval {
        Interval::new(self.lo.max(other.lo), self.hi.min(other.hi))
    }

    fn add(self, b: Interval) -> Option<Interval> {
        Some(Interval::new(
            self.lo.checked_add(b.lo)?,
            self.hi.checked_add(b.hi)?,
        ))
    }

    fn sub(self, b: Interval) -> Option<Interval> {
        Some(Interval::new(
            self.lo.checked_sub(b.hi)?,
            self.hi.checked_sub(b.lo)?,
        ))
    }

    fn mul(self, b: Interval) -> Option<Interval> {
        let products = [
            self.lo.checked_mul(b.lo)?,
            self.lo.checked_mul(b.hi)?,
            self.hi.checked_mul(b.lo)?,
            self.hi.checked_mul(b.hi)?,
        ];
        Some(Interval::new(
            *products.iter().min()?,
            *products.iter().max()?,
        ))
    }

    /// The largest absolute value in the interval.
    pub(super) fn magnitude(self) -> u128 {
        self.lo.unsigned_abs().max(self.hi.unsigned_abs())
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// An input column, by slot.
    Leaf(usize),
    Literal(i64),
    Add(Box<Node>, Box<Node>),
    Sub(Box<Node>, Box<Node>),
    Mul(Box<Node>, Box<Node>),
    /// Times a positive constant (decimal rescaling; 1 for an integer cast).
    Scale(Box<Node>, i64),
}

#[derive(Debug, Clone)]
struct Node {
    op: Op,
    /// The values this node's DataFusion type holds without wrapping or error.
    allowed: Interval,
}

/// What a type is to a program: its scale and the values it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Date,
    Decimal { precision: u8, scale: i8 },
}

fn kind(t: &DataType) -> Option<(Kind, Interval)> {
    let int = |lo: i128, hi: i128| Some((Kind::Integer, Interval::new(lo, hi)));
    match t {
        DataType::Int8 => int(i8::MIN.into(), i8::MAX.into()),
        DataType::Int16 => int(i16::MIN.into(), i16::MAX.into()),
        DataType::Int32 => int(i32::MIN.into(), i32::MAX.into()),
        DataType::Int64 => int(i64::MIN.into(), i64::MAX.into()),
        DataType::UInt8 => int(0, u8::MAX.into()),
        DataType::UInt16 => int(0, u16::MAX.into()),
        DataType::UInt32 => int(0, u32::MAX.into()),
        DataType::UInt64 => int(0, u64::MAX.into()),
        DataType::Date32 => Some((Kind::Date, Interval::new(i32::MIN.into(), i32::MAX.into()))),
        DataType::Decimal128(precision, scale) if *scale >= 0 && *precision <= 38 => {
            let digits = 10i128.pow(u32::from(*precision)) - 1;
            Some((
                Kind::Decimal {
                    precision: *precision,
                    scale: *scale,
                },
                Interval::new(-digits, digits).intersect(I64),
            ))
        }
        _ => None,
    }
}

fn scale_of(k: Kind) -> i8 {
    match k {
        Kind::Decimal { scale, .. } => scale,
        _ => 0,
    }
}

/// The unscaled value of a non-null literal of a program type.
fn literal_value(v: &ScalarValue) -> Option<i64> {
    let wide: i128 = match v {
        ScalarValue::Int8(Some(v)) => (*v).into(),
        ScalarValue::Int16(Some(v)) => (*v).into(),
        ScalarValue::Int32(Some(v)) => (*v).into(),
        ScalarValue::Int64(Some(v)) => (*v).into(),
        ScalarValue::UInt8(Some(v)) => (*v).into(),
        ScalarValue::UInt16(Some(v)) => (*v).into(),
        ScalarValue::UInt32(Some(v)) => (*v).into(),
        ScalarValue::UInt64(Some(v)) => (*v).into(),
        ScalarValue::Date32(Some(v)) => (*v).into(),
        ScalarValue::Decimal128(Some(v), _, _) => *v,
        _ => return None,
    };
    i64::try_from(wide).ok()
}

/// Input columns shared by the programs of one aggregate scan: slot `i` is column
/// `columns[i]` of the aggregate's input.
#[derive(Debug, Default, Clone)]
pub(super) struct Slots {
    pub(super) columns: Vec<usize>,
}

impl Slots {
    pub(super) fn slot(&mut self, column: usize) -> usize {
        match self.columns.iter().position(|&c| c == column) {
            Some(i) => i,
            None => {
                self.columns.push(column);
                self.columns.len() - 1
            }
        }
    }
}

/// A compiled argument (see the module contract).
#[derive(Debug, Clone)]
pub(super) struct Program {
    root: Node,
    /// Slots read, each once.
    leaves: Vec<usize>,
    /// The result type, as DataFusion derives it.
    pub(super) data_type: DataType,
    /// The expression as DataFusion evaluates it, over a batch of `leaves` in that order.
    wide: Arc<dyn PhysicalExpr>,
    wide_schema: SchemaRef,
}

impl Program {
    /// The program of `expr` over `input` (the aggregate's input schema), registering the
    /// columns it reads in `slots`; `None` when some node is outside the grammar.
    pub(super) fn compile(
        expr: &Arc<dyn PhysicalExpr>,
        input: &Schema,
        slots: &mut Slots,
    ) -> Option<Self> {
        let mut leaves = Vec::new();
        let (root, k) = compile_node(expr, input, slots, &mut leaves)?;
        let data_type = expr.data_type(input).ok()?;
        debug_assert_eq!(kind(&data_type).map(|k| k.0), Some(k));
        let fields: Vec<Field> = leaves
            .iter()
            .map(|&s| input.field(slots.columns[s]).clone().with_nullable(true))
            .collect();
        let wide_schema = Arc::new(Schema::new(fields));
        let wide = Arc::clone(expr)
            .transform(|e| {
                if let Some(c) = e.downcast_ref::<Column>() {
                    let slot = slots.columns.iter().position(|&x| x == c.index());
                    let at = slot.and_then(|s| leaves.iter().position(|&l| l == s));
                    if let Some(at) = at {
                        return Ok(Transformed::yes(
                            Arc::new(Column::new(c.name(), at)) as Arc<dyn PhysicalExpr>
                        ));
                    }
                    return Err(DataFusionError::Internal(format!(
                        "column {c} of an aggregate argument was not compiled"
                    )));
                }
                Ok(Transformed::no(e))
            })
            .ok()?
            .data;
        Some(Self {
            root,
            leaves,
            data_type,
            wide,
            wide_schema,
        })
    }

    /// The expression as DataFusion displays it, and its type.
    pub(super) fn describe(&self) -> String {
        format!("{} :: {}", self.wide, self.data_type)
    }

    /// Whether this is a program over integers (not decimals or dates).
    pub(super) fn is_integer(&self) -> bool {
        kind(&self.data_type).is_some_and(|(k, _)| k == Kind::Integer)
    }

    /// Slots this program reads.
    pub(super) fn leaves(&self) -> &[usize] {
        &self.leaves
    }

    /// The range of the result if the slots' values lie in `ranges` (indexed by slot) and
    /// 64-bit evaluation is exact there; `None` when that is not proven.
    pub(super) fn proves(&self, ranges: &[Option<Interval>]) -> Option<Interval> {
        node_range(&self.root, ranges)
    }

    /// The result over 64-bit values of the slots (`values[slot]`, each `len` long; slots
    /// not read may be empty). Exact only where [`Self::proves`] holds.
    pub(super) fn evaluate<'a>(
        &self,
        values: &'a [Vec<i64>],
        len: usize,
        pool: &mut Pool,
    ) -> Cow<'a, [i64]> {
        evaluate(&self.root, values, len, pool)
    }

    /// DataFusion's evaluation over `arrays` (`arrays[slot]`, each the same rows), as 128-bit
    /// values; NULL rows hold 0 and are marked in the returned array's nulls.
    pub(super) fn evaluate_wide(&self, arrays: &[ArrayRef], len: usize) -> Result<ArrayRef> {
        let columns: Vec<ArrayRef> = self
            .leaves
            .iter()
            .map(|&s| Arc::clone(&arrays[s]))
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(len));
        let batch =
            RecordBatch::try_new_with_options(Arc::clone(&self.wide_schema), columns, &options)?;
        self.wide.evaluate(&batch)?.into_array(len)
    }
}

fn compile_node(
    expr: &Arc<dyn PhysicalExpr>,
    input: &Schema,
    slots: &mut Slots,
    leaves: &mut Vec<usize>,
) -> Option<(Node, Kind)> {
    let (k, allowed) = kind(&expr.data_type(input).ok()?)?;
    let node = |op| Node { op, allowed };
    if let Some(c) = expr.downcast_ref::<Column>() {
        let slot = slots.slot(c.index());
        if !leaves.contains(&slot) {
            leaves.push(slot);
        }
        return Some((node(Op::Leaf(slot)), k));
    }
    if let Some(l) = expr.downcast_ref::<Literal>() {
        return Some((node(Op::Literal(literal_value(l.value())?)), k));
    }
    if let Some(b) = expr.downcast_ref::<BinaryExpr>() {
        let (left, lk) = compile_node(b.left(), input, slots, leaves)?;
        let (right, rk) = compile_node(b.right(), input, slots, leaves)?;
        let (ls, rs, s) = (scale_of(lk), scale_of(rk), scale_of(k));
        let both = |want: fn(Kind) -> bool| want(lk) && want(rk) && want(k);
        let integers = both(|k| k == Kind::Integer);
        let decimals = both(|k| matches!(k, Kind::Decimal { .. }));
        if !integers && !decimals {
            return None;
        }
        let rescaled = |n: Node, from: i8| -> Option<Node> {
            if from == s {
                return Some(n);
            }
            let factor = 10i64.checked_pow(u32::try_from(s - from).ok()?)?;
            Some(Node {
                op: Op::Scale(Box::new(n), factor),
                allowed: I64,
            })
        };
        let op = match b.op() {
            Operator::Plus | Operator::Minus => {
                if s != ls.max(rs) {
                    return None;
                }
                let (l, r) = (
                    Box::new(rescaled(left, ls)?),
                    Box::new(rescaled(right, rs)?),
                );
                if *b.op() == Operator::Plus {
                    Op::Add(l, r)
                } else {
                    Op::Sub(l, r)
                }
            }
            Operator::Multiply if s == ls.checked_add(rs)? => {
                Op::Mul(Box::new(left), Box::new(right))
            }
            _ => return None,
        };
        return Some((node(op), k));
    }
    if let Some(c) = expr.downcast_ref::<CastExpr>() {
        let (child, ck) = compile_node(c.expr(), input, slots, leaves)?;
        let factor = match (ck, k) {
            (Kind::Integer, Kind::Integer) => 1,
            (Kind::Integer | Kind::Decimal { .. }, Kind::Decimal { scale, .. })
                if scale >= scale_of(ck) =>
            {
                10i64.checked_pow(u32::try_from(scale - scale_of(ck)).ok()?)?
            }
            _ => return None,
        };
        return Some((node(Op::Scale(Box::new(child), factor)), k));
    }
    None
}

fn node_range(node: &Node, ranges: &[Option<Interval>]) -> Option<Interval> {
    let r = match &node.op {
        Op::Leaf(s) => (*ranges.get(*s)?)?,
        Op::Literal(v) => Interval::new((*v).into(), (*v).into()),
        Op::Add(a, b) => node_range(a, ranges)?.add(node_range(b, ranges)?)?,
        Op::Sub(a, b) => node_range(a, ranges)?.sub(node_range(b, ranges)?)?,
        Op::Mul(a, b) => node_range(a, ranges)?.mul(node_range(b, ranges)?)?,
        Op::Scale(a, f) => {
            let f = i128::from(*f);
            node_range(a, ranges)?.mul(Interval::new(f, f))?
        }
    };
    (node.allowed.contains(r) && I64.contains(r)).then_some(r)
}

/// Spare vectors for intermediate results, reused from chunk to chunk (fresh allocations of
/// this size would fault their pages in every time).
#[derive(Debug, Default)]
pub(super) struct Pool(Vec<Vec<i64>>);

impl Pool {
    fn take(&mut self) -> Vec<i64> {
        let mut v = self.0.pop().unwrap_or_default();
        v.clear();
        v
    }

    /// Hands back a result of [`Program::evaluate`].
    pub(super) fn give(&mut self, values: Cow<'_, [i64]>) {
        if let Cow::Owned(v) = values {
            self.0.push(v);
        }
    }
}

/// `f` applied to every value, in place when the values are owned.
fn map<'a>(values: Cow<'a, [i64]>, pool: &mut Pool, f: impl Fn(i64) -> i64) -> Cow<'a, [i64]> {
    match values {
        Cow::Owned(mut v) => {
            v.iter_mut().for_each(|x| *x = f(*x));
            Cow::Owned(v)
        }
        Cow::Borrowed(v) => {
            let mut out = pool.take();
            out.extend(v.iter().map(|&x| f(x)));
            Cow::Owned(out)
        }
    }
}

/// `f` of two operands, the literal one (if any) not spread into a vector.
fn binary<'a, F: Fn(i64, i64) -> i64>(
    (a, b): (&Node, &Node),
    values: &'a [Vec<i64>],
    len: usize,
    pool: &mut Pool,
    f: F,
) -> Cow<'a, [i64]> {
    match (&a.op, &b.op) {
        (_, Op::Literal(r)) => {
            let l = evaluate(a, values, len, pool);
            map(l, pool, |x| f(x, *r))
        }
        (Op::Literal(l), _) => {
            let r = evaluate(b, values, len, pool);
            map(r, pool, |y| f(*l, y))
        }
        _ => {
            let l = evaluate(a, values, len, pool);
            let r = evaluate(b, values, len, pool);
            let out = match l {
                Cow::Owned(mut l) => {
                    l.iter_mut().zip(r.iter()).for_each(|(x, &y)| *x = f(*x, y));
                    Cow::Owned(l)
                }
                Cow::Borrowed(l) => {
                    let mut out = pool.take();
                    out.extend(l.iter().zip(r.iter()).map(|(&x, &y)| f(x, y)));
                    Cow::Owned(out)
                }
            };
            pool.give(r);
            out
        }
    }
}

// Every operation wraps: where the program is proven nothing wraps, and where it is not
// (rows whose values are NULL, not yet masked) the result is never used.
fn evaluate<'a>(
    node: &Node,
    values: &'a [Vec<i64>],
    len: usize,
    pool: &mut Pool,
) -> Cow<'a, [i64]> {
    match &node.op {
        Op::Leaf(s) => Cow::Borrowed(&values[*s][..]),
        Op::Literal(v) => {
            let mut out = pool.take();
            out.resize(len, *v);
            Cow::Owned(out)
        }
        Op::Add(a, b) => binary((a, b), values, len, pool, i64::wrapping_add),
        Op::Sub(a, b) => binary((a, b), values, len, pool, i64::wrapping_sub),
        Op::Mul(a, b) => binary((a, b), values, len, pool, i64::wrapping_mul),
        Op::Scale(a, 1) => evaluate(a, values, len, pool),
        Op::Scale(a, f) => {
            let v = evaluate(a, values, len, pool);
            map(v, pool, |x| x.wrapping_mul(*f))
        }
    }
}

/// A program type's values as 64-bit integers, into `out` (decimals truncated: callers use
/// them only where statistics prove they fit); `false` for other types.
pub(super) fn narrow_values(array: &dyn Array, out: &mut Vec<i64>) -> bool {
    out.clear();
    macro_rules! narrow {
        ($t:ty) => {
            out.extend(
                array
                    .as_primitive::<$t>()
                    .values()
                    .iter()
                    .map(|&v| v as i64),
            )
        };
    }
    match array.data_type() {
        DataType::Int8 => narrow!(Int8Type),
        DataType::Int16 => narrow!(Int16Type),
        DataType::Int32 => narrow!(Int32Type),
        DataType::Int64 => narrow!(Int64Type),
        DataType::UInt8 => narrow!(UInt8Type),
        DataType::UInt16 => narrow!(UInt16Type),
        DataType::UInt32 => narrow!(UInt32Type),
        DataType::UInt64 => narrow!(UInt64Type),
        DataType::Date32 => narrow!(Date32Type),
        DataType::Decimal128(_, _) => narrow!(Decimal128Type),
        _ => return false,
    }
    true
}

/// A program type's values as 128-bit integers; `None` for other types.
pub(super) fn wide_values(array: &dyn Array) -> Option<Vec<i128>> {
    macro_rules! widen {
        ($t:ty) => {
            array
                .as_primitive::<$t>()
                .values()
                .iter()
                .map(|&v| i128::from(v))
                .collect()
        };
    }
    Some(match array.data_type() {
        DataType::Int8 => widen!(Int8Type),
        DataType::Int16 => widen!(Int16Type),
        DataType::Int32 => widen!(Int32Type),
        DataType::Int64 => widen!(Int64Type),
        DataType::UInt8 => widen!(UInt8Type),
        DataType::UInt16 => widen!(UInt16Type),
        DataType::UInt32 => widen!(UInt32Type),
        DataType::UInt64 => widen!(UInt64Type),
        DataType::Date32 => widen!(Date32Type),
        DataType::Decimal128(_, _) => array.as_primitive::<Decimal128Type>().values().to_vec(),
        _ => return None,
    })
}

/// The value of a one-row statistics bound of a program type as an unscaled integer.
pub(super) fn bound_value(array: &dyn Array) -> Option<i128> {
    if array.len() != 1 || array.is_null(0) {
        return None;
    }
    wide_values(array).map(|v| v[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Field;
    use datafusion::physical_expr::expressions::{binary, cast, col, lit};

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("price", DataType::Decimal128(15, 2), true),
            Field::new("disc", DataType::Decimal128(15, 2), true),
            Field::new("n", DataType::Int32, true),
            Field::new("f", DataType::Float64, true),
        ])
    }

    #[test]
    fn decimal_arithmetic_is_exact_in_64_bits_where_bounds_allow() {
        let s = schema();
        let one = lit(ScalarValue::Decimal128(Some(100), 15, 2));
        let net = binary(col("disc", &s).unwrap(), Operator::Minus, one, &s).unwrap();
        let net = binary(col("price", &s).unwrap(), Operator::Multiply, net, &s).unwrap();
        let mut slots = Slots::default();
        let p = Program::compile(&net, &s, &mut slots).expect("in the grammar");
        assert_eq!(p.data_type, net.data_type(&s).unwrap());
        // price in [0, 1e7], disc in [0, 0.10]: the product fits easily.
        let ranges = [
            Some(Interval::new(0, 1_000_000_000)),
            Some(Interval::new(0, 10)),
        ];
        let r = p.proves(&ranges).expect("proven");
        assert_eq!(r, Interval::new(-100_000_000_000, 0));
        let values = [vec![12_345, 500], vec![5, 10]];
        let got = p.evaluate(&values, 2, &mut Pool::default());
        assert_eq!(&got[..], &[12_345 * (5 - 100), 500 * (10 - 100)]);
        // Unknown bounds prove nothing.
        assert!(p.proves(&[None, Some(Interval::new(0, 10))]).is_none());
    }

    #[test]
    fn int32_results_are_proven_only_inside_32_bits() {
        let s = schema();
        let twice = binary(col("n", &s).unwrap(), Operator::Multiply, lit(2i32), &s).unwrap();
        let p = Program::compile(&twice, &s, &mut Slots::default()).unwrap();
        assert!(p.proves(&[Some(Interval::new(-1000, 1000))]).is_some());
        let big = i128::from(i32::MAX);
        assert!(p.proves(&[Some(Interval::new(0, big))]).is_none());
        // A cast to 64 bits first makes the same values safe.
        let wide = cast(col("n", &s).unwrap(), &s, DataType::Int64).unwrap();
        let twice = binary(wide, Operator::Multiply, lit(2i64), &s).unwrap();
        let p = Program::compile(&twice, &s, &mut Slots::default()).unwrap();
        assert!(p.proves(&[Some(Interval::new(0, big))]).is_some());
    }

    #[test]
    fn floats_and_division_are_outside_the_grammar() {
        let s = schema();
        let f = col("f", &s).unwrap();
        assert!(Program::compile(&f, &s, &mut Slots::default()).is_none());
        let n = col("n", &s).unwrap();
        let div = binary(Arc::clone(&n), Operator::Divide, lit(3i32), &s).unwrap();
        assert!(Program::compile(&div, &s, &mut Slots::default()).is_none());
    }
}
