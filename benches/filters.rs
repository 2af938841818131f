//! When does a selection list beat a dense mask? The scan's row filter (`src/sql/row_filter.rs`)
//! evaluates a second conjunct either over every row of a chunk and ANDs the masks (dense), or
//! over the rows the first conjunct kept, gathered first (selection). This measures both with
//! Arrow's kernels, at first-conjunct selectivities from 1% to 75%, for a cheap conjunct
//! (`Int64 < literal`) and a costly one (`Utf8View LIKE '%pattern%'`).
//!
//! ```sh
//! cargo bench --bench filters
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, Scalar, StringViewArray};
use arrow::buffer::BooleanBuffer;
use arrow::compute::kernels::cmp::lt;
use arrow::compute::{and, filter, like};

const ROWS: usize = 8192;
const REPEAT: usize = 400;

/// Median nanoseconds per chunk of `f` over `REPEAT` runs.
fn time(mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..REPEAT)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[REPEAT / 2]
}

fn main() {
    let ints: ArrayRef = Arc::new(Int64Array::from_iter_values(
        (0..ROWS as i64).map(|i| (i * 7919) % 1000),
    ));
    let strings: ArrayRef =
        Arc::new(StringViewArray::from_iter_values((0..ROWS).map(|i| {
            format!("some comment text number {} with words", i * 31 % 997)
        })));
    let int_lit = Scalar::new(Int64Array::from(vec![500]));
    let str_pat = Scalar::new(StringViewArray::from(vec!["%number 4%"]));
    type Conjunct<'a> = Box<dyn Fn(&dyn Array) -> BooleanArray + 'a>;
    let conjuncts: Vec<(&str, &ArrayRef, Conjunct)> = vec![
        (
            "Int64 < literal",
            &ints,
            Box::new(|a: &dyn Array| lt(&a, &int_lit).unwrap()),
        ),
        (
            "Utf8View LIKE '%…%'",
            &strings,
            Box::new(|a: &dyn Array| like(&a, &str_pat).unwrap()),
        ),
    ];
    println!("| second conjunct | first keeps | dense (ns/chunk) | selection (ns/chunk) | selection / dense |");
    println!("|---|---:|---:|---:|---:|");
    for (name, column, conjunct) in &conjuncts {
        for keep in [0.01, 0.05, 0.1, 0.2, 0.25, 0.35, 0.5, 0.75] {
            let step = (1.0 / keep) as usize;
            let first =
                BooleanArray::new(BooleanBuffer::collect_bool(ROWS, |i| i % step == 0), None);
            let dense = time(|| {
                let second = conjunct(column.as_ref());
                black_box(and(&first, &second).unwrap());
            });
            let selection = time(|| {
                let gathered = filter(column.as_ref(), &first).unwrap();
                black_box(conjunct(gathered.as_ref()));
            });
            println!(
                "| {name} | {:.0}% | {dense:.0} | {selection:.0} | {:.2} |",
                100.0 / step as f64,
                selection / dense
            );
        }
    }
}
