//! What one server lets its clients spend: queries at once, time per query, bytes per `DoPut`.
//!
//! # Contract
//! - [`QueryLimits::admit`] hands out at most `max_concurrent` [`Permit`]s at a time; one
//!   more is refused at once with `ResourceExhausted` (no queueing: the client decides whether
//!   to retry). A permit is held from the start of a query until its result stream is dropped
//!   or its update finished.
//! - [`QueryLimits::bounded`] ends a result stream that outlives the query timeout with one
//!   `DeadlineExceeded` error; dropping the inner stream cancels the query's work.
//! - `max_put_bytes` bounds what one `DoPut` may send (the sum of its messages' header and
//!   body bytes), checked as the messages arrive.

#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tonic::Status;

/// The defaults `quiver serve` states in its `--help`.
pub const DEFAULT_MAX_CONCURRENT_QUERIES: usize = 64;
/// 256 MiB.
pub const DEFAULT_MAX_PUT_BYTES: usize = 256 << 20;

/// A server's limits (see the module contract).
#[derive(Debug)]
pub struct QueryLimits {
    max_concurrent: usize,
    running: Arc<AtomicUsize>,
    timeout: Option<Duration>,
    max_put_bytes: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_CONCURRENT_QUERIES, None, DEFAULT_MAX_PUT_BYTES)
    }
}

/// One admitted query; dropping it frees its place.
#[derive(Debug)]
pub struct Permit(Arc<AtomicUsize>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl QueryLimits {
    /// At most `max_concurrent` queries (at least 1) at once, each for at most `timeout`.
    pub fn new(max_concurrent: usize, timeout: Option<Duration>, max_put_bytes: usize) -> Self {
        Self {
            max_concurrent: max_concurrent.max(1),
            running: Arc::new(AtomicUsize::new(0)),
            timeout,
            max_put_bytes,
        }
    }

    /// The bound on one `DoPut`'s bytes.
    pub fn max_put_bytes(&self) -> usize {
        self.max_put_bytes
    }

    /// The query timeout, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// A place for one more query, or `ResourceExhausted`.
    pub fn admit(&self) -> Result<Permit, Status> {
        let admitted = self
            .running
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max_concurrent).then_some(n + 1)
            });
        match admitted {
            Ok(_) => Ok(Permit(Arc::clone(&self.running))),
            Err(_) => Err(Status::resource_exhausted(format!(
                "the server is running its maximum of {} queries at once (--max-concurrent-queries); try again later",
                self.max_concurrent
            ))),
        }
    }

    /// `stream`, holding `permit` until dropped and ended by the query timeout.
    pub fn bounded<S>(&self, stream: S, permit: Permit) -> Bounded<S> {
        Bounded {
            inner: Some(stream),
            deadline: self.timeout.map(|t| Box::pin(tokio::time::sleep(t))),
            timeout: self.timeout.unwrap_or_default(),
            _permit: permit,
        }
    }
}

/// A result stream under a permit and a deadline (see [`QueryLimits::bounded`]).
pub struct Bounded<S> {
    inner: Option<S>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    timeout: Duration,
    _permit: Permit,
}

/// The error a query past its deadline ends with.
pub fn timed_out(timeout: Duration) -> Status {
    Status::deadline_exceeded(format!(
        "the query ran longer than the server's --query-timeout of {} s and was cancelled",
        timeout.as_secs_f64()
    ))
}

impl<T, S: Stream<Item = Result<T, Status>> + Unpin> Stream for Bounded<S> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let expired = self
            .deadline
            .as_mut()
            .is_some_and(|d| d.as_mut().poll(cx).is_ready());
        if expired && self.inner.is_some() {
            self.inner = None;
            return Poll::Ready(Some(Err(timed_out(self.timeout))));
        }
        match self.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_next(cx),
            None => Poll::Ready(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[test]
    fn admission_refuses_beyond_the_maximum_and_frees_places_on_drop() {
        let limits = QueryLimits::new(2, None, 1);
        let a = limits.admit().unwrap();
        let _b = limits.admit().unwrap();
        let refused = limits.admit().unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(refused.message().contains("2 queries"), "{refused}");
        drop(a);
        limits.admit().unwrap();
    }

    #[tokio::test]
    async fn a_stream_past_its_deadline_ends_with_one_deadline_error() {
        let limits = QueryLimits::new(1, Some(Duration::from_millis(50)), 1);
        let endless = futures::stream::pending::<Result<u8, Status>>();
        let mut bounded = limits.bounded(endless, limits.admit().unwrap());
        let first = bounded.next().await.unwrap().unwrap_err();
        assert_eq!(first.code(), tonic::Code::DeadlineExceeded);
        assert!(bounded.next().await.is_none());
        drop(bounded);
        limits.admit().unwrap();
    }
}
