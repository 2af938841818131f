//! Bad files are errors, never panics: truncated segments, wrong magic, regions past the end
//! or misaligned, non-monotonic offsets, invalid UTF-8, corrupt footer checksum — each an `Err`
//! naming the file and what is wrong. Offsets into the file follow docs/FORMAT.md
//! ("Segment file", "Trailer", "Footer").

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use quiver_store::format::footer::SegmentFooter;
use quiver_store::format::segment::SegmentFile;
use quiver_store::{Table, TableWriter};

mod common;

/// A one-segment table with an int64 and a nullable string column; returns the segment path.
fn table(dir: &Path) -> PathBuf {
    let batch = common::id_name_batch(20);
    let schema = batch.schema();
    let mut w = TableWriter::create(dir, schema).unwrap();
    w.write(&batch).unwrap();
    w.commit().unwrap();
    let t = Table::open(dir).unwrap();
    t.segments()[0].file().path().to_path_buf()
}

fn trailer(bytes: &[u8]) -> (usize, usize) {
    let t = bytes.len() - 32;
    let off = u64::from_le_bytes(bytes[t..t + 8].try_into().unwrap()) as usize;
    let len = u64::from_le_bytes(bytes[t + 8..t + 16].try_into().unwrap()) as usize;
    (off, len)
}

/// Rewrites the footer (FORMAT.md "Footer") with a valid checksum, so the layout checks run.
fn rewrite_footer(path: &Path, edit: impl FnOnce(&mut SegmentFooter)) {
    let bytes = std::fs::read(path).unwrap();
    let (off, len) = trailer(&bytes);
    let mut footer =
        SegmentFooter::decode(&bytes[off..off + len], quiver_store::format::FORMAT_VERSION)
            .unwrap();
    edit(&mut footer);
    let encoded = footer.encode();
    let mut out = bytes[..off].to_vec();
    out.extend_from_slice(&encoded);
    let mut t = [0u8; 32];
    t[0..8].copy_from_slice(&(off as u64).to_le_bytes());
    t[8..16].copy_from_slice(&(encoded.len() as u64).to_le_bytes());
    t[16..20].copy_from_slice(&crc32c::crc32c(&encoded).to_le_bytes());
    t[24..32].copy_from_slice(b"QUIVEND\0");
    out.extend_from_slice(&t);
    std::fs::write(path, out).unwrap();
}

/// Flips each bit of the segment at `seg` in turn (in memory) and checks that opening and
/// verifying the result fails — without a panic.
fn assert_every_bit_flip_is_detected(seg: &Path) {
    let bytes = std::fs::read(seg).unwrap();
    let path = seg.with_file_name("flipped.qseg");
    for bit in 0..bytes.len() * 8 {
        let mut b = bytes.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        let result =
            SegmentFile::from_bytes(&path, bytes::Bytes::from(b), None).and_then(|s| s.verify());
        assert!(
            result.is_err(),
            "flip of bit {bit} (byte {}) went unnoticed",
            bit / 8
        );
    }
}

fn open_err(path: &Path) -> String {
    let e = SegmentFile::open(path, None).unwrap_err();
    assert!(e.is_corrupt(), "{e}");
    assert_eq!(e.file(), Some(path));
    e.to_string()
}

#[test]
fn truncated_segment_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let seg = table(dir.path());
    let bytes = std::fs::read(&seg).unwrap();
    for keep in [0, 10, 95, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&seg, &bytes[..keep]).unwrap();
        let msg = open_err(&seg);
        assert!(msg.contains(&seg.display().to_string()), "{msg}");
    }
    // Through the table, the manifest's recorded size catches it first.
    let err = Table::open(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("file size") && err.contains("the manifest recorded"),
        "{err}"
    );
}

#[test]
fn wrong_magic_is_reported_at_byte_0() {
    let dir = tempfile::tempdir().unwrap();
    let seg = table(dir.path());
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[0] = b'X';
    std::fs::write(&seg, bytes).unwrap();
    assert!(open_err(&seg).contains("header, byte 0: magic is"));
}

#[test]
fn corrupt_footer_checksum_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let seg = table(dir.path());
    let mut bytes = std::fs::read(&seg).unwrap();
    let (off, _) = trailer(&bytes);
    bytes[off + 3] ^= 0x10;
    std::fs::write(&seg, bytes).unwrap();
    let msg = open_err(&seg);
    assert!(
        msg.contains(&format!("footer, byte {off}: checksum mismatch")),
        "{msg}"
    );
}

#[test]
fn region_past_end_of_file_is_reported_with_column_and_region() {
    let dir = tempfile::tempdir().unwrap();
    let seg = table(dir.path());
    rewrite_footer(&seg, |f| {
        let r = f.columns[1].regions.data.as_mut().unwrap();
        r.offset = 1 << 60; // absurd: must not be allocated or read
    });
    let msg = open_err(&seg);
    assert!(msg.contains("column \"name\", region data"), "{msg}");
    assert!(msg.contains("outside the region area"), "{msg}");
}

#[test]
fn misaligned_region_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let seg = table(dir.path());
    rewrite_footer(&seg, |f| {
        f.columns[0].regions.data.as_mut().unwrap().offset += 8
    });
    let msg = open_err(&seg);
    assert!(
        msg.contains("column \"id\", region data: byte") && msg.contains("not 64-byte aligned"),
        "{msg}"
    );
}

/// Edits bytes of a region in place (the footer, and so the manifest identity, stay valid:
/// contents are checked on first use, not at open).
fn poke_region(dir: &Path, seg: &Path, column: usize, offsets: bool, edit: impl FnOnce(&mut [u8])) {
    let t = Table::open(dir).unwrap();
    let meta = &t.segments()[0].file().footer().columns[column];
    let r = if offsets {
        meta.regions.offsets
    } else {
        meta.regions.data
    }
    .unwrap();
    drop(t);
    let mut bytes = std::fs::read(seg).unwrap();
    edit(&mut bytes[r.offset as usize..(r.offset + r.len) as usize]);
    std::fs::write(seg, bytes).unwrap();
}

fn first_scan_error(dir: &Path) -> quiver_store::Error {
    let t = Table::open(dir).expect("content damage is found on first use, not at open");
    t.scan()
        .unwrap()
        .find_map(|b| b.err())
        .expect("the scan must fail")
}

#[test]
fn non_monotonic_offsets_are_rejected_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let seg = table(dir.path());
    poke_region(dir.path(), &seg, 1, true, |r| {
        r[8 * 5..8 * 6].copy_from_slice(&1u64.to_le_bytes())
    });
    let err = first_scan_error(dir.path());
    let msg = err.to_string();
    assert!(
        msg.contains("column \"name\", region offsets, byte"),
        "{msg}"
    );
    assert!(
        msg.contains("row 5 ends at 1, before the previous end"),
        "{msg}"
    );
    assert!(SegmentFile::open(&seg, None).unwrap().verify().is_err());
}

#[test]
fn invalid_utf8_is_rejected_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let seg = table(dir.path());
    poke_region(dir.path(), &seg, 1, false, |r| r[2] = 0xff);
    let msg = first_scan_error(dir.path()).to_string();
    assert!(
        msg.contains("column \"name\", region data, byte") && msg.contains("invalid UTF-8"),
        "{msg}"
    );
}

#[test]
fn a_take_of_a_few_rows_checks_only_those_rows_and_names_a_damaged_one() {
    let dir = tempfile::tempdir().unwrap();
    let batch = common::id_name_batch(1000);
    let mut w = TableWriter::create(dir.path(), batch.schema()).unwrap();
    w.write(&batch).unwrap();
    w.commit().unwrap();
    let seg = Table::open(dir.path()).unwrap().segments()[0]
        .file()
        .path()
        .to_path_buf();
    // Row 0 is null; row 1 ("näme-1") starts the data region: byte 2 is inside its "ä".
    poke_region(dir.path(), &seg, 1, false, |r| r[2] = 0xff);
    let t = Table::open(dir.path()).unwrap();
    let far = t
        .take(&[500, 998])
        .expect("rows away from the damage read fine");
    let names = far
        .column(1)
        .as_any()
        .downcast_ref::<arrow::array::LargeStringArray>();
    assert_eq!(names.unwrap().value(0), "näme-500");
    let err = t.take(&[1]).unwrap_err().to_string();
    assert!(err.contains("column \"name\", row 1"), "{err}");
    // A whole-column read still finds it.
    let msg = first_scan_error(dir.path()).to_string();
    assert!(msg.contains("invalid UTF-8"), "{msg}");
}

#[test]
fn every_single_bit_flip_in_a_segment_is_detected_by_verify_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let seg = table(dir.path());
    assert_every_bit_flip_is_detected(&seg);
}

#[test]
fn every_single_bit_flip_in_a_segment_of_encoded_columns_is_detected_by_verify() {
    use arrow::array::Int64Array;
    let ids = Int64Array::from(vec![Some(10), None, Some(13), Some(11), Some(10), Some(99)]);
    let words = StringArray::from(vec![
        Some("x"),
        Some("a value of 20 bytes!"),
        None,
        Some("x"),
        Some(""),
        Some("x"),
    ]);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("word", DataType::Utf8, true),
        Field::new("text", DataType::Utf8, true),
        Field::new("key", DataType::Int64, true),
    ]));
    let text = StringArray::from(vec![
        Some("some text"),
        None,
        Some("more text"),
        Some(""),
        Some("é"),
        Some("end"),
    ]);
    let keys = Int64Array::from(vec![
        Some(-5),
        Some(-5),
        None,
        Some(0),
        Some(7),
        Some(1 << 40),
    ]);
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(ids),
            Arc::new(words),
            Arc::new(text),
            Arc::new(keys),
        ],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec =
        quiver_store::EncodingSpec::parse("id=packed,word=dict,text=zstd,key=delta").unwrap();
    let options = quiver_store::WriteOptions::default().with_encoding(spec);
    let mut w = TableWriter::create_with(dir.path(), schema, options).unwrap();
    w.write(&batch).unwrap();
    w.commit().unwrap();
    let table = Table::open(dir.path()).unwrap();
    let file = table.segments()[0].file();
    assert!(file.footer().columns.iter().all(|c| c.encoding.is_some()));
    assert_every_bit_flip_is_detected(file.path());
}

#[test]
fn every_single_bit_flip_in_a_segment_of_nested_columns_is_detected_by_verify() {
    use arrow::array::{ArrayRef, Int32Array, ListArray, StructArray};
    use arrow::buffer::OffsetBuffer;
    let item = Arc::new(Field::new("item", DataType::Int32, true));
    let list: ArrayRef = Arc::new(
        ListArray::try_new(
            Arc::clone(&item),
            OffsetBuffer::from_lengths([2, 0, 3]),
            Arc::new(Int32Array::from(vec![
                Some(1),
                None,
                Some(3),
                Some(4),
                Some(5),
            ])),
            Some(vec![true, false, true].into()),
        )
        .unwrap(),
    );
    let fields = vec![Field::new("n", DataType::Utf8, true)];
    let s: ArrayRef = Arc::new(
        StructArray::try_new(
            fields.into(),
            vec![Arc::new(StringArray::from(vec![
                Some("ä"),
                None,
                Some("c"),
            ]))],
            None,
        )
        .unwrap(),
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new("l", list.data_type().clone(), true),
        Field::new("s", s.data_type().clone(), true),
    ]));
    let dir = tempfile::tempdir().unwrap();
    let mut w = TableWriter::create(dir.path(), Arc::clone(&schema)).unwrap();
    w.write(&RecordBatch::try_new(schema, vec![list, s]).unwrap())
        .unwrap();
    w.commit().unwrap();
    let t = Table::open(dir.path()).unwrap();
    t.verify().unwrap();
    let seg = t.segments()[0].file().path().to_path_buf();
    assert_every_bit_flip_is_detected(&seg);
}

/// The list offsets the read path builds without re-checking (`OffsetBuffer::new_unchecked`)
/// are `i64`: a list child without data regions (`List<Null>`) takes its row count from the
/// footer alone, so a crafted count of 2^63 with a matching last offset would turn into negative
/// offsets. The layout check refuses any column of more than `i64::MAX` rows at open.
#[test]
fn list_child_row_count_beyond_i64_is_refused_before_any_offset_is_built() {
    use arrow::array::{LargeListArray, NullArray};
    use arrow::buffer::OffsetBuffer;

    let dir = tempfile::tempdir().unwrap();
    let item = Arc::new(Field::new("item", DataType::Null, true));
    let lists = LargeListArray::new(
        Arc::clone(&item),
        OffsetBuffer::new(vec![0i64, 3].into()),
        Arc::new(NullArray::new(3)),
        None,
    );
    let schema = Arc::new(Schema::new(vec![Field::new(
        "l",
        DataType::LargeList(item),
        false,
    )]));
    let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(lists)]).unwrap();
    let mut w = TableWriter::create(dir.path(), schema).unwrap();
    w.write(&batch).unwrap();
    w.commit().unwrap();
    let t = Table::open(dir.path()).unwrap();
    let seg = t.segments()[0].path().to_path_buf();
    let offsets = t.segments()[0].file().footer().columns[0]
        .regions
        .offsets
        .unwrap();
    drop(t);

    let huge = 1u64 << 63;
    rewrite_footer(&seg, |f| {
        let child = &mut f.columns[0].children[0];
        child.rows = huge;
        child.stats.null_count = huge; // a null column's rows are all null
    });
    // The one row's end offset now matches the child's row count, as `check_contents` wants.
    let mut bytes = std::fs::read(&seg).unwrap();
    let last = (offsets.offset + offsets.len - 8) as usize;
    bytes[last..last + 8].copy_from_slice(&huge.to_le_bytes());
    std::fs::write(&seg, bytes).unwrap();

    let msg = open_err(&seg);
    assert!(msg.contains("column \"l.item\", region row count"), "{msg}");
    assert!(
        msg.contains("9223372036854775808 rows exceed the largest Arrow offset"),
        "{msg}"
    );
}

/// `Error::location` gives the file, region and byte of a corrupt byte as fields.
#[test]
fn corrupt_error_location_names_file_region_and_byte() {
    let dir = tempfile::tempdir().unwrap();
    let seg = table(dir.path());
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();
    let e = SegmentFile::open(&seg, None).unwrap_err();
    let at = e.location().expect("a corrupt error has a location");
    assert_eq!(at.file, seg.as_path());
    assert_eq!(at.region, "header");
    assert_eq!(at.offset, Some(0));
}
