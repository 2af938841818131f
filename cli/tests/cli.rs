//! The `quiver` binary end to end: import -> info -> sql -> export -> verify on generated TPC-H
//! data and on the Parquet conformance corpus; clear one-line errors and non-zero exits on bad
//! input, with the table left as it was.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use quiver_store::io::{export_batches, ExportOptions, Format};

fn quiver() -> Command {
    Command::cargo_bin("quiver").unwrap()
}

/// Runs `quiver args` expecting success; returns stdout.
fn ok(args: &[&str]) -> String {
    let out = quiver().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "quiver {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `quiver args` expecting failure; returns the (single-line) error.
fn fails(args: &[&str]) -> String {
    let out = quiver().args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "quiver {args:?} should fail with status 1"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line of error, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// TPC-H `name` at scale 0.01 as a Parquet file in `dir`.
fn tpch_parquet(dir: &Path, name: &str) -> PathBuf {
    let (schema, batches) = quiver_store::tpch::batches(name, 0.01, 1, 1, 10_000).unwrap();
    let path = dir.join(format!("{name}.parquet"));
    let options = ExportOptions::default().with_row_group_size(20_000);
    export_batches(schema, batches, &path, &options, &mut |_| {}).unwrap();
    path
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn tpch_import_info_sql_export_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let lineitem = tpch_parquet(tmp.path(), "lineitem");
    let orders = tpch_parquet(tmp.path(), "orders");
    let db = tmp.path().join("db");
    ok(&["import", s(&lineitem), s(&db.join("lineitem"))]);
    ok(&["import", "-q", s(&orders), s(&db.join("orders"))]);

    let info = json(&ok(&["info", "--json", s(&db.join("lineitem"))]));
    assert_eq!(info["rows"], 60_175);
    assert_eq!(info["version"], 1);
    let cols = info["columns"].as_array().unwrap();
    assert_eq!(cols[0]["name"], "l_orderkey");
    assert_eq!(cols[0]["min"], "1");
    assert_eq!(cols[8]["type"], "Utf8View");
    assert!(ok(&["info", s(&db.join("lineitem"))]).contains("l_shipmode"));

    let csv = ok(&[
        "sql",
        "--db",
        s(&db),
        "--format",
        "csv",
        "SELECT l_returnflag, count(*) AS n FROM lineitem GROUP BY l_returnflag ORDER BY l_returnflag",
    ]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "l_returnflag,n");
    assert_eq!(lines.len(), 4);
    let total: u64 = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 60_175);

    // Several statements (TPC-H q15: create view; select; drop view): the select is printed.
    let q15 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/tpch-queries/q15.sql");
    let supplier = tpch_parquet(tmp.path(), "supplier");
    ok(&["import", "-q", s(&supplier), s(&db.join("supplier"))]);
    let out = ok(&["sql", "--db", s(&db), "--format", "ndjson", "-f", s(&q15)]);
    assert!(
        out.lines().count() >= 1 && out.contains("s_suppkey"),
        "{out}"
    );

    // --table NAME=DIR@VERSION and JSON output.
    ok(&[
        "import",
        "-q",
        "--mode",
        "append",
        s(&orders),
        s(&db.join("orders")),
    ]);
    let spec = format!("o={}@1", s(&db.join("orders")));
    let out = json(&ok(&[
        "sql",
        "--table",
        &spec,
        "--format",
        "json",
        "SELECT count(*) AS n FROM o",
    ]));
    assert_eq!(out[0]["n"], 15_000);
    let out = json(&ok(&[
        "sql",
        "--db",
        s(&db),
        "--format",
        "json",
        "SELECT count(*) AS n FROM orders",
    ]));
    assert_eq!(out[0]["n"], 30_000);

    // Export a projection, and a query result; import them back.
    let out = tmp.path().join("proj.parquet");
    ok(&[
        "export",
        "-q",
        s(&db.join("lineitem")),
        s(&out),
        "--columns",
        "l_orderkey,l_comment",
        "--compression",
        "snappy",
    ]);
    ok(&["import", "-q", s(&out), s(&tmp.path().join("proj"))]);
    let info = json(&ok(&["info", "--json", s(&tmp.path().join("proj"))]));
    assert_eq!(info["rows"], 60_175);
    assert_eq!(info["columns"].as_array().unwrap().len(), 2);
    let out = tmp.path().join("q.csv");
    ok(&[
        "export",
        "-q",
        s(&db.join("orders")),
        s(&out),
        "--version",
        "1",
        "--query",
        "SELECT o_orderkey FROM t WHERE o_orderkey < 100",
    ]);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().next(), Some("o_orderkey"));

    assert!(ok(&["verify", s(&db.join("lineitem"))]).starts_with("ok: "));
    ok(&["vacuum", s(&db.join("orders")), "--keep", "1"]);
    let info = json(&ok(&["info", "--json", s(&db.join("orders"))]));
    assert_eq!(info["versions"], serde_json::json!([2]));
}

#[test]
fn csv_ndjson_and_ipc_import_through_the_same_writer() {
    let tmp = tempfile::tempdir().unwrap();
    let nation = tpch_parquet(tmp.path(), "nation");
    let t = tmp.path().join("nation");
    ok(&["import", "-q", s(&nation), s(&t)]);
    for (ext, format) in [
        ("csv", Format::Csv),
        ("ndjson", Format::Ndjson),
        ("arrow", Format::Ipc),
    ] {
        let file = tmp.path().join(format!("nation.{ext}"));
        ok(&["export", "-q", s(&t), s(&file)]);
        assert_eq!(Format::from_path(&file), Some(format));
        let back = tmp.path().join(format!("back-{ext}"));
        ok(&["import", "-q", s(&file), s(&back)]);
        let out = json(&ok(&[
            "sql",
            "--table",
            &format!("n={}", s(&back)),
            "--format",
            "json",
            "SELECT count(*) AS c, min(n_name) AS m FROM n",
        ]));
        assert_eq!(out[0]["c"], 25, "{ext}");
        assert_eq!(out[0]["m"], "ALGERIA", "{ext}");
    }
    // A directory of files imports as one table, one version.
    let dir = tmp.path().join("many");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..3 {
        std::fs::copy(&nation, dir.join(format!("part-{i}.parquet"))).unwrap();
    }
    ok(&[
        "import",
        "-q",
        s(&dir),
        s(&tmp.path().join("many-t")),
        "--columns",
        "n_name,n_nationkey",
    ]);
    let info = json(&ok(&["info", "--json", s(&tmp.path().join("many-t"))]));
    assert_eq!(
        (info["rows"].as_u64(), info["version"].as_u64()),
        (Some(75), Some(1))
    );
    assert_eq!(info["columns"][0]["name"], "n_name");
}

#[test]
fn bad_input_gives_one_line_errors_and_leaves_the_table_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let nation = tpch_parquet(tmp.path(), "nation");
    let region = tpch_parquet(tmp.path(), "region");
    let t = tmp.path().join("t");
    ok(&["import", "-q", s(&nation), s(&t)]);

    let e = fails(&["import", s(&tmp.path().join("missing.parquet")), s(&t)]);
    assert!(
        e.contains("missing.parquet") && e.contains("No such file"),
        "{e}"
    );
    let e = fails(&["import", s(&nation), s(&t)]);
    assert!(e.contains("already holds a Quiver table"), "{e}");
    let e = fails(&["import", "--mode", "append", s(&region), s(&t)]);
    assert!(
        e.contains("region.parquet") && e.contains("schema mismatch"),
        "{e}"
    );
    let not_parquet = tmp.path().join("fake.parquet");
    std::fs::write(&not_parquet, b"this is not parquet").unwrap();
    let e = fails(&["import", "--mode", "append", s(&not_parquet), s(&t)]);
    assert!(e.contains("fake.parquet"), "{e}");
    let e = fails(&[
        "import",
        "--columns",
        "nope",
        s(&nation),
        s(&tmp.path().join("u")),
    ]);
    assert!(e.contains("has no column \"nope\""), "{e}");
    let e = fails(&[
        "sql",
        "--table",
        &format!("t={}", s(&t)),
        "SELECT nope FROM t",
    ]);
    assert!(e.contains("nope"), "{e}");
    let e = fails(&[
        "export",
        s(&t),
        s(&tmp.path().join("x.parquet")),
        "--compression",
        "zip",
    ]);
    assert!(e.contains("unknown compression"), "{e}");

    // Damage a segment: verify names it and exits 1.
    let info = json(&ok(&["info", "--json", s(&t)]));
    assert_eq!(info["version"], 1, "failed commands published nothing");
    let seg = t.join(info["segments"][0]["name"].as_str().unwrap());
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[200] ^= 0x40;
    std::fs::write(&seg, bytes).unwrap();
    let e = fails(&["verify", s(&t)]);
    assert!(
        e.contains(seg.file_name().unwrap().to_str().unwrap()),
        "{e}"
    );
    assert!(quiver()
        .args(["import", "--help"])
        .output()
        .unwrap()
        .status
        .success());
}

#[test]
fn conformance_corpus_through_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/parquet-testing/data");
    let skip = [
        "dict-page-offset-zero.parquet",
        "large_string_map.brotli.parquet",
        "nation.dict-malformed.parquet",
    ];
    let mut done = 0;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for (i, file) in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .enumerate()
    {
        let name = file.file_name().unwrap().to_str().unwrap();
        let t = tmp.path().join(format!("t{i}"));
        if skip.contains(&name) {
            let e = fails(&["import", "-q", s(file), s(&t)]);
            assert!(e.contains(name), "{e}");
            continue;
        }
        ok(&["import", "-q", s(file), s(&t)]);
        let info = json(&ok(&["info", "--json", s(&t)]));
        let out = json(&ok(&[
            "sql",
            "--table",
            &format!("t={}", s(&t)),
            "--format",
            "json",
            "SELECT count(*) AS n FROM t",
        ]));
        assert_eq!(out[0]["n"], info["rows"], "{name}");
        ok(&[
            "export",
            "-q",
            s(&t),
            s(&tmp.path().join(format!("o{i}.parquet"))),
        ]);
        ok(&["verify", s(&t)]);
        done += 1;
    }
    assert!(done >= 40, "{done}");
}

#[test]
fn sql_without_a_query_reads_statements_at_a_prompt() {
    let tmp = tempfile::tempdir().unwrap();
    let nation = tpch_parquet(tmp.path(), "nation");
    let t = tmp.path().join("nation");
    ok(&["import", "-q", s(&nation), s(&t)]);
    let out = quiver()
        .args(["sql", "--table", &format!("n={}", s(&t))])
        .env("HOME", tmp.path())
        .write_stdin("SELECT count(*) AS c\nFROM n;\nSELECT max(n_name) AS m FROM n;\n\\q\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("| 25 |"), "{stdout}");
    assert!(stdout.contains("VIETNAM"), "{stdout}");
}

#[test]
fn sparse_ndjson_keys_land_in_the_bag_and_info_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..3000 {
        text.push_str(&format!("{{\"id\": {i}, \"kind\": \"k{}\"", i % 3));
        if i % 200 == 0 {
            text.push_str(&format!(", \"rare\": \"r{i}\""));
        }
        text.push_str("}\n");
    }
    let first = dir.path().join("a.ndjson");
    std::fs::write(&first, &text).unwrap();
    let (bag, dense) = (dir.path().join("bag"), dir.path().join("dense"));
    ok(&["import", "-q", s(&first), s(&bag)]);
    ok(&["import", "-q", "--bag-threshold", "0", s(&first), s(&dense)]);

    let info = json(&ok(&["info", "--json", s(&bag)]));
    let rare = &info["columns"][2];
    assert_eq!(rare["name"], "rare");
    assert_eq!(rare["storage"]["bag_segments"], 1);
    assert!((rare["fill_rate"].as_f64().unwrap() - 15.0 / 3000.0).abs() < 1e-9);
    assert_eq!(info["columns"][0]["storage"]["dense_segments"], 1);
    let text_info = ok(&["info", s(&bag)]);
    assert!(
        text_info.contains("1 columns live in the overflow bag"),
        "{text_info}"
    );
    let dense_info = json(&ok(&["info", "--json", s(&dense)]));
    assert_eq!(dense_info["columns"][2]["storage"]["bag_segments"], 0);

    let q = "SELECT count(*), min(rare), max(rare) FROM t WHERE rare IS NOT NULL";
    for table in [&bag, &dense] {
        let arg = format!("t={}", s(table));
        let out = ok(&["sql", "--table", &arg, "--format", "csv", q]);
        assert!(out.contains("15,r0,r800"), "{out}");
    }

    // An append bringing a new key needs --merge-schema; old segments are kept as they are.
    let second = dir.path().join("b.ndjson");
    std::fs::write(&second, "{\"id\": 3000, \"fresh\": 1.5}\n").unwrap();
    let err = fails(&["import", "-q", "--mode", "append", s(&second), s(&bag)]);
    assert!(err.contains("columns"), "{err}");
    ok(&[
        "import",
        "-q",
        "--mode",
        "append",
        "--merge-schema",
        s(&second),
        s(&bag),
    ]);
    let arg = format!("t={}", s(&bag));
    let out = ok(&[
        "sql",
        "--table",
        &arg,
        "--format",
        "csv",
        "SELECT count(*), count(fresh), sum(fresh), count(kind) FROM t",
    ]);
    assert!(out.contains("3001,1,1.5,3000"), "{out}");
    ok(&["verify", s(&bag)]);
}

#[test]
fn import_sort_by_clusters_the_table_and_explain_shows_the_scan_filtering() {
    let tmp = tempfile::tempdir().unwrap();
    let lineitem = tpch_parquet(tmp.path(), "lineitem");
    let t = tmp.path().join("lineitem");
    ok(&[
        "import",
        "-q",
        s(&lineitem),
        s(&t),
        "--sort-by",
        "l_shipdate,l_orderkey",
        "--segment-rows",
        "20000",
    ]);
    let table = format!("lineitem={}", s(&t));
    // Rows come back in key order, with no sort planned.
    let plan = ok(&[
        "sql",
        "--table",
        &table,
        "EXPLAIN SELECT l_shipdate FROM lineitem ORDER BY l_shipdate",
    ]);
    assert!(!plan.contains("SortExec"), "{plan}");
    let dates = json(&ok(&[
        "sql",
        "--table",
        &table,
        "--format",
        "json",
        "SELECT count(*) AS n, count(DISTINCT l_shipdate) AS d FROM lineitem \
         WHERE l_shipdate >= DATE '1994-01-01' AND l_shipdate < DATE '1995-01-01'",
    ]));
    assert!(dates[0]["n"].as_u64().unwrap() > 0);
    // The filter runs in the scan: no FilterExec; zones outside 1994 are skipped.
    let analyzed = ok(&[
        "sql",
        "--table",
        &table,
        "EXPLAIN ANALYZE SELECT sum(l_extendedprice * l_discount) FROM lineitem \
         WHERE l_shipdate >= DATE '1994-01-01' AND l_shipdate < DATE '1995-01-01' \
         AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24",
    ]);
    assert!(!analyzed.contains("FilterExec"), "{analyzed}");
    assert!(analyzed.contains("zones_pruned="), "{analyzed}");
    // ... and the sum inside it, over the rows the filter keeps.
    assert!(analyzed.contains("QuiverAggregateExec"), "{analyzed}");
    assert!(analyzed.contains("rows_aggregated="), "{analyzed}");
    // Appends keep the table's key: every segment records it.
    ok(&["import", "-q", "--mode", "append", s(&lineitem), s(&t)]);
    let info = json(&ok(&["info", "--json", s(&t)]));
    let segments = info["segments"].as_array().unwrap();
    assert!(segments.len() >= 4, "{info}");
    for seg in segments {
        assert_eq!(
            seg["sort_key"],
            serde_json::json!(["l_shipdate", "l_orderkey"]),
            "{info}"
        );
    }
    let bad = fails(&[
        "import",
        "-q",
        s(&lineitem),
        s(&tmp.path().join("x")),
        "--sort-by",
        "nope",
    ]);
    assert!(bad.contains("\"nope\""), "{bad}");
}

#[test]
fn delete_update_merge_optimize_and_info_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("people.csv");
    let mut text = String::from("id,name\n");
    for i in 0..100 {
        text.push_str(&format!("{i},n{i}\n"));
    }
    std::fs::write(&csv, &text).unwrap();
    let table = dir.path().join("t");
    // One segment of 100 rows.
    ok(&[
        "import",
        "-q",
        "--schema",
        "id:int64,name:utf8",
        s(&csv),
        s(&table),
    ]);
    let arg = format!("t={}", s(&table));
    let sql = |q: &str| ok(&["sql", "--table", &arg, "--format", "csv", q]);
    assert!(sql("DELETE FROM t WHERE id % 10 = 0").contains("10"));
    assert!(sql("UPDATE t SET name = 'upd' WHERE id = 5").contains("1"));
    let err = fails(&[
        "sql",
        "--table",
        &arg,
        "DELETE FROM t WHERE id IN (SELECT id FROM t WHERE id < 3)",
    ]);
    assert!(err.contains("nothing was changed"), "{err}");

    let info = ok(&["info", s(&table)]);
    assert!(info.contains("rows      90 in 2 segments"), "{info}");
    assert!(
        info.contains("deleted   11 rows hidden by deletion vectors in 1 of 2 segments"),
        "{info}"
    );
    assert!(info.contains(": 11 of 100 rows deleted"), "{info}");
    let doc = json(&ok(&["info", "--json", s(&table)]));
    assert_eq!(doc["deleted_rows"], 11);
    assert_eq!(doc["segments"][0]["deleted_rows"], 11);
    assert_eq!(doc["segments"][0]["rows"], 89);
    assert!(ok(&["verify", s(&table)]).contains("1 deletion vectors"));

    // merge: ids 95..105 (95..99 replace rows, 100..104 are new).
    let upserts = dir.path().join("upserts.csv");
    let mut text = String::from("id,name\n");
    for i in 95..105 {
        text.push_str(&format!("{i},m{i}\n"));
    }
    std::fs::write(&upserts, &text).unwrap();
    let out = ok(&["merge", s(&upserts), s(&table), "--key", "id"]);
    assert!(
        out.contains("5 rows updated, 5 inserted, 0 deleted"),
        "{out}"
    );
    assert!(
        sql("SELECT count(*), count(*) FILTER (WHERE name LIKE 'm%') FROM t").contains("95,10")
    );
    let err = fails(&["merge", s(&upserts), s(&table), "--key", "nope"]);
    assert!(err.contains("\"nope\""), "{err}");

    let out = ok(&["optimize", s(&table)]);
    assert!(out.contains("segments rewritten into 1"), "{out}");
    assert!(ok(&["optimize", s(&table)]).contains("nothing to compact"));
    let info = json(&ok(&["info", "--json", s(&table)]));
    assert_eq!(
        (info["rows"].as_u64(), info["deleted_rows"].as_u64()),
        (Some(95), Some(0))
    );
    assert_eq!(info["segments"].as_array().unwrap().len(), 1);
    // Time travel to before the compaction, until vacuum.
    let old = format!("t={}@1", s(&table));
    let out = ok(&[
        "sql",
        "--table",
        &old,
        "--format",
        "csv",
        "SELECT count(*) FROM t",
    ]);
    assert!(out.contains("100"), "{out}");
    ok(&["vacuum", s(&table)]);
    ok(&["verify", s(&table)]);
}

#[test]
fn sql_memory_limit_fails_a_query_that_cannot_fit_with_one_line_and_bad_sizes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let lineitem = tpch_parquet(tmp.path(), "lineitem");
    let table = tmp.path().join("db").join("lineitem");
    ok(&["import", "-q", s(&lineitem), s(&table)]);
    let db = tmp.path().join("db");
    let join = "SELECT count(*) FROM lineitem a JOIN lineitem b \
                ON a.l_comment = b.l_comment AND a.l_orderkey <> b.l_orderkey";
    let err = fails(&[
        "sql",
        "--db",
        s(&db),
        "--memory-limit",
        "1MiB",
        "--threads",
        "2",
        join,
    ]);
    assert!(err.contains("Resources exhausted"), "{err}");
    let count = ok(&[
        "sql",
        "--db",
        s(&db),
        "--memory-limit",
        "64MiB",
        "--format",
        "csv",
        "SELECT count(*) AS n FROM lineitem",
    ]);
    assert!(count.contains("60175"), "{count}");
    let out = quiver()
        .args(["sql", "--db", s(&db), "--memory-limit", "lots", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a size"));
}

#[test]
fn users_add_and_token_edit_the_file_and_serve_refuses_exposure_without_protection() {
    let tmp = tempfile::tempdir().unwrap();
    let users = tmp.path().join("users");
    ok(&[
        "users",
        "add",
        s(&users),
        "ann",
        "--password",
        "pw",
        "--role",
        "write",
    ]);
    let token = ok(&["users", "token", s(&users), "ann", "--expires-in", "60"]);
    assert!(token.trim().starts_with("quiver-token."), "{token}");
    let text = std::fs::read_to_string(&users).unwrap();
    assert!(
        text.contains("user ann write $argon2id$") && !text.contains(" pw"),
        "{text}"
    );
    let err = fails(&["users", "token", s(&users), "nobody"]);
    assert!(err.contains("there is no user nobody"), "{err}");
    let err = fails(&["users", "add", s(&users), "bad name", "--password", "x"]);
    assert!(err.contains("user name"), "{err}");
    let db = tmp.path().join("db");
    let err = fails(&[
        "serve",
        "--db",
        s(&db),
        "--listen",
        "0.0.0.0:0",
        "--users",
        s(&users),
    ]);
    assert!(
        err.contains("--insecure") && err.contains("0.0.0.0:0"),
        "{err}"
    );
    std::fs::write(tmp.path().join("empty"), "# nobody\n").unwrap();
    let empty = tmp.path().join("empty");
    let err = fails(&["serve", "--db", s(&db), "--users", s(&empty)]);
    assert!(err.contains("lists no user"), "{err}");
}

#[test]
fn import_encoding_compact_info_shows_it_and_rewrite_converts_back_to_raw() {
    let tmp = tempfile::tempdir().unwrap();
    let lineitem = tpch_parquet(tmp.path(), "lineitem");
    let t = tmp.path().join("lineitem");
    let sum = "SELECT l_returnflag, count(*) AS n, sum(l_extendedprice) AS s FROM lineitem \
               WHERE l_shipmode IN ('AIR', 'MAIL') AND l_comment LIKE '%fox%' \
               GROUP BY l_returnflag ORDER BY l_returnflag";
    let table = format!("lineitem={}", s(&t));
    ok(&["import", "-q", s(&lineitem), s(&t)]);
    let raw_answer = ok(&["sql", "--table", &table, "--format", "csv", sum]);
    let raw_bytes = json(&ok(&["info", "--json", s(&t)]))["bytes"]
        .as_u64()
        .unwrap();
    // The same rows stored compact: smaller, the same answers.
    ok(&["rewrite", s(&t), "--encoding", "compact,l_comment=zstd"]);
    let info = json(&ok(&["info", "--json", s(&t)]));
    assert!(info["bytes"].as_u64().unwrap() * 2 < raw_bytes, "{info}");
    let encoding = |name: &str| {
        let cols = info["columns"].as_array().unwrap();
        let c = cols.iter().find(|c| c["name"] == name).unwrap();
        c["encoding"].as_str().unwrap().to_owned()
    };
    // Sorted keys are stored as deltas, others frame-of-reference packed.
    assert!(encoding("l_orderkey").starts_with("delta"), "{info}");
    assert!(encoding("l_partkey").starts_with("packed"), "{info}");
    assert!(encoding("l_shipmode").starts_with("dict 7"), "{info}");
    assert_eq!(encoding("l_comment"), "zstd 4096-row blocks", "{info}");
    let text = ok(&["info", s(&t)]);
    assert!(
        text.contains("encoding") && text.contains("ratio"),
        "{text}"
    );
    assert_eq!(
        ok(&["sql", "--table", &table, "--format", "csv", sum]),
        raw_answer
    );
    ok(&["verify", s(&t)]);
    // Appends keep the table's encoding; a rewrite to raw brings back zero-copy storage.
    ok(&["import", "-q", "--mode", "append", s(&lineitem), s(&t)]);
    let info = json(&ok(&["info", "--json", s(&t)]));
    assert_eq!(info["segments"].as_array().unwrap().len(), 2, "{info}");
    ok(&["rewrite", s(&t), "--encoding", "raw"]);
    let info = json(&ok(&["info", "--json", s(&t)]));
    for c in info["columns"].as_array().unwrap() {
        assert_eq!(c["encoding"], "raw", "{info}");
    }
    // A wrong specification is one line naming what is wrong.
    let err = fails(&[
        "import",
        "-q",
        s(&lineitem),
        s(&tmp.path().join("x")),
        "--encoding",
        "lz5",
    ]);
    assert!(err.contains("unknown encoding \"lz5\""), "{err}");
}
