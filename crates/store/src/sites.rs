//! Sites and spaces.

use haven_domain::{audit::AuditAction, site::SiteInput};
use time::OffsetDateTime;

use crate::{
    AuditCtx, Result, Store, StoreError, audit::append_audit, is_unique_violation, new_id, read, ts::Ts, write_tx,
};

/// A site.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SiteRow {
    /// Id.
    pub id: String,
    /// Short code, e.g. `GLA`.
    pub code: String,
    /// Name.
    pub name: String,
    /// IANA time zone.
    pub timezone: String,
    /// Opening time `HH:MM`.
    pub opens: String,
    /// Closing time `HH:MM`.
    pub closes: String,
    /// Client code scheme.
    pub code_scheme: String,
    /// Settings JSON (vocabularies).
    pub settings: String,
    /// Created.
    pub created_at: OffsetDateTime,
}

/// A space (booth or inhalation place).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SpaceRow {
    /// Id.
    pub id: String,
    /// Site.
    pub site_id: String,
    /// Label, e.g. `Booth 3`.
    pub label: String,
    /// `injecting` or `inhalation`.
    pub kind: String,
    /// Wheelchair accessible.
    pub wheelchair: bool,
    /// In service.
    pub in_service: bool,
    /// Used and not yet cleaned.
    pub needs_cleaning: bool,
}

impl Store {
    /// Creates a site.
    pub async fn create_site(&self, ctx: &AuditCtx, s: &SiteInput, settings_json: &str) -> Result<SiteRow> {
        let id = new_id();
        let now = haven_domain::clock::now();
        let r: Result<()> = async {
            write_tx!(self, |tx, pg| {
                sqlx::query(
                    "INSERT INTO sites (id, code, name, timezone, opens, closes, code_scheme, settings, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&id)
                .bind(&s.code)
                .bind(&s.name)
                .bind(&s.timezone)
                .bind(&s.opens)
                .bind(&s.closes)
                .bind(s.code_scheme.as_str())
                .bind(settings_json)
                .bind(Ts(now))
                .execute(&mut **tx)
                .await?;
                let mut ctx = ctx.clone();
                ctx.site_id = Some(id.clone());
                append_audit!(tx, pg, &ctx, AuditAction::Create, "site", Some(id.clone()));
            });
            Ok(())
        }
        .await;
        match r {
            Err(StoreError::Database(e)) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "a site with code {} already exists",
                    s.code
                )));
            }
            other => other?,
        }
        self.site(&id).await
    }

    /// Updates a site's fields (not its code).
    pub async fn update_site(&self, ctx: &AuditCtx, id: &str, s: &SiteInput) -> Result<()> {
        write_tx!(self, |tx, pg| {
            let n = sqlx::query(
                "UPDATE sites SET name = $2, timezone = $3, opens = $4, closes = $5, code_scheme = $6 WHERE id = $1",
            )
            .bind(id)
            .bind(&s.name)
            .bind(&s.timezone)
            .bind(&s.opens)
            .bind(&s.closes)
            .bind(s.code_scheme.as_str())
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            append_audit!(tx, pg, ctx, AuditAction::Update, "site", Some(id.to_string()));
        });
        Ok(())
    }

    /// Replaces a site's settings JSON (vocabularies); the caller validates it.
    pub async fn update_site_settings(&self, ctx: &AuditCtx, id: &str, settings_json: &str) -> Result<()> {
        write_tx!(self, |tx, pg| {
            let n = sqlx::query("UPDATE sites SET settings = $2 WHERE id = $1")
                .bind(id)
                .bind(settings_json)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            append_audit!(tx, pg, ctx, AuditAction::Update, "site_settings", Some(id.to_string()));
        });
        Ok(())
    }

    /// A site by id.
    pub async fn site(&self, id: &str) -> Result<SiteRow> {
        read!(self, |c| sqlx::query_as::<_, SiteRow>(
            "SELECT id, code, name, timezone, opens, closes, code_scheme, settings, created_at FROM sites WHERE id = $1"
        )
        .bind(id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// A site by code.
    pub async fn site_by_code(&self, code: &str) -> Result<SiteRow> {
        read!(self, |c| {
            sqlx::query_as::<_, SiteRow>(
            "SELECT id, code, name, timezone, opens, closes, code_scheme, settings, created_at FROM sites WHERE code = $1"
        )
        .bind(code.to_uppercase())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound)
        })
    }

    /// All sites, by code.
    pub async fn sites(&self) -> Result<Vec<SiteRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, SiteRow>(
            "SELECT id, code, name, timezone, opens, closes, code_scheme, settings, created_at FROM sites ORDER BY code"
        )
        .fetch_all(c)
        .await?))
    }

    /// Adds a space to a site.
    pub async fn add_space(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        label: &str,
        kind: &str,
        wheelchair: bool,
    ) -> Result<String> {
        let id = new_id();
        let r: Result<()> = async {
            write_tx!(self, |tx, pg| {
                sqlx::query(
                    "INSERT INTO spaces (id, site_id, label, kind, wheelchair, in_service, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&id)
                .bind(site_id)
                .bind(label)
                .bind(kind)
                .bind(wheelchair)
                .bind(true)
                .bind(Ts(haven_domain::clock::now()))
                .execute(&mut **tx)
                .await?;
                append_audit!(tx, pg, ctx, AuditAction::Create, "space", Some(id.clone()));
            });
            Ok(())
        }
        .await;
        match r {
            Err(StoreError::Database(e)) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "a space labelled {label} already exists here"
            ))),
            other => other.map(|_| id),
        }
    }

    /// Changes a space's accessibility and service state.
    pub async fn update_space(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        space_id: &str,
        wheelchair: bool,
        in_service: bool,
    ) -> Result<()> {
        write_tx!(self, |tx, pg| {
            let n = sqlx::query("UPDATE spaces SET wheelchair = $3, in_service = $4 WHERE id = $1 AND site_id = $2")
                .bind(space_id)
                .bind(site_id)
                .bind(wheelchair)
                .bind(in_service)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            append_audit!(tx, pg, ctx, AuditAction::Update, "space", Some(space_id.to_string()));
        });
        Ok(())
    }

    /// The spaces of a site, by label.
    pub async fn spaces(&self, site_id: &str) -> Result<Vec<SpaceRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, SpaceRow>(
            "SELECT id, site_id, label, kind, wheelchair, in_service, needs_cleaning FROM spaces WHERE site_id = $1 \
             ORDER BY label"
        )
        .bind(site_id.to_string())
        .fetch_all(c)
        .await?))
    }
}
