#!/usr/bin/env python3
"""Quiver side by side with the tools its users would pick instead, on TPC-H data.

What is measured, per engine (one column each) and metric (one row each):

* open     - from nothing (modules already imported) to a handle on `lineitem` and its schema.
* import   - converting the 8 TPC-H Parquet files into the engine's own format (Quiver tables,
             a DuckDB file, Polars IPC files, Lance datasets, Vortex files); n/a for engines
             that read the Parquet files directly.
* sum      - SUM(l_extendedprice) over all of lineitem, by the engine's fastest natural path:
             SQL for SQL engines, a one-column read + pyarrow.compute.sum otherwise.
* take     - 100 rows of lineitem, all columns, at the same seeded random (sorted) positions.
* q1..q22  - the TPC-H queries (files q1.sql..q22.sql), results materialised in memory.
* bytes    - the engine's files on disk; peak memory - the measuring process's RSS high-water mark.

How: every (engine, metric) cell is measured in a fresh child process (`run.py --child SPEC`)
that imports only its engine, opens what the metric needs (untimed, except for `open`), runs
one warm-up and then --runs timed repetitions, and prints one JSON line with all samples, the
median and its peak RSS (`ru_maxrss`; for quiver-cli, of the `quiver` processes it started).
Every child is pinned to --threads CPUs and every engine is told to use that many threads.
With --cold a second pass is made in which, before every timed repetition, the handle is
dropped, the engine's files are evicted from the page cache (os.sync, then
posix_fadvise(DONTNEED) on every file), and the handle is opened again untimed; cold
repetitions have no warm-up. A child that fails, crashes or times out becomes an "err" cell
with its message; unsupported cells are "n/a" with the reason; nothing is hidden.

Data is prepared once under DATA/sf<scale>/ and reused: `quiver demo` generates the Quiver
tables (and `quiver export` the Parquet files, zstd, if demo did not leave them), and every
peer's format is converted from those Parquet files.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.metadata
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

TABLES = ["lineitem", "orders", "customer", "part", "partsupp", "supplier", "nation", "region"]
SUM_SQL = "SELECT SUM(l_extendedprice) FROM lineitem"
TAKE_ROWS = 100
TAKE_SEED = 42
RESULT_MARK = "@@peers-result "
REPO = Path(__file__).resolve().parents[2]
DEFAULT_QUERIES_DIR = REPO.parent / "shared" / "data" / "tpch-queries"
# Distributions whose versions the report lists (quiver: the package built from python/).
PACKAGES = ["duckdb", "polars", "pylance", "vortex-data", "pyarrow", "datafusion", "numpy",
            "matplotlib", "quiver"]
METRIC_LABELS = {"open": "open", "import": "import from Parquet", "sum": "SUM(l_extendedprice)",
                 "take": f"take {TAKE_ROWS} rows"}


class NotApplicable(Exception):
    """The engine has no way to do this: the cell is "n/a" with this reason."""


# --------------------------------------------------------------------------------------------
# Settings shared by the parent and its children
# --------------------------------------------------------------------------------------------

@dataclass
class Spec:
    """Everything a child needs; passed to it as one JSON argument."""
    engine: str
    metric: str
    sf_dir: str
    quiver_bin: str
    queries_dir: str
    threads: int
    runs: int = 1
    cold: bool = False
    take_indices: list = field(default_factory=list)

    @property
    def root(self) -> Path:
        return Path(self.sf_dir)

    def parquet(self, table: str) -> Path:
        return self.root / "parquet" / f"{table}.parquet"


@dataclass
class Query:
    name: str
    text: str

    @classmethod
    def load(cls, queries_dir: Path, number: int) -> "Query":
        return cls(f"q{number}", (queries_dir / f"q{number}.sql").read_text())

    @property
    def path(self) -> Path:
        return Path(self.name + ".sql")

    @property
    def statements(self) -> list[str]:
        """The `;`-separated statements, without their `--` comment lines."""
        code = "\n".join(line for line in self.text.splitlines()
                         if not line.lstrip().startswith("--"))
        return [s.strip() for s in code.split(";") if s.strip()]

    @property
    def tables(self) -> set[str]:
        return {t for t in TABLES if re.search(rf"\b{t}\b", self.text, re.IGNORECASE)}


def is_query_metric(metric: str) -> bool:
    return re.fullmatch(r"q\d+", metric) is not None


def returns_rows(statement: str) -> bool:
    return statement.lstrip().lower().startswith(("select", "with"))


def files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return [p for p in sorted(path.rglob("*")) if p.is_file()]


def size_on_disk(path: Path) -> int:
    return sum(p.stat().st_size for p in files_under(path)) if path.exists() else 0


def evict_from_page_cache(paths: list[Path]) -> None:
    """Drop every file under `paths` from the page cache (pages still mapped stay resident)."""
    os.sync()
    for path in paths:
        for f in files_under(path):
            fd = os.open(f, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def machine_cpu_seconds() -> float:
    """CPU time used since boot by every process, plus steal (CPU the hypervisor gave to other
    guests): /proc/stat's first line, user nice system idle iowait irq softirq steal, in ticks."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU time of this process and of every child (and grandchild) it has waited for."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


# --------------------------------------------------------------------------------------------
# Engines. Each imports its modules lazily, so the parent can ask about n/a without them.
# --------------------------------------------------------------------------------------------

class Engine:
    """One column of the report. Subclasses fill in the operations they support."""
    name = ""
    requires: tuple[str, ...] = ()
    data = "parquet"          # its directory under sf<scale>/
    suffix = ".parquet"       # a table's file (or directory) is <data>/<table><suffix>
    converts = False          # whether `import` (conversion from Parquet) applies
    peak_of_children = False  # the work runs in subprocesses: report their peak RSS
    na: dict[str, str] = {}   # metric -> why it does not apply

    def __init__(self, spec: Spec):
        self.spec = spec

    # -- where its data lives
    @property
    def data_dir(self) -> Path:
        return self.spec.root / self.data

    def table_path(self, table: str, root: Path | None = None) -> Path:
        """Where `table` is in this engine's format, under `root` (default: its data dir)."""
        return (root or self.data_dir) / f"{table}{self.suffix}"

    # -- what applies
    def not_applicable(self, metric: str, query: Query | None) -> str | None:
        if metric == "import" and not self.converts:
            return self.na.get("import", "reads the Parquet files directly: nothing to import")
        return self.na.get("query" if query else metric)

    def load(self) -> None:
        for module in self.requires:
            importlib.import_module(module)

    # -- operations; each returns something countable for the cross-engine checks
    def open(self, tables: list[str]):
        raise NotImplementedError

    def schema(self, handle):
        raise NotImplementedError

    def close(self, handle) -> None:
        pass

    def query(self, handle, query: Query) -> int:
        raise NotApplicable("no SQL")

    def sum(self, handle):
        raise NotImplementedError

    def take(self, handle, indices: list[int]) -> int:
        raise NotApplicable("no positional access")

    def convert(self, dest: Path) -> None:
        raise NotApplicable("no conversion")

    def threads(self) -> int:
        return self.spec.threads


class SqlEngine(Engine):
    """An engine that answers SQL: statements run in order, the last query's rows count."""

    def execute(self, handle, statement: str, want_rows: bool):
        raise NotImplementedError

    def num_rows(self, result) -> int:
        raise NotImplementedError

    def scalar(self, result):
        raise NotImplementedError

    def query(self, handle, query: Query) -> int:
        rows = 0
        for statement in query.statements:
            want = returns_rows(statement)
            result = self.execute(handle, statement, want)
            if want:
                rows = self.num_rows(result)
        return rows

    def sum(self, handle):
        return self.scalar(self.execute(handle, SUM_SQL, True))


# -- Quiver ----------------------------------------------------------------------------------

class QuiverCli(Engine):
    """`quiver sql` in a subprocess per operation: its times include process start."""
    name = "quiver-cli"
    data = "quiver"
    suffix = ""
    converts = True
    peak_of_children = True
    na = {"take": "the CLI has no positional take (quiver-lib has)"}

    def run(self, *args: str) -> str:
        done = subprocess.run([self.spec.quiver_bin, *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"quiver {args[0]} exited {done.returncode}: "
                               f"{done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def sql(self, *args: str) -> list[str]:
        """The lines `quiver sql --format csv ARGS` prints."""
        return self.run("sql", "-q", "--format", "csv", *args).splitlines()

    def on_lineitem(self, sql: str) -> list[str]:
        return self.sql("--table", f"lineitem={self.table_path('lineitem')}", "--", sql)

    def open(self, tables):
        return None  # every operation is its own process

    def schema(self, handle):
        return self.on_lineitem("SELECT * FROM lineitem LIMIT 0")

    def query(self, handle, query):
        path = Path(self.spec.queries_dir) / query.path
        lines = self.sql("--db", str(self.data_dir), "-f", str(path))
        return max(len(lines) - 1, 0)  # less the header

    def sum(self, handle):
        return self.on_lineitem(SUM_SQL)[1]

    def convert(self, dest):
        for table in TABLES:
            self.run("import", "-q", "--threads", str(self.threads()),
                     str(self.spec.parquet(table)), str(self.table_path(table, dest)))


class QuiverLibHandle(dict):
    """quiver-lib's handle: the open tables by name, and the one connection its queries share
    (made by the first query, so `open`, `sum` and `take` time only quiver.open)."""
    conn = None


class QuiverLib(Engine):
    """The Quiver Python package, in process: quiver.open / .scan / .take / .write, and queries
    on one kept quiver.connect(db=...) connection."""
    name = "quiver-lib"
    requires = ("quiver", "pyarrow")
    data = "quiver"
    suffix = ""
    converts = True

    def open(self, tables):
        import quiver
        return QuiverLibHandle({t: quiver.open(str(self.table_path(t))) for t in tables})

    def schema(self, handle):
        return handle["lineitem"].schema

    def close(self, handle):
        if handle is not None and handle.conn is not None:
            handle.conn.close()
            handle.conn = None

    def query(self, handle, query):
        # One session per handle, made by its first query: the warm-up when warm; a cold
        # repetition reopens the handle, so its time includes connecting (as quiver.sql's did).
        import pyarrow as pa
        import quiver
        if handle.conn is None:
            handle.conn = quiver.connect(db=str(self.data_dir))
        return pa.table(handle.conn.sql(query.text)).num_rows

    def sum(self, handle):
        import pyarrow as pa
        import pyarrow.compute as pc
        column = pa.table(handle["lineitem"].scan(columns=["l_extendedprice"]))
        return pc.sum(column["l_extendedprice"]).as_py()

    def take(self, handle, indices):
        import pyarrow as pa
        return pa.table(handle["lineitem"].take(indices)).num_rows

    def convert(self, dest):
        # A Python user's import: pyarrow decodes the Parquet file, quiver.write stores it.
        import quiver
        for table in TABLES:
            quiver.write(str(self.table_path(table, dest)),
                         parquet_reader(self.spec.parquet(table)))


# Clustered layout: the same tables, lineitem written in l_shipdate order (`quiver import
# --sort-by l_shipdate`), so date-range filters skip whole zones. Reported as their own columns:
# no peer gets a clustered copy, so these must never be read as a like-for-like comparison.
CLUSTERED_BY = {"lineitem": "l_shipdate"}
# Compact layout: every table imported with `quiver import --encoding compact` (format v3
# encoded columns: dictionary codes, packed integers, zstd blocks; issue 15).
COMPACT = ["--encoding", "compact"]


def convert_layout(engine: Engine, dest: Path, import_args) -> None:
    """`quiver import` of every table, with `import_args(table)` added to its command line."""
    for table in TABLES:
        QuiverCli.run(engine, "import", "-q", "--threads", str(engine.threads()),
                      *import_args(table), str(engine.spec.parquet(table)),
                      str(engine.table_path(table, dest)))


def clustered_args(table: str) -> list[str]:
    return ["--sort-by", CLUSTERED_BY[table]] if table in CLUSTERED_BY else []


class QuiverCliClustered(QuiverCli):
    """quiver-cli over the clustered layout (see CLUSTERED_BY)."""
    name = "quiver-cli-clustered"
    data = "quiver-clustered"

    def convert(self, dest):
        convert_layout(self, dest, clustered_args)


class QuiverLibClustered(QuiverLib):
    """quiver-lib over the clustered layout (see CLUSTERED_BY)."""
    name = "quiver-lib-clustered"
    data = "quiver-clustered"

    def convert(self, dest):
        convert_layout(self, dest, clustered_args)


class QuiverCliCompact(QuiverCli):
    """quiver-cli over the compact layout (every table `--encoding compact`, see COMPACT)."""
    name = "quiver-cli-compact"
    data = "quiver-compact"

    def convert(self, dest):
        convert_layout(self, dest, lambda _table: COMPACT)


class QuiverLibCompact(QuiverLib):
    """quiver-lib over the compact layout (see COMPACT). Closing a handle also empties the
    process's cache of decoded columns (`quiver.set_decoded_cache_bytes`), so a cold repetition
    decodes from the file again, as a new process would."""
    name = "quiver-lib-compact"
    data = "quiver-compact"

    def close(self, handle):
        import quiver
        super().close(handle)
        _, budget = quiver.decoded_cache()
        quiver.set_decoded_cache_bytes(0)
        quiver.set_decoded_cache_bytes(budget)

    def convert(self, dest):
        convert_layout(self, dest, lambda _table: COMPACT)


class QuiverLibAggregatesOff(QuiverLib):
    """quiver-lib with aggregates left to DataFusion (`SET quiver.aggregate_pushdown = false`),
    to measure what the aggregate scan buys in the same run."""
    name = "quiver-lib-aggregates-off"

    def query(self, handle, query):
        import quiver
        if handle.conn is None:
            handle.conn = quiver.connect(db=str(self.data_dir))
            handle.conn.sql("SET quiver.aggregate_pushdown = false")
        return super().query(handle, query)


# -- DataFusion ------------------------------------------------------------------------------

class DataFusionParquet(SqlEngine):
    """DataFusion (Python) over the Parquet files, registered with register_parquet."""
    name = "datafusion-parquet"
    requires = ("datafusion", "pyarrow")
    na = {"take": "DataFusion SQL has no row position to select by"}

    def context(self):
        from datafusion import SessionConfig, SessionContext
        return SessionContext(SessionConfig().with_target_partitions(self.threads()))

    def register(self, ctx, table: str) -> None:
        ctx.register_parquet(table, str(self.table_path(table)))

    def open(self, tables):
        ctx = self.context()
        for table in tables:
            self.register(ctx, table)
        return ctx

    def schema(self, handle):
        return handle.table("lineitem").schema()

    def execute(self, handle, statement, want_rows):
        return handle.sql(statement).collect()

    def num_rows(self, result):
        return sum(batch.num_rows for batch in result)

    def scalar(self, result):
        return result[0].column(0)[0].as_py()


class DataFusionMemTable(DataFusionParquet):
    """DataFusion over in-memory tables read from the Parquet files; reading them is its open."""
    name = "datafusion-memtable"

    def register(self, ctx, table):
        import pyarrow.parquet as pq
        batches = pq.read_table(self.table_path(table)).to_batches()
        n = self.threads()
        partitions = [batches[i::n] for i in range(n)]
        ctx.register_record_batches(table, [p for p in partitions if p] or [batches])


# -- DuckDB ----------------------------------------------------------------------------------

class DuckDbParquet(SqlEngine):
    """DuckDB over the Parquet files, one view per table over read_parquet()."""
    name = "duckdb-parquet"
    requires = ("duckdb", "pyarrow")

    def connect(self):
        import duckdb
        con = duckdb.connect()
        con.execute(f"SET threads = {self.threads()}")
        return con

    def open(self, tables):
        con = self.connect()
        for table in tables:
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet("
                        f"'{self.table_path(table)}')")
        return con

    def schema(self, handle):
        return handle.execute("DESCRIBE lineitem").fetchall()

    def close(self, handle):
        handle.close()

    def execute(self, handle, statement, want_rows):
        if not want_rows:
            return handle.execute(statement)
        return handle.sql(statement).to_arrow_table()

    def num_rows(self, result):
        return result.num_rows

    def scalar(self, result):
        return result.column(0)[0].as_py()

    def take(self, handle, indices):
        return self.execute(handle, self.take_sql(indices), True).num_rows

    def take_sql(self, indices):
        return (f"SELECT * EXCLUDE (file_row_number) FROM read_parquet("
                f"'{self.table_path('lineitem')}', file_row_number = true) "
                f"WHERE file_row_number IN ({','.join(map(str, indices))}) "
                f"ORDER BY file_row_number")


class DuckDbNative(DuckDbParquet):
    """DuckDB's own file format (tables created from the Parquet files)."""
    name = "duckdb-native"
    data = "duckdb"
    converts = True

    def database(self, root: Path | None = None) -> Path:
        return (root or self.data_dir) / "tpch.duckdb"

    def open(self, tables):
        import duckdb
        # Read-write: q15 creates (and drops) a view.
        con = duckdb.connect(str(self.database()))
        con.execute(f"SET threads = {self.threads()}")
        return con

    def take_sql(self, indices):
        return (f"SELECT * FROM lineitem WHERE rowid IN ({','.join(map(str, indices))}) "
                f"ORDER BY rowid")

    def convert(self, dest):
        import duckdb
        con = duckdb.connect(str(self.database(dest)))
        con.execute(f"SET threads = {self.threads()}")
        for table in TABLES:
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet("
                        f"'{self.spec.parquet(table)}')")
        con.execute("CHECKPOINT")
        con.close()


# -- Polars ----------------------------------------------------------------------------------

class PolarsParquet(SqlEngine):
    """Polars lazy scans of the Parquet files, queried through pl.SQLContext."""
    name = "polars-parquet"
    requires = ("polars", "pyarrow")

    def scan(self, path: Path):
        import polars as pl
        return pl.scan_parquet(path)

    def open(self, tables):
        import polars as pl
        frames = {t: self.scan(self.table_path(t)) for t in tables}
        return {"frames": frames, "sql": pl.SQLContext(frames=frames)}

    def schema(self, handle):
        return handle["frames"]["lineitem"].collect_schema()

    def execute(self, handle, statement, want_rows):
        result = handle["sql"].execute(statement, eager=False)
        return result.collect() if want_rows else result

    def num_rows(self, result):
        return result.height

    def scalar(self, result):
        return result.item()

    def take(self, handle, indices):
        # No positional read of a Parquet file: a row index, filtered.
        import polars as pl
        frame = handle["frames"]["lineitem"].with_row_index("__row")
        return frame.filter(pl.col("__row").is_in(indices)).drop("__row").collect().height


class PolarsIpc(PolarsParquet):
    """Polars over uncompressed Arrow IPC files (scan_ipc + pl.SQLContext)."""
    name = "polars-ipc"
    data = "ipc"
    suffix = ".arrow"
    converts = True

    def scan(self, path):
        import polars as pl
        return pl.scan_ipc(path)

    def take(self, handle, indices):
        # Polars 2 has no memory_map option any more and read_ipc reads the whole file, so
        # the read is part of the take.
        import polars as pl
        return pl.read_ipc(self.table_path("lineitem"))[indices].height

    def convert(self, dest):
        import polars as pl
        for table in TABLES:
            pl.scan_parquet(self.spec.parquet(table)).sink_ipc(
                self.table_path(table, dest), compression="uncompressed")


# -- Lance and Vortex: file formats with a scan/take API -------------------------------------

def parquet_reader(path: Path):
    """A streaming pyarrow RecordBatchReader over one Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    file = pq.ParquetFile(path)
    return pa.RecordBatchReader.from_batches(file.schema_arrow, file.iter_batches())


def column_sum(table, column: str):
    import pyarrow.compute as pc
    return pc.sum(table[column]).as_py()


class Lance(Engine):
    """Lance datasets. SQL: Lance's own dataset.sql(), which runs over one dataset only."""
    name = "lance"
    requires = ("lance", "pyarrow")
    data = "lance"
    suffix = ".lance"
    converts = True

    def not_applicable(self, metric, query):
        if query and query.tables != {"lineitem"}:
            return ("dataset.sql() queries a single dataset; this query needs "
                    + ", ".join(sorted(query.tables)))
        if query and len(query.statements) > 1:
            return "dataset.sql() runs one SELECT"
        return super().not_applicable(metric, query)

    def open(self, tables):
        import lance
        return {t: lance.dataset(str(self.table_path(t))) for t in tables}

    def schema(self, handle):
        return handle["lineitem"].schema

    def query(self, handle, query):
        sql = handle["lineitem"].sql(query.text).table_name("lineitem").build()
        return sum(batch.num_rows for batch in sql.to_batch_records())

    def sum(self, handle):
        return column_sum(handle["lineitem"].to_table(columns=["l_extendedprice"]),
                          "l_extendedprice")

    def take(self, handle, indices):
        return handle["lineitem"].take(indices).num_rows

    def convert(self, dest):
        import lance
        dest.mkdir(parents=True, exist_ok=True)
        for table in TABLES:
            lance.write_dataset(parquet_reader(self.spec.parquet(table)),
                                str(self.table_path(table, dest)))


class Vortex(Engine):
    """Vortex files (vortex-data): vortex.open, to_arrow(projection / indices)."""
    name = "vortex"
    requires = ("vortex", "pyarrow")
    data = "vortex"
    suffix = ".vortex"
    converts = True
    na = {"query": "Vortex's Python API has no SQL (scan, filter and take only)"}

    def load(self):
        super().load()
        import vortex
        vortex.set_worker_threads(self.threads())

    def open(self, tables):
        import vortex
        return {t: vortex.open(str(self.table_path(t))) for t in tables}

    def schema(self, handle):
        return handle["lineitem"].dtype

    def sum(self, handle):
        reader = handle["lineitem"].to_arrow(projection=["l_extendedprice"])
        return column_sum(reader.read_all(), "l_extendedprice")

    def take(self, handle, indices):
        import pyarrow as pa
        import vortex
        rows = vortex.array(pa.array(indices, pa.uint64()))
        return handle["lineitem"].to_arrow(indices=rows).read_all().num_rows

    def convert(self, dest):
        import vortex
        dest.mkdir(parents=True, exist_ok=True)
        for table in TABLES:
            vortex.io.write(parquet_reader(self.spec.parquet(table)),
                            str(self.table_path(table, dest)))


ENGINES = {e.name: e for e in [QuiverCli, QuiverLib, QuiverCliClustered, QuiverLibClustered,
                               QuiverCliCompact, QuiverLibCompact, QuiverLibAggregatesOff,
                               DataFusionParquet, DataFusionMemTable,
                               DuckDbParquet, DuckDbNative, PolarsParquet, PolarsIpc, Lance,
                               Vortex]}


# --------------------------------------------------------------------------------------------
# The child: one engine, one metric
# --------------------------------------------------------------------------------------------

def operation(engine: Engine, spec: Spec):
    """(tables to open, timed function of the handle returning rows or a value)."""
    metric = spec.metric
    if is_query_metric(metric):
        query = Query.load(Path(spec.queries_dir), int(metric[1:]))
        return TABLES, lambda h: engine.query(h, query)
    if metric == "sum":
        return ["lineitem"], engine.sum
    if metric == "take":
        return ["lineitem"], lambda h: engine.take(h, spec.take_indices)
    raise ValueError(f"unknown metric {metric}")


def timed(fn, *args):
    start = time.perf_counter_ns()
    value = fn(*args)
    return (time.perf_counter_ns() - start) / 1e6, value


def samples_with_handle(engine: Engine, spec: Spec) -> tuple[list[float], object]:
    """Times an operation on an open handle: warm = open once + warm-up, cold = see module."""
    tables, fn = operation(engine, spec)
    samples, value, handle = [], None, None
    if not spec.cold:
        handle = engine.open(tables)
        fn(handle)  # warm-up
    for _ in range(spec.runs):
        if spec.cold:
            if handle is not None:
                engine.close(handle)
            evict_from_page_cache([engine.data_dir])
            handle = engine.open(tables)
        ms, value = timed(fn, handle)
        samples.append(ms)
    engine.close(handle)
    return samples, value


def samples_of_open(engine: Engine, spec: Spec) -> tuple[list[float], object]:
    def once():
        handle = engine.open(["lineitem"])
        engine.schema(handle)
        return handle
    return repeat_fresh(spec, once, engine.close, [engine.data_dir])


def samples_of_import(engine: Engine, spec: Spec) -> tuple[list[float], object]:
    scratch = engine.spec.root / ".import-scratch" / engine.name

    def fresh():
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
    try:
        return repeat_fresh(spec, lambda: engine.convert(scratch), lambda _: None,
                            [spec.root / "parquet"], before=fresh)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def repeat_fresh(spec: Spec, fn, cleanup, evict: list[Path], before=lambda: None):
    """Times fn() from scratch each repetition (warm-up first unless cold)."""
    samples = []
    for i in range(spec.runs + (0 if spec.cold else 1)):
        before()
        if spec.cold:
            evict_from_page_cache(evict)
        ms, made = timed(fn)
        cleanup(made)
        if spec.cold or i > 0:
            samples.append(ms)
    return samples, None


def measure(engine: Engine, spec: Spec) -> dict:
    if spec.metric == "probe":
        return {"status": "ok"}
    if spec.metric == "prepare":
        return prepare_format(engine)
    if spec.metric == "open":
        samples, value = samples_of_open(engine, spec)
    elif spec.metric == "import":
        samples, value = samples_of_import(engine, spec)
    else:
        samples, value = samples_with_handle(engine, spec)
    result = {"status": "ok", "samples_ms": samples, "median_ms": statistics.median(samples)}
    if isinstance(value, int) and spec.metric != "sum":
        result["rows"] = value
    elif value is not None:
        result["value"] = str(value)
    return result


def prepare_format(engine: Engine) -> dict:
    """Converts the Parquet files into the engine's format at its data dir (atomically)."""
    tmp = engine.data_dir.with_name(engine.data_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    engine.convert(tmp)
    tmp.rename(engine.data_dir)
    return {"status": "ok"}


def pin_threads(threads: int) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if threads < len(cpus):
        os.sched_setaffinity(0, cpus[:threads])


def child_main(spec_json: str) -> None:
    spec = Spec(**json.loads(spec_json))
    pin_threads(spec.threads)
    engine = ENGINES[spec.engine](spec)
    try:
        engine.load()
        # The baseline is this interpreter's, which says nothing about a subprocess's.
        base = None if engine.peak_of_children else rss_mib()
        result = measure(engine, spec)
        result["base_rss_mib"] = base
    except NotApplicable as e:
        result = {"status": "na", "reason": str(e)}
    except Exception as e:  # noqa: BLE001 - every failure is reported, never hidden
        result = {"status": "err", "error": f"{type(e).__name__}: {e}"}
    result["peak_rss_mib"] = rss_mib(resource.RUSAGE_CHILDREN if engine.peak_of_children
                                     else resource.RUSAGE_SELF)
    print(RESULT_MARK + json.dumps(result), flush=True)


# --------------------------------------------------------------------------------------------
# The parent: data preparation, scheduling children, the report
# --------------------------------------------------------------------------------------------

def child_env(threads: int) -> dict:
    env = dict(os.environ)
    for var in ["POLARS_MAX_THREADS", "LANCE_CPU_THREADS", "RAYON_NUM_THREADS",
                "TOKIO_WORKER_THREADS", "OMP_NUM_THREADS", "ARROW_NUM_THREADS"]:
        env[var] = str(threads)
    return env


def run_child(spec: Spec, timeout: float) -> dict:
    """Runs one child; a crash, a timeout or garbage output becomes an "err" result."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(asdict(spec))]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(spec.threads), start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"status": "err", "error": f"timed out after {timeout:g} s"}
    lines = [line for line in out.splitlines() if line.startswith(RESULT_MARK)]
    if proc.returncode == 0 and lines:
        return json.loads(lines[-1][len(RESULT_MARK):])
    how = (f"killed by {signal.Signals(-proc.returncode).name}" if proc.returncode < 0
           else f"exited {proc.returncode}")
    tail = " | ".join(err.strip().splitlines()[-3:])
    return {"status": "err", "error": f"child {how}: {tail}"}


# The machines these figures come from are shared: a build or another benchmark running beside a
# cell takes CPUs its engine was told it has, and nothing in the cell shows it (TPC-H Q1 with 2
# threads on 2 cores took 1.8-2.2x as long beside one busy process, 2.2-3.0x beside two, for
# DuckDB, Polars and DataFusion alike). Cells run one after another, so a transient load skews
# the cells it overlaps against the rest of the row, ratios included: the DuckDB-native Q1 of
# the 2026-11-21 report (187 ms, as slow as DuckDB over Parquet) was most likely one. Every cell
# therefore records how many CPUs other processes used while it ran and is measured again, up
# to --busy-retries times, while that exceeds BUSY_LIMIT; a cell still above it is listed under
# the report's table.
BUSY_LIMIT = 0.2  # CPUs other processes may use, on average over a cell, for it to count as quiet


def run_watched_child(spec: Spec, timeout: float) -> dict:
    """run_child, plus `busy_cpus`: the CPUs other processes used on average while it ran
    (all CPU time on the machine, less this process's and its children's)."""
    machine, own, start = machine_cpu_seconds(), own_cpu_seconds(), time.monotonic()
    result = run_child(spec, timeout)
    wall = time.monotonic() - start
    other = (machine_cpu_seconds() - machine) - (own_cpu_seconds() - own)
    result["busy_cpus"] = round(max(other, 0.0) / wall, 2) if wall > 0 else 0.0
    return result


def run_quiet_child(spec: Spec, args, label: str) -> dict:
    """run_watched_child, again while other processes were busy; the quietest attempt is kept."""
    result = run_watched_child(spec, args.timeout)
    for _ in range(args.busy_retries):
        if result["busy_cpus"] <= BUSY_LIMIT:
            break
        print(f"[{label}] {spec.metric:>6} {spec.engine:<20} other processes used "
              f"{result['busy_cpus']:.2f} CPUs meanwhile: measuring again", flush=True)
        result = min(result, run_watched_child(spec, args.timeout), key=lambda r: r["busy_cpus"])
    return result


def scale_dir(data: Path, scale: float) -> Path:
    return data / f"sf{scale:g}"


def run_quiver(bin_path: str, *args: str) -> None:
    done = subprocess.run([bin_path, *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"quiver {' '.join(args)} failed:\n{done.stderr}")


def prepare_base_data(args, root: Path) -> None:
    """Quiver tables via `quiver demo`, Parquet files via `quiver export` (both cached)."""
    db, parquet = root / "quiver", root / "parquet"
    if not all((db / t).is_dir() for t in TABLES):
        print(f"generating TPC-H SF{args.scale:g} with quiver demo into {root} ...", flush=True)
        # demo writes ROOT/quiver/<table> (and, with the exporter's defaults, ROOT/parquet).
        run_quiver(args.quiver, "demo", "-q", "--scale", f"{args.scale:g}", "--dir", str(root),
                   "--threads", str(args.threads))
    parquet.mkdir(parents=True, exist_ok=True)
    for table in TABLES:
        if not (parquet / f"{table}.parquet").exists():
            print(f"exporting {table} to Parquet ...", flush=True)
            run_quiver(args.quiver, "export", "-q", str(db / table),
                       str(parquet / f"{table}.parquet"))


def base_spec(args, root: Path, engine: str, metric: str, **extra) -> Spec:
    return Spec(engine=engine, metric=metric, sf_dir=str(root), quiver_bin=args.quiver,
                queries_dir=str(args.queries_dir), threads=args.threads, **extra)


def usable_engines(args, root: Path) -> tuple[list[str], dict[str, str]]:
    """Engines whose modules import, and why the others were skipped."""
    usable, skipped = [], {}
    for name in args.only:
        result = run_child(base_spec(args, root, name, "probe"), args.timeout)
        if result["status"] == "ok":
            usable.append(name)
        else:
            skipped[name] = result.get("error", "")
            print(f"skipping {name}: {skipped[name]}", flush=True)
    return usable, skipped


def prepare_formats(args, root: Path, engines: list[str]) -> dict[str, str]:
    """Converts Parquet into each peer's format once; returns engine -> error for failures."""
    failed = {}
    for name in engines:
        engine = ENGINES[name](base_spec(args, root, name, "prepare"))
        if not engine.converts or engine.data_dir.exists():
            continue
        print(f"converting Parquet to {engine.data} for {name} ...", flush=True)
        result = run_child(engine.spec, args.timeout)
        if result["status"] != "ok":
            failed[name] = result.get("error") or result.get("reason", "")
            print(f"  failed: {failed[name]}", flush=True)
    return failed


def take_indices(root: Path) -> list[int]:
    import numpy as np
    import pyarrow.parquet as pq
    rows = pq.ParquetFile(root / "parquet" / "lineitem.parquet").metadata.num_rows
    rng = np.random.default_rng(TAKE_SEED)
    return sorted(int(i) for i in rng.choice(rows, size=min(TAKE_ROWS, rows), replace=False))


def describe(result: dict) -> str:
    if result["status"] == "ok" and "median_ms" in result:
        extra = f" rows={result['rows']}" if "rows" in result else ""
        return f"{result['median_ms']:.2f} ms{extra}"
    return result["status"] + ": " + (result.get("error") or result.get("reason", ""))[:160]


def run_pass(args, root: Path, engines: list[str], metrics: list[str], cold: bool,
             prep_failed: dict, indices: list[int]) -> dict:
    """Measures every (metric, engine) cell; metric-major so that drift hits all engines."""
    results = {}
    label = "cold" if cold else "warm"
    for metric in metrics:
        query = Query.load(args.queries_dir, int(metric[1:])) if is_query_metric(metric) else None
        for name in engines:
            spec = base_spec(args, root, name, metric, runs=args.runs, cold=cold,
                             take_indices=indices)
            reason = ENGINES[name](spec).not_applicable(metric, query)
            if reason:
                result = {"status": "na", "reason": reason}
            elif name in prep_failed and metric != "import":
                result = {"status": "err", "error": f"data preparation failed: {prep_failed[name]}"}
            else:
                result = run_quiet_child(spec, args, label)
            results[(metric, name)] = result
            print(f"[{label}] {metric:>6} {name:<20} {describe(result)}", flush=True)
    return results


# -- the report ------------------------------------------------------------------------------

def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.*)", cpuinfo)
    mem = re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text())
    return (f"{model.group(1) if model else platform.processor()}, {os.cpu_count()} cores, "
            f"{int(mem.group(1)) / 2**20:.1f} GiB RAM, Linux {platform.release()}, "
            f"Python {platform.python_version()}")


def versions(quiver_bin: str) -> str:
    found = []
    for package in PACKAGES:
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        cli = subprocess.run([quiver_bin, "--version"], capture_output=True, text=True).stdout
    except OSError as e:
        cli = f"quiver CLI: {e}"
    return ", ".join([cli.strip() + " (CLI)"] + found)


def fmt_number(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def cell_value(result: dict | None, key: str):
    if result is None or result["status"] != "ok":
        return None
    return result.get(key)


def cell_text(result: dict | None, key: str) -> str:
    if result is None:
        return ""
    if result["status"] == "na":
        return "n/a"
    if result["status"] == "err":
        return "err"
    value = result.get(key)
    return "n/a" if value is None else fmt_number(value)


def markdown_table(rows: list[tuple[str, dict]], engines: list[str], bases: list[str],
                   key: str, unit: str) -> list[str]:
    """rows: (label, {engine: result}). Value columns, then ratio columns against the first of
    `bases` that has a number in the row (marked * when that is not the first)."""
    base = bases[0] if bases else None
    others = [e for e in engines if e != base] if base else []
    header = ["metric"] + [f"{e} {unit}" for e in engines] + [f"{e} / {base}" for e in others]
    lines = ["| " + " | ".join(header) + " |",
             "|---|" + "---:|" * (len(header) - 1)]
    fell_back = False
    for label, cells in rows:
        ref, ref_value = next(((b, v) for b in bases if (v := cell_value(cells.get(b), key))),
                              (None, None))
        mark = "*" if ref not in (None, base) else ""
        fell_back |= bool(mark)
        ratios = []
        for e in others:
            value = cell_value(cells.get(e), key)
            usable = value and ref_value and e != ref
            ratios.append(f"{value / ref_value:.2f}{mark}" if usable else "")
        values = [cell_text(cells.get(e), key) for e in engines]
        lines.append("| " + " | ".join([label] + values + ratios) + " |")
    if fell_back:
        lines += ["", f"\\* against {bases[1]}: {base} has no number in that row."]
    return lines


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.upper())


def table_rows(results: dict, metrics: list[str], engines: list[str]) -> list:
    return [(metric_label(m), {e: results.get((m, e)) for e in engines}) for m in metrics]


def total_row(results: dict, metrics: list[str], engines: list[str]) -> tuple:
    """Sum of the query medians, for engines that answered every query."""
    queries = [m for m in metrics if is_query_metric(m)]
    cells = {}
    for e in engines:
        values = [cell_value(results.get((q, e)), "median_ms") for q in queries]
        cells[e] = ({"status": "ok", "median_ms": sum(values)} if all(v is not None for v in values)
                    else {"status": "na"})
    noun = "query" if len(queries) == 1 else "queries"
    return (f"Q total ({len(queries)} {noun})", cells)


def notes(results: dict, engines: list[str]) -> list[str]:
    """The errors (each) and the n/a reasons (grouped) of one pass."""
    errors, na = [], {}
    for (metric, engine), r in results.items():
        if r["status"] == "err":
            message = " ".join(r["error"].split())  # in full in the JSON file
            errors.append(f"- `{engine}` {metric_label(metric)}: {message[:240]}")
        elif r["status"] == "na":
            na.setdefault((engine, r["reason"]), []).append(metric_label(metric))
    busy = [f"- `{engine}` {metric_label(metric)}: {r['busy_cpus']:.2f}"
            for (metric, engine), r in results.items() if r.get("busy_cpus", 0) > BUSY_LIMIT]
    lines = []
    if errors:
        lines += ["", "Errors:", ""] + errors
    if busy:
        lines += ["", "Measured while other processes kept CPUs busy (CPUs they used on average, "
                      "after the retries; those cells are slower than the engine is):", ""] + busy
    if na:
        lines += ["", "Not applicable:", ""]
        lines += [f"- `{e}` ({', '.join(ms)}): {reason}" for (e, reason), ms in na.items()]
    return lines


def consistency(results: dict, metrics: list[str], engines: list[str]) -> list[str]:
    """Flags queries whose result row counts, or sums, differ between engines."""
    lines = []
    for metric in metrics:
        seen = {}
        for e in engines:
            r = results.get((metric, e)) or {}
            if "rows" in r:
                seen[e] = r["rows"]
            elif "value" in r:
                seen[e] = round(float(r["value"]), 2)
        if len(set(seen.values())) > 1:
            lines.append(f"- {metric_label(metric)}: "
                         + ", ".join(f"{e} {v}" for e, v in seen.items()))
    if lines:
        return ["", "Results that differ between engines (row counts; the sum's value):",
                ""] + lines
    return []


def pass_section(title: str, results: dict, metrics: list[str], engines: list[str],
                 bases: list[str]) -> list[str]:
    rows = table_rows(results, metrics, engines)
    if any(is_query_metric(m) for m in metrics):
        rows.append(total_row(results, metrics, engines))
    baseline = ("baseline (imports only)",
                {e: as_cell(results.get(("open", e)), "base_rss_mib") for e in engines})
    memory = [baseline] + [(label, {e: as_cell(r, "peak_rss_mib") for e, r in cells.items()})
                           for label, cells in table_rows(results, metrics, engines)]
    return ([f"## {title}", "", "Median time, ms (lower is better):", ""]
            + markdown_table(rows, engines, bases, "median_ms", "ms")
            + notes(results, engines) + consistency(results, metrics, engines)
            + ["", f"Peak RSS of the measuring process, MiB ({title.lower()}):", ""]
            + markdown_table(memory, engines, bases, "mib", "MiB") + [""])


def as_cell(result: dict | None, key: str) -> dict | None:
    """A result seen through one of its numbers, as {"status", "mib"}."""
    if result is None or result["status"] != "ok":
        return result
    return {"status": "ok", "mib": result.get(key)}


def storage_section(args, root: Path, engines: list[str], bases: list[str]) -> list[str]:
    cells = {}
    for e in engines:
        engine = ENGINES[e](base_spec(args, root, e, "bytes"))
        cells[e] = {"status": "ok", "mib": size_on_disk(engine.data_dir) / 2**20}
    return (["## Bytes on disk", "",
             "All 8 tables, MiB (Parquet for the engines that read Parquet; datafusion-memtable "
             "loads it into memory):", ""]
            + markdown_table([("bytes on disk", cells)], engines, bases, "mib", "MiB") + [""])


METHOD = """\
Method: each cell is measured in a fresh child process that imports only its engine, opens what
the metric needs (untimed, except for `open`), runs one warm-up and then {runs} timed repetitions;
cells are medians. Every child is pinned to {threads} CPUs and every engine is set to
{threads} threads (DuckDB `SET threads`, `POLARS_MAX_THREADS`, DataFusion `target_partitions`,
`LANCE_CPU_THREADS`, `vortex.set_worker_threads`). `quiver-cli` runs `quiver sql` (or
`quiver import`) as a new process per operation, so its times include process start and opening
the tables; `quiver-lib`'s queries run on one `quiver.connect(db=...)` connection per handle,
made by its first query (the warm-up; a cold repetition's time includes it). Peak RSS is the child's `ru_maxrss` (for `quiver-cli`, of the `quiver`
processes), so it includes the Python interpreter and the engine's modules: the "baseline" row
is that figure before opening anything. Cold cache: before every timed repetition the handle is
dropped, `os.sync()` and `posix_fadvise(DONTNEED)` evict every file of the engine's data
directory from the page cache, and the handle is reopened untimed (so metadata read at open is
warm again); cold runs have no warm-up. A cell during which other processes used more than
{busy_limit} CPUs on average is measured again (up to {busy_retries} times; the quietest attempt
is kept, and listed under the table if still busy). Ratios are engine / {base}, per row (above
1: slower or bigger than Quiver); a blank ratio is an n/a or err cell. Query results are
compared by row count only."""


def write_report(args, root: Path, engines: list[str], skipped: dict, passes: dict,
                 metrics: list[str]) -> None:
    bases = [e for e in ["quiver-lib", "quiver-cli"] if e in engines]
    command = " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv)
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    method = METHOD.format(runs=args.runs, threads=args.threads, base=(bases or ["-"])[0],
                           busy_limit=BUSY_LIMIT, busy_retries=args.busy_retries)
    lines = [f"# Quiver and its peers, TPC-H SF{args.scale:g}", "",
             f"**Machine**: {machine()}.", "",
             f"**Versions**: {versions(args.quiver)}.", "",
             f"**Command**: `{command}`", "",
             f"**Date**: {date}", "", method, ""]
    lines += [f"Engine `{e}` skipped: {why}" for e, why in skipped.items()]
    lines += ["", "Engines:", ""]
    lines += [f"- `{e}`: {ENGINES[e].__doc__}" for e in engines] + [""]
    lines += storage_section(args, root, engines, bases)
    for title, results in passes.items():
        lines += pass_section(title, results, metrics, engines, bases)
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")


def write_plot(path: str, passes: dict, metrics: list[str], engines: list[str]) -> None:
    """Grouped bars per query (log-scale ms), one bar per engine, one panel per pass."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    queries = [m for m in metrics if is_query_metric(m)]
    if not queries:
        return
    size = (max(10, len(queries) * 0.9), 4.5 * len(passes))
    fig, axes = plt.subplots(len(passes), 1, figsize=size, squeeze=False)
    colours = plt.get_cmap("tab10")
    with_sql = [e for e in engines if any(cell_value(r.get((q, e)), "median_ms")
                                          for r in passes.values() for q in queries)]
    width = 0.8 / max(len(with_sql), 1)
    for ax, (title, results) in zip(axes[:, 0], passes.items()):
        for i, engine in enumerate(with_sql):
            xs, ys = [], []
            for j, q in enumerate(queries):
                value = cell_value(results.get((q, engine)), "median_ms")
                if value:
                    xs.append(j + (i - (len(with_sql) - 1) / 2) * width)
                    ys.append(value)
            ax.bar(xs, ys, width, label=engine, color=colours(list(ENGINES).index(engine)))
        ax.set_yscale("log")
        ax.set_xticks(range(len(queries)), [q.upper() for q in queries])
        ax.set_ylabel("median ms (log)")
        ax.set_title(title)
        ax.grid(axis="y", which="both", alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(5, len(with_sql)), fontsize="small")
    fig.tight_layout(rect=(0, 0.07 / len(passes) + 0.02, 1, 1))
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def write_json(path: Path, passes: dict) -> None:
    data = {title: [{"metric": m, "engine": e, **r} for (m, e), r in results.items()]
            for title, results in passes.items()}
    path.write_text(json.dumps(data, indent=1))


def parse_args(argv: list[str]):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scale", type=float, default=1.0, help="TPC-H scale factor (default 1)")
    p.add_argument("--runs", type=int, default=5, help="timed repetitions per cell (default 5)")
    p.add_argument("--data", type=Path, required=True, help="data directory (cached per scale)")
    p.add_argument("--quiver", required=True, help="the quiver CLI binary")
    p.add_argument("--cold", action="store_true", help="also measure with a cold page cache")
    p.add_argument("--only", help="comma-separated engines (default: all): " + ",".join(ENGINES))
    p.add_argument("--queries", default=",".join(str(i) for i in range(1, 23)),
                   help="comma-separated TPC-H query numbers (default 1..22)")
    p.add_argument("--queries-dir", type=Path, default=DEFAULT_QUERIES_DIR)
    p.add_argument("--metrics", default="open,import,sum,take",
                   help="comma-separated storage metrics measured besides the queries "
                        "(default open,import,sum,take; '' for queries only)")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="threads for every engine (default: the machine's cores)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per child (default 600)")
    p.add_argument("--busy-retries", type=int, default=2,
                   help=f"times a cell is measured again while other processes used more than "
                        f"{BUSY_LIMIT} CPUs (default 2)")
    p.add_argument("--out", default="BENCHMARKS-peers.md", help="the Markdown report")
    p.add_argument("--plot", help="write a PNG of the query times here")
    p.add_argument("--json", help="write every raw result here (default: OUT with .json)")
    args = p.parse_args(argv)
    # The clustered and compact layouts and the aggregates-off session are other experiments:
    # only when asked for by name.
    args.only = (args.only.split(",") if args.only
                 else [e for e in ENGINES if not e.endswith(("-clustered", "-compact", "-off"))])
    unknown = [e for e in args.only if e not in ENGINES]
    if unknown:
        p.error(f"unknown engine(s) {unknown}; known: {', '.join(ENGINES)}")
    args.quiver = str(Path(args.quiver).resolve())
    args.queries_dir = args.queries_dir.resolve()
    args.json = Path(args.json) if args.json else Path(args.out).with_suffix(".json")
    return args


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        child_main(argv[1])
        return
    args = parse_args(argv)
    started = time.monotonic()
    root = scale_dir(args.data.resolve(), args.scale)
    prepare_base_data(args, root)
    engines, skipped = usable_engines(args, root)
    prep_failed = prepare_formats(args, root, engines)
    indices = take_indices(root)
    metrics = [m for m in ["open", "import", "sum", "take"] if m in args.metrics.split(",")]
    metrics += [f"q{int(q)}" for q in args.queries.split(",")]
    passes = {"Warm cache": run_pass(args, root, engines, metrics, False, prep_failed, indices)}
    if args.cold:
        passes["Cold cache"] = run_pass(args, root, engines, metrics, True, prep_failed, indices)
    shutil.rmtree(root / ".import-scratch", ignore_errors=True)  # left by timed-out imports
    write_report(args, root, engines, skipped, passes, metrics)
    write_json(args.json, passes)
    if args.plot:
        write_plot(args.plot, passes, metrics, engines)
    print(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
