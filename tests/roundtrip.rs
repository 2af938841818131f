//! Property: whatever is written comes back from `scan` and `take` exactly — over random
//! schemas of every storable type, null rates of 0%, some and 100%, empty strings, empty
//! tables, zero-row batches and tables of many segments.

mod common;

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use common::*;
use quiver_store::{Table, TableWriter, WriteOptions};
use rand::Rng;

#[test]
fn random_schemas_of_every_type_round_trip_through_scan_and_take() {
    for seed in 0..40u64 {
        let mut rng = rng(seed);
        let ncols = rng.random_range(1..12);
        let schema = random_schema(&mut rng, ncols);
        let null_rate = [0.0, 0.1, 0.5, 1.0][seed as usize % 4];
        let batches: Vec<RecordBatch> = (0..rng.random_range(1..5))
            .map(|_| {
                let len = rng.random_range(0..300);
                random_batch(&mut rng, &schema, len, null_rate)
            })
            .collect();
        let options = WriteOptions::default()
            .with_segment_rows([1usize, 37, 1000][seed as usize % 3])
            .with_zone_rows(16);
        check_round_trip(seed, &batches, options);
    }
}

#[test]
fn every_storable_type_round_trips_with_and_without_nulls() {
    for (i, t) in storable_types().into_iter().enumerate() {
        for null_rate in [0.0, 0.3, 1.0] {
            let schema = Arc::new(Schema::new(vec![Field::new("v", t.clone(), true)]));
            let mut rng = rng(i as u64);
            let batches = vec![
                random_batch(&mut rng, &schema, 100, null_rate),
                random_batch(&mut rng, &schema, 0, null_rate),
                random_batch(&mut rng, &schema, 41, null_rate),
            ];
            let options = WriteOptions::default()
                .with_segment_rows(64)
                .with_zone_rows(10);
            check_round_trip(i as u64, &batches, options);
        }
    }
}

#[test]
fn sparse_columns_of_every_type_round_trip_through_the_overflow_bag() {
    let fills = [0.0001, 0.001, 0.01, 0.03, 0.2, 0.5];
    let mut bag_columns = 0;
    for seed in 0..24u64 {
        let mut rng = rng(1000 + seed);
        // Unicode names, every storable type (nested and interval ones stay dense).
        let types = storable_types();
        let fields: Vec<Field> = (0..rng.random_range(2..14))
            .map(|i| {
                let t = types[rng.random_range(0..types.len())].clone();
                Field::new(format!("ключ_{i}_🔑_{t}"), t, true)
            })
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let col_fill: Vec<f64> = (0..schema.fields().len())
            .map(|_| fills[rng.random_range(0..fills.len())])
            .collect();
        let batches: Vec<RecordBatch> = (0..rng.random_range(1..4))
            .map(|_| {
                let len = rng.random_range(0..6000);
                let columns = schema
                    .fields()
                    .iter()
                    .zip(&col_fill)
                    .map(|(f, fill)| random_array(&mut rng, f.data_type(), len, 1.0 - fill))
                    .collect();
                RecordBatch::try_new(Arc::clone(&schema), columns).unwrap()
            })
            .collect();
        let options = WriteOptions::default()
            .with_segment_rows([4096usize, 20_000, 777][seed as usize % 3])
            .with_zone_rows(1000);
        let table = check_round_trip(seed, &batches, options);
        for segment in table.segments() {
            for c in 0..schema.fields().len() {
                if let quiver_store::Placement::Bag(_) = segment.placement(c) {
                    bag_columns += 1;
                    let fill = 1.0 - segment.stats(c).null_count as f64 / segment.num_rows() as f64;
                    assert!(
                        fill < 0.05,
                        "seed {seed}: a column of fill {fill} went to the bag"
                    );
                }
            }
        }
        table.verify().unwrap();
    }
    assert!(
        bag_columns > 50,
        "only {bag_columns} columns went to the bag"
    );
}

#[test]
fn empty_table_has_schema_and_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)]));
    let w = TableWriter::create(dir.path(), Arc::clone(&schema)).unwrap();
    assert_eq!(w.commit().unwrap(), 1);
    let table = Table::open(dir.path()).unwrap();
    assert_eq!(table.num_rows(), 0);
    assert_eq!(table.schema().field(0).data_type(), &DataType::LargeUtf8);
    assert_eq!(table.scan().unwrap().count(), 0);
    assert_eq!(table.take(&[]).unwrap().num_rows(), 0);
}

#[test]
fn spilled_builders_write_the_same_table_as_heap_builders() {
    let mut rng = rng(99);
    let schema = Arc::new(Schema::new(vec![
        Field::new("i", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("b", DataType::Boolean, true),
    ]));
    let batches: Vec<RecordBatch> = (0..8)
        .map(|_| random_batch(&mut rng, &schema, 5000, 0.2))
        .collect();
    // A budget of one byte spills every buffer after the first batch.
    let options = WriteOptions::default().with_memory_budget(1);
    check_round_trip(99, &batches, options);
}
