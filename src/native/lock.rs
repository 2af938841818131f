//! Advisory whole-file locks (std's `File::lock*`, `flock(2)` on Linux) on a table's lock files.
//!
//! # Contract
//! - Writers hold a *shared* lock on `<table>/.quiver-lock` from their first segment to their
//!   commit (or drop). Many writers may hold it at once; they race on version numbers, which the
//!   no-replace publish settles (`table_dir.rs`).
//! - Removing files that no manifest references (a crashed writer's leftovers) needs the
//!   *exclusive* lock, taken without waiting: if any writer is live, that cleanup is skipped.
//! - Changing the set of versions — publishing one, or `vacuum` deleting old ones — happens
//!   under the *exclusive* lock on `<table>/.quiver-versions-lock`, held for that step only
//!   ([`FileLock::versions`]): a writer then checks that its version is the next one and links
//!   it with no vacuum in between, so a version name vacuum freed is never published again.
//! - A lock is released when its [`FileLock`] is dropped, or by the kernel when the process
//!   dies — which is what makes a crashed writer's leftovers recognisable.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Name of the writer lock file inside a table directory.
pub const LOCK_FILE: &str = ".quiver-lock";
/// Name of the lock file serialising changes to the set of versions.
pub const VERSIONS_LOCK_FILE: &str = ".quiver-versions-lock";

/// A held lock on a table's lock file, released on drop.
#[derive(Debug)]
pub struct FileLock {
    /// Held only for its lock: closing the file releases it.
    _file: File,
}

fn open_lock_file(table: &Path, name: &str) -> Result<(File, PathBuf)> {
    let path = table.join(name);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, "open lock file", e))?;
    Ok((file, path))
}

impl FileLock {
    /// Takes the shared writer lock of `table`, waiting for an exclusive holder to finish.
    pub fn shared(table: &Path) -> Result<Self> {
        let (file, path) = open_lock_file(table, LOCK_FILE)?;
        file.lock_shared()
            .map_err(|e| Error::io(&path, "lock (shared)", e))?;
        Ok(Self { _file: file })
    }

    /// Takes the exclusive lock of `table` if no one holds any lock on it; `None` otherwise.
    pub fn try_exclusive(table: &Path) -> Result<Option<Self>> {
        let (file, path) = open_lock_file(table, LOCK_FILE)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(Error::io(&path, "lock (exclusive)", e)),
        }
    }

    /// Takes the exclusive versions lock of `table`, waiting for its holder (a publish or a
    /// vacuum's manifest deletion, both short).
    pub fn versions(table: &Path) -> Result<Self> {
        let (file, path) = open_lock_file(table, VERSIONS_LOCK_FILE)?;
        file.lock()
            .map_err(|e| Error::io(&path, "lock (versions)", e))?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_is_refused_while_a_shared_lock_is_held_and_granted_after() {
        let dir = tempfile::tempdir().unwrap();
        let shared = FileLock::shared(dir.path()).unwrap();
        let second = FileLock::shared(dir.path()).unwrap();
        assert!(FileLock::try_exclusive(dir.path()).unwrap().is_none());
        drop(shared);
        drop(second);
        let ex = FileLock::try_exclusive(dir.path()).unwrap().unwrap();
        assert!(FileLock::try_exclusive(dir.path()).unwrap().is_none());
        drop(ex);
        let _shared = FileLock::shared(dir.path()).unwrap();
    }
}
