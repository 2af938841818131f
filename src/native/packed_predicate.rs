//! Comparisons of a packed (frame-of-reference) column with a literal, answered on the packed
//! values themselves: `reference + v OP literal` becomes `v OP' (literal - reference)`, or a
//! constant when the literal lies outside the values the width can hold. Knows nothing of
//! Arrow.
//!
//! # Contract
//! - [`PackedTest::new`] is exact for every value a run of `width` bits can hold: for each
//!   `v` in `0 ..= 2^width - 1`, `test.matches(v)` is `reference + v OP literal` evaluated in
//!   exact integer arithmetic (no overflow: the translation is done in `i128`, saturating where
//!   `literal - reference` leaves it, which only happens when the answer is constant).
//! - NULL rows are the caller's business: their packed bits are meaningless, a comparison with
//!   NULL is NULL, and SQL drops it.

/// A comparison operator, `column OP literal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparison {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl Comparison {
    /// Whether `a OP b`.
    #[inline]
    pub fn holds<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Comparison::Eq => a == b,
            Comparison::NotEq => a != b,
            Comparison::Lt => a < b,
            Comparison::LtEq => a <= b,
            Comparison::Gt => a > b,
            Comparison::GtEq => a >= b,
        }
    }

    /// The operator with its sides swapped: `literal OP column` is `column OP.flip() literal`.
    pub fn flip(self) -> Self {
        match self {
            Comparison::Lt => Comparison::Gt,
            Comparison::LtEq => Comparison::GtEq,
            Comparison::Gt => Comparison::Lt,
            Comparison::GtEq => Comparison::LtEq,
            same => same,
        }
    }
}

/// A comparison translated into the frame of reference of one packed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackedTest {
    /// No value of the run satisfies it.
    Never,
    /// Every value of the run satisfies it.
    Always,
    /// `v OP t` on the packed value `v`.
    Compare(Comparison, u64),
}

impl PackedTest {
    /// `reference + v OP literal` for the values `v` of `width` bits (module contract).
    pub fn new(op: Comparison, literal: i128, reference: i128, width: u8) -> Self {
        let top: i128 = if width >= 64 {
            i128::from(u64::MAX)
        } else {
            (1i128 << width) - 1
        };
        // `t` is `literal - reference`, saturated: saturation only happens past -2^127 or
        // 2^127 - 1, far outside 0 ..= top, where every answer below is constant.
        let t = literal.saturating_sub(reference);
        let below = t < 0; // every v is above t
        let above = t > top; // every v is below t
        let at = |op| PackedTest::Compare(op, t as u64);
        use Comparison::*;
        use PackedTest::*;
        match op {
            Eq if below || above => Never,
            NotEq if below || above => Always,
            Eq | NotEq => at(op),
            Lt if t <= 0 => Never,
            Lt if above => Always,
            LtEq if below => Never,
            LtEq if t >= top => Always,
            Gt if below => Always,
            Gt if t >= top => Never,
            GtEq if t <= 0 => Always,
            GtEq if above => Never,
            Lt | LtEq | Gt | GtEq => at(op),
        }
    }

    /// Whether packed value `v` satisfies the test.
    #[inline]
    pub fn matches(self, v: u64) -> bool {
        match self {
            PackedTest::Never => false,
            PackedTest::Always => true,
            PackedTest::Compare(op, t) => op.holds(v, t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: [Comparison; 6] = [
        Comparison::Eq,
        Comparison::NotEq,
        Comparison::Lt,
        Comparison::LtEq,
        Comparison::Gt,
        Comparison::GtEq,
    ];

    #[test]
    fn translated_tests_agree_with_exact_comparison_for_every_value_of_small_widths() {
        for width in 0..=4u8 {
            for reference in [-9i128, -1, 0, 3, i128::MIN, i128::MAX - 20] {
                for literal in -30i128..30 {
                    for literal in [literal, reference.saturating_add(literal)] {
                        for op in OPS {
                            let test = PackedTest::new(op, literal, reference, width);
                            for v in 0..(1u64 << width) {
                                let x = reference + i128::from(v);
                                assert_eq!(
                                    test.matches(v),
                                    op.holds(x, literal),
                                    "{op:?} {literal} on {reference} + {v} ({width} bits)"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_edges_of_wide_runs_and_extreme_literals_are_exact() {
        for width in [31u8, 32, 63, 64] {
            let top = if width == 64 {
                u64::MAX
            } else {
                (1u64 << width) - 1
            };
            for reference in [i128::MIN, -1, 0, i128::from(i64::MAX)] {
                for literal in [
                    i128::MIN,
                    i128::MAX,
                    reference,
                    reference.saturating_sub(1),
                    -5,
                    5,
                ] {
                    for op in OPS {
                        let test = PackedTest::new(op, literal, reference, width);
                        for v in [0, 1, top / 2, top - 1, top] {
                            let x = reference + i128::from(v);
                            assert_eq!(test.matches(v), op.holds(x, literal), "{op:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn flipping_sides_keeps_the_meaning() {
        for op in OPS {
            for (a, b) in [(1, 2), (2, 1), (3, 3)] {
                assert_eq!(op.holds(a, b), op.flip().holds(b, a), "{op:?}");
            }
        }
    }
}
