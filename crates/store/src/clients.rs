//! The pseudonymous client registry, its separate identity table, and merges.

use haven_domain::{audit::AuditAction, client::Identity};
use time::OffsetDateTime;

use crate::{
    AuditCtx, Result, Store, StoreError, audit::append_audit, is_unique_violation, new_id, read, ts::Ts, write_tx,
};

/// A client (pseudonymous).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClientRow {
    /// Id.
    pub id: String,
    /// Site registered at.
    pub site_id: String,
    /// Client code.
    pub code: String,
    /// Year of birth.
    pub year_of_birth: i32,
    /// Gender code.
    pub gender: String,
    /// Home area.
    pub home_area: String,
    /// Alias.
    pub alias: Option<String>,
    /// Flags as a JSON array.
    pub flags: String,
    /// Registered.
    pub registered_at: OffsetDateTime,
    /// Set when this record was merged into another.
    pub merged_into: Option<String>,
}

impl ClientRow {
    /// Flags as a list.
    pub fn flag_list(&self) -> Vec<String> {
        serde_json::from_str(&self.flags).unwrap_or_default()
    }
}

/// An identity record.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct IdentityRow {
    /// Client.
    pub client_id: String,
    /// Name.
    pub name: Option<String>,
    /// CHI number.
    pub chi: Option<String>,
    /// Other health number.
    pub other_number: Option<String>,
}

/// A merge of one client record into another.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MergeRow {
    /// Id.
    pub id: String,
    /// The record merged away.
    pub from_client_id: String,
    /// Its code.
    pub from_code: String,
    /// The surviving record.
    pub into_client_id: String,
    /// Its code.
    pub into_code: String,
    /// Why.
    pub reason: String,
    /// When.
    pub merged_at: OffsetDateTime,
    /// When undone, if it was.
    pub undone_at: Option<OffsetDateTime>,
}

/// What the store needs to register a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClientRecord {
    /// The code; `None` takes the site's next number (`site` scheme).
    pub code: Option<String>,
    /// Year of birth.
    pub year_of_birth: i32,
    /// Gender code.
    pub gender: String,
    /// Home area.
    pub home_area: String,
    /// Alias.
    pub alias: Option<String>,
    /// Flags.
    pub flags: Vec<String>,
    /// Identity record.
    pub identity: Option<Identity>,
}

const CLIENT_SELECT: &str =
    "SELECT id, site_id, code, year_of_birth, gender, home_area, alias, flags, registered_at, merged_into FROM clients";

impl Store {
    /// Registers a client; a `site`-scheme code is numbered inside the same
    /// transaction, so two registrations never get the same number.
    pub async fn create_client(&self, ctx: &AuditCtx, site_id: &str, rec: &NewClientRecord) -> Result<ClientRow> {
        let id = new_id();
        let now = haven_domain::clock::now();
        let flags = serde_json::to_string(&rec.flags).unwrap_or_else(|_| "[]".into());
        let r: Result<String> = async {
            Ok(write_tx!(self, |tx, pg| {
                let code = match &rec.code {
                    Some(c) => c.to_uppercase(),
                    None => {
                        // Skip numbers already taken (e.g. by an import), so one
                        // stray code cannot block every later registration.
                        let mut found = None;
                        for _ in 0..10_000 {
                            let (prefix, seq): (String, i64) = sqlx::query_as(
                                "UPDATE sites SET next_client_seq = next_client_seq + 1 WHERE id = $1 \
                                 RETURNING code, next_client_seq - 1",
                            )
                            .bind(site_id)
                            .fetch_optional(&mut **tx)
                            .await?
                            .ok_or(StoreError::NotFound)?;
                            let code = haven_domain::codes::site_code(&prefix, u64::try_from(seq).unwrap_or(0));
                            let taken: Option<String> =
                                sqlx::query_scalar("SELECT id FROM clients WHERE site_id = $1 AND code = $2")
                                    .bind(site_id)
                                    .bind(&code)
                                    .fetch_optional(&mut **tx)
                                    .await?;
                            if taken.is_none() {
                                found = Some(code);
                                break;
                            }
                        }
                        found.ok_or_else(|| StoreError::Conflict("no free client number".into()))?
                    }
                };
                sqlx::query(
                    "INSERT INTO clients (id, site_id, code, year_of_birth, gender, home_area, alias, flags, \
                     registered_at, registered_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&id)
                .bind(site_id)
                .bind(&code)
                .bind(rec.year_of_birth)
                .bind(&rec.gender)
                .bind(&rec.home_area)
                .bind(&rec.alias)
                .bind(&flags)
                .bind(Ts(now))
                .bind(&ctx.actor_id)
                .execute(&mut **tx)
                .await?;
                if let Some(idn) = &rec.identity {
                    sqlx::query(
                        "INSERT INTO client_identities (client_id, name, chi, other_number, created_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&id)
                    .bind(&idn.name)
                    .bind(&idn.chi)
                    .bind(&idn.other_number)
                    .bind(Ts(now))
                    .execute(&mut **tx)
                    .await?;
                }
                append_audit!(tx, pg, ctx, AuditAction::Create, "client", Some(id.clone()));
                code
            }))
        }
        .await;
        match r {
            Err(StoreError::Database(e)) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "a client with code {} is already registered at this site",
                rec.code.clone().unwrap_or_default()
            ))),
            Err(e) => Err(e),
            Ok(_) => self.client(site_id, &id).await,
        }
    }

    /// A client of a site, without auditing (internal use: the caller audits).
    pub async fn client(&self, site_id: &str, id: &str) -> Result<ClientRow> {
        read!(self, |c| sqlx::query_as::<_, ClientRow>(sqlx::AssertSqlSafe(format!(
            "{CLIENT_SELECT} WHERE site_id = $1 AND id = $2"
        )))
        .bind(site_id.to_string())
        .bind(id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// The site a client belongs to.
    pub async fn client_site_id(&self, client_id: &str) -> Result<String> {
        read!(self, |c| sqlx::query_scalar::<_, String>(
            "SELECT site_id FROM clients WHERE id = $1"
        )
        .bind(client_id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// Reads a client record and records the read in the same transaction.
    pub async fn client_audited(&self, ctx: &AuditCtx, site_id: &str, id: &str) -> Result<ClientRow> {
        let row = write_tx!(self, |tx, pg| {
            let row = sqlx::query_as::<_, ClientRow>(sqlx::AssertSqlSafe(format!(
                "{CLIENT_SELECT} WHERE site_id = $1 AND id = $2"
            )))
            .bind(site_id)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(StoreError::NotFound)?;
            append_audit!(tx, pg, ctx, AuditAction::Read, "client", Some(id.to_string()));
            row
        });
        Ok(row)
    }

    /// Reads a client's identity record, audited as its own read.
    pub async fn identity_audited(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        client_id: &str,
    ) -> Result<Option<IdentityRow>> {
        let row = write_tx!(self, |tx, pg| {
            let row = sqlx::query_as::<_, IdentityRow>(
                "SELECT i.client_id, i.name, i.chi, i.other_number FROM client_identities i \
                 JOIN clients c ON c.id = i.client_id WHERE c.site_id = $1 AND i.client_id = $2",
            )
            .bind(site_id)
            .bind(client_id)
            .fetch_optional(&mut **tx)
            .await?;
            if row.is_some() {
                append_audit!(
                    tx,
                    pg,
                    ctx,
                    AuditAction::Read,
                    "client_identity",
                    Some(client_id.to_string())
                );
            }
            row
        });
        Ok(row)
    }

    /// Searches a site's clients by code prefix or alias prefix
    /// (case-insensitive), skipping records merged into others.
    pub async fn search_clients(&self, site_id: &str, query: &str, limit: i64) -> Result<Vec<ClientRow>> {
        // Only characters that occur in codes and aliases: no LIKE wildcards from input.
        let q: String = query
            .trim()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '-' | ' ' | '\''))
            .collect();
        if q.trim().is_empty() {
            return Ok(Vec::new());
        }
        // Codes by an index range (`code >= 'GLA-01' AND code < 'GLA-01' + max`),
        // aliases by a second query: an OR of the two would scan every client.
        let lo = q.to_uppercase();
        let hi = format!("{lo}{}", char::MAX);
        let mut rows: Vec<ClientRow> = read!(self, |c| sqlx::query_as::<_, ClientRow>(sqlx::AssertSqlSafe(format!(
            "{CLIENT_SELECT} WHERE site_id = $1 AND code >= $2 AND code < $3 AND merged_into IS NULL \
             ORDER BY code LIMIT $4"
        )))
        .bind(site_id.to_string())
        .bind(lo)
        .bind(hi)
        .bind(limit)
        .fetch_all(c)
        .await?);
        let room = limit - rows.len() as i64;
        if room > 0 {
            let alias_prefix = format!("{}%", q.to_lowercase());
            let by_alias: Vec<ClientRow> = match self {
                // alias is COLLATE NOCASE: LIKE can use the (site_id, alias) index.
                Store::Sqlite(db) => sqlx::query_as::<_, ClientRow>(sqlx::AssertSqlSafe(format!(
                    "{CLIENT_SELECT} WHERE site_id = $1 AND alias LIKE $2 AND merged_into IS NULL ORDER BY alias LIMIT $3"
                )))
                .bind(site_id.to_string())
                .bind(alias_prefix)
                .bind(limit)
                .fetch_all(&db.reader)
                .await?,
                Store::Postgres(db) => sqlx::query_as::<_, ClientRow>(sqlx::AssertSqlSafe(format!(
                    "{CLIENT_SELECT} WHERE site_id = $1 AND lower(alias) LIKE $2 AND merged_into IS NULL \
                     ORDER BY alias LIMIT $3"
                )))
                .bind(site_id.to_string())
                .bind(alias_prefix)
                .bind(limit)
                .fetch_all(&db.pool)
                .await?,
            };
            for r in by_alias {
                if rows.len() as i64 >= limit {
                    break;
                }
                if !rows.iter().any(|x| x.id == r.id) {
                    rows.push(r);
                }
            }
        }
        Ok(rows)
    }

    /// A client by exact code at a site.
    pub async fn client_by_code(&self, site_id: &str, code: &str) -> Result<ClientRow> {
        read!(self, |c| sqlx::query_as::<_, ClientRow>(sqlx::AssertSqlSafe(format!(
            "{CLIENT_SELECT} WHERE site_id = $1 AND code = $2"
        )))
        .bind(site_id.to_string())
        .bind(code.trim().to_uppercase())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// Clients born in a year range (duplicate candidates), not merged away.
    pub async fn clients_born_between(&self, site_id: &str, from: i32, to: i32) -> Result<Vec<ClientRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, ClientRow>(sqlx::AssertSqlSafe(
            format!("{CLIENT_SELECT} WHERE site_id = $1 AND year_of_birth BETWEEN $2 AND $3 AND merged_into IS NULL")
        ))
        .bind(site_id.to_string())
        .bind(from)
        .bind(to)
        .fetch_all(c)
        .await?))
    }

    /// The newest `limit` clients of a site, not merged away (fuzzy matching).
    pub async fn clients_for_matching(&self, site_id: &str, limit: i64) -> Result<Vec<ClientRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, ClientRow>(sqlx::AssertSqlSafe(
            format!("{CLIENT_SELECT} WHERE site_id = $1 AND merged_into IS NULL ORDER BY registered_at DESC LIMIT $2")
        ))
        .bind(site_id.to_string())
        .bind(limit)
        .fetch_all(c)
        .await?))
    }

    /// Ids of clients merged into this one (their history shows with it).
    pub async fn merged_ids(&self, client_id: &str) -> Result<Vec<String>> {
        read!(self, |c| Ok(sqlx::query_scalar::<_, String>(
            "SELECT id FROM clients WHERE merged_into = $1"
        )
        .bind(client_id.to_string())
        .fetch_all(c)
        .await?))
    }

    /// Number of clients registered at a site (not merged away).
    pub async fn client_count(&self, site_id: &str) -> Result<i64> {
        read!(self, |c| Ok(sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM clients WHERE site_id = $1 AND merged_into IS NULL"
        )
        .bind(site_id.to_string())
        .fetch_one(c)
        .await?))
    }

    /// Merges `from` into `into`: `from` stays stored and points at `into`;
    /// its visits stay its own, so the merge can be undone exactly.
    pub async fn merge_clients(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        from: &str,
        into: &str,
        reason: &str,
    ) -> Result<String> {
        if from == into {
            return Err(StoreError::Conflict("a client cannot be merged into itself".into()));
        }
        let id = new_id();
        write_tx!(self, |tx, pg| {
            // Both must be at this site and not already merged away.
            let live: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM clients WHERE site_id = $1 AND id IN ($2, $3) AND merged_into IS NULL",
            )
            .bind(site_id)
            .bind(from)
            .bind(into)
            .fetch_one(&mut **tx)
            .await?;
            if live != 2 {
                return Err(StoreError::Conflict(
                    "both clients must be at this site and not already merged".into(),
                ));
            }
            // Records already merged into `from` now follow it into `into`? No:
            // they keep pointing at `from`, and history is gathered transitively.
            sqlx::query("UPDATE clients SET merged_into = $2 WHERE id = $1")
                .bind(from)
                .bind(into)
                .execute(&mut **tx)
                .await?;
            sqlx::query(
                "INSERT INTO client_merges (id, site_id, from_client_id, into_client_id, reason, merged_by, merged_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&id)
            .bind(site_id)
            .bind(from)
            .bind(into)
            .bind(reason)
            .bind(&ctx.actor_id)
            .bind(Ts(haven_domain::clock::now()))
            .execute(&mut **tx)
            .await?;
            append_audit!(tx, pg, ctx, AuditAction::Merge, "client", Some(from.to_string()));
        });
        Ok(id)
    }

    /// Undoes a merge.
    pub async fn unmerge(&self, ctx: &AuditCtx, site_id: &str, merge_id: &str) -> Result<()> {
        write_tx!(self, |tx, pg| {
            let from: String = sqlx::query_scalar(
                "SELECT from_client_id FROM client_merges WHERE id = $1 AND site_id = $2 AND undone_at IS NULL",
            )
            .bind(merge_id)
            .bind(site_id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(StoreError::NotFound)?;
            sqlx::query("UPDATE clients SET merged_into = NULL WHERE id = $1")
                .bind(&from)
                .execute(&mut **tx)
                .await?;
            sqlx::query("UPDATE client_merges SET undone_at = $2, undone_by = $3 WHERE id = $1")
                .bind(merge_id)
                .bind(Ts(haven_domain::clock::now()))
                .bind(&ctx.actor_id)
                .execute(&mut **tx)
                .await?;
            append_audit!(tx, pg, ctx, AuditAction::Unmerge, "client", Some(from));
        });
        Ok(())
    }

    /// Merges involving a client, newest first.
    pub async fn merges_for(&self, client_id: &str) -> Result<Vec<MergeRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, MergeRow>(
            "SELECT m.id, m.from_client_id, f.code AS from_code, m.into_client_id, i.code AS into_code, \
             m.reason, m.merged_at, m.undone_at FROM client_merges m \
             JOIN clients f ON f.id = m.from_client_id JOIN clients i ON i.id = m.into_client_id \
             WHERE m.from_client_id = $1 OR m.into_client_id = $1 ORDER BY m.merged_at DESC"
        )
        .bind(client_id.to_string())
        .fetch_all(c)
        .await?))
    }
}
