//! Server-side sessions and API tokens. Only hashes of the secret values are
//! stored, so a copy of the database does not hand out live sessions.

use time::OffsetDateTime;

use crate::{AuditCtx, Result, Store, StoreError, audit::append_audit, new_id, read, ts::Ts, write_tx};
use haven_domain::audit::AuditAction;

/// A session.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRow {
    /// SHA-256 of the cookie value.
    pub id_hash: String,
    /// User.
    pub user_id: String,
    /// The site the user is working at.
    pub site_id: Option<String>,
    /// Anti-forgery token for forms in this session.
    pub csrf_token: String,
    /// Created (absolute timeout counts from here).
    pub created_at: OffsetDateTime,
    /// Last request (idle timeout counts from here).
    pub last_seen_at: OffsetDateTime,
}

/// An API token.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRow {
    /// Id (shown, used to revoke).
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Label.
    pub label: String,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

impl Store {
    /// Creates a session.
    pub async fn create_session(&self, s: &SessionRow) -> Result<()> {
        write_tx!(self, |tx, _pg| {
            sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, site_id, csrf_token, created_at, last_seen_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&s.id_hash)
            .bind(&s.user_id)
            .bind(&s.site_id)
            .bind(&s.csrf_token)
            .bind(Ts(s.created_at))
            .bind(Ts(s.last_seen_at))
            .execute(&mut **tx)
            .await?;
        });
        Ok(())
    }

    /// A session by the hash of its cookie value.
    pub async fn session(&self, id_hash: &str) -> Result<SessionRow> {
        read!(self, |c| sqlx::query_as::<_, SessionRow>(
            "SELECT id_hash, user_id, site_id, csrf_token, created_at, last_seen_at FROM sessions WHERE id_hash = $1"
        )
        .bind(id_hash.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// Records activity on a session.
    pub async fn touch_session(&self, id_hash: &str, at: OffsetDateTime) -> Result<()> {
        write_tx!(self, |tx, _pg| {
            sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1")
                .bind(id_hash)
                .bind(Ts(at))
                .execute(&mut **tx)
                .await?;
        });
        Ok(())
    }

    /// Switches the session's working site.
    pub async fn set_session_site(&self, id_hash: &str, site_id: &str) -> Result<()> {
        write_tx!(self, |tx, _pg| {
            sqlx::query("UPDATE sessions SET site_id = $2 WHERE id_hash = $1")
                .bind(id_hash)
                .bind(site_id)
                .execute(&mut **tx)
                .await?;
        });
        Ok(())
    }

    /// Ends a session (logout or timeout).
    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        write_tx!(self, |tx, _pg| {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(&mut **tx)
                .await?;
        });
        Ok(())
    }

    /// Removes sessions idle since `idle_before` or created before `created_before`.
    pub async fn purge_sessions(&self, idle_before: OffsetDateTime, created_before: OffsetDateTime) -> Result<u64> {
        let n = write_tx!(self, |tx, _pg| {
            sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
                .bind(Ts(idle_before))
                .bind(Ts(created_before))
                .execute(&mut **tx)
                .await?
                .rows_affected()
        });
        Ok(n)
    }

    /// Number of live sessions of a user (tests, admin page).
    pub async fn session_count(&self, user_id: &str) -> Result<i64> {
        read!(self, |c| Ok(sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM sessions WHERE user_id = $1"
        )
        .bind(user_id.to_string())
        .fetch_one(c)
        .await?))
    }

    /// Stores a new API token (its hash) and returns its id.
    pub async fn create_token(&self, ctx: &AuditCtx, user_id: &str, token_hash: &str, label: &str) -> Result<String> {
        let id = new_id();
        write_tx!(self, |tx, pg| {
            sqlx::query(
                "INSERT INTO api_tokens (id, user_id, token_hash, label, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&id)
            .bind(user_id)
            .bind(token_hash)
            .bind(label)
            .bind(Ts(haven_domain::clock::now()))
            .execute(&mut **tx)
            .await?;
            append_audit!(tx, pg, ctx, AuditAction::Create, "api_token", Some(id.clone()));
        });
        Ok(id)
    }

    /// The user of a live token, by token hash.
    pub async fn token_user(&self, token_hash: &str) -> Result<String> {
        read!(self, |c| sqlx::query_scalar::<_, String>(
            "SELECT t.user_id FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled = $2"
        )
        .bind(token_hash.to_string())
        .bind(false)
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// Revokes a token by id.
    pub async fn revoke_token(&self, ctx: &AuditCtx, token_id: &str) -> Result<()> {
        write_tx!(self, |tx, pg| {
            let n = sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(token_id)
                .bind(Ts(haven_domain::clock::now()))
                .execute(&mut **tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            append_audit!(tx, pg, ctx, AuditAction::Void, "api_token", Some(token_id.to_string()));
        });
        Ok(())
    }

    /// A user's tokens.
    pub async fn tokens(&self, user_id: &str) -> Result<Vec<TokenRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, TokenRow>(
            "SELECT id, user_id, label, created_at, revoked_at FROM api_tokens WHERE user_id = $1 ORDER BY created_at"
        )
        .bind(user_id.to_string())
        .fetch_all(c)
        .await?))
    }
}
