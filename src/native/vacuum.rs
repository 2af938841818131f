//! Vacuum: deletes the files only older versions of a table use, and a crashed writer's leftovers.
//!
//! # Contract
//! - [`vacuum`] keeps the newest `keep` versions. It deletes older manifests first (then fsyncs
//!   the directory), and only then the segments that no kept manifest references, so a crash
//!   mid-vacuum leaves unreferenced files, never a manifest naming a missing file. Deletion
//!   vectors are files of the versions that name them, like segments. Files that no
//!   manifest references at all (a crashed writer's leftovers) are deleted only while no writer
//!   holds the table's shared lock ([`FileLock`]); a writer's open looks for them only when a
//!   crashed writer left its mark (`writer_marks.rs`), `vacuum` always.

use std::collections::HashSet;
use std::path::Path;

use super::lock::{FileLock, LOCK_FILE, VERSIONS_LOCK_FILE};
use super::manifest::Manifest;
use super::names::{
    is_temp_name, manifest_name, parse_manifest_name, read_dir_names, DELETION_SUFFIX,
    SEGMENT_SUFFIX,
};
use super::table_dir::{fsync_dir, list_versions, read_manifest, read_manifest_if_present};
use super::writer_marks::crashed_writers;
use crate::error::{Error, ErrorKind, Result};

/// What [`vacuum`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VacuumReport {
    /// Versions whose manifests were deleted.
    pub removed_versions: Vec<u64>,
    /// Files deleted (segments, leftovers), by name.
    pub removed_files: Vec<String>,
    /// Bytes those files took.
    pub bytes_freed: u64,
    /// True if leftovers could not be examined because a writer was live.
    pub skipped_leftovers: bool,
}

fn remove(dir: &Path, name: &str, report: &mut VacuumReport) -> Result<()> {
    let path = dir.join(name);
    let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    match std::fs::remove_file(&path) {
        Ok(()) => {
            report.bytes_freed += len;
            report.removed_files.push(name.to_owned());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(&path, "remove", e)),
    }
}

/// The segment and deletion-vector files a version uses.
fn files_of(manifest: Manifest) -> impl Iterator<Item = String> {
    manifest
        .segments
        .into_iter()
        .flat_map(|s| std::iter::once(s.name).chain(s.deletions.map(|d| d.name)))
}

/// What a writer's open runs: [`remove_leftovers`] only if a crashed writer left its mark
/// (`writer_marks.rs`) — else no file can be a leftover, and the open costs no directory scan.
/// The caller must hold the table's exclusive lock.
pub(crate) fn remove_crashed_writers_leftovers(
    dir: &Path,
    exclusive: &FileLock,
    report: &mut VacuumReport,
) -> Result<()> {
    if crashed_writers(dir)?.is_empty() {
        return Ok(());
    }
    remove_leftovers(dir, exclusive, report)
}

/// Deletes temporary files, segments and deletion vectors no manifest references, then the
/// marks of crashed writers. The caller must hold the table's exclusive lock, so no writer is
/// between writing a segment and publishing it (and every mark is a crashed writer's).
///
/// Manifests are read newest first and only until every segment and deletion-vector file in
/// the directory is accounted for — one manifest when the newest version names them all,
/// every manifest only when some file is a true leftover or only old versions name it.
pub(crate) fn remove_leftovers(
    dir: &Path,
    _exclusive: &FileLock,
    report: &mut VacuumReport,
) -> Result<()> {
    let names = read_dir_names(dir)?;
    let mut unaccounted: HashSet<&str> = names
        .iter()
        .filter(|n| n.ends_with(SEGMENT_SUFFIX) || n.ends_with(DELETION_SUFFIX))
        .filter(|n| !is_temp_name(n))
        .map(String::as_str)
        .collect();
    let mut versions: Vec<u64> = names
        .iter()
        .filter_map(|n| parse_manifest_name(n))
        .collect();
    versions.sort_unstable_by(|a, b| b.cmp(a));
    for v in versions {
        if unaccounted.is_empty() {
            break;
        }
        // A concurrent vacuum may have deleted it since: its segments are garbage already, or
        // named by a newer manifest.
        if let Some(m) = read_manifest_if_present(dir, v)? {
            for file in files_of(m) {
                unaccounted.remove(file.as_str());
            }
        }
    }
    for name in &names {
        let leftover = is_temp_name(name) || unaccounted.contains(name.as_str());
        if leftover && name != LOCK_FILE && name != VERSIONS_LOCK_FILE {
            remove(dir, name, report)?;
        }
    }
    for mark in crashed_writers(dir)? {
        if let Err(e) = std::fs::remove_file(&mark) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(Error::io(&mark, "remove", e));
            }
        }
    }
    Ok(())
}

/// Keeps the newest `keep` versions of the table in `dir` and deletes every file only older
/// versions use (see the module contract).
pub fn vacuum(dir: &Path, keep: usize) -> Result<VacuumReport> {
    if keep == 0 {
        return Err(Error::invalid("vacuum must keep at least one version"));
    }
    // Deleting manifests changes the set of versions: hold the versions lock (see `publish`).
    let versions_lock = FileLock::versions(dir)?;
    let versions = list_versions(dir)?;
    if versions.is_empty() {
        return Err(ErrorKind::TableNotFound {
            path: dir.to_path_buf(),
        }
        .into());
    }
    let split = versions.len().saturating_sub(keep);
    let (old, kept) = versions.split_at(split);
    let mut referenced = HashSet::new();
    for &v in kept {
        // Another vacuum, keeping fewer versions, may have deleted it meanwhile.
        if let Some(m) = read_manifest_if_present(dir, v)? {
            referenced.extend(files_of(m));
        }
    }
    let mut report = VacuumReport::default();
    let mut candidates = Vec::new();
    for &v in old {
        // An unreadable old manifest is removed all the same: its segments become leftovers.
        if let Ok(m) = read_manifest(dir, v) {
            candidates.extend(files_of(m));
        }
        remove(dir, &manifest_name(v), &mut report)?;
        report.removed_versions.push(v);
    }
    fsync_dir(dir)?;
    drop(versions_lock);
    for name in candidates {
        if !referenced.contains(&name) {
            remove(dir, &name, &mut report)?;
        }
    }
    match FileLock::try_exclusive(dir)? {
        Some(lock) => remove_leftovers(dir, &lock, &mut report)?,
        None => report.skipped_leftovers = true,
    }
    fsync_dir(dir)?;
    Ok(report)
}
