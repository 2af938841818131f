//! Zero-copy is proven, not assumed: scanned arrays' buffers lie inside the segment mapping,
//! and a string column's offsets region is byte-identical to the seed convention (cumulative
//! end offsets, no leading zero) with the Arrow offsets buffer starting 8 bytes before it.

use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use quiver_store::{Table, TableWriter};

fn write_table(dir: &std::path::Path) -> Table {
    let schema = Arc::new(Schema::new(vec![
        Field::new("i", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("b", DataType::Boolean, false),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from(vec![Some(1), None, Some(3), Some(4)])),
            Arc::new(StringArray::from(vec![
                Some("ab"),
                None,
                Some(""),
                Some("héllo"),
            ])),
            Arc::new(BooleanArray::from(vec![true, false, true, true])),
        ],
    )
    .unwrap();
    let mut w = TableWriter::create(dir, schema).unwrap();
    w.write(&batch).unwrap();
    w.commit().unwrap();
    Table::open(dir).unwrap()
}

#[test]
fn scanned_values_offsets_and_validity_buffers_point_into_the_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let table = write_table(dir.path());
    let mapping = table.segments()[0].mapping_range();
    let batch = table.scan().unwrap().next().unwrap().unwrap();
    let mut checked = 0;
    for column in batch.columns() {
        let data = column.to_data();
        let mut pointers: Vec<usize> = data.buffers().iter().map(|b| b.as_ptr() as usize).collect();
        if let Some(nulls) = data.nulls() {
            pointers.push(nulls.buffer().as_ptr() as usize);
        }
        if let Some(b) = column.as_boolean_opt() {
            pointers.push(b.values().values().as_ptr() as usize);
        }
        for p in pointers {
            assert!(
                mapping.contains(&p),
                "{} buffer at {p:#x} is outside the mapping {mapping:x?}",
                column.data_type()
            );
            checked += 1;
        }
    }
    // i: values + validity; s: offsets + values + validity; b: values (twice: data and view).
    assert_eq!(checked, 7);
}

#[test]
fn string_offsets_region_is_the_seed_layout_and_arrow_offsets_start_8_bytes_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let table = write_table(dir.path());
    let segment = &table.segments()[0];
    let meta = &segment.file().footer().columns[1];
    let offsets = meta.regions.offsets.unwrap();
    let region = segment.file().region(offsets);
    // "ab", null (repeats the previous end), "", "héllo" (6 bytes): cumulative ends 2, 2, 2, 8.
    let expected: Vec<u8> = [2u64, 2, 2, 8]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(
        region,
        &expected[..],
        "no leading zero, cumulative end offsets, little-endian"
    );
    let file = std::fs::read(segment.file().path()).unwrap();
    let at = offsets.offset as usize;
    assert_eq!(
        &file[at - 8..at],
        &[0u8; 8],
        "zero prefix before the offsets region"
    );

    let array = segment.column(1).unwrap();
    let strings = array.as_string::<i64>();
    let arrow_offsets = strings.offsets().inner().inner().as_ptr() as usize;
    assert_eq!(arrow_offsets, segment.mapping_range().start + at - 8);
    assert_eq!(strings.value(3), "héllo");
    assert!(strings.is_null(1));
}

#[test]
fn each_scanned_buffer_owns_only_its_region_so_memory_accounting_charges_the_column_not_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let table = write_table(dir.path());
    let file_len = std::fs::metadata(dir.path().join(&table.manifest().segments[0].name))
        .unwrap()
        .len() as usize;
    let batch = table.scan().unwrap().next().unwrap().unwrap();
    for column in batch.columns() {
        for buffer in column.to_data().buffers() {
            // A region is at most its rows' bytes plus padding to 64 (plus 8 for offsets).
            assert!(
                buffer.capacity() <= 128,
                "a {} buffer reports capacity {} (the file is {file_len} bytes)",
                column.data_type(),
                buffer.capacity()
            );
        }
        // What DataFusion charges a batch for: the column's own bytes.
        assert!(
            column.get_array_memory_size() < file_len,
            "{}",
            column.data_type()
        );
    }
}

/// What DataFusion's memory pool charges a batch: every distinct allocation its arrays
/// reference, at its capacity, once (as `get_record_batch_memory_size` counts).
fn charged_bytes(columns: &[arrow::array::ArrayRef]) -> usize {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    for column in columns {
        let data = column.to_data();
        let nulls = data.nulls().map(|n| n.buffer().clone());
        for buffer in data.buffers().iter().chain(nulls.iter()) {
            if seen.insert(buffer.data_ptr()) {
                total += buffer.capacity();
            }
        }
    }
    total
}

#[test]
fn a_zone_read_from_a_segment_is_charged_its_own_rows_not_the_whole_column() {
    use arrow::array::Decimal128Array;
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("i", DataType::Int64, true),
        Field::new("d", DataType::Decimal128(15, 2), false),
        Field::new("b", DataType::Boolean, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let rows = 40_000;
    let text = |i: usize| format!("{i:08} a value long enough not to be inlined in its view");
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from_iter(
                (0..rows as i64).map(|i| (i % 5 != 0).then_some(i)),
            )),
            Arc::new(
                Decimal128Array::from_iter_values(0..rows as i128)
                    .with_precision_and_scale(15, 2)
                    .unwrap(),
            ),
            Arc::new(BooleanArray::from_iter(
                (0..rows).map(|i| (i % 3 != 0).then_some(i % 2 == 0)),
            )),
            Arc::new(StringArray::from_iter(
                (0..rows).map(|i| (i % 7 != 0).then(|| text(i))),
            )),
        ],
    )
    .unwrap();
    let options = quiver_store::WriteOptions::default().with_zone_rows(4_000);
    let mut w = TableWriter::create_with(dir.path(), Arc::clone(&schema), options).unwrap();
    w.write(&batch).unwrap();
    w.commit().unwrap();
    let table = Table::open(dir.path()).unwrap();
    let segment = &table.segments()[0];
    let columns = [(0, false), (1, false), (2, false), (3, true)];
    let whole = segment.read_range(&columns, 0..rows).unwrap();
    let whole_charge = charged_bytes(&whole);
    for zone in [0, 3, 9] {
        let range = segment.zone_range(zone);
        let arrays = segment.read_range(&columns, range.clone()).unwrap();
        // The rows' own bytes: 8 + 16 per row of values, 16-byte views and the strings, the
        // booleans' and three validity bitmaps; plus a little for partial bytes.
        let string_bytes: usize = range
            .clone()
            .filter(|i| i % 7 != 0)
            .map(|i| text(i).len())
            .sum();
        let own = range.len() * (8 + 16 + 16) + string_bytes + range.len() * 4 / 8 + 64;
        let charge = charged_bytes(&arrays);
        assert!(
            charge <= own,
            "zone {zone}: charged {charge}, its rows hold {own}"
        );
        assert!(
            charge * 5 < whole_charge,
            "zone {zone}: {charge} of {whole_charge}"
        );
        // Same values, still zero-copy: the strings' bytes are the mapping's.
        for (array, full) in arrays.iter().zip(&whole) {
            assert_eq!(
                array.as_ref(),
                full.slice(range.start, range.len()).as_ref()
            );
            array.to_data().validate_full().unwrap();
        }
        let views = arrays[3].as_string_view();
        let mapped = segment.mapping_range();
        let blocks = views.data_buffers().iter().filter(|b| !b.is_empty());
        assert_eq!(
            blocks.clone().count(),
            1,
            "zone {zone} uses its own block only"
        );
        for buffer in blocks {
            assert!(
                mapped.contains(&(buffer.as_ptr() as usize)),
                "a block off the mapping"
            );
        }
    }
}
