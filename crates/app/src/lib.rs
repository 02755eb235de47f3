//! Haven use cases: one function per action a person takes. Each one
//! authorises (domain), validates (domain), then makes one transaction that
//! holds the change and its audit event (store).

pub mod alerts;
pub mod auth;
pub mod clients;
pub mod community;
pub mod demo;
mod demo_care;
pub mod drugchecks;
pub mod emergencies;
pub mod floor;
pub mod journey;
pub mod referrals;
pub mod services;
pub mod sites;
pub mod supplies;
pub mod visits;

use haven_domain::{
    Invalid,
    audit::AuditAction,
    auth::{Action, Actor, Denied, Resource, authorize},
};
use haven_store::{AuditCtx, Store, StoreError};

/// Why a use case did not happen. The web layer maps each to one status.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input, with every failing field named (400/422).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Not allowed (403). Already audited.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// No such record, or not at a site the actor may see (404).
    #[error("not found")]
    NotFound,
    /// A conflict with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// Not logged in, or the session ended (401 / back to login).
    #[error("not signed in")]
    Unauthenticated,
    /// Too many attempts (429).
    #[error("too many attempts; try again in a minute")]
    RateLimited,
    /// A fault (500). Details go to the log, never to the user.
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound,
            StoreError::Conflict(m) => AppError::Conflict(m),
            other => AppError::Internal(other.to_string()),
        }
    }
}

/// Result alias.
pub type AppResult<T> = Result<T, AppError>;

/// The acting person and the request, passed to every use case.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Who.
    pub actor: Actor,
    /// Request id for the audit log.
    pub request_id: String,
}

impl Ctx {
    /// Authorises an action at a site. A refusal is written to the audit log
    /// (ASVS 5.0 16.3.2) before it is returned.
    pub async fn allow(&self, store: &Store, action: Action, site_id: &str) -> AppResult<AuditCtx> {
        match authorize(&self.actor, action, &Resource::Site(site_id.to_string())) {
            Ok(role) => Ok(self.audit_ctx(Some(site_id), Some(role.as_str()))),
            Err(d) => {
                let ctx = self.audit_ctx(Some(site_id), self.actor.role_at(site_id).map(|r| r.as_str()));
                store.audit(&ctx, AuditAction::Denied, action.as_str(), None).await?;
                Err(AppError::Denied(d))
            }
        }
    }

    /// Whether an action would be allowed at a site (for showing or hiding UI).
    pub fn can(&self, action: Action, site_id: &str) -> bool {
        authorize(&self.actor, action, &Resource::Site(site_id.to_string())).is_ok()
    }

    /// The audit context for this actor.
    pub fn audit_ctx(&self, site_id: Option<&str>, role: Option<&str>) -> AuditCtx {
        AuditCtx {
            actor_id: Some(self.actor.user_id.clone()),
            actor_name: self.actor.username.clone(),
            role: role.map(str::to_string),
            site_id: site_id.map(str::to_string),
            request_id: Some(self.request_id.clone()),
        }
    }
}

/// Context for actions done by the installation itself (CLI, demo set-up).
pub fn system_ctx(what: &str) -> AuditCtx {
    AuditCtx {
        actor_id: None,
        actor_name: format!("system:{what}"),
        role: None,
        site_id: None,
        request_id: None,
    }
}
