//! Quiver's session settings, set with `SET quiver.<name> = <value>` like DataFusion's own.
//!
//! # Contract
//! - [`QuiverOptions`] is a DataFusion config extension under the prefix `quiver`; every
//!   session built by [`QuiverSession`](super::QuiverSession) carries it with the defaults
//!   below, and optimizer rules read it from the session's `ConfigOptions` at planning time.
//! - A session without the extension (plain DataFusion) behaves as if every setting had its
//!   default.

use datafusion::common::config::ConfigExtension;
use datafusion::common::extensions_options;

extensions_options! {
    /// Quiver's settings of a session (`SET quiver.aggregate_pushdown = false`).
    pub struct QuiverOptions {
        /// Whether partial aggregates over one Quiver table run inside the scan
        /// (`QuiverAggregateExec`) instead of DataFusion's `AggregateExec`.
        pub aggregate_pushdown: bool, default = true
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
}
