#!/usr/bin/env bash
# Tests the Python package and the Flight SQL server from Python: builds the CLI and the
# extension (debug profile, so cargo's compiled dependencies are reused), installs them with
# the pinned test requirements into a virtualenv, and runs pytest (pyarrow, Polars, DuckDB,
# pandas, and the ADBC Flight SQL driver against `quiver serve`). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/quiver-target}"
venv="${QUIVER_VENV:-$HOME/.cache/quiver-venv}"

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r python/requirements-test.txt

cargo build --bin quiver
VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" maturin develop --quiet -m python/Cargo.toml

QUIVER_BIN="$CARGO_TARGET_DIR/debug/quiver" "$venv/bin/python" -m pytest python/tests -q "$@"
