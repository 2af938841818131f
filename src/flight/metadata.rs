//! The Flight SQL metadata calls, answered from the session's catalogs: catalogs, schemas,
//! tables, table types, SQL info.
//!
//! # Contract
//! - Every catalog, schema and table the DataFusion session knows is listed (a database
//!   directory's tables are listed from the directory at the time of the call).
//! - Filters and patterns of the commands are applied by arrow-flight's builders.
//! - Table types are `TABLE` (Quiver tables and other base tables), `VIEW` and
//!   `LOCAL TEMPORARY`.

use std::sync::OnceLock;

use arrow::record_batch::RecordBatch;
use arrow_flight::error::Result;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::{
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetTableTypes, CommandGetTables, SqlInfo,
};
use datafusion::datasource::TableType;
use datafusion::execution::context::SessionContext;

/// The table types this server reports.
const TABLE_TYPES: [&str; 3] = ["TABLE", "VIEW", "LOCAL TEMPORARY"];

fn table_type_name(table_type: TableType) -> &'static str {
    match table_type {
        TableType::Base => TABLE_TYPES[0],
        TableType::View => TABLE_TYPES[1],
        TableType::Temporary => TABLE_TYPES[2],
    }
}

/// `CommandGetCatalogs`.
pub(super) fn catalogs(query: CommandGetCatalogs, ctx: &SessionContext) -> Result<RecordBatch> {
    let mut builder = query.into_builder();
    for catalog in ctx.catalog_names() {
        builder.append(catalog);
    }
    builder.build()
}

/// `CommandGetDbSchemas`.
pub(super) fn db_schemas(query: CommandGetDbSchemas, ctx: &SessionContext) -> Result<RecordBatch> {
    let mut builder = query.into_builder();
    for catalog_name in ctx.catalog_names() {
        let Some(catalog) = ctx.catalog(&catalog_name) else {
            continue;
        };
        for schema in catalog.schema_names() {
            builder.append(&catalog_name, schema);
        }
    }
    builder.build()
}

/// `CommandGetTables`; opens each table's provider only to learn its type and, when asked,
/// its schema.
pub(super) async fn tables(query: CommandGetTables, ctx: &SessionContext) -> Result<RecordBatch> {
    let mut builder = query.into_builder();
    for catalog_name in ctx.catalog_names() {
        let Some(catalog) = ctx.catalog(&catalog_name) else {
            continue;
        };
        for schema_name in catalog.schema_names() {
            let Some(schema) = catalog.schema(&schema_name) else {
                continue;
            };
            for table_name in schema.table_names() {
                // A table that vanished or cannot be opened between listing and opening is
                // skipped: metadata calls describe what can be queried.
                let Ok(Some(table)) = schema.table(&table_name).await else {
                    continue;
                };
                builder.append(
                    &catalog_name,
                    &schema_name,
                    &table_name,
                    table_type_name(table.table_type()),
                    table.schema().as_ref(),
                )?;
            }
        }
    }
    builder.build()
}

/// `CommandGetTableTypes`.
pub(super) fn table_types(query: CommandGetTableTypes) -> Result<RecordBatch> {
    let mut builder = query.into_builder();
    for table_type in TABLE_TYPES {
        builder.append(table_type);
    }
    builder.build()
}

/// What `CommandGetSqlInfo` answers: the server's name and versions, and that it reads and
/// writes SQL.
pub(super) fn sql_info() -> &'static SqlInfoData {
    static INFO: OnceLock<SqlInfoData> = OnceLock::new();
    INFO.get_or_init(|| {
        let mut builder = SqlInfoDataBuilder::new();
        builder.append(SqlInfo::FlightSqlServerName, "Quiver");
        builder.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
        // The Arrow format version (Schema.fbs MetadataVersion V5 = format 1.x).
        builder.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
        builder.append(SqlInfo::FlightSqlServerReadOnly, false);
        builder.append(SqlInfo::FlightSqlServerSql, true);
        builder.append(SqlInfo::FlightSqlServerSubstrait, false);
        builder.append(SqlInfo::FlightSqlServerTransaction, 0_i32);
        builder.append(SqlInfo::FlightSqlServerCancel, false);
        builder.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
        builder
            .build()
            .expect("the static SQL info values have valid types")
    })
}
