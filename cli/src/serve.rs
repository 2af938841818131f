//! `quiver serve`: an Arrow Flight SQL server over a database directory (see
//! [`quiver_store::flight`] for what it answers).
//!
//! # Contract
//! - Once the socket is bound, one line `listening on grpc://HOST:PORT` is printed on stdout
//!   (with the real port when `--listen` asked for port 0) and flushed, so scripts can wait
//!   for it.
//! - Each query logs its SQL and how it ended (done, failed, cancelled by the client) on
//!   stderr, unless `--quiet`.
//! - SIGINT or SIGTERM stops accepting calls, lets running ones finish, and exits 0.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use super::sql::{runtime, session, SessionArgs};
use quiver_store::flight::{serve, QuiverFlightSqlService};
use quiver_store::{Error, Result};

/// Arguments of `quiver serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The tables served.
    #[command(flatten)]
    pub session: SessionArgs,
    /// The address to listen on. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(args: ServeArgs, quiet: bool) -> Result<()> {
    let service = QuiverFlightSqlService::new(session(&args.session)?).with_query_log(!quiet);
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| Error::io(Path::new(&args.listen.to_string()), "listen on", e))?;
        let address = listener
            .local_addr()
            .map_err(|e| Error::io(Path::new(&args.listen.to_string()), "listen on", e))?;
        let mut out = std::io::stdout();
        writeln!(out, "listening on grpc://{address}")
            .and_then(|()| out.flush())
            .map_err(|e| Error::io(Path::new("<stdout>"), "write", e))?;
        serve(listener, service, stop_signal()).await
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
