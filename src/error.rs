//! The crate's one error type.
//!
//! # Contract
//! - Every fallible function in Quiver returns [`Result<T>`], whose error is [`Error`].
//! - An [`Error`] is one pointer wide (the [`ErrorKind`] is boxed) so `Result` stays small.
//! - Messages name where the fault is: the file, the column, the region and byte offset, the row,
//!   or the table version — whichever applies — and the values that were compared.

use std::fmt;
use std::path::{Path, PathBuf};

/// `Result` with Quiver's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Quiver's error: a boxed [`ErrorKind`].
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error(Box<ErrorKind>);

/// What went wrong. Each variant's doc says when it occurs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An operating-system call on `path` failed (`op` says which: "open", "write", "fsync", ...).
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// The file or directory the call was about.
        path: PathBuf,
        /// What Quiver was doing, as a verb.
        op: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file's bytes break the format (docs/FORMAT.md): bad magic, a region outside the file,
    /// a checksum mismatch, non-monotonic offsets, invalid UTF-8, ...
    #[error("corrupt file {}: {}: {detail}", file.display(), Place(region, *offset))]
    Corrupt {
        /// The file at fault.
        file: PathBuf,
        /// The structure at fault: `header`, `trailer`, `footer`, `manifest`, or a column or
        /// the overflow bag and one of its regions (`column "price", region offsets`).
        region: String,
        /// The byte offset in the file, when one byte is at fault.
        offset: Option<u64>,
        /// What is wrong, with the values that were compared.
        detail: String,
    },
    /// An input file (Parquet, IPC, CSV, NDJSON) could not be read or does not fit the table.
    #[error("cannot import {}: {detail}", file.display())]
    Input {
        /// The input file.
        file: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// A column's Arrow type has no storage layout in this version of Quiver.
    #[error("column \"{column}\" has type {data_type}, which Quiver cannot store: {reason}")]
    Unsupported {
        /// The column's name.
        column: String,
        /// Its Arrow type, as Arrow prints it.
        data_type: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A batch's schema does not match the table it is written to.
    #[error("schema mismatch writing to {}: {detail}", table.display())]
    SchemaMismatch {
        /// The table directory.
        table: PathBuf,
        /// Which column differs and how.
        detail: String,
    },
    /// Another writer published `version` first and this commit could not be rebased onto it.
    #[error("commit conflict on {}: version {version} was published by another writer", table.display())]
    CommitConflict {
        /// The table directory.
        table: PathBuf,
        /// The version both writers tried to publish.
        version: u64,
    },
    /// A row-level change (DELETE, UPDATE, MERGE, optimize) lost the commit race to a version
    /// that changed a segment it also changes: nothing was published; run it again.
    #[error("commit conflict on {}: version {version}, published meanwhile by another writer, also changed segment {segment}; nothing was committed — run the change again", table.display())]
    ChangeConflict {
        /// The table directory.
        table: PathBuf,
        /// The version that won.
        version: u64,
        /// A segment both changed.
        segment: String,
    },
    /// `TableWriter::create` on a directory that already holds a table.
    #[error("{} already holds a Quiver table (newest version {version}); append to it or choose a new directory", path.display())]
    TableExists {
        /// The table directory.
        path: PathBuf,
        /// Its newest version.
        version: u64,
    },
    /// The directory holds no published version of a table.
    #[error("{} is not a Quiver table: it has no published version", path.display())]
    TableNotFound {
        /// The directory that was opened.
        path: PathBuf,
    },
    /// The asked version was never published or has been vacuumed.
    #[error("{} has no version {version} (published versions: {available})", path.display())]
    VersionNotFound {
        /// The table directory.
        path: PathBuf,
        /// The version asked for.
        version: u64,
        /// The versions that exist, e.g. "1..=7" or "none".
        available: String,
    },
    /// A row position past the end of the table.
    #[error("row {row} is out of range: the table has {num_rows} rows")]
    RowOutOfRange {
        /// The position asked for.
        row: u64,
        /// The table's row count.
        num_rows: u64,
    },
    /// A caller passed an argument that cannot be honoured (a projection index past the last
    /// column, a zero batch size, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An error raised by an Arrow kernel.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}

/// Where a [`ErrorKind::Corrupt`] error is: the file, the structure or region, the byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location<'a> {
    /// The file at fault.
    pub file: &'a Path,
    /// The structure or region at fault (see [`ErrorKind::Corrupt`]).
    pub region: &'a str,
    /// The byte offset in the file, when one byte is at fault.
    pub offset: Option<u64>,
}

/// Displays a region with its byte offset: `column "a", region offsets, byte 4096`.
struct Place<'a>(&'a str, Option<u64>);

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(offset) => write!(f, "{}, byte {offset}", self.0),
            None => f.write_str(self.0),
        }
    }
}

impl Error {
    /// The kind of error, to match on.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// Consumes the error, returning its kind.
    pub fn into_kind(self) -> ErrorKind {
        *self.0
    }

    /// True if this is a [`ErrorKind::Corrupt`] error.
    pub fn is_corrupt(&self) -> bool {
        matches!(*self.0, ErrorKind::Corrupt { .. })
    }

    /// Where a [`ErrorKind::Corrupt`] error is (`None` for every other kind).
    pub fn location(&self) -> Option<Location<'_>> {
        match &*self.0 {
            ErrorKind::Corrupt {
                file,
                region,
                offset,
                ..
            } => Some(Location {
                file,
                region,
                offset: *offset,
            }),
            _ => None,
        }
    }

    /// The file this error is about, when there is one.
    pub fn file(&self) -> Option<&Path> {
        match &*self.0 {
            ErrorKind::Io { path, .. } => Some(path),
            ErrorKind::Corrupt { file, .. } | ErrorKind::Input { file, .. } => Some(file),
            _ => None,
        }
    }

    /// An [`ErrorKind::Io`] error: `op` (a verb: "open", "write", ...) on `path` failed.
    pub fn io(path: impl Into<PathBuf>, op: &'static str, source: std::io::Error) -> Self {
        ErrorKind::Io {
            path: path.into(),
            op,
            source,
        }
        .into()
    }

    /// A [`ErrorKind::Corrupt`] error about a whole structure or region of `file`.
    pub(crate) fn corrupt(
        file: impl Into<PathBuf>,
        region: impl fmt::Display,
        detail: impl fmt::Display,
    ) -> Self {
        Self::corrupt_with_offset(file, region, None, detail)
    }

    /// A [`ErrorKind::Corrupt`] error about byte `offset` of `file`, in `region`.
    pub(crate) fn corrupt_at(
        file: impl Into<PathBuf>,
        region: impl fmt::Display,
        offset: u64,
        detail: impl fmt::Display,
    ) -> Self {
        Self::corrupt_with_offset(file, region, Some(offset), detail)
    }

    fn corrupt_with_offset(
        file: impl Into<PathBuf>,
        region: impl fmt::Display,
        offset: Option<u64>,
        detail: impl fmt::Display,
    ) -> Self {
        ErrorKind::Corrupt {
            file: file.into(),
            region: region.to_string(),
            offset,
            detail: detail.to_string(),
        }
        .into()
    }

    /// An [`ErrorKind::InvalidArgument`] error.
    pub fn invalid(detail: impl fmt::Display) -> Self {
        ErrorKind::InvalidArgument(detail.to_string()).into()
    }

    pub(crate) fn schema_mismatch(table: impl Into<PathBuf>, detail: impl fmt::Display) -> Self {
        ErrorKind::SchemaMismatch {
            table: table.into(),
            detail: detail.to_string(),
        }
        .into()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error(Box::new(kind))
    }
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        ErrorKind::Arrow(e).into()
    }
}

impl From<Error> for arrow::error::ArrowError {
    fn from(e: Error) -> Self {
        match e.into_kind() {
            ErrorKind::Arrow(inner) => inner,
            other => arrow::error::ArrowError::ExternalError(Box::new(Error::from(other))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_one_pointer_wide() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn corrupt_message_names_file_location_and_detail() {
        let e = Error::corrupt_at("/t/seg-1.qseg", "column \"a\", region offsets", 4096, "bad");
        assert_eq!(
            e.to_string(),
            "corrupt file /t/seg-1.qseg: column \"a\", region offsets, byte 4096: bad"
        );
        assert!(e.is_corrupt());
        assert_eq!(e.file(), Some(Path::new("/t/seg-1.qseg")));
        assert_eq!(
            e.location(),
            Some(Location {
                file: Path::new("/t/seg-1.qseg"),
                region: "column \"a\", region offsets",
                offset: Some(4096),
            })
        );
        let whole = Error::corrupt("/t/seg-1.qseg", "footer", "bad");
        assert_eq!(whole.to_string(), "corrupt file /t/seg-1.qseg: footer: bad");
        assert_eq!(whole.location().unwrap().offset, None);
        assert_eq!(Error::invalid("x").location(), None);
    }
}
