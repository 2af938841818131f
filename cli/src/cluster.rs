//! `quiver cluster scheduler|executor` (feature `distributed`): the processes of a Ballista
//! cluster that serves Quiver tables (docs/DISTRIBUTED.md).
//!
//! # Contract
//! - `scheduler` serves until the process is stopped; it prints `scheduler listening on
//!   HOST:PORT` once it is about to accept executors and clients.
//! - `executor` registers with the scheduler and runs tasks until stopped; it prints
//!   `executor listening on HOST:PORT`. Without `--work-dir`, its shuffle files live in a
//!   temporary directory removed when it exits.
//! - Logs go to stderr, filtered by `RUST_LOG`-style directives in `QUIVER_LOG` (default
//!   `warn`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use quiver_store::distributed::{
    host_and_port, run_executor, run_scheduler, ExecutorOptions, SchedulerOptions,
};
use quiver_store::{Error, Result};

use super::sql::runtime;

/// The cluster processes.
#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Run a Ballista scheduler with Quiver's plan codecs.
    Scheduler {
        /// Address to serve clients and executors on.
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: SocketAddr,
        /// Host executors and clients reach this scheduler at (default: localhost).
        #[arg(long)]
        external_host: Option<String>,
        /// Seconds an executor may go without a heartbeat before its tasks run elsewhere
        /// (at least 10: a busy executor reports every 5 s).
        #[arg(long, default_value_t = 180, value_name = "SECONDS")]
        executor_timeout: u64,
    },
    /// Run a Ballista executor with Quiver's plan codecs.
    Executor {
        /// The scheduler, HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        scheduler: String,
        /// Address of this executor's Arrow Flight service (its gRPC service takes the next
        /// port unless --grpc-port says otherwise).
        #[arg(long, default_value = "127.0.0.1:50051")]
        bind: SocketAddr,
        /// Port of this executor's gRPC service.
        #[arg(long)]
        grpc_port: Option<u16>,
        /// Host other nodes reach this executor at (default: the bind address).
        #[arg(long)]
        external_host: Option<String>,
        /// Where shuffle files are written (default: a temporary directory).
        #[arg(long, value_name = "DIR")]
        work_dir: Option<PathBuf>,
        /// Tasks run at once (default: the number of cores).
        #[arg(long)]
        concurrency: Option<usize>,
    },
}

/// Runs `command` until the process is stopped.
pub fn run(command: ClusterCommand) -> Result<()> {
    init_logging();
    let rt = runtime(None)?;
    match command {
        ClusterCommand::Scheduler {
            bind,
            external_host,
            executor_timeout,
        } => {
            let options = SchedulerOptions::new(bind)
                .with_external_host(external_host)
                .with_executor_timeout(Duration::from_secs(executor_timeout));
            announce("scheduler", bind)?;
            rt.block_on(run_scheduler(options))
        }
        ClusterCommand::Executor {
            scheduler,
            bind,
            grpc_port,
            external_host,
            work_dir,
            concurrency,
        } => {
            let scheduler = host_and_port(&scheduler, &format!("--scheduler {scheduler:?}"))?;
            let temp;
            let work_dir = match work_dir {
                Some(dir) => dir,
                None => {
                    temp = tempfile::tempdir().map_err(|e| {
                        Error::io(std::env::temp_dir(), "create a work directory", e)
                    })?;
                    temp.path().to_path_buf()
                }
            };
            let mut options =
                ExecutorOptions::new(scheduler, bind, work_dir).with_external_host(external_host);
            if let Some(port) = grpc_port {
                options = options.with_grpc_port(port);
            }
            if let Some(n) = concurrency {
                options = options.with_concurrency(n);
            }
            announce("executor", bind)?;
            rt.block_on(run_executor(options))
        }
    }
}

fn announce(role: &str, bind: SocketAddr) -> Result<()> {
    let mut out = std::io::stdout();
    writeln!(out, "{role} listening on {bind}")
        .and_then(|()| out.flush())
        .map_err(|e| Error::io(Path::new("stdout"), "write", e))
}

/// Ballista's logs on stderr, as `QUIVER_LOG` filters them.
fn init_logging() {
    let filter = std::env::var("QUIVER_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .try_init();
}
