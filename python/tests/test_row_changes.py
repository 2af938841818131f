"""Row-level changes from Python: SQL DELETE / UPDATE through a connection, quiver.merge and
quiver.optimize — and every reader (pyarrow, Polars, DuckDB through the C stream) sees the
table minus its deleted rows, while older versions keep theirs."""

import duckdb
import polars as pl
import pyarrow as pa
import pytest

import quiver


def people(path):
    quiver.write(
        path,
        pa.table(
            {
                "id": pa.array(range(10), pa.int64()),
                "name": pa.array([f"p{i}" if i % 3 else None for i in range(10)]),
            }
        ),
    )


def ids(data):
    return sorted(pa.table(data).column("id").to_pylist())


def test_sql_delete_and_update_commit_versions_every_reader_sees(tmp_path):
    people(tmp_path / "t")
    with quiver.connect(db=tmp_path) as conn:
        assert conn.execute("DELETE FROM t WHERE id % 2 = 0") == 5
        assert conn.execute("UPDATE t SET name = 'x' WHERE id = 3") == 1
        # A subquery the table cannot see is refused; nothing changes.
        with pytest.raises(quiver.QuiverError, match="nothing was changed"):
            conn.execute("DELETE FROM t WHERE id IN (SELECT id FROM t WHERE id > 5)")
    table = quiver.open(tmp_path / "t")
    assert (table.version, table.num_rows) == (3, 5)
    assert ids(table.to_arrow()) == [1, 3, 5, 7, 9]
    assert sorted(pl.from_arrow(table.to_arrow())["id"].to_list()) == [1, 3, 5, 7, 9]
    arrow_table = table.to_arrow()
    assert duckdb.sql("SELECT count(*) FROM arrow_table").fetchall() == [(5,)]
    # Positions count visible rows in order: the updated row now comes last.
    assert pa.table(table.take([1, 4])).column("name").to_pylist() == ["p5", "x"]
    assert quiver.open(tmp_path / "t", version=1).num_rows == 10


def test_merge_updates_matches_inserts_the_rest_and_can_delete_unmatched(tmp_path):
    people(tmp_path / "t")
    source = pa.table({"id": pa.array([2, 20], pa.int64()), "name": ["two", "twenty"]})
    report = quiver.merge(tmp_path / "t", source, keys="id")
    assert (report["updated"], report["inserted"], report["deleted"]) == (1, 1, 0)
    rows = pa.table(quiver.open(tmp_path / "t").to_arrow()).to_pylist()
    assert {r["id"]: r["name"] for r in rows}[2] == "two"
    assert len(rows) == 11
    report = quiver.merge(tmp_path / "t", source, keys=["id"], delete_unmatched=True)
    assert (report["updated"], report["inserted"], report["deleted"]) == (2, 0, 9)
    assert ids(quiver.open(tmp_path / "t").to_arrow()) == [2, 20]
    with pytest.raises(quiver.QuiverError, match="twice"):
        quiver.merge(tmp_path / "t", pa.concat_tables([source, source]), keys="id")


def test_optimize_compacts_small_commits_and_keeps_time_travel(tmp_path):
    path = tmp_path / "t"
    for i in range(20):
        table = pa.table({"id": pa.array([i], pa.int64())})
        quiver.write(path, table, mode="create" if i == 0 else "append")
    with quiver.connect(tables={"t": path}) as conn:
        conn.execute("DELETE FROM t WHERE id < 5")
    report = quiver.optimize(path)
    assert (report["segments_removed"], report["segments_written"]) == (15, 1)
    assert report["rows_written"] == 15
    table = quiver.open(path)
    assert ids(table.to_arrow()) == list(range(5, 20))
    assert quiver.open(path, version=20).num_rows == 20
    assert quiver.optimize(path)["segments_removed"] == 0
