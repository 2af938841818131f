//! A table directory: versioned manifests, segment files, atomic publish, and vacuum.
//!
//! # Contract
//! - Version `v` is published by the file `<v as 20 digits>.manifest`. [`publish`] writes the
//!   manifest under a temporary name, fsyncs it, hard-links it to its final name — which fails
//!   if that name exists, so of two writers racing for one version exactly one wins and the
//!   other gets [`ErrorKind::CommitConflict`] — then removes the temporary name and fsyncs the
//!   directory. A version is visible exactly when its manifest file exists, and then complete.
//!   The check that the version is newer than every existing one and the link happen under the
//!   versions lock (`lock.rs`), which `vacuum` also holds while it deletes manifests: a version
//!   name vacuum freed is never published again, and a publish only succeeds as the newest.
//! - [`vacuum`] keeps the newest `keep` versions. It deletes older manifests first (then fsyncs
//!   the directory), and only then the segments that no kept manifest references, so a crash
//!   mid-vacuum leaves unreferenced files, never a manifest naming a missing file. Files that no
//!   manifest references at all (a crashed writer's leftovers) are deleted only while no writer
//!   holds the table's shared lock ([`FileLock`]).

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::lock::{FileLock, LOCK_FILE, VERSIONS_LOCK_FILE};
use super::manifest::Manifest;
use crate::error::{Error, ErrorKind, Result};

const MANIFEST_SUFFIX: &str = ".manifest";
/// Suffix of segment file names.
pub const SEGMENT_SUFFIX: &str = ".qseg";
const TEMP_PREFIX: &str = ".tmp-";
const SPILL_PREFIX: &str = ".spill-";

/// The file name of version `v`'s manifest.
pub fn manifest_name(version: u64) -> String {
    format!("{version:020}{MANIFEST_SUFFIX}")
}

fn parse_manifest_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(MANIFEST_SUFFIX)?;
    if digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

fn read_dir_names(dir: &Path) -> Result<Vec<String>> {
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

/// The published versions of the table in `dir`, ascending. Empty if there are none.
pub fn list_versions(dir: &Path) -> Result<Vec<u64>> {
    let mut versions: Vec<u64> = read_dir_names(dir)?
        .iter()
        .filter_map(|n| parse_manifest_name(n))
        .collect();
    versions.sort_unstable();
    Ok(versions)
}

/// Describes a version list for error messages: "1..=7", "2, 5, 9" or "none".
pub fn describe_versions(versions: &[u64]) -> String {
    match versions {
        [] => "none".into(),
        [only] => only.to_string(),
        [first, .., last] if (last - first) as usize + 1 == versions.len() => {
            format!("{first}..={last}")
        }
        _ if versions.len() <= 8 => versions
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        [first, .., last] => format!("{} versions from {first} to {last}", versions.len()),
    }
}

/// The newest published version, or [`ErrorKind::TableNotFound`].
pub fn latest_version(dir: &Path) -> Result<u64> {
    let not_found = || {
        Error::from(ErrorKind::TableNotFound {
            path: dir.to_path_buf(),
        })
    };
    if !dir.is_dir() {
        return Err(not_found());
    }
    list_versions(dir)?.last().copied().ok_or_else(not_found)
}

/// Reads the newest version's manifest. A concurrent `vacuum` may delete the manifest listed
/// as newest once a newer one exists: then the newer one is read.
pub fn read_latest_manifest(dir: &Path) -> Result<Manifest> {
    loop {
        let version = latest_version(dir)?;
        match read_manifest(dir, version) {
            Err(e)
                if matches!(e.kind(), ErrorKind::VersionNotFound { .. })
                    && latest_version(dir)? > version => {}
            other => return other,
        }
    }
}

/// Like [`read_manifest`], but `None` if the version does not exist (any more).
fn read_manifest_if_present(dir: &Path, version: u64) -> Result<Option<Manifest>> {
    match read_manifest(dir, version) {
        Ok(m) => Ok(Some(m)),
        Err(e) if matches!(e.kind(), ErrorKind::VersionNotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads and checks version `v`'s manifest.
pub fn read_manifest(dir: &Path, version: u64) -> Result<Manifest> {
    let path = dir.join(manifest_name(version));
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ErrorKind::VersionNotFound {
                path: dir.to_path_buf(),
                version,
                available: describe_versions(&list_versions(dir).unwrap_or_default()),
            }
            .into())
        }
        Err(e) => return Err(Error::io(&path, "read", e)),
    };
    let m = Manifest::decode(&bytes)
        .map_err(|e| Error::corrupt(&path, format!("manifest, byte {}", e.offset), e.detail))?;
    if m.version != version {
        return Err(Error::corrupt(
            &path,
            "manifest, byte 16",
            format!(
                "records version {} but is named for version {version}",
                m.version
            ),
        ));
    }
    Ok(m)
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

/// A new segment file name (`seg-<time>-<pid>-<n>.qseg`). Writers create it with `create_new`,
/// so a collision is an error, never an overwrite.
pub fn new_segment_name() -> String {
    format!("seg-{}{SEGMENT_SUFFIX}", unique_stem())
}

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Fsyncs a directory, making renames and links inside it durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(dir, "fsync directory", e))
}

/// Publishes `manifest` as version `manifest.version`, atomically and without replacing an
/// existing version (see the module contract).
pub fn publish(dir: &Path, manifest: &Manifest) -> Result<()> {
    let final_path = dir.join(manifest_name(manifest.version));
    let tmp_path = dir.join(format!("{TEMP_PREFIX}{}{MANIFEST_SUFFIX}", unique_stem()));
    let bytes = manifest.encode();
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)?;
        f.write_all(&bytes)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp_path);
        return Err(Error::io(&tmp_path, "write manifest", e));
    }
    let conflict = || {
        Err(ErrorKind::CommitConflict {
            table: dir.to_path_buf(),
            version: manifest.version,
        }
        .into())
    };
    let linked = {
        // Under the versions lock no vacuum deletes a manifest between this check and the link:
        // a name vacuum freed (an old version, so newer ones exist) is never reused.
        let _versions = FileLock::versions(dir)?;
        if list_versions(dir)?
            .last()
            .is_some_and(|&v| v >= manifest.version)
        {
            let _ = std::fs::remove_file(&tmp_path);
            return conflict();
        }
        std::fs::hard_link(&tmp_path, &final_path)
    };
    let _ = std::fs::remove_file(&tmp_path);
    match linked {
        Ok(()) => fsync_dir(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => conflict(),
        Err(e) => Err(Error::io(&final_path, "publish manifest", e)),
    }
}

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

/// Deletes temporary files, spill files and segments no manifest references. The caller must
/// hold the table's exclusive lock, so no writer is between writing a segment and publishing it.
pub(crate) fn remove_leftovers(
    dir: &Path,
    _exclusive: &FileLock,
    report: &mut VacuumReport,
) -> Result<()> {
    let names = read_dir_names(dir)?;
    let mut referenced = HashSet::new();
    for v in names.iter().filter_map(|n| parse_manifest_name(n)) {
        // A concurrent vacuum may have deleted it since: its segments are garbage already, or
        // named by a newer manifest.
        for s in read_manifest_if_present(dir, v)?.map_or_else(Vec::new, |m| m.segments) {
            referenced.insert(s.name);
        }
    }
    for name in &names {
        let leftover = name.starts_with(TEMP_PREFIX)
            || name.starts_with(SPILL_PREFIX)
            || (name.ends_with(SEGMENT_SUFFIX) && !referenced.contains(name));
        if leftover && name != LOCK_FILE && name != VERSIONS_LOCK_FILE {
            remove(dir, name, report)?;
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
        for s in read_manifest_if_present(dir, v)?.map_or_else(Vec::new, |m| m.segments) {
            referenced.insert(s.name);
        }
    }
    let mut report = VacuumReport::default();
    let mut candidates = Vec::new();
    for &v in old {
        // An unreadable old manifest is removed all the same: its segments become leftovers.
        if let Ok(m) = read_manifest(dir, v) {
            candidates.extend(m.segments.into_iter().map(|s| s.name));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::schema::TableSchema;

    fn manifest(version: u64) -> Manifest {
        Manifest {
            version,
            parent: version.checked_sub(1).filter(|&p| p > 0),
            created_micros: now_micros(),
            schema: TableSchema::default(),
            segments: vec![],
            properties: vec![],
        }
    }

    #[test]
    fn second_publish_of_a_version_is_a_conflict_and_the_first_survives() {
        let dir = tempfile::tempdir().unwrap();
        publish(dir.path(), &manifest(1)).unwrap();
        let mut other = manifest(1);
        other.created_micros += 1;
        let err = publish(dir.path(), &other).unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::CommitConflict { version: 1, .. }
        ));
        assert_eq!(
            read_manifest(dir.path(), 1).unwrap(),
            manifest_with_time(1, &dir)
        );
        assert_eq!(list_versions(dir.path()).unwrap(), vec![1]);
        // No temporary file is left behind by either publish: the manifest and the lock file.
        let mut names = read_dir_names(dir.path()).unwrap();
        names.sort();
        assert_eq!(
            names,
            vec![VERSIONS_LOCK_FILE.to_string(), manifest_name(1)]
        );
    }

    fn manifest_with_time(v: u64, dir: &tempfile::TempDir) -> Manifest {
        let m = read_manifest(dir.path(), v).unwrap();
        Manifest {
            created_micros: m.created_micros,
            ..manifest(v)
        }
    }

    #[test]
    fn a_version_older_than_the_newest_is_never_published_even_if_its_name_is_free() {
        let dir = tempfile::tempdir().unwrap();
        for v in 1..=4 {
            publish(dir.path(), &manifest(v)).unwrap();
        }
        // What vacuum does to an old version: its name is free again.
        std::fs::remove_file(dir.path().join(manifest_name(2))).unwrap();
        let err = publish(dir.path(), &manifest(2)).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::CommitConflict { version: 2, .. }),
            "{err}"
        );
        assert_eq!(list_versions(dir.path()).unwrap(), vec![1, 3, 4]);
        publish(dir.path(), &manifest(5)).unwrap();
    }

    #[test]
    fn racing_publishers_produce_exactly_one_winner_per_version() {
        let dir = tempfile::tempdir().unwrap();
        let wins: Vec<usize> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    // Like a writer: try the version after the newest, until there are 20.
                    s.spawn(|| {
                        let mut won = 0;
                        loop {
                            let next = list_versions(dir.path())
                                .unwrap()
                                .last()
                                .map_or(1, |v| v + 1);
                            if next > 20 {
                                return won;
                            }
                            if publish(dir.path(), &manifest(next)).is_ok() {
                                won += 1;
                            }
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(wins.iter().sum::<usize>(), 20);
        assert_eq!(
            list_versions(dir.path()).unwrap(),
            (1..=20).collect::<Vec<_>>()
        );
    }

    #[test]
    fn missing_version_error_lists_the_published_ones() {
        let dir = tempfile::tempdir().unwrap();
        for v in 1..=3 {
            publish(dir.path(), &manifest(v)).unwrap();
        }
        let err = read_manifest(dir.path(), 9).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("has no version 9 (published versions: 1..=3)"),
            "{err}"
        );
        assert_eq!(describe_versions(&[2, 5, 9]), "2, 5, 9");
    }

    #[test]
    fn manifest_file_names_parse_only_in_their_exact_form() {
        assert_eq!(parse_manifest_name(&manifest_name(42)), Some(42));
        assert_eq!(parse_manifest_name("42.manifest"), None);
        assert_eq!(parse_manifest_name("0000000000000000004x.manifest"), None);
    }
}
