//! A programmatic approver: another task or thread answers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, oneshot};

use super::{ApprovalDecision, ApprovalRequest, Approver, BoxFuture};
use crate::error::{Error, Result};

/// An approver answered through an [`ApprovalHandle`]: requests wait, listed
/// by [`ApprovalHandle::pending`], until the handle approves or denies them or
/// their timeout passes.
#[derive(Debug, Clone)]
pub struct ChannelApprover {
    shared: Arc<Shared>,
}

/// The answering side of a [`ChannelApprover`]; clone it freely.
#[derive(Debug, Clone)]
pub struct ApprovalHandle {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Requests waiting, by id, in the order they arrived.
    pending: Mutex<BTreeMap<String, Waiting>>,
    arrived: Notify,
    next_seq: Mutex<u64>,
}

#[derive(Debug)]
struct Waiting {
    seq: u64,
    request: ApprovalRequest,
    answer: oneshot::Sender<ApprovalDecision>,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, BTreeMap<String, Waiting>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn answer(&self, id: &str, decision: ApprovalDecision) -> Result<()> {
        let waiting = self.pending().remove(id);
        let not_pending = || Error::ApprovalNotPending {
            request_id: id.to_owned(),
        };
        waiting
            .ok_or_else(not_pending)?
            .answer
            .send(decision)
            // The requester stopped waiting (timed out) just now.
            .map_err(|_| not_pending())
    }
}

impl ChannelApprover {
    /// An approver and the handle that answers it.
    #[must_use]
    pub fn new() -> (ChannelApprover, ApprovalHandle) {
        let shared = Arc::new(Shared::default());
        (
            ChannelApprover {
                shared: Arc::clone(&shared),
            },
            ApprovalHandle { shared },
        )
    }

    /// Another handle.
    #[must_use]
    pub fn handle(&self) -> ApprovalHandle {
        ApprovalHandle {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl ApprovalHandle {
    /// The requests waiting for an answer, oldest first.
    #[must_use]
    pub fn pending(&self) -> Vec<ApprovalRequest> {
        let pending = self.shared.pending();
        let mut waiting: Vec<&Waiting> = pending.values().collect();
        waiting.sort_by_key(|w| w.seq);
        waiting.into_iter().map(|w| w.request.clone()).collect()
    }

    /// Waits until a request is pending and returns the oldest.
    pub async fn next_pending(&self) -> ApprovalRequest {
        loop {
            let arrived = self.shared.arrived.notified();
            tokio::pin!(arrived);
            // Registered before looking, so an arrival in between is not missed.
            arrived.as_mut().enable();
            if let Some(first) = self.pending().into_iter().next() {
                return first;
            }
            arrived.await;
        }
    }

    /// Approves request `id` as `by`.
    ///
    /// # Errors
    /// [`Error::ApprovalNotPending`] when no such request waits.
    pub fn approve(&self, id: &str, by: impl Into<String>) -> Result<()> {
        self.shared
            .answer(id, ApprovalDecision::Approved { by: by.into() })
    }

    /// Denies request `id` as `by`, saying why.
    ///
    /// # Errors
    /// [`Error::ApprovalNotPending`] when no such request waits.
    pub fn deny(&self, id: &str, by: impl Into<String>, reason: impl Into<String>) -> Result<()> {
        self.shared.answer(
            id,
            ApprovalDecision::Denied {
                by: by.into(),
                reason: reason.into(),
            },
        )
    }
}

/// Removes a request that is no longer awaited (timed out, or its future dropped).
struct Withdraw<'a> {
    shared: &'a Shared,
    id: &'a str,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        self.shared.pending().remove(self.id);
    }
}

impl Approver for ChannelApprover {
    fn decide<'a>(
        &'a self,
        request: &'a ApprovalRequest,
    ) -> BoxFuture<'a, Result<ApprovalDecision>> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            {
                let mut seq = self
                    .shared
                    .next_seq
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                *seq += 1;
                let mut pending = self.shared.pending();
                if pending.contains_key(&request.id) {
                    return Err(Error::Config(format!(
                        "approval request id {} is already pending",
                        request.id
                    )));
                }
                pending.insert(
                    request.id.clone(),
                    Waiting {
                        seq: *seq,
                        request: request.clone(),
                        answer: tx,
                    },
                );
            }
            let _withdraw = Withdraw {
                shared: &self.shared,
                id: &request.id,
            };
            self.shared.arrived.notify_waiters();
            match tokio::time::timeout(request.timeout, rx).await {
                Ok(Ok(decision)) => Ok(decision),
                // Every sender lives in `pending`; gone only if withdrawn.
                Ok(Err(_)) | Err(_) => Ok(ApprovalDecision::TimedOut),
            }
        })
    }
}
