//! Queries in flight: a gauge of live result streams and, optionally, one log line per query.
//!
//! # Contract
//! - A [`TrackedStream`] counts in [`QueryTracker::active`] from creation until it is dropped —
//!   by reaching its end, failing, or being abandoned by a client that disconnected.
//! - With logging on, each query logs one line on stderr when its stream is dropped:
//!   `query N: done, R rows in T ms`, `query N: failed after R rows: ...` or
//!   `query N: cancelled by the client after R rows` — plus `query N: <sql>` when it starts.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use datafusion::common::Result;
use futures::{Stream, StreamExt};

/// The server's queries in flight.
#[derive(Debug, Default)]
pub(super) struct QueryTracker {
    active: Arc<AtomicUsize>,
    next_id: AtomicU64,
    log: bool,
}

impl QueryTracker {
    pub fn new(log: bool) -> Self {
        Self {
            log,
            ..Self::default()
        }
    }

    /// The gauge of live result streams.
    pub fn active(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.active)
    }

    /// `stream`, counted and logged as the query `sql`.
    pub fn track<S>(&self, stream: S, sql: &str) -> TrackedStream<S> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        if self.log {
            eprintln!("query {id}: {}", one_line(sql));
        }
        self.active.fetch_add(1, Ordering::SeqCst);
        TrackedStream {
            inner: stream,
            gauge: Arc::clone(&self.active),
            id,
            log: self.log,
            started: Instant::now(),
            rows: 0,
            outcome: None,
        }
    }
}

/// `sql` on one line, cut at 200 characters.
fn one_line(sql: &str) -> String {
    let line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line,
    }
}

/// A result stream counted in the tracker's gauge until dropped.
pub(super) struct TrackedStream<S> {
    inner: S,
    gauge: Arc<AtomicUsize>,
    id: u64,
    log: bool,
    started: Instant,
    rows: usize,
    /// `Some(None)` once the stream ended, `Some(Some(message))` once it failed.
    outcome: Option<Option<String>>,
}

impl<S> Drop for TrackedStream<S> {
    fn drop(&mut self) {
        self.gauge.fetch_sub(1, Ordering::SeqCst);
        if !self.log {
            return;
        }
        let (id, rows) = (self.id, self.rows);
        match &self.outcome {
            Some(None) => eprintln!(
                "query {id}: done, {rows} rows in {} ms",
                self.started.elapsed().as_millis()
            ),
            Some(Some(error)) => eprintln!("query {id}: failed after {rows} rows: {error}"),
            None => eprintln!("query {id}: cancelled by the client after {rows} rows"),
        }
    }
}

impl<S: Stream<Item = Result<RecordBatch>> + Unpin> Stream for TrackedStream<S> {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.inner.poll_next_unpin(cx);
        match &next {
            Poll::Ready(Some(Ok(batch))) => self.rows += batch.num_rows(),
            Poll::Ready(Some(Err(e))) => self.outcome = Some(Some(e.to_string())),
            Poll::Ready(None) => {
                if self.outcome.is_none() {
                    self.outcome = Some(None);
                }
            }
            Poll::Pending => {}
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gauge_counts_a_stream_until_it_is_dropped_whether_finished_or_not() {
        let tracker = QueryTracker::new(false);
        let batches = || {
            let batch = RecordBatch::new_empty(Arc::new(arrow::datatypes::Schema::empty()));
            futures::stream::iter(vec![Ok(batch)])
        };
        let mut finished = tracker.track(batches(), "SELECT 1");
        let abandoned = tracker.track(batches(), "SELECT 2");
        assert_eq!(tracker.active().load(Ordering::SeqCst), 2);
        futures::executor::block_on(async { while finished.next().await.is_some() {} });
        assert_eq!(finished.outcome, Some(None));
        drop(finished);
        assert_eq!(tracker.active().load(Ordering::SeqCst), 1);
        assert_eq!(
            abandoned.outcome, None,
            "never polled to its end: cancelled"
        );
        drop(abandoned);
        assert_eq!(tracker.active().load(Ordering::SeqCst), 0);
    }

    #[test]
    fn logged_sql_is_one_line_and_cut() {
        assert_eq!(one_line("SELECT\n  a,\n\tb FROM t"), "SELECT a, b FROM t");
        let long = "x ".repeat(300);
        assert!(one_line(&long).ends_with("...") && one_line(&long).len() < 210);
    }
}
