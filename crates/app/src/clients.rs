//! Registering, finding, reading and merging clients.

use haven_domain::{
    Invalid,
    audit::AuditAction,
    auth::Action,
    client::{ClientDraft, CodeChoice, prepare_client},
    codes::CodeScheme,
    similarity::{Candidate, rank_duplicates},
    site::SiteSettings,
};
use haven_store::{AuditRow, ClientRow, IdentityRow, MergeRow, NewClientRecord, Store, VisitRow};

use crate::{AppError, AppResult, Ctx};

/// A likely duplicate shown before a new record is created.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Suggestion {
    /// Existing client id.
    pub id: String,
    /// Its code.
    pub code: String,
    /// Its alias.
    pub alias: Option<String>,
    /// Its year of birth.
    pub year_of_birth: i32,
    /// Similarity score, 0–1.
    pub score: f64,
}

/// Outcome of a registration attempt.
#[derive(Debug, Clone)]
pub enum Registration {
    /// Registered.
    Created(ClientRow),
    /// Not registered: likely duplicates to look at first.
    PossibleDuplicates(Vec<Suggestion>),
}

fn scheme_of(site: &haven_store::SiteRow) -> AppResult<CodeScheme> {
    site.code_scheme
        .parse::<CodeScheme>()
        .map_err(|_| AppError::Internal(format!("site {} has an unknown code scheme", site.code)))
}

/// The site's settings, falling back to defaults (with a log line) if stored
/// settings fail to parse.
pub fn settings_of(site: &haven_store::SiteRow) -> SiteSettings {
    SiteSettings::from_json(&site.settings).unwrap_or_else(|e| {
        tracing::error!(site = %site.code, error = %e, "site settings do not parse; using defaults");
        SiteSettings::default()
    })
}

fn candidates(rows: &[ClientRow]) -> impl Iterator<Item = Candidate<'_>> {
    rows.iter().map(|r| Candidate {
        code: &r.code,
        alias: r.alias.as_deref(),
        year_of_birth: r.year_of_birth,
    })
}

/// Ranked candidates back to the rows they came from (codes are unique per site).
fn suggestions(rows: &[ClientRow], ranked: Vec<(Candidate<'_>, f64)>) -> Vec<Suggestion> {
    ranked
        .into_iter()
        .filter_map(|(c, score)| {
            rows.iter().find(|r| r.code == c.code).map(|r| Suggestion {
                id: r.id.clone(),
                code: r.code.clone(),
                alias: r.alias.clone(),
                year_of_birth: r.year_of_birth,
                score,
            })
        })
        .collect()
}

/// Likely duplicates of a draft at a site: year of birth ± 1 and a similar
/// code or alias (dcr-practice §2.3 design recommendation).
pub async fn find_duplicates(
    store: &Store,
    site_id: &str,
    code: Option<&str>,
    alias: Option<&str>,
    yob: i32,
) -> AppResult<Vec<Suggestion>> {
    let rows = store.clients_born_between(site_id, yob - 1, yob + 1).await?;
    let query = Candidate {
        code: code.unwrap_or(""),
        alias,
        year_of_birth: yob,
    };
    let ranked = rank_duplicates(&query, candidates(&rows), 5);
    Ok(suggestions(&rows, ranked))
}

/// Registers a client. Unless `confirmed`, likely duplicates stop the
/// registration and are returned so staff can look first.
pub async fn register(
    store: &Store,
    ctx: &Ctx,
    site_id: &str,
    draft: &ClientDraft,
    confirmed: bool,
) -> AppResult<Registration> {
    let audit = ctx.allow(store, Action::RegisterClient, site_id).await?;
    let site = store.site(site_id).await?;
    let year = haven_domain::clock::now().year();
    let new = prepare_client(draft, &settings_of(&site), scheme_of(&site)?, &site.code, year)?;
    let code = match &new.code {
        CodeChoice::NextInSequence => None,
        CodeChoice::Computed(c) => Some(c.clone()),
    };
    if !confirmed {
        let dups = find_duplicates(store, site_id, code.as_deref(), new.alias.as_deref(), new.year_of_birth).await?;
        if !dups.is_empty() {
            store
                .audit(&audit, AuditAction::Read, "client_duplicates", None)
                .await?;
            return Ok(Registration::PossibleDuplicates(dups));
        }
    }
    if let Some(c) = &code
        && store.client_by_code(site_id, c).await.is_ok()
    {
        return Err(Invalid::one(
            "code",
            format!("a client with code {c} is already registered; search for them instead"),
        )
        .into());
    }
    let row = store
        .create_client(
            &audit,
            site_id,
            &NewClientRecord {
                code,
                year_of_birth: new.year_of_birth,
                gender: new.gender,
                home_area: new.home_area,
                alias: new.alias,
                flags: new.flags,
                identity: new.identity,
            },
        )
        .await?;
    Ok(Registration::Created(row))
}

/// Searches clients of a site by code or alias prefix. The search itself is
/// audited (without the search text, which could be a name).
pub async fn search(store: &Store, ctx: &Ctx, site_id: &str, q: &str) -> AppResult<Vec<ClientRow>> {
    let audit = ctx.allow(store, Action::ViewClient, site_id).await?;
    if q.trim().is_empty() {
        return Ok(Vec::new());
    }
    let rows = store.search_clients(site_id, q, 25).await?;
    store.audit(&audit, AuditAction::Read, "client_search", None).await?;
    Ok(rows)
}

/// "Did you mean": clients whose code or alias resembles a search that found
/// nothing (at most 5). Scans the site's clients, newest 50,000 at most.
pub async fn similar(store: &Store, ctx: &Ctx, site_id: &str, q: &str) -> AppResult<Vec<Suggestion>> {
    ctx.allow(store, Action::ViewClient, site_id).await?;
    let q = q.trim();
    if q.chars().count() < 3 {
        return Ok(Vec::new());
    }
    let rows = store.clients_for_matching(site_id, 50_000).await?;
    let ranked = haven_domain::similarity::rank_similar_to_text(q, candidates(&rows), 5);
    Ok(suggestions(&rows, ranked))
}

/// Looks up clients by code prefix for the API; each record returned is an
/// audited read.
pub async fn lookup_by_code(store: &Store, ctx: &Ctx, site_id: &str, code: &str) -> AppResult<Vec<ClientRow>> {
    let audit = ctx.allow(store, Action::ViewClient, site_id).await?;
    let rows = store.search_clients(site_id, code, 25).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows
        .into_iter()
        .filter(|r| r.code.starts_with(&code.trim().to_uppercase()))
    {
        out.push(store.client_audited(&audit, site_id, &r.id).await?);
    }
    Ok(out)
}

/// Everything the client page shows.
#[derive(Debug, Clone)]
pub struct ClientView {
    /// The record.
    pub client: ClientRow,
    /// Identity, if the role may see it and one is kept.
    pub identity: Option<IdentityRow>,
    /// Visits, including those of records merged into this one; voided ones
    /// only for roles that may see them.
    pub visits: Vec<VisitRow>,
    /// Merges involving this record.
    pub merges: Vec<MergeRow>,
    /// Who looked at this client (managers only).
    pub access_log: Option<Vec<AuditRow>>,
}

/// Finds which site a client belongs to, then reads it with an audit event.
pub async fn view(store: &Store, ctx: &Ctx, site_id: &str, client_id: &str) -> AppResult<ClientView> {
    let audit = ctx.allow(store, Action::ViewClient, site_id).await?;
    let client = store.client_audited(&audit, site_id, client_id).await?;
    let identity = if ctx.can(Action::ViewIdentity, site_id) {
        store.identity_audited(&audit, site_id, client_id).await?
    } else {
        None
    };
    let mut ids = vec![client.id.clone()];
    // History follows a merge: gather records merged into this one, transitively.
    let mut i = 0;
    while i < ids.len() && ids.len() < 50 {
        let more = store.merged_ids(&ids[i]).await?;
        ids.extend(more);
        i += 1;
    }
    let show_void = ctx.can(Action::ViewAccessLog, site_id);
    let visits = store
        .visits_of_clients(site_id, &ids, 200)
        .await?
        .into_iter()
        .filter(|v| show_void || v.voided_at.is_none())
        .collect();
    let merges = store.merges_for(client_id).await?;
    let access_log = if show_void {
        Some(store.audit_for_subject("client", client_id, 100).await?)
    } else {
        None
    };
    Ok(ClientView {
        client,
        identity,
        visits,
        merges,
        access_log,
    })
}

/// Reads a client by id for the API, finding its site first.
pub async fn get(store: &Store, ctx: &Ctx, client_id: &str) -> AppResult<ClientRow> {
    let site_id = client_site(store, ctx, client_id).await?;
    let audit = ctx.allow(store, Action::ViewClient, &site_id).await?;
    Ok(store.client_audited(&audit, &site_id, client_id).await?)
}

/// The site of a client among the actor's sites. A client at a site where the
/// actor has no role is "not found", so ids cannot be probed across sites.
pub async fn client_site(store: &Store, ctx: &Ctx, client_id: &str) -> AppResult<String> {
    let site_id = store.client_site_id(client_id).await?;
    if ctx.actor.role_at(&site_id).is_none() {
        return Err(AppError::NotFound);
    }
    Ok(site_id)
}

/// Merges two clients of a site (managers).
pub async fn merge(store: &Store, ctx: &Ctx, site_id: &str, from: &str, into: &str, reason: &str) -> AppResult<String> {
    let audit = ctx.allow(store, Action::MergeClients, site_id).await?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(Invalid::one("reason", "give a reason of at most 200 characters").into());
    }
    Ok(store.merge_clients(&audit, site_id, from, into, reason).await?)
}

/// Undoes a merge (managers).
pub async fn unmerge(store: &Store, ctx: &Ctx, site_id: &str, merge_id: &str) -> AppResult<()> {
    let audit = ctx.allow(store, Action::MergeClients, site_id).await?;
    Ok(store.unmerge(&audit, site_id, merge_id).await?)
}
