"""`quiver serve` answers the ADBC Flight SQL driver (adbc-driver-flightsql from PyPI) over
loopback: all 22 TPC-H queries agree with `quiver sql`'s answers, prepared statements bind
parameters, metadata calls list the tables, bad SQL comes back as an error with the message,
and a client that disconnects mid-stream cancels its query on the server."""

import csv
import decimal
import io
import pathlib
import re
import subprocess

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pytest

from flight_server import Server

QUERIES = pathlib.Path(__file__).resolve().parents[3] / "shared" / "data" / "tpch-queries"


@pytest.fixture(scope="module")
def server(quiver_bin, tpch_db):
    server = Server(quiver_bin, tpch_db)
    yield server
    assert server.stop() == 0, "SIGTERM stops the server cleanly"


@pytest.fixture
def conn(server):
    with flight_sql.connect(server.uri) as conn:
        yield conn


def statements(sql):
    return [s.strip() for s in sql.split(";") if s.strip()]


def cli_rows(quiver_bin, db, sql_file):
    """`quiver sql --format csv -f FILE`'s answer, as a header and rows of strings."""
    out = subprocess.run(
        [str(quiver_bin), "sql", "--db", str(db), "--format", "csv", "-f", str(sql_file)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = list(csv.reader(io.StringIO(out)))
    return rows[0], rows[1:]


def same_value(flight_value, cli_text):
    if flight_value is None:
        return cli_text == ""
    if isinstance(flight_value, (int, float, decimal.Decimal)) and not isinstance(
        flight_value, bool
    ):
        want = float(cli_text)
        return abs(float(flight_value) - want) <= 1e-9 * max(1.0, abs(want))
    return str(flight_value) == cli_text


@pytest.mark.parametrize("number", range(1, 23))
def test_tpch_query_matches_the_cli(number, conn, quiver_bin, tpch_db):
    sql_file = QUERIES / f"q{number}.sql"
    sql = sql_file.read_text()
    cursor = conn.cursor()
    result = None
    for statement in statements(sql):
        cursor.execute(statement)
        table = cursor.fetch_arrow_table()
        if table.num_columns:
            result = table
    header, rows = cli_rows(quiver_bin, tpch_db, sql_file)
    assert result is not None
    assert result.column_names == header
    got = result.to_pylist()
    assert len(got) == len(rows), f"Q{number}: {len(got)} rows over Flight SQL, {len(rows)} from the CLI"
    for i, (flight_row, cli_row) in enumerate(zip(got, rows)):
        for name, cli_text in zip(header, cli_row):
            assert same_value(flight_row[name], cli_text), (
                f"Q{number} row {i} column {name}: {flight_row[name]!r} over Flight SQL, "
                f"{cli_text!r} from the CLI"
            )


def test_prepared_statements_bind_parameters(conn):
    cursor = conn.cursor()
    counts = []
    for limit in (10, 100):
        cursor.execute(
            "SELECT count(*) AS n FROM orders WHERE o_custkey < $1", parameters=(limit,)
        )
        counts.append(cursor.fetchone()[0])
    cursor.execute("SELECT count(*) FROM orders WHERE o_custkey < 10")
    assert counts[0] == cursor.fetchone()[0]
    assert counts[0] < counts[1]


def test_metadata_lists_catalogs_schemas_tables_and_their_columns(conn):
    objects = conn.adbc_get_objects(depth="columns").read_all().to_pylist()
    tables = {
        table["table_name"]: [c["column_name"] for c in table["table_columns"] or []]
        for catalog in objects
        for schema in catalog["catalog_db_schemas"] or []
        for table in schema["db_schema_tables"] or []
    }
    assert {"lineitem", "orders", "nation", "region"} <= set(tables)
    assert "l_extendedprice" in tables["lineitem"]
    schema = conn.adbc_get_table_schema("nation")
    assert schema.names == ["n_nationkey", "n_name", "n_regionkey", "n_comment"]
    assert {"TABLE", "VIEW"} <= set(conn.adbc_get_table_types())
    assert conn.adbc_get_info()["vendor_name"] == "Quiver"


def test_bad_sql_is_an_error_carrying_the_message(conn):
    cursor = conn.cursor()
    with pytest.raises(flight_sql.Error, match="nope"):
        cursor.execute("SELECT nope FROM lineitem")
    with pytest.raises(flight_sql.Error, match="no_such_table"):
        cursor.execute("SELECT * FROM no_such_table")
    cursor.execute("SELECT 1 AS one")
    assert cursor.fetchone() == (1,), "the connection survives errors"


def test_a_client_disconnecting_mid_stream_cancels_its_query(server):
    conn = flight_sql.connect(server.uri)
    cursor = conn.cursor()
    # Billions of rows: only the client going away can end this query.
    cursor.execute("SELECT a.l_orderkey, b.l_partkey FROM lineitem a CROSS JOIN lineitem b")
    reader = cursor.fetch_record_batch()
    first = reader.read_next_batch()
    assert first.num_rows > 0
    started = server.wait_for_log(r"query \d+: SELECT a\.l_orderkey")
    query_id = re.match(r"query (\d+):", started).group(1)
    cursor.close()
    conn.close()
    server.wait_for_log(rf"query {query_id}: cancelled by the client after \d+ rows")
    with flight_sql.connect(server.uri) as again:
        cursor = again.cursor()
        cursor.execute("SELECT count(*) FROM region")
        assert cursor.fetchone() == (5,)
