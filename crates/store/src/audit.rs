//! The audit writer and reader. Appends lock the chain head row so that
//! concurrent transactions (PostgreSQL) extend the chain one at a time.

use haven_domain::audit::{AuditAction, AuditEvent, ChainBreak, ChainVerifier};
use time::OffsetDateTime;

use crate::{Result, Store, read, write_tx};

/// Who is acting, for the audit event written with a change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditCtx {
    /// User id, if known.
    pub actor_id: Option<String>,
    /// Username (or the name tried at a failed login).
    pub actor_name: String,
    /// Role the action was taken under.
    pub role: Option<String>,
    /// Site concerned.
    pub site_id: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
}

/// A stored audit event with its hashes.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    /// Position in the chain.
    pub seq: i64,
    /// When.
    pub at: OffsetDateTime,
    /// Actor id.
    pub actor_id: Option<String>,
    /// Actor name.
    pub actor_name: String,
    /// Role.
    pub role: Option<String>,
    /// Site.
    pub site_id: Option<String>,
    /// Action.
    pub action: String,
    /// Subject type.
    pub subject_type: String,
    /// Subject id.
    pub subject_id: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// Hash of the event before.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

impl AuditRow {
    /// The domain event (without hashes), for verification.
    pub fn event(&self) -> AuditEvent {
        AuditEvent {
            seq: self.seq,
            at: self.at,
            actor_id: self.actor_id.clone(),
            actor_name: self.actor_name.clone(),
            role: self.role.clone(),
            site_id: self.site_id.clone(),
            action: self.action.clone(),
            subject_type: self.subject_type.clone(),
            subject_id: self.subject_id.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

/// Appends one audit event inside an open transaction. A macro because the
/// transaction type differs per backend; the SQL is shared but for the lock.
macro_rules! append_audit {
    ($tx:expr, $pg:expr, $ctx:expr, $action:expr, $subject_type:expr, $subject_id:expr) => {{
        let head_sql = if $pg {
            "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"
        } else {
            "SELECT seq, hash FROM audit_head WHERE id = 1"
        };
        let (seq, prev): (i64, String) = sqlx::query_as(head_sql).fetch_one(&mut **$tx).await?;
        let ctx: &$crate::AuditCtx = $ctx;
        let event = haven_domain::audit::AuditEvent {
            seq: seq + 1,
            at: haven_domain::clock::now(),
            actor_id: ctx.actor_id.clone(),
            actor_name: ctx.actor_name.clone(),
            role: ctx.role.clone(),
            site_id: ctx.site_id.clone(),
            action: haven_domain::audit::AuditAction::as_str($action).to_string(),
            subject_type: ($subject_type).to_string(),
            subject_id: $subject_id,
            request_id: ctx.request_id.clone(),
        };
        let hash = haven_domain::audit::chain_hash(&prev, &event);
        sqlx::query(
            "INSERT INTO audit_events (seq, at, actor_id, actor_name, role, site_id, action, \
             subject_type, subject_id, request_id, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(event.seq)
        .bind($crate::ts::Ts(event.at))
        .bind(event.actor_id)
        .bind(event.actor_name)
        .bind(event.role)
        .bind(event.site_id)
        .bind(event.action)
        .bind(event.subject_type)
        .bind(event.subject_id)
        .bind(event.request_id)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut **$tx)
        .await?;
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(event.seq)
            .bind(&hash)
            .execute(&mut **$tx)
            .await?;
    }};
}
pub(crate) use append_audit;

impl Store {
    /// Records an event that changes nothing else (a login, a refusal of
    /// access, a read of a list) in its own transaction.
    pub async fn audit(
        &self,
        ctx: &AuditCtx,
        action: AuditAction,
        subject_type: &str,
        subject_id: Option<String>,
    ) -> Result<()> {
        write_tx!(self, |tx, pg| {
            append_audit!(tx, pg, ctx, action, subject_type, subject_id);
        });
        Ok(())
    }

    /// All audit events in chain order, in pages, for `haven audit verify`.
    pub async fn audit_page(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, AuditRow>(
            "SELECT seq, at, actor_id, actor_name, role, site_id, action, subject_type, \
             subject_id, request_id, prev_hash, hash FROM audit_events \
             WHERE seq > $1 ORDER BY seq LIMIT $2"
        )
        .bind(after_seq)
        .bind(limit)
        .fetch_all(c)
        .await?))
    }

    /// The chain head (last sequence number and hash).
    pub async fn audit_head(&self) -> Result<(i64, String)> {
        read!(self, |c| Ok(sqlx::query_as::<_, (i64, String)>(
            "SELECT seq, hash FROM audit_head WHERE id = 1"
        )
        .fetch_one(c)
        .await?))
    }

    /// Events about one subject, newest first ("who looked at this client").
    pub async fn audit_for_subject(&self, subject_type: &str, subject_id: &str, limit: i64) -> Result<Vec<AuditRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, AuditRow>(
            "SELECT seq, at, actor_id, actor_name, role, site_id, action, subject_type, \
             subject_id, request_id, prev_hash, hash FROM audit_events \
             WHERE subject_type = $1 AND subject_id = $2 ORDER BY seq DESC LIMIT $3"
        )
        .bind(subject_type.to_string())
        .bind(subject_id.to_string())
        .bind(limit)
        .fetch_all(c)
        .await?))
    }

    /// Counts events matching an action (tests and figures).
    pub async fn audit_count(&self, action: &str) -> Result<i64> {
        read!(self, |c| Ok(sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM audit_events WHERE action = $1"
        )
        .bind(action.to_string())
        .fetch_one(c)
        .await?))
    }

    /// Runs raw SQL against the writer; for tests that prove the database
    /// itself refuses tampering. Not used by the application.
    #[doc(hidden)]
    pub async fn execute_raw_for_tests(&self, sql: &'static str) -> Result<u64> {
        let n = match self {
            Store::Sqlite(db) => sqlx::query(sql).execute(&db.writer).await?.rows_affected(),
            Store::Postgres(db) => sqlx::query(sql).execute(&db.pool).await?.rows_affected(),
        };
        Ok(n)
    }
}

/// Verifies the whole chain page by page, then against the head row.
/// Returns (events checked, head hash), or where the chain first breaks.
pub async fn verify(store: &Store) -> Result<std::result::Result<(u64, String), ChainBreak>> {
    let mut v = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = store.audit_page(after, 5_000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for row in &page {
            if let Err(b) = v.check(&row.event(), &row.prev_hash, &row.hash) {
                return Ok(Err(b));
            }
        }
    }
    let (head_seq, head_hash) = store.audit_head().await?;
    Ok(v.finish(head_seq, &head_hash))
}
