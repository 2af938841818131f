"""Load on one `quiver serve`: N authenticated ADBC clients run random TPC-H queries for a
while; every answer must equal the single-client answer. Then a flood beyond
--max-concurrent-queries must get ResourceExhausted, and the server must answer normally after.

Usage (release build, Python env of python/test.sh):
    cargo build --release -p quiver-store-cli
    ~/.cache/quiver-venv/bin/python benches/flight_load.py --quiver $CARGO_TARGET_DIR/release/quiver \
        --scale 0.1 --clients 16 --seconds 60
Prints p50/p99 latency per query and overall, errors, and the server's peak RSS (VmHWM).
Loopback only; every loop is bounded by --seconds. Not part of CI.
"""

import argparse
import pathlib
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import adbc_driver_flightsql.dbapi as flight_sql

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python" / "tests"))
from flight_server import Server  # noqa: E402

QUERIES = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "tpch-queries"
# q15 creates and drops a view: server-wide, so concurrent clients would race on its name.
NUMBERS = [n for n in range(1, 23) if n != 15]


def sql_of(n):
    text = "\n".join(line.split("--")[0] for line in (QUERIES / f"q{n}.sql").read_text().splitlines())
    return text.strip().rstrip(";")


def answer(conn, sql):
    cursor = conn.cursor()
    cursor.execute(sql)
    rows = cursor.fetch_arrow_table().to_pylist()
    cursor.close()
    return sorted(map(repr, rows))


def peak_rss_mib(pid):
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quiver", required=True)
    p.add_argument("--scale", type=float, default=0.1)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--flood", type=int, default=32)
    # The server admits as many queries as there are clients: none is refused under load,
    # and the flood (more at once than that) must be.
    p.add_argument("--max-concurrent", type=int, default=None)
    args = p.parse_args()
    if args.max_concurrent is None:
        args.max_concurrent = args.clients

    work = pathlib.Path(tempfile.mkdtemp(prefix="quiver-load-"))
    subprocess.run([args.quiver, "-q", "demo", "--scale", str(args.scale), "--dir", str(work)],
                   check=True, stdout=subprocess.DEVNULL)
    users = work / "users"
    subprocess.run([args.quiver, "users", "add", str(users), "load", "--password", "load-pw"],
                   check=True)
    server = Server(args.quiver, work / "quiver", "--users", users, "-q",
                    "--max-concurrent-queries", args.max_concurrent)
    login = {"username": "load", "password": "load-pw"}
    try:
        with flight_sql.connect(server.uri, db_kwargs=login) as conn:
            expected = {n: answer(conn, sql_of(n)) for n in NUMBERS}
        latencies = {n: [] for n in NUMBERS}
        errors = []
        deadline = time.monotonic() + args.seconds

        def client(seed):
            rng = random.Random(seed)
            with flight_sql.connect(server.uri, db_kwargs=login) as conn:
                while time.monotonic() < deadline:
                    n = rng.choice(NUMBERS)
                    started = time.monotonic()
                    try:
                        got = answer(conn, sql_of(n))
                    except flight_sql.Error as e:
                        errors.append(f"q{n}: {e}")
                        continue
                    latencies[n].append(time.monotonic() - started)
                    if got != expected[n]:
                        errors.append(f"q{n}: a different answer than the single client's")

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        every = [x for v in latencies.values() for x in v]
        print(f"{args.clients} clients, {args.seconds:.0f} s, SF {args.scale}: "
              f"{len(every)} queries, {len(errors)} errors")
        for e in errors[:10]:
            print("  ", e)
        q = statistics.quantiles(every, n=100)
        print(f"latency p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms")
        print("| query | runs | p50 ms | p99 ms |")
        print("|---|---:|---:|---:|")
        for n in NUMBERS:
            v = sorted(latencies[n])
            if len(v) >= 2:
                qq = statistics.quantiles(v, n=100)
                print(f"| q{n} | {len(v)} | {qq[49] * 1000:.0f} | {qq[98] * 1000:.0f} |")
        print(f"server peak RSS: {peak_rss_mib(server.process.pid):.0f} MiB")

        # The flood: more slow queries at once than the server admits.
        refused, served = [], []
        barrier = threading.Barrier(args.flood)

        def flooder():
            with flight_sql.connect(server.uri, db_kwargs=login) as conn:
                barrier.wait()
                try:
                    answer(conn, sql_of(9))
                    served.append(1)
                except flight_sql.Error as e:
                    (refused if "RESOURCE_EXHAUSTED" in str(e) or "max-concurrent" in str(e)
                     else errors).append(str(e))

        threads = [threading.Thread(target=flooder) for _ in range(args.flood)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with flight_sql.connect(server.uri, db_kwargs=login) as conn:
            after_ok = answer(conn, sql_of(1)) == expected[1]
        print(f"flood of {args.flood} at --max-concurrent-queries {args.max_concurrent}: "
              f"{len(served)} served, {len(refused)} ResourceExhausted; "
              f"answers normally afterwards: {after_ok}")
        return 0 if not errors and after_ok and refused else 1
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
