//! Tables whose columns are each stored under a different encoding, and damage confined to
//! one zstd block: for tests that show what a read decodes.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use quiver_store::{EncodingSpec, Table, TableWriter, WriteOptions};

/// Rows of `id` (ascending where not null, so zone statistics order it), `mode` (four
/// values) and `note` (distinct text): one column for each encoding.
pub fn three_encodings_batch(rows: i64) -> RecordBatch {
    let ids = Int64Array::from_iter((0..rows).map(|i| (i % 9 != 0).then_some(7 * i - 3)));
    let modes: StringArray = (0..rows)
        .map(|i| (i % 13 != 0).then(|| ["AIR", "MAIL", "RAIL", "SHIP"][i as usize % 4]))
        .collect();
    let notes: StringArray = (0..rows)
        .map(|i| (i % 7 != 0).then(|| format!("note {i} about {}", i * 31 % 977)))
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("mode", DataType::Utf8, true),
        Field::new("note", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![Arc::new(ids), Arc::new(modes), Arc::new(notes)],
    )
    .unwrap()
}

/// `batch` written as one segment of zones of `zone_rows` rows under encoding `spec`.
pub fn write_one_segment(dir: &std::path::Path, batch: &RecordBatch, zone_rows: usize, spec: &str) {
    let options = WriteOptions::default()
        .with_segment_rows(batch.num_rows())
        .with_zone_rows(zone_rows)
        .with_encoding(EncodingSpec::parse(spec).unwrap());
    let mut w = TableWriter::create_with(dir, batch.schema(), options).unwrap();
    w.write(batch).unwrap();
    w.commit().unwrap();
}

/// Flips a bit of the size header of the last zstd block of column `column` of the table at
/// `dir` (one segment), so that only that block fails to decode.
pub fn damage_last_block(dir: &std::path::Path, column: usize) {
    let table = Table::open(dir).unwrap();
    let file = table.segments()[0].file();
    let meta = &file.footer().columns[column];
    assert!(meta.encoding.is_some());
    let data = meta.regions.data.unwrap();
    let ends = file.region(meta.regions.offsets.unwrap());
    let blocks = ends.len() / 8;
    let last_start =
        u64::from_le_bytes(ends[8 * (blocks - 2)..8 * (blocks - 1)].try_into().unwrap());
    let path = file.path().to_path_buf();
    drop(table);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[(data.offset + last_start) as usize] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
}
