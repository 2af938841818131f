//! The overflow-bag blob decoder on arbitrary bytes: never panics, and whatever it accepts
//! re-encodes to exactly the same bytes (the encoding is canonical).
#![no_main]

use libfuzzer_sys::fuzz_target;
use quiver_store::format::{BlobWriter, Entries};

fuzz_target!(|data: &[u8]| {
    let Ok(entries) = Entries::new(data) else {
        return;
    };
    let Ok(decoded) = entries.collect::<Result<Vec<_>, _>>() else {
        return;
    };
    if decoded.is_empty() {
        return; // an empty blob, or a count of 0: nothing to re-encode
    }
    let mut w = BlobWriter::new();
    for (key, value) in decoded {
        w.push(key, value).expect("a decoded row re-encodes");
    }
    w.finish_row();
    assert_eq!(w.into_bytes(), data, "decode then encode changed the bytes");
});
