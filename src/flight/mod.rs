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
//!   live in the server until closed.
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
//!   Flight SQL, and settings are server-wide. There is no authentication; bind to loopback
//!   unless the network is trusted.

#![forbid(unsafe_code)]

mod metadata;
mod prepared;
mod service;
mod tracking;

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

pub use prepared::PreparedStatements;
use tracking::QueryTracker;

/// The Flight SQL service (see the module contract).
pub struct QuiverFlightSqlService {
    session: Arc<QuiverSession>,
    prepared: PreparedStatements,
    queries: QueryTracker,
}

impl QuiverFlightSqlService {
    /// A service answering queries with `session` (usually [`QuiverSession::open_db`]).
    pub fn new(session: QuiverSession) -> Self {
        Self {
            session: Arc::new(session),
            prepared: PreparedStatements::default(),
            queries: QueryTracker::new(false),
        }
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

    /// Plans one statement without running it; an error is an `InvalidArgument` status.
    async fn plan(&self, sql: &str, params: Option<ParamValues>) -> Result<LogicalPlan, Status> {
        let plan = self.session.plan(sql).await.map_err(invalid_argument)?;
        match params {
            Some(params) => plan.with_param_values(params).map_err(invalid_argument),
            None => Ok(plan),
        }
    }

    /// Runs `plan` and streams its batches as Flight data, counted in [`Self::active_queries`].
    async fn stream(&self, plan: LogicalPlan, sql: &str) -> Result<FlightDataStream, Status> {
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
            .map(|batch| batch.map_err(|e| FlightError::Tonic(Box::new(status(e)))));
        Ok(encode(schema, batches))
    }

    /// Runs `plan` to completion; the number of rows it wrote (`INSERT`'s count), else 0.
    async fn run_update(&self, plan: LogicalPlan) -> Result<i64, Status> {
        let frame = self
            .session
            .execute_plan(plan)
            .await
            .map_err(invalid_argument)?;
        let batches = frame.collect().await.map_err(status)?;
        Ok(written_rows(&batches))
    }
}

/// The Flight data of one result.
pub type FlightDataStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send>>;

/// Serves `service` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: QuiverFlightSqlService,
    shutdown: impl Future<Output = ()>,
) -> crate::Result<()> {
    let address = listener.local_addr().ok();
    tonic::transport::Server::builder()
        .add_service(FlightServiceServer::new(service))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            shutdown,
        )
        .await
        .map_err(|e| {
            crate::Error::invalid(format!(
                "the Flight SQL server on {} stopped: {e}",
                address.map_or_else(|| "?".to_owned(), |a| a.to_string())
            ))
        })
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
