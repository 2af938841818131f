#!/usr/bin/env bash
# Cluster overhead (issue 17): the 22 TPC-H queries at scale SCALE (default 1) in a kept local
# `quiver sql` session, and through a Ballista cluster of one scheduler and two executors on
# loopback ports of this same machine — so the difference is the cluster's overhead (planning
# on the scheduler, task dispatch, shuffles through Arrow IPC files and Flight), not a
# speed-up. Same binary, same tables, same THREADS partitions per scan; each executor runs
# THREADS/2 tasks at once (at least 1), so both sides use THREADS cores.
# Per query: one `quiver sql` process runs it RUNS+1 times (the first dropped), the median of
# its own per-statement times; the cluster's answers are checked against the local ones.
# Usage: cargo build --release -p quiver-store-cli --features distributed && benches/cluster.sh [WORK_DIR]
# Prints a Markdown table. Not part of CI (SF1 generation and 2x22 queries take minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
quiver=${QUIVER:-${CARGO_TARGET_DIR:-target}/release/quiver}
work=${1:-$HOME/.cache/quiver-bench/cluster}
queries=${QUERIES:-../shared/data/tpch-queries}
runs=${RUNS:-3}
threads=${THREADS:-2}
scale=${SCALE:-1}
per_executor=$((threads / 2 > 0 ? threads / 2 : 1))
mkdir -p "$work"

tpch=$work/tpch-$scale
if [ ! -d "$tpch/quiver/lineitem" ]; then
  "$quiver" demo -q --scale "$scale" --dir "$tpch" >/dev/null
fi
db=$tpch/quiver

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

query() { sed 's/--.*$//' "$queries/$1.sql" | tr '\n' ' ' | sed 's/;[[:space:]]*$//'; }

# Median milliseconds of query $1 run `runs` times (after a warm-up) in one `quiver sql`
# process with the extra arguments that follow.
session_ms() {
  local q=$1
  shift
  for _ in $(seq 0 "$runs"); do echo "$(query "$q");"; done |
    "$quiver" sql --db "$db" --threads "$threads" --format csv "$@" 2>&1 |
    sed -n 's/.* rows in \([0-9.]*\)s$/\1/p' | tail -n +2 |
    awk '{printf "%.1f\n", $1 * 1000}' | median
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
port=$(free_port)
QUIVER_LOG=error "$quiver" cluster scheduler --bind "127.0.0.1:$port" >/dev/null &
pids+=($!)
sleep 1
for _ in 1 2; do
  flight=$(free_port)
  grpc=$(free_port)
  QUIVER_LOG=error "$quiver" cluster executor --scheduler "127.0.0.1:$port" \
    --bind "127.0.0.1:$flight" --grpc-port "$grpc" --concurrency "$per_executor" >/dev/null &
  pids+=($!)
done
sleep 3
url=df://127.0.0.1:$port

echo "TPC-H SF$scale, $threads partitions per scan, median of $runs warm runs per query (ms)"
echo
echo "| query | local session | cluster (scheduler + 2 executors, loopback) | cluster / local |"
echo "|---|---:|---:|---:|"
total_local=0
total_cluster=0
for i in $(seq 1 22); do
  q=q$i
  want=$(echo "$(query "$q");" | "$quiver" sql --db "$db" --threads "$threads" --format csv 2>/dev/null | sort)
  got=$(echo "$(query "$q");" | "$quiver" sql --db "$db" --threads "$threads" --format csv --cluster "$url" 2>/dev/null | sort)
  if [ "$(echo "$want" | grep -v ' rows in ')" != "$(echo "$got" | grep -v ' rows in ')" ]; then
    echo "$q: the cluster's answer differs from the local one" >&2
  fi
  local_ms=$(session_ms "$q")
  cluster_ms=$(session_ms "$q" --cluster "$url")
  total_local=$(echo "$total_local + $local_ms" | bc)
  total_cluster=$(echo "$total_cluster + $cluster_ms" | bc)
  echo "| $q | $local_ms | $cluster_ms | $(echo "scale=2; $cluster_ms / $local_ms" | bc) |"
done
echo "| **total** | **$total_local** | **$total_cluster** | **$(echo "scale=2; $total_cluster / $total_local" | bc)** |"
