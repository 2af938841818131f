//! The processes of a Quiver cluster and its clients: Ballista's scheduler and executor with
//! Quiver's codecs, and a client session state that sends queries to the scheduler.
//!
//! # Contract
//! - [`run_scheduler`] and [`run_executor`] serve until the process is stopped (or, for an
//!   executor, until the scheduler tells it to stop); every node of a cluster uses the same
//!   codecs (`physical_codec`'s composition), so any executor runs any stage.
//! - [`cluster_state`] turns a session state (its catalogs, tables, table factories and
//!   settings kept) into one whose queries the scheduler at `df://HOST:PORT` plans and runs;
//!   Ballista's client-side defaults apply (docs/DISTRIBUTED.md, "What changes on a cluster").
//! - Errors of the processes are [`crate::Error::InvalidArgument`]s naming the role and address.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use ballista_core::utils::default_session_builder;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::prelude::SessionConfig;

use super::{physical_codec, NodeName, QuiverLogicalCodec, SplittableScans};

/// How tasks reach executors, the same on every node: executors pull them. A task whose plan
/// an executor cannot prepare (its table missing there, say) is then reported with its
/// reason, which reaches the client; pushed tasks fail with a generic message.
const SCHEDULING: TaskSchedulingPolicy = TaskSchedulingPolicy::PullStaged;

/// The shortest executor timeout a scheduler accepts: twice the 5 s at which a busy
/// executor (all its task slots taken) still polls the scheduler under pull scheduling.
pub const MIN_EXECUTOR_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Where a scheduler serves and how soon it gives up on a silent executor.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SchedulerOptions {
    /// Address it serves clients and executors on.
    pub bind: SocketAddr,
    /// Host executors and clients reach it at (default `localhost`).
    pub external_host: Option<String>,
    /// How long an executor may go without a heartbeat before the scheduler counts it dead
    /// and runs its tasks elsewhere (Ballista's default: 180 s).
    pub executor_timeout: std::time::Duration,
}

impl SchedulerOptions {
    /// A scheduler on `bind`, with Ballista's defaults otherwise.
    pub fn new(bind: SocketAddr) -> Self {
        Self {
            bind,
            external_host: None,
            executor_timeout: std::time::Duration::from_secs(
                SchedulerConfig::default().executor_timeout_seconds,
            ),
        }
    }

    /// The host executors and clients reach it at.
    pub fn with_external_host(mut self, host: Option<String>) -> Self {
        self.external_host = host;
        self
    }

    /// How long an executor may stay silent before it counts as dead: at least
    /// [`MIN_EXECUTOR_TIMEOUT`], since a busy executor reports only every 5 s (its poll for
    /// work is its heartbeat) and a shorter timeout would count busy executors dead.
    pub fn with_executor_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.executor_timeout = timeout.max(MIN_EXECUTOR_TIMEOUT);
        self
    }
}

/// Serves a Ballista scheduler with Quiver's codecs as `options` say. Returns only on
/// failure.
pub async fn run_scheduler(options: SchedulerOptions) -> crate::Result<()> {
    let bind = options.bind;
    let node = NodeName::new(format!("scheduler {bind}"));
    let timeout = options.executor_timeout.as_secs().max(1);
    let mut config = SchedulerConfig {
        bind_host: bind.ip().to_string(),
        bind_port: bind.port(),
        scheduling_policy: SCHEDULING,
        executor_timeout_seconds: timeout,
        // Checked often enough that a dead executor is noticed within the timeout.
        expire_dead_executor_interval_seconds: timeout.clamp(1, 15),
        ..SchedulerConfig::default()
    };
    if let Some(host) = options.external_host {
        config.external_host = host;
    }
    config.override_session_builder = Some(Arc::new(scheduler_session));
    config.override_logical_codec = Some(Arc::new(QuiverLogicalCodec::new(node.clone())));
    config.override_physical_codec = Some(physical_codec(node.clone()));
    let failed =
        |e: ballista_core::error::BallistaError| crate::Error::invalid(format!("{node}: {e}"));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(failed)?;
    start_server(cluster, bind, Arc::new(config))
        .await
        .map_err(failed)
}

/// The scheduler's planning session: Ballista's, with [`SplittableScans`] last, so that the
/// stages' Quiver scans can be split into tasks. Always Ballista's static planner: its
/// adaptive planner (AQE) plans with a rule list of its own, which would leave Quiver scans
/// unsplittable, and its tasks would read each other's rows (docs/DISTRIBUTED.md).
fn scheduler_session(config: SessionConfig) -> datafusion::common::Result<SessionState> {
    let config = config.with_ballista_adaptive_query_planner(false);
    let state = default_session_builder(config)?;
    Ok(SessionStateBuilder::new_from_existing(state)
        .with_physical_optimizer_rule(Arc::new(SplittableScans))
        .build())
}

/// Where an executor serves and which scheduler it works for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExecutorOptions {
    /// The scheduler's host and port.
    pub scheduler: (String, u16),
    /// Address of the executor's Arrow Flight service (shuffle reads by other executors).
    pub bind: SocketAddr,
    /// Port of its gRPC service (the scheduler's calls).
    pub grpc_port: u16,
    /// Host other nodes reach it at (default: the bind address).
    pub external_host: Option<String>,
    /// Where it writes shuffle files.
    pub work_dir: PathBuf,
    /// Tasks it runs at once.
    pub concurrency: usize,
}

impl ExecutorOptions {
    /// An executor for `scheduler` serving on `bind` (gRPC on the next port), writing shuffle
    /// files under `work_dir`, running as many tasks at once as the machine has cores.
    pub fn new(scheduler: (String, u16), bind: SocketAddr, work_dir: PathBuf) -> Self {
        Self {
            scheduler,
            bind,
            grpc_port: bind.port().wrapping_add(1),
            external_host: None,
            work_dir,
            concurrency: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// The gRPC port.
    pub fn with_grpc_port(mut self, port: u16) -> Self {
        self.grpc_port = port;
        self
    }

    /// The host other nodes reach this executor at.
    pub fn with_external_host(mut self, host: Option<String>) -> Self {
        self.external_host = host;
        self
    }

    /// Tasks run at once (at least one).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }
}

/// Serves a Ballista executor with Quiver's codecs as `options` say. Returns when the
/// scheduler stops it, or on failure.
pub async fn run_executor(options: ExecutorOptions) -> crate::Result<()> {
    let node = NodeName::new(format!("executor {}", options.bind));
    let work_dir = options.work_dir.to_str().ok_or_else(|| {
        crate::Error::invalid(format!(
            "{node}: work directory {} is not UTF-8",
            options.work_dir.display()
        ))
    })?;
    let config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        port: options.bind.port(),
        grpc_port: options.grpc_port,
        external_host: options.external_host,
        scheduler_host: options.scheduler.0.clone(),
        scheduler_port: options.scheduler.1,
        vcores: options.concurrency,
        task_scheduling_policy: SCHEDULING,
        work_dir: Some(work_dir.to_owned()),
        override_logical_codec: Some(Arc::new(QuiverLogicalCodec::new(node.clone()))),
        override_physical_codec: Some(physical_codec(node.clone())),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| crate::Error::invalid(format!("{node}: {e}")))
}

/// `HOST:PORT` as its host and port; `what` names the address in errors (e.g.
/// `--scheduler "h"`).
pub fn host_and_port(address: &str, what: &str) -> crate::Result<(String, u16)> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| crate::Error::invalid(format!("{what} has no port")))?;
    let port: u16 = port
        .parse()
        .map_err(|_| crate::Error::invalid(format!("{what}: bad port {port:?}")))?;
    if host.is_empty() {
        return Err(crate::Error::invalid(format!("{what} has no host")));
    }
    Ok((host.to_owned(), port))
}

/// The scheduler URL Ballista's client connects to, from `df://HOST:PORT`.
pub fn scheduler_url(cluster: &str) -> crate::Result<String> {
    let address = cluster.strip_prefix("df://").ok_or_else(|| {
        crate::Error::invalid(format!(
            "cluster address {cluster:?} must look like df://HOST:PORT"
        ))
    })?;
    let (host, port) = host_and_port(address, &format!("cluster address {cluster:?}"))?;
    Ok(format!("http://{host}:{port}"))
}

/// `state`, with its queries planned and run by the cluster at `cluster` (`df://HOST:PORT`;
/// see the module contract).
pub fn cluster_state(state: SessionState, cluster: &str) -> crate::Result<SessionState> {
    let url = scheduler_url(cluster)?;
    let node = NodeName::new("client");
    let config = state
        .config()
        .clone()
        .with_ballista_logical_extension_codec(Arc::new(QuiverLogicalCodec::new(node.clone())))
        .with_ballista_physical_extension_codec(physical_codec(node));
    SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build()
        .upgrade_for_ballista(url)
        .map_err(|e| crate::Error::invalid(format!("cluster {cluster}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_addresses_need_a_host_and_a_port() {
        assert_eq!(
            host_and_port("10.0.0.1:50050", "--scheduler").unwrap(),
            ("10.0.0.1".into(), 50050)
        );
        for bad in ["10.0.0.1", ":50050", "h:port", "h:70000"] {
            assert!(host_and_port(bad, "--scheduler").is_err(), "{bad}");
        }
    }

    #[test]
    fn cluster_addresses_are_df_urls_with_host_and_port() {
        assert_eq!(
            scheduler_url("df://10.0.0.1:50050").unwrap(),
            "http://10.0.0.1:50050"
        );
        for bad in [
            "http://h:1",
            "df://h",
            "df://:1",
            "df://h:port",
            "df://h:70000",
        ] {
            assert!(scheduler_url(bad).is_err(), "{bad}");
        }
    }
}
