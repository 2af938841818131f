//! Shared helpers for the integration tests: random Arrow data over every storable type, and
//! comparison of what was written with what a scan returns.
#![allow(dead_code)]

pub mod encoded;

use std::sync::Arc;

use arrow::array::{
    make_array, new_null_array, Array, ArrayDataBuilder, ArrayRef, AsArray, BinaryArray,
    BooleanArray, FixedSizeBinaryArray, FixedSizeListArray, LargeListArray, ListArray, MapArray,
    RecordBatch, StringArray, StructArray,
};
use arrow::buffer::{Buffer, MutableBuffer, NullBuffer, OffsetBuffer};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::{DataType, Field, IntervalUnit, Schema, SchemaRef, TimeUnit};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Every Arrow type Quiver stores.
pub fn storable_types() -> Vec<DataType> {
    use DataType::*;
    vec![
        Null,
        Boolean,
        Int8,
        Int16,
        Int32,
        Int64,
        UInt8,
        UInt16,
        UInt32,
        UInt64,
        Float16,
        Float32,
        Float64,
        Date32,
        Date64,
        Time32(TimeUnit::Second),
        Time32(TimeUnit::Millisecond),
        Time64(TimeUnit::Microsecond),
        Time64(TimeUnit::Nanosecond),
        Timestamp(TimeUnit::Second, None),
        Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        Timestamp(TimeUnit::Microsecond, Some("+05:30".into())),
        Timestamp(TimeUnit::Nanosecond, Some("America/New_York".into())),
        Duration(TimeUnit::Second),
        Duration(TimeUnit::Nanosecond),
        Interval(IntervalUnit::YearMonth),
        Interval(IntervalUnit::DayTime),
        Interval(IntervalUnit::MonthDayNano),
        Decimal32(9, 2),
        Decimal64(18, 4),
        Decimal128(38, 10),
        Decimal256(76, 20),
        FixedSizeBinary(7),
        Utf8,
        LargeUtf8,
        Utf8View,
        Binary,
        LargeBinary,
        BinaryView,
    ]
    .into_iter()
    .chain(nested_types())
    .collect()
}

/// Nested types: lists, fixed-size lists, structs, maps, dictionaries, and nestings of them.
pub fn nested_types() -> Vec<DataType> {
    use DataType::*;
    let f = |name: &str, t: DataType, nullable: bool| Arc::new(Field::new(name, t, nullable));
    let entries = f(
        "entries",
        Struct(
            vec![
                Field::new("key", Utf8, false),
                Field::new("value", Int32, true),
            ]
            .into(),
        ),
        false,
    );
    vec![
        List(f("item", Int32, true)),
        LargeList(f("item", Utf8View, true)),
        List(f("item", List(f("item", Int64, true)), true)),
        FixedSizeList(f("item", Float64, true), 3),
        Struct(
            vec![
                Field::new("a", Int64, true),
                Field::new("b", Utf8, true),
                Field::new("c", Boolean, true),
            ]
            .into(),
        ),
        List(f(
            "item",
            Struct(vec![Field::new("x", Int16, true), Field::new("y", Binary, true)].into()),
            true,
        )),
        Map(entries, false),
        Dictionary(Box::new(Int16), Box::new(Utf8)),
        Dictionary(Box::new(UInt8), Box::new(Int64)),
    ]
}

pub fn rng(seed: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed)
}

fn random_validity(rng: &mut SmallRng, len: usize, null_rate: f64) -> Option<NullBuffer> {
    if null_rate == 0.0 {
        return None;
    }
    let bits: Vec<bool> = (0..len).map(|_| !rng.random_bool(null_rate)).collect();
    Some(NullBuffer::from(bits))
}

fn random_string(rng: &mut SmallRng) -> String {
    const ALPHABET: [&str; 10] = ["a", "b", "Z", "é", "ß", "€", "日本", "🦀", " ", "0"];
    let len = match rng.random_range(0..10) {
        0 => 0, // empty strings are frequent on purpose
        1 => rng.random_range(20..90),
        _ => rng.random_range(1..8),
    };
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
        .collect()
}

fn random_bytes(rng: &mut SmallRng) -> Vec<u8> {
    let len = if rng.random_bool(0.2) {
        0
    } else {
        rng.random_range(1..24)
    };
    (0..len).map(|_| rng.random()).collect()
}

/// A random array of `data_type` with about `null_rate` nulls.
pub fn random_array(
    rng: &mut SmallRng,
    data_type: &DataType,
    len: usize,
    null_rate: f64,
) -> ArrayRef {
    let nulls = random_validity(rng, len, null_rate);
    let valid = |i: usize| nulls.as_ref().is_none_or(|n| n.is_valid(i));
    match data_type {
        DataType::Null => new_null_array(data_type, len),
        DataType::Boolean => {
            let values: Vec<Option<bool>> =
                (0..len).map(|i| valid(i).then(|| rng.random())).collect();
            Arc::new(BooleanArray::from(values))
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let values: Vec<Option<String>> = (0..len)
                .map(|i| valid(i).then(|| random_string(rng)))
                .collect();
            let a = StringArray::from(values);
            cast(&a, data_type).unwrap()
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            let values: Vec<Option<Vec<u8>>> = (0..len)
                .map(|i| valid(i).then(|| random_bytes(rng)))
                .collect();
            let a = BinaryArray::from_iter(values);
            cast(&a, data_type).unwrap()
        }
        DataType::FixedSizeBinary(w) => {
            let values: Vec<Option<Vec<u8>>> = (0..len)
                .map(|i| valid(i).then(|| (0..*w).map(|_| rng.random()).collect()))
                .collect();
            Arc::new(
                FixedSizeBinaryArray::try_from_sparse_iter_with_size(values.into_iter(), *w)
                    .unwrap(),
            )
        }
        DataType::List(item) | DataType::LargeList(item) | DataType::Map(item, _) => {
            // Lengths 0..4; null rows sometimes keep items under them, as Arrow allows.
            let lengths: Vec<usize> = (0..len)
                .map(|i| {
                    if valid(i) || rng.random_bool(0.3) {
                        rng.random_range(0..4)
                    } else {
                        0
                    }
                })
                .collect();
            let total: usize = lengths.iter().sum();
            let child_nulls = if item.is_nullable() {
                null_rate.min(0.5)
            } else {
                0.0
            };
            let child = random_array(rng, item.data_type(), total, child_nulls);
            match data_type {
                DataType::List(_) => Arc::new(
                    ListArray::try_new(
                        Arc::clone(item),
                        OffsetBuffer::from_lengths(lengths),
                        child,
                        nulls,
                    )
                    .unwrap(),
                ),
                DataType::LargeList(_) => Arc::new(
                    LargeListArray::try_new(
                        Arc::clone(item),
                        OffsetBuffer::from_lengths(lengths),
                        child,
                        nulls,
                    )
                    .unwrap(),
                ),
                _ => Arc::new(
                    MapArray::try_new(
                        Arc::clone(item),
                        OffsetBuffer::from_lengths(lengths),
                        child.as_struct().clone(),
                        nulls,
                        false,
                    )
                    .unwrap(),
                ),
            }
        }
        DataType::FixedSizeList(item, size) => {
            let child = random_array(
                rng,
                item.data_type(),
                len * *size as usize,
                null_rate.min(0.5),
            );
            Arc::new(FixedSizeListArray::try_new(Arc::clone(item), *size, child, nulls).unwrap())
        }
        DataType::Struct(fields) => {
            let children = fields
                .iter()
                .map(|f| {
                    random_array(
                        rng,
                        f.data_type(),
                        len,
                        if f.is_nullable() {
                            null_rate.min(0.5)
                        } else {
                            0.0
                        },
                    )
                })
                .collect();
            Arc::new(StructArray::try_new(fields.clone(), children, nulls).unwrap())
        }
        DataType::Dictionary(key, value) => {
            let values = random_array(rng, value, 5, 0.0);
            let keys: Vec<Option<i64>> = (0..len)
                .map(|i| valid(i).then(|| rng.random_range(0..5)))
                .collect();
            let keys = cast(&arrow::array::Int64Array::from(keys), key).unwrap();
            let data = ArrayDataBuilder::new(data_type.clone())
                .len(len)
                .add_buffer(keys.to_data().buffers()[0].clone())
                .nulls(keys.nulls().cloned())
                .add_child_data(values.to_data())
                .build()
                .unwrap();
            make_array(data)
        }
        t => {
            let width = t.primitive_width().expect("fixed-width type");
            let mut bytes: Vec<u8> = (0..len * width).map(|_| rng.random()).collect();
            if matches!(t, DataType::Decimal32(..) | DataType::Decimal64(..)) {
                // Keep decimals inside their precision: small values only.
                for chunk in bytes.chunks_mut(width) {
                    chunk.fill(0);
                    chunk[0] = rng.random_range(0..100);
                }
            }
            // Copy into an Arrow-allocated (64-byte aligned) buffer.
            let mut aligned = MutableBuffer::from_len_zeroed(bytes.len());
            aligned.as_slice_mut().copy_from_slice(&bytes);
            let data = ArrayDataBuilder::new(t.clone())
                .len(len)
                .add_buffer(Buffer::from(aligned))
                .nulls(nulls)
                .build()
                .unwrap();
            make_array(data)
        }
    }
}

/// A random schema of `ncols` columns drawn from [`storable_types`].
pub fn random_schema(rng: &mut SmallRng, ncols: usize) -> SchemaRef {
    let types = storable_types();
    let fields: Vec<Field> = (0..ncols)
        .map(|i| {
            let t = types[rng.random_range(0..types.len())].clone();
            Field::new(format!("c{i}_{t}"), t, true)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// A random batch of `schema` with `len` rows and about `null_rate` nulls per column.
pub fn random_batch(
    rng: &mut SmallRng,
    schema: &SchemaRef,
    len: usize,
    null_rate: f64,
) -> RecordBatch {
    let columns = schema
        .fields()
        .iter()
        .map(|f| random_array(rng, f.data_type(), len, null_rate))
        .collect();
    RecordBatch::try_new(Arc::clone(schema), columns).unwrap()
}

/// `array` in the type a Quiver scan returns (strings as LargeUtf8, binaries as LargeBinary).
pub fn as_read_type(array: &ArrayRef) -> ArrayRef {
    match array.data_type() {
        DataType::Utf8 | DataType::Utf8View => cast(array, &DataType::LargeUtf8).unwrap(),
        DataType::Binary | DataType::BinaryView => cast(array, &DataType::LargeBinary).unwrap(),
        _ => Arc::clone(array),
    }
}

/// `batch` with every column cast to the type a Quiver scan returns (`schema`).
pub fn as_read_batch(batch: &RecordBatch, schema: &SchemaRef) -> RecordBatch {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Arc::clone(c)
            } else {
                cast(c, f.data_type())
                    .unwrap_or_else(|e| panic!("cast {} to {}: {e}", c.data_type(), f.data_type()))
            }
        })
        .collect();
    RecordBatch::try_new(Arc::clone(schema), columns).unwrap()
}

/// Concatenates batches (in the read schema).
pub fn concat(schema: &SchemaRef, batches: &[RecordBatch]) -> RecordBatch {
    concat_batches(schema, batches).unwrap()
}

/// Asserts two batches hold the same values, column by column, naming the first difference.
pub fn assert_batches_equal(got: &RecordBatch, want: &RecordBatch, context: &str) {
    assert_eq!(got.num_rows(), want.num_rows(), "{context}: row count");
    assert_eq!(
        got.num_columns(),
        want.num_columns(),
        "{context}: column count"
    );
    for (i, (g, w)) in got.columns().iter().zip(want.columns()).enumerate() {
        assert_eq!(g.data_type(), w.data_type(), "{context}: column {i} type");
        assert_eq!(
            g.null_count(),
            w.null_count(),
            "{context}: column {i} null count"
        );
        if g.to_data() != w.to_data() {
            for row in 0..g.len() {
                let (gs, ws) = (g.slice(row, 1), w.slice(row, 1));
                assert_eq!(
                    gs.to_data(),
                    ws.to_data(),
                    "{context}: column {i} ({}) differs first at row {row}",
                    g.data_type()
                );
            }
            panic!("{context}: column {i} differs");
        }
    }
}

/// The files of a table directory (without the lock file), sorted.
pub fn table_files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with(".quiver-"))
        .collect();
    v.sort();
    v
}

/// `rows` rows of `id: Int64` (0, 1, ...) and a nullable `name: Utf8` ("näme-{i}", null for
/// every third row): the small two-column table several tests build on.
pub fn id_name_batch(rows: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(arrow::array::Int64Array::from_iter_values(0..rows)),
            Arc::new(StringArray::from_iter(
                (0..rows).map(|i| (i % 3 != 0).then(|| format!("näme-{i}"))),
            )),
        ],
    )
    .unwrap()
}

/// The sum of metric `name` over every operator of `plan`.
#[cfg(feature = "sql")]
pub fn plan_metric(plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>, name: &str) -> usize {
    let own = plan
        .metrics()
        .and_then(|m| m.sum_by_name(name))
        .map_or(0, |v| v.as_usize());
    own + plan
        .children()
        .into_iter()
        .map(|c| plan_metric(c, name))
        .sum::<usize>()
}

/// Commits `piece` to the table at `dir` with `options`: creating the table (with the piece's
/// schema) when `first`, appending otherwise.
pub fn commit_piece(
    dir: &std::path::Path,
    first: bool,
    piece: &RecordBatch,
    options: quiver_store::WriteOptions,
) {
    let mut w = if first {
        quiver_store::TableWriter::create_with(dir, piece.schema(), options).unwrap()
    } else {
        quiver_store::TableWriter::append_with(dir, options).unwrap()
    };
    w.write(piece).unwrap();
    w.commit().unwrap();
}

/// Writes `data` as a Quiver table at `dir` in random pieces (one empty piece when `data` has no
/// rows), each with a random segment size from `segment_rows` and zone size from `zone_rows`.
/// The first piece creates the table with a random encoding (which the table keeps for later
/// pieces) and, when given, the clustering key `sort_by`.
pub fn write_in_random_pieces(
    rng: &mut SmallRng,
    dir: &std::path::Path,
    data: &RecordBatch,
    segment_rows: std::ops::Range<usize>,
    zone_rows: std::ops::Range<usize>,
    sort_by: Option<Vec<String>>,
) {
    let mut offset = 0;
    let mut first = true;
    while offset < data.num_rows() || first {
        let len = match data.num_rows() - offset {
            0 => 0,
            left => rng.random_range(1..=left),
        };
        let mut options = quiver_store::WriteOptions::default()
            .with_segment_rows(rng.random_range(segment_rows.clone()))
            .with_zone_rows(rng.random_range(zone_rows.clone()));
        if first {
            if let Some(keys) = &sort_by {
                options = options.with_sort_by(keys.clone());
            }
            options = options.with_encoding(random_encoding(rng));
        }
        commit_piece(dir, first, &data.slice(offset, len), options);
        offset += len;
        first = false;
    }
}

/// Writes `batches` with `options`, reopens, and checks scan (several batch sizes and row
/// ranges, projections) and take (random order with repeats) against the input. Returns the
/// reopened table.
pub fn check_round_trip(
    seed: u64,
    batches: &[RecordBatch],
    options: quiver_store::WriteOptions,
) -> quiver_store::Table {
    let dir = tempfile::tempdir().unwrap();
    let schema = batches[0].schema();
    let mut w =
        quiver_store::TableWriter::create_with(dir.path(), Arc::clone(&schema), options).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    assert_eq!(w.commit().unwrap(), 1);

    let table = quiver_store::Table::open(dir.path()).unwrap();
    let read_schema = table.schema();
    assert_eq!(table.source_schema(), schema, "seed {seed}: source schema");
    let want: Vec<RecordBatch> = batches
        .iter()
        .map(|b| as_read_batch(b, &read_schema))
        .collect();
    let want = concat(&read_schema, &want);
    assert_eq!(table.num_rows(), want.num_rows() as u64, "seed {seed}");

    let mut rng = rng(seed ^ 0x5eed);
    for batch_size in [1usize, 7, 65_536] {
        let got: Vec<RecordBatch> = table
            .scan_with(quiver_store::ScanOptions::default().with_batch_size(batch_size))
            .unwrap()
            .collect::<quiver_store::Result<_>>()
            .unwrap();
        assert!(got.iter().all(|b| b.num_rows() <= batch_size));
        let got = concat(&read_schema, &got);
        assert_batches_equal(
            &got,
            &want,
            &format!("seed {seed}, scan batch size {batch_size}"),
        );
    }

    let n = want.num_rows() as u64;
    if n > 0 {
        let start = rng.random_range(0..n);
        let end = rng.random_range(start..=n);
        let ncols = read_schema.fields().len();
        let projection: Vec<usize> = (0..ncols).rev().step_by(2).collect();
        let got: Vec<RecordBatch> = table
            .scan_with(
                quiver_store::ScanOptions::default()
                    .with_row_range(start..end)
                    .with_projection(projection.clone())
                    .with_batch_size(13),
            )
            .unwrap()
            .collect::<quiver_store::Result<_>>()
            .unwrap();
        let projected_schema = Arc::new(read_schema.project(&projection).unwrap());
        let got = concat(&projected_schema, &got);
        let expect = want
            .slice(start as usize, (end - start) as usize)
            .project(&projection)
            .unwrap();
        assert_batches_equal(&got, &expect, &format!("seed {seed}, rows {start}..{end}"));

        let rows: Vec<u64> = (0..rng.random_range(1..200))
            .map(|_| rng.random_range(0..n))
            .collect();
        let mut rows_with_repeats = rows.clone();
        rows_with_repeats.extend_from_slice(&rows[..rows.len() / 2]);
        let got = table.take(&rows_with_repeats).unwrap();
        let expect = arrow::compute::take_record_batch(
            &want,
            &arrow::array::UInt64Array::from(rows_with_repeats.clone()),
        )
        .unwrap();
        assert_batches_equal(&got, &expect, &format!("seed {seed}, take"));
    }
    let err = table.take(&[n]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("row {n} is out of range: the table has {n} rows")
    );
    table
}

/// A random table-wide column encoding (raw, dict, packed, delta, zstd, compact or auto), for differential
/// tests that must hold over every storage.
pub fn random_encoding(rng: &mut SmallRng) -> quiver_store::EncodingSpec {
    use quiver_store::EncodingChoice::*;
    let choices = [Raw, Dictionary, Packed, Delta, Zstd, Compact, Auto];
    quiver_store::EncodingSpec::all(choices[rng.random_range(0..choices.len())])
}
