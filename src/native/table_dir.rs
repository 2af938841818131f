//! A table directory's versions: listing, reading and atomically publishing manifests.
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
//! - So the published versions always form one contiguous range: a publish adds the newest
//!   plus one and vacuum deletes only the oldest. [`newest_version_from`] relies on it to find
//!   the newest version from a known one by probing names, without listing the directory (a
//!   table of many small commits holds many files), and [`publish`] to check "newer than every
//!   existing version" as "the parent still exists".

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::lock::FileLock;
use super::manifest::Manifest;
use super::names::{manifest_name, parse_manifest_name, read_dir_names, temp_manifest_name};
use crate::error::{Error, ErrorKind, Result};

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

/// The newest version of the table in `dir`, given that version `known` was published: the
/// names after `known` are probed one by one, O(versions published since) — no listing unless
/// `known` itself was vacuumed meanwhile (see the module contract).
pub fn newest_version_from(dir: &Path, known: u64) -> Result<u64> {
    let exists = |v: u64| dir.join(manifest_name(v)).is_file();
    let mut newest = known;
    while newest < u64::MAX && exists(newest + 1) {
        newest += 1;
    }
    if newest > known || exists(known) {
        return Ok(newest);
    }
    latest_version(dir)
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
pub(crate) fn read_manifest_if_present(dir: &Path, version: u64) -> Result<Option<Manifest>> {
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
        .map_err(|e| Error::corrupt_at(&path, "manifest", e.offset as u64, e.detail))?;
    if m.version != version {
        return Err(Error::corrupt_at(
            &path,
            "manifest",
            16,
            format!(
                "records version {} but is named for version {version}",
                m.version
            ),
        ));
    }
    Ok(m)
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

/// Writes `bytes` to the new file `tmp` (it must not exist) and fsyncs it; on failure removes
/// what was written. `what` names the write in the error.
pub(crate) fn write_new_durable(tmp: &Path, bytes: &[u8], what: &'static str) -> Result<()> {
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(tmp);
        Error::io(tmp, what, e)
    })
}

/// Publishes `manifest` as version `manifest.version`, atomically and without replacing an
/// existing version (see the module contract).
pub fn publish(dir: &Path, manifest: &Manifest) -> Result<()> {
    let final_path = dir.join(manifest_name(manifest.version));
    let tmp_path = dir.join(temp_manifest_name());
    let bytes = manifest.encode();
    write_new_durable(&tmp_path, &bytes, "write manifest")?;
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
        // The parent still existing (then no version above it but ours can, as versions are
        // contiguous and the link fails if ours exists) spares a listing.
        let parent_exists = manifest
            .parent
            .is_some_and(|p| p + 1 == manifest.version && dir.join(manifest_name(p)).is_file());
        if !parent_exists
            && list_versions(dir)?
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::lock::VERSIONS_LOCK_FILE;
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
        // What vacuum does to the two oldest versions: their names are free again.
        for v in 1..=2 {
            std::fs::remove_file(dir.path().join(manifest_name(v))).unwrap();
        }
        for v in 1..=2 {
            let err = publish(dir.path(), &manifest(v)).unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::CommitConflict { version, .. } if *version == v),
                "{err}"
            );
        }
        assert_eq!(list_versions(dir.path()).unwrap(), vec![3, 4]);
        publish(dir.path(), &manifest(5)).unwrap();
    }

    #[test]
    fn the_newest_version_is_found_from_a_known_one_even_after_it_was_vacuumed() {
        let dir = tempfile::tempdir().unwrap();
        for v in 1..=5 {
            publish(dir.path(), &manifest(v)).unwrap();
        }
        assert_eq!(newest_version_from(dir.path(), 5).unwrap(), 5);
        assert_eq!(newest_version_from(dir.path(), 2).unwrap(), 5);
        for v in 1..=3 {
            std::fs::remove_file(dir.path().join(manifest_name(v))).unwrap();
        }
        assert_eq!(newest_version_from(dir.path(), 1).unwrap(), 5);
        for v in 4..=5 {
            std::fs::remove_file(dir.path().join(manifest_name(v))).unwrap();
        }
        assert!(matches!(
            newest_version_from(dir.path(), 5).unwrap_err().kind(),
            ErrorKind::TableNotFound { .. }
        ));
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
}
