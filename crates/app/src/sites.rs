//! Sites, spaces and staff, managed by `manager` and `admin`.

use haven_domain::{
    Invalid,
    auth::{Action, Resource, Role, authorize, check_password_policy, check_username},
    site::{SiteSettings, SpaceKind, validate_site, validate_space_label},
};
use haven_store::{SiteRow, SpaceRow, Store, UserRow};

use crate::{AppError, AppResult, Ctx, auth::hash_password};

/// Raw site form fields.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct SiteForm {
    /// Code.
    #[serde(default)]
    pub code: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Time zone.
    #[serde(default)]
    pub timezone: String,
    /// Opens.
    #[serde(default)]
    pub opens: String,
    /// Closes.
    #[serde(default)]
    pub closes: String,
    /// Code scheme.
    #[serde(default)]
    pub code_scheme: String,
}

/// Creates a site (installation admins).
pub async fn create_site(store: &Store, ctx: &Ctx, f: &SiteForm) -> AppResult<SiteRow> {
    let role = match authorize(&ctx.actor, Action::CreateSite, &Resource::Installation) {
        Ok(role) => role,
        Err(d) => {
            // Refusals are audited like those at a site (ASVS 5.0 16.3.2).
            store
                .audit(
                    &ctx.audit_ctx(None, None),
                    haven_domain::audit::AuditAction::Denied,
                    Action::CreateSite.as_str(),
                    None,
                )
                .await?;
            return Err(AppError::Denied(d));
        }
    };
    let input = validate_site(&f.code, &f.name, &f.timezone, &f.opens, &f.closes, &f.code_scheme)?;
    let audit = ctx.audit_ctx(None, Some(role.as_str()));
    let site = store
        .create_site(&audit, &input, &SiteSettings::default().to_json())
        .await
        .map_err(|e| match e {
            haven_store::StoreError::Conflict(m) => AppError::Invalid(Invalid::one("code", m)),
            other => other.into(),
        })?;
    // The creator gets the admin role at the new site so they can manage it.
    store
        .set_role(&audit, &ctx.actor.user_id, &site.id, Role::Admin.as_str())
        .await?;
    Ok(site)
}

/// Edits a site (not its code).
pub async fn update_site(store: &Store, ctx: &Ctx, site_id: &str, f: &SiteForm) -> AppResult<()> {
    let audit = ctx.allow(store, Action::ManageSite, site_id).await?;
    let site = store.site(site_id).await?;
    let input = validate_site(&site.code, &f.name, &f.timezone, &f.opens, &f.closes, &f.code_scheme)?;
    Ok(store.update_site(&audit, site_id, &input).await?)
}

/// Adds a space.
pub async fn add_space(
    store: &Store,
    ctx: &Ctx,
    site_id: &str,
    label: &str,
    kind: &str,
    wheelchair: bool,
) -> AppResult<String> {
    let audit = ctx.allow(store, Action::ManageSite, site_id).await?;
    let mut inv = Invalid::default();
    let label = validate_space_label(label).map_err(|e| inv.0.extend(e.0)).ok();
    let kind = SpaceKind::parse(kind);
    if kind.is_none() {
        inv.push("kind", "choose injecting or inhalation");
    }
    inv.into_result()?;
    let (Some(label), Some(kind)) = (label, kind) else {
        return Err(AppError::Internal("validated space lost its fields".into()));
    };
    store
        .add_space(&audit, site_id, &label, kind.as_str(), wheelchair)
        .await
        .map_err(|e| match e {
            haven_store::StoreError::Conflict(m) => AppError::Invalid(Invalid::one("label", m)),
            other => other.into(),
        })
}

/// Changes a space's state.
pub async fn update_space(
    store: &Store,
    ctx: &Ctx,
    site_id: &str,
    space_id: &str,
    wheelchair: bool,
    in_service: bool,
) -> AppResult<()> {
    let audit = ctx.allow(store, Action::ManageSite, site_id).await?;
    Ok(store
        .update_space(&audit, site_id, space_id, wheelchair, in_service)
        .await?)
}

/// The spaces of a site (any role at the site).
pub async fn spaces(store: &Store, ctx: &Ctx, site_id: &str) -> AppResult<Vec<SpaceRow>> {
    ctx.allow(store, Action::ViewSiteFigures, site_id).await?;
    Ok(store.spaces(site_id).await?)
}

/// Staff at a site with their roles.
pub async fn staff(store: &Store, ctx: &Ctx, site_id: &str) -> AppResult<Vec<(UserRow, String)>> {
    ctx.allow(store, Action::ManageStaff, site_id).await?;
    Ok(store.users_at_site(site_id).await?)
}

/// Adds a staff member with a role at this site. Only an admin may grant admin.
pub async fn add_staff(
    store: &Store,
    ctx: &Ctx,
    site_id: &str,
    username: &str,
    display_name: &str,
    role: &str,
    password: &str,
) -> AppResult<String> {
    let audit = ctx.allow(store, Action::ManageStaff, site_id).await?;
    let mut inv = Invalid::default();
    if let Err(e) = check_username(username.trim()) {
        inv.0.push(e);
    }
    let role = match role.parse::<Role>() {
        Ok(Role::Admin) if ctx.actor.role_at(site_id) != Some(Role::Admin) => {
            inv.push("role", "only an admin can grant the admin role");
            None
        }
        Ok(r) => Some(r),
        Err(m) => {
            inv.push("role", m);
            None
        }
    };
    if let Err(e) = check_password_policy(password) {
        inv.0.push(e);
    }
    let display = display_name.trim();
    if display.chars().count() > 80 {
        inv.push("display_name", "at most 80 characters");
    }
    inv.into_result()?;
    let role = role.ok_or_else(|| AppError::Internal("validated role lost".into()))?;
    let hash = hash_password(password)?;
    let display = if display.is_empty() { username.trim() } else { display };
    store
        .create_user(&audit, username.trim(), display, &hash, Some((site_id, role.as_str())))
        .await
        .map_err(|e| match e {
            haven_store::StoreError::Conflict(m) => AppError::Invalid(Invalid::one("username", m)),
            other => other.into(),
        })
}

/// Disables or re-enables a staff member of this site.
pub async fn set_staff_disabled(
    store: &Store,
    ctx: &Ctx,
    site_id: &str,
    user_id: &str,
    disabled: bool,
) -> AppResult<()> {
    let audit = ctx.allow(store, Action::ManageStaff, site_id).await?;
    if !store.roles(user_id).await?.iter().any(|r| r.site_id == site_id) {
        return Err(AppError::NotFound);
    }
    if user_id == ctx.actor.user_id {
        return Err(AppError::Conflict("you cannot disable your own account".into()));
    }
    Ok(store.set_disabled(&audit, user_id, disabled).await?)
}

/// Sites the actor holds a role at.
pub async fn my_sites(store: &Store, ctx: &Ctx) -> AppResult<Vec<SiteRow>> {
    let all = store.sites().await?;
    Ok(all.into_iter().filter(|s| ctx.actor.role_at(&s.id).is_some()).collect())
}
