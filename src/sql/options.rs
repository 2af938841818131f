//! Quiver's session settings, set with `SET quiver.<name> = <value>` like DataFusion's own.
//!
//! # Contract
//! - [`QuiverOptions`] is a DataFusion config extension under the prefix `quiver`; every
//!   session built by [`QuiverSession`](super::QuiverSession) carries it with the defaults
//!   below, and optimizer rules read it from the session's `ConfigOptions` at planning time.
//! - A session without the extension (plain DataFusion) behaves as if every setting had its
//!   default.
//! - `decoded_cache_bytes` is process-wide, as the decoded-column cache is (one per process,
//!   [`crate::set_decoded_cache_bytes`]; like DuckDB's global `memory_limit`): once set in a
//!   session, it takes effect when that session next plans a scan of a Quiver table, for every
//!   session of the process. Unset (the default), the budget stays what the process set.

use datafusion::common::config::ConfigExtension;
use datafusion::common::extensions_options;

extensions_options! {
    /// Quiver's settings of a session (`SET quiver.aggregate_pushdown = false`).
    pub struct QuiverOptions {
        /// Whether partial aggregates over one Quiver table run inside the scan
        /// (`QuiverAggregateExec`) instead of DataFusion's `AggregateExec`.
        pub aggregate_pushdown: bool, default = true
        /// The process-wide byte budget for decoded columns of encoded segments
        /// (`SET quiver.decoded_cache_bytes = 1073741824`; `0` keeps none): see the module
        /// contract. Unset by default.
        pub decoded_cache_bytes: Option<usize>, default = None
        /// Whether scans also apply the filters DataFusion pushes at run time (a hash join's
        /// build-side keys, a TopK's bound) to rows, while those filters drop enough rows to
        /// pay for themselves, instead of only pruning zones with them.
        pub dynamic_filter_rows: bool, default = true
        /// What a row dropped in the scan by such a filter is taken to save the operators
        /// above it, in nanoseconds of one core: a filter whose measured cost per row exceeds
        /// this times the fraction of rows it drops stops being applied to rows.
        pub dynamic_filter_saved_ns: u64, default = 60
    }
}

impl ConfigExtension for QuiverOptions {
    const PREFIX: &'static str = "quiver";
}

impl QuiverOptions {
    /// The settings in `config`, or the defaults when the session has none.
    pub fn of(config: &datafusion::common::config::ConfigOptions) -> QuiverOptions {
        config
            .extensions
            .get::<QuiverOptions>()
            .cloned()
            .unwrap_or_default()
    }

    /// Applies the process-wide settings this session has set (`decoded_cache_bytes`); called
    /// when the session plans a scan of a Quiver table.
    pub(crate) fn apply_process_wide(&self) {
        if let Some(bytes) = self.decoded_cache_bytes {
            if bytes != crate::decoded_cache_budget() {
                crate::set_decoded_cache_bytes(bytes);
            }
        }
    }
}
