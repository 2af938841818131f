//! The file names inside a table directory — the one definition that writers, readers and
//! `vacuum` share.
//!
//! # Contract
//! - Version `v`'s manifest is `<v as 20 digits>.manifest`; nothing else parses as a version.
//! - Segments end in `.qseg`; new names are `seg-<time>-<pid>-<n>.qseg`, unique per process and
//!   created with `create_new`, so a collision is an error, never an overwrite. Deletion
//!   vectors are named the same way: `del-<time>-<pid>-<n>.qdel`.
//! - Every file being written before it is published (a segment, a manifest) is named
//!   `.tmp-<...>` ([`temp_name`]); [`is_temp_name`] is how `vacuum` recognises a crashed
//!   writer's leftovers, so the two can never disagree.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

const MANIFEST_SUFFIX: &str = ".manifest";
/// Suffix of segment file names.
pub const SEGMENT_SUFFIX: &str = ".qseg";
/// Suffix of deletion-vector file names.
pub const DELETION_SUFFIX: &str = ".qdel";
const TEMP_PREFIX: &str = ".tmp-";

/// The file name of version `v`'s manifest.
pub fn manifest_name(version: u64) -> String {
    format!("{version:020}{MANIFEST_SUFFIX}")
}

/// The version a manifest file name stands for, if `name` is one.
pub(crate) fn parse_manifest_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(MANIFEST_SUFFIX)?;
    if digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// The temporary name under which `final_name` is written before it is published.
pub(crate) fn temp_name(final_name: &str) -> String {
    format!("{TEMP_PREFIX}{final_name}")
}

/// A temporary name for a new manifest (unique, so racing writers never share one).
pub(crate) fn temp_manifest_name() -> String {
    temp_name(&format!("{}{MANIFEST_SUFFIX}", unique_stem()))
}

/// True for names made by [`temp_name`].
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
}

/// The names of the entries of `dir` (names that are not UTF-8 are none of Quiver's).
pub(crate) fn read_dir_names(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, "list", e))?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    Ok(names)
}

static NAME_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh, unique-enough name: time, process and a per-process counter.
fn unique_stem() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let n = NAME_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{nanos:016x}-{:x}-{n:x}", std::process::id())
}

/// A new segment file name (see the module contract).
pub fn new_segment_name() -> String {
    format!("seg-{}{SEGMENT_SUFFIX}", unique_stem())
}

/// A new deletion-vector file name, unique as segment names are.
pub fn new_deletion_name() -> String {
    format!("del-{}{DELETION_SUFFIX}", unique_stem())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_file_names_parse_only_in_their_exact_form() {
        assert_eq!(parse_manifest_name(&manifest_name(42)), Some(42));
        assert_eq!(parse_manifest_name("42.manifest"), None);
        assert_eq!(parse_manifest_name("0000000000000000004x.manifest"), None);
    }

    #[test]
    fn temporary_names_of_segments_and_manifests_are_recognised_as_temporary() {
        assert!(is_temp_name(&temp_name(&new_segment_name())));
        assert!(is_temp_name(&temp_manifest_name()));
        assert!(!is_temp_name(&new_segment_name()));
        assert!(!is_temp_name(&manifest_name(1)));
        assert_ne!(temp_manifest_name(), temp_manifest_name());
    }
}
