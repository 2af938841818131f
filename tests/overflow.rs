//! The overflow bag through the public API: routing by fill rate per segment, the table's
//! remembered threshold, schema-merging appends that never rewrite old segments, the widening
//! rule for mixed types, statistics of bag keys, and corrupt bags refused without a panic.

mod common;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use common::{assert_batches_equal, concat, table_files};
use quiver_store::format::manifest::BAG_THRESHOLD_PROPERTY;
use quiver_store::Placement;
use quiver_store::{ErrorKind, Table, TableWriter, WriteOptions};

/// `id` (non-null, 0..rows), `rare` (1% filled strings), `some` (10% filled ints).
fn sparse_batch(rows: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("rare", DataType::Utf8, true),
        Field::new("some", DataType::Int64, true),
    ]));
    let rare = StringArray::from_iter((0..rows).map(|i| (i % 100 == 7).then(|| format!("r{i}"))));
    let some = Int64Array::from_iter((0..rows).map(|i| (i % 10 == 3).then_some(i * 2)));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..rows)),
            Arc::new(rare),
            Arc::new(some),
        ],
    )
    .unwrap()
}

fn write(dir: &std::path::Path, batch: &RecordBatch, options: WriteOptions) -> u64 {
    let mut w = TableWriter::create_with(dir, batch.schema(), options).unwrap();
    w.write(batch).unwrap();
    w.commit().unwrap()
}

fn scan_all(table: &Table) -> RecordBatch {
    let batches: Vec<RecordBatch> = table
        .scan()
        .unwrap()
        .collect::<quiver_store::Result<_>>()
        .unwrap();
    concat(&table.schema(), &batches)
}

fn placements(table: &Table, column: usize) -> Vec<Placement> {
    table
        .segments()
        .iter()
        .map(|s| s.placement(column))
        .collect()
}

#[test]
fn a_column_under_the_fill_threshold_goes_to_the_bag_and_one_over_stays_dense() {
    let dir = tempfile::tempdir().unwrap();
    let batch = sparse_batch(30_000);
    let options = WriteOptions::default()
        .with_segment_rows(10_000)
        .with_zone_rows(1_000);
    write(dir.path(), &batch, options);
    let table = Table::open(dir.path()).unwrap();
    assert_eq!(table.segments().len(), 3);
    assert!(placements(&table, 0)
        .iter()
        .all(|s| matches!(s, Placement::Dense(_))));
    assert!(placements(&table, 1)
        .iter()
        .all(|s| matches!(s, Placement::Bag(_))));
    assert!(placements(&table, 2)
        .iter()
        .all(|s| matches!(s, Placement::Dense(_))));
    // The bag column reads back as the nullable column it was.
    let got = scan_all(&table);
    let want = common::as_read_batch(&batch, &table.schema());
    assert_batches_equal(&got, &want, "scan");
    let taken = table.take(&[29_907, 7, 8, 107, 7]).unwrap();
    let rare = taken.column(1).as_string::<i64>();
    assert_eq!(
        rare.iter().collect::<Vec<_>>(),
        vec![Some("r29907"), Some("r7"), None, Some("r107"), Some("r7")]
    );
    table.verify().unwrap();
}

#[test]
fn threshold_zero_keeps_every_column_dense_and_the_table_remembers_its_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let batch = sparse_batch(5_000);
    let zero = WriteOptions::default().with_bag_threshold(0.0);
    write(dir.path(), &batch, zero);
    // An append without a threshold of its own uses the table's.
    let mut w = TableWriter::append(dir.path()).unwrap();
    w.write(&batch).unwrap();
    w.commit().unwrap();
    let table = Table::open(dir.path()).unwrap();
    assert_eq!(
        table.manifest().properties,
        vec![(BAG_THRESHOLD_PROPERTY.to_string(), "0".to_string())]
    );
    assert!(placements(&table, 1)
        .iter()
        .all(|s| matches!(s, Placement::Dense(_))));
    // A threshold given to an append becomes the table's and routes from then on.
    let options = WriteOptions::default().with_bag_threshold(0.2);
    let mut w = TableWriter::append_with(dir.path(), options).unwrap();
    w.write(&batch).unwrap();
    w.commit().unwrap();
    let table = Table::open(dir.path()).unwrap();
    assert!(matches!(placements(&table, 2)[2], Placement::Bag(_)));
    assert!(matches!(placements(&table, 2)[0], Placement::Dense(_)));
    let bad = WriteOptions::default().with_bag_threshold(1.5);
    let err = TableWriter::append_with(dir.path(), bad).err().unwrap();
    assert!(err.to_string().contains("between 0 and 1"), "{err}");
}

#[test]
fn an_append_that_brings_a_new_key_never_rewrites_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let first = sparse_batch(2_000);
    write(dir.path(), &first, WriteOptions::default());
    let files_before = table_files(dir.path());
    let bytes_before: Vec<Vec<u8>> = files_before
        .iter()
        .map(|f| std::fs::read(dir.path().join(f)).unwrap())
        .collect();

    // New key `fresh`; `some` left out; columns in another order.
    let schema = Arc::new(Schema::new(vec![
        Field::new("fresh", DataType::Utf8, true),
        Field::new("id", DataType::Int64, false),
        Field::new("rare", DataType::Utf8, true),
    ]));
    let second = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter(
                (0..100).map(|i| (i == 42).then_some("new")),
            )) as ArrayRef,
            Arc::new(Int64Array::from_iter_values(2_000..2_100)),
            Arc::new(StringArray::from(vec![None::<&str>; 100])),
        ],
    )
    .unwrap();

    // Without schema merging the append is refused, naming the difference.
    let mut strict = TableWriter::append(dir.path()).unwrap();
    let err = strict.write(&second).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::SchemaMismatch { .. }),
        "{err}"
    );
    drop(strict);

    let merge = WriteOptions::default().with_merge_schema(true);
    let mut w = TableWriter::append_with(dir.path(), merge).unwrap();
    w.write(&second).unwrap();
    assert_eq!(w.commit().unwrap(), 2);

    for (f, bytes) in files_before.iter().zip(&bytes_before) {
        if f.ends_with(".manifest") {
            continue;
        }
        assert_eq!(
            &std::fs::read(dir.path().join(f)).unwrap(),
            bytes,
            "{f} changed"
        );
    }
    let table = Table::open(dir.path()).unwrap();
    let schema = table.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["id", "rare", "some", "fresh"]);
    assert_eq!(placements(&table, 3)[0], Placement::Absent);
    let all = scan_all(&table);
    assert_eq!(all.num_rows(), 2_100);
    let fresh = all.column(3).as_string::<i64>();
    assert_eq!(fresh.null_count(), 2_099);
    assert_eq!(fresh.value(2_042), "new");
    let some = all.column(2).as_primitive::<Int64Type>();
    assert_eq!(some.value(3), 6);
    assert!(some.is_null(2_003));
    // The old version still reads with its old schema.
    let v1 = Table::open_version(dir.path(), 1).unwrap();
    assert_eq!(v1.schema().fields().len(), 3);
    table.verify().unwrap();
}

/// Appends one batch holding column `k` of `array`'s type, merging schemas.
fn append_k(dir: &std::path::Path, array: ArrayRef) {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "k",
        array.data_type().clone(),
        true,
    )]));
    let batch = RecordBatch::try_new(schema, vec![array]).unwrap();
    let options = WriteOptions::default().with_merge_schema(true);
    let mut w = if Table::versions(dir).unwrap().is_empty() {
        TableWriter::create_with(dir, batch.schema(), options).unwrap()
    } else {
        TableWriter::append_with(dir, options).unwrap()
    };
    w.write(&batch).unwrap();
    w.commit().unwrap();
}

#[test]
fn mixed_types_for_one_key_widen_int_to_float_and_anything_to_string() {
    let dir = tempfile::tempdir().unwrap();
    let sparse_ints = Int64Array::from_iter((0..1000).map(|i| (i == 5).then_some(7)));
    append_k(dir.path(), Arc::new(sparse_ints));
    append_k(
        dir.path(),
        Arc::new(Float64Array::from(vec![Some(2.5), None])),
    );
    let table = Table::open(dir.path()).unwrap();
    assert_eq!(table.schema().field(0).data_type(), &DataType::Float64);
    // The int segment keeps its bytes (in the bag), read as floats.
    assert!(matches!(
        table.segments()[0].placement(0),
        Placement::Bag(_)
    ));
    let all = scan_all(&table);
    let k = all.column(0).as_primitive::<Float64Type>();
    assert_eq!((k.value(5), k.value(1000)), (7.0, 2.5));
    assert_eq!(k.null_count(), 1000);
    // Statistics of a segment stored as a narrower type keep null counts, drop bounds.
    let s = table.segments()[0].stats(0);
    assert_eq!((s.null_count, s.min.is_none()), (999, true));

    append_k(dir.path(), Arc::new(StringArray::from(vec!["x"])));
    let table = Table::open(dir.path()).unwrap();
    assert_eq!(table.schema().field(0).data_type(), &DataType::LargeUtf8);
    let all = scan_all(&table);
    let k = all.column(0).as_string::<i64>();
    assert_eq!(
        (k.value(5), k.value(1000), k.value(1002)),
        ("7", "2.5", "x")
    );
    let taken = table.take(&[1002, 5, 1000]).unwrap();
    let k = taken.column(0).as_string::<i64>();
    assert_eq!(
        k.iter().collect::<Vec<_>>(),
        [Some("x"), Some("7"), Some("2.5")]
    );

    // Types with no common type are refused, naming the column.
    let dir = tempfile::tempdir().unwrap();
    append_k(dir.path(), Arc::new(Int64Array::from(vec![1])));
    let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Boolean, true)]));
    let batch = RecordBatch::try_new(
        schema,
        vec![Arc::new(arrow::array::BooleanArray::from(vec![true]))],
    )
    .unwrap();
    let options = WriteOptions::default().with_merge_schema(true);
    let mut w = TableWriter::append_with(dir.path(), options).unwrap();
    let err = w.write(&batch).unwrap_err();
    assert!(
        err.to_string().contains("column \"k\" has type Boolean"),
        "{err}"
    );
}

#[test]
fn bag_keys_carry_null_counts_and_bounds_per_segment_and_zone() {
    let dir = tempfile::tempdir().unwrap();
    let options = WriteOptions::default()
        .with_segment_rows(10_000)
        .with_zone_rows(1_000);
    write(dir.path(), &sparse_batch(10_000), options);
    let table = Table::open(dir.path()).unwrap();
    let seg = &table.segments()[0];
    assert!(matches!(seg.placement(1), Placement::Bag(_)));
    let s = seg.stats(1);
    assert_eq!(s.null_count, 9_900);
    assert_eq!(s.min.as_deref(), Some(&b"r1007"[..]));
    assert_eq!(s.max.as_deref(), Some(&b"r9907"[..]));
    let z = seg.zone_stats(1, 3);
    assert_eq!(z.null_count, 990);
    assert_eq!(z.min.as_deref(), Some(&b"r3007"[..]));
}

#[test]
fn every_corrupted_bag_byte_is_reported_by_verify_and_never_panics_a_read() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &sparse_batch(3_000), WriteOptions::default());
    let table = Table::open(dir.path()).unwrap();
    let bag = table.segments()[0].file().footer().bag.clone().unwrap();
    let want = scan_all(&table);
    let path = table.segments()[0].file().path().to_path_buf();
    drop(table);
    let original = std::fs::read(&path).unwrap();
    let mut flips = 0;
    for (_, region) in bag.named() {
        let step = (region.len as usize / 150).max(1);
        for at in (region.offset as usize..region.end() as usize).step_by(step) {
            let mut bytes = original.clone();
            bytes[at] ^= 1 << (at % 8);
            std::fs::write(&path, &bytes).unwrap();
            flips += 1;
            let table = Table::open(dir.path()).unwrap();
            let err = table.verify().expect_err("verify must see the flip");
            assert!(err.is_corrupt(), "byte {at}: {err}");
            // A read either fails cleanly or returns data; it never panics.
            let read: quiver_store::Result<Vec<RecordBatch>> = table.scan().unwrap().collect();
            if let Ok(batches) = read {
                assert_eq!(concat(&want.schema(), &batches).num_rows(), want.num_rows());
            }
            let _ = table.take(&[7, 2_999]);
        }
    }
    assert!(flips > 300, "{flips}");
    std::fs::write(&path, &original).unwrap();
}

/// 1,200 nullable columns: `c0` 1% filled, the others full. Fed 100 rows at a time to a
/// writer with a 1 MiB memory budget: too wide to spill (3,600 scratch files), so the writer
/// makes the filled columns dense and cuts segments at the budget — rather than holding every
/// value as a sparse piece until the 256 MiB segment size.
#[test]
fn a_build_too_wide_to_spill_is_cut_at_its_memory_budget_and_keeps_every_value_and_routing() {
    let (columns, rows) = (1_200usize, 3_000i64);
    let schema = Arc::new(Schema::new(
        (0..columns)
            .map(|c| Field::new(format!("c{c}"), DataType::Int64, true))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        (0..columns)
            .map(|c| {
                let values = (0..rows).map(|r| (c > 0 || r % 100 == 1).then_some(r * c as i64));
                Arc::new(Int64Array::from_iter(values)) as ArrayRef
            })
            .collect(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let budget = 1 << 20;
    let options = WriteOptions::default().with_memory_budget(budget);
    let mut w = TableWriter::create_with(dir.path(), Arc::clone(&schema), options).unwrap();
    for start in (0..rows as usize).step_by(100) {
        w.write(&batch.slice(start, 100)).unwrap();
    }
    w.commit().unwrap();
    let table = Table::open(dir.path()).unwrap();
    let segments = table.segments();
    assert!(
        segments.len() > 3,
        "cut at the budget: {} segment(s)",
        segments.len()
    );
    for s in segments {
        // Dense Int64 with validity: about 9 bytes a value; a segment is cut once the build
        // holds more than the budget, i.e. within one 100-row batch of it.
        let held = s.num_rows() * (columns - 1) * 9;
        assert!(
            held <= 2 * budget + 100 * columns * 9,
            "{} rows",
            s.num_rows()
        );
    }
    assert!(placements(&table, 0)
        .iter()
        .all(|p| *p == Placement::Bag(0)));
    assert!(placements(&table, 1)
        .iter()
        .all(|p| matches!(p, Placement::Dense(_))));
    assert_batches_equal(&scan_all(&table), &batch, "the wide table");
}
