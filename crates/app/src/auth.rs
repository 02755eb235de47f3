//! Passwords, sessions and API tokens.
//!
//! Sessions are server-side: the cookie holds a random 256-bit value and the
//! store holds only its SHA-256 (ASVS 5.0 7.2.3). A new value is issued at
//! every login (7.2.4), idle and absolute timeouts are enforced here (7.3.1,
//! 7.3.2), and logout deletes the row (7.4.1).

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};
use haven_domain::{
    audit::AuditAction,
    auth::{Actor, Grant, Role, check_password_policy, check_username},
};
use haven_store::{AuditCtx, SessionRow, Store, StoreError};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::{AppError, AppResult, system_ctx};

/// Session lifetime settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Ends a session after this long without a request.
    pub idle: Duration,
    /// Ends a session this long after login, however active.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    /// 30 minutes idle, 12 hours absolute (issue 2; ASVS 5.0 7.3.1/7.3.2).
    fn default() -> Self {
        Self {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12),
        }
    }
}

/// Hashes a password with Argon2id (ASVS 5.0 11.4.2).
pub fn hash_password(password: &str) -> AppResult<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))
}

/// Checks a password against a stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash of a fixed password with the same parameters, verified against when
/// the username is unknown so both failures take the same time.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not-a-real-password-haven").unwrap_or_default())
}

/// 32 random bytes as hex.
pub fn random_token() -> AppResult<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| AppError::Internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(b))
}

/// SHA-256 hex of a secret, as stored.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Loads a user's grants as an [`Actor`]; `None` if disabled or missing.
pub async fn load_actor(store: &Store, user_id: &str) -> AppResult<Option<Actor>> {
    let user = match store.user(user_id).await {
        Ok(u) => u,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if user.disabled {
        return Ok(None);
    }
    let grants = store
        .roles(user_id)
        .await?
        .into_iter()
        .filter_map(|r| {
            r.role.parse::<Role>().ok().map(|role| Grant {
                site_id: r.site_id,
                role,
            })
        })
        .collect();
    Ok(Some(Actor {
        user_id: user.id,
        username: user.username,
        grants,
    }))
}

/// A new session: the cookie value (given to the browser once) and its row.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Cookie value.
    pub secret: String,
    /// Stored row.
    pub row: SessionRow,
}

/// Logs in. One error for an unknown user, a wrong password and a disabled
/// account, after the same amount of work (zero-to-production's lesson; ASVS
/// 5.0 6.3.x). Every attempt is audited.
pub async fn login(store: &Store, username: &str, password: &str, request_id: &str) -> AppResult<NewSession> {
    let username = username.trim();
    let user = match store.user_by_name(username).await {
        Ok(u) => Some(u),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let hash = user
        .as_ref()
        .map_or(dummy_hash(), |u| u.password_hash.as_str())
        .to_string();
    let pw = password.to_string();
    let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let mut ctx = AuditCtx {
        actor_id: None,
        actor_name: username.chars().take(64).collect(),
        request_id: Some(request_id.to_string()),
        ..Default::default()
    };
    let user = match user {
        Some(u) if ok && !u.disabled => u,
        _ => {
            store.audit(&ctx, AuditAction::LoginFailed, "session", None).await?;
            return Err(AppError::Unauthenticated);
        }
    };
    let roles = store.roles(&user.id).await?;
    let secret = random_token()?;
    let now = haven_domain::clock::now();
    let row = SessionRow {
        id_hash: secret_hash(&secret),
        user_id: user.id.clone(),
        site_id: roles.first().map(|r| r.site_id.clone()),
        csrf_token: random_token()?,
        created_at: now,
        last_seen_at: now,
    };
    store.create_session(&row).await?;
    ctx.actor_id = Some(user.id.clone());
    ctx.site_id = row.site_id.clone();
    store
        .audit(&ctx, AuditAction::Login, "session", Some(user.id.clone()))
        .await?;
    Ok(NewSession { secret, row })
}

/// Finds the live session for a cookie value, enforcing the timeouts and
/// recording activity. An expired session is deleted.
pub async fn resume_session(
    store: &Store,
    secret: &str,
    policy: SessionPolicy,
    now: OffsetDateTime,
) -> AppResult<(SessionRow, Actor)> {
    let id_hash = secret_hash(secret);
    let row = match store.session(&id_hash).await {
        Ok(r) => r,
        Err(StoreError::NotFound) => return Err(AppError::Unauthenticated),
        Err(e) => return Err(e.into()),
    };
    if now - row.last_seen_at > policy.idle || now - row.created_at > policy.absolute {
        store.delete_session(&id_hash).await?;
        let name = store.user(&row.user_id).await.map(|u| u.username).unwrap_or_default();
        let ctx = AuditCtx {
            actor_id: Some(row.user_id.clone()),
            actor_name: name,
            site_id: row.site_id.clone(),
            ..Default::default()
        };
        store
            .audit(&ctx, AuditAction::Denied, "session_expired", Some(row.user_id.clone()))
            .await?;
        return Err(AppError::Unauthenticated);
    }
    let Some(actor) = load_actor(store, &row.user_id).await? else {
        store.delete_session(&id_hash).await?;
        return Err(AppError::Unauthenticated);
    };
    // Record activity at most once a minute: each touch is a durable write.
    if now - row.last_seen_at > Duration::minutes(1) {
        store.touch_session(&id_hash, now).await?;
    }
    Ok((row, actor))
}

/// Changes one's own password after checking the current one; every session
/// of the user ends, this one included (ASVS 5.0 7.4.x), so they log in anew.
pub async fn change_own_password(
    store: &Store,
    actor: &Actor,
    current: &str,
    new: &str,
    request_id: &str,
) -> AppResult<()> {
    let user = store.user(&actor.user_id).await?;
    let (hash, cur) = (user.password_hash.clone(), current.to_string());
    let ok = tokio::task::spawn_blocking(move || verify_password(&cur, &hash))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    if !ok {
        return Err(haven_domain::Invalid::one("current_password", "is not right").into());
    }
    check_password_policy(new)
        .map_err(|e| haven_domain::Invalid(vec![haven_domain::FieldError::new("new_password", e.message)]))?;
    if new == current {
        return Err(haven_domain::Invalid::one("new_password", "must differ from the current password").into());
    }
    let ctx = AuditCtx {
        actor_id: Some(actor.user_id.clone()),
        actor_name: actor.username.clone(),
        request_id: Some(request_id.to_string()),
        ..Default::default()
    };
    store.set_password(&ctx, &actor.user_id, &hash_password(new)?).await?;
    Ok(())
}

/// Logs out: the session row is deleted, so the old cookie is worthless.
pub async fn logout(store: &Store, secret: &str, actor: &Actor, request_id: &str) -> AppResult<()> {
    store.delete_session(&secret_hash(secret)).await?;
    let ctx = AuditCtx {
        actor_id: Some(actor.user_id.clone()),
        actor_name: actor.username.clone(),
        request_id: Some(request_id.to_string()),
        ..Default::default()
    };
    store
        .audit(&ctx, AuditAction::Logout, "session", Some(actor.user_id.clone()))
        .await?;
    Ok(())
}

/// The actor behind an API bearer token.
pub async fn actor_for_token(store: &Store, token: &str) -> AppResult<Actor> {
    let user_id = match store.token_user(&secret_hash(token)).await {
        Ok(u) => u,
        Err(StoreError::NotFound) => return Err(AppError::Unauthenticated),
        Err(e) => return Err(e.into()),
    };
    load_actor(store, &user_id).await?.ok_or(AppError::Unauthenticated)
}

/// Creates a user from the CLI (installation authority, audited as system).
pub async fn add_user_system(
    store: &Store,
    username: &str,
    password: &str,
    site_code: &str,
    role: Role,
) -> AppResult<String> {
    check_username(username).map_err(|e| haven_domain::Invalid(vec![e]))?;
    check_password_policy(password).map_err(|e| haven_domain::Invalid(vec![e]))?;
    let site = store.site_by_code(site_code).await.map_err(|e| match e {
        StoreError::NotFound => AppError::Invalid(haven_domain::Invalid::one(
            "site",
            format!("no site with code {site_code}"),
        )),
        other => other.into(),
    })?;
    let hash = hash_password(password)?;
    let id = store
        .create_user(
            &system_ctx("cli"),
            username,
            username,
            &hash,
            Some((&site.id, role.as_str())),
        )
        .await?;
    Ok(id)
}

/// Sets a user's password from the CLI; their sessions end.
pub async fn set_password_system(store: &Store, username: &str, password: &str) -> AppResult<()> {
    check_password_policy(password).map_err(|e| haven_domain::Invalid(vec![e]))?;
    let u = store.user_by_name(username).await?;
    let hash = hash_password(password)?;
    store.set_password(&system_ctx("cli"), &u.id, &hash).await?;
    Ok(())
}

/// Disables a user from the CLI: their sessions end and tokens stop working.
pub async fn disable_user_system(store: &Store, username: &str) -> AppResult<()> {
    let u = store.user_by_name(username).await?;
    store.set_disabled(&system_ctx("cli"), &u.id, true).await?;
    Ok(())
}

/// Creates an API token for a user; returns (token id, token). The token is
/// shown once; only its hash is kept.
pub async fn create_token_system(store: &Store, username: &str, label: &str) -> AppResult<(String, String)> {
    let u = store.user_by_name(username).await?;
    if u.disabled {
        return Err(AppError::Conflict(format!("{username} is disabled")));
    }
    let token = format!("hvn_{}", random_token()?);
    let id = store
        .create_token(&system_ctx("cli"), &u.id, &secret_hash(&token), label)
        .await?;
    Ok((id, token))
}

/// Revokes an API token by id.
pub async fn revoke_token_system(store: &Store, token_id: &str) -> AppResult<()> {
    store.revoke_token(&system_ctx("cli"), token_id).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hash_verifies_and_rejects() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_are_256_bit_and_distinct() {
        let a = random_token().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_token().unwrap());
        assert_eq!(secret_hash("a"), secret_hash("a"));
    }
}
