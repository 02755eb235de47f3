//! Bulk loading for the demo site and benchmarks: multi-row INSERTs in large
//! transactions. Each call writes one audit event for the whole batch.

use haven_domain::audit::AuditAction;
use time::OffsetDateTime;

use crate::{AuditCtx, Result, Store, audit::append_audit, ts::Ts, write_tx};

/// A client row for bulk loading.
#[derive(Debug, Clone)]
pub struct BulkClient {
    /// Id.
    pub id: String,
    /// Code.
    pub code: String,
    /// Year of birth.
    pub year_of_birth: i32,
    /// Gender.
    pub gender: String,
    /// Home area.
    pub home_area: String,
    /// Alias.
    pub alias: Option<String>,
    /// Registered.
    pub registered_at: OffsetDateTime,
}

/// A visit row for bulk loading.
#[derive(Debug, Clone)]
pub struct BulkVisit {
    /// Id.
    pub id: String,
    /// Client.
    pub client_id: String,
    /// `attended` or `refused`.
    pub status: &'static str,
    /// Arrival.
    pub arrived_at: OffsetDateTime,
    /// Departure.
    pub left_at: Option<OffsetDateTime>,
    /// Substances JSON array.
    pub substances: String,
    /// Route.
    pub route: Option<&'static str>,
    /// Counterfactual place.
    pub otherwise_place: Option<&'static str>,
    /// Refusal reason.
    pub refusal_reason: Option<&'static str>,
}

/// A finished consumption episode for bulk loading. Historic episodes are
/// always ended: only running episodes take part in the one-open-episode
/// indexes, so bulk rows never collide with them.
#[derive(Debug, Clone)]
pub struct BulkEpisode {
    /// Id.
    pub id: String,
    /// Visit.
    pub visit_id: String,
    /// Client.
    pub client_id: String,
    /// Space.
    pub space_id: String,
    /// Substances JSON array.
    pub substances: String,
    /// Route.
    pub route: &'static str,
    /// Start.
    pub started_at: OffsetDateTime,
    /// Started by (user id).
    pub started_by: String,
    /// End.
    pub ended_at: OffsetDateTime,
    /// Ended by (user id).
    pub ended_by: String,
    /// Equipment left in the space at the end.
    pub equipment_left: bool,
}

/// An observation check for bulk loading (recorded at the time it was made).
#[derive(Debug, Clone)]
pub struct BulkCheck {
    /// Id.
    pub id: String,
    /// Episode.
    pub episode_id: String,
    /// When.
    pub at: OffsetDateTime,
    /// `responsive`, `drowsy` or `unresponsive`.
    pub status: &'static str,
    /// Breaths per minute.
    pub resp_rate: Option<i32>,
    /// SpO2 %.
    pub spo2: Option<i32>,
    /// Sedation score.
    pub sedation: Option<i32>,
    /// Recorded by (user id).
    pub recorded_by: String,
}

/// A finished after-care stay for bulk loading.
#[derive(Debug, Clone)]
pub struct BulkAftercare {
    /// Id.
    pub id: String,
    /// Visit.
    pub visit_id: String,
    /// Entered.
    pub entered_at: OffsetDateTime,
    /// Entered by (user id).
    pub entered_by: String,
    /// Left.
    pub left_at: OffsetDateTime,
    /// Left by (user id).
    pub left_by: String,
    /// Observation note.
    pub observation: String,
}

/// A closed emergency for bulk loading; its timeline goes in as
/// [`BulkEmergencyEntry`] rows.
#[derive(Debug, Clone)]
pub struct BulkEmergency {
    /// Id.
    pub id: String,
    /// Visit.
    pub visit_id: Option<String>,
    /// Episode.
    pub episode_id: Option<String>,
    /// Space.
    pub space_id: Option<String>,
    /// Client.
    pub client_id: Option<String>,
    /// `space`, `aftercare` or `elsewhere`.
    pub location: &'static str,
    /// Where exactly (space label).
    pub location_detail: String,
    /// Description of an unregistered person.
    pub person_description: String,
    /// Substances JSON array.
    pub substances: String,
    /// Began (recognition).
    pub started_at: OffsetDateTime,
    /// Opened by (user id).
    pub opened_by: String,
    /// Closed.
    pub closed_at: OffsetDateTime,
    /// Closed by (user id).
    pub closed_by: String,
    /// Outcome code.
    pub outcome: &'static str,
    /// Debrief note.
    pub debrief: String,
    /// Staff involved, JSON array of names.
    pub staff_involved: String,
}

/// An emergency timeline entry for bulk loading.
#[derive(Debug, Clone)]
pub struct BulkEmergencyEntry {
    /// Id.
    pub id: String,
    /// Emergency.
    pub emergency_id: String,
    /// When.
    pub at: OffsetDateTime,
    /// Kind code (the JSON `kind`).
    pub kind: &'static str,
    /// The entry as JSON (`haven_domain::emergency::EntryData`).
    pub data: String,
    /// Recorded by (user id).
    pub recorded_by: String,
    /// Written.
    pub recorded_at: OffsetDateTime,
}

/// A handover note for bulk loading, with its own time.
#[derive(Debug, Clone)]
pub struct BulkHandoverNote {
    /// Id.
    pub id: String,
    /// Text.
    pub text: String,
    /// Written by (user id).
    pub written_by: String,
    /// Written.
    pub written_at: OffsetDateTime,
}

/// Rows per INSERT statement (well under SQLite's 32,766 parameters).
pub(crate) const ROWS_PER_STATEMENT: usize = 400;
/// The widest bulk row (emergencies); 400 × 17 = 6,800 parameters, well under
/// SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_COLUMNS: usize = 17;
const _: () = assert!(ROWS_PER_STATEMENT * MAX_COLUMNS < 32_766);

/// `($1,$2),($3,$4)` for PostgreSQL; `(?,?),(?,?)` for SQLite, whose named
/// parameters are looked up by a linear scan per bind (quadratic over a
/// 4,800-parameter statement: it dominated the demo load's profile).
pub(crate) fn placeholders(rows: usize, cols: usize, numbered: bool) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push(',');
            }
            if numbered {
                s.push('$');
                s.push_str(&(r * cols + c + 1).to_string());
            } else {
                s.push('?');
            }
        }
        s.push(')');
    }
    s
}

impl Store {
    /// Inserts clients of one site in one transaction and advances the site's
    /// code sequence past them.
    pub async fn bulk_insert_clients(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        rows: &[BulkClient],
        created_by: &str,
        next_seq: i64,
    ) -> Result<()> {
        write_tx!(self, |tx, pg| {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO clients (id, site_id, code, year_of_birth, gender, home_area, alias, flags, registered_at, registered_by) VALUES {}",
                    placeholders(chunk.len(), 10, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q
                        .bind(r.id.clone())
                        .bind(site_id.to_string())
                        .bind(r.code.clone())
                        .bind(r.year_of_birth)
                        .bind(r.gender.clone())
                        .bind(r.home_area.clone())
                        .bind(r.alias.clone())
                        .bind("[]")
                        .bind(Ts(r.registered_at))
                        .bind(created_by.to_string());
                }
                q.execute(&mut **tx).await?;
            }
            sqlx::query("UPDATE sites SET next_client_seq = $2 WHERE id = $1")
                .bind(site_id)
                .bind(next_seq)
                .execute(&mut **tx)
                .await?;
            append_audit!(
                tx,
                pg,
                ctx,
                AuditAction::Create,
                "client_bulk",
                Some(site_id.to_string())
            );
        });
        Ok(())
    }

    /// Inserts visits of one site in one transaction. This is also the
    /// benchmark's floor: the raw cost of the INSERTs without the app layer.
    pub async fn bulk_insert_visits(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        rows: &[BulkVisit],
        created_by: &str,
    ) -> Result<()> {
        write_tx!(self, |tx, pg| {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO visits (id, site_id, client_id, status, arrived_at, left_at, substances, route, \
                     otherwise_place, refusal_reason, created_by, created_at) VALUES {}",
                    placeholders(chunk.len(), 12, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q
                        .bind(r.id.clone())
                        .bind(site_id.to_string())
                        .bind(r.client_id.clone())
                        .bind(r.status)
                        .bind(Ts(r.arrived_at))
                        .bind(r.left_at.map(Ts))
                        .bind(r.substances.clone())
                        .bind(r.route)
                        .bind(r.otherwise_place)
                        .bind(r.refusal_reason)
                        .bind(created_by.to_string())
                        .bind(Ts(r.arrived_at));
                }
                q.execute(&mut **tx).await?;
            }
            append_audit!(
                tx,
                pg,
                ctx,
                AuditAction::Create,
                "visit_bulk",
                Some(site_id.to_string())
            );
        });
        Ok(())
    }

    /// Inserts finished episodes of one site in one transaction. The visits,
    /// clients and spaces must exist; space cleaning state is not touched.
    pub async fn bulk_insert_episodes(&self, ctx: &AuditCtx, site_id: &str, rows: &[BulkEpisode]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        write_tx!(self, |tx, pg| {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO episodes (id, site_id, visit_id, client_id, space_id, substances, route, started_at, \
                     started_by, ended_at, ended_by, equipment_left) VALUES {}",
                    placeholders(chunk.len(), 12, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q
                        .bind(r.id.clone())
                        .bind(site_id.to_string())
                        .bind(r.visit_id.clone())
                        .bind(r.client_id.clone())
                        .bind(r.space_id.clone())
                        .bind(r.substances.clone())
                        .bind(r.route)
                        .bind(Ts(r.started_at))
                        .bind(r.started_by.clone())
                        .bind(Ts(r.ended_at))
                        .bind(r.ended_by.clone())
                        .bind(r.equipment_left);
                }
                q.execute(&mut **tx).await?;
            }
            append_audit!(
                tx,
                pg,
                ctx,
                AuditAction::Create,
                "episode_bulk",
                Some(site_id.to_string())
            );
        });
        Ok(())
    }

    /// Inserts observation checks of one site in one transaction; each is
    /// recorded at the time it was made.
    pub async fn bulk_insert_checks(&self, ctx: &AuditCtx, site_id: &str, rows: &[BulkCheck]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        write_tx!(self, |tx, pg| {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO observation_checks (id, site_id, episode_id, at, status, resp_rate, spo2, sedation, \
                     recorded_by, recorded_at) VALUES {}",
                    placeholders(chunk.len(), 10, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q
                        .bind(r.id.clone())
                        .bind(site_id.to_string())
                        .bind(r.episode_id.clone())
                        .bind(Ts(r.at))
                        .bind(r.status)
                        .bind(r.resp_rate)
                        .bind(r.spo2)
                        .bind(r.sedation)
                        .bind(r.recorded_by.clone())
                        .bind(Ts(r.at));
                }
                q.execute(&mut **tx).await?;
            }
            append_audit!(
                tx,
                pg,
                ctx,
                AuditAction::Create,
                "observation_check_bulk",
                Some(site_id.to_string())
            );
        });
        Ok(())
    }

    /// Inserts finished after-care stays of one site in one transaction.
    pub async fn bulk_insert_aftercare(&self, ctx: &AuditCtx, site_id: &str, rows: &[BulkAftercare]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        write_tx!(self, |tx, pg| {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO aftercare (id, site_id, visit_id, entered_at, entered_by, left_at, left_by, \
                     observation) VALUES {}",
                    placeholders(chunk.len(), 8, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q
                        .bind(r.id.clone())
                        .bind(site_id.to_string())
                        .bind(r.visit_id.clone())
                        .bind(Ts(r.entered_at))
                        .bind(r.entered_by.clone())
                        .bind(Ts(r.left_at))
                        .bind(r.left_by.clone())
                        .bind(r.observation.clone());
                }
                q.execute(&mut **tx).await?;
            }
            append_audit!(
                tx,
                pg,
                ctx,
                AuditAction::Create,
                "aftercare_bulk",
                Some(site_id.to_string())
            );
        });
        Ok(())
    }

    /// Inserts closed emergencies of one site in one transaction (their
    /// timelines go in with [`Store::bulk_insert_emergency_entries`]).
    pub async fn bulk_insert_emergencies(&self, ctx: &AuditCtx, site_id: &str, rows: &[BulkEmergency]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        write_tx!(self, |tx, pg| {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO emergencies (id, site_id, visit_id, episode_id, space_id, client_id, location, \
                     location_detail, person_description, substances, started_at, opened_by, closed_at, closed_by, \
                     outcome, debrief, staff_involved) VALUES {}",
                    placeholders(chunk.len(), MAX_COLUMNS, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q
                        .bind(r.id.clone())
                        .bind(site_id.to_string())
                        .bind(r.visit_id.clone())
                        .bind(r.episode_id.clone())
                        .bind(r.space_id.clone())
                        .bind(r.client_id.clone())
                        .bind(r.location)
                        .bind(r.location_detail.clone())
                        .bind(r.person_description.clone())
                        .bind(r.substances.clone())
                        .bind(Ts(r.started_at))
                        .bind(r.opened_by.clone())
                        .bind(Ts(r.closed_at))
                        .bind(r.closed_by.clone())
                        .bind(r.outcome)
                        .bind(r.debrief.clone())
                        .bind(r.staff_involved.clone());
                }
                q.execute(&mut **tx).await?;
            }
            append_audit!(
                tx,
                pg,
                ctx,
                AuditAction::Create,
                "emergency_bulk",
                Some(site_id.to_string())
            );
        });
        Ok(())
    }

    /// Inserts emergency timeline entries of one site in one transaction.
    pub async fn bulk_insert_emergency_entries(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        rows: &[BulkEmergencyEntry],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        write_tx!(self, |tx, pg| {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO emergency_entries (id, emergency_id, site_id, at, kind, data, recorded_by, \
                     recorded_at) VALUES {}",
                    placeholders(chunk.len(), 8, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q
                        .bind(r.id.clone())
                        .bind(r.emergency_id.clone())
                        .bind(site_id.to_string())
                        .bind(Ts(r.at))
                        .bind(r.kind)
                        .bind(r.data.clone())
                        .bind(r.recorded_by.clone())
                        .bind(Ts(r.recorded_at));
                }
                q.execute(&mut **tx).await?;
            }
            append_audit!(
                tx,
                pg,
                ctx,
                AuditAction::Create,
                "emergency_entry_bulk",
                Some(site_id.to_string())
            );
        });
        Ok(())
    }

    /// Inserts handover notes of one site with their own times, in one
    /// transaction.
    pub async fn bulk_insert_handover_notes(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        rows: &[BulkHandoverNote],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        write_tx!(self, |tx, pg| {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO handover_notes (id, site_id, text, written_by, written_at) VALUES {}",
                    placeholders(chunk.len(), 5, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q
                        .bind(r.id.clone())
                        .bind(site_id.to_string())
                        .bind(r.text.clone())
                        .bind(r.written_by.clone())
                        .bind(Ts(r.written_at));
                }
                q.execute(&mut **tx).await?;
            }
            append_audit!(
                tx,
                pg,
                ctx,
                AuditAction::Create,
                "handover_note_bulk",
                Some(site_id.to_string())
            );
        });
        Ok(())
    }
}

/// A service given at a visit, for bulk loading.
#[derive(Debug, Clone)]
pub struct BulkService {
    /// Id.
    pub id: String,
    /// Visit.
    pub visit_id: String,
    /// Service code.
    pub code: String,
    /// When.
    pub at: OffsetDateTime,
    /// BBV tests as a JSON array.
    pub tests: String,
    /// Given by (user id).
    pub recorded_by: String,
}

/// A BBV test result, for bulk loading.
#[derive(Debug, Clone)]
pub struct BulkTestResult {
    /// Id.
    pub id: String,
    /// Service (the test taken).
    pub service_id: String,
    /// `hiv`, `hcv` or `hbv`.
    pub test: String,
    /// Result code.
    pub result: String,
    /// When it came back.
    pub result_at: OffsetDateTime,
    /// Recorded by (user id).
    pub recorded_by: String,
}

/// A referral, for bulk loading; its steps go in as [`BulkReferralEvent`]s
/// (the first one `made`).
#[derive(Debug, Clone)]
pub struct BulkReferral {
    /// Id.
    pub id: String,
    /// Client.
    pub client_id: String,
    /// Visit it was made at.
    pub visit_id: Option<String>,
    /// Category code.
    pub category: String,
    /// Made on.
    pub made_on: time::Date,
    /// Made by (user id).
    pub created_by: String,
}

/// One dated step of a referral, for bulk loading.
#[derive(Debug, Clone)]
pub struct BulkReferralEvent {
    /// Referral.
    pub referral_id: String,
    /// Status code.
    pub status: &'static str,
    /// On.
    pub on_date: time::Date,
    /// Recorded by (user id).
    pub recorded_by: String,
}

/// A drug-checking sample with its results (findings as JSON), for bulk loading.
#[derive(Debug, Clone)]
pub struct BulkSample {
    /// Id.
    pub id: String,
    /// Visit, when the person agreed to the link.
    pub visit_id: Option<String>,
    /// Expected substance.
    pub expected: String,
    /// Form code.
    pub form: String,
    /// Received.
    pub received_at: OffsetDateTime,
    /// Recorded by (user id).
    pub recorded_by: String,
    /// `(method, finding JSON, read at)`.
    pub results: Vec<(String, String, OffsetDateTime)>,
}

/// Contact-with-care history of one site, for bulk loading.
#[derive(Debug, Clone, Default)]
pub struct BulkCare {
    /// Services.
    pub services: Vec<BulkService>,
    /// BBV test results.
    pub test_results: Vec<BulkTestResult>,
    /// Referrals.
    pub referrals: Vec<BulkReferral>,
    /// Their steps.
    pub referral_events: Vec<BulkReferralEvent>,
    /// Drug-checking samples.
    pub samples: Vec<BulkSample>,
}

impl Store {
    /// Inserts a site's contact-with-care history in one transaction, with
    /// one audit event.
    pub async fn bulk_insert_care(&self, ctx: &AuditCtx, site_id: &str, care: &BulkCare) -> Result<()> {
        let now = Ts(haven_domain::clock::now());
        write_tx!(self, |tx, pg| {
            for chunk in care.services.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO services (id, site_id, visit_id, code, at, tests, recorded_by, recorded_at) VALUES {}",
                    placeholders(chunk.len(), 8, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q
                        .bind(r.id.clone())
                        .bind(site_id.to_string())
                        .bind(r.visit_id.clone())
                        .bind(r.code.clone())
                        .bind(Ts(r.at))
                        .bind(r.tests.clone())
                        .bind(r.recorded_by.clone())
                        .bind(Ts(r.at));
                }
                q.execute(&mut **tx).await?;
            }
            for chunk in care.test_results.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO test_results (id, service_id, test, result, result_at, recorded_by, recorded_at) \
                     VALUES {}",
                    placeholders(chunk.len(), 7, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q
                        .bind(r.id.clone())
                        .bind(r.service_id.clone())
                        .bind(r.test.clone())
                        .bind(r.result.clone())
                        .bind(Ts(r.result_at))
                        .bind(r.recorded_by.clone())
                        .bind(Ts(r.result_at));
                }
                q.execute(&mut **tx).await?;
            }
            for chunk in care.referrals.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO referrals (id, site_id, client_id, visit_id, category, made_on, created_by, \
                     created_at) VALUES {}",
                    placeholders(chunk.len(), 8, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q
                        .bind(r.id.clone())
                        .bind(site_id.to_string())
                        .bind(r.client_id.clone())
                        .bind(r.visit_id.clone())
                        .bind(r.category.clone())
                        .bind(r.made_on)
                        .bind(r.created_by.clone())
                        .bind(now);
                }
                q.execute(&mut **tx).await?;
            }
            for chunk in care.referral_events.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO referral_events (id, referral_id, status, on_date, recorded_by, recorded_at) VALUES {}",
                    placeholders(chunk.len(), 6, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q
                        .bind(crate::new_id())
                        .bind(r.referral_id.clone())
                        .bind(r.status)
                        .bind(r.on_date)
                        .bind(r.recorded_by.clone())
                        .bind(now);
                }
                q.execute(&mut **tx).await?;
            }
            for chunk in care.samples.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO drug_samples (id, site_id, visit_id, expected, form, received_at, recorded_by) \
                     VALUES {}",
                    placeholders(chunk.len(), 7, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q
                        .bind(r.id.clone())
                        .bind(site_id.to_string())
                        .bind(r.visit_id.clone())
                        .bind(r.expected.clone())
                        .bind(r.form.clone())
                        .bind(Ts(r.received_at))
                        .bind(r.recorded_by.clone());
                }
                q.execute(&mut **tx).await?;
            }
            let results: Vec<(&BulkSample, &(String, String, OffsetDateTime))> = care
                .samples
                .iter()
                .flat_map(|s| s.results.iter().map(move |r| (s, r)))
                .collect();
            for chunk in results.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO drug_results (id, sample_id, site_id, method, finding, at, recorded_by, recorded_at) \
                     VALUES {}",
                    placeholders(chunk.len(), 8, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (s, (method, finding, at)) in chunk {
                    q = q
                        .bind(crate::new_id())
                        .bind(s.id.clone())
                        .bind(site_id.to_string())
                        .bind(method.clone())
                        .bind(finding.clone())
                        .bind(Ts(*at))
                        .bind(s.recorded_by.clone())
                        .bind(Ts(*at));
                }
                q.execute(&mut **tx).await?;
            }
            append_audit!(tx, pg, ctx, AuditAction::Create, "care_bulk", Some(site_id.to_string()));
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_every_column() {
        assert_eq!(super::placeholders(2, 2, true), "($1,$2),($3,$4)");
        assert_eq!(super::placeholders(2, 2, false), "(?,?),(?,?)");
    }
}
