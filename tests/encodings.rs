//! Encoded columns (format v3) read back exactly what the raw layout does: every stored type
//! under every encoding choice (`dict`, `packed`, `delta`, `zstd`, `compact`, `auto`), null
//! rates of 0%, some and 100%, low and high cardinality, values at the edges of every bit
//! width, sorted columns, all-equal columns and dictionaries of 2^16+ values, through scans
//! (batch sizes, row ranges, projections), `take`, `verify` and reopening; the choice is
//! remembered by the table; a flipped byte in any encoded region is caught by `verify` and
//! never panics a read.

mod common;

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Decimal128Array, Int16Array, Int32Array, Int64Array, Int8Array, RecordBatch,
    StringArray, UInt32Array, UInt64Array, UInt8Array,
};
use arrow::datatypes::{DataType, Field, Schema};
use common::encoded::*;
use common::*;
use quiver_store::{EncodingChoice, EncodingSpec, Table, TableWriter, WriteOptions};
use rand::Rng;

const CHOICES: [EncodingChoice; 6] = [
    EncodingChoice::Dictionary,
    EncodingChoice::Packed,
    EncodingChoice::Delta,
    EncodingChoice::Zstd,
    EncodingChoice::Compact,
    EncodingChoice::Auto,
];

/// `array` with its values drawn from only `distinct` of its rows (low cardinality).
fn few_distinct(rng: &mut rand::rngs::SmallRng, array: &ArrayRef, distinct: usize) -> ArrayRef {
    if array.is_empty() {
        return Arc::clone(array);
    }
    let pool = distinct.min(array.len()) as u32;
    let picks: Vec<u32> = (0..array.len())
        .map(|_| rng.random_range(0..pool))
        .collect();
    arrow::compute::take(array.as_ref(), &UInt32Array::from(picks), None).unwrap()
}

/// A batch of `arrays` as nullable columns `c0`, `c1`, ...
fn numbered_columns(arrays: Vec<ArrayRef>) -> RecordBatch {
    let fields: Vec<Field> = arrays
        .iter()
        .enumerate()
        .map(|(i, a)| Field::new(format!("c{i}"), a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

/// Encodings used by the table's segments, over all columns.
fn encodings_used(table: &Table) -> Vec<String> {
    table
        .segments()
        .iter()
        .flat_map(|s| (0..table.schema().fields().len()).filter_map(|c| s.column_storage(c)))
        .map(|(e, ..)| e)
        .filter(|e| e != "raw")
        .collect()
}

#[test]
fn every_storable_type_round_trips_under_every_encoding_choice() {
    let mut encoded = 0;
    for (i, t) in storable_types().into_iter().enumerate() {
        for (j, choice) in CHOICES.into_iter().enumerate() {
            for null_rate in [0.0, 0.3, 1.0] {
                let seed = (i * 100 + j * 10) as u64 + (null_rate * 3.0) as u64;
                let mut rng = rng(seed);
                let schema = Arc::new(Schema::new(vec![
                    Field::new("v", t.clone(), true),
                    Field::new("low", t.clone(), true),
                ]));
                let batches: Vec<RecordBatch> = [300usize, 0, 77]
                    .iter()
                    .map(|&len| {
                        let v = random_array(&mut rng, &t, len, null_rate);
                        let low = random_array(&mut rng, &t, len, null_rate);
                        let low = few_distinct(&mut rng, &low, 3);
                        RecordBatch::try_new(Arc::clone(&schema), vec![v, low]).unwrap()
                    })
                    .collect();
                let options = WriteOptions::default()
                    .with_segment_rows([64usize, 1000][seed as usize % 2])
                    .with_zone_rows(10)
                    .with_encoding(EncodingSpec::all(choice));
                let table = check_round_trip(seed, &batches, options);
                table.verify().unwrap();
                encoded += encodings_used(&table).len();
            }
        }
    }
    assert!(encoded > 200, "only {encoded} encoded column segments");
}

#[test]
fn random_schemas_round_trip_encoded_as_they_do_raw() {
    for seed in 0..24u64 {
        let mut rng = rng(7000 + seed);
        let ncols = rng.random_range(1..10);
        let schema = random_schema(&mut rng, ncols);
        let null_rate = [0.0, 0.1, 0.5, 1.0][seed as usize % 4];
        let distinct = [1usize, 2, 40, 100_000][seed as usize % 4];
        let batches: Vec<RecordBatch> = (0..rng.random_range(1..4))
            .map(|_| {
                let len = rng.random_range(0..400);
                let batch = random_batch(&mut rng, &schema, len, null_rate);
                let columns = batch
                    .columns()
                    .iter()
                    .map(|c| few_distinct(&mut rng, c, distinct))
                    .collect();
                RecordBatch::try_new(Arc::clone(&schema), columns).unwrap()
            })
            .collect();
        let choice = CHOICES[seed as usize % CHOICES.len()];
        let options = WriteOptions::default()
            .with_segment_rows([1usize, 37, 1000][seed as usize % 3])
            .with_zone_rows(16)
            .with_encoding(EncodingSpec::all(choice));
        check_round_trip(seed, &batches, options).verify().unwrap();
    }
}

/// Each integer type's extremes, zero and neighbours, in one column: packing must use the full
/// width of the range and give every value back.
#[test]
fn values_at_the_edges_of_every_width_survive_packing() {
    fn edges<T: Copy>(min: T, max: T, zero: T, one: T) -> Vec<Option<T>> {
        vec![
            Some(min),
            Some(max),
            Some(zero),
            None,
            Some(one),
            Some(max),
            Some(min),
        ]
    }
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(Int8Array::from(edges(i8::MIN, i8::MAX, 0, 1))),
        Arc::new(Int16Array::from(edges(i16::MIN, i16::MAX, 0, -1))),
        Arc::new(Int32Array::from(edges(i32::MIN, i32::MAX, 0, 1))),
        Arc::new(Int64Array::from(edges(i64::MIN, i64::MAX, 0, -1))),
        Arc::new(UInt8Array::from(edges(0, u8::MAX, 1, 2))),
        Arc::new(UInt64Array::from(edges(0, u64::MAX, 1, u64::MAX - 1))),
        Arc::new(
            Decimal128Array::from(edges(-999_999_999_999_999i128, 999_999_999_999_999, 0, 1))
                .with_precision_and_scale(15, 2)
                .unwrap(),
        ),
        // A range of exactly 2^64 - 1 in a 128-bit type: the widest that packs.
        Arc::new(
            Decimal128Array::from(edges(i64::MIN as i128, i64::MAX as i128, 0, 1))
                .with_precision_and_scale(38, 0)
                .unwrap(),
        ),
        // One value, many times: zero-bit packing.
        Arc::new(Int32Array::from(vec![Some(-42); 7])),
    ];
    let batch = numbered_columns(arrays);
    let options = WriteOptions::default().with_encoding(EncodingSpec::all(EncodingChoice::Packed));
    let table = check_round_trip(1, &[batch], options);
    table.verify().unwrap();
    let used = encodings_used(&table);
    assert_eq!(used.len(), 9, "{used:?}");
    for (c, want) in [(0, 8), (3, 64), (5, 64), (7, 64), (8, 0)] {
        let (e, ..) = table.segments()[0].column_storage(c).unwrap();
        assert_eq!(e, format!("packed {want}-bit"), "column {c}");
    }
}

/// Sorted integer columns of every width, spanning up to their type's whole range (steps of 0
/// up to most of it), with nulls anywhere, over several 1,024-row delta blocks, zones of
/// 700 rows and segments of 2,000: stored as deltas under `delta` and `compact`, they read back
/// exactly (scans of every batch size and row range, projections, takes) and verify.
#[test]
fn sorted_integer_columns_are_stored_as_deltas_and_read_back_exactly() {
    let rows = 5_000usize;
    let mut rng = rng(77);
    let mut sorted = |lo: i128, hi: i128, null_rate: f64| -> Vec<Option<i128>> {
        let mut values: Vec<i128> = (0..rows - 2)
            .map(|i| match i % 50 {
                // Runs of equal values, and values near either end.
                0 => lo,
                1 => hi,
                _ => rng.random_range(lo..=hi),
            })
            .chain([lo, hi])
            .collect();
        values.sort_unstable();
        values
            .into_iter()
            .map(|v| (!rng.random_bool(null_rate)).then_some(v))
            .collect()
    };
    fn cast<T>(values: &[Option<i128>], f: impl Fn(i128) -> T) -> Vec<Option<T>> {
        values.iter().map(|v| v.map(&f)).collect()
    }
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(Int8Array::from(cast(&sorted(-128, 127, 0.0), |v| v as i8))),
        Arc::new(Int16Array::from(cast(&sorted(-300, 9_000, 0.2), |v| {
            v as i16
        }))),
        Arc::new(Int32Array::from(cast(&sorted(0, 40, 0.5), |v| v as i32))),
        Arc::new(Int64Array::from(cast(
            &sorted(i64::MIN.into(), i64::MAX.into(), 0.1),
            |v| v as i64,
        ))),
        Arc::new(UInt64Array::from(cast(
            &sorted(0, u64::MAX.into(), 0.0),
            |v| v as u64,
        ))),
        Arc::new(
            Decimal128Array::from(sorted(-999_999_999_999_999, 999_999_999_999_999, 0.3))
                .with_precision_and_scale(15, 2)
                .unwrap(),
        ),
    ];
    let batch = numbered_columns(arrays);
    for (seed, choice) in [(5, EncodingChoice::Delta), (6, EncodingChoice::Compact)] {
        let options = WriteOptions::default()
            .with_segment_rows(2_000)
            .with_zone_rows(700)
            .with_encoding(EncodingSpec::all(choice));
        let table = check_round_trip(seed, std::slice::from_ref(&batch), options);
        table.verify().unwrap();
        let used = encodings_used(&table);
        assert_eq!(used.len(), 6 * 3, "{choice:?}: {used:?}");
        assert!(
            used.iter().all(|e| e.starts_with("delta")),
            "{choice:?}: {used:?}"
        );
    }
    // A column that decreases somewhere is not delta-encoded, even when asked.
    let unsorted = Int64Array::from(vec![3i64, 9, 4]);
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    let batch = RecordBatch::try_new(schema, vec![Arc::new(unsorted)]).unwrap();
    let options = WriteOptions::default().with_encoding(EncodingSpec::all(EncodingChoice::Delta));
    let table = check_round_trip(7, &[batch], options);
    assert_eq!(table.segments()[0].column_storage(0).unwrap().0, "raw");
}

#[test]
fn high_cardinality_text_is_stored_in_zstd_blocks_under_compact_and_reads_back() {
    let rows = 10_000;
    let text: Vec<Option<String>> = (0..rows)
        .map(|i| {
            (i % 11 != 0).then(|| format!("comment {i}: the quick brown fox é {}", i * 7919 % 1000))
        })
        .collect();
    let schema = Arc::new(Schema::new(vec![Field::new("t", DataType::Utf8, true)]));
    let batch =
        RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(StringArray::from(text))]).unwrap();
    let options = WriteOptions::default()
        .with_segment_rows(6_000)
        .with_zone_rows(1_000)
        .with_encoding(EncodingSpec::all(EncodingChoice::Compact));
    let table = check_round_trip(3, &[batch], options);
    for s in table.segments() {
        let (encoding, stored, raw) = s.column_storage(0).unwrap();
        assert_eq!(encoding, "zstd 4096-row blocks");
        assert!(stored * 3 < raw, "{stored} vs {raw}");
    }
    table.verify().unwrap();
}

#[test]
fn dictionaries_of_more_than_65536_values_round_trip() {
    let rows = 200_000;
    let values: Vec<Option<String>> = (0..rows)
        .map(|i| (i % 17 != 0).then(|| format!("value-{}", i % 70_001)))
        .collect();
    let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(StringArray::from(values))],
    )
    .unwrap();
    let options = WriteOptions::default()
        .with_segment_rows(rows)
        .with_encoding(EncodingSpec::parse("s=dict").unwrap());
    let table = check_round_trip(2, &[batch], options);
    let (encoding, stored, raw) = table.segments()[0].column_storage(0).unwrap();
    assert!(encoding.starts_with("dict"), "{encoding}");
    let distinct: usize = encoding.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(distinct > 65_536, "{encoding}");
    assert!(stored < raw, "{stored} >= {raw}");
    table.verify().unwrap();
}

#[test]
fn the_encoding_is_remembered_for_appends_and_compact_tables_are_smaller() {
    let dir = tempfile::tempdir().unwrap();
    let batch = || {
        let ids = Int64Array::from_iter_values(0..50_000);
        let modes: StringArray = (0..50_000)
            .map(|i| Some(["AIR", "MAIL", "SHIP", "TRUCK"][i % 4]))
            .collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("mode", DataType::Utf8, false),
        ]));
        RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(modes)]).unwrap()
    };
    let options = WriteOptions::default().with_encoding(EncodingSpec::all(EncodingChoice::Auto));
    let mut w = TableWriter::create_with(dir.path(), batch().schema(), options).unwrap();
    w.write(&batch()).unwrap();
    w.commit().unwrap();
    // An append without its own choice follows the table's.
    let mut w = TableWriter::append(dir.path()).unwrap();
    w.write(&batch()).unwrap();
    w.commit().unwrap();
    let table = Table::open(dir.path()).unwrap();
    assert_eq!(table.segments().len(), 2);
    for s in table.segments() {
        let (id, stored_id, raw_id) = s.column_storage(0).unwrap();
        let (mode, stored_mode, raw_mode) = s.column_storage(1).unwrap();
        // Ascending ids, steps of 1: deltas of one bit (packed would take 16).
        assert_eq!(id, "delta 1-bit");
        assert_eq!(mode, "dict 4 values");
        assert!(stored_id * 3 < raw_id, "{stored_id} vs {raw_id}");
        assert!(stored_mode * 20 < raw_mode, "{stored_mode} vs {raw_mode}");
    }
    // `raw` given on an append becomes the table's choice from then on.
    let mut w = TableWriter::append_with(
        dir.path(),
        WriteOptions::default().with_encoding(EncodingSpec::default()),
    )
    .unwrap();
    w.write(&batch()).unwrap();
    w.commit().unwrap();
    let table = Table::open(dir.path()).unwrap();
    assert_eq!(table.segments()[2].column_storage(1).unwrap().0, "raw");
    table.verify().unwrap();
}

#[test]
fn every_byte_flip_in_an_encoded_region_is_caught_by_verify_and_never_panics_a_read() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 3_000i64;
    // Ascending ids (stored as deltas), unsorted amounts (packed), words (a dictionary).
    let ids = Int64Array::from_iter((0..rows).map(|i| (i % 7 != 0).then_some(1_000 + i * 3)));
    let amounts = Int64Array::from_iter((0..rows).map(|i| (i % 4 != 0).then_some(i * 37 % 1_001)));
    let words: StringArray = (0..rows)
        .map(|i| {
            (i % 5 != 0).then(|| ["alpha", "beta", "a longer value than twelve"][i as usize % 3])
        })
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("amount", DataType::Int64, true),
        Field::new("word", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![Arc::new(ids), Arc::new(amounts), Arc::new(words)];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
    let options = WriteOptions::default().with_encoding(EncodingSpec::all(EncodingChoice::Compact));
    let mut w = TableWriter::create_with(dir.path(), schema, options).unwrap();
    w.write(&batch).unwrap();
    w.commit().unwrap();
    let table = Table::open(dir.path()).unwrap();
    let storage: Vec<String> = (0..3)
        .map(|c| table.segments()[0].column_storage(c).unwrap().0)
        .collect();
    assert!(storage[0].starts_with("delta"), "{storage:?}");
    assert!(storage[1].starts_with("packed"), "{storage:?}");
    assert!(storage[2].starts_with("dict"), "{storage:?}");
    let file = table.segments()[0].file();
    let path = file.path().to_path_buf();
    let original = std::fs::read(&path).unwrap();
    // Every region of both encoded columns and of the dictionary.
    let regions: Vec<_> = file
        .footer()
        .columns
        .iter()
        .inspect(|c| assert!(c.encoding.is_some(), "{} is not encoded", c.def.name))
        .flat_map(|c| c.walk())
        .flat_map(|c| c.regions.named().map(|(_, r)| r).collect::<Vec<_>>())
        .collect();
    drop(table);
    let mut rng = rng(3);
    let mut flips = 0;
    for r in regions {
        for _ in 0..12 {
            if r.len == 0 {
                break;
            }
            let at = (r.offset + rng.random_range(0..r.len)) as usize;
            let mut bytes = original.clone();
            bytes[at] ^= 1 << rng.random_range(0..8);
            std::fs::write(&path, &bytes).unwrap();
            let table = Table::open(dir.path()).unwrap();
            let err = table.verify().unwrap_err();
            assert!(err.to_string().contains("checksum"), "byte {at}: {err}");
            // Reads see the flipped byte as data: they may return other values or an error,
            // never panic.
            let scanned: Vec<_> = table.scan().unwrap().collect();
            let _ = scanned;
            let _ = table.take(&[0, 1, 2_999]);
            flips += 1;
        }
    }
    std::fs::write(&path, &original).unwrap();
    Table::open(dir.path()).unwrap().verify().unwrap();
    assert!(flips > 60, "{flips} flips");
}

/// A `take` of a few rows from encoded columns decodes only what those rows need: with the
/// size header of the last zstd block damaged, rows of the first block still come back exactly
/// (and as from the raw layout), while a scan and a `take` of a row in the damaged block fail
/// naming the column.
#[test]
fn a_take_of_a_few_rows_decodes_only_their_values_and_blocks() {
    let rows = 50_000i64;
    let batch = three_encodings_batch(rows);
    let (raw_dir, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_one_segment(raw_dir.path(), &batch, rows as usize, "raw");
    write_one_segment(
        dir.path(),
        &batch,
        rows as usize,
        "id=packed,mode=dict,note=zstd",
    );
    let picks: Vec<u64> = vec![4_095, 0, 17, 1_000, 17, 3_003, 6];
    let raw = Table::open(raw_dir.path()).unwrap();
    let want = raw.take(&picks).unwrap();
    damage_last_block(dir.path(), 2);
    let table = Table::open(dir.path()).unwrap();
    let got = table.take(&picks).unwrap();
    assert_batches_equal(&got, &want, "take from the first block");
    let err = table.take(&[rows as u64 - 1]).unwrap_err().to_string();
    assert!(err.contains("column \"note\""), "{err}");
    let scan: Result<Vec<_>, _> = table.scan().unwrap().collect();
    let err = scan.unwrap_err().to_string();
    assert!(err.contains("column \"note\""), "{err}");
    assert!(table.verify().is_err());
}

/// Encoded columns are decoded a zone at a time: a scan of rows inside the first zones reads
/// them back exactly (as from the raw layout) although a block of the last zone is damaged,
/// in batches that start and end anywhere, as whole-zone batches, and as many-row takes; the
/// damaged zone fails naming the column.
#[test]
fn scans_decode_encoded_columns_one_zone_at_a_time() {
    let (rows, zone_rows) = (40_000i64, 8_192usize);
    let batch = three_encodings_batch(rows);
    let (raw_dir, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_one_segment(raw_dir.path(), &batch, zone_rows, "raw");
    write_one_segment(
        dir.path(),
        &batch,
        zone_rows,
        "id=packed,mode=dict,note=zstd",
    );
    damage_last_block(dir.path(), 2);
    let (raw, table) = (
        Table::open(raw_dir.path()).unwrap(),
        Table::open(dir.path()).unwrap(),
    );
    let healthy = 4 * zone_rows as u64;
    for (range, batch_size) in [
        (0..healthy, zone_rows),
        (100..healthy - 7, 1_000),
        (zone_rows as u64 - 5..zone_rows as u64 + 5, 3),
        (3 * zone_rows as u64..healthy, zone_rows),
    ] {
        let scan = |t: &Table| -> Vec<RecordBatch> {
            let options = quiver_store::ScanOptions::default()
                .with_row_range(range.clone())
                .with_batch_size(batch_size);
            t.scan_with(options).unwrap().map(|b| b.unwrap()).collect()
        };
        let (got, want) = (scan(&table), scan(&raw));
        assert_eq!(got.len(), want.len(), "{range:?}");
        for (g, w) in got.iter().zip(&want) {
            assert_batches_equal(g, w, &format!("rows {range:?} in batches of {batch_size}"));
        }
    }
    // A take of many rows of one zone (past the few-row gather) comes from that zone alone.
    let picks: Vec<u64> = (zone_rows as u64..2 * zone_rows as u64)
        .rev()
        .step_by(3)
        .collect();
    assert_batches_equal(
        &table.take(&picks).unwrap(),
        &raw.take(&picks).unwrap(),
        "take of one zone",
    );
    let options = quiver_store::ScanOptions::default().with_row_range(healthy..rows as u64);
    let scan: Result<Vec<_>, _> = table.scan_with(options).unwrap().collect();
    let err = scan.unwrap_err().to_string();
    assert!(err.contains("column \"note\""), "{err}");
}
