"""quiver.connect: one SQL session kept across statements — results, DDL/DML, registration,
time travel, conversions (pyarrow, Polars, pandas, DuckDB), threads, errors, closing."""

import pathlib
import threading
from concurrent.futures import ThreadPoolExecutor

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import quiver

TPCH_QUERIES = [
    "SELECT l_returnflag, l_linestatus, count(*) AS n, min(l_orderkey) AS lo, "
    "max(l_orderkey) AS hi FROM lineitem GROUP BY l_returnflag, l_linestatus "
    "ORDER BY l_returnflag, l_linestatus",
    "SELECT r_name, count(*) AS n FROM nation JOIN region ON n_regionkey = r_regionkey "
    "GROUP BY r_name ORDER BY r_name",
]


def ints(path, values, mode="create"):
    """Writes an int64 column `x` of `values` to the table at `path`."""
    return quiver.write(path, pa.table({"x": pa.array(values, pa.int64())}), mode=mode)


def column(result, name):
    return result.to_arrow().column(name).to_pylist()


@pytest.mark.parametrize("query", TPCH_QUERIES)
def test_connection_results_equal_quiver_sql_results(tpch_db, query):
    want = quiver.sql(query, db=tpch_db).to_arrow()
    assert want.num_rows > 0
    with quiver.connect(db=tpch_db) as conn:
        for _ in range(3):  # the kept session answers the same every time
            result = conn.sql(query)
            assert isinstance(result, quiver.Batches)
            assert result.to_arrow().equals(want)


def test_a_view_created_by_execute_is_visible_to_sql_on_the_same_connection_only(tmp_path):
    ints(tmp_path / "t", [1, 2, 3])
    a = quiver.connect(db=tmp_path)
    b = quiver.connect(db=tmp_path)
    assert a.execute("CREATE VIEW big AS SELECT x FROM t WHERE x > 1") is None
    assert column(a.sql("SELECT sum(x) AS s FROM big"), "s") == [5]
    with pytest.raises(quiver.QuiverError, match="not found"):
        b.sql("SELECT * FROM big")
    with pytest.raises(quiver.QuiverError, match="not found"):
        quiver.sql("SELECT * FROM big", db=tmp_path)
    assert a.execute("DROP VIEW big") is None
    with pytest.raises(quiver.QuiverError, match="not found"):
        a.sql("SELECT * FROM big")
    a.close()
    b.close()


def test_insert_via_execute_returns_the_row_count_and_a_later_query_sees_the_rows(tmp_path):
    ints(tmp_path / "t", [1, 2, 3])
    with quiver.connect(db=tmp_path) as conn:
        assert column(conn.sql("SELECT count(*) AS n FROM t"), "n") == [3]
        assert conn.execute("INSERT INTO t VALUES (4), (5)") == 2
        result = conn.sql("SELECT count(*) AS n, sum(x) AS s FROM t")
        assert (column(result, "n"), column(result, "s")) == ([5], [15])
        assert quiver.open(tmp_path / "t").version == 2, "one INSERT, one new version"
        assert conn.execute("INSERT INTO t SELECT x + 10 FROM t WHERE x > 100") == 0
    assert quiver.open(tmp_path / "t").num_rows == 5


def test_create_table_as_via_execute_writes_a_table_the_connection_then_reads(tmp_path):
    ints(tmp_path / "t", [1, 2, 3])
    with quiver.connect(db=tmp_path) as conn:
        assert conn.execute("CREATE TABLE doubled AS SELECT x * 2 AS y FROM t") is None
        assert column(conn.sql("SELECT sum(y) AS s FROM doubled"), "s") == [12]
        assert conn.table("doubled").to_arrow().column("y").to_pylist() == [2, 4, 6]
    assert quiver.open(tmp_path / "doubled").num_rows == 3


def test_sql_runs_a_script_and_returns_the_last_result_with_rows(tmp_path):
    ints(tmp_path / "t", [1, 2, 3])
    with quiver.connect(tables={"t": tmp_path / "t"}) as conn:
        result = conn.sql("CREATE VIEW v AS SELECT x FROM t; SELECT max(x) AS m FROM v; DROP VIEW v")
        assert column(result, "m") == [3]
        empty = conn.sql("CREATE VIEW w AS SELECT x FROM t")
        assert (empty.num_rows, len(empty.schema)) == (0, 0)


def test_results_convert_to_pyarrow_polars_and_pandas_and_outlive_the_connection(tmp_path):
    quiver.write(tmp_path / "t", pa.table({"x": pa.array([3, 1, 2], pa.int64()),
                                           "s": ["c", "a", None]}))
    with quiver.connect(db=tmp_path) as conn:
        result = conn.sql("SELECT x, s FROM t ORDER BY x")
    arrow = result.to_arrow()
    assert isinstance(arrow, pa.Table)
    assert arrow.column("x").to_pylist() == [1, 2, 3]
    assert arrow.column("s").to_pylist() == ["a", None, "c"]
    assert pa.table(result).equals(arrow)
    frame = result.to_polars()
    assert isinstance(frame, pl.DataFrame)
    assert frame["x"].to_list() == [1, 2, 3]
    assert frame["s"].to_list() == ["a", None, "c"]
    pandas = result.to_pandas()
    assert isinstance(pandas, pd.DataFrame)
    assert pandas["x"].tolist() == [1, 2, 3]
    strings = pandas["s"].tolist()
    assert strings[0] == "a" and pd.isna(strings[1]) and strings[2] == "c"
    # quiver.sql returns the same result type, with the same conversions.
    one = quiver.sql("SELECT 1 AS one")
    assert one.to_polars()["one"].to_list() == [1]
    assert one.to_pandas()["one"].tolist() == [1]


def test_duckdb_reads_a_connection_result_through_its_replacement_scan(tmp_path):
    ints(tmp_path / "t", [1, 2, 3])
    with quiver.connect(db=tmp_path) as conn:
        res = conn.sql("SELECT x, x * 10 AS y FROM t")  # noqa: F841
        # DuckDB finds `res` (it has __arrow_c_stream__) by its variable name, as often as asked.
        assert duckdb.sql("SELECT count(*), sum(y) FROM res").fetchall() == [(3, 60)]
        assert duckdb.sql("SELECT max(x) FROM res").fetchall() == [(3,)]


def test_eight_threads_querying_one_connection_all_get_correct_answers(tmp_path):
    rows = 8_000
    quiver.write(tmp_path / "t", pa.table({
        "k": pa.array([i % 8 for i in range(rows)], pa.int64()),
        "v": pa.array(range(rows), pa.int64()),
    }))
    want = {k: (sum(range(k, rows, 8)), rows // 8) for k in range(8)}
    start = threading.Barrier(8)

    with quiver.connect(db=tmp_path) as conn:
        def worker(k):
            start.wait(timeout=60)
            answers = []
            for _ in range(10):
                result = conn.sql(f"SELECT sum(v) AS s, count(*) AS n FROM t WHERE k = {k}")
                answers.append((column(result, "s")[0], column(result, "n")[0]))
            return k, answers

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(worker, range(8), timeout=300))

    assert sorted(k for k, _ in results) == list(range(8))
    for k, answers in results:
        assert answers == [want[k]] * 10, f"thread for k={k}"


def test_errors_raise_quiver_error_and_the_connection_keeps_working(tmp_path):
    ints(tmp_path / "t", [1, 2, 3])
    with quiver.connect(db=tmp_path) as conn:
        with pytest.raises(quiver.QuiverError, match="SELEC"):
            conn.sql("SELEC 1")
        with pytest.raises(quiver.QuiverError, match="nope"):
            conn.sql("SELECT nope FROM t")
        with pytest.raises(quiver.QuiverError, match="nope"):
            conn.execute("INSERT INTO t SELECT nope FROM t")
        with pytest.raises(quiver.QuiverError, match="not found"):
            conn.sql("SELECT * FROM no_such_table")
        with pytest.raises(quiver.QuiverError, match="missing"):
            conn.register("m", tmp_path / "missing")
        with pytest.raises(TypeError, match="quiver.Table"):
            conn.register("m", 42)
        # A script stops at its failing statement; the ones before it took effect.
        with pytest.raises(quiver.QuiverError, match="nope"):
            conn.sql("CREATE VIEW v AS SELECT x FROM t; SELECT nope FROM t")
        assert column(conn.sql("SELECT count(*) AS n FROM v"), "n") == [3]
        assert column(conn.sql("SELECT sum(x) AS s FROM t"), "s") == [6]
        assert quiver.open(tmp_path / "t").version == 1


def test_the_context_manager_closes_the_connection_and_then_every_method_raises(tmp_path):
    ints(tmp_path / "t", [1, 2, 3])
    with quiver.connect(tables={"t": tmp_path / "t"}) as conn:
        assert isinstance(conn, quiver.Connection)
        assert not conn.closed
        assert conn.sql("SELECT * FROM t").num_rows == 3
    assert conn.closed
    calls = [
        lambda: conn.sql("SELECT 1"),
        lambda: conn.execute("CREATE VIEW v AS SELECT 1"),
        lambda: conn.register("u", tmp_path / "t"),
        lambda: conn.table("t"),
        lambda: conn.__enter__(),
    ]
    for call in calls:
        with pytest.raises(quiver.QuiverError, match="connection is closed"):
            call()
    conn.close()  # closing again does nothing
    assert "closed" in repr(conn)

    with pytest.raises(ZeroDivisionError):
        with quiver.connect() as failing:
            1 / 0
    assert failing.closed, "leaving `with` by an exception closes too"


def test_register_then_table_round_trips_a_quiver_table(tmp_path):
    ints(tmp_path / "t", [1, 2, 3])
    original = quiver.open(tmp_path / "t")
    with quiver.connect() as conn:
        conn.register("events", original)
        got = conn.table("events")
        assert isinstance(got, quiver.Table)
        assert pathlib.Path(got.path) == pathlib.Path(original.path)
        assert (got.version, got.num_rows) == (original.version, 3)
        assert got.to_arrow().equals(original.to_arrow())
        assert column(conn.sql("SELECT sum(x) AS s FROM events"), "s") == [6]
        conn.register("by_dir", str(tmp_path / "t"))  # a directory: its newest version
        assert conn.table("by_dir").num_rows == 3
        with pytest.raises(ValueError, match=r'no table "nope".*its tables are by_dir, events'):
            conn.table("nope")
    with quiver.connect(db=tmp_path) as conn:
        assert conn.table("t").num_rows == 3  # a table of the database, unregistered
        with pytest.raises(ValueError, match=r'no table "nope".*its tables are t'):
            conn.table("nope")


def test_time_travel_through_register_of_a_table_opened_at_version_1(tmp_path):
    path = tmp_path / "t"
    ints(path, [1, 2, 3])
    ints(path, [4], mode="append")
    with quiver.connect(tables={"t_newest": path,
                                "t_first": quiver.open(path, version=1)}) as conn:
        conn.register("t_v1", quiver.open(path, version=1))
        for name, rows in [("t_newest", 4), ("t_first", 3), ("t_v1", 3)]:
            assert column(conn.sql(f"SELECT count(*) AS n FROM {name}"), "n") == [rows], name
        assert conn.table("t_v1").version == 1
        assert conn.table("t_newest").version == 2
        with pytest.raises(quiver.QuiverError, match="read-only"):
            conn.execute("INSERT INTO t_v1 VALUES (5)")
        assert conn.execute("INSERT INTO t_newest VALUES (5)") == 1
        assert column(conn.sql("SELECT count(*) AS n FROM t_newest"), "n") == [5]
        assert column(conn.sql("SELECT count(*) AS n FROM t_v1"), "n") == [3]
    # quiver.sql takes the same `tables` values.
    old = quiver.sql("SELECT count(*) AS n FROM t", tables={"t": quiver.open(path, version=1)})
    assert column(old, "n") == [3]


def test_aggregates_run_inside_the_scan_and_the_setting_turns_that_off(tpch_db):
    query = ("SELECT l_returnflag, sum(l_extendedprice * (1 - l_discount)) AS revenue, "
             "count(*) AS n FROM lineitem WHERE l_quantity < 30 "
             "GROUP BY l_returnflag ORDER BY l_returnflag")
    with quiver.connect(db=str(tpch_db)) as conn:
        plan = str(pa.table(conn.sql("EXPLAIN " + query)).to_pydict())
        assert "QuiverAggregateExec" in plan
        inside = pa.table(conn.sql(query))
        conn.sql("SET quiver.aggregate_pushdown = false")
        plan = str(pa.table(conn.sql("EXPLAIN " + query)).to_pydict())
        assert "QuiverAggregateExec" not in plan
        assert pa.table(conn.sql(query)).equals(inside)


def test_a_memory_limit_bounds_queries_and_fails_what_cannot_fit_leaving_the_connection_usable(
    tpch_db, tmp_path
):
    sort = (
        "SELECT l_orderkey, l_linenumber, l_comment FROM lineitem "
        "ORDER BY l_comment, l_orderkey, l_linenumber"
    )
    want = quiver.sql(sort, db=tpch_db).to_arrow()
    spill = tmp_path / "spill"
    spill.mkdir()
    # DataFusion reserves 10 MiB per sort for merging spills, and counts a zero-copy batch at
    # the size of the buffers it shares with the mapping (here the whole comment blob).
    with quiver.connect(db=tpch_db, memory_limit=64 << 20, spill_dir=spill, threads=1) as conn:
        assert conn.sql(sort).to_arrow().equals(want), "within the limit, the same rows"
    with quiver.connect(db=tpch_db, memory_limit=1 << 20, threads=2) as conn:
        # A hash join's build side cannot spill: over the limit, the query fails alone.
        join = (
            "SELECT count(*) FROM lineitem a JOIN lineitem b ON a.l_comment = b.l_comment "
            "AND a.l_orderkey <> b.l_orderkey"
        )
        with pytest.raises(quiver.QuiverError, match="(?i)resources exhausted"):
            conn.sql(join).to_arrow()
        assert column(conn.sql("SELECT count(*) AS n FROM region"), "n") == [5]
