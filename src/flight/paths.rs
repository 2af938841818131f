//! Which files a served statement may name: only those under the directories the server
//! serves.
//!
//! # Contract
//! - [`ServedPaths::check`] refuses (`PermissionDenied`, naming the path and the served
//!   directories) a plan that names a path outside them: `CREATE EXTERNAL TABLE … LOCATION`,
//!   `COPY … TO`, and scans of Quiver tables by path (`quiver_version('dir', v)`, also inside
//!   subqueries). Tables the server registered itself (its `--db` and `--table` directories)
//!   are among the served directories.
//! - A path is resolved as the server would open it: relative to the server's working
//!   directory, symbolic links followed (the longest existing ancestor is canonicalized); a
//!   `..` in the part that does not exist yet, or a URL other than `file://`, is refused.
//! - With no served directory (the default of a [`QuiverFlightSqlService`](super::QuiverFlightSqlService)),
//!   every statement that names a path is refused.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use tonic::Status;

use crate::sql::QuiverTableProvider;

/// The directories whose files a served statement may name (see the module contract).
#[derive(Debug, Clone, Default)]
pub struct ServedPaths {
    /// Canonical directories.
    roots: Vec<PathBuf>,
}

impl ServedPaths {
    /// Statements may name files under `dirs` (each must exist).
    pub fn new(dirs: impl IntoIterator<Item = PathBuf>) -> crate::Result<Self> {
        let roots = dirs
            .into_iter()
            .map(|d| {
                d.canonicalize()
                    .map_err(|e| crate::Error::io(&d, "resolve the served directory", e))
            })
            .collect::<crate::Result<_>>()?;
        Ok(Self { roots })
    }

    /// Refuses `plan` if it names a path outside the served directories.
    pub(super) fn check(&self, plan: &LogicalPlan) -> Result<(), Status> {
        let mut refused = None;
        let _ = plan.apply_with_subqueries(|node| {
            let named: Vec<(&str, String)> = match node {
                LogicalPlan::Ddl(DdlStatement::CreateExternalTable(c)) => c
                    .locations
                    .iter()
                    .map(|l| ("CREATE EXTERNAL TABLE", l.clone()))
                    .collect(),
                LogicalPlan::Copy(c) => vec![("COPY", c.output_url.clone())],
                LogicalPlan::TableScan(scan) => source_as_provider(&scan.source)
                    .ok()
                    .and_then(|p| {
                        p.downcast_ref::<QuiverTableProvider>()
                            .map(|q| ("a scan", q.path().to_string_lossy().into_owned()))
                    })
                    .into_iter()
                    .collect(),
                _ => Vec::new(),
            };
            for (what, path) in named {
                if !self.allows(&path) {
                    refused = Some(self.refusal(what, &path));
                    return Ok(TreeNodeRecursion::Stop);
                }
            }
            Ok(TreeNodeRecursion::Continue)
        });
        refused.map_or(Ok(()), Err)
    }

    /// Whether `location` (a path or a `file://` URL) resolves under a served directory.
    fn allows(&self, location: &str) -> bool {
        let path = match location.split_once("://") {
            Some(("file", rest)) => rest,
            Some(_) => return false,
            None => location,
        };
        resolve(Path::new(path)).is_some_and(|p| self.roots.iter().any(|r| p.starts_with(r)))
    }

    fn refusal(&self, what: &str, path: &str) -> Status {
        let roots = if self.roots.is_empty() {
            "none: the server was started without a --db or --table directory".to_owned()
        } else {
            self.roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        Status::permission_denied(format!(
            "{what} names {path}, outside the directories this server serves ({roots})"
        ))
    }
}

/// `path` as the server would reach it: absolute, its longest existing ancestor
/// canonicalized (links followed), the rest appended; `None` if the rest holds `..` or the
/// path cannot be resolved.
fn resolve(path: &Path) -> Option<PathBuf> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(mut resolved) = existing.canonicalize() {
            resolved.extend(rest.iter().rev());
            return Some(resolved);
        }
        // `file_name` is `None` for a path ending in `..`: refused.
        rest.push(existing.file_name()?.to_owned());
        existing = existing.parent()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_under_their_root_or_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("db");
        std::fs::create_dir_all(root.join("t")).unwrap();
        let outside = tmp.path().join("elsewhere");
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        let served = ServedPaths::new([root.clone()]).unwrap();
        let s = |p: PathBuf| p.to_string_lossy().into_owned();
        assert!(served.allows(&s(root.join("t"))));
        assert!(
            served.allows(&s(root.join("new/dir/file.parquet"))),
            "not yet existing"
        );
        assert!(served.allows(&format!("file://{}", s(root.join("t")))));
        assert!(!served.allows(&s(outside.clone())));
        assert!(
            !served.allows(&s(root.join("t/../../elsewhere"))),
            "dot-dot"
        );
        assert!(
            !served.allows(&s(root.join("new/../../elsewhere"))),
            "dot-dot, not existing"
        );
        assert!(
            !served.allows(&s(root.join("link/x"))),
            "a link out of the root"
        );
        assert!(!served.allows("s3://bucket/x"));
        assert!(!served.allows("/etc/passwd"));
        assert!(!ServedPaths::default().allows(&s(root.join("t"))));
    }
}
