#!/usr/bin/env python3
"""Wide inputs for the import memory measurements in docs/RELIABILITY.md ("Wide inputs").

Writes to stdout, so a 1 M-row input can be piped through a named pipe and never needs disk:

    python3 benches/wide_inputs.py schema 10000 > /tmp/schema.txt
    mkfifo /tmp/wide.csv
    python3 benches/wide_inputs.py csv 10000 1000000 > /tmp/wide.csv &
    (ulimit -v 2097152; /usr/bin/time -f "%e s %M KiB" \
        quiver import -q --schema "$(cat /tmp/schema.txt)" /tmp/wide.csv /tmp/wide-table)

Kinds (COLUMNS columns c0.., ROWS rows, a multiple of 100; for sparse, of COLUMNS / KEYS):
  schema COLUMNS                  the `--schema` argument: COLUMNS boolean columns
  csv COLUMNS ROWS                a header and ROWS rows of booleans
  ndjson COLUMNS ROWS             ROWS objects, every key present, booleans
  sparse COLUMNS ROWS KEYS        ROWS objects of KEYS keys each, every key used once per
                                  COLUMNS / KEYS rows (a file of it can be imported with
                                  types inferred)
Not part of CI.
"""
import sys


def value(flag):
    return "true" if flag else "false"


def two_rows(cols, fmt):
    """Two distinct rows, column c true for c % 3 != 0 in the first and c % 5 == 0 in the second."""
    first = [value(c % 3 != 0) for c in range(cols)]
    second = [value(c % 5 == 0) for c in range(cols)]
    return fmt(first) + fmt(second)


def main(argv):
    kind, cols = argv[1], int(argv[2])
    out = sys.stdout.buffer
    if kind == "schema":
        out.write((",".join(f"c{c}:bool" for c in range(cols)) + "\n").encode())
        return
    rows = int(argv[3])
    if kind == "csv":
        out.write((",".join(f"c{c}" for c in range(cols)) + "\n").encode())
        pair = two_rows(cols, lambda vs: ",".join(vs) + "\n")
    elif kind == "ndjson":
        pair = two_rows(
            cols, lambda vs: "{" + ",".join(f'"c{c}":{v}' for c, v in enumerate(vs)) + "}\n"
        )
    elif kind == "sparse":
        keys = int(argv[4])
        cycle = max(cols // keys, 1)
        lines = []
        for r in range(cycle):
            picked = [(r * keys + k) % cols for k in range(keys)]
            lines.append("{" + ",".join(f'"c{c}":{value((c + r) % 2)}' for c in picked) + "}\n")
        chunk = "".join(lines).encode()
        for _ in range(rows // cycle):
            out.write(chunk)
        return
    else:
        sys.exit(f"unknown kind {kind!r}: schema, csv, ndjson or sparse")
    chunk = (pair * 50).encode()
    for _ in range(rows // 100):
        out.write(chunk)


if __name__ == "__main__":
    main(sys.argv)
