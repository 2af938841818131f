//! Prepared statements of the Flight SQL server: handles, their SQL and bound parameters.
//!
//! # Contract
//! - A handle is an opaque byte string (`quiver-ps-<n>-<32 hex digits>`, the digits 128 random
//!   bits from the OS), unique for the server's lifetime; it names the SQL and, once `DoPut`
//!   bound them, one row of parameter values.
//! - A handle belongs to the user who created it: for any other caller it is unknown
//!   (`NotFound`), so nobody can run, rebind or close another user's statement, nor guess its
//!   handle. (Without authentication there is one anonymous owner.)
//! - A parameter batch must have exactly one row and one column per placeholder; anything else
//!   is refused with a message naming the counts.
//! - Unknown or closed handles are `NotFound` statuses naming the handle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::logical_expr::LogicalPlan;
use tonic::Status;

/// One prepared statement.
#[derive(Debug, Clone)]
pub(super) struct Prepared {
    /// The statement's SQL.
    pub sql: String,
    /// Parameter values bound by the last `DoPut`, in placeholder order.
    pub params: Option<Vec<ScalarValue>>,
    /// The user who created it (`None`: no authentication).
    owner: Option<String>,
}

impl Prepared {
    /// The bound parameters as DataFusion wants them.
    pub fn param_values(&self) -> Option<ParamValues> {
        self.params.clone().map(ParamValues::from)
    }
}

/// The server's prepared statements.
#[derive(Debug, Default)]
pub struct PreparedStatements {
    next: AtomicU64,
    statements: Mutex<HashMap<Bytes, Prepared>>,
}

impl PreparedStatements {
    /// Remembers `sql` for `owner`; returns its new handle.
    pub(super) fn insert(&self, sql: String, owner: Option<&str>) -> Result<Bytes, Status> {
        let mut secret = [0u8; 16];
        getrandom::fill(&mut secret)
            .map_err(|e| Status::internal(format!("no randomness for a statement handle: {e}")))?;
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let handle = Bytes::from(format!("quiver-ps-{n}-{hex}"));
        let prepared = Prepared {
            sql,
            params: None,
            owner: owner.map(str::to_owned),
        };
        self.lock().insert(handle.clone(), prepared);
        Ok(handle)
    }

    /// The statement behind `handle`, if `owner` created it.
    pub(super) fn get(&self, handle: &[u8], owner: Option<&str>) -> Result<Prepared, Status> {
        self.lock()
            .get(handle)
            .filter(|p| p.owner.as_deref() == owner)
            .cloned()
            .ok_or_else(|| not_found(handle))
    }

    /// Binds the parameters of `owner`'s `handle` to the one row of `batch`.
    pub(super) fn bind(
        &self,
        handle: &[u8],
        owner: Option<&str>,
        batch: &RecordBatch,
    ) -> Result<(), Status> {
        if batch.num_rows() != 1 {
            return Err(Status::invalid_argument(format!(
                "a prepared query binds one row of parameters; {} rows were sent",
                batch.num_rows()
            )));
        }
        let values = batch
            .columns()
            .iter()
            .map(|column| ScalarValue::try_from_array(column, 0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Status::invalid_argument(format!("cannot read a parameter: {e}")))?;
        let mut statements = self.lock();
        let statement = statements
            .get_mut(handle)
            .filter(|p| p.owner.as_deref() == owner)
            .ok_or_else(|| not_found(handle))?;
        statement.params = Some(values);
        Ok(())
    }

    /// Forgets `owner`'s `handle`; closing an unknown handle (or another user's) is not an
    /// error and does nothing (clients close on drop).
    pub(super) fn close(&self, handle: &[u8], owner: Option<&str>) {
        let mut statements = self.lock();
        if statements
            .get(handle)
            .is_some_and(|p| p.owner.as_deref() == owner)
        {
            statements.remove(handle);
        }
    }

    /// How many statements are open.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no statement is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Bytes, Prepared>> {
        // A panic while holding the lock cannot leave the map half-updated (single inserts and
        // removes), so a poisoned lock is still consistent.
        self.statements
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The parameter schema of `plan`: one field per placeholder `$1..$n`, typed where DataFusion
/// could infer it (`Null` where it could not).
pub(super) fn parameter_schema(plan: &LogicalPlan) -> Result<Schema, Status> {
    let fields = plan
        .get_parameter_fields()
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    let mut numbered: Vec<(usize, String, Option<Arc<Field>>)> = fields
        .into_iter()
        .map(|(name, field)| {
            let index = name
                .strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(usize::MAX);
            (index, name, field)
        })
        .collect();
    numbered.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Ok(Schema::new(
        numbered
            .into_iter()
            .map(|(_, name, field)| {
                let data_type = field.map_or(DataType::Null, |f| f.data_type().clone());
                Field::new(name, data_type, true)
            })
            .collect::<Vec<_>>(),
    ))
}

fn not_found(handle: &[u8]) -> Status {
    Status::not_found(format!(
        "no prepared statement {:?} (closed, or created by another server)",
        String::from_utf8_lossy(handle)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    #[test]
    fn bound_parameters_are_read_from_the_one_row_and_unknown_handles_are_not_found() {
        let statements = PreparedStatements::default();
        let handle = statements.insert("SELECT $1, $2".into(), None).unwrap();
        let batch = RecordBatch::try_from_iter([
            ("a", Arc::new(Int64Array::from(vec![7])) as _),
            ("b", Arc::new(StringArray::from(vec!["x"])) as _),
        ])
        .unwrap();
        statements.bind(&handle, None, &batch).unwrap();
        let prepared = statements.get(&handle, None).unwrap();
        assert_eq!(
            prepared.params.unwrap(),
            vec![ScalarValue::Int64(Some(7)), ScalarValue::from("x")]
        );
        let two_rows =
            RecordBatch::try_from_iter([("a", Arc::new(Int64Array::from(vec![1, 2])) as _)])
                .unwrap();
        let err = statements.bind(&handle, None, &two_rows).unwrap_err();
        assert!(err.message().contains("2 rows"), "{err}");
        statements.close(&handle, None);
        assert!(statements.is_empty());
        let err = statements.get(&handle, None).unwrap_err();
        assert_eq!(err.code(), tonic::Code::NotFound);
        assert!(err.message().contains("quiver-ps-0-"), "{err}");
    }

    #[test]
    fn a_handle_is_unguessable_and_unknown_to_every_user_but_its_creator() {
        let statements = PreparedStatements::default();
        let ann = statements.insert("SELECT $1".into(), Some("ann")).unwrap();
        let again = statements.insert("SELECT $1".into(), Some("ann")).unwrap();
        assert_ne!(ann, again);
        let text = std::str::from_utf8(&ann).unwrap();
        let hex = text.rsplit('-').next().unwrap();
        assert_eq!(hex.len(), 32, "{text}");
        let schema = Arc::new(Schema::new(vec![Field::new("$1", DataType::Int64, false)]));
        let one = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![7]))]).unwrap();
        for other in [Some("bob"), None] {
            let code = |r: Result<(), Status>| r.unwrap_err().code();
            assert_eq!(
                statements.get(&ann, other).unwrap_err().code(),
                tonic::Code::NotFound
            );
            assert_eq!(
                code(statements.bind(&ann, other, &one)),
                tonic::Code::NotFound
            );
            statements.close(&ann, other);
        }
        assert_eq!(statements.len(), 2, "nobody else closed it");
        statements.bind(&ann, Some("ann"), &one).unwrap();
        let prepared = statements.get(&ann, Some("ann")).unwrap();
        assert_eq!(prepared.params, Some(vec![ScalarValue::Int64(Some(7))]));
        statements.close(&ann, Some("ann"));
        assert_eq!(statements.len(), 1);
    }
}
