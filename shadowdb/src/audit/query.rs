//! Which events to read back.

use chrono::{DateTime, Utc};

use super::{AuditEvent, AuditKindName};
use crate::textsql::to_micros;

/// A filter over audit events; every field set must match. Times are compared
/// at the trail's precision, microseconds: `since` is inclusive, `until`
/// exclusive.
///
/// ```
/// use shadowdb::audit::{AuditKindName, AuditQuery};
///
/// let q = AuditQuery::new().tenant("42").kind(AuditKindName::Commit);
/// assert_eq!(q.tenant.as_deref(), Some("42"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditQuery {
    /// Only this tenant.
    pub tenant: Option<String>,
    /// Only this agent or user.
    pub actor: Option<String>,
    /// Only this kind.
    pub kind: Option<AuditKindName>,
    /// Only this session.
    pub session_id: Option<String>,
    /// Only events about this commit ([`super::AuditKind::commit_id`]).
    pub commit_id: Option<String>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
}

impl AuditQuery {
    /// Every event.
    #[must_use]
    pub fn new() -> Self {
        AuditQuery::default()
    }

    /// Only `tenant`.
    #[must_use]
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Only `actor`.
    #[must_use]
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Only `kind`.
    #[must_use]
    pub fn kind(mut self, kind: AuditKindName) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Only session `id`.
    #[must_use]
    pub fn session(mut self, id: impl Into<String>) -> Self {
        self.session_id = Some(id.into());
        self
    }

    /// Only events about commit `id`.
    #[must_use]
    pub fn commit(mut self, id: impl Into<String>) -> Self {
        self.commit_id = Some(id.into());
        self
    }

    /// At or after `t`.
    #[must_use]
    pub fn since(mut self, t: DateTime<Utc>) -> Self {
        self.since = Some(t);
        self
    }

    /// Before `t`.
    #[must_use]
    pub fn until(mut self, t: DateTime<Utc>) -> Self {
        self.until = Some(t);
        self
    }

    /// Whether `event` passes the filter.
    #[must_use]
    pub fn matches(&self, event: &AuditEvent) -> bool {
        let time = to_micros(event.time);
        self.tenant.as_ref().is_none_or(|t| *t == event.tenant)
            && self.actor.as_ref().is_none_or(|a| *a == event.actor)
            && self.kind.is_none_or(|k| k == event.kind.kind_name())
            && self
                .session_id
                .as_ref()
                .is_none_or(|s| *s == event.session_id)
            && self
                .commit_id
                .as_ref()
                .is_none_or(|c| event.kind.commit_id() == Some(c.as_str()))
            && self.since.is_none_or(|s| time >= to_micros(s))
            && self.until.is_none_or(|u| time < to_micros(u))
    }
}
