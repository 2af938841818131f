#!/usr/bin/env bash
# Set up the virtualenv for the peer benchmark (benches/peers/run.py).
#
#   benches/peers/setup.sh                      # create/refresh the venv with requirements.txt
#   benches/peers/setup.sh --with-quiver-python # ... and build + install the Quiver Python package
#
# The venv lives at ${QUIVER_PEERS_VENV:-$HOME/.cache/quiver-peers-venv}; the interpreter used to
# create it is ${PYTHON:-python3} (3.11 is what requirements.txt was resolved for). Running this
# again is cheap: the venv is reused and pip only installs what is missing or pinned differently.
# --with-quiver-python runs `maturin develop --release` on python/Cargo.toml, i.e. a release cargo
# build of the bindings (minutes; needs the Rust toolchain).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${QUIVER_PEERS_VENV:-$HOME/.cache/quiver-peers-venv}"
python="${PYTHON:-python3}"
maturin_version="1.16.0"

with_quiver_python=0
for arg in "$@"; do
    case "$arg" in
        --with-quiver-python) with_quiver_python=1 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "setup.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

if [[ ! -x "$venv/bin/python" ]]; then
    echo "creating virtualenv $venv with $("$python" --version)"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
fi

echo "installing $here/requirements.txt into $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"

if [[ "$with_quiver_python" == 1 ]]; then
    if [[ ! -f "$repo/python/pyproject.toml" ]]; then
        echo "setup.sh: --with-quiver-python: $repo/python/pyproject.toml not found" >&2
        exit 1
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin==$maturin_version"
    echo "building the Quiver Python package (maturin develop --release)"
    (cd "$repo" && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" \
        "$venv/bin/maturin" develop --release -m python/Cargo.toml)
fi

echo "done: run the benchmark with $venv/bin/python $here/run.py --help"
