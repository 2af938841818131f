//! Naming Quiver tables in SQL: a database directory as a schema, `CREATE EXTERNAL TABLE ...
//! STORED AS QUIVER`, and the `quiver_version(dir, version)` table function.
//!
//! # Contract
//! - [`QuiverSchemaProvider`]: every subdirectory of the database directory that holds a
//!   published table is a table named after the subdirectory. Its provider is kept for the
//!   session and renewed on each lookup ([`QuiverTableProvider::renewed`]), so a statement
//!   maps only the segments committed since the last one. Tables registered by statements
//!   (views, `CREATE EXTERNAL TABLE`) live in memory for the session, beside them; a Quiver table
//!   directory is never deleted by `DROP TABLE` (remove the directory instead).
//! - [`QuiverTableFactory`]: `CREATE EXTERNAL TABLE t [(columns)] STORED AS QUIVER LOCATION
//!   'dir'` serves the table in `dir`; with columns and no table there yet, it creates an empty
//!   one with that schema.
//! - [`VersionFunction`]: `SELECT ... FROM quiver_version('dir', 3)` reads version 3 of the
//!   table in `dir` (time travel), read-only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use datafusion::catalog::SchemaProvider;
use datafusion::catalog::{Session, TableFunctionImpl, TableProviderFactory};
use datafusion::common::{plan_err, DataFusionError, Result, ScalarValue};
use datafusion::datasource::TableProvider;
use datafusion::logical_expr::{CreateExternalTable, Expr};

use super::external;
use super::provider::QuiverTableProvider;
use crate::{ErrorKind, Table};

/// The tables of a database directory (see the module contract).
#[derive(Debug)]
pub struct QuiverSchemaProvider {
    dir: PathBuf,
    /// Tables registered during the session (views, external tables), by name.
    registered: RwLock<HashMap<String, Arc<dyn TableProvider>>>,
    /// Providers of the directory's tables looked up so far, by name.
    opened: Mutex<HashMap<String, Arc<QuiverTableProvider>>>,
    /// Whether its tables give strings as views.
    string_view: bool,
}

impl QuiverSchemaProvider {
    /// The schema of database directory `dir` (which must exist).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            registered: RwLock::new(HashMap::new()),
            opened: Mutex::new(HashMap::new()),
            string_view: true,
        }
    }

    /// Whether its tables give strings as views (the default) or as `LargeUtf8`
    /// ([`QuiverTableProvider::with_string_view`]).
    pub fn with_string_view(mut self, string_view: bool) -> Self {
        self.string_view = string_view;
        self
    }

    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn table_dirs(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter(|e| Table::exists(e.path()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }
}

#[async_trait]
impl SchemaProvider for QuiverSchemaProvider {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.table_dirs();
        if let Ok(reg) = self.registered.read() {
            names.extend(reg.keys().cloned());
        }
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(t) = self
            .registered
            .read()
            .ok()
            .and_then(|r| r.get(name).cloned())
        {
            return Ok(Some(t));
        }
        let dir = self.dir.join(name);
        let mut opened = self
            .opened
            .lock()
            .map_err(|_| DataFusionError::Internal("table cache lock poisoned".into()))?;
        let provider = match opened.get(name).map(|kept| kept.renewed()) {
            Some(Ok(renewed)) => renewed,
            Some(Err(e)) if matches!(e.kind(), ErrorKind::TableNotFound { .. }) => {
                opened.remove(name);
                return Ok(None);
            }
            Some(Err(e)) => return Err(external(e)),
            None if !dir.is_dir() || !Table::exists(&dir) => return Ok(None),
            None => Arc::new(
                QuiverTableProvider::try_new(&dir)
                    .map_err(external)?
                    .with_string_view(self.string_view),
            ),
        };
        opened.insert(name.to_string(), Arc::clone(&provider));
        Ok(Some(provider))
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        if self.table_dirs().contains(&name) {
            return plan_err!(
                "a Quiver table named {name} already exists in {}",
                self.dir.display()
            );
        }
        let mut reg = self
            .registered
            .write()
            .map_err(|_| DataFusionError::Internal("registry lock poisoned".into()))?;
        Ok(reg.insert(name, table))
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let mut reg = self
            .registered
            .write()
            .map_err(|_| DataFusionError::Internal("registry lock poisoned".into()))?;
        if let Some(t) = reg.remove(name) {
            return Ok(Some(t));
        }
        if self.table_dirs().iter().any(|n| n == name) {
            return plan_err!(
                "{name} is a Quiver table stored in {}; DROP does not delete data — remove the directory to drop it",
                self.dir.join(name).display()
            );
        }
        Ok(None)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.registered.read().is_ok_and(|r| r.contains_key(name))
            || self.table_dirs().iter().any(|n| n == name)
    }
}

/// `CREATE EXTERNAL TABLE ... STORED AS QUIVER` (see the module contract).
#[derive(Debug)]
pub struct QuiverTableFactory {
    string_view: bool,
}

impl Default for QuiverTableFactory {
    fn default() -> Self {
        Self { string_view: true }
    }
}

impl QuiverTableFactory {
    /// Whether the tables it serves give strings as views (the default) or as `LargeUtf8`
    /// ([`QuiverTableProvider::with_string_view`]).
    pub fn with_string_view(mut self, string_view: bool) -> Self {
        self.string_view = string_view;
        self
    }
}

#[async_trait]
impl TableProviderFactory for QuiverTableFactory {
    async fn create(
        &self,
        _state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> Result<Arc<dyn TableProvider>> {
        let [location] = cmd.locations.as_slice() else {
            return plan_err!(
                "STORED AS QUIVER takes one LOCATION, the table directory; got {}",
                cmd.locations.len()
            );
        };
        let dir = PathBuf::from(location);
        let exists = Table::exists(&dir);
        if !exists && !cmd.schema.fields().is_empty() {
            let schema = Arc::new(cmd.schema.as_arrow().clone());
            crate::TableWriter::create(&dir, schema)
                .and_then(|w| w.commit())
                .map_err(external)?;
        }
        let provider = QuiverTableProvider::try_new(&dir)
            .map_err(external)?
            .with_string_view(self.string_view);
        if !cmd.schema.fields().is_empty() {
            let declared: Vec<&str> = cmd
                .schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            let actual = provider.schema();
            let actual: Vec<&str> = actual.fields().iter().map(|f| f.name().as_str()).collect();
            if declared != actual {
                return plan_err!(
                    "{} holds columns {actual:?}, the statement declares {declared:?}",
                    dir.display()
                );
            }
        }
        Ok(Arc::new(provider))
    }
}

/// `quiver_version('dir', version)`: a read-only snapshot of an older version.
#[derive(Debug, Default)]
pub struct VersionFunction;

impl TableFunctionImpl for VersionFunction {
    fn call(&self, args: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        let usage =
            "quiver_version takes a table directory and a version: quiver_version('dir', 3)";
        let [Expr::Literal(dir, _), Expr::Literal(version, _)] = args else {
            return plan_err!("{usage}");
        };
        let dir = match dir {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => s.clone(),
            _ => return plan_err!("{usage}"),
        };
        let version = match version {
            ScalarValue::Int64(Some(v)) if *v > 0 => *v as u64,
            ScalarValue::Int32(Some(v)) if *v > 0 => *v as u64,
            ScalarValue::UInt64(Some(v)) => *v,
            _ => return plan_err!("{usage}"),
        };
        let provider = QuiverTableProvider::try_new_at_version(&dir, version).map_err(external)?;
        Ok(Arc::new(provider))
    }
}
