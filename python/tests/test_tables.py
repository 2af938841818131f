"""quiver.open / scan / to_arrow / take / write, consumed by real pyarrow, Polars and DuckDB."""

import gc
import os
import pathlib

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import quiver


def qseg_mappings():
    """(start, end, path) of every Quiver segment file mapped into this process."""
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and fields[5].endswith(".qseg"):
                start, end = (int(x, 16) for x in fields[0].split("-"))
                ranges.append((start, end, fields[5]))
    return ranges


def inside_a_mapping(address, size, mappings):
    return any(start <= address and address + size <= end for start, end, _ in mappings)


def sample():
    return pa.table(
        {
            "id": pa.array(range(10_000), pa.int64()),
            "price": pa.array([i * 0.25 for i in range(10_000)], pa.float64()),
            "name": pa.array([None if i % 7 == 0 else f"név-{i}" for i in range(10_000)]),
        }
    )


def test_write_then_open_round_trips_schema_rows_and_values(tmp_path):
    data = sample()
    version = quiver.write(tmp_path / "t", data)
    table = quiver.open(tmp_path / "t")
    assert version == table.version == 1
    assert table.num_rows == len(table) == 10_000
    assert table.column_names == ["id", "price", "name"]
    assert table.schema.names == ["id", "price", "name"]
    got = table.to_arrow()
    assert got.column("id").equals(data.column("id"))
    assert got.column("price").equals(data.column("price"))
    assert got.column("name").to_pylist() == data.column("name").to_pylist()


def test_scan_columns_rows_and_batches_are_honoured(tmp_path):
    quiver.write(tmp_path / "t", sample())
    table = quiver.open(tmp_path / "t")
    scan = table.scan(columns=["price", "id"], rows=(100, 350), batch_rows=64)
    reader = pa.RecordBatchReader.from_stream(scan)
    batches = list(reader)
    assert all(b.num_rows <= 64 for b in batches)
    got = pa.Table.from_batches(batches)
    assert got.column_names == ["price", "id"]
    assert got.column("id").to_pylist() == list(range(100, 350))
    # A scan runs afresh each time it is consumed.
    assert pa.table(scan).num_rows == 250
    assert pa.table(scan).num_rows == 250


def test_unknown_columns_and_bad_arguments_raise_value_errors_naming_them(tmp_path):
    quiver.write(tmp_path / "t", sample())
    table = quiver.open(tmp_path / "t")
    with pytest.raises(ValueError, match=r'no column "nope".*id, price, name'):
        table.scan(columns=["nope"])
    with pytest.raises(ValueError, match="negative"):
        table.take([-1])
    with pytest.raises(ValueError, match="batch_rows"):
        table.scan(batch_rows=0)
    with pytest.raises(quiver.QuiverError, match="10000"):
        table.take([10_000])
    with pytest.raises(quiver.QuiverError, match="missing"):
        quiver.open(tmp_path / "missing")


def test_take_returns_rows_in_the_asked_order_with_repeats(tmp_path):
    quiver.write(tmp_path / "t", sample())
    table = quiver.open(tmp_path / "t")
    rows = [9_999, 3, 3, 700, 0]
    got = pa.table(table.take(rows, columns=["id", "name"]))
    assert got.column("id").to_pylist() == rows
    assert got.column("name").to_pylist() == [sample().column("name")[r].as_py() for r in rows]


def assert_buffers_inside_mappings(arrow_table):
    mappings = qseg_mappings()
    assert mappings, "the table's segments are mapped"
    checked = 0
    for column in arrow_table.columns:
        for chunk in column.chunks:
            for buffer in chunk.buffers():
                if buffer is None or buffer.size == 0:
                    continue
                assert inside_a_mapping(buffer.address, buffer.size, mappings), (
                    f"{column.type} buffer at {buffer.address:#x} is a copy, "
                    f"not inside a segment mapping {mappings}"
                )
                checked += 1
    return checked


def test_a_pyarrow_column_shares_the_mapping_and_outlives_the_table(tmp_path):
    quiver.write(tmp_path / "t", sample())
    table = quiver.open(tmp_path / "t")
    arrow_table = table.to_arrow(columns=["id", "price", "name"])
    # values of id and price; validity, offsets and bytes of name
    assert assert_buffers_inside_mappings(arrow_table) >= 5
    want_sum = sum(range(10_000))
    del table
    gc.collect()
    # The arrays keep their mappings: still mapped, values intact.
    assert qseg_mappings(), "dropping the Table unmapped segments still in use"
    assert pc.sum(arrow_table.column("id")).as_py() == want_sum
    assert arrow_table.column("name")[1].as_py() == "név-1"
    del arrow_table
    gc.collect()
    assert not [m for m in qseg_mappings() if m[2].startswith(str(tmp_path))], (
        "the last array released unmaps the segment"
    )


def test_polars_and_duckdb_read_tables_and_scans_through_the_c_stream(tmp_path):
    quiver.write(tmp_path / "t", sample())
    table = quiver.open(tmp_path / "t")
    frame = pl.from_arrow(table.to_arrow())
    assert frame.height == 10_000
    assert frame["id"].sum() == sum(range(10_000))
    polars_scan = pl.DataFrame(table.scan(columns=["id"]))
    assert polars_scan.columns == ["id"]
    # DuckDB finds Python objects with __arrow_c_stream__ by their variable name.
    t = table  # noqa: F841
    assert duckdb.sql("SELECT count(*), sum(id) FROM t").fetchall() == [(10_000, sum(range(10_000)))]
    s = table.scan(columns=["price"], rows=(0, 10))  # noqa: F841
    assert duckdb.sql("SELECT sum(price) FROM s").fetchall() == [(sum(i * 0.25 for i in range(10)),)]


def test_write_accepts_polars_pandas_duckdb_and_readers_and_modes_append_and_overwrite(tmp_path):
    path = tmp_path / "t"
    assert quiver.write(path, pl.DataFrame({"x": [1, 2, 3]})) == 1
    assert quiver.write(path, pd.DataFrame({"x": [4, 5]}), mode="append") == 2
    reader = pa.RecordBatchReader.from_batches(
        pa.schema([("x", pa.int64())]), [pa.record_batch({"x": [6]})]
    )
    assert quiver.write(path, reader, mode="append") == 3
    assert quiver.write(path, duckdb.sql("SELECT 7::BIGINT AS x"), mode="append") == 4
    assert pa.table(quiver.open(path)).column("x").to_pylist() == [1, 2, 3, 4, 5, 6, 7]
    with pytest.raises(quiver.QuiverError, match="already holds a Quiver table"):
        quiver.write(path, pl.DataFrame({"x": [1]}))
    assert quiver.write(path, pa.table({"y": ["a"]}), mode="overwrite") == 5
    assert quiver.open(path).column_names == ["y"]
    assert quiver.open(path, version=4).num_rows == 7
    with pytest.raises(ValueError, match="mode"):
        quiver.write(path, pa.table({"y": ["a"]}), mode="upsert")
    with pytest.raises(TypeError, match="__arrow_c_stream__"):
        quiver.write(path, [1, 2, 3], mode="append")


def test_a_failed_append_commits_nothing(tmp_path):
    path = tmp_path / "t"
    quiver.write(path, pa.table({"x": pa.array([1], pa.int64())}))
    with pytest.raises(quiver.QuiverError, match="x"):
        quiver.write(path, pa.table({"x": pa.array(["not an int"])}), mode="append")
    table = quiver.open(path)
    assert (table.version, table.num_rows) == (1, 1)


def test_verify_reports_a_damaged_segment_naming_its_file(tmp_path):
    quiver.write(tmp_path / "t", sample())
    segment = next((tmp_path / "t").glob("**/*.qseg"))
    data = bytearray(segment.read_bytes())
    data[len(data) // 3] ^= 0x40  # inside the column regions
    os.chmod(segment, 0o644)
    segment.write_bytes(bytes(data))
    with pytest.raises(quiver.QuiverError, match=r"\.qseg"):
        quiver.open(tmp_path / "t").verify()


def test_compact_tables_read_back_exactly_and_decoded_columns_obey_the_cache_budget(tmp_path):
    n = 50_000
    data = pa.table({
        "id": pa.array(range(n), pa.int64()),
        "mode": pa.array([["AIR", "RAIL", "SHIP"][i % 3] for i in range(n)]),
    })
    quiver.write(tmp_path / "raw", data)
    quiver.write(tmp_path / "compact", data, encoding="compact")
    raw_bytes = sum(f.stat().st_size for f in (tmp_path / "raw").glob("**/*.qseg"))
    compact_bytes = sum(f.stat().st_size for f in (tmp_path / "compact").glob("**/*.qseg"))
    assert compact_bytes * 4 < raw_bytes, (compact_bytes, raw_bytes)
    _, budget = quiver.decoded_cache()
    try:
        quiver.set_decoded_cache_bytes(0)
        assert quiver.decoded_cache() == (0, 0)
        want = data.to_pylist()
        assert quiver.open(tmp_path / "compact").to_arrow().to_pylist() == want
        assert quiver.decoded_cache()[0] == 0, "nothing kept with a budget of 0"
        quiver.set_decoded_cache_bytes(1 << 30)
        assert quiver.open(tmp_path / "compact").to_arrow().to_pylist() == want
        held, _ = quiver.decoded_cache()
        assert held > 0
    finally:
        quiver.set_decoded_cache_bytes(budget)
    with pytest.raises(ValueError, match="encoding"):
        quiver.write(tmp_path / "bad", data, encoding="id=bogus")
