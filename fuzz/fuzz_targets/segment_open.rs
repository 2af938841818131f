//! A segment image from arbitrary bytes: opening it never panics; if it opens, reading every
//! column (dense or overflow bag, whole and in ranges), `take` and `verify` never panic either.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use quiver_store::format::schema::TableSchema;
use quiver_store::format::segment::SegmentFile;
use quiver_store::SegmentReader;

fuzz_target!(|data: &[u8]| {
    let bytes = bytes::Bytes::copy_from_slice(data);
    let Ok(file) = SegmentFile::from_bytes(Path::new("fuzz.qseg"), bytes, None) else {
        return;
    };
    let _ = file.verify();
    // Read it as a table whose schema is the segment's own columns then its bag keys.
    let footer = file.footer();
    let mut columns: Vec<_> = footer.columns.iter().map(|c| c.def.clone()).collect();
    if let Some(bag) = &footer.bag {
        columns.extend(bag.keys.iter().map(|k| k.def.clone()));
    }
    let schema = TableSchema {
        columns,
        metadata: footer.metadata.clone(),
    };
    let Ok(reader) = SegmentReader::new(file, &schema) else {
        return;
    };
    let _ = reader.verify_bag();
    let n = reader.num_rows();
    for c in 0..schema.columns.len() {
        let _ = reader.column(c);
        let _ = reader.column_view(c);
        let _ = reader.read_range(&[(c, false)], 0..n.min(3));
        let _ = reader.read_rows(&[c], &[n.saturating_sub(1), 0]);
        if n > 0 {
            let _ = reader.stats(c);
            let _ = reader.zone_stats(c, 0);
        }
    }
});
