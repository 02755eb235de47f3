//! Staff users and their roles per site.

use haven_domain::audit::AuditAction;
use time::OffsetDateTime;

use crate::{
    AuditCtx, Result, Store, StoreError, audit::append_audit, is_unique_violation, new_id, read, ts::Ts, write_tx,
};

/// A staff user.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRow {
    /// Id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Name shown in the UI.
    pub display_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Disabled users cannot log in and have no sessions.
    pub disabled: bool,
    /// Created.
    pub created_at: OffsetDateTime,
}

/// A role at a site.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RoleRow {
    /// User.
    pub user_id: String,
    /// Site.
    pub site_id: String,
    /// Role code.
    pub role: String,
}

impl Store {
    /// Creates a user, optionally with a role at a site.
    pub async fn create_user(
        &self,
        ctx: &AuditCtx,
        username: &str,
        display_name: &str,
        password_hash: &str,
        grant: Option<(&str, &str)>,
    ) -> Result<String> {
        let id = new_id();
        let now = haven_domain::clock::now();
        let r: Result<()> = async {
            write_tx!(self, |tx, pg| {
                sqlx::query(
                    "INSERT INTO users (id, username, display_name, password_hash, disabled, created_at, password_changed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&id)
                .bind(username)
                .bind(display_name)
                .bind(password_hash)
                .bind(false)
                .bind(Ts(now))
                .bind(Ts(now))
                .execute(&mut **tx)
                .await?;
                if let Some((site_id, role)) = grant {
                    sqlx::query("INSERT INTO user_roles (user_id, site_id, role) VALUES ($1, $2, $3)")
                        .bind(&id)
                        .bind(site_id)
                        .bind(role)
                        .execute(&mut **tx)
                        .await?;
                }
                append_audit!(tx, pg, ctx, AuditAction::Create, "user", Some(id.clone()));
            });
            Ok(())
        }
        .await;
        match r {
            Err(StoreError::Database(e)) if is_unique_violation(&e) => {
                Err(StoreError::Conflict(format!("the username {username} is taken")))
            }
            other => other.map(|_| id),
        }
    }

    /// Grants (or changes) a user's role at a site.
    pub async fn set_role(&self, ctx: &AuditCtx, user_id: &str, site_id: &str, role: &str) -> Result<()> {
        write_tx!(self, |tx, pg| {
            sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND site_id = $2")
                .bind(user_id)
                .bind(site_id)
                .execute(&mut **tx)
                .await?;
            sqlx::query("INSERT INTO user_roles (user_id, site_id, role) VALUES ($1, $2, $3)")
                .bind(user_id)
                .bind(site_id)
                .bind(role)
                .execute(&mut **tx)
                .await?;
            append_audit!(tx, pg, ctx, AuditAction::Update, "user_role", Some(user_id.to_string()));
        });
        Ok(())
    }

    /// A user by login name.
    pub async fn user_by_name(&self, username: &str) -> Result<UserRow> {
        read!(self, |c| sqlx::query_as::<_, UserRow>(
            "SELECT id, username, display_name, password_hash, disabled, created_at FROM users WHERE username = $1"
        )
        .bind(username.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// A user by id.
    pub async fn user(&self, id: &str) -> Result<UserRow> {
        read!(self, |c| sqlx::query_as::<_, UserRow>(
            "SELECT id, username, display_name, password_hash, disabled, created_at FROM users WHERE id = $1"
        )
        .bind(id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// A user's roles.
    pub async fn roles(&self, user_id: &str) -> Result<Vec<RoleRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, RoleRow>(
            "SELECT user_id, site_id, role FROM user_roles WHERE user_id = $1 ORDER BY site_id"
        )
        .bind(user_id.to_string())
        .fetch_all(c)
        .await?))
    }

    /// Users with a role at a site, with that role.
    pub async fn users_at_site(&self, site_id: &str) -> Result<Vec<(UserRow, String)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: String,
            username: String,
            display_name: String,
            password_hash: String,
            disabled: bool,
            created_at: OffsetDateTime,
            role: String,
        }
        let rows: Vec<Row> = read!(self, |c| sqlx::query_as::<_, Row>(
            "SELECT u.id, u.username, u.display_name, u.password_hash, u.disabled, u.created_at, r.role \
             FROM users u JOIN user_roles r ON r.user_id = u.id WHERE r.site_id = $1 ORDER BY u.username"
        )
        .bind(site_id.to_string())
        .fetch_all(c)
        .await?);
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    UserRow {
                        id: r.id,
                        username: r.username,
                        display_name: r.display_name,
                        password_hash: r.password_hash,
                        disabled: r.disabled,
                        created_at: r.created_at,
                    },
                    r.role,
                )
            })
            .collect())
    }

    /// Replaces a password hash and ends every session of the user
    /// (ASVS 5.0 7.4.2 spirit: credentials changed, sessions end).
    pub async fn set_password(&self, ctx: &AuditCtx, user_id: &str, password_hash: &str) -> Result<()> {
        write_tx!(self, |tx, pg| {
            let n = sqlx::query("UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE id = $1")
                .bind(user_id)
                .bind(password_hash)
                .bind(Ts(haven_domain::clock::now()))
                .execute(&mut **tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut **tx)
                .await?;
            append_audit!(
                tx,
                pg,
                ctx,
                AuditAction::Update,
                "user_password",
                Some(user_id.to_string())
            );
        });
        Ok(())
    }

    /// Disables or re-enables a user; disabling ends their sessions (ASVS 5.0
    /// 7.4.2), and their API tokens stop working while they are disabled.
    pub async fn set_disabled(&self, ctx: &AuditCtx, user_id: &str, disabled: bool) -> Result<()> {
        write_tx!(self, |tx, pg| {
            let n = sqlx::query("UPDATE users SET disabled = $2 WHERE id = $1")
                .bind(user_id)
                .bind(disabled)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            if disabled {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut **tx)
                    .await?;
            }
            append_audit!(
                tx,
                pg,
                ctx,
                AuditAction::Update,
                "user_disabled",
                Some(user_id.to_string())
            );
        });
        Ok(())
    }
}
