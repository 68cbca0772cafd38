//! Where events go: the [`AuditSink`] trait, and the sink that keeps them in
//! memory. The file and production table sinks are `jsonl` and `db`.

use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::BoxFuture;

use super::event::AuditEvent;
use crate::error::Result;

/// Where events go. Implement it to forward events elsewhere.
pub trait AuditSink: Send + Sync {
    /// Records `event` durably enough for the sink's purpose before returning.
    ///
    /// # Errors
    /// [`Error::Audit`](crate::Error::Audit) or
    /// [`Error::Database`](crate::Error::Database) when the event was not recorded.
    fn record<'a>(&'a self, event: &'a AuditEvent) -> BoxFuture<'a, Result<()>>;
}

impl<S: AuditSink + ?Sized> AuditSink for Arc<S> {
    fn record<'a>(&'a self, event: &'a AuditEvent) -> BoxFuture<'a, Result<()>> {
        (**self).record(event)
    }
}

/// Keeps events in memory (tests, or a program that inspects its own trail).
#[derive(Debug, Default)]
pub struct MemorySink {
    events: Mutex<Vec<AuditEvent>>,
}

impl MemorySink {
    /// An empty sink.
    #[must_use]
    pub fn new() -> Self {
        MemorySink::default()
    }

    /// The events so far, oldest first.
    #[must_use]
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl AuditSink for MemorySink {
    fn record<'a>(&'a self, event: &'a AuditEvent) -> BoxFuture<'a, Result<()>> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event.clone());
        Box::pin(async { Ok(()) })
    }
}
