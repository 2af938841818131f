//! Readers, writers and vacuum at once: readers scanning while two writers append (racing for
//! every version) and a third thread vacuums with retention always see a consistent snapshot —
//! whole appends only, the row count the manifest records, every value right — and neither
//! writer loses or tears an append.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use arrow::array::{AsArray, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use quiver_store::{vacuum, ErrorKind, Table, TableWriter, WriteOptions};

const ROWS_PER_APPEND: i64 = 700;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("append", DataType::Int64, false),
        Field::new("x", DataType::Int64, false),
    ]))
}

/// Append number `a`: rows `(a, a * 1000 + i)` for i in 0..ROWS_PER_APPEND, in two segments.
fn append_batch(a: i64) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(vec![a; ROWS_PER_APPEND as usize])),
            Arc::new(Int64Array::from_iter_values(
                (0..ROWS_PER_APPEND).map(|i| a * 1000 + i),
            )),
        ],
    )
    .unwrap()
}

fn options() -> WriteOptions {
    WriteOptions::default()
        .with_segment_rows(400)
        .with_commit_retries(10_000)
}

/// Reads the newest version whole and checks it is a consistent snapshot; returns its version
/// and the appends it holds. `Err` only for a version vacuumed while it was being opened.
fn read_snapshot(dir: &Path) -> Result<(u64, Vec<i64>), quiver_store::Error> {
    let table = Table::open(dir)?;
    let mut per_append: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    let mut rows = 0u64;
    for batch in table.scan()? {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        let appends = batch.column(0).as_primitive::<Int64Type>();
        let xs = batch.column(1).as_primitive::<Int64Type>();
        for (a, x) in appends.values().iter().zip(xs.values()) {
            let e = per_append.entry(*a).or_default();
            e.0 += 1;
            e.1 += x;
        }
    }
    assert_eq!(rows, table.manifest().row_count(), "rows vs manifest");
    for (a, (count, sum)) in &per_append {
        assert_eq!(
            *count,
            ROWS_PER_APPEND,
            "append {a} torn in version {}",
            table.version()
        );
        let want = a * 1000 * ROWS_PER_APPEND + ROWS_PER_APPEND * (ROWS_PER_APPEND - 1) / 2;
        assert_eq!(*sum, want, "append {a} has wrong values");
    }
    Ok((table.version(), per_append.into_keys().collect()))
}

#[test]
fn readers_see_whole_snapshots_while_two_writers_append_and_vacuum_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let mut w = TableWriter::create_with(&path, schema(), options()).unwrap();
    w.write(&append_batch(0)).unwrap();
    w.commit().unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let vanished = Arc::new(AtomicUsize::new(0));
    /// Stops the readers and the vacuum when dropped, also when a writer panics.
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let (snapshots, vacuumed) = std::thread::scope(|s| {
        let stop = Stop(&done);
        let writers: Vec<_> = [1i64, 1001]
            .into_iter()
            .map(|first| {
                let path = &path;
                s.spawn(move || {
                    for a in first..first + 25 {
                        let mut w = TableWriter::append_with(path, options()).unwrap();
                        w.write(&append_batch(a)).unwrap();
                        w.commit().unwrap();
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (path, done, reads, vanished) = (&path, &done, &reads, &vanished);
                s.spawn(move || {
                    let mut seen = Vec::new();
                    // Until the writers are done, and at least 5 reads each however fast they were.
                    while !done.load(Ordering::Relaxed) || seen.len() < 5 {
                        match read_snapshot(path) {
                            Ok(snapshot) => {
                                reads.fetch_add(1, Ordering::Relaxed);
                                seen.push(snapshot);
                            }
                            Err(e)
                                if matches!(e.kind(), ErrorKind::VersionNotFound { .. })
                                    || matches!(e.kind(), ErrorKind::Io { source, .. }
                                        if source.kind() == std::io::ErrorKind::NotFound) =>
                            {
                                vanished.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => panic!("a read failed: {e}"),
                        }
                    }
                    seen
                })
            })
            .collect();
        let vacuumer = {
            let (path, done) = (&path, &done);
            s.spawn(move || {
                let mut removed = 0;
                // Runs while the writers do, and once more after.
                loop {
                    let finished = done.load(Ordering::Relaxed);
                    removed += vacuum(path, 3).unwrap().removed_versions.len();
                    if finished {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                removed
            })
        };
        for w in writers {
            w.join().unwrap();
        }
        drop(stop);
        let snapshots: Vec<(u64, Vec<i64>)> = readers
            .into_iter()
            .flat_map(|r| r.join().unwrap())
            .collect();
        (snapshots, vacuumer.join().unwrap())
    });

    // Every snapshot of a version holds the same appends, and a later version holds a superset.
    let mut by_version: BTreeMap<u64, Vec<i64>> = BTreeMap::new();
    for (v, appends) in &snapshots {
        if let Some(earlier) = by_version.get(v) {
            assert_eq!(earlier, appends, "two reads of version {v} differ");
        }
        by_version.insert(*v, appends.clone());
    }
    let versions: Vec<&Vec<i64>> = by_version.values().collect();
    for pair in versions.windows(2) {
        assert!(
            pair[0].iter().all(|a| pair[1].contains(a)),
            "a later version lost an append"
        );
    }
    // Nothing lost: 1 + 2 x 25 appends, each exactly once, in 51 versions.
    let (version, appends) = read_snapshot(&path).unwrap();
    assert_eq!(version, 51);
    let want: Vec<i64> = std::iter::once(0).chain(1..26).chain(1001..1026).collect();
    assert_eq!(appends, want);
    Table::open(&path).unwrap().verify().unwrap();
    assert!(reads.load(Ordering::Relaxed) >= 10, "readers barely ran");
    assert!(vacuumed > 0, "vacuum never removed a version");
    eprintln!(
        "{} consistent reads of {} versions, {} opens of a version vacuumed meanwhile, \
         {vacuumed} versions vacuumed",
        reads.load(Ordering::Relaxed),
        by_version.len(),
        vanished.load(Ordering::Relaxed)
    );
}

#[test]
fn a_second_writer_creating_the_same_table_fails_cleanly_and_an_appender_rebases() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = TableWriter::create_with(dir.path(), schema(), options()).unwrap();
    let mut second = TableWriter::create_with(dir.path(), schema(), options()).unwrap();
    first.write(&append_batch(1)).unwrap();
    second.write(&append_batch(2)).unwrap();
    assert_eq!(first.commit().unwrap(), 1);
    let err = second.commit().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::TableExists { .. }), "{err}");
    // Two appends started from version 1: the loser rebases onto the winner's version 2.
    let mut a = TableWriter::append_with(dir.path(), options()).unwrap();
    let mut b = TableWriter::append_with(dir.path(), options()).unwrap();
    a.write(&append_batch(3)).unwrap();
    b.write(&append_batch(4)).unwrap();
    assert_eq!(a.commit().unwrap(), 2);
    assert_eq!(b.commit().unwrap(), 3);
    let (_, appends) = read_snapshot(dir.path()).unwrap();
    assert_eq!(appends, vec![1, 3, 4]);
    // The losing create removed its segments: only the three versions' files remain.
    let table = Table::open(dir.path()).unwrap();
    let named = table.manifest().segments.len();
    let on_disk = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".qseg")
        })
        .count();
    assert_eq!(on_disk, named);
}
