#!/usr/bin/env bash
# Row-level changes (issue 19), measured through the release `quiver` binary, in one run:
#  1. INSERTS (default 10,000) single-row INSERTs (one session, one commit each), then
#     `quiver optimize`: files, `quiver info` (open: metadata only), and a full scan before /
#     after; then the same INSERTs into a table with automatic compaction (--auto-optimize 64).
#  2. TPC-H SF1 lineitem: Q1 and Q6 on the original table, after a DELETE of 1% of its rows
#     (deletion vectors), and after `quiver optimize` — in one kept session and as a fresh
#     process each.
# Usage: cargo build --release -p quiver-store-cli && benches/row_changes.sh [WORK_DIR]
# (INSERTS=N for part 1's count, ONLY_TPCH=1 for part 2 alone, ONLY_INSERTS=1 for part 1 alone.)
# Prints a Markdown table per part. Not part of CI (SF1 generation takes minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
quiver=${QUIVER:-${CARGO_TARGET_DIR:-target}/release/quiver}
work=${1:-$HOME/.cache/quiver-bench/row-changes}
queries=${QUERIES:-../shared/data/tpch-queries}
runs=${RUNS:-5}
inserts_n=${INSERTS:-10000}
mkdir -p "$work"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# Median wall milliseconds of `runs` fresh runs of a command (after one warm-up).
fresh_ms() {
  "$@" >/dev/null
  for _ in $(seq "$runs"); do
    local t0; t0=$(now_ms)
    "$@" >/dev/null
    echo $(($(now_ms) - t0))
  done | median
}

# Median milliseconds of one statement run `runs` times in one kept `quiver sql` session
# (the session's own per-statement timing; one warm-up run first). $1: --table argument.
session_ms() {
  local table=$1 sql=$2
  for _ in $(seq 0 "$runs"); do echo "$sql;"; done |
    "$quiver" sql --table "$table" --format csv 2>&1 |
    sed -n 's/.* rows in \([0-9.]*\)s$/\1/p' | tail -n +2 |
    awk '{printf "%.1f\n", $1 * 1000}' | median
}

query() { sed 's/--.*$//' "$queries/$1.sql" | tr '\n' ' ' | sed 's/;[[:space:]]*$//'; }

if [ -z "${ONLY_TPCH:-}" ]; then
echo "## $inserts_n single-row INSERTs, then optimize"
db=$work/small
rm -rf "$db"
mkdir -p "$db"
"$quiver" sql --db "$db" "CREATE TABLE t (id BIGINT NOT NULL, v VARCHAR)" >/dev/null
for i in $(seq 0 $((inserts_n - 1))); do echo "INSERT INTO t VALUES ($i, 'v$i');"; done >"$work/inserts.sql"
t0=$(now_ms)
"$quiver" sql --db "$db" -f "$work/inserts.sql" >/dev/null
inserts=$(($(now_ms) - t0))
scan="SELECT sum(id), count(v), max(v) FROM t"
measure_small() {
  local files info fresh session
  files=$(find "$db/t" -maxdepth 1 -type f ! -name '.quiver-*' | wc -l)
  info=$(fresh_ms "$quiver" info "$db/t")
  fresh=$(fresh_ms "$quiver" sql --table "t=$db/t" "$scan")
  session=$(session_ms "t=$db/t" "$scan")
  echo "| $1 | $files | $info | $fresh | $session |"
}
echo
echo "$inserts_n INSERT statements in one session: ${inserts} ms"
echo
echo "| state | files | quiver info ms (fresh) | full scan ms (fresh) | full scan ms (session) |"
echo "|---|---:|---:|---:|---:|"
measure_small "after $inserts_n INSERTs"
t0=$(now_ms)
"$quiver" optimize "$db/t" >/dev/null
optimize=$(($(now_ms) - t0))
measure_small "after optimize (old files kept for time travel)"
"$quiver" vacuum "$db/t" >/dev/null
measure_small "after vacuum"
# The same INSERTs into a table that compacts itself after 64 small segments.
rm -rf "$db"
mkdir -p "$db"
printf 'id,v\n-1,seed\n' >"$work/seed.csv"
"$quiver" import -q --auto-optimize 64 --schema id:int64,v:utf8 "$work/seed.csv" "$db/t"
t0=$(now_ms)
"$quiver" sql --db "$db" -f "$work/inserts.sql" >/dev/null
auto=$(($(now_ms) - t0))
measure_small "$inserts_n INSERTs with --auto-optimize 64"
echo
echo "optimize: ${optimize} ms; the $inserts_n INSERTs with --auto-optimize 64: ${auto} ms"
fi
[ -n "${ONLY_INSERTS:-}" ] && exit 0

echo
echo "## lineitem SF1: DELETE of 1%, Q1 and Q6 with the deletion vector and after optimize"
tpch=$work/tpch
if [ ! -d "$tpch/quiver/lineitem" ]; then
  "$quiver" demo -q --scale 1 --dir "$tpch" >/dev/null
fi
rm -rf "$work/lineitem"
cp -r "$tpch/quiver/lineitem" "$work/lineitem"
table="lineitem=$work/lineitem"
q1=$(query q1)
q6=$(query q6)
measure_tpch() {
  local q1s q1f q6s q6f
  q1s=$(session_ms "$table" "$q1")
  q1f=$(fresh_ms "$quiver" sql --table "$table" "$q1")
  q6s=$(session_ms "$table" "$q6")
  q6f=$(fresh_ms "$quiver" sql --table "$table" "$q6")
  echo "| $1 | $q1s | $q1f | $q6s | $q6f |"
}
echo
echo "| state | Q1 session ms | Q1 fresh ms | Q6 session ms | Q6 fresh ms |"
echo "|---|---:|---:|---:|---:|"
measure_tpch "original"
t0=$(now_ms)
deleted=$("$quiver" sql --table "$table" --format csv "DELETE FROM lineitem WHERE l_orderkey % 100 = 7" | tail -1)
delete=$(($(now_ms) - t0))
measure_tpch "1% deleted (deletion vectors)"
t0=$(now_ms)
"$quiver" optimize --deleted-fraction 0.005 "$work/lineitem" >/dev/null
optimize=$(($(now_ms) - t0))
measure_tpch "after optimize"
echo
echo "DELETE of ${deleted} rows: ${delete} ms (fresh process); optimize: ${optimize} ms"
