"""Shared fixtures: the `quiver` CLI binary and a small TPC-H database made with it."""

import os
import pathlib
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def quiver_binary():
    """The CLI: $QUIVER_BIN, else the debug build in $CARGO_TARGET_DIR (or ./target)."""
    explicit = os.environ.get("QUIVER_BIN")
    if explicit:
        return pathlib.Path(explicit)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "quiver"


@pytest.fixture(scope="session")
def quiver_bin():
    binary = quiver_binary()
    if not binary.exists():
        pytest.fail(f"the quiver CLI is not built at {binary} (cargo build, or set QUIVER_BIN)")
    return binary


@pytest.fixture(scope="session")
def tpch_db(tmp_path_factory, quiver_bin):
    """The 8 TPC-H tables at scale 0.01, one Quiver table directory each (`demo` writes them
    to DIR/quiver, and Parquet copies to DIR/parquet)."""
    root = tmp_path_factory.mktemp("tpch")
    subprocess.run(
        [str(quiver_bin), "--quiet", "demo", "--scale", "0.01", "--dir", str(root)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return root / "quiver"


@pytest.fixture
def copy_of(tmp_path):
    """Copies a table directory so a test can change it."""

    def copy(src):
        dest = tmp_path / pathlib.Path(src).name
        shutil.copytree(src, dest)
        return dest

    return copy
