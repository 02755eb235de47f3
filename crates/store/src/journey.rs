//! The client journey: one client's whole record as a timeline, and the subject access export.
//!
//! Read-only. Every query is scoped to the client's site and to one client id
//! at a time (the caller passes the client and the records merged into it),
//! so nothing here can reach another site's records.

use time::OffsetDateTime;

use crate::{
    AftercareRow, AuditRow, DrugResultRow, EmergencyRow, EpisodeRow, IdentityRow, ReferralEventRow, ReferralRow,
    Result, SampleRow, ServiceRow, Store, TestResultRow, VisitRow, read,
};

/// An equipment transaction of one of the client's visits.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JourneySupplyRow {
    /// Id.
    pub id: String,
    /// Site.
    pub site_id: String,
    /// `given` or `returned` (deliveries and counts have no visit).
    pub kind: String,
    /// Visit.
    pub visit_id: Option<String>,
    /// Reason or note.
    pub reason: Option<String>,
    /// When.
    pub at: OffsetDateTime,
}

/// One line of a [`JourneySupplyRow`].
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JourneySupplyLineRow {
    /// Transaction.
    pub tx_id: String,
    /// Item code.
    pub item: String,
    /// Units.
    pub quantity: i32,
}

/// Everything stored about a client's contact with the service, unfiltered
/// (voided visits included: the caller decides who sees them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JourneyRecords {
    /// Visits and refusals, newest first.
    pub visits: Vec<VisitRow>,
    /// Episodes of those visits.
    pub episodes: Vec<EpisodeRow>,
    /// Observation checks per episode (episode id, count).
    pub check_counts: Vec<(String, i64)>,
    /// After-care stays of those visits.
    pub aftercare: Vec<AftercareRow>,
    /// Emergencies of the client, or of their visits or episodes.
    pub emergencies: Vec<EmergencyRow>,
    /// Services given at those visits.
    pub services: Vec<ServiceRow>,
    /// BBV test results of those services.
    pub test_results: Vec<TestResultRow>,
    /// Referrals of the client.
    pub referrals: Vec<ReferralRow>,
    /// Their dated steps.
    pub referral_events: Vec<ReferralEventRow>,
    /// Drug-checking samples linked (with consent) to those visits.
    pub samples: Vec<SampleRow>,
    /// Their results.
    pub drug_results: Vec<DrugResultRow>,
    /// Supplies given or returned at those visits.
    pub supplies: Vec<JourneySupplyRow>,
    /// Their lines.
    pub supply_lines: Vec<JourneySupplyLineRow>,
}

/// Subject types of audit events about a client (the access log).
const CLIENT_SUBJECTS: &str = "'client', 'client_identity', 'client_journey'";

/// Runs one `(site, client)`-bound query returning rows of `$t`.
macro_rules! rows {
    ($store:expr, $t:ty, $sql:expr, $site:expr, $cid:expr) => {
        read!($store, |c| sqlx::query_as::<_, $t>(sqlx::AssertSqlSafe($sql))
            .bind($site.to_string())
            .bind($cid.to_string())
            .fetch_all(c)
            .await?)
    };
}

impl Store {
    /// The client and every record merged into it, transitively (at most 50):
    /// a merged record's history shows with the surviving one.
    pub async fn client_and_merged_ids(&self, client_id: &str) -> Result<Vec<String>> {
        let mut ids = vec![client_id.to_string()];
        let mut i = 0;
        while i < ids.len() && ids.len() < 50 {
            for more in self.merged_ids(&ids[i]).await? {
                if !ids.contains(&more) {
                    ids.push(more);
                }
            }
            i += 1;
        }
        Ok(ids)
    }

    /// Every record of the client journey for these client ids at a site.
    /// Ids are found here; each record is then read with its own module's
    /// getter, so the rows always match what those modules return.
    pub async fn journey_records(&self, site_id: &str, client_ids: &[String]) -> Result<JourneyRecords> {
        let mut out = JourneyRecords {
            visits: self.visits_of_clients(site_id, client_ids, 100_000).await?,
            ..Default::default()
        };
        for cid in client_ids {
            let episodes: Vec<(String,)> = rows!(
                self,
                (String,),
                "SELECT id FROM episodes WHERE site_id = $1 AND client_id = $2 ORDER BY started_at, id".to_string(),
                site_id,
                cid
            );
            for (id,) in episodes {
                out.episodes.push(self.episode(site_id, &id).await?);
            }
            out.check_counts.extend(rows!(
                self,
                (String, i64),
                "SELECT o.episode_id, COUNT(*) FROM observation_checks o JOIN episodes e ON e.id = o.episode_id \
                 WHERE e.site_id = $1 AND e.client_id = $2 GROUP BY o.episode_id"
                    .to_string(),
                site_id,
                cid
            ));
            let stays: Vec<(String,)> = rows!(
                self,
                (String,),
                "SELECT a.id FROM aftercare a JOIN visits v ON v.id = a.visit_id \
                 WHERE a.site_id = $1 AND v.client_id = $2 ORDER BY a.entered_at, a.id"
                    .to_string(),
                site_id,
                cid
            );
            for (id,) in stays {
                out.aftercare.push(self.aftercare(site_id, &id).await?);
            }
            let emergencies: Vec<(String,)> = rows!(
                self,
                (String,),
                "SELECT m.id FROM emergencies m WHERE m.site_id = $1 AND \
                 (m.client_id = $2 OR m.visit_id IN (SELECT id FROM visits WHERE client_id = $2) \
                 OR m.episode_id IN (SELECT id FROM episodes WHERE client_id = $2)) ORDER BY m.started_at, m.id"
                    .to_string(),
                site_id,
                cid
            );
            for (id,) in emergencies {
                if !out.emergencies.iter().any(|m| m.id == id) {
                    out.emergencies.push(self.emergency(site_id, &id).await?);
                }
            }
            let services: Vec<(String,)> = rows!(
                self,
                (String,),
                "SELECT s.id FROM services s JOIN visits v ON v.id = s.visit_id \
                 WHERE s.site_id = $1 AND v.client_id = $2 ORDER BY s.at, s.id"
                    .to_string(),
                site_id,
                cid
            );
            for (id,) in services {
                out.test_results.extend(self.test_results(&id).await?);
                out.services.push(self.service(&id).await?);
            }
            let referrals: Vec<(String,)> = rows!(
                self,
                (String,),
                "SELECT id FROM referrals WHERE site_id = $1 AND client_id = $2 ORDER BY made_on, id".to_string(),
                site_id,
                cid
            );
            for (id,) in referrals {
                out.referral_events.extend(self.referral_events(&id).await?);
                out.referrals.push(self.referral(&id).await?);
            }
            let samples: Vec<(String,)> = rows!(
                self,
                (String,),
                "SELECT d.id FROM drug_samples d JOIN visits v ON v.id = d.visit_id \
                 WHERE d.site_id = $1 AND v.client_id = $2 ORDER BY d.received_at, d.id"
                    .to_string(),
                site_id,
                cid
            );
            for (id,) in samples {
                out.drug_results.extend(self.drug_results(&id).await?);
                out.samples.push(self.sample(&id).await?);
            }
            out.supplies.extend(rows!(
                self,
                JourneySupplyRow,
                "SELECT t.id, t.site_id, t.kind, t.visit_id, t.reason, t.at FROM supply_tx t \
                 JOIN visits v ON v.id = t.visit_id WHERE t.site_id = $1 AND v.client_id = $2 ORDER BY t.at, t.id"
                    .to_string(),
                site_id,
                cid
            ));
            out.supply_lines.extend(rows!(
                self,
                JourneySupplyLineRow,
                "SELECT l.tx_id, l.item, l.quantity FROM supply_lines l JOIN supply_tx t ON t.id = l.tx_id \
                 JOIN visits v ON v.id = t.visit_id WHERE t.site_id = $1 AND v.client_id = $2 \
                 ORDER BY l.tx_id, l.item"
                    .to_string(),
                site_id,
                cid
            ));
        }
        Ok(out)
    }

    /// A client's identity record, without auditing: for the subject access
    /// export, whose own audit event covers it.
    pub async fn identity_unaudited(&self, site_id: &str, client_id: &str) -> Result<Option<IdentityRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, IdentityRow>(
            "SELECT i.client_id, i.name, i.chi, i.other_number FROM client_identities i \
             JOIN clients c ON c.id = i.client_id WHERE c.site_id = $1 AND i.client_id = $2"
        )
        .bind(site_id.to_string())
        .bind(client_id.to_string())
        .fetch_optional(c)
        .await?))
    }

    /// Who accessed a client's record (its profile, identity, journey, export,
    /// merges, and reads of its visits' pages), newest first: the access log
    /// of the journey and the export. Check-ins and other writes are records
    /// of their own, in the timeline.
    pub async fn client_access_log(&self, client_id: &str, limit: i64) -> Result<Vec<AuditRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, AuditRow>(sqlx::AssertSqlSafe(
            format!(
                "SELECT seq, at, actor_id, actor_name, role, site_id, action, subject_type, \
             subject_id, request_id, prev_hash, hash FROM audit_events \
             WHERE (subject_id = $1 AND subject_type IN ({CLIENT_SUBJECTS})) \
             OR (subject_type = 'visit' AND action = 'read' \
                 AND subject_id IN (SELECT id FROM visits WHERE client_id = $1)) \
             ORDER BY seq DESC LIMIT $2"
            )
        ))
        .bind(client_id.to_string())
        .bind(limit)
        .fetch_all(c)
        .await?))
    }
}
