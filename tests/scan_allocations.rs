//! A full scan allocates per batch, never per row: a counting global allocator watches a scan
//! of 10M rows of an int64 and a string column.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use quiver_store::{Table, TableWriter};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ROWS: usize = 10_000_000;
const CHUNK: usize = 1_000_000;

#[test]
fn scanning_ten_million_rows_allocates_per_batch_not_per_row() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let mut w = TableWriter::create(dir.path(), Arc::clone(&schema)).unwrap();
    for start in (0..ROWS).step_by(CHUNK) {
        let ids = Int64Array::from_iter_values((start..start + CHUNK).map(|i| i as i64));
        let names = StringArray::from_iter(
            (start..start + CHUNK).map(|i| (i % 10 != 0).then(|| format!("name-{}", i % 1000))),
        );
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(ids), Arc::new(names)])
            .unwrap();
        w.write(&batch).unwrap();
    }
    w.commit().unwrap();

    let table = Table::open(dir.path()).unwrap();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut batches = 0usize;
    let mut rows = 0usize;
    let mut id_sum = 0i64;
    for batch in table.scan().unwrap() {
        let batch = batch.unwrap();
        batches += 1;
        rows += batch.num_rows();
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        id_sum = id_sum.wrapping_add(ids.values().iter().sum::<i64>());
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(rows, ROWS);
    assert_eq!(id_sum, (ROWS as i64 - 1) * ROWS as i64 / 2);
    // Each batch allocates a few small objects (Arcs of sliced arrays, the column vector).
    let per_batch = allocations as f64 / batches as f64;
    assert!(
        per_batch < 40.0,
        "{allocations} allocations over {batches} batches ({per_batch:.1} per batch)"
    );
    assert!(
        allocations < ROWS / 1000,
        "{allocations} allocations for {ROWS} rows"
    );
}
