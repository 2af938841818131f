#!/usr/bin/env bash
# Fails if `cargo test` (library and CLI, with dev-dependencies), a build of the CLI and a build
# of the Python extension would compile any shared dependency with different features — then
# each build after the first would recompile arrow and DataFusion. See Cargo.toml here.
set -euo pipefail
cd "$(dirname "$0")/.."
features() {
  cargo tree "$@" -f '{p} {f}' --prefix none | sort -u
}
python3 - \
  <(features -p quiver-store -p quiver-store-cli -e normal,build,dev) \
  <(features -p quiver-store-cli -e normal,build) \
  <(features -p quiver-python -e normal,build) <<'PY'
import sys

NAMES = ["cargo test", "the CLI", "the Python extension"]

def load(path):
    crates = {}
    for line in open(path):
        parts = line.split()
        if len(parts) < 2:
            continue
        features = set()
        for part in parts[2:]:
            if not part.startswith("("):
                features |= set(part.split(","))
        crates.setdefault(" ".join(parts[:2]), set()).update(features)
    return crates

builds = [load(path) for path in sys.argv[1:]]
bad = 0
for i in range(len(builds)):
    for j in range(i + 1, len(builds)):
        a, b = builds[i], builds[j]
        for crate in sorted(a.keys() & b.keys()):
            if a[crate] != b[crate]:
                bad += 1
                print(f"{crate}: only in {NAMES[i]} {sorted(a[crate] - b[crate])}, "
                      f"only in {NAMES[j]} {sorted(b[crate] - a[crate])}")
print(f"{len(builds[0].keys() & builds[2].keys())} crates shared by {NAMES[0]} and "
      f"{NAMES[2]}; {bad} feature differences")
sys.exit(1 if bad else 0)
PY
