//! Marks of writers that may have left files behind: what lets a writer's open skip the
//! leftover scan.
//!
//! # Contract
//! - A writer creates a mark — an empty file in `<table>/.quiver-writers/` with a name unique
//!   to it — before it writes any file into the table, and removes it only once every file it
//!   wrote is published or removed ([`WriterMark`]'s drop; a writer that could not remove its
//!   files keeps its mark).
//! - So while the table's exclusive lock is held (no writer is live), a mark is a crashed
//!   writer's, and only then can files no manifest names exist: [`crashed_writers`] lists those
//!   marks, and the writer-open cleanup scans the directory only when there is one, removing
//!   the marks after the scan. `vacuum` always scans.
//! - Losing a mark (power loss before the directory entry was durable) only leaks disk space
//!   until the next `vacuum`; it never makes a published file disappear.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// The directory of marks inside a table directory.
pub const MARKS_DIR: &str = ".quiver-writers";

/// One live writer's mark, removed on drop unless [`WriterMark::keep`] was called.
#[derive(Debug)]
pub struct WriterMark {
    path: PathBuf,
    keep: bool,
}

impl WriterMark {
    /// Creates a new mark in table directory `dir`.
    pub fn create(dir: &Path) -> Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let marks = dir.join(MARKS_DIR);
        match std::fs::create_dir(&marks) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(&marks, "create directory", e)),
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!(
            "{}-{nanos}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = marks.join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(&path, "create writer mark", e))?;
        Ok(Self { path, keep: false })
    }

    /// Leaves the mark in place when dropped: this writer's files may not all be gone.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for WriterMark {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The marks in table directory `dir`; with the exclusive lock held, crashed writers' marks.
pub fn crashed_writers(dir: &Path) -> Result<Vec<PathBuf>> {
    let marks = dir.join(MARKS_DIR);
    let entries = match std::fs::read_dir(&marks) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&marks, "list", e)),
    };
    entries
        .map(|e| {
            e.map(|e| e.path())
                .map_err(|err| Error::io(&marks, "list", err))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_lives_until_dropped_unless_kept() {
        let dir = tempfile::tempdir().unwrap();
        assert!(crashed_writers(dir.path()).unwrap().is_empty());
        let a = WriterMark::create(dir.path()).unwrap();
        let mut b = WriterMark::create(dir.path()).unwrap();
        assert_eq!(crashed_writers(dir.path()).unwrap().len(), 2);
        drop(a);
        b.keep();
        drop(b);
        assert_eq!(crashed_writers(dir.path()).unwrap().len(), 1);
    }
}
