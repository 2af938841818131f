"""Quiver: an embedded, Arrow-native columnar store.

Tables are directories of immutable, memory-mapped segment files. Reading hands the mapping's
own buffers to any Arrow consumer through the Arrow PyCapsule interface, without a copy::

    import quiver, pyarrow as pa, polars as pl, duckdb

    quiver.write("trips", pa.table({"id": [1, 2, 3]}))
    t = quiver.open("trips")
    pa.table(t.scan(columns=["id"]))        # zero-copy pyarrow.Table
    pl.from_arrow(t.to_arrow())             # Polars
    duckdb.sql("SELECT sum(id) FROM t")     # DuckDB finds `t` by name
    quiver.sql("SELECT count(*) FROM trips", db=".")
    quiver.merge("trips", pa.table({"id": [3, 4]}), keys=["id"])   # upsert by key
    quiver.optimize("trips")                                         # compact small segments

    with quiver.connect(db=".") as conn:       # one SQL session for many statements
        conn.execute("CREATE VIEW long AS SELECT * FROM trips WHERE id > 1")
        conn.sql("SELECT count(*) FROM long").to_polars()

Arrays keep their mapping alive: they stay valid after the ``Table`` is dropped.
"""

import os as _os

from ._quiver import (
    Batches,
    Connection,
    QuiverError,
    Scan,
    Table,
    __version__,
    connect,
    decoded_cache,
    open,
    optimize,
    set_decoded_cache_bytes,
    sql,
)
from ._quiver import merge as _merge
from ._quiver import write as _write

__all__ = [
    "Batches",
    "Connection",
    "QuiverError",
    "Scan",
    "Table",
    "connect",
    "decoded_cache",
    "merge",
    "open",
    "optimize",
    "set_decoded_cache_bytes",
    "sql",
    "write",
    "__version__",
]


def write(path, data, mode="create", encoding=None):
    """Write ``data`` to the table at ``path`` as one commit; return the committed version.

    ``data`` is anything with ``__arrow_c_stream__`` (pyarrow tables and readers, Polars
    frames, DuckDB results, Quiver scans) or a pandas DataFrame (converted through pyarrow).
    ``mode`` is ``"create"`` (the table must not exist), ``"append"`` (same schema) or
    ``"overwrite"`` (new rows and schema; created if missing). ``encoding`` is how columns
    are stored: ``"raw"`` (the default: zero-copy), ``"compact"``, ``"auto"`` or per column
    (``"l_comment=zstd,l_shipmode=dict"``); encoded columns are decoded once into memory when
    read (``set_decoded_cache_bytes`` bounds that memory). On any error nothing is committed.
    """
    return _write(_os.fspath(path), _as_stream(data), mode, encoding)


def merge(path, data, keys, delete_unmatched=False):
    """Merge ``data`` into the table at ``path`` by the key columns ``keys``, as one commit.

    Rows of ``data`` whose key a table row has replace it; the others are inserted; with
    ``delete_unmatched``, table rows whose key ``data`` lacks are deleted. A key holding a
    NULL matches nothing; a key twice in ``data`` is an error. ``data`` is anything ``write``
    takes. Returns ``{"version", "updated", "inserted", "deleted"}``.
    """
    if isinstance(keys, str):
        keys = [keys]
    return _merge(_os.fspath(path), _as_stream(data), list(keys), delete_unmatched)


def _as_stream(data):
    """``data`` as an object with ``__arrow_c_stream__`` (pandas converted through pyarrow)."""
    if not hasattr(data, "__arrow_c_stream__"):
        try:
            import pandas as pd
        except ImportError:
            pd = None
        if pd is not None and isinstance(data, pd.DataFrame):
            import pyarrow as pa

            data = pa.Table.from_pandas(data, preserve_index=False)
        else:
            raise TypeError(
                f"cannot write {type(data).__name__}: expected an object with "
                "__arrow_c_stream__ (pyarrow, Polars, DuckDB) or a pandas DataFrame"
            )
    return data
