//! Random single-bit flips in a real table (TPC-H `lineitem`, four segments, a manifest):
//! `verify` reports every one; a normal open refuses every flip in what it checks (manifest,
//! segment headers, footers, trailers); a flip in padding leaves every scanned value right; a
//! flip inside a column region may reach a scan (only `verify` reads every checksum) but never
//! panics it.
#![cfg(feature = "tpch")]

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use quiver_store::{Table, TableWriter, WriteOptions};
use rand::{Rng, SeedableRng};

mod common;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Manifest, segment header, footer, trailer, zero prefixes of offsets regions: checked
    /// when the table is opened.
    Checked,
    /// Bytes between regions: no reader looks at them.
    Padding,
    /// Inside a column or bag region.
    Region,
}

fn flip(path: &Path, byte: u64, bit: u8) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, byte).unwrap();
    b[0] ^= 1 << bit;
    f.write_all_at(&b, byte).unwrap();
}

fn scan(table: &Table) -> quiver_store::Result<RecordBatch> {
    let batches: Vec<RecordBatch> = table.scan()?.collect::<quiver_store::Result<_>>()?;
    Ok(common::concat(&table.schema(), &batches))
}

/// What each byte of a segment is, from its (intact) footer.
fn segment_parts(table: &Table, index: usize) -> (PathBuf, Vec<Part>) {
    let file = table.segments()[index].file();
    let len = file.file_len() as usize;
    let bytes = file.bytes();
    let footer_offset = u64::from_le_bytes(bytes[len - 32..len - 24].try_into().unwrap()) as usize;
    let mut parts = vec![Part::Padding; len];
    parts[..64].fill(Part::Checked);
    parts[footer_offset..].fill(Part::Checked);
    let footer = file.footer();
    let mut regions: Vec<quiver_store::format::footer::Region> = footer
        .columns
        .iter()
        .flat_map(|c| c.walk())
        .flat_map(|c| c.regions.named().map(|(_, r)| r).collect::<Vec<_>>())
        .collect();
    if let Some(bag) = &footer.bag {
        regions.extend(bag.named().map(|(_, r)| r));
    }
    for r in regions {
        parts[r.offset as usize..r.end() as usize].fill(Part::Region);
    }
    // The zero prefix of every offsets region is read (and checked at open) as the first
    // Arrow offset.
    for c in footer.columns.iter().flat_map(|c| c.walk()) {
        if let Some(o) = c.regions.offsets {
            parts[o.offset as usize - 8..o.offset as usize].fill(Part::Checked);
        }
    }
    (file.path().to_path_buf(), parts)
}

#[test]
fn random_bit_flips_in_a_real_table_are_all_reported_and_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (schema, batches) = quiver_store::tpch::batches("lineitem", 0.005, 1, 1, 8_192).unwrap();
    let options = WriteOptions::default()
        .with_segment_rows(10_000)
        .with_zone_rows(2_048);
    let mut w = TableWriter::create_with(dir.path(), schema, options).unwrap();
    for b in batches {
        w.write(&b.unwrap()).unwrap();
    }
    w.commit().unwrap();
    let table = Table::open(dir.path()).unwrap();
    let segments = table.segments().len();
    assert!(segments >= 3, "{segments} segments");
    let want = scan(&table).unwrap();
    let mut files: Vec<(PathBuf, Vec<Part>)> =
        (0..segments).map(|i| segment_parts(&table, i)).collect();
    let manifest = dir.path().join("00000000000000000001.manifest");
    let manifest_len = std::fs::metadata(&manifest).unwrap().len() as usize;
    files.push((manifest, vec![Part::Checked; manifest_len]));
    drop(table);

    let mut rng = rand::rngs::SmallRng::seed_from_u64(0xb17_f11b);
    let mut counts = std::collections::BTreeMap::new();
    let mut reached_scan = 0;
    for i in 0..400 {
        // A quarter of the flips go to the manifest and to footers, which are small.
        let file = if i % 4 == 0 {
            segments
        } else {
            rng.random_range(0..segments)
        };
        let (path, parts) = &files[file];
        let padding: Vec<usize> = if i % 8 == 2 {
            (0..parts.len())
                .filter(|&b| parts[b] == Part::Padding)
                .collect()
        } else {
            Vec::new()
        };
        let byte = if !padding.is_empty() {
            padding[rng.random_range(0..padding.len())]
        } else if i % 8 == 4 {
            parts.len() - 1 - rng.random_range(0..parts.len().min(2_000))
        } else {
            rng.random_range(0..parts.len())
        };
        let (part, bit) = (parts[byte], rng.random_range(0..8u8));
        *counts.entry(format!("{part:?}")).or_insert(0) += 1;
        flip(path, byte as u64, bit);
        let context = format!(
            "flip {i}: {} byte {byte} bit {bit} ({part:?})",
            path.display()
        );
        match Table::open(dir.path()) {
            Err(e) => assert_ne!(part, Part::Padding, "{context}: open refused: {e}"),
            Ok(t) => {
                assert_ne!(part, Part::Checked, "{context}: open did not notice");
                let err = t
                    .verify()
                    .expect_err(&format!("{context}: verify missed it"));
                assert!(err.is_corrupt(), "{context}: {err}");
                match scan(&t) {
                    Ok(got) if part == Part::Padding => {
                        common::assert_batches_equal(&got, &want, &context)
                    }
                    Ok(got) => {
                        if got != want {
                            reached_scan += 1;
                        }
                    }
                    Err(e) => assert!(e.is_corrupt(), "{context}: {e}"),
                }
                let _ = t.take(&[0, 12_345, 29_000]);
            }
        }
        flip(path, byte as u64, bit);
    }
    let table = Table::open(dir.path()).unwrap();
    table.verify().unwrap();
    eprintln!("400 flips by part: {counts:?}; {reached_scan} region flips changed scanned values");
    assert_eq!(counts.len(), 3, "every kind of byte was hit: {counts:?}");
    assert!(counts.values().all(|&n| n >= 20), "{counts:?}");
}
