"""quiver.sql: queries over a database directory and named tables, scripts, errors."""

import pyarrow as pa
import polars as pl
import pytest

import quiver


def test_sql_over_a_database_directory_matches_pyarrow(tpch_db):
    got = pa.table(
        quiver.sql(
            "SELECT n_regionkey, count(*) AS n FROM nation GROUP BY n_regionkey ORDER BY 1",
            db=tpch_db,
        )
    )
    nation = quiver.open(tpch_db / "nation").to_arrow()
    want = nation.group_by("n_regionkey").aggregate([("n_nationkey", "count")])
    want = want.sort_by("n_regionkey")
    assert got.column("n").to_pylist() == want.column("n_nationkey_count").to_pylist()


def test_sql_runs_every_statement_and_returns_the_last_result(tmp_path):
    quiver.write(tmp_path / "t", pa.table({"x": [1, 2, 3]}))
    result = quiver.sql(
        "CREATE VIEW big AS SELECT x FROM t WHERE x > 1; SELECT sum(x) AS s FROM big; DROP VIEW big",
        tables={"t": tmp_path / "t"},
    )
    assert result.num_rows == 1
    assert pl.from_arrow(result.to_arrow())["s"].to_list() == [5]


def test_create_table_as_writes_a_quiver_table_into_the_database(tmp_path):
    quiver.write(tmp_path / "src", pa.table({"x": [1, 2, 3]}))
    quiver.sql("CREATE TABLE doubled AS SELECT x * 2 AS y FROM src", db=tmp_path)
    assert pa.table(quiver.open(tmp_path / "doubled")).column("y").to_pylist() == [2, 4, 6]


def test_sql_errors_raise_quiver_error_with_datafusion_message(tmp_path):
    quiver.write(tmp_path / "t", pa.table({"x": [1]}))
    with pytest.raises(quiver.QuiverError, match="nope"):
        quiver.sql("SELECT nope FROM t", db=tmp_path)
    with pytest.raises(quiver.QuiverError, match="missing"):
        quiver.sql("SELECT 1", tables={"m": tmp_path / "missing"})
