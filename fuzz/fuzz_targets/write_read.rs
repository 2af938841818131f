//! Write -> read round trip of batches shaped by the input: column types, null patterns,
//! values, batch and segment sizes, the bag threshold and the column encoding (raw, dict,
//! packed, zstd, compact) all come from the bytes. What is
//! read back (scan and take) must equal what was written.
#![no_main]

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow::compute::{cast, concat_batches, take_record_batch};
use arrow::datatypes::{DataType, Field, Schema};
use libfuzzer_sys::fuzz_target;
use quiver_store::{Table, TableWriter, WriteOptions};

/// Reads the input a few bytes at a time; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
        self.0 = rest;
        first
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
}

fn column(input: &mut Input<'_>, kind: u8, rows: usize) -> ArrayRef {
    // Nulls: none, every row, or where the input says.
    let mode = input.byte() % 4;
    let mut valid = |_: usize| match mode {
        0 => true,
        1 => false,
        2 => input.byte() < 8, // mostly null: sparse
        _ => input.byte() % 2 == 0,
    };
    let valid: Vec<bool> = (0..rows).map(&mut valid).collect();
    match kind % 5 {
        0 => Arc::new(Int64Array::from_iter(
            (0..rows).map(|i| valid[i].then(|| input.u16() as i64 - 30_000)),
        )),
        1 => Arc::new(Float64Array::from_iter(
            (0..rows).map(|i| valid[i].then(|| input.u16() as f64 / 7.0)),
        )),
        2 => Arc::new(StringArray::from_iter((0..rows).map(|i| {
            valid[i].then(|| {
                let len = (input.byte() % 12) as usize;
                (0..len)
                    .map(|_| ['a', 'é', '🦀', ' '][(input.byte() % 4) as usize])
                    .collect::<String>()
            })
        }))),
        3 => Arc::new(BooleanArray::from_iter(
            (0..rows).map(|i| valid[i].then(|| input.byte() % 2 == 0)),
        )),
        _ => Arc::new(Int32Array::from_iter(
            (0..rows).map(|i| valid[i].then(|| input.u16() as i32)),
        )),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let ncols = 1 + (input.byte() % 5) as usize;
    let kinds: Vec<u8> = (0..ncols).map(|_| input.byte()).collect();
    let fields: Vec<Field> = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let t = [
                DataType::Int64,
                DataType::Float64,
                DataType::Utf8,
                DataType::Boolean,
                DataType::Int32,
            ][(k % 5) as usize]
                .clone();
            Field::new(format!("c{i}"), t, true)
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let options = WriteOptions::default()
        .with_segment_rows(1 + (input.byte() % 64) as usize)
        .with_zone_rows(1 + (input.byte() % 16) as usize)
        .with_bag_threshold([0.0, 0.05, 0.5, 1.0][(input.byte() % 4) as usize])
        .with_encoding(quiver_store::EncodingSpec::all(
            [
                quiver_store::EncodingChoice::Raw,
                quiver_store::EncodingChoice::Dictionary,
                quiver_store::EncodingChoice::Packed,
                quiver_store::EncodingChoice::Delta,
                quiver_store::EncodingChoice::Zstd,
                quiver_store::EncodingChoice::Compact,
            ][(input.byte() % 6) as usize],
        ));
    let mut batches = Vec::new();
    for _ in 0..1 + input.byte() % 3 {
        let rows = (input.byte() % 100) as usize;
        let columns = kinds.iter().map(|&k| column(&mut input, k, rows)).collect();
        batches.push(RecordBatch::try_new(Arc::clone(&schema), columns).unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let mut w = TableWriter::create_with(dir.path(), Arc::clone(&schema), options).unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.commit().unwrap();

    let table = Table::open(dir.path()).unwrap();
    table.verify().unwrap();
    let read_schema = table.schema();
    let want = concat_batches(&schema, &batches).unwrap();
    let want_columns: Vec<ArrayRef> = want
        .columns()
        .iter()
        .zip(read_schema.fields())
        .map(|(c, f)| cast(c, f.data_type()).unwrap())
        .collect();
    let want = RecordBatch::try_new(Arc::clone(&read_schema), want_columns).unwrap();
    let got: Vec<RecordBatch> = table
        .scan()
        .unwrap()
        .collect::<quiver_store::Result<_>>()
        .unwrap();
    let got = concat_batches(&read_schema, &got).unwrap();
    assert_eq!(got, want);
    let n = want.num_rows() as u64;
    if n > 0 {
        let rows: Vec<u64> = (0..8).map(|i| (input.u16() as u64 + i) % n).collect();
        let taken = table.take(&rows).unwrap();
        let indices = arrow::array::UInt64Array::from(rows);
        assert_eq!(taken, take_record_batch(&want, &indices).unwrap());
        assert_eq!(taken.column(0).len(), 8);
    }
});
