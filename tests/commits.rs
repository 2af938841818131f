//! Versions and commits: snapshot isolation, racing writers, crashes before publish, time
//! travel, overwrite, and vacuum.

use std::path::Path;

use std::sync::{Arc, Barrier};

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use quiver_store::{vacuum, ErrorKind, Table, TableWriter, WriteOptions};

mod common;
use common::table_files;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("x", DataType::Int64, false),
        Field::new("s", DataType::Utf8, true),
    ]))
}

fn batch(values: std::ops::Range<i64>) -> RecordBatch {
    let s = StringArray::from_iter_values(values.clone().map(|v| format!("v{v}")));
    RecordBatch::try_new(
        schema(),
        vec![Arc::new(Int64Array::from_iter_values(values)), Arc::new(s)],
    )
    .unwrap()
}

fn create(dir: &Path, values: std::ops::Range<i64>) -> u64 {
    let mut w = TableWriter::create(dir, schema()).unwrap();
    w.write(&batch(values)).unwrap();
    w.commit().unwrap()
}

fn append(dir: &Path, values: std::ops::Range<i64>) -> u64 {
    let mut w = TableWriter::append(dir).unwrap();
    w.write(&batch(values)).unwrap();
    w.commit().unwrap()
}

fn all_values(table: &Table) -> Vec<i64> {
    let mut out = Vec::new();
    for b in table.scan().unwrap() {
        out.extend_from_slice(b.unwrap().column(0).as_primitive::<Int64Type>().values());
    }
    out
}

#[test]
fn reader_opened_at_a_version_keeps_seeing_it_after_later_commits() {
    let dir = tempfile::tempdir().unwrap();
    create(dir.path(), 0..10);
    let reader = Table::open(dir.path()).unwrap();
    assert_eq!(append(dir.path(), 10..15), 2);
    assert_eq!(reader.version(), 1);
    assert_eq!(all_values(&reader), (0..10).collect::<Vec<_>>());
    let fresh = Table::open(dir.path()).unwrap();
    assert_eq!((fresh.version(), fresh.num_rows()), (2, 15));
    assert_eq!(Table::open_version(dir.path(), 1).unwrap().num_rows(), 10);
}

#[test]
fn writers_racing_for_one_version_produce_exactly_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    create(dir.path(), 0..1);
    let n = 6;
    let barrier = Barrier::new(n);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n as i64)
            .map(|i| {
                let barrier = &barrier;
                let dir = dir.path();
                s.spawn(move || {
                    let options = WriteOptions::default().with_commit_retries(0);
                    let mut w = TableWriter::append_with(dir, options).unwrap();
                    w.write(&batch(i * 100..i * 100 + 10)).unwrap();
                    barrier.wait();
                    w.commit()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<u64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    assert_eq!(winners, vec![2], "exactly one writer publishes version 2");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(r.kind(), ErrorKind::CommitConflict { version: 2, .. }),
            "{r}"
        );
    }
    let table = Table::open(dir.path()).unwrap();
    assert_eq!((table.version(), table.num_rows()), (2, 11));
    // The losers deleted their segments: only the two versions' segments remain.
    let segments = table_files(dir.path())
        .iter()
        .filter(|n| n.ends_with(".qseg"))
        .count();
    assert_eq!(segments, 2);
}

#[test]
fn racing_appends_with_retries_all_land_in_distinct_versions() {
    let dir = tempfile::tempdir().unwrap();
    create(dir.path(), 0..1);
    let n = 6;
    let barrier = Barrier::new(n);
    let mut versions: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=n as i64)
            .map(|i| {
                let barrier = &barrier;
                let dir = dir.path();
                s.spawn(move || {
                    let mut w = TableWriter::append(dir).unwrap();
                    w.write(&batch(i * 100..i * 100 + 10)).unwrap();
                    barrier.wait();
                    w.commit().unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    versions.sort();
    assert_eq!(versions, (2..=n as u64 + 1).collect::<Vec<_>>());
    let mut values = all_values(&Table::open(dir.path()).unwrap());
    values.sort();
    let mut expected: Vec<i64> = std::iter::once(0)
        .chain((1..=n as i64).flat_map(|i| i * 100..i * 100 + 10))
        .collect();
    expected.sort();
    assert_eq!(values, expected, "no appended row is lost");
}

#[test]
fn create_on_an_existing_table_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    create(dir.path(), 0..3);
    let err = TableWriter::create(dir.path(), schema()).err().unwrap();
    assert!(
        matches!(err.kind(), ErrorKind::TableExists { version: 1, .. }),
        "{err}"
    );
}

#[test]
fn append_with_a_different_schema_is_refused_naming_the_column() {
    let dir = tempfile::tempdir().unwrap();
    create(dir.path(), 0..3);
    let other = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Int32, false),
        Field::new("s", DataType::Utf8, true),
    ]));
    let b = RecordBatch::try_new(
        other,
        vec![
            Arc::new(arrow::array::Int32Array::from(vec![1])),
            Arc::new(StringArray::from(vec!["a"])),
        ],
    )
    .unwrap();
    let mut w = TableWriter::append(dir.path()).unwrap();
    let err = w.write(&b).unwrap_err();
    assert!(
        err.to_string()
            .contains("column \"x\" has type Int32 in the batch, Int64 in the table"),
        "{err}"
    );
    // Strings of another width are the same storage and are accepted.
    let large = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Int64, false),
        Field::new("s", DataType::Utf8View, true),
    ]));
    let b = RecordBatch::try_new(
        large,
        vec![
            Arc::new(Int64Array::from(vec![9])),
            Arc::new(arrow::array::StringViewArray::from(vec!["z"])),
        ],
    )
    .unwrap();
    w.write(&b).unwrap();
    assert_eq!(w.commit().unwrap(), 2);
}

#[test]
fn writer_dropped_before_commit_leaves_the_table_and_directory_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    create(dir.path(), 0..3);
    let before = table_files(dir.path());
    {
        let options = WriteOptions::default().with_segment_rows(2);
        let mut w = TableWriter::append_with(dir.path(), options).unwrap();
        w.write(&batch(100..110)).unwrap();
        // Segments were written...
        assert!(table_files(dir.path()).len() > before.len());
    }
    // ...and removed when the writer was dropped without commit.
    assert_eq!(table_files(dir.path()), before);
    let t = Table::open(dir.path()).unwrap();
    assert_eq!((t.version(), t.num_rows()), (1, 3));
}

/// Not a test on its own: the child process of the crash test. It writes segments, then
/// aborts before publishing, as a crash (or SIGKILL) would.
#[test]
#[ignore]
fn crash_child_writes_then_aborts_before_publish() {
    let Some(dir) = std::env::var_os("QUIVER_CRASH_DIR") else {
        return;
    };
    let options = WriteOptions::default().with_segment_rows(4);
    let mut w = TableWriter::append_with(&dir, options).unwrap();
    w.write(&batch(1000..1010)).unwrap();
    std::process::abort();
}

#[test]
fn crash_between_segment_write_and_publish_keeps_the_previous_version() {
    let dir = tempfile::tempdir().unwrap();
    create(dir.path(), 0..5);
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_writes_then_aborts_before_publish",
            "--ignored",
            "--nocapture",
        ])
        .env("QUIVER_CRASH_DIR", dir.path())
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child must have crashed");
    let leftovers = table_files(dir.path())
        .iter()
        .filter(|n| n.ends_with(".qseg"))
        .count();
    assert!(leftovers > 1, "the crashed writer left segments behind");

    let t = Table::open(dir.path()).unwrap();
    assert_eq!(
        (t.version(), all_values(&t)),
        (1, (0..5).collect::<Vec<_>>())
    );

    // The next writer cleans up what the crashed one left.
    assert_eq!(append(dir.path(), 5..6), 2);
    let segments = table_files(dir.path())
        .iter()
        .filter(|n| n.ends_with(".qseg"))
        .count();
    assert_eq!(segments, 2);
    assert_eq!(
        all_values(&Table::open(dir.path()).unwrap()),
        (0..6).collect::<Vec<_>>()
    );
}

#[test]
fn overwrite_replaces_rows_and_schema_while_older_versions_stay_readable() {
    let dir = tempfile::tempdir().unwrap();
    create(dir.path(), 0..4);
    let other = Arc::new(Schema::new(vec![Field::new("y", DataType::Float64, true)]));
    let b = RecordBatch::try_new(
        Arc::clone(&other),
        vec![Arc::new(arrow::array::Float64Array::from(vec![1.5]))],
    )
    .unwrap();
    let mut w = TableWriter::overwrite(dir.path(), other).unwrap();
    w.write(&b).unwrap();
    assert_eq!(w.commit().unwrap(), 2);
    let t = Table::open(dir.path()).unwrap();
    assert_eq!(
        (t.num_rows(), t.schema().field(0).name().as_str()),
        (1, "y")
    );
    assert_eq!(Table::open_version(dir.path(), 1).unwrap().num_rows(), 4);
}

#[test]
fn vacuum_removes_what_only_old_versions_use_and_open_readers_keep_their_data() {
    let dir = tempfile::tempdir().unwrap();
    create(dir.path(), 0..10);
    let old_reader = Table::open(dir.path()).unwrap();
    for i in 1..5 {
        append(dir.path(), i * 10..i * 10 + 10);
    }
    // Overwrite so that versions 1..=5 share segments the newest versions do not use.
    let mut w = TableWriter::overwrite(dir.path(), schema()).unwrap();
    w.write(&batch(500..503)).unwrap();
    assert_eq!(w.commit().unwrap(), 6);
    append(dir.path(), 600..601);

    let report = vacuum(dir.path(), 2).unwrap();
    assert_eq!(report.removed_versions, vec![1, 2, 3, 4, 5]);
    assert_eq!(
        report
            .removed_files
            .iter()
            .filter(|n| n.ends_with(".qseg"))
            .count(),
        5
    );
    assert!(!report.skipped_leftovers);
    assert_eq!(Table::versions(dir.path()).unwrap(), vec![6, 7]);
    let files = table_files(dir.path());
    assert_eq!(
        files.iter().filter(|n| n.ends_with(".qseg")).count(),
        2,
        "{files:?}"
    );

    let err = Table::open_version(dir.path(), 3).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::VersionNotFound { version: 3, .. }),
        "{err}"
    );
    assert_eq!(
        all_values(&Table::open(dir.path()).unwrap()),
        vec![500, 501, 502, 600]
    );
    // The reader opened before the vacuum still has its mapping: snapshot isolation.
    assert_eq!(all_values(&old_reader), (0..10).collect::<Vec<_>>());
    assert_eq!(
        old_reader.segments()[0]
            .column(1)
            .unwrap()
            .as_string::<i64>()
            .value(9),
        "v9"
    );
    assert!(old_reader.segments()[0].column(1).unwrap().null_count() == 0);
}

#[test]
fn vacuum_skips_leftovers_while_a_writer_is_live() {
    let dir = tempfile::tempdir().unwrap();
    create(dir.path(), 0..3);
    let options = WriteOptions::default().with_segment_rows(1);
    let mut live = TableWriter::append_with(dir.path(), options).unwrap();
    live.write(&batch(3..5)).unwrap();
    let report = vacuum(dir.path(), 1).unwrap();
    assert!(report.skipped_leftovers);
    assert!(
        report.removed_files.is_empty(),
        "the live writer's segments must survive"
    );
    assert_eq!(live.commit().unwrap(), 2);
    assert_eq!(
        all_values(&Table::open(dir.path()).unwrap()),
        (0..5).collect::<Vec<_>>()
    );
}

#[test]
fn after_a_crash_a_writers_open_removes_true_leftovers_but_keeps_files_only_older_versions_use() {
    let dir = tempfile::tempdir().unwrap();
    create(dir.path(), 0..3);
    append(dir.path(), 3..6);
    // After optimize, versions 1 and 2 name segments the newest version does not.
    quiver_store::optimize(dir.path(), Default::default()).unwrap();
    let before = table_files(dir.path());
    let planted = [
        "seg-1-1-999.qseg",
        "del-1-1-999.qdel",
        ".tmp-seg-1-1-998.qseg",
    ];
    for name in planted {
        std::fs::write(dir.path().join(name), b"crashed writer").unwrap();
    }
    // Without a crashed writer's mark, a writer's open does not scan for leftovers...
    drop(TableWriter::append(dir.path()).unwrap());
    for name in planted {
        assert!(dir.path().join(name).exists(), "{name} is left to vacuum");
    }
    // ...with one, it does, and removes the mark — when it gets the exclusive lock, i.e. no
    // other writer is live. Another test of this binary spawns a child process, and a child
    // holds copies of all our descriptors (their `flock`s included) between its fork and its
    // exec; an open in that window rightly skips the cleanup, so a few opens are allowed.
    let marks = dir.path().join(".quiver-writers");
    std::fs::write(marks.join("999-0-0"), b"").unwrap();
    for _ in 0..20 {
        drop(TableWriter::append(dir.path()).unwrap());
        if !dir.path().join(planted[0]).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for name in planted {
        assert!(!dir.path().join(name).exists(), "{name} is a leftover");
    }
    assert_eq!(std::fs::read_dir(&marks).unwrap().count(), 0);
    assert_eq!(table_files(dir.path()), before);
    for (version, rows) in [(1, 0..3), (2, 0..6), (3, 0..6)] {
        let table = Table::open_version(dir.path(), version).unwrap();
        assert_eq!(all_values(&table), rows.collect::<Vec<_>>(), "v{version}");
    }
}

#[test]
fn opening_a_directory_without_a_table_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let err = Table::open(dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("is not a Quiver table: it has no published version"),
        "{err}"
    );
    let err = Table::open(dir.path().join("missing")).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TableNotFound { .. }),
        "{err}"
    );
}

#[test]
fn refresh_reuses_the_segments_a_newer_version_keeps_and_reads_what_open_reads() {
    let dir = tempfile::tempdir().unwrap();
    create(dir.path(), 0..10);
    append(dir.path(), 10..20);
    let first = Table::open(dir.path()).unwrap();
    let unchanged = first.refresh().unwrap();
    assert_eq!(unchanged.version(), first.version());

    append(dir.path(), 20..25);
    let appended = first.refresh().unwrap();
    assert_eq!((appended.version(), appended.num_rows()), (3, 25));
    assert_eq!(appended.segments().len(), 3);
    for i in 0..2 {
        assert!(Arc::ptr_eq(&first.segments()[i], &appended.segments()[i]));
    }
    assert_eq!(all_values(&appended), (0..25).collect::<Vec<_>>());

    // A delete keeps the segment but attaches a deletion vector: the reader is reused, the
    // vector is read; the older snapshot still sees every row.
    appended.delete_rows(&[3, 12]).unwrap();
    let deleted = appended.refresh().unwrap();
    assert!(Arc::ptr_eq(&appended.segments()[0], &deleted.segments()[0]));
    assert!(deleted.deleted_rows(0).is_some() && deleted.deleted_rows(1).is_some());
    let expected: Vec<i64> = (0..25).filter(|v| *v != 3 && *v != 12).collect();
    assert_eq!(all_values(&deleted), expected);
    assert_eq!(all_values(&Table::open(dir.path()).unwrap()), expected);
    assert_eq!(all_values(&appended), (0..25).collect::<Vec<_>>());

    // An overwrite with another schema shares nothing and reads the new rows.
    let other = Arc::new(Schema::new(vec![Field::new("y", DataType::Int64, true)]));
    let mut w = TableWriter::overwrite(dir.path(), other.clone()).unwrap();
    let ys = RecordBatch::try_new(other, vec![Arc::new(Int64Array::from(vec![Some(7), None]))]);
    w.write(&ys.unwrap()).unwrap();
    w.commit().unwrap();
    let overwritten = deleted.refresh().unwrap();
    assert_eq!(overwritten.schema().field(0).name(), "y");
    let b = overwritten.scan().unwrap().next().unwrap().unwrap();
    assert_eq!(b.column(0).as_primitive::<Int64Type>().value(0), 7);
    assert!(b.column(0).is_null(1));
}
