//! An Arrow Flight SQL server over a [`QuiverSession`]: `quiver serve`, and
//! [`QuiverFlightSqlService`] for embedding.
//!
//! # Contract
//! - **Statements.** `GetFlightInfo(CommandStatementQuery)` plans a query (nothing runs; a
//!   planning error — bad SQL, unknown table — is an `InvalidArgument` status carrying
//!   DataFusion's message) and answers the result schema with one endpoint whose ticket holds
//!   the SQL. `DoGet` plans it again and streams the batches as DataFusion produces them:
//!   nothing is collected, gRPC flow control is the back-pressure. DDL (`CREATE VIEW`,
//!   `CREATE TABLE ... AS`, `DROP VIEW`, `SET`) runs at `GetFlightInfo` — of a statement or
//!   of a prepared statement — and answers no columns and no endpoint, so clients that never
//!   fetch a DDL statement's (empty) result still see it take effect.
//! - **Prepared statements.** `CreatePreparedStatement` plans the SQL and answers its result
//!   schema and its parameter schema (`$1`, `$2`, ... placeholders); `DoPut` binds one row of
//!   parameters; `GetFlightInfo`/`DoGet` run it; `ClosePreparedStatement` forgets it. Handles
//!   live in the server until closed, and belong to the user who created them (`prepared.rs`).
//! - **Updates.** `DoPut(CommandStatementUpdate)` runs a statement (`INSERT`, `CREATE TABLE
//!   ... AS`, `CREATE VIEW`) and answers the number of rows it wrote (0 for DDL).
//! - **Metadata.** Catalogs, schemas, tables (with their Arrow schemas when asked), table
//!   types and SQL info, as JDBC and ADBC drivers ask for them; filters are applied by
//!   arrow-flight's builders.
//! - **Cancellation.** A query lives exactly as long as its response stream: when a client
//!   disconnects or cancels mid-stream, tonic drops the stream, which drops the DataFusion
//!   stream and with it the query's tasks and segment mappings.
//!   [`QuiverFlightSqlService::active_queries`] counts the streams alive.
//! - Every client shares one session: tables of the database directory, views created over
//!   Flight SQL, and settings are server-wide.
//! - **Access.** With [`ServeOptions::auth`], every call but the handshake needs a bearer token
//!   (`guard.rs`, `auth.rs`, `users.rs`); a user of role `read` — and everyone on a
//!   [`QuiverFlightSqlService::with_read_only`] server — may not run a statement that changes
//!   anything (DML, DDL, `COPY`, `SET`, also under `EXPLAIN ANALYZE`): `PermissionDenied`,
//!   and nothing runs. Without authentication every caller may write.
//! - **Paths** (`paths.rs`): a statement may name files only under the served directories
//!   ([`QuiverFlightSqlService::with_served_paths`]; none by default): `CREATE EXTERNAL TABLE`,
//!   `COPY … TO` and `quiver_version` elsewhere are `PermissionDenied`, whatever the role.
//! - **Limits** (`limits.rs`): queries at once, time per query, bytes per `DoPut`.

#![forbid(unsafe_code)]

pub mod auth;
mod guard;
pub mod limits;
mod metadata;
mod paths;
mod prepared;
mod service;
mod tracking;
pub mod users;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightServiceServer;
use arrow_flight::sql::Any;
use arrow_flight::{FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, Ticket};
use datafusion::common::{DataFusionError, ParamValues};
use datafusion::logical_expr::LogicalPlan;
use futures::{Stream, StreamExt};
use prost::Message;
use tonic::Status;

use crate::sql::QuiverSession;

use auth::{Authenticator, Caller};
pub use guard::Guarded;
use limits::QueryLimits;
pub use paths::ServedPaths;
pub use prepared::PreparedStatements;
use tracking::QueryTracker;
use users::Role;

/// The Flight SQL service (see the module contract).
pub struct QuiverFlightSqlService {
    session: Arc<QuiverSession>,
    prepared: PreparedStatements,
    queries: QueryTracker,
    limits: QueryLimits,
    read_only: bool,
    paths: ServedPaths,
}

impl QuiverFlightSqlService {
    /// A service answering queries with `session` (usually [`QuiverSession::open_db`]).
    pub fn new(session: QuiverSession) -> Self {
        Self {
            session: Arc::new(session),
            prepared: PreparedStatements::default(),
            queries: QueryTracker::new(false),
            limits: QueryLimits::default(),
            read_only: false,
            paths: ServedPaths::default(),
        }
    }

    /// The directories whose files statements may name (`CREATE EXTERNAL TABLE … LOCATION`,
    /// `COPY … TO`, `quiver_version('dir', v)`); by default none, so every statement naming a
    /// path is refused (`paths.rs`). `quiver serve` serves its `--db` and `--table`
    /// directories.
    pub fn with_served_paths(mut self, paths: ServedPaths) -> Self {
        self.paths = paths;
        self
    }

    /// Refuses every statement that changes anything, whoever asks.
    pub fn with_read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// The limits on queries at once, time per query and bytes per `DoPut`.
    pub fn with_limits(mut self, limits: QueryLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Logs each query on stderr: its SQL when it starts, and how it ended — done (rows,
    /// milliseconds), failed, or cancelled by the client.
    pub fn with_query_log(mut self, log: bool) -> Self {
        self.queries = QueryTracker::new(log);
        self
    }

    /// How many query result streams are alive right now (running or waiting for the client).
    pub fn active_queries(&self) -> Arc<AtomicUsize> {
        self.queries.active()
    }

    /// Plans one statement for `caller` without running it; a planning error is an
    /// `InvalidArgument` status, a change the caller may not make `PermissionDenied`.
    async fn plan(
        &self,
        sql: &str,
        params: Option<ParamValues>,
        caller: Option<&Caller>,
    ) -> Result<LogicalPlan, Status> {
        let plan = self.session.plan(sql).await.map_err(invalid_argument)?;
        self.check_access(&plan, caller)?;
        self.paths.check(&plan)?;
        match params {
            Some(params) => plan.with_param_values(params).map_err(invalid_argument),
            None => Ok(plan),
        }
    }

    /// Refuses a plan that changes anything on a read-only server or for a `read` user.
    fn check_access(&self, plan: &LogicalPlan, caller: Option<&Caller>) -> Result<(), Status> {
        if !changes_anything(plan) {
            return Ok(());
        }
        if self.read_only {
            return Err(Status::permission_denied(
                "the server runs with --read-only: statements that change tables, views or settings are refused",
            ));
        }
        match caller {
            Some(c) if c.role == Role::Read => Err(Status::permission_denied(format!(
                "user {} has role read: statements that change tables, views or settings are refused",
                c.user
            ))),
            _ => Ok(()),
        }
    }

    /// Runs `plan` and streams its batches as Flight data, counted in [`Self::active_queries`]
    /// and bounded by the server's limits.
    async fn stream(&self, plan: LogicalPlan, sql: &str) -> Result<FlightDataStream, Status> {
        let permit = self.limits.admit()?;
        let frame = self
            .session
            .execute_plan(plan)
            .await
            .map_err(invalid_argument)?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.execute_stream().await.map_err(status)?;
        let batches = self
            .queries
            .track(batches, sql)
            .map(|batch| batch.map_err(status));
        let batches = self
            .limits
            .bounded(batches, permit)
            .map(|batch| batch.map_err(|s| FlightError::Tonic(Box::new(s))));
        Ok(encode(schema, batches))
    }

    /// Runs `plan` to completion; the number of rows it wrote (`INSERT`'s count), else 0.
    async fn run_update(&self, plan: LogicalPlan) -> Result<i64, Status> {
        let _permit = self.limits.admit()?;
        let frame = self
            .session
            .execute_plan(plan)
            .await
            .map_err(invalid_argument)?;
        let batches = match self.limits.timeout() {
            Some(t) => tokio::time::timeout(t, frame.collect())
                .await
                .map_err(|_| limits::timed_out(t))?,
            None => frame.collect().await,
        }
        .map_err(status)?;
        Ok(written_rows(&batches))
    }
}

/// Whether running `plan` may change a table, a view, a file or a setting.
fn changes_anything(plan: &LogicalPlan) -> bool {
    use datafusion::common::tree_node::TreeNode;
    plan.exists(|p| {
        Ok(matches!(
            p,
            LogicalPlan::Dml(_)
                | LogicalPlan::Ddl(_)
                | LogicalPlan::Copy(_)
                | LogicalPlan::Statement(_)
        ))
    })
    .unwrap_or(true)
}

/// The Flight data of one result.
pub type FlightDataStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send>>;

/// How [`serve`] exposes the service: who may call, over what.
#[derive(Default)]
pub struct ServeOptions {
    /// Checks every call's credentials; `None` admits everyone.
    pub auth: Option<Arc<Authenticator>>,
    /// Serves TLS (rustls) instead of plaintext.
    pub tls: Option<TlsPem>,
}

/// A TLS identity, PEM-encoded.
pub struct TlsPem {
    /// The certificate chain, leaf first.
    pub cert: Vec<u8>,
    /// The certificate's private key.
    pub key: Vec<u8>,
    /// If set, clients must present a certificate signed by this CA.
    pub client_ca: Option<Vec<u8>>,
}

/// Serves `service` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: QuiverFlightSqlService,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> crate::Result<()> {
    let address = listener.local_addr().ok();
    let address = address.map_or_else(|| "?".to_owned(), |a| a.to_string());
    let failed = |e: tonic::transport::Error| {
        crate::Error::invalid(format!("the Flight SQL server on {address} stopped: {e}"))
    };
    // A DoPut message may be as large as the DoPut cap (tonic's default is 4 MiB).
    let max_message = service.limits.max_put_bytes().max(4 << 20);
    let mut builder = tonic::transport::Server::builder();
    if let Some(pem) = options.tls {
        use tonic::transport::{Certificate, Identity, ServerTlsConfig};
        let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(pem.cert, pem.key));
        if let Some(ca) = pem.client_ca {
            tls = tls.client_ca_root(Certificate::from_pem(ca));
        }
        builder = builder.tls_config(tls).map_err(|e| {
            crate::Error::invalid(format!("cannot use the TLS certificate and key: {e}"))
        })?;
    }
    let router = match options.auth {
        Some(auth) => builder.add_service(
            FlightServiceServer::new(Guarded::new(service, auth))
                .max_decoding_message_size(max_message),
        ),
        None => builder
            .add_service(FlightServiceServer::new(service).max_decoding_message_size(max_message)),
    };
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    router
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(failed)
}

/// A `FlightInfo` with `schema` and one endpoint whose ticket is `ticket` (none without).
fn flight_info(
    schema: &arrow::datatypes::Schema,
    ticket: Option<Any>,
    descriptor: FlightDescriptor,
) -> Result<FlightInfo, Status> {
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(format!("cannot encode the result schema: {e}")))?
        .with_descriptor(descriptor);
    Ok(match ticket {
        Some(ticket) => info
            .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket.encode_to_vec()))),
        None => info,
    })
}

/// One batch, streamed as Flight data with its schema.
fn one_batch(batch: Result<RecordBatch, FlightError>) -> Result<FlightDataStream, Status> {
    let batch = batch.map_err(Status::from)?;
    Ok(encode(
        batch.schema(),
        futures::stream::once(async { Ok(batch) }),
    ))
}

/// `batches` of `schema` as Flight data: the schema message first, then each batch as it
/// arrives.
fn encode(
    schema: SchemaRef,
    batches: impl Stream<Item = Result<RecordBatch, FlightError>> + Send + 'static,
) -> FlightDataStream {
    let data = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(batches)
        .map(|data| data.map_err(Status::from));
    Box::pin(data)
}

/// `INSERT`'s row count: a one-row, one-column unsigned count; anything else wrote nothing.
fn written_rows(batches: &[RecordBatch]) -> i64 {
    use arrow::array::{Array, UInt64Array};
    match batches {
        [batch] if batch.num_columns() == 1 && batch.num_rows() == 1 => batch
            .column(0)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .filter(|count| count.is_valid(0))
            .map_or(0, |count| i64::try_from(count.value(0)).unwrap_or(i64::MAX)),
        _ => 0,
    }
}

/// A planning-time error: the client's SQL or arguments are at fault.
fn invalid_argument(e: DataFusionError) -> Status {
    Status::invalid_argument(message(&e))
}

/// An execution-time error.
fn status(e: DataFusionError) -> Status {
    match e {
        DataFusionError::Plan(_) | DataFusionError::SQL(..) | DataFusionError::SchemaError(..) => {
            invalid_argument(e)
        }
        other => Status::internal(message(&other)),
    }
}

/// DataFusion's message, with Quiver's own errors unwrapped from `External`.
fn message(e: &DataFusionError) -> String {
    match e {
        DataFusionError::External(inner) => inner.to_string(),
        DataFusionError::Context(context, inner) => format!("{context}: {}", message(inner)),
        other => other.to_string(),
    }
}
