//! A scan exported through the Arrow C Stream interface, consumed the way a C program would —
//! through the struct's function pointers — hands over the mapping's own buffers (no copy),
//! values intact, and the buffers stay valid after the table is dropped, until released.
#![cfg(feature = "ffi")]

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StructArray};
use arrow::datatypes::Int64Type;
use arrow::ffi::{from_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use arrow::ffi_stream::FFI_ArrowArrayStream;
use quiver_store::{Table, TableWriter, WriteOptions};

mod common;

fn table(dir: &std::path::Path, rows: i64) {
    let batch = common::id_name_batch(rows);
    let schema = batch.schema();
    let options = WriteOptions::default().with_segment_rows(4_000);
    let mut w = TableWriter::create_with(dir, schema, options).unwrap();
    w.write(&batch).unwrap();
    w.commit().unwrap();
}

/// `stream->get_schema(stream, out)`, as a C consumer calls it.
fn get_schema(stream: &mut FFI_ArrowArrayStream, out: &mut FFI_ArrowSchema) -> i32 {
    let f = stream.get_schema.expect("a live stream has get_schema");
    // SAFETY: `stream` is a live stream made by `export_scan`; `out` is a valid, empty schema
    // struct the callee may overwrite.
    unsafe { f(stream, out) }
}

/// `stream->get_next(stream, out)`.
fn get_next(stream: &mut FFI_ArrowArrayStream, out: &mut FFI_ArrowArray) -> i32 {
    let f = stream.get_next.expect("a live stream has get_next");
    // SAFETY: as for `get_schema`; `out` is a valid, empty array struct.
    unsafe { f(stream, out) }
}

/// `stream->get_last_error(stream)` as a Rust string.
fn last_error(stream: &mut FFI_ArrowArrayStream) -> String {
    let f = stream
        .get_last_error
        .expect("a live stream has get_last_error");
    // SAFETY: as for `get_schema`; the callee returns null or a NUL-terminated string that
    // lives until the next call on the stream, and we copy it at once.
    unsafe {
        let p = f(stream);
        assert!(!p.is_null(), "an error must come with a message");
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

fn inside(ranges: &[Range<usize>], p: *const u8) -> bool {
    ranges.iter().any(|r| r.contains(&(p as usize)))
}

#[test]
fn a_c_consumer_gets_the_mappings_own_buffers_valid_after_the_table_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 10_000;
    table(dir.path(), rows);
    let t = Table::open(dir.path()).unwrap();
    let mappings: Vec<Range<usize>> = t.segments().iter().map(|s| s.mapping_range()).collect();
    assert_eq!(mappings.len(), 3);
    let mut stream = quiver_store::ffi::export_scan(t.scan().unwrap());
    drop(t); // the stream and the arrays it hands out keep the mappings alive

    let mut schema = FFI_ArrowSchema::empty();
    assert_eq!(get_schema(&mut stream, &mut schema), 0);
    let mut batches = Vec::new();
    loop {
        let mut array = FFI_ArrowArray::empty();
        assert_eq!(get_next(&mut stream, &mut array), 0);
        if array.is_released() {
            break; // end of stream
        }
        // A batch is a struct array: its children are the columns. Every data buffer of
        // every column points into a segment mapping.
        assert_eq!(array.num_children(), 2);
        let (ids, names) = (array.child(0), array.child(1));
        assert!(inside(&mappings, ids.buffer(1)), "id values were copied");
        assert!(
            inside(&mappings, names.buffer(0)),
            "name validity was copied"
        );
        assert!(
            inside(&mappings, names.buffer(1)),
            "name offsets were copied"
        );
        assert!(inside(&mappings, names.buffer(2)), "name bytes were copied");
        batches.push(array);
    }
    drop(stream); // releases the stream; the arrays are still ours
    assert_eq!(batches.len(), 3);

    // Import what the consumer holds and check every value, table long gone.
    let mut next_id = 0i64;
    for array in batches {
        // SAFETY: `array` and `schema` were filled by the stream's `get_next`/`get_schema`
        // (above), which produce valid C Data structs for each other; `from_ffi` takes
        // ownership of the array and releases it when the imported data is dropped.
        let data = unsafe { from_ffi(array, &schema) }.unwrap();
        let batch = RecordBatch::from(StructArray::from(data));
        let ids = batch.column(0).as_primitive::<Int64Type>();
        let names = batch.column(1).as_string::<i64>();
        for i in 0..batch.num_rows() {
            assert_eq!(ids.value(i), next_id);
            if next_id % 3 == 0 {
                assert!(names.is_null(i));
            } else {
                assert_eq!(names.value(i), format!("näme-{next_id}"));
            }
            next_id += 1;
        }
    }
    assert_eq!(next_id, rows);
}

#[test]
fn a_read_error_ends_the_stream_with_the_message() {
    let dir = tempfile::tempdir().unwrap();
    table(dir.path(), 100);
    let t = Table::open(dir.path()).unwrap();
    // Damage the string bytes of the only segment: the first use of the column fails.
    let seg = t.segments()[0].file();
    let data = seg.footer().columns[1].regions.data.unwrap();
    let path = seg.path().to_path_buf();
    drop(t);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[data.offset as usize + 1] = 0xff;
    std::fs::write(&path, bytes).unwrap();

    let t = Table::open(dir.path()).unwrap();
    let mut stream = quiver_store::ffi::export_scan(t.scan().unwrap());
    let mut array = FFI_ArrowArray::empty();
    assert_ne!(get_next(&mut stream, &mut array), 0);
    let message = last_error(&mut stream);
    assert!(message.contains("invalid UTF-8"), "{message}");
    assert!(message.contains(path.to_str().unwrap()), "{message}");
}

#[cfg(feature = "sql")]
#[test]
fn a_query_result_streams_through_the_c_interface() {
    let dir = tempfile::tempdir().unwrap();
    table(dir.path(), 10_000);
    let runtime = Arc::new(tokio::runtime::Runtime::new().unwrap());
    let session = quiver_store::sql::QuiverSession::new(Default::default());
    session.register_table("t", dir.path()).unwrap();
    let sql = "SELECT id, name FROM t WHERE id % 1000 = 7 ORDER BY id";
    let mut stream = quiver_store::ffi::export_query(&session, sql, Arc::clone(&runtime)).unwrap();
    let mut schema = FFI_ArrowSchema::empty();
    assert_eq!(get_schema(&mut stream, &mut schema), 0);
    let mut ids = Vec::new();
    loop {
        let mut array = FFI_ArrowArray::empty();
        assert_eq!(get_next(&mut stream, &mut array), 0);
        if array.is_released() {
            break;
        }
        // SAFETY: filled by the stream's `get_next` to match the schema from `get_schema`.
        let data = unsafe { from_ffi(array, &schema) }.unwrap();
        let batch = RecordBatch::from(StructArray::from(data));
        ids.extend(
            batch
                .column(0)
                .as_primitive::<Int64Type>()
                .values()
                .iter()
                .copied(),
        );
    }
    assert_eq!(ids, (0..10).map(|k| k * 1000 + 7).collect::<Vec<i64>>());

    // Bad SQL is an error before any stream exists.
    let err = quiver_store::ffi::export_query(&session, "SELECT nope FROM t", runtime)
        .err()
        .unwrap();
    assert!(err.to_string().contains("nope"), "{err}");
}
