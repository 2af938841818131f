"""Who may reach `quiver serve`, over what, and how much they may spend — through the ADBC
Flight SQL driver, against real `quiver serve` processes on loopback: passwords and bearer
tokens (missing, wrong, expired, altered), read and write roles, `--read-only`, TLS verified
against a CA made for the test (and plaintext refused), the refusal to listen exposed without
protection, `--max-concurrent-queries` and `--query-timeout`."""

import subprocess
import time

import adbc_driver_flightsql.dbapi as flight_sql
import pytest

from flight_server import Server

AUTH_HEADER = "adbc.flight.sql.authorization_header"
TLS_ROOTS = "adbc.flight.sql.client_option.tls_root_certs"


def quiver(binary, *args, stdin=None):
    return subprocess.run(
        [str(binary), *map(str, args)], input=stdin, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def users(quiver_bin, tmp_path_factory):
    """A users file: ann (write, password on the command line), bob (read, password on
    stdin), a token for bob that never expires and one that expires in a second."""
    path = tmp_path_factory.mktemp("users") / "users"
    quiver(quiver_bin, "users", "add", path, "ann", "--password", "ann-pw", "--role", "write")
    quiver(quiver_bin, "users", "add", path, "bob", "--role", "read", stdin="bob-pw\n")
    token = quiver(quiver_bin, "users", "token", path, "bob").strip()
    short = quiver(quiver_bin, "users", "token", path, "bob", "--expires-in", "1").strip()
    text = path.read_text()
    assert "ann-pw" not in text and "bob-pw" not in text and token.split(".")[-1] not in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    return {"path": path, "token": token, "short_token": short}


@pytest.fixture
def db(tpch_db, copy_of, tmp_path):
    """A database of one writable table (a copy of nation)."""
    copy_of(tpch_db / "nation")
    return tmp_path


@pytest.fixture
def server(quiver_bin, db, users):
    server = Server(quiver_bin, db, "--users", users["path"])
    yield server
    server.stop()


def login(uri, user, password, **extra):
    return flight_sql.connect(uri, db_kwargs={"username": user, "password": password, **extra})


def count_nations(conn):
    cursor = conn.cursor()
    cursor.execute("SELECT count(*) FROM nation")
    return cursor.fetchone()[0]


def test_a_password_logs_in_and_queries(server):
    with login(server.uri, "ann", "ann-pw") as conn:
        assert count_nations(conn) == 25


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"username": "ann", "password": "wrong"},
        {"username": "nobody", "password": "ann-pw"},
        {AUTH_HEADER: "Bearer quiver-session.0123456789abcdef"},
        {AUTH_HEADER: "Basic not-base64!"},
    ],
    ids=["no credentials", "wrong password", "unknown user", "made-up token", "garbage header"],
)
def test_calls_without_valid_credentials_are_refused_and_return_nothing(server, kwargs):
    with pytest.raises(flight_sql.Error, match="(?i)unauthenticated|authenticat|token|password"):
        conn = flight_sql.connect(server.uri, db_kwargs=kwargs)
        try:
            count_nations(conn)
        finally:
            conn.close()


def test_a_pre_issued_token_works_until_altered_or_expired(server, users):
    with flight_sql.connect(server.uri, db_kwargs={AUTH_HEADER: f"Bearer {users['token']}"}) as conn:
        assert count_nations(conn) == 25
    altered = users["token"][:-1] + ("0" if users["token"][-1] != "0" else "1")
    time.sleep(1.5)  # the short token's second is up
    for token in (altered, users["short_token"]):
        with pytest.raises(flight_sql.Error, match="(?i)unauthenticated|token"):
            with flight_sql.connect(server.uri, db_kwargs={AUTH_HEADER: f"Bearer {token}"}) as conn:
                count_nations(conn)


def test_a_read_user_cannot_change_anything_and_a_write_user_can(server):
    with login(server.uri, "bob", "bob-pw") as conn:
        cursor = conn.cursor()
        for statement in (
            "INSERT INTO nation SELECT * FROM nation",
            "DELETE FROM nation",
            "CREATE VIEW v AS SELECT 1",
            "CREATE TABLE copy AS SELECT * FROM nation",
            "SET datafusion.execution.batch_size = 10",
            "EXPLAIN ANALYZE INSERT INTO nation SELECT * FROM nation",
        ):
            with pytest.raises(flight_sql.Error, match="role read"):
                cursor.execute(statement)
                cursor.fetchall()
        assert count_nations(conn) == 25, "nothing was written"
    with login(server.uri, "ann", "ann-pw") as conn:
        cursor = conn.cursor()
        cursor.execute("INSERT INTO nation SELECT * FROM nation WHERE n_nationkey < 3")
        cursor.fetchall()
        assert count_nations(conn) == 28


def test_a_read_only_server_refuses_writes_even_from_write_users(quiver_bin, db, users):
    server = Server(quiver_bin, db, "--users", users["path"], "--read-only")
    try:
        with login(server.uri, "ann", "ann-pw") as conn:
            cursor = conn.cursor()
            with pytest.raises(flight_sql.Error, match="read-only"):
                cursor.execute("INSERT INTO nation SELECT * FROM nation")
                cursor.fetchall()
            assert count_nations(conn) == 25
    finally:
        server.stop()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A test CA and a server certificate it signed for 127.0.0.1 and localhost (openssl)."""
    d = tmp_path_factory.mktemp("tls")

    def openssl(*args):
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=quiver test CA", "-keyout", d / "ca.key", "-out", d / "ca.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", d / "server.key", "-out", d / "server.csr")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", d / "server.csr", "-CA", d / "ca.pem", "-CAkey", d / "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", d / "san.ext", "-out", d / "server.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=quiver test client",
            "-keyout", d / "client.key", "-out", d / "client.csr")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")  # v3: webpki needs it
    openssl("x509", "-req", "-in", d / "client.csr", "-CA", d / "ca.pem", "-CAkey", d / "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", d / "client.ext", "-out", d / "client.pem")
    return d


def test_client_certificates_are_required_with_tls_client_ca(quiver_bin, db, users, certificates):
    c = certificates
    server = Server(quiver_bin, db, "--users", users["path"], "--tls-cert", c / "server.pem",
                    "--tls-key", c / "server.key", "--tls-client-ca", c / "ca.pem")
    try:
        trust = {TLS_ROOTS: (c / "ca.pem").read_text()}
        mtls = {
            "adbc.flight.sql.client_option.mtls_cert_chain": (c / "client.pem").read_text(),
            "adbc.flight.sql.client_option.mtls_private_key": (c / "client.key").read_text(),
        }
        with login(server.uri, "ann", "ann-pw", **trust, **mtls) as conn:
            assert count_nations(conn) == 25
        with pytest.raises(flight_sql.Error):
            with login(server.uri, "ann", "ann-pw", **trust) as conn:  # no client certificate
                count_nations(conn)
    finally:
        server.stop()


def test_tls_is_verified_against_the_ca_and_plaintext_is_refused(quiver_bin, db, users, certificates):
    c = certificates
    server = Server(quiver_bin, db, "--users", users["path"],
                    "--tls-cert", c / "server.pem", "--tls-key", c / "server.key")
    try:
        assert server.uri.startswith("grpc+tls://")
        ca = (c / "ca.pem").read_text()
        with login(server.uri, "ann", "ann-pw", **{TLS_ROOTS: ca}) as conn:
            assert count_nations(conn) == 25
        with pytest.raises(flight_sql.Error):
            with login(server.uri, "ann", "ann-pw") as conn:  # the system roots don't know our CA
                count_nations(conn)
        plaintext = server.uri.replace("grpc+tls://", "grpc://")
        with pytest.raises(flight_sql.Error):
            with login(plaintext, "ann", "ann-pw") as conn:
                count_nations(conn)
    finally:
        server.stop()


def test_listening_exposed_without_protection_is_refused_unless_insecure(quiver_bin, db):
    refused = subprocess.run(
        [str(quiver_bin), "serve", "--db", str(db), "--listen", "0.0.0.0:0"],
        capture_output=True, text=True, timeout=30,
    )
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "--insecure" in refused.stderr, refused.stderr
    server = Server(quiver_bin, db, "--insecure", listen="0.0.0.0:0")
    try:
        server.wait_for_log("warning: listening on 0.0.0.0:0 without authentication or TLS")
        port = server.uri.rsplit(":", 1)[1]
        with flight_sql.connect(f"grpc://127.0.0.1:{port}") as conn:
            assert count_nations(conn) == 25
    finally:
        server.stop()


def test_queries_beyond_the_concurrency_limit_are_refused_then_served(quiver_bin, tpch_db):
    server = Server(quiver_bin, tpch_db, "--max-concurrent-queries", "1")
    try:
        holder = flight_sql.connect(server.uri)
        cursor = holder.cursor()
        # Billions of rows, read one batch at a time: holds its place until closed.
        cursor.execute("SELECT a.l_orderkey, b.l_partkey FROM lineitem a CROSS JOIN lineitem b")
        cursor.fetch_record_batch().read_next_batch()
        with flight_sql.connect(server.uri) as other:
            with pytest.raises(flight_sql.Error, match="max-concurrent-queries"):
                count_nations(other)
        cursor.close()
        holder.close()
        server.wait_for_log(r"cancelled by the client")
        with flight_sql.connect(server.uri) as again:
            assert count_nations(again) == 25
    finally:
        server.stop()


def test_a_query_past_the_timeout_is_cancelled_with_a_clear_error(quiver_bin, tpch_db):
    server = Server(quiver_bin, tpch_db, "--query-timeout", "0.5")
    try:
        with flight_sql.connect(server.uri) as conn:
            cursor = conn.cursor()
            started = time.monotonic()
            with pytest.raises(flight_sql.Error, match="query-timeout"):
                # 10^12 rows in cheap batches: cancellation takes effect between batches.
                cursor.execute("SELECT count(*) FROM generate_series(1, 1000000000000)")
                cursor.fetchall()
            assert time.monotonic() - started < 20
            assert count_nations(conn) == 25
    finally:
        server.stop()
