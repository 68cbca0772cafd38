//! One session's trail: it stamps events with the session, tenant and actor,
//! redacts SQL, leaves PII columns out, and records to every sink.

use std::sync::Arc;

use super::db::DbAuditSink;
use super::event::{AuditEvent, AuditKind};
use super::redact::Redactor;
use super::sink::AuditSink;
use crate::diff::ChangeSet;
use crate::error::Result;
use crate::policy::StatementVerdict;

/// One session's trail: who, for which tenant, how SQL is redacted, which
/// columns are PII, and where events go.
///
/// ```
/// use std::sync::Arc;
/// use shadowdb::audit::{AuditKind, AuditTrail, MemorySink};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let memory = Arc::new(MemorySink::new());
/// let trail = AuditTrail::new("42", "agent-7").with_sink(memory.clone());
/// trail.record(AuditKind::sandbox_opened([("tasks".to_owned(), 3)].into())).await?;
/// assert_eq!(memory.events()[0].kind.name(), "sandbox_opened");
/// # Ok::<(), shadowdb::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct AuditTrail {
    session_id: String,
    tenant: String,
    actor: String,
    redactor: Redactor,
    pii: Vec<(String, String)>,
    sinks: Vec<Arc<dyn AuditSink>>,
    database: Option<Arc<DbAuditSink>>,
}

impl std::fmt::Debug for AuditTrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditTrail")
            .field("session_id", &self.session_id)
            .field("tenant", &self.tenant)
            .field("actor", &self.actor)
            .field("redactor", &self.redactor)
            .field("sinks", &self.sinks.len())
            .field("database", &self.database.is_some())
            .finish_non_exhaustive()
    }
}

impl AuditTrail {
    /// A trail with a fresh session id, no sinks, the default [`Redactor`].
    #[must_use]
    pub fn new(tenant: impl Into<String>, actor: impl Into<String>) -> Self {
        AuditTrail {
            session_id: uuid::Uuid::new_v4().to_string(),
            tenant: tenant.into(),
            actor: actor.into(),
            redactor: Redactor::default(),
            pii: Vec::new(),
            sinks: Vec::new(),
            database: None,
        }
    }

    /// Sets the session id.
    #[must_use]
    pub fn with_session_id(mut self, id: impl Into<String>) -> Self {
        self.session_id = id.into();
        self
    }

    /// Sets how SQL text is redacted.
    #[must_use]
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Adds PII columns `(table, column)` left out of row images.
    #[must_use]
    pub fn with_pii(mut self, pii: impl IntoIterator<Item = (String, String)>) -> Self {
        self.pii.extend(pii);
        self
    }

    /// Adds a sink.
    #[must_use]
    pub fn with_sink(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Sets the production table sink: it receives every event, and commit
    /// events are written to it inside the commit's transaction.
    #[must_use]
    pub fn with_database(mut self, sink: Arc<DbAuditSink>) -> Self {
        self.database = Some(sink);
        self
    }

    /// Whether any event goes anywhere (a sink or the database).
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        !self.sinks.is_empty() || self.database.is_some()
    }

    /// The session id.
    #[must_use]
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The redactor.
    #[must_use]
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The PII columns.
    #[must_use]
    pub fn pii(&self) -> &[(String, String)] {
        &self.pii
    }

    /// The production table sink, if any.
    #[must_use]
    pub fn database(&self) -> Option<&DbAuditSink> {
        self.database.as_deref()
    }

    /// An event of this session, now.
    #[must_use]
    pub fn event(&self, kind: AuditKind) -> AuditEvent {
        AuditEvent::now(&self.session_id, &self.tenant, &self.actor, kind)
    }

    /// Records an event of `kind` to every sink and the database; returns it.
    ///
    /// # Errors
    /// The first sink's error; every sink is tried.
    pub async fn record(&self, kind: AuditKind) -> Result<AuditEvent> {
        let event = self.event(kind);
        self.record_event(&event).await?;
        Ok(event)
    }

    /// Records `event` to every sink and the database.
    ///
    /// # Errors
    /// The first sink's error; every sink is tried.
    pub async fn record_event(&self, event: &AuditEvent) -> Result<()> {
        let mut first = self.record_to_sinks(event).await.err();
        if let Some(db) = &self.database
            && let Err(e) = db.record(event).await
        {
            first.get_or_insert(e);
        }
        first.map_or(Ok(()), Err)
    }

    /// Records `event` to every sink but the database: for a commit event the
    /// database already holds, written in the commit's transaction.
    ///
    /// # Errors
    /// The first sink's error; every sink is tried.
    pub async fn record_after_commit(&self, event: &AuditEvent) -> Result<()> {
        self.record_to_sinks(event).await
    }

    async fn record_to_sinks(&self, event: &AuditEvent) -> Result<()> {
        let mut first = None;
        for sink in &self.sinks {
            if let Err(e) = sink.record(event).await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// A statement event, the text through this trail's redactor.
    #[must_use]
    pub fn statement(&self, sql: &str, verdict: &StatementVerdict) -> AuditKind {
        AuditKind::statement(&self.redactor, sql, verdict)
    }

    /// A commit event without this trail's PII columns.
    #[must_use]
    pub fn commit(
        &self,
        commit_id: impl Into<String>,
        changeset: &ChangeSet,
        rows_affected: u64,
    ) -> AuditKind {
        AuditKind::commit(commit_id, changeset, rows_affected, &self.pii)
    }
}
