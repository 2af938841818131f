//! [`FlightSqlService`] for [`QuiverFlightSqlService`]: which Flight SQL call does what is
//! stated in the module contract (`flight/mod.rs`); calls not listed there answer
//! `Unimplemented` (arrow-flight's defaults).

use std::pin::Pin;

use arrow::datatypes::Schema;
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandStatementQuery, CommandStatementUpdate, DoPutPreparedStatementResult, ProstMessageExt,
    SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage,
    SchemaAsIpc, Ticket,
};
use datafusion::logical_expr::LogicalPlan;
use futures::{Stream, StreamExt, TryStreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::auth::Caller;
use super::prepared::parameter_schema;
use super::{flight_info, metadata, one_batch, QuiverFlightSqlService};
use crate::sql::is_ddl;

type DoGetStream = <QuiverFlightSqlService as FlightService>::DoGetStream;

/// The schema of what running `plan` returns: DDL plans describe their input (a view's
/// columns) but return no columns.
fn result_schema(plan: &LogicalPlan) -> Schema {
    if is_ddl(plan) {
        Schema::empty()
    } else {
        plan.schema().as_arrow().clone()
    }
}

impl QuiverFlightSqlService {
    /// The `FlightInfo` of a query (one endpoint, `ticket`); DDL instead takes effect now, as
    /// with JDBC's `execute`, and answers no endpoint — a client need not fetch an empty
    /// result for a view to exist.
    async fn flight_info_or_run_ddl(
        &self,
        plan: LogicalPlan,
        ticket: arrow_flight::sql::Any,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo, Status> {
        if !is_ddl(&plan) {
            return flight_info(plan.schema().as_arrow(), Some(ticket), descriptor);
        }
        self.run_update(plan).await?;
        flight_info(&Schema::empty(), None, descriptor)
    }
}

fn sql_of_ticket(ticket: &TicketStatementQuery) -> Result<&str, Status> {
    std::str::from_utf8(&ticket.statement_handle)
        .map_err(|_| Status::invalid_argument("the statement ticket is not UTF-8 SQL"))
}

/// The `FlightInfo` of a metadata command: its result schema and one endpoint that fetches it.
fn metadata_info(
    schema: &Schema,
    command: arrow_flight::sql::Any,
    request: Request<FlightDescriptor>,
) -> Result<Response<FlightInfo>, Status> {
    flight_info(schema, Some(command), request.into_inner()).map(Response::new)
}

fn schema_bytes(schema: &Schema) -> Result<bytes::Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e| Status::internal(format!("cannot encode a schema: {e}")))?;
    Ok(bytes)
}

/// Who made `request` (put there by the authentication layer), if anyone was checked.
fn caller<T>(request: &Request<T>) -> Option<&Caller> {
    request.extensions().get::<Caller>()
}

/// The calling user's name, if the server authenticates.
fn user<T>(request: &Request<T>) -> Option<&str> {
    caller(request).map(|c| c.user.as_str())
}

/// The one-row parameter batch sent with a `DoPut` of at most `max_bytes`.
async fn parameter_batch(
    request: Request<PeekableFlightDataStream>,
    max_bytes: usize,
) -> Result<arrow::record_batch::RecordBatch, Status> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let sent = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&sent);
    // Stops reading at the first message past the limit.
    let data = request.into_inner().take_while(move |message| {
        let len = message
            .as_ref()
            .map_or(0, |m| m.data_header.len() + m.data_body.len());
        let total = counted
            .fetch_add(len, Ordering::Relaxed)
            .saturating_add(len);
        futures::future::ready(total <= max_bytes)
    });
    let batches: Result<Vec<_>, _> =
        FlightRecordBatchStream::new_from_flight_data(data.map_err(FlightError::from))
            .try_collect()
            .await;
    if sent.load(Ordering::Relaxed) > max_bytes {
        return Err(Status::resource_exhausted(format!(
            "the DoPut sent more than the server's limit of {max_bytes} bytes (--max-put-bytes)"
        )));
    }
    let batches = batches
        .map_err(|e| Status::invalid_argument(format!("cannot read the parameters: {e}")))?;
    let schema = batches
        .first()
        .map(|b| b.schema())
        .ok_or_else(|| Status::invalid_argument("no parameter values were sent"))?;
    arrow::compute::concat_batches(&schema, &batches)
        .map_err(|e| Status::invalid_argument(format!("cannot read the parameters: {e}")))
}

#[tonic::async_trait]
impl FlightSqlService for QuiverFlightSqlService {
    type FlightService = QuiverFlightSqlService;

    /// No authentication: every handshake succeeds with an empty token.
    async fn do_handshake(
        &self,
        _request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<
        Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>,
        Status,
    > {
        let response = HandshakeResponse {
            protocol_version: 0,
            payload: Default::default(),
        };
        Ok(Response::new(Box::pin(futures::stream::iter([Ok(
            response,
        )]))))
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let plan = self.plan(&query.query, None, caller(&request)).await?;
        let ticket = TicketStatementQuery {
            statement_handle: query.query.into_bytes().into(),
        };
        let info = self
            .flight_info_or_run_ddl(plan, ticket.as_any(), request.into_inner())
            .await?;
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let sql = sql_of_ticket(&ticket)?;
        let plan = self.plan(sql, None, caller(&request)).await?;
        Ok(Response::new(self.stream(plan, sql).await?))
    }

    async fn do_put_statement_update(
        &self,
        command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let plan = self.plan(&command.query, None, caller(&request)).await?;
        self.run_update(plan).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let plan = self.plan(&query.query, None, caller(&request)).await?;
        let dataset_schema = schema_bytes(&result_schema(&plan))?;
        let parameter_schema = schema_bytes(&parameter_schema(&plan)?)?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: self.prepared.insert(query.query, user(&request))?,
            dataset_schema,
            parameter_schema,
        })
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let owner = user(&request).map(str::to_owned);
        let batch = parameter_batch(request, self.limits.max_put_bytes()).await?;
        self.prepared
            .bind(&query.prepared_statement_handle, owner.as_deref(), &batch)?;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(query.prepared_statement_handle),
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let prepared = self
            .prepared
            .get(&query.prepared_statement_handle, user(&request))?;
        let plan = self
            .plan(&prepared.sql, prepared.param_values(), caller(&request))
            .await?;
        let info = self
            .flight_info_or_run_ddl(plan, query.as_any(), request.into_inner())
            .await?;
        Ok(Response::new(info))
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let prepared = self
            .prepared
            .get(&query.prepared_statement_handle, user(&request))?;
        let plan = self
            .plan(&prepared.sql, prepared.param_values(), caller(&request))
            .await?;
        Ok(Response::new(self.stream(plan, &prepared.sql).await?))
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        self.prepared
            .close(&query.prepared_statement_handle, user(&request));
        Ok(())
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata_info(&query.into_builder().schema(), query.as_any(), request)
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let batch = metadata::catalogs(query, self.session.context());
        Ok(Response::new(one_batch(batch)?))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata_info(
            &query.clone().into_builder().schema(),
            query.as_any(),
            request,
        )
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let batch = metadata::db_schemas(query, self.session.context());
        Ok(Response::new(one_batch(batch)?))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata_info(
            &query.clone().into_builder().schema(),
            query.as_any(),
            request,
        )
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let batch = metadata::tables(query, self.session.context()).await;
        Ok(Response::new(one_batch(batch)?))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata_info(&query.into_builder().schema(), query.as_any(), request)
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        Ok(Response::new(one_batch(metadata::table_types(query))?))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata_info(
            &query.clone().into_builder(metadata::sql_info()).schema(),
            query.as_any(),
            request,
        )
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let batch = query.into_builder(metadata::sql_info()).build();
        Ok(Response::new(one_batch(batch)?))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_ticket_must_be_utf8_sql() {
        let ticket = TicketStatementQuery {
            statement_handle: vec![0xff, 0xfe].into(),
        };
        let err = sql_of_ticket(&ticket).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }
}
