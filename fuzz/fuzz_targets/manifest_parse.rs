//! Manifest bytes from arbitrary input: decoding never panics, and whatever decodes encodes
//! back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quiver_store::format::manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::decode(data) {
        assert_eq!(m.encode(), data, "decode then encode changed the bytes");
    }
});
