//! `quiver serve`: an Arrow Flight SQL server over a database directory (see
//! [`quiver_store::flight`] for what it answers).
//!
//! # Contract
//! - Once the socket is bound, one line `listening on grpc://HOST:PORT` (`grpc+tls://` with
//!   TLS) is printed on stdout
//!   (with the real port when `--listen` asked for port 0) and flushed, so scripts can wait
//!   for it.
//! - Each query logs its SQL and how it ended (done, failed, cancelled by the client) on
//!   stderr, unless `--quiet`.
//! - SIGINT or SIGTERM stops accepting calls, lets running ones finish, and exits 0.
//! - Access: `--users FILE` turns authentication on (`quiver users` edits the file);
//!   `--tls-cert`/`--tls-key` serve TLS, `--tls-client-ca` also requires client certificates
//!   signed by that CA. Listening on an address other than loopback without both
//!   authentication and TLS is refused, unless `--insecure` is given (then a warning is
//!   logged).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::sql::{parse_size, runtime, served_dirs, session, SessionArgs};
use quiver_store::flight::auth::Authenticator;
use quiver_store::flight::limits::{
    QueryLimits, DEFAULT_MAX_CONCURRENT_QUERIES, DEFAULT_MAX_PUT_BYTES,
};
use quiver_store::flight::users::UsersFile;
use quiver_store::flight::{serve, QuiverFlightSqlService, ServeOptions, ServedPaths, TlsPem};
use quiver_store::{Error, Result};

/// Arguments of `quiver serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The tables served, and the session's limits (--memory-limit, --threads).
    #[command(flatten)]
    pub session: SessionArgs,
    /// The address to listen on. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Require authentication: users, roles and pre-issued tokens from this file (see
    /// `quiver users`). Clients log in with HTTP Basic in the Flight SQL handshake and get a
    /// bearer token.
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// How long a token from the handshake stays valid, in seconds.
    #[arg(long, default_value_t = 8 * 3600, value_name = "SECONDS")]
    pub token_ttl: u64,
    /// Refuse every statement that changes tables, views or settings, for everyone.
    #[arg(long)]
    pub read_only: bool,
    /// Serve TLS with this PEM certificate chain (needs --tls-key).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by this PEM CA (needs --tls-cert).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Allow listening on a non-loopback address without authentication and TLS.
    #[arg(long)]
    pub insecure: bool,
    /// Queries running at once; one more is refused with ResourceExhausted.
    #[arg(long, default_value_t = DEFAULT_MAX_CONCURRENT_QUERIES)]
    pub max_concurrent_queries: usize,
    /// Cancel a query running longer than this many seconds (default: no limit).
    #[arg(long, value_name = "SECONDS")]
    pub query_timeout: Option<f64>,
    /// The most bytes one DoPut may send (default 256MiB).
    #[arg(long, value_parser = parse_size, default_value_t = DEFAULT_MAX_PUT_BYTES, value_name = "SIZE")]
    pub max_put_bytes: usize,
}

impl ServeArgs {
    /// Refuses an exposed listener without authentication and TLS (see the module contract).
    fn check_exposure(&self) -> Result<()> {
        let protected = self.users.is_some() && self.tls_cert.is_some();
        if self.listen.ip().is_loopback() || protected {
            return Ok(());
        }
        if !self.insecure {
            return Err(Error::invalid(format!(
                "refusing to listen on {} without --users and --tls-cert/--tls-key: anyone who can reach it could read and change every table (pass --insecure on a trusted network)",
                self.listen
            )));
        }
        eprintln!(
            "warning: listening on {} without {} (--insecure): anyone who can reach it can {}",
            self.listen,
            match (self.users.is_some(), self.tls_cert.is_some()) {
                (false, false) => "authentication or TLS",
                (false, true) => "authentication",
                _ => "TLS",
            },
            if self.users.is_some() {
                "read the traffic, passwords included"
            } else {
                "read and change every table"
            }
        );
        Ok(())
    }

    fn tls(&self) -> Result<Option<TlsPem>> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| Error::io(p, "read", e));
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        Ok(Some(TlsPem {
            cert: read(cert)?,
            key: read(key)?,
            client_ca: self.tls_client_ca.as_deref().map(read).transpose()?,
        }))
    }

    fn query_timeout(&self) -> Result<Option<Duration>> {
        self.query_timeout
            .map(|s| {
                Duration::try_from_secs_f64(s).map_err(|_| {
                    Error::invalid(format!("--query-timeout {s} is not a number of seconds"))
                })
            })
            .transpose()
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(args: ServeArgs, quiet: bool) -> Result<()> {
    args.check_exposure()?;
    let auth = match &args.users {
        Some(path) => {
            let users = UsersFile::read(path, false)?;
            if users.users().is_empty() {
                return Err(Error::invalid(format!(
                    "users file {} lists no user: add one with `quiver users add`",
                    path.display()
                )));
            }
            let ttl = Duration::from_secs(args.token_ttl.max(1));
            Some(Arc::new(Authenticator::new(users, ttl)))
        }
        None => None,
    };
    let options = ServeOptions {
        auth,
        tls: args.tls()?,
    };
    let scheme = if options.tls.is_some() {
        "grpc+tls"
    } else {
        "grpc"
    };
    let limits = QueryLimits::new(
        args.max_concurrent_queries,
        args.query_timeout()?,
        args.max_put_bytes,
    );
    let served = ServedPaths::new(served_dirs(&args.session)?)?;
    let service = QuiverFlightSqlService::new(session(&args.session)?)
        .with_served_paths(served)
        .with_query_log(!quiet)
        .with_read_only(args.read_only)
        .with_limits(limits);
    runtime(args.session.threads)?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| Error::io(Path::new(&args.listen.to_string()), "listen on", e))?;
        let address = listener
            .local_addr()
            .map_err(|e| Error::io(Path::new(&args.listen.to_string()), "listen on", e))?;
        let mut out = std::io::stdout();
        writeln!(out, "listening on {scheme}://{address}")
            .and_then(|()| out.flush())
            .map_err(|e| Error::io(Path::new("<stdout>"), "write", e))?;
        serve(listener, service, options, stop_signal()).await
    })
}

/// Completes on SIGINT or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        // Without a SIGTERM handler, SIGTERM keeps its default (exit); SIGINT still drains.
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
